/* Unit tests for the auditor (kt.h): an honest history of epochs (with
 * heartbeats) replays to the directory's heads; a history in which one old
 * leaf was changed, removed or inserted twice fails and names the epoch;
 * heads signed by another key, with a wrong log root or going back in time
 * fail; lists out of order are reported without failing the auditor;
 * malformed lists give the specific format error; replay resumes from
 * saved state, and a tampered state is refused. */
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

#define NEPOCHS 24

static uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES], vrf_sk[KW_VRF_SECRETKEYBYTES];
static uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES], other_pk[KW_SIGN_PUBLICKEYBYTES];
static kw_sign_key *log_key, *other_key;
static kw_kt_dir *dir;
static uint8_t *lists[NEPOCHS];
static size_t list_len[NEPOCHS];
static kw_kt_head heads[NEPOCHS];

static int group_setup(void **state)
{
    (void)state;
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen;
    if (kw_init() != KW_OK)
        return -1;
    kw_vrf_keypair(vrf_pk, vrf_sk);
    if (kw_sign_key_new(&log_key) != KW_OK || kw_sign_key_new(&other_key) != KW_OK)
        return -1;
    kw_sign_key_public(log_key, log_pk);
    kw_sign_key_public(other_key, other_pk);
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = log_key, .max_merge_delay = 1};
    if (kw_kt_dir_new(&dir, &cfg) != KW_OK)
        return -1;
    for (int e = 0; e < NEPOCHS; e++) {
        int n = (e % 7 == 2) ? 0 : 1 + (int)randombytes_uniform(12);
        for (int k = 0; k < n; k++) {
            uint8_t label[8], value[16];
            label[0] = 'L';
            randombytes_buf(label + 1, 2); /* some labels get several versions */
            randombytes_buf(value, sizeof(value));
            if (kw_kt_dir_update(dir, label, 3, value, sizeof(value), promise, sizeof(promise),
                                 &plen) != KW_OK)
                return -1;
        }
        kw_kt_batch *b;
        size_t bn;
        if (kw_kt_dir_batch_begin(dir, 0, &b, &bn) != KW_OK || kw_kt_batch_index(b, 0, bn) != KW_OK ||
            kw_kt_dir_batch_commit(dir, &b, 100 + (uint64_t)e, &heads[e]) != KW_OK)
            return -1;
        kw_buf *out = kw_buf_new(KW_KT_INSERTIONS_MAXBYTES);
        if (out == NULL || kw_kt_dir_insertions(dir, (uint64_t)e, out) != KW_OK)
            return -1;
        list_len[e] = kw_buf_len(out);
        lists[e] = malloc(list_len[e] + 64);
        if (lists[e] == NULL)
            return -1;
        memcpy(lists[e], kw_buf_ptr(out), list_len[e]);
        kw_buf_free(&out);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int e = 0; e < NEPOCHS; e++)
        free(lists[e]);
    kw_kt_dir_free(&dir);
    kw_sign_key_free(&log_key);
    kw_sign_key_free(&other_key);
    return 0;
}

/* Feeds lists [from, to) (with `tamper` applied to a copy of epoch te) and
 * returns the first failure's code, reason and epoch. */
static int replay(kw_kt_auditor *a, int from, int to, int te,
                  size_t (*tamper)(uint8_t *l, size_t n), kw_kt_reason *why, uint64_t *fe)
{
    for (int e = from; e < to; e++) {
        uint8_t *l = lists[e];
        size_t n = list_len[e];
        uint8_t *copy = NULL;
        if (e == te && tamper != NULL) {
            copy = malloc(n + 64);
            assert_non_null(copy);
            memcpy(copy, l, n);
            n = tamper(copy, n);
            l = copy;
        }
        int r = kw_kt_auditor_feed(a, why, fe, l, n);
        free(copy);
        if (r != KW_OK)
            return r;
        assert_int_equal(*why, KW_KT_OK);
    }
    return KW_OK;
}

#define ENTRIES_AT (1 + KW_KT_HEADBYTES + 32 + 4)

static size_t change_leaf(uint8_t *l, size_t n)
{
    assert_true(n >= ENTRIES_AT + 64);
    l[ENTRIES_AT + 40] ^= 1; /* the first entry's commitment */
    return n;
}

