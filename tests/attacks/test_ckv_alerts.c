/*
 * The Contact Key Verification alerts that are not forged rosters or
 * proofs: the contact turning CKV off, a frozen log, an unreachable log;
 * and the switch itself.
 *
 *   - `ckv on` twice: the second is a conflict (exit 4); `ckv status`
 *     shows the switch from the verified own roster.
 *   - A contact that does not exist: the log proves its absence (exit 3),
 *     nothing stored; adding oneself is refused (exit 1).
 *   - bob turns CKV off: A (CKV on) sees ckv-turned-off on its next use of
 *     bob — the command succeeds with exit 8 and the alert; with A's own
 *     CKV off too the alert would not apply (a second contact, carol,
 *     turning it off while A is off raises nothing).
 *   - A frozen log: the client's clock runs an hour ahead (test-only
 *     KEYWARD_TEST_CLOCK_OFFSET), so the newest head the server serves is
 *     older than the maximum merge delay: log-unreachable-or-frozen (exit
 *     8, the contact is still shown).
 *   - An unreachable log: keywardd stopped, the newest verified head older
 *     than the maximum merge delay: log-unreachable-or-frozen, exit 5.
 *   - `alerts` exits 8 while alerts are unseen, 0 after `alerts --seen`.
 */
#include "test_ckv_util.h"

static kw_it_server srv;
static char *prof_a, *prof_c, *prof_e;

static const kw_it_prof profs[] = {{"A", &prof_a}, {"C", &prof_c}, {"E", &prof_e}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return ckv_fixture_up(&srv, profs);
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("KEYWARD_TEST_CLOCK_OFFSET");
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static void test_switch(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_create(&srv, prof_c, "bob", "phone-C", NULL);
    at_create(&srv, prof_e, "carol", "laptop-E", NULL);
    const char *on[] = {"--json", "ckv", "on", NULL};
    const char *st[] = {"--json", "ckv", "status", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, st, 0);
    assert_false(json_is_true(json_object_get(r.json, "ckv")));
    kw_it_result_free(&r);
    ckv_run(&srv, prof_a, on, 0);
    ckv_run(&srv, prof_a, on, 4);
    ckv_run(&srv, prof_c, on, 0);
    ckv_run(&srv, prof_e, on, 0);
    r = ckv_cli(&srv, prof_a, st, 0);
    assert_true(json_is_true(json_object_get(r.json, "ckv")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "roster_version")), 2);
    kw_it_result_free(&r);
    ckv_wait_epochs(&srv);
}

static void test_absent_and_self(void **state)
{
    (void)state;
    const char *add[] = {"--json", "contact", "add", "nobody", NULL};
    ckv_run(&srv, prof_a, add, 3);
    const char *self[] = {"--json", "contact", "add", "alice", NULL};
    ckv_run(&srv, prof_a, self, 1);
    const char *list[] = {"--json", "contact", "list", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, list, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "contacts")), 0);
    kw_it_result_free(&r);
}

static void test_ckv_turned_off(void **state)
{
    (void)state;
    const char *add_b[] = {"--json", "contact", "add", "bob", NULL};
    const char *add_c[] = {"--json", "contact", "add", "carol", NULL};
    ckv_run(&srv, prof_a, add_b, 0);
    ckv_run(&srv, prof_a, add_c, 0);
    const char *off[] = {"--json", "ckv", "off", NULL};
    ckv_run(&srv, prof_c, off, 0);
    ckv_wait_epochs(&srv);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, show, 8);
    ckv_assert_alert(&r, "ckv-turned-off", "bob");
    assert_false(json_is_true(json_object_get(r.json, "ckv")));
    kw_it_result_free(&r);
    /* shown once: the next use is quiet */
    ckv_run(&srv, prof_a, show, 0);

    /* alice turns hers off: carol turning off is no alert for her */
    ckv_run(&srv, prof_a, off, 0);
    ckv_run(&srv, prof_e, off, 0);
    ckv_wait_epochs(&srv);
    const char *show_c[] = {"--json", "contact", "show", "carol", NULL};
    r = ckv_cli(&srv, prof_a, show_c, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "alerts")), 0);
    kw_it_result_free(&r);
}

static void test_alerts_seen(void **state)
{
    (void)state;
    const char *alerts[] = {"--json", "alerts", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, alerts, 8);
    assert_int_equal(json_integer_value(json_object_get(r.json, "unseen")), 1);
    kw_it_result_free(&r);
    const char *seen[] = {"--json", "alerts", "--seen", NULL};
    ckv_run(&srv, prof_a, seen, 0);
    r = ckv_cli(&srv, prof_a, alerts, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "unseen")), 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "all")), 1);
    kw_it_result_free(&r);
}

static void test_frozen_log(void **state)
{
    (void)state;
    setenv("KEYWARD_TEST_CLOCK_OFFSET", "3600", 1);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, show, 8);
    ckv_assert_alert(&r, "log-unreachable-or-frozen", "bob");
    assert_string_equal(at_jstr(&r, "name"), "bob");
    kw_it_result_free(&r);
    unsetenv("KEYWARD_TEST_CLOCK_OFFSET");
    /* a fresh head: no alert */
    ckv_run(&srv, prof_a, show, 0);
}

static void test_unreachable_log(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    /* within the maximum merge delay of the last verified head: an error,
     * no alert yet */
    kw_it_result r = ckv_cli(&srv, prof_a, show, 5);
    assert_int_equal(json_array_size(json_object_get(r.json, "alerts")), 0);
    kw_it_result_free(&r);
    setenv("KEYWARD_TEST_CLOCK_OFFSET", "3600", 1);
    r = ckv_cli(&srv, prof_a, show, 5);
    ckv_assert_alert(&r, "log-unreachable-or-frozen", "bob");
    kw_it_result_free(&r);
    unsetenv("KEYWARD_TEST_CLOCK_OFFSET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch),
        cmocka_unit_test(test_absent_and_self),
        cmocka_unit_test(test_ckv_turned_off),
        cmocka_unit_test(test_alerts_seen),
        cmocka_unit_test(test_frozen_log),
        cmocka_unit_test(test_unreachable_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
