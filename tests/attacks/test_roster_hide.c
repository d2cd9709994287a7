/*
 * Attack 2 (DESIGN.md "Attacks the tests must show detected"): the server
 * hides a device from the account's roster.
 *
 * Set-up (honest): A creates "alice"; B, then C join by approval: roster v3
 * {A, B, C}. The lying server, stopped and restarted on its database:
 *   (a) inserts roster v4 = v3 without C but carrying v3's signature (the
 *       account key never signed that device set): A and B refuse with
 *       exit 2 "ALERT: the server's roster does not verify under the
 *       account key";
 *   (b) serves the older roster v2 {A, B} as the latest (deletes v3): the
 *       hidden device C refuses with exit 2 "ALERT: the server rolled the
 *       roster back ... this device is not in the account's signed roster"
 *       (it sees that it was hidden), and so do A and B (each keeps the
 *       highest roster version it verified);
 *   (c) marks C removed in the device table while the signed roster lists
 *       it: A's `device list` refuses with exit 2.
 * After each lie is undone, A, B and C read the keychain again.
 */
#include "attack_util.h"

#include "keyward/roster.h"
#include "keyward/sign.h"

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_c;
static char a_pk[64], b_id[32], c_id[32];

static const kw_it_prof profs[] = {{"A", &prof_a}, {"B", &prof_b}, {"C", &prof_c}, {NULL, NULL}};

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

#define ALICE "(SELECT id FROM accounts WHERE name = 'alice')"

static void test_setup_honest(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    at_join(&srv, prof_a, prof_b, "alice", "phone-B", b_id);
    at_join(&srv, prof_a, prof_c, "alice", "tablet-C", c_id);
    at_keychain_ok(&srv, prof_a, a_pk, 1);
}

static void assert_all_honest(void)
{
    at_keychain_ok(&srv, prof_a, a_pk, 1);
    at_keychain_ok(&srv, prof_b, a_pk, 1);
    at_keychain_ok(&srv, prof_c, a_pk, 1);
}

/* (a) v3 minus C, with v3's signature, served as v4. */
static void test_device_removed_old_signature(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    size_t len = 0;
    uint8_t *v3 = at_blob(db, "SELECT roster FROM rosters WHERE account_id = " ALICE " AND version = 3",
                          NULL, 0, &len);
    kw_roster *ros = malloc(sizeof(*ros));
    assert_non_null(ros);
    assert_int_equal(kw_roster_decode_unverified(ros, v3, len), KW_OK);
    assert_int_equal(ros->ndevices, 3);
    uint8_t real_pk[32], cid[16];
    memcpy(real_pk, ros->account_pk, 32);
    at_id(cid, c_id);
    assert_int_equal(kw_roster_remove(ros, cid), KW_OK);
    ros->version = 4;
    /* encode under a throw-away key, then put back the real account key and
     * v3's signature: the server holds no account key */
    kw_sign_key *k = NULL;
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    kw_sign_key_public(k, ros->account_pk);
    uint8_t *forged = malloc(KW_ROSTER_MAXBYTES);
    size_t flen = 0;
    assert_non_null(forged);
    assert_int_equal(kw_roster_encode(forged, KW_ROSTER_MAXBYTES, &flen, ros, k), KW_OK);
    kw_sign_key_free(&k);
    memcpy(forged + 4 + 8 + 1 + ros->name_len, real_pk, 32);
    memcpy(forged + flen - KW_SIGN_BYTES, v3 + len - KW_SIGN_BYTES, KW_SIGN_BYTES);
    assert_int_equal(kw_roster_open(ros, forged, flen, real_pk), KW_ERR_VERIFY);
    at_exec(db, "INSERT INTO rosters (account_id, version, roster) VALUES (" ALICE ", 4, ?1)", forged,
            flen, NULL, 0, 1);
    free(forged);
    free(v3);
    free(ros);
    at_lie_end(&srv, db);

    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(&srv, prof_a, show, 2);
    at_assert_refused(&r, "ALERT", "roster does not verify under the account key", NULL);
    kw_it_result_free(&r);
    r = at_cli(&srv, prof_b, show, 2);
    at_assert_refused(&r, "ALERT", "roster does not verify under the account key", NULL);
    kw_it_result_free(&r);

    db = at_lie_begin(&srv);
    at_exec(db, "DELETE FROM rosters WHERE account_id = " ALICE " AND version = 4", NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    assert_all_honest();
}

static uint8_t *saved_v3;
static size_t saved_v3_len;

static void rollback_to_v2(void)
{
    sqlite3 *db = at_lie_begin(&srv);
    saved_v3 = at_blob(db, "SELECT roster FROM rosters WHERE account_id = " ALICE " AND version = 3",
                       NULL, 0, &saved_v3_len);
    at_exec(db, "DELETE FROM rosters WHERE account_id = " ALICE " AND version = 3", NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
}

static void restore_v3(void)
{
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "INSERT INTO rosters (account_id, version, roster) VALUES (" ALICE ", 3, ?1)", saved_v3,
            saved_v3_len, NULL, 0, 1);
    at_lie_end(&srv, db);
    free(saved_v3);
    saved_v3 = NULL;
}

/* (b) the older, correctly signed roster v2 served as the latest: the
 * hidden device itself notices. */
static void test_older_roster_hidden_device_notices(void **state)
{
    (void)state;
    rollback_to_v2();
    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(&srv, prof_c, show, 2);
    at_assert_refused(&r, "ALERT: the server rolled the roster back",
                      "this device is not in the account's signed roster", NULL);
    kw_it_result_free(&r);
    restore_v3();
    assert_all_honest();
}

/* A verified v3 before: roster v2 served as the latest is a rollback. */
static void test_older_roster_trusted_device_notices(void **state)
{
    (void)state;
    rollback_to_v2();
    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(&srv, prof_a, show, 2);
    int status = r.status;
    at_assert_refused(&r, "ALERT: the server rolled the roster back", NULL);
    kw_it_result_free(&r);
    r = at_cli(&srv, prof_b, show, 2);
    at_assert_refused(&r, "ALERT: the server rolled the roster back", NULL);
    kw_it_result_free(&r);
    restore_v3();
    assert_int_equal(status, 2);
    assert_all_honest();
}

/* (c) the device table says C is removed while the signed roster lists
 * it: `device list` checks the table against the roster and refuses. */
static void test_device_list_hides_device(void **state)
{
    (void)state;
    uint8_t cid[16];
    at_id(cid, c_id);
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "UPDATE devices SET state = 2 WHERE id = ?1", cid, 16, NULL, 0, 1);
    at_lie_end(&srv, db);
    const char *list[] = {"--json", "device", "list", NULL};
    kw_it_result r = at_cli(&srv, prof_a, list, 2);
    int status = r.status;
    at_assert_refused(&r, "ALERT", c_id, "signed roster", NULL);
    kw_it_result_free(&r);
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE devices SET state = 1 WHERE id = ?1", cid, 16, NULL, 0, 1);
    at_lie_end(&srv, db);
    assert_int_equal(status, 2);
    r = at_cli(&srv, prof_a, list, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "devices")), 3);
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_device_removed_old_signature),
        cmocka_unit_test(test_older_roster_hidden_device_notices),
        cmocka_unit_test(test_older_roster_trusted_device_notices),
        cmocka_unit_test(test_device_list_hides_device),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
