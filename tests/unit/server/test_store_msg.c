/* The message domain of the store (server/store/msg.h) on SQLite: put into
 * several mailboxes in one transaction, fetch in order with item and byte
 * limits, acknowledge (per device; the envelope's bytes go when the last
 * mailbox acknowledged it, its id stays and a duplicate is refused), the
 * prekeys (current/previous, ids must grow), argument limits, many
 * concurrent puts and acks sharing commits (group commit) with every one
 * stored exactly once, everything still there after the store is reopened,
 * and expiry of acknowledged ids. The session watch (the session cache's
 * invalidation): fires on a session revoked or a device's sessions revoked,
 * not on inserts, device touches or mailbox writes, and no more once
 * unwatched; unsupported on PostgreSQL (other nodes write there).
 * Checked sends from many threads at once, honest and refused ones mixed
 * in the same batches (the batch shares its account and device lookups):
 * each gets its own answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "store/msg.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char uri[128];
    kw_store *st;
    uint8_t dev[3][16];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || kw_init() != KW_OK)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/kwmsg.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->uri, sizeof(f->uri), "%s/store.db", f->dir);
    if (kw_store_open(f->uri, &f->st) != KW_OK)
        return -1;
    for (int i = 0; i < 3; i++)
        memset(f->dev[i], 0xd0 + i, 16);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    kw_store_close(&f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void msg_id(uint8_t id[16], unsigned n)
{
    memset(id, 0, 16);
    memcpy(id, "msgid", 5);
    id[12] = (uint8_t)(n >> 24);
    id[13] = (uint8_t)(n >> 16);
    id[14] = (uint8_t)(n >> 8);
    id[15] = (uint8_t)n;
}

static void put(fixture *f, unsigned n, size_t ndev, size_t len, int expect)
{
    uint8_t id[16], *env = malloc(len);
    assert_non_null(env);
    msg_id(id, n);
    memset(env, (int)(n & 0xff), len);
    assert_int_equal(kw_store_msg_put(f->st, id, 1, env, len, (const uint8_t(*)[16])f->dev, ndev, 1000),
                     expect);
    free(env);
}

static void test_put_fetch_ack(void **state)
{
    fixture *f = *state;
    kw_store_msg_item *items = NULL;
    size_t n = 0, removed = 0;
    bool more = true;
    for (unsigned i = 0; i < 5; i++)
        put(f, i, 3, 100 + i, KW_OK);
    /* duplicate id refused, nothing half-written */
    put(f, 2, 3, 10, KW_ERR_CONFLICT);
    int64_t count = 0;
    assert_int_equal(kw_store_msg_count(f->st, f->dev[0], &count), KW_OK);
    assert_int_equal(count, 5);
    /* in order, with the item limit */
    assert_int_equal(kw_store_msg_fetch(f->st, f->dev[1], 0, 3, 1 << 20, &items, &n, &more), KW_OK);
    assert_int_equal(n, 3);
    assert_true(more);
    for (unsigned i = 0; i < 3; i++) {
        uint8_t id[16];
        msg_id(id, i);
        assert_memory_equal(items[i].msg_id, id, 16);
        assert_int_equal(items[i].len, 100 + i);
        assert_int_equal(items[i].envelope[0], i);
        if (i > 0)
            assert_true(items[i].seq > items[i - 1].seq);
    }
    int64_t after = items[2].seq;
    kw_store_msg_items_free(&items, n);
    assert_int_equal(kw_store_msg_fetch(f->st, f->dev[1], after, 10, 1 << 20, &items, &n, &more), KW_OK);
    assert_int_equal(n, 2);
    assert_false(more);
    kw_store_msg_items_free(&items, n);
    /* the byte limit: at least one entry, then stop */
    assert_int_equal(kw_store_msg_fetch(f->st, f->dev[1], 0, 10, 150, &items, &n, &more), KW_OK);
    assert_int_equal(n, 1);
    assert_true(more);
    kw_store_msg_items_free(&items, n);

    /* acks are per device */
    uint8_t ids[2][16];
    msg_id(ids[0], 0);
    msg_id(ids[1], 1);
    assert_int_equal(kw_store_msg_ack(f->st, f->dev[0], (const uint8_t(*)[16])ids, 2, &removed), KW_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(kw_store_msg_ack(f->st, f->dev[0], (const uint8_t(*)[16])ids, 2, &removed), KW_OK);
    assert_int_equal(removed, 0); /* already gone */
    assert_int_equal(kw_store_msg_count(f->st, f->dev[0], &count), KW_OK);
    assert_int_equal(count, 3);
    assert_int_equal(kw_store_msg_count(f->st, f->dev[1], &count), KW_OK);
    assert_int_equal(count, 5);
    /* acknowledged everywhere: the id still refuses a duplicate */
    assert_int_equal(kw_store_msg_ack(f->st, f->dev[1], (const uint8_t(*)[16])ids, 1, &removed), KW_OK);
    assert_int_equal(kw_store_msg_ack(f->st, f->dev[2], (const uint8_t(*)[16])ids, 1, &removed), KW_OK);
    put(f, 0, 3, 10, KW_ERR_CONFLICT);
    /* expiry forgets only fully acknowledged ids older than the cut */
    size_t gone = 0;
    assert_int_equal(kw_store_msg_expire(f->st, 1001, &gone), KW_OK);
    assert_int_equal(gone, 1);
    put(f, 0, 1, 10, KW_OK);

    /* survives reopening */
    kw_store_close(&f->st);
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
    assert_int_equal(kw_store_msg_count(f->st, f->dev[1], &count), KW_OK);
    assert_int_equal(count, 4); /* 5, less message 0 */
    assert_int_equal(kw_store_msg_count(f->st, f->dev[0], &count), KW_OK);
    assert_int_equal(count, 4); /* 3, plus message 0 again */
}

