/* Unit tests for the prefix tree (kt_prefix.h): random insert sequences of
 * 1..2000 leaves over several epochs checked against a naive recursive model
 * written here (roots, node counts, proofs); every membership and
 * non-membership proof verified against its epoch's root and every mutation
 * refused with the specific error; the wire form; update errors; deep
 * paths; storage faults and corruption; pruning. The random stream is
 * seeded and the seed printed (KW_TEST_SEED=<hex> replays a run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/codec.h"
#include "keyward/kt_prefix.h"

#define MAXE 16

static uint8_t seed[32];
static uint64_t seed_ctr;
static unsigned long checks_member, checks_absent, checks_mutation;

static void rnd_bytes(void *out, size_t n)
{
    uint8_t s[32];
    memcpy(s, seed, sizeof(s));
    for (int i = 0; i < 8; i++)
        s[i] ^= (uint8_t)(seed_ctr >> (8 * i));
    seed_ctr++;
    randombytes_buf_deterministic(out, n, s);
}

static uint32_t rnd(uint32_t n)
{
    uint32_t v;
    rnd_bytes(&v, sizeof(v));
    return n == 0 ? 0 : v % n;
}

static unsigned bit(const uint8_t *x, unsigned i)
{
    return (x[i / 8] >> (7 - i % 8)) & 1u;
}

static void flip(uint8_t *x, unsigned i)
{
    x[i / 8] ^= (uint8_t)(0x80u >> (i % 8));
}

static int cmp_entry(const void *a, const void *b)
{
    return memcmp(a, b, KW_PREFIX_INDEXBYTES);
}

/* ---- the naive model: the definition in kt_prefix.h, over a sorted set ---- */

static void model_leaf(uint8_t out[32], const kw_prefix_entry *e)
{
    uint8_t in[65];
    in[0] = 0;
    memcpy(in + 1, e->index, 32);
    memcpy(in + 33, e->commitment, 32);
    crypto_hash_sha256(out, in, sizeof(in));
}

static void model_inner(uint8_t out[32], const uint8_t l[32], const uint8_t r[32])
{
    uint8_t in[65];
    in[0] = 1;
    memcpy(in + 1, l, 32);
    memcpy(in + 33, r, 32);
    crypto_hash_sha256(out, in, sizeof(in));
}

static size_t model_split(const kw_prefix_entry *e, size_t n, unsigned depth)
{
    size_t s = 0;
    while (s < n && bit(e[s].index, depth) == 0)
        s++;
    return s;
}

static void model_root(uint8_t out[32], const kw_prefix_entry *e, size_t n, unsigned depth)
{
    if (n == 0) {
        memset(out, 0, 32);
    } else if (n == 1) {
        model_leaf(out, e);
    } else {
        size_t s = model_split(e, n, depth);
        uint8_t l[32], r[32];
        model_root(l, e, s, depth + 1);
        model_root(r, e + s, n - s, depth + 1);
        model_inner(out, l, r);
    }
}

static size_t model_nodes(const kw_prefix_entry *e, size_t n, unsigned depth)
{
    if (n <= 1)
        return n;
    size_t s = model_split(e, n, depth);
    return 1 + model_nodes(e, s, depth + 1) + model_nodes(e + s, n - s, depth + 1);
}

/* The proof the definition gives for x over the sorted set e[0..n). */
static void model_proof(kw_prefix_proof *p, const kw_prefix_entry *e, size_t n, const uint8_t *x)
{
    memset(p, 0, sizeof(*p));
    unsigned depth = 0;
    while (n > 1) {
        size_t s = model_split(e, n, depth);
        if (bit(x, depth)) {
            model_root(p->sibling[depth], e, s, depth + 1);
            e += s;
            n -= s;
        } else {
            model_root(p->sibling[depth], e + s, n - s, depth + 1);
            n = s;
        }
        depth++;
    }
    p->depth = (uint16_t)depth;
    if (n == 0) {
        p->result = KW_PREFIX_ABSENT_EMPTY;
    } else if (memcmp(e->index, x, 32) == 0) {
        p->result = KW_PREFIX_MEMBER;
    } else {
        p->result = KW_PREFIX_ABSENT_LEAF;
        memcpy(p->leaf_index, e->index, 32);
        memcpy(p->leaf_commitment, e->commitment, 32);
    }
}

static bool proof_equal(const kw_prefix_proof *a, const kw_prefix_proof *b)
{
    if (a->result != b->result || a->depth != b->depth)
        return false;
    if (a->result == KW_PREFIX_ABSENT_LEAF &&
        (memcmp(a->leaf_index, b->leaf_index, 32) != 0 ||
         memcmp(a->leaf_commitment, b->leaf_commitment, 32) != 0))
        return false;
    return memcmp(a->sibling, b->sibling, (size_t)a->depth * 32) == 0;
}

/* ---- checks of one proof ---- */

static int verify_as(bool member, const uint8_t *root, const uint8_t *x, const uint8_t *c,
                     const kw_prefix_proof *p)
{
    return member ? kw_prefix_verify_member(root, x, c, p) : kw_prefix_verify_absent(root, x, p);
}

