/* The /v1/seckeys area (server/api/seckeys.c) over real HTTP, with the
 * INSECURE software authenticator playing the browser and the key:
 * registration (accepted; a credential id already registered to another
 * account refused; wrong origin, wrong rpId, UP missing, a used challenge
 * refused; malformed and oversized input refused), assertions (wrong
 * origin, port-less or non-numeric port against the ":*" default, bogus
 * signature, BS without BE refused), the policy rules and the
 * configuration checks of the start hook. */
#include "api_harness.h"

#include "api/seckeys.h"
#include "config.h"
#include "keyward/softkey.h"
#include "keyward/webauthn.h"

#define ORIGIN "http://localhost:8443"

typedef struct {
    th_server s;
    th_account a, b;
    th_device da, db;
    char ta[64], tb[64];
    kw_softkey_insecure *sk;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    th_start(&f->s);
    assert_int_equal(kw_api_seckeys_start(&f->s.srv), KW_OK);
    th_device_new(&f->da, "dev-a");
    th_device_new(&f->db, "dev-b");
    assert_int_equal(th_register(&f->s, &f->a, "alice", &f->da, f->ta, NULL), 200);
    assert_int_equal(th_register(&f->s, &f->b, "bob", &f->db, f->tb, NULL), 200);
    assert_int_equal(kw_softkey_insecure_open(&f->sk, NULL), KW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    kw_softkey_insecure_free(&f->sk);
    th_device_free(&f->da);
    th_device_free(&f->db);
    th_account_free(&f->a);
    th_account_free(&f->b);
    kw_api_seckeys_stop(&f->s.srv);
    th_stop(&f->s);
    free(f);
    return 0;
}

/* The challenge of an options object. */
static size_t get_challenge(json_t *opts, uint8_t ch[64])
{
    const char *s = json_string_value(json_object_get(opts, "challenge"));
    size_t n = 0;
    assert_non_null(s);
    assert_int_equal(kw_b64url_decode(ch, 64, &n, s, strlen(s)), KW_OK);
    return n;
}

typedef struct {
    uint8_t att[KW_SOFTKEY_INSECURE_ATTOBJ_MAXBYTES];
    size_t att_len;
    uint8_t id[KW_SOFTKEY_INSECURE_CREDIDBYTES];
    char cdj[512];
    size_t cdj_len;
} reg;

/* register/start as token, then a credential made for rp with origin. */
static void make_reg(fx *f, const char *token, const char *rp, const char *origin, unsigned opts,
                     kw_softkey_insecure_att fmt, reg *out)
{
    json_t *reply = NULL;
    uint8_t ch[64], cdh[32];
    assert_int_equal(th_req(&f->s, "POST", "/v1/seckeys/register/start", token, json_object(),
                            &reply),
                     200);
    json_t *pk = json_object_get(reply, "publicKey");
    assert_string_equal(json_string_value(json_object_get(json_object_get(pk, "rp"), "id")),
                        "localhost");
    assert_int_equal(json_array_size(json_object_get(pk, "pubKeyCredParams")), 4);
    size_t n = get_challenge(pk, ch);
    assert_int_equal(n, 32);
    json_decref(reply);
    assert_int_equal(kw_softkey_insecure_client_data(out->cdj, sizeof(out->cdj), &out->cdj_len,
                                                     KW_WEBAUTHN_CREATE, ch, n, origin, false),
                     KW_OK);
    crypto_hash_sha256(cdh, (const uint8_t *)out->cdj, out->cdj_len);
    assert_int_equal(kw_softkey_insecure_make_credential(f->sk, KW_COSE_ES256, rp, cdh, fmt, opts,
                                                         out->att, sizeof(out->att),
                                                         &out->att_len, out->id),
                     KW_OK);
}

static json_t *reg_body(const reg *r, const char *name)
{
    json_t *resp = json_object(), *cred = json_pack("{s:s}", "type", "public-key");
    json_object_set_new(cred, "id", th_b64(r->id, sizeof(r->id)));
    json_object_set_new(cred, "rawId", th_b64(r->id, sizeof(r->id)));
    json_object_set_new(resp, "clientDataJSON", th_b64((const uint8_t *)r->cdj, r->cdj_len));
    json_object_set_new(resp, "attestationObject", th_b64(r->att, r->att_len));
    json_object_set_new(cred, "response", resp);
    json_t *body = json_pack("{s:o}", "credential", cred);
    if (name != NULL)
        json_object_set_new(body, "name", json_string(name));
    return body;
}

static long finish(fx *f, const char *token, json_t *body, json_t **reply)
{
    return th_req(&f->s, "POST", "/v1/seckeys/register/finish", token, body, reply);
}

static void add_key(fx *f, const char *name)
{
    reg r;
    json_t *reply = NULL;
    make_reg(f, f->ta, "localhost", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, name), &reply), 200);
    json_decref(reply);
}

