/*
 * Integration: the key-transparency directory of a real keywardd, verified
 * by the real keyward CLI (`kt lookup`, `audit`).
 *
 * Scenario (in order, sharing the server and profiles): A creates "alice";
 * after an epoch, a verified lookup from an observer profile O shows roster
 * version 1 with one device (and pins keys and head in O's kt.json); an
 * unknown name gives a verified absence (3); B signs in with an approval
 * code and A approves it: a lookup shows version 2 with two devices
 * (consistent with O's pinned head), and after A removes B version 3 with
 * one device; `audit` replays every epoch; the
 * server's test-only lies (a flipped head signature, a flipped value byte)
 * make a fresh lookup fail with exit 2 naming the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyward/keyward.h"
#include "util/harness.h"

#define PASSWORD "correct horse battery staple"

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_o, *prof_l1, *prof_l2;

static kw_it_result cli(const char *profile, const char *const *args)
{
    kw_it_result r = kw_it_cli(&srv, profile, NULL, args);
    if (r.status != 0)
        kw_it_dump(args[1] != NULL ? args[1] : args[0], &r);
    return r;
}

static const char *jstr(const kw_it_result *r, const char *key)
{
    const char *s = json_string_value(json_object_get(r->json, key));
    return s != NULL ? s : "";
}

static int64_t jint(const kw_it_result *r, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(r->json, key));
}

static int64_t head_epoch(void)
{
    char *body = NULL;
    int64_t e = -1;
    if (kw_it_http(&srv, "GET", "/v1/kt/head", NULL, NULL, &body) == 200 && body != NULL) {
        json_t *o = json_loads(body, 0, NULL);
        if (json_is_integer(json_object_get(o, "epoch")))
            e = (int64_t)json_integer_value(json_object_get(o, "epoch"));
        json_decref(o);
    }
    free(body);
    return e;
}

/* Waits (up to 20 s) until the server has closed at least two more epochs,
 * so that every update queued before the call is published. */
static void wait_epochs(void)
{
    int64_t start = head_epoch();
    assert_true(start >= 0);
    for (int i = 0; i < 400 && head_epoch() < start + 2; i++)
        usleep(50 * 1000);
    assert_true(head_epoch() >= start + 2);
}

static int setup(void **state)
{
    (void)state;
    static const char *const extra[] = {"--test-faults", "--kt-epoch-ms", "100", NULL};
    setenv("KEYWARD_TEST_FAULTS", "1", 1);
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, extra) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    prof_b = kw_it_profile(&srv, "B");
    prof_o = kw_it_profile(&srv, "O");
    prof_l1 = kw_it_profile(&srv, "L1");
    prof_l2 = kw_it_profile(&srv, "L2");
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    free(prof_b);
    free(prof_o);
    free(prof_l1);
    free(prof_l2);
    return 0;
}

static void test_keys_public(void **state)
{
    (void)state;
    char *body = NULL;
    int st = kw_it_http(&srv, "GET", "/v1/kt/keys", NULL, NULL, &body);
    assert_int_equal(st, 200);
    assert_non_null(strstr(body, "\"log_pk\""));
    assert_non_null(strstr(body, "\"vrf_pk\""));
    free(body);
    st = kw_it_http(&srv, "GET", "/v1/kt/head", NULL, NULL, &body);
    assert_int_equal(st, 200);
    free(body);
    st = kw_it_http(&srv, "GET", "/v1/kt/insertions/999999999", NULL, NULL, &body);
    assert_int_equal(st, 404);
    free(body);
    st = kw_it_http(&srv, "GET", "/v1/kt/insertions/x1", NULL, NULL, &body);
    assert_int_equal(st, 400);
    free(body);
}

