/* Unit tests for the key-transparency directory (kt.h): a directory built
 * in memory over many epochs of random updates (with heartbeat epochs and
 * labels updated several times in one epoch); every search, lookup and
 * monitor proof verifies and returns what was published; every mutation
 * (each byte flipped, truncations, extensions, another label, another
 * key, a rolled-back or forked head, spliced heads and proofs, a
 * non-membership proof for a present version) is refused with the
 * specific error and reason; promises; consistency; server-side errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/kt.h"

#define NLABELS 40
#define NEPOCHS 14
#define MAXVER 80

typedef struct {
    uint8_t label[24];
    size_t label_len;
    uint32_t nver;
    uint8_t value[MAXVER + 1][40];
    size_t value_len[MAXVER + 1];
    uint64_t epoch[MAXVER + 1];
} model_label;

static uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES], vrf_sk[KW_VRF_SECRETKEYBYTES];
static uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES], other_pk[KW_SIGN_PUBLICKEYBYTES];
static kw_sign_key *log_key, *other_key;
static kw_kt_dir *dir;
static model_label labels[NLABELS];
static kw_kt_head heads[NEPOCHS + 8];
static uint64_t nheads;
static uint64_t now = 1000;

static kw_buf *newbuf(void)
{
    kw_buf *b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES);
    assert_non_null(b);
    return b;
}

static void update(model_label *m)
{
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen;
    kw_kt_promise pr;
    assert_true(m->nver < MAXVER);
    uint32_t v = m->nver + 1;
    m->value_len[v] = 1 + randombytes_uniform(40);
    randombytes_buf(m->value[v], m->value_len[v]);
    assert_int_equal(kw_kt_dir_update(dir, m->label, m->label_len, m->value[v], m->value_len[v],
                                      promise, sizeof(promise), &plen),
                     KW_OK);
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, m->label, m->label_len, m->value[v],
                                          m->value_len[v], promise, plen),
                     KW_OK);
    assert_int_equal(pr.version, v);
    assert_true(pr.deadline_epoch >= nheads);
    m->nver = v;
    m->epoch[v] = nheads; /* published in the next epoch */
}

static void publish(void)
{
    kw_kt_head h;
    now += 1 + randombytes_uniform(5);
    assert_int_equal(kw_kt_dir_publish(dir, now, &h), KW_OK);
    assert_int_equal(h.epoch, nheads);
    assert_int_equal(kw_kt_head_verify(&h, log_pk), KW_OK);
    heads[nheads++] = h;
}

static int group_setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK)
        return -1;
    kw_vrf_keypair(vrf_pk, vrf_sk);
    if (kw_sign_key_new(&log_key) != KW_OK || kw_sign_key_new(&other_key) != KW_OK)
        return -1;
    kw_sign_key_public(log_key, log_pk);
    kw_sign_key_public(other_key, other_pk);
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = log_key, .store = NULL,
                            .max_merge_delay = 2};
    if (kw_kt_dir_new(&dir, &cfg) != KW_OK)
        return -1;
    for (int i = 0; i < NLABELS; i++) {
        labels[i].label_len = 4 + randombytes_uniform(20);
        randombytes_buf(labels[i].label, labels[i].label_len);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kw_kt_dir_free(&dir);
    kw_sign_key_free(&log_key);
    kw_sign_key_free(&other_key);
    return 0;
}

static void verify_all_labels(const kw_kt_head *pin)
{
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = pin};
    for (int i = 0; i < NLABELS; i++) {
        model_label *m = &labels[i];
        kw_buf *b = newbuf();
        kw_kt_result res;
        kw_kt_reason why;
        assert_int_equal(kw_kt_dir_search(dir, m->label, m->label_len,
                                          pin == NULL ? 0 : pin->log_size, b),
                         KW_OK);
        assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(b),
                                             kw_buf_len(b)),
                         KW_OK);
        assert_int_equal(why, KW_KT_OK);
        assert_int_equal(res.version, m->nver);
        assert_int_equal(res.head.epoch, nheads - 1);
        if (m->nver > 0) {
            assert_int_equal(res.value_len, m->value_len[m->nver]);
            assert_memory_equal(res.value, m->value[m->nver], res.value_len);
        }
        kw_buf_free(&b);
    }
}

/* Builds the history: NEPOCHS epochs, some empty, some with one label
 * updated several times. Verifies every label after each epoch with the
 * previous head pinned (so each search also checks consistency). */
static void test_end_to_end(void **state)
{
    (void)state;
    kw_kt_head pin;
    assert_int_equal(kw_kt_dir_head(dir, &pin), KW_ERR_NOT_FOUND);
    for (int e = 0; e < NEPOCHS; e++) {
        int n = (e % 5 == 3) ? 0 : (int)randombytes_uniform(25);
        for (int k = 0; k < n; k++)
            update(&labels[randombytes_uniform(NLABELS - 1)]);
        if (e == 6)
            for (int k = 0; k < 3; k++)
                update(&labels[0]);
        publish();
        verify_all_labels(e == 0 ? NULL : &heads[e - 1]);
    }
    assert_int_equal(kw_kt_dir_head(dir, &pin), KW_OK);
    assert_int_equal(pin.epoch, NEPOCHS - 1);
    /* The last label stays absent: its search says version 0. */
    assert_int_equal(labels[NLABELS - 1].nver, 0);
}

static void test_lookup_every_version(void **state)
{
    (void)state;
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[2]};
    for (int i = 0; i < NLABELS; i++) {
        model_label *m = &labels[i];
        for (uint32_t v = 1; v <= m->nver; v++) {
            kw_buf *b = newbuf();
            kw_kt_result res;
            kw_kt_reason why;
            assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, v, heads[2].log_size, b),
                             KW_OK);
            assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, v,
                                                 kw_buf_ptr(b), kw_buf_len(b)),
                             KW_OK);
            assert_int_equal(res.version, v);
            assert_int_equal(res.value_len, m->value_len[v]);
            assert_memory_equal(res.value, m->value[v], res.value_len);
            /* Asking for another version than the response carries. */
            assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, v + 1,
                                                 kw_buf_ptr(b), kw_buf_len(b)),
                             KW_ERR_VERIFY);
            assert_int_equal(why, KW_KT_WRONG_VERSION);
            kw_buf_free(&b);
        }
        kw_buf *b = newbuf();
        assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, m->nver + 1, 0, b),
                         KW_ERR_NOT_FOUND);
        assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, 0, 0, b), KW_ERR_NOT_FOUND);
        kw_buf_free(&b);
    }
}