static void check_wire(const kw_prefix_proof *p, bool every_prefix)
{
    static uint8_t wire[KW_PREFIX_PROOF_MAXBYTES + 1];
    static kw_prefix_proof q;
    size_t n;
    assert_int_equal(kw_prefix_proof_encode(wire, sizeof(wire), &n, p), KW_OK);
    assert_int_equal(n, kw_prefix_proof_encoded_len(p));
    assert_int_equal(kw_prefix_proof_decode(&q, wire, n), KW_OK);
    assert_true(proof_equal(p, &q));
    if (n > 0)
        assert_int_equal(kw_prefix_proof_encode(wire, n - 1, &n, p), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_prefix_proof_encode(wire, sizeof(wire), &n, p), KW_OK);
    wire[n] = 0;
    assert_int_equal(kw_prefix_proof_decode(&q, wire, n + 1), KW_ERR_FORMAT);
    assert_int_equal(q.depth, 0);
    size_t step = every_prefix ? 1 : (n / 7 + 1);
    for (size_t k = 0; k < n; k += step)
        assert_int_equal(kw_prefix_proof_decode(&q, wire, k), KW_ERR_TRUNCATED);
    assert_int_equal(kw_prefix_proof_decode(&q, wire, n - 1), KW_ERR_TRUNCATED);
}

/* p is a valid proof for x (member with commitment c, else absent) under
 * root; every mutation must fail with KW_ERR_VERIFY. */
static void check_mutations(const uint8_t *root, const uint8_t *x, const uint8_t *c,
                            const kw_prefix_proof *p)
{
    static kw_prefix_proof m;
    bool member = p->result == KW_PREFIX_MEMBER;
    unsigned d = p->depth;
    uint8_t x2[32], c2[32];
    assert_int_equal(verify_as(member, root, x, c, p), KW_OK);

    for (unsigned i = 0; i < d; i++) { /* a bit of each sibling */
        m = *p;
        flip(m.sibling[i], rnd(256));
        assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_VERIFY);
        checks_mutation++;
    }
    /* the index: any bit for a member; a bit on the path for an absent one
     * (below the terminal the same proof rightly covers other indices) */
    for (unsigned k = 0; k < 8; k++) {
        unsigned lim = member ? 256 : d;
        if (lim == 0)
            break;
        memcpy(x2, x, 32);
        flip(x2, k == 0 ? lim - 1 : rnd(lim));
        assert_int_equal(verify_as(member, root, x2, c, p), KW_ERR_VERIFY);
        checks_mutation++;
    }
    if (member) {
        memcpy(c2, c, 32);
        flip(c2, rnd(256));
        assert_int_equal(kw_prefix_verify_member(root, x, c2, p), KW_ERR_VERIFY);
        assert_int_equal(kw_prefix_verify_absent(root, x, p), KW_ERR_VERIFY);
        m = *p;
        m.result = KW_PREFIX_ABSENT_EMPTY;
        assert_int_equal(kw_prefix_verify_absent(root, x, &m), KW_ERR_VERIFY);
        m.result = KW_PREFIX_ABSENT_LEAF;
        memcpy(m.leaf_index, x, 32);
        memcpy(m.leaf_commitment, c, 32);
        assert_int_equal(kw_prefix_verify_absent(root, x, &m), KW_ERR_VERIFY);
        checks_mutation += 5;
    } else {
        assert_int_equal(kw_prefix_verify_member(root, x, x, p), KW_ERR_VERIFY);
        m = *p;
        m.result = KW_PREFIX_MEMBER;
        assert_int_equal(kw_prefix_verify_member(root, x, m.leaf_commitment, &m), KW_ERR_VERIFY);
        checks_mutation += 2;
        if (p->result == KW_PREFIX_ABSENT_LEAF) {
            m = *p;
            flip(m.leaf_commitment, rnd(256));
            assert_int_equal(kw_prefix_verify_absent(root, x, &m), KW_ERR_VERIFY);
            m = *p;
            flip(m.leaf_index, rnd(256));
            assert_int_equal(kw_prefix_verify_absent(root, x, &m), KW_ERR_VERIFY);
            m = *p;
            memcpy(m.leaf_index, x, 32); /* "the leaf there is x itself" */
            assert_int_equal(kw_prefix_verify_absent(root, x, &m), KW_ERR_VERIFY);
            m = *p;
            m.result = KW_PREFIX_ABSENT_EMPTY;
            assert_int_equal(kw_prefix_verify_absent(root, x, &m), KW_ERR_VERIFY);
            checks_mutation += 4;
        } else {
            m = *p;
            m.result = KW_PREFIX_ABSENT_LEAF;
            rnd_bytes(m.leaf_index, 32);
            memcpy(m.leaf_index, x, d / 8); /* keep it on the path, mostly */
            assert_int_equal(kw_prefix_verify_absent(root, x, &m), KW_ERR_VERIFY);
            checks_mutation++;
        }
    }
    if (d > 0) { /* truncate: drop the last sibling, or the first */
        m = *p;
        m.depth--;
        assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_VERIFY);
        m = *p;
        memmove(m.sibling[0], m.sibling[1], (size_t)(d - 1) * 32);
        m.depth--;
        assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_VERIFY);
        checks_mutation += 2;
    }
    if (d < KW_PREFIX_MAXDEPTH) { /* extend by one level, zero or random */
        m = *p;
        m.depth++;
        memset(m.sibling[d], 0, 32);
        assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_VERIFY);
        rnd_bytes(m.sibling[d], 32);
        assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_VERIFY);
        m = *p; /* or at the top */
        memmove(m.sibling[1], m.sibling[0], (size_t)d * 32);
        rnd_bytes(m.sibling[0], 32);
        m.depth++;
        assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_VERIFY);
        checks_mutation += 3;
    }
    if (d >= 2) { /* swap two different siblings */
        unsigned i = rnd(d), j = rnd(d);
        if (i == j)
            j = (i + 1) % d;
        if (memcmp(p->sibling[i], p->sibling[j], 32) != 0) {
            m = *p;
            memcpy(m.sibling[i], p->sibling[j], 32);
            memcpy(m.sibling[j], p->sibling[i], 32);
            assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_VERIFY);
            checks_mutation++;
        }
    }
    m = *p; /* malformed structures */
    m.depth = KW_PREFIX_MAXDEPTH + 1;
    assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_FORMAT);
    m = *p;
    m.result = 3;
    assert_int_equal(verify_as(member, root, x, c, &m), KW_ERR_FORMAT);
    uint8_t r2[32];
    memcpy(r2, root, 32);
    flip(r2, rnd(256));
    assert_int_equal(verify_as(member, r2, x, c, p), KW_ERR_VERIFY);
    checks_mutation += 3;
}

