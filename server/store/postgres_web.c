/*
 * server/store/postgres_web.c — PostgreSQL backend of the web-session
 * domain (store/web.h): sessions of the account-security page and the
 * device-removal requests it queues, the same tables as on SQLite.
 *
 * Every call is one statement (autocommit) except the upgrade from the
 * factor stage, which deletes the factor-stage row (only while it is live
 * and unrevoked) and inserts the signed-in session in one READ COMMITTED
 * transaction: of two nodes upgrading the same factor session, the second
 * DELETE finds no row and is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/postgres_internal.h"
#include "store/web.h"

static const char web_step1[] =
    "CREATE TABLE web_sessions ("
    "  hash BYTEA PRIMARY KEY CHECK (octet_length(hash) = 32),"
    "  id BYTEA NOT NULL UNIQUE CHECK (octet_length(id) = 16),"
    "  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  state BIGINT NOT NULL CHECK (state IN (0, 1)),"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  revoked BIGINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))"
    ");"
    "CREATE INDEX web_sessions_by_account ON web_sessions(account_id, created_at);"
    "CREATE TABLE web_removals ("
    "  device_id BYTEA PRIMARY KEY CHECK (octet_length(device_id) = 16),"
    "  account_id BIGINT NOT NULL,"
    "  requested_at BIGINT NOT NULL,"
    "  web_session_id BYTEA NOT NULL CHECK (octet_length(web_session_id) = 16),"
    "  FOREIGN KEY (device_id, account_id) REFERENCES devices(id, account_id) ON DELETE CASCADE"
    ");";

static const char *const web_steps[] = {web_step1};
const pg_component pg_web_component = {"web", web_steps, 1};

#define WS_COLS "hash, id, account_id, state, created_at, expires_at, revoked"

static const char SQL_INSERT[] = "INSERT INTO web_sessions (" WS_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7)";
static const char SQL_GET[] = "SELECT " WS_COLS " FROM web_sessions WHERE hash = $1";
static const char SQL_TAKE_FACTOR[] =
    "DELETE FROM web_sessions WHERE hash = $1 AND account_id = $2 AND state = 0 AND revoked = 0"
    " AND expires_at > $3";
static const char SQL_LIST[] = "SELECT " WS_COLS " FROM web_sessions WHERE account_id = $1 AND"
                               " state = 1 AND revoked = 0 AND expires_at > $2 ORDER BY created_at, id";
static const char SQL_REVOKE[] =
    "UPDATE web_sessions SET revoked = 1 WHERE account_id = $1 AND id = $2 AND revoked = 0";
static const char SQL_REVOKE_ALL[] = "UPDATE web_sessions SET revoked = 1 WHERE account_id = $1 AND revoked = 0";
static const char SQL_EXPIRE[] = "DELETE FROM web_sessions WHERE expires_at <= $1";
static const char SQL_RM_PUT[] = "INSERT INTO web_removals (device_id, account_id, requested_at, web_session_id)"
                                 " VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO NOTHING";
static const char SQL_RM_LIST[] = "SELECT device_id, account_id, requested_at, web_session_id FROM"
                                  " web_removals WHERE account_id = $1 ORDER BY requested_at, device_id";
static const char SQL_RM_GET[] = "SELECT device_id, account_id, requested_at, web_session_id FROM"
                                 " web_removals WHERE device_id = $1";
static const char SQL_RM_DEL[] = "DELETE FROM web_removals WHERE account_id = $1 AND device_id = $2";

typedef struct {
    const uint8_t *key; /* hash or id */
    int64_t account_id, now;
    const kw_store_web_session *in;
    const kw_store_web_removal *rm_in;
    kw_store_web_session *out;
    kw_store_web_removal *rm_out;
    void *list;
    size_t count;
    bool removals;
} web_arg;

