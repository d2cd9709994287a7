/* The append-only log tree: RFC 9162 §2.1 hashing, verifiers, producers over
 * kw_log_reader, the compact range and the in-memory tree. See kt_log.h. */
#include "keyward/kt_log.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"

#define HB KW_LOG_HASHBYTES

/* ---- hashing ---- */

void kw_log_hash_leaf(uint8_t out[static HB], const uint8_t *data, size_t len)
{
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (len > 0)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void kw_log_hash_children(uint8_t out[static HB], const uint8_t left[static HB],
                          const uint8_t right[static HB])
{
    /* Copied first so out may alias an input. */
    uint8_t in[1 + 2 * HB];
    in[0] = 0x01;
    memcpy(in + 1, left, HB);
    memcpy(in + 1 + HB, right, HB);
    crypto_hash_sha256(out, in, sizeof(in));
}

void kw_log_hash_empty(uint8_t out[static HB])
{
    crypto_hash_sha256(out, NULL, 0);
}

/* ---- bit helpers ---- */

static unsigned bit_length(uint64_t x)
{
    return x == 0 ? 0 : 64u - (unsigned)__builtin_clzll(x);
}

static unsigned count_ones(uint64_t x)
{
    return (unsigned)__builtin_popcountll(x);
}

/* The largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << (bit_length(n - 1) - 1);
}

/* An inclusion proof for (index, size), index < size, has `inner` hashes
 * below the point where the paths to index and to size-1 meet, then
 * `border` hashes of perfect left subtrees on the right border. */
static void inclusion_shape(uint64_t index, uint64_t size, unsigned *inner, unsigned *border)
{
    unsigned in = bit_length(index ^ (size - 1));
    *inner = in;
    *border = in >= 64 ? 0 : count_ones(index >> in);
}

/* ---- proofs: building and wire form ---- */

int kw_log_proof_push(kw_log_proof *p, const uint8_t *hash, size_t hash_len)
{
    if (hash_len != HB)
        return KW_ERR_FORMAT;
    if (p->count >= KW_LOG_PROOF_MAXHASHES)
        return KW_ERR_TOO_LARGE;
    memcpy(p->hash[p->count], hash, HB);
    p->count++;
    return KW_OK;
}

int kw_log_proof_encode(uint8_t *out, size_t cap, size_t *out_len, const kw_log_proof *p)
{
    *out_len = 0;
    if (p->count > KW_LOG_PROOF_MAXHASHES)
        return KW_ERR_FORMAT;
    size_t need = 1 + p->count * HB;
    if (cap < need)
        return KW_ERR_TOO_LARGE;
    out[0] = (uint8_t)p->count;
    if (p->count > 0)
        memcpy(out + 1, p->hash, p->count * HB);
    *out_len = need;
    return KW_OK;
}

/* Parses a proof from the front of in[0..len) and reports how many bytes it
 * used; trailing bytes are the caller's business. */
static int proof_parse(kw_log_proof *p, const uint8_t *in, size_t len, size_t *used)
{
    p->count = 0;
    *used = 0;
    if (len < 1)
        return KW_ERR_TRUNCATED;
    size_t count = in[0];
    if (count > KW_LOG_PROOF_MAXHASHES)
        return KW_ERR_TOO_LARGE;
    if ((len - 1) / HB < count)
        return KW_ERR_TRUNCATED;
    if (count > 0)
        memcpy(p->hash, in + 1, count * HB);
    p->count = count;
    *used = 1 + count * HB;
    return KW_OK;
}

int kw_log_proof_decode(kw_log_proof *p, const uint8_t *in, size_t len)
{
    size_t used;
    int r = proof_parse(p, in, len, &used);
    if (r == KW_OK && used != len) {
        p->count = 0;
        r = KW_ERR_FORMAT;
    }
    return r;
}

int kw_log_proof_put(kw_buf *b, const kw_log_proof *p)
{
    if (p->count > KW_LOG_PROOF_MAXHASHES)
        return KW_ERR_FORMAT;
    uint8_t *dst;
    int r = kw_buf_reserve(b, 1 + p->count * HB, &dst);
    if (r != KW_OK)
        return r;
    dst[0] = (uint8_t)p->count;
    if (p->count > 0)
        memcpy(dst + 1, p->hash, p->count * HB);
    return KW_OK;
}

int kw_log_proof_get(kw_buf *b, kw_log_proof *p)
{
    size_t used;
    int r = proof_parse(p, kw_buf_ptr(b), kw_buf_len(b), &used);
    if (r != KW_OK)
        return r;
    return kw_buf_get(b, NULL, used);
}

/* ---- verifiers ---- */

/* Folds `count` proof hashes into seed along the path of `index`: where the
 * path goes right (bit set) the proof hash is the left sibling. */
static void chain_inner(uint8_t seed[static HB], const uint8_t (*h)[HB], unsigned count,
                        uint64_t index)
{
    for (unsigned i = 0; i < count; i++) {
        if ((index >> i) & 1)
            kw_log_hash_children(seed, h[i], seed);
        else
            kw_log_hash_children(seed, seed, h[i]);
    }
}

/* Like chain_inner but only the left siblings: recomputes the root of the
 * smaller tree, whose right edge ends at the seed. */
static void chain_inner_right(uint8_t seed[static HB], const uint8_t (*h)[HB], unsigned count,
                              uint64_t index)
{
    for (unsigned i = 0; i < count; i++)
        if ((index >> i) & 1)
            kw_log_hash_children(seed, h[i], seed);
}

/* Border hashes are all left siblings. */
static void chain_border(uint8_t seed[static HB], const uint8_t (*h)[HB], unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        kw_log_hash_children(seed, h[i], seed);
}

int kw_log_inclusion_root(uint8_t root[static HB], uint64_t index, uint64_t size,
                          const uint8_t *leaf_hash, size_t leaf_hash_len,
                          const kw_log_proof *proof)
{
    int r = KW_ERR_FORMAT;
    unsigned inner, border;
    memset(root, 0, HB);
    if (index >= size || leaf_hash_len != HB || proof->count > KW_LOG_PROOF_MAXHASHES)
        goto out;
    inclusion_shape(index, size, &inner, &border);
    if ((size_t)inner + border != proof->count)
        goto out;
    memcpy(root, leaf_hash, HB);
    chain_inner(root, proof->hash, inner, index);
    chain_border(root, proof->hash + inner, border);
    r = KW_OK;
out:
    return r;
}

int kw_log_inclusion_verify(uint64_t index, uint64_t size, const uint8_t *leaf_hash,
                            size_t leaf_hash_len, const kw_log_proof *proof, const uint8_t *root,
                            size_t root_len)
{
    uint8_t got[HB];
    if (root_len != HB)
        return KW_ERR_FORMAT;
    int r = kw_log_inclusion_root(got, index, size, leaf_hash, leaf_hash_len, proof);
    if (r != KW_OK)
        return r;
    return kw_ct_equal(got, root, HB) ? KW_OK : KW_ERR_VERIFY;
}

int kw_log_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t *root1,
                              size_t root1_len, const uint8_t *root2, size_t root2_len,
                              const kw_log_proof *proof)
{
    if (size1 > size2 || proof->count > KW_LOG_PROOF_MAXHASHES)
        return KW_ERR_FORMAT;
    /* transparency-dev policy: nothing is proved about the empty tree. */
    if (size1 == 0)
        return KW_ERR_FORMAT;
    if (size1 == size2) {
        if (proof->count != 0)
            return KW_ERR_FORMAT;
        return root1_len == root2_len && kw_ct_equal(root1, root2, root1_len) ? KW_OK
                                                                              : KW_ERR_VERIFY;
    }
    if (root1_len != HB || root2_len != HB)
        return KW_ERR_FORMAT;

    /* The proof of size1 < size2 is the inclusion proof of leaf size1-1 in
     * the size2 tree, with the lowest `shift` levels dropped (they lie inside
     * the perfect subtree that ends at size1), preceded by that subtree's
     * root unless it is the whole size1 tree, in which case it is root1. */
    unsigned inner, border;
    inclusion_shape(size1 - 1, size2, &inner, &border);
    unsigned shift = (unsigned)__builtin_ctzll(size1);
    inner -= shift; /* inner > shift because size2 - 1 > size1 - 1 */
    const uint8_t(*h)[HB] = proof->hash;
    uint8_t seed[HB], hash1[HB], hash2[HB];
    size_t start;
    if (size1 == (uint64_t)1 << shift) {
        memcpy(seed, root1, HB);
        start = 0;
    } else {
        if (proof->count == 0)
            return KW_ERR_FORMAT;
        memcpy(seed, h[0], HB);
        start = 1;
    }
    if (start + inner + border != proof->count)
        return KW_ERR_FORMAT;
    h += start;
    uint64_t mask = (size1 - 1) >> shift;
    memcpy(hash1, seed, HB);
    chain_inner_right(hash1, h, inner, mask);
    chain_border(hash1, h + inner, border);
    memcpy(hash2, seed, HB);
    chain_inner(hash2, h, inner, mask);
    chain_border(hash2, h + inner, border);
    /* Both comparisons always run; the result is public anyway. */
    bool ok1 = kw_ct_equal(hash1, root1, HB);
    bool ok2 = kw_ct_equal(hash2, root2, HB);
    return ok1 && ok2 ? KW_OK : KW_ERR_VERIFY;
}

