/*
 * Integration: security keys as the required second factor, through the
 * real keyward CLI (with the INSECURE software authenticator, --soft-key)
 * against a real keywardd (loopback, temporary SQLite store).
 *
 * Scenario (in order, one server, shared profiles):
 * A creates the account and registers key k1 (soft key file SK1); the
 * policy cannot go on with one key (4); k2 and k3 (file SK2) join; list and
 * rename; the policy goes on. A new device B is refused with an approval
 * code and with TOTP (2), cannot use a key file with no registered key (2),
 * and signs in with SK2 (pending). An unused login assertion of k1 is
 * captured; A removes k1 (3 → 2 keys, policy stays); replaying k1's
 * assertion is refused by the server (removed key, 2). A password change
 * without a key fails and changes nothing; with SK2 it succeeds. The
 * recovery key needs a key too (D: recovery + SK2 → trusted). Removing a key
 * below two without an assertion is refused by the server (401), from the
 * CLI with SK2 it turns the policy off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_internal.h"
#include "keyward/client.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "util/harness.h"

#define PASSWORD "sk-password-one"
#define PASSWORD2 "sk-password-two"
#define PASSPHRASE "integration-test-passphrase" /* what the harness sets */

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_c, *prof_d, *prof_e;
static char sk1[512], sk2[512], sk_other[512], captured[512];
static long long k1_id, k2_id, k3_id;

static kw_it_result cli(const char *profile, const char *const *args)
{
    kw_it_result r = kw_it_cli(&srv, profile, NULL, args);
    if (r.status != 0)
        kw_it_dump(args[1] != NULL ? args[1] : args[0], &r);
    return r;
}

static kw_it_result cli_quiet(const char *profile, const char *const *args)
{
    return kw_it_cli(&srv, profile, NULL, args);
}

static const char *jstr(const kw_it_result *r, const char *key)
{
    const char *s = json_string_value(json_object_get(r->json, key));
    return s != NULL ? s : "";
}

static const kw_it_prof profs[] = {
    {"A", &prof_a}, {"B", &prof_b}, {"C", &prof_c}, {"D", &prof_d}, {"E", &prof_e},
    {NULL, NULL},
};

static int setup(void **state)
{
    (void)state;
    if (kw_it_fixture_up(&srv, NULL, profs) != 0)
        return -1;
    snprintf(sk1, sizeof(sk1), "%s/softkey-1", srv.dir);
    snprintf(sk2, sizeof(sk2), "%s/softkey-2", srv.dir);
    snprintf(sk_other, sizeof(sk_other), "%s/softkey-other", srv.dir);
    snprintf(captured, sizeof(captured), "%s/captured.json", srv.dir);
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE");
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE_ONLY");
    unsetenv("KEYWARD_TEST_SECKEY_REPLAY");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

/* The key list of A as JSON (caller frees). */
static kw_it_result list_keys(void)
{
    const char *args[] = {"--json", "key", "list", NULL};
    kw_it_result r = cli(prof_a, args);
    assert_int_equal(r.status, 0);
    assert_non_null(r.json);
    return r;
}

static long long key_id_named(const kw_it_result *r, const char *name)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(r->json, "keys"), i, k)
        if (strcmp(json_string_value(json_object_get(k, "name")), name) == 0)
            return (long long)json_integer_value(json_object_get(k, "id"));
    return -1;
}

static void test_register_keys(void **state)
{
    (void)state;
    const char *mk[] = {"--json", "account", "create", "skuser", "--device-name", "laptop-A", NULL};
    kw_it_result r = cli(prof_a, mk);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    const char *add1[] = {"--soft-key", sk1, "--json", "key", "add", "--name", "k1", NULL};
    r = cli(prof_a, add1);
    assert_int_equal(r.status, 0);
    /* the insecure authenticator says so */
    assert_non_null(strstr(r.err, "INSECURE"));
    json_t *key = json_object_get(r.json, "key");
    assert_string_equal(json_string_value(json_object_get(key, "name")), "k1");
    assert_string_equal(json_string_value(json_object_get(key, "alg")), "ES256");
    kw_it_result_free(&r);

    /* one key is not enough for the policy: conflict (4), policy stays off */
    const char *on[] = {"--soft-key", sk1, "key", "policy", "on", NULL};
    r = cli_quiet(prof_a, on);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "at least 2"));
    kw_it_result_free(&r);

    const char *add2[] = {"--soft-key", sk2, "--json", "key", "add", "--name", "k2", NULL};
    r = cli(prof_a, add2);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    const char *add3[] = {"--soft-key", sk2, "--json", "key", "add", "--name", "k3tmp", NULL};
    r = cli(prof_a, add3);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    r = list_keys();
    assert_int_equal(json_array_size(json_object_get(r.json, "keys")), 3);
    assert_false(json_is_true(json_object_get(r.json, "policy")));
    k1_id = key_id_named(&r, "k1");
    k2_id = key_id_named(&r, "k2");
    k3_id = key_id_named(&r, "k3tmp");
    assert_true(k1_id > 0 && k2_id > 0 && k3_id > 0);
    kw_it_result_free(&r);

    /* rename, then list shows the new name */
    char id[32];
    snprintf(id, sizeof(id), "%lld", k3_id);
    const char *ren[] = {"key", "rename", id, "k3", NULL};
    r = cli(prof_a, ren);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = list_keys();
    assert_int_equal(key_id_named(&r, "k3"), k3_id);
    assert_int_equal(key_id_named(&r, "k3tmp"), -1);
    kw_it_result_free(&r);

    /* the same credential cannot be registered twice: the soft key makes a
     * new credential each time, so this checks the server by replaying is
     * in the attack tests; here: policy on with three keys */
    r = cli(prof_a, on);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = list_keys();
    assert_true(json_is_true(json_object_get(r.json, "policy")));
    kw_it_result_free(&r);
}

