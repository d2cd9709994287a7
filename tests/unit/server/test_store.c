/* keywardd's storage interface (server/store/store.h), the same suite on
 * every backend: every function, positive and negative; atomicity of the
 * multi-row calls; schema migrations; a kill -9 crash test (every
 * acknowledged write survives, the consistency check passes) and
 * multi-threaded and multi-handle ("several nodes") writer tests.
 *
 * Backend: KEYWARD_TEST_STORE_URI names it — unset (or a sqlite: URI) runs
 * on SQLite, each test with a fresh file in its own temporary directory; a
 * postgres:// URI (scripts/test-pg starts a throwaway cluster) runs on
 * PostgreSQL, each test with a fresh database created through that URI and
 * dropped afterwards. The few backend-specific checks (file mode and WAL,
 * SQLite's application_id, PostgreSQL URIs) branch on f->pg. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keyward/keyward.h"
#include "store/admin.h"
#include "store/msg.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char path[128]; /* SQLite: the database file */
    char uri[768];  /* what kw_store_open gets: the file path, or a postgres:// URI */
    char db[64];    /* PostgreSQL: the per-test database */
    bool pg;
    kw_store *st;
} fixture;

/* KEYWARD_TEST_STORE_URI when it names PostgreSQL, else NULL (SQLite). */
static const char *pg_base(void)
{
    const char *u = getenv("KEYWARD_TEST_STORE_URI");
    if (u != NULL && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0))
        return u;
    return NULL;
}

/* Runs one statement on the server of KEYWARD_TEST_STORE_URI (database
 * creation and removal). */
