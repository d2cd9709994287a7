/*
 * Attack on the interactive compare (`keyward contact verify NAME`, the
 * short authentication string of Contact Key Verification) end to end: a
 * man in the middle of the account keys, against a real keywardd
 * (--test-faults) and two real keyward processes running the compare at
 * the same time.
 *
 * Control: "alice" (A) and "carol" (K) compare: both print the same
 * 15-digit code, both answer yes, each marks the other verified.
 * Attack: before "bob" (B) first looks alice up, the lying server
 * publishes as alice's next roster one that lists alice's real devices
 * (their public identity and HPKE keys) but carries an attacker's account
 * key M and is validly signed by it. B adds alice and pins M (first use:
 * nothing to compare with yet); messages still flow, since alice's real
 * devices are in the roster B sees. Then A and B run the compare: alice's
 * commitment (over alice's real key) does not open for the key B sees, so
 * B refuses ("someone is in the middle", exit 2, no code shown) and marks
 * nothing; alice, whose user sees no code on bob's side, answers no and
 * marks nothing. Neither side ends up verified, and B's pinned key for
 * alice is shown to be the substituted one (the attack was in place).
 * The same on the initiator's side: "carol" sees "dave" (D) under M; her
 * commitment binds M, dave's device refuses it, nothing is marked.
 */
#include "test_ckv_util.h"

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_k, *prof_d;

static const kw_it_prof profs[] = {
    {"A", &prof_a}, {"B", &prof_b}, {"K", &prof_k}, {"D", &prof_d},
    {NULL, NULL},
};

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

static bool verified(const char *prof, const char *name)
{
    const char *list[] = {"--json", "contact", "list", NULL};
    kw_it_result r = ckv_cli(&srv, prof, list, 0);
    bool v = false, seen = false;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r.json, "contacts"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0) {
            seen = true;
            v = json_is_true(json_object_get(c, "verified"));
        }
    }
    assert_true(seen);
    kw_it_result_free(&r);
    return v;
}

/* The pinned public code of contact `name` on prof. */
static void contact_code(const char *prof, const char *name, char code[64])
{
    const char *list[] = {"--json", "contact", "list", NULL};
    kw_it_result r = ckv_cli(&srv, prof, list, 0);
    size_t i;
    json_t *c;
    code[0] = '\0';
    json_array_foreach(json_object_get(r.json, "contacts"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
            snprintf(code, 64, "%s", json_string_value(json_object_get(c, "code")));
    }
    kw_it_result_free(&r);
    assert_int_equal(strlen(code), 35);
}

static void test_setup_and_control(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    at_create(&srv, prof_b, "bob", "laptop-B", NULL);
    at_create(&srv, prof_k, "carol", "laptop-K", NULL);
    const char *on[] = {"--json", "ckv", "on", NULL};
    ckv_run(&srv, prof_a, on, 0);
    ckv_run(&srv, prof_b, on, 0);
    ckv_run(&srv, prof_k, on, 0);
    ckv_wait_epochs(&srv);
    const char *add_k[] = {"--json", "contact", "add", "carol", NULL};
    const char *add_b[] = {"--json", "contact", "add", "bob", NULL};
    const char *add_a[] = {"--json", "contact", "add", "alice", NULL};
    ckv_run(&srv, prof_a, add_k, 0);
    ckv_run(&srv, prof_a, add_b, 0);
    ckv_run(&srv, prof_k, add_a, 0);

    /* the control: an honest compare gives both the same code */
    const char *va[] = {"--json", "contact", "verify", "carol", "--timeout", "60", NULL};
    const char *vk[] = {"--json", "contact", "verify", "alice", "--timeout", "60", NULL};
    ckv_proc a = ckv_spawn(&srv, prof_a, va), k = ckv_spawn(&srv, prof_k, vk);
    char sas_a[64], sas_k[64];
    json_t *la = NULL, *lk = NULL;
    ckv_read_sas(&a, sas_a, &la);
    ckv_read_sas(&k, sas_k, &lk);
    assert_int_equal(strlen(sas_a), 17);
    assert_string_equal(sas_a, sas_k);
    assert_int_equal(ckv_finish(&a, "y", &la), 0);
    assert_int_equal(ckv_finish(&k, "y", &lk), 0);
    assert_true(json_is_true(json_object_get(la, "verified")));
    assert_true(json_is_true(json_object_get(lk, "verified")));
    json_decref(la);
    json_decref(lk);
    assert_true(verified(prof_a, "carol"));
    assert_true(verified(prof_k, "alice"));
}

/* The lie: `account`'s real devices under an attacker's account key M,
 * published as its next roster in the log. */
static void lie_key(const char *account)
{
    kw_roster *r = malloc(sizeof(*r));
    uint8_t *out = malloc(KW_ROSTER_MAXBYTES);
    kw_sign_key *m = NULL;
    size_t len = 0;
    assert_non_null(r);
    assert_non_null(out);
    ckv_log_roster(&srv, account, r);
    r->version++;
    assert_int_equal(kw_sign_key_new(&m), KW_OK);
    kw_sign_key_public(m, r->account_pk);
    assert_int_equal(kw_roster_encode(out, KW_ROSTER_MAXBYTES, &len, r, m), KW_OK);
    kw_sign_key_free(&m);
    ckv_lie_roster(&srv, account, out, len, false);
    free(out);
    free(r);
    ckv_wait_epochs(&srv);
}

static void test_sas_mitm_refused(void **state)
{
    (void)state;
    char real_code[64], pinned[64];
    ckv_code(&srv, prof_a, real_code);
    lie_key("alice");

    /* bob meets alice's label for the first time: M is pinned */
    const char *add_a[] = {"--json", "contact", "add", "alice", NULL};
    ckv_run(&srv, prof_b, add_a, 0);
    contact_code(prof_b, "alice", pinned);
    assert_string_not_equal(pinned, real_code); /* the substitution is in place */
    contact_code(prof_a, "bob", pinned);        /* alice's view of bob is honest */

    /* the compare: alice ("alice" < "bob") commits, bob checks */
    const char *va[] = {"--json", "contact", "verify", "bob", "--timeout", "60", NULL};
    const char *vb[] = {"--json", "contact", "verify", "alice", "--timeout", "60", NULL};
    ckv_proc a = ckv_spawn(&srv, prof_a, va), b = ckv_spawn(&srv, prof_b, vb);
    char sas_a[64], sas_b[64];
    json_t *la = NULL, *lb = NULL;
    ckv_read_sas(&b, sas_b, &lb);
    assert_string_equal(sas_b, ""); /* bob's device shows no code */
    int sb = ckv_finish(&b, NULL, &lb);
    assert_int_equal(sb, 2);
    assert_non_null(lb);
    json_t *err = json_object_get(lb, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "verify");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "in the middle"));
    /* alice's device shows a code bob's does not: her user answers no */
    ckv_read_sas(&a, sas_a, &la);
    assert_int_equal(strlen(sas_a), 17);
    assert_int_equal(ckv_finish(&a, "n", &la), 2);
    json_decref(la);
    json_decref(lb);

    assert_false(verified(prof_b, "alice"));
    assert_false(verified(prof_a, "bob"));
    assert_true(verified(prof_a, "carol")); /* the control stays */
}

