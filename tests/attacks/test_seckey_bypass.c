/*
 * Attack 12, ways around the security-key policy (issue 4): "once security
 * keys are on, a security-key assertion is required for sign-in on a new
 * device, web sign-in, password change, adding/removing keys and using the
 * recovery key; approval codes and TOTP are refused". An attacker who knows
 * the password (and may have had a code accepted before the policy was on)
 * tries every route against a real keywardd, through the real CLI with the
 * INSECURE software key (--soft-key) and through direct HTTP with the web
 * page's OPAQUE configuration and hand-made WebAuthn assertions.
 *
 * Bypasses found by the review (each test failed before its fix):
 *  - test_pending_device_needs_key: a device let in by an approval code
 *    before the policy was turned on stayed "known" and signed in again with
 *    the password alone (and could then use the recovery key to join).
 *  - test_policy_on_revokes_code_sessions: sessions opened with an approval
 *    code before the policy was on (a pending device's, a web page's)
 *    stayed valid after it was turned on.
 *  - test_signin_challenge_flood: anyone with the password could fill the
 *    account's 16 live challenges with sign-in attempts and so refuse, for a
 *    challenge lifetime, every security-key operation of the owner (key add,
 *    password change, policy) and every sign-in.
 * The other tests prove the refusals that held (each with a control case
 * that succeeds, so the refusal is not an artefact of the setup).
 */
#define _GNU_SOURCE
#include <pthread.h>
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

#include "keyward/client.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"
#include "keyward/softkey.h"
#include "keyward/webauthn.h"
#include "util/harness.h"

#define PASSWORD "bypass-attack-password"
#define NAME "victim"

static kw_it_server srv;
static char sk_v[512], sk_o[512];
static char *prof_a, *prof_b;
static char web_tok[64];
static int nprof;

/* ---- CLI ---- */

static kw_it_result run(const char *profile, const char *const *args, int expect)
{
    kw_it_result r = kw_it_cli(&srv, profile, NULL, args);
    if (expect >= 0 && r.status != expect)
        kw_it_dump(args[0], &r);
    if (expect >= 0)
        assert_int_equal(r.status, expect);
    return r;
}

static void run0(const char *profile, const char *const *args)
{
    kw_it_result r = run(profile, args, 0);
    kw_it_result_free(&r);
}

static char *fresh_profile(void)
{
    char name[32];
    snprintf(name, sizeof(name), "p%d", nprof++);
    return kw_it_profile(&srv, name);
}

static void approval_code(char code[16])
{
    const char *args[] = {"--json", "approval-code", NULL};
    kw_it_result r = run(prof_a, args, 0);
    snprintf(code, 16, "%s", json_string_value(json_object_get(r.json, "code")));
    kw_it_result_free(&r);
}

/* ---- HTTP ---- */

/* KEYWARD_TEST_HTTP_DEBUG set: every exchange goes to stderr. */
static int call(const char *method, const char *path, json_t *body, const char *token, json_t **out)
{
    return kw_it_call(&srv, method, path, body, token, out);
}

static const char *err_message(json_t *o)
{
    return kw_it_err_message(o);
}

static void expect_err(int st, int want_st, json_t *o, const char *needle)
{
    if (st != want_st || strstr(err_message(o), needle) == NULL)
        fprintf(stderr, "status %d (want %d), message: %s (want \"%s\")\n", st, want_st, err_message(o),
                needle);
    assert_int_equal(st, want_st);
    assert_non_null(strstr(err_message(o), needle));
}

static void b64(char *out, size_t cap, const uint8_t *p, size_t n)
{
    assert_int_equal(kw_b64url_encode(out, cap, p, n), KW_OK);
}

/* The web page's password step (OPAQUE, empty context) for `name`: the
 * FACTOR answer {token, factors, key_options?, ...} (status returned). */
static int web_password(const char *name, json_t **out)
{
    return kw_it_web_password(&srv, name, PASSWORD, NULL, NULL, out);
}

typedef struct {
    const char *origin;         /* NULL: http://localhost:PORT */
    kw_webauthn_ceremony cer;   /* 0: GET */
    unsigned opts;              /* softkey option bits */
} asrt_opts;

/* A PublicKeyCredential (JSON) by key file skfile for the options'
 * challenge, with credential cred_b64. */
