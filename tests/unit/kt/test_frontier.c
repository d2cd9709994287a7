/* Unit tests for compact (append-proof) searches: the log's append proofs
 * (kt_log.h: kw_log_append_prove, kw_log_compact_extend, _append_node,
 * _from_last_inclusion) against the RFC 9162 roots for every size pair up
 * to 70 leaves; the directory's KW_KT_RESP_SEARCH_APPEND responses verified
 * with the client's frontier from 0, 1 and many epochs back; the frontier
 * returned by every verified search; and the refusals: every bit of the
 * head and append parts flipped, a hash dropped or added, a wrong pinned
 * size, a frontier of another log or of another size, a rolled-back head,
 * no frontier; the frontier storage form and its limits. */
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
#include "keyward/kt.h"

#define NEPOCHS 40

static uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES], vrf_sk[KW_VRF_SECRETKEYBYTES];
static uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES];
static kw_sign_key *log_key;
static kw_kt_dir *dir, *other_dir;
static kw_kt_head heads[NEPOCHS], other_heads[NEPOCHS];
static const uint8_t label[] = "alice@example";
static uint8_t value[NEPOCHS][16];
static uint32_t nver;

/* ---- the log level ---- */

static void test_append_proofs_all_sizes(void **state)
{
    (void)state;
    kw_log_tree *t = NULL;
    kw_log_reader rd;
    uint8_t leaf[32], root[32], want[32];
    assert_int_equal(kw_log_tree_new(&t, 1000), KW_OK);
    for (uint64_t n = 1; n <= 70; n++) {
        randombytes_buf(leaf, sizeof(leaf));
        assert_int_equal(kw_log_tree_append(t, leaf), KW_OK);
        kw_log_tree_reader(t, &rd);
        assert_int_equal(kw_log_root(&rd, n, want), KW_OK);
        /* The frontier from the last leaf's inclusion proof. */
        kw_log_proof ip = {0};
        kw_log_compact fr, ld;
        assert_int_equal(kw_log_inclusion_prove(&rd, n - 1, n, &ip), KW_OK);
        assert_int_equal(kw_log_compact_from_last_inclusion(&fr, n, leaf, &ip), KW_OK);
        assert_int_equal(kw_log_compact_load(&ld, &rd, n), KW_OK);
        assert_int_equal(fr.size, n);
        kw_log_compact_root(&fr, root);
        assert_memory_equal(root, want, 32);
        for (unsigned k = 0; k < 64; k++)
            if ((n >> k) & 1)
                assert_memory_equal(fr.node[k], ld.node[k], 32);
        if (ip.count > 0) {
            ip.count--;
            assert_int_equal(kw_log_compact_from_last_inclusion(&fr, n, leaf, &ip), KW_ERR_FORMAT);
        }
        for (uint64_t m = 0; m <= n; m++) {
            kw_log_proof ap = {0};
            kw_log_compact c;
            assert_int_equal(kw_log_append_prove(&rd, m, n, &ap), KW_OK);
            assert_true(ap.count <= 2 * 7);
            if (m == n)
                assert_int_equal(ap.count, 0);
            if (m + 1 == n)
                assert_int_equal(ap.count, 1);
            assert_int_equal(kw_log_compact_load(&c, &rd, m), KW_OK);
            assert_int_equal(kw_log_compact_extend(&c, n, &ap), KW_OK);
            assert_int_equal(c.size, n);
            kw_log_compact_root(&c, root);
            assert_memory_equal(root, want, 32);
            if (ap.count == 0)
                continue;
            /* Wrong counts and wrong target sizes are refused unchanged. */
            assert_int_equal(kw_log_compact_load(&c, &rd, m), KW_OK);
            ap.count--;
            assert_int_equal(kw_log_compact_extend(&c, n, &ap), KW_ERR_FORMAT);
            assert_int_equal(c.size, m);
            ap.count += 2;
            assert_int_equal(kw_log_compact_extend(&c, n, &ap), KW_ERR_FORMAT);
            ap.count--;
            /* A flipped hash extends to another root. */
            ap.hash[ap.count - 1][5] ^= 0x20;
            assert_int_equal(kw_log_compact_extend(&c, n, &ap), KW_OK);
            kw_log_compact_root(&c, root);
            assert_memory_not_equal(root, want, 32);
        }
    }
    kw_log_proof ap = {0};
    assert_int_equal(kw_log_append_prove(&rd, 5, 4, &ap), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_log_append_prove(&rd, 5, 71, &ap), KW_ERR_NOT_FOUND);
    kw_log_compact c;
    kw_log_compact_init(&c);
    c.size = 6;
    assert_int_equal(kw_log_compact_append_node(&c, 2, leaf), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_log_compact_append_node(&c, 1, leaf), KW_OK);
    assert_int_equal(c.size, 8);
    kw_log_tree_free(&t);
}