/* The same man in the middle on the initiator's side: carol ("carol" <
 * "dave": carol commits) sees dave under M; her commitment binds M, which
 * does not open for dave's own key: dave refuses, nothing is marked. */
static void test_sas_mitm_initiator_side(void **state)
{
    (void)state;
    char real_code[64], pinned[64];
    at_create(&srv, prof_d, "dave", "laptop-D", NULL);
    const char *on[] = {"--json", "ckv", "on", NULL};
    ckv_run(&srv, prof_d, on, 0);
    ckv_wait_epochs(&srv);
    const char *add_k[] = {"--json", "contact", "add", "carol", NULL};
    ckv_run(&srv, prof_d, add_k, 0); /* dave's view of carol is honest */
    ckv_code(&srv, prof_d, real_code);
    lie_key("dave");
    const char *add_d[] = {"--json", "contact", "add", "dave", NULL};
    ckv_run(&srv, prof_k, add_d, 0);
    contact_code(prof_k, "dave", pinned);
    assert_string_not_equal(pinned, real_code);

    const char *vk[] = {"--json", "contact", "verify", "dave", "--timeout", "60", NULL};
    const char *vd[] = {"--json", "contact", "verify", "carol", "--timeout", "60", NULL};
    ckv_proc k = ckv_spawn(&srv, prof_k, vk), d = ckv_spawn(&srv, prof_d, vd);
    char sas_k[64], sas_d[64];
    json_t *lk = NULL, *ld = NULL;
    ckv_read_sas(&d, sas_d, &ld);
    assert_string_equal(sas_d, "");
    assert_int_equal(ckv_finish(&d, NULL, &ld), 2);
    json_t *err = json_object_get(ld, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "verify");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "in the middle"));
    ckv_read_sas(&k, sas_k, &lk);
    assert_int_equal(strlen(sas_k), 17);
    assert_int_equal(ckv_finish(&k, "n", &lk), 2);
    json_decref(lk);
    json_decref(ld);
    assert_false(verified(prof_k, "dave"));
    assert_false(verified(prof_d, "carol"));
    assert_true(verified(prof_k, "alice")); /* the control stays */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_and_control),
        cmocka_unit_test(test_sas_mitm_refused),
        cmocka_unit_test(test_sas_mitm_initiator_side),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