static void test_limits(void **state)
{
    fixture *f = *state;
    uint8_t id[16] = {1}, env[4] = {0}, dup[2][16];
    kw_store_msg_item *items = NULL;
    size_t n = 0;
    bool more = false;
    memset(dup, 7, sizeof(dup));
    assert_int_equal(kw_store_msg_put(f->st, id, 1, env, 0, (const uint8_t(*)[16])f->dev, 1, 0),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_msg_put(f->st, id, 1, env, 4, (const uint8_t(*)[16])f->dev, 0, 0),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_msg_put(f->st, id, 1, env, 4, (const uint8_t(*)[16])dup, 2, 0),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_msg_put(f->st, id, 1, env, KW_STORE_MSG_ENVELOPE_MAX + 1,
                                      (const uint8_t(*)[16])f->dev, 1, 0),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_msg_put(f->st, id, 1, env, 4, (const uint8_t(*)[16])f->dev,
                                      KW_STORE_MSG_DEVICES_MAX + 1, 0),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_msg_ack(f->st, f->dev[0], (const uint8_t(*)[16])dup,
                                      KW_STORE_MSG_ACK_MAX + 1, NULL),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_msg_fetch(f->st, f->dev[0], -1, 1, 1, &items, &n, &more), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_msg_fetch(f->st, f->dev[0], 0, 10, 1000, &items, &n, &more), KW_OK);
    assert_int_equal(n, 0);
    assert_null(items);
}

static void test_prekeys(void **state)
{
    fixture *f = *state;
    kw_store_msg_prekeys pk;
    uint8_t a[128], b[128];
    memset(a, 0xaa, sizeof(a));
    memset(b, 0xbb, sizeof(b));
    assert_int_equal(kw_store_msg_prekey_get(f->st, f->dev[0], &pk), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_msg_prekey_put(f->st, f->dev[0], 1, a, sizeof(a), 5), KW_OK);
    assert_int_equal(kw_store_msg_prekey_get(f->st, f->dev[0], &pk), KW_OK);
    assert_int_equal(pk.cur_id, 1);
    assert_null(pk.prev);
    kw_store_msg_prekeys_clear(&pk);
    assert_int_equal(kw_store_msg_prekey_put(f->st, f->dev[0], 1, b, sizeof(b), 6), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_msg_prekey_put(f->st, f->dev[0], 2, b, sizeof(b), 6), KW_OK);
    assert_int_equal(kw_store_msg_prekey_get(f->st, f->dev[0], &pk), KW_OK);
    assert_int_equal(pk.cur_id, 2);
    assert_int_equal(pk.prev_id, 1);
    assert_memory_equal(pk.cur, b, sizeof(b));
    assert_memory_equal(pk.prev, a, sizeof(a));
    assert_int_equal(pk.updated_at, 6);
    kw_store_msg_prekeys_clear(&pk);
    assert_int_equal(kw_store_msg_prekey_put(f->st, f->dev[0], 3, a, KW_STORE_MSG_PREKEY_MAX + 1, 7),
                     KW_ERR_TOO_LARGE);
}

