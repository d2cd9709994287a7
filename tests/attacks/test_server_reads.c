/*
 * Attack 12 (DESIGN.md "Attacks the tests must show detected"): the server
 * reads end-to-end content.
 *
 * The CLI has no command to add a keychain item yet, so the known plaintext
 * is the account flow's own secret data. Scenario: A creates "alice", B
 * joins, A creates a recovery key, A removes B (KK generation 2). The
 * secrets, read from the devices' profiles with the profile passphrase:
 * the account key seed (the keychain's plaintext), KK generations 1 and 2,
 * both devices' HPKE private keys and identity seeds, the recovery key (raw
 * and as the printed code), the account password and the profile
 * passphrase. None may appear in any file under the server's data directory
 * (keyward.db, -wal, -shm, server.key, ...) or in its log, searched as raw
 * bytes, hex (both cases), base64 and base64url at each of the three byte
 * alignments inside a longer encoding: once while keywardd runs (WAL
 * populated) and once after it stopped. A positive control (the account
 * public key and the device id, which the server must store) shows the
 * search finds what is there.
 */
#include "attack_util.h"

#include "client/client_internal.h"
#include "keyward/keychain.h"

static kw_it_server srv;
static char *prof_a, *prof_b;
static char a_pk[64], b_id[32], recovery_code[KW_RECOVERY_CODEBYTES];
static at_files files; /* what the operator holds */

static const kw_it_prof profs[] = {{"A", &prof_a}, {"B", &prof_b}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return at_fixture_up(&srv, NULL, profs);
}

static int teardown(void **state)
{
    (void)state;
    at_files_free(&files);
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static void test_scenario(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    at_join(&srv, prof_a, prof_b, "alice", "phone-B", b_id);
    const char *rk[] = {"--json", "recovery-key", "create", NULL};
    kw_it_result r = at_cli(&srv, prof_a, rk, 0);
    assert_int_equal(r.status, 0);
    snprintf(recovery_code, sizeof(recovery_code), "%s", at_jstr(&r, "recovery_key"));
    assert_int_equal(strlen(recovery_code), KW_RECOVERY_CODEBYTES - 1);
    kw_it_result_free(&r);
    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    at_keychain_ok(&srv, prof_a, a_pk, 2);
}

static void search_all(void)
{
    kwc_profile *pa = NULL, *pb = NULL;
    assert_int_equal(kwc_profile_load(&pa, prof_a, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_int_equal(kwc_profile_load(&pb, prof_b, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    at_files_load(&files, &srv);

    /* control: public data the server must hold */
    uint8_t apk[32], bid[16];
    size_t n = 0;
    assert_int_equal(kw_b64url_decode(apk, sizeof(apk), &n, a_pk, strlen(a_pk)), KW_OK);
    at_assert_present(&files, "the account public key", apk, 32);
    at_id(bid, b_id);
    at_assert_present(&files, "B's device id", bid, 16);
    at_assert_present(&files, "A's HPKE public key", pa->s->hpke_pk, 32);

    assert_true(pa->s->has_account_seed);
    at_assert_absent(&files, "the account key seed", pa->s->account_seed, 32);
    assert_non_null(kwc_profile_kk(pa, 1));
    assert_non_null(kwc_profile_kk(pa, 2));
    at_assert_absent(&files, "KK generation 1", kwc_profile_kk(pa, 1), 32);
    at_assert_absent(&files, "KK generation 2", kwc_profile_kk(pa, 2), 32);
    at_assert_absent(&files, "A's HPKE private key", pa->s->hpke_sk, 32);
    at_assert_absent(&files, "A's identity seed", pa->s->identity_seed, 32);
    at_assert_absent(&files, "B's HPKE private key", pb->s->hpke_sk, 32);
    at_assert_absent(&files, "B's identity seed", pb->s->identity_seed, 32);
    uint8_t rkey[KW_RECOVERY_KEYBYTES];
    assert_int_equal(kw_recovery_code_parse(rkey, recovery_code), KW_OK);
    at_assert_absent(&files, "the recovery key", rkey, sizeof(rkey));
    at_assert_absent(&files, "the recovery code", (const uint8_t *)recovery_code, strlen(recovery_code));
    sodium_memzero(rkey, sizeof(rkey));
    at_assert_absent(&files, "the account password", (const uint8_t *)AT_PASSWORD, strlen(AT_PASSWORD));
    at_assert_absent(&files, "the profile passphrase", (const uint8_t *)AT_PASSPHRASE, strlen(AT_PASSPHRASE));
    kwc_profile_free(&pa);
    kwc_profile_free(&pb);
}

/* While keywardd runs: the WAL and the log as they are. */
static void test_nothing_readable_running(void **state)
{
    (void)state;
    search_all();
}

/* After a stop (checkpointed database, final log). */
static void test_nothing_readable_stopped(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    search_all();
    assert_int_equal(kw_it_server_start(&srv, srv.dir, NULL), 0);
    at_keychain_ok(&srv, prof_a, a_pk, 2);
    at_files_free(&files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario),
        cmocka_unit_test(test_nothing_readable_running),
        cmocka_unit_test(test_nothing_readable_stopped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