static json_t *assertion_for(const char *skfile, json_t *options, const char *cred_b64, const asrt_opts *o)
{
    kw_softkey_insecure *sk = NULL;
    uint8_t ch[64], cred[128], cdh[32], ad[KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES];
    uint8_t sig[KW_SOFTKEY_INSECURE_SIG_MAXBYTES];
    size_t chn = 0, credn = 0, adn = 0, sign = 0, cdjn = 0;
    char cdj[1024], origin[128], b_cdj[2048], b_ad[512], b_sig[256];
    const char *chs = json_string_value(json_object_get(options, "challenge"));
    assert_non_null(chs);
    assert_int_equal(kw_b64url_decode(ch, sizeof(ch), &chn, chs, strlen(chs)), KW_OK);
    assert_int_equal(kw_b64url_decode(cred, sizeof(cred), &credn, cred_b64, strlen(cred_b64)), KW_OK);
    if (o != NULL && o->origin != NULL)
        snprintf(origin, sizeof(origin), "%s", o->origin);
    else
        snprintf(origin, sizeof(origin), "http://localhost:%u", srv.port);
    kw_webauthn_ceremony cer = o != NULL && o->cer != 0 ? o->cer : KW_WEBAUTHN_GET;
    assert_int_equal(kw_softkey_insecure_client_data(cdj, sizeof(cdj), &cdjn, cer, ch, chn, origin, false),
                     KW_OK);
    crypto_hash_sha256(cdh, (const uint8_t *)cdj, cdjn);
    assert_int_equal(kw_softkey_insecure_open(&sk, skfile), KW_OK);
    int r = kw_softkey_insecure_get_assertion(sk, "localhost", cdh, cred, credn, o != NULL ? o->opts : 0, ad,
                                              sizeof(ad), &adn, sig, sizeof(sig), &sign);
    kw_softkey_insecure_free(&sk);
    assert_int_equal(r, KW_OK);
    b64(b_cdj, sizeof(b_cdj), (const uint8_t *)cdj, cdjn);
    b64(b_ad, sizeof(b_ad), ad, adn);
    b64(b_sig, sizeof(b_sig), sig, sign);
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "id", cred_b64, "rawId", cred_b64, "type", "public-key",
                     "response", "clientDataJSON", b_cdj, "authenticatorData", b_ad, "signature", b_sig);
}

/* The first credential of the options' allowCredentials (base64url). */
static const char *first_cred(json_t *options)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(options, "allowCredentials"), 0), "id"));
}

/* A fresh web-login challenge for the FACTOR session f. */
static json_t *key_options(json_t *f)
{
    json_t *o = NULL;
    assert_int_equal(call("POST", "/v1/web/login/key-options", json_object(),
                          json_string_value(json_object_get(f, "token")), &o),
                     200);
    json_t *ko = json_incref(json_object_get(o, "key_options"));
    json_decref(o);
    return ko;
}

static int web_factor_key(json_t *f, json_t *assertion, json_t **out)
{
    return call("POST", "/v1/web/login/factor", json_pack("{s:s,s:o}", "type", "security_key", "assertion", assertion),
                json_string_value(json_object_get(f, "token")), out);
}

/* A full web sign-in with the victim's key into tok (64 bytes). */
static void web_sign_in(char tok[64])
{
    json_t *f = NULL, *o = NULL;
    assert_int_equal(web_password(NAME, &f), 200);
    json_t *ko = json_object_get(f, "key_options");
    json_t *a = assertion_for(sk_v, ko, first_cred(ko), NULL);
    assert_int_equal(web_factor_key(f, a, &o), 200);
    snprintf(tok, 64, "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    json_decref(f);
}

/* A challenge of `op` for the session tok: the options (publicKey). */
static json_t *op_options(const char *tok, const char *op)
{
    json_t *o = NULL;
    int st = call("POST", "/v1/seckeys/challenge", json_pack("{s:s}", "op", op), tok, &o);
    if (st != 200)
        fprintf(stderr, "challenge %s: %d %s\n", op, st, err_message(o));
    assert_int_equal(st, 200);
    json_t *pk = json_incref(json_object_get(o, "publicKey"));
    json_decref(o);
    return pk;
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    snprintf(sk_v, sizeof(sk_v), "%s/sk-victim", srv.dir);
    snprintf(sk_o, sizeof(sk_o), "%s/sk-other", srv.dir);
    prof_a = fresh_profile();
    prof_b = fresh_profile();
    const char *mk[] = {"account", "create", NAME, "--device-name", "laptop", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, mk);
    int ok = r.status == 0;
    if (!ok)
        kw_it_dump("account create", &r);
    kw_it_result_free(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    free(prof_b);
    return 0;
}

/* ---- bypasses (fixed) ---- */

/* BYPASS 3: what an approval code opened while the policy was off outlived
 * the switch: the session of a pending device B (with which it could use
 * the recovery key, a recovery passcode or contact to join and become
 * trusted, never touching a key) and a web session (device removal etc. on
 * the account page). Turning the policy on now ends both; the owner's
 * trusted device keeps its session. */
static void test_policy_on_revokes_code_sessions(void **state)
{
    (void)state;
    char code[16];
    json_t *f = NULL, *o = NULL;
    approval_code(code);
    const char *by_code[] = {"--json", "login", NAME, "--approval-code", code, "--device-name", "B", NULL};
    kw_it_result r = run(prof_b, by_code, 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "device_state")), "pending");
    kw_it_result_free(&r);
    const char *status[] = {"--json", "status", NULL};
    r = run(prof_b, status, 0);
    assert_true(json_is_true(json_object_get(r.json, "signed_in")));
    kw_it_result_free(&r);
    /* a web session by code */
    approval_code(code);
    assert_int_equal(web_password(NAME, &f), 200);
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", code),
                          json_string_value(json_object_get(f, "token")), &o),
                     200);
    char w0[64];
    snprintf(w0, sizeof(w0), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    json_decref(f);
    assert_int_equal(call("GET", "/v1/web/me", NULL, w0, NULL), 200);

    for (int i = 0; i < 2; i++) {
        const char *add[] = {"--soft-key", sk_v, "key", "add", NULL};
        run0(prof_a, add);
    }
    const char *on[] = {"--soft-key", sk_v, "key", "policy", "on", NULL};
    run0(prof_a, on);

    /* before the fix: still signed in, and 200 */
    r = run(prof_b, status, 0);
    if (!json_is_false(json_object_get(r.json, "signed_in")))
        kw_it_dump("pending device's old session", &r);
    assert_true(json_is_false(json_object_get(r.json, "signed_in")));
    kw_it_result_free(&r);
    assert_int_equal(call("GET", "/v1/web/me", NULL, w0, NULL), 401);
    /* control: the trusted device's session is untouched */
    r = run(prof_a, status, 0);
    assert_true(json_is_true(json_object_get(r.json, "signed_in")));
    kw_it_result_free(&r);
}