static void test_monitor(void **state)
{
    (void)state;
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    for (int i = 0; i < NLABELS; i++) {
        model_label *m = &labels[i];
        for (uint64_t since = 0; since <= nheads; since += 3) {
            kw_buf *b = newbuf();
            kw_kt_monitor_result *res = malloc(sizeof(*res));
            kw_kt_reason why;
            assert_non_null(res);
            assert_int_equal(kw_kt_dir_monitor(dir, m->label, m->label_len, since, 0, 0, b), KW_OK);
            uint32_t first = 1;
            while (first <= m->nver && m->epoch[first] < since)
                first++;
            assert_int_equal(kw_kt_monitor_verify(res, &why, &t, m->label, m->label_len, first,
                                                  kw_buf_ptr(b), kw_buf_len(b)),
                             KW_OK);
            assert_int_equal(res->first, first);
            assert_int_equal(res->count, m->nver + 1 - first);
            assert_int_equal(res->more, 0);
            for (uint32_t k = 0; k < res->count; k++) {
                assert_int_equal(res->v[k].value_len, m->value_len[first + k]);
                assert_memory_equal(res->v[k].value, m->value[first + k], res->v[k].value_len);
            }
            /* An owner expecting another first version is told so. */
            assert_int_equal(kw_kt_monitor_verify(res, &why, &t, m->label, m->label_len, first + 1,
                                                  kw_buf_ptr(b), kw_buf_len(b)),
                             KW_ERR_VERIFY);
            assert_int_equal(why, KW_KT_WRONG_VERSION);
            free(res);
            kw_buf_free(&b);
        }
    }
}

/* A label with more versions than one monitor response carries. */
static void test_monitor_paging(void **state)
{
    (void)state;
    model_label *m = &labels[NLABELS - 2];
    while (m->nver < 70)
        update(m);
    publish();
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_monitor_result *res = malloc(sizeof(*res));
    kw_kt_reason why;
    assert_non_null(res);
    kw_buf *b = newbuf();
    assert_int_equal(kw_kt_dir_monitor(dir, m->label, m->label_len, 0, 0, 0, b), KW_OK);
    assert_int_equal(kw_kt_monitor_verify(res, &why, &t, m->label, m->label_len, 1, kw_buf_ptr(b),
                                          kw_buf_len(b)),
                     KW_OK);
    assert_int_equal(res->count, KW_KT_MONITOR_MAXVERSIONS);
    assert_int_equal(res->more, 1);
    kw_buf_free(&b);
    /* The rest: from version 65 on. */
    b = newbuf();
    assert_int_equal(kw_kt_dir_monitor(dir, m->label, m->label_len, 0, 65, 0, b), KW_OK);
    assert_int_equal(kw_kt_monitor_verify(res, &why, &t, m->label, m->label_len, 65, kw_buf_ptr(b),
                                          kw_buf_len(b)),
                     KW_OK);
    assert_int_equal(res->more, 0);
    assert_int_equal(res->first + res->count - 1, m->nver);
    kw_buf_free(&b);
    free(res);
    verify_all_labels(&heads[0]);
}

/* ---- mutations ---- */

static kw_buf *search_resp(const model_label *m, uint64_t client_log_size)
{
    kw_buf *b = newbuf();
    assert_int_equal(kw_kt_dir_search(dir, m->label, m->label_len, client_log_size, b), KW_OK);
    return b;
}

static model_label *label_with_versions(uint32_t min)
{
    for (int i = 0; i < NLABELS; i++)
        if (labels[i].nver >= min)
            return &labels[i];
    fail_msg("no label with %u versions", min);
    return NULL;
}

static void test_search_every_byte_flipped(void **state)
{
    (void)state;
    model_label *m = label_with_versions(2);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[1]};
    kw_buf *b = search_resp(m, heads[1].log_size);
    size_t n = kw_buf_len(b);
    uint8_t *r = malloc(n + 1);
    assert_non_null(r);
    memcpy(r, kw_buf_ptr(b), n);
    kw_kt_result res;
    kw_kt_reason why;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, r, n), KW_OK);
    int counts[32] = {0};
    for (size_t i = 0; i < n; i++) {
        uint8_t bit = (uint8_t)(1u << (i % 8));
        r[i] ^= bit;
        int e = kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, r, n);
        r[i] ^= bit;
        if (e == KW_OK)
            fail_msg("flip of byte %zu of %zu accepted", i, n);
        assert_int_not_equal(why, KW_KT_OK);
        assert_int_equal(res.version, 0);
        counts[why]++;
    }
    /* Each part of the response was reached by some flip. */
    assert_true(counts[KW_KT_BAD_HEAD_SIGNATURE] > 0);
    assert_true(counts[KW_KT_LOG_INCLUSION] > 0);
    assert_true(counts[KW_KT_INCONSISTENT] > 0);
    assert_true(counts[KW_KT_VRF_FAILURE] > 0);
    assert_true(counts[KW_KT_MEMBERSHIP_FAILURE] > 0);
    assert_true(counts[KW_KT_NONMEMBERSHIP_FAILURE] > 0);
    assert_true(counts[KW_KT_MALFORMED] > 0);
    /* Truncated at every length, and extended. */
    for (size_t len = 0; len < n; len += (len < 300 ? 1 : 13)) {
        int e = kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, r, len);
        assert_true(e == KW_ERR_TRUNCATED || e == KW_ERR_FORMAT || e == KW_ERR_VERIFY ||
                    e == KW_ERR_TOO_LARGE);
        assert_int_not_equal(e, KW_OK);
    }
    r[n] = 0;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, r, n + 1),
                     KW_ERR_FORMAT);
    assert_int_equal(why, KW_KT_MALFORMED);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, r, n - 1),
                     KW_ERR_TRUNCATED);
    r[0] = KW_KT_RESP_LOOKUP;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, r, n),
                     KW_ERR_FORMAT);
    free(r);
    kw_buf_free(&b);
}

static void test_lookup_and_monitor_flips(void **state)
{
    (void)state;
    model_label *m = label_with_versions(3);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_monitor_result *mres = malloc(sizeof(*mres));
    kw_kt_reason why;
    assert_non_null(mres);
    kw_buf *b = newbuf();
    assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, 2, 0, b), KW_OK);
    size_t n = kw_buf_len(b);
    uint8_t *r = malloc(n);
    assert_non_null(r);
    memcpy(r, kw_buf_ptr(b), n);
    for (size_t i = 0; i < n; i += 1 + (i > 200 ? 6 : 0)) {
        r[i] ^= 0x10;
        assert_int_not_equal(
            kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, 2, r, n), KW_OK);
        r[i] ^= 0x10;
    }
    free(r);
    kw_buf_free(&b);

    b = newbuf();
    assert_int_equal(kw_kt_dir_monitor(dir, m->label, m->label_len, 0, 0, 0, b), KW_OK);
    n = kw_buf_len(b);
    r = malloc(n);
    assert_non_null(r);
    memcpy(r, kw_buf_ptr(b), n);
    assert_int_equal(kw_kt_monitor_verify(mres, &why, &t, m->label, m->label_len, 1, r, n), KW_OK);
    for (size_t i = 0; i < n; i += 1 + (i > 200 ? 11 : 0)) {
        r[i] ^= 0x01;
        assert_int_not_equal(
            kw_kt_monitor_verify(mres, &why, &t, m->label, m->label_len, 1, r, n), KW_OK);
        r[i] ^= 0x01;
    }
    assert_int_equal(kw_kt_monitor_verify(mres, &why, &t, m->label, m->label_len, 1, r, n - 1),
                     KW_ERR_TRUNCATED);
    free(r);
    free(mres);
    kw_buf_free(&b);
}

