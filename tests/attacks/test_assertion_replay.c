/*
 * Attack 11, security-key assertions: an attacker who knows the password
 * and has seen (or phished) security-key assertions tries to reuse them
 * against a real keywardd, through the real CLI (the client library's test
 * hooks of the software authenticator make it send a captured assertion:
 * KEYWARD_TEST_SECKEY_CAPTURE[_ONLY] / KEYWARD_TEST_SECKEY_REPLAY).
 *
 * Each is refused: a replayed (already accepted) assertion; a fresh
 * signature by the genuine key over an already used challenge; an unused
 * challenge of another operation ("policy") offered for a sign-in, which is
 * then spent for its own operation too; an unused challenge of another
 * account; and a key whose counter went backwards (a clone), which the
 * server also logs (event=seckey_counter_regression). The control case — the
 * genuine key with a fresh challenge — succeeds, so the refusals are not an
 * artefact of the setup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/softkey.h"
#include "util/harness.h"

#define PASSWORD "replay-attack-password"

static kw_it_server srv;
static char sk_v[512], sk_o[512], cap[512], forged[512];
static int nprof;

static char *fresh_profile(void)
{
    char name[32];
    snprintf(name, sizeof(name), "dev%d", nprof++);
    return kw_it_profile(&srv, name);
}

static kw_it_result run(const char *profile, const char *const *args, int expect)
{
    kw_it_result r = kw_it_cli(&srv, profile, NULL, args);
    if (r.status != expect)
        kw_it_dump(args[0], &r);
    assert_int_equal(r.status, expect);
    return r;
}

/* Creates account `name` on a new profile with two keys in `skfile` and the
 * policy on; returns the profile (malloc'd). */
static char *make_account(const char *name, const char *skfile)
{
    char *p = fresh_profile();
    const char *mk[] = {"account", "create", name, NULL};
    kw_it_result r = run(p, mk, 0);
    kw_it_result_free(&r);
    for (int i = 0; i < 2; i++) {
        const char *add[] = {"--soft-key", skfile, "key", "add", NULL};
        r = run(p, add, 0);
        kw_it_result_free(&r);
    }
    const char *on[] = {"--soft-key", skfile, "key", "policy", "on", NULL};
    r = run(p, on, 0);
    kw_it_result_free(&r);
    return p;
}

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    snprintf(sk_v, sizeof(sk_v), "%s/sk-victim", srv.dir);
    snprintf(sk_o, sizeof(sk_o), "%s/sk-other", srv.dir);
    snprintf(cap, sizeof(cap), "%s/captured.json", srv.dir);
    snprintf(forged, sizeof(forged), "%s/forged.json", srv.dir);
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE");
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE_ONLY");
    unsetenv("KEYWARD_TEST_SECKEY_REPLAY");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    return 0;
}

/* A sign-in of a new device to `account` with key file sk, sending the
 * assertion in `replay` instead of a fresh one when non-NULL. */
static kw_it_result sign_in(const char *account, const char *sk, const char *replay, int expect)
{
    char *p = fresh_profile();
    const char *args[] = {"--soft-key", sk, "--json", "login", account, NULL};
    if (replay != NULL)
        setenv("KEYWARD_TEST_SECKEY_REPLAY", replay, 1);
    kw_it_result r = run(p, args, expect);
    unsetenv("KEYWARD_TEST_SECKEY_REPLAY");
    free(p);
    return r;
}

/* Runs args with the assertion captured (and, when only, not sent). */
static kw_it_result captured_run(const char *profile, const char *const *args, bool only, int expect)
{
    setenv("KEYWARD_TEST_SECKEY_CAPTURE", cap, 1);
    if (only)
        setenv("KEYWARD_TEST_SECKEY_CAPTURE_ONLY", "1", 1);
    kw_it_result r = run(profile, args, expect);
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE");
    unsetenv("KEYWARD_TEST_SECKEY_CAPTURE_ONLY");
    return r;
}

static void expect_challenge_refusal(const kw_it_result *r)
{
    assert_non_null(strstr(r->err, "challenge is unknown, expired, already used, or for another"));
}

