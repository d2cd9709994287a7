/*
 * Attack 8 and replays (DESIGN.md "Attacks the tests must show detected"):
 * the server swaps ciphertexts between records or replays old ones.
 *
 * Set-up (honest): A creates "alice" and B joins it; O creates "bob".
 * The lying server, each time stopped and restarted on its database:
 *   (a) swaps the keychain blobs of alice and bob: A and O refuse with exit 2
 *       "ALERT: the keychain does not open under KK generation 1" (another
 *       KK, and the associated data binds the header and the account name);
 *   (b) serves bob's roster as alice's latest: A refuses "ALERT: the
 *       server's roster does not verify under the account key";
 *   (c) hands B the KK wrap made for A: B refuses "the key wrap does not
 *       open for this device" (the HPKE info binds the receiving device);
 *   (d) after A removed B (KK 2, keychain v2), replays the old keychain v1
 *       under version 2, then as version 1: A refuses "ALERT: the keychain
 *       header does not match".
 * After each lie is undone the honest devices read their keychains again.
 *
 *   (e) rolls the whole keychain state back to generation 1 (keychain v1,
 *       KK generation 2 and its wraps deleted): A, which holds KK 2 and saw
 *       keychain v2, refuses "ALERT: the server rolled the keychain back".
 */
#include "attack_util.h"

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_o;
static char a_pk[64], o_pk[64], a_id[32], b_id[32];
static uint8_t aid[16], bid[16];
static uint8_t *kc_v1;
static size_t kc_v1_len;

#define ALICE "(SELECT id FROM accounts WHERE name = 'alice')"
#define BOB "(SELECT id FROM accounts WHERE name = 'bob')"

static const kw_it_prof profs[] = {{"A", &prof_a}, {"B", &prof_b}, {"O", &prof_o}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return at_fixture_up(&srv, NULL, profs);
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    free(kc_v1);
    return 0;
}

static const char *const show[] = {"--json", "keychain", "show", NULL};

static void refused(const char *prof, const char *frag)
{
    kw_it_result r = at_cli(&srv, prof, show, 2);
    at_assert_refused(&r, frag, NULL);
    kw_it_result_free(&r);
}

static void test_setup_honest(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    at_join(&srv, prof_a, prof_b, "alice", "phone-B", b_id);
    at_create(&srv, prof_o, "bob", "laptop-O", o_pk);
    const char *st[] = {"--json", "status", NULL};
    kw_it_result r = at_cli(&srv, prof_a, st, 0);
    snprintf(a_id, sizeof(a_id), "%s", at_jstr(&r, "device_id"));
    kw_it_result_free(&r);
    at_id(aid, a_id);
    at_id(bid, b_id);
    at_keychain_ok(&srv, prof_a, a_pk, 1);
    at_keychain_ok(&srv, prof_o, o_pk, 1);
}

static void swap_keychains(sqlite3 *db)
{
    size_t la = 0, lb = 0;
    uint8_t *ka = at_blob(db, "SELECT keychain FROM keychains WHERE account_id = " ALICE, NULL, 0, &la);
    uint8_t *kb = at_blob(db, "SELECT keychain FROM keychains WHERE account_id = " BOB, NULL, 0, &lb);
    at_exec(db, "UPDATE keychains SET keychain = ?1 WHERE account_id = " ALICE, kb, lb, NULL, 0, 1);
    at_exec(db, "UPDATE keychains SET keychain = ?1 WHERE account_id = " BOB, ka, la, NULL, 0, 1);
    if (kc_v1 == NULL) {
        kc_v1 = ka; /* alice's v1, for the replay in (d) */
        kc_v1_len = la;
    } else {
        free(ka);
    }
    free(kb);
}

/* (a) */
static void test_keychains_swapped_between_accounts(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    swap_keychains(db);
    at_lie_end(&srv, db);
    refused(prof_a, "ALERT: the keychain does not open under KK generation 1");
    refused(prof_o, "ALERT: the keychain does not open under KK generation 1");
    refused(prof_b, "ALERT: the keychain does not open under KK generation 1");
    db = at_lie_begin(&srv);
    swap_keychains(db);
    at_lie_end(&srv, db);
    at_keychain_ok(&srv, prof_a, a_pk, 1);
    at_keychain_ok(&srv, prof_b, a_pk, 1);
    at_keychain_ok(&srv, prof_o, o_pk, 1);
}

/* (b) */
static void test_roster_swapped_between_accounts(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    size_t la = 0, lb = 0;
    uint8_t *ra = at_blob(db, "SELECT roster FROM rosters WHERE account_id = " ALICE " AND version = 2",
                          NULL, 0, &la);
    uint8_t *rb = at_blob(db, "SELECT roster FROM rosters WHERE account_id = " BOB " AND version = 1",
                          NULL, 0, &lb);
    at_exec(db, "UPDATE rosters SET roster = ?1 WHERE account_id = " ALICE " AND version = 2", rb, lb,
            NULL, 0, 1);
    at_lie_end(&srv, db);
    refused(prof_a, "ALERT: the server's roster does not verify under the account key");
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE rosters SET roster = ?1 WHERE account_id = " ALICE " AND version = 2", ra, la,
            NULL, 0, 1);
    at_lie_end(&srv, db);
    free(ra);
    free(rb);
    at_keychain_ok(&srv, prof_a, a_pk, 1);
}

