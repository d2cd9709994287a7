/*
 * server/store/sqlite_web.c — SQLite backend of the "web" store domain
 * (store/web.h): web sessions of the account-security page and queued
 * device removals. Schema component "web"; every write commits (WAL,
 * synchronous=FULL) before returning.
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/sqlite_internal.h"
#include "store/web.h"

static const char web_step1[] =
    "CREATE TABLE web_sessions ("
    "  hash BLOB PRIMARY KEY CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  id BLOB NOT NULL UNIQUE CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1)),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))"
    ");"
    "CREATE INDEX web_sessions_by_account ON web_sessions(account_id, created_at);"
    "CREATE TABLE web_removals ("
    "  device_id BLOB PRIMARY KEY CHECK (typeof(device_id) = 'blob' AND length(device_id) = 16),"
    "  account_id INTEGER NOT NULL,"
    "  requested_at INTEGER NOT NULL,"
    "  web_session_id BLOB NOT NULL CHECK (length(web_session_id) = 16),"
    "  FOREIGN KEY (device_id, account_id) REFERENCES devices(id, account_id) ON DELETE CASCADE"
    ");";

static const char *const web_steps[] = {web_step1};
const sq_component sq_web_component = {"web", web_steps, 1};

#define WS_COLS "hash, id, account_id, state, created_at, expires_at, revoked"

static const char SQL_INSERT[] =
    "INSERT INTO web_sessions (" WS_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_GET[] = "SELECT " WS_COLS " FROM web_sessions WHERE hash = ?1";
static const char SQL_TAKE_FACTOR[] =
    "DELETE FROM web_sessions WHERE hash = ?1 AND account_id = ?2 AND state = 0 AND revoked = 0 "
    "AND expires_at > ?3";
static const char SQL_LIST[] = "SELECT " WS_COLS " FROM web_sessions WHERE account_id = ?1 AND "
                               "state = 1 AND revoked = 0 AND expires_at > ?2 ORDER BY created_at, id";
static const char SQL_REVOKE[] =
    "UPDATE web_sessions SET revoked = 1 WHERE account_id = ?1 AND id = ?2 AND revoked = 0";
static const char SQL_REVOKE_ALL[] =
    "UPDATE web_sessions SET revoked = 1 WHERE account_id = ?1 AND revoked = 0";
static const char SQL_EXPIRE[] = "DELETE FROM web_sessions WHERE expires_at <= ?1";
static const char SQL_RM_PUT[] =
    "INSERT INTO web_removals (device_id, account_id, requested_at, web_session_id) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(device_id) DO NOTHING";
static const char SQL_RM_LIST[] = "SELECT device_id, account_id, requested_at, web_session_id FROM "
                                  "web_removals WHERE account_id = ?1 ORDER BY requested_at, device_id";
static const char SQL_RM_GET[] = "SELECT device_id, account_id, requested_at, web_session_id FROM "
                                 "web_removals WHERE device_id = ?1";
static const char SQL_RM_DEL[] = "DELETE FROM web_removals WHERE account_id = ?1 AND device_id = ?2";

static void read_session(sqlite3_stmt *stmt, void *elem)
{
    kw_store_web_session *out = elem;
    memset(out, 0, sizeof(*out));
    sq_col_fixed(stmt, 0, out->hash, sizeof(out->hash));
    sq_col_fixed(stmt, 1, out->id, sizeof(out->id));
    out->account_id = sqlite3_column_int64(stmt, 2);
    out->state = sqlite3_column_int(stmt, 3);
    out->created_at = sqlite3_column_int64(stmt, 4);
    out->expires_at = sqlite3_column_int64(stmt, 5);
    out->revoked = sqlite3_column_int(stmt, 6) != 0;
}

static void read_removal(sqlite3_stmt *stmt, void *elem)
{
    kw_store_web_removal *out = elem;
    memset(out, 0, sizeof(*out));
    sq_col_fixed(stmt, 0, out->device_id, sizeof(out->device_id));
    out->account_id = sqlite3_column_int64(stmt, 1);
    out->requested_at = sqlite3_column_int64(stmt, 2);
    sq_col_fixed(stmt, 3, out->web_session_id, sizeof(out->web_session_id));
}

static int insert_session(sq_store *s, const kw_store_web_session *ws)
{
    return sq_exec_q(s, SQL_INSERT, NULL, "HIiiiii", ws->hash, ws->id, ws->account_id,
                     (int64_t)ws->state, ws->created_at, ws->expires_at,
                     (int64_t)(ws->revoked ? 1 : 0));
}

static int web_session_add(kw_store *st, const kw_store_web_session *ws)
{
    sq_store *s = sq_lock(st, "web_session_add");
    int r = insert_session(s, ws);
    sq_unlock(s);
    return r;
}

static int web_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES],
                           kw_store_web_session *out)
{
    sq_store *s = sq_lock(st, "web_session_get");
    bool row = false;
    int r = sq_run_q(s, SQL_GET, &row, "H", hash);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_session(sq_stmt_q(s, SQL_GET), out);
    sq_unlock(s);
    return r;
}

static int web_session_upgrade(kw_store *st, const uint8_t old_hash[KW_STORE_HASH_BYTES], int64_t now,
                               const kw_store_web_session *next)
{
    sq_store *s = sq_lock(st, "web_session_upgrade");
    int changes = 0;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_TAKE_FACTOR, &changes, "Hii", old_hash, next->account_id, now);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = insert_session(s, next);
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s); /* rolls back on any failure */
    return r;
}