/* BYPASS 1: device B was let in by an approval code while the policy was
 * off (pending). With the policy on, B signed in again with the password
 * alone — a "known" device — though it is not one of the account's devices
 * yet (and could go on to join with the recovery key without ever touching
 * a security key). Now B is asked for a key like any new device; codes are
 * refused; the key works. */
static void test_pending_device_needs_key(void **state)
{
    (void)state;
    char code[16];
    kw_it_result r;

    /* the password alone: refused (before the fix: a session, exit 0) */
    const char *bare[] = {"login", NAME, NULL};
    r = run(prof_b, bare, -1);
    if (r.status == 0)
        kw_it_dump("pending device, password only", &r);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "security key"));
    kw_it_result_free(&r);

    /* a fresh approval code: refused */
    approval_code(code);
    const char *code2[] = {"login", NAME, "--approval-code", code, NULL};
    r = run(prof_b, code2, 2);
    assert_non_null(strstr(r.err, "requires a security_key"));
    kw_it_result_free(&r);

    /* control: with the key B signs in, still pending */
    const char *good[] = {"--soft-key", sk_v, "--json", "login", NAME, NULL};
    r = run(prof_b, good, 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "device_state")), "pending");
    kw_it_result_free(&r);

    /* a trusted device is not asked again (only new and pending ones are) */
    const char *again[] = {"--json", "login", NAME, NULL};
    r = run(prof_a, again, 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "device_state")), "trusted");
    kw_it_result_free(&r);
}

/* BYPASS 2 (denial of service): with the password alone an attacker asks for
 * sign-in challenges (web password step, or a new device's login) until the
 * account's 16 live challenges are taken; before the fix every challenge of
 * the owner was then refused for the challenge lifetime (2 minutes, renewed
 * at will): no key add, no password change, no policy change, no sign-in.
 * Now sign-in challenges make room by evicting their oldest, and the owner's
 * signed-in operations have their own slots. */
static void test_signin_challenge_flood(void **state)
{
    (void)state;
    json_t *f = NULL;
    for (int i = 0; i < 40; i++) {
        int st = web_password(NAME, &f);
        if (st != 200)
            fprintf(stderr, "flood %d: %d %s\n", i, st, err_message(f));
        assert_int_equal(st, 200); /* before the fix: 429 from the 17th on */
        json_decref(f);
        f = NULL;
    }
    /* a new device's password step too */
    char *pc = fresh_profile();
    for (int i = 0; i < 4; i++) {
        const char *login[] = {"login", NAME, NULL};
        kw_it_result r = run(pc, login, -1);
        assert_int_not_equal(r.status, 0);
        assert_null(strstr(r.err, "too many"));
        kw_it_result_free(&r);
    }
    free(pc);

    /* the owner's trusted device: key add (a "key-add" challenge) works */
    const char *add[] = {"--soft-key", sk_v, "--json", "key", "add", "--name", "after-flood", NULL};
    kw_it_result r = run(prof_a, add, 0);
    kw_it_result_free(&r);
    /* the owner signs in on the web with the key */
    char tok[64];
    web_sign_in(tok);
    /* and a new device signs in with the key */
    char *pn = fresh_profile();
    const char *login[] = {"--soft-key", sk_v, "--json", "login", NAME, NULL};
    r = run(pn, login, 0);
    kw_it_result_free(&r);
    free(pn);
}