static void test_wrong_label_key_and_head(void **state)
{
    (void)state;
    model_label *m = label_with_versions(1), *o = &labels[NLABELS - 1];
    kw_kt_result res;
    kw_kt_reason why;
    kw_buf *b = search_resp(m, 0);
    /* The proof for another label. */
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, o->label, o->label_len, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_VRF_FAILURE);
    /* A head signed by another key (the client pinned another log key). */
    kw_kt_trust t2 = {.log_pk = other_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    assert_int_equal(kw_kt_search_verify(&res, &why, &t2, m->label, m->label_len, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_BAD_HEAD_SIGNATURE);
    /* Another VRF key. */
    uint8_t vpk2[32], vsk2[64];
    kw_vrf_keypair(vpk2, vsk2);
    kw_kt_trust t3 = {.log_pk = log_pk, .vrf_pk = vpk2, .pinned = NULL};
    assert_int_equal(kw_kt_search_verify(&res, &why, &t3, m->label, m->label_len, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_VRF_FAILURE);
    /* A head re-signed by another key, over the right content. */
    kw_kt_head h;
    assert_int_equal(kw_kt_head_decode(&h, kw_buf_ptr(b) + 1, KW_KT_HEADBYTES), KW_OK);
    assert_int_equal(kw_kt_head_sign(&h, other_key), KW_OK);
    uint8_t *r = malloc(kw_buf_len(b));
    assert_non_null(r);
    memcpy(r, kw_buf_ptr(b), kw_buf_len(b));
    kw_kt_head_encode(r + 1, &h);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, r, kw_buf_len(b)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_BAD_HEAD_SIGNATURE);
    free(r);
    kw_buf_free(&b);
}

static void test_rollback_and_fork(void **state)
{
    (void)state;
    model_label *m = label_with_versions(1);
    kw_kt_result res;
    kw_kt_reason why;
    kw_kt_head newest = heads[nheads - 1];
    kw_buf *old = search_resp(m, 0);
    /* A heartbeat later, a client pinned at the newest head is shown the
     * older response: rollback. */
    publish();
    kw_kt_head pin = heads[nheads - 1];
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &pin};
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(old),
                                         kw_buf_len(old)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_HEAD_ROLLBACK);
    /* A pinned head of the same epoch with other content: split view. */
    kw_kt_head fork = newest;
    fork.timestamp -= 1;
    fork.log_root[0] ^= 1;
    assert_int_equal(kw_kt_head_sign(&fork, log_key), KW_OK);
    t.pinned = &fork;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(old),
                                         kw_buf_len(old)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_INCONSISTENT);
    /* An older pinned head but no consistency proof in the response. */
    t.pinned = &heads[1];
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(old),
                                         kw_buf_len(old)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_INCONSISTENT);
    /* A pinned head from a forked log (other log root at an older epoch). */
    kw_kt_head f1 = heads[1];
    f1.log_root[5] ^= 0x80;
    assert_int_equal(kw_kt_head_sign(&f1, log_key), KW_OK);
    kw_buf *b = search_resp(m, f1.log_size);
    t.pinned = &f1;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_INCONSISTENT);
    t.pinned = &heads[1];
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_OK);
    assert_int_equal(res.head.epoch, pin.epoch);
    /* The same head as pinned: no proof needed. */
    t.pinned = &pin;
    kw_buf_free(&b);
    b = search_resp(m, pin.log_size);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_OK);
    kw_buf_free(&b);
    kw_buf_free(&old);
    assert_int_equal(kw_kt_dir_search(dir, m->label, m->label_len, pin.log_size + 1, b = newbuf()),
                     KW_ERR_INVALID_ARG);
    kw_buf_free(&b);
}

/* Offsets inside a response: kind ‖ head section ‖ u32 version ‖ ... */
static size_t head_section_len(const uint8_t *r)
{
    size_t o = 1 + KW_KT_HEADBYTES;
    o += 1 + 32 * (size_t)r[o];
    uint8_t flag = r[o++];
    if (flag) {
        o += 8;
        o += 1 + 32 * (size_t)r[o];
    }
    return o - 1;
}

/* A response's member part: opening ‖ u32 len ‖ value ‖ prefix proof. */
static size_t value_len_at(const uint8_t *member)
{
    const uint8_t *p = member + 32;
    return ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
}

/* Decodes the (first-in-chain, plain) prefix proof at p; its length. */
static size_t plain_proof(const uint8_t *p, size_t avail, kw_prefix_proof *out)
{
    size_t used = 0;
    static const uint8_t z[32];
    assert_int_equal(kw_prefix_proof_parse_shared(out, p, avail, &used, NULL, z, z), KW_OK);
    return used;
}

static void test_not_latest_and_present_absent(void **state)
{
    (void)state;
    model_label *m = label_with_versions(3);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_reason why;
    uint32_t v = m->nver;
    uint8_t ix_prev[32], ix_v[32];
    assert_int_equal(kw_kt_index(ix_prev, vrf_sk, m->label, m->label_len, v - 1), KW_OK);
    assert_int_equal(kw_kt_index(ix_v, vrf_sk, m->label, m->label_len, v), KW_OK);
    /* Lookups of v-1 and v: kind ‖ head section ‖ u32 v ‖ vrf ‖ member. */
    kw_buf *lv = newbuf(), *l = newbuf();
    assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, v, 0, lv), KW_OK);
    assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, v - 1, 0, l), KW_OK);
    const uint8_t *vp = kw_buf_ptr(lv), *lp = kw_buf_ptr(l);
    size_t hs = head_section_len(vp);
    assert_int_equal(hs, head_section_len(lp));
    const uint8_t *mem_prev = lp + 1 + hs + 4 + 80, *mem_v = vp + 1 + hs + 4 + 80;
    static kw_prefix_proof pprev, pv;
    size_t prev_vlen = value_len_at(mem_prev), v_vlen = value_len_at(mem_v);
    size_t prev_plen = plain_proof(mem_prev + 36 + prev_vlen, 8192, &pprev);
    (void)plain_proof(mem_v + 36 + v_vlen, 8192, &pv);
    assert_int_equal(pv.result, KW_PREFIX_MEMBER);
    /* The server claims v-1 is the latest and "proves" v absent with v's
     * membership proof. */
    kw_buf *f = newbuf();
    assert_int_equal(kw_buf_put(f, lp, 1 + hs + 4 + 80 + 36 + prev_vlen + prev_plen), KW_OK);
    ((uint8_t *)kw_buf_ptr(f))[0] = KW_KT_RESP_SEARCH;
    assert_int_equal(kw_prefix_proof_put_shared(f, &pv, &pprev, ix_prev, ix_v), KW_OK);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(f),
                                         kw_buf_len(f)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_NOT_LATEST);
    /* A non-membership proof of the present v: an absent-empty proof along
     * v's path with the real siblings. */
    kw_buf_reset(f);
    assert_int_equal(kw_buf_put(f, lp, 1 + hs + 4 + 80 + 36 + prev_vlen + prev_plen), KW_OK);
    ((uint8_t *)kw_buf_ptr(f))[0] = KW_KT_RESP_SEARCH;
    pv.result = KW_PREFIX_ABSENT_EMPTY;
    assert_int_equal(kw_prefix_proof_put_shared(f, &pv, &pprev, ix_prev, ix_v), KW_OK);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len, kw_buf_ptr(f),
                                         kw_buf_len(f)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_NONMEMBERSHIP_FAILURE);
    /* The same absence with the shared levels sent again in full is not
     * the canonical form: malformed. */
    kw_buf_reset(f);
    assert_int_equal(kw_buf_put(f, lp, 1 + hs + 4 + 80 + 36 + prev_vlen + prev_plen), KW_OK);
    ((uint8_t *)kw_buf_ptr(f))[0] = KW_KT_RESP_SEARCH;
    assert_int_equal(kw_prefix_proof_put(f, &pv), KW_OK);
    assert_int_not_equal(kw_kt_search_verify(&res, &why, &t, m->label, m->label_len,
                                             kw_buf_ptr(f), kw_buf_len(f)),
                         KW_OK);
    kw_buf_free(&f);
    kw_buf_free(&lv);
    kw_buf_free(&l);
}

