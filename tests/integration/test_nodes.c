/*
 * Integration: several keywardd nodes on one PostgreSQL store (issue 8).
 * Runs when KEYWARD_TEST_STORE_URI names PostgreSQL (scripts/test-pg);
 * on the default SQLite store, which serves one keywardd, it is skipped.
 *
 * Node A gets a fresh database from the harness; node B serves the same
 * database with the same server key file (the OPAQUE keys must agree);
 * node C too, but with pending logins kept in its memory.
 * - an account created through A is read and signed in through B, and a
 *   session made on one node is accepted by the other;
 * - one sign-in split across nodes: login/start on A, login/finish on B
 *   (the pending login waits in the store); finishing it a second time, on
 *   A, is refused (taken once);
 * - negative: a login started on C (pending logins in memory) cannot be
 *   finished on B;
 * - B is killed -9 in the middle; A keeps serving, and B restarted on the
 *   same database serves the account again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "client/client_internal.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"
#include "keyward/sign.h"
#include "util/harness.h"

#define PASSWORD "correct horse battery staple"
#define PASSPHRASE "integration-test-passphrase" /* what the harness sets */
#define OPAQUE_CONTEXT "keyward-opaque-v1"
#define LOGIN_SIG_CONTEXT "login"

static kw_it_server node_a, node_b, node_c;
static char *prof_a, *prof_b;
static char store_uri[800], key_file[400];
static bool enabled;

static bool pg_enabled(void)
{
    const char *u = getenv("KEYWARD_TEST_STORE_URI");
    return u != NULL && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0);
}

static int start_peer(kw_it_server *s, bool memory_logins)
{
    const char *args[] = {"--store", store_uri, "--key-file", key_file, "--pending-logins",
                          memory_logins ? "memory" : "store", NULL};
    return kw_it_server_start(s, NULL, args);
}

static int setup(void **state)
{
    (void)state;
    enabled = pg_enabled();
    if (!enabled)
        return 0;
    if (kw_init() != KW_OK || kw_it_server_start(&node_a, NULL, NULL) != 0)
        return -1;
    char path[400];
    snprintf(path, sizeof(path), "%s/store-uri", node_a.dir);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(store_uri, sizeof(store_uri), f) == NULL) {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    store_uri[strcspn(store_uri, "\n")] = '\0';
    snprintf(key_file, sizeof(key_file), "%s/data/server.key", node_a.dir);
    if (start_peer(&node_b, false) != 0 || start_peer(&node_c, true) != 0)
        return -1;
    prof_a = kw_it_profile(&node_a, "A");
    prof_b = kw_it_profile(&node_a, "B");
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!enabled)
        return 0;
    kw_it_server_stop(&node_c, false);
    kw_it_server_stop(&node_b, false);
    kw_it_server_stop(&node_a, false);
    kw_it_server_cleanup(&node_c);
    kw_it_server_cleanup(&node_b);
    free(prof_a);
    free(prof_b);
    kw_it_server_cleanup(&node_a);
    return 0;
}

static kw_it_result cli(const kw_it_server *s, const char *profile, const char *const *args)
{
    kw_it_result r = kw_it_cli(s, profile, NULL, args);
    if (r.status != 0)
        kw_it_dump(args[1] != NULL ? args[1] : args[0], &r);
    return r;
}

static void test_account_on_a_signs_in_on_b(void **state)
{
    (void)state;
    if (!enabled)
        skip();
    const char *create[] = {"--json", "account", "create", "alice", "--device-name", "laptop-A", NULL};
    kw_it_result r = cli(&node_a, prof_a, create);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    /* A's session works on B: the keychain through the other node. */
    const char *show[] = {"--json", "keychain", "show", NULL};
    r = cli(&node_b, prof_a, show);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    /* An approval code made on A lets a new device sign in on B. */
    const char *mk[] = {"--json", "approval-code", NULL};
    r = cli(&node_a, prof_a, mk);
    assert_int_equal(r.status, 0);
    char code[8];
    snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(r.json, "code")));
    kw_it_result_free(&r);
    const char *login[] = {"--json", "login", "alice", "--device-name", "phone-B", "--approval-code", code,
                           NULL};
    r = cli(&node_b, prof_b, login);
    assert_int_equal(r.status, 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "device_state")), "pending");
    kw_it_result_free(&r);

    /* …and A (through A) sees the pending device B registered through B. */
    const char *list[] = {"--json", "device", "list", NULL};
    r = cli(&node_a, prof_a, list);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "phone-B"));
    kw_it_result_free(&r);

    /* The code was used on B: replaying it on A is refused. */
    char *prof_x = kw_it_profile(&node_a, "X");
    const char *replay[] = {"--json", "login", "alice", "--approval-code", code, NULL};
    r = kw_it_cli(&node_a, prof_x, NULL, replay);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
    free(prof_x);
}

/* login/start on `from`, login/finish on `to` with profile A's device.
 * Returns the finish status; *token gets the session token on 200. */