static int pg_admin_sql(const char *sql)
{
    PGconn *c = PQconnectdb(pg_base());
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *res = PQexec(c, sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "pg: %s", PQerrorMessage(c));
        PQclear(res);
    } else {
        fprintf(stderr, "pg: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

/* ---- helpers ---- */

/* A deterministic distinct value: tag in the first 4 bytes, n in the next 4. */
static void mk(uint8_t *out, size_t len, uint32_t tag, uint32_t n)
{
    memset(out, 0xA5, len);
    for (int i = 0; i < 4 && (size_t)i < len; i++)
        out[i] = (uint8_t)(tag >> (8 * i));
    for (int i = 0; i < 4 && (size_t)(i + 4) < len; i++)
        out[i + 4] = (uint8_t)(n >> (8 * i));
}

static void mk_device(kw_store_device *d, uint32_t n, int64_t created)
{
    memset(d, 0, sizeof(*d));
    mk(d->id, sizeof(d->id), 0x44455631, n);
    mk(d->identity_pk, sizeof(d->identity_pk), 0x49444b31, n);
    mk(d->hpke_pk, sizeof(d->hpke_pk), 0x48504b31, n);
    snprintf(d->name, sizeof(d->name), "device-%u", n);
    d->created_at = created;
    d->last_seen_at = created;
    d->state = KW_DEVICE_PENDING; /* account_create must store TRUSTED anyway */
}

static const uint8_t blob_opaque[] = "opaque-record";
static const uint8_t blob_roster1[] = "roster-v1";
static const uint8_t blob_keychain1[] = "keychain-v1";
static const uint8_t blob_wrap1[] = "wrap-gen1";
static const uint8_t account_pk[32] = {1, 2, 3};

/* Creates account `name` with device number dev and session hash (tag 'S', dev). */
static int make_account(kw_store *st, const char *name, uint32_t dev, int64_t *id, kw_store_device *d)
{
    uint8_t sh[KW_STORE_HASH_BYTES];
    mk_device(d, dev, 1000 + dev);
    mk(sh, sizeof(sh), 0x53455331, dev);
    kw_store_new_account na = {
        .name = name,
        .opaque_record = blob_opaque,
        .opaque_record_len = sizeof(blob_opaque),
        .account_pk = account_pk,
        .device = d,
        .roster = blob_roster1,
        .roster_len = sizeof(blob_roster1),
        .keychain = blob_keychain1,
        .keychain_len = sizeof(blob_keychain1),
        .device_wrap = blob_wrap1,
        .device_wrap_len = sizeof(blob_wrap1),
        .session_hash = sh,
        .session_expires_at = 999999,
    };
    return kw_store_account_create(st, &na, id);
}

static void rm_tree(const char *dir)
{
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(dh);
    rmdir(dir);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/kwstore.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    snprintf(f->uri, sizeof(f->uri), "%s", f->path);
    const char *base = pg_base();
    if (base != NULL) {
        static unsigned counter;
        char sql[128];
        f->pg = true;
        snprintf(f->db, sizeof(f->db), "kwtest_%d_%u", (int)getpid(), counter++);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
        /* libpq: a dbname query parameter overrides the URI's path. */
        snprintf(f->uri, sizeof(f->uri), "%s%cdbname=%s", base, strchr(base, '?') != NULL ? '&' : '?', f->db);
        if (pg_admin_sql(sql) != 0) {
            rm_tree(f->dir);
            free(f);
            return -1;
        }
    }
    if (kw_store_open(f->uri, &f->st) != KW_OK) {
        rm_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kw_store_close(&f->st);
    if (f->pg) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
        pg_admin_sql(sql);
    }
    rm_tree(f->dir);
    free(f);
    return 0;
}

static int64_t roster_version(kw_store *st, int64_t acc)
{
    int64_t v = -1;
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(kw_store_roster_latest(st, acc, &v, &b, &n), KW_OK);
    free(b);
    return v;
}

static int device_state(kw_store *st, const uint8_t *id)
{
    kw_store_device d;
    assert_int_equal(kw_store_device_get(st, id, &d), KW_OK);
    return d.state;
}

/* Runs SQL on the test's database directly (outside the store). */
static void raw_sql(const fixture *f, const char *sql)
{
    if (f->pg) {
        PGconn *c = PQconnectdb(f->uri);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *res = PQexec(c, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
            fprintf(stderr, "raw_sql: %s", PQerrorMessage(c));
        assert_true(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK);
        PQclear(res);
        PQfinish(c);
        return;
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The first column of the first row as text (malloc'd), NULL without one. */
static char *raw_text(const fixture *f, const char *sql)
{
    if (f->pg) {
        char *out = NULL;
        PGconn *c = PQconnectdb(f->uri);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *res = PQexec(c, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fprintf(stderr, "raw_text: %s", PQerrorMessage(c));
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
            out = strdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        PQfinish(c);
        return out;
    }
    const char *path = f->path;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *out = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
        out = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
}

/* ---- open, schema, migrations ---- */

static void test_open_uri_forms(void **state)
{
    fixture *f = *state;
    kw_store *st = NULL;
    char uri[256];
    int v = 0;

    if (f->pg) {
        /* The same database through a second handle; a server nobody
         * listens on; a malformed URI. */
        assert_int_equal(kw_store_open(f->uri, &st), KW_OK);
        assert_int_equal(kw_store_schema_version(st, &v), KW_OK);
        assert_int_equal(v, 2);
        kw_store_close(&st);
        assert_null(st);
        assert_int_equal(kw_store_open("postgres://keyward@127.0.0.1:1/x?connect_timeout=2", &st),
                         KW_ERR_STORAGE);
        assert_null(st);
        assert_int_equal(kw_store_open("postgresql://h/db?nosuchoption=1", &st), KW_ERR_INVALID_ARG);
        assert_int_equal(kw_store_open(NULL, &st), KW_ERR_INVALID_ARG);
        assert_int_equal(kw_store_open(f->uri, NULL), KW_ERR_INVALID_ARG);
        /* Durable commits on the store's connections. */
        char *sync = raw_text(f, "SHOW fsync");
        assert_string_equal(sync, "on");
        free(sync);
        return;
    }
    snprintf(uri, sizeof(uri), "sqlite:%s", f->path);
    assert_int_equal(kw_store_open(uri, &st), KW_OK);
    assert_int_equal(kw_store_schema_version(st, &v), KW_OK);
    assert_int_equal(v, 2);
    kw_store_close(&st);
    assert_null(st);
    snprintf(uri, sizeof(uri), "sqlite://%s", f->path);
    assert_int_equal(kw_store_open(uri, &st), KW_OK);
    kw_store_close(&st);

    assert_int_equal(kw_store_open("", &st), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_open("sqlite:", &st), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_open(NULL, &st), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_open(f->uri, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_open("/nonexistent-dir-kw/x.db", &st), KW_ERR_STORAGE);
    assert_null(st);
    kw_store_close(NULL);
    kw_store_close(&st);

    /* The file is owner-only and in WAL mode. */
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *mode = raw_text(f, "PRAGMA journal_mode");
    assert_non_null(mode);
    assert_string_equal(mode, "wal");
    free(mode);
}

static void test_not_a_database(void **state)
{
    fixture *f = *state;
    char p[256];
    kw_store *st = NULL;
    if (f->pg) {
        /* A database that already holds someone else's schema_version. */
        kw_store_close(&f->st);
        raw_sql(f, "UPDATE schema_version SET app = 'someone-else'");
        assert_int_equal(kw_store_open(f->uri, &st), KW_ERR_UNSUPPORTED);
        assert_null(st);
        raw_sql(f, "UPDATE schema_version SET app = 'keyward'");
        assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
        return;
    }
    snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 0; i < 512; i++)
        fputs("this is not an sqlite database ", fp);
    fclose(fp);
    assert_int_equal(kw_store_open(p, &st), KW_ERR_STORAGE);
    assert_null(st);
}

static void test_migrations_idempotent(void **state)
{
    fixture *f = *state;
    int64_t id;
    kw_store_device d;
    int v = 0;
    assert_int_equal(kw_store_schema_version(f->st, &v), KW_OK);
    assert_int_equal(v, 2);
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);
    const char *listing = f->pg ? "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class AS c"
                                  " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                                  " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
                                : "SELECT group_concat(name, ',') FROM"
                                  " (SELECT name FROM sqlite_master ORDER BY name)";
    char *before = raw_text(f, listing);
    assert_non_null(before);
    for (int i = 0; i < 3; i++) {
        kw_store_close(&f->st);
        assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
        assert_int_equal(kw_store_schema_version(f->st, &v), KW_OK);
        assert_int_equal(v, 2);
    }
    char *after = raw_text(f, listing);
    assert_string_equal(before, after);
    free(before);
    free(after);
    char *rows = raw_text(f, "SELECT count(*) || ':' || max(version) FROM schema_version");
    assert_string_equal(rows, "1:2");
    free(rows);
    kw_store_account a;
    assert_int_equal(kw_store_account_get_by_name(f->st, "alice", &a), KW_OK);
    assert_int_equal(a.id, id);
    kw_store_account_clear(&a);
}

static void test_migration_from_v1(void **state)
{
    fixture *f = *state;
    kw_store_close(&f->st);
    /* Undo step 2 by hand: reopening must apply exactly it again. */
    raw_sql(f, "DROP INDEX logins_by_expiry; DROP INDEX approvals_by_expiry;"
                     "UPDATE schema_version SET version = 1");
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
    int v = 0;
    assert_int_equal(kw_store_schema_version(f->st, &v), KW_OK);
    assert_int_equal(v, 2);
    /* (Domain components have *_by_expiry indexes of their own.) */
    char *n = raw_text(f, f->pg ? "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                                  " ('logins_by_expiry', 'approvals_by_expiry')"
                                : "SELECT count(*) FROM sqlite_master WHERE name IN"
                                  " ('logins_by_expiry', 'approvals_by_expiry')");
    assert_string_equal(n, "2");
    free(n);
}

static void test_migration_refuses_newer_or_foreign(void **state)
{
    fixture *f = *state;
    kw_store_close(&f->st);
    raw_sql(f, "UPDATE schema_version SET version = 99");
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_ERR_UNSUPPORTED);
    assert_null(f->st);
    if (f->pg) {
        /* A domain component newer than this keywardd is refused too. */
        raw_sql(f, "UPDATE schema_version SET version = 2;"
                   " UPDATE schema_components SET version = version + 1000");
        assert_int_equal(kw_store_open(f->uri, &f->st), KW_ERR_UNSUPPORTED);
        raw_sql(f, "UPDATE schema_components SET version = version - 1000");
        assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
        return;
    }
    raw_sql(f, "UPDATE schema_version SET version = 2; PRAGMA application_id = 12345");
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_ERR_UNSUPPORTED);
    raw_sql(f, "PRAGMA application_id = 1264013892"); /* 0x4b575244, "KWRD" */
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
}

/* ---- accounts ---- */

static void test_account_create_and_get(void **state)
{
    fixture *f = *state;
    int64_t id = 0, v = 0, gen = 0;
    kw_store_device d;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);
    assert_true(id > 0);

    kw_store_account a, b;
    assert_int_equal(kw_store_account_get_by_name(f->st, "alice", &a), KW_OK);
    assert_int_equal(a.id, id);
    assert_string_equal(a.name, "alice");
    assert_int_equal(a.opaque_record_len, sizeof(blob_opaque));
    assert_memory_equal(a.opaque_record, blob_opaque, sizeof(blob_opaque));
    assert_memory_equal(a.account_pk, account_pk, 32);
    assert_null(a.totp_secret);
    assert_int_equal(a.totp_secret_len, 0);
    assert_int_equal(a.totp_last_step, 0);
    assert_int_equal(a.created_at, d.created_at);
    assert_int_equal(kw_store_account_get(f->st, id, &b), KW_OK);
    assert_string_equal(b.name, "alice");
    kw_store_account_clear(&a);
    kw_store_account_clear(&b);
    assert_null(a.opaque_record);
    kw_store_account_clear(NULL);

    assert_int_equal(kw_store_account_get_by_name(f->st, "bob", &a), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_account_get_by_name(f->st, "Alice", &a), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_account_get(f->st, id + 100, &a), KW_ERR_NOT_FOUND);
    assert_null(a.opaque_record);

    /* Everything the creation writes. */
    kw_store_device got;
    assert_int_equal(kw_store_device_get(f->st, d.id, &got), KW_OK);
    assert_int_equal(got.state, KW_DEVICE_TRUSTED);
    assert_int_equal(got.account_id, id);
    assert_string_equal(got.name, "device-1");
    assert_memory_equal(got.identity_pk, d.identity_pk, 32);
    assert_memory_equal(got.hpke_pk, d.hpke_pk, 32);

    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(kw_store_roster_latest(f->st, id, &v, &blob, &len), KW_OK);
    assert_int_equal(v, 1);
    assert_memory_equal(blob, blob_roster1, sizeof(blob_roster1));
    free(blob);
    assert_int_equal(kw_store_roster_get(f->st, id, 1, &blob, &len), KW_OK);
    assert_int_equal(len, sizeof(blob_roster1));
    free(blob);
    assert_int_equal(kw_store_roster_get(f->st, id, 2, &blob, &len), KW_ERR_NOT_FOUND);
    assert_null(blob);
    assert_int_equal(kw_store_keychain_get(f->st, id, &v, &blob, &len), KW_OK);
    assert_int_equal(v, 1);
    assert_memory_equal(blob, blob_keychain1, sizeof(blob_keychain1));
    free(blob);
    assert_int_equal(kw_store_kk_wrap_get(f->st, id, d.id, &gen, &blob, &len), KW_OK);
    assert_int_equal(gen, 1);
    assert_memory_equal(blob, blob_wrap1, sizeof(blob_wrap1));
    free(blob);
    assert_int_equal(kw_store_kk_chain_get(f->st, id, 1, &blob, &len), KW_ERR_NOT_FOUND);
    uint8_t auth[32];
    assert_int_equal(kw_store_recovery_get(f->st, id, &gen, &blob, &len, auth), KW_ERR_NOT_FOUND);

    kw_store_session *ss = NULL;
    size_t n = 0;
    assert_int_equal(kw_store_session_list(f->st, id, &ss, &n), KW_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(ss[0].device_id, d.id, KW_STORE_ID_BYTES);
    assert_int_equal(ss[0].expires_at, 999999);
    assert_false(ss[0].revoked);
    free(ss);

    /* Unknown accounts have nothing. */
    assert_int_equal(kw_store_roster_latest(f->st, id + 1, &v, &blob, &len), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_keychain_get(f->st, id + 1, &v, &blob, &len), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_kk_wrap_get(f->st, id + 1, d.id, &gen, &blob, &len), KW_ERR_NOT_FOUND);
}

static void test_account_create_conflicts_are_atomic(void **state)
{
    fixture *f = *state;
    int64_t id, id2 = 77;
    kw_store_device d, d2;
    kw_store_account a;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);

    /* Name taken: nothing of the second attempt (device 2) is stored. */
    assert_int_equal(make_account(f->st, "alice", 2, &id2, &d2), KW_ERR_CONFLICT);
    assert_int_equal(id2, 0);
    kw_store_device tmp;
    assert_int_equal(kw_store_device_get(f->st, d2.id, &tmp), KW_ERR_NOT_FOUND);

    /* Device id (and so identity key and session hash) taken: the account
     * row inserted first is rolled back. */
    assert_int_equal(make_account(f->st, "bob", 1, &id2, &d2), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_account_get_by_name(f->st, "bob", &a), KW_ERR_NOT_FOUND);

    /* Identity key alone taken. */
    kw_store_device d3;
    mk_device(&d3, 3, 5);
    memcpy(d3.identity_pk, d.identity_pk, 32);
    uint8_t sh[32];
    mk(sh, 32, 0x53455331, 3);
    kw_store_new_account na = {.name = "carol", .opaque_record = blob_opaque,
                               .opaque_record_len = sizeof(blob_opaque), .account_pk = account_pk,
                               .device = &d3, .roster = blob_roster1, .roster_len = sizeof(blob_roster1),
                               .keychain = blob_keychain1, .keychain_len = sizeof(blob_keychain1),
                               .device_wrap = blob_wrap1, .device_wrap_len = sizeof(blob_wrap1),
                               .session_hash = sh, .session_expires_at = 10};
    assert_int_equal(kw_store_account_create(f->st, &na, &id2), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_account_get_by_name(f->st, "carol", &a), KW_ERR_NOT_FOUND);
    /* Session hash alone taken. */
    mk(d3.identity_pk, 32, 0x49444b31, 3);
    mk(sh, 32, 0x53455331, 1);
    assert_int_equal(kw_store_account_create(f->st, &na, &id2), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_device_get(f->st, d3.id, &tmp), KW_ERR_NOT_FOUND);
    /* And with a fresh hash it goes through. */
    mk(sh, 32, 0x53455331, 3);
    assert_int_equal(kw_store_account_create(f->st, &na, &id2), KW_OK);
    assert_true(id2 > id);
}

static void test_account_argument_limits(void **state)
{
    fixture *f = *state;
    int64_t id;
    kw_store_device d;
    char longname[KW_STORE_NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname));
    longname[KW_STORE_NAME_MAX + 1] = '\0';
    assert_int_equal(make_account(f->st, longname, 1, &id, &d), KW_ERR_TOO_LARGE);
    longname[KW_STORE_NAME_MAX] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(make_account(f->st, longname, 1, &id, &d), KW_OK);
    assert_int_equal(make_account(f->st, "", 2, &id, &d), KW_ERR_INVALID_ARG);
    assert_int_equal(make_account(f->st, NULL, 2, &id, &d), KW_ERR_INVALID_ARG);
    assert_int_equal(make_account(NULL, "x", 2, &id, &d), KW_ERR_INVALID_ARG);
    kw_store_account a;
    assert_int_equal(kw_store_account_get_by_name(f->st, longname, &a), KW_OK);
    kw_store_account_clear(&a);
    longname[KW_STORE_NAME_MAX] = 'x';
    assert_int_equal(kw_store_account_get_by_name(f->st, longname, &a), KW_ERR_TOO_LARGE);

    uint8_t *big = calloc(1, (size_t)KW_STORE_BLOB_MAX + 1);
    assert_non_null(big);
    uint8_t sh[32] = {9};
    kw_store_device dv;
    mk_device(&dv, 9, 1);
    kw_store_new_account na = {.name = "big", .opaque_record = big,
                               .opaque_record_len = (size_t)KW_STORE_BLOB_MAX + 1, .account_pk = account_pk,
                               .device = &dv, .roster = blob_roster1, .roster_len = sizeof(blob_roster1),
                               .keychain = blob_keychain1, .keychain_len = sizeof(blob_keychain1),
                               .device_wrap = blob_wrap1, .device_wrap_len = sizeof(blob_wrap1),
                               .session_hash = sh, .session_expires_at = 10};
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_TOO_LARGE);
    na.opaque_record_len = 0;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_INVALID_ARG);
    na.opaque_record = NULL;
    na.opaque_record_len = 5;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_INVALID_ARG);
    na.opaque_record = blob_opaque;
    na.opaque_record_len = sizeof(blob_opaque);
    na.roster = big;
    na.roster_len = (size_t)KW_STORE_BLOB_MAX + 1;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_TOO_LARGE);
    na.roster = blob_roster1;
    na.roster_len = sizeof(blob_roster1);
    na.keychain = big;
    na.keychain_len = (size_t)KW_STORE_BLOB_MAX + 1;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_TOO_LARGE);
    na.keychain = blob_keychain1;
    na.keychain_len = sizeof(blob_keychain1);
    na.device_wrap = big;
    na.device_wrap_len = (size_t)KW_STORE_BLOB_MAX + 1;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_TOO_LARGE);
    na.device_wrap = blob_wrap1;
    na.device_wrap_len = sizeof(blob_wrap1);
    na.session_hash = NULL;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_INVALID_ARG);
    na.session_hash = sh;
    na.account_pk = NULL;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_INVALID_ARG);
    na.account_pk = account_pk;
    memset(dv.name, 'n', sizeof(dv.name)); /* unterminated */
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_INVALID_ARG);
    mk_device(&dv, 9, 1);
    na.device = NULL;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_ERR_INVALID_ARG);
    na.device = &dv;
    assert_int_equal(kw_store_account_create(f->st, &na, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_account_create(f->st, NULL, &id), KW_ERR_INVALID_ARG);
    /* A blob of exactly the maximum is accepted. */
    na.opaque_record = big;
    na.opaque_record_len = KW_STORE_BLOB_MAX;
    assert_int_equal(kw_store_account_create(f->st, &na, &id), KW_OK);
    assert_int_equal(kw_store_account_get(f->st, id, &a), KW_OK);
    assert_int_equal(a.opaque_record_len, KW_STORE_BLOB_MAX);
    kw_store_account_clear(&a);
    free(big);
}

