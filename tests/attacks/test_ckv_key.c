/*
 * Attack 3 against contacts: the server replaces a contact's account key.
 *
 * Set-up (honest): "alice" (A) and "bob" (C) with CKV on; A adds bob and
 * verifies him with bob's public verification code (`keyward code` on C,
 * `contact verify bob --code` on A). A wrong code is refused first (exit
 * 2, nothing marked).
 * Lie: the server publishes as bob's next roster one that carries an
 * attacker's account key and is validly signed by it (it lists bob's
 * devices plus the attacker's). A's `contact show bob` refuses with
 * account-key-changed; verifying with bob's real code is refused too (the
 * key the log shows is not the one the code belongs to); A's pin and the
 * verified flag stay; `alerts` lists it. `keyward send bob` applies the
 * same pins: before the lie it goes out (contact, verified) and arrives;
 * after it the send is refused with account-key-changed (exit 2) instead
 * of encrypting to the attacker's keys, and nothing arrives at C. C's
 * self-monitoring sees its label under another account key
 * (unknown-own-device).
 */
#include "test_ckv_util.h"

static kw_it_server srv;
static char *prof_a, *prof_c;
static char bob_code[64];

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

static void test_verify_by_code(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_create(&srv, prof_c, "bob", "phone-C", NULL);
    const char *on[] = {"--json", "ckv", "on", NULL};
    ckv_run(&srv, prof_a, on, 0);
    ckv_run(&srv, prof_c, on, 0);
    ckv_wait_epochs(&srv);
    const char *add[] = {"--json", "contact", "add", "bob", NULL};
    ckv_run(&srv, prof_a, add, 0);
    ckv_code(&srv, prof_c, bob_code);
    char wrong[64];
    snprintf(wrong, sizeof(wrong), "%s", bob_code);
    wrong[0] = wrong[0] == '9' ? '0' : (char)(wrong[0] + 1);
    const char *bad[] = {"--json", "contact", "verify", "bob", "--code", wrong, NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, bad);
    at_assert_refused(&r, "does not match", NULL);
    kw_it_result_free(&r);
    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    r = ckv_cli(&srv, prof_a, show, 0);
    assert_false(json_is_true(json_object_get(r.json, "verified")));
    kw_it_result_free(&r);
    const char *ok[] = {"--json", "contact", "verify", "bob", "--code", bob_code, NULL};
    r = ckv_cli(&srv, prof_a, ok, 0);
    assert_true(json_is_true(json_object_get(r.json, "verified")));
    assert_string_equal(at_jstr(&r, "code"), bob_code);
    kw_it_result_free(&r);
}

/* C syncs and counts inbox texts equal to text from alice. */
static int received(const char *text)
{
    const char *s[] = {"--json", "sync", NULL};
    kw_it_result y = kw_it_cli(&srv, prof_c, NULL, s);
    kw_it_result_free(&y);
    const char *a[] = {"--json", "inbox", NULL};
    kw_it_result r = ckv_cli(&srv, prof_c, a, 0);
    json_t *m;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(r.json, "messages"), i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        if (t != NULL && strcmp(t, text) == 0)
            n++;
    }
    kw_it_result_free(&r);
    return n;
}

static void test_send_to_verified(void **state)
{
    (void)state;
    const char *send[] = {"--json", "send", "bob", "--", "before the lie", NULL};
    kw_it_result r = ckv_cli(&srv, prof_a, send, 0);
    assert_true(json_is_true(json_object_get(r.json, "contact")));
    assert_true(json_is_true(json_object_get(r.json, "verified")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "devices")), 1);
    kw_it_result_free(&r);
    assert_int_equal(received("before the lie"), 1);
}

static void test_account_key_replaced(void **state)
{
    (void)state;
    kw_roster *r = malloc(sizeof(*r));
    uint8_t *out = malloc(KW_ROSTER_MAXBYTES);
    kw_sign_key *k = NULL;
    size_t len = 0;
    assert_non_null(r);
    assert_non_null(out);
    ckv_log_roster(&srv, "bob", r);
    r->version++;
    ckv_add_device(r, "mallory-M");
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    kw_sign_key_public(k, r->account_pk);
    assert_int_equal(kw_roster_encode(out, KW_ROSTER_MAXBYTES, &len, r, k), KW_OK);
    kw_sign_key_free(&k);
    ckv_lie_roster(&srv, "bob", out, len, false);
    free(out);
    free(r);
    ckv_wait_epochs(&srv);

    const char *show[] = {"--json", "contact", "show", "bob", NULL};
    kw_it_result res = kw_it_cli(&srv, prof_a, NULL, show);
    ckv_assert_refused_alert(&res, "account-key-changed", "bob");
    kw_it_result_free(&res);
    const char *ok[] = {"--json", "contact", "verify", "bob", "--code", bob_code, NULL};
    res = kw_it_cli(&srv, prof_a, NULL, ok);
    ckv_assert_refused_alert(&res, "account-key-changed", "bob");
    kw_it_result_free(&res);
    ckv_assert_stored(&srv, prof_a, "account-key-changed", "bob", "verified");

    /* the send is held to the pins: refused with the named alert, nothing
     * encrypted to the new key's devices, nothing arrives */
    const char *send[] = {"--json", "send", "bob", "--", "after the lie", NULL};
    res = kw_it_cli(&srv, prof_a, NULL, send);
    ckv_assert_refused_alert(&res, "account-key-changed", "bob");
    kw_it_result_free(&res);
    assert_int_equal(received("after the lie"), 0);
    assert_int_equal(received("before the lie"), 1);

    const char *list[] = {"--json", "contact", "list", NULL};
    res = ckv_cli(&srv, prof_a, list, 0);
    json_t *c0 = json_array_get(json_object_get(res.json, "contacts"), 0);
    assert_true(json_is_true(json_object_get(c0, "verified")));
    assert_string_equal(json_string_value(json_object_get(c0, "code")), bob_code);
    kw_it_result_free(&res);

    const char *check[] = {"--json", "ckv", "check", NULL};
    res = kw_it_cli(&srv, prof_c, NULL, check);
    ckv_assert_refused_alert(&res, "unknown-own-device", "bob");
    kw_it_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_by_code),
        cmocka_unit_test(test_send_to_verified),
        cmocka_unit_test(test_account_key_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