/* ---- refusals that held ---- */

/* Web sign-in with the policy on: only the key is offered; approval code and
 * TOTP are refused; the key works. */
static void test_web_codes_refused(void **state)
{
    (void)state;
    json_t *f = NULL, *o = NULL;
    assert_int_equal(web_password(NAME, &f), 200);
    json_t *factors = json_object_get(f, "factors");
    assert_int_equal(json_array_size(factors), 1);
    assert_string_equal(json_string_value(json_array_get(factors, 0)), "security_key");
    char code[16];
    approval_code(code);
    int st = call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", code),
                  json_string_value(json_object_get(f, "token")), &o);
    expect_err(st, 401, o, "requires a security key");
    json_decref(o);
    /* TOTP enabled by the trusted device while the policy is on: a valid
     * code is still refused, on the web and for a new device */
    const char *totp_on[] = {"--json", "totp", "enable", "--self-confirm", NULL};
    kw_it_result r = run(prof_a, totp_on, 0);
    char totp[KW_CLIENT_CODEBYTES];
    assert_int_equal(kw_client_totp_code(json_string_value(json_object_get(r.json, "secret")), totp), KW_OK);
    kw_it_result_free(&r);
    st = call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "totp", "code", totp),
              json_string_value(json_object_get(f, "token")), &o);
    expect_err(st, 401, o, "requires a security key");
    json_decref(o);
    char *pt = fresh_profile();
    const char *by_totp[] = {"login", NAME, "--totp", totp, NULL};
    r = run(pt, by_totp, 2);
    assert_non_null(strstr(r.err, "requires a security_key"));
    kw_it_result_free(&r);
    free(pt);
    const char *totp_off[] = {"totp", "disable", NULL};
    run0(prof_a, totp_off);
    /* the FACTOR token is no session for the key routes */
    st = call("GET", "/v1/seckeys", NULL, json_string_value(json_object_get(f, "token")), &o);
    assert_int_equal(st, 401);
    json_decref(o);
    json_t *ko = json_object_get(f, "key_options");
    json_t *a = assertion_for(sk_v, ko, first_cred(ko), NULL);
    assert_int_equal(web_factor_key(f, a, &o), 200);
    snprintf(web_tok, sizeof(web_tok), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    json_decref(f);
}

/* Each WebAuthn check of an assertion, on the web sign-in: wrong origin,
 * wrong rpId, create-type client data, UP clear, BS without BE, bogus
 * signature, a credential not in allowCredentials (another account's), UV
 * absent is fine when not asked. */
static void test_assertion_checks(void **state)
{
    (void)state;
    /* another account with its own keys */
    char *po = fresh_profile();
    const char *mk[] = {"account", "create", "other", NULL};
    run0(po, mk);
    const char *add[] = {"--soft-key", sk_o, "--json", "key", "add", NULL};
    kw_it_result r = run(po, add, 0);
    char other_cred[256];
    snprintf(other_cred, sizeof(other_cred), "%s",
             json_string_value(json_object_get(json_object_get(r.json, "key"), "credential_id")));
    kw_it_result_free(&r);
    free(po);

    static const struct {
        asrt_opts o;
        const char *needle;
    } cases[] = {
        {{"http://evil.example:8080", 0, 0}, "origin"},
        {{"https://localhost.evil.example:443", 0, 0}, "origin"},
        {{"http://localhost:0123", 0, 0}, "origin"},
        {{NULL, KW_WEBAUTHN_CREATE, 0}, "type"},
        {{NULL, 0, KW_SOFTKEY_INSECURE_OPT_WRONG_RP}, "rp"},
        {{NULL, 0, KW_SOFTKEY_INSECURE_OPT_NO_UP}, "presence"},
        {{NULL, 0, KW_SOFTKEY_INSECURE_OPT_BS_NO_BE}, "backup"},
        {{NULL, 0, KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG}, "signature"},
    };
    json_t *f = NULL, *o = NULL;
    assert_int_equal(web_password(NAME, &f), 200);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *ko = key_options(f);
        json_t *a = assertion_for(sk_v, ko, first_cred(ko), &cases[i].o);
        int st = web_factor_key(f, a, &o);
        fprintf(stderr, "case %zu: %d %s\n", i, st, err_message(o));
        assert_int_equal(st, 401);
        char lower[512];
        snprintf(lower, sizeof(lower), "%s", err_message(o));
        for (char *p = lower; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        assert_non_null(strstr(lower, cases[i].needle));
        json_decref(o);
        json_decref(ko);
    }
    /* another account's key (not in allowCredentials) */
    json_t *ko = key_options(f);
    json_t *a = assertion_for(sk_o, ko, other_cred, NULL);
    int st = web_factor_key(f, a, &o);
    expect_err(st, 401, o, "not registered to the account");
    json_decref(o);
    json_decref(ko);
    /* control: the genuine key, UV clear (not asked), signs in */
    ko = key_options(f);
    a = assertion_for(sk_v, ko, first_cred(ko), NULL);
    assert_int_equal(web_factor_key(f, a, &o), 200);
    json_decref(o);
    json_decref(ko);
    json_decref(f);
}

