/*
 * server/store/sqlite.c — the SQLite backend: connection set-up, schema and
 * migrations, the statement cache, error mapping and the small helpers the
 * operation files (sqlite_account.c, sqlite_session.c) share.
 *
 * Durability: WAL journal with synchronous=FULL, so COMMIT returns only
 * after the WAL is synced; every write is one transaction (single
 * statements in autocommit, multi-row changes in BEGIN IMMEDIATE … COMMIT),
 * so an acknowledged write survives kill -9 and nothing is half-written.
 * secure_delete overwrites deleted rows (login state, approval codes).
 * Concurrency: see sqlite_internal.h (one connection, one mutex).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyward/err.h"
#include "store/sqlite_internal.h"

#define SQ_BUSY_TIMEOUT_MS 10000
#define SQ_APPLICATION_ID 0x4b575244 /* "KWRD": refuses to migrate someone else's database */

/* ---- schema ---- */

/* Version 1: every table of store.h. Binary values are BLOBs, times are
 * INTEGER Unix seconds, device ids are 16-byte BLOBs. Composite foreign
 * keys (device_id, account_id) make it impossible to bind a session or a
 * KK wrap to another account's device. */
static const char sq_schema_v1[] =
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  opaque_record BLOB NOT NULL,"
    "  account_pk BLOB NOT NULL CHECK (typeof(account_pk) = 'blob' AND length(account_pk) = 32),"
    "  totp_secret BLOB,"
    "  totp_last_step INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE devices ("
    "  id BLOB PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  identity_pk BLOB NOT NULL UNIQUE CHECK (typeof(identity_pk) = 'blob' AND length(identity_pk) = 32),"
    "  hpke_pk BLOB NOT NULL CHECK (typeof(hpke_pk) = 'blob' AND length(hpke_pk) = 32),"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
    "  created_at INTEGER NOT NULL,"
    "  last_seen_at INTEGER NOT NULL,"
    "  UNIQUE (id, account_id)"
    ");"
    "CREATE INDEX devices_by_account ON devices(account_id, created_at);"
    "CREATE TABLE rosters ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL CHECK (version >= 1),"
    "  roster BLOB NOT NULL,"
    "  PRIMARY KEY (account_id, version)"
    ") WITHOUT ROWID;"
    "CREATE TABLE keychains ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL CHECK (version >= 1),"
    "  keychain BLOB NOT NULL"
    ");"
    "CREATE TABLE kk_generations ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  generation INTEGER NOT NULL CHECK (generation >= 1),"
    "  chain BLOB," /* KK_gen encrypting KK_{gen-1}; NULL for generation 1 */
    "  PRIMARY KEY (account_id, generation)"
    ") WITHOUT ROWID;"
    "CREATE TABLE kk_wraps ("
    "  account_id INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL,"
    "  device_id BLOB NOT NULL,"
    "  wrap BLOB NOT NULL,"
    "  PRIMARY KEY (account_id, generation, device_id),"
    "  FOREIGN KEY (account_id, generation) REFERENCES kk_generations(account_id, generation)"
    "    ON DELETE CASCADE,"
    "  FOREIGN KEY (device_id, account_id) REFERENCES devices(id, account_id) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX kk_wraps_by_device ON kk_wraps(device_id);"
    "CREATE TABLE recovery ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  generation INTEGER NOT NULL,"
    "  wrap BLOB NOT NULL,"
    "  auth BLOB NOT NULL CHECK (typeof(auth) = 'blob' AND length(auth) = 32)"
    ");"
    "CREATE TABLE sessions ("
    "  hash BLOB PRIMARY KEY CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  account_id INTEGER NOT NULL,"
    "  device_id BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
    "  FOREIGN KEY (device_id, account_id) REFERENCES devices(id, account_id) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX sessions_by_account ON sessions(account_id, created_at);"
    "CREATE INDEX sessions_by_device ON sessions(device_id);"
    /* No foreign key on logins.account_id: a login for an unknown name runs a
     * fake OPAQUE exchange and may park its state under a non-account id. */
    "CREATE TABLE logins ("
    "  id BLOB PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  account_id INTEGER NOT NULL,"
    "  state BLOB NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE approvals ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  hash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  expires_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL CHECK (attempts >= 1)"
    ");";

