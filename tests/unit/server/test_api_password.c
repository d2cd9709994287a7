/* /v1 password change (password/start + finish) and the login/start rate
 * limits (per account name and per remote address, taken back by a finish
 * that proves the password). */
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

/* A password change as the client makes it, up to the finish body. */
typedef struct {
    uint8_t change_id[16];
    uint8_t ke3[KW_OPAQUE_KE3BYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES];
    int login_rc; /* the client's check of the current password */
} pw_change;

/* password/start with `current` and `next`; returns the status. */
static long pw_start(fx *f, const char *token, const char *current, const char *next, pw_change *pc,
                     json_t **reply_out)
{
    kw_opaque_config cfg;
    kw_opaque_client *login = NULL, *reg = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES];
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], resp[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t sk[KW_OPAQUE_SESSION_KEYBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES];
    json_t *reply = NULL;
    memset(pc, 0, sizeof(*pc));
    th_opaque_config(&cfg);
    assert_int_equal(kw_opaque_client_new(&login, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_new(&reg, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(login, ke1, (const uint8_t *)current, strlen(current)),
                     KW_OK);
    assert_int_equal(kw_opaque_client_registration_start(reg, req, (const uint8_t *)next, strlen(next)),
                     KW_OK);
    json_t *body = json_object();
    json_object_set_new(body, "ke1", th_b64(ke1, sizeof(ke1)));
    json_object_set_new(body, "request", th_b64(req, sizeof(req)));
    long st = th_req(&f->s, "POST", "/v1/password/start", token, body, &reply);
    if (st == 200) {
        th_unb64(reply, "change_id", pc->change_id, sizeof(pc->change_id));
        th_unb64(reply, "ke2", ke2, sizeof(ke2));
        th_unb64(reply, "response", resp, sizeof(resp));
        assert_int_equal(json_object_size(reply), 3);
        pc->login_rc = kw_opaque_client_login_finish(login, pc->ke3, sk, ek, ke2, sizeof(ke2), NULL);
        if (pc->login_rc != KW_OK) /* a wrong password: a KE3 the server must refuse */
            randombytes_buf(pc->ke3, sizeof(pc->ke3));
        assert_int_equal(kw_opaque_client_registration_finish(reg, pc->record, ek, resp, sizeof(resp),
                                                              NULL),
                         KW_OK);
    }
    kw_opaque_client_free(&login);
    kw_opaque_client_free(&reg);
    if (reply_out != NULL)
        *reply_out = reply;
    else
        json_decref(reply);
    return st;
}

static json_t *pw_finish_body(const pw_change *pc)
{
    json_t *body = json_object();
    json_object_set_new(body, "change_id", th_b64(pc->change_id, 16));
    json_object_set_new(body, "ke3", th_b64(pc->ke3, sizeof(pc->ke3)));
    json_object_set_new(body, "record", th_b64(pc->record, sizeof(pc->record)));
    return body;
}

/* The right current password: the record is replaced, the old password no
 * longer signs in, the new one does; the account's other sessions are
 * revoked, the caller's is not; the change id finishes once. */
static void test_change(void **state)
{
    fx *f = *state;
    pw_change pc;
    json_t *reply = NULL;
    char other[64], fresh[64];
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, other, NULL), 200);
    assert_int_equal(pw_start(f, f->token, f->a.password, "new-password", &pc, NULL), 200);
    assert_int_equal(pc.login_rc, KW_OK);
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     200);
    assert_int_equal(json_integer_value(json_object_get(reply, "sessions_revoked")), 1);
    json_decref(reply);
    /* replay of the same finish */
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     401);
    assert_string_equal(th_err(reply), "verify");
    json_decref(reply);

    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", other, NULL, &reply), 401);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", f->token, NULL, &reply), 200);
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, NULL, &reply), 401);
    assert_string_equal(th_msg(reply), "sign-in failed");
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", "new-password", &f->d, NULL, fresh, NULL), 200);
}

/* A wrong current password: the client cannot make KE3; a KE3 sent anyway
 * is refused (401) and nothing changes (the old password still signs in,
 * the other session lives). The change id is spent. */
