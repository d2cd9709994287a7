/*
 * Key transparency: VRF proofs off the publish path (issue 5, server side).
 * A real keywardd (SQLite, --test-faults, 100 ms epochs) publishes
 * synthetic labels (POST /v1/kt/test-fill) with index-only batches; the
 * proofs come from the low-priority prover thread (kt.prover = 1, the
 * default) and are stored in kt_labels.
 *  - prover off: the labels are published without proofs; a search still
 *    answers with a proof that verifies (computed on the fly); a restart
 *    evaluates them (kt_restored labels_without_proof=N);
 *  - prover on: every proof is computed and stored; a restart then needs
 *    no VRF for them (labels_without_proof=0) and searches verify;
 *  - negative: a stored proof swapped for another label's (a lying or
 *    damaged database) makes the restart refuse to serve (the server does
 *    not start; kt_restore error logged) instead of indexing the label
 *    wrongly.
 */
#include "attack_util.h"

#include "keyward/kt.h"

#define NLABELS 300

static kw_it_server srv;

static int setup(void **state)
{
    (void)state;
    setenv("KEYWARD_TEST_FAULTS", "1", 1);
    return kw_init() == KW_OK ? 0 : -1;
}

static void start(kw_it_server *s, const char *dir, int prover)
{
    char port[32];
    const char *args[] = {"--test-faults", "--kt-epoch-ms", "100", "--set",
                          prover ? "kt.prover=1" : "kt.prover=0", NULL, NULL, NULL};
    if (dir != NULL) {
        snprintf(port, sizeof(port), "127.0.0.1:%u", s->port);
        args[5] = "--listen";
        args[6] = port;
    }
    assert_int_equal(kw_it_server_start(s, dir, args), 0);
}

static json_t *get_json(const kw_it_server *s, const char *method, const char *path)
{
    char *body = NULL;
    int st = kw_it_http(s, method, path, NULL, NULL, &body);
    json_t *o = st == 200 && body != NULL ? json_loads(body, 0, NULL) : NULL;
    if (st != 200)
        fprintf(stderr, "%s %s: %d %s\n", method, path, st, body != NULL ? body : "");
    free(body);
    return o;
}

static int64_t stat_of(const kw_it_server *s, const char *key)
{
    json_t *o = get_json(s, "GET", "/v1/kt/test-stats");
    assert_non_null(o);
    int64_t v = (int64_t)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

static int b64(json_t *o, const char *key, uint8_t *out, size_t cap, size_t *len)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL)
        return KW_ERR_FORMAT;
    return kw_b64url_decode(out, cap, len, s, strlen(s));
}

/* Searches label through s and verifies the answer with the server's keys:
 * the version found. */
static uint32_t search_verified(const kw_it_server *s, const char *label)
{
    uint8_t log_pk[40], vrf_pk[40];
    size_t len = 0;
    static uint8_t proof[1 << 16];
    json_t *k = get_json(s, "GET", "/v1/kt/keys");
    assert_non_null(k);
    assert_int_equal(b64(k, "log_pk", log_pk, sizeof(log_pk), &len), KW_OK);
    assert_int_equal(len, 32);
    assert_int_equal(b64(k, "vrf_pk", vrf_pk, sizeof(vrf_pk), &len), KW_OK);
    assert_int_equal(len, 32);
    json_decref(k);
    char path[128];
    snprintf(path, sizeof(path), "/v1/kt/search/%s", label);
    json_t *o = get_json(s, "GET", path);
    assert_non_null(o);
    assert_int_equal(b64(o, "proof", proof, sizeof(proof), &len), KW_OK);
    json_decref(o);
    kw_kt_result res;
    kw_kt_reason why = KW_KT_OK;
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    int r = kw_kt_search_verify(&res, &why, &t, (const uint8_t *)label, strlen(label), proof, len);
    if (r != KW_OK)
        fprintf(stderr, "search %s: %s\n", label, kw_kt_reason_name(why));
    assert_int_equal(r, KW_OK);
    return res.version;
}

static int log_count(const kw_it_server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    char line[1024];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void wait_for(const kw_it_server *s, const char *key, int64_t want)
{
    for (int i = 0; i < 600 && stat_of(s, key) != want; i++)
        usleep(50 * 1000);
    assert_int_equal(stat_of(s, key), want);
}

static void restart(kw_it_server *s, int prover)
{
    kw_it_server_stop(s, false);
    start(s, s->dir, prover);
}

static void test_proofs_off_the_publish_path(void **state)
{
    (void)state;
    char path[64];
    start(&srv, NULL, 0);
    snprintf(path, sizeof(path), "/v1/kt/test-fill/%d", NLABELS);
    json_t *o = get_json(&srv, "POST", path);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "first")), 0);
    json_decref(o);
    wait_for(&srv, "versions", NLABELS);
    /* published index-only: no proof yet, none computed in the background */
    usleep(300 * 1000);
    assert_int_equal(stat_of(&srv, "proofs_missing"), NLABELS);
    assert_int_equal(stat_of(&srv, "proved"), 0);
    assert_int_equal(stat_of(&srv, "last_new_labels"), NLABELS);
    /* a search proves on the fly: the answer verifies */
    assert_int_equal(search_verified(&srv, "kt-fill-0-7"), 1);
    assert_int_equal(search_verified(&srv, "kt-fill-0-299"), 1);
    assert_int_equal(search_verified(&srv, "kt-fill-0-300"), 0); /* absent */

    /* a restart evaluates the labels that have no stored proof */
    restart(&srv, 0);
    assert_int_equal(log_count(&srv, "labels_without_proof=300"), 1);
    assert_int_equal(search_verified(&srv, "kt-fill-0-123"), 1);

    /* the prover computes and stores every proof */
    restart(&srv, 1);
    wait_for(&srv, "proofs_missing", 0);
    assert_int_equal(stat_of(&srv, "proved"), NLABELS);
    /* …so that the next restart needs no VRF for them */
    restart(&srv, 0);
    /* (the first, from the empty store at the very first start, and this one) */
    assert_int_equal(log_count(&srv, "labels_without_proof=0"), 2);
    assert_int_equal(stat_of(&srv, "proofs_missing"), 0);
    assert_int_equal(search_verified(&srv, "kt-fill-0-42"), 1);
}

static void test_swapped_proof_refused(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    sqlite3 *db = at_db_open(&srv);
    char *err = NULL;
    /* label 1 gets label 2's (valid, but another label's) proof */
    assert_int_equal(
        sqlite3_exec(db,
                     "UPDATE kt_labels SET vrf_proof = (SELECT vrf_proof FROM kt_labels WHERE "
                     "label = CAST('kt-fill-0-2' AS BLOB)) WHERE label = CAST('kt-fill-0-1' AS BLOB)",
                     NULL, NULL, &err),
        SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    at_db_close(db);
    char port[32];
    snprintf(port, sizeof(port), "127.0.0.1:%u", srv.port);
    const char *args[] = {"--test-faults", "--kt-epoch-ms", "100", "--listen", port, NULL};
    assert_int_not_equal(kw_it_server_start(&srv, srv.dir, args), 0);
    assert_true(log_count(&srv, "event=kt_restore error=") >= 1);
    kw_it_server_stop(&srv, true);
    kw_it_server_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proofs_off_the_publish_path),
        cmocka_unit_test(test_swapped_proof_refused),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
