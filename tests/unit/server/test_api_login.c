/* /v1 sign-in: OPAQUE login, fake KE2, replays and expiry, second factors
 * (approval code, TOTP, recovery proof), device proofs, rate limits. */
#include "api_harness.h"

typedef struct {
    th_server s;
    th_account a;
    th_device d; /* the account's first, trusted device */
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

static void test_known_device_password_only(void **state)
{
    fx *f = *state;
    char token[64];
    json_t *reply = NULL;
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, token, &reply), 200);
    assert_string_equal(json_string_value(json_object_get(reply, "device_state")), "trusted");
    assert_false(json_boolean_value(json_object_get(reply, "needs_factor")));
    assert_int_equal(strlen(token), 43);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", token, NULL, &reply), 200);
    json_decref(reply);
}

static void test_wrong_password(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    assert_int_equal(th_signin(&f->s, "alice", "not-the-password", &f->d, NULL, NULL, &reply), 401);
    assert_string_equal(th_err(reply), "verify");
    assert_string_equal(th_msg(reply), "sign-in failed");
    json_decref(reply);
}

static void test_unknown_name_fake_ke2(void **state)
{
    fx *f = *state;
    th_login real, fake;
    json_t *reply = NULL;
    th_login_start(&f->s, &real, "alice", f->a.password);
    th_login_start(&f->s, &fake, "mallory", "whatever");
    /* the same shape: 16-byte login id, 320-byte KE2 (checked in
     * th_login_start); the client cannot open the fake one */
    assert_int_equal(real.finish_rc, KW_OK);
    assert_int_equal(fake.finish_rc, KW_ERR_VERIFY);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&fake, &f->d, NULL),
                            &reply),
                     401);
    assert_string_equal(th_msg(reply), "sign-in failed");
    json_decref(reply);
    /* even a well-formed KE3 for a fake login fails like a wrong password */
    memcpy(fake.ke3, real.ke3, sizeof(fake.ke3));
    th_login again;
    th_login_start(&f->s, &again, "mallory", "whatever");
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&again, &f->d, NULL),
                            &reply),
                     401);
    json_decref(reply);
}

static void test_replayed_ke3_and_login_id(void **state)
{
    fx *f = *state;
    th_login l;
    json_t *reply = NULL;
    th_login_start(&f->s, &l, "alice", f->a.password);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &f->d, NULL), &reply),
                     200);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &f->d, NULL), &reply),
                     401);
    assert_string_equal(th_err(reply), "verify");
    json_decref(reply);
    /* a KE3 of one login does not finish another */
    th_login other;
    th_login_start(&f->s, &other, "alice", f->a.password);
    memcpy(other.ke3, l.ke3, sizeof(l.ke3));
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&other, &f->d, NULL),
                            &reply),
                     401);
    json_decref(reply);
    /* a failed finish consumes the login too */
    th_login_start(&f->s, &other, "alice", f->a.password);
    uint8_t good[KW_OPAQUE_KE3BYTES];
    memcpy(good, other.ke3, sizeof(good));
    other.ke3[0] ^= 1;
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&other, &f->d, NULL),
                            &reply),
                     401);
    json_decref(reply);
    memcpy(other.ke3, good, sizeof(good));
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&other, &f->d, NULL),
                            &reply),
                     401);
    json_decref(reply);
}

static void test_expired_login(void **state)
{
    fx *f = *state;
    th_login l;
    json_t *reply = NULL;
    th_login_start(&f->s, &l, "alice", f->a.password);
    th_time_offset(KW_SERVER_LOGIN_TTL + 1);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &f->d, NULL), &reply),
                     401);
    json_decref(reply);
    th_time_offset(0);
}

static void test_device_proof(void **state)
{
    fx *f = *state;
    th_login l;
    th_device thief;
    json_t *reply = NULL;
    /* the known device's public keys, but another signing key */
    th_device_new(&thief, "first");
    memcpy(thief.id, f->d.id, 16);
    memcpy(thief.hpke_pk, f->d.hpke_pk, 32);
    th_login_start(&f->s, &l, "alice", f->a.password);
    json_t *body = th_finish_body(&l, &thief, NULL);
    json_object_set_new(json_object_get(body, "device"), "identity_pk", th_b64(f->d.identity_pk, 32));
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, body, &reply), 401);
    assert_non_null(strstr(th_msg(reply), "device signature"));
    json_decref(reply);
    /* the thief's own key under the known id: keys differ */
    th_login_start(&f->s, &l, "alice", f->a.password);
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &thief, NULL),
                            &reply),
                     409);
    json_decref(reply);
    /* missing device_sig */
    th_login_start(&f->s, &l, "alice", f->a.password);
    body = th_finish_body(&l, &f->d, NULL);
    json_object_del(body, "device_sig");
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, body, &reply), 400);
    json_decref(reply);
    th_device_free(&thief);
}

