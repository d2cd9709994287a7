/* /v1 recovery: storing the recovery wrap, signing in with the recovery
 * proof, reading wrap + keychain as a pending device, join-recovery. */
#include "api_harness.h"

typedef struct {
    th_server s;
    th_account a;
    th_device d;
    char token[64];
    uint8_t auth[32];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    th_start(&f->s);
    th_device_new(&f->d, "first");
    assert_int_equal(th_register(&f->s, &f->a, "alice", &f->d, f->token, NULL), 200);
    randombytes_buf(f->auth, sizeof(f->auth));
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

static json_t *put_body(fx *f, int64_t generation, int64_t version)
{
    uint8_t w[80];
    randombytes_buf(w, sizeof(w));
    const th_device *one[1] = {&f->d};
    json_t *body = json_pack("{s:I}", "generation", (json_int_t)generation);
    json_object_set_new(body, "recovery_wrap", th_b64(w, sizeof(w)));
    json_object_set_new(body, "recovery_auth", th_b64(f->auth, 32));
    json_object_set_new(body, "roster", th_roster(&f->a, version, one, 1, f->a.account_sk));
    return body;
}

static json_t *recovery_factor(const th_login *l, const uint8_t auth[32])
{
    uint8_t proof[32];
    crypto_auth_hmacsha256(proof, l->login_id, 16, auth);
    json_t *fac = json_pack("{s:s}", "type", "recovery");
    json_object_set_new(fac, "proof", th_b64(proof, 32));
    return fac;
}

static void test_recovery_flow(void **state)
{
    fx *f = *state;
    th_device c;
    th_login l;
    char tc[64];
    json_t *reply = NULL;
    th_device_new(&c, "new-laptop");

    /* before a recovery key exists */
    th_login_start(&f->s, &l, "alice", f->a.password);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL,
                            th_finish_body(&l, &c, recovery_factor(&l, f->auth)), &reply),
                     401);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/recovery", f->token, NULL, &reply), 404);
    json_decref(reply);

    /* store: wrong generation, wrong roster version, then right */
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, put_body(f, 2, 2), &reply), 409);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, put_body(f, 1, 3), &reply), 409);
    json_decref(reply);
    json_t *body = put_body(f, 1, 2);
    json_object_set_new(body, "recovery_auth", th_b64(f->auth, 16));
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, body, &reply), 400);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, put_body(f, 1, 2), &reply), 200);
    json_decref(reply);
    f->a.roster_version = 2;

    /* a wrong proof, a proof for another login */
    uint8_t bad[32];
    randombytes_buf(bad, sizeof(bad));
    th_login_start(&f->s, &l, "alice", f->a.password);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL,
                            th_finish_body(&l, &c, recovery_factor(&l, bad)), &reply),
                     401);
    json_decref(reply);
    th_login other;
    th_login_start(&f->s, &other, "alice", f->a.password);
    th_login_start(&f->s, &l, "alice", f->a.password);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL,
                            th_finish_body(&l, &c, recovery_factor(&other, f->auth)), &reply),
                     401);
    json_decref(reply);

    /* the right proof: pending */
    th_login_start(&f->s, &l, "alice", f->a.password);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL,
                            th_finish_body(&l, &c, recovery_factor(&l, f->auth)), &reply),
                     200);
    assert_string_equal(json_string_value(json_object_get(reply, "device_state")), "pending");
    snprintf(tc, sizeof(tc), "%s", json_string_value(json_object_get(reply, "token")));
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/recovery", tc, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "generation")), 1);
    assert_int_equal(json_integer_value(json_object_get(reply, "keychain_version")), 1);
    assert_non_null(json_object_get(reply, "recovery_wrap"));
    assert_non_null(json_object_get(reply, "keychain"));
    json_decref(reply);
    /* a pending device cannot store recovery */
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", tc, put_body(f, 1, 3), &reply), 401);
    json_decref(reply);

    /* join: wrong signer, wrong set, then right */
    kw_sign_key *wrong = NULL;
    assert_int_equal(kw_sign_key_new(&wrong), KW_OK);
    const th_device *both[2] = {&f->d, &c};
    const th_device *only_c[1] = {&c};
    uint8_t w[80] = {0};
    body = json_object();
    json_object_set_new(body, "roster", th_roster(&f->a, 3, both, 2, wrong));
    json_object_set_new(body, "wrap", th_b64(w, sizeof(w)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/devices/join-recovery", tc, body, &reply), 401);
    json_decref(reply);
    body = json_object();
    json_object_set_new(body, "roster", th_roster(&f->a, 3, only_c, 1, f->a.account_sk));
    json_object_set_new(body, "wrap", th_b64(w, sizeof(w)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/devices/join-recovery", tc, body, &reply), 400);
    json_decref(reply);
    body = json_object();
    json_object_set_new(body, "roster", th_roster(&f->a, 3, both, 2, f->a.account_sk));
    json_object_set_new(body, "wrap", th_b64(w, sizeof(w)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/devices/join-recovery", tc, body, &reply), 200);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/keychain", tc, NULL, &reply), 200);
    json_decref(reply);
    /* a trusted device cannot join again */
    body = json_object();
    json_object_set_new(body, "roster", th_roster(&f->a, 4, both, 2, f->a.account_sk));
    json_object_set_new(body, "wrap", th_b64(w, sizeof(w)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/devices/join-recovery", tc, body, &reply), 409);
    json_decref(reply);
    kw_sign_key_free(&wrong);
    th_device_free(&c);
}

/* POST /v1/recovery with the keychain (it carries the recovery wrapping
 * key): keychain and keychain_version go together; a stale version is a
 * conflict and stores nothing (no recovery wrap, same roster and keychain);
 * the right one stores all three; removal then re-wraps for recovery. */
static void test_recovery_with_keychain(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    uint8_t kc[150];
    randombytes_buf(kc, sizeof(kc));

    json_t *body = put_body(f, 1, 2);
    json_object_set_new(body, "keychain", th_b64(kc, sizeof(kc)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, body, &reply), 400);
    assert_string_equal(th_err(reply), "format");
    json_decref(reply);
    body = put_body(f, 1, 2);
    json_object_set_new(body, "keychain_version", json_integer(2));
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, body, &reply), 400);
    json_decref(reply);
    body = put_body(f, 1, 2);
    json_object_set_new(body, "keychain", th_b64(kc, sizeof(kc)));
    json_object_set_new(body, "keychain_version", json_integer(3)); /* current is 1 */
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, body, &reply), 409);
    json_decref(reply);
    /* nothing was stored */
    assert_int_equal(th_req(&f->s, "GET", "/v1/recovery", f->token, NULL, &reply), 404);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/roster", f->token, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "version")), 1);
    json_decref(reply);

    body = put_body(f, 1, 2);
    json_object_set_new(body, "keychain", th_b64(kc, sizeof(kc)));
    json_object_set_new(body, "keychain_version", json_integer(2));
    assert_int_equal(th_req(&f->s, "POST", "/v1/recovery", f->token, body, &reply), 200);
    json_decref(reply);
    f->a.roster_version = 2;
    f->a.keychain_version = 2;
    assert_int_equal(th_req(&f->s, "GET", "/v1/recovery", f->token, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "keychain_version")), 2);
    uint8_t got[sizeof(kc)];
    th_unb64(reply, "keychain", got, sizeof(got));
    assert_memory_equal(got, kc, sizeof(kc));
    json_decref(reply);

    /* a second device joins and is removed with recovery_wrap: the recovery
     * wrap follows the new generation */
    th_device b;
    char tb[64];
    th_device_new(&b, "phone");
    const th_device *one[1] = {&f->d};
    th_add_device(&f->s, &f->a, f->token, one, 1, &b, tb);
    body = th_remove_body(&f->a, &b, one, 1);
    uint8_t rw[80];
    randombytes_buf(rw, sizeof(rw));
    json_object_set_new(body, "recovery_wrap", th_b64(rw, sizeof(rw)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/devices/remove", f->token, body, &reply), 200);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/recovery", f->token, NULL, &reply), 200);
    assert_int_equal(json_integer_value(json_object_get(reply, "generation")), 2);
    uint8_t got_rw[80];
    th_unb64(reply, "recovery_wrap", got_rw, sizeof(got_rw));
    assert_memory_equal(got_rw, rw, sizeof(rw));
    json_decref(reply);
    th_device_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recovery_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_with_keychain, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
