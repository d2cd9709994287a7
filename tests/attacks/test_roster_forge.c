/*
 * Attack 1 (DESIGN.md "Attacks the tests must show detected"): the server
 * adds a device to the account's roster without an account-key signature.
 *
 * Set-up (honest): A creates "alice", B joins by approval; roster v2 {A, B}.
 * The lying server then, each time stopped and restarted on its database:
 *   (a) inserts roster v3 = v2 + an attacker device M with a signature by
 *       another key over the real account key (a bad signature), and lists
 *       M as trusted in its devices table;
 *   (b) the same roster with an all-zero ("absent") signature;
 *   (c) the roster re-signed by the attacker's key, carrying that key as the
 *       account key (a valid signature, but not under the pinned key).
 * Each time A's and B's `keychain show` refuse with exit 2 and
 * "ALERT: the server's roster does not verify under the account key"; after
 * the lie is undone both read the keychain again (nothing lost).
 *
 * `keyward device list` checks the server's device table against the
 * signed roster: with M injected it refuses with exit 2 and an ALERT.
 */
#include "attack_util.h"

#include "keyward/roster.h"
#include "keyward/sign.h"

static kw_it_server srv;
static char *prof_a, *prof_b;
static char a_pk[64], b_id[32];
static uint8_t m_id[16], m_ipk[32], m_hpk[32];

static const kw_it_prof profs[] = {{"A", &prof_a}, {"B", &prof_b}, {NULL, NULL}};

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

enum forge { FORGE_BAD_SIG, FORGE_NO_SIG, FORGE_OTHER_KEY };

/* Roster v3: the current roster plus device M, forged as `how`. */
static uint8_t *forge_roster(sqlite3 *db, enum forge how, size_t *len)
{
    size_t cur_len = 0;
    uint8_t *cur = at_blob(db,
                           "SELECT roster FROM rosters WHERE account_id = (SELECT id FROM accounts"
                           " WHERE name = 'alice') ORDER BY version DESC LIMIT 1",
                           NULL, 0, &cur_len);
    kw_roster *ros = malloc(sizeof(*ros));
    assert_non_null(ros);
    assert_int_equal(kw_roster_decode_unverified(ros, cur, cur_len), KW_OK);
    assert_int_equal(ros->version, 2);
    uint8_t real_pk[32];
    memcpy(real_pk, ros->account_pk, 32);

    kw_sign_key *mk = NULL, *attacker = NULL;
    assert_int_equal(kw_sign_key_new(&mk), KW_OK);
    kw_sign_key_public(mk, m_ipk);
    kw_sign_key_free(&mk);
    randombytes_buf(m_id, sizeof(m_id));
    randombytes_buf(m_hpk, sizeof(m_hpk));
    assert_int_equal(kw_sign_key_new(&attacker), KW_OK);
    kw_sign_key_public(attacker, ros->account_pk);
    ros->version = 3;
    assert_int_equal(kw_roster_add(ros, m_id, m_ipk, m_hpk, "mallory"), KW_OK);

    uint8_t *out = malloc(KW_ROSTER_MAXBYTES);
    assert_non_null(out);
    assert_int_equal(kw_roster_encode(out, KW_ROSTER_MAXBYTES, len, ros, attacker), KW_OK);
    kw_sign_key_free(&attacker);
    size_t pk_off = 4 + 8 + 1 + ros->name_len;
    assert_true(*len > pk_off + 32 + KW_SIGN_BYTES);
    if (how != FORGE_OTHER_KEY) /* the real account key, signed by another */
        memcpy(out + pk_off, real_pk, 32);
    if (how == FORGE_NO_SIG)
        memset(out + *len - KW_SIGN_BYTES, 0, KW_SIGN_BYTES);
    /* the forgery is well-formed: only its signature is wrong */
    kw_roster check;
    assert_int_equal(kw_roster_decode_unverified(&check, out, *len), KW_OK);
    assert_int_equal(kw_roster_open(&check, out, *len, real_pk), KW_ERR_VERIFY);
    free(cur);
    free(ros);
    return out;
}

