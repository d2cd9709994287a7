/*
 * Attack 2 against contacts: the server hides a device from a contact's
 * roster.
 *
 * Set-up (honest): "alice" (A) and "bob" (C, then D joins) with CKV on;
 * A adds bob when bob has C only, then again sees bob's roster with C and
 * D (version pinned).
 * Lies, each published by the server as bob's next roster in the log:
 *   (a) bob's roster with D dropped, re-encoded (the account-key signature
 *       no longer covers it): A's `contact show bob` refuses with
 *       device-not-signed;
 *   (b) bob's OLD, validly signed roster (version 1, before D joined)
 *       replayed as the newest: refused with proof-failed (a roster whose
 *       version is not the log's), and A keeps the pinned roster with D.
 * Negative control: the honest show before the lies succeeds and lists D.
 */
#include "test_ckv_util.h"

static kw_it_server srv;
static char *prof_a, *prof_c, *prof_d;

static const kw_it_prof profs[] = {{"A", &prof_a}, {"C", &prof_c}, {"D", &prof_d}, {NULL, NULL}};

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

static int64_t pinned_version(void)
{
    const char *list[] = {"--json", "contact", "list", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, list, 0);
    json_t *c0 = json_array_get(json_object_get(r.json, "contacts"), 0);
    int64_t v = (int64_t)json_integer_value(json_object_get(c0, "roster_version"));
    assert_int_equal(json_array_size(json_object_get(c0, "devices")), 2);
    kw_it_result_free(&r);
    return v;
}

static void test_honest(void **state)
{
    (void)state;
    char id[32];
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_create(&srv, prof_c, "bob", "phone-C", NULL);
    const char *on[] = {"--json", "ckv", "on", NULL};
    ckv_run(&srv, prof_a, on, 0);
    ckv_run(&srv, prof_c, on, 0);
    ckv_wait_epochs(&srv);
    const char *add[] = {"--json", "contact", "add", "bob", NULL};
    ckv_run(&srv, prof_a, add, 0);
    at_join(&srv, prof_c, prof_d, "bob", "tablet-D", id);
    ckv_wait_epochs(&srv);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, show, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "devices")), 2);
    assert_non_null(strstr(r.out, "tablet-D"));
    kw_it_result_free(&r);
}

static void test_device_dropped(void **state)
{
    (void)state;
    int64_t v = pinned_version();
    kw_roster *r = malloc(sizeof(*r));
    assert_non_null(r);
    ckv_log_roster(&srv, "bob", r);
    assert_int_equal(r->ndevices, 2);
    r->version++;
    assert_int_equal(kw_roster_remove(r, r->devices[1].id), KW_OK);
    size_t len = 0;
    uint8_t *forged = ckv_forge_unsigned(r, &len);
    ckv_lie_roster(&srv, "bob", forged, len, false);
    free(forged);
    free(r);
    ckv_wait_epochs(&srv);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result res = kw_it_cli(&srv, prof_a, NULL, show);
    ckv_assert_refused_alert(&res, "device-not-signed", "bob");
    kw_it_result_free(&res);
    assert_int_equal(pinned_version(), v); /* D is still known */
}

static void test_old_roster_replayed(void **state)
{
    (void)state;
    int64_t v = pinned_version();
    size_t len = 0;
    uint8_t *old = ckv_db_roster(&srv, "bob", 1, &len); /* validly signed, C only */
    ckv_lie_roster(&srv, "bob", old, len, false);
    free(old);
    ckv_wait_epochs(&srv);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result res = kw_it_cli(&srv, prof_a, NULL, show);
    ckv_assert_refused_alert(&res, "proof-failed", "bob");
    kw_it_result_free(&res);
    ckv_assert_stored(&srv, prof_a, "proof-failed", "bob", NULL);
    assert_int_equal(pinned_version(), v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest),
        cmocka_unit_test(test_device_dropped),
        cmocka_unit_test(test_old_roster_replayed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