/* ---- producers ---- */

/* The hash of node (level, index), computed from its children when the
 * reader does not keep it. Recursion depth is at most `level` (< 64). */
static int read_node(const kw_log_reader *rd, unsigned level, uint64_t index, uint8_t out[HB])
{
    int r = rd->node(rd->ctx, level, index, out);
    if (r != KW_ERR_NOT_FOUND || level == 0)
        return r;
    uint8_t left[HB], right[HB];
    if ((r = read_node(rd, level - 1, 2 * index, left)) != KW_OK ||
        (r = read_node(rd, level - 1, 2 * index + 1, right)) != KW_OK)
        return r;
    kw_log_hash_children(out, left, right);
    return KW_OK;
}

/* MTH of leaves [begin, end), end > begin, where begin is a multiple of the
 * largest power of two not above end - begin (true of every subtree the RFC
 * recursion visits). Perfect subtrees are read as one node; otherwise the
 * range is a perfect left part and a recursively hashed right part. */
static int range_hash(const kw_log_reader *rd, uint64_t begin, uint64_t end, uint8_t out[HB])
{
    uint64_t n = end - begin;
    if ((n & (n - 1)) == 0) {
        unsigned level = bit_length(n) - 1;
        if ((begin & (n - 1)) != 0)
            return KW_ERR_INTERNAL;
        return read_node(rd, level, begin >> level, out);
    }
    uint64_t k = split_point(n);
    uint8_t left[HB];
    int r = range_hash(rd, begin, begin + k, left);
    if (r == KW_OK)
        r = range_hash(rd, begin + k, end, out);
    if (r == KW_OK)
        kw_log_hash_children(out, left, out);
    return r;
}

