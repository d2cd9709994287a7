/*
 * Attack 8 for records (DESIGN.md "Attacks the tests must show detected"):
 * ciphertexts swapped between two records, content pieces reordered,
 * truncated or spliced in from another record — by editing the database
 * and the chunk files of a stopped server.
 *
 * Set-up (honest): A creates "alice", puts two small notes (inline) "x.txt"
 * and "y.txt", and two 3-piece files (2.2 MiB) "p.bin" and "q.bin" in drive.
 * Each lie, then undone (A reads everything intact again):
 *   (a) x's and y's metadata, key wraps and contents swapped in the rows:
 *       A refuses "ALERT: record ... does not open as version 1 of
 *       notes/default ... swapped or replayed";
 *   (b) p's chunk files 0 and 1 exchanged: "ALERT: piece 0 of record ...
 *       does not authenticate ... reordered, swapped or tampered";
 *   (c) p's last chunk file deleted: "ALERT: record ... was truncated or
 *       extended: piece 2 is missing";
 *   (d) p's last chunk file deleted and the row's chunk count and length
 *       lowered to match: "was truncated or extended" (the metadata
 *       fixes the piece count);
 *   (e) p's piece 1 replaced by q's piece 1: "piece 1 of record ... does
 *       not authenticate";
 *   (f) one byte of p's piece 2 flipped: "piece 2 ... does not authenticate".
 * The output file is never created when a download is refused.
 */
#include "attack_util.h"

#include <sys/stat.h>

static kw_it_server srv;
static char *prof_a;
static char work[400];

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    snprintf(work, sizeof(work), "%s/work", srv.dir);
    mkdir(work, 0700);
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

static void mkput(const char *cat, const char *name, size_t len, uint8_t seed)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", work, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc((int)((i * 131 + seed) & 0xff), f);
    fclose(f);
    const char *put[] = {"--json", "put", cat, p, NULL};
    kw_it_result r = at_cli(&srv, prof_a, put, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
}

