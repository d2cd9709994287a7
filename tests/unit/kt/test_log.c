/* Unit tests for the log tree (kt_log.h): random trees of 1..300 leaves
 * checked against a naive recursive RFC 9162 model written here, every
 * generated proof verified and its mutations refused with the specific
 * error, the policy rules, extreme sizes, the wire form, the reader's
 * fallback and error paths, and the limits of the tree and compact range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/kt_log.h"

#define MAXN 300

static uint8_t leaves[MAXN][32];
static uint8_t roots[MAXN + 1][32];
static kw_log_tree *tree;
static kw_log_reader rd;

/* ---- the naive model: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 verbatim ---- */

static uint64_t model_split(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void model_node(uint8_t out[32], const uint8_t l[32], const uint8_t r[32])
{
    uint8_t buf[65];
    buf[0] = 1;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    crypto_hash_sha256(out, buf, sizeof(buf));
}

static void model_mth(uint8_t out[32], const uint8_t (*d)[32], uint64_t n)
{
    if (n == 0) {
        crypto_hash_sha256(out, (const uint8_t *)"", 0);
    } else if (n == 1) {
        memcpy(out, d[0], 32);
    } else {
        uint64_t k = model_split(n);
        uint8_t l[32], r[32];
        model_mth(l, d, k);
        model_mth(r, d + k, n - k);
        model_node(out, l, r);
    }
}

static void model_path(kw_log_proof *p, uint64_t m, const uint8_t (*d)[32], uint64_t n)
{
    if (n <= 1)
        return;
    uint64_t k = model_split(n);
    if (m < k) {
        model_path(p, m, d, k);
        model_mth(p->hash[p->count++], d + k, n - k);
    } else {
        model_path(p, m - k, d + k, n - k);
        model_mth(p->hash[p->count++], d, k);
    }
}

static void model_subproof(kw_log_proof *p, uint64_t m, const uint8_t (*d)[32], uint64_t n,
                           bool b)
{
    if (m == n) {
        if (!b)
            model_mth(p->hash[p->count++], d, n);
        return;
    }
    uint64_t k = model_split(n);
    if (m <= k) {
        model_subproof(p, m, d, k, b);
        model_mth(p->hash[p->count++], d + k, n - k);
    } else {
        model_subproof(p, m - k, d + k, n - k, false);
        model_mth(p->hash[p->count++], d, k);
    }
}

static bool proof_equal(const kw_log_proof *a, const kw_log_proof *b)
{
    return a->count == b->count && memcmp(a->hash, b->hash, a->count * 32) == 0;
}

static uint32_t rnd(uint32_t n)
{
    return randombytes_uniform(n);
}

/* ---- fixture: one random tree of MAXN leaves; its prefixes are the trees
 * of every size 1..MAXN ---- */

static int setup(void **state)
{
    (void)state;
    if (kw_log_tree_new(&tree, MAXN) != KW_OK)
        return -1;
    for (size_t i = 0; i < MAXN; i++) {
        uint8_t data[40];
        size_t len = 8 + rnd(sizeof(data) - 8); /* distinct leaves, w.h.p. */
        randombytes_buf(data, len);
        kw_log_hash_leaf(leaves[i], data, len);
        if (kw_log_tree_append_data(tree, data, len) != KW_OK)
            return -1;
    }
    for (size_t n = 0; n <= MAXN; n++)
        model_mth(roots[n], (const uint8_t(*)[32])leaves, n);
    kw_log_tree_reader(tree, &rd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_log_tree_free(&tree);
    assert_null(tree);
    return 0;
}

/* ---- tests ---- */

static void test_hashing(void **state)
{
    (void)state;
    uint8_t got[32], want[32], buf[4] = {0x00, 'a', 'b', 'c'};
    kw_log_hash_empty(got);
    crypto_hash_sha256(want, NULL, 0);
    assert_memory_equal(got, want, 32);
    kw_log_hash_leaf(got, buf + 1, 3);
    crypto_hash_sha256(want, buf, 4);
    assert_memory_equal(got, want, 32);
    kw_log_hash_leaf(got, NULL, 0);
    crypto_hash_sha256(want, buf, 1);
    assert_memory_equal(got, want, 32);
    /* aliasing the output with an input */
    uint8_t l[32], r[32];
    randombytes_buf(l, 32);
    randombytes_buf(r, 32);
    model_node(want, l, r);
    kw_log_hash_children(l, l, r);
    assert_memory_equal(l, want, 32);
}

static void test_roots_every_size(void **state)
{
    (void)state;
    uint8_t got[32];
    kw_log_compact c;
    kw_log_compact_init(&c);
    for (uint64_t n = 0; n <= MAXN; n++) {
        assert_int_equal(kw_log_root(&rd, n, got), KW_OK);
        assert_memory_equal(got, roots[n], 32);
        kw_log_compact_root(&c, got);
        assert_memory_equal(got, roots[n], 32);
        kw_log_compact cl;
        assert_int_equal(kw_log_compact_load(&cl, &rd, n), KW_OK);
        assert_true(cl.size == n);
        kw_log_compact_root(&cl, got);
        assert_memory_equal(got, roots[n], 32);
        if (n < MAXN)
            assert_int_equal(kw_log_compact_append(&c, leaves[n]), KW_OK);
    }
    kw_log_tree_root(tree, got);
    assert_memory_equal(got, roots[MAXN], 32);
    assert_true(kw_log_tree_size(tree) == MAXN);
    assert_int_equal(kw_log_root(&rd, MAXN + 1, got), KW_ERR_NOT_FOUND);
    assert_true(kw_ct_is_zero(got, 32));
}

/* Indices to try in a tree of `size`: all of them for small trees, else the
 * edges and a random sample. */
static size_t pick(uint64_t size, uint64_t *out)
{
    size_t n = 0;
    if (size <= 48) {
        for (uint64_t i = 0; i < size; i++)
            out[n++] = i;
        return n;
    }
    out[n++] = 0;
    out[n++] = size - 1;
    out[n++] = size / 2;
    for (int i = 0; i < 12; i++)
        out[n++] = rnd((uint32_t)size);
    return n;
}

static void check_inclusion_mutations(uint64_t idx, uint64_t size, const kw_log_proof *good)
{
    const uint8_t *leaf = leaves[idx], *root = roots[size];
    kw_log_proof p, alt;
    /* a flipped bit anywhere */
    for (size_t i = 0; i < good->count; i++) {
        p = *good;
        p.hash[i][rnd(32)] ^= (uint8_t)(1u << rnd(8));
        assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 32, &p, root, 32), KW_ERR_VERIFY);
    }
    /* truncated, extended */
    if (good->count > 0) {
        p = *good;
        p.count--;
        assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 32, &p, root, 32), KW_ERR_FORMAT);
    }
    p = *good;
    randombytes_buf(p.hash[p.count++], 32);
    assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 32, &p, root, 32), KW_ERR_FORMAT);
    /* adjacent siblings swapped */
    for (size_t i = 0; i + 1 < good->count; i++) {
        p = *good;
        memcpy(p.hash[i], good->hash[i + 1], 32);
        memcpy(p.hash[i + 1], good->hash[i], 32);
        assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 32, &p, root, 32), KW_ERR_VERIFY);
    }
    /* another index: a mismatch or an impossible shape, never a pass */
    uint64_t others[] = {idx + 1, idx - 1, idx ^ 1, idx ^ 2, size};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (others[i] == idx)
            continue;
        int r = kw_log_inclusion_verify(others[i], size, leaf, 32, good, root, 32);
        assert_true(r == KW_ERR_VERIFY || r == KW_ERR_FORMAT);
    }
    /* another leaf */
    assert_int_equal(kw_log_inclusion_verify(idx, size, leaves[(idx + 1) % MAXN], 32, good, root, 32),
                     KW_ERR_VERIFY);
    /* another size, with that size's true root (unless its proof is the same
     * list of hashes, in which case it rightly verifies) */
    uint64_t sizes[] = {size - 1, size + 1, size * 2, size / 2};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t s = sizes[i];
        if (s == size || s <= idx || s > MAXN)
            continue;
        assert_int_equal(kw_log_inclusion_prove(&rd, idx, s, &alt), KW_OK);
        int r = kw_log_inclusion_verify(idx, s, leaf, 32, good, roots[s], 32);
        if (proof_equal(&alt, good))
            assert_int_equal(r, KW_OK);
        else
            assert_true(r == KW_ERR_VERIFY || r == KW_ERR_FORMAT);
    }
    /* the right proof against another size's root */
    if (size < MAXN)
        assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 32, good, roots[size + 1], 32),
                         KW_ERR_VERIFY);
    /* hash lengths */
    assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 31, good, root, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 33, good, root, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_inclusion_verify(idx, size, leaf, 32, good, root, 0), KW_ERR_FORMAT);
}

