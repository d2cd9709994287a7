/* libFuzzer target for the log-tree proof wire form and verifiers.
 *
 * Input: mode (1 byte) ‖ a (u64 BE) ‖ b (u64 BE) ‖ proof wire bytes.
 *  1. Decoding returns only the documented codes, agrees with the kw_buf
 *     reader, and re-encodes what it accepts to the same bytes.
 *  2. With a decoded proof, both verifiers run on arbitrary sizes (a, b)
 *     and return only 0 / KW_ERR_FORMAT / KW_ERR_VERIFY, and the
 *     root-from-inclusion function agrees with the inclusion verifier.
 *  3. Differential: on a fixed 64-leaf tree, a genuine proof for sizes
 *     derived from (a, b) is XORed with the decoded hashes (and given their
 *     count when mode says so); it must verify exactly when it is unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/keyward.h"
#include "keyward/kt_log.h"

#define TREE_LEAVES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kw_log_tree *tree;
static uint8_t roots[TREE_LEAVES + 1][KW_LOG_HASHBYTES];
static uint8_t leaf_hashes[TREE_LEAVES][KW_LOG_HASHBYTES];

static void setup(void)
{
    if (kw_init() != KW_OK || kw_log_tree_new(&tree, TREE_LEAVES) != KW_OK)
        abort();
    kw_log_tree_root(tree, roots[0]);
    for (uint8_t i = 0; i < TREE_LEAVES; i++) {
        kw_log_hash_leaf(leaf_hashes[i], &i, 1);
        if (kw_log_tree_append(tree, leaf_hashes[i]) != KW_OK)
            abort();
        kw_log_tree_root(tree, roots[i + 1]);
    }
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int proof_equal(const kw_log_proof *x, const kw_log_proof *y)
{
    return x->count == y->count && memcmp(x->hash, y->hash, x->count * KW_LOG_HASHBYTES) == 0;
}

static void mutate(kw_log_proof *m, const kw_log_proof *good, const kw_log_proof *delta, int mode)
{
    *m = *good;
    for (size_t i = 0; i < delta->count; i++)
        for (size_t j = 0; j < KW_LOG_HASHBYTES; j++)
            m->hash[i][j] ^= delta->hash[i][j];
    if (mode & 1)
        m->count = delta->count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (tree == NULL)
        setup();
    if (size < 17)
        return 0;
    int mode = data[0];
    uint64_t a = be64(data + 1), b = be64(data + 9);
    const uint8_t *wire = data + 17;
    size_t wire_len = size - 17;

    /* 1. decoding */
    kw_log_proof p;
    int r = kw_log_proof_decode(&p, wire, wire_len);
    if (r != KW_OK && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE && r != KW_ERR_FORMAT)
        abort();
    if (r != KW_OK && p.count != 0)
        abort();
    kw_buf *buf = kw_buf_from(wire, wire_len);
    if (buf != NULL) {
        kw_log_proof q;
        int g = kw_log_proof_get(buf, &q);
        if (r == KW_OK && (g != KW_OK || !proof_equal(&p, &q) || kw_buf_len(buf) != 0))
            abort();
        if (r == KW_ERR_FORMAT && g != KW_OK) /* trailing bytes: a prefix parses */
            abort();
        if ((r == KW_ERR_TRUNCATED || r == KW_ERR_TOO_LARGE) && (g != r || kw_buf_len(buf) != wire_len))
            abort();
        kw_buf_free(&buf);
    }
    if (r != KW_OK)
        return 0;
    uint8_t again[KW_LOG_PROOF_MAXBYTES];
    size_t n;
    if (kw_log_proof_encode(again, sizeof(again), &n, &p) != KW_OK || n != wire_len ||
        memcmp(again, wire, n) != 0)
        abort();

    /* 2. verifiers on arbitrary sizes */
    const uint8_t *leaf = p.count > 0 ? p.hash[0] : roots[1];
    uint8_t root[KW_LOG_HASHBYTES];
    int rr = kw_log_inclusion_root(root, a, b, leaf, KW_LOG_HASHBYTES, &p);
    int rv = kw_log_inclusion_verify(a, b, leaf, KW_LOG_HASHBYTES, &p, roots[TREE_LEAVES],
                                     KW_LOG_HASHBYTES);
    if (rr != KW_OK && rr != KW_ERR_FORMAT)
        abort();
    if (rr == KW_ERR_FORMAT && rv != KW_ERR_FORMAT)
        abort();
    if (rr == KW_OK) {
        if (rv != (memcmp(root, roots[TREE_LEAVES], KW_LOG_HASHBYTES) == 0 ? KW_OK : KW_ERR_VERIFY) ||
            kw_log_inclusion_verify(a, b, leaf, KW_LOG_HASHBYTES, &p, root, KW_LOG_HASHBYTES) != KW_OK)
            abort();
    }
    int rc = kw_log_consistency_verify(a, b, roots[a % (TREE_LEAVES + 1)], KW_LOG_HASHBYTES,
                                       roots[b % (TREE_LEAVES + 1)], KW_LOG_HASHBYTES, &p);
    if (rc != KW_OK && rc != KW_ERR_FORMAT && rc != KW_ERR_VERIFY)
        abort();

    /* 3. differential on the real tree */
    kw_log_reader rd;
    kw_log_tree_reader(tree, &rd);
    uint64_t tsize = a % TREE_LEAVES + 1, idx = b % tsize;
    kw_log_proof good = {0}, m;
    if (kw_log_inclusion_prove(&rd, idx, tsize, &good) != KW_OK)
        abort();
    mutate(&m, &good, &p, mode);
    r = kw_log_inclusion_verify(idx, tsize, leaf_hashes[idx], KW_LOG_HASHBYTES, &m, roots[tsize],
                                KW_LOG_HASHBYTES);
    if ((r == KW_OK) != proof_equal(&m, &good))
        abort();
    uint64_t s1 = idx + 1;
    if (kw_log_consistency_prove(&rd, s1, tsize, &good) != KW_OK)
        abort();
    mutate(&m, &good, &p, mode >> 1);
    r = kw_log_consistency_verify(s1, tsize, roots[s1], KW_LOG_HASHBYTES, roots[tsize],
                                  KW_LOG_HASHBYTES, &m);
    if ((r == KW_OK) != proof_equal(&m, &good))
        abort();
    return 0;
}
