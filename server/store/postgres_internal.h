/*
 * server/store/postgres_internal.h — shared by the PostgreSQL backend's
 * files (postgres.c: pool, helpers, schema, migrations; postgres_account.c:
 * accounts, devices, rosters, keychain, KK; postgres_session.c: sessions,
 * logins, approvals; postgres_admin.c: consistency check, leader lease;
 * postgres_seckey.c, postgres_msg.c, postgres_web.c: those domains).
 *
 * Connections: a small pool (PG_POOL_MAX, opened lazily) guarded by one
 * mutex; an operation borrows one connection for its whole run, so a
 * transaction never interleaves with another thread's statements, and gives
 * it back at the end. A connection found broken is closed and its slot
 * reopened by the next borrower.
 *
 * Statements: prepared once per connection, on first use, cached by the
 * address of their SQL text (a `static const char SQL[]`, like the SQLite
 * backend's _q helpers). Parameters and results travel in binary format.
 *
 * Transactions: pg_run_txn runs an operation body inside BEGIN … COMMIT at
 * the isolation level the operation needs (or as one autocommit statement)
 * and re-runs the whole body on a serialization failure (40001) or a
 * deadlock (40P01), a bounded number of times with a short random backoff.
 * synchronous_commit is on for every connection: COMMIT returns once the
 * WAL is flushed, so an acknowledged write survives a crash of either side.
 */
#ifndef KEYWARD_SERVER_STORE_POSTGRES_INTERNAL_H
#define KEYWARD_SERVER_STORE_POSTGRES_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/backend.h"

#define PG_POOL_MAX 16
#define PG_QCACHE 256
#define PG_MAX_PARAMS 16
#define PG_TRY_MAX 10

/* Internal result code: "the transaction lost a serialization race, run it
 * again". Never returned to callers of kw_store_* (pg_run_txn turns it into
 * KW_ERR_STORAGE after PG_TRY_MAX attempts). */
#define PG_RETRY 1000

typedef struct {
    PGconn *conn;
    bool busy;
    const char *prepared[PG_QCACHE]; /* SQL text addresses, by slot; name "k<slot>" */
    size_t nprepared;
} pg_conn;

typedef struct {
    kw_store base; /* first: a kw_store * points here */
    char *conninfo;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pg_conn conns[PG_POOL_MAX];
    size_t max;
} pg_store;

/* What an operation body works with: the borrowed connection and the
 * operation name for log lines. */
typedef struct {
    pg_store *s;
    pg_conn *c;
    const char *op;
} pg_ctx;

enum pg_iso {
    PG_AUTOCOMMIT,      /* the body runs one statement, no BEGIN */
    PG_READ_COMMITTED,  /* BEGIN ISOLATION LEVEL READ COMMITTED */
    PG_SERIALIZABLE,    /* BEGIN ISOLATION LEVEL SERIALIZABLE */
    PG_SNAPSHOT,        /* BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY: one snapshot */
};

typedef int (*pg_body)(pg_ctx *x, void *arg);

/* Borrows a connection, runs body in a transaction of the given isolation,
 * commits, retries on serialization failure/deadlock; gives the connection
 * back. Returns the body's result (or the COMMIT's mapped error). */
int pg_run_txn(pg_store *s, const char *op, enum pg_iso iso, pg_body body, void *arg);

/* Executes a cached statement. Parameters by format character:
 *   'i' int64_t   'b' const uint8_t *, size_t (NULL binds SQL NULL)
 *   't' const char *   'I' a KW_STORE_ID_BYTES id   'H' a 32-byte hash/key
 * On success *res (optional: NULL discards it) holds the result (PQclear
 * it) and *changes (optional) the affected-row count. Errors are mapped:
 * unique violation → KW_ERR_CONFLICT, foreign key → KW_ERR_NOT_FOUND,
 * serialization failure/deadlock → PG_RETRY, anything else is logged (one
 * line, primary message and SQLSTATE only — never values) → KW_ERR_STORAGE. */
int pg_q(pg_ctx *x, const char *sql, PGresult **res, int *changes, const char *fmt, ...);

/* A one-row, one-column integer query; KW_ERR_NOT_FOUND without a row. */
int pg_scalar(pg_ctx *x, const char *sql, int64_t *value, const char *fmt, ...);