static void test_replayed_and_reused(void **state)
{
    (void)state;
    char *pv = make_account("victim", sk_v);
    free(pv);

    /* control: a genuine sign-in, its assertion captured on the way */
    char *pb = fresh_profile();
    const char *login[] = {"--soft-key", sk_v, "--json", "login", "victim", NULL};
    kw_it_result r = captured_run(pb, login, false, 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "device_state")), "pending");
    kw_it_result_free(&r);
    free(pb);

    /* 1. the same assertion again */
    r = sign_in("victim", sk_v, cap, 2);
    expect_challenge_refusal(&r);
    kw_it_result_free(&r);

    /* 2. the genuine key signs the used challenge again (fresh counter,
     * valid signature): the challenge is spent */
    json_error_t err;
    json_t *a = json_load_file(cap, 0, &err);
    assert_non_null(a);
    json_t *resp = json_object_get(a, "response");
    const char *cdj_s = json_string_value(json_object_get(resp, "clientDataJSON"));
    const char *id_s = json_string_value(json_object_get(a, "rawId"));
    uint8_t cdj[1024], id[64], cdh[32], ad[256], sig[128];
    size_t cdj_len = 0, id_len = 0, ad_len = 0, sig_len = 0;
    assert_int_equal(kw_b64url_decode(cdj, sizeof(cdj), &cdj_len, cdj_s, strlen(cdj_s)), KW_OK);
    assert_int_equal(kw_b64url_decode(id, sizeof(id), &id_len, id_s, strlen(id_s)), KW_OK);
    crypto_hash_sha256(cdh, cdj, cdj_len);
    kw_softkey_insecure *sk = NULL;
    assert_int_equal(kw_softkey_insecure_open(&sk, sk_v), KW_OK);
    assert_int_equal(kw_softkey_insecure_get_assertion(sk, "localhost", cdh, id, id_len, 0, ad,
                                                       sizeof(ad), &ad_len, sig, sizeof(sig),
                                                       &sig_len),
                     KW_OK);
    kw_softkey_insecure_free(&sk);
    char b64[512];
    assert_int_equal(kw_b64url_encode(b64, sizeof(b64), ad, ad_len), KW_OK);
    json_object_set_new(resp, "authenticatorData", json_string(b64));
    assert_int_equal(kw_b64url_encode(b64, sizeof(b64), sig, sig_len), KW_OK);
    json_object_set_new(resp, "signature", json_string(b64));
    assert_int_equal(json_dump_file(a, forged, JSON_COMPACT), 0);
    json_decref(a);
    r = sign_in("victim", sk_v, forged, 2);
    expect_challenge_refusal(&r);
    kw_it_result_free(&r);

    /* control: the same key with a fresh challenge still works */
    r = sign_in("victim", sk_v, NULL, 0);
    kw_it_result_free(&r);
}

/* An unused challenge of the "policy" operation, with a valid assertion,
 * offered for a sign-in: refused, and spent for its own operation too. */
static void test_other_operation(void **state)
{
    (void)state;
    char *pa = fresh_profile();
    const char *mk[] = {"account", "create", "victim2", NULL};
    kw_it_result r = run(pa, mk, 0);
    kw_it_result_free(&r);
    for (int i = 0; i < 2; i++) {
        const char *add[] = {"--soft-key", sk_v, "key", "add", NULL};
        r = run(pa, add, 0);
        kw_it_result_free(&r);
    }
    const char *on[] = {"--soft-key", sk_v, "key", "policy", "on", NULL};
    r = run(pa, on, 0);
    kw_it_result_free(&r);

    const char *off[] = {"--soft-key", sk_v, "key", "policy", "off", NULL};
    r = captured_run(pa, off, true, 1); /* captured, not sent: exit 1 (local) */
    kw_it_result_free(&r);

    r = sign_in("victim2", sk_v, cap, 2);
    expect_challenge_refusal(&r);
    kw_it_result_free(&r);

    /* its own operation no longer takes it */
    setenv("KEYWARD_TEST_SECKEY_REPLAY", cap, 1);
    r = run(pa, off, 2);
    unsetenv("KEYWARD_TEST_SECKEY_REPLAY");
    expect_challenge_refusal(&r);
    kw_it_result_free(&r);

    /* the policy is still on */
    const char *ls[] = {"--json", "key", "list", NULL};
    r = run(pa, ls, 0);
    assert_true(json_is_true(json_object_get(r.json, "policy")));
    kw_it_result_free(&r);
    free(pa);
}

/* An unused sign-in challenge of one account offered to another. */
static void test_other_account(void **state)
{
    (void)state;
    char *po = make_account("other", sk_o);
    free(po);
    char *pc = fresh_profile();
    const char *login[] = {"--soft-key", sk_v, "login", "victim", NULL};
    kw_it_result r = captured_run(pc, login, true, 1);
    kw_it_result_free(&r);
    free(pc);
    r = sign_in("other", sk_o, cap, 2);
    expect_challenge_refusal(&r);
    kw_it_result_free(&r);
    /* control: other's own key works */
    r = sign_in("other", sk_o, NULL, 0);
    kw_it_result_free(&r);
}

/* A cloned key: its counter goes back below what the server saw. */
static void test_counter_regression(void **state)
{
    (void)state;
    json_error_t err;
    /* the credential id victim's key file uses first */
    char *pb = fresh_profile();
    const char *login[] = {"--soft-key", sk_v, "login", "victim", NULL};
    kw_it_result r = captured_run(pb, login, false, 0);
    kw_it_result_free(&r);
    free(pb);
    json_t *a = json_load_file(cap, 0, &err);
    assert_non_null(a);
    const char *id_s = json_string_value(json_object_get(a, "rawId"));
    uint8_t id[64];
    size_t id_len = 0;
    assert_int_equal(kw_b64url_decode(id, sizeof(id), &id_len, id_s, strlen(id_s)), KW_OK);
    json_decref(a);

    kw_softkey_insecure *sk = NULL;
    assert_int_equal(kw_softkey_insecure_open(&sk, sk_v), KW_OK);
    assert_int_equal(kw_softkey_insecure_set_counter(sk, id, id_len, 1), KW_OK);
    kw_softkey_insecure_free(&sk);

    r = sign_in("victim", sk_v, NULL, 2);
    assert_non_null(strstr(r.err, "counter"));
    kw_it_result_free(&r);

    /* logged by the server */
    FILE *f = fopen(srv.log_path, "r");
    assert_non_null(f);
    char line[1024];
    bool logged = false;
    while (fgets(line, sizeof(line), f) != NULL)
        logged = logged || strstr(line, "event=seckey_counter_regression") != NULL;
    fclose(f);
    assert_true(logged);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replayed_and_reused),
        cmocka_unit_test(test_other_operation),
        cmocka_unit_test(test_other_account),
        cmocka_unit_test(test_counter_regression),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