/* Version 2: indexes for the expiry sweep (kw_store_expire). */
static const char sq_schema_v2[] =
    "CREATE INDEX logins_by_expiry ON logins(expires_at);"
    "CREATE INDEX approvals_by_expiry ON approvals(expires_at);";

/* Applied in order, each in its own transaction; never edit a shipped step,
 * append a new one. */
static const char *const sq_migrations[] = {sq_schema_v1, sq_schema_v2};
#define SQ_SCHEMA_VERSION ((int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])))

/* Domain components (see sq_component in sqlite_internal.h): one line per
 * domain file, migrated after the core schema, each step in its own
 * transaction. */
static const sq_component *const sq_components[] = {
    NULL, /* placeholder so the array is never empty; skipped */
    &sq_web_component,
    &sq_seckey_component,
    &sq_msg_component,
    &sq_adp_component,
    &sq_record_component,
    &sq_kt_component,
};

/* ---- statements ---- */

#define ACC_COLS "id, name, opaque_record, account_pk, totp_secret, totp_last_step, created_at"
#define DEV_COLS "id, account_id, name, identity_pk, hpke_pk, state, created_at, last_seen_at"
#define SES_COLS "hash, account_id, device_id, created_at, expires_at, revoked"

static const char *const sq_sql[SQ_NSTMT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_VERSION_GET] = "SELECT version FROM schema_version WHERE id = 1",

    [SQ_ACC_INSERT] = "INSERT INTO accounts (name, opaque_record, account_pk, totp_last_step, created_at)"
                      " VALUES (?, ?, ?, 0, ?)",
    [SQ_ACC_BY_NAME] = "SELECT " ACC_COLS " FROM accounts WHERE name = ?",
    [SQ_ACC_BY_ID] = "SELECT " ACC_COLS " FROM accounts WHERE id = ?",
    [SQ_ACC_EXISTS] = "SELECT 1 FROM accounts WHERE id = ?",
    [SQ_ACC_SET_OPAQUE] = "UPDATE accounts SET opaque_record = ? WHERE id = ?",
    [SQ_ACC_SET_TOTP] = "UPDATE accounts SET totp_secret = ? WHERE id = ?",
    [SQ_ACC_USE_STEP] = "UPDATE accounts SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2",

    [SQ_DEV_INSERT] = "INSERT INTO devices (" DEV_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [SQ_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE id = ?",
    [SQ_DEV_LIST] = "SELECT " DEV_COLS " FROM devices WHERE account_id = ? ORDER BY created_at, rowid",
    [SQ_DEV_TOUCH] = "UPDATE devices SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at < ?2",
    [SQ_DEV_EXISTS] = "SELECT 1 FROM devices WHERE id = ?",
    [SQ_DEV_STATE] = "SELECT state FROM devices WHERE id = ? AND account_id = ?",
    [SQ_DEV_SET_STATE] = "UPDATE devices SET state = ? WHERE id = ? AND account_id = ?",
    [SQ_DEV_UNWRAPPED] = "SELECT count(*) FROM devices AS d WHERE d.account_id = ?1 AND d.state = 1"
                         " AND NOT EXISTS (SELECT 1 FROM kk_wraps AS w WHERE w.account_id = ?1"
                         " AND w.generation = ?2 AND w.device_id = d.id)",

    [SQ_ROSTER_INSERT] = "INSERT INTO rosters (account_id, version, roster) VALUES (?, ?, ?)",
    [SQ_ROSTER_CUR] = "SELECT coalesce(max(version), 0) FROM rosters WHERE account_id = ?",
    [SQ_ROSTER_LATEST] = "SELECT version, roster FROM rosters WHERE account_id = ?"
                         " ORDER BY version DESC LIMIT 1",
    [SQ_ROSTER_GET] = "SELECT roster FROM rosters WHERE account_id = ? AND version = ?",
    [SQ_KC_INSERT] = "INSERT INTO keychains (account_id, version, keychain) VALUES (?, ?, ?)",
    [SQ_KC_GET] = "SELECT version, keychain FROM keychains WHERE account_id = ?",
    [SQ_KC_CAS] = "UPDATE keychains SET version = ?2, keychain = ?3"
                  " WHERE account_id = ?1 AND version = ?2 - 1",
    [SQ_KK_CUR] = "SELECT coalesce(max(generation), 0) FROM kk_generations WHERE account_id = ?",
    [SQ_KK_INSERT] = "INSERT INTO kk_generations (account_id, generation, chain) VALUES (?, ?, ?)",
    [SQ_KK_CHAIN] = "SELECT chain FROM kk_generations WHERE account_id = ? AND generation = ?"
                    " AND chain IS NOT NULL",
    [SQ_WRAP_INSERT] = "INSERT INTO kk_wraps (account_id, generation, device_id, wrap) VALUES (?, ?, ?, ?)",
    [SQ_WRAP_GET] = "SELECT w.generation, w.wrap FROM kk_wraps AS w"
                    " WHERE w.account_id = ?1 AND w.device_id = ?2 AND w.generation ="
                    " (SELECT max(generation) FROM kk_generations WHERE account_id = ?1)",
    [SQ_WRAP_DEL_DEVICE] = "DELETE FROM kk_wraps WHERE device_id = ?",
    [SQ_REC_GET] = "SELECT generation, wrap, auth FROM recovery WHERE account_id = ?",
    [SQ_REC_UPSERT] = "INSERT INTO recovery (account_id, generation, wrap, auth) VALUES (?, ?, ?, ?)"
                      " ON CONFLICT (account_id) DO UPDATE SET generation = excluded.generation,"
                      " wrap = excluded.wrap, auth = excluded.auth",
    [SQ_REC_SET_WRAP] = "UPDATE recovery SET generation = ?2, wrap = ?3 WHERE account_id = ?1",

    [SQ_SES_INSERT] = "INSERT INTO sessions (" SES_COLS ") VALUES (?, ?, ?, ?, ?, ?)",
    [SQ_SES_GET] = "SELECT " SES_COLS " FROM sessions WHERE hash = ?",
    [SQ_SES_LIST] = "SELECT " SES_COLS " FROM sessions WHERE account_id = ? ORDER BY created_at, hash",
    [SQ_SES_REVOKE] = "UPDATE sessions SET revoked = 1 WHERE hash = ? AND account_id = ?",
    [SQ_SES_REVOKE_DEV] = "UPDATE sessions SET revoked = 1 WHERE device_id = ?",

    [SQ_LOGIN_INSERT] = "INSERT INTO logins (id, account_id, state, expires_at) VALUES (?, ?, ?, ?)",
    [SQ_LOGIN_GET] = "SELECT account_id, state, expires_at FROM logins WHERE id = ?",
    [SQ_LOGIN_DEL] = "DELETE FROM logins WHERE id = ?",
    [SQ_LOGIN_EXPIRE] = "DELETE FROM logins WHERE expires_at <= ?",
    [SQ_APR_PUT] = "INSERT INTO approvals (account_id, hash, expires_at, attempts) VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (account_id) DO UPDATE SET hash = excluded.hash,"
                   " expires_at = excluded.expires_at, attempts = excluded.attempts",
    [SQ_APR_GET] = "SELECT hash, expires_at, attempts FROM approvals WHERE account_id = ?",
    [SQ_APR_DEL] = "DELETE FROM approvals WHERE account_id = ?",
    [SQ_APR_SPEND] = "UPDATE approvals SET attempts = attempts - 1 WHERE account_id = ?",
    [SQ_APR_EXPIRE] = "DELETE FROM approvals WHERE expires_at <= ?",
};

