/* /v1 devices, rosters and the keychain: approve, remove with rotation,
 * roster checks (wrong key, wrong version, wrong device set), the removed
 * device's refusal, keychain/chain reads. */
#include "api_harness.h"

typedef struct {
    th_server s;
    th_account a;
    th_device d; /* trusted */
    char token[64];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    th_start(&f->s);
    th_device_new(&f->d, "first");
    assert_int_equal(th_register(&f->s, &f->a, "alice", &f->d, f->token, NULL), 200);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    th_stop(&f->s);
    th_account_free(&f->a);
    th_device_free(&f->d);
    free(f);
    return 0;
}

/* Signs b in with an approval code; stays pending. */
static void pending_device(fx *f, th_device *b, const char *name, char token_b[64])
{
    char code[8];
    th_device_new(b, name);
    th_approval_code(&f->s, f->token, code);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, b, th_code_factor("approval", code), token_b,
                               NULL),
                     200);
}

static json_t *approve_body(fx *f, const th_device *b, int64_t version, const kw_sign_key *signer,
                            const th_device *const *devs, size_t n)
{
    char id[32];
    uint8_t w[80];
    randombytes_buf(w, sizeof(w));
    th_id_str(id, b->id);
    json_t *body = json_pack("{s:s}", "device_id", id);
    json_object_set_new(body, "roster", th_roster(&f->a, version, devs, n, signer));
    json_object_set_new(body, "wrap", th_b64(w, sizeof(w)));
    return body;
}

static void expect(fx *f, const char *path, const char *token, json_t *body, long status, const char *code)
{
    json_t *reply = NULL;
    assert_int_equal(th_req(&f->s, "POST", path, token, body, &reply), status);
    if (code != NULL)
        assert_string_equal(th_err(reply), code);
    json_decref(reply);
}

static void test_approve(void **state)
{
    fx *f = *state;
    th_device b, c;
    char tb[64], tc[64];
    kw_sign_key *wrong = NULL;
    json_t *reply = NULL;
    assert_int_equal(kw_sign_key_new(&wrong), KW_OK);
    pending_device(f, &b, "phone", tb);
    const th_device *both[2] = {&f->d, &b};
    const th_device *only_b[1] = {&b};

    /* a pending device has no wrap yet, and cannot approve */
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain", tb, NULL, &reply), 404);
    json_decref(reply);
    expect(f, "/v1/devices/approve", tb, approve_body(f, &b, 2, f->a.account_sk, both, 2), 401, "verify");
    /* roster signed by the wrong key */
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &b, 2, wrong, both, 2), 401, "verify");
    /* wrong versions */
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &b, 1, f->a.account_sk, both, 2), 409,
           "conflict");
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &b, 3, f->a.account_sk, both, 2), 409,
           "conflict");
    /* a roster that drops the approver (hides a device) */
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &b, 2, f->a.account_sk, only_b, 1), 400,
           "format");
    /* a roster that adds an extra device nobody approved */
    th_device_new(&c, "stranger");
    const th_device *three[3] = {&f->d, &b, &c};
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &b, 2, f->a.account_sk, three, 3), 400,
           "format");
    /* unknown device, malformed fields */
    const th_device *dc[2] = {&f->d, &c};
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &c, 2, f->a.account_sk, dc, 2), 404,
           "not_found");
    json_t *body = approve_body(f, &b, 2, f->a.account_sk, both, 2);
    json_object_set_new(body, "wrap", json_string("!!"));
    expect(f, "/v1/devices/approve", f->token, body, 400, "format");
    body = approve_body(f, &b, 2, f->a.account_sk, both, 2);
    json_object_set_new(body, "more", json_null());
    expect(f, "/v1/devices/approve", f->token, body, 400, "format");
    /* nothing changed */
    assert_int_equal(th_req(&f->s, "GET", "/v1/roster", f->token, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "version")), 1);
    json_decref(reply);

    /* the right one */
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &b, 2, f->a.account_sk, both, 2), 200, NULL);
    f->a.roster_version = 2;
    /* twice: no longer pending */
    expect(f, "/v1/devices/approve", f->token, approve_body(f, &b, 3, f->a.account_sk, both, 2), 409,
           "conflict");
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain", tb, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "generation")), 1);
    assert_int_equal(json_integer_value(json_object_get(reply, "version")), 1);
    assert_non_null(json_object_get(reply, "wrap"));
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", tb, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "roster_version")), 2);
    json_t *devs = json_object_get(reply, "devices");
    assert_int_equal(json_array_size(devs), 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(devs, i), "state")), "trusted");
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/roster/1", tb, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "version")), 1);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/roster/3", tb, NULL, &reply), 404);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/roster/x1", tb, NULL, &reply), 400);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/roster/0", tb, NULL, &reply), 400);
    json_decref(reply);
    (void)tc;
    kw_sign_key_free(&wrong);
    th_device_free(&b);
    th_device_free(&c);
}