/* Runs plain SQL (possibly several statements, no parameters) with the
 * simple protocol: migrations and transaction control. */
int pg_simple(pg_ctx *x, const char *sql);

/* Logs one error line for the operation (message cleaned of quotes and
 * control characters). */
void pg_log(const char *op, const char *sqlstate, const char *msg);

/* Column readers for binary results. */
int64_t pg_col_i64(const PGresult *res, int row, int col);
bool pg_col_null(const PGresult *res, int row, int col);
int pg_col_dup(const PGresult *res, int row, int col, uint8_t **out, size_t *len);
void pg_col_fixed(const PGresult *res, int row, int col, uint8_t *dst, size_t n);
void pg_col_text(const PGresult *res, int row, int col, char *dst, size_t cap);

/* ---- domain components (same idea as sq_component) ---- */
typedef struct {
    const char *name;
    const char *const *steps;
    int count;
} pg_component;

/* Operation tables implemented in the other files. */
int pg_account_create(kw_store *st, const kw_store_new_account *na, int64_t *account_id);
int pg_account_get_by_name(kw_store *st, const char *name, kw_store_account *out);
int pg_account_get(kw_store *st, int64_t account_id, kw_store_account *out);
int pg_account_set_opaque(kw_store *st, int64_t account_id, const uint8_t *record, size_t len);
int pg_account_set_totp(kw_store *st, int64_t account_id, const uint8_t *secret, size_t len);
int pg_account_use_totp_step(kw_store *st, int64_t account_id, int64_t step);
int pg_device_add(kw_store *st, const kw_store_device *d);
int pg_device_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_device *out);
int pg_device_list(kw_store *st, int64_t account_id, kw_store_device **out, size_t *count);
void pg_device_touch(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now);
int pg_roster_apply(kw_store *st, const kw_store_roster_change *ch);
int pg_roster_latest(kw_store *st, int64_t account_id, int64_t *version, uint8_t **roster, size_t *len);
int pg_roster_get(kw_store *st, int64_t account_id, int64_t version, uint8_t **roster, size_t *len);
int pg_keychain_get(kw_store *st, int64_t account_id, int64_t *version, uint8_t **blob, size_t *len);
int pg_kk_wrap_get(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                   int64_t *generation, uint8_t **wrap, size_t *len);
int pg_kk_chain_get(kw_store *st, int64_t account_id, int64_t generation, uint8_t **blob, size_t *len);
int pg_recovery_get(kw_store *st, int64_t account_id, int64_t *generation, uint8_t **wrap, size_t *len,
                    uint8_t auth[32]);
int pg_session_add(kw_store *st, const kw_store_session *s);
int pg_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_session *out);
int pg_session_list(kw_store *st, int64_t account_id, kw_store_session **out, size_t *count);
int pg_session_revoke(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES]);
int pg_session_revoke_device(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES]);
int pg_login_put(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                 const uint8_t *state, size_t len, int64_t expires_at);
int pg_login_take(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now, int64_t *account_id,
                  uint8_t **state, size_t *len);
int pg_approval_put(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t expires_at, int attempts);
int pg_approval_use(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t now);
int pg_expire(kw_store *st, int64_t now, size_t *removed);

/* postgres_admin.c */
extern const pg_component pg_admin_component;
extern const struct kw_store_admin_ops pg_admin_ops;
/* postgres_seckey.c (store/seckey.h) */
extern const pg_component pg_seckey_component;
extern const struct kw_store_seckey_ops pg_seckey_ops;
/* postgres_msg.c (store/msg.h) */
extern const pg_component pg_msg_component;
extern const struct kw_store_msg_ops pg_msg_ops;
/* postgres_web.c (store/web.h) */
extern const pg_component pg_web_component;
extern const struct kw_store_web_ops pg_web_ops;
/* postgres_adp.c (store/adp.h) */
extern const pg_component pg_adp_component;
extern const struct kw_store_adp_ops pg_adp_ops;
/* postgres_kt.c (store/kt.h) */
extern const pg_component pg_kt_component;
extern const struct kw_store_kt_ops pg_kt_ops;
/* postgres_record.c (store/record.h) */
extern const pg_component pg_record_component;
extern const struct kw_store_record_ops pg_record_ops;

#endif