/* ---- logging and error mapping ---- */

/* One line, the message's quotes and control characters replaced; SQLite's
 * messages name tables and columns, never bound values. */
static void sq_log(const char *op, int rc, const char *msg)
{
    char clean[256];
    size_t i = 0;
    for (; msg != NULL && msg[i] != '\0' && i + 1 < sizeof(clean); i++) {
        char c = msg[i];
        clean[i] = (c == '"' || c == '\\' || (unsigned char)c < 0x20) ? '\'' : c;
    }
    clean[i] = '\0';
    fprintf(stderr, "level=error event=store op=%s sqlite=\"%s\" code=%d\n", op != NULL ? op : "?",
            clean, rc);
}

int sq_err(sq_store *s, int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return KW_OK;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return KW_ERR_CONFLICT;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return KW_ERR_NOT_FOUND;
    case SQLITE_NOMEM:
        return KW_ERR_NOMEM;
    default:
        sq_log(s->op, rc, s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return KW_ERR_STORAGE;
    }
}

/* ---- locking and statements ---- */

sq_store *sq_lock(kw_store *st, const char *op)
{
    sq_store *s = (sq_store *)st;
    pthread_mutex_lock(&s->lock);
    s->op = op;
    return s;
}

void sq_unlock(sq_store *s)
{
    for (int i = 0; i < SQ_NSTMT; i++) {
        if (s->stmts[i] != NULL) {
            sqlite3_reset(s->stmts[i]);
            sqlite3_clear_bindings(s->stmts[i]); /* drop pointers to the caller's buffers */
        }
    }
    for (size_t i = 0; i < SQ_QCACHE; i++) {
        if (s->qcache[i].stmt != NULL) {
            sqlite3_reset(s->qcache[i].stmt);
            sqlite3_clear_bindings(s->qcache[i].stmt);
        }
    }
    if (!sqlite3_get_autocommit(s->db)) {
        int rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            sq_log(s->op, rc, sqlite3_errmsg(s->db));
    }
    s->op = NULL;
    pthread_mutex_unlock(&s->lock);
}