static void test_spliced_epoch_and_value(void **state)
{
    (void)state;
    model_label *m = label_with_versions(1);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_reason why;
    kw_buf *l = newbuf();
    assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, 1, 0, l), KW_OK);
    size_t n = kw_buf_len(l);
    uint8_t *r = malloc(n);
    assert_non_null(r);
    memcpy(r, kw_buf_ptr(l), n);
    size_t hs = head_section_len(r);
    uint8_t *mem = r + 1 + hs + 4 + 80;
    /* Another value: the recomputed commitment is not in the tree. */
    mem[36] ^= 1;
    assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, 1, r, n),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_MEMBERSHIP_FAILURE);
    mem[36] ^= 1;
    /* Another opening. */
    mem[3] ^= 1;
    assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, 1, r, n),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_MEMBERSHIP_FAILURE);
    mem[3] ^= 1;
    assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, 1, r, n), KW_OK);
    /* The head section (head and its log proof) of an earlier epoch,
     * validly signed, in front of the current membership proof: the
     * wrong epoch. */
    update(&labels[5]);
    publish();
    kw_buf *l2 = newbuf();
    assert_int_equal(kw_kt_dir_lookup(dir, m->label, m->label_len, 1, 0, l2), KW_OK);
    const uint8_t *r2 = kw_buf_ptr(l2);
    size_t hs2 = head_section_len(r2);
    kw_buf *f = newbuf();
    assert_int_equal(kw_buf_put(f, r, 1 + hs + 4), KW_OK);
    assert_int_equal(kw_buf_put(f, r2 + 1 + hs2 + 4, kw_buf_len(l2) - 1 - hs2 - 4), KW_OK);
    assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, 1, kw_buf_ptr(f),
                                         kw_buf_len(f)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_MEMBERSHIP_FAILURE);
    /* And the new head in front of the old proof. */
    kw_buf_reset(f);
    assert_int_equal(kw_buf_put(f, r2, 1 + hs2 + 4), KW_OK);
    assert_int_equal(kw_buf_put(f, r + 1 + hs + 4, n - 1 - hs - 4), KW_OK);
    assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, m->label, m->label_len, 1, kw_buf_ptr(f),
                                         kw_buf_len(f)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_MEMBERSHIP_FAILURE);
    kw_buf_free(&l2);
    kw_buf_free(&f);
    free(r);
    kw_buf_free(&l);
}

static void test_consistency(void **state)
{
    (void)state;
    kw_kt_head nh;
    kw_kt_reason why;
    for (uint64_t a = 0; a < nheads; a += 2) {
        for (uint64_t b = a; b < nheads; b += 3) {
            kw_buf *c = newbuf();
            assert_int_equal(kw_kt_dir_consistency(dir, a, b, c), KW_OK);
            kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &heads[a]};
            assert_int_equal(kw_kt_consistency_verify(&nh, &why, &t, kw_buf_ptr(c), kw_buf_len(c)),
                             KW_OK);
            assert_int_equal(nh.epoch, b);
            /* Pinned elsewhere: the proof is not about our head. */
            if (a > 0) {
                t.pinned = &heads[a - 1];
                assert_int_equal(
                    kw_kt_consistency_verify(&nh, &why, &t, kw_buf_ptr(c), kw_buf_len(c)),
                    KW_ERR_VERIFY);
                assert_int_equal(why, KW_KT_INCONSISTENT);
                t.pinned = &heads[a];
            }
            size_t n = kw_buf_len(c);
            uint8_t *r = malloc(n + 1);
            assert_non_null(r);
            memcpy(r, kw_buf_ptr(c), n);
            for (size_t i = 0; i < n; i++) {
                r[i] ^= 4;
                assert_int_not_equal(kw_kt_consistency_verify(&nh, &why, &t, r, n), KW_OK);
                r[i] ^= 4;
            }
            r[n] = 0;
            assert_int_equal(kw_kt_consistency_verify(&nh, &why, &t, r, n + 1), KW_ERR_FORMAT);
            t.log_pk = other_pk;
            assert_int_equal(kw_kt_consistency_verify(&nh, &why, &t, r, n), KW_ERR_VERIFY);
            assert_int_equal(why, KW_KT_BAD_HEAD_SIGNATURE);
            free(r);
            kw_buf_free(&c);
        }
    }
    /* A "newer" head that is older than the pinned one. */
    kw_buf *c = newbuf();
    kw_kt_head he_old = heads[1], he_new = heads[4];
    uint8_t enc[KW_KT_HEADBYTES];
    assert_int_equal(kw_buf_put_u8(c, KW_KT_RESP_CONSISTENCY), KW_OK);
    kw_kt_head_encode(enc, &he_new);
    assert_int_equal(kw_buf_put(c, enc, sizeof(enc)), KW_OK);
    kw_kt_head_encode(enc, &he_old);
    assert_int_equal(kw_buf_put(c, enc, sizeof(enc)), KW_OK);
    assert_int_equal(kw_buf_put_u8(c, 0), KW_OK);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &he_new};
    assert_int_equal(kw_kt_consistency_verify(&nh, &why, &t, kw_buf_ptr(c), kw_buf_len(c)),
                     KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_HEAD_ROLLBACK);
    t.pinned = NULL;
    assert_int_equal(kw_kt_consistency_verify(&nh, &why, &t, kw_buf_ptr(c), kw_buf_len(c)),
                     KW_ERR_INVALID_ARG);
    kw_buf_free(&c);
    c = newbuf();
    assert_int_equal(kw_kt_dir_consistency(dir, 3, 2, c), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_dir_consistency(dir, nheads, nheads, c), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_kt_dir_consistency(dir, 0, UINT64_MAX, c), KW_OK);
    kw_buf_free(&c);
}

