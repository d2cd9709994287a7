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
#include <time.h>
#include <unistd.h>

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
/* ---- key transparency on several nodes ---- */

#define KT_CADENCE_MS 1000 /* the default --kt-epoch-ms; the lease defaults to one cadence */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET /v1/kt/head: the epoch (-1 when the node does not answer) and
 * whether the node says it holds the publisher lease. */
static int64_t kt_head(const kw_it_server *s, bool *publisher)
{
    char *body = NULL;
    int64_t e = -1;
    if (publisher != NULL)
        *publisher = false;
    if (kw_it_http(s, "GET", "/v1/kt/head", NULL, NULL, &body) == 200 && body != NULL) {
        json_t *o = json_loads(body, 0, NULL);
        if (o != NULL) {
            e = (int64_t)json_integer_value(json_object_get(o, "epoch"));
            if (publisher != NULL)
                *publisher = json_is_true(json_object_get(o, "publisher"));
        }
        json_decref(o);
    }
    free(body);
    return e;
}

/* The node's insertion list of an epoch (its signed head, the prefix root
 * before it, every insertion): malloc'd body, NULL when not there. */
static char *kt_insertions(const kw_it_server *s, int64_t epoch)
{
    char path[64], *body = NULL;
    snprintf(path, sizeof(path), "/v1/kt/insertions/%lld", (long long)epoch);
    if (kw_it_http(s, "GET", path, NULL, NULL, &body) != 200) {
        free(body);
        return NULL;
    }
    return body;
}