sqlite3_stmt *sq_stmt(sq_store *s, enum sq_stmt_id id)
{
    if (s->stmts[id] == NULL) {
        int rc = sqlite3_prepare_v3(s->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            sq_log(s->op, rc, sqlite3_errmsg(s->db));
            s->stmts[id] = NULL;
            return NULL;
        }
    }
    return s->stmts[id];
}

static int sq_vbind(sqlite3_stmt *stmt, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 0; fmt[i] != '\0' && rc == SQLITE_OK; i++) {
        int col = i + 1;
        switch (fmt[i]) {
        case 'i':
            rc = sqlite3_bind_int64(stmt, col, va_arg(ap, int64_t));
            break;
        case 'b': {
            const uint8_t *p = va_arg(ap, const uint8_t *);
            size_t len = va_arg(ap, size_t);
            if (p == NULL)
                rc = sqlite3_bind_null(stmt, col);
            else if (len > KW_STORE_BLOB_MAX)
                rc = SQLITE_TOOBIG;
            else
                rc = sqlite3_bind_blob(stmt, col, p, (int)len, SQLITE_STATIC);
            break;
        }
        case 't':
            rc = sqlite3_bind_text(stmt, col, va_arg(ap, const char *), -1, SQLITE_STATIC);
            break;
        case 'I':
            rc = sqlite3_bind_blob(stmt, col, va_arg(ap, const uint8_t *), KW_STORE_ID_BYTES,
                                   SQLITE_STATIC);
            break;
        case 'H':
            rc = sqlite3_bind_blob(stmt, col, va_arg(ap, const uint8_t *), 32, SQLITE_STATIC);
            break;
        default:
            rc = SQLITE_MISUSE;
            break;
        }
    }
    return rc;
}

int sq_bind(sqlite3_stmt *stmt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sq_vbind(stmt, fmt, ap);
    va_end(ap);
    return rc;
}