#define THREADS 16
#define PER_THREAD 40

typedef struct {
    fixture *f;
    int t;
    int errors;
} worker;

static void *put_worker(void *arg)
{
    worker *w = arg;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        uint8_t id[16], env[64];
        msg_id(id, 100000u + (unsigned)w->t * 1000u + i);
        memset(env, w->t, sizeof(env));
        if (kw_store_msg_put(w->f->st, id, 1, env, sizeof(env), (const uint8_t(*)[16])w->f->dev, 2, 1) !=
            KW_OK)
            w->errors++;
        /* every other put, a duplicate of the previous id from this thread */
        if (i > 0 && i % 2 == 0) {
            msg_id(id, 100000u + (unsigned)w->t * 1000u + i - 1);
            if (kw_store_msg_put(w->f->st, id, 1, env, sizeof(env), (const uint8_t(*)[16])w->f->dev, 2, 1) !=
                KW_ERR_CONFLICT)
                w->errors++;
        }
        if (i % 4 == 3) { /* device 0 acknowledges what this thread put so far */
            uint8_t ids[4][16];
            size_t removed = 0;
            for (unsigned k = 0; k < 4; k++)
                msg_id(ids[k], 100000u + (unsigned)w->t * 1000u + i - 3 + k);
            if (kw_store_msg_ack(w->f->st, w->f->dev[0], (const uint8_t(*)[16])ids, 4, &removed) != KW_OK ||
                removed != 4)
                w->errors++;
        }
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    fixture *f = *state;
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.f = f, .t = i};
        pthread_create(&th[i], NULL, put_worker, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].errors, 0);
    }
    int64_t c0 = -1, c1 = -1;
    assert_int_equal(kw_store_msg_count(f->st, f->dev[0], &c0), KW_OK);
    assert_int_equal(kw_store_msg_count(f->st, f->dev[1], &c1), KW_OK);
    assert_int_equal(c0, 0);
    assert_int_equal(c1, THREADS * PER_THREAD);
    /* each exactly once, in an order consistent with seq */
    kw_store_msg_item *items = NULL;
    size_t n = 0, total = 0;
    bool more = true;
    int64_t after = 0;
    while (more) {
        assert_int_equal(kw_store_msg_fetch(f->st, f->dev[1], after, 256, 1 << 20, &items, &n, &more), KW_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(items[i].seq > after);
            after = items[i].seq;
        }
        total += n;
        kw_store_msg_items_free(&items, n);
    }
    assert_int_equal(total, THREADS * PER_THREAD);
}

/* ---- checked sends, mixed in shared batches ---- */

typedef struct {
    fixture *f;
    int t;
    int errors;
    int64_t alice;
    uint8_t a1[16], b1[16], b2_pending[16], unknown[16];
} send_worker;

static void new_account(fixture *f, const char *name, uint8_t dev_id[16], uint8_t tag, int64_t *acct)
{
    kw_store_device d;
    memset(&d, 0, sizeof(d));
    memcpy(d.id, dev_id, 16);
    memset(d.identity_pk, tag, 32);
    memset(d.hpke_pk, tag + 1, 32);
    snprintf(d.name, sizeof(d.name), "%s-1", name);
    d.created_at = d.last_seen_at = 100;
    uint8_t sh[32];
    memset(sh, tag + 2, 32);
    static const uint8_t blob[] = "blob";
    uint8_t apk[32];
    memset(apk, tag + 3, 32);
    kw_store_new_account na = {.name = name, .opaque_record = blob, .opaque_record_len = sizeof(blob),
                               .account_pk = apk, .device = &d, .roster = blob, .roster_len = sizeof(blob),
                               .keychain = blob, .keychain_len = sizeof(blob), .device_wrap = blob,
                               .device_wrap_len = sizeof(blob), .session_hash = sh,
                               .session_expires_at = 999999};
    assert_int_equal(kw_store_account_create(f->st, &na, acct), KW_OK);
}