typedef struct {
    json_t *f;
    json_t *assertion;
    int status;
} race_arg;

static void *race_thread(void *p)
{
    race_arg *ra = p;
    ra->status = web_factor_key(ra->f, json_incref(ra->assertion), NULL);
    return NULL;
}

/* Two finishes racing on one challenge: the same valid assertion sent at
 * once on two web sign-ins (both at the factor step; the "web-login"
 * challenge is the account's): exactly one session. Repeated. */
static void test_race_one_challenge(void **state)
{
    (void)state;
    for (int round = 0; round < 4; round++) {
        race_arg ra[2] = {{0}, {0}};
        assert_int_equal(web_password(NAME, &ra[0].f), 200);
        assert_int_equal(web_password(NAME, &ra[1].f), 200);
        json_t *ko = key_options(ra[0].f);
        json_t *a = assertion_for(sk_v, ko, first_cred(ko), NULL);
        ra[0].assertion = ra[1].assertion = a;
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, race_thread, &ra[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        int ok = (ra[0].status == 200) + (ra[1].status == 200);
        fprintf(stderr, "race round %d: %d %d\n", round, ra[0].status, ra[1].status);
        assert_int_equal(ok, 1);
        assert_true(ra[0].status == 401 || ra[1].status == 401);
        json_decref(a);
        json_decref(ko);
        json_decref(ra[0].f);
        json_decref(ra[1].f);
    }
}

/* A web session (password + key) with the policy on: it may not turn the
 * policy off nor remove keys below the minimum; adding or removing a key and
 * changing the password need an assertion of the right operation. */
static void test_web_session_limits(void **state)
{
    (void)state;
    json_t *o = NULL, *keys = NULL;
    assert_true(web_tok[0] != '\0');
    /* policy off from the web: refused even with an assertion */
    json_t *po = op_options(web_tok, "policy");
    json_t *a = assertion_for(sk_v, po, first_cred(po), NULL);
    int st = call("POST", "/v1/seckeys/policy", json_pack("{s:b,s:o}", "enabled", 0, "assertion", a), web_tok, &o);
    expect_err(st, 401, o, "trusted device");
    json_decref(o);
    json_decref(po);
    /* key add without an assertion: refused before anything is spent */
    assert_int_equal(call("POST", "/v1/seckeys/register/start", json_object(), web_tok, &o), 200);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/seckeys", NULL, web_tok, &keys), 200);
    json_t *k0 = json_array_get(json_object_get(keys, "keys"), 0);
    char path[64];
    snprintf(path, sizeof(path), "/v1/seckeys/%lld/remove", (long long)json_integer_value(json_object_get(k0, "id")));
    /* remove without an assertion */
    st = call("POST", path, json_object(), web_tok, &o);
    if (json_array_size(json_object_get(keys, "keys")) <= 2)
        expect_err(st, 401, o, "only a trusted device");
    else
        expect_err(st, 401, o, "assertion required");
    json_decref(o);
    /* remove with an assertion made for another operation ("password") */
    po = op_options(web_tok, "password");
    a = assertion_for(sk_v, po, first_cred(po), NULL);
    st = call("POST", path, json_pack("{s:o}", "assertion", a), web_tok, &o);
    if (json_array_size(json_object_get(keys, "keys")) <= 2)
        expect_err(st, 401, o, "only a trusted device");
    else
        expect_err(st, 401, o, "challenge is unknown");
    json_decref(o);
    json_decref(po);
    /* the password routes take no web session */
    st = call("POST", "/v1/password/start", json_pack("{s:s,s:s}", "ke1", "AA", "request", "AA"), web_tok, &o);
    assert_int_equal(st, 401);
    json_decref(o);
    /* the keys are all still there */
    json_t *after = NULL;
    assert_int_equal(call("GET", "/v1/seckeys", NULL, web_tok, &after), 200);
    assert_int_equal(json_array_size(json_object_get(after, "keys")), json_array_size(json_object_get(keys, "keys")));
    assert_true(json_is_true(json_object_get(after, "policy")));
    json_decref(after);
    json_decref(keys);
}

/* Password change and key removal from the trusted device need the key;
 * the trusted device without --soft-key is refused. */
static void test_trusted_device_needs_key(void **state)
{
    (void)state;
    setenv("KEYWARD_NEW_PASSWORD", PASSWORD "-new", 1);
    const char *pw[] = {"password", "change", NULL};
    kw_it_result r = run(prof_a, pw, -1);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "security key"));
    kw_it_result_free(&r);
    const char *ls[] = {"--json", "key", "list", NULL};
    r = run(prof_a, ls, 0);
    json_t *k0 = json_array_get(json_object_get(r.json, "keys"), 0);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(k0, "id")));
    kw_it_result_free(&r);
    const char *rm[] = {"key", "remove", id, NULL};
    r = run(prof_a, rm, -1);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    const char *off[] = {"key", "policy", "off", NULL};
    r = run(prof_a, off, -1);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    r = run(prof_a, ls, 0);
    assert_true(json_is_true(json_object_get(r.json, "policy")));
    kw_it_result_free(&r);
    unsetenv("KEYWARD_NEW_PASSWORD");
}