static int split_login(const kw_it_server *from, const kw_it_server *to, char *token, size_t cap,
                       char **finish_body)
{
    kwc_profile *p = NULL;
    kw_opaque_config cfg;
    kw_opaque_client *oc = NULL;
    kw_sign_key *ik = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES];
    uint8_t sk[KW_OPAQUE_SESSION_KEYBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES];
    uint8_t login_id[16], msg[32], sig[KW_SIGN_BYTES];
    char *resp = NULL;
    token[0] = '\0';
    assert_int_equal(kwc_profile_load(&p, prof_a, PASSPHRASE, strlen(PASSPHRASE)), KW_OK);
    kw_opaque_config_default(&cfg, (const uint8_t *)OPAQUE_CONTEXT, sizeof(OPAQUE_CONTEXT) - 1);
    assert_int_equal(kw_opaque_client_new(&oc, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(oc, ke1, (const uint8_t *)PASSWORD, strlen(PASSWORD)), KW_OK);
    json_t *body = json_pack("{s:s}", "name", "alice");
    assert_int_equal(kwc_put_b64(body, "ke1", ke1, sizeof(ke1)), KW_OK);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    assert_int_equal(kw_it_http(from, "POST", "/v1/login/start", text, NULL, &resp), 200);
    free(text);
    json_t *j = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(j);
    assert_int_equal(kwc_get_b64_fixed(j, "login_id", login_id, sizeof(login_id)), KW_OK);
    assert_int_equal(kwc_get_b64_fixed(j, "ke2", ke2, sizeof(ke2)), KW_OK);
    json_decref(j);
    assert_int_equal(kw_opaque_client_login_finish(oc, ke3, sk, ek, ke2, sizeof(ke2), NULL), KW_OK);
    memcpy(msg, login_id, 16);
    memcpy(msg + 16, p->device_id, 16);
    assert_int_equal(kw_sign_key_from_seed(&ik, p->s->identity_seed), KW_OK);
    assert_int_equal(kw_sign(ik, sig, (const uint8_t *)LOGIN_SIG_CONTEXT, sizeof(LOGIN_SIG_CONTEXT) - 1, msg,
                             sizeof(msg)),
                     KW_OK);
    body = json_pack("{s:o}", "device", kwc_device_json(p));
    assert_int_equal(kwc_put_b64(body, "login_id", login_id, 16), KW_OK);
    assert_int_equal(kwc_put_b64(body, "ke3", ke3, sizeof(ke3)), KW_OK);
    assert_int_equal(kwc_put_b64(body, "device_sig", sig, sizeof(sig)), KW_OK);
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int status = kw_it_http(to, "POST", "/v1/login/finish", text, NULL, &resp);
    if (status == 200) {
        j = json_loads(resp, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "token"));
        snprintf(token, cap, "%s", t != NULL ? t : "");
        json_decref(j);
    }
    free(resp);
    if (finish_body != NULL)
        *finish_body = text;
    else
        free(text);
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(ek, sizeof(ek));
    kw_sign_key_free(&ik);
    kw_opaque_client_free(&oc);
    kwc_profile_free(&p);
    return status;
}

static void test_login_split_across_nodes(void **state)
{
    (void)state;
    if (!enabled)
        skip();
    char token[128], *body = NULL, *resp = NULL;
    assert_int_equal(split_login(&node_a, &node_b, token, sizeof(token), &body), 200);
    assert_true(strlen(token) > 20);
    /* The session made on B authenticates on A. */
    assert_int_equal(kw_it_http(&node_a, "GET", "/v1/devices", NULL, token, &resp), 200);
    free(resp);
    /* Finishing the same login again, on the other node: refused. */
    assert_int_equal(kw_it_http(&node_a, "POST", "/v1/login/finish", body, NULL, &resp), 401);
    free(resp);
    free(body);
    /* Negative: C parks pending logins in its own memory; B cannot see them. */
    assert_int_equal(split_login(&node_c, &node_b, token, sizeof(token), NULL), 401);
    /* …while C itself can finish one. */
    assert_int_equal(split_login(&node_c, &node_c, token, sizeof(token), NULL), 200);
}

static void test_node_killed_and_restarted(void **state)
{
    (void)state;
    if (!enabled)
        skip();
    char token[128], *resp = NULL;
    kw_it_server_stop(&node_b, true); /* kill -9 */
    assert_int_equal(split_login(&node_a, &node_a, token, sizeof(token), NULL), 200);
    assert_int_equal(kw_it_server_start(&node_b, node_b.dir,
                                        (const char *const[]){"--store", store_uri, "--key-file", key_file,
                                                              NULL}),
                     0);
    assert_int_equal(kw_it_http(&node_b, "GET", "/v1/devices", NULL, token, &resp), 200);
    assert_non_null(strstr(resp, "phone-B"));
    free(resp);
    assert_int_equal(split_login(&node_b, &node_a, token, sizeof(token), NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_on_a_signs_in_on_b),
        cmocka_unit_test(test_login_split_across_nodes),
        cmocka_unit_test(test_node_killed_and_restarted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