static void *send_worker_run(void *arg)
{
    send_worker *w = arg;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        uint8_t id[16], env[80], devs[2][16];
        msg_id(id, 500000u + (unsigned)w->t * 1000u + i);
        memset(env, (int)i, sizeof(env));
        int kind = (int)((i + (unsigned)w->t) % 5);
        kw_store_msg_send m = {.msg_id = id, .sender_account = w->alice, .sender_name = "alice",
                               .sender_device = w->a1, .recipient_name = "bob", .env = env,
                               .len = sizeof(env), .devices = (const uint8_t(*)[16])devs, .ndevices = 1,
                               .now = 1000};
        int want = KW_OK, want_refusal = KW_STORE_MSG_REFUSED_NONE;
        memcpy(devs[0], w->b1, 16);
        switch (kind) {
        case 1:
            m.sender_name = "mallory";
            want = KW_ERR_VERIFY;
            want_refusal = KW_STORE_MSG_REFUSED_SENDER;
            break;
        case 2:
            m.recipient_name = "nobody";
            want = KW_ERR_NOT_FOUND;
            want_refusal = KW_STORE_MSG_REFUSED_RECIPIENT;
            break;
        case 3:
            memcpy(devs[1], w->b2_pending, 16);
            m.ndevices = 2;
            want = KW_ERR_CONFLICT;
            want_refusal = KW_STORE_MSG_REFUSED_UNTRUSTED;
            break;
        case 4:
            memcpy(devs[1], w->unknown, 16);
            m.ndevices = 2;
            want = KW_ERR_NOT_FOUND;
            want_refusal = KW_STORE_MSG_REFUSED_DEVICE;
            break;
        default:
            break;
        }
        int r = kw_store_msg_send_checked(w->f->st, &m);
        if (r != want || m.refusal != want_refusal || (kind >= 3 && m.device_index != 1))
            w->errors++;
    }
    return NULL;
}

static void test_checked_sends_mixed(void **state)
{
    fixture *f = *state;
    int64_t alice = 0, bob = 0;
    uint8_t a1[16], b1[16], b2[16], unknown[16];
    memset(a1, 0xa1, 16);
    memset(b1, 0xb1, 16);
    memset(b2, 0xb2, 16);
    memset(unknown, 0xee, 16);
    new_account(f, "alice", a1, 0x10, &alice);
    new_account(f, "bob", b1, 0x20, &bob);
    kw_store_device d;
    memset(&d, 0, sizeof(d));
    memcpy(d.id, b2, 16);
    d.account_id = bob;
    memset(d.identity_pk, 0x30, 32);
    memset(d.hpke_pk, 0x31, 32);
    snprintf(d.name, sizeof(d.name), "bob-2");
    d.created_at = d.last_seen_at = 100;
    assert_int_equal(kw_store_device_add(f->st, &d), KW_OK); /* PENDING */
    pthread_t th[THREADS];
    send_worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (send_worker){.f = f, .t = i, .alice = alice};
        memcpy(w[i].a1, a1, 16);
        memcpy(w[i].b1, b1, 16);
        memcpy(w[i].b2_pending, b2, 16);
        memcpy(w[i].unknown, unknown, 16);
        pthread_create(&th[i], NULL, send_worker_run, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].errors, 0);
    }
    /* exactly the honest ones (kind 0: one in five) reached B1; none B2 */
    int64_t c = -1;
    assert_int_equal(kw_store_msg_count(f->st, b1, &c), KW_OK);
    assert_int_equal(c, THREADS * PER_THREAD / 5);
    assert_int_equal(kw_store_msg_count(f->st, b2, &c), KW_OK);
    assert_int_equal(c, 0);
}

static int watch_calls;