static void lie(enum forge how)
{
    size_t len = 0;
    sqlite3 *db = at_lie_begin(&srv);
    uint8_t *forged = forge_roster(db, how, &len);
    at_exec(db,
            "INSERT INTO rosters (account_id, version, roster) VALUES ((SELECT id FROM accounts"
            " WHERE name = 'alice'), 3, ?1)",
            forged, len, NULL, 0, 1);
    at_exec(db,
            "INSERT INTO devices (id, account_id, name, identity_pk, hpke_pk, state, created_at,"
            " last_seen_at) VALUES (?1, (SELECT id FROM accounts WHERE name = 'alice'), 'mallory',"
            " ?2, randomblob(32), 1, strftime('%s','now'), strftime('%s','now'))",
            m_id, 16, m_ipk, 32, 1);
    free(forged);
    at_lie_end(&srv, db);
}

static void undo(void)
{
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "DELETE FROM rosters WHERE version = 3", NULL, 0, NULL, 0, 1);
    at_exec(db, "DELETE FROM devices WHERE id = ?1", m_id, 16, NULL, 0, 1);
    at_lie_end(&srv, db);
}

static void assert_detected(void)
{
    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(&srv, prof_a, show, 2);
    at_assert_refused(&r, "ALERT", "roster does not verify under the account key", NULL);
    kw_it_result_free(&r);
    r = at_cli(&srv, prof_b, show, 2);
    at_assert_refused(&r, "ALERT", "roster does not verify under the account key", NULL);
    kw_it_result_free(&r);
    /* a trusted device will not build on the forged roster either: approving
     * needs the verified roster first, and so does removing a device */
    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    r = at_cli(&srv, prof_a, rm, 2);
    at_assert_refused(&r, "roster does not verify", NULL);
    kw_it_result_free(&r);
}

static void assert_honest_again(void)
{
    at_keychain_ok(&srv, prof_a, a_pk, 1);
    at_keychain_ok(&srv, prof_b, a_pk, 1);
    const char *list[] = {"--json", "device", "list", NULL};
    kw_it_result r = at_cli(&srv, prof_a, list, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "devices")), 2);
    assert_int_equal(json_integer_value(json_object_get(r.json, "roster_version")), 2);
    kw_it_result_free(&r);
}

/* (a) another key's signature over the real account key. */
static void test_device_added_bad_signature(void **state)
{
    (void)state;
    lie(FORGE_BAD_SIG);
    assert_detected();
    undo();
    assert_honest_again();
}

/* (b) no signature at all (64 zero bytes). */
static void test_device_added_no_signature(void **state)
{
    (void)state;
    lie(FORGE_NO_SIG);
    assert_detected();
    undo();
    assert_honest_again();
}

/* (c) re-signed by the attacker's key, which the roster names as the
 * account key: valid on its own, not under the key the devices pinned. */
static void test_device_added_resigned_by_other_key(void **state)
{
    (void)state;
    lie(FORGE_OTHER_KEY);
    assert_detected();
    undo();
    assert_honest_again();
}

/* `device list` checks the server's device table against the signed
 * roster: a refusal (exit 2) with an ALERT. */
static void test_device_list_shows_unsigned_device(void **state)
{
    (void)state;
    lie(FORGE_BAD_SIG);
    const char *list[] = {"--json", "device", "list", NULL};
    kw_it_result r = at_cli(&srv, prof_a, list, 2);
    int status = r.status;
    at_assert_refused(&r, "ALERT", NULL);
    kw_it_result_free(&r);
    undo();
    assert_int_equal(status, 2);
    assert_honest_again();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_device_added_bad_signature),
        cmocka_unit_test(test_device_added_no_signature),
        cmocka_unit_test(test_device_added_resigned_by_other_key),
        cmocka_unit_test(test_device_list_shows_unsigned_device),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
