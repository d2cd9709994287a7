/* The security-key domain of the store (server/store/seckey.h) on every
 * backend (the same ten cases the first SQLite-only version of this file
 * had, by name, plus a two-handle race): SQLite by default, PostgreSQL when KEYWARD_TEST_STORE_URI names
 * one (scripts/test-pg; a fresh database per test). Keys: add (limit,
 * global credential-id uniqueness, unknown account), list/get/find/count,
 * rename, remove under the policy, the signature-counter compare-and-swap;
 * challenges: single use, bound to account and operation, expiry, the live
 * limit; the policy minimum; and two handles ("nodes") racing one challenge
 * and one counter: exactly one wins each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyward/keyward.h"
#include "store/seckey.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char uri[768];
    char db[64];
    bool pg;
    kw_store *st;
    int64_t alice, bob;
} fixture;

static const char *pg_base(void)
{
    const char *u = getenv("KEYWARD_TEST_STORE_URI");
    if (u != NULL && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0))
        return u;
    return NULL;
}

static int pg_admin_sql(const char *sql)
{
    PGconn *c = PQconnectdb(pg_base());
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *res = PQexec(c, sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok)
        fprintf(stderr, "pg: %s", PQerrorMessage(c));
    PQfinish(c);
    return ok ? 0 : -1;
}

static int make_account(kw_store *st, const char *name, uint8_t n, int64_t *id)
{
    static const uint8_t blob[] = "blob";
    uint8_t pk[32] = {n}, sh[32] = {0x5e, n};
    kw_store_device d = {.created_at = 1000, .last_seen_at = 1000};
    memset(d.id, n, sizeof(d.id));
    memset(d.identity_pk, n, sizeof(d.identity_pk));
    d.identity_pk[0] = 0x1d;
    memset(d.hpke_pk, n, sizeof(d.hpke_pk));
    snprintf(d.name, sizeof(d.name), "dev-%u", n);
    kw_store_new_account na = {.name = name, .opaque_record = blob, .opaque_record_len = sizeof(blob),
                               .account_pk = pk, .device = &d, .roster = blob, .roster_len = sizeof(blob),
                               .keychain = blob, .keychain_len = sizeof(blob), .device_wrap = blob,
                               .device_wrap_len = sizeof(blob), .session_hash = sh,
                               .session_expires_at = 99999};
    return kw_store_account_create(st, &na, id);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/kwseck.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->uri, sizeof(f->uri), "%s/store.db", f->dir);
    const char *base = pg_base();
    if (base != NULL) {
        static unsigned counter;
        char sql[128];
        f->pg = true;
        snprintf(f->db, sizeof(f->db), "kwseck_%d_%u", (int)getpid(), counter++);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
        snprintf(f->uri, sizeof(f->uri), "%s%cdbname=%s", base, strchr(base, '?') != NULL ? '&' : '?', f->db);
        if (pg_admin_sql(sql) != 0)
            return -1;
    }
    if (kw_store_open(f->uri, &f->st) != KW_OK || make_account(f->st, "alice", 1, &f->alice) != KW_OK ||
        make_account(f->st, "bob", 2, &f->bob) != KW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    kw_store_close(&f->st);
    if (f->pg) {
        snprintf(cmd, sizeof(cmd), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
        pg_admin_sql(cmd);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void mk_key(kw_store_seckey *k, int64_t account, uint8_t n)
{
    memset(k, 0, sizeof(*k));
    k->account_id = account;
    k->cred_id_len = 40 + n;
    memset(k->cred_id, n, k->cred_id_len);
    k->cose_key_len = 77;
    memset(k->cose_key, 0xc0 + n, k->cose_key_len);
    k->alg = -7;
    k->sign_count = 10;
    k->backup_eligible = true;
    k->att_type = 1;
    memset(k->aaguid, 0xaa, sizeof(k->aaguid));
    snprintf(k->name, sizeof(k->name), "key-%u", n);
    k->created_at = 5000 + n;
}

static int64_t add_keys(fixture *f, int64_t account, uint8_t first, uint8_t count, int64_t *ids)
{
    kw_store_seckey k;
    for (uint8_t i = 0; i < count; i++) {
        mk_key(&k, account, (uint8_t)(first + i));
        assert_int_equal(kw_store_seckey_add(f->st, &k), KW_OK);
        assert_true(k.id > 0);
        if (ids != NULL)
            ids[i] = k.id;
    }
    return k.id;
}

static void test_add_list_get_find(void **state)
{
    fixture *f = *state;
    kw_store_seckey k, got, *list = NULL;
    size_t n = 0;
    int64_t ids[3];
    add_keys(f, f->alice, 1, 3, ids);
    assert_int_equal(kw_store_seckey_list(f->st, f->alice, &list, &n), KW_OK);
    assert_int_equal(n, 3);
    mk_key(&k, f->alice, 1);
    assert_int_equal(list[0].id, ids[0]);
    assert_int_equal(list[0].account_id, f->alice);
    assert_int_equal(list[0].cred_id_len, k.cred_id_len);
    assert_memory_equal(list[0].cred_id, k.cred_id, k.cred_id_len);
    assert_int_equal(list[0].cose_key_len, k.cose_key_len);
    assert_memory_equal(list[0].cose_key, k.cose_key, k.cose_key_len);
    assert_int_equal(list[0].alg, -7);
    assert_int_equal(list[0].sign_count, 10);
    assert_true(list[0].backup_eligible);
    assert_false(list[0].backup_state);
    assert_false(list[0].uv_initialized);
    assert_int_equal(list[0].att_type, 1);
    assert_memory_equal(list[0].aaguid, k.aaguid, sizeof(k.aaguid));
    assert_string_equal(list[0].name, "key-1");
    assert_int_equal(list[0].created_at, 5001);
    assert_int_equal(list[0].last_used_at, 0);
    assert_int_equal(list[2].id, ids[2]); /* oldest first */
    free(list);
    assert_int_equal(kw_store_seckey_count(f->st, f->alice, &n), KW_OK);
    assert_int_equal(n, 3);
    assert_int_equal(kw_store_seckey_list(f->st, f->bob, &list, &n), KW_OK);
    assert_int_equal(n, 0);
    assert_null(list);

    assert_int_equal(kw_store_seckey_get(f->st, f->alice, ids[1], &got), KW_OK);
    assert_string_equal(got.name, "key-2");
    assert_int_equal(kw_store_seckey_get(f->st, f->bob, ids[1], &got), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_get(f->st, f->alice, ids[2] + 100, &got), KW_ERR_NOT_FOUND);
    mk_key(&k, f->alice, 3);
    assert_int_equal(kw_store_seckey_find(f->st, k.cred_id, k.cred_id_len, &got), KW_OK);
    assert_int_equal(got.id, ids[2]);
    assert_int_equal(got.account_id, f->alice);
    /* A prefix of a stored credential id is another id. */
    assert_int_equal(kw_store_seckey_find(f->st, k.cred_id, k.cred_id_len - 1, &got), KW_ERR_NOT_FOUND);
    mk_key(&k, f->alice, 44);
    assert_int_equal(kw_store_seckey_find(f->st, k.cred_id, k.cred_id_len, &got), KW_ERR_NOT_FOUND);
    mk_key(&k, f->alice + f->bob + 50, 30);
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_NOT_FOUND); /* unknown account */
}