static void read_session(const PGresult *res, int row, kw_store_web_session *out)
{
    memset(out, 0, sizeof(*out));
    pg_col_fixed(res, row, 0, out->hash, sizeof(out->hash));
    pg_col_fixed(res, row, 1, out->id, sizeof(out->id));
    out->account_id = pg_col_i64(res, row, 2);
    out->state = (int)pg_col_i64(res, row, 3);
    out->created_at = pg_col_i64(res, row, 4);
    out->expires_at = pg_col_i64(res, row, 5);
    out->revoked = pg_col_i64(res, row, 6) != 0;
}

static void read_removal(const PGresult *res, int row, kw_store_web_removal *out)
{
    memset(out, 0, sizeof(*out));
    pg_col_fixed(res, row, 0, out->device_id, sizeof(out->device_id));
    out->account_id = pg_col_i64(res, row, 1);
    out->requested_at = pg_col_i64(res, row, 2);
    pg_col_fixed(res, row, 3, out->web_session_id, sizeof(out->web_session_id));
}

static int insert_session(pg_ctx *x, const kw_store_web_session *ws)
{
    return pg_q(x, SQL_INSERT, NULL, NULL, "HIiiiii", ws->hash, ws->id, ws->account_id, (int64_t)ws->state,
                ws->created_at, ws->expires_at, (int64_t)(ws->revoked ? 1 : 0));
}

static int add_body(pg_ctx *x, void *p)
{
    return insert_session(x, ((web_arg *)p)->in);
}

static int web_session_add(kw_store *st, const kw_store_web_session *ws)
{
    web_arg a = {.in = ws};
    return pg_run_txn((pg_store *)st, "web_session_add", PG_AUTOCOMMIT, add_body, &a);
}

/* One row of a query keyed by a 16/32-byte value into out / rm_out. */
static int get_body(pg_ctx *x, void *p)
{
    web_arg *a = p;
    PGresult *res = NULL;
    int r = a->removals ? pg_q(x, SQL_RM_GET, &res, NULL, "I", a->key) : pg_q(x, SQL_GET, &res, NULL, "H", a->key);
    if (r != KW_OK)
        return r;
    if (PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    else if (a->removals)
        read_removal(res, 0, a->rm_out);
    else
        read_session(res, 0, a->out);
    PQclear(res);
    return r;
}

static int web_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_web_session *out)
{
    web_arg a = {.key = hash, .out = out};
    return pg_run_txn((pg_store *)st, "web_session_get", PG_AUTOCOMMIT, get_body, &a);
}

static int upgrade_body(pg_ctx *x, void *p)
{
    web_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_TAKE_FACTOR, NULL, &changes, "Hii", a->key, a->in->account_id, a->now);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = insert_session(x, a->in);
    return r;
}

static int web_session_upgrade(kw_store *st, const uint8_t old_hash[KW_STORE_HASH_BYTES], int64_t now,
                               const kw_store_web_session *next)
{
    web_arg a = {.key = old_hash, .now = now, .in = next};
    return pg_run_txn((pg_store *)st, "web_session_upgrade", PG_READ_COMMITTED, upgrade_body, &a);
}

static int list_body(pg_ctx *x, void *p)
{
    web_arg *a = p;
    PGresult *res = NULL;
    int r = a->removals ? pg_q(x, SQL_RM_LIST, &res, NULL, "i", a->account_id)
                        : pg_q(x, SQL_LIST, &res, NULL, "ii", a->account_id, a->now);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    size_t elem = a->removals ? sizeof(kw_store_web_removal) : sizeof(kw_store_web_session);
    if (n > 0 && (a->list = calloc((size_t)n, elem)) == NULL) {
        PQclear(res);
        return KW_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        if (a->removals)
            read_removal(res, i, (kw_store_web_removal *)a->list + i);
        else
            read_session(res, i, (kw_store_web_session *)a->list + i);
    }
    a->count = (size_t)n;
    PQclear(res);
    return KW_OK;
}

