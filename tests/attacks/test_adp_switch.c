/*
 * Attack 9 (DESIGN.md "Attacks the tests must show detected"): the server
 * flips the ADP switch.
 *
 * Set-up (honest): A creates "alice" with service keys for photos (ADP
 * class) and mail (interoperable), creates a recovery key and turns ADP on:
 * roster v3 carries the ADP flag, the custody copy of photos is gone.
 *   (lie 1) the server's state mirror says ADP is off (adp_state edited):
 *     `adp status`, `adp off`... every ADP flow refuses with exit 2 "ALERT:
 *     the server says Advanced Data Protection is off but the account's
 *     signed roster ... has it on", and no key of photos reaches the server
 *     (the custody table stays without photos although the server would
 *     now accept one; the database and its WAL hold no photos key).
 *   (lie 2) the flag bit flipped inside the stored roster v3 (the mirror
 *     agreeing): the roster no longer verifies: exit 2 "ALERT: the server's
 *     roster does not verify".
 *   (lie 3) roster v3 deleted, so the older, correctly signed v2 (ADP off)
 *     is served with the mirror off: exit 2 "ALERT: the server rolled the
 *     roster back".
 * After each lie is undone A's `adp status` succeeds with ADP on (nothing
 * lost).
 */
#include "adp_util.h"

static kw_it_server srv;
static char *prof_a;
static char a_pk[64];

#define ALICE "(SELECT id FROM accounts WHERE name = 'alice')"

static const kw_it_prof profs[] = {{"A", &prof_a}, {NULL, NULL}};

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

static void status_ok(bool adp)
{
    const char *st[] = {"--json", "adp", "status", NULL};
    kw_it_result r = at_cli(&srv, prof_a, st, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_is_true(json_object_get(r.json, "adp")), adp);
    kw_it_result_free(&r);
}

/* Every photos key A holds, read while the server is honest. */
static uint8_t photos_keys[8][KW_SVCKEY_BYTES];
static uint32_t nphotos;

static void remember_photos_keys(void)
{
    kw_keychain *kc = adp_keychain(&srv, prof_a);
    nphotos = adp_svc_gen(kc, "photos");
    assert_true(nphotos >= 2 && nphotos <= 8);
    for (uint32_t g = 1; g <= nphotos; g++)
        assert_int_equal(kw_keychain_svc_get(kc, "photos", g, photos_keys[g - 1], NULL), KW_OK);
    kw_keychain_free(&kc);
}

static void test_setup_honest(void **state)
{
    (void)state;
    static const char *const cats[] = {"photos", "mail", NULL};
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    adp_svc_roll(&srv, prof_a, cats);
    status_ok(false);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 1);
    const char *mk[] = {"--json", "recovery-key", "create", NULL};
    kw_it_result r = at_cli(&srv, prof_a, mk, 0);
    kw_it_result_free(&r);
    const char *on[] = {"--json", "adp", "on", NULL};
    r = at_cli(&srv, prof_a, on, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 0);
    status_ok(true);
    remember_photos_keys();
}

static void assert_no_photos_key(void)
{
    char path[400];
    for (uint32_t g = 1; g <= nphotos; g++) {
        snprintf(path, sizeof(path), "%s/data/keyward.db", srv.dir);
        assert_false(adp_file_has(path, photos_keys[g - 1], KW_SVCKEY_BYTES));
        snprintf(path, sizeof(path), "%s/data/keyward.db-wal", srv.dir);
        assert_false(adp_file_has(path, photos_keys[g - 1], KW_SVCKEY_BYTES));
    }
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 0);
}