static void test_account_opaque_and_totp(void **state)
{
    fixture *f = *state;
    int64_t id;
    kw_store_device d;
    kw_store_account a;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);

    static const uint8_t rec2[] = "new-opaque-record-after-password-change";
    assert_int_equal(kw_store_account_set_opaque(f->st, id, rec2, sizeof(rec2)), KW_OK);
    assert_int_equal(kw_store_account_get(f->st, id, &a), KW_OK);
    assert_int_equal(a.opaque_record_len, sizeof(rec2));
    assert_memory_equal(a.opaque_record, rec2, sizeof(rec2));
    kw_store_account_clear(&a);
    assert_int_equal(kw_store_account_set_opaque(f->st, id + 9, rec2, sizeof(rec2)), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_account_set_opaque(f->st, id, NULL, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_account_set_opaque(f->st, id, rec2, (size_t)KW_STORE_BLOB_MAX + 1),
                     KW_ERR_TOO_LARGE);

    static const uint8_t secret[] = "encrypted-totp-secret";
    assert_int_equal(kw_store_account_set_totp(f->st, id, secret, sizeof(secret)), KW_OK);
    assert_int_equal(kw_store_account_get(f->st, id, &a), KW_OK);
    assert_int_equal(a.totp_secret_len, sizeof(secret));
    assert_memory_equal(a.totp_secret, secret, sizeof(secret));
    kw_store_account_clear(&a);
    assert_int_equal(kw_store_account_set_totp(f->st, id, NULL, 0), KW_OK);
    assert_int_equal(kw_store_account_get(f->st, id, &a), KW_OK);
    assert_null(a.totp_secret);
    kw_store_account_clear(&a);
    assert_int_equal(kw_store_account_set_totp(f->st, id, NULL, 3), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_account_set_totp(f->st, id, secret, (size_t)KW_STORE_BLOB_MAX + 1),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_account_set_totp(f->st, id + 9, secret, sizeof(secret)), KW_ERR_NOT_FOUND);

    /* Replay guard: strictly increasing steps only. */
    assert_int_equal(kw_store_account_use_totp_step(f->st, id, 56000000), KW_OK);
    assert_int_equal(kw_store_account_use_totp_step(f->st, id, 56000000), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_account_use_totp_step(f->st, id, 55999999), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_account_use_totp_step(f->st, id, 56000001), KW_OK);
    assert_int_equal(kw_store_account_use_totp_step(f->st, id + 9, 56000005), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_account_use_totp_step(f->st, id, -1), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_account_get(f->st, id, &a), KW_OK);
    assert_int_equal(a.totp_last_step, 56000001);
    kw_store_account_clear(&a);
}

/* ---- devices ---- */

static void test_devices(void **state)
{
    fixture *f = *state;
    int64_t id, id2;
    kw_store_device d1, d2, d3, got;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d1), KW_OK);
    assert_int_equal(make_account(f->st, "bob", 9, &id2, &got), KW_OK);

    mk_device(&d2, 2, 3000);
    d2.account_id = id;
    d2.state = KW_DEVICE_TRUSTED; /* ignored: added devices are PENDING */
    assert_int_equal(kw_store_device_add(f->st, &d2), KW_OK);
    mk_device(&d3, 3, 2000); /* older than d2: listed before it */
    d3.account_id = id;
    assert_int_equal(kw_store_device_add(f->st, &d3), KW_OK);
    assert_int_equal(device_state(f->st, d2.id), KW_DEVICE_PENDING);

    /* Duplicates and unknown account. */
    assert_int_equal(kw_store_device_add(f->st, &d2), KW_ERR_CONFLICT);
    kw_store_device dup = d2;
    mk(dup.id, sizeof(dup.id), 0x44455631, 50); /* new id, same identity key */
    assert_int_equal(kw_store_device_add(f->st, &dup), KW_ERR_CONFLICT);
    kw_store_device orphan;
    mk_device(&orphan, 51, 1);
    orphan.account_id = id + id2 + 100;
    assert_int_equal(kw_store_device_add(f->st, &orphan), KW_ERR_NOT_FOUND);
    memset(orphan.name, 'z', sizeof(orphan.name));
    orphan.account_id = id;
    assert_int_equal(kw_store_device_add(f->st, &orphan), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_device_add(f->st, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_device_get(f->st, orphan.id, &got), KW_ERR_NOT_FOUND);

    kw_store_device *list = NULL;
    size_t n = 0;
    assert_int_equal(kw_store_device_list(f->st, id, &list, &n), KW_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(list[0].id, d1.id, KW_STORE_ID_BYTES); /* created 1001 */
    assert_memory_equal(list[1].id, d3.id, KW_STORE_ID_BYTES); /* 2000 */
    assert_memory_equal(list[2].id, d2.id, KW_STORE_ID_BYTES); /* 3000 */
    assert_int_equal(list[0].state, KW_DEVICE_TRUSTED);
    assert_int_equal(list[1].state, KW_DEVICE_PENDING);
    free(list);
    assert_int_equal(kw_store_device_list(f->st, id + id2 + 100, &list, &n), KW_OK);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(kw_store_device_list(f->st, id, NULL, &n), KW_ERR_INVALID_ARG);

    /* Touch moves last_seen_at forward only; unknown ids are ignored. */
    kw_store_device_touch(f->st, d2.id, 5000);
    assert_int_equal(kw_store_device_get(f->st, d2.id, &got), KW_OK);
    assert_int_equal(got.last_seen_at, 5000);
    kw_store_device_touch(f->st, d2.id, 4000);
    assert_int_equal(kw_store_device_get(f->st, d2.id, &got), KW_OK);
    assert_int_equal(got.last_seen_at, 5000);
    assert_int_equal(got.created_at, 3000);
    kw_store_device_touch(f->st, orphan.id, 5000);
    kw_store_device_touch(NULL, d2.id, 5000);
}

/* ---- roster changes ---- */

typedef struct {
    int64_t id;
    kw_store_device a, b, c; /* a: first (trusted) device; b, c: added pending */
} roster_fx;

static void roster_setup(kw_store *st, roster_fx *r)
{
    assert_int_equal(make_account(st, "alice", 1, &r->id, &r->a), KW_OK);
    mk_device(&r->b, 2, 2000);
    r->b.account_id = r->id;
    assert_int_equal(kw_store_device_add(st, &r->b), KW_OK);
    mk_device(&r->c, 3, 3000);
    r->c.account_id = r->id;
    assert_int_equal(kw_store_device_add(st, &r->c), KW_OK);
}

static const uint8_t roster2[] = "roster-v2";

static void test_roster_trust_device(void **state)
{
    fixture *f = *state;
    roster_fx fx;
    roster_setup(f->st, &fx);
    static const uint8_t wrap_b[] = "wrap-gen1-for-b";
    const uint8_t(*trust)[KW_STORE_ID_BYTES] = &fx.b.id;
    kw_store_wrap w = {.device_id = fx.b.id, .wrap = wrap_b, .wrap_len = sizeof(wrap_b)};
    kw_store_roster_change ch = {.account_id = fx.id, .roster_version = 2, .roster = roster2,
                                 .roster_len = sizeof(roster2), .trust = trust, .ntrust = 1,
                                 .kk_generation = 1, .wraps = &w, .nwraps = 1};
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_OK);
    assert_int_equal(device_state(f->st, fx.b.id), KW_DEVICE_TRUSTED);
    assert_int_equal(device_state(f->st, fx.c.id), KW_DEVICE_PENDING);
    assert_int_equal(roster_version(f->st, fx.id), 2);
    int64_t gen;
    uint8_t *blob;
    size_t len;
    assert_int_equal(kw_store_kk_wrap_get(f->st, fx.id, fx.b.id, &gen, &blob, &len), KW_OK);
    assert_int_equal(gen, 1);
    assert_memory_equal(blob, wrap_b, sizeof(wrap_b));
    free(blob);
    assert_int_equal(kw_store_roster_get(f->st, fx.id, 2, &blob, &len), KW_OK);
    assert_memory_equal(blob, roster2, sizeof(roster2));
    free(blob);
    /* A pending device has no wrap. */
    assert_int_equal(kw_store_kk_wrap_get(f->st, fx.id, fx.c.id, &gen, &blob, &len), KW_ERR_NOT_FOUND);

    /* The same version again is stale (compare-and-swap). */
    ch.ntrust = 0;
    ch.nwraps = 0;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    ch.roster_version = 4;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    ch.roster_version = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    ch.roster_version = 3;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_OK); /* a plain re-signed roster */
    assert_int_equal(roster_version(f->st, fx.id), 3);
}