/* An assertion for op as JSON, made by the first of the account's keys the
 * soft key holds. */
static json_t *make_assertion(fx *f, const char *token, const char *op, const char *origin,
                              unsigned opts)
{
    json_t *reply = NULL;
    uint8_t ch[64], cdh[32], id[64], ad[256], sig[128];
    char cdj[512];
    size_t cdj_len = 0, ad_len = 0, sig_len = 0, id_len = 0;
    assert_int_equal(th_req(&f->s, "POST", "/v1/seckeys/challenge", token,
                            json_pack("{s:s}", "op", op), &reply),
                     200);
    json_t *pk = json_object_get(reply, "publicKey");
    size_t n = get_challenge(pk, ch);
    const char *ids = json_string_value(
        json_object_get(json_array_get(json_object_get(pk, "allowCredentials"), 0), "id"));
    assert_int_equal(kw_b64url_decode(id, sizeof(id), &id_len, ids, strlen(ids)), KW_OK);
    json_decref(reply);
    assert_int_equal(kw_softkey_insecure_client_data(cdj, sizeof(cdj), &cdj_len, KW_WEBAUTHN_GET,
                                                     ch, n, origin, false),
                     KW_OK);
    crypto_hash_sha256(cdh, (const uint8_t *)cdj, cdj_len);
    assert_int_equal(kw_softkey_insecure_get_assertion(f->sk, "localhost", cdh, id, id_len, opts,
                                                       ad, sizeof(ad), &ad_len, sig, sizeof(sig),
                                                       &sig_len),
                     KW_OK);
    json_t *resp = json_object(), *a = json_pack("{s:s}", "type", "public-key");
    json_object_set_new(a, "id", th_b64(id, id_len));
    json_object_set_new(a, "rawId", th_b64(id, id_len));
    json_object_set_new(resp, "clientDataJSON", th_b64((const uint8_t *)cdj, cdj_len));
    json_object_set_new(resp, "authenticatorData", th_b64(ad, ad_len));
    json_object_set_new(resp, "signature", th_b64(sig, sig_len));
    json_object_set_new(a, "response", resp);
    return a;
}

static long policy(fx *f, bool on, json_t *assertion, json_t **reply)
{
    json_t *body = json_pack("{s:b}", "enabled", on);
    if (assertion != NULL)
        json_object_set_new(body, "assertion", assertion);
    return th_req(&f->s, "POST", "/v1/seckeys/policy", f->ta, body, reply);
}

static void test_register_and_list(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    add_key(f, "first");
    reg r;
    make_reg(f, f->ta, "localhost", "https://localhost:9", 0, KW_SOFTKEY_INSECURE_ATT_NONE, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "key"), "name")),
                        "key-2");
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/seckeys", f->ta, NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "keys")), 2);
    assert_false(json_is_true(json_object_get(reply, "policy")));
    json_decref(reply);
    /* bob sees none of them */
    assert_int_equal(th_req(&f->s, "GET", "/v1/seckeys", f->tb, NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "keys")), 0);
    json_decref(reply);
    /* no token */
    assert_int_equal(th_req(&f->s, "GET", "/v1/seckeys", NULL, NULL, &reply), 401);
    json_decref(reply);
}

