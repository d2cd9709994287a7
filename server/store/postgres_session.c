/*
 * server/store/postgres_session.c — PostgreSQL backend: sessions (token
 * hashes), pending OPAQUE logins and approval codes.
 *
 * Isolation per operation:
 * - session_add inserts through a SELECT of the device row FOR SHARE,
 *   excluding REMOVED devices: it waits for a roster change removing that
 *   device to finish, re-checks the row and then stores nothing
 *   (KW_ERR_NOT_FOUND, as on SQLite: store.h), so a session created by
 *   another node while its device is being removed never exists;
 * - login_take is one DELETE … RETURNING: two nodes finishing the same
 *   login cannot both get its state;
 * - approval_use reads the code FOR UPDATE and spends or deletes it in the
 *   same READ COMMITTED transaction: concurrent guesses from several nodes
 *   each spend their own attempt;
 * - expire deletes in one transaction.
 * Secrets: login state is session-key material; every copy this file makes
 * is wiped before it is freed unless it is handed to the caller.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/postgres_internal.h"

#define I64(x) ((int64_t)(x))
#define SES_COLS "hash, account_id, device_id, created_at, expires_at, revoked"

static const char SQL_SES_INSERT[] =
    "INSERT INTO sessions (hash, account_id, device_id, created_at, expires_at, revoked)"
    " SELECT $1, $2, $3, $4, $5, $6"
    " FROM devices AS d WHERE d.id = $3 AND d.account_id = $2 AND d.state <> 2 FOR SHARE";
static const char SQL_SES_GET[] = "SELECT " SES_COLS " FROM sessions WHERE hash = $1";
static const char SQL_SES_LIST[] =
    "SELECT " SES_COLS " FROM sessions WHERE account_id = $1 ORDER BY created_at, hash";
static const char SQL_SES_REVOKE[] = "UPDATE sessions SET revoked = 1 WHERE hash = $1 AND account_id = $2";
static const char SQL_SES_REVOKE_DEV[] = "UPDATE sessions SET revoked = 1 WHERE device_id = $1";
static const char SQL_DEV_EXISTS[] = "SELECT 1 FROM devices WHERE id = $1";

static const char SQL_LOGIN_INSERT[] =
    "INSERT INTO logins (id, account_id, state, expires_at) VALUES ($1, $2, $3, $4)";
static const char SQL_LOGIN_TAKE[] = "DELETE FROM logins WHERE id = $1 RETURNING account_id, state, expires_at";
static const char SQL_LOGIN_EXPIRE[] = "DELETE FROM logins WHERE expires_at <= $1";
static const char SQL_APR_PUT[] =
    "INSERT INTO approvals (account_id, hash, expires_at, attempts) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (account_id) DO UPDATE SET hash = excluded.hash,"
    " expires_at = excluded.expires_at, attempts = excluded.attempts";
static const char SQL_APR_GET[] =
    "SELECT hash, expires_at, attempts FROM approvals WHERE account_id = $1 FOR UPDATE";
static const char SQL_APR_DEL[] = "DELETE FROM approvals WHERE account_id = $1";
static const char SQL_APR_SPEND[] = "UPDATE approvals SET attempts = attempts - 1 WHERE account_id = $1";
static const char SQL_APR_EXPIRE[] = "DELETE FROM approvals WHERE expires_at <= $1";

/* ---- sessions ---- */

static void read_session(const PGresult *res, int row, kw_store_session *out)
{
    memset(out, 0, sizeof(*out));
    pg_col_fixed(res, row, 0, out->hash, sizeof(out->hash));
    out->account_id = pg_col_i64(res, row, 1);
    pg_col_fixed(res, row, 2, out->device_id, sizeof(out->device_id));
    out->created_at = pg_col_i64(res, row, 3);
    out->expires_at = pg_col_i64(res, row, 4);
    out->revoked = pg_col_i64(res, row, 5) != 0;
}

static int ses_add_body(pg_ctx *x, void *p)
{
    const kw_store_session *ss = p;
    int changes = 0;
    int r = pg_q(x, SQL_SES_INSERT, NULL, &changes, "HiIiii", ss->hash, ss->account_id, ss->device_id,
                 ss->created_at, ss->expires_at, I64(ss->revoked ? 1 : 0));
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND; /* no such device of this account, or removed */
    return r;
}

