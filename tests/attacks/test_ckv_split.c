/*
 * Attack 4: two clients shown different tree heads (a split view), met
 * through gossip.
 *
 * The lying operator runs two keywardd processes with the SAME log signing
 * and VRF keys (one key file) but different contents — every head each
 * signs is valid, yet the two histories differ. Device X ("alice") talks
 * to server S1, device Y ("bob") to S2; each verifies and pins a head of
 * its own view. Y's newest head reaches X out of band (`keyward ckv head`
 * on Y, `keyward ckv check-head HEAD --from bob` on X — the same check
 * messages run on the head every payload carries): S1 cannot prove that
 * head consistent with X's view, so X refuses with the split-view alert,
 * stores it, and keeps its pinned head. Negative control: a head from a
 * third device Z on S1 (the same view) is accepted.
 * A head whose signature is broken is proof-failed, not split-view.
 */
#include "test_ckv_util.h"

static kw_it_server s1, s2;
static char *prof_x, *prof_y, *prof_z;

static int setup(void **state)
{
    (void)state;
    char key[400];
    if (kw_init() != KW_OK || ckv_server_start(&s1, NULL) != 0)
        return -1;
    snprintf(key, sizeof(key), "%s/data/server.key", s1.dir);
    const char *const args[] = {"--test-faults", "--kt-epoch-ms", "100", "--key-file", key, NULL};
    if (kw_it_server_start(&s2, NULL, args) != 0)
        return -1;
    prof_x = kw_it_profile(&s1, "X");
    prof_z = kw_it_profile(&s1, "Z");
    prof_y = kw_it_profile(&s2, "Y");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&s2, false);
    kw_it_server_cleanup(&s2);
    kw_it_server_stop(&s1, false);
    kw_it_server_cleanup(&s1);
    free(prof_x);
    free(prof_y);
    free(prof_z);
    return 0;
}

static void head_of(const kw_it_server *s, const char *prof, char head[256])
{
    const char *check[] = {"--json", "ckv", "check", NULL};
    ckv_run(s, prof, check, 0);
    const char *h[] = {"--json", "ckv", "head", NULL};
    kw_it_result r = ckv_cli(s, prof, h, 0);
    snprintf(head, 256, "%s", at_jstr(&r, "head"));
    assert_true(strlen(head) > 200);
    kw_it_result_free(&r);
}

static void test_same_keys_two_views(void **state)
{
    (void)state;
    char *b1 = NULL, *b2 = NULL;
    assert_int_equal(kw_it_http(&s1, "GET", "/v1/kt/keys", NULL, NULL, &b1), 200);
    assert_int_equal(kw_it_http(&s2, "GET", "/v1/kt/keys", NULL, NULL, &b2), 200);
    assert_string_equal(b1, b2); /* one log key, one VRF key */
    free(b1);
    free(b2);
    at_create(&s1, prof_x, "alice", "laptop-X", NULL);
    at_create(&s1, prof_z, "carol", "laptop-Z", NULL);
    at_create(&s2, prof_y, "bob", "phone-Y", NULL);
    ckv_wait_epochs(&s1);
    ckv_wait_epochs(&s2);
}

static void test_same_view_accepted(void **state)
{
    (void)state;
    char hx[256], hz[256];
    head_of(&s1, prof_x, hx);
    ckv_wait_epochs(&s1);
    head_of(&s1, prof_z, hz);
    const char *chk[] = {"--json", "ckv", "check-head", hz, "--from", "carol", NULL};
    kw_it_result r = ckv_cli(&s1, prof_x, chk, 0);
    assert_true(json_is_true(json_object_get(r.json, "consistent")));
    kw_it_result_free(&r);
}

static void test_split_view_detected(void **state)
{
    (void)state;
    char hx[256], hy[256], hx2[256];
    head_of(&s1, prof_x, hx);
    head_of(&s2, prof_y, hy);
    const char *chk[] = {"--json", "ckv", "check-head", hy, "--from", "bob", NULL};
    kw_it_result r = kw_it_cli(&s1, prof_x, NULL, chk);
    ckv_assert_refused_alert(&r, "split-view", "bob");
    kw_it_result_free(&r);
    ckv_assert_stored(&s1, prof_x, "split-view", "bob", NULL);
    /* X keeps its own view */
    const char *h[] = {"--json", "ckv", "head", NULL};
    r = ckv_cli(&s1, prof_x, h, 0);
    snprintf(hx2, sizeof(hx2), "%s", at_jstr(&r, "head"));
    kw_it_result_free(&r);
    assert_string_equal(hx, hx2);
}

static void test_broken_head_is_proof_failed(void **state)
{
    (void)state;
    char hz[256];
    head_of(&s1, prof_z, hz);
    hz[200] = hz[200] == 'A' ? 'B' : 'A'; /* inside the signature */
    const char *chk[] = {"--json", "ckv", "check-head", hz, "--from", "carol", NULL};
    kw_it_result r = kw_it_cli(&s1, prof_x, NULL, chk);
    ckv_assert_refused_alert(&r, "proof-failed", "carol");
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_keys_two_views),
        cmocka_unit_test(test_same_view_accepted),
        cmocka_unit_test(test_split_view_detected),
        cmocka_unit_test(test_broken_head_is_proof_failed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
