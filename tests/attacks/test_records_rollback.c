/*
 * Attack 7 (DESIGN.md "Attacks the tests must show detected"): the server
 * rolls a record back, replays an old version under a new number,
 * resurrects a deleted record, or rolls a zone's change counter back.
 *
 * Set-up (honest): A creates "alice" and puts "plan.txt" in notes twice
 * (version 1, then 2); A reads version 2. The copy of the version-1 row
 * kept before the second put is what the lying server replays. Each lie is
 * made on the stopped server's database, then undone:
 *   (a) the row back at version 1 (its own ciphertext and number): A
 *       refuses "ALERT: the server rolled record ... back" on get and ls;
 *   (b) version 1's ciphertext served as version 2 (or 3): A refuses
 *       "does not open as version 2 ... swapped or replayed" (the wrap and
 *       metadata bind the version);
 *   (c) the zone's change counter lowered: ls refuses "ALERT: the server
 *       rolled zone notes/default back";
 *   (d) a record A deleted put back: A refuses "ALERT: the server
 *       resurrected deleted record".
 * After each lie is undone, A reads version 2 again: nothing lost.
 */
#include "attack_util.h"

#include <sys/stat.h>

static kw_it_server srv;
static char *prof_a;
static char work[400], src[500], out[500];

#define REC_WHERE "WHERE category = 'notes' AND zone = 'default'"

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    snprintf(work, sizeof(work), "%s/work", srv.dir);
    mkdir(work, 0700);
    snprintf(src, sizeof(src), "%s/plan.txt", work);
    snprintf(out, sizeof(out), "%s/plan.out", work);
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    return 0;
}