static void get_ok(const char *cat, const char *name)
{
    char in[600], out[600];
    snprintf(in, sizeof(in), "%s/%s", work, name);
    snprintf(out, sizeof(out), "%s/%s.out", work, name);
    const char *get[] = {"--json", "get", cat, name, "-o", out, NULL};
    kw_it_result r = at_cli(&srv, prof_a, get, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", in, out);
    assert_int_equal(system(cmd), 0);
    unlink(out);
}

static void get_refused(const char *cat, const char *name, const char *f1, const char *f2)
{
    char out[600];
    snprintf(out, sizeof(out), "%s/%s.out", work, name);
    unlink(out);
    const char *get[] = {"--json", "get", cat, name, "-o", out, NULL};
    kw_it_result r = at_cli(&srv, prof_a, get, 2);
    at_assert_refused(&r, f1, f2, NULL);
    kw_it_result_free(&r);
    assert_int_not_equal(access(out, F_OK), 0); /* no output file */
}

/* The chunk directory of the drive record `name` (found by its row). */
static void chunk_dir(sqlite3 *db, const char *which, char *out, size_t cap)
{
    char sql[300];
    size_t len = 0;
    snprintf(sql, sizeof(sql),
             "SELECT ref FROM records WHERE category = 'drive' ORDER BY rowid LIMIT 1 OFFSET %d",
             strcmp(which, "p") == 0 ? 0 : 1);
    uint8_t *ref = at_blob(db, sql, NULL, 0, &len);
    assert_int_equal(len, 16);
    char hex[33];
    kw_hex_encode(hex, sizeof(hex), ref, 16);
    snprintf(out, cap, "%s/data/chunks/%.2s/%s", srv.dir, hex, hex);
    free(ref);
}

static void mv(const char *a, const char *b)
{
    assert_int_equal(rename(a, b), 0);
}

static void test_setup_honest(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    mkput("notes", "x.txt", 100, 1);
    mkput("notes", "y.txt", 100, 2);
    mkput("drive", "p.bin", 2200000, 3);
    mkput("drive", "q.bin", 2200000, 4);
    get_ok("notes", "x.txt");
    get_ok("drive", "p.bin");
}

static void test_swap_rows(void **state)
{
    (void)state;
    sqlite3 *db = at_lie_begin(&srv);
    /* swap every ciphertext column of the two notes through a temporary table */
    at_exec(db, "CREATE TABLE t AS SELECT id, meta, wrap, content FROM records WHERE category = 'notes'", NULL, 0,
            NULL, 0, -1);
    at_exec(db,
            "UPDATE records SET meta = (SELECT t.meta FROM t WHERE t.id <> records.id), wrap = (SELECT t.wrap "
            "FROM t WHERE t.id <> records.id), content = (SELECT t.content FROM t WHERE t.id <> records.id) "
            "WHERE category = 'notes'",
            NULL, 0, NULL, 0, 2);
    at_lie_end(&srv, db);
    get_refused("notes", "x.txt", "does not open as version 1 of notes/default", "swapped or replayed");
    const char *ls[] = {"--json", "ls", "notes", NULL};
    kw_it_result r = at_cli(&srv, prof_a, ls, 2);
    at_assert_refused(&r, "ALERT: record", NULL);
    kw_it_result_free(&r);
    db = at_lie_begin(&srv);
    at_exec(db,
            "UPDATE records SET meta = (SELECT t.meta FROM t WHERE t.id = records.id), wrap = (SELECT t.wrap "
            "FROM t WHERE t.id = records.id), content = (SELECT t.content FROM t WHERE t.id = records.id) "
            "WHERE category = 'notes'",
            NULL, 0, NULL, 0, 2);
    at_exec(db, "DROP TABLE t", NULL, 0, NULL, 0, -1);
    at_lie_end(&srv, db);
    get_ok("notes", "x.txt");
    get_ok("notes", "y.txt");
}

static void test_chunks(void **state)
{
    (void)state;
    char p[700], q[700], a[800], b[800], t[800];
    sqlite3 *db = at_lie_begin(&srv);
    chunk_dir(db, "p", p, sizeof(p));
    chunk_dir(db, "q", q, sizeof(q));
    int64_t nch = at_int(db, "SELECT nchunks FROM records WHERE category = 'drive' ORDER BY rowid LIMIT 1");
    assert_int_equal(nch, 3);
    /* (b) reordered */
    snprintf(a, sizeof(a), "%s/0", p);
    snprintf(b, sizeof(b), "%s/1", p);
    snprintf(t, sizeof(t), "%s/tmp", p);
    mv(a, t);
    mv(b, a);
    mv(t, b);
    at_lie_end(&srv, db);
    get_refused("drive", "p.bin", "ALERT: piece 0 of record", "reordered, swapped or tampered");
    db = at_lie_begin(&srv);
    mv(a, t);
    mv(b, a);
    mv(t, b);

    /* (c) truncated: the last piece gone */
    snprintf(a, sizeof(a), "%s/2", p);
    snprintf(t, sizeof(t), "%s/2.saved", p);
    mv(a, t);
    at_lie_end(&srv, db);
    get_refused("drive", "p.bin", "was truncated or extended", "piece 2 is missing");
    /* (d) and the row lowered to match */
    db = at_lie_begin(&srv);
    int64_t clen = at_int(db, "SELECT content_len FROM records WHERE category = 'drive' ORDER BY rowid LIMIT 1");
    char sql[300];
    snprintf(sql, sizeof(sql),
             "UPDATE records SET nchunks = 2, content_len = %lld WHERE rowid = (SELECT rowid FROM records "
             "WHERE category = 'drive' ORDER BY rowid LIMIT 1)",
             (long long)(2 * (1048576 + 45)));
    at_exec(db, sql, NULL, 0, NULL, 0, 1);
    at_lie_end(&srv, db);
    get_refused("drive", "p.bin", "was truncated or extended", "holds 2 pieces");
    db = at_lie_begin(&srv);
    snprintf(sql, sizeof(sql),
             "UPDATE records SET nchunks = 3, content_len = %lld WHERE rowid = (SELECT rowid FROM records "
             "WHERE category = 'drive' ORDER BY rowid LIMIT 1)",
             (long long)clen);
    at_exec(db, sql, NULL, 0, NULL, 0, 1);
    mv(t, a);

    /* (e) a piece spliced in from another record */
    snprintf(a, sizeof(a), "%s/1", p);
    snprintf(b, sizeof(b), "%s/1", q);
    snprintf(t, sizeof(t), "%s/1.saved", p);
    mv(a, t);
    char cmd[2000];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", b, a);
    assert_int_equal(system(cmd), 0);
    at_lie_end(&srv, db);
    get_refused("drive", "p.bin", "ALERT: piece 1 of record", "does not authenticate");
    db = at_lie_begin(&srv);
    unlink(a);
    mv(t, a);

    /* (f) a flipped byte */
    snprintf(a, sizeof(a), "%s/2", p);
    FILE *f = fopen(a, "r+b");
    assert_non_null(f);
    fseek(f, 1000, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 1000, SEEK_SET);
    fputc(ch ^ 1, f);
    fclose(f);
    at_lie_end(&srv, db);
    get_refused("drive", "p.bin", "ALERT: piece 2 of record", "does not authenticate");
    db = at_lie_begin(&srv);
    f = fopen(a, "r+b");
    assert_non_null(f);
    fseek(f, 1000, SEEK_SET);
    fputc(ch, f);
    fclose(f);
    at_lie_end(&srv, db);
    get_ok("drive", "p.bin");
    get_ok("drive", "q.bin");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_swap_rows),
        cmocka_unit_test(test_chunks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
