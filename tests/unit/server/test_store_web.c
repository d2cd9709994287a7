/* The "web" domain of the store (server/store/web.h) on SQLite: web
 * sessions (duplicates refused, the FACTOR → ACTIVE upgrade single use and
 * refused when expired, revoked or another account's; listing only live
 * ACTIVE sessions; revoke by public id; expiry sweep), queued device
 * removals (foreign key to the account's device, idempotent put, delete),
 * argument checks, and durability across a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "store/store.h"
#include "store/web.h"

typedef struct {
    char dir[64];
    char path[128];
    kw_store *st;
    int64_t a, b; /* two accounts, devices tagged 1 and 2 */
} fixture;

static const uint8_t blob[] = "blob";
static const uint8_t apk[32] = {7};

static int64_t make_account(kw_store *st, const char *name, uint8_t tag)
{
    kw_store_device d;
    uint8_t sh[KW_STORE_HASH_BYTES];
    int64_t id = 0;
    memset(&d, 0, sizeof(d));
    memset(d.id, tag, sizeof(d.id));
    memset(d.identity_pk, tag, sizeof(d.identity_pk));
    memset(d.hpke_pk, tag, sizeof(d.hpke_pk));
    memset(sh, tag, sizeof(sh));
    snprintf(d.name, sizeof(d.name), "dev-%u", tag);
    kw_store_new_account na = {.name = name, .opaque_record = blob, .opaque_record_len = sizeof(blob),
                               .account_pk = apk, .device = &d, .roster = blob,
                               .roster_len = sizeof(blob), .keychain = blob,
                               .keychain_len = sizeof(blob), .device_wrap = blob,
                               .device_wrap_len = sizeof(blob), .session_hash = sh,
                               .session_expires_at = 999999};
    assert_int_equal(kw_store_account_create(st, &na, &id), KW_OK);
    return id;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(kw_init(), KW_OK);
    snprintf(f->dir, sizeof(f->dir), "/tmp/kw-web-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/w.db", f->dir);
    assert_int_equal(kw_store_open(f->path, &f->st), KW_OK);
    f->a = make_account(f->st, "alice", 1);
    f->b = make_account(f->st, "bob", 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    kw_store_close(&f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static kw_store_web_session mk(int64_t account, uint8_t tag, int state, int64_t created, int64_t ttl)
{
    kw_store_web_session s;
    memset(&s, 0, sizeof(s));
    memset(s.hash, tag, sizeof(s.hash));
    memset(s.id, tag ^ 0xa5, sizeof(s.id));
    s.account_id = account;
    s.state = state;
    s.created_at = created;
    s.expires_at = created + ttl;
    return s;
}

static void test_session_add_get(void **state)
{
    fixture *f = *state;
    kw_store_web_session s = mk(f->a, 1, KW_WEB_SESSION_ACTIVE, 100, 3600), out;
    assert_int_equal(kw_store_web_session_add(f->st, &s), KW_OK);
    assert_int_equal(kw_store_web_session_add(f->st, &s), KW_ERR_CONFLICT);
    kw_store_web_session same_id = mk(f->a, 9, KW_WEB_SESSION_ACTIVE, 100, 3600);
    memcpy(same_id.id, s.id, sizeof(s.id));
    assert_int_equal(kw_store_web_session_add(f->st, &same_id), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_web_session_get(f->st, s.hash, &out), KW_OK);
    assert_memory_equal(out.id, s.id, sizeof(s.id));
    assert_int_equal(out.account_id, f->a);
    assert_int_equal(out.state, KW_WEB_SESSION_ACTIVE);
    assert_int_equal(out.expires_at, 3700);
    assert_false(out.revoked);
    uint8_t other[KW_STORE_HASH_BYTES] = {0x77};
    assert_int_equal(kw_store_web_session_get(f->st, other, &out), KW_ERR_NOT_FOUND);
    kw_store_web_session ghost = mk(999, 3, KW_WEB_SESSION_ACTIVE, 100, 10);
    assert_int_equal(kw_store_web_session_add(f->st, &ghost), KW_ERR_NOT_FOUND);
}

static void test_session_args(void **state)
{
    fixture *f = *state;
    kw_store_web_session s = mk(f->a, 4, 7, 100, 10), out;
    assert_int_equal(kw_store_web_session_add(f->st, &s), KW_ERR_INVALID_ARG); /* bad state */
    s = mk(f->a, 4, KW_WEB_SESSION_ACTIVE, 100, 0);
    assert_int_equal(kw_store_web_session_add(f->st, &s), KW_ERR_INVALID_ARG); /* no lifetime */
    assert_int_equal(kw_store_web_session_add(f->st, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_web_session_get(f->st, NULL, &out), KW_ERR_INVALID_ARG);
    kw_store_web_session fac = mk(f->a, 5, KW_WEB_SESSION_FACTOR, 100, 10);
    /* an upgrade must produce an ACTIVE session */
    assert_int_equal(kw_store_web_session_upgrade(f->st, s.hash, 101, &fac), KW_ERR_INVALID_ARG);
}

static void test_upgrade_single_use(void **state)
{
    fixture *f = *state;
    kw_store_web_session fac = mk(f->a, 10, KW_WEB_SESSION_FACTOR, 1000, 300), out;
    kw_store_web_session act = mk(f->a, 11, KW_WEB_SESSION_ACTIVE, 1010, 3600);
    kw_store_web_session act2 = mk(f->a, 12, KW_WEB_SESSION_ACTIVE, 1011, 3600);
    assert_int_equal(kw_store_web_session_add(f->st, &fac), KW_OK);
    /* another account's upgrade of it: refused, nothing changed */
    kw_store_web_session theirs = mk(f->b, 13, KW_WEB_SESSION_ACTIVE, 1010, 3600);
    assert_int_equal(kw_store_web_session_upgrade(f->st, fac.hash, 1010, &theirs), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_session_get(f->st, theirs.hash, &out), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_session_upgrade(f->st, fac.hash, 1010, &act), KW_OK);
    assert_int_equal(kw_store_web_session_get(f->st, fac.hash, &out), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_session_get(f->st, act.hash, &out), KW_OK);
    assert_int_equal(out.state, KW_WEB_SESSION_ACTIVE);
    /* second use */
    assert_int_equal(kw_store_web_session_upgrade(f->st, fac.hash, 1011, &act2), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_session_get(f->st, act2.hash, &out), KW_ERR_NOT_FOUND);
    /* an ACTIVE session cannot be "upgraded" again */
    assert_int_equal(kw_store_web_session_upgrade(f->st, act.hash, 1011, &act2), KW_ERR_NOT_FOUND);
}

static void test_upgrade_expired_or_revoked(void **state)
{
    fixture *f = *state;
    kw_store_web_session fac = mk(f->a, 20, KW_WEB_SESSION_FACTOR, 2000, 300);
    kw_store_web_session act = mk(f->a, 21, KW_WEB_SESSION_ACTIVE, 2300, 3600);
    assert_int_equal(kw_store_web_session_add(f->st, &fac), KW_OK);
    assert_int_equal(kw_store_web_session_upgrade(f->st, fac.hash, 2300, &act), KW_ERR_NOT_FOUND); /* now == expiry */
    kw_store_web_session fac2 = mk(f->a, 22, KW_WEB_SESSION_FACTOR, 2000, 300);
    assert_int_equal(kw_store_web_session_add(f->st, &fac2), KW_OK);
    assert_int_equal(kw_store_web_session_revoke(f->st, f->a, fac2.id), KW_OK);
    assert_int_equal(kw_store_web_session_upgrade(f->st, fac2.hash, 2001, &act), KW_ERR_NOT_FOUND);
}

static void test_list_revoke_expire(void **state)
{
    fixture *f = *state;
    kw_store_web_session s1 = mk(f->a, 30, KW_WEB_SESSION_ACTIVE, 100, 1000);
    kw_store_web_session s2 = mk(f->a, 31, KW_WEB_SESSION_ACTIVE, 200, 1000);
    kw_store_web_session s3 = mk(f->a, 32, KW_WEB_SESSION_FACTOR, 300, 1000); /* not listed */
    kw_store_web_session s4 = mk(f->b, 33, KW_WEB_SESSION_ACTIVE, 100, 1000); /* bob's */
    kw_store_web_session s5 = mk(f->a, 34, KW_WEB_SESSION_ACTIVE, 50, 100);   /* expired at 150 */
    kw_store_web_session *list = NULL, out;
    size_t n = 0, cnt = 0;
    assert_int_equal(kw_store_web_session_add(f->st, &s1), KW_OK);
    assert_int_equal(kw_store_web_session_add(f->st, &s2), KW_OK);
    assert_int_equal(kw_store_web_session_add(f->st, &s3), KW_OK);
    assert_int_equal(kw_store_web_session_add(f->st, &s4), KW_OK);
    assert_int_equal(kw_store_web_session_add(f->st, &s5), KW_OK);
    assert_int_equal(kw_store_web_session_list(f->st, f->a, 500, &list, &n), KW_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(list[0].id, s1.id, sizeof(s1.id));
    assert_memory_equal(list[1].id, s2.id, sizeof(s2.id));
    free(list);
    /* bob cannot revoke alice's */
    assert_int_equal(kw_store_web_session_revoke(f->st, f->b, s1.id), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_session_revoke(f->st, f->a, s1.id), KW_OK);
    assert_int_equal(kw_store_web_session_revoke(f->st, f->a, s1.id), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_session_get(f->st, s1.hash, &out), KW_OK);
    assert_true(out.revoked);
    assert_int_equal(kw_store_web_session_list(f->st, f->a, 500, &list, &n), KW_OK);
    assert_int_equal(n, 1);
    free(list);
    /* revoke all of alice's: bob's stays */
    assert_int_equal(kw_store_web_session_revoke_all(f->st, f->a, &cnt), KW_OK);
    assert_int_equal(cnt, 3); /* s2, s3, s5 (s1 was revoked already) */
    assert_int_equal(kw_store_web_session_get(f->st, s4.hash, &out), KW_OK);
    assert_false(out.revoked);
    /* the sweep deletes what expired at or before now */
    size_t removed = 0;
    assert_int_equal(kw_store_web_expire(f->st, 150, &removed), KW_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(kw_store_web_session_get(f->st, s5.hash, &out), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_session_get(f->st, s2.hash, &out), KW_OK);
}

static void test_removals(void **state)
{
    fixture *f = *state;
    kw_store_web_removal rm, out, *list = NULL;
    size_t n = 0;
    memset(&rm, 0, sizeof(rm));
    memset(rm.device_id, 2, sizeof(rm.device_id)); /* bob's device */
    rm.account_id = f->a;
    rm.requested_at = 10;
    assert_int_equal(kw_store_web_removal_put(f->st, &rm), KW_ERR_NOT_FOUND); /* not alice's */
    memset(rm.device_id, 1, sizeof(rm.device_id));
    assert_int_equal(kw_store_web_removal_put(f->st, &rm), KW_OK);
    rm.requested_at = 20;
    assert_int_equal(kw_store_web_removal_put(f->st, &rm), KW_OK); /* again: keeps the first */
    assert_int_equal(kw_store_web_removal_get(f->st, rm.device_id, &out), KW_OK);
    assert_int_equal(out.requested_at, 10);
    assert_int_equal(out.account_id, f->a);
    assert_int_equal(kw_store_web_removal_list(f->st, f->a, &list, &n), KW_OK);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(kw_store_web_removal_list(f->st, f->b, &list, &n), KW_OK);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(kw_store_web_removal_delete(f->st, f->b, rm.device_id), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_web_removal_delete(f->st, f->a, rm.device_id), KW_OK);
    assert_int_equal(kw_store_web_removal_get(f->st, rm.device_id, &out), KW_ERR_NOT_FOUND);
}

static void test_durable_across_reopen(void **state)
{
    fixture *f = *state;
    kw_store_web_session fac = mk(f->a, 40, KW_WEB_SESSION_FACTOR, 100, 300), out;
    kw_store_web_session act = mk(f->a, 41, KW_WEB_SESSION_ACTIVE, 110, 3600);
    assert_int_equal(kw_store_web_session_add(f->st, &fac), KW_OK);
    assert_int_equal(kw_store_web_session_upgrade(f->st, fac.hash, 110, &act), KW_OK);
    kw_store_close(&f->st);
    assert_int_equal(kw_store_open(f->path, &f->st), KW_OK);
    assert_int_equal(kw_store_web_session_get(f->st, act.hash, &out), KW_OK);
    assert_int_equal(out.state, KW_WEB_SESSION_ACTIVE);
    assert_int_equal(kw_store_web_session_get(f->st, fac.hash, &out), KW_ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_session_add_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_single_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_expired_or_revoked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_revoke_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_across_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