/* ---- the directory level ---- */

static void build(kw_kt_dir **d, kw_kt_head *hs, const uint8_t *vsk, int with_updates)
{
    kw_kt_dir_config cfg = {.vrf_sk = vsk, .log_key = log_key, .max_merge_delay = 2};
    assert_int_equal(kw_kt_dir_new(d, &cfg), KW_OK);
    for (int e = 0; e < NEPOCHS; e++) {
        if (with_updates && e % 3 == 0) {
            randombytes_buf(value[nver], sizeof(value[nver]));
            assert_int_equal(kw_kt_dir_update(*d, label, sizeof(label) - 1, value[nver],
                                              sizeof(value[nver]), NULL, 0, NULL),
                             KW_OK);
            nver++;
        } else if (!with_updates) {
            uint8_t v[8];
            randombytes_buf(v, sizeof(v));
            assert_int_equal(kw_kt_dir_update(*d, label, sizeof(label) - 1, v, sizeof(v), NULL, 0, NULL),
                             KW_OK);
        }
        assert_int_equal(kw_kt_dir_publish(*d, 1000 + (uint64_t)e, &hs[e]), KW_OK);
    }
}

static int group_setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK)
        return -1;
    kw_vrf_keypair(vrf_pk, vrf_sk);
    if (kw_sign_key_new(&log_key) != KW_OK)
        return -1;
    kw_sign_key_public(log_key, log_pk);
    build(&dir, heads, vrf_sk, 1);
    /* Another log under the same keys: same sizes, other leaves. */
    build(&other_dir, other_heads, vrf_sk, 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kw_kt_dir_free(&dir);
    kw_kt_dir_free(&other_dir);
    kw_sign_key_free(&log_key);
    return 0;
}

/* The frontier a client holds after pinning the head of `size` leaves
 * (what kw_kt_search_verify returned then), rebuilt independently from the
 * published heads' log leaves and checked against that head's root. */
static void frontier_at(const kw_kt_dir *d, uint64_t size, kw_log_compact *f)
{
    /* Recompute from the published heads: replay the log leaves. */
    const kw_kt_head *hs = d == dir ? heads : other_heads;
    kw_log_compact_init(f);
    for (uint64_t i = 0; i < size; i++) {
        uint8_t leaf[32];
        kw_kt_log_leaf_hash(leaf, hs[i].epoch, hs[i].prefix_root, hs[i].timestamp);
        assert_int_equal(kw_log_compact_append(f, leaf), KW_OK);
    }
    uint8_t root[32];
    kw_log_compact_root(f, root);
    assert_memory_equal(root, hs[size - 1].log_root, 32);
}

static kw_buf *append_resp(const kw_kt_dir *d, uint64_t m)
{
    kw_buf *b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES);
    assert_non_null(b);
    assert_int_equal(kw_kt_dir_search_append(d, label, sizeof(label) - 1, m, b), KW_OK);
    return b;
}

static void test_classic_search_returns_frontier(void **state)
{
    (void)state;
    kw_buf *b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[3]};
    kw_kt_result res;
    kw_kt_reason why;
    kw_log_compact want;
    assert_int_equal(kw_kt_dir_search(dir, label, sizeof(label) - 1, heads[3].log_size, b), KW_OK);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1,
                                         kw_buf_ptr(b), kw_buf_len(b)),
                     KW_OK);
    assert_int_equal(res.have_frontier, 1);
    frontier_at(dir, NEPOCHS, &want);
    assert_int_equal(res.frontier.size, NEPOCHS);
    for (unsigned k = 0; k < 64; k++)
        if ((want.size >> k) & 1)
            assert_memory_equal(res.frontier.node[k], want.node[k], 32);
    kw_buf_free(&b);
}