static void test_register_refusals(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    reg r;
    /* origin not allowed */
    make_reg(f, f->ta, "localhost", "https://evil.example", 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 401);
    assert_non_null(strstr(th_msg(reply), "origin"));
    json_decref(reply);
    /* no port for a ":*" entry, and a non-numeric port */
    make_reg(f, f->ta, "localhost", "http://localhost", 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 401);
    json_decref(reply);
    make_reg(f, f->ta, "localhost", "http://localhost:80x", 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 401);
    json_decref(reply);
    /* another rp id */
    make_reg(f, f->ta, "example.org", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 401);
    assert_non_null(strstr(th_msg(reply), "rpId"));
    json_decref(reply);
    /* user not present */
    make_reg(f, f->ta, "localhost", ORIGIN, KW_SOFTKEY_INSECURE_OPT_NO_UP,
             KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 401);
    json_decref(reply);
    /* a good registration, then the same challenge again: spent */
    make_reg(f, f->ta, "localhost", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, "ok"), &reply), 200);
    json_decref(reply);
    assert_int_equal(finish(f, f->ta, reg_body(&r, "again"), &reply), 401);
    assert_non_null(strstr(th_msg(reply), "challenge"));
    json_decref(reply);
    /* bob's challenge does not serve alice */
    reg rb;
    make_reg(f, f->tb, "localhost", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &rb);
    assert_int_equal(finish(f, f->ta, reg_body(&rb, NULL), &reply), 401);
    json_decref(reply);
    /* rawId that is not the attested credential id */
    make_reg(f, f->ta, "localhost", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    r.id[0] ^= 1;
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 401);
    json_decref(reply);
    /* malformed: unknown field, id != rawId, bad base64 */
    json_t *body = reg_body(&r, NULL);
    json_object_set_new(body, "extra", json_true());
    assert_int_equal(finish(f, f->ta, body, &reply), 400);
    json_decref(reply);
    body = reg_body(&r, NULL);
    json_object_set_new(json_object_get(body, "credential"), "id", json_string("AAAA"));
    assert_int_equal(finish(f, f->ta, body, &reply), 400);
    json_decref(reply);
    body = reg_body(&r, NULL);
    json_object_set_new(json_object_get(json_object_get(body, "credential"), "response"),
                        "clientDataJSON", json_string("not base64!"));
    assert_int_equal(finish(f, f->ta, body, &reply), 400);
    json_decref(reply);
    /* an over-long client data JSON */
    char *big = malloc(8000);
    assert_non_null(big);
    memset(big, 'A', 7999);
    big[7999] = '\0';
    body = reg_body(&r, NULL);
    json_object_set_new(json_object_get(json_object_get(body, "credential"), "response"),
                        "clientDataJSON", json_string(big));
    free(big);
    long st = finish(f, f->ta, body, &reply);
    assert_true(st == 413 || st == 400);
    json_decref(reply);
}

/* The "none" attestation object carries no signature: its authenticator
 * data under bob's fresh challenge is a valid registration — of a
 * credential id alice already has. Refused: ids are unique across accounts. */
static void test_credential_of_another_account(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    reg ra, rb;
    make_reg(f, f->ta, "localhost", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_NONE, &ra);
    assert_int_equal(finish(f, f->ta, reg_body(&ra, NULL), &reply), 200);
    json_decref(reply);
    make_reg(f, f->tb, "localhost", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_NONE, &rb);
    memcpy(rb.att, ra.att, ra.att_len);
    rb.att_len = ra.att_len;
    memcpy(rb.id, ra.id, sizeof(ra.id));
    assert_int_equal(finish(f, f->tb, reg_body(&rb, NULL), &reply), 409);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/seckeys", f->tb, NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "keys")), 0);
    json_decref(reply);
}