static size_t remove_leaf(uint8_t *l, size_t n)
{
    uint32_t count = ((uint32_t)l[ENTRIES_AT - 2] << 8) | l[ENTRIES_AT - 1];
    assert_true(count >= 1);
    count--;
    l[ENTRIES_AT - 2] = (uint8_t)(count >> 8);
    l[ENTRIES_AT - 1] = (uint8_t)count;
    return n - 64;
}

/* Re-inserts epoch 1's first index (with another commitment): a leaf
 * replaced. */
static size_t duplicate_leaf(uint8_t *l, size_t n)
{
    uint32_t count = ((uint32_t)l[ENTRIES_AT - 2] << 8) | l[ENTRIES_AT - 1];
    count++;
    l[ENTRIES_AT - 2] = (uint8_t)(count >> 8);
    l[ENTRIES_AT - 1] = (uint8_t)count;
    memcpy(l + n, lists[1] + ENTRIES_AT, 32);
    memset(l + n + 32, 0x5a, 32);
    return n + 64;
}

static void test_honest_replay(void **state)
{
    (void)state;
    kw_kt_auditor *a = NULL;
    kw_kt_reason why;
    uint64_t fe;
    kw_kt_head h;
    assert_int_equal(kw_kt_auditor_new(&a, log_pk, NULL), KW_OK);
    assert_int_equal(kw_kt_auditor_head(a, &h), KW_ERR_NOT_FOUND);
    assert_int_equal(replay(a, 0, NEPOCHS, -1, NULL, &why, &fe), KW_OK);
    assert_int_equal(kw_kt_auditor_epochs(a), NEPOCHS);
    assert_int_equal(kw_kt_auditor_head(a, &h), KW_OK);
    assert_memory_equal(&h, &heads[NEPOCHS - 1], sizeof(h));
    /* Feeding an epoch again is out of order, and harmless. */
    assert_int_equal(kw_kt_auditor_feed(a, &why, &fe, lists[3], list_len[3]), KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_AUDIT_OUT_OF_ORDER);
    assert_int_equal(fe, NEPOCHS);
    kw_kt_auditor_free(&a);
    kw_kt_auditor_free(&a);
}

static void expect_failure(size_t (*tamper)(uint8_t *, size_t), int te, kw_kt_reason want)
{
    kw_kt_auditor *a = NULL;
    kw_kt_reason why;
    uint64_t fe;
    assert_int_equal(kw_kt_auditor_new(&a, log_pk, NULL), KW_OK);
    assert_int_equal(replay(a, 0, NEPOCHS, te, tamper, &why, &fe), KW_ERR_VERIFY);
    assert_int_equal(why, want);
    assert_int_equal(fe, (uint64_t)te);
    assert_int_equal(kw_kt_auditor_epochs(a), (uint64_t)te);
    /* The verdict sticks. */
    assert_int_equal(kw_kt_auditor_feed(a, &why, &fe, lists[te + 1], list_len[te + 1]),
                     KW_ERR_VERIFY);
    assert_int_equal(why, want);
    assert_int_equal(fe, (uint64_t)te);
    uint8_t st[KW_KT_AUDIT_STATEBYTES];
    size_t sl;
    assert_int_equal(kw_kt_auditor_save(a, st, sizeof(st), &sl), KW_ERR_INVALID_ARG);
    kw_kt_auditor_free(&a);
}

static int epoch_with_entries(int min_epoch)
{
    for (int e = min_epoch; e < NEPOCHS - 1; e++)
        if (list_len[e] > ENTRIES_AT)
            return e;
    fail_msg("no epoch with entries");
    return -1;
}

static void test_changed_leaf(void **state)
{
    (void)state;
    expect_failure(change_leaf, epoch_with_entries(5), KW_KT_AUDIT_PREFIX_MISMATCH);
    expect_failure(change_leaf, epoch_with_entries(0), KW_KT_AUDIT_PREFIX_MISMATCH);
}

static void test_removed_leaf(void **state)
{
    (void)state;
    expect_failure(remove_leaf, epoch_with_entries(9), KW_KT_AUDIT_PREFIX_MISMATCH);
}

static void test_duplicate_leaf(void **state)
{
    (void)state;
    expect_failure(duplicate_leaf, epoch_with_entries(6), KW_KT_AUDIT_DUPLICATE_INDEX);
}

/* Fault hooks on the head of a list: re-signed by another key; a wrong
 * log root (signed by the real key); time going backwards; a prefix root
 * before that does not match the replay. */
static kw_kt_head edit_head(uint8_t *l)
{
    kw_kt_head h;
    assert_int_equal(kw_kt_head_decode(&h, l + 1, KW_KT_HEADBYTES), KW_OK);
    return h;
}

