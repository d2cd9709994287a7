/* libFuzzer target for the prefix-tree proof wire form and verifiers.
 *
 * Input: mode (1 byte) ‖ index (32) ‖ commitment (32) ‖ proof wire bytes.
 *  1. Decoding returns only the documented codes, leaves *p zeroed on
 *     error, agrees with the kw_buf reader and re-encodes what it accepts
 *     to the same bytes.
 *  2. With a decoded proof, the root function and both verifiers run on the
 *     fuzzed (index, commitment) and return only 0 / KW_ERR_VERIFY, agree
 *     with each other, and accept the root the root function computed.
 *  3. Differential: on a fixed 64-leaf tree, the genuine proof for a present
 *     leaf (mode bit 0 clear) or for the fuzzed index is XORed with the
 *     decoded siblings and leaf fields (taking the decoded depth and result
 *     when mode bits 1 and 2 say so); it must verify exactly when every
 *     field the verifier reads is unchanged. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/kt_prefix.h"

#define TREE_LEAVES 64
#define EPOCH 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kw_prefix_memstore *ms;
static kw_prefix_store st;
static kw_prefix_entry leaf[TREE_LEAVES];
static uint8_t root[32];

static void setup(void)
{
    kw_prefix_entry e[TREE_LEAVES];
    if (kw_init() != KW_OK || kw_prefix_memstore_new(&ms) != KW_OK)
        abort();
    kw_prefix_memstore_store(ms, &st);
    for (uint8_t i = 0; i < TREE_LEAVES; i++) {
        uint8_t in[2] = {i, 1};
        crypto_hash_sha256(leaf[i].index, in, 1);
        crypto_hash_sha256(leaf[i].commitment, in, 2);
    }
    memcpy(e, leaf, sizeof(e));
    if (kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, EPOCH, e, TREE_LEAVES, root, NULL) != KW_OK)
        abort();
}

/* Equal in every field the verifier reads. */
static bool proof_same(const kw_prefix_proof *a, const kw_prefix_proof *b)
{
    if (a->result != b->result || a->depth != b->depth)
        return false;
    if (a->result == KW_PREFIX_ABSENT_LEAF &&
        (memcmp(a->leaf_index, b->leaf_index, 32) != 0 ||
         memcmp(a->leaf_commitment, b->leaf_commitment, 32) != 0))
        return false;
    return memcmp(a->sibling, b->sibling, (size_t)a->depth * 32) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kw_prefix_proof p, q, good, m;
    static uint8_t again[KW_PREFIX_PROOF_MAXBYTES];
    if (ms == NULL)
        setup();
    if (size < 65)
        return 0;
    int mode = data[0];
    const uint8_t *index = data + 1, *commitment = data + 33, *wire = data + 65;
    size_t wire_len = size - 65;

    /* 1. decoding */
    int r = kw_prefix_proof_decode(&p, wire, wire_len);
    if (r != KW_OK && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE && r != KW_ERR_FORMAT)
        abort();
    if (r != KW_OK && (p.depth != 0 || p.result != 0))
        abort();
    kw_buf *buf = kw_buf_from(wire, wire_len);
    if (buf != NULL) {
        int g = kw_prefix_proof_get(buf, &q);
        if (r == KW_OK && (g != KW_OK || !proof_same(&p, &q) || kw_buf_len(buf) != 0))
            abort();
        if (g == KW_OK && r != KW_OK && r != KW_ERR_FORMAT) /* only trailing bytes differ */
            abort();
        if (g != KW_OK && (g != r || kw_buf_len(buf) != wire_len))
            abort();
        kw_buf_free(&buf);
    }
    if (r != KW_OK)
        return 0;
    size_t n;
    if (kw_prefix_proof_encode(again, sizeof(again), &n, &p) != KW_OK || n != wire_len ||
        memcmp(again, wire, n) != 0)
        abort();

    /* 2. verifiers on the fuzzed statement */
    uint8_t got[32];
    const uint8_t *c = p.result == KW_PREFIX_MEMBER ? commitment : NULL;
    int rr = kw_prefix_proof_root(got, index, c, &p);
    if (rr != KW_OK && rr != KW_ERR_VERIFY)
        abort();
    int vm = kw_prefix_verify_member(got, index, commitment, &p);
    int va = kw_prefix_verify_absent(got, index, &p);
    if (rr == KW_OK) {
        if ((p.result == KW_PREFIX_MEMBER) != (vm == KW_OK) ||
            (p.result != KW_PREFIX_MEMBER) != (va == KW_OK))
            abort();
    } else if (vm == KW_OK || va == KW_OK || vm != KW_ERR_VERIFY || va != KW_ERR_VERIFY) {
        abort();
    }

    /* 3. differential on the real tree */
    const uint8_t *x = (mode & 1) ? index : leaf[index[0] % TREE_LEAVES].index;
    uint8_t cx[32];
    if (kw_prefix_prove(&st, EPOCH, x, &good, cx) != KW_OK)
        abort();
    m = good;
    for (size_t i = 0; i < KW_PREFIX_MAXDEPTH; i++)
        for (size_t j = 0; j < 32; j++)
            m.sibling[i][j] ^= p.sibling[i][j];
    for (size_t j = 0; j < 32; j++) {
        m.leaf_index[j] ^= p.leaf_index[j];
        m.leaf_commitment[j] ^= p.leaf_commitment[j];
    }
    if (mode & 2)
        m.depth = p.depth;
    if (mode & 4)
        m.result = p.result;
    int v = good.result == KW_PREFIX_MEMBER ? kw_prefix_verify_member(root, x, cx, &m)
                                            : kw_prefix_verify_absent(root, x, &m);
    if ((v == KW_OK) != proof_same(&m, &good))
        abort();
    if (v != KW_OK && v != KW_ERR_VERIFY)
        abort();
    return 0;
}