static void test_inclusion_random_trees(void **state)
{
    (void)state;
    unsigned proofs = 0;
    for (uint64_t size = 1; size <= MAXN; size++) {
        uint64_t idxs[64];
        size_t n = pick(size, idxs);
        for (size_t i = 0; i < n; i++) {
            uint64_t idx = idxs[i];
            kw_log_proof p = {0}, model = {0};
            assert_int_equal(kw_log_inclusion_prove(&rd, idx, size, &p), KW_OK);
            model_path(&model, idx, (const uint8_t(*)[32])leaves, size);
            assert_true(proof_equal(&p, &model));
            assert_int_equal(kw_log_inclusion_verify(idx, size, leaves[idx], 32, &p, roots[size], 32),
                             KW_OK);
            uint8_t got[32];
            assert_int_equal(kw_log_inclusion_root(got, idx, size, leaves[idx], 32, &p), KW_OK);
            assert_memory_equal(got, roots[size], 32);
            check_inclusion_mutations(idx, size, &p);
            proofs++;
        }
    }
    assert_true(proofs > 3000);
}

static void check_consistency_mutations(uint64_t s1, uint64_t s2, const kw_log_proof *good)
{
    const uint8_t *r1 = roots[s1], *r2 = roots[s2];
    kw_log_proof p, alt;
    for (size_t i = 0; i < good->count; i++) {
        p = *good;
        p.hash[i][rnd(32)] ^= (uint8_t)(1u << rnd(8));
        assert_int_equal(kw_log_consistency_verify(s1, s2, r1, 32, r2, 32, &p), KW_ERR_VERIFY);
    }
    if (good->count > 0) {
        p = *good;
        p.count--;
        assert_int_equal(kw_log_consistency_verify(s1, s2, r1, 32, r2, 32, &p), KW_ERR_FORMAT);
    }
    p = *good;
    randombytes_buf(p.hash[p.count++], 32);
    assert_int_equal(kw_log_consistency_verify(s1, s2, r1, 32, r2, 32, &p), KW_ERR_FORMAT);
    for (size_t i = 0; i + 1 < good->count; i++) {
        p = *good;
        memcpy(p.hash[i], good->hash[i + 1], 32);
        memcpy(p.hash[i + 1], good->hash[i], 32);
        assert_int_equal(kw_log_consistency_verify(s1, s2, r1, 32, r2, 32, &p), KW_ERR_VERIFY);
    }
    if (s1 == s2)
        return;
    /* swapped or foreign roots */
    assert_int_equal(kw_log_consistency_verify(s1, s2, r2, 32, r1, 32, good), KW_ERR_VERIFY);
    if (s1 > 1)
        assert_int_equal(kw_log_consistency_verify(s1, s2, roots[s1 - 1], 32, r2, 32, good),
                         KW_ERR_VERIFY);
    if (s2 < MAXN)
        assert_int_equal(kw_log_consistency_verify(s1, s2, r1, 32, roots[s2 + 1], 32, good),
                         KW_ERR_VERIFY);
    /* other sizes with their true roots */
    uint64_t pairs[][2] = {{s1 - 1, s2}, {s1 + 1, s2}, {s1, s2 - 1}, {s1, s2 + 1}, {s1 * 2, s2}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        uint64_t a = pairs[i][0], b = pairs[i][1];
        if (a == 0 || a > b || b > MAXN || (a == s1 && b == s2))
            continue;
        assert_int_equal(kw_log_consistency_prove(&rd, a, b, &alt), KW_OK);
        int r = kw_log_consistency_verify(a, b, roots[a], 32, roots[b], 32, good);
        if (proof_equal(&alt, good))
            assert_int_equal(r, KW_OK);
        else
            assert_true(r == KW_ERR_VERIFY || r == KW_ERR_FORMAT);
    }
    assert_int_equal(kw_log_consistency_verify(s1, s2, r1, 31, r2, 32, good), KW_ERR_FORMAT);
    assert_int_equal(kw_log_consistency_verify(s1, s2, r1, 32, r2, 33, good), KW_ERR_FORMAT);
}