static void test_new_device_needs_factor(void **state)
{
    fx *f = *state;
    th_device b;
    json_t *reply = NULL;
    th_device_new(&b, "phone");
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, NULL, NULL, &reply), 401);
    assert_string_equal(th_msg(reply), "second factor required");
    json_decref(reply);
    /* unknown factor type, unknown factor field */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("sms", "123456"), NULL,
                               &reply),
                     400);
    json_decref(reply);
    json_t *fac = th_code_factor("approval", "123456");
    json_object_set_new(fac, "extra", json_true());
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, fac, NULL, &reply), 400);
    json_decref(reply);
    /* TOTP when it is off */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("totp", "123456"), NULL,
                               &reply),
                     401);
    json_decref(reply);
    /* nothing was stored for b */
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", f->token, NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "devices")), 1);
    json_decref(reply);
    th_device_free(&b);
}

static void test_approval_code(void **state)
{
    fx *f = *state;
    th_device b, c;
    char code[8], token[64];
    json_t *reply = NULL;
    th_device_new(&b, "phone");
    th_device_new(&c, "tablet");
    th_approval_code(&f->s, f->token, code);
    /* malformed codes */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("approval", "12345"),
                               NULL, &reply),
                     400);
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("approval", "12345a"),
                               NULL, &reply),
                     400);
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("approval", code), token,
                               &reply),
                     200);
    assert_string_equal(json_string_value(json_object_get(reply, "device_state")), "pending");
    json_decref(reply);
    /* single use */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &c, th_code_factor("approval", code), NULL,
                               &reply),
                     401);
    json_decref(reply);
    /* the pending device signs in again with the password alone */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, NULL, NULL, &reply), 200);
    assert_string_equal(json_string_value(json_object_get(reply, "device_state")), "pending");
    json_decref(reply);
    /* a pending device cannot make approval codes */
    assert_int_equal(th_req(&f->s, "POST", "/v1/approvals", token, NULL, &reply), 401);
    json_decref(reply);
    /* expired code */
    th_approval_code(&f->s, f->token, code);
    th_time_offset(KW_SERVER_APPROVAL_TTL + 1);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &c, th_code_factor("approval", code), NULL,
                               &reply),
                     401);
    json_decref(reply);
    th_time_offset(0);
    /* a new code replaces the previous one */
    char old[8];
    th_approval_code(&f->s, f->token, old);
    th_approval_code(&f->s, f->token, code);
    if (strcmp(old, code) != 0) {
        assert_int_equal(th_signin(&f->s, "alice", f->a.password, &c, th_code_factor("approval", old),
                                   NULL, &reply),
                         401);
        json_decref(reply);
    }
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &c, th_code_factor("approval", code), NULL,
                               &reply),
                     200);
    json_decref(reply);
    th_device_free(&b);
    th_device_free(&c);
}

static void test_approval_too_many_attempts(void **state)
{
    fx *f = *state;
    th_device b;
    char code[8], wrong[8];
    json_t *reply = NULL;
    th_device_new(&b, "phone");
    th_approval_code(&f->s, f->token, code);
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
    for (int i = 0; i < KW_SERVER_APPROVAL_ATTEMPTS; i++) {
        assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("approval", wrong),
                                   NULL, &reply),
                         401);
        json_decref(reply);
    }
    /* now even the right code is refused, with 429 */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("approval", code), NULL,
                               &reply),
                     429);
    assert_string_equal(th_err(reply), "limit");
    json_decref(reply);
    /* the window passes; the old code died with its budget */
    th_time_offset(KW_SERVER_APPROVAL_TTL + 1);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("approval", code), NULL,
                               &reply),
                     401);
    json_decref(reply);
    th_time_offset(0);
    th_device_free(&b);
}

static void test_approval_create_rate_limit(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    char code[8];
    for (int i = 0; i < 10; i++)
        th_approval_code(&f->s, f->token, code);
    assert_int_equal(th_req(&f->s, "POST", "/v1/approvals", f->token, NULL, &reply), 429);
    json_decref(reply);
    /* unknown fields refused */
    th_time_offset(KW_SERVER_APPROVAL_TTL + 1);
    assert_int_equal(th_req(&f->s, "POST", "/v1/approvals", f->token, json_pack("{s:b}", "x", 1), &reply),
                     400);
    json_decref(reply);
    th_time_offset(0);
}