static int sq_vrun_stmt(sq_store *s, sqlite3_stmt *stmt, bool *row, const char *fmt, va_list ap)
{
    *row = false;
    if (stmt == NULL)
        return KW_ERR_STORAGE;
    sqlite3_reset(stmt);
    int rc = sq_vbind(stmt, fmt, ap);
    if (rc != SQLITE_OK)
        return sq_err(s, rc);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *row = true;
        return KW_OK;
    }
    if (rc == SQLITE_DONE)
        return KW_OK;
    int r = sq_err(s, rc);
    sqlite3_reset(stmt);
    return r;
}

static int sq_vrun(sq_store *s, enum sq_stmt_id id, bool *row, const char *fmt, va_list ap)
{
    return sq_vrun_stmt(s, sq_stmt(s, id), row, fmt, ap);
}

int sq_run(sq_store *s, enum sq_stmt_id id, bool *row, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sq_vrun(s, id, row, fmt, ap);
    va_end(ap);
    return r;
}

int sq_scalar(sq_store *s, enum sq_stmt_id id, int64_t *value, const char *fmt, ...)
{
    bool row;
    va_list ap;
    *value = 0;
    va_start(ap, fmt);
    int r = sq_vrun(s, id, &row, fmt, ap);
    va_end(ap);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        *value = sqlite3_column_int64(s->stmts[id], 0);
    if (s->stmts[id] != NULL)
        sqlite3_reset(s->stmts[id]);
    return r;
}

int sq_exec(sq_store *s, enum sq_stmt_id id, int *changes, const char *fmt, ...)
{
    bool row;
    va_list ap;
    if (changes != NULL)
        *changes = 0;
    va_start(ap, fmt);
    int r = sq_vrun(s, id, &row, fmt, ap);
    va_end(ap);
    if (r == KW_OK && changes != NULL)
        *changes = sqlite3_changes(s->db);
    if (s->stmts[id] != NULL)
        sqlite3_reset(s->stmts[id]);
    return r;
}

int sq_begin(sq_store *s)
{
    return sq_exec(s, SQ_BEGIN, NULL, "");
}

int sq_commit(sq_store *s)
{
    return sq_exec(s, SQ_COMMIT, NULL, "");
}

/* ---- domain statements (cached by SQL text address) ---- */

sqlite3_stmt *sq_stmt_q(sq_store *s, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) * (size_t)0x9E3779B97F4A7C15ull;
    for (size_t n = 0; n < SQ_QCACHE; n++) {
        sq_qslot *slot = &s->qcache[(h + n) % SQ_QCACHE];
        if (slot->sql == sql)
            return slot->stmt;
        if (slot->sql != NULL)
            continue;
        if (s->qcount + 1 >= SQ_QCACHE) {
            sq_log(s->op, 0, "statement cache full");
            return NULL;
        }
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
        if (rc != SQLITE_OK) {
            sq_log(s->op, rc, sqlite3_errmsg(s->db));
            return NULL;
        }
        slot->sql = sql;
        slot->stmt = stmt;
        s->qcount++;
        return stmt;
    }
    return NULL;
}

int sq_run_q(sq_store *s, const char *sql, bool *row, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sq_vrun_stmt(s, sq_stmt_q(s, sql), row, fmt, ap);
    va_end(ap);
    return r;
}

int sq_exec_q(sq_store *s, const char *sql, int *changes, const char *fmt, ...)
{
    bool row;
    va_list ap;
    if (changes != NULL)
        *changes = 0;
    sqlite3_stmt *stmt = sq_stmt_q(s, sql);
    va_start(ap, fmt);
    int r = sq_vrun_stmt(s, stmt, &row, fmt, ap);
    va_end(ap);
    if (r == KW_OK && changes != NULL)
        *changes = sqlite3_changes(s->db);
    if (stmt != NULL)
        sqlite3_reset(stmt);
    return r;
}

int sq_scalar_q(sq_store *s, const char *sql, int64_t *value, const char *fmt, ...)
{
    bool row;
    va_list ap;
    *value = 0;
    sqlite3_stmt *stmt = sq_stmt_q(s, sql);
    va_start(ap, fmt);
    int r = sq_vrun_stmt(s, stmt, &row, fmt, ap);
    va_end(ap);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        *value = sqlite3_column_int64(stmt, 0);
    if (stmt != NULL)
        sqlite3_reset(stmt);
    return r;
}