static void test_wrong_current_password(void **state)
{
    fx *f = *state;
    pw_change pc;
    json_t *reply = NULL;
    char other[64];
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, other, NULL), 200);
    assert_int_equal(pw_start(f, f->token, "not-the-password", "new-password", &pc, NULL), 200);
    assert_int_not_equal(pc.login_rc, KW_OK);
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     401);
    assert_string_equal(th_err(reply), "verify");
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, NULL, NULL), 200);
    assert_int_equal(th_signin(&f->s, "alice", "new-password", &f->d, NULL, NULL, &reply), 401);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "GET", "/v1/devices", other, NULL, &reply), 200);
    json_decref(reply);
}

/* The change id is bound to the session and the kind: another session of
 * the account, a login id at password/finish, a change id at login/finish
 * are all refused; a change whose record was replaced meanwhile is a
 * conflict; a pending device cannot start one; malformed input is 400. */
static void test_binding_and_hygiene(void **state)
{
    fx *f = *state;
    pw_change pc, late;
    json_t *reply = NULL;
    char other[64], tb[64];
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, other, NULL), 200);

    /* another session of the same trusted device */
    assert_int_equal(pw_start(f, f->token, f->a.password, "pw-2", &pc, NULL), 200);
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", other, pw_finish_body(&pc), &reply),
                     401);
    json_decref(reply);
    /* ... which spent it */
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     401);
    json_decref(reply);

    /* a sign-in's login id at password/finish */
    th_login l;
    th_login_start(&f->s, &l, "alice", f->a.password);
    assert_int_equal(pw_start(f, f->token, f->a.password, "pw-2", &pc, NULL), 200);
    memcpy(pc.change_id, l.login_id, 16);
    memcpy(pc.ke3, l.ke3, sizeof(pc.ke3));
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     401);
    json_decref(reply);
    /* a change id at login/finish */
    assert_int_equal(pw_start(f, f->token, f->a.password, "pw-2", &pc, NULL), 200);
    memcpy(l.login_id, pc.change_id, 16);
    memcpy(l.ke3, pc.ke3, sizeof(l.ke3));
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &f->d, NULL),
                            &reply),
                     401);
    json_decref(reply);

    /* two changes started; the second to finish finds the record replaced */
    assert_int_equal(pw_start(f, f->token, f->a.password, "pw-A", &pc, NULL), 200);
    assert_int_equal(pw_start(f, f->token, f->a.password, "pw-B", &late, NULL), 200);
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     200);
    json_decref(reply);
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&late), &reply),
                     409);
    assert_string_equal(th_err(reply), "conflict");
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", "pw-A", &f->d, NULL, NULL, NULL), 200);
    snprintf(f->a.password, sizeof(f->a.password), "pw-A");

    /* a pending device (signed in with an approval code) cannot start */
    th_device b;
    char code[8];
    th_device_new(&b, "phone");
    th_approval_code(&f->s, f->token, code);
    assert_int_equal(th_signin(&f->s, "alice", "pw-A", &b, th_code_factor("approval", code), tb, NULL),
                     200);
    assert_int_equal(pw_start(f, tb, "pw-A", "pw-C", &pc, &reply), 401);
    assert_string_equal(th_msg(reply), "this needs a trusted device");
    json_decref(reply);
    /* nor can anyone without a session */
    assert_int_equal(pw_start(f, NULL, "pw-A", "pw-C", &pc, &reply), 401);
    json_decref(reply);

    /* malformed: unknown field, short ke1, bad record */
    assert_int_equal(pw_start(f, f->token, "pw-A", "pw-C", &pc, NULL), 200);
    json_t *body = pw_finish_body(&pc);
    json_object_set_new(body, "extra", json_true());
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, body, &reply), 400);
    json_decref(reply);
    body = json_object();
    json_object_set_new(body, "ke1", th_b64(pc.ke3, 10));
    json_object_set_new(body, "request", th_b64(pc.ke3, 32));
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/start", f->token, body, &reply), 400);
    json_decref(reply);
    uint8_t good[sizeof(pc.record)];
    memcpy(good, pc.record, sizeof(good));
    memset(pc.record, 0, sizeof(pc.record)); /* not a valid point */
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     400);
    assert_string_equal(th_err(reply), "format");
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", "pw-A", &f->d, NULL, NULL, NULL), 200);
    /* the malformed finish was refused before the change was taken: it still
     * finishes with the valid record */
    memcpy(pc.record, good, sizeof(good));
    assert_int_equal(th_req(&f->s, "POST", "/v1/password/finish", f->token, pw_finish_body(&pc), &reply),
                     200);
    json_decref(reply);
    assert_int_equal(th_signin(&f->s, "alice", "pw-C", &f->d, NULL, NULL, NULL), 200);
    th_device_free(&b);
}