static void test_mirror_flipped(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "UPDATE adp_state SET enabled = 0 WHERE account_id = " ALICE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    const char *st[] = {"--json", "adp", "status", NULL};
    kw_it_result r = at_cli(&srv, prof_a, st, 2);
    at_assert_refused(&r, "ALERT: the server says Advanced Data Protection is off",
                      "signed roster", "has it on", NULL);
    kw_it_result_free(&r);
    /* the library entry point the records flows use refuses the same way */
    kw_client *c = adp_client(&srv, prof_a);
    json_t *out = NULL;
    assert_int_equal(kw_client_adp_escrow_sync(c, &out), KW_ERR_VERIFY);
    assert_null(out);
    assert_non_null(strstr(kw_client_error(c), "ALERT"));
    kw_client_free(&c);
    const char *off[] = {"--json", "adp", "off", NULL};
    r = at_cli(&srv, prof_a, off, 2);
    at_assert_refused(&r, "ALERT: the server says Advanced Data Protection is off", NULL);
    kw_it_result_free(&r);
    assert_no_photos_key();
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE adp_state SET enabled = 1 WHERE account_id = " ALICE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    status_ok(true);
}

static uint8_t *saved;
static size_t saved_len;
static int64_t cur_version;

static void test_roster_bit_flipped(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    cur_version = at_int(db, "SELECT max(version) FROM rosters WHERE account_id = " ALICE);
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT roster FROM rosters WHERE account_id = " ALICE " AND version = %lld",
             (long long)cur_version);
    saved = at_blob(db, sql, NULL, 0, &saved_len);
    /* flags byte: "KWR1" ‖ u64 version ‖ u8 len ‖ name ‖ account_pk[32] ‖ flags */
    size_t off = 4 + 8 + 1 + strlen("alice") + 32;
    assert_true(saved[off] & KW_ROSTER_FLAG_ADP);
    uint8_t *lie = malloc(saved_len);
    assert_non_null(lie);
    memcpy(lie, saved, saved_len);
    lie[off] &= (uint8_t)~KW_ROSTER_FLAG_ADP;
    snprintf(sql, sizeof(sql), "UPDATE rosters SET roster = ?1 WHERE account_id = " ALICE " AND version = %lld",
             (long long)cur_version);
    at_exec(db, sql, lie, saved_len, NULL, 0, 1);
    at_exec(db, "UPDATE adp_state SET enabled = 0 WHERE account_id = " ALICE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    free(lie);
    const char *st[] = {"--json", "adp", "status", NULL};
    kw_it_result r = at_cli(&srv, prof_a, st, 2);
    at_assert_refused(&r, "ALERT: the server's roster does not verify", NULL);
    kw_it_result_free(&r);
    assert_no_photos_key();
    db = at_lie_begin(&srv);
    at_exec(db, sql, saved, saved_len, NULL, 0, 1);
    at_exec(db, "UPDATE adp_state SET enabled = 1 WHERE account_id = " ALICE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    status_ok(true);
}

static void test_roster_rolled_back(void **state)
{
    (void)state;
    char sql[200];
    sqlite3 *db = at_lie_begin(&srv);
    snprintf(sql, sizeof(sql), "DELETE FROM rosters WHERE account_id = " ALICE " AND version = %lld",
             (long long)cur_version);
    at_exec(db, sql, NULL, 0, NULL, 0, 1);
    at_exec(db, "UPDATE adp_state SET enabled = 0 WHERE account_id = " ALICE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    const char *st[] = {"--json", "adp", "status", NULL};
    kw_it_result r = at_cli(&srv, prof_a, st, 2);
    at_assert_refused(&r, "ALERT: the server rolled the roster back", NULL);
    kw_it_result_free(&r);
    assert_no_photos_key();
    db = at_lie_begin(&srv);
    snprintf(sql, sizeof(sql), "INSERT INTO rosters (account_id, version, roster) VALUES (" ALICE
                               ", %lld, ?1)",
             (long long)cur_version);
    at_exec(db, sql, saved, saved_len, NULL, 0, 1);
    at_exec(db, "UPDATE adp_state SET enabled = 1 WHERE account_id = " ALICE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    free(saved);
    status_ok(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_mirror_flipped),
        cmocka_unit_test(test_roster_bit_flipped),
        cmocka_unit_test(test_roster_rolled_back),
    };
    return cmocka_run_group_tests_name("attack_adp_switch", tests, setup, teardown);
}