static void test_roster_remove_and_rotate(void **state)
{
    fixture *f = *state;
    roster_fx fx;
    roster_setup(f->st, &fx);
    int64_t gen, v;
    uint8_t *blob;
    size_t len;

    /* v2: trust b (wrap of generation 1). */
    static const uint8_t wrap_b1[] = "wrap-gen1-b";
    kw_store_wrap wb = {.device_id = fx.b.id, .wrap = wrap_b1, .wrap_len = sizeof(wrap_b1)};
    const uint8_t(*tb)[KW_STORE_ID_BYTES] = &fx.b.id;
    kw_store_roster_change ch = {.account_id = fx.id, .roster_version = 2, .roster = roster2,
                                 .roster_len = sizeof(roster2), .trust = tb, .ntrust = 1,
                                 .kk_generation = 1, .wraps = &wb, .nwraps = 1};
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_OK);

    /* b signs in twice; a has its first session. */
    kw_store_session s1 = {.account_id = fx.id, .created_at = 10, .expires_at = 100000};
    memcpy(s1.device_id, fx.b.id, KW_STORE_ID_BYTES);
    mk(s1.hash, 32, 0x42424242, 1);
    kw_store_session s2 = s1;
    mk(s2.hash, 32, 0x42424242, 2);
    assert_int_equal(kw_store_session_add(f->st, &s1), KW_OK);
    assert_int_equal(kw_store_session_add(f->st, &s2), KW_OK);

    /* v3: remove b, rotate KK to generation 2 (wrap for a only), new
     * keychain v2, recovery wrap with its verifier. */
    static const uint8_t roster3[] = "roster-v3";
    static const uint8_t chain2[] = "kk2-encrypting-kk1";
    static const uint8_t wrap_a2[] = "wrap-gen2-a";
    static const uint8_t kc2[] = "keychain-v2";
    static const uint8_t rec2[] = "recovery-wrap-gen2";
    uint8_t auth[32], got_auth[32];
    mk(auth, 32, 0x41555448, 1);
    kw_store_wrap wa = {.device_id = fx.a.id, .wrap = wrap_a2, .wrap_len = sizeof(wrap_a2)};
    const uint8_t(*rb)[KW_STORE_ID_BYTES] = &fx.b.id;
    kw_store_roster_change rot = {.account_id = fx.id, .roster_version = 3, .roster = roster3,
                                  .roster_len = sizeof(roster3), .remove = rb, .nremove = 1,
                                  .kk_generation = 2, .kk_chain = chain2, .kk_chain_len = sizeof(chain2),
                                  .wraps = &wa, .nwraps = 1, .keychain_version = 2, .keychain = kc2,
                                  .keychain_len = sizeof(kc2), .recovery_wrap = rec2,
                                  .recovery_wrap_len = sizeof(rec2), .recovery_auth = auth};
    assert_int_equal(kw_store_roster_apply(f->st, &rot), KW_OK);

    assert_int_equal(device_state(f->st, fx.b.id), KW_DEVICE_REMOVED);
    assert_int_equal(device_state(f->st, fx.a.id), KW_DEVICE_TRUSTED);
    kw_store_session got;
    assert_int_equal(kw_store_session_get(f->st, s1.hash, &got), KW_OK);
    assert_true(got.revoked);
    assert_int_equal(kw_store_session_get(f->st, s2.hash, &got), KW_OK);
    assert_true(got.revoked);
    uint8_t ash[32];
    mk(ash, 32, 0x53455331, 1); /* a's session from account creation */
    assert_int_equal(kw_store_session_get(f->st, ash, &got), KW_OK);
    assert_false(got.revoked);
    /* A removed device gets no new session, live or revoked, on either
     * backend (store.h); its still-present twin a does. */
    kw_store_session late = {.account_id = fx.id, .created_at = 10, .expires_at = 99999};
    memcpy(late.device_id, fx.b.id, KW_STORE_ID_BYTES);
    mk(late.hash, 32, 0x4c415445, 1);
    assert_int_equal(kw_store_session_add(f->st, &late), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_session_get(f->st, late.hash, &got), KW_ERR_NOT_FOUND);
    memcpy(late.device_id, fx.a.id, KW_STORE_ID_BYTES);
    assert_int_equal(kw_store_session_add(f->st, &late), KW_OK);
    assert_int_equal(kw_store_session_get(f->st, late.hash, &got), KW_OK);
    assert_false(got.revoked);

    /* The removed device has no wrap (of any generation); a has generation 2. */
    assert_int_equal(kw_store_kk_wrap_get(f->st, fx.id, fx.b.id, &gen, &blob, &len), KW_ERR_NOT_FOUND);
    assert_null(blob);
    assert_int_equal(kw_store_kk_wrap_get(f->st, fx.id, fx.a.id, &gen, &blob, &len), KW_OK);
    assert_int_equal(gen, 2);
    assert_memory_equal(blob, wrap_a2, sizeof(wrap_a2));
    free(blob);
    assert_int_equal(kw_store_kk_chain_get(f->st, fx.id, 2, &blob, &len), KW_OK);
    assert_int_equal(len, sizeof(chain2));
    assert_memory_equal(blob, chain2, sizeof(chain2));
    free(blob);
    assert_int_equal(kw_store_kk_chain_get(f->st, fx.id, 3, &blob, &len), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_keychain_get(f->st, fx.id, &v, &blob, &len), KW_OK);
    assert_int_equal(v, 2);
    assert_memory_equal(blob, kc2, sizeof(kc2));
    free(blob);
    assert_int_equal(kw_store_recovery_get(f->st, fx.id, &gen, &blob, &len, got_auth), KW_OK);
    assert_int_equal(gen, 2);
    assert_memory_equal(blob, rec2, sizeof(rec2));
    assert_memory_equal(got_auth, auth, 32);
    free(blob);

    /* A removed device is never trusted again nor removed twice. */
    kw_store_roster_change again = {.account_id = fx.id, .roster_version = 4, .roster = roster2,
                                    .roster_len = sizeof(roster2), .trust = tb, .ntrust = 1,
                                    .kk_generation = 2};
    assert_int_equal(kw_store_roster_apply(f->st, &again), KW_ERR_CONFLICT);
    again.trust = NULL;
    again.ntrust = 0;
    again.remove = rb;
    again.nremove = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &again), KW_ERR_CONFLICT);
    assert_int_equal(roster_version(f->st, fx.id), 3);

    /* v4: rotate again without a recovery_auth: the wrap is replaced, the
     * stored verifier kept. */
    static const uint8_t chain3[] = "kk3-encrypting-kk2";
    static const uint8_t rec3[] = "recovery-wrap-gen3";
    static const uint8_t wrap_a3[] = "wrap-gen3-a";
    kw_store_wrap wa3 = {.device_id = fx.a.id, .wrap = wrap_a3, .wrap_len = sizeof(wrap_a3)};
    kw_store_roster_change rot3 = {.account_id = fx.id, .roster_version = 4, .roster = roster3,
                                   .roster_len = sizeof(roster3), .kk_generation = 3, .kk_chain = chain3,
                                   .kk_chain_len = sizeof(chain3), .wraps = &wa3, .nwraps = 1,
                                   .recovery_wrap = rec3, .recovery_wrap_len = sizeof(rec3)};
    assert_int_equal(kw_store_roster_apply(f->st, &rot3), KW_OK);
    assert_int_equal(kw_store_recovery_get(f->st, fx.id, &gen, &blob, &len, got_auth), KW_OK);
    assert_int_equal(gen, 3);
    assert_memory_equal(blob, rec3, sizeof(rec3));
    assert_memory_equal(got_auth, auth, 32);
    free(blob);
    assert_int_equal(kw_store_keychain_get(f->st, fx.id, &v, &blob, &len), KW_OK);
    assert_int_equal(v, 2); /* kept */
    free(blob);
}

/* Every rejected change leaves everything as it was. */
static void assert_unchanged(kw_store *st, const roster_fx *fx, int64_t rv, int64_t kcv, int64_t gen)
{
    int64_t v, g;
    uint8_t *blob;
    size_t len;
    assert_int_equal(roster_version(st, fx->id), rv);
    assert_int_equal(kw_store_keychain_get(st, fx->id, &v, &blob, &len), KW_OK);
    assert_int_equal(v, kcv);
    free(blob);
    assert_int_equal(kw_store_kk_wrap_get(st, fx->id, fx->a.id, &g, &blob, &len), KW_OK);
    assert_int_equal(g, gen);
    free(blob);
    assert_int_equal(device_state(st, fx->b.id), KW_DEVICE_PENDING);
    assert_int_equal(device_state(st, fx->c.id), KW_DEVICE_PENDING);
    kw_store_session *ss;
    size_t n;
    assert_int_equal(kw_store_session_list(st, fx->id, &ss, &n), KW_OK);
    for (size_t i = 0; i < n; i++)
        assert_false(ss[i].revoked);
    free(ss);
}

static void test_roster_rejections_are_atomic(void **state)
{
    fixture *f = *state;
    roster_fx fx;
    roster_setup(f->st, &fx);
    static const uint8_t w[] = "wrap";
    static const uint8_t chain[] = "chain";
    static const uint8_t kc[] = "keychain";
    uint8_t auth[32] = {7};
    const uint8_t(*tb)[KW_STORE_ID_BYTES] = &fx.b.id;
    const uint8_t(*ta)[KW_STORE_ID_BYTES] = &fx.a.id;
    kw_store_wrap wb = {.device_id = fx.b.id, .wrap = w, .wrap_len = sizeof(w)};
    kw_store_wrap wc = {.device_id = fx.c.id, .wrap = w, .wrap_len = sizeof(w)};
    kw_store_wrap wa_b[2] = {{.device_id = fx.a.id, .wrap = w, .wrap_len = sizeof(w)}, wb};
    kw_store_roster_change base = {.account_id = fx.id, .roster_version = 2, .roster = roster2,
                                   .roster_len = sizeof(roster2), .kk_generation = 1};
    kw_store_roster_change ch;

    /* Trusting b, with its wrap, and a stale keychain version: the trust and
     * the roster must roll back with the keychain CAS failure. */
    ch = base;
    ch.trust = tb;
    ch.ntrust = 1;
    ch.wraps = &wb;
    ch.nwraps = 1;
    ch.keychain = kc;
    ch.keychain_len = sizeof(kc);
    ch.keychain_version = 3;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    assert_unchanged(f->st, &fx, 1, 1, 1);
    ch.keychain_version = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    assert_unchanged(f->st, &fx, 1, 1, 1);

    /* Trusting b without giving it a wrap. */
    ch = base;
    ch.trust = tb;
    ch.ntrust = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    assert_unchanged(f->st, &fx, 1, 1, 1);
    /* A wrap for a pending device (c is not trusted). */
    ch.wraps = &wc;
    ch.nwraps = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    assert_unchanged(f->st, &fx, 1, 1, 1);
    /* A second wrap of the same generation for a. */
    ch.wraps = wa_b;
    ch.nwraps = 2;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    assert_unchanged(f->st, &fx, 1, 1, 1);
    /* Trusting an already trusted device. */
    ch = base;
    ch.trust = ta;
    ch.ntrust = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    /* Trusting and removing the same device. */
    ch.trust = tb;
    ch.remove = tb;
    ch.nremove = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    /* A device of another account, and an unknown device. */
    int64_t other;
    kw_store_device od;
    assert_int_equal(make_account(f->st, "bob", 20, &other, &od), KW_OK);
    const uint8_t(*to)[KW_STORE_ID_BYTES] = &od.id;
    ch = base;
    ch.remove = to;
    ch.nremove = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_NOT_FOUND);
    assert_int_equal(device_state(f->st, od.id), KW_DEVICE_TRUSTED);
    ch.remove = NULL;
    ch.nremove = 0;
    ch.trust = to;
    ch.ntrust = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_NOT_FOUND);
    kw_store_wrap wo = {.device_id = od.id, .wrap = w, .wrap_len = sizeof(w)};
    ch.trust = NULL;
    ch.ntrust = 0;
    ch.wraps = &wo;
    ch.nwraps = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_NOT_FOUND);
    assert_unchanged(f->st, &fx, 1, 1, 1);

    /* KK generations: skip, stale, rotation without chain, chain without rotation. */
    kw_store_wrap wa = {.device_id = fx.a.id, .wrap = w, .wrap_len = sizeof(w)};
    ch = base;
    ch.kk_generation = 3;
    ch.kk_chain = chain;
    ch.kk_chain_len = sizeof(chain);
    ch.wraps = &wa;
    ch.nwraps = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    ch.kk_generation = 2;
    ch.kk_chain = NULL;
    ch.kk_chain_len = 0;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    ch.kk_generation = 1;
    ch.kk_chain = chain;
    ch.kk_chain_len = sizeof(chain);
    ch.nwraps = 0;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    /* Rotation that leaves trusted a without a wrap of the new generation. */
    ch.kk_generation = 2;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    assert_unchanged(f->st, &fx, 1, 1, 1);
    /* Recovery wrap with no verifier stored and none given. */
    ch = base;
    ch.recovery_wrap = w;
    ch.recovery_wrap_len = sizeof(w);
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    assert_unchanged(f->st, &fx, 1, 1, 1);

    /* Checked before the database: verifier without wrap, keychain version
     * without keychain, counts, sizes, unknown account. */
    ch = base;
    ch.recovery_auth = auth;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    ch = base;
    ch.keychain_version = 2;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    ch = base;
    ch.keychain = kc;
    ch.keychain_len = sizeof(kc);
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    ch = base;
    ch.ntrust = 1; /* trust NULL */
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    ch = base;
    ch.trust = tb;
    ch.ntrust = KW_STORE_CHANGE_MAX + 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_LIMIT);
    uint8_t *big = calloc(1, (size_t)KW_STORE_BLOB_MAX + 1);
    assert_non_null(big);
    ch = base;
    ch.roster = big;
    ch.roster_len = (size_t)KW_STORE_BLOB_MAX + 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_TOO_LARGE);
    ch = base;
    kw_store_wrap wbig = {.device_id = fx.a.id, .wrap = big, .wrap_len = (size_t)KW_STORE_BLOB_MAX + 1};
    ch.wraps = &wbig;
    ch.nwraps = 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_TOO_LARGE);
    ch = base;
    ch.kk_generation = 2;
    ch.kk_chain = big;
    ch.kk_chain_len = (size_t)KW_STORE_BLOB_MAX + 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_TOO_LARGE);
    ch = base;
    ch.keychain = big;
    ch.keychain_version = 2;
    ch.keychain_len = (size_t)KW_STORE_BLOB_MAX + 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_TOO_LARGE);
    ch = base;
    ch.recovery_wrap = big;
    ch.recovery_wrap_len = (size_t)KW_STORE_BLOB_MAX + 1;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_TOO_LARGE);
    free(big);
    ch = base;
    ch.roster = NULL;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    ch = base;
    ch.kk_generation = 0;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_INVALID_ARG);
    ch = base;
    ch.account_id = fx.id + other + 100;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_roster_apply(f->st, NULL), KW_ERR_INVALID_ARG);
    assert_unchanged(f->st, &fx, 1, 1, 1);

    /* And the base change itself still goes through. */
    assert_int_equal(kw_store_roster_apply(f->st, &base), KW_OK);
    assert_int_equal(roster_version(f->st, fx.id), 2);
}

