/* /v1 accounts: registration, the public view, and the request hygiene every
 * handler shares (malformed JSON, unknown fields, bad base64, size limits). */
#include "api_harness.h"

static int setup(void **state)
{
    th_server *s = calloc(1, sizeof(*s));
    th_start(s);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    th_server *s = *state;
    th_stop(s);
    free(s);
    return 0;
}

static void test_register_and_public(void **state)
{
    th_server *s = *state;
    th_account a;
    th_device d;
    char token[64];
    json_t *reply = NULL;
    th_device_new(&d, "laptop");
    assert_int_equal(th_register(s, &a, "alice", &d, token, &reply), 200);
    assert_int_equal(strlen(token), 43);
    char id[32];
    th_id_str(id, d.id);
    assert_string_equal(json_string_value(json_object_get(reply, "device_id")), id);
    assert_true(json_integer_value(json_object_get(reply, "expires_at")) > 0);
    json_decref(reply);

    assert_int_equal(th_req(s, "GET", "/v1/accounts/alice/public", NULL, NULL, &reply), 200);
    uint8_t pk[32];
    th_unb64(reply, "account_pk", pk, 32);
    assert_memory_equal(pk, a.account_pk, 32);
    assert_int_equal(json_integer_value(json_object_get(reply, "roster_version")), 1);
    json_decref(reply);
    assert_int_equal(th_req(s, "GET", "/v1/accounts/nobody/public", NULL, NULL, &reply), 404);
    assert_string_equal(th_err(reply), "not_found");
    json_decref(reply);
    assert_int_equal(th_req(s, "GET", "/v1/accounts/b%20d/public", NULL, NULL, &reply), 400);
    json_decref(reply);

    /* the first device's session works and is trusted */
    assert_int_equal(th_req(s, "GET", "/v1/devices", token, NULL, &reply), 200);
    json_t *devs = json_object_get(reply, "devices");
    assert_int_equal(json_array_size(devs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(devs, 0), "state")), "trusted");
    json_decref(reply);
    th_account_free(&a);
    th_device_free(&d);
}

static void test_register_name_taken(void **state)
{
    th_server *s = *state;
    th_account a, b;
    th_device d, e;
    char token[64];
    json_t *reply = NULL;
    th_device_new(&d, "one");
    th_device_new(&e, "two");
    assert_int_equal(th_register(s, &a, "carol", &d, token, NULL), 200);
    assert_int_equal(th_register(s, &b, "carol", &e, token, &reply), 409);
    assert_string_equal(th_err(reply), "conflict");
    json_decref(reply);
    /* the same device cannot open a second account either */
    assert_int_equal(th_register(s, &b, "carol2", &d, token, &reply), 409);
    json_decref(reply);
    assert_int_equal(th_req(s, "GET", "/v1/accounts/carol2/public", NULL, NULL, &reply), 404);
    json_decref(reply);
    th_account_free(&a);
    th_account_free(&b);
    th_device_free(&d);
    th_device_free(&e);
}

/* Builds a register/finish body by hand so single fields can be broken. */
static json_t *finish_body(th_server *s, th_account *a, const char *name, const th_device *d,
                           int64_t roster_version, const kw_sign_key *signer,
                           const th_device *listed)
{
    kw_opaque_config cfg;
    kw_opaque_client *c = NULL;
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], resp[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES], blob[64];
    json_t *reply = NULL;
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    assert_int_equal(kw_sign_key_new(&a->account_sk), KW_OK);
    kw_sign_key_public(a->account_sk, a->account_pk);
    th_opaque_config(&cfg);
    assert_int_equal(kw_opaque_client_new(&c, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_registration_start(c, req, (const uint8_t *)"pw", 2), KW_OK);
    json_t *body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "request", th_b64(req, sizeof(req)));
    assert_int_equal(th_req(s, "POST", "/v1/accounts/register/start", NULL, body, &reply), 200);
    th_unb64(reply, "response", resp, sizeof(resp));
    json_decref(reply);
    assert_int_equal(kw_opaque_client_registration_finish(c, record, ek, resp, sizeof(resp), NULL), KW_OK);
    kw_opaque_client_free(&c);
    randombytes_buf(blob, sizeof(blob));
    const th_device *devs[1] = {listed != NULL ? listed : d};
    body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "record", th_b64(record, sizeof(record)));
    json_object_set_new(body, "account_pk", th_b64(a->account_pk, 32));
    json_object_set_new(body, "device", th_device_json(d));
    json_object_set_new(body, "roster", th_roster(a, roster_version, devs, 1,
                                                  signer != NULL ? signer : a->account_sk));
    json_object_set_new(body, "keychain", th_b64(blob, sizeof(blob)));
    json_object_set_new(body, "wrap", th_b64(blob, 48));
    return body;
}

static void expect_finish(th_server *s, json_t *body, long status, const char *code)
{
    json_t *reply = NULL;
    assert_int_equal(th_req(s, "POST", "/v1/accounts/register/finish", NULL, body, &reply), status);
    assert_string_equal(th_err(reply), code);
    json_decref(reply);
}

