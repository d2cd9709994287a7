/*
 * Key transparency after a forged log entry, and the roster-commit / kt
 * enqueue crash window (issue 5 follow-ups).
 *
 * Recovery: the lying server (test hook POST /v1/test/roster/bob) appends
 * to bob's append-only label a roster bob's account key never signed. The
 * key-transparency client refuses the label (`kt lookup`: exit 2,
 * roster-signature). bob then removes a device: his honest roster (roster
 * version n + 1) sits at label version n + 2. Lookups — by the observer
 * that verified bob before and by a fresh profile — accept it again
 * (version n + 1, log_version n + 2) and keep naming the forged label
 * version (forged_versions, a warning on stderr). Negative tests: the
 * server then replays bob's OLD signed roster as the label's newest version
 * — the observer (roster-version pin) and a fresh profile (history proof:
 * a signed roster of a higher version exists at an earlier label version)
 * both refuse it as roster-rollback; bob's next honest roster is accepted
 * again.
 *
 * Crash window: a keywardd with a 10-minute epoch accepts a roster (queued,
 * pending), is killed (-9), and the pending kt row is deleted from its
 * database (the state a crash between the core store's roster commit and
 * the kt enqueue leaves). At restart the publisher reconciles the core
 * rosters with the directory: the lookup shows the newest roster; the
 * server logs event=kt_reconcile.
 */
#include "test_ckv_util.h"

static kw_it_server srv;
static char *prof_c, *prof_d, *prof_o;
static char d_id[32];
static int64_t base_version;

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || ckv_server_start(&srv, NULL) != 0)
        return -1;
    prof_c = kw_it_profile(&srv, "C");
    prof_d = kw_it_profile(&srv, "D");
    prof_o = kw_it_profile(&srv, "O");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_c);
    free(prof_d);
    free(prof_o);
    return 0;
}

static int64_t jint(const kw_it_result *r, const char *key)
{
    json_t *v = json_object_get(r->json, key);
    assert_true(json_is_integer(v));
    return (int64_t)json_integer_value(v);
}

/* `kt lookup bob` on prof, expecting exit `expect`. */
static kw_it_result lookup(const kw_it_server *s, const char *prof, const char *name, int expect)
{
    const char *look[] = {"--json", "kt", "lookup", name, NULL};
    kw_it_result r = kw_it_cli(s, prof, NULL, look);
    if (r.status != expect)
        fprintf(stderr, "kt lookup %s: exit %d, stderr: %s\n", name, r.status, r.err);
    assert_int_equal(r.status, expect);
    return r;
}

static void assert_forged(const kw_it_result *r, int64_t nforged, int64_t first)
{
    assert_int_equal(jint(r, "nforged"), nforged);
    json_t *f = json_object_get(r->json, "forged_versions");
    assert_true(json_is_array(f));
    assert_int_equal((int64_t)json_array_size(f), nforged);
    if (nforged > 0) {
        assert_int_equal(json_integer_value(json_array_get(f, 0)), first);
        assert_non_null(strstr(r->err, "not signed by its account key"));
    }
}

static void test_honest(void **state)
{
    (void)state;
    at_create(&srv, prof_c, "bob", "phone-C", NULL);
    at_join(&srv, prof_c, prof_d, "bob", "tablet-D", d_id);
    ckv_wait_epochs(&srv);
    kw_it_result r = lookup(&srv, prof_o, "bob", 0);
    base_version = jint(&r, "version");
    assert_true(base_version >= 2);
    assert_int_equal(jint(&r, "log_version"), base_version);
    assert_int_equal(jint(&r, "ndevices"), 2);
    assert_forged(&r, 0, 0);
    kw_it_result_free(&r);
}

static void test_forged_refused(void **state)
{
    (void)state;
    kw_roster *ros = malloc(sizeof(*ros));
    assert_non_null(ros);
    ckv_log_roster(&srv, "bob", ros);
    assert_int_equal((int64_t)ros->version, base_version);
    ros->version++;
    ckv_add_device(ros, "mallory-M");
    size_t len = 0;
    uint8_t *forged = ckv_forge_unsigned(ros, &len);
    ckv_lie_roster(&srv, "bob", forged, len, false);
    free(forged);
    free(ros);
    ckv_wait_epochs(&srv);
    kw_it_result r = lookup(&srv, prof_o, "bob", 2);
    assert_non_null(strstr(r.err, "roster-signature"));
    kw_it_result_free(&r);
}