int sq_col_dup(sqlite3_stmt *stmt, int col, uint8_t **out, size_t *len)
{
    const void *p = sqlite3_column_blob(stmt, col);
    int n = sqlite3_column_bytes(stmt, col);
    *out = NULL;
    *len = 0;
    if (n < 0)
        return KW_ERR_INTERNAL;
    uint8_t *copy = malloc(n > 0 ? (size_t)n : 1);
    if (copy == NULL)
        return KW_ERR_NOMEM;
    if (n > 0) {
        if (p == NULL) { /* SQLite ran out of memory converting the value */
            free(copy);
            return KW_ERR_NOMEM;
        }
        memcpy(copy, p, (size_t)n);
    }
    *out = copy;
    *len = (size_t)n;
    return KW_OK;
}

void sq_col_fixed(sqlite3_stmt *stmt, int col, uint8_t *dst, size_t n)
{
    const void *p = sqlite3_column_blob(stmt, col);
    int got = sqlite3_column_bytes(stmt, col);
    if (p != NULL && got >= 0 && (size_t)got == n)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

/* ---- open, migrate, close ---- */

static int sq_pragma_int(sq_store *s, const char *sql, int64_t *value)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            *value = sqlite3_column_int64(stmt, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_ERROR;
        }
    }
    int r = rc == SQLITE_OK ? KW_OK : sq_err(s, rc);
    sqlite3_finalize(stmt);
    return r;
}

static int sq_exec_sql(sq_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? KW_OK : sq_err(s, rc);
}

/* One migration step per transaction. The version is re-read inside each
 * BEGIN IMMEDIATE, so two processes opening the same new file at once apply
 * every step exactly once. */
static int sq_migrate(sq_store *s)
{
    int r = KW_ERR_INTERNAL;
    s->op = "migrate";
    for (;;) {
        if ((r = sq_exec_sql(s, "BEGIN IMMEDIATE")) != KW_OK)
            goto out;
        r = sq_exec_sql(s, "CREATE TABLE IF NOT EXISTS schema_version ("
                           " id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);"
                           "INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, 0);");
        if (r != KW_OK)
            goto out;
        int64_t version = 0, appid = 0;
        if ((r = sq_pragma_int(s, "SELECT version FROM schema_version WHERE id = 1", &version)) != KW_OK)
            goto out;
        if ((r = sq_pragma_int(s, "PRAGMA application_id", &appid)) != KW_OK)
            goto out;
        if (appid != 0 && appid != SQ_APPLICATION_ID) {
            sq_log(s->op, 0, "not a keyward database (application_id differs)");
            r = KW_ERR_UNSUPPORTED;
            goto out;
        }
        if (version < 0 || version > SQ_SCHEMA_VERSION) {
            sq_log(s->op, 0, "database schema is newer than this keywardd");
            r = KW_ERR_UNSUPPORTED;
            goto out;
        }
        if (version == SQ_SCHEMA_VERSION) {
            r = sq_exec_sql(s, "COMMIT");
            goto out;
        }
        if (appid == 0) {
            char sql[64];
            snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", SQ_APPLICATION_ID);
            if ((r = sq_exec_sql(s, sql)) != KW_OK)
                goto out;
        }
        if ((r = sq_exec_sql(s, sq_migrations[version])) != KW_OK)
            goto out;
        if ((r = sq_exec_sql(s, "UPDATE schema_version SET version = version + 1 WHERE id = 1")) != KW_OK)
            goto out;
        if ((r = sq_exec_sql(s, "COMMIT")) != KW_OK)
            goto out;
    }
out:
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->op = NULL;
    return r;
}