static void test_policy_rules(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    /* no keys: no challenge */
    assert_int_equal(th_req(&f->s, "POST", "/v1/seckeys/challenge", f->ta,
                            json_pack("{s:s}", "op", "policy"), &reply),
                     404);
    json_decref(reply);
    add_key(f, "k1");
    /* one key: on refused (409) */
    assert_int_equal(policy(f, true, make_assertion(f, f->ta, "policy", ORIGIN, 0), &reply), 409);
    json_decref(reply);
    add_key(f, "k2");
    /* without assertion, with a bogus signature, BS without BE, a wrong
     * origin, or an assertion of another operation: refused */
    assert_int_equal(policy(f, true, NULL, &reply), 401);
    json_decref(reply);
    assert_int_equal(policy(f, true,
                            make_assertion(f, f->ta, "policy", ORIGIN, KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG),
                            &reply),
                     401);
    assert_non_null(strstr(th_msg(reply), "signature"));
    json_decref(reply);
    assert_int_equal(policy(f, true,
                            make_assertion(f, f->ta, "policy", ORIGIN, KW_SOFTKEY_INSECURE_OPT_BS_NO_BE),
                            &reply),
                     401);
    json_decref(reply);
    assert_int_equal(policy(f, true, make_assertion(f, f->ta, "policy", "http://127.0.0.1:8443", 0),
                            &reply),
                     401);
    json_decref(reply);
    assert_int_equal(policy(f, true, make_assertion(f, f->ta, "password", ORIGIN, 0), &reply), 401);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/seckeys", f->ta, NULL, &reply), 200);
    assert_false(json_is_true(json_object_get(reply, "policy")));
    json_decref(reply);
    /* a good one */
    assert_int_equal(policy(f, true, make_assertion(f, f->ta, "policy", ORIGIN, 0), &reply), 200);
    json_decref(reply);
    /* adding a key now needs an assertion */
    reg r;
    make_reg(f, f->ta, "localhost", ORIGIN, 0, KW_SOFTKEY_INSECURE_ATT_PACKED, &r);
    assert_int_equal(finish(f, f->ta, reg_body(&r, NULL), &reply), 401);
    assert_non_null(strstr(th_msg(reply), "assertion required"));
    json_decref(reply);
    json_t *body = reg_body(&r, "k3");
    json_object_set_new(body, "assertion", make_assertion(f, f->ta, "key-add", ORIGIN, 0));
    assert_int_equal(finish(f, f->ta, body, &reply), 200);
    json_decref(reply);
}

static void test_config(void **state)
{
    (void)state;
    kw_server srv;
    memset(&srv, 0, sizeof(srv));
    static kw_config cfg;
    kw_config_defaults(&cfg);
    srv.cfg = &cfg;
    assert_int_equal(kw_config_set(&cfg, "webauthn.rp_id", "Bad_RP"), KW_OK);
    assert_int_not_equal(kw_api_seckeys_start(&srv), KW_OK);
    assert_null(srv.seckeys);
    assert_int_equal(kw_config_set(&cfg, "webauthn.rp_id", "example.org"), KW_OK);
    assert_int_equal(kw_config_set(&cfg, "webauthn.origins", "ftp://example.org"), KW_OK);
    assert_int_not_equal(kw_api_seckeys_start(&srv), KW_OK);
    assert_int_equal(kw_config_set(&cfg, "webauthn.origins", "https://example.org, https://a.example.org:*"),
                     KW_OK);
    assert_int_equal(kw_config_set(&cfg, "webauthn.timeout_ms", "5"), KW_OK);
    assert_int_not_equal(kw_api_seckeys_start(&srv), KW_OK);
    assert_int_equal(kw_config_set(&cfg, "webauthn.timeout_ms", "60000"), KW_OK);
    assert_int_equal(kw_api_seckeys_start(&srv), KW_OK);
    assert_non_null(srv.seckeys);
    kw_api_seckeys_stop(&srv);
    assert_null(srv.seckeys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_of_another_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_rules, setup, teardown),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