static void test_promises(void **state)
{
    (void)state;
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen;
    kw_kt_promise pr;
    const uint8_t label[] = "promise-label", value[] = "roster v1";
    assert_int_equal(kw_kt_dir_update(dir, label, sizeof(label) - 1, value, sizeof(value) - 1,
                                      promise, sizeof(promise), &plen),
                     KW_OK);
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, label, sizeof(label) - 1, value,
                                          sizeof(value) - 1, promise, plen),
                     KW_OK);
    assert_int_equal(pr.version, 1);
    assert_int_equal(pr.deadline_epoch, nheads + 1);
    uint64_t deadline = pr.deadline_epoch;
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, label, sizeof(label) - 1, value,
                                          sizeof(value) - 2, promise, plen),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_kt_promise_verify(&pr, other_pk, label, sizeof(label) - 1, value,
                                          sizeof(value) - 1, promise, plen),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, label, sizeof(label) - 2, value,
                                          sizeof(value) - 1, promise, plen),
                     KW_ERR_VERIFY);
    for (size_t i = 0; i < plen; i++) {
        promise[i] ^= 1;
        assert_int_not_equal(kw_kt_promise_verify(&pr, log_pk, label, sizeof(label) - 1, value,
                                                  sizeof(value) - 1, promise, plen),
                             KW_OK);
        promise[i] ^= 1;
    }
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, label, sizeof(label) - 1, value,
                                          sizeof(value) - 1, promise, plen - 1),
                     KW_ERR_TRUNCATED);
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, label, sizeof(label) - 1, value,
                                          sizeof(value) - 1, promise, plen + 1),
                     KW_ERR_FORMAT);
    /* Short output buffer, bad arguments. */
    assert_int_equal(kw_kt_dir_update(dir, label, sizeof(label) - 1, value, 1, promise, 10, &plen),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_kt_dir_update(dir, label, 0, value, 1, promise, sizeof(promise), &plen),
                     KW_ERR_INVALID_ARG);
    static uint8_t big[KW_KT_VALUE_MAXBYTES + 1];
    assert_int_equal(kw_kt_dir_update(dir, label, 3, big, sizeof(big), promise, sizeof(promise),
                                      &plen),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_kt_dir_update(dir, big, KW_KT_LABEL_MAXBYTES + 1, value, 1, promise,
                                      sizeof(promise), &plen),
                     KW_ERR_TOO_LARGE);
    /* Included by its deadline: the next epoch. */
    publish();
    kw_buf *b = newbuf();
    kw_kt_result res;
    kw_kt_reason why;
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    assert_int_equal(kw_kt_dir_search(dir, label, sizeof(label) - 1, 0, b), KW_OK);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_OK);
    assert_int_equal(res.version, 1);
    assert_true(res.head.epoch <= deadline);
    kw_buf_free(&b);
}

/* Publishing in steps from the outside, without precomputed proofs:
 * searches still verify (proofs computed on demand), prove_missing fills
 * them, and the next version's index comes from the stored proof. */
static void test_batches_without_proofs(void **state)
{
    (void)state;
    kw_kt_batch *b = NULL;
    size_t n;
    kw_kt_head h;
    model_label *m = &labels[3];
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen;
    update(m);
    /* A new label: its index needs a VRF evaluation, its proofs are left
     * for later. */
    assert_int_equal(kw_kt_dir_update(dir, (const uint8_t *)"fresh", 5, (const uint8_t *)"v", 1,
                                      promise, sizeof(promise), &plen),
                     KW_OK);
    assert_int_equal(kw_kt_dir_pending(dir), 2);
    assert_int_equal(kw_kt_dir_batch_begin(dir, 1, &b, &n), KW_OK);
    assert_int_equal(n, 1);
    /* Updates are accepted while a batch is open and queue behind it: the
     * same label's next version too. */
    update(m);
    assert_int_equal(kw_kt_dir_pending(dir), 2);
    /* Not indexed yet: refused, and the batch's update goes back to the
     * front of the queue, before those queued meanwhile. */
    assert_int_equal(kw_kt_dir_batch_commit(dir, &b, now + 1, &h), KW_ERR_INVALID_ARG);
    assert_null(b);
    assert_int_equal(kw_kt_dir_pending(dir), 3);
    assert_int_equal(kw_kt_dir_batch_begin(dir, 0, &b, &n), KW_OK);
    assert_int_equal(n, 3);
    const uint8_t *el;
    size_t ell;
    uint32_t ev;
    assert_int_equal(kw_kt_batch_entry(b, 0, &el, &ell, &ev), KW_OK);
    assert_memory_equal(el, m->label, m->label_len);
    assert_int_equal(ev, m->nver - 1);
    assert_int_equal(kw_kt_batch_entry(b, 1, &el, &ell, &ev), KW_OK);
    assert_memory_equal(el, "fresh", 5);
    assert_int_equal(kw_kt_batch_entry(b, 2, &el, &ell, &ev), KW_OK);
    assert_int_equal(ev, m->nver);
    assert_int_equal(kw_kt_batch_entry(b, 3, &el, &ell, &ev), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_batch_index(b, 0, 1), KW_OK);
    assert_int_equal(kw_kt_batch_index(b, 1, 3), KW_OK);
    assert_int_equal(kw_kt_batch_index(b, 2, 1), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_batch_index(b, 0, 4), KW_ERR_INVALID_ARG);
    /* Time going backwards. */
    assert_int_equal(kw_kt_dir_batch_commit(dir, &b, now - 1, &h), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_dir_batch_begin(dir, 0, &b, &n), KW_OK);
    assert_int_equal(kw_kt_batch_index(b, 0, n), KW_OK);
    now += 2;
    assert_int_equal(kw_kt_dir_batch_commit(dir, &b, now, &h), KW_OK);
    heads[nheads++] = h;
    kw_kt_dir_stats st;
    kw_kt_dir_stats_get(dir, &st);
    assert_true(st.proofs_missing >= 1);
    verify_all_labels(&heads[nheads - 2]);
    size_t computed = 0;
    assert_int_equal(kw_kt_dir_prove_missing(dir, &computed), KW_OK);
    assert_true(computed >= 1); /* one VRF proof per new label */
    kw_kt_dir_stats_get(dir, &st);
    assert_int_equal(st.proofs_missing, 0);
    assert_int_equal(st.epochs, nheads);
    assert_true(st.tree.nodes > 0);
    verify_all_labels(&heads[nheads - 2]);
    /* Abort returns the updates. */
    update(m);
    assert_int_equal(kw_kt_dir_batch_begin(dir, 0, &b, &n), KW_OK);
    kw_kt_dir_batch_abort(dir, &b);
    assert_null(b);
    assert_int_equal(kw_kt_dir_pending(dir), 1);
    publish();
    verify_all_labels(&heads[nheads - 2]);
}

static void test_absent_label_and_size(void **state)
{
    (void)state;
    model_label *o = &labels[NLABELS - 1];
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_reason why;
    kw_buf *b = search_resp(o, 0);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, o->label, o->label_len, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_OK);
    assert_int_equal(res.version, 0);
    assert_null(res.value);
    size_t sz;
    assert_int_equal(kw_kt_search_proof_size(&sz, kw_buf_ptr(b), kw_buf_len(b)), KW_OK);
    assert_int_equal(sz, kw_buf_len(b));
    kw_buf_free(&b);
    model_label *m = label_with_versions(1);
    b = search_resp(m, 0);
    assert_int_equal(kw_kt_search_proof_size(&sz, kw_buf_ptr(b), kw_buf_len(b)), KW_OK);
    assert_int_equal(sz, kw_buf_len(b) - m->value_len[m->nver]);
    print_message("search proof: %zu bytes without the value (%d leaves)\n", sz, 0);
    assert_int_equal(kw_kt_search_proof_size(&sz, kw_buf_ptr(b), kw_buf_len(b) - 1),
                     KW_ERR_TRUNCATED);
    /* A response buffer that is too small. */
    kw_buf *small = kw_buf_new(100);
    assert_int_equal(kw_kt_dir_search(dir, m->label, m->label_len, 0, small), KW_ERR_TOO_LARGE);
    kw_buf_free(&small);
    assert_int_equal(kw_kt_dir_search(dir, m->label, 0, 0, b), KW_ERR_INVALID_ARG);
    kw_buf_free(&b);
    assert_string_equal(kw_kt_reason_name(KW_KT_NOT_LATEST), "not-latest");
    assert_string_equal(kw_kt_reason_name((kw_kt_reason)999), "unknown");
}