static size_t other_signer(uint8_t *l, size_t n)
{
    kw_kt_head h = edit_head(l);
    assert_int_equal(kw_kt_head_sign(&h, other_key), KW_OK);
    kw_kt_head_encode(l + 1, &h);
    return n;
}

static size_t wrong_log_root(uint8_t *l, size_t n)
{
    kw_kt_head h = edit_head(l);
    h.log_root[7] ^= 2;
    assert_int_equal(kw_kt_head_sign(&h, log_key), KW_OK);
    kw_kt_head_encode(l + 1, &h);
    return n;
}

static size_t time_back(uint8_t *l, size_t n)
{
    kw_kt_head h = edit_head(l);
    h.timestamp = 1;
    assert_int_equal(kw_kt_head_sign(&h, log_key), KW_OK);
    kw_kt_head_encode(l + 1, &h);
    return n;
}

static size_t wrong_before(uint8_t *l, size_t n)
{
    l[1 + KW_KT_HEADBYTES + 3] ^= 1;
    return n;
}

static void test_bad_heads(void **state)
{
    (void)state;
    expect_failure(other_signer, 4, KW_KT_BAD_HEAD_SIGNATURE);
    expect_failure(wrong_log_root, 7, KW_KT_AUDIT_LOG_MISMATCH);
    expect_failure(time_back, 8, KW_KT_HEAD_ROLLBACK);
    expect_failure(wrong_before, 10, KW_KT_AUDIT_PREFIX_MISMATCH);
    /* Another pinned log key: the first epoch already fails. */
    kw_kt_auditor *a = NULL;
    kw_kt_reason why;
    uint64_t fe;
    assert_int_equal(kw_kt_auditor_new(&a, other_pk, NULL), KW_OK);
    assert_int_equal(kw_kt_auditor_feed(a, &why, &fe, lists[0], list_len[0]), KW_ERR_VERIFY);
    assert_int_equal(why, KW_KT_BAD_HEAD_SIGNATURE);
    assert_int_equal(fe, 0);
    kw_kt_auditor_free(&a);
}

static void test_malformed_lists(void **state)
{
    (void)state;
    kw_kt_auditor *a = NULL;
    kw_kt_reason why;
    uint64_t fe;
    int e = epoch_with_entries(0);
    assert_int_equal(kw_kt_auditor_new(&a, log_pk, NULL), KW_OK);
    assert_int_equal(replay(a, 0, e, -1, NULL, &why, &fe), KW_OK);
    uint8_t *l = lists[e];
    size_t n = list_len[e];
    for (size_t k = 0; k < n; k += 5) {
        int r = kw_kt_auditor_feed(a, &why, &fe, l, k);
        assert_int_equal(r, KW_ERR_TRUNCATED);
        assert_int_equal(why, KW_KT_MALFORMED);
    }
    l[n] = 0;
    assert_int_equal(kw_kt_auditor_feed(a, &why, &fe, l, n + 1), KW_ERR_FORMAT);
    l[0] ^= 7;
    assert_int_equal(kw_kt_auditor_feed(a, &why, &fe, l, n), KW_ERR_FORMAT);
    l[0] ^= 7;
    uint8_t save = l[ENTRIES_AT - 4];
    l[ENTRIES_AT - 4] = 0xff; /* count over the maximum */
    assert_int_equal(kw_kt_auditor_feed(a, &why, &fe, l, n), KW_ERR_TOO_LARGE);
    l[ENTRIES_AT - 4] = save;
    assert_int_equal(kw_kt_auditor_feed(a, &why, &fe, NULL, 0), KW_ERR_INVALID_ARG);
    /* None of that failed the auditor. */
    assert_int_equal(replay(a, e, NEPOCHS, -1, NULL, &why, &fe), KW_OK);
    kw_kt_auditor_free(&a);
}