static void watch_cb(void *arg)
{
    int *n = arg;
    (*n)++;
}

static bool on_postgres(void)
{
    const char *u = getenv("KEYWARD_TEST_STORE_URI");
    return u != NULL && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0);
}

static void test_auth_watch(void **state)
{
    fixture *f = *state;
    if (on_postgres()) {
        assert_int_equal(kw_store_msg_auth_watch(f->st, watch_cb, &watch_calls), KW_ERR_UNSUPPORTED);
        return;
    }
    kw_store_device d;
    memset(&d, 0, sizeof(d));
    memcpy(d.id, f->dev[0], 16);
    memset(d.identity_pk, 0x11, 32);
    memset(d.hpke_pk, 0x22, 32);
    snprintf(d.name, sizeof(d.name), "watched");
    d.created_at = d.last_seen_at = 100;
    uint8_t sh1[32], sh2[32], sh3[32];
    memset(sh1, 0x31, 32);
    memset(sh2, 0x32, 32);
    memset(sh3, 0x33, 32);
    static const uint8_t blob[] = "blob";
    uint8_t apk[32] = {7};
    kw_store_new_account na = {.name = "watcher", .opaque_record = blob, .opaque_record_len = sizeof(blob),
                               .account_pk = apk, .device = &d, .roster = blob, .roster_len = sizeof(blob),
                               .keychain = blob, .keychain_len = sizeof(blob), .device_wrap = blob,
                               .device_wrap_len = sizeof(blob), .session_hash = sh1,
                               .session_expires_at = 999999};
    int64_t acct = 0;
    assert_int_equal(kw_store_account_create(f->st, &na, &acct), KW_OK);
    watch_calls = 0;
    assert_int_equal(kw_store_msg_auth_watch(f->st, watch_cb, &watch_calls), KW_OK);
    /* not: a new session, a device touch, mailbox writes */
    kw_store_session s2 = {.account_id = acct, .created_at = 100, .expires_at = 999999};
    memcpy(s2.hash, sh2, 32);
    memcpy(s2.device_id, d.id, 16);
    assert_int_equal(kw_store_session_add(f->st, &s2), KW_OK);
    kw_store_device_touch(f->st, d.id, 5000);
    put(f, 1, 2, 100, KW_OK);
    uint8_t id[16];
    msg_id(id, 1);
    size_t removed = 0;
    assert_int_equal(kw_store_msg_ack(f->st, f->dev[0], (const uint8_t(*)[16])id, 1, &removed), KW_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(watch_calls, 0);
    /* a session revoked: before the call returns (inside its commit) */
    assert_int_equal(kw_store_session_revoke(f->st, acct, sh1), KW_OK);
    assert_true(watch_calls >= 1);
    int before = watch_calls;
    /* every session of the device revoked */
    assert_int_equal(kw_store_session_revoke_device(f->st, d.id), KW_OK);
    assert_true(watch_calls > before);
    /* unwatched: nothing more, and a second unwatch is harmless */
    assert_int_equal(kw_store_msg_auth_watch(f->st, NULL, NULL), KW_OK);
    assert_int_equal(kw_store_msg_auth_watch(f->st, NULL, NULL), KW_OK);
    before = watch_calls;
    kw_store_session s3 = s2;
    memcpy(s3.hash, sh3, 32);
    assert_int_equal(kw_store_session_add(f->st, &s3), KW_OK);
    assert_int_equal(kw_store_session_revoke(f->st, acct, sh3), KW_OK);
    assert_int_equal(watch_calls, before);
    /* watched again after a reopen: the triggers live with the connection */
    assert_int_equal(kw_store_msg_auth_watch(f->st, watch_cb, &watch_calls), KW_OK);
    kw_store_close(&f->st);
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
    kw_store_session s4 = s2;
    memset(s4.hash, 0x34, 32);
    assert_int_equal(kw_store_session_add(f->st, &s4), KW_OK);
    assert_int_equal(kw_store_session_revoke(f->st, acct, s4.hash), KW_OK);
    assert_int_equal(watch_calls, before); /* a fresh connection has no watch */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_fetch_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prekeys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checked_sends_mixed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