static void test_heads_and_errors(void **state)
{
    (void)state;
    uint8_t enc[KW_KT_HEADBYTES + 1];
    kw_kt_head h;
    kw_kt_head_encode(enc, &heads[2]);
    assert_int_equal(kw_kt_head_decode(&h, enc, KW_KT_HEADBYTES), KW_OK);
    assert_int_equal(kw_kt_head_verify(&h, log_pk), KW_OK);
    assert_int_equal(kw_kt_head_verify(&h, other_pk), KW_ERR_VERIFY);
    assert_int_equal(kw_kt_head_decode(&h, enc, KW_KT_HEADBYTES - 1), KW_ERR_TRUNCATED);
    assert_int_equal(kw_kt_head_decode(&h, enc, KW_KT_HEADBYTES + 1), KW_ERR_TOO_LARGE);
    enc[15] ^= 1; /* log_size != epoch + 1 */
    assert_int_equal(kw_kt_head_decode(&h, enc, KW_KT_HEADBYTES), KW_ERR_FORMAT);
    assert_int_equal(kw_kt_dir_head_at(dir, nheads, &h), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_kt_dir_head_at(dir, 1, &h), KW_OK);
    assert_memory_equal(&h, &heads[1], sizeof(h));
    kw_kt_dir *d2 = NULL;
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = log_key, .max_merge_delay = 0};
    assert_int_equal(kw_kt_dir_new(&d2, &cfg), KW_ERR_INVALID_ARG);
    cfg.max_merge_delay = 1;
    assert_int_equal(kw_kt_dir_new(&d2, &cfg), KW_OK);
    kw_buf *b = newbuf();
    assert_int_equal(kw_kt_dir_search(d2, (const uint8_t *)"a", 1, 0, b), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_kt_dir_insertions(d2, 0, b), KW_ERR_NOT_FOUND);
    /* A heartbeat first epoch: the empty tree. */
    assert_int_equal(kw_kt_dir_publish(d2, 5, &h), KW_OK);
    assert_int_equal(h.epoch, 0);
    assert_true(kw_ct_is_zero(h.prefix_root, 32));
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_reason why;
    assert_int_equal(kw_kt_dir_search(d2, (const uint8_t *)"a", 1, 0, b), KW_OK);
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, (const uint8_t *)"a", 1, kw_buf_ptr(b),
                                         kw_buf_len(b)),
                     KW_OK);
    assert_int_equal(res.version, 0);
    kw_buf_free(&b);
    kw_kt_dir_free(&d2);
    kw_kt_dir_free(&d2);
    /* Verifier argument checks. */
    assert_int_equal(kw_kt_search_verify(&res, &why, NULL, (const uint8_t *)"a", 1, enc, 1),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, (const uint8_t *)"a", 1, 0, enc, 1),
                     KW_ERR_INVALID_ARG);
    static uint8_t big[KW_KT_LABEL_MAXBYTES + 1];
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, big, sizeof(big), enc, 1),
                     KW_ERR_TOO_LARGE);
    uint8_t idx[32];
    assert_int_equal(kw_kt_index(idx, vrf_sk, (const uint8_t *)"a", 1, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_index(idx, vrf_sk, big, sizeof(big), 1), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_kt_index(idx, vrf_sk, (const uint8_t *)"a", 1, 1), KW_OK);
}

/* ---- index-only publishing, pipelined, and background VRF proofs ---- */

typedef struct {
    kw_kt_batch *b;
    size_t from, to;
    kw_kt_proofs *p;
    int r;
} vrf_arg;

static void *index_thread(void *arg)
{
    vrf_arg *a = arg;
    a->r = kw_kt_batch_index(a->b, a->from, a->to);
    return NULL;
}

static void *proofs_thread(void *arg)
{
    vrf_arg *a = arg;
    a->r = kw_kt_proofs_compute(a->p, a->from, a->to);
    return NULL;
}

#define PL 40

static size_t pl_label(uint8_t out[8], int i)
{
    out[0] = 'L';
    out[1] = (uint8_t)('0' + i / 10);
    out[2] = (uint8_t)('0' + i % 10);
    return 3;
}

static void pl_update(kw_kt_dir *d, int i, uint32_t *cnt)
{
    uint8_t l[8], v[2] = {(uint8_t)i, (uint8_t)cnt[i]};
    size_t n = pl_label(l, i);
    assert_int_equal(kw_kt_dir_update(d, l, n, v, sizeof(v), NULL, 0, NULL), KW_OK);
    cnt[i]++;
}

static void pl_verify_all(kw_kt_dir *d, const uint32_t *cnt)
{
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    for (int i = 0; i < PL; i++) {
        uint8_t l[8];
        size_t n = pl_label(l, i);
        kw_buf *b = newbuf();
        kw_kt_result res;
        kw_kt_reason why;
        assert_int_equal(kw_kt_dir_search(d, l, n, 0, b), KW_OK);
        assert_int_equal(
            kw_kt_search_verify(&res, &why, &t, l, n, kw_buf_ptr(b), kw_buf_len(b)), KW_OK);
        assert_int_equal(res.version, cnt[i]);
        if (cnt[i] > 0) {
            assert_int_equal(res.value_len, 2);
            assert_int_equal(res.value[0], i);
            assert_int_equal(res.value[1], cnt[i] - 1);
        }
        kw_buf_free(&b);
    }
}

/* A server's publisher: the epoch's VRF indices on another thread while
 * updates keep arriving (new labels and new versions of labels in the
 * open batch). The directory's tree is pruned to the newest epoch: as many
 * nodes as a tree built afresh from every insertion list, with the same
 * root. Then the VRF proofs in background jobs: each verifies for its
 * label only; uncomputed entries are refused and listed again. */