static void test_append_search_every_distance(void **state)
{
    (void)state;
    kw_kt_result res;
    kw_kt_reason why;
    for (uint64_t m = 1; m <= NEPOCHS; m++) {
        kw_log_compact f;
        frontier_at(dir, m, &f);
        kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[m - 1], .frontier = &f};
        kw_buf *b = append_resp(dir, m);
        const uint8_t *p = kw_buf_ptr(b);
        assert_int_equal(p[0], KW_KT_RESP_SEARCH_APPEND);
        size_t hashes = p[1 + KW_KT_HEADBYTES + 8];
        if (m >= NEPOCHS - 1)
            assert_int_equal(hashes, 0); /* current, or one epoch back: no hash */
        assert_int_equal(kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, p, kw_buf_len(b)),
                         KW_OK);
        assert_int_equal(why, KW_KT_OK);
        assert_int_equal(res.version, nver);
        assert_int_equal(res.value_len, sizeof(value[0]));
        assert_memory_equal(res.value, value[nver - 1], sizeof(value[0]));
        assert_int_equal(res.head.epoch, NEPOCHS - 1);
        assert_int_equal(res.have_frontier, 1);
        uint8_t root[32];
        kw_log_compact_root(&res.frontier, root);
        assert_int_equal(res.frontier.size, NEPOCHS);
        assert_memory_equal(root, heads[NEPOCHS - 1].log_root, 32);
        /* The returned frontier serves the next compact search. */
        kw_kt_trust t2 = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &res.head, .frontier = &res.frontier};
        kw_buf *b2 = append_resp(dir, NEPOCHS);
        kw_kt_result res2;
        assert_int_equal(kw_kt_search_verify(&res2, &why, &t2, label, sizeof(label) - 1,
                                             kw_buf_ptr(b2), kw_buf_len(b2)),
                         KW_OK);
        kw_buf_free(&b2);
        /* Sizes: the parse-only size agrees, and the compact form is never
         * larger than the classic pinned one. */
        size_t compact = 0, classic = 0;
        assert_int_equal(kw_kt_search_proof_size(&compact, p, kw_buf_len(b)), KW_OK);
        kw_buf *c = kw_buf_new(KW_KT_RESPONSE_MAXBYTES);
        assert_int_equal(kw_kt_dir_search(dir, label, sizeof(label) - 1, m, c), KW_OK);
        assert_int_equal(kw_kt_search_proof_size(&classic, kw_buf_ptr(c), kw_buf_len(c)), KW_OK);
        assert_true(compact < classic);
        kw_buf_free(&c);
        kw_buf_free(&b);
    }
}

static void expect_refused(const kw_kt_trust *t, const uint8_t *r, size_t n, kw_kt_reason want)
{
    kw_kt_result res;
    kw_kt_reason why;
    int e = kw_kt_search_verify(&res, &why, t, label, sizeof(label) - 1, r, n);
    assert_int_not_equal(e, KW_OK);
    assert_int_equal(res.version, 0);
    assert_int_equal(res.have_frontier, 0);
    if (want != KW_KT_OK)
        assert_int_equal(why, want);
}