/* (c) */
static void test_wrap_swapped_between_devices(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    size_t la = 0, lb = 0;
    uint8_t *wa = at_blob(db, "SELECT wrap FROM kk_wraps WHERE generation = 1 AND device_id = ?1", aid, 16,
                          &la);
    uint8_t *wb = at_blob(db, "SELECT wrap FROM kk_wraps WHERE generation = 1 AND device_id = ?1", bid, 16,
                          &lb);
    at_exec(db, "UPDATE kk_wraps SET wrap = ?2 WHERE generation = 1 AND device_id = ?1", bid, 16, wa, la,
            1);
    at_lie_end(&srv, db);
    refused(prof_b, "the key wrap does not open for this device");
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE kk_wraps SET wrap = ?2 WHERE generation = 1 AND device_id = ?1", bid, 16, wb, lb,
            1);
    at_lie_end(&srv, db);
    free(wa);
    free(wb);
    at_keychain_ok(&srv, prof_b, a_pk, 1);
}

static uint8_t *kc_v2;
static size_t kc_v2_len;

/* (d) */
static void test_old_keychain_replayed(void **state)
{
    (void)state;
    assert_non_null(kc_v1);
    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    kw_it_result r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    at_keychain_ok(&srv, prof_a, a_pk, 2);

    sqlite3 *db = at_lie_begin(&srv);
    kc_v2 = at_blob(db, "SELECT keychain FROM keychains WHERE account_id = " ALICE, NULL, 0, &kc_v2_len);
    assert_int_equal(at_int(db, "SELECT version FROM keychains WHERE account_id = " ALICE), 2);
    at_exec(db, "UPDATE keychains SET keychain = ?1 WHERE account_id = " ALICE, kc_v1, kc_v1_len, NULL, 0,
            1);
    at_lie_end(&srv, db);
    refused(prof_a, "ALERT: the keychain header does not match");

    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE keychains SET version = 1 WHERE account_id = " ALICE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    refused(prof_a, "ALERT: the keychain header does not match");

    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE keychains SET version = 2, keychain = ?1 WHERE account_id = " ALICE, kc_v2,
            kc_v2_len, NULL, 0, 1);
    at_lie_end(&srv, db);
    at_keychain_ok(&srv, prof_a, a_pk, 2);
}

/* (e) the whole keychain state rolled back to generation 1: A holds KK
 * generation 2 and saw keychain v2, so it refuses with a rollback alert. */
static void test_keychain_generation_rolled_back(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    size_t clen = 0, wlen = 0;
    uint8_t *chain = at_blob(db, "SELECT chain FROM kk_generations WHERE account_id = " ALICE
                                 " AND generation = 2",
                             NULL, 0, &clen);
    uint8_t *w2 = at_blob(db, "SELECT wrap FROM kk_wraps WHERE generation = 2 AND device_id = ?1", aid, 16,
                          &wlen);
    at_exec(db, "DELETE FROM kk_generations WHERE account_id = " ALICE " AND generation = 2", NULL, 0,
            NULL, 0, 1);
    at_exec(db, "UPDATE keychains SET version = 1, keychain = ?1 WHERE account_id = " ALICE, kc_v1,
            kc_v1_len, NULL, 0, 1);
    at_lie_end(&srv, db);
    kw_it_result r = at_cli(&srv, prof_a, show, 2);
    int status = r.status;
    at_assert_refused(&r, "ALERT: the server rolled the keychain back", NULL);
    kw_it_result_free(&r);

    db = at_lie_begin(&srv);
    at_exec(db, "INSERT INTO kk_generations (account_id, generation, chain) VALUES (" ALICE ", 2, ?1)",
            chain, clen, NULL, 0, 1);
    at_exec(db,
            "INSERT INTO kk_wraps (account_id, generation, device_id, wrap) VALUES (" ALICE ", 2, ?1, ?2)",
            aid, 16, w2, wlen, 1);
    at_exec(db, "UPDATE keychains SET version = 2, keychain = ?1 WHERE account_id = " ALICE, kc_v2,
            kc_v2_len, NULL, 0, 1);
    at_lie_end(&srv, db);
    free(chain);
    free(w2);
    at_keychain_ok(&srv, prof_a, a_pk, 2);
    assert_int_equal(status, 2);
}

static void test_cleanup(void **state)
{
    (void)state;
    free(kc_v2);
    kc_v2 = NULL;
    at_keychain_ok(&srv, prof_a, a_pk, 2);
    at_keychain_ok(&srv, prof_o, o_pk, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_keychains_swapped_between_accounts),
        cmocka_unit_test(test_roster_swapped_between_accounts),
        cmocka_unit_test(test_wrap_swapped_between_devices),
        cmocka_unit_test(test_old_keychain_replayed),
        cmocka_unit_test(test_keychain_generation_rolled_back),
        cmocka_unit_test(test_cleanup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
