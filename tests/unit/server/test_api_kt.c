/* The key-transparency area over the real HTTP layer and SQLite store:
 * register/finish returns a signed promise for the roster it accepted
 * (version 1, deadline not before the next epoch), which verifies under
 * the served log key; the directory keeps its history across a stop/start
 * on the same store (same heads, the account still found); the monitor
 * and lookup endpoints verify. The other roster-accepting endpoints
 * (recovery put, the CKV switch) return a promise for exactly the roster
 * they accepted, at the label's next version. */
#include "api_harness.h"

#include "keyward/kt.h"

static void get_keys(th_server *s, uint8_t log_pk[32], uint8_t vrf_pk[32])
{
    json_t *reply = NULL;
    assert_int_equal(th_req(s, "GET", "/v1/kt/keys", NULL, NULL, &reply), 200);
    th_unb64(reply, "log_pk", log_pk, 32);
    th_unb64(reply, "vrf_pk", vrf_pk, 32);
    json_decref(reply);
}

/* Waits until the newest epoch is at least `want`; returns it. */
static uint64_t wait_epoch(th_server *s, uint64_t want)
{
    for (int i = 0; i < 400; i++) {
        json_t *reply = NULL;
        long st = th_req(s, "GET", "/v1/kt/head", NULL, NULL, &reply);
        uint64_t e = st == 200 ? (uint64_t)json_integer_value(json_object_get(reply, "epoch")) : 0;
        json_decref(reply);
        if (st == 200 && e >= want)
            return e;
        usleep(20000);
    }
    fail_msg("no epoch %llu", (unsigned long long)want);
    return 0;
}

static size_t get_proof(th_server *s, const char *path, uint8_t **out)
{
    json_t *reply = NULL;
    assert_int_equal(th_req(s, "GET", path, NULL, NULL, &reply), 200);
    const char *b = json_string_value(json_object_get(reply, "proof"));
    assert_non_null(b);
    size_t cap = strlen(b), len = 0;
    *out = malloc(cap);
    assert_non_null(*out);
    assert_int_equal(kw_b64url_decode(*out, cap, &len, b, strlen(b)), KW_OK);
    json_decref(reply);
    return len;
}

static void test_promise_and_restart(void **state)
{
    (void)state;
    th_server s;
    th_account a;
    th_device d;
    char token[64];
    json_t *reply = NULL;
    uint8_t log_pk[32], vrf_pk[32];
    th_start(&s);
    randombytes_buf(s.keys->kt_seed, sizeof(s.keys->kt_seed));
    assert_int_equal(kw_api_kt_start(&s.srv, 50), KW_OK);
    get_keys(&s, log_pk, vrf_pk);
    uint64_t e0 = wait_epoch(&s, 0);

    th_device_new(&d, "laptop");
    assert_int_equal(th_register(&s, &a, "kt-alice", &d, token, &reply), 200);
    const char *pb = json_string_value(json_object_get(reply, "kt_promise"));
    assert_non_null(pb);
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen = 0;
    assert_int_equal(kw_b64url_decode(promise, sizeof(promise), &plen, pb, strlen(pb)), KW_OK);
    json_decref(reply);
    /* the roster bytes the server accepted (deterministic signature) */
    const th_device *devs[1] = {&d};
    json_t *rj = th_roster(&a, 1, devs, 1, a.account_sk);
    uint8_t roster[KW_ROSTER_MAXBYTES];
    size_t rlen = 0;
    assert_int_equal(kw_b64url_decode(roster, sizeof(roster), &rlen, json_string_value(rj),
                                      strlen(json_string_value(rj))),
                     KW_OK);
    json_decref(rj);
    kw_kt_promise pr;
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, (const uint8_t *)"kt-alice", 8, roster, rlen,
                                          promise, plen),
                     KW_OK);
    assert_int_equal(pr.version, 1);
    assert_true(pr.deadline_epoch >= e0 + 1);
    uint64_t deadline = pr.deadline_epoch;
    /* another roster does not match the promise */
    roster[rlen - 1] ^= 1;
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, (const uint8_t *)"kt-alice", 8, roster, rlen,
                                          promise, plen),
                     KW_ERR_VERIFY);
    roster[rlen - 1] ^= 1;

    /* published by the deadline, found and verified */
    uint64_t e1 = wait_epoch(&s, deadline);
    uint8_t *p = NULL;
    size_t n = get_proof(&s, "/v1/kt/search/kt-alice", &p);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_reason why;
    int vr = kw_kt_search_verify(&res, &why, &t, (const uint8_t *)"kt-alice", 8, p, n);
    if (vr != KW_OK)
        fail_msg("search: %d %s", vr, kw_kt_reason_name(why));
    assert_int_equal(res.version, 1);
    assert_int_equal(res.value_len, rlen);
    assert_memory_equal(res.value, roster, rlen);
    kw_kt_head pinned = res.head;
    free(p);
    n = get_proof(&s, "/v1/kt/lookup/kt-alice/1", &p);
    assert_int_equal(kw_kt_lookup_verify(&res, &why, &t, (const uint8_t *)"kt-alice", 8, 1, p, n),
                     KW_OK);
    free(p);
    kw_kt_monitor_result *mr = malloc(sizeof(*mr));
    assert_non_null(mr);
    n = get_proof(&s, "/v1/kt/monitor/kt-alice/0/0", &p);
    assert_int_equal(kw_kt_monitor_verify(mr, &why, &t, (const uint8_t *)"kt-alice", 8, 1, p, n), KW_OK);
    assert_int_equal(mr->count, 1);
    free(p);
    free(mr);

    /* stop and start the directory on the same store: history kept */
    kw_api_kt_stop(&s.srv);
    assert_int_equal(kw_api_kt_start(&s.srv, 50), KW_OK);
    uint8_t log2[32], vrf2[32];
    get_keys(&s, log2, vrf2);
    assert_memory_equal(log2, log_pk, 32);
    wait_epoch(&s, e1 + 2);
    char path[96];
    snprintf(path, sizeof(path), "/v1/kt/search/kt-alice/%llu", (unsigned long long)pinned.log_size);
    n = get_proof(&s, path, &p);
    t.pinned = &pinned;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, (const uint8_t *)"kt-alice", 8, p, n), KW_OK);
    assert_int_equal(res.version, 1);
    assert_true(res.head.epoch > pinned.epoch);
    free(p);
    kw_api_kt_stop(&s.srv);
    th_account_free(&a);
    th_device_free(&d);
    th_stop(&s);
}

