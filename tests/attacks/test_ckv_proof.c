/*
 * Attack 6 against contacts: proofs that do not match the signed root.
 *
 * Set-up (honest): "alice" (A) and "bob" (C) with CKV on; A adds bob.
 * Lies, through the key-transparency area's test hook (POST
 * /v1/kt/test-lie/{mode}, server/api/kt.c):
 *   - head-sig: every search answer's tree head carries a broken
 *     signature: A's `contact show bob` refuses with proof-failed
 *     (bad-head-signature);
 *   - value: the roster value in a search answer is altered by one bit, so
 *     it no longer opens the commitment under the signed prefix root: a
 *     new contact's lookup (device E of "carol", no head pinned yet, so the
 *     answer carries no consistency part the hook skips) refuses with
 *     proof-failed (membership-failure or value-mismatch, depending on
 *     which proof byte the hook alters), and the contact is not added.
 * After `none` every command works again and nothing was lost (A's
 * contact and pinned head, E can add bob).
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
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static void lie(const char *mode)
{
    char path[64], *resp = NULL;
    snprintf(path, sizeof(path), "/v1/kt/test-lie/%s", mode);
    assert_int_equal(kw_it_http(&srv, "POST", path, "{}", NULL, &resp), 200);
    free(resp);
}

static void test_honest(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_create(&srv, prof_c, "bob", "phone-C", NULL);
    at_create(&srv, prof_e, "carol", "laptop-E", NULL);
    const char *on[] = {"--json", "ckv", "on", NULL};
    ckv_run(&srv, prof_a, on, 0);
    ckv_run(&srv, prof_c, on, 0);
    ckv_wait_epochs(&srv);
    const char *add[] = {"--json", "contact", "add", "bob", NULL};
    ckv_run(&srv, prof_a, add, 0);
}

static void test_bad_head_signature(void **state)
{
    (void)state;
    lie("head-sig");
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, show);
    ckv_assert_refused_alert(&r, "proof-failed", "bob");
    assert_non_null(strstr(r.err, "bad-head-signature"));
    kw_it_result_free(&r);
    lie("none");
    r = ckv_cli(&srv, prof_a, show, 0);
    assert_string_equal(at_jstr(&r, "name"), "bob");
    kw_it_result_free(&r);
}

static void test_value_not_matching_root(void **state)
{
    (void)state;
    lie("value");
    const char *add[] = {"--json", "contact", "add", "bob", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_e, NULL, add);
    ckv_assert_refused_alert(&r, "proof-failed", "bob");
    /* the altered bytes no longer lead to the signed prefix root */
    bool named = strstr(r.err, "value-mismatch") != NULL || strstr(r.err, "membership-failure") != NULL;
    if (!named)
        kw_it_dump("value lie", &r);
    assert_true(named);
    kw_it_result_free(&r);
    ckv_assert_stored(&srv, prof_e, "proof-failed", "bob", "failed verification");
    const char *list[] = {"--json", "contact", "list", NULL};
    r = ckv_cli(&srv, prof_e, list, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "contacts")), 0);
    kw_it_result_free(&r);
    lie("none");
    r = ckv_cli(&srv, prof_e, add, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "devices")), 1);
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest),
        cmocka_unit_test(test_bad_head_signature),
        cmocka_unit_test(test_value_not_matching_root),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