static void test_keychain_cas(void **state)
{
    fixture *f = *state;
    roster_fx fx;
    roster_setup(f->st, &fx);
    static const uint8_t kc2[] = "keychain-2";
    kw_store_roster_change ch = {.account_id = fx.id, .roster_version = 2, .roster = roster2,
                                 .roster_len = sizeof(roster2), .kk_generation = 1,
                                 .keychain_version = 2, .keychain = kc2, .keychain_len = sizeof(kc2)};
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_OK);
    /* A writer that still believes the keychain is at version 1. */
    ch.roster_version = 3;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_CONFLICT);
    assert_int_equal(roster_version(f->st, fx.id), 2);
    ch.keychain_version = 3;
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_OK);
    int64_t v;
    uint8_t *blob;
    size_t len;
    assert_int_equal(kw_store_keychain_get(f->st, fx.id, &v, &blob, &len), KW_OK);
    assert_int_equal(v, 3);
    free(blob);
}

/* ---- sessions ---- */

static void test_sessions(void **state)
{
    fixture *f = *state;
    int64_t id, id2;
    kw_store_device d, d2;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);
    assert_int_equal(make_account(f->st, "bob", 2, &id2, &d2), KW_OK);

    kw_store_session s = {.account_id = id, .created_at = 5000, .expires_at = 9000};
    memcpy(s.device_id, d.id, KW_STORE_ID_BYTES);
    mk(s.hash, 32, 0x5e55, 1);
    assert_int_equal(kw_store_session_add(f->st, &s), KW_OK);
    assert_int_equal(kw_store_session_add(f->st, &s), KW_ERR_CONFLICT);

    kw_store_session got;
    assert_int_equal(kw_store_session_get(f->st, s.hash, &got), KW_OK);
    assert_memory_equal(got.hash, s.hash, 32);
    assert_int_equal(got.account_id, id);
    assert_memory_equal(got.device_id, d.id, KW_STORE_ID_BYTES);
    assert_int_equal(got.created_at, 5000);
    assert_int_equal(got.expires_at, 9000);
    assert_false(got.revoked);
    uint8_t unknown[32];
    mk(unknown, 32, 0x5e55, 99);
    assert_int_equal(kw_store_session_get(f->st, unknown, &got), KW_ERR_NOT_FOUND);

    /* Bound to a device of another account, or to no device: refused. */
    kw_store_session bad = s;
    mk(bad.hash, 32, 0x5e55, 2);
    memcpy(bad.device_id, d2.id, KW_STORE_ID_BYTES);
    assert_int_equal(kw_store_session_add(f->st, &bad), KW_ERR_NOT_FOUND);
    mk(bad.device_id, KW_STORE_ID_BYTES, 0x7777, 7);
    assert_int_equal(kw_store_session_add(f->st, &bad), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_session_add(f->st, NULL), KW_ERR_INVALID_ARG);

    kw_store_session *list;
    size_t n;
    assert_int_equal(kw_store_session_list(f->st, id, &list, &n), KW_OK);
    assert_int_equal(n, 2); /* creation's and s */
    assert_int_equal(list[0].created_at, 1001);
    assert_memory_equal(list[1].hash, s.hash, 32);
    free(list);

    /* Revocation: only by the owning account. */
    assert_int_equal(kw_store_session_revoke(f->st, id2, s.hash), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_session_get(f->st, s.hash, &got), KW_OK);
    assert_false(got.revoked);
    assert_int_equal(kw_store_session_revoke(f->st, id, s.hash), KW_OK);
    assert_int_equal(kw_store_session_get(f->st, s.hash, &got), KW_OK);
    assert_true(got.revoked);
    assert_int_equal(kw_store_session_revoke(f->st, id, unknown), KW_ERR_NOT_FOUND);

    /* Revoking a device's sessions leaves the other account's alone. */
    assert_int_equal(kw_store_session_revoke_device(f->st, d.id), KW_OK);
    assert_int_equal(kw_store_session_list(f->st, id, &list, &n), KW_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(list[i].revoked);
    free(list);
    assert_int_equal(kw_store_session_list(f->st, id2, &list, &n), KW_OK);
    assert_int_equal(n, 1);
    assert_false(list[0].revoked);
    free(list);
    assert_int_equal(kw_store_session_revoke_device(f->st, bad.device_id), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_session_list(f->st, id + id2 + 10, &list, &n), KW_OK);
    assert_int_equal(n, 0);
}

/* ---- logins ---- */

static void test_logins(void **state)
{
    fixture *f = *state;
    uint8_t lid[KW_STORE_ID_BYTES], lid2[KW_STORE_ID_BYTES];
    static const uint8_t st1[] = "expected-mac-and-session-key";
    mk(lid, sizeof(lid), 0x4c4f47, 1);
    mk(lid2, sizeof(lid2), 0x4c4f47, 2);
    int64_t acc = -1;
    uint8_t *got = NULL;
    size_t len = 0;

    assert_int_equal(kw_store_login_put(f->st, lid, 42, st1, sizeof(st1), 1000), KW_OK);
    assert_int_equal(kw_store_login_put(f->st, lid, 42, st1, sizeof(st1), 1000), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_login_take(f->st, lid, 999, &acc, &got, &len), KW_OK);
    assert_int_equal(acc, 42);
    assert_int_equal(len, sizeof(st1));
    assert_memory_equal(got, st1, sizeof(st1));
    free(got);
    /* Single use. */
    assert_int_equal(kw_store_login_take(f->st, lid, 999, &acc, &got, &len), KW_ERR_NOT_FOUND);
    assert_null(got);
    assert_int_equal(acc, 0);

    /* Expired at now == expires_at: refused, and gone. */
    assert_int_equal(kw_store_login_put(f->st, lid2, 0, st1, sizeof(st1), 1000), KW_OK);
    assert_int_equal(kw_store_login_take(f->st, lid2, 1000, &acc, &got, &len), KW_ERR_NOT_FOUND);
    assert_null(got);
    assert_int_equal(kw_store_login_take(f->st, lid2, 10, &acc, &got, &len), KW_ERR_NOT_FOUND);

    assert_int_equal(kw_store_login_put(f->st, lid, 1, st1, (size_t)KW_STORE_BLOB_MAX + 1, 1000),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_login_put(f->st, lid, 1, NULL, 4, 1000), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_login_put(f->st, lid, 1, st1, 0, 1000), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_login_take(f->st, NULL, 1, &acc, &got, &len), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_login_take(f->st, lid, 1, &acc, NULL, &len), KW_ERR_INVALID_ARG);
}

/* ---- approval codes ---- */