/* Counters: a key without a counter (0 → 0) is accepted again and again; a
 * counter that does not grow once non-zero is refused and logged. */
static void test_counter_zero_and_regression(void **state)
{
    (void)state;
    /* a new key: counter 0 at registration */
    const char *add[] = {"--soft-key", sk_v, "--json", "key", "add", "--name", "zero", NULL};
    kw_it_result r = run(prof_a, add, 0);
    char cred[256];
    snprintf(cred, sizeof(cred), "%s",
             json_string_value(json_object_get(json_object_get(r.json, "key"), "credential_id")));
    kw_it_result_free(&r);
    json_t *f = NULL, *o = NULL;
    asrt_opts keep = {NULL, 0, KW_SOFTKEY_INSECURE_OPT_KEEP_COUNTER};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(web_password(NAME, &f), 200);
        json_t *ko = key_options(f);
        assert_int_equal(web_factor_key(f, assertion_for(sk_v, ko, cred, &keep), &o), 200);
        json_decref(o);
        json_decref(ko);
        json_decref(f);
    }
    /* a counting use: 1 */
    assert_int_equal(web_password(NAME, &f), 200);
    json_t *ko = key_options(f);
    assert_int_equal(web_factor_key(f, assertion_for(sk_v, ko, cred, NULL), &o), 200);
    json_decref(o);
    json_decref(ko);
    json_decref(f);
    /* 1 → 1: refused, logged */
    assert_int_equal(web_password(NAME, &f), 200);
    ko = key_options(f);
    int st = web_factor_key(f, assertion_for(sk_v, ko, cred, &keep), &o);
    expect_err(st, 401, o, "counter");
    json_decref(o);
    json_decref(ko);
    json_decref(f);
    FILE *lf = fopen(srv.log_path, "r");
    assert_non_null(lf);
    char line[1024];
    bool logged = false;
    while (fgets(line, sizeof(line), lf) != NULL)
        logged = logged || strstr(line, "event=seckey_counter_regression") != NULL;
    fclose(lf);
    assert_true(logged);
}

/* Registration: an attestation format we do not support is refused with a
 * clear error; a credential registered to one account cannot be registered
 * to another ("none" attestation signs nothing, so its attestation object
 * could be replayed). */