static int web_session_list(kw_store *st, int64_t account_id, int64_t now, kw_store_web_session **out,
                            size_t *count)
{
    sq_store *s = sq_lock(st, "web_session_list");
    bool row = false;
    void *list = NULL;
    int r = sq_run_q(s, SQL_LIST, &row, "ii", account_id, now);
    r = sq_collect_rows(s, sq_stmt_q(s, SQL_LIST), r, row, sizeof(kw_store_web_session), read_session,
                        &list, count);
    sq_unlock(s);
    if (r == KW_OK)
        *out = list;
    return r;
}

static int web_session_revoke(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES])
{
    sq_store *s = sq_lock(st, "web_session_revoke");
    int changes = 0;
    int r = sq_exec_q(s, SQL_REVOKE, &changes, "iI", account_id, id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

static int web_session_revoke_all(kw_store *st, int64_t account_id, size_t *count)
{
    sq_store *s = sq_lock(st, "web_session_revoke_all");
    int changes = 0;
    int r = sq_exec_q(s, SQL_REVOKE_ALL, &changes, "i", account_id);
    if (r == KW_OK && count != NULL)
        *count = (size_t)changes;
    sq_unlock(s);
    return r;
}

static int web_expire(kw_store *st, int64_t now, size_t *removed)
{
    sq_store *s = sq_lock(st, "web_expire");
    int changes = 0;
    int r = sq_exec_q(s, SQL_EXPIRE, &changes, "i", now);
    if (r == KW_OK && removed != NULL)
        *removed = (size_t)changes;
    sq_unlock(s);
    return r;
}

static int web_removal_put(kw_store *st, const kw_store_web_removal *rm)
{
    sq_store *s = sq_lock(st, "web_removal_put");
    int r = sq_exec_q(s, SQL_RM_PUT, NULL, "IiiI", rm->device_id, rm->account_id, rm->requested_at,
                      rm->web_session_id);
    sq_unlock(s);
    return r;
}

static int web_removal_list(kw_store *st, int64_t account_id, kw_store_web_removal **out, size_t *count)
{
    sq_store *s = sq_lock(st, "web_removal_list");
    bool row = false;
    void *list = NULL;
    int r = sq_run_q(s, SQL_RM_LIST, &row, "i", account_id);
    r = sq_collect_rows(s, sq_stmt_q(s, SQL_RM_LIST), r, row, sizeof(kw_store_web_removal), read_removal,
                        &list, count);
    sq_unlock(s);
    if (r == KW_OK)
        *out = list;
    return r;
}

static int web_removal_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES],
                           kw_store_web_removal *out)
{
    sq_store *s = sq_lock(st, "web_removal_get");
    bool row = false;
    int r = sq_run_q(s, SQL_RM_GET, &row, "I", device_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_removal(sq_stmt_q(s, SQL_RM_GET), out);
    sq_unlock(s);
    return r;
}

static int web_removal_delete(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES])
{
    sq_store *s = sq_lock(st, "web_removal_delete");
    int changes = 0;
    int r = sq_exec_q(s, SQL_RM_DEL, &changes, "iI", account_id, device_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

const struct kw_store_web_ops sq_web_ops = {
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