static void test_limit_six(void **state)
{
    fixture *f = *state;
    kw_store_seckey k;
    size_t n = 0;
    add_keys(f, f->alice, 1, KW_STORE_SECKEY_MAX, NULL);
    mk_key(&k, f->alice, 20);
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_LIMIT);
    assert_int_equal(k.id, 0);
    assert_int_equal(kw_store_seckey_count(f->st, f->alice, &n), KW_OK);
    assert_int_equal(n, KW_STORE_SECKEY_MAX);
    mk_key(&k, f->bob, 20); /* the limit is per account */
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_OK);
}

static void test_cred_id_unique_across_accounts(void **state)
{
    fixture *f = *state;
    kw_store_seckey k;
    size_t n = 9;
    add_keys(f, f->alice, 3, 1, NULL);
    mk_key(&k, f->alice, 3);
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_CONFLICT);
    mk_key(&k, f->bob, 3); /* alice's credential id, registered by bob */
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_CONFLICT);
    assert_int_equal(k.id, 0);
    assert_int_equal(kw_store_seckey_count(f->st, f->bob, &n), KW_OK);
    assert_int_equal(n, 0);
}

static void test_rename(void **state)
{
    fixture *f = *state;
    kw_store_seckey got;
    int64_t id = add_keys(f, f->alice, 1, 1, NULL);
    char longname[KW_STORE_NAME_MAX + 2];
    memset(longname, 'n', sizeof(longname));
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(kw_store_seckey_rename(f->st, f->alice, id, "yubi"), KW_OK);
    assert_int_equal(kw_store_seckey_get(f->st, f->alice, id, &got), KW_OK);
    assert_string_equal(got.name, "yubi");
    assert_int_equal(kw_store_seckey_rename(f->st, f->bob, id, "x"), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_rename(f->st, f->alice, id + 1, "x"), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_rename(f->st, f->alice, id, longname), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_seckey_rename(f->st, f->alice, id, ""), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_get(f->st, f->alice, id, &got), KW_OK);
    assert_string_equal(got.name, "yubi");
}