static int log_count(const kw_it_server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    char line[1024];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Waits until every node in list serves epoch >= target, then checks that
 * they serve that epoch byte for byte alike. */
static void kt_same_head(kw_it_server *const *list, size_t n, int64_t target)
{
    for (size_t i = 0; i < n; i++) {
        int64_t t_end = mono_ms() + 10 * KT_CADENCE_MS;
        while (kt_head(list[i], NULL) < target && mono_ms() < t_end)
            usleep(50 * 1000);
        assert_true(kt_head(list[i], NULL) >= target);
    }
    char *first = kt_insertions(list[0], target);
    assert_non_null(first);
    for (size_t i = 1; i < n; i++) {
        char *other = kt_insertions(list[i], target);
        assert_non_null(other);
        assert_string_equal(first, other);
        free(other);
    }
    free(first);
}

/* `keyward kt lookup name` through node s with a fresh profile: verifies
 * the proof against the node's signed head; returns the label version. */
static int64_t kt_lookup(const kw_it_server *s, const char *name)
{
    char *prof = kw_it_profile(&node_a, "observer");
    const char *look[] = {"--json", "kt", "lookup", name, NULL};
    kw_it_result r = kw_it_cli(s, prof, NULL, look);
    int64_t v = -1;
    if (r.status != 0)
        kw_it_dump("kt lookup", &r);
    else
        v = (int64_t)json_integer_value(json_object_get(r.json, "log_version"));
    kw_it_result_free(&r);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", prof);
    if (system(cmd) != 0)
        v = -2;
    free(prof);
    return v;
}

/* Exactly one node publishes; updates accepted on any node are published;
 * every node serves the same heads. */
static void test_kt_one_publisher(void **state)
{
    (void)state;
    if (!enabled)
        skip();
    kw_it_server *nodes[] = {&node_a, &node_b, &node_c};
    int publishers = 0;
    for (int round = 0; round < 3; round++) {
        publishers = 0;
        for (size_t i = 0; i < 3; i++) {
            bool p = false;
            assert_true(kt_head(nodes[i], &p) >= 0);
            publishers += p;
        }
        assert_int_equal(publishers, 1);
        usleep(300 * 1000);
    }
    /* one node ever took the lease; the others only follow */
    int leaders = 0;
    for (size_t i = 0; i < 3; i++)
        leaders += log_count(nodes[i], "event=kt_leader");
    assert_int_equal(leaders, 1);
    /* updates through B and C (whoever publishes): a new account each */
    const char *mk_b[] = {"--json", "account", "create", "kt-bob", "--device-name", "b", NULL};
    const char *mk_c[] = {"--json", "account", "create", "kt-carol", "--device-name", "c", NULL};
    char *pb = kw_it_profile(&node_a, "kt-bob"), *pc = kw_it_profile(&node_a, "kt-carol");
    kw_it_result r = cli(&node_b, pb, mk_b);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = cli(&node_c, pc, mk_c);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    free(pb);
    free(pc);
    /* two epochs later every node has published them and serves the same
     * head; the proofs verify through any node */
    int64_t now = kt_head(&node_a, NULL);
    assert_true(now >= 0);
    kt_same_head(nodes, 3, now + 2);
    assert_int_equal(kt_lookup(&node_a, "kt-bob"), 1);
    assert_int_equal(kt_lookup(&node_b, "kt-carol"), 1);
    assert_true(kt_lookup(&node_c, "alice") >= 1);
}

static kw_it_server *kt_publisher_node(kw_it_server *const *nodes, size_t n)
{
    for (int tries = 0; tries < 100; tries++) {
        for (size_t i = 0; i < n; i++) {
            bool p = false;
            if (kt_head(nodes[i], &p) >= 0 && p)
                return nodes[i];
        }
        usleep(50 * 1000);
    }
    return NULL;
}

static void restart_peer(kw_it_server *s)
{
    const char *args[] = {"--store", store_uri, "--key-file", key_file, NULL};
    assert_int_equal(kw_it_server_start(s, s->dir, args), 0);
}

/* kill -9 of the publishing node: another node publishes the next epoch
 * within 2 × the epoch cadence (lease = one cadence, renewed every
 * quarter); an update accepted by the dead node is not lost; the killed
 * node, restarted, follows. */
static void test_kt_publisher_killed(void **state)
{
    (void)state;
    if (!enabled)
        skip();
    kw_it_server *nodes[] = {&node_a, &node_b, &node_c};
    kw_it_server *lead = kt_publisher_node(nodes, 3);
    assert_non_null(lead);
    kw_it_server *rest[2];
    size_t nr = 0;
    for (size_t i = 0; i < 3; i++)
        if (nodes[i] != lead)
            rest[nr++] = nodes[i];
    /* an update through the publisher, then kill it right after one of its
     * epochs (the worst moment: a whole cadence since its last one) */
    char *pd = kw_it_profile(&node_a, "kt-dave");
    const char *mk[] = {"--json", "account", "create", "kt-dave", "--device-name", "d", NULL};
    kw_it_result r = cli(lead, pd, mk);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    free(pd);
    int64_t e0 = kt_head(lead, NULL);
    while (kt_head(lead, NULL) == e0)
        usleep(5 * 1000);
    e0 = kt_head(lead, NULL);
    int64_t t_kill = mono_ms();
    kw_it_server_stop(lead, true);
    /* the next epoch, from another node */
    int64_t t_next = -1, deadline = t_kill + 10 * KT_CADENCE_MS;
    while (t_next < 0 && mono_ms() < deadline) {
        for (size_t i = 0; i < nr; i++)
            if (kt_head(rest[i], NULL) > e0)
                t_next = mono_ms();
        usleep(5 * 1000);
    }
    assert_true(t_next > 0);
    long handover = (long)(t_next - t_kill);
    printf("kt handover after kill -9 of the publisher: %ld ms (epoch cadence %d ms, bound %d ms)\n",
           handover, KT_CADENCE_MS, 2 * KT_CADENCE_MS);
    assert_true(handover <= 2 * KT_CADENCE_MS);
    kw_it_server *lead2 = kt_publisher_node(rest, nr);
    assert_non_null(lead2);
    /* the dead node's acknowledged update is published by the survivors */
    kt_same_head(rest, nr, kt_head(lead2, NULL) + 1);
    assert_int_equal(kt_lookup(rest[0], "kt-dave"), 1);
    /* the killed node comes back as a follower and catches up */
    restart_peer(lead);
    bool p = true;
    assert_true(kt_head(lead, &p) >= 0);
    kw_it_server *all[] = {rest[0], rest[1], lead};
    kt_same_head(all, 3, kt_head(lead2, NULL) + 1);
    assert_true(kt_head(lead, &p) >= 0);
    assert_false(p);
    assert_int_equal(kt_lookup(lead, "kt-dave"), 1);
    /* no node had to rebuild, none saw a head it could not reproduce */
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(log_count(all[i], "event=kt_rebuild"), 0);
        assert_int_equal(log_count(all[i], "level=error event=kt_"), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_on_a_signs_in_on_b),
        cmocka_unit_test(test_login_split_across_nodes),
        cmocka_unit_test(test_kt_one_publisher),
        cmocka_unit_test(test_node_killed_and_restarted),
        cmocka_unit_test(test_kt_publisher_killed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