static void put_text(const char *text)
{
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    const char *put[] = {"--json", "put", "notes", src, NULL};
    kw_it_result r = at_cli(&srv, prof_a, put, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
}

static void get_ok(int64_t version, const char *text)
{
    const char *get[] = {"--json", "get", "notes", "plan.txt", "-o", out, NULL};
    kw_it_result r = at_cli(&srv, prof_a, get, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), version);
    kw_it_result_free(&r);
    char buf[128] = "";
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

static void refused(const char *cmd, const char *frag1, const char *frag2)
{
    const char *get[] = {"--json", "get", "notes", "plan.txt", "-o", out, NULL};
    const char *ls[] = {"--json", "ls", "notes", NULL};
    kw_it_result r = at_cli(&srv, prof_a, strcmp(cmd, "get") == 0 ? get : ls, 2);
    at_assert_refused(&r, frag1, frag2, NULL);
    kw_it_result_free(&r);
}

/* The saved version-1 row. */
static uint8_t *v1_meta, *v1_wrap, *v1_content;
static size_t v1_meta_len, v1_wrap_len, v1_content_len;

static void test_rollback(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    put_text("version one\n");
    sqlite3 *db = at_db_open(&srv); /* read while it runs (WAL) */
    v1_meta = at_blob(db, "SELECT meta FROM records " REC_WHERE, NULL, 0, &v1_meta_len);
    v1_wrap = at_blob(db, "SELECT wrap FROM records " REC_WHERE, NULL, 0, &v1_wrap_len);
    v1_content = at_blob(db, "SELECT content FROM records " REC_WHERE, NULL, 0, &v1_content_len);
    at_db_close(db);
    put_text("version two\n");
    get_ok(2, "version two\n");

    /* (a) the row rolled back to version 1 */
    db = at_lie_begin(&srv);
    uint8_t *m2 = NULL, *w2 = NULL, *c2 = NULL;
    size_t m2l, w2l, c2l;
    m2 = at_blob(db, "SELECT meta FROM records " REC_WHERE, NULL, 0, &m2l);
    w2 = at_blob(db, "SELECT wrap FROM records " REC_WHERE, NULL, 0, &w2l);
    c2 = at_blob(db, "SELECT content FROM records " REC_WHERE, NULL, 0, &c2l);
    at_exec(db, "UPDATE records SET version = 1, meta = ?1, wrap = ?2 " REC_WHERE, v1_meta, v1_meta_len,
            v1_wrap, v1_wrap_len, 1);
    at_exec(db, "UPDATE records SET content = ?1 " REC_WHERE, v1_content, v1_content_len, NULL, 0, 1);
    at_lie_end(&srv, db);
    refused("get", "ALERT: the server rolled record", "serves version 1, this device has seen version 2");
    refused("ls", "ALERT: the server rolled record", NULL);

    /* (b) version 1's ciphertext under the number 2 */
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE records SET version = 2 " REC_WHERE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    refused("get", "does not open as version 2", "swapped or replayed");
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE records SET version = 3 " REC_WHERE, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    refused("ls", "does not open as version 3", NULL);

    /* undone: version 2 reads again */
    db = at_lie_begin(&srv);
    at_exec(db, "UPDATE records SET version = 2, meta = ?1, wrap = ?2 " REC_WHERE, m2, m2l, w2, w2l, 1);
    at_exec(db, "UPDATE records SET content = ?1 " REC_WHERE, c2, c2l, NULL, 0, 1);
    at_lie_end(&srv, db);
    get_ok(2, "version two\n");
    free(m2);
    free(w2);
    free(c2);
}

static void test_zone_rollback(void **state)
{
    (void)state;
    const char *ls[] = {"--json", "ls", "notes", NULL};
    kw_it_result r = at_cli(&srv, prof_a, ls, 0);
    int64_t change = json_integer_value(json_object_get(r.json, "change"));
    kw_it_result_free(&r);
    assert_true(change >= 2);
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "UPDATE record_zones SET change = 1 WHERE category = 'notes' AND zone = 'default'", NULL, 0,
            NULL, 0, 1);
    at_lie_end(&srv, db);
    refused("ls", "ALERT: the server rolled zone notes/default back", "change counter is 1");
    db = at_lie_begin(&srv);
    char sql[200];
    snprintf(sql, sizeof(sql),
             "UPDATE record_zones SET change = %lld WHERE category = 'notes' AND zone = 'default'",
             (long long)change);
    at_exec(db, sql, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    get_ok(2, "version two\n");
}

static void test_resurrection(void **state)
{
    (void)state;
    sqlite3 *db = at_db_open(&srv);
    size_t idl = 0;
    uint8_t *id = at_blob(db, "SELECT id FROM records " REC_WHERE, NULL, 0, &idl);
    uint8_t *m = NULL, *w = NULL, *c = NULL;
    size_t ml, wl, cl;
    m = at_blob(db, "SELECT meta FROM records " REC_WHERE, NULL, 0, &ml);
    w = at_blob(db, "SELECT wrap FROM records " REC_WHERE, NULL, 0, &wl);
    c = at_blob(db, "SELECT content FROM records " REC_WHERE, NULL, 0, &cl);
    int64_t acc = at_int(db, "SELECT account_id FROM records " REC_WHERE);
    int64_t clen = at_int(db, "SELECT content_len FROM records " REC_WHERE);
    at_db_close(db);
    const char *rm[] = {"--json", "rm", "notes", "plan.txt", NULL};
    kw_it_result r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    db = at_lie_begin(&srv);
    char sql[600];
    snprintf(sql, sizeof(sql),
             "INSERT INTO records (account_id, category, zone, id, version, meta, wrap, key_generation, "
             "content_len, nchunks, content, ref, change, updated_at) VALUES (%lld, 'notes', 'default', ?1, "
             "2, ?2, x'00', 1, %lld, 1, x'00', NULL, 99, 0)",
             (long long)acc, (long long)clen);
    at_exec(db, sql, id, idl, m, ml, 1);
    at_exec(db, "UPDATE records SET wrap = ?1 " REC_WHERE, w, wl, NULL, 0, 1);
    at_exec(db, "UPDATE records SET content = ?1 " REC_WHERE, c, cl, NULL, 0, 1);
    at_exec(db, "UPDATE record_zones SET change = change + 5 WHERE category = 'notes'", NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    refused("get", "ALERT: the server resurrected deleted record", "deleted at version 2");
    refused("ls", "ALERT: the server resurrected deleted record", NULL);
    free(id);
    free(m);
    free(w);
    free(c);
    free(v1_meta);
    free(v1_wrap);
    free(v1_content);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollback),
        cmocka_unit_test(test_zone_rollback),
        cmocka_unit_test(test_resurrection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