static void test_register_refusals(void **state)
{
    (void)state;
    json_t *o = NULL, *start = NULL;
    kw_softkey_insecure *sk = NULL;
    uint8_t ch[64], cdh[32], att[2048], cred[KW_SOFTKEY_INSECURE_CREDIDBYTES];
    size_t chn = 0, attn = 0, cdjn = 0;
    char cdj[1024], origin[64], b_cdj[2048], b_att[4096], b_cred[128];
    snprintf(origin, sizeof(origin), "http://localhost:%u", srv.port);
    assert_int_equal(kw_softkey_insecure_open(&sk, NULL), KW_OK);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(call("POST", "/v1/seckeys/register/start", json_object(), web_tok, &start), 200);
        json_t *pk = json_object_get(start, "publicKey");
        const char *chs = json_string_value(json_object_get(pk, "challenge"));
        assert_int_equal(kw_b64url_decode(ch, sizeof(ch), &chn, chs, strlen(chs)), KW_OK);
        assert_int_equal(kw_softkey_insecure_client_data(cdj, sizeof(cdj), &cdjn, KW_WEBAUTHN_CREATE, ch, chn,
                                                         origin, false),
                         KW_OK);
        crypto_hash_sha256(cdh, (const uint8_t *)cdj, cdjn);
        assert_int_equal(kw_softkey_insecure_make_credential(sk, KW_COSE_ES256, "localhost", cdh,
                                                             KW_SOFTKEY_INSECURE_ATT_NONE, 0, att, sizeof(att),
                                                             &attn, cred),
                         KW_OK);
        /* fmt "none" → "nonf": a format nobody implements */
        uint8_t *p = memmem(att, attn, "\x64none", 5);
        assert_non_null(p);
        p[4] = 'f';
        b64(b_cdj, sizeof(b_cdj), (const uint8_t *)cdj, cdjn);
        b64(b_att, sizeof(b_att), att, attn);
        b64(b_cred, sizeof(b_cred), cred, sizeof(cred));
        json_t *po = op_options(web_tok, "key-add");
        json_t *a = assertion_for(sk_v, po, first_cred(po), NULL);
        json_decref(po);
        int st = call("POST", "/v1/seckeys/register/finish",
                      json_pack("{s:{s:s,s:s,s:s,s:{s:s,s:s}},s:o}", "credential", "id", b_cred, "rawId", b_cred,
                                "type", "public-key", "response", "clientDataJSON", b_cdj, "attestationObject",
                                b_att, "assertion", a),
                      web_tok, &o);
        fprintf(stderr, "unsupported fmt: %d %s\n", st, err_message(o));
        assert_true(st >= 400 && st < 500 && st != 401);
        assert_non_null(strstr(err_message(o), "unsupported attestation format"));
        json_decref(o);
        json_decref(start);
    }
    kw_softkey_insecure_free(&sk);

    /* another account replays the victim's registration ("none") */
    char *po = fresh_profile();
    const char *mk[] = {"account", "create", "thief", NULL};
    run0(po, mk);
    /* victim's own registration, captured from the HTTP exchange */
    assert_int_equal(kw_softkey_insecure_open(&sk, NULL), KW_OK);
    assert_int_equal(call("POST", "/v1/seckeys/register/start", json_object(), web_tok, &start), 200);
    const char *chs = json_string_value(json_object_get(json_object_get(start, "publicKey"), "challenge"));
    assert_int_equal(kw_b64url_decode(ch, sizeof(ch), &chn, chs, strlen(chs)), KW_OK);
    assert_int_equal(kw_softkey_insecure_client_data(cdj, sizeof(cdj), &cdjn, KW_WEBAUTHN_CREATE, ch, chn, origin,
                                                     false),
                     KW_OK);
    crypto_hash_sha256(cdh, (const uint8_t *)cdj, cdjn);
    assert_int_equal(kw_softkey_insecure_make_credential(sk, KW_COSE_EDDSA, "localhost", cdh,
                                                         KW_SOFTKEY_INSECURE_ATT_NONE, 0, att, sizeof(att), &attn,
                                                         cred),
                     KW_OK);
    kw_softkey_insecure_free(&sk);
    b64(b_cdj, sizeof(b_cdj), (const uint8_t *)cdj, cdjn);
    b64(b_att, sizeof(b_att), att, attn);
    b64(b_cred, sizeof(b_cred), cred, sizeof(cred));
    json_t *kopt = op_options(web_tok, "key-add");
    json_t *a = assertion_for(sk_v, kopt, first_cred(kopt), NULL);
    json_decref(kopt);
    int st = call("POST", "/v1/seckeys/register/finish",
                  json_pack("{s:{s:s,s:s,s:s,s:{s:s,s:s}},s:o}", "credential", "id", b_cred, "rawId", b_cred, "type",
                            "public-key", "response", "clientDataJSON", b_cdj, "attestationObject", b_att,
                            "assertion", a),
                  web_tok, &o);
    if (st != 200)
        fprintf(stderr, "victim register: %d %s\n", st, err_message(o));
    assert_int_equal(st, 200);
    json_decref(o);
    json_decref(start);
    /* the thief: a web sign-in of "thief" has no key; use its CLI device
     * through a web session opened with an approval code */
    const char *code_args[] = {"--json", "approval-code", NULL};
    kw_it_result r = run(po, code_args, 0);
    char code[16];
    snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(r.json, "code")));
    kw_it_result_free(&r);
    json_t *f = NULL;
    assert_int_equal(web_password("thief", &f), 200);
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", code),
                          json_string_value(json_object_get(f, "token")), &o),
                     200);
    char ttok[64];
    snprintf(ttok, sizeof(ttok), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    json_decref(f);
    assert_int_equal(call("POST", "/v1/seckeys/register/start", json_object(), ttok, &start), 200);
    chs = json_string_value(json_object_get(json_object_get(start, "publicKey"), "challenge"));
    assert_int_equal(kw_b64url_decode(ch, sizeof(ch), &chn, chs, strlen(chs)), KW_OK);
    assert_int_equal(kw_softkey_insecure_client_data(cdj, sizeof(cdj), &cdjn, KW_WEBAUTHN_CREATE, ch, chn, origin,
                                                     false),
                     KW_OK);
    b64(b_cdj, sizeof(b_cdj), (const uint8_t *)cdj, cdjn);
    st = call("POST", "/v1/seckeys/register/finish",
              json_pack("{s:{s:s,s:s,s:s,s:{s:s,s:s}}}", "credential", "id", b_cred, "rawId", b_cred, "type",
                        "public-key", "response", "clientDataJSON", b_cdj, "attestationObject", b_att),
              ttok, &o);
    expect_err(st, 409, o, "already registered");
    json_decref(o);
    json_decref(start);
    assert_int_equal(call("GET", "/v1/seckeys", NULL, ttok, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "keys")), 0);
    json_decref(o);
    free(po);
}