static void test_pipeline_and_background_proofs(void **state)
{
    (void)state;
    kw_kt_dir *d = NULL, *d2 = NULL;
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = log_key, .max_merge_delay = 2};
    assert_int_equal(kw_kt_dir_new(&d, &cfg), KW_OK);
    uint32_t cnt[PL] = {0};
    kw_kt_batch *b = NULL;
    kw_kt_head h;
    kw_kt_dir_stats st;
    size_t n;
    uint64_t ts = 10;
    for (int i = 0; i < 20; i++)
        pl_update(d, i, cnt);
    /* Epoch e's indices on another thread while the main thread commits
     * epoch e-1 (two open batches) and queues more updates. */
    kw_kt_batch *prev = NULL;
    for (int e = 0; e < 6; e++) {
        assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b, &n), KW_OK);
        pthread_t th;
        vrf_arg a = {.b = b, .from = 0, .to = n};
        assert_int_equal(pthread_create(&th, NULL, index_thread, &a), 0);
        if (prev != NULL) {
            assert_int_equal(kw_kt_dir_batch_commit(d, &prev, ts++, &h), KW_OK);
            assert_int_equal(h.epoch, (uint64_t)e - 1);
            kw_kt_dir_stats_get(d, &st);
            assert_int_equal(st.tree.roots, 1);
            assert_int_equal(st.tree.stale, 0);
        }
        for (int k = 0; k < 7; k++)
            pl_update(d, (e * 7 + k * 3) % PL, cnt);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(a.r, KW_OK);
        prev = b;
    }
    assert_int_equal(kw_kt_dir_batch_commit(d, &prev, ts++, &h), KW_OK);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b, &n), KW_OK);
    assert_int_equal(kw_kt_batch_index(b, 0, n), KW_OK);
    assert_int_equal(kw_kt_dir_batch_commit(d, &b, ts++, &h), KW_OK);
    assert_int_equal(kw_kt_dir_pending(d), 0);

    /* The pruned tree against one built from scratch. */
    kw_prefix_memstore *ms = NULL;
    kw_prefix_store mst;
    assert_int_equal(kw_prefix_memstore_new(&ms), KW_OK);
    kw_prefix_memstore_store(ms, &mst);
    kw_prefix_entry *all = calloc(1000, sizeof(*all));
    assert_non_null(all);
    size_t total = 0;
    for (uint64_t e = 0; e <= h.epoch; e++) {
        kw_buf *lb = kw_buf_new(KW_KT_INSERTIONS_MAXBYTES);
        assert_non_null(lb);
        assert_int_equal(kw_kt_dir_insertions(d, e, lb), KW_OK);
        size_t off = 1 + KW_KT_HEADBYTES + 32 + 4, cnt_e = (kw_buf_len(lb) - off) / 64;
        for (size_t i = 0; i < cnt_e; i++, total++) {
            memcpy(all[total].index, kw_buf_ptr(lb) + off + 64 * i, 32);
            memcpy(all[total].commitment, kw_buf_ptr(lb) + off + 64 * i + 32, 32);
        }
        kw_buf_free(&lb);
    }
    uint8_t root[32];
    assert_int_equal(kw_prefix_update(&mst, KW_PREFIX_NO_EPOCH, 0, all, total, root, NULL), KW_OK);
    assert_memory_equal(root, h.prefix_root, 32);
    kw_prefix_memstore_stats fresh;
    kw_prefix_memstore_stats_get(ms, &fresh);
    kw_kt_dir_stats_get(d, &st);
    assert_int_equal(st.versions, total);
    assert_int_equal(st.tree.nodes, fresh.nodes);
    kw_prefix_memstore_free(&ms);
    free(all);
    pl_verify_all(d, cnt); /* proofs computed on demand */

    /* Background proofs: every published label lacks its own. */
    size_t used = 0;
    for (int i = 0; i < PL; i++)
        used += cnt[i] > 0;
    assert_true(used > 26);
    assert_int_equal(st.proofs_missing, used);
    kw_kt_proofs *job = NULL;
    const uint8_t *jl, *jp;
    size_t jll, stored = 99;
    assert_int_equal(kw_kt_dir_proofs_begin(d, 16, &job, &n), KW_OK);
    assert_int_equal(n, 16);
    assert_int_equal(kw_kt_proofs_size(job), 16);
    assert_int_equal(kw_kt_proofs_entry(job, 0, &jl, &jll, &jp), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_proofs_compute(job, 5, 3), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_kt_proofs_compute(job, 0, 17), KW_ERR_INVALID_ARG);
    {
        pthread_t th;
        vrf_arg a = {.p = job, .from = 0, .to = 8};
        assert_int_equal(pthread_create(&th, NULL, proofs_thread, &a), 0);
        pl_update(d, 39, cnt); /* the writer keeps going meanwhile */
        assert_int_equal(kw_kt_proofs_compute(job, 8, 16), KW_OK);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(a.r, KW_OK);
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t alpha[2 + 8], beta[KW_VRF_OUTPUTBYTES], bad[KW_VRF_PROOFBYTES];
        assert_int_equal(kw_kt_proofs_entry(job, i, &jl, &jll, &jp), KW_OK);
        alpha[0] = 0;
        alpha[1] = (uint8_t)jll;
        memcpy(alpha + 2, jl, jll);
        assert_int_equal(kw_vrf_verify(beta, KW_VRF_EDWARDS25519_SHA512_TAI, vrf_pk, jp, alpha,
                                       2 + jll),
                         KW_OK);
        memcpy(bad, jp, sizeof(bad));
        bad[KW_VRF_PROOFBYTES - 40] ^= 1;
        assert_int_not_equal(kw_vrf_verify(beta, KW_VRF_EDWARDS25519_SHA512_TAI, vrf_pk, bad,
                                           alpha, 2 + jll),
                             KW_OK);
        alpha[2] ^= 1; /* another label */
        assert_int_not_equal(kw_vrf_verify(beta, KW_VRF_EDWARDS25519_SHA512_TAI, vrf_pk, jp,
                                           alpha, 2 + jll),
                             KW_OK);
    }
    assert_int_equal(kw_kt_proofs_entry(job, n, &jl, &jll, &jp), KW_ERR_INVALID_ARG);
    /* Another directory's job is refused. */
    assert_int_equal(kw_kt_dir_new(&d2, &cfg), KW_OK);
    assert_int_equal(kw_kt_dir_proofs_commit(d2, &job, &stored), KW_ERR_INVALID_ARG);
    assert_non_null(job);
    assert_int_equal(kw_kt_dir_proofs_commit(d, &job, &stored), KW_OK);
    assert_null(job);
    assert_int_equal(stored, 16);
    kw_kt_dir_stats_get(d, &st);
    assert_int_equal(st.proofs_missing, used - 16);
    /* A job half computed: the rest is refused and listed again. */
    assert_int_equal(kw_kt_dir_proofs_begin(d, 0, &job, &n), KW_OK);
    assert_int_equal(n, used - 16);
    assert_int_equal(kw_kt_proofs_compute(job, 0, 10), KW_OK);
    assert_int_equal(kw_kt_dir_proofs_commit(d, &job, &stored), KW_ERR_INVALID_ARG);
    assert_null(job);
    assert_int_equal(stored, 10);
    kw_kt_dir_stats_get(d, &st);
    assert_int_equal(st.proofs_missing, used - 26);
    assert_int_equal(kw_kt_dir_proofs_begin(d, 0, &job, &n), KW_OK);
    assert_int_equal(n, used - 26);
    assert_int_equal(kw_kt_proofs_compute(job, 0, n), KW_OK);
    assert_int_equal(kw_kt_dir_proofs_commit(d, &job, &stored), KW_OK);
    assert_int_equal(stored, used - 26);
    kw_kt_dir_stats_get(d, &st);
    assert_int_equal(st.proofs_missing, 0);
    assert_int_equal(kw_kt_dir_proofs_begin(d, 0, &job, &n), KW_OK);
    assert_int_equal(n, 0);
    kw_kt_proofs_free(&job);
    kw_kt_proofs_free(&job);
    /* Every label's stored proof is served, and searches verify. */
    uint8_t pi[KW_VRF_PROOFBYTES], l[8];
    for (int i = 0; i < PL; i++)
        assert_int_equal(kw_kt_dir_label_vrf(d, l, pl_label(l, i), pi),
                         cnt[i] > 0 ? KW_OK : KW_ERR_NOT_FOUND);
    assert_int_equal(kw_kt_dir_publish(d, ts++, &h), KW_OK);
    pl_verify_all(d, cnt);
    kw_kt_dir_free(&d2);
    kw_kt_dir_free(&d);
}

