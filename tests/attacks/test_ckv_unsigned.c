/*
 * Attack 1 against contacts (DESIGN.md "Attacks"): the server adds a device
 * to a contact's roster without an account-key signature.
 *
 * Set-up (honest): "alice" (device A) and "bob" (devices C, D) turn CKV
 * on; A adds bob as a contact (roster with C and D, account key pinned).
 * The lying server (hook POST /v1/test/roster/bob) then publishes to the
 * key-transparency log bob's next roster with an extra device M, not
 * signed by bob's account key:
 *   - A's `contact show bob` refuses (exit 2) with the device-not-signed
 *     alert naming M; `keyward alerts` lists it with what to do;
 *   - nothing is lost: A's contact entry keeps the verified roster (C, D),
 *     `contact list` still shows it; A's own account is untouched
 *     (`keychain show`, `ckv check` succeed);
 *   - bob's own device C, self-monitoring (`ckv check`), raises
 *     unknown-own-device: its label shows a roster its devices never made.
 * A second lie stores the forged roster on the server as well: C's and D's
 * normal flows (`keychain show`) refuse it, and C's `alerts` name it.
 * Negative control: before the lie the same commands succeed (exit 0).
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

static void test_honest(void **state)
{
    (void)state;
    char id[32];
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_create(&srv, prof_c, "bob", "phone-C", NULL);
    at_join(&srv, prof_c, prof_d, "bob", "tablet-D", id);
    const char *on[] = {"--json", "ckv", "on", NULL};
    ckv_run(&srv, prof_a, on, 0);
    ckv_run(&srv, prof_c, on, 0);
    ckv_wait_epochs(&srv);
    const char *add[] = {"--json", "contact", "add", "bob", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, add, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "devices")), 2);
    assert_int_equal(json_array_size(json_object_get(r.json, "alerts")), 0);
    kw_it_result_free(&r);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    ckv_run(&srv, prof_a, show, 0);
    const char *check[] = {"--json", "ckv", "check", NULL};
    ckv_run(&srv, prof_c, check, 0);
}

static void test_unsigned_device_in_log(void **state)
{
    (void)state;
    kw_roster *r = malloc(sizeof(*r));
    assert_non_null(r);
    ckv_log_roster(&srv, "bob", r);
    int64_t v = (int64_t)r->version;
    r->version++;
    ckv_add_device(r, "mallory-M");
    size_t len = 0;
    uint8_t *forged = ckv_forge_unsigned(r, &len);
    ckv_lie_roster(&srv, "bob", forged, len, false);
    free(forged);
    free(r);
    ckv_wait_epochs(&srv);

    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result res = kw_it_cli(&srv, prof_a, NULL, show);
    ckv_assert_refused_alert(&res, "device-not-signed", "bob");
    assert_non_null(strstr(res.err, "mallory-M"));
    kw_it_result_free(&res);
    ckv_assert_stored(&srv, prof_a, "device-not-signed", "bob", "mallory-M");

    /* nothing lost: the pinned roster stays, the own account works */
    const char *list[] = {"--json", "contact", "list", NULL};
    res = ckv_cli(&srv, prof_a, list, 0);
    json_t *c0 = json_array_get(json_object_get(res.json, "contacts"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "name")), "bob");
    assert_int_equal(json_integer_value(json_object_get(c0, "roster_version")), v);
    assert_int_equal(json_array_size(json_object_get(c0, "devices")), 2);
    kw_it_result_free(&res);
    at_keychain_ok(&srv, prof_a, NULL, 1);
    const char *check[] = {"--json", "ckv", "check", NULL};
    ckv_run(&srv, prof_a, check, 0);

    /* bob's own device sees its label show a roster it never made */
    res = kw_it_cli(&srv, prof_c, NULL, check);
    ckv_assert_refused_alert(&res, "unknown-own-device", "bob");
    kw_it_result_free(&res);
    ckv_assert_stored(&srv, prof_c, "unknown-own-device", "bob", NULL);
    /* bob's keychain (through the store, which the lie did not touch) */
    at_keychain_ok(&srv, prof_c, NULL, 0);
}

static void test_unsigned_device_stored(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *cur = ckv_db_roster(&srv, "bob", 0, &len);
    kw_roster *r = malloc(sizeof(*r));
    assert_non_null(r);
    assert_int_equal(kw_roster_decode_unverified(r, cur, len), KW_OK);
    free(cur);
    r->version++;
    ckv_add_device(r, "mallory-N");
    uint8_t *forged = ckv_forge_unsigned(r, &len);
    ckv_lie_roster(&srv, "bob", forged, len, true);
    free(forged);
    free(r);
    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result res = kw_it_cli(&srv, prof_d, NULL, show);
    at_assert_refused(&res, "ALERT", NULL);
    kw_it_result_free(&res);
    const char *check[] = {"--json", "ckv", "check", NULL};
    res = kw_it_cli(&srv, prof_c, NULL, check);
    ckv_assert_refused_alert(&res, "unknown-own-device", "bob");
    kw_it_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest),
        cmocka_unit_test(test_unsigned_device_in_log),
        cmocka_unit_test(test_unsigned_device_stored),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