static void test_totp_factor(void **state)
{
    fx *f = *state;
    th_device b, c;
    uint8_t secret[20];
    char code[8];
    json_t *reply = NULL;
    th_device_new(&b, "phone");
    th_device_new(&c, "tablet");
    randombytes_buf(secret, sizeof(secret));
    int64_t now = kw_api_now(&f->s.srv);
    /* enable: needs a current code */
    json_t *body = json_pack("{s:s}", "code", "000000");
    json_object_set_new(body, "secret", th_b64(secret, sizeof(secret)));
    th_totp_code(secret, sizeof(secret), now, code);
    if (strcmp(code, "000000") != 0) {
        assert_int_equal(th_req(&f->s, "POST", "/v1/totp/enable", f->token, json_deep_copy(body), &reply),
                         401);
        json_decref(reply);
    }
    json_object_set_new(body, "code", json_string(code));
    assert_int_equal(th_req(&f->s, "POST", "/v1/totp/enable", f->token, body, &reply), 200);
    json_decref(reply);
    /* the enabling code's step is spent: it does not sign a device in */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("totp", code), NULL,
                               &reply),
                     401);
    json_decref(reply);
    /* the next step's code works once (±1 step) */
    th_totp_code(secret, sizeof(secret), now + 30, code);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("totp", code), NULL,
                               &reply),
                     200);
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &c, th_code_factor("totp", code), NULL,
                               &reply),
                     401);
    assert_non_null(strstr(th_msg(reply), "already used"));
    json_decref(reply);
    /* a code two steps ahead is outside the window */
    th_totp_code(secret, sizeof(secret), now + 90, code);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &c, th_code_factor("totp", code), NULL,
                               &reply),
                     401);
    json_decref(reply);
    /* enabling twice is a conflict; disable, then TOTP no longer counts */
    body = json_pack("{s:s}", "code", code);
    json_object_set_new(body, "secret", th_b64(secret, sizeof(secret)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/totp/enable", f->token, body, &reply), 409);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", "/v1/totp/disable", f->token, NULL, &reply), 200);
    json_decref(reply);
    th_time_offset(120);
    th_totp_code(secret, sizeof(secret), now + 120, code);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &c, th_code_factor("totp", code), NULL,
                               &reply),
                     401);
    assert_non_null(strstr(th_msg(reply), "not enabled"));
    json_decref(reply);
    th_time_offset(0);
    /* bad secrets */
    uint8_t tiny[8] = {0};
    body = json_pack("{s:s}", "code", "123456");
    json_object_set_new(body, "secret", th_b64(tiny, sizeof(tiny)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/totp/enable", f->token, body, &reply), 400);
    json_decref(reply);
    th_device_free(&b);
    th_device_free(&c);
}

static void test_totp_too_many(void **state)
{
    fx *f = *state;
    th_device b;
    uint8_t secret[20];
    char code[8], wrong[8];
    json_t *reply = NULL;
    th_device_new(&b, "phone");
    randombytes_buf(secret, sizeof(secret));
    int64_t now = kw_api_now(&f->s.srv);
    th_totp_code(secret, sizeof(secret), now, code);
    json_t *body = json_pack("{s:s}", "code", code);
    json_object_set_new(body, "secret", th_b64(secret, sizeof(secret)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/totp/enable", f->token, body, &reply), 200);
    json_decref(reply);
    int got429 = 0;
    for (int i = 0; i < 12 && !got429; i++) {
        uint32_t w = (uint32_t)(atoi(code) + 500000 + i) % 1000000;
        snprintf(wrong, sizeof(wrong), "%06u", w);
        long st = th_signin(&f->s, "alice", f->a.password, &b, th_code_factor("totp", wrong), NULL, &reply);
        json_decref(reply);
        if (st == 429)
            got429 = i;
        else
            assert_int_equal(st, 401);
    }
    assert_int_equal(got429, 10);
    th_device_free(&b);
}

static void test_removed_and_foreign_device(void **state)
{
    fx *f = *state;
    th_server *s = &f->s;
    th_device b;
    char token_b[64];
    json_t *reply = NULL;
    th_device_new(&b, "phone");
    const th_device *trusted[1] = {&f->d};
    th_add_device(s, &f->a, f->token, trusted, 1, &b, token_b);
    assert_int_equal(th_req(s, "POST", "/v1/devices/remove", f->token, th_remove_body(&f->a, &b, trusted, 1),
                            &reply),
                     200);
    json_decref(reply);
    assert_int_equal(th_signin(s, "alice", f->a.password, &b, NULL, NULL, &reply), 401);
    assert_string_equal(th_msg(reply), "device removed");
    json_decref(reply);
    /* alice's device id presented at bob's account */
    th_account bob;
    th_device bd;
    char tb[64];
    th_device_new(&bd, "bobs");
    assert_int_equal(th_register(s, &bob, "bob", &bd, tb, NULL), 200);
    assert_int_equal(th_signin(s, "bob", bob.password, &f->d, NULL, NULL, &reply), 409);
    json_decref(reply);
    th_account_free(&bob);
    th_device_free(&bd);
    th_device_free(&b);
}

static void test_account_rate_limit(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    int first429 = -1;
    for (int i = 0; i < 22 && first429 < 0; i++) {
        long st = th_signin(&f->s, "alice", "wrong", &f->d, NULL, NULL, &reply);
        json_decref(reply);
        if (st == 429)
            first429 = i;
        else
            assert_int_equal(st, 401);
    }
    assert_int_equal(first429, 20);
    /* the right password is refused too until the window passes */
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, NULL, &reply), 429);
    json_decref(reply);
    th_time_offset(901);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, NULL, &reply), 200);
    json_decref(reply);
    th_time_offset(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_device_password_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_name_fake_ke2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_ke3_and_login_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_proof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_device_needs_factor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approval_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approval_too_many_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approval_create_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_totp_factor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_totp_too_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_and_foreign_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_rate_limit, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