/* ---- random trials over several epochs ---- */

typedef struct {
    kw_prefix_memstore *ms;
    kw_prefix_store st;
    kw_prefix_entry *all;    /* in insertion order (each batch sorted by the update) */
    kw_prefix_entry *sorted; /* scratch */
    size_t total;
    size_t nep;
    uint64_t epoch[MAXE];
    size_t end[MAXE]; /* all[0..end) is the set of epoch[k] */
    uint8_t root[MAXE][32];
} trial;

static void trial_build(trial *t, size_t total, unsigned batches)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(kw_prefix_memstore_new(&t->ms), KW_OK);
    kw_prefix_memstore_store(t->ms, &t->st);
    t->total = total;
    t->all = calloc(total + 1, sizeof(kw_prefix_entry));
    t->sorted = calloc(total + 1, sizeof(kw_prefix_entry));
    assert_non_null(t->all);
    assert_non_null(t->sorted);
    for (size_t i = 0; i < total; i++) {
        rnd_bytes(t->all[i].index, 32);
        rnd_bytes(t->all[i].commitment, 32);
        if (i > 0 && rnd(8) == 0) { /* a near neighbour: shares a long prefix */
            memcpy(t->all[i].index, t->all[rnd((uint32_t)i)].index, 32);
            flip(t->all[i].index, 8 + rnd(248));
            bool dup = false;
            for (size_t j = 0; j < i; j++)
                dup = dup || memcmp(t->all[j].index, t->all[i].index, 32) == 0;
            if (dup)
                rnd_bytes(t->all[i].index, 32);
        }
    }
    uint64_t e = 100 + rnd(1000), base = KW_PREFIX_NO_EPOCH;
    size_t done = 0;
    for (unsigned b = 0; b < batches && t->nep < MAXE; b++) {
        size_t n = b + 1 == batches ? total - done : rnd((uint32_t)(total - done + 1));
        if (rnd(5) == 0)
            n = 0; /* a heartbeat */
        kw_prefix_stats stats;
        uint8_t root[32];
        assert_int_equal(kw_prefix_update(&t->st, base, e, t->all + done, n, root, &stats), KW_OK);
        done += n;
        t->epoch[t->nep] = e;
        t->end[t->nep] = done;
        memcpy(t->root[t->nep], root, 32);
        t->nep++;
        base = e;
        e += 1 + rnd(3);
    }
    if (done < total) {
        uint8_t root[32];
        assert_int_equal(kw_prefix_update(&t->st, base, e, t->all + done, total - done, root, NULL),
                         KW_OK);
        t->epoch[t->nep] = e;
        t->end[t->nep] = total;
        memcpy(t->root[t->nep], root, 32);
        t->nep++;
    }
}

static void trial_free(trial *t)
{
    kw_prefix_memstore_free(&t->ms);
    assert_null(t->ms);
    free(t->all);
    free(t->sorted);
}

/* Checks epoch k: its root against the model, every present index, a
 * sample of absent ones, mutations of the first few of each. */
static void trial_check_epoch(trial *t, size_t k, size_t mutate, size_t model_sample)
{
    static kw_prefix_proof p, mp;
    size_t n = t->end[k];
    uint8_t root[32], want[32], c[32];
    memcpy(t->sorted, t->all, n * sizeof(kw_prefix_entry));
    qsort(t->sorted, n, sizeof(kw_prefix_entry), cmp_entry);
    model_root(want, t->sorted, n, 0);
    assert_memory_equal(t->root[k], want, 32);
    assert_int_equal(kw_prefix_root(&t->st, t->epoch[k], root), KW_OK);
    assert_memory_equal(root, want, 32);

    for (size_t i = 0; i < n; i++) {
        const kw_prefix_entry *e = &t->all[i];
        assert_int_equal(kw_prefix_prove(&t->st, t->epoch[k], e->index, &p, c), KW_OK);
        assert_int_equal(p.result, KW_PREFIX_MEMBER);
        assert_memory_equal(c, e->commitment, 32);
        assert_int_equal(kw_prefix_verify_member(root, e->index, e->commitment, &p), KW_OK);
        assert_int_equal(kw_prefix_lookup(&t->st, t->epoch[k], e->index, c), KW_OK);
        assert_memory_equal(c, e->commitment, 32);
        checks_member++;
        if (i < model_sample) {
            model_proof(&mp, t->sorted, n, e->index);
            assert_true(proof_equal(&p, &mp));
        }
        if (i < mutate)
            check_mutations(root, e->index, e->commitment, &p);
        for (size_t k2 = 0; k2 < t->nep && i < mutate; k2++) /* other epochs' roots */
            if (memcmp(t->root[k2], root, 32) != 0)
                assert_int_equal(kw_prefix_verify_member(t->root[k2], e->index, e->commitment, &p),
                                 KW_ERR_VERIFY);
    }
    /* absent: indices of later epochs, fresh ones, near misses of present ones */
    size_t absent = t->total - n + 64;
    for (size_t i = 0; i < absent; i++) {
        uint8_t x[32];
        if (n + i < t->total) {
            memcpy(x, t->all[n + i].index, 32);
        } else if (n > 0 && (i & 1)) {
            memcpy(x, t->all[rnd((uint32_t)n)].index, 32);
            flip(x, rnd(256));
            bool present = false;
            for (size_t j = 0; j < n; j++)
                present = present || memcmp(t->all[j].index, x, 32) == 0;
            if (present)
                continue;
        } else {
            rnd_bytes(x, 32);
        }
        assert_int_equal(kw_prefix_prove(&t->st, t->epoch[k], x, &p, c), KW_OK);
        assert_int_not_equal(p.result, KW_PREFIX_MEMBER);
        assert_true(kw_ct_is_zero(c, 32));
        assert_int_equal(kw_prefix_verify_absent(root, x, &p), KW_OK);
        assert_int_equal(kw_prefix_lookup(&t->st, t->epoch[k], x, c), KW_ERR_NOT_FOUND);
        checks_absent++;
        if (i < model_sample) {
            model_proof(&mp, t->sorted, n, x);
            assert_true(proof_equal(&p, &mp));
        }
        if (i < mutate) {
            check_mutations(root, x, NULL, &p);
            check_wire(&p, i == 0);
        }
    }
    /* a present index's membership proof, claimed for a present other index
     * and for an absent one; an absent proof claimed for a present index */
    if (n >= 2) {
        assert_int_equal(kw_prefix_prove(&t->st, t->epoch[k], t->all[0].index, &p, NULL), KW_OK);
        assert_int_equal(kw_prefix_verify_member(root, t->all[1].index, t->all[0].commitment, &p),
                         KW_ERR_VERIFY);
        assert_int_equal(kw_prefix_verify_member(root, t->all[1].index, t->all[1].commitment, &p),
                         KW_ERR_VERIFY);
        check_wire(&p, false);
        uint8_t x[32];
        rnd_bytes(x, 32);
        assert_int_equal(kw_prefix_verify_member(root, x, t->all[0].commitment, &p), KW_ERR_VERIFY);
        assert_int_equal(kw_prefix_prove(&t->st, t->epoch[k], x, &p, NULL), KW_OK);
        for (size_t i = 0; i < n && i < 64; i++)
            assert_int_equal(kw_prefix_verify_absent(root, t->all[i].index, &p), KW_ERR_VERIFY);
    }
}