static void test_remove(void **state)
{
    fx *f = *state;
    th_device b, c;
    char tb[64], tc[64];
    json_t *reply = NULL;
    const th_device *one[1] = {&f->d};
    th_device_new(&b, "phone");
    th_add_device(&f->s, &f->a, f->token, one, 1, &b, tb);
    const th_device *two[2] = {&f->d, &b};
    th_device_new(&c, "tablet");
    th_add_device(&f->s, &f->a, f->token, two, 2, &c, tc);
    const th_device *dc[2] = {&f->d, &c};

    /* wrong generation, wrong version, roster still listing b, missing wrap,
     * a wrap for b, an extra wrap, bad keychain version */
    json_t *body = th_remove_body(&f->a, &b, dc, 2);
    json_object_set_new(body, "generation", json_integer(3));
    expect(f, "/v1/devices/remove", f->token, body, 409, "conflict");
    f->a.roster_version++;
    expect(f, "/v1/devices/remove", f->token, th_remove_body(&f->a, &b, dc, 2), 409, "conflict");
    f->a.roster_version--;
    const th_device *all[3] = {&f->d, &b, &c};
    expect(f, "/v1/devices/remove", f->token, th_remove_body(&f->a, &b, all, 3), 400, "format");
    body = th_remove_body(&f->a, &b, dc, 2);
    json_array_remove(json_object_get(body, "wraps"), 1);
    expect(f, "/v1/devices/remove", f->token, body, 400, "format");
    body = th_remove_body(&f->a, &b, dc, 2);
    char idb[32];
    th_id_str(idb, b.id);
    json_object_set_new(json_array_get(json_object_get(body, "wraps"), 1), "device_id", json_string(idb));
    expect(f, "/v1/devices/remove", f->token, body, 400, "format");
    body = th_remove_body(&f->a, &b, dc, 2);
    json_object_set_new(body, "keychain_version", json_integer(5));
    expect(f, "/v1/devices/remove", f->token, body, 409, "conflict");
    body = th_remove_body(&f->a, &b, dc, 2);
    json_object_del(body, "chain");
    expect(f, "/v1/devices/remove", f->token, body, 400, "format");
    /* nothing half-written: b still works, roster unchanged */
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain", tb, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "generation")), 1);
    json_decref(reply);

    /* the right removal */
    expect(f, "/v1/devices/remove", f->token, th_remove_body(&f->a, &b, dc, 2), 200, NULL);
    f->a.roster_version++;
    f->a.generation++;
    f->a.keychain_version++;
    /* b's sessions are refused at once; it cannot sign in again */
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain", tb, NULL, &reply), 401);
    assert_string_equal(th_msg(reply), "session revoked");
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, NULL, NULL, &reply), 401);
    json_decref(reply);
    /* the others read the new generation and the chain */
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain", tc, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "generation")), 2);
    assert_int_equal(json_integer_value(json_object_get(reply, "version")), 2);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain/chain/2", tc, NULL, &reply), 200);
    assert_non_null(json_object_get(reply, "chain"));
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain/chain/7", tc, NULL, &reply), 404);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", f->token, NULL, &reply), 200);
    json_t *devs = json_object_get(reply, "devices");
    int removed = 0;
    for (size_t i = 0; i < json_array_size(devs); i++)
        removed += strcmp(json_string_value(json_object_get(json_array_get(devs, i), "state")), "removed") == 0;
    assert_int_equal(removed, 1);
    json_decref(reply);
    /* removing it again */
    expect(f, "/v1/devices/remove", f->token, th_remove_body(&f->a, &b, dc, 2), 409, "conflict");
    /* the last trusted device cannot be removed */
    expect(f, "/v1/devices/remove", f->token, th_remove_body(&f->a, &c, one, 1), 200, NULL);
    f->a.roster_version++;
    f->a.generation++;
    f->a.keychain_version++;
    const th_device *none[1] = {NULL};
    (void)none;
    expect(f, "/v1/devices/remove", f->token, th_remove_body(&f->a, &f->d, NULL, 0), 409, "conflict");
    th_device_free(&b);
    th_device_free(&c);
}

static void test_remove_pending(void **state)
{
    fx *f = *state;
    th_device b;
    char tb[64];
    json_t *reply = NULL;
    pending_device(f, &b, "phone", tb);
    const th_device *one[1] = {&f->d};
    expect(f, "/v1/devices/remove", f->token, th_remove_body(&f->a, &b, one, 1), 200, NULL);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", tb, NULL, &reply), 401);
    json_decref(reply);
    th_device_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_approve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_pending, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