static void test_append_mutations(void **state)
{
    (void)state;
    const uint64_t m = 17; /* 23 leaves to cover: several hashes */
    kw_log_compact f;
    frontier_at(dir, m, &f);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[m - 1], .frontier = &f};
    kw_buf *b = append_resp(dir, m);
    size_t n = kw_buf_len(b);
    uint8_t *r = malloc(n + 64);
    assert_non_null(r);
    memcpy(r, kw_buf_ptr(b), n);
    const size_t cnt_off = 1 + KW_KT_HEADBYTES + 8;
    const size_t hashes = r[cnt_off];
    assert_true(hashes >= 2);
    const size_t end = cnt_off + 1 + hashes * 32;
    kw_kt_result res;
    kw_kt_reason why;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, r, n), KW_OK);
    /* Every bit of the kind, head, pinned size and append proof. */
    int counts[32] = {0};
    for (size_t i = 0; i < end * 8; i++) {
        r[i / 8] ^= (uint8_t)(1u << (i % 8));
        int e = kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, r, n);
        r[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (e == KW_OK)
            fail_msg("flip of bit %zu accepted", i);
        counts[why]++;
    }
    assert_true(counts[KW_KT_BAD_HEAD_SIGNATURE] > 0);
    assert_true(counts[KW_KT_INCONSISTENT] > 0);
    assert_true(counts[KW_KT_MALFORMED] > 0);
    /* One byte in every 7 of the rest (VRF, member, absent parts). */
    for (size_t i = end; i < n; i += 7) {
        r[i] ^= 0x04;
        expect_refused(&t, r, n, KW_KT_OK);
        r[i] ^= 0x04;
    }
    /* A hash dropped (count and bytes), and one added. */
    uint8_t *d = malloc(n + 32);
    assert_non_null(d);
    memcpy(d, r, end - 32);
    memcpy(d + end - 32, r + end, n - end);
    d[cnt_off]--;
    expect_refused(&t, d, n - 32, KW_KT_INCONSISTENT);
    memcpy(d, r, end);
    memcpy(d + end, r + end - 32, 32);
    memcpy(d + end + 32, r + end, n - end);
    d[cnt_off]++;
    expect_refused(&t, d, n + 32, KW_KT_INCONSISTENT);
    /* Two hashes swapped. */
    memcpy(d, r, n);
    memcpy(d + cnt_off + 1, r + cnt_off + 33, 32);
    memcpy(d + cnt_off + 33, r + cnt_off + 1, 32);
    expect_refused(&t, d, n, KW_KT_INCONSISTENT);
    free(d);
    /* Wrong pinned size in the response (and a proof made for another m). */
    for (int delta = -1; delta <= 1; delta += 2) {
        memcpy(r + 1 + KW_KT_HEADBYTES, kw_buf_ptr(b) + 1 + KW_KT_HEADBYTES, 8);
        r[1 + KW_KT_HEADBYTES + 7] = (uint8_t)(r[1 + KW_KT_HEADBYTES + 7] + delta);
        expect_refused(&t, r, n, KW_KT_INCONSISTENT);
    }
    memcpy(r, kw_buf_ptr(b), n);
    kw_buf *b16 = append_resp(dir, m - 1);
    expect_refused(&t, kw_buf_ptr(b16), kw_buf_len(b16), KW_KT_INCONSISTENT);
    kw_buf_free(&b16);
    /* m = 0 and m above the head's log size do not parse. */
    memset(r + 1 + KW_KT_HEADBYTES, 0, 8);
    expect_refused(&t, r, n, KW_KT_MALFORMED);
    r[1 + KW_KT_HEADBYTES + 6] = 1;
    expect_refused(&t, r, n, KW_KT_MALFORMED);
    memcpy(r, kw_buf_ptr(b), n);
    /* Truncated anywhere, extended. */
    for (size_t len = 0; len < n; len += (len < end + 8 ? 1 : 11))
        expect_refused(&t, r, len, KW_KT_MALFORMED);
    r[n] = 0;
    expect_refused(&t, r, n + 1, KW_KT_MALFORMED);
    /* The frontier of another log (same key, same size) and of our log at
     * another size, and a damaged frontier. */
    kw_log_compact g;
    frontier_at(other_dir, m, &g);
    t.frontier = &g;
    expect_refused(&t, r, n, KW_KT_INCONSISTENT);
    frontier_at(dir, m - 1, &g);
    expect_refused(&t, r, n, KW_KT_INCONSISTENT);
    frontier_at(dir, m, &g);
    g.node[4][0] ^= 1; /* 17 = 16 + 1: node[4] is set */
    expect_refused(&t, r, n, KW_KT_INCONSISTENT);
    /* No frontier, no pinned head. */
    t.frontier = NULL;
    expect_refused(&t, r, n, KW_KT_INCONSISTENT);
    t.frontier = &f;
    t.pinned = NULL;
    expect_refused(&t, r, n, KW_KT_INCONSISTENT);
    /* The other log's response against our pinned head and frontier. */
    t.pinned = &heads[m - 1];
    kw_buf *o = append_resp(other_dir, m);
    expect_refused(&t, kw_buf_ptr(o), kw_buf_len(o), KW_KT_OK);
    /* A fork: the other log's response, which does extend the other log's
     * frontier, offered with that frontier but our pinned head (a frontier
     * that is not the pinned log's must never vouch for a head). */
    frontier_at(other_dir, m, &g);
    t.frontier = &g;
    kw_kt_result ok;
    kw_kt_reason okwhy;
    kw_kt_trust to = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &other_heads[m - 1], .frontier = &g};
    assert_int_equal(kw_kt_search_verify(&ok, &okwhy, &to, label, sizeof(label) - 1, kw_buf_ptr(o),
                                         kw_buf_len(o)),
                     KW_OK);
    expect_refused(&t, kw_buf_ptr(o), kw_buf_len(o), KW_KT_INCONSISTENT);
    t.frontier = &f;
    kw_buf_free(&o);
    free(r);
    kw_buf_free(&b);
}