static void run_trial(size_t total, unsigned batches, size_t mutate, size_t model_sample)
{
    trial t;
    trial_build(&t, total, batches);
    for (size_t k = 0; k < t.nep; k++)
        trial_check_epoch(&t, k, mutate, model_sample);
    /* The stored node count of the newest epoch alone, after pruning all
     * else, is the model's. */
    kw_prefix_memstore_stats s;
    assert_int_equal(kw_prefix_memstore_prune(t.ms, t.epoch[t.nep - 1]), KW_OK);
    kw_prefix_memstore_stats_get(t.ms, &s);
    memcpy(t.sorted, t.all, total * sizeof(kw_prefix_entry));
    qsort(t.sorted, total, sizeof(kw_prefix_entry), cmp_entry);
    assert_int_equal(s.nodes, model_nodes(t.sorted, total, 0));
    assert_int_equal(s.roots, 1);
    trial_check_epoch(&t, t.nep - 1, 2, 4);
    trial_free(&t);
}

static void test_small_trials(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 13, 17, 31, 64, 100};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (unsigned rep = 0; rep < 2; rep++)
            run_trial(sizes[i], 1 + rnd(6), 8, 1000);
}

static void test_random_trials(void **state)
{
    (void)state;
    for (unsigned rep = 0; rep < 5; rep++)
        run_trial(1 + rnd(2000), 2 + rnd(8), 6, 40);
    run_trial(2000, 6, 6, 40);
}

/* Batching is invisible in the root: one batch, many batches, one by one. */
static void test_batching_invisible(void **state)
{
    (void)state;
    enum { N = 150 };
    kw_prefix_entry e[N], copy[N];
    for (size_t i = 0; i < N; i++) {
        rnd_bytes(e[i].index, 32);
        rnd_bytes(e[i].commitment, 32);
    }
    uint8_t want[32], root[32];
    memcpy(copy, e, sizeof(e));
    qsort(copy, N, sizeof(copy[0]), cmp_entry);
    model_root(want, copy, N, 0);
    for (unsigned mode = 0; mode < 3; mode++) {
        kw_prefix_memstore *ms;
        kw_prefix_store st;
        assert_int_equal(kw_prefix_memstore_new(&ms), KW_OK);
        kw_prefix_memstore_store(ms, &st);
        memcpy(copy, e, sizeof(e));
        size_t step = mode == 0 ? N : mode == 1 ? 1 : 7;
        uint64_t base = KW_PREFIX_NO_EPOCH, ep = 1;
        for (size_t i = 0; i < N; i += step, ep++) {
            size_t n = N - i < step ? N - i : step;
            assert_int_equal(kw_prefix_update(&st, base, ep, copy + i, n, root, NULL), KW_OK);
            base = ep;
        }
        assert_memory_equal(root, want, 32);
        kw_prefix_memstore_free(&ms);
    }
}