int pg_session_add(kw_store *st, const kw_store_session *s)
{
    return pg_run_txn((pg_store *)st, "session_add", PG_AUTOCOMMIT, ses_add_body, (void *)s);
}

typedef struct {
    const uint8_t *hash;
    int64_t account_id;
    kw_store_session *out;
    kw_store_session *list;
    size_t count;
} ses_arg;

static int ses_get_body(pg_ctx *x, void *p)
{
    ses_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_SES_GET, &res, NULL, "H", a->hash);
    if (r != KW_OK)
        return r;
    if (PQntuples(res) == 1)
        read_session(res, 0, a->out);
    else
        r = KW_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}

int pg_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_session *out)
{
    ses_arg a = {.hash = hash, .out = out};
    return pg_run_txn((pg_store *)st, "session_get", PG_AUTOCOMMIT, ses_get_body, &a);
}

static int ses_list_body(pg_ctx *x, void *p)
{
    ses_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_SES_LIST, &res, NULL, "i", a->account_id);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    if (n > 0) {
        a->list = calloc((size_t)n, sizeof(kw_store_session));
        if (a->list == NULL) {
            PQclear(res);
            return KW_ERR_NOMEM;
        }
        for (int i = 0; i < n; i++)
            read_session(res, i, &a->list[i]);
    }
    a->count = (size_t)n;
    PQclear(res);
    return KW_OK;
}

int pg_session_list(kw_store *st, int64_t account_id, kw_store_session **out, size_t *count)
{
    ses_arg a = {.account_id = account_id};
    int r = pg_run_txn((pg_store *)st, "session_list", PG_AUTOCOMMIT, ses_list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

static int ses_revoke_body(pg_ctx *x, void *p)
{
    ses_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_SES_REVOKE, NULL, &changes, "Hi", a->hash, a->account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    return r;
}

int pg_session_revoke(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES])
{
    ses_arg a = {.hash = hash, .account_id = account_id};
    return pg_run_txn((pg_store *)st, "session_revoke", PG_AUTOCOMMIT, ses_revoke_body, &a);
}

static int ses_revoke_dev_body(pg_ctx *x, void *p)
{
    const uint8_t *id = p;
    int64_t one;
    int r = pg_scalar(x, SQL_DEV_EXISTS, &one, "I", id);
    if (r == KW_OK)
        r = pg_q(x, SQL_SES_REVOKE_DEV, NULL, NULL, "I", id);
    return r;
}

int pg_session_revoke_device(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES])
{
    return pg_run_txn((pg_store *)st, "session_revoke_device", PG_READ_COMMITTED, ses_revoke_dev_body,
                      (void *)device_id);
}

/* ---- pending logins ---- */

typedef struct {
    const uint8_t *id;
    int64_t account_id;
    const uint8_t *state;
    size_t len;
    int64_t expires_at;
    int64_t now;
    uint8_t *copy;
    size_t copy_len;
    bool expired;
} login_arg;

static int login_put_body(pg_ctx *x, void *p)
{
    login_arg *a = p;
    return pg_q(x, SQL_LOGIN_INSERT, NULL, NULL, "Iibi", a->id, a->account_id, a->state, a->len, a->expires_at);
}

int pg_login_put(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                 const uint8_t *state, size_t len, int64_t expires_at)
{
    login_arg a = {.id = id, .account_id = account_id, .state = state, .len = len, .expires_at = expires_at};
    return pg_run_txn((pg_store *)st, "login_put", PG_AUTOCOMMIT, login_put_body, &a);
}

static int login_take_body(pg_ctx *x, void *p)
{
    login_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_LOGIN_TAKE, &res, NULL, "I", a->id);
    if (r != KW_OK)
        return r;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return KW_ERR_NOT_FOUND;
    }
    a->account_id = pg_col_i64(res, 0, 0);
    a->expires_at = pg_col_i64(res, 0, 2);
    a->expired = a->now >= a->expires_at;
    if (!a->expired)
        r = pg_col_dup(res, 0, 1, &a->copy, &a->copy_len);
    /* libpq's copy of the row holds the state too: wipe it before freeing. */
    int n = PQgetlength(res, 0, 1);
    if (n > 0)
        sodium_memzero(PQgetvalue(res, 0, 1), (size_t)n);
    PQclear(res);
    return r;
}

