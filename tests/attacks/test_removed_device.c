/*
 * Attack 10 (DESIGN.md "Attacks the tests must show detected"): a removed
 * device reads data written after its removal.
 *
 * Set-up (honest): A creates "alice", B joins, A removes B: KK generation 2,
 * keychain v2 under KK 2, roster v3 {A}; B's sessions are revoked.
 *   (honest) B's `keychain show` is refused (its session is dead).
 *   (lie 1) the server colludes with B: revives B's session, marks B
 *     trusted again and hands B the generation-2 wrap made for A. B refuses
 *     with exit 2 "this device is not in the account's signed roster".
 *   (lie 2) additionally serves roster v2 {A, B} (older, correctly signed)
 *     as the latest: B verified v3 in lie 1 and refuses with exit 2
 *     "ALERT: the server rolled the roster back"; with its rollback marks
 *     (pins.json) deleted, B gets past the roster check, but A's wrap does
 *     not open for B: exit 2 "the key wrap does not open for this device".
 * Then, with everything B holds (its profile: KK 1 only, its HPKE key) and
 * everything the server has (keychain v2, A's wrap, the KK chain), nothing
 * opens: B's profile has no KK 2, KK 1 does not open keychain v2, A's wrap
 * does not unwrap with B's key. After the lie is undone A still reads
 * generation 2 (nothing lost).
 */
#include "attack_util.h"

#include "client/client_internal.h"
#include "keyward/keychain.h"

static kw_it_server srv;
static char *prof_a, *prof_b;
static char a_pk[64], b_id[32], a_id[32];
static uint8_t bid[16], aid[16];

#define ALICE "(SELECT id FROM accounts WHERE name = 'alice')"

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
    const char *st[] = {"--json", "status", NULL};
    kw_it_result r = at_cli(&srv, prof_a, st, 0);
    snprintf(a_id, sizeof(a_id), "%s", at_jstr(&r, "device_id"));
    kw_it_result_free(&r);
    at_id(aid, a_id);
    at_id(bid, b_id);
    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 2);
    kw_it_result_free(&r);
    at_keychain_ok(&srv, prof_a, a_pk, 2);

    /* honest server: B's session is gone */
    const char *show[] = {"--json", "keychain", "show", NULL};
    r = at_cli(&srv, prof_b, show, 2);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
}

static uint8_t *saved_v3;
static size_t saved_v3_len;