static void test_empty_and_single(void **state)
{
    (void)state;
    static kw_prefix_proof p;
    kw_prefix_memstore *ms;
    kw_prefix_store st;
    uint8_t root[32], x[32], c[32];
    kw_prefix_entry e;
    assert_int_equal(kw_prefix_memstore_new(&ms), KW_OK);
    kw_prefix_memstore_store(ms, &st);
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 0, NULL, 0, root, NULL), KW_OK);
    assert_true(kw_ct_is_zero(root, 32));
    rnd_bytes(x, 32);
    assert_int_equal(kw_prefix_prove(&st, 0, x, &p, c), KW_OK);
    assert_int_equal(p.result, KW_PREFIX_ABSENT_EMPTY);
    assert_int_equal(p.depth, 0);
    assert_int_equal(kw_prefix_proof_encoded_len(&p), 3);
    assert_int_equal(kw_prefix_verify_absent(root, x, &p), KW_OK);
    check_mutations(root, x, NULL, &p);

    rnd_bytes(e.index, 32);
    rnd_bytes(e.commitment, 32);
    assert_int_equal(kw_prefix_update(&st, 0, 1, &e, 1, root, NULL), KW_OK);
    uint8_t leaf[32];
    kw_prefix_hash_leaf(leaf, e.index, e.commitment);
    assert_memory_equal(root, leaf, 32);
    assert_int_equal(kw_prefix_prove(&st, 1, e.index, &p, c), KW_OK);
    assert_int_equal(p.result, KW_PREFIX_MEMBER);
    assert_int_equal(p.depth, 0);
    check_mutations(root, e.index, e.commitment, &p);
    assert_int_equal(kw_prefix_prove(&st, 1, x, &p, c), KW_OK);
    assert_int_equal(p.result, KW_PREFIX_ABSENT_LEAF);
    assert_int_equal(kw_prefix_proof_encoded_len(&p), 67);
    check_mutations(root, x, NULL, &p);
    /* epoch 0 is still provable, unchanged */
    assert_int_equal(kw_prefix_root(&st, 0, root), KW_OK);
    assert_true(kw_ct_is_zero(root, 32));
    assert_int_equal(kw_prefix_lookup(&st, 0, e.index, c), KW_ERR_NOT_FOUND);
    kw_prefix_memstore_free(&ms);
}

/* Indices that agree on 254 or 255 bits: leaves at depth 256, an empty
 * subtree at the deepest possible level, the largest proofs. */
static void test_deep_paths(void **state)
{
    (void)state;
    static kw_prefix_proof p;
    kw_prefix_memstore *ms;
    kw_prefix_store st;
    kw_prefix_entry e[3];
    uint8_t root[32], x[32];
    assert_int_equal(kw_prefix_memstore_new(&ms), KW_OK);
    kw_prefix_memstore_store(ms, &st);
    rnd_bytes(e[0].index, 32);
    memcpy(e[1].index, e[0].index, 32);
    flip(e[1].index, 255);
    memcpy(e[2].index, e[0].index, 32);
    flip(e[2].index, 254);
    for (int i = 0; i < 3; i++)
        rnd_bytes(e[i].commitment, 32);
    kw_prefix_entry in[3];
    memcpy(in, e, sizeof(e));
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 5, in, 3, root, NULL), KW_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kw_prefix_prove(&st, 5, e[i].index, &p, NULL), KW_OK);
        assert_int_equal(p.result, KW_PREFIX_MEMBER);
        assert_int_equal(p.depth, i == 2 ? 255 : 256);
        size_t present = 0;
        for (unsigned k = 0; k < p.depth; k++)
            present += !kw_ct_is_zero(p.sibling[k], 32);
        /* the chain of one-sided nodes costs a bit per level, not 32 bytes */
        assert_true(present <= 3);
        assert_int_equal(kw_prefix_proof_encoded_len(&p),
                         3 + ((size_t)p.depth + 7) / 8 + 32 * present);
        check_mutations(root, e[i].index, e[i].commitment, &p);
        check_wire(&p, false);
    }
    memcpy(x, e[0].index, 32);
    flip(x, 200); /* leaves the three at bit 200 */
    assert_int_equal(kw_prefix_prove(&st, 5, x, &p, NULL), KW_OK);
    assert_int_equal(p.result, KW_PREFIX_ABSENT_EMPTY);
    assert_int_equal(p.depth, 201);
    check_mutations(root, x, NULL, &p);
    /* an empty terminal at depth 256 is refused even if it hashed right */
    memset(&p, 0, sizeof(p));
    p.result = KW_PREFIX_ABSENT_EMPTY;
    p.depth = 256;
    p.sibling[255][0] = 1;
    assert_int_equal(kw_prefix_verify_absent(root, x, &p), KW_ERR_VERIFY);
    kw_prefix_memstore_free(&ms);
}

