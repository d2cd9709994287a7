/*
 * server/store/sqlite_internal.h — shared by the SQLite backend's files
 * (sqlite.c: connection, schema, helpers; sqlite_account.c: accounts,
 * devices, rosters, keychain, KK; sqlite_session.c: sessions, logins,
 * approvals).
 *
 * Concurrency: one connection per store, guarded by one mutex that every
 * operation holds from start to end (sq_lock/sq_unlock). This is the
 * simplest correct design: a single writer is all SQLite allows anyway, the
 * connection's prepared statements and error state are never shared between
 * threads mid-use, and a transaction is never interleaved with another
 * thread's statements. busy_timeout covers other processes on the same file.
 *
 * Statements are prepared once (lazily, SQLITE_PREPARE_PERSISTENT) into a
 * cache indexed by enum sq_stmt_id; sq_unlock resets every statement and
 * rolls back any transaction still open, so an error path can simply return.
 */
#ifndef KEYWARD_SERVER_STORE_SQLITE_INTERNAL_H
#define KEYWARD_SERVER_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "store/backend.h"

enum sq_stmt_id {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_VERSION_GET,
    /* accounts */
    SQ_ACC_INSERT,
    SQ_ACC_BY_NAME,
    SQ_ACC_BY_ID,
    SQ_ACC_EXISTS,
    SQ_ACC_SET_OPAQUE,
    SQ_ACC_SET_TOTP,
    SQ_ACC_USE_STEP,
    /* devices */
    SQ_DEV_INSERT,
    SQ_DEV_GET,
    SQ_DEV_LIST,
    SQ_DEV_TOUCH,
    SQ_DEV_EXISTS,
    SQ_DEV_STATE,
    SQ_DEV_SET_STATE,
    SQ_DEV_UNWRAPPED,
    /* rosters, keychain, KK, recovery */
    SQ_ROSTER_INSERT,
    SQ_ROSTER_CUR,
    SQ_ROSTER_LATEST,
    SQ_ROSTER_GET,
    SQ_KC_INSERT,
    SQ_KC_GET,
    SQ_KC_CAS,
    SQ_KK_CUR,
    SQ_KK_INSERT,
    SQ_KK_CHAIN,
    SQ_WRAP_INSERT,
    SQ_WRAP_GET,
    SQ_WRAP_DEL_DEVICE,
    SQ_REC_GET,
    SQ_REC_UPSERT,
    SQ_REC_SET_WRAP,
    /* sessions */
    SQ_SES_INSERT,
    SQ_SES_GET,
    SQ_SES_LIST,
    SQ_SES_REVOKE,
    SQ_SES_REVOKE_DEV,
    /* logins, approvals */
    SQ_LOGIN_INSERT,
    SQ_LOGIN_GET,
    SQ_LOGIN_DEL,
    SQ_LOGIN_EXPIRE,
    SQ_APR_PUT,
    SQ_APR_GET,
    SQ_APR_DEL,
    SQ_APR_SPEND,
    SQ_APR_EXPIRE,
    SQ_NSTMT
};

/* A session insert waiting for its group commit (sqlite_session.c). */
typedef struct sq_gc_item {
    const kw_store_session *session;
    int result;
    bool done;
    struct sq_gc_item *next;
} sq_gc_item;

/* Statements of the domain files (sqlite_<domain>.c), cached by the address
 * of their SQL text (a static string): see sq_stmt_q. */
#define SQ_QCACHE 512
typedef struct {
    const char *sql;
    sqlite3_stmt *stmt;
} sq_qslot;

typedef struct {
    kw_store base; /* first: a kw_store * points here */
    sqlite3 *db;
    pthread_mutex_t lock;
    const char *op; /* the running operation, for log lines */
    sqlite3_stmt *stmts[SQ_NSTMT];
    sq_qslot qcache[SQ_QCACHE];
    size_t qcount;
    /* Group commit of session inserts: callers queue under gc_lock; one of
     * them at a time (the leader) commits everything queued in one
     * transaction, so concurrent sign-ins share one WAL sync. */
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;
    sq_gc_item *gc_head, *gc_tail;
    bool gc_leader;
} sq_store;