static void test_counter_cas(void **state)
{
    fixture *f = *state;
    kw_store_seckey got;
    int64_t id = add_keys(f, f->alice, 1, 1, NULL);
    assert_int_equal(kw_store_seckey_use(f->st, f->alice, id, 10, 11, true, 7000), KW_OK);
    assert_int_equal(kw_store_seckey_use(f->st, f->alice, id, 10, 12, true, 7001), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_seckey_use(f->st, f->bob, id, 11, 12, true, 7001), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_get(f->st, f->alice, id, &got), KW_OK);
    assert_int_equal(got.sign_count, 11);
    assert_true(got.backup_state);
    assert_int_equal(got.last_used_at, 7000);
    /* The full 32-bit range round-trips. */
    assert_int_equal(kw_store_seckey_use(f->st, f->alice, id, 11, UINT32_MAX, false, 7002), KW_OK);
    assert_int_equal(kw_store_seckey_get(f->st, f->alice, id, &got), KW_OK);
    assert_int_equal(got.sign_count, UINT32_MAX);
    assert_false(got.backup_state);
}

static void test_policy_minimum(void **state)
{
    fixture *f = *state;
    kw_store_seckey k1, k2, k3;
    bool on = true, off = false;
    assert_int_equal(kw_store_seckey_policy_get(f->st, f->alice, &on), KW_OK);
    assert_false(on);
    mk_key(&k1, f->alice, 1);
    assert_int_equal(kw_store_seckey_add(f->st, &k1), KW_OK);
    assert_int_equal(kw_store_seckey_policy_set(f->st, f->alice, true), KW_ERR_CONFLICT); /* one key */
    mk_key(&k2, f->alice, 2);
    assert_int_equal(kw_store_seckey_add(f->st, &k2), KW_OK);
    assert_int_equal(kw_store_seckey_policy_set(f->st, f->alice, true), KW_OK);
    assert_int_equal(kw_store_seckey_policy_get(f->st, f->alice, &on), KW_OK);
    assert_true(on);
    /* Below the minimum: refused, or policy off in the same transaction. */
    assert_int_equal(kw_store_seckey_remove(f->st, f->alice, k1.id, 0, &off), KW_ERR_CONFLICT);
    mk_key(&k3, f->alice, 3);
    assert_int_equal(kw_store_seckey_add(f->st, &k3), KW_OK);
    assert_int_equal(kw_store_seckey_remove(f->st, f->alice, k3.id, 0, &off), KW_OK);
    assert_false(off);
    assert_int_equal(kw_store_seckey_remove(f->st, f->alice, k1.id, KW_STORE_SECKEY_RM_POLICY_OFF, &off),
                     KW_OK);
    assert_true(off);
    assert_int_equal(kw_store_seckey_policy_get(f->st, f->alice, &on), KW_OK);
    assert_false(on);
    assert_int_equal(kw_store_seckey_remove(f->st, f->alice, k1.id, 0, NULL), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_remove(f->st, f->bob, k2.id, 0, NULL), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_policy_set(f->st, f->alice, false), KW_OK);
}

