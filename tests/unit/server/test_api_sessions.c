/* /v1 sessions: list, revoke, logout; revoked, expired and foreign tokens. */
#include "api_harness.h"

typedef struct {
    th_server s;
    th_account a, b;
    th_device da, db;
    char ta[64], tb[64];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    th_start(&f->s);
    th_device_new(&f->da, "a1");
    th_device_new(&f->db, "b1");
    assert_int_equal(th_register(&f->s, &f->a, "alice", &f->da, f->ta, NULL), 200);
    assert_int_equal(th_register(&f->s, &f->b, "bob", &f->db, f->tb, NULL), 200);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    th_stop(&f->s);
    th_account_free(&f->a);
    th_account_free(&f->b);
    th_device_free(&f->da);
    th_device_free(&f->db);
    free(f);
    return 0;
}

static void test_list_and_revoke(void **state)
{
    fx *f = *state;
    char t2[64], path[128];
    json_t *reply = NULL;
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->da, NULL, t2, NULL), 200);
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", f->ta, NULL, &reply), 200);
    json_t *arr = json_object_get(reply, "sessions");
    assert_int_equal(json_array_size(arr), 2);
    char other[64] = {0};
    int current = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(arr, i);
        assert_non_null(json_object_get(e, "device_id"));
        assert_non_null(json_object_get(e, "expires_at"));
        if (json_is_true(json_object_get(e, "current")))
            current++;
        else
            snprintf(other, sizeof(other), "%s", json_string_value(json_object_get(e, "id")));
    }
    assert_int_equal(current, 1);
    /* the id is the token's hash, never the token */
    uint8_t h[32];
    kw_api_token_hash(t2, h);
    char hs[64];
    th_b64_str(hs, sizeof(hs), h, 32);
    assert_string_equal(other, hs);
    char *dump = json_dumps(reply, 0);
    assert_null(strstr(dump, t2));
    free(dump);
    json_decref(reply);

    /* bob cannot revoke alice's session */
    snprintf(path, sizeof(path), "/v1/sessions/%s/revoke", other);
    assert_int_equal(th_req(&f->s, "POST", path, f->tb, NULL, &reply), 404);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", t2, NULL, &reply), 200);
    json_decref(reply);
    /* alice can */
    assert_int_equal(th_req(&f->s, "POST", path, f->ta, NULL, &reply), 200);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", t2, NULL, &reply), 401);
    assert_string_equal(th_msg(reply), "session revoked");
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", path, f->ta, NULL, &reply), 200); /* idempotent */
    json_decref(reply);
    /* malformed ids and bodies */
    assert_int_equal(th_req(&f->s, "POST", "/v1/sessions/abc/revoke", f->ta, NULL, &reply), 400);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", path, f->ta, json_pack("{s:i}", "x", 1), &reply), 400);
    json_decref(reply);
    uint8_t rnd[32];
    randombytes_buf(rnd, sizeof(rnd));
    th_b64_str(hs, sizeof(hs), rnd, 32);
    snprintf(path, sizeof(path), "/v1/sessions/%s/revoke", hs);
    assert_int_equal(th_req(&f->s, "POST", path, f->ta, NULL, &reply), 404);
    json_decref(reply);
}

static void test_logout(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    assert_int_equal(th_req(&f->s, "POST", "/v1/logout", f->ta, NULL, &reply), 200);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", f->ta, NULL, &reply), 401);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", "/v1/logout", f->ta, NULL, &reply), 401);
    json_decref(reply);
    /* bob is unaffected */
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", f->tb, NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "sessions")), 1);
    json_decref(reply);
}

static void test_bad_tokens(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", NULL, NULL, &reply), 401);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", "short", NULL, &reply), 401);
    json_decref(reply);
    char forged[64];
    snprintf(forged, sizeof(forged), "%s", f->ta);
    forged[0] = forged[0] == 'A' ? 'B' : 'A';
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", forged, NULL, &reply), 401);
    assert_string_equal(th_msg(reply), "unknown session");
    json_decref(reply);
    /* expiry (the fixture's TTL is one hour) */
    th_time_offset(3601);
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", f->ta, NULL, &reply), 401);
    assert_string_equal(th_msg(reply), "session expired");
    json_decref(reply);
    /* expired sessions are not listed for a fresh one */
    char t2[64];
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->da, NULL, t2, NULL), 200);
    assert_int_equal(th_req(&f->s, "GET", "/v1/sessions", t2, NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "sessions")), 1);
    json_decref(reply);
    th_time_offset(0);
}

static void test_foreign_resources(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    char idb[32];
    /* bob's token sees only bob's devices */
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", f->tb, NULL, &reply), 200);
    json_t *devs = json_object_get(reply, "devices");
    assert_int_equal(json_array_size(devs), 1);
    th_id_str(idb, f->db.id);
    assert_string_equal(json_string_value(json_object_get(json_array_get(devs, 0), "id")), idb);
    json_decref(reply);
    /* bob cannot approve or remove alice's device */
    char ida[32];
    th_id_str(ida, f->da.id);
    uint8_t w[80] = {1};
    const th_device *devsb[2] = {&f->db, &f->da};
    json_t *body = json_pack("{s:s}", "device_id", ida);
    json_object_set_new(body, "roster", th_roster(&f->b, 2, devsb, 2, f->b.account_sk));
    json_object_set_new(body, "wrap", th_b64(w, sizeof(w)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/devices/approve", f->tb, body, &reply), 404);
    json_decref(reply);
    const th_device *rem[1] = {&f->db};
    assert_int_equal(th_req(&f->s, "POST", "/v1/devices/remove", f->tb, th_remove_body(&f->b, &f->da, rem, 1),
                            &reply),
                     404);
    json_decref(reply);
    /* alice's device is untouched */
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain", f->ta, NULL, &reply), 200);
    json_decref(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_and_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_resources, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