static void test_wire_errors(void **state)
{
    (void)state;
    static kw_prefix_proof p;
    static uint8_t wire[KW_PREFIX_PROOF_MAXBYTES + 64];
    size_t n;
    /* header: result, u16 depth */
    uint8_t h[3] = {3, 0, 0};
    assert_int_equal(kw_prefix_proof_decode(&p, h, 3), KW_ERR_FORMAT);
    h[0] = 0xff;
    assert_int_equal(kw_prefix_proof_decode(&p, h, 3), KW_ERR_FORMAT);
    h[0] = KW_PREFIX_MEMBER;
    h[1] = 1;
    h[2] = 1; /* 257 */
    assert_int_equal(kw_prefix_proof_decode(&p, h, 3), KW_ERR_TOO_LARGE);
    h[1] = 0xff;
    h[2] = 0xff;
    assert_int_equal(kw_prefix_proof_decode(&p, h, 3), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_prefix_proof_decode(&p, h, 2), KW_ERR_TRUNCATED);
    assert_int_equal(kw_prefix_proof_decode(&p, NULL, 0), KW_ERR_TRUNCATED);
    /* the largest proof */
    memset(wire, 0xab, sizeof(wire));
    wire[0] = KW_PREFIX_ABSENT_LEAF;
    wire[1] = 1;
    wire[2] = 0;
    memset(wire + 3 + 64, 0xff, 32); /* bitmap: every sibling present */
    assert_int_equal(kw_prefix_proof_decode(&p, wire, KW_PREFIX_PROOF_MAXBYTES), KW_OK);
    assert_int_equal(p.depth, 256);
    assert_int_equal(kw_prefix_proof_decode(&p, wire, KW_PREFIX_PROOF_MAXBYTES - 1),
                     KW_ERR_TRUNCATED);
    assert_int_equal(kw_prefix_proof_decode(&p, wire, KW_PREFIX_PROOF_MAXBYTES + 1),
                     KW_ERR_FORMAT);
    /* canonical bitmap: a zero sibling marked present, or a padding bit set */
    {
        uint8_t z[3 + 1 + 32] = {KW_PREFIX_ABSENT_EMPTY, 0, 1, 0x80};
        assert_int_equal(kw_prefix_proof_decode(&p, z, sizeof(z)), KW_ERR_FORMAT);
        z[4] = 1;
        assert_int_equal(kw_prefix_proof_decode(&p, z, sizeof(z)), KW_OK);
        z[3] = 0xc0; /* bit 1 is padding for depth 1 */
        assert_int_equal(kw_prefix_proof_decode(&p, z, sizeof(z)), KW_ERR_FORMAT);
        z[3] = 0x00; /* sibling absent: the 32 bytes are trailing */
        assert_int_equal(kw_prefix_proof_decode(&p, z, 4), KW_OK);
        assert_int_equal(kw_prefix_proof_decode(&p, z, sizeof(z)), KW_ERR_FORMAT);
    }
    /* an empty proof carries no leaf; the same bytes with result ABSENT_LEAF are short */
    uint8_t e[3] = {KW_PREFIX_ABSENT_EMPTY, 0, 0};
    assert_int_equal(kw_prefix_proof_decode(&p, e, 3), KW_OK);
    e[0] = KW_PREFIX_ABSENT_LEAF;
    assert_int_equal(kw_prefix_proof_decode(&p, e, 3), KW_ERR_TRUNCATED);
    /* malformed structures refuse to encode */
    memset(&p, 0, sizeof(p));
    p.depth = 257;
    assert_int_equal(kw_prefix_proof_encoded_len(&p), 0);
    assert_int_equal(kw_prefix_proof_encode(wire, sizeof(wire), &n, &p), KW_ERR_FORMAT);
    uint8_t root[32] = {0}, x[32] = {0}, out[32];
    assert_int_equal(kw_prefix_proof_root(out, x, x, &p), KW_ERR_FORMAT);
    assert_int_equal(kw_prefix_verify_member(root, x, x, &p), KW_ERR_FORMAT);
    assert_int_equal(kw_prefix_verify_absent(root, x, &p), KW_ERR_FORMAT);
    p.depth = 0;
    assert_int_equal(kw_prefix_proof_root(out, x, NULL, &p), KW_ERR_INVALID_ARG);
    /* kw_buf: two proofs back to back, then the errors, nothing consumed */
    kw_buf *b = kw_buf_new(2 * KW_PREFIX_PROOF_MAXBYTES);
    assert_non_null(b);
    memset(&p, 0, sizeof(p));
    p.result = KW_PREFIX_ABSENT_LEAF;
    p.depth = 3;
    rnd_bytes(p.sibling, 3 * 32);
    rnd_bytes(p.leaf_index, 32);
    assert_int_equal(kw_prefix_proof_put(b, &p), KW_OK);
    p.result = KW_PREFIX_MEMBER;
    p.depth = 2;
    assert_int_equal(kw_prefix_proof_put(b, &p), KW_OK);
    assert_int_equal(kw_buf_put_u8(b, 7), KW_OK);
    static kw_prefix_proof q;
    assert_int_equal(kw_prefix_proof_get(b, &q), KW_OK);
    assert_int_equal(q.result, KW_PREFIX_ABSENT_LEAF);
    assert_int_equal(q.depth, 3);
    assert_int_equal(kw_prefix_proof_get(b, &q), KW_OK);
    assert_true(proof_equal(&p, &q));
    assert_int_equal(kw_prefix_proof_get(b, &q), KW_ERR_TRUNCATED);
    assert_int_equal(kw_buf_len(b), 1);
    kw_buf_free(&b);
    b = kw_buf_new(10);
    assert_int_equal(kw_prefix_proof_put(b, &p), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_buf_len(b), 0);
    p.result = 9;
    assert_int_equal(kw_prefix_proof_put(b, &p), KW_ERR_FORMAT);
    kw_buf_free(&b);
}