/* User verification when the configuration asks for it
 * (webauthn.user_verification = required, a second keywardd): the options
 * say "required", the CLI's key answers with UV, an assertion without the
 * UV flag is refused, one with it signs in. A bad value stops the start. */
static void test_uv_required(void **state)
{
    (void)state;
    kw_it_server main_srv = srv, bad = {0};
    const char *bad_args[] = {"--set", "webauthn.user_verification=maybe", NULL};
    assert_int_not_equal(kw_it_server_start(&bad, NULL, bad_args), 0);
    kw_it_server_stop(&bad, true);
    kw_it_server_cleanup(&bad);
    const char *args[] = {"--set", "webauthn.user_verification=required", NULL};
    assert_int_equal(kw_it_server_start(&srv, NULL, args), 0);
    char *p = kw_it_profile(&srv, "uv");
    const char *mk[] = {"account", "create", NAME, NULL};
    run0(p, mk);
    const char *add[] = {"--soft-key", sk_v, "--json", "key", "add", NULL};
    kw_it_result r = run(p, add, 0);
    char cred[256];
    snprintf(cred, sizeof(cred), "%s", json_string_value(json_object_get(json_object_get(r.json, "key"), "credential_id")));
    kw_it_result_free(&r);
    json_t *f = NULL, *o = NULL;
    assert_int_equal(web_password(NAME, &f), 200);
    json_t *ko = key_options(f);
    assert_string_equal(json_string_value(json_object_get(ko, "userVerification")), "required");
    int st = web_factor_key(f, assertion_for(sk_v, ko, cred, NULL), &o);
    expect_err(st, 401, o, "user verification");
    json_decref(o);
    json_decref(ko);
    ko = key_options(f);
    asrt_opts uv = {NULL, 0, KW_SOFTKEY_INSECURE_OPT_UV};
    assert_int_equal(web_factor_key(f, assertion_for(sk_v, ko, cred, &uv), &o), 200);
    json_decref(o);
    json_decref(ko);
    json_decref(f);
    /* the CLI's sign-in of a new device with the key (UV set by the client) */
    const char *on[] = {"--soft-key", sk_v, "key", "add", NULL};
    run0(p, on);
    const char *pol[] = {"--soft-key", sk_v, "key", "policy", "on", NULL};
    run0(p, pol);
    char *p2 = kw_it_profile(&srv, "uv2");
    const char *login[] = {"--soft-key", sk_v, "--json", "login", NAME, NULL};
    r = run(p2, login, 0);
    kw_it_result_free(&r);
    free(p);
    free(p2);
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    srv = main_srv;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_on_revokes_code_sessions),
        cmocka_unit_test(test_pending_device_needs_key),
        cmocka_unit_test(test_web_codes_refused),
        cmocka_unit_test(test_assertion_checks),
        cmocka_unit_test(test_race_one_challenge),
        cmocka_unit_test(test_web_session_limits), /* 2 keys: the minimum */
        cmocka_unit_test(test_trusted_device_needs_key),
        cmocka_unit_test(test_counter_zero_and_regression),
        cmocka_unit_test(test_web_session_limits), /* 3 keys: the assertion gate */
        cmocka_unit_test(test_register_refusals),
        cmocka_unit_test(test_signin_challenge_flood),
        cmocka_unit_test(test_uv_required),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