static void test_approvals(void **state)
{
    fixture *f = *state;
    int64_t id;
    kw_store_device d;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);
    uint8_t good[32], bad[32], other[32];
    mk(good, 32, 0x600d, 1);
    mk(bad, 32, 0xbad, 1);
    mk(other, 32, 0x0e4e, 1);

    assert_int_equal(kw_store_approval_use(f->st, id, good, 100), KW_ERR_NOT_FOUND);

    /* Three attempts: two misses, then the match deletes it. */
    assert_int_equal(kw_store_approval_put(f->st, id, good, 1000, 3), KW_OK);
    assert_int_equal(kw_store_approval_use(f->st, id, bad, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_store_approval_use(f->st, id, bad, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_store_approval_use(f->st, id, good, 100), KW_OK);
    assert_int_equal(kw_store_approval_use(f->st, id, good, 100), KW_ERR_NOT_FOUND);

    /* Budget exhausted: the right code no longer works. */
    assert_int_equal(kw_store_approval_put(f->st, id, good, 1000, 2), KW_OK);
    assert_int_equal(kw_store_approval_use(f->st, id, bad, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_store_approval_use(f->st, id, bad, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_store_approval_use(f->st, id, good, 100), KW_ERR_NOT_FOUND);

    /* Expiry. */
    assert_int_equal(kw_store_approval_put(f->st, id, good, 1000, 5), KW_OK);
    assert_int_equal(kw_store_approval_use(f->st, id, good, 1000), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_approval_use(f->st, id, good, 10), KW_ERR_NOT_FOUND);

    /* put() replaces the previous code and its budget. */
    assert_int_equal(kw_store_approval_put(f->st, id, good, 1000, 1), KW_OK);
    assert_int_equal(kw_store_approval_put(f->st, id, other, 1000, 5), KW_OK);
    assert_int_equal(kw_store_approval_use(f->st, id, good, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_store_approval_use(f->st, id, other, 100), KW_OK);

    /* The code is per account. */
    int64_t id2;
    kw_store_device d2;
    assert_int_equal(make_account(f->st, "bob", 2, &id2, &d2), KW_OK);
    assert_int_equal(kw_store_approval_put(f->st, id, good, 1000, 5), KW_OK);
    assert_int_equal(kw_store_approval_use(f->st, id2, good, 100), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_approval_use(f->st, id, good, 100), KW_OK);

    assert_int_equal(kw_store_approval_put(f->st, id, good, 1000, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_approval_put(f->st, id, NULL, 1000, 3), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_approval_put(f->st, id + id2 + 5, good, 1000, 3), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_approval_use(f->st, id, NULL, 100), KW_ERR_INVALID_ARG);
}

static void test_expire(void **state)
{
    fixture *f = *state;
    int64_t id;
    kw_store_device d;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);
    uint8_t l1[16], l2[16], l3[16], h[32];
    mk(l1, 16, 1, 1);
    mk(l2, 16, 1, 2);
    mk(l3, 16, 1, 3);
    mk(h, 32, 2, 1);
    static const uint8_t st1[] = "state";
    assert_int_equal(kw_store_login_put(f->st, l1, id, st1, sizeof(st1), 100), KW_OK);
    assert_int_equal(kw_store_login_put(f->st, l2, id, st1, sizeof(st1), 200), KW_OK);
    assert_int_equal(kw_store_login_put(f->st, l3, id, st1, sizeof(st1), 300), KW_OK);
    assert_int_equal(kw_store_approval_put(f->st, id, h, 150, 3), KW_OK);
    size_t removed = 99;
    assert_int_equal(kw_store_expire(f->st, 50, &removed), KW_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(kw_store_expire(f->st, 200, &removed), KW_OK);
    assert_int_equal(removed, 3); /* l1, l2 (at its expiry), the code */
    int64_t acc;
    uint8_t *got;
    size_t len;
    assert_int_equal(kw_store_login_take(f->st, l3, 250, &acc, &got, &len), KW_OK);
    free(got);
    assert_int_equal(kw_store_approval_use(f->st, id, h, 100), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_expire(f->st, 1000, NULL), KW_ERR_INVALID_ARG);
}

static void test_null_store(void **state)
{
    (void)state;
    int v;
    int64_t g;
    uint8_t *b;
    size_t n;
    uint8_t id[16] = {0}, auth[32];
    kw_store_account a;
    assert_int_equal(kw_store_schema_version(NULL, &v), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_account_get(NULL, 1, &a), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_kk_wrap_get(NULL, 1, id, &g, &b, &n), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_recovery_get(NULL, 1, &g, &b, &n, auth), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_session_revoke_device(NULL, id), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_expire(NULL, 1, &n), KW_ERR_INVALID_ARG);
}

/* ---- storage failures ---- */

/* Captures what the store logs to stderr while fn runs. */
static char *capture_stderr(void (*fn)(fixture *), fixture *f)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/stderr.log", f->dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *log = fopen(p, "w+");
    assert_non_null(log);
    dup2(fileno(log), STDERR_FILENO);
    fn(f);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(log);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, log);
    buf[n] = '\0';
    fclose(log);
    return buf;
}

static const uint8_t secret_wrap[] = "SECRET-RECOVERY-WRAP-CONTENT";

static void failing_roster_apply(fixture *f)
{
    int64_t id;
    kw_store_account a;
    assert_int_equal(kw_store_account_get_by_name(f->st, "alice", &a), KW_OK);
    id = a.id;
    kw_store_account_clear(&a);
    kw_store_device b;
    mk_device(&b, 2, 2000);
    static const uint8_t w[] = "wrap";
    uint8_t auth[32] = {1};
    const uint8_t(*tb)[KW_STORE_ID_BYTES] = &b.id;
    kw_store_wrap wb = {.device_id = b.id, .wrap = w, .wrap_len = sizeof(w)};
    kw_store_roster_change ch = {.account_id = id, .roster_version = 2, .roster = roster2,
                                 .roster_len = sizeof(roster2), .trust = tb, .ntrust = 1,
                                 .kk_generation = 1, .wraps = &wb, .nwraps = 1,
                                 .recovery_wrap = secret_wrap, .recovery_wrap_len = sizeof(secret_wrap),
                                 .recovery_auth = auth};
    /* The last step of the change hits a missing table. */
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_ERR_STORAGE);
}

static void test_storage_error_rolls_back_and_logs(void **state)
{
    fixture *f = *state;
    roster_fx fx;
    roster_setup(f->st, &fx);
    /* Sabotage the schema behind the store's back. */
    raw_sql(f, "DROP TABLE recovery");
    char *log = capture_stderr(failing_roster_apply, f);
    /* Nothing of the change is stored: roster, trust and wrap rolled back. */
    assert_int_equal(roster_version(f->st, fx.id), 1);
    assert_int_equal(device_state(f->st, fx.b.id), KW_DEVICE_PENDING);
    int64_t gen;
    uint8_t *blob;
    size_t len;
    assert_int_equal(kw_store_kk_wrap_get(f->st, fx.id, fx.b.id, &gen, &blob, &len), KW_ERR_NOT_FOUND);
    /* One line per failure, in the agreed shape, with no blob contents. */
    assert_non_null(strstr(log, f->pg ? "level=error event=store op=roster_apply pg=\""
                                      : "level=error event=store op=roster_apply sqlite=\""));
    assert_non_null(strstr(log, "recovery"));
    assert_null(strstr(log, "SECRET"));
    assert_non_null(strchr(log, '\n'));
    /* The connection is usable afterwards (no transaction left open). */
    assert_int_equal(kw_store_roster_apply(f->st, &(kw_store_roster_change){
                                                      .account_id = fx.id, .roster_version = 2,
                                                      .roster = roster2, .roster_len = sizeof(roster2),
                                                      .kk_generation = 1}),
                     KW_OK);
    assert_int_equal(roster_version(f->st, fx.id), 2);
}

/* ---- kill -9 in the middle of a stream of writes ---- */

#define CRASH_ROUNDS 3
#define CRASH_MAX 5000 /* writes a child attempts per round */

static void crash_child(const char *path, int wfd, uint32_t round)
{
    kw_store *st = NULL;
    if (kw_store_open(path, &st) != KW_OK)
        _exit(2);
    for (uint32_t i = 0; i < CRASH_MAX; i++) {
        uint32_t n = round * CRASH_MAX + i;
        char name[32];
        int64_t id;
        kw_store_device d;
        snprintf(name, sizeof(name), "crash-%u", n);
        if (make_account(st, name, 100 + n, &id, &d) != KW_OK)
            _exit(3);
        dprintf(wfd, "A %u %lld\n", i, (long long)id);
        kw_store_session s = {.account_id = id, .created_at = n, .expires_at = 100000};
        memcpy(s.device_id, d.id, KW_STORE_ID_BYTES);
        mk(s.hash, 32, 0xc4a54, n);
        if (kw_store_session_add(st, &s) != KW_OK)
            _exit(4);
        dprintf(wfd, "S %u\n", i);
    }
    _exit(0);
}

/* Each round: a child writes, the parent kills it -9 after `kill_after`
 * acknowledgements, reopens the store and checks every acknowledged write,
 * the all-or-nothing shape of the in-flight account and the file's
 * integrity. The next round writes on top of the crashed file. */
static void test_crash_kill9(void **state)
{
    fixture *f = *state;
    kw_store_close(&f->st);
    static int64_t acked_id[CRASH_MAX];
    static bool acked_session[CRASH_MAX];
    size_t total = 0, in_flight = 0;

    for (uint32_t round = 0; round < CRASH_ROUNDS; round++) {
        size_t kill_after = 40 + 57 * round;
        memset(acked_id, 0, sizeof(acked_id));
        memset(acked_session, 0, sizeof(acked_session));
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(f->uri, fds[1], round);
        }
        close(fds[1]);
        FILE *in = fdopen(fds[0], "r");
        assert_non_null(in);
        size_t acks = 0;
        bool killed = false;
        char line[128];
        while (fgets(line, sizeof(line), in) != NULL) {
            unsigned i;
            long long id;
            if (sscanf(line, "A %u %lld", &i, &id) == 2 && i < CRASH_MAX)
                acked_id[i] = id;
            else if (sscanf(line, "S %u", &i) == 1 && i < CRASH_MAX)
                acked_session[i] = true;
            else
                fail_msg("bad ack line: %s", line);
            /* Lines still in the pipe after the kill were written after a
             * call returned 0: they are acknowledged writes too. */
            if (++acks == kill_after && !killed) {
                kill(pid, SIGKILL);
                killed = true;
            }
        }
        fclose(in);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(killed);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
        size_t accounts = 0, sessions = 0;
        for (uint32_t i = 0; i < CRASH_MAX; i++) {
            uint32_t n = round * CRASH_MAX + i;
            char name[32];
            kw_store_account a;
            snprintf(name, sizeof(name), "crash-%u", n);
            int r = kw_store_account_get_by_name(f->st, name, &a);
            if (acked_id[i] != 0) {
                assert_int_equal(r, KW_OK);
                assert_int_equal(a.id, acked_id[i]);
                accounts++;
            }
            if (r == KW_OK && acked_id[i] == 0)
                in_flight++; /* committed, killed before its acknowledgement */
            if (r == KW_OK) {
                /* Acknowledged or in flight: all of the creation or none. */
                int64_t v, g;
                uint8_t *b;
                size_t len;
                assert_int_equal(kw_store_keychain_get(f->st, a.id, &v, &b, &len), KW_OK);
                free(b);
                assert_int_equal(kw_store_roster_latest(f->st, a.id, &v, &b, &len), KW_OK);
                free(b);
                uint8_t dev[KW_STORE_ID_BYTES];
                mk(dev, sizeof(dev), 0x44455631, 100 + n);
                assert_int_equal(kw_store_kk_wrap_get(f->st, a.id, dev, &g, &b, &len), KW_OK);
                free(b);
                kw_store_account_clear(&a);
            } else {
                assert_int_equal(r, KW_ERR_NOT_FOUND);
            }
            if (acked_session[i]) {
                uint8_t h[32];
                kw_store_session s;
                mk(h, 32, 0xc4a54, n);
                assert_int_equal(kw_store_session_get(f->st, h, &s), KW_OK);
                assert_int_equal(s.account_id, acked_id[i]);
                sessions++;
            }
        }
        assert_int_equal(accounts + sessions, acks);
        assert_true(acks >= kill_after);
        total += acks;
        kw_store_close(&f->st);
        if (!f->pg) {
            char *ok = raw_text(f, "PRAGMA integrity_check");
            assert_non_null(ok);
            assert_string_equal(ok, "ok");
            free(ok);
            char *fk = raw_text(f, "SELECT count(*) FROM pragma_foreign_key_check");
            assert_string_equal(fk, "0");
            free(fk);
        }
        /* Every invariant of the schema holds after the crash. */
        kw_store *chk = NULL;
        int64_t problems = -1;
        assert_int_equal(kw_store_open(f->uri, &chk), KW_OK);
        assert_int_equal(kw_store_check(chk, NULL, NULL, &problems), KW_OK);
        assert_int_equal(problems, 0);
        kw_store_close(&chk);
    }
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
    print_message("crash: %d kill -9 rounds, %zu acknowledged writes all present, %zu unacknowledged"
                  " accounts complete\n", CRASH_ROUNDS, total, in_flight);
}

/* ---- several writer threads ---- */

#define THREADS 8
#define PER_THREAD 40

typedef struct {
    kw_store *st;
    int64_t account_id;
    uint8_t device_id[KW_STORE_ID_BYTES];
    uint32_t t;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (uint32_t i = 0; i < PER_THREAD; i++) {
        kw_store_session s = {.account_id = w->account_id, .created_at = i, .expires_at = 100000};
        memcpy(s.device_id, w->device_id, KW_STORE_ID_BYTES);
        mk(s.hash, 32, 0x7000 + w->t, i);
        if (kw_store_session_add(w->st, &s) != KW_OK)
            w->failures++;
        kw_store_session got;
        if (kw_store_session_get(w->st, s.hash, &got) != KW_OK)
            w->failures++;
        kw_store_device_touch(w->st, w->device_id, (int64_t)i);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    fixture *f = *state;
    int64_t id;
    kw_store_device d;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (uint32_t t = 0; t < THREADS; t++) {
        args[t] = (worker_arg){.st = f->st, .account_id = id, .t = t};
        memcpy(args[t].device_id, d.id, KW_STORE_ID_BYTES);
        assert_int_equal(pthread_create(&th[t], NULL, worker, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    kw_store_session *list;
    size_t n;
    assert_int_equal(kw_store_session_list(f->st, id, &list, &n), KW_OK);
    assert_int_equal(n, 1 + THREADS * PER_THREAD);
    free(list);
    for (uint32_t t = 0; t < THREADS; t++)
        for (uint32_t i = 0; i < PER_THREAD; i++) {
            uint8_t h[32];
            kw_store_session s;
            mk(h, 32, 0x7000 + t, i);
            assert_int_equal(kw_store_session_get(f->st, h, &s), KW_OK);
        }
}

/* ---- consistency check (keywardd check) ---- */

typedef struct {
    char names[512];
} check_seen;

static void check_collect(void *ud, const kw_store_check_rule *rule, int64_t violations)
{
    check_seen *c = ud;
    if (violations > 0) {
        size_t n = strlen(c->names);
        snprintf(c->names + n, sizeof(c->names) - n, "%s=%lld;", rule->name, (long long)violations);
    }
}

static void test_check_finds_broken_invariants(void **state)
{
    fixture *f = *state;
    roster_fx fx;
    int64_t problems = -1;
    check_seen seen = {{0}};
    roster_setup(f->st, &fx);
    int64_t id2;
    kw_store_device d2;
    assert_int_equal(make_account(f->st, "bob", 7, &id2, &d2), KW_OK);
    assert_int_equal(kw_store_check(f->st, check_collect, &seen, &problems), KW_OK);
    assert_int_equal(problems, 0);
    assert_string_equal(seen.names, "");
    assert_int_equal(kw_store_check(f->st, NULL, NULL, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_check(NULL, NULL, NULL, &problems), KW_ERR_INVALID_ARG);

    /* Break three invariants behind the store's back: a trusted device
     * without its KK wrap, an account without a keychain, a hole in bob's
     * roster versions. */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "DELETE FROM kk_wraps WHERE account_id = %lld; DELETE FROM keychains WHERE account_id = %lld;"
             "INSERT INTO rosters (account_id, version, roster) VALUES (%lld, 3, %s)",
             (long long)fx.id, (long long)id2, (long long)id2, f->pg ? "'\\x33'::bytea" : "x'33'");
    raw_sql(f, sql);
    problems = -1;
    assert_int_equal(kw_store_check(f->st, check_collect, &seen, &problems), KW_OK);
    assert_int_equal(problems, 3);
    assert_string_equal(seen.names, "roster_contiguous=1;account_keychain=1;trusted_wrap=1;");
}

/* ---- leader lease ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_leader_lease(void **state)
{
    fixture *f = *state;
    kw_store *other = NULL; /* a second node on the same store */
    bool held = false;
    assert_int_equal(kw_store_open(f->uri, &other), KW_OK);
    assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-a", 400, &held), KW_OK);
    assert_true(held);
    if (!f->pg) {
        /* A SQLite store serves one keywardd: the lease is always held. */
        assert_int_equal(kw_store_leader_try(other, "kt-publisher", "node-b", 400, &held), KW_OK);
        assert_true(held);
    } else {
        /* Exactly one holder; renewal keeps it; expiry hands it over. */
        assert_int_equal(kw_store_leader_try(other, "kt-publisher", "node-b", 400, &held), KW_OK);
        assert_false(held);
        assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-a", 400, &held), KW_OK);
        assert_true(held);
        assert_int_equal(kw_store_leader_try(other, "other-task", "node-b", 400, &held), KW_OK);
        assert_true(held); /* leases are independent */
        sleep_ms(200);
        assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-a", 400, &held), KW_OK);
        assert_true(held);
        sleep_ms(250); /* 450 ms after the first take, 250 after the renewal */
        assert_int_equal(kw_store_leader_try(other, "kt-publisher", "node-b", 400, &held), KW_OK);
        assert_false(held);
        sleep_ms(250); /* node-a stopped renewing: its lease runs out */
        assert_int_equal(kw_store_leader_try(other, "kt-publisher", "node-b", 400, &held), KW_OK);
        assert_true(held);
        assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-a", 400, &held), KW_OK);
        assert_false(held);
        /* Release by a non-holder changes nothing; by the holder frees it. */
        assert_int_equal(kw_store_leader_release(f->st, "kt-publisher", "node-a"), KW_OK);
        assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-a", 400, &held), KW_OK);
        assert_false(held);
        assert_int_equal(kw_store_leader_release(other, "kt-publisher", "node-b"), KW_OK);
        assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-a", 400, &held), KW_OK);
        assert_true(held);
    }
    char longname[KW_STORE_LEASE_NAME_MAX + 2];
    memset(longname, 'l', sizeof(longname));
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(kw_store_leader_try(f->st, longname, "a", 10, &held), KW_ERR_TOO_LARGE);
    assert_false(held);
    assert_int_equal(kw_store_leader_try(f->st, "", "a", 10, &held), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_leader_try(f->st, "x", NULL, 10, &held), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_leader_try(f->st, "x", "a", 0, &held), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_leader_try(f->st, "x", "a", 10, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_leader_release(NULL, "x", "a"), KW_ERR_INVALID_ARG);
    kw_store_close(&other);
}

/* A holder process renews "kt-publisher" every EPOCH_MS with ttl 1.5
 * epochs and is killed -9; this process tries every half epoch: it must
 * hold the lease within 2 epochs of the kill. */
#define EPOCH_MS 200

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_leader_handover_kill9(void **state)
{
    fixture *f = *state;
    bool held = false;
    int fds[2];
    if (!f->pg)
        skip(); /* one node per SQLite store: nothing to hand over */
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kw_store *st = NULL;
        close(fds[0]);
        if (kw_store_open(f->uri, &st) != KW_OK)
            _exit(2);
        for (int i = 0;; i++) {
            bool h = false;
            if (kw_store_leader_try(st, "kt-publisher", "node-child", EPOCH_MS * 3 / 2, &h) != KW_OK)
                _exit(3);
            if (h && i == 0 && write(fds[1], "H", 1) != 1)
                _exit(4);
            sleep_ms(EPOCH_MS);
        }
    }
    close(fds[1]);
    char c = 0;
    assert_int_equal(read(fds[0], &c, 1), 1); /* the child holds it */
    close(fds[0]);
    sleep_ms(3 * EPOCH_MS); /* a few renewals */
    assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-parent", EPOCH_MS * 3 / 2, &held), KW_OK);
    assert_false(held);
    kill(pid, SIGKILL);
    int64_t killed = mono_ms();
    waitpid(pid, NULL, 0);
    int64_t took = -1;
    while (mono_ms() - killed < 10 * EPOCH_MS) {
        assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-parent", EPOCH_MS * 3 / 2, &held),
                         KW_OK);
        if (held) {
            took = mono_ms() - killed;
            break;
        }
        sleep_ms(EPOCH_MS / 2);
    }
    print_message("lease handover %lld ms after kill -9 (epoch %d ms, bound %d ms)\n", (long long)took,
                  EPOCH_MS, 2 * EPOCH_MS);
    assert_true(took >= 0);
    assert_true(took <= 2 * EPOCH_MS + 50); /* + the calls' own latency */
}

/* ---- kill -9 of the database server itself (PostgreSQL) ---- */

#define SRV_CRASH_MAX 20000

typedef struct {
    kw_store *st;
    atomic_bool stop;
    atomic_size_t attempted;
    int64_t acked_id[SRV_CRASH_MAX];
    bool acked_session[SRV_CRASH_MAX];
    atomic_size_t acks, errors;
} srv_writer;

static void *srv_write(void *p)
{
    srv_writer *w = p;
    for (uint32_t i = 0; i < SRV_CRASH_MAX && !atomic_load(&w->stop); i++) {
        char name[32];
        int64_t id = 0;
        kw_store_device d;
        atomic_store(&w->attempted, (size_t)i + 1);
        snprintf(name, sizeof(name), "srv-crash-%u", i);
        if (make_account(w->st, name, 50000 + i, &id, &d) != KW_OK) {
            atomic_fetch_add(&w->errors, 1);
            sleep_ms(100); /* the server is down: one try (and log line) per 100 ms */
            continue;
        }
        w->acked_id[i] = id;
        atomic_fetch_add(&w->acks, 1);
        kw_store_session s = {.account_id = id, .created_at = i, .expires_at = 100000};
        memcpy(s.device_id, d.id, KW_STORE_ID_BYTES);
        mk(s.hash, 32, 0x5eb, i);
        if (kw_store_session_add(w->st, &s) == KW_OK) {
            w->acked_session[i] = true;
            atomic_fetch_add(&w->acks, 1);
        } else {
            atomic_fetch_add(&w->errors, 1);
        }
    }
    return NULL;
}

/* A writer streams account creations and sessions while the whole
 * PostgreSQL cluster is killed -9 and restarted (crash recovery replays
 * its WAL): every write acknowledged before the crash is there afterwards,
 * every in-flight account is all or nothing, the consistency check is
 * clean, and the store's connection pool recovers by itself. Needs
 * KEYWARD_TEST_PG_CRASH (a command that crashes and restarts the cluster;
 * scripts/test-pg sets it to `scripts/pg-cluster crash DIR`). */
static void test_pg_server_kill9(void **state)
{
    fixture *f = *state;
    const char *crash = getenv("KEYWARD_TEST_PG_CRASH");
    if (!f->pg || crash == NULL || crash[0] == '\0')
        skip();
    srv_writer *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->st = f->st;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, srv_write, w), 0);
    while (atomic_load(&w->acks) < 60)
        sleep_ms(10);
    size_t before = atomic_load(&w->acks);
    assert_int_equal(system(crash), 0);
    size_t at_restart = atomic_load(&w->acks);
    while (atomic_load(&w->acks) < at_restart + 20)
        sleep_ms(10); /* the pool reconnects on its own */
    atomic_store(&w->stop, true);
    pthread_join(th, NULL);

    size_t present = 0, in_flight = 0;
    size_t n = atomic_load(&w->attempted);
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        kw_store_account a;
        snprintf(name, sizeof(name), "srv-crash-%u", i);
        int r = kw_store_account_get_by_name(f->st, name, &a);
        if (w->acked_id[i] != 0) {
            assert_int_equal(r, KW_OK);
            assert_int_equal(a.id, w->acked_id[i]);
            present++;
        } else if (r == KW_OK) {
            in_flight++;
        } else {
            assert_int_equal(r, KW_ERR_NOT_FOUND);
        }
        if (r == KW_OK) {
            int64_t v;
            uint8_t *b;
            size_t len;
            assert_int_equal(kw_store_keychain_get(f->st, a.id, &v, &b, &len), KW_OK);
            free(b);
            kw_store_account_clear(&a);
        }
        if (w->acked_session[i]) {
            uint8_t h[32];
            kw_store_session s;
            mk(h, 32, 0x5eb, i);
            assert_int_equal(kw_store_session_get(f->st, h, &s), KW_OK);
            present++;
        }
    }
    assert_int_equal(present, atomic_load(&w->acks));
    int64_t problems = -1;
    assert_int_equal(kw_store_check(f->st, NULL, NULL, &problems), KW_OK);
    assert_int_equal(problems, 0);
    print_message("server kill -9: %zu acknowledged writes (%zu before the crash) all present, %zu refused"
                  " while it was down, %zu in-flight accounts complete\n",
                  present, before, atomic_load(&w->errors), in_flight);
    free(w);
}