static void test_challenges(void **state)
{
    fixture *f = *state;
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES];
    memset(ch, 0x11, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "login", ch, 100, 200), KW_OK);
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "login", ch, 100, 200), KW_ERR_CONFLICT);
    /* Wrong operation: refused, and the challenge is gone (single use). */
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, "password", ch, 150), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, "login", ch, 150), KW_ERR_NOT_FOUND);
    memset(ch, 0x12, sizeof(ch)); /* wrong account */
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "login", ch, 100, 200), KW_OK);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->bob, "login", ch, 150), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, "login", ch, 150), KW_ERR_NOT_FOUND);
    memset(ch, 0x13, sizeof(ch)); /* expired: live while now < expires_at */
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "login", ch, 100, 200), KW_OK);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, "login", ch, 200), KW_ERR_NOT_FOUND);
    memset(ch, 0x14, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "login", ch, 100, 200), KW_OK);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, "login", ch, 199), KW_OK);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, "login", ch, 199), KW_ERR_NOT_FOUND);
    memset(ch, 0x15, sizeof(ch)); /* unknown account */
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice + f->bob + 9, "login", ch, 100, 200),
                     KW_ERR_NOT_FOUND);
}

/* Review fix (challenge-table DoS): anyone with the password can ask for
 * sign-in challenges; they live in their own class, which evicts its oldest
 * when full, so a flood neither refuses the next sign-in nor takes the
 * slots a signed-in device needs. */
static void test_challenge_signin_class_evicts(void **state)
{
    fixture *f = *state;
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES], first[KW_STORE_SECKEY_CHALLENGE_BYTES];
    memset(first, 0x20, sizeof(first));
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, "login", first, 100, 290), KW_OK);
    for (uint8_t i = 1; i < 3 * KW_STORE_SECKEY_CHALLENGES_MAX; i++) {
        memset(ch, 0x20 + i, sizeof(ch));
        assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, i % 2 ? "web-login" : "login", ch,
                                                       100, 300 + i),
                         KW_OK);
    }
    /* the oldest sign-in challenge made room */
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->bob, "login", first, 101), KW_ERR_NOT_FOUND);
    /* the newest is there */
    memset(ch, 0x20 + 3 * KW_STORE_SECKEY_CHALLENGES_MAX - 1, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->bob, "web-login", ch, 101), KW_OK);
    /* the session class is untouched by the flood and still limited */
    for (uint8_t i = 0; i < KW_STORE_SECKEY_CHALLENGES_MAX; i++) {
        memset(ch, 0xa0 + i, sizeof(ch));
        assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, "password", ch, 100, 300), KW_OK);
    }
    memset(ch, 0xbf, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, "key-add", ch, 100, 300), KW_ERR_LIMIT);
    /* and a full session class does not stop sign-ins */
    memset(ch, 0xc0, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, "login", ch, 100, 300), KW_OK);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->bob, "login", ch, 101), KW_OK);
    memset(ch, 0xa0, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->bob, "password", ch, 101), KW_OK);
}

static void test_challenge_limit_and_sweep(void **state)
{
    fixture *f = *state;
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES];
    size_t removed = 0;
    for (uint8_t i = 0; i < KW_STORE_SECKEY_CHALLENGES_MAX; i++) {
        memset(ch, 0x40 + i, sizeof(ch));
        assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, "key-add", ch, 100, 300), KW_OK);
    }
    memset(ch, 0x7f, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, "key-add", ch, 100, 300), KW_ERR_LIMIT);
    /* the limit is per account */
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "login", ch, 100, 250), KW_OK);
    /* once they expired, put sweeps the account's old ones first */
    memset(ch, 0x7e, sizeof(ch));
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->bob, "key-add", ch, 300, 400), KW_OK);
    assert_int_equal(kw_store_seckey_expire(f->st, 1000, &removed), KW_OK);
    assert_int_equal(removed, 2); /* alice's and bob's last */
    assert_int_equal(kw_store_seckey_expire(f->st, 1000, NULL), KW_OK);
}

static void test_durable_across_reopen(void **state)
{
    fixture *f = *state;
    kw_store_seckey got;
    bool on = false;
    int64_t ids[2];
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES];
    memset(ch, 0x21, sizeof(ch));
    add_keys(f, f->alice, 1, 2, ids);
    assert_int_equal(kw_store_seckey_policy_set(f->st, f->alice, true), KW_OK);
    assert_int_equal(kw_store_seckey_use(f->st, f->alice, ids[1], 10, 42, true, 8000), KW_OK);
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "policy", ch, 100, 500), KW_OK);
    kw_store_close(&f->st);
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
    assert_int_equal(kw_store_seckey_policy_get(f->st, f->alice, &on), KW_OK);
    assert_true(on);
    assert_int_equal(kw_store_seckey_get(f->st, f->alice, ids[1], &got), KW_OK);
    assert_int_equal(got.sign_count, 42);
    assert_int_equal(got.last_used_at, 8000);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, "policy", ch, 200), KW_OK);
}