static void test_register_bad_rosters(void **state)
{
    th_server *s = *state;
    th_account a;
    th_device d, other;
    kw_sign_key *wrong = NULL;
    json_t *reply = NULL;
    th_device_new(&d, "dev");
    th_device_new(&other, "other");
    assert_int_equal(kw_sign_key_new(&wrong), KW_OK);

    /* signed by a key other than account_pk */
    expect_finish(s, finish_body(s, &a, "dave", &d, 1, wrong, NULL), 401, "verify");
    th_account_free(&a);
    /* version 2 for a new account */
    expect_finish(s, finish_body(s, &a, "dave", &d, 2, NULL, NULL), 409, "conflict");
    th_account_free(&a);
    /* the roster lists another device */
    expect_finish(s, finish_body(s, &a, "dave", &d, 1, NULL, &other), 400, "format");
    th_account_free(&a);
    /* a roster that is not a roster */
    json_t *body = finish_body(s, &a, "dave", &d, 1, NULL, NULL);
    json_object_set_new(body, "roster", json_string("AAAAAAAA"));
    expect_finish(s, body, 400, "format");
    th_account_free(&a);
    /* a roster of another account name */
    body = finish_body(s, &a, "erin", &d, 1, NULL, NULL);
    json_object_set_new(body, "name", json_string("dave"));
    expect_finish(s, body, 400, "format");
    th_account_free(&a);
    /* an invalid account key */
    body = finish_body(s, &a, "dave", &d, 1, NULL, NULL);
    uint8_t zero[32] = {0};
    json_object_set_new(body, "account_pk", th_b64(zero, 32));
    expect_finish(s, body, 400, "format");
    th_account_free(&a);
    /* a record of the wrong size */
    body = finish_body(s, &a, "dave", &d, 1, NULL, NULL);
    json_object_set_new(body, "record", th_b64(zero, 32));
    expect_finish(s, body, 400, "format");
    th_account_free(&a);

    /* nothing was half-written: the name is still free */
    assert_int_equal(th_req(s, "GET", "/v1/accounts/dave/public", NULL, NULL, &reply), 404);
    json_decref(reply);
    expect_finish(s, finish_body(s, &a, "dave", &d, 1, NULL, NULL), 200, "");
    th_account_free(&a);
    kw_sign_key_free(&wrong);
    th_device_free(&d);
    th_device_free(&other);
}

static void test_request_hygiene(void **state)
{
    th_server *s = *state;
    json_t *reply = NULL;
    static const char *paths[] = {"/v1/accounts/register/start", "/v1/login/start", "/v1/login/finish"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        /* malformed JSON */
        assert_int_equal(th_raw(s, "POST", paths[i], NULL, "{\"name\":", 8, &reply), 400);
        assert_string_equal(th_err(reply), "format");
        json_decref(reply);
        /* not an object */
        assert_int_equal(th_raw(s, "POST", paths[i], NULL, "[1,2]", 5, &reply), 400);
        json_decref(reply);
        /* duplicate keys */
        assert_int_equal(th_raw(s, "POST", paths[i], NULL, "{\"name\":\"a\",\"name\":\"b\"}", 23, &reply),
                         400);
        json_decref(reply);
        /* unknown field */
        assert_int_equal(th_req(s, "POST", paths[i], NULL, json_pack("{s:s}", "evil", "x"), &reply), 400);
        assert_string_equal(th_err(reply), "format");
        assert_non_null(strstr(th_msg(reply), "unknown field"));
        json_decref(reply);
        /* no body */
        assert_int_equal(th_req(s, "POST", paths[i], NULL, NULL, &reply), 400);
        json_decref(reply);
    }
    /* oversized body */
    size_t big = KW_HTTP_DEFAULT_BODY_LIMIT + 10;
    char *p = malloc(big);
    memset(p, ' ', big);
    p[0] = '{';
    p[big - 1] = '}';
    assert_int_equal(th_raw(s, "POST", "/v1/login/start", NULL, p, big, &reply), 413);
    assert_string_equal(th_err(reply), "too_large");
    json_decref(reply);
    free(p);
    /* bad base64: padding, standard alphabet, wrong length */
    static const char *bad[] = {"AAAA=", "AA+/", "A", "****"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *body = json_pack("{s:s,s:s}", "name", "zed", "request", bad[i]);
        assert_int_equal(th_req(s, "POST", "/v1/accounts/register/start", NULL, body, &reply), 400);
        json_decref(reply);
    }
    /* mistyped and oversized fields */
    assert_int_equal(th_req(s, "POST", "/v1/accounts/register/start", NULL,
                            json_pack("{s:i,s:s}", "name", 5, "request", "AA"), &reply),
                     400);
    json_decref(reply);
    char longname[100];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(th_req(s, "POST", "/v1/accounts/register/start", NULL,
                            json_pack("{s:s,s:s}", "name", longname, "request", "AA"), &reply),
                     413);
    json_decref(reply);
    assert_int_equal(th_req(s, "POST", "/v1/accounts/register/start", NULL,
                            json_pack("{s:s,s:s}", "name", "no spaces", "request", "AA"), &reply),
                     400);
    json_decref(reply);
    /* an invalid OPAQUE element */
    uint8_t ff[32];
    memset(ff, 0xff, sizeof(ff));
    json_t *body = json_pack("{s:s}", "name", "zed");
    json_object_set_new(body, "request", th_b64(ff, sizeof(ff)));
    assert_int_equal(th_req(s, "POST", "/v1/accounts/register/start", NULL, body, &reply), 400);
    json_decref(reply);
    /* unknown route and wrong method */
    assert_int_equal(th_req(s, "GET", "/v1/nothing", NULL, NULL, &reply), 404);
    json_decref(reply);
    assert_int_equal(th_req(s, "GET", "/v1/login/start", NULL, NULL, &reply), 405);
    json_decref(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_and_public, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_name_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_bad_rosters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_hygiene, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