int kw_log_root(const kw_log_reader *rd, uint64_t size, uint8_t root[static HB])
{
    memset(root, 0, HB);
    if (size > rd->size)
        return KW_ERR_NOT_FOUND;
    if (size == 0) {
        kw_log_hash_empty(root);
        return KW_OK;
    }
    int r = range_hash(rd, 0, size, root);
    if (r != KW_OK)
        memset(root, 0, HB);
    return r;
}

/* Reverses proof->hash[0..count): the walks below go from the root down,
 * proofs list hashes from the leaf up. */
static void proof_reverse(kw_log_proof *p)
{
    uint8_t tmp[HB];
    for (size_t i = 0, j = p->count; i + 1 < j; i++, j--) {
        memcpy(tmp, p->hash[i], HB);
        memcpy(p->hash[i], p->hash[j - 1], HB);
        memcpy(p->hash[j - 1], tmp, HB);
    }
}

static int proof_append_range(const kw_log_reader *rd, kw_log_proof *p, uint64_t begin,
                              uint64_t end)
{
    if (p->count >= KW_LOG_PROOF_MAXHASHES)
        return KW_ERR_TOO_LARGE;
    int r = range_hash(rd, begin, end, p->hash[p->count]);
    if (r == KW_OK)
        p->count++;
    return r;
}