static void test_resume(void **state)
{
    (void)state;
    kw_prefix_memstore *ms = NULL;
    kw_prefix_store st;
    kw_kt_auditor *a = NULL, *b = NULL;
    kw_kt_reason why;
    uint64_t fe;
    uint8_t state_buf[KW_KT_AUDIT_STATEBYTES];
    size_t sl;
    assert_int_equal(kw_prefix_memstore_new(&ms), KW_OK);
    kw_prefix_memstore_store(ms, &st);
    /* Resuming at epoch 0 (nothing verified yet) works too. */
    assert_int_equal(kw_kt_auditor_new(&a, log_pk, &st), KW_OK);
    assert_int_equal(kw_kt_auditor_save(a, state_buf, sizeof(state_buf), &sl), KW_OK);
    kw_kt_auditor_free(&a);
    assert_int_equal(kw_kt_auditor_resume(&a, log_pk, &st, state_buf, sl), KW_OK);
    assert_int_equal(replay(a, 0, NEPOCHS / 2 + 1, -1, NULL, &why, &fe), KW_OK);
    assert_int_equal(kw_kt_auditor_save(a, state_buf, 10, &sl), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_kt_auditor_save(a, state_buf, sizeof(state_buf), &sl), KW_OK);
    kw_kt_auditor_free(&a);
    /* Tampered states. */
    for (size_t i = 0; i < sl; i += 3) {
        state_buf[i] ^= 0x20;
        int r = kw_kt_auditor_resume(&b, log_pk, &st, state_buf, sl);
        assert_int_not_equal(r, KW_OK);
        assert_null(b);
        state_buf[i] ^= 0x20;
    }
    assert_int_equal(kw_kt_auditor_resume(&b, log_pk, &st, state_buf, sl - 1), KW_ERR_TRUNCATED);
    assert_int_equal(kw_kt_auditor_resume(&b, log_pk, &st, state_buf, 5), KW_ERR_TRUNCATED);
    assert_int_equal(kw_kt_auditor_resume(&b, other_pk, &st, state_buf, sl), KW_ERR_VERIFY);
    assert_int_equal(kw_kt_auditor_resume(&b, log_pk, NULL, state_buf, sl), KW_ERR_INVALID_ARG);
    /* A store without the tree of the saved epoch. */
    kw_prefix_memstore *empty = NULL;
    kw_prefix_store est;
    assert_int_equal(kw_prefix_memstore_new(&empty), KW_OK);
    kw_prefix_memstore_store(empty, &est);
    assert_int_equal(kw_kt_auditor_resume(&b, log_pk, &est, state_buf, sl), KW_ERR_NOT_FOUND);
    kw_prefix_memstore_free(&empty);
    /* The real resumption finishes the history. */
    assert_int_equal(kw_kt_auditor_resume(&b, log_pk, &st, state_buf, sl), KW_OK);
    assert_int_equal(kw_kt_auditor_epochs(b), NEPOCHS / 2 + 1);
    assert_int_equal(replay(b, NEPOCHS / 2 + 1, NEPOCHS, -1, NULL, &why, &fe), KW_OK);
    kw_kt_head h;
    assert_int_equal(kw_kt_auditor_head(b, &h), KW_OK);
    assert_memory_equal(&h, &heads[NEPOCHS - 1], sizeof(h));
    kw_kt_auditor_free(&b);
    kw_prefix_memstore_free(&ms);
}

/* The auditor's own tree is pruned as it goes: it keeps one epoch. */
static void test_memory_bounded(void **state)
{
    (void)state;
    kw_kt_auditor *a = NULL;
    kw_kt_reason why;
    uint64_t fe;
    kw_kt_dir_stats ds;
    assert_int_equal(kw_kt_auditor_new(&a, log_pk, NULL), KW_OK);
    assert_int_equal(replay(a, 0, NEPOCHS, -1, NULL, &why, &fe), KW_OK);
    kw_kt_dir_stats_get(dir, &ds);
    kw_prefix_memstore_stats as;
    kw_kt_auditor_tree_stats(a, &as);
    /* Both keep only the newest tree (responses prove against the newest
     * epoch): one root, no stale nodes, and the same nodes, since the tree
     * is a function of its leaves; at least one node per version. */
    assert_int_equal(ds.tree.roots, 1);
    assert_int_equal(ds.tree.stale, 0);
    assert_int_equal(as.roots, 1);
    assert_int_equal(as.stale, 0);
    assert_int_equal(as.nodes, ds.tree.nodes);
    assert_int_equal(as.node_bytes, ds.tree.node_bytes);
    assert_true(as.nodes >= ds.versions);
    kw_kt_auditor_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_replay),
        cmocka_unit_test(test_changed_leaf),
        cmocka_unit_test(test_removed_leaf),
        cmocka_unit_test(test_duplicate_leaf),
        cmocka_unit_test(test_bad_heads),
        cmocka_unit_test(test_malformed_lists),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_memory_bounded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