int sq_component_version(sq_store *s, const char *name, int64_t *version)
{
    *version = 0;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT version FROM schema_components WHERE name = ?1", -1,
                                &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int64(stmt, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    int r = rc == SQLITE_OK ? KW_OK : sq_err(s, rc);
    sqlite3_finalize(stmt);
    return r;
}

/* Brings one component to its newest step, one transaction per step,
 * re-reading the version inside BEGIN IMMEDIATE like sq_migrate. */
static int sq_migrate_component(sq_store *s, const sq_component *c)
{
    int r = KW_OK;
    for (;;) {
        if ((r = sq_exec_sql(s, "BEGIN IMMEDIATE")) != KW_OK)
            break;
        r = sq_exec_sql(s, "CREATE TABLE IF NOT EXISTS schema_components ("
                           " name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;");
        int64_t version = 0;
        if (r == KW_OK)
            r = sq_component_version(s, c->name, &version);
        if (r != KW_OK)
            break;
        if (version < 0 || version > c->count) {
            sq_log(s->op, 0, "a schema component is newer than this keywardd");
            r = KW_ERR_UNSUPPORTED;
            break;
        }
        if (version == c->count) {
            r = sq_exec_sql(s, "COMMIT");
            break;
        }
        if ((r = sq_exec_sql(s, c->steps[version])) != KW_OK)
            break;
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(s->db,
                                    "INSERT INTO schema_components (name, version) VALUES (?1, ?2)"
                                    " ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                                    -1, &stmt, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(stmt, 1, c->name, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(stmt, 2, version + 1);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        sqlite3_finalize(stmt);
        if (rc != SQLITE_DONE) {
            r = sq_err(s, rc);
            break;
        }
        if ((r = sq_exec_sql(s, "COMMIT")) != KW_OK)
            break;
    }
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

static int sq_migrate_components(sq_store *s)
{
    int r = KW_OK;
    s->op = "migrate";
    for (size_t i = 0; i < sizeof(sq_components) / sizeof(sq_components[0]) && r == KW_OK; i++)
        if (sq_components[i] != NULL)
            r = sq_migrate_component(s, sq_components[i]);
    s->op = NULL;
    return r;
}

static int sq_configure(sq_store *s)
{
    int r;
    s->op = "open";
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SQ_BUSY_TIMEOUT_MS);
    r = sq_exec_sql(s, "PRAGMA foreign_keys = ON;"
                       "PRAGMA synchronous = FULL;"
                       "PRAGMA secure_delete = ON;");
    if (r != KW_OK)
        return r;
    /* journal_mode answers with the mode in force: it must be WAL. */
    sqlite3_stmt *stmt = NULL;
    bool wal = false;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(stmt, 0);
        wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
        rc = SQLITE_OK;
    }
    r = rc == SQLITE_OK ? KW_OK : sq_err(s, rc);
    sqlite3_finalize(stmt);
    if (r != KW_OK)
        return r;
    if (!wal) {
        sq_log(s->op, 0, "journal_mode=WAL refused");
        return KW_ERR_STORAGE;
    }
    int64_t fk = 0, sync = 0;
    if ((r = sq_pragma_int(s, "PRAGMA foreign_keys", &fk)) != KW_OK)
        return r;
    if ((r = sq_pragma_int(s, "PRAGMA synchronous", &sync)) != KW_OK)
        return r;
    if (fk != 1 || sync < 2) {
        sq_log(s->op, 0, "foreign_keys or synchronous=FULL not in force");
        return KW_ERR_STORAGE;
    }
    return KW_OK;
}

static void sq_close(kw_store *st)
{
    sq_store *s = (sq_store *)st;
    if (s == NULL)
        return;
    for (int i = 0; i < SQ_NSTMT; i++) {
        sqlite3_finalize(s->stmts[i]);
        s->stmts[i] = NULL;
    }
    for (size_t i = 0; i < SQ_QCACHE; i++) {
        sqlite3_finalize(s->qcache[i].stmt);
        s->qcache[i].stmt = NULL;
        s->qcache[i].sql = NULL;
    }
    if (s->db != NULL) {
        int rc = sqlite3_close(s->db);
        if (rc != SQLITE_OK)
            sq_log("close", rc, sqlite3_errstr(rc));
    }
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->gc_lock);
    pthread_cond_destroy(&s->gc_cond);
    free(s);
}