/* POST /v1/login/start with a fresh KE1; returns the status. */
static long start_only(fx *f, const char *name, json_t **reply)
{
    kw_opaque_config cfg;
    kw_opaque_client *c = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES];
    th_opaque_config(&cfg);
    assert_int_equal(kw_opaque_client_new(&c, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(c, ke1, (const uint8_t *)"guess", 5), KW_OK);
    kw_opaque_client_free(&c);
    json_t *body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "ke1", th_b64(ke1, sizeof(ke1)));
    return th_req(&f->s, "POST", "/v1/login/start", NULL, body, reply);
}

#define START_ACCOUNT_LIMIT 40
#define START_REMOTE_LIMIT 300

/* Guesses checked offline (login/start, never finished) reach the account
 * limit: 429 `limit`, for a known and an unknown name alike; successful
 * sign-ins take their start back, so they never reach it; the limit lifts
 * after the window. */
static void test_start_limit_account(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    /* many successful sign-ins first: they do not count */
    for (int i = 0; i < START_ACCOUNT_LIMIT + 5; i++)
        assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, NULL, NULL), 200);
    const char *names[] = {"alice", "nobody"};
    for (size_t n = 0; n < 2; n++) {
        for (int i = 0; i < START_ACCOUNT_LIMIT; i++) {
            assert_int_equal(start_only(f, names[n], &reply), 200);
            json_decref(reply);
        }
        assert_int_equal(start_only(f, names[n], &reply), 429);
        assert_string_equal(th_err(reply), "limit");
        json_decref(reply);
    }
    /* now even the right password cannot start (the limit is checked
     * before any OPAQUE work) */
    json_t *body = json_pack("{s:s}", "name", "alice");
    uint8_t ke1[KW_OPAQUE_KE1BYTES];
    randombytes_buf(ke1, sizeof(ke1));
    json_object_set_new(body, "ke1", th_b64(ke1, sizeof(ke1)));
    assert_int_equal(th_req(&f->s, "POST", "/v1/login/start", NULL, body, &reply), 429);
    json_decref(reply);
    /* another account is not affected */
    th_device d2;
    th_account b;
    char tb[64];
    th_device_new(&d2, "bobs");
    assert_int_equal(th_register(&f->s, &b, "bob", &d2, tb, NULL), 200);
    assert_int_equal(th_signin(&f->s, "bob", b.password, &d2, NULL, NULL, NULL), 200);
    /* the window passes */
    th_time_offset(901);
    assert_int_equal(th_signin(&f->s, "alice", f->a.password, &f->d, NULL, NULL, NULL), 200);
    th_time_offset(0);
    th_account_free(&b);
    th_device_free(&d2);
}

/* Starts from one address over many names reach the address limit. */
static void test_start_limit_remote(void **state)
{
    fx *f = *state;
    json_t *reply = NULL;
    char name[32];
    for (int i = 0; i < START_REMOTE_LIMIT; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        assert_int_equal(start_only(f, name, &reply), 200);
        json_decref(reply);
    }
    assert_int_equal(start_only(f, "user-next", &reply), 429);
    assert_string_equal(th_err(reply), "limit");
    assert_non_null(strstr(th_msg(reply), "address"));
    json_decref(reply);
    /* password/start counts there too */
    pw_change pc;
    assert_int_equal(pw_start(f, f->token, f->a.password, "x", &pc, &reply), 429);
    json_decref(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_current_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binding_and_hygiene, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_limit_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_limit_remote, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