static void test_arguments(void **state)
{
    fixture *f = *state;
    kw_store_seckey k, *list = NULL;
    size_t n;
    bool on;
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES] = {0};
    mk_key(&k, f->alice, 1);
    assert_int_equal(kw_store_seckey_add(NULL, &k), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_add(f->st, NULL), KW_ERR_INVALID_ARG);
    k.cred_id_len = 0;
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_INVALID_ARG);
    k.cred_id_len = KW_STORE_SECKEY_CREDID_MAX + 1;
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_TOO_LARGE);
    mk_key(&k, f->alice, 1);
    k.cose_key_len = KW_STORE_SECKEY_COSE_MAX + 1;
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_TOO_LARGE);
    mk_key(&k, f->alice, 1);
    memset(k.name, 'x', sizeof(k.name)); /* unterminated */
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_INVALID_ARG);
    mk_key(&k, f->alice, 1);
    k.name[0] = '\0';
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_list(f->st, f->alice, NULL, &n), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_list(f->st, f->alice, &list, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_count(f->st, f->alice, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_policy_get(f->st, f->alice, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_policy_get(NULL, f->alice, &on), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "", ch, 1, 2), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "an-operation-name-too-long", ch, 1, 2),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, NULL, ch, 1, 2), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_challenge_take(f->st, f->alice, NULL, ch, 1), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_seckey_count(f->st, f->alice, &n), KW_OK);
    assert_int_equal(n, 0); /* nothing got through */
}

/* Two handles on one store race for one challenge and one counter step. */
typedef struct {
    kw_store *st;
    int64_t account, key;
    const uint8_t *ch;
    int took, used;
    pthread_barrier_t *go;
} racer;

static void *race(void *p)
{
    racer *r = p;
    pthread_barrier_wait(r->go);
    r->took = kw_store_seckey_challenge_take(r->st, r->account, "login", r->ch, 150);
    r->used = kw_store_seckey_use(r->st, r->account, r->key, 10, 11, false, 9000);
    return NULL;
}

static void test_two_nodes_race(void **state)
{
    fixture *f = *state;
    kw_store *other = NULL;
    kw_store_seckey k;
    assert_int_equal(kw_store_open(f->uri, &other), KW_OK);
    mk_key(&k, f->alice, 9);
    assert_int_equal(kw_store_seckey_add(f->st, &k), KW_OK);
    for (int round = 0; round < 10; round++) {
        uint8_t ch[32];
        memset(ch, 0x90 + round, sizeof(ch));
        assert_int_equal(kw_store_seckey_challenge_put(f->st, f->alice, "login", ch, 100, 200), KW_OK);
        kw_store_seckey got;
        assert_int_equal(kw_store_seckey_get(f->st, f->alice, k.id, &got), KW_OK);
        /* reset the counter to 10 through a successful CAS from the current value */
        if (got.sign_count != 10)
            assert_int_equal(kw_store_seckey_use(f->st, f->alice, k.id, got.sign_count, 10, false, 1), KW_OK);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        racer a = {f->st, f->alice, k.id, ch, 0, 0, &go}, b = {other, f->alice, k.id, ch, 0, 0, &go};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, race, &a);
        pthread_create(&tb, NULL, race, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&go);
        assert_int_equal((a.took == KW_OK) + (b.took == KW_OK), 1);
        assert_int_equal((a.used == KW_OK) + (b.used == KW_OK), 1);
        assert_true(a.took == KW_OK || a.took == KW_ERR_NOT_FOUND);
        assert_true(a.used == KW_OK || a.used == KW_ERR_CONFLICT);
        assert_true(b.used == KW_OK || b.used == KW_ERR_CONFLICT);
    }
    kw_store_close(&other);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_add_list_get_find),
        T(test_limit_six),
        T(test_cred_id_unique_across_accounts),
        T(test_rename),
        T(test_counter_cas),
        T(test_policy_minimum),
        T(test_challenges),
        T(test_challenge_limit_and_sweep),
        T(test_challenge_signin_class_evicts),
        T(test_durable_across_reopen),
        T(test_arguments),
        T(test_two_nodes_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