static int web_session_list(kw_store *st, int64_t account_id, int64_t now, kw_store_web_session **out,
                            size_t *count)
{
    web_arg a = {.account_id = account_id, .now = now};
    int r = pg_run_txn((pg_store *)st, "web_session_list", PG_AUTOCOMMIT, list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

static int revoke_body(pg_ctx *x, void *p)
{
    web_arg *a = p;
    int changes = 0;
    int r = a->key != NULL ? pg_q(x, SQL_REVOKE, NULL, &changes, "iI", a->account_id, a->key)
                           : pg_q(x, SQL_REVOKE_ALL, NULL, &changes, "i", a->account_id);
    if (r == KW_OK && a->key != NULL && changes == 0)
        r = KW_ERR_NOT_FOUND;
    a->count = (size_t)changes;
    return r;
}

static int web_session_revoke(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES])
{
    web_arg a = {.account_id = account_id, .key = id};
    return pg_run_txn((pg_store *)st, "web_session_revoke", PG_AUTOCOMMIT, revoke_body, &a);
}

static int web_session_revoke_all(kw_store *st, int64_t account_id, size_t *count)
{
    web_arg a = {.account_id = account_id};
    int r = pg_run_txn((pg_store *)st, "web_session_revoke_all", PG_AUTOCOMMIT, revoke_body, &a);
    if (r == KW_OK && count != NULL)
        *count = a.count;
    return r;
}

static int expire_body(pg_ctx *x, void *p)
{
    web_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_EXPIRE, NULL, &changes, "i", a->now);
    a->count = (size_t)changes;
    return r;
}

static int web_expire(kw_store *st, int64_t now, size_t *removed)
{
    web_arg a = {.now = now};
    int r = pg_run_txn((pg_store *)st, "web_expire", PG_AUTOCOMMIT, expire_body, &a);
    if (r == KW_OK && removed != NULL)
        *removed = a.count;
    return r;
}

static int rm_put_body(pg_ctx *x, void *p)
{
    const kw_store_web_removal *rm = ((web_arg *)p)->rm_in;
    return pg_q(x, SQL_RM_PUT, NULL, NULL, "IiiI", rm->device_id, rm->account_id, rm->requested_at,
                rm->web_session_id);
}

static int web_removal_put(kw_store *st, const kw_store_web_removal *rm)
{
    web_arg a = {.rm_in = rm};
    return pg_run_txn((pg_store *)st, "web_removal_put", PG_AUTOCOMMIT, rm_put_body, &a);
}

static int web_removal_list(kw_store *st, int64_t account_id, kw_store_web_removal **out, size_t *count)
{
    web_arg a = {.account_id = account_id, .removals = true};
    int r = pg_run_txn((pg_store *)st, "web_removal_list", PG_AUTOCOMMIT, list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

static int web_removal_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], kw_store_web_removal *out)
{
    web_arg a = {.key = device_id, .rm_out = out, .removals = true};
    return pg_run_txn((pg_store *)st, "web_removal_get", PG_AUTOCOMMIT, get_body, &a);
}

static int rm_del_body(pg_ctx *x, void *p)
{
    web_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_RM_DEL, NULL, &changes, "iI", a->account_id, a->key);
    return r == KW_OK && changes == 0 ? KW_ERR_NOT_FOUND : r;
}

static int web_removal_delete(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES])
{
    web_arg a = {.account_id = account_id, .key = device_id};
    return pg_run_txn((pg_store *)st, "web_removal_delete", PG_AUTOCOMMIT, rm_del_body, &a);
}

const struct kw_store_web_ops pg_web_ops = {
    .session_add = web_session_add,
    .session_get = web_session_get,
    .session_upgrade = web_session_upgrade,
    .session_list = web_session_list,
    .session_revoke = web_session_revoke,
    .session_revoke_all = web_session_revoke_all,
    .expire = web_expire,
    .removal_put = web_removal_put,
    .removal_list = web_removal_list,
    .removal_get = web_removal_get,
    .removal_delete = web_removal_delete,
};