/* The owner's next honest roster supersedes the forgery. */
static void test_recovered(void **state)
{
    (void)state;
    const char *rm[] = {"--json", "device", "remove", d_id, "--yes", NULL};
    kw_it_result r = at_cli(&srv, prof_c, rm, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    ckv_wait_epochs(&srv);
    for (int round = 0; round < 2; round++) { /* the second: the pinned version again */
        r = lookup(&srv, prof_o, "bob", 0);
        assert_int_equal(jint(&r, "version"), base_version + 1);
        assert_int_equal(jint(&r, "log_version"), base_version + 2);
        assert_int_equal(jint(&r, "ndevices"), 1);
        assert_forged(&r, 1, base_version + 1);
        kw_it_result_free(&r);
    }
    char *prof_f = kw_it_profile(&srv, "F");
    r = lookup(&srv, prof_f, "bob", 0);
    assert_int_equal(jint(&r, "version"), base_version + 1);
    assert_forged(&r, 1, base_version + 1);
    kw_it_result_free(&r);
    free(prof_f);
}

/* A replayed old (validly signed) roster is no recovery. */
static void test_replay_refused(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *old = ckv_db_roster(&srv, "bob", base_version, &len);
    ckv_lie_roster(&srv, "bob", old, len, false);
    free(old);
    ckv_wait_epochs(&srv);
    kw_it_result r = lookup(&srv, prof_o, "bob", 2);
    assert_non_null(strstr(r.err, "roster-rollback"));
    kw_it_result_free(&r);
    char *prof_g = kw_it_profile(&srv, "G"); /* no pin: the history proof refuses it */
    r = lookup(&srv, prof_g, "bob", 2);
    assert_non_null(strstr(r.err, "roster-rollback"));
    kw_it_result_free(&r);

    /* bob's next honest roster: accepted again, by both */
    char id[32];
    char *prof_e = kw_it_profile(&srv, "E");
    at_join(&srv, prof_c, prof_e, "bob", "laptop-E", id);
    ckv_wait_epochs(&srv);
    const char *ps[] = {prof_o, prof_g};
    for (int i = 0; i < 2; i++) {
        r = lookup(&srv, ps[i], "bob", 0);
        assert_int_equal(jint(&r, "version"), base_version + 2);
        assert_int_equal(jint(&r, "log_version"), base_version + 4);
        assert_int_equal(jint(&r, "ndevices"), 2);
        assert_forged(&r, 1, base_version + 1);
        kw_it_result_free(&r);
    }
    free(prof_g);
    free(prof_e);
}

/* ---- the crash window ---- */

static void crash_restart(kw_it_server *s, const char *epoch_ms)
{
    char port[32];
    snprintf(port, sizeof(port), "127.0.0.1:%u", s->port);
    kw_it_server_stop(s, true);
    const char *const extra[] = {"--kt-epoch-ms", epoch_ms, "--listen", port, NULL};
    assert_int_equal(kw_it_server_start(s, s->dir, extra), 0);
}

static int64_t pending_rows(const kw_it_server *s)
{
    sqlite3 *db = at_db_open(s);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM kt_updates WHERE epoch IS NULL",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    at_db_close(db);
    return n;
}

/* kill -9, then drop the pending kt rows: the roster is committed in the
 * core tables, the kt enqueue "never happened". */
static void crash_and_lose_queue(kw_it_server *s)
{
    kw_it_server_stop(s, true);
    sqlite3 *db = at_db_open(s);
    char *err = NULL;
    assert_int_equal(sqlite3_exec(db, "DELETE FROM kt_updates WHERE epoch IS NULL", NULL, NULL, &err),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    at_db_close(db);
}

/* Lines of the server log (appended across restarts) holding needle. */
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

static void test_crash_window(void **state)
{
    (void)state;
    kw_it_server s2;
    const char *const slow[] = {"--kt-epoch-ms", "600000", NULL};
    assert_int_equal(kw_it_server_start(&s2, NULL, slow), 0);
    char *pa = kw_it_profile(&s2, "A"), *pb = kw_it_profile(&s2, "B"), *po = kw_it_profile(&s2, "O");

    /* 1. the registration roster (v1) is lost from the queue */
    at_create(&s2, pa, "carol", "phone-A", NULL);
    assert_int_equal(pending_rows(&s2), 1);
    crash_and_lose_queue(&s2);
    crash_restart(&s2, "100");
    assert_int_equal(log_count(&s2, "event=kt_reconcile queued=1 of=1"), 1);
    ckv_wait_epochs(&s2);
    kw_it_result r = lookup(&s2, po, "carol", 0);
    assert_int_equal(jint(&r, "version"), 1);
    assert_int_equal(jint(&r, "log_version"), 1);
    kw_it_result_free(&r);

    /* 2. a device approval (v2) is lost from the queue */
    crash_restart(&s2, "600000");
    char id[32];
    at_join(&s2, pa, pb, "carol", "tablet-B", id);
    assert_int_equal(pending_rows(&s2), 1);
    crash_and_lose_queue(&s2);
    crash_restart(&s2, "100");
    assert_int_equal(log_count(&s2, "event=kt_reconcile queued=1 of=1"), 2);
    ckv_wait_epochs(&s2);
    r = lookup(&s2, po, "carol", 0);
    assert_int_equal(jint(&r, "version"), 2);
    assert_int_equal(jint(&r, "log_version"), 2);
    assert_int_equal(jint(&r, "ndevices"), 2);
    kw_it_result_free(&r);

    /* 3. nothing missing: a restart queues nothing (no duplicate version) */
    crash_restart(&s2, "100");
    assert_int_equal(log_count(&s2, "event=kt_reconcile"), 2);
    ckv_wait_epochs(&s2);
    r = lookup(&s2, po, "carol", 0);
    assert_int_equal(jint(&r, "log_version"), 2);
    kw_it_result_free(&r);

    kw_it_server_stop(&s2, false);
    kw_it_server_cleanup(&s2);
    free(pa);
    free(pb);
    free(po);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest),
        cmocka_unit_test(test_forged_refused),
        cmocka_unit_test(test_recovered),
        cmocka_unit_test(test_replay_refused),
        cmocka_unit_test(test_crash_window),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
