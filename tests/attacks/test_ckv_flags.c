/*
 * The CKV switch endpoint (POST /v1/roster/flags, server/api/roster.c)
 * refuses every roster that is more than "the same roster with the CKV bit
 * changed, signed by the account key": the server must not let a device
 * (or itself) slip a device change, an ADP change or an unsigned roster in
 * through the switch.
 *
 * The test opens alice's real device profile with the library (the
 * passphrase the harness uses) to get her verified roster and account key,
 * then sends crafted rosters to a real keywardd:
 *   - the ADP bit flipped (with or without CKV): 400 format, nothing stored;
 *   - the CKV bit unchanged: 409 conflict;
 *   - a device added, a device renamed: 400 format;
 *   - signed by another key: 400 verify; version current+2: 409;
 *   - from a pending (not yet approved) device of the account: 401;
 * after all of them the stored roster is still version 1; then the honest
 * switch is accepted (version 2, CKV on) and `ckv status` shows it.
 */
#include "test_ckv_util.h"

#include "client/client_internal.h"

static kw_it_server srv;
static char *prof_a, *prof_p;

static const kw_it_prof profs[] = {{"A", &prof_a}, {"P", &prof_p}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return ckv_fixture_up(&srv, profs);
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static kw_client *open_profile(const char *dir)
{
    kw_client *c = NULL;
    kw_client_options o = {.profile_dir = dir, .server_url = srv.url, .passphrase = AT_PASSPHRASE,
                           .passphrase_len = strlen(AT_PASSPHRASE), .fast_kdf = true};
    assert_int_equal(kw_client_open(&c, &o), KW_OK);
    return c;
}

/* Posts ros signed by key; returns the KW_ERR_* the server answered. */
static int post(kw_client *c, const kw_roster *ros, const kw_sign_key *key, bool fix_pk)
{
    uint8_t *enc = malloc(KW_ROSTER_MAXBYTES);
    size_t len = 0;
    json_t *resp = NULL, *body = json_object();
    kw_roster copy = *ros;
    assert_non_null(enc);
    kw_sign_key_public(key, copy.account_pk);
    assert_int_equal(kw_roster_encode(enc, KW_ROSTER_MAXBYTES, &len, &copy, key), KW_OK);
    if (fix_pk) /* the real account key in the bytes, the signature of another */
        memcpy(enc + 4 + 8 + 1 + copy.name_len, ros->account_pk, 32);
    assert_int_equal(kwc_put_b64(body, "roster", enc, len), KW_OK);
    int r = kwc_http(c, "POST", "/v1/roster/flags", body, true, &resp);
    json_decref(resp);
    json_decref(body);
    free(enc);
    return r;
}

static int64_t stored_version(void)
{
    sqlite3 *db = at_db_open(&srv);
    int64_t v = at_int(db, "SELECT max(version) FROM rosters WHERE account_id = (SELECT id FROM "
                           "accounts WHERE name = 'alice')");
    at_db_close(db);
    return v;
}

static void test_refusals_and_switch(void **state)
{
    (void)state;
    char id[32], join[8];
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_pending(&srv, prof_a, prof_p, "alice", "phone-P", id, join);

    kw_client *c = open_profile(prof_a);
    kw_roster *cur = malloc(sizeof(*cur)), *r = malloc(sizeof(*r));
    kw_sign_key *ak = NULL, *other = NULL;
    assert_non_null(cur);
    assert_non_null(r);
    assert_int_equal(kwc_fetch_roster(c, cur), KW_OK);
    assert_int_equal(kwc_account_key(c, &ak), KW_OK);
    assert_int_equal(kw_sign_key_new(&other), KW_OK);
    assert_int_equal(cur->version, 1);
    assert_int_equal(cur->flags, 0);

    *r = *cur;
    r->version = 2;
    r->flags = KW_ROSTER_FLAG_ADP;
    assert_int_equal(post(c, r, ak, false), KW_ERR_FORMAT);
    r->flags = KW_ROSTER_FLAG_ADP | KW_ROSTER_FLAG_CKV;
    assert_int_equal(post(c, r, ak, false), KW_ERR_FORMAT);
    r->flags = 0;
    assert_int_equal(post(c, r, ak, false), KW_ERR_CONFLICT);

    *r = *cur;
    r->version = 2;
    r->flags = KW_ROSTER_FLAG_CKV;
    ckv_add_device(r, "mallory-M");
    assert_int_equal(post(c, r, ak, false), KW_ERR_FORMAT);

    *r = *cur;
    r->version = 2;
    r->flags = KW_ROSTER_FLAG_CKV;
    snprintf(r->devices[0].name, sizeof(r->devices[0].name), "renamed");
    r->devices[0].name_len = 7;
    assert_int_equal(post(c, r, ak, false), KW_ERR_FORMAT);

    *r = *cur;
    r->version = 2;
    r->flags = KW_ROSTER_FLAG_CKV;
    assert_int_equal(post(c, r, other, true), KW_ERR_VERIFY);
    r->version = 3;
    assert_int_equal(post(c, r, ak, false), KW_ERR_CONFLICT);

    /* a pending device of the account may not switch anything */
    kw_client *p = open_profile(prof_p);
    r->version = 2;
    assert_int_equal(post(p, r, ak, false), KW_ERR_VERIFY);
    kw_client_free(&p);

    assert_int_equal(stored_version(), 1);

    /* the honest switch */
    assert_int_equal(post(c, r, ak, false), KW_OK);
    assert_int_equal(stored_version(), 2);
    kw_sign_key_free(&ak);
    kw_sign_key_free(&other);
    kw_client_free(&c);
    free(cur);
    free(r);
    const char *st[] = {"--json", "ckv", "status", NULL};
    kw_it_result res = ckv_cli(&srv, prof_a, st, 0);
    assert_true(json_is_true(json_object_get(res.json, "ckv")));
    assert_int_equal(json_integer_value(json_object_get(res.json, "roster_version")), 2);
    kw_it_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_and_switch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