static void test_update_errors(void **state)
{
    (void)state;
    kw_prefix_memstore *ms;
    kw_prefix_store st;
    kw_prefix_entry e[4];
    uint8_t root[32], root1[32];
    static kw_prefix_proof p;
    assert_int_equal(kw_prefix_memstore_new(&ms), KW_OK);
    kw_prefix_memstore_store(ms, &st);
    for (int i = 0; i < 4; i++) {
        rnd_bytes(e[i].index, 32);
        rnd_bytes(e[i].commitment, 32);
    }
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, KW_PREFIX_NO_EPOCH, e, 1, root, NULL),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 1, NULL, 1, root, NULL),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_prefix_update(&st, 0, 1, e, 1, root, NULL), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 1, e, KW_PREFIX_BATCH_MAX + 1, root,
                                      NULL),
                     KW_ERR_LIMIT);
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 1, e, 2, root1, NULL), KW_OK);
    assert_int_equal(kw_prefix_update(&st, 1, 1, e + 2, 1, root, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_prefix_update(&st, 1, 0, e + 2, 1, root, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 1, e + 2, 1, root, NULL),
                     KW_ERR_CONFLICT); /* epoch 1 exists */
    assert_true(kw_ct_is_zero(root, 32));
    /* a present index, with or without others; a repeated one */
    kw_prefix_entry b[3];
    b[0] = e[2];
    b[1] = e[1];
    b[1].commitment[0] ^= 1;
    assert_int_equal(kw_prefix_update(&st, 1, 2, b, 2, root, NULL), KW_ERR_CONFLICT);
    b[0] = e[0];
    assert_int_equal(kw_prefix_update(&st, 1, 2, b, 1, root, NULL), KW_ERR_CONFLICT);
    b[0] = e[2];
    b[1] = e[3];
    b[2] = e[2];
    assert_int_equal(kw_prefix_update(&st, 1, 2, b, 3, root, NULL), KW_ERR_CONFLICT);
    assert_int_equal(kw_prefix_root(&st, 2, root), KW_ERR_NOT_FOUND);
    assert_true(kw_ct_is_zero(root, 32));
    /* the failed attempts left epoch 2 free and epoch 1 intact */
    b[0] = e[2];
    b[1] = e[3];
    assert_int_equal(kw_prefix_update(&st, 1, 2, b, 2, root, NULL), KW_OK);
    assert_int_equal(kw_prefix_root(&st, 1, root), KW_OK);
    assert_memory_equal(root, root1, 32);
    uint8_t c[32];
    assert_int_equal(kw_prefix_prove(&st, 7, e[0].index, &p, c), KW_ERR_NOT_FOUND);
    assert_int_equal(p.depth, 0);
    assert_int_equal(kw_prefix_lookup(&st, 7, e[0].index, c), KW_ERR_NOT_FOUND);
    /* pruning needs a surviving epoch */
    assert_int_equal(kw_prefix_memstore_prune(ms, 3), KW_ERR_INVALID_ARG);
    kw_prefix_memstore_free(&ms);
    kw_prefix_memstore_free(&ms); /* no-op */
    kw_prefix_memstore_free(NULL);
}

/* ---- a store that fails or corrupts on request ---- */

typedef struct {
    kw_prefix_store inner;
    long fail_at; /* the call number that fails, or -1 */
    long calls;
    int corrupt;  /* 0 none; 1 kind byte; 2 length; 3 leaf index bit; 4 not found; 5 root kind */
} faulty;

static int fail_now(faulty *f)
{
    return f->calls++ == f->fail_at;
}

static int f_get_node(void *ctx, uint64_t e, unsigned d, const uint8_t p[32], uint8_t out[83],
                      size_t *len)
{
    faulty *f = ctx;
    if (fail_now(f))
        return KW_ERR_STORAGE;
    int r = f->inner.get_node(f->inner.ctx, e, d, p, out, len);
    if (r != KW_OK)
        return r;
    if (f->corrupt == 1)
        out[0] ^= 3;
    else if (f->corrupt == 2)
        (*len)--;
    else if (f->corrupt == 3 && out[0] == KW_PREFIX_LEAF && d > 0)
        flip(out + 1, d - 1);
    else if (f->corrupt == 4)
        return KW_ERR_NOT_FOUND;
    return KW_OK;
}

static int f_put_node(void *ctx, uint64_t e, unsigned d, const uint8_t p[32], const uint8_t *n,
                      size_t len)
{
    faulty *f = ctx;
    return fail_now(f) ? KW_ERR_STORAGE : f->inner.put_node(f->inner.ctx, e, d, p, n, len);
}

static int f_get_root(void *ctx, uint64_t e, uint8_t out[41])
{
    faulty *f = ctx;
    if (fail_now(f))
        return KW_ERR_STORAGE;
    int r = f->inner.get_root(f->inner.ctx, e, out);
    if (r == KW_OK && f->corrupt == 5)
        out[0] = 7;
    return r;
}

static int f_put_root(void *ctx, uint64_t e, const uint8_t ref[41])
{
    faulty *f = ctx;
    return fail_now(f) ? KW_ERR_STORAGE : f->inner.put_root(f->inner.ctx, e, ref);
}

static int f_stale(void *ctx, uint64_t s, uint64_t e, unsigned d, const uint8_t p[32])
{
    faulty *f = ctx;
    return fail_now(f) ? KW_ERR_STORAGE : f->inner.stale(f->inner.ctx, s, e, d, p);
}

static void test_store_faults(void **state)
{
    (void)state;
    enum { N0 = 40, N1 = 25 };
    kw_prefix_memstore *ms;
    faulty f = {.fail_at = -1};
    kw_prefix_store st = {&f, f_get_node, f_put_node, f_get_root, f_put_root, f_stale};
    kw_prefix_entry e[N0 + N1], s[N0 + N1], b[N1];
    uint8_t root[32], want[32];
    static kw_prefix_proof p;
    assert_int_equal(kw_prefix_memstore_new(&ms), KW_OK);
    kw_prefix_memstore_store(ms, &f.inner);
    for (size_t i = 0; i < N0 + N1; i++) {
        rnd_bytes(e[i].index, 32);
        rnd_bytes(e[i].commitment, 32);
    }
    memcpy(s, e, sizeof(e));
    assert_int_equal(kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 1, s, N0, root, NULL), KW_OK);
    /* Fail each call of the second update in turn: the error comes back,
     * no root appears, and the next attempt starts clean. */
    unsigned failures = 0;
    for (long k = 0;; k++) {
        f.fail_at = k;
        f.calls = 0;
        memcpy(b, e + N0, sizeof(b));
        int r = kw_prefix_update(&st, 1, 2, b, N1, root, NULL);
        if (r == KW_OK)
            break;
        assert_int_equal(r, KW_ERR_STORAGE);
        assert_true(kw_ct_is_zero(root, 32));
        f.fail_at = -1;
        assert_int_equal(kw_prefix_root(&st, 2, root), KW_ERR_NOT_FOUND);
        failures++;
    }
    assert_true(failures > 2 * N1);
    memcpy(s, e, sizeof(e));
    qsort(s, N0 + N1, sizeof(s[0]), cmp_entry);
    model_root(want, s, N0 + N1, 0);
    assert_memory_equal(root, want, 32);
    /* Failed attempts left stale records without a root: pruning must not
     * take them for real ones. */
    assert_int_equal(kw_prefix_memstore_prune(ms, 2), KW_OK);
    f.fail_at = -1;
    for (size_t i = 0; i < N0 + N1; i++) {
        assert_int_equal(kw_prefix_prove(&st, 2, e[i].index, &p, NULL), KW_OK);
        assert_int_equal(kw_prefix_verify_member(root, e[i].index, e[i].commitment, &p), KW_OK);
    }
    /* reads fail cleanly */
    for (long k = 0; k < 3; k++) {
        f.fail_at = k;
        f.calls = 0;
        assert_int_equal(kw_prefix_prove(&st, 2, e[0].index, &p, NULL), KW_ERR_STORAGE);
        assert_int_equal(p.depth, 0);
    }
    f.fail_at = -1;
    /* corrupted stores are named as such */
    for (int c = 1; c <= 5; c++) {
        f.corrupt = c;
        uint8_t cm[32];
        int r = kw_prefix_prove(&st, 2, e[0].index, &p, cm);
        assert_int_equal(r, KW_ERR_STORAGE);
        assert_true(kw_ct_is_zero(cm, 32));
        memcpy(b, e, sizeof(b));
        flip(b[0].index, 255); /* its path ends at e[0]'s leaf */
        r = kw_prefix_update(&st, 2, 3, b, 1, root, NULL);
        assert_int_equal(r, KW_ERR_STORAGE);
    }
    f.corrupt = 0;
    kw_prefix_memstore_free(&ms);
}