/* Takes the store's lock and names the operation for the log. */
sq_store *sq_lock(kw_store *st, const char *op);
/* Resets every statement, rolls back an unfinished transaction, unlocks. */
void sq_unlock(sq_store *s);

/* The cached statement, prepared on first use; NULL (logged) on failure. */
sqlite3_stmt *sq_stmt(sq_store *s, enum sq_stmt_id id);

/* Maps an SQLite result code: UNIQUE/PRIMARY KEY constraint → CONFLICT,
 * FOREIGN KEY → NOT_FOUND, NOMEM → NOMEM, anything else is logged (one line,
 * no values) and becomes KW_ERR_STORAGE. */
int sq_err(sq_store *s, int rc);

/* Binds parameters from 1 on, by format character:
 *   'i' int64_t   'b' const uint8_t *, size_t (NULL binds SQL NULL)
 *   't' const char *   'I' a KW_STORE_ID_BYTES id   'H' a 32-byte hash/key
 * Returns an SQLite result code. */
int sq_bind(sqlite3_stmt *stmt, const char *fmt, ...);

/* Prepares id, binds fmt and steps once. Returns KW_OK with SQLITE_ROW
 * available (*row true) or done (*row false), or a mapped error. The
 * statement stays un-reset for reading columns. */
int sq_run(sq_store *s, enum sq_stmt_id id, bool *row, const char *fmt, ...);

/* Reads one row of stmt into the element at elem. */
typedef void (*sq_row_reader)(sqlite3_stmt *stmt, void *elem);

/* Collects every remaining row of a statement that sq_run has just stepped
 * (r and row are sq_run's results) into a malloc'd array of elem_size-byte
 * elements, growing geometrically. On success *out is transferred to the
 * caller; on error nothing is returned. Called with the store lock held. */
int sq_collect_rows(sq_store *s, sqlite3_stmt *stmt, int r, bool row, size_t elem_size,
                    sq_row_reader read, void **out, size_t *count);

/* Like sq_run for statements that return no rows; *changes (optional) gets
 * the number of rows changed. Resets the statement. */
int sq_exec(sq_store *s, enum sq_stmt_id id, int *changes, const char *fmt, ...);

/* Runs a one-row, one-column query into *value; KW_ERR_NOT_FOUND when it
 * returns no row. Resets the statement. */
int sq_scalar(sq_store *s, enum sq_stmt_id id, int64_t *value, const char *fmt, ...);

/* Transactions: BEGIN IMMEDIATE / COMMIT (mapped errors). */
int sq_begin(sq_store *s);
int sq_commit(sq_store *s);

/* Column helpers: a malloc'd copy of a BLOB column (1 byte allocated for an
 * empty one) — KW_ERR_NOMEM on failure; a fixed-size copy (zeroes when the
 * stored length differs, which the schema's CHECKs rule out). */
int sq_col_dup(sqlite3_stmt *stmt, int col, uint8_t **out, size_t *len);
void sq_col_fixed(sqlite3_stmt *stmt, int col, uint8_t *dst, size_t n);

/* ---- domain extensions ----
 *
 * A domain (security keys, key transparency, messages, records, ...) keeps
 * its SQL in its own file as static strings and uses the _q variants below,
 * which cache statements by the address of the SQL text. It declares its
 * schema as a component: a name and an append-only list of migration steps,
 * tracked per name in the schema_components table, so domains migrate
 * independently of each other and of the core schema. Register the component
 * in sq_components[] (sqlite.c). */
typedef struct {
    const char *name;         /* e.g. "seckeys"; never renamed once shipped */
    const char *const *steps; /* SQL scripts; never edit a shipped step, append */
    int count;
} sq_component;