int pg_login_take(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now, int64_t *account_id,
                  uint8_t **state, size_t *len)
{
    login_arg a = {.id = id, .now = now};
    int r = pg_run_txn((pg_store *)st, "login_take", PG_AUTOCOMMIT, login_take_body, &a);
    if (r == KW_OK && a.expired)
        r = KW_ERR_NOT_FOUND; /* deleted now, and refused */
    if (r == KW_OK) {
        *account_id = a.account_id;
        *state = a.copy;
        *len = a.copy_len;
        a.copy = NULL; /* transferred */
    }
    if (a.copy != NULL) {
        sodium_memzero(a.copy, a.copy_len);
        free(a.copy);
    }
    return r;
}

/* ---- approval codes ---- */

typedef struct {
    int64_t account_id;
    const uint8_t *hash;
    int64_t expires_at;
    int64_t attempts;
    int64_t now;
    int verdict;
} apr_arg;

static int apr_put_body(pg_ctx *x, void *p)
{
    apr_arg *a = p;
    return pg_q(x, SQL_APR_PUT, NULL, NULL, "iHii", a->account_id, a->hash, a->expires_at, a->attempts);
}

int pg_approval_put(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t expires_at, int attempts)
{
    apr_arg a = {.account_id = account_id, .hash = hash, .expires_at = expires_at, .attempts = attempts};
    return pg_run_txn((pg_store *)st, "approval_put", PG_AUTOCOMMIT, apr_put_body, &a);
}

static int apr_use_body(pg_ctx *x, void *p)
{
    apr_arg *a = p;
    uint8_t stored[KW_STORE_HASH_BYTES];
    PGresult *res = NULL;
    int r = pg_q(x, SQL_APR_GET, &res, NULL, "i", a->account_id);
    if (r != KW_OK)
        return r;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return KW_ERR_NOT_FOUND;
    }
    pg_col_fixed(res, 0, 0, stored, sizeof(stored));
    int64_t expires_at = pg_col_i64(res, 0, 1);
    int64_t attempts = pg_col_i64(res, 0, 2);
    PQclear(res);
    bool consume;
    if (a->now >= expires_at) {
        a->verdict = KW_ERR_NOT_FOUND;
        consume = true;
    } else if (sodium_memcmp(stored, a->hash, KW_STORE_HASH_BYTES) == 0) {
        a->verdict = KW_OK;
        consume = true;
    } else {
        a->verdict = KW_ERR_VERIFY;
        consume = attempts <= 1;
    }
    sodium_memzero(stored, sizeof(stored));
    return pg_q(x, consume ? SQL_APR_DEL : SQL_APR_SPEND, NULL, NULL, "i", a->account_id);
}

int pg_approval_use(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t now)
{
    apr_arg a = {.account_id = account_id, .hash = hash, .now = now};
    int r = pg_run_txn((pg_store *)st, "approval_use", PG_READ_COMMITTED, apr_use_body, &a);
    return r == KW_OK ? a.verdict : r;
}

typedef struct {
    int64_t now;
    size_t removed;
} expire_arg;

static int expire_body(pg_ctx *x, void *p)
{
    expire_arg *a = p;
    int logins = 0, codes = 0;
    int r = pg_q(x, SQL_LOGIN_EXPIRE, NULL, &logins, "i", a->now);
    if (r == KW_OK)
        r = pg_q(x, SQL_APR_EXPIRE, NULL, &codes, "i", a->now);
    if (r == KW_OK)
        a->removed = (size_t)logins + (size_t)codes;
    return r;
}

int pg_expire(kw_store *st, int64_t now, size_t *removed)
{
    expire_arg a = {.now = now};
    int r = pg_run_txn((pg_store *)st, "expire", PG_READ_COMMITTED, expire_body, &a);
    if (r == KW_OK)
        *removed = a.removed;
    return r;
}