/* Decodes reply's kt_promise and verifies it for label / roster (b64). */
static kw_kt_promise reply_promise(json_t *reply, const uint8_t log_pk[32], const char *label,
                                   json_t *roster_b64)
{
    const char *pb = json_string_value(json_object_get(reply, "kt_promise"));
    assert_non_null(pb);
    uint8_t promise[KW_KT_PROMISE_MAXBYTES], roster[KW_ROSTER_MAXBYTES];
    size_t plen = 0, rlen = 0;
    const char *rb = json_string_value(roster_b64);
    assert_int_equal(kw_b64url_decode(promise, sizeof(promise), &plen, pb, strlen(pb)), KW_OK);
    assert_int_equal(kw_b64url_decode(roster, sizeof(roster), &rlen, rb, strlen(rb)), KW_OK);
    kw_kt_promise pr;
    assert_int_equal(kw_kt_promise_verify(&pr, log_pk, (const uint8_t *)label, strlen(label), roster,
                                          rlen, promise, plen),
                     KW_OK);
    roster[rlen / 2] ^= 1; /* another roster: refused */
    kw_kt_promise other;
    assert_int_equal(kw_kt_promise_verify(&other, log_pk, (const uint8_t *)label, strlen(label),
                                          roster, rlen, promise, plen),
                     KW_ERR_VERIFY);
    return pr;
}

static void test_promise_other_endpoints(void **state)
{
    (void)state;
    th_server s;
    th_account a;
    th_device d;
    char token[64];
    json_t *reply = NULL;
    uint8_t log_pk[32], vrf_pk[32], w[80], auth[32];
    th_start(&s);
    randombytes_buf(s.keys->kt_seed, sizeof(s.keys->kt_seed));
    assert_int_equal(kw_api_kt_start(&s.srv, 50), KW_OK);
    get_keys(&s, log_pk, vrf_pk);
    th_device_new(&d, "laptop");
    assert_int_equal(th_register(&s, &a, "kt-bob", &d, token, &reply), 200);
    json_decref(reply);
    const th_device *one[1] = {&d};

    /* POST /v1/recovery (roster v2) */
    randombytes_buf(w, sizeof(w));
    randombytes_buf(auth, sizeof(auth));
    json_t *body = json_pack("{s:I}", "generation", (json_int_t)1);
    json_t *r2 = th_roster(&a, 2, one, 1, a.account_sk);
    json_object_set_new(body, "recovery_wrap", th_b64(w, sizeof(w)));
    json_object_set_new(body, "recovery_auth", th_b64(auth, sizeof(auth)));
    json_object_set(body, "roster", r2);
    assert_int_equal(th_req(&s, "POST", "/v1/recovery", token, body, &reply), 200);
    kw_kt_promise pr = reply_promise(reply, log_pk, "kt-bob", r2);
    assert_int_equal(pr.version, 2);
    json_decref(reply);
    json_decref(r2);

    /* POST /v1/roster/flags (roster v3, CKV on) */
    kw_roster *ros = malloc(sizeof(*ros));
    uint8_t *enc = malloc(KW_ROSTER_MAXBYTES);
    size_t elen = 0;
    assert_non_null(ros);
    assert_non_null(enc);
    assert_int_equal(kw_roster_init(ros, 3, "kt-bob", a.account_pk, KW_ROSTER_FLAG_CKV), KW_OK);
    assert_int_equal(kw_roster_add(ros, d.id, d.identity_pk, d.hpke_pk, d.name), KW_OK);
    assert_int_equal(kw_roster_encode(enc, KW_ROSTER_MAXBYTES, &elen, ros, a.account_sk), KW_OK);
    json_t *r3 = th_b64(enc, elen);
    body = json_object();
    json_object_set(body, "roster", r3);
    assert_int_equal(th_req(&s, "POST", "/v1/roster/flags", token, body, &reply), 200);
    pr = reply_promise(reply, log_pk, "kt-bob", r3);
    assert_int_equal(pr.version, 3);
    json_decref(reply);
    json_decref(r3);
    free(ros);
    free(enc);

    /* both published: the label's newest version is 3 */
    wait_epoch(&s, pr.deadline_epoch);
    uint8_t *p = NULL;
    size_t n = get_proof(&s, "/v1/kt/search/kt-bob", &p);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_reason why;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, (const uint8_t *)"kt-bob", 6, p, n), KW_OK);
    assert_int_equal(res.version, 3);
    free(p);
    kw_api_kt_stop(&s.srv);
    th_account_free(&a);
    th_device_free(&d);
    th_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promise_and_restart),
        cmocka_unit_test(test_promise_other_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