int kw_log_inclusion_prove(const kw_log_reader *rd, uint64_t index, uint64_t size,
                           kw_log_proof *proof)
{
    int r = KW_ERR_INTERNAL;
    proof->count = 0;
    if (size > rd->size) {
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    if (index >= size) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    /* RFC 9162 §2.1.3.1 PATH(m, D[begin:end]), walked from the top. */
    uint64_t begin = 0, end = size;
    while (end - begin > 1) {
        uint64_t k = split_point(end - begin);
        if (index < begin + k) {
            r = proof_append_range(rd, proof, begin + k, end);
            end = begin + k;
        } else {
            r = proof_append_range(rd, proof, begin, begin + k);
            begin += k;
        }
        if (r != KW_OK)
            goto out;
    }
    proof_reverse(proof);
    r = KW_OK;
out:
    if (r != KW_OK)
        proof->count = 0;
    return r;
}

int kw_log_consistency_prove(const kw_log_reader *rd, uint64_t size1, uint64_t size2,
                             kw_log_proof *proof)
{
    int r = KW_ERR_INTERNAL;
    proof->count = 0;
    if (size2 > rd->size) {
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    if (size1 == 0 || size1 > size2) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    /* RFC 9162 §2.1.4.1 SUBPROOF(m, D[begin:end], b), walked from the top;
     * m counts the old leaves still inside [begin, end). */
    uint64_t begin = 0, end = size2, m = size1;
    bool whole = true; /* b: the subtree at hand is the whole size1 tree */
    while (m != end - begin) {
        uint64_t k = split_point(end - begin);
        if (m <= k) {
            r = proof_append_range(rd, proof, begin + k, end);
            end = begin + k;
        } else {
            r = proof_append_range(rd, proof, begin, begin + k);
            begin += k;
            m -= k;
            whole = false;
        }
        if (r != KW_OK)
            goto out;
    }
    if (!whole && (r = proof_append_range(rd, proof, begin, end)) != KW_OK)
        goto out;
    proof_reverse(proof);
    r = KW_OK;
out:
    if (r != KW_OK)
        proof->count = 0;
    return r;
}

/* ---- the compact range ---- */

void kw_log_compact_init(kw_log_compact *c)
{
    memset(c, 0, sizeof(*c));
}

int kw_log_compact_load(kw_log_compact *c, const kw_log_reader *rd, uint64_t size)
{
    int r = KW_OK;
    kw_log_compact_init(c);
    if (size > rd->size)
        return KW_ERR_NOT_FOUND;
    /* Perfect subtrees from the left, largest first: one per set bit. */
    uint64_t begin = 0;
    for (unsigned k = 64; k-- > 0;) {
        if (!((size >> k) & 1))
            continue;
        if ((r = read_node(rd, k, begin >> k, c->node[k])) != KW_OK) {
            kw_log_compact_init(c);
            return r;
        }
        begin += (uint64_t)1 << k;
    }
    c->size = size;
    return KW_OK;
}

/* Appends and, when `parents` is not NULL, reports each node completed by
 * the append: parents[k] is set for k = 1..*levels. */
static int compact_push(kw_log_compact *c, const uint8_t leaf_hash[static HB],
                        uint8_t (*parents)[HB], unsigned *levels)
{
    if (c->size == UINT64_MAX)
        return KW_ERR_LIMIT;
    uint8_t h[HB];
    unsigned k = 0;
    memcpy(h, leaf_hash, HB);
    while ((c->size >> k) & 1) {
        kw_log_hash_children(h, c->node[k], h);
        k++;
        if (parents != NULL)
            memcpy(parents[k], h, HB);
    }
    memcpy(c->node[k], h, HB);
    c->size++;
    if (levels != NULL)
        *levels = k;
    return KW_OK;
}

int kw_log_compact_append(kw_log_compact *c, const uint8_t leaf_hash[static HB])
{
    return compact_push(c, leaf_hash, NULL, NULL);
}

void kw_log_compact_root(const kw_log_compact *c, uint8_t root[static HB])
{
    if (c->size == 0) {
        kw_log_hash_empty(root);
        return;
    }
    /* Smallest (rightmost) subtree first, folding leftward. */
    unsigned k = (unsigned)__builtin_ctzll(c->size);
    memcpy(root, c->node[k], HB);
    for (k++; k < 64; k++)
        if ((c->size >> k) & 1)
            kw_log_hash_children(root, c->node[k], root);
}

/* ---- the in-memory tree ---- */

struct kw_log_tree {
    uint64_t max;
    kw_log_compact edge;         /* the right edge, for appends and the root */
    uint8_t (*level[64])[HB];    /* level[k][i] = node (k, i) */
    uint64_t cap[64];            /* entries allocated in level[k] */
};

int kw_log_tree_new(kw_log_tree **out, uint64_t max_leaves)
{
    *out = NULL;
    if (max_leaves == 0 || max_leaves > KW_LOG_TREE_MAX_LEAVES)
        return KW_ERR_INVALID_ARG;
    kw_log_tree *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return KW_ERR_NOMEM;
    t->max = max_leaves;
    kw_log_compact_init(&t->edge);
    *out = t;
    return KW_OK;
}

void kw_log_tree_free(kw_log_tree **t)
{
    if (t == NULL || *t == NULL)
        return;
    for (unsigned k = 0; k < 64; k++)
        free((*t)->level[k]);
    free(*t);
    *t = NULL;
}

uint64_t kw_log_tree_size(const kw_log_tree *t)
{
    return t->edge.size;
}

/* Makes room for entry `index` at level k. */
static int tree_reserve(kw_log_tree *t, unsigned k, uint64_t index)
{
    if (index < t->cap[k])
        return KW_OK;
    uint64_t limit = (t->max >> k) + 1; /* never more nodes than this */
    uint64_t want = t->cap[k] < 16 ? 16 : t->cap[k] * 2;
    if (want > limit)
        want = limit;
    if (want <= index || want > SIZE_MAX / HB)
        return KW_ERR_INTERNAL;
    void *grown = realloc(t->level[k], (size_t)want * HB);
    if (grown == NULL)
        return KW_ERR_NOMEM;
    t->level[k] = grown;
    t->cap[k] = want;
    return KW_OK;
}

int kw_log_tree_append(kw_log_tree *t, const uint8_t leaf_hash[static HB])
{
    uint64_t n = t->edge.size;
    if (n >= t->max)
        return KW_ERR_LIMIT;
    /* Reserve every level the append touches before changing anything: the
     * new leaf completes a node at each level k where bits 0..k-1 of n are 1. */
    unsigned levels = (unsigned)__builtin_ctzll(~n);
    for (unsigned k = 0; k <= levels; k++) {
        int r = tree_reserve(t, k, n >> k);
        if (r != KW_OK)
            return r;
    }
    uint8_t parents[64][HB];
    unsigned got;
    int r = compact_push(&t->edge, leaf_hash, parents, &got);
    if (r != KW_OK)
        return r;
    if (got != levels)
        return KW_ERR_INTERNAL;
    memcpy(t->level[0][n], leaf_hash, HB);
    for (unsigned k = 1; k <= levels; k++)
        memcpy(t->level[k][n >> k], parents[k], HB);
    return KW_OK;
}

int kw_log_tree_append_data(kw_log_tree *t, const uint8_t *data, size_t len)
{
    uint8_t h[HB];
    kw_log_hash_leaf(h, data, len);
    return kw_log_tree_append(t, h);
}

void kw_log_tree_root(const kw_log_tree *t, uint8_t root[static HB])
{
    kw_log_compact_root(&t->edge, root);
}

static int tree_node(void *ctx, unsigned level, uint64_t index, uint8_t out[HB])
{
    const kw_log_tree *t = ctx;
    if (level >= 64 || index >= (t->edge.size >> level))
        return KW_ERR_INVALID_ARG;
    memcpy(out, t->level[level][index], HB);
    return KW_OK;
}

void kw_log_tree_reader(const kw_log_tree *t, kw_log_reader *rd)
{
    rd->ctx = (void *)(uintptr_t)t;
    rd->size = t->edge.size;
    rd->node = tree_node;
}

/* ---- append proofs ---- */

/* The level of the next piece of [begin, end): the largest perfect subtree
 * that starts at begin (aligned) and ends at or before end (end > begin). */
static unsigned append_piece(uint64_t begin, uint64_t end)
{
    unsigned k = begin == 0 ? 63 : (unsigned)__builtin_ctzll(begin);
    uint64_t n = end - begin;
    unsigned fit = bit_length(n) - 1;
    return k < fit ? k : fit;
}

int kw_log_append_prove(const kw_log_reader *rd, uint64_t size1, uint64_t size2,
                        kw_log_proof *proof)
{
    int r;
    proof->count = 0;
    if (size2 > rd->size)
        return KW_ERR_NOT_FOUND;
    if (size1 > size2)
        return KW_ERR_INVALID_ARG;
    for (uint64_t p = size1; p < size2;) {
        unsigned k = append_piece(p, size2);
        if (proof->count == KW_LOG_PROOF_MAXHASHES) {
            proof->count = 0;
            return KW_ERR_TOO_LARGE;
        }
        if ((r = read_node(rd, k, p >> k, proof->hash[proof->count])) != KW_OK) {
            proof->count = 0;
            return r;
        }
        proof->count++;
        p += (uint64_t)1 << k;
    }
    return KW_OK;
}

int kw_log_compact_append_node(kw_log_compact *c, unsigned level,
                               const uint8_t hash[static KW_LOG_HASHBYTES])
{
    if (level >= 64 || (c->size & (((uint64_t)1 << level) - 1)) != 0)
        return KW_ERR_INVALID_ARG;
    uint64_t add = (uint64_t)1 << level;
    if (c->size > UINT64_MAX - add)
        return KW_ERR_LIMIT;
    uint8_t h[HB];
    unsigned k = level;
    memcpy(h, hash, HB);
    while (k < 64 && ((c->size >> k) & 1)) {
        kw_log_hash_children(h, c->node[k], h);
        k++;
    }
    if (k == 64)
        return KW_ERR_LIMIT; /* unreachable: the size check above */
    memcpy(c->node[k], h, HB);
    c->size += add;
    return KW_OK;
}

int kw_log_compact_extend(kw_log_compact *c, uint64_t size2, const kw_log_proof *proof)
{
    size_t i = 0;
    kw_log_compact t = *c;
    int r = KW_OK;
    if (proof == NULL || proof->count > KW_LOG_PROOF_MAXHASHES || size2 < c->size)
        return KW_ERR_FORMAT;
    for (uint64_t p = c->size; p < size2;) {
        unsigned k = append_piece(p, size2);
        if (i == proof->count) {
            r = KW_ERR_FORMAT;
            goto out;
        }
        if ((r = kw_log_compact_append_node(&t, k, proof->hash[i++])) != KW_OK)
            goto out;
        p += (uint64_t)1 << k;
    }
    if (i != proof->count) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    *c = t;
out:
    sodium_memzero(&t, sizeof(t)); /* not secret; keeps the stack tidy */
    return r;
}

int kw_log_compact_from_last_inclusion(kw_log_compact *c, uint64_t size,
                                       const uint8_t leaf_hash[static KW_LOG_HASHBYTES],
                                       const kw_log_proof *proof)
{
    kw_log_compact_init(c);
    if (size == 0 || proof == NULL || proof->count != (size_t)count_ones(size - 1))
        return KW_ERR_FORMAT;
    /* The path of the last leaf, bottom-up, is the compact range of the
     * size - 1 leaves before it, smallest subtree first. */
    size_t i = 0;
    for (unsigned k = 0; k < 64; k++)
        if (((size - 1) >> k) & 1)
            memcpy(c->node[k], proof->hash[i++], HB);
    c->size = size - 1;
    return kw_log_compact_append(c, leaf_hash);
}