static void pl_index_commit(kw_kt_dir *d, kw_kt_batch **b, uint64_t ts)
{
    kw_kt_head h;
    assert_int_equal(kw_kt_batch_index(*b, 0, kw_kt_batch_size(*b)), KW_OK);
    assert_int_equal(kw_kt_dir_batch_commit(d, b, ts, &h), KW_OK);
    assert_null(*b);
}

static void pl_expect_entry(kw_kt_batch *b, size_t i, int label, uint32_t version)
{
    const uint8_t *el;
    size_t ell;
    uint32_t ev;
    uint8_t l[8];
    size_t n = pl_label(l, label);
    assert_int_equal(kw_kt_batch_entry(b, i, &el, &ell, &ev), KW_OK);
    assert_int_equal(ell, n);
    assert_memory_equal(el, l, n);
    assert_int_equal(ev, version);
}

/* Two open batches (the next epoch indexed while one commits): oldest
 * commits first; a label new in both gets the same index twice; when the
 * older fails or one is aborted, versions go back to the queue in order
 * and nothing begins in between. */
static void test_two_open_batches(void **state)
{
    (void)state;
    kw_kt_dir *d = NULL;
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = log_key, .max_merge_delay = 2};
    assert_int_equal(kw_kt_dir_new(&d, &cfg), KW_OK);
    uint32_t cnt[PL] = {0};
    kw_kt_batch *b1 = NULL, *b2 = NULL, *b3 = NULL;
    kw_kt_head h;
    size_t n;
    uint64_t ts = 5;
    pl_update(d, 0, cnt);
    pl_update(d, 1, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 1, &b1, &n), KW_OK); /* 0 v1 */
    pl_update(d, 0, cnt);
    pl_update(d, 2, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b2, &n), KW_OK); /* 1 v1, 0 v2, 2 v1 */
    assert_int_equal(n, 3);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b3, &n), KW_ERR_INVALID_ARG);
    assert_null(b3);
    pl_expect_entry(b2, 1, 0, 2);
    assert_int_equal(kw_kt_batch_index(b2, 0, 3), KW_OK);
    assert_int_equal(kw_kt_dir_batch_commit(d, &b2, ts, &h), KW_ERR_INVALID_ARG);
    assert_non_null(b2); /* the younger stays open */
    pl_index_commit(d, &b1, ts++);
    assert_int_equal(kw_kt_dir_batch_commit(d, &b2, ts++, &h), KW_OK);
    assert_int_equal(h.epoch, 1);
    pl_verify_all(d, cnt);

    /* The older fails (not indexed): the younger must go back after it. */
    pl_update(d, 3, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b1, &n), KW_OK); /* 3 v1 */
    pl_update(d, 3, cnt);
    pl_update(d, 4, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 1, &b2, &n), KW_OK); /* 3 v2 */
    pl_update(d, 5, cnt);
    assert_int_equal(kw_kt_batch_index(b2, 0, 1), KW_OK);
    assert_int_equal(kw_kt_dir_batch_commit(d, &b1, ts, &h), KW_ERR_INVALID_ARG);
    assert_null(b1);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b3, &n), KW_ERR_INVALID_ARG); /* on hold */
    assert_int_equal(kw_kt_dir_batch_commit(d, &b2, ts, &h), KW_ERR_INVALID_ARG);
    assert_null(b2);
    assert_int_equal(kw_kt_dir_pending(d), 4);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b1, &n), KW_OK);
    assert_int_equal(n, 4);
    pl_expect_entry(b1, 0, 3, 1);
    pl_expect_entry(b1, 1, 3, 2);
    pl_expect_entry(b1, 2, 4, 1);
    pl_expect_entry(b1, 3, 5, 1);
    pl_index_commit(d, &b1, ts++);
    pl_verify_all(d, cnt);

    /* The younger aborted while the older is open: back to the front. */
    pl_update(d, 6, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b1, &n), KW_OK); /* 6 v1 */
    pl_update(d, 6, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b2, &n), KW_OK); /* 6 v2 */
    pl_update(d, 7, cnt);
    kw_kt_dir_batch_abort(d, &b2);
    assert_null(b2);
    kw_kt_dir_batch_abort(d, &b2); /* NULL: no-op */
    pl_index_commit(d, &b1, ts++);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b1, &n), KW_OK);
    assert_int_equal(n, 2);
    pl_expect_entry(b1, 0, 6, 2);
    pl_expect_entry(b1, 1, 7, 1);
    pl_index_commit(d, &b1, ts++);
    pl_verify_all(d, cnt);

    /* The older aborted while the younger is open. */
    pl_update(d, 8, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b1, &n), KW_OK); /* 8 v1 */
    pl_update(d, 8, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b2, &n), KW_OK); /* 8 v2 */
    kw_kt_dir_batch_abort(d, &b1);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b3, &n), KW_ERR_INVALID_ARG);
    kw_kt_dir_batch_abort(d, &b2);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b1, &n), KW_OK);
    assert_int_equal(n, 2);
    pl_expect_entry(b1, 0, 8, 1);
    pl_expect_entry(b1, 1, 8, 2);
    pl_index_commit(d, &b1, ts++);
    pl_verify_all(d, cnt);
    /* kw_kt_dir_publish refuses to run beside an open batch; freeing the
     * directory frees a batch left open (no leak under ASan). */
    pl_update(d, 9, cnt);
    assert_int_equal(kw_kt_dir_batch_begin(d, 0, &b1, &n), KW_OK);
    assert_int_equal(kw_kt_dir_publish(d, ts++, &h), KW_ERR_INVALID_ARG);
    kw_kt_dir_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_lookup_every_version),
        cmocka_unit_test(test_monitor),
        cmocka_unit_test(test_monitor_paging),
        cmocka_unit_test(test_search_every_byte_flipped),
        cmocka_unit_test(test_lookup_and_monitor_flips),
        cmocka_unit_test(test_wrong_label_key_and_head),
        cmocka_unit_test(test_rollback_and_fork),
        cmocka_unit_test(test_not_latest_and_present_absent),
        cmocka_unit_test(test_spliced_epoch_and_value),
        cmocka_unit_test(test_consistency),
        cmocka_unit_test(test_promises),
        cmocka_unit_test(test_batches_without_proofs),
        cmocka_unit_test(test_absent_label_and_size),
        cmocka_unit_test(test_heads_and_errors),
        cmocka_unit_test(test_pipeline_and_background_proofs),
        cmocka_unit_test(test_two_open_batches),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