/* ---- mailbox cursor under concurrent senders on two handles ---- */

#define MB_WRITERS 4
#define MB_PER_WRITER 40

typedef struct {
    kw_store *st;
    uint32_t w;
    const uint8_t *device;
    int failures;
} mb_writer;

static atomic_int mb_writers_left;

static void *mb_write(void *p)
{
    mb_writer *w = p;
    for (uint32_t i = 0; i < MB_PER_WRITER; i++) {
        uint8_t id[KW_STORE_MSG_IDBYTES], body[48];
        mk(id, sizeof(id), 0x3b0 + w->w, i);
        mk(body, sizeof(body), 0xb0d, w->w * 1000 + i);
        const uint8_t(*devs)[KW_STORE_ID_BYTES] = (const uint8_t(*)[KW_STORE_ID_BYTES])w->device;
        if (kw_store_msg_put(w->st, id, 1, body, sizeof(body), devs, 1, 1000) != KW_OK)
            w->failures++;
    }
    atomic_fetch_sub(&mb_writers_left, 1);
    return NULL;
}

/* Senders on two store handles ("nodes") fill one device's mailbox while a
 * reader pages through it with the seq cursor: every acknowledged message
 * is read exactly once, in strictly increasing seq — none is skipped by a
 * lower seq committing after a higher one was read. */
