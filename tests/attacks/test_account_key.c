/*
 * Attack 3 (DESIGN.md "Attacks the tests must show detected"): the server
 * replaces the account key.
 *
 * Set-up (honest): A creates "alice", B joins; roster v2 {A, B}.
 * The lying server, stopped and restarted on its database, sets
 * accounts.account_pk to an attacker's key and serves roster v3 = {A, B, M}
 * signed by that key (a roster that verifies under the key it carries and
 * under the key the server now publishes at /v1/accounts/alice/public).
 * A and B, which pinned the real account key, refuse with exit 2 "ALERT: the
 * server's roster does not verify under the account key"; A also refuses to
 * approve a new device D onto that roster. After the lie is undone, A and B
 * read the keychain under the real key again and the server publishes it.
 */
#include "attack_util.h"

#include "keyward/roster.h"
#include "keyward/sign.h"

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_d;
static char a_pk[64], b_id[32];
static uint8_t real_pk[32];

#define ALICE "(SELECT id FROM accounts WHERE name = 'alice')"

static const kw_it_prof profs[] = {{"A", &prof_a}, {"B", &prof_b}, {"D", &prof_d}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return at_fixture_up(&srv, NULL, profs);
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static void test_setup_honest(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    at_join(&srv, prof_a, prof_b, "alice", "phone-B", b_id);
    at_keychain_ok(&srv, prof_a, a_pk, 1);
    at_keychain_ok(&srv, prof_b, a_pk, 1);
}

static void public_pk(char out[64])
{
    char *body = NULL;
    assert_int_equal(kw_it_http(&srv, "GET", "/v1/accounts/alice/public", NULL, NULL, &body), 200);
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    assert_non_null(o);
    snprintf(out, 64, "%s", json_string_value(json_object_get(o, "account_pk")));
    json_decref(o);
    free(body);
}

static void test_account_key_replaced(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    size_t len = 0;
    uint8_t *cur = at_blob(db, "SELECT roster FROM rosters WHERE account_id = " ALICE " AND version = 2",
                           NULL, 0, &len);
    kw_roster *ros = malloc(sizeof(*ros));
    assert_non_null(ros);
    assert_int_equal(kw_roster_decode_unverified(ros, cur, len), KW_OK);
    memcpy(real_pk, ros->account_pk, 32);

    kw_sign_key *attacker = NULL, *mk = NULL;
    uint8_t apk[32], m_id[16], m_ipk[32], m_hpk[32];
    assert_int_equal(kw_sign_key_new(&attacker), KW_OK);
    kw_sign_key_public(attacker, apk);
    assert_int_equal(kw_sign_key_new(&mk), KW_OK);
    kw_sign_key_public(mk, m_ipk);
    kw_sign_key_free(&mk);
    randombytes_buf(m_id, sizeof(m_id));
    randombytes_buf(m_hpk, sizeof(m_hpk));
    memcpy(ros->account_pk, apk, 32);
    ros->version = 3;
    assert_int_equal(kw_roster_add(ros, m_id, m_ipk, m_hpk, "mallory"), KW_OK);
    uint8_t *forged = malloc(KW_ROSTER_MAXBYTES);
    size_t flen = 0;
    assert_non_null(forged);
    assert_int_equal(kw_roster_encode(forged, KW_ROSTER_MAXBYTES, &flen, ros, attacker), KW_OK);
    kw_sign_key_free(&attacker);
    /* a roster that verifies under the substituted key */
    assert_int_equal(kw_roster_open(ros, forged, flen, apk), KW_OK);
    at_exec(db, "UPDATE accounts SET account_pk = ?1 WHERE name = 'alice'", apk, 32, NULL, 0, 1);
    at_exec(db, "INSERT INTO rosters (account_id, version, roster) VALUES (" ALICE ", 3, ?1)", forged,
            flen, NULL, 0, 1);
    free(forged);
    free(cur);
    free(ros);
    at_lie_end(&srv, db);

    /* the server now publishes the attacker's key */
    char pub[64], apk_b64[64];
    public_pk(pub);
    kw_b64url_encode(apk_b64, sizeof(apk_b64), apk, 32);
    assert_string_equal(pub, apk_b64);

    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(&srv, prof_a, show, 2);
    at_assert_refused(&r, "ALERT", "roster does not verify under the account key", NULL);
    kw_it_result_free(&r);
    r = at_cli(&srv, prof_b, show, 2);
    at_assert_refused(&r, "ALERT", "roster does not verify under the account key", NULL);
    kw_it_result_free(&r);

    /* a new device D signs in meanwhile; A will not approve it onto the
     * substituted roster (D stays pending) */
    char join[8], d_id[32];
    at_pending(&srv, prof_a, prof_d, "alice", "new-D", d_id, join);
    const char *ok[] = {"--json", "device", "approve", d_id, "--code", join, NULL};
    r = at_cli(&srv, prof_a, ok, 2);
    at_assert_refused(&r, "ALERT", "roster does not verify under the account key", NULL);
    kw_it_result_free(&r);

    /* undo: the real key and roster v2 again */
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE accounts SET account_pk = ?1 WHERE name = 'alice'", real_pk, 32, NULL, 0, 1);
    at_exec(db, "DELETE FROM rosters WHERE account_id = " ALICE " AND version = 3", NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    public_pk(pub);
    assert_string_equal(pub, a_pk);
    at_keychain_ok(&srv, prof_a, a_pk, 1);
    at_keychain_ok(&srv, prof_b, a_pk, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_account_key_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