static void test_consistency_random_trees(void **state)
{
    (void)state;
    unsigned proofs = 0;
    for (uint64_t s2 = 1; s2 <= MAXN; s2++) {
        uint64_t picks[64];
        size_t n = pick(s2, picks);
        for (size_t i = 0; i < n; i++) {
            uint64_t s1 = picks[i] + 1; /* 1..s2 */
            kw_log_proof p = {0}, model = {0};
            assert_int_equal(kw_log_consistency_prove(&rd, s1, s2, &p), KW_OK);
            model_subproof(&model, s1, (const uint8_t(*)[32])leaves, s2, true);
            assert_true(proof_equal(&p, &model));
            assert_int_equal(kw_log_consistency_verify(s1, s2, roots[s1], 32, roots[s2], 32, &p),
                             KW_OK);
            check_consistency_mutations(s1, s2, &p);
            proofs++;
        }
    }
    assert_true(proofs > 3000);
}

static void test_verifier_rules(void **state)
{
    (void)state;
    kw_log_proof empty = {0}, one = {0};
    uint8_t a[32], b[32], got[32];
    randombytes_buf(a, 32);
    randombytes_buf(b, 32);
    assert_int_equal(kw_log_proof_push(&one, a, 32), KW_OK);
    /* consistency from size 0: refused even for two empty trees */
    assert_int_equal(kw_log_consistency_verify(0, 0, a, 32, a, 32, &empty), KW_ERR_FORMAT);
    assert_int_equal(kw_log_consistency_verify(0, 5, a, 32, b, 32, &empty), KW_ERR_FORMAT);
    /* size1 > size2 */
    assert_int_equal(kw_log_consistency_verify(3, 2, a, 32, b, 32, &one), KW_ERR_FORMAT);
    /* equal sizes: empty proof and byte-identical roots */
    assert_int_equal(kw_log_consistency_verify(4, 4, a, 32, a, 32, &empty), KW_OK);
    assert_int_equal(kw_log_consistency_verify(4, 4, a, 32, b, 32, &empty), KW_ERR_VERIFY);
    assert_int_equal(kw_log_consistency_verify(4, 4, a, 32, a, 32, &one), KW_ERR_FORMAT);
    assert_int_equal(kw_log_consistency_verify(4, 4, a, 32, a, 31, &empty), KW_ERR_VERIFY);
    /* size1 < size2 needs a proof */
    assert_int_equal(kw_log_consistency_verify(3, 4, a, 32, b, 32, &empty), KW_ERR_FORMAT);
    assert_int_equal(kw_log_consistency_verify(1, 2, a, 32, b, 32, &empty), KW_ERR_FORMAT);
    /* inclusion: index >= size, size 0, leaf and root lengths */
    assert_int_equal(kw_log_inclusion_verify(0, 0, a, 32, &empty, a, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_inclusion_verify(5, 5, a, 32, &empty, a, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_inclusion_verify(UINT64_MAX, 1, a, 32, &empty, a, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_inclusion_verify(0, 1, a, 32, &empty, a, 32), KW_OK);
    assert_int_equal(kw_log_inclusion_verify(0, 1, a, 0, &empty, a, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_inclusion_verify(0, 1, a, 32, &empty, b, 32), KW_ERR_VERIFY);
    assert_int_equal(kw_log_inclusion_verify(0, 1, a, 32, &one, a, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_inclusion_root(got, 1, 1, a, 32, &empty), KW_ERR_FORMAT);
    assert_true(kw_ct_is_zero(got, 32));
    /* a corrupted count is refused, not read past */
    kw_log_proof bad = one;
    bad.count = KW_LOG_PROOF_MAXHASHES + 1;
    assert_int_equal(kw_log_inclusion_verify(0, 2, a, 32, &bad, a, 32), KW_ERR_FORMAT);
    assert_int_equal(kw_log_consistency_verify(1, 2, a, 32, b, 32, &bad), KW_ERR_FORMAT);
    assert_int_equal(kw_log_consistency_verify(2, 2, a, 32, a, 32, &bad), KW_ERR_FORMAT);
}

/* Sizes near 2^64: the shapes are computed without overflow, exactly one
 * proof length is accepted (for trees of at most 2^63 leaves every proof
 * fits in 64 hashes), and every other length is refused. */
static void test_extreme_sizes(void **state)
{
    (void)state;
    static const uint64_t sizes[][2] = {
        {0, UINT64_MAX},           {UINT64_MAX - 1, UINT64_MAX},
        {(uint64_t)1 << 63, UINT64_MAX}, {((uint64_t)1 << 63) - 1, (uint64_t)1 << 63},
        {12345, UINT64_MAX - 7},   {0, (uint64_t)1 << 63},
    };
    uint8_t leaf[32], root[32];
    randombytes_buf(leaf, 32);
    randombytes_buf(root, 32);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned accepted_shapes = 0;
        for (size_t len = 0; len <= KW_LOG_PROOF_MAXHASHES; len++) {
            kw_log_proof p = {.count = len};
            randombytes_buf(p.hash, sizeof(p.hash));
            int r = kw_log_inclusion_verify(sizes[i][0], sizes[i][1], leaf, 32, &p, root, 32);
            assert_true(r == KW_ERR_VERIFY || r == KW_ERR_FORMAT);
            accepted_shapes += r == KW_ERR_VERIFY;
        }
        assert_int_equal(accepted_shapes, 1);
    }
    static const uint64_t pairs[][2] = {
        {1, UINT64_MAX}, {UINT64_MAX - 1, UINT64_MAX}, {((uint64_t)1 << 63) + 1, UINT64_MAX},
        {(uint64_t)1 << 63, UINT64_MAX}, {3, (uint64_t)1 << 63}, {12345, UINT64_MAX - 7},
        {((uint64_t)1 << 63) - 1, (uint64_t)1 << 63},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        unsigned accepted_shapes = 0;
        for (size_t len = 0; len <= KW_LOG_PROOF_MAXHASHES; len++) {
            kw_log_proof p = {.count = len};
            randombytes_buf(p.hash, sizeof(p.hash));
            int r = kw_log_consistency_verify(pairs[i][0], pairs[i][1], leaf, 32, root, 32, &p);
            assert_true(r == KW_ERR_VERIFY || r == KW_ERR_FORMAT);
            accepted_shapes += r == KW_ERR_VERIFY;
        }
        /* 2^63 + 1 -> 2^64 - 1 would need 65 hashes: refused at any length */
        if (pairs[i][1] <= (uint64_t)1 << 63 || pairs[i][0] % 2 == 0 || pairs[i][0] == 1)
            assert_int_equal(accepted_shapes, 1);
        else
            assert_true(accepted_shapes <= 1);
    }
}

static void test_wire(void **state)
{
    (void)state;
    kw_log_proof p = {0}, q = {0};
    uint8_t wire[KW_LOG_PROOF_MAXBYTES + 1], h[33] = {0};
    size_t n;
    assert_int_equal(kw_log_proof_push(&p, h, 31), KW_ERR_FORMAT);
    assert_int_equal(kw_log_proof_push(&p, h, 33), KW_ERR_FORMAT);
    assert_int_equal(kw_log_proof_push(&p, h, 0), KW_ERR_FORMAT);
    assert_true(p.count == 0);
    for (size_t i = 0; i < KW_LOG_PROOF_MAXHASHES; i++) {
        randombytes_buf(h, 32);
        assert_int_equal(kw_log_proof_push(&p, h, 32), KW_OK);
    }
    assert_int_equal(kw_log_proof_push(&p, h, 32), KW_ERR_TOO_LARGE);
    assert_true(p.count == KW_LOG_PROOF_MAXHASHES);

    assert_int_equal(kw_log_proof_encode(wire, KW_LOG_PROOF_MAXBYTES - 1, &n, &p), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_log_proof_encode(wire, sizeof(wire), &n, &p), KW_OK);
    assert_int_equal(n, KW_LOG_PROOF_MAXBYTES);
    assert_int_equal(kw_log_proof_decode(&q, wire, n), KW_OK);
    assert_true(proof_equal(&p, &q));

    assert_int_equal(kw_log_proof_decode(&q, wire, 0), KW_ERR_TRUNCATED);
    assert_true(q.count == 0);
    assert_int_equal(kw_log_proof_decode(&q, wire, n - 1), KW_ERR_TRUNCATED);
    wire[n] = 0;
    assert_int_equal(kw_log_proof_decode(&q, wire, n + 1), KW_ERR_FORMAT);
    assert_true(q.count == 0);
    wire[0] = KW_LOG_PROOF_MAXHASHES + 1;
    assert_int_equal(kw_log_proof_decode(&q, wire, sizeof(wire)), KW_ERR_TOO_LARGE);
    wire[0] = 0xff;
    assert_int_equal(kw_log_proof_decode(&q, wire, sizeof(wire)), KW_ERR_TOO_LARGE);
    wire[0] = 0;
    assert_int_equal(kw_log_proof_decode(&q, wire, 1), KW_OK);
    assert_true(q.count == 0);

    /* in a larger message, through kw_buf */
    kw_buf *b = kw_buf_new(4096);
    assert_non_null(b);
    q.count = 2;
    assert_int_equal(kw_log_proof_put(b, &q), KW_OK);
    assert_int_equal(kw_buf_put_u8(b, 0x77), KW_OK);
    kw_log_proof r = {0};
    assert_int_equal(kw_log_proof_get(b, &r), KW_OK);
    assert_true(proof_equal(&q, &r));
    uint8_t tail;
    assert_int_equal(kw_buf_get_u8(b, &tail), KW_OK);
    assert_int_equal(tail, 0x77);
    /* a truncated proof consumes nothing */
    assert_int_equal(kw_buf_put_u8(b, 3), KW_OK);
    assert_int_equal(kw_buf_put(b, h, 32), KW_OK);
    assert_int_equal(kw_log_proof_get(b, &r), KW_ERR_TRUNCATED);
    assert_int_equal(kw_buf_len(b), 33);
    kw_buf_free(&b);
    kw_buf *small = kw_buf_new(10);
    assert_int_equal(kw_log_proof_put(small, &q), KW_ERR_TOO_LARGE);
    kw_buf_free(&small);
    q.count = KW_LOG_PROOF_MAXHASHES + 1;
    assert_int_equal(kw_log_proof_encode(wire, sizeof(wire), &n, &q), KW_ERR_FORMAT);
}

static void test_producer_errors(void **state)
{
    (void)state;
    kw_log_proof p;
    p.count = 7;
    assert_int_equal(kw_log_inclusion_prove(&rd, 0, MAXN + 1, &p), KW_ERR_NOT_FOUND);
    assert_true(p.count == 0);
    assert_int_equal(kw_log_inclusion_prove(&rd, 5, 5, &p), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_log_inclusion_prove(&rd, 0, 0, &p), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_log_consistency_prove(&rd, 0, 5, &p), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_log_consistency_prove(&rd, 6, 5, &p), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_log_consistency_prove(&rd, 1, MAXN + 1, &p), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_log_consistency_prove(&rd, 9, 9, &p), KW_OK);
    assert_true(p.count == 0);
    kw_log_compact c;
    assert_int_equal(kw_log_compact_load(&c, &rd, MAXN + 1), KW_ERR_NOT_FOUND);
    assert_true(c.size == 0);
}

/* A backend that keeps only the leaves (NOT_FOUND above level 0), and one
 * whose storage fails after a number of reads. */
typedef struct {
    const kw_log_reader *inner;
    int fail_after; /* < 0: never */
    int reads;
} shim;

static int shim_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
    shim *s = ctx;
    if (s->fail_after >= 0 && s->reads++ >= s->fail_after)
        return KW_ERR_STORAGE;
    if (level > 0)
        return KW_ERR_NOT_FOUND;
    return s->inner->node(s->inner->ctx, level, index, out);
}

static void test_reader_fallback_and_errors(void **state)
{
    (void)state;
    shim s = {.inner = &rd, .fail_after = -1};
    kw_log_reader leaves_only = {.ctx = &s, .size = 100, .node = shim_node};
    kw_log_proof a, b;
    uint8_t got[32];
    for (uint64_t size = 1; size <= 100; size += 7) {
        assert_int_equal(kw_log_root(&leaves_only, size, got), KW_OK);
        assert_memory_equal(got, roots[size], 32);
        for (uint64_t i = 0; i < size; i += 5) {
            assert_int_equal(kw_log_inclusion_prove(&leaves_only, i, size, &a), KW_OK);
            assert_int_equal(kw_log_inclusion_prove(&rd, i, size, &b), KW_OK);
            assert_true(proof_equal(&a, &b));
            assert_int_equal(kw_log_consistency_prove(&leaves_only, i + 1, size, &a), KW_OK);
            assert_int_equal(kw_log_consistency_prove(&rd, i + 1, size, &b), KW_OK);
            assert_true(proof_equal(&a, &b));
        }
    }
    /* storage failures pass through at every point and leave nothing behind */
    for (int k = 0; k < 40; k++) {
        s.fail_after = k;
        s.reads = 0;
        int r = kw_log_inclusion_prove(&leaves_only, 37, 100, &a);
        assert_true(r == KW_ERR_STORAGE || r == KW_OK);
        if (r != KW_OK)
            assert_true(a.count == 0);
        s.reads = 0;
        r = kw_log_consistency_prove(&leaves_only, 37, 100, &a);
        assert_true(r == KW_ERR_STORAGE || r == KW_OK);
        if (r != KW_OK)
            assert_true(a.count == 0);
        s.reads = 0;
        r = kw_log_root(&leaves_only, 99, got);
        assert_true(r == KW_ERR_STORAGE || r == KW_OK);
        if (r != KW_OK)
            assert_true(kw_ct_is_zero(got, 32));
        kw_log_compact c;
        s.reads = 0;
        r = kw_log_compact_load(&c, &leaves_only, 99);
        assert_true(r == KW_ERR_STORAGE || r == KW_OK);
        if (r != KW_OK)
            assert_true(c.size == 0);
    }
    s.fail_after = 0;
    s.reads = 0;
    assert_int_equal(kw_log_inclusion_prove(&leaves_only, 0, 2, &a), KW_ERR_STORAGE);
}

static void test_tree_limits(void **state)
{
    (void)state;
    kw_log_tree *t = (kw_log_tree *)1;
    assert_int_equal(kw_log_tree_new(&t, 0), KW_ERR_INVALID_ARG);
    assert_null(t);
    assert_int_equal(kw_log_tree_new(&t, KW_LOG_TREE_MAX_LEAVES + 1), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_log_tree_new(&t, 3), KW_OK);
    uint8_t got[32], empty[32];
    kw_log_tree_root(t, got);
    kw_log_hash_empty(empty);
    assert_memory_equal(got, empty, 32);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kw_log_tree_append(t, leaves[i]), KW_OK);
    assert_int_equal(kw_log_tree_append(t, leaves[3]), KW_ERR_LIMIT);
    assert_true(kw_log_tree_size(t) == 3);
    kw_log_tree_root(t, got);
    assert_memory_equal(got, roots[3], 32);
    kw_log_tree_free(&t);
    assert_null(t);
    kw_log_tree_free(&t);
    kw_log_tree_free(NULL);

    kw_log_compact c;
    kw_log_compact_init(&c);
    c.size = UINT64_MAX;
    assert_int_equal(kw_log_compact_append(&c, leaves[0]), KW_ERR_LIMIT);
    assert_true(c.size == UINT64_MAX);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashing),
        cmocka_unit_test(test_roots_every_size),
        cmocka_unit_test(test_inclusion_random_trees),
        cmocka_unit_test(test_consistency_random_trees),
        cmocka_unit_test(test_verifier_rules),
        cmocka_unit_test(test_extreme_sizes),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_producer_errors),
        cmocka_unit_test(test_reader_fallback_and_errors),
        cmocka_unit_test(test_tree_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