/* New device B: approval code and TOTP refused, an unregistered key refused,
 * the registered key signs in (pending). */
static void test_new_device_needs_key(void **state)
{
    (void)state;
    const char *mkcode[] = {"--json", "approval-code", NULL};
    kw_it_result r = cli(prof_a, mkcode);
    assert_int_equal(r.status, 0);
    char code[8];
    snprintf(code, sizeof(code), "%s", jstr(&r, "code"));
    kw_it_result_free(&r);
    const char *by_code[] = {"login", "skuser", "--approval-code", code, NULL};
    r = cli_quiet(prof_b, by_code);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "requires a security_key"));
    kw_it_result_free(&r);

    const char *totp_on[] = {"--json", "totp", "enable", "--self-confirm", NULL};
    r = cli(prof_a, totp_on);
    assert_int_equal(r.status, 0);
    char totp[KW_CLIENT_CODEBYTES];
    assert_int_equal(kw_client_totp_code(jstr(&r, "secret"), totp), KW_OK);
    kw_it_result_free(&r);
    const char *by_totp[] = {"login", "skuser", "--totp", totp, NULL};
    r = cli_quiet(prof_b, by_totp);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "requires a security_key"));
    kw_it_result_free(&r);

    /* a key file holding no key of the account */
    const char *wrong[] = {"--soft-key", sk_other, "login", "skuser", NULL};
    r = cli_quiet(prof_b, wrong);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "not registered"));
    kw_it_result_free(&r);

    /* nothing was stored for B so far: the device list has only A */
    const char *devs[] = {"--json", "device", "list", NULL};
    r = cli(prof_a, devs);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "devices")), 1);
    kw_it_result_free(&r);

    const char *good[] = {"--soft-key", sk2, "--json", "login", "skuser", "--device-name", "phone-B",
                          NULL};
    r = cli(prof_b, good);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "pending");
    assert_int_equal(strlen(jstr(&r, "join_code")), 6);
    kw_it_result_free(&r);

    /* the key's use is recorded */
    r = list_keys();
    size_t i;
    json_t *k;
    bool used = false;
    json_array_foreach(json_object_get(r.json, "keys"), i, k)
        used = used || json_integer_value(json_object_get(k, "last_used_at")) > 0;
    assert_true(used);
    kw_it_result_free(&r);
}

/* An assertion of k1 for a live login challenge is captured (not sent); A
 * removes k1; the server refuses the replayed assertion: the key is no
 * longer the account's. */
static void test_removed_key_refused(void **state)
{
    (void)state;
    setenv("KEYWARD_TEST_SECKEY_CAPTURE", captured, 1);
    setenv("KEYWARD_TEST_SECKEY_CAPTURE_ONLY", "1", 1);
    const char *cap[] = {"--soft-key", sk1, "login", "skuser", NULL};
    kw_it_result r = cli_quiet(prof_c, cap);
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE");
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE_ONLY");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "captured"));
    kw_it_result_free(&r);

    char id[32];
    snprintf(id, sizeof(id), "%lld", k1_id);
    const char *rm[] = {"--soft-key", sk2, "--json", "key", "remove", id, NULL};
    r = cli(prof_a, rm);
    assert_int_equal(r.status, 0);
    assert_true(json_is_true(json_object_get(r.json, "policy")));
    assert_false(json_is_true(json_object_get(r.json, "policy_turned_off")));
    kw_it_result_free(&r);

    setenv("KEYWARD_TEST_SECKEY_REPLAY", captured, 1);
    r = cli_quiet(prof_c, cap);
    unsetenv("KEYWARD_TEST_SECKEY_REPLAY");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "not registered to the account"));
    kw_it_result_free(&r);

    /* and k1's own file has nothing left to offer */
    r = cli_quiet(prof_c, cap);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
}