static void test_server_hands_new_wrap_to_removed_device(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    assert_int_equal(at_int(db, "SELECT count(*) FROM kk_wraps WHERE generation = 2"), 1);
    at_exec(db, "UPDATE sessions SET revoked = 0 WHERE device_id = ?1", bid, 16, NULL, 0, -1);
    at_exec(db, "UPDATE devices SET state = 1 WHERE id = ?1", bid, 16, NULL, 0, 1);
    size_t wlen = 0;
    uint8_t *aw = at_blob(db, "SELECT wrap FROM kk_wraps WHERE generation = 2 AND device_id = ?1", aid,
                          16, &wlen);
    at_exec(db,
            "INSERT INTO kk_wraps (account_id, generation, device_id, wrap) VALUES (" ALICE ", 2, ?1, ?2)",
            bid, 16, aw, wlen, 1);
    free(aw);
    at_lie_end(&srv, db);

    /* lie 1: the current roster v3 does not list B */
    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(&srv, prof_b, show, 2);
    at_assert_refused(&r, "this device is not in the account's signed roster", NULL);
    kw_it_result_free(&r);

    /* lie 2: roster v2, which still lists B, served as the latest */
    db = at_lie_begin(&srv);
    saved_v3 = at_blob(db, "SELECT roster FROM rosters WHERE account_id = " ALICE " AND version = 3",
                       NULL, 0, &saved_v3_len);
    at_exec(db, "DELETE FROM rosters WHERE account_id = " ALICE " AND version = 3", NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    r = at_cli(&srv, prof_b, show, 2);
    at_assert_refused(&r, "ALERT: the server rolled the roster back", NULL);
    kw_it_result_free(&r);
    char pins[600];
    snprintf(pins, sizeof(pins), "%s/pins.json", prof_b);
    assert_int_equal(unlink(pins), 0);
    r = at_cli(&srv, prof_b, show, 2);
    at_assert_refused(&r, "the key wrap does not open for this device", NULL);
    kw_it_result_free(&r);
    const char *st[] = {"--json", "status", NULL};
    r = at_cli(&srv, prof_b, st, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 1);
    kw_it_result_free(&r);
}

/* What B could do offline with what it holds and what the server has. */
static void test_removed_device_cannot_decrypt(void **state)
{
    (void)state;
    kwc_profile *pa = NULL, *pb = NULL;
    assert_int_equal(kwc_profile_load(&pa, prof_a, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_int_equal(kwc_profile_load(&pb, prof_b, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_null(kwc_profile_kk(pb, 2));
    const uint8_t *kk1 = kwc_profile_kk(pb, 1);
    assert_non_null(kk1);

    sqlite3 *db = at_db_open(&srv); /* read-only use while it runs */
    size_t blen = 0, wlen = 0, clen = 0;
    uint8_t *blob = at_blob(db, "SELECT keychain FROM keychains WHERE account_id = " ALICE, NULL, 0, &blen);
    uint8_t *aw = at_blob(db, "SELECT wrap FROM kk_wraps WHERE generation = 2 AND device_id = ?1", aid, 16,
                          &wlen);
    uint8_t *chain = at_blob(db, "SELECT chain FROM kk_generations WHERE account_id = " ALICE
                                 " AND generation = 2",
                             NULL, 0, &clen);
    at_db_close(db);
    kw_keychain *k = NULL;
    assert_int_equal(kw_keychain_open(&k, blob, blen, kk1, "alice", 2, 2), KW_ERR_VERIFY);
    assert_null(k);
    uint8_t kk[KW_KK_BYTES], prev[KW_KK_BYTES];
    /* A's wrap, tried as if addressed to B and as what it is */
    assert_int_not_equal(kw_kk_unwrap(kk, aw, wlen, "alice", 2, pb->device_id, pb->s->hpke_sk,
                                      pb->s->hpke_pk, pa->s->hpke_pk),
                         KW_OK);
    assert_int_not_equal(kw_kk_unwrap(kk, aw, wlen, "alice", 2, aid, pb->s->hpke_sk, pb->s->hpke_pk,
                                      pa->s->hpke_pk),
                         KW_OK);
    /* the chain runs backwards only: KK 1 does not open it */
    assert_int_not_equal(kw_kk_chain_open(prev, chain, clen, kk1, "alice", 2), KW_OK);
    /* control: A's KK 2 opens both */
    assert_int_equal(kw_keychain_open(&k, blob, blen, kwc_profile_kk(pa, 2), "alice", 2, 2), KW_OK);
    kw_keychain_free(&k);
    assert_int_equal(kw_kk_chain_open(prev, chain, clen, kwc_profile_kk(pa, 2), "alice", 2), KW_OK);
    assert_memory_equal(prev, kk1, KW_KK_BYTES);
    sodium_memzero(prev, sizeof(prev));
    free(blob);
    free(aw);
    free(chain);
    kwc_profile_free(&pa);
    kwc_profile_free(&pb);
}

static void test_undo_nothing_lost(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "INSERT INTO rosters (account_id, version, roster) VALUES (" ALICE ", 3, ?1)", saved_v3,
            saved_v3_len, NULL, 0, 1);
    at_exec(db, "DELETE FROM kk_wraps WHERE device_id = ?1", bid, 16, NULL, 0, 1);
    at_exec(db, "UPDATE sessions SET revoked = 1 WHERE device_id = ?1", bid, 16, NULL, 0, -1);
    at_exec(db, "UPDATE devices SET state = 2 WHERE id = ?1", bid, 16, NULL, 0, 1);
    at_lie_end(&srv, db);
    free(saved_v3);
    at_keychain_ok(&srv, prof_a, a_pk, 2);
    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(&srv, prof_b, show, 2);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_server_hands_new_wrap_to_removed_device),
        cmocka_unit_test(test_removed_device_cannot_decrypt),
        cmocka_unit_test(test_undo_nothing_lost),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