static void test_mailbox_cursor_two_nodes(void **state)
{
    fixture *f = *state;
    kw_store *other = NULL;
    uint8_t device[KW_STORE_ID_BYTES];
    mk(device, sizeof(device), 0xdeb, 1);
    assert_int_equal(kw_store_open(f->uri, &other), KW_OK);
    int64_t n0 = -1;
    int r = kw_store_msg_count(f->st, device, &n0);
    if (r == KW_ERR_UNSUPPORTED) {
        kw_store_close(&other);
        skip();
    }
    assert_int_equal(r, KW_OK);
    pthread_t th[MB_WRITERS];
    mb_writer args[MB_WRITERS];
    atomic_store(&mb_writers_left, MB_WRITERS);
    for (uint32_t w = 0; w < MB_WRITERS; w++) {
        args[w] = (mb_writer){.st = w % 2 == 0 ? f->st : other, .w = w, .device = device};
        assert_int_equal(pthread_create(&th[w], NULL, mb_write, &args[w]), 0);
    }
    static bool seen[MB_WRITERS][MB_PER_WRITER];
    memset(seen, 0, sizeof(seen));
    int64_t cursor = 0;
    size_t total = 0;
    for (;;) {
        bool done = atomic_load(&mb_writers_left) == 0; /* read before the fetch */
        kw_store_msg_item *items = NULL;
        size_t n = 0;
        bool more = false;
        assert_int_equal(kw_store_msg_fetch(f->st, device, cursor, 16, 1 << 20, &items, &n, &more), KW_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(items[i].seq > cursor);
            cursor = items[i].seq;
            uint32_t w = (uint32_t)items[i].msg_id[0] | (uint32_t)items[i].msg_id[1] << 8;
            uint32_t k = (uint32_t)items[i].msg_id[4] | (uint32_t)items[i].msg_id[5] << 8;
            w -= 0x3b0;
            assert_true(w < MB_WRITERS && k < MB_PER_WRITER);
            assert_false(seen[w][k]);
            seen[w][k] = true;
            total++;
        }
        kw_store_msg_items_free(&items, n);
        if (done && n == 0)
            break;
    }
    for (int w = 0; w < MB_WRITERS; w++) {
        pthread_join(th[w], NULL);
        assert_int_equal(args[w].failures, 0);
    }
    assert_int_equal(total, MB_WRITERS * MB_PER_WRITER);
    kw_store_close(&other);
}

/* ---- two handles ("nodes") racing on one account ---- */

#define NODE_THREADS 6
#define NODE_CHANGES 15

typedef struct {
    kw_store *st;
    int64_t account_id;
    int applied, conflicts, errors;
} node_arg;

/* Each thread applies roster changes version current+1 until it has
 * NODE_CHANGES of its own; a lost race (CONFLICT) re-reads the version. */
static void *node_worker(void *p)
{
    node_arg *w = p;
    while (w->applied < NODE_CHANGES && w->errors == 0) {
        int64_t v = 0;
        uint8_t *b = NULL;
        size_t n = 0;
        if (kw_store_roster_latest(w->st, w->account_id, &v, &b, &n) != KW_OK) {
            w->errors++;
            break;
        }
        free(b);
        kw_store_roster_change ch = {.account_id = w->account_id, .roster_version = v + 1,
                                     .roster = blob_roster1, .roster_len = sizeof(blob_roster1),
                                     .kk_generation = 1};
        int r = kw_store_roster_apply(w->st, &ch);
        if (r == KW_OK)
            w->applied++;
        else if (r == KW_ERR_CONFLICT)
            w->conflicts++;
        else
            w->errors++;
    }
    return NULL;
}

static void test_two_nodes_race_roster(void **state)
{
    fixture *f = *state;
    kw_store *other = NULL;
    int64_t id;
    kw_store_device d;
    assert_int_equal(make_account(f->st, "alice", 1, &id, &d), KW_OK);
    assert_int_equal(kw_store_open(f->uri, &other), KW_OK);
    pthread_t th[NODE_THREADS];
    node_arg args[NODE_THREADS];
    for (int t = 0; t < NODE_THREADS; t++) {
        args[t] = (node_arg){.st = t % 2 == 0 ? f->st : other, .account_id = id};
        assert_int_equal(pthread_create(&th[t], NULL, node_worker, &args[t]), 0);
    }
    int applied = 0, conflicts = 0;
    for (int t = 0; t < NODE_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].errors, 0);
        applied += args[t].applied;
        conflicts += args[t].conflicts;
    }
    /* Every acknowledged change is a distinct version: none was lost or
     * applied twice, and the versions are contiguous. */
    assert_int_equal(applied, NODE_THREADS * NODE_CHANGES);
    assert_int_equal(roster_version(f->st, id), 1 + applied);
    assert_int_equal(roster_version(other, id), 1 + applied);
    int64_t problems = -1;
    assert_int_equal(kw_store_check(other, NULL, NULL, &problems), KW_OK);
    assert_int_equal(problems, 0);
    print_message("two nodes: %d roster changes applied, %d lost races refused\n", applied, conflicts);
    kw_store_close(&other);
}

static void test_uri_redacted(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"postgres://kw:s3cret@db.example:5432/keyward", "postgres://kw:***@db.example:5432/keyward"},
        {"postgresql://h/db?password=s3cret&sslmode=require", "postgresql://h/db?password=***&sslmode=require"},
        {"postgres://kw@h/db", "postgres://kw@h/db"},
        {"postgres://h/db@x", "postgres://h/db@x"},
        {"sqlite:/var/lib/keyward/keyward.db", "sqlite:/var/lib/keyward/keyward.db"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kw_store_uri_redacted(cases[i][0], out, sizeof(out));
        assert_string_equal(out, cases[i][1]);
        assert_null(strstr(out, "s3cret"));
    }
    kw_store_uri_redacted("postgres://kw:s3cret@h/db", out, 12); /* truncated, still no password */
    assert_null(strstr(out, "s3c"));
    assert_true(strlen(out) < 12);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_open_uri_forms),
        T(test_not_a_database),
        T(test_migrations_idempotent),
        T(test_migration_from_v1),
        T(test_migration_refuses_newer_or_foreign),
        T(test_account_create_and_get),
        T(test_account_create_conflicts_are_atomic),
        T(test_account_argument_limits),
        T(test_account_opaque_and_totp),
        T(test_devices),
        T(test_roster_trust_device),
        T(test_roster_remove_and_rotate),
        T(test_roster_rejections_are_atomic),
        T(test_keychain_cas),
        T(test_sessions),
        T(test_logins),
        T(test_approvals),
        T(test_expire),
        cmocka_unit_test(test_null_store),
        cmocka_unit_test(test_uri_redacted),
        T(test_storage_error_rolls_back_and_logs),
        T(test_crash_kill9),
        T(test_concurrent_writers),
        T(test_check_finds_broken_invariants),
        T(test_leader_lease),
        T(test_leader_handover_kill9),
        T(test_pg_server_kill9),
        T(test_two_nodes_race_roster),
        T(test_mailbox_cursor_two_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