static int sq_schema_version(kw_store *st, int *version)
{
    sq_store *s = sq_lock(st, "schema_version");
    bool row;
    int r = sq_run(s, SQ_VERSION_GET, &row, "");
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        *version = sqlite3_column_int(s->stmts[SQ_VERSION_GET], 0);
    sq_unlock(s);
    return r;
}

static const kw_store_ops sq_ops = {
    .name = "sqlite",
    .record = &sq_record_ops,
    .admin = &sq_admin_ops,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .account_create = sq_account_create,
    .account_get_by_name = sq_account_get_by_name,
    .account_get = sq_account_get,
    .account_set_opaque = sq_account_set_opaque,
    .account_set_totp = sq_account_set_totp,
    .account_use_totp_step = sq_account_use_totp_step,
    .device_add = sq_device_add,
    .device_get = sq_device_get,
    .device_list = sq_device_list,
    .device_touch = sq_device_touch,
    .roster_apply = sq_roster_apply,
    .roster_latest = sq_roster_latest,
    .roster_get = sq_roster_get,
    .keychain_get = sq_keychain_get,
    .kk_wrap_get = sq_kk_wrap_get,
    .kk_chain_get = sq_kk_chain_get,
    .recovery_get = sq_recovery_get,
    .session_add = sq_session_add,
    .session_get = sq_session_get,
    .session_list = sq_session_list,
    .session_revoke = sq_session_revoke,
    .session_revoke_device = sq_session_revoke_device,
    .login_put = sq_login_put,
    .login_take = sq_login_take,
    .approval_put = sq_approval_put,
    .approval_use = sq_approval_use,
    .expire = sq_expire,
    .web = &sq_web_ops,
    .seckey = &sq_seckey_ops,
    .adp = &sq_adp_ops,
    .msg = &sq_msg_ops,
    .kt = &sq_kt_ops,
};

int kw_store_sqlite_open(const char *path, kw_store **out)
{
    int r = KW_ERR_INTERNAL;
    *out = NULL;
    sq_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KW_ERR_NOMEM;
    s->base.ops = &sq_ops;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return KW_ERR_SYSTEM;
    }
    if (pthread_mutex_init(&s->gc_lock, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return KW_ERR_SYSTEM;
    }
    if (pthread_cond_init(&s->gc_cond, NULL) != 0) {
        pthread_mutex_destroy(&s->gc_lock);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return KW_ERR_SYSTEM;
    }
    /* Create the file owner-only before SQLite does (with the umask);
     * the -wal and -shm files inherit its mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "level=error event=store op=open error=\"%s\"\n", strerror(errno));
        r = KW_ERR_STORAGE;
        goto out;
    }
    close(fd);
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        s->op = "open";
        r = rc == SQLITE_NOMEM ? KW_ERR_NOMEM : KW_ERR_STORAGE;
        sq_log(s->op, rc, s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto out;
    }
    if ((r = sq_configure(s)) != KW_OK)
        goto out;
    if ((r = sq_migrate(s)) != KW_OK)
        goto out;
    if ((r = sq_migrate_components(s)) != KW_OK)
        goto out;
    *out = &s->base;
    s = NULL; /* transferred */
    r = KW_OK;
out:
    if (s != NULL)
        sq_close(&s->base);
    return r;
}

int sq_collect_rows(sq_store *s, sqlite3_stmt *stmt, int r, bool row, size_t elem_size,
                    sq_row_reader read, void **out, size_t *count)
{
    uint8_t *list = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *count = 0;
    while (r == KW_OK && row) {
        if (n == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            uint8_t *grown = reallocarray(list, ncap, elem_size);
            if (grown == NULL) {
                r = KW_ERR_NOMEM;
                break;
            }
            list = grown;
            cap = ncap;
        }
        read(stmt, list + n * elem_size);
        n++;
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            r = sq_err(s, rc);
        row = rc == SQLITE_ROW;
    }
    if (r != KW_OK) {
        free(list);
        return r;
    }
    *out = list; /* transferred */
    *count = n;
    return KW_OK;
}