static void test_password_change_needs_key(void **state)
{
    (void)state;
    setenv("KEYWARD_NEW_PASSWORD", PASSWORD2, 1);
    /* no key at hand (no --soft-key, no USB key on a test machine) */
    const char *nokey[] = {"password", "change", NULL};
    kw_it_result r = cli_quiet(prof_a, nokey);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    /* nothing changed: a known device still signs in with the old password */
    const char *login_a[] = {"login", "skuser", NULL};
    r = cli(prof_a, login_a);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    const char *withkey[] = {"--soft-key", sk2, "--json", "password", "change", NULL};
    r = cli(prof_a, withkey);
    assert_int_equal(r.status, 0);
    assert_true(json_is_true(json_object_get(r.json, "password_changed")));
    kw_it_result_free(&r);
    unsetenv("KEYWARD_NEW_PASSWORD");

    r = cli_quiet(prof_a, login_a); /* old password */
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
    setenv("KEYWARD_PASSWORD", PASSWORD2, 1);
    r = cli(prof_a, login_a);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
}

/* The recovery key works only together with a security key. */
static void test_recovery_needs_key(void **state)
{
    (void)state;
    const char *mk[] = {"--json", "recovery-key", "create", NULL};
    kw_it_result r = cli(prof_a, mk);
    assert_int_equal(r.status, 0);
    char code[128];
    snprintf(code, sizeof(code), "%s", jstr(&r, "recovery_key"));
    kw_it_result_free(&r);

    const char *nokey[] = {"--soft-key", sk_other, "login", "skuser", "--recovery-key", code, NULL};
    r = cli_quiet(prof_e, nokey);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);

    const char *ok[] = {"--soft-key", sk2, "--json", "login", "skuser", "--recovery-key", code, NULL};
    r = cli(prof_d, ok);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);
}

/* Below two keys: refused by the server without an assertion; with one,
 * from a trusted device, the key goes and the policy turns off. */
static void test_remove_below_two(void **state)
{
    (void)state;
    kwc_profile *pa = NULL;
    char *body = NULL, path[64];
    assert_int_equal(kwc_profile_load(&pa, prof_a, PASSPHRASE, strlen(PASSPHRASE)), KW_OK);
    snprintf(path, sizeof(path), "/v1/seckeys/%lld/remove", k3_id);
    int st = kw_it_http(&srv, "POST", path, "{}", pa->s->token, &body);
    assert_int_equal(st, 401);
    assert_non_null(strstr(body, "assertion required"));
    free(body);
    body = NULL;
    /* policy off without an assertion: refused too */
    st = kw_it_http(&srv, "POST", "/v1/seckeys/policy", "{\"enabled\":false}", pa->s->token, &body);
    assert_int_equal(st, 401);
    free(body);
    kwc_profile_free(&pa);

    kw_it_result r = list_keys();
    assert_int_equal(json_array_size(json_object_get(r.json, "keys")), 2);
    assert_true(json_is_true(json_object_get(r.json, "policy")));
    kw_it_result_free(&r);

    char id[32];
    snprintf(id, sizeof(id), "%lld", k3_id);
    const char *rm[] = {"--soft-key", sk2, "--json", "key", "remove", id, NULL};
    r = cli(prof_a, rm);
    assert_int_equal(r.status, 0);
    assert_true(json_is_true(json_object_get(r.json, "policy_turned_off")));
    kw_it_result_free(&r);
    r = list_keys();
    assert_int_equal(json_array_size(json_object_get(r.json, "keys")), 1);
    assert_false(json_is_true(json_object_get(r.json, "policy")));
    kw_it_result_free(&r);

    /* with the policy off, an approval code works again for a new device */
    const char *mkcode[] = {"--json", "approval-code", NULL};
    r = cli(prof_a, mkcode);
    char code[8];
    snprintf(code, sizeof(code), "%s", jstr(&r, "code"));
    kw_it_result_free(&r);
    const char *by_code[] = {"--json", "login", "skuser", "--approval-code", code, NULL};
    r = cli(prof_e, by_code);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "pending");
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_keys),
        cmocka_unit_test(test_new_device_needs_key),
        cmocka_unit_test(test_removed_key_refused),
        cmocka_unit_test(test_password_change_needs_key),
        cmocka_unit_test(test_recovery_needs_key),
        cmocka_unit_test(test_remove_below_two),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
