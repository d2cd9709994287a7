/*
 * Attack 5 against contacts: the server rolls its key-transparency log
 * (and its tree head) back to an earlier size.
 *
 * Set-up (honest): "alice" (A) and "bob" (C) with CKV on; A adds bob, so
 * A's profile holds a verified tree head of epoch e.
 * Lie: keywardd is stopped and its database edited: every epoch after K
 * (an epoch by which all rosters were in the log, well before A's pinned
 * one) is deleted from kt_epochs; restarted, the server rebuilds its log
 * to epoch K and goes on from there (an earlier size, then a different
 * history with new timestamps). A's `contact show
 * bob` refuses with proof-failed at once (the newest head is older than
 * A's: head-rollback), and again once the new log has grown past A's old
 * size (no consistency proof from A's head: inconsistent/rollback); bob's
 * own device C gets proof-failed on its self-check. Nothing is lost: A's
 * contact entry (account key, roster version) and keychain are intact.
 */
#include "test_ckv_util.h"

static kw_it_server srv;
static char *prof_a, *prof_c;
static int64_t epoch_k;

static const kw_it_prof profs[] = {{"A", &prof_a}, {"C", &prof_c}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return ckv_fixture_up(&srv, profs);
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static int64_t pinned_epoch(const char *prof)
{
    const char *st[] = {"--json", "ckv", "status", NULL};
    kw_it_result r = ckv_cli(&srv, prof, st, 0);
    int64_t e = (int64_t)json_integer_value(json_object_get(r.json, "epoch"));
    kw_it_result_free(&r);
    return e;
}

static void test_honest(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_create(&srv, prof_c, "bob", "phone-C", NULL);
    const char *on[] = {"--json", "ckv", "on", NULL};
    ckv_run(&srv, prof_a, on, 0);
    ckv_run(&srv, prof_c, on, 0);
    ckv_wait_epochs(&srv);
    epoch_k = ckv_head_epoch(&srv);
    /* let the log grow well past epoch K */
    for (int i = 0; i < 10; i++)
        ckv_wait_epochs(&srv);
    const char *add[] = {"--json", "contact", "add", "bob", NULL};
    ckv_run(&srv, prof_a, add, 0);
    const char *check[] = {"--json", "ckv", "check", NULL};
    ckv_run(&srv, prof_c, check, 0);
    assert_true(pinned_epoch(prof_a) > epoch_k + 10);
}

static void test_log_rolled_back(void **state)
{
    (void)state;
    int64_t e = pinned_epoch(prof_a);
    /* the same address: the profiles pin the server URL */
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", srv.port);
    const char *const args[] = {"--test-faults", "--kt-epoch-ms", "100", "--listen", listen, NULL};
    sqlite3 *db = at_lie_begin(&srv);
    char sql[160];
    snprintf(sql, sizeof(sql), "DELETE FROM kt_epochs WHERE epoch > %lld", (long long)epoch_k);
    at_exec(db, sql, NULL, 0, NULL, 0, -1);
    assert_int_equal(at_int(db, "SELECT count(*) FROM kt_updates WHERE epoch > 0 AND epoch > "
                                "(SELECT max(epoch) FROM kt_epochs)"),
                     0);
    at_db_close(db);
    assert_int_equal(kw_it_server_start(&srv, srv.dir, args), 0);
    assert_true(ckv_head_epoch(&srv) < e);

    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, show);
    ckv_assert_refused_alert(&r, "proof-failed", "bob");
    assert_non_null(strstr(r.err, "rollback"));
    kw_it_result_free(&r);

    /* the new log grows past the old size: still no consistency */
    for (int i = 0; i < 200 && ckv_head_epoch(&srv) <= e + 1; i++)
        usleep(100 * 1000);
    assert_true(ckv_head_epoch(&srv) > e + 1);
    r = kw_it_cli(&srv, prof_a, NULL, show);
    ckv_assert_refused_alert(&r, "proof-failed", "bob");
    kw_it_result_free(&r);
    const char *check[] = {"--json", "ckv", "check", NULL};
    r = kw_it_cli(&srv, prof_c, NULL, check);
    ckv_assert_refused_alert(&r, "proof-failed", "bob");
    kw_it_result_free(&r);
    ckv_assert_stored(&srv, prof_a, "proof-failed", "bob", NULL);

    /* nothing lost */
    const char *list[] = {"--json", "contact", "list", NULL};
    r = ckv_cli(&srv, prof_a, list, 0);
    json_t *c0 = json_array_get(json_object_get(r.json, "contacts"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "name")), "bob");
    assert_int_equal(json_integer_value(json_object_get(c0, "roster_version")), 2);
    kw_it_result_free(&r);
    at_keychain_ok(&srv, prof_a, NULL, 1);
    at_keychain_ok(&srv, prof_c, NULL, 1);
    assert_int_equal(pinned_epoch(prof_a), e); /* the pinned head was not replaced */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest),
        cmocka_unit_test(test_log_rolled_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