/* Pruning keeps the newest epochs provable and drops the rest. */
static void test_prune(void **state)
{
    (void)state;
    trial t;
    static kw_prefix_proof p;
    trial_build(&t, 600, 10);
    kw_prefix_memstore_stats before, after;
    kw_prefix_memstore_stats_get(t.ms, &before);
    size_t keep = t.nep >= 3 ? t.nep - 3 : 0;
    assert_int_equal(kw_prefix_memstore_prune(t.ms, t.epoch[keep]), KW_OK);
    kw_prefix_memstore_stats_get(t.ms, &after);
    assert_true(after.nodes <= before.nodes);
    assert_int_equal(after.roots, t.nep - keep);
    for (size_t k = 0; k < t.nep; k++) {
        uint8_t r[32];
        if (k < keep) {
            assert_int_equal(kw_prefix_root(&t.st, t.epoch[k], r), KW_ERR_NOT_FOUND);
            assert_int_equal(kw_prefix_prove(&t.st, t.epoch[k], t.all[0].index, &p, NULL),
                             KW_ERR_NOT_FOUND);
        } else {
            trial_check_epoch(&t, k, 1, 0);
        }
    }
    /* growth goes on after pruning */
    kw_prefix_entry more[50];
    for (size_t i = 0; i < 50; i++) {
        rnd_bytes(more[i].index, 32);
        rnd_bytes(more[i].commitment, 32);
    }
    uint8_t root[32];
    assert_int_equal(
        kw_prefix_update(&t.st, t.epoch[t.nep - 1], t.epoch[t.nep - 1] + 1, more, 50, root, NULL),
        KW_OK);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(kw_prefix_prove(&t.st, t.epoch[t.nep - 1] + 1, more[i].index, &p, NULL),
                         KW_OK);
        assert_int_equal(kw_prefix_verify_member(root, more[i].index, more[i].commitment, &p), KW_OK);
    }
    trial_free(&t);
}

static void test_hashes_and_key(void **state)
{
    (void)state;
    kw_prefix_entry e;
    uint8_t a[32], b[32], l[32], r[32];
    rnd_bytes(e.index, 32);
    rnd_bytes(e.commitment, 32);
    kw_prefix_hash_leaf(a, e.index, e.commitment);
    model_leaf(b, &e);
    assert_memory_equal(a, b, 32);
    rnd_bytes(l, 32);
    rnd_bytes(r, 32);
    model_inner(b, l, r);
    kw_prefix_hash_inner(a, l, r);
    assert_memory_equal(a, b, 32);
    kw_prefix_hash_inner(l, l, r); /* aliasing */
    assert_memory_equal(l, b, 32);
    uint8_t k[KW_PREFIX_KEYBYTES];
    kw_prefix_key_encode(k, 0x0102030405060708ull, 258, e.index);
    assert_int_equal(k[0], 1);
    assert_int_equal(k[7], 8);
    assert_int_equal(k[8], 1);
    assert_int_equal(k[9], 2);
    assert_memory_equal(k + 10, e.index, 32);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const char *s = getenv("KW_TEST_SEED");
    size_t n = 0;
    if (s == NULL || kw_hex_decode(seed, sizeof(seed), &n, s, strlen(s)) != KW_OK || n != 32)
        randombytes_buf(seed, sizeof(seed));
    char hex[65];
    kw_hex_encode(hex, sizeof(hex), seed, sizeof(seed));
    printf("test_prefix: KW_TEST_SEED=%s\n", hex);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashes_and_key),
        cmocka_unit_test(test_empty_and_single),
        cmocka_unit_test(test_small_trials),
        cmocka_unit_test(test_random_trials),
        cmocka_unit_test(test_batching_invisible),
        cmocka_unit_test(test_deep_paths),
        cmocka_unit_test(test_wire_errors),
        cmocka_unit_test(test_update_errors),
        cmocka_unit_test(test_store_faults),
        cmocka_unit_test(test_prune),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("test_prefix: %lu membership, %lu non-membership proofs verified; %lu mutations refused\n",
           checks_member, checks_absent, checks_mutation);
    return failed;
}