static void test_append_rollback_and_same_head(void **state)
{
    (void)state;
    kw_log_compact f;
    frontier_at(dir, NEPOCHS, &f);
    /* An older head (signed, epoch 9, m = 10) shown to a client pinned at
     * the newest head: a rollback. */
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[NEPOCHS - 1], .frontier = &f};
    kw_buf *b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES);
    kw_buf *cur = append_resp(dir, NEPOCHS);
    kw_kt_result res;
    kw_kt_reason why;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, kw_buf_ptr(cur),
                                         kw_buf_len(cur)),
                     KW_OK);
    /* Forge an old head into the current response: head of epoch 9, m = 10. */
    uint8_t *r = malloc(kw_buf_len(cur));
    assert_non_null(r);
    memcpy(r, kw_buf_ptr(cur), kw_buf_len(cur));
    kw_kt_head_encode(r + 1, &heads[9]);
    memset(r + 1 + KW_KT_HEADBYTES, 0, 8);
    r[1 + KW_KT_HEADBYTES + 7] = 10;
    expect_refused(&t, r, kw_buf_len(cur), KW_KT_HEAD_ROLLBACK);
    memcpy(r, kw_buf_ptr(cur), kw_buf_len(cur));
    /* Same size, other head (a fork at the pinned size). */
    kw_kt_head fork = heads[NEPOCHS - 1];
    fork.prefix_root[0] ^= 1;
    assert_int_equal(kw_kt_head_sign(&fork, log_key), KW_OK);
    kw_kt_head_encode(r + 1, &fork);
    expect_refused(&t, r, kw_buf_len(cur), KW_KT_INCONSISTENT);
    /* A one-epoch-back client: zero hashes, and a nonzero count refused. */
    kw_log_compact f1;
    frontier_at(dir, NEPOCHS - 1, &f1);
    kw_kt_trust t1 = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[NEPOCHS - 2], .frontier = &f1};
    kw_buf *one = append_resp(dir, NEPOCHS - 1);
    assert_int_equal(kw_buf_ptr(one)[1 + KW_KT_HEADBYTES + 8], 0);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t1, label, sizeof(label) - 1, kw_buf_ptr(one),
                                         kw_buf_len(one)),
                     KW_OK);
    /* Server side: m out of range. */
    assert_int_equal(kw_kt_dir_search_append(dir, label, sizeof(label) - 1, 0, b), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_dir_search_append(dir, label, sizeof(label) - 1, NEPOCHS + 1, b),
                     KW_ERR_INVALID_ARG);
    free(r);
    kw_buf_free(&one);
    kw_buf_free(&cur);
    kw_buf_free(&b);
}

static void test_frontier_storage_form(void **state)
{
    (void)state;
    kw_log_compact f, g;
    uint8_t enc[KW_KT_FRONTIER_MAXBYTES + 1];
    size_t len = 0;
    frontier_at(dir, 37, &f);
    assert_int_equal(kw_kt_frontier_encode(enc, sizeof(enc), &len, &f), KW_OK);
    assert_int_equal(len, 8 + 3 * 32); /* 37 = 32 + 4 + 1 */
    assert_int_equal(kw_kt_frontier_decode(&g, enc, len), KW_OK);
    assert_int_equal(g.size, 37);
    assert_memory_equal(g.node[5], f.node[5], 32);
    assert_memory_equal(g.node[2], f.node[2], 32);
    assert_memory_equal(g.node[0], f.node[0], 32);
    assert_int_equal(kw_kt_frontier_decode(&g, enc, len - 1), KW_ERR_TRUNCATED);
    assert_int_equal(g.size, 0);
    assert_int_equal(kw_kt_frontier_decode(&g, enc, 7), KW_ERR_TRUNCATED);
    assert_int_equal(kw_kt_frontier_decode(&g, enc, len + 1), KW_ERR_FORMAT);
    assert_int_equal(kw_kt_frontier_decode(&g, enc, KW_KT_FRONTIER_MAXBYTES + 1), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_kt_frontier_encode(enc, len - 1, &len, &f), KW_ERR_TOO_LARGE);
    memset(enc, 0xff, 8); /* 2^64 - 1: 64 hashes, more than given */
    assert_int_equal(kw_kt_frontier_decode(&g, enc, 8 + 3 * 32), KW_ERR_TRUNCATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_proofs_all_sizes),
        cmocka_unit_test(test_classic_search_returns_frontier),
        cmocka_unit_test(test_append_search_every_distance),
        cmocka_unit_test(test_append_mutations),
        cmocka_unit_test(test_append_rollback_and_same_head),
        cmocka_unit_test(test_frontier_storage_form),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