static void test_lookup_v1(void **state)
{
    (void)state;
    const char *create[] = {"--json", "account", "create", "alice", "--device-name", "laptop-A", NULL};
    kw_it_result r = cli(prof_a, create);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    wait_epochs();

    const char *look[] = {"--json", "kt", "lookup", "alice", NULL};
    r = cli(prof_o, look);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "name"), "alice");
    assert_int_equal(jint(&r, "version"), 1);
    assert_int_equal(jint(&r, "ndevices"), 1);
    assert_true(jint(&r, "epoch") >= 1);
    kw_it_result_free(&r);

    char path[512];
    snprintf(path, sizeof(path), "%s/kt.json", prof_o);
    assert_int_equal(access(path, F_OK), 0);

    const char *missing[] = {"--json", "kt", "lookup", "nobody", NULL};
    r = kw_it_cli(&srv, prof_o, NULL, missing);
    assert_int_equal(r.status, 3);
    kw_it_result_free(&r);
}

static void test_lookup_after_approve(void **state)
{
    (void)state;
    const char *mk[] = {"--json", "approval-code", NULL};
    kw_it_result r = cli(prof_a, mk);
    assert_int_equal(r.status, 0);
    char code[8], id[32], join[8];
    snprintf(code, sizeof(code), "%s", jstr(&r, "code"));
    kw_it_result_free(&r);
    const char *login[] = {"--json", "login", "alice", "--device-name", "phone-B",
                           "--approval-code", code, NULL};
    r = cli(prof_b, login);
    assert_int_equal(r.status, 0);
    snprintf(id, sizeof(id), "%s", jstr(&r, "device_id"));
    snprintf(join, sizeof(join), "%s", jstr(&r, "join_code"));
    kw_it_result_free(&r);
    const char *ok[] = {"--json", "device", "approve", id, "--code", join, NULL};
    r = cli(prof_a, ok);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    wait_epochs();

    /* O has a pinned head from before: the new one must be consistent. */
    const char *look[] = {"--json", "kt", "lookup", "alice", NULL};
    r = cli(prof_o, look);
    assert_int_equal(r.status, 0);
    assert_int_equal(jint(&r, "version"), 2);
    assert_int_equal(jint(&r, "ndevices"), 2);
    kw_it_result_free(&r);

    /* A removes B: version 3 with one device again. */
    const char *rm[] = {"--json", "device", "remove", id, "--yes", NULL};
    r = cli(prof_a, rm);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    wait_epochs();
    r = cli(prof_o, look);
    assert_int_equal(r.status, 0);
    assert_int_equal(jint(&r, "version"), 3);
    assert_int_equal(jint(&r, "ndevices"), 1);
    kw_it_result_free(&r);
}

static void test_audit(void **state)
{
    (void)state;
    const char *audit[] = {"--json", "audit", NULL};
    kw_it_result r = cli(prof_l1, audit);
    assert_int_equal(r.status, 0);
    assert_true(jint(&r, "epochs_verified") >= 3);
    assert_int_equal(jint(&r, "epochs_verified"), jint(&r, "newest_epoch") + 1);
    kw_it_result_free(&r);
}

static void lie(const char *mode)
{
    char path[64], *body = NULL;
    snprintf(path, sizeof(path), "/v1/kt/test-lie/%s", mode);
    assert_int_equal(kw_it_http(&srv, "POST", path, "{}", NULL, &body), 200);
    free(body);
}

static void test_lying_server(void **state)
{
    (void)state;
    const char *look[] = {"--json", "kt", "lookup", "alice", NULL};

    lie("head-sig");
    kw_it_result r = kw_it_cli(&srv, prof_l1, NULL, look);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "bad-head-signature"));
    kw_it_result_free(&r);

    lie("value");
    r = kw_it_cli(&srv, prof_l2, NULL, look);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "value-mismatch"));
    kw_it_result_free(&r);

    lie("none");
    r = cli(prof_l2, look);
    assert_int_equal(r.status, 0);
    assert_int_equal(jint(&r, "version"), 3);
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_public),     cmocka_unit_test(test_lookup_v1),
        cmocka_unit_test(test_lookup_after_approve), cmocka_unit_test(test_audit),
        cmocka_unit_test(test_lying_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