/* The cached statement for this SQL text (same pointer → same statement),
 * prepared on first use; NULL (logged) on failure or when the cache is full. */
sqlite3_stmt *sq_stmt_q(sq_store *s, const char *sql);
/* sq_run / sq_exec / sq_scalar for a domain statement. */
int sq_run_q(sq_store *s, const char *sql, bool *row, const char *fmt, ...);
int sq_exec_q(sq_store *s, const char *sql, int *changes, const char *fmt, ...);
int sq_scalar_q(sq_store *s, const char *sql, int64_t *value, const char *fmt, ...);
/* The version of a component in this database (0 when never migrated). */
int sq_component_version(sq_store *s, const char *name, int64_t *version);

/* Operation tables implemented in the other files. */
int sq_account_create(kw_store *st, const kw_store_new_account *na, int64_t *account_id);
int sq_account_get_by_name(kw_store *st, const char *name, kw_store_account *out);
int sq_account_get(kw_store *st, int64_t account_id, kw_store_account *out);
int sq_account_set_opaque(kw_store *st, int64_t account_id, const uint8_t *record, size_t len);
int sq_account_set_totp(kw_store *st, int64_t account_id, const uint8_t *secret, size_t len);
int sq_account_use_totp_step(kw_store *st, int64_t account_id, int64_t step);
int sq_device_add(kw_store *st, const kw_store_device *d);
int sq_device_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_device *out);
int sq_device_list(kw_store *st, int64_t account_id, kw_store_device **out, size_t *count);
void sq_device_touch(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now);
int sq_roster_apply(kw_store *st, const kw_store_roster_change *ch);
int sq_roster_latest(kw_store *st, int64_t account_id, int64_t *version, uint8_t **roster, size_t *len);
int sq_roster_get(kw_store *st, int64_t account_id, int64_t version, uint8_t **roster, size_t *len);
int sq_keychain_get(kw_store *st, int64_t account_id, int64_t *version, uint8_t **blob, size_t *len);
int sq_kk_wrap_get(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                   int64_t *generation, uint8_t **wrap, size_t *len);
int sq_kk_chain_get(kw_store *st, int64_t account_id, int64_t generation, uint8_t **blob, size_t *len);
int sq_recovery_get(kw_store *st, int64_t account_id, int64_t *generation, uint8_t **wrap, size_t *len,
                    uint8_t auth[32]);
int sq_session_add(kw_store *st, const kw_store_session *s);
int sq_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_session *out);
int sq_session_list(kw_store *st, int64_t account_id, kw_store_session **out, size_t *count);
int sq_session_revoke(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES]);
int sq_session_revoke_device(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES]);
int sq_login_put(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                 const uint8_t *state, size_t len, int64_t expires_at);
int sq_login_take(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now, int64_t *account_id,
                  uint8_t **state, size_t *len);
int sq_approval_put(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t expires_at, int attempts);
int sq_approval_use(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t now);
int sq_expire(kw_store *st, int64_t now, size_t *removed);
extern const sq_component sq_web_component; extern const struct kw_store_web_ops sq_web_ops; /* sqlite_web.c */
extern const sq_component sq_seckey_component; extern const struct kw_store_seckey_ops sq_seckey_ops; /* sqlite_seckey.c */
extern const sq_component sq_msg_component; extern const struct kw_store_msg_ops sq_msg_ops; /* sqlite_msg.c */

extern const struct kw_store_admin_ops sq_admin_ops; /* sqlite_admin.c (store/admin.h) */
extern const sq_component sq_adp_component; extern const struct kw_store_adp_ops sq_adp_ops; /* sqlite_adp.c */
extern const sq_component sq_record_component; extern const struct kw_store_record_ops sq_record_ops; /* sqlite_record.c */
extern const sq_component sq_kt_component; extern const struct kw_store_kt_ops sq_kt_ops; /* sqlite_kt.c */
#endif
