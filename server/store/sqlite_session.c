/*
 * server/store/sqlite_session.c — SQLite backend: sessions (token hashes),
 * pending OPAQUE logins and approval codes.
 *
 * Session inserts are group-committed: concurrent session_add calls share
 * one transaction and so one WAL sync (sign-ins under load); each returns
 * only after the COMMIT that made its row durable.
 * Time rule: a login or approval code is live while now < expires_at.
 * Secrets: login state is session-key material; every copy this file makes
 * is wiped before it is freed unless it is handed to the caller.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/sqlite_internal.h"

#define I64(x) ((int64_t)(x))

/* ---- sessions ---- */

static void read_session(sqlite3_stmt *stmt, kw_store_session *out)
{
    memset(out, 0, sizeof(*out));
    sq_col_fixed(stmt, 0, out->hash, sizeof(out->hash));
    out->account_id = sqlite3_column_int64(stmt, 1);
    sq_col_fixed(stmt, 2, out->device_id, sizeof(out->device_id));
    out->created_at = sqlite3_column_int64(stmt, 3);
    out->expires_at = sqlite3_column_int64(stmt, 4);
    out->revoked = sqlite3_column_int(stmt, 5) != 0;
}

/* Commits a batch of queued session inserts in one transaction (one WAL
 * sync for all). Each insert is its own statement: a constraint failure
 * (duplicate hash → CONFLICT, unknown device → NOT_FOUND) backs out that
 * statement only and the others commit. Any other failure, or a failed
 * COMMIT, fails every item of the batch: none of them is stored (the
 * transaction is rolled back), so none is acknowledged. */
static const char SQL_DEV_STATE[] = "SELECT state FROM devices WHERE id = ?1 AND account_id = ?2";

static void session_commit_batch(sq_store *s, sq_gc_item *batch)
{
    sq_lock(&s->base, "session_add");
    int r = sq_begin(s);
    bool txn_lost = r != KW_OK;
    for (sq_gc_item *it = batch; it != NULL && !txn_lost; it = it->next) {
        const kw_store_session *ss = it->session;
        /* A REMOVED device gets no session (store.h): NOT_FOUND, as for an
         * unknown one; an unknown one is left to the foreign key. */
        int64_t state = 0;
        int sr = sq_scalar_q(s, SQL_DEV_STATE, &state, "Ii", ss->device_id, ss->account_id);
        if (sr == KW_OK && state == KW_DEVICE_REMOVED) {
            it->result = KW_ERR_NOT_FOUND;
            continue;
        }
        it->result = sq_exec(s, SQ_SES_INSERT, NULL, "HiIiii", ss->hash, ss->account_id, ss->device_id,
                             ss->created_at, ss->expires_at, I64(ss->revoked ? 1 : 0));
        if (it->result != KW_OK && sqlite3_get_autocommit(s->db)) {
            txn_lost = true; /* SQLite rolled the whole transaction back */
            r = KW_ERR_STORAGE;
        }
    }
    if (!txn_lost && (r = sq_commit(s)) != KW_OK)
        txn_lost = true;
    if (txn_lost)
        for (sq_gc_item *it = batch; it != NULL; it = it->next)
            it->result = r != KW_OK ? r : KW_ERR_STORAGE;
    sq_unlock(s); /* rolls back whatever is still open */
}

int sq_session_add(kw_store *st, const kw_store_session *ss)
{
    sq_store *s = (sq_store *)st;
    sq_gc_item me = {.session = ss, .result = KW_ERR_INTERNAL};
    pthread_mutex_lock(&s->gc_lock);
    if (s->gc_tail != NULL)
        s->gc_tail->next = &me;
    else
        s->gc_head = &me;
    s->gc_tail = &me;
    while (!me.done) {
        if (s->gc_leader) {
            pthread_cond_wait(&s->gc_cond, &s->gc_lock);
            continue;
        }
        /* Lead: take everything queued (this caller included) and commit it. */
        sq_gc_item *batch = s->gc_head;
        s->gc_head = s->gc_tail = NULL;
        s->gc_leader = true;
        pthread_mutex_unlock(&s->gc_lock);
        session_commit_batch(s, batch);
        pthread_mutex_lock(&s->gc_lock);
        for (sq_gc_item *it = batch, *next; it != NULL; it = next) {
            next = it->next; /* read before `done`: the waiter's item dies with its stack */
            it->done = true;
        }
        s->gc_leader = false;
        pthread_cond_broadcast(&s->gc_cond);
    }
    pthread_mutex_unlock(&s->gc_lock);
    return me.result;
}

int sq_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_session *out)
{
    sq_store *s = sq_lock(st, "session_get");
    bool row;
    int r = sq_run(s, SQ_SES_GET, &row, "H", hash);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_session(s->stmts[SQ_SES_GET], out);
    sq_unlock(s);
    return r;
}

static void read_session_row(sqlite3_stmt *stmt, void *elem)
{
    read_session(stmt, elem);
}

int sq_session_list(kw_store *st, int64_t account_id, kw_store_session **out, size_t *count)
{
    sq_store *s = sq_lock(st, "session_list");
    bool row;
    void *list = NULL;
    int r = sq_run(s, SQ_SES_LIST, &row, "i", account_id);
    r = sq_collect_rows(s, s->stmts[SQ_SES_LIST], r, row, sizeof(kw_store_session), read_session_row, &list, count);
    sq_unlock(s);
    *out = list; /* transferred (NULL on error) */
    return r;
}

int sq_session_revoke(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES])
{
    sq_store *s = sq_lock(st, "session_revoke");
    int changes;
    int r = sq_exec(s, SQ_SES_REVOKE, &changes, "Hi", hash, account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

int sq_session_revoke_device(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES])
{
    sq_store *s = sq_lock(st, "session_revoke_device");
    int64_t one;
    int r = sq_scalar(s, SQ_DEV_EXISTS, &one, "I", device_id);
    if (r == KW_OK)
        r = sq_exec(s, SQ_SES_REVOKE_DEV, NULL, "I", device_id);
    sq_unlock(s);
    return r;
}

/* ---- pending logins ---- */

int sq_login_put(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                 const uint8_t *state, size_t len, int64_t expires_at)
{
    sq_store *s = sq_lock(st, "login_put");
    int r = sq_exec(s, SQ_LOGIN_INSERT, NULL, "Iibi", id, account_id, state, len, expires_at);
    sq_unlock(s);
    return r;
}

int sq_login_take(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now, int64_t *account_id,
                  uint8_t **state, size_t *len)
{
    sq_store *s = sq_lock(st, "login_take");
    uint8_t *copy = NULL;
    size_t copy_len = 0;
    int64_t acc = 0, expires_at = 0;
    bool row;
    int r;
    /* Read and delete in one transaction: two concurrent finishes of the
     * same login cannot both get the state. */
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    if ((r = sq_run(s, SQ_LOGIN_GET, &row, "I", id)) != KW_OK)
        goto out;
    if (!row) {
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    sqlite3_stmt *stmt = s->stmts[SQ_LOGIN_GET];
    acc = sqlite3_column_int64(stmt, 0);
    expires_at = sqlite3_column_int64(stmt, 2);
    if (now < expires_at && (r = sq_col_dup(stmt, 1, &copy, &copy_len)) != KW_OK)
        goto out;
    sqlite3_reset(stmt);
    if ((r = sq_exec(s, SQ_LOGIN_DEL, NULL, "I", id)) != KW_OK)
        goto out;
    if ((r = sq_commit(s)) != KW_OK)
        goto out;
    if (now >= expires_at) { /* expired: gone now, and refused */
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    *account_id = acc;
    *state = copy;
    *len = copy_len;
    copy = NULL; /* transferred */
    r = KW_OK;
out:
    sq_unlock(s);
    if (copy != NULL) {
        sodium_memzero(copy, copy_len);
        free(copy);
    }
    return r;
}

/* ---- approval codes ---- */

int sq_approval_put(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t expires_at, int attempts)
{
    sq_store *s = sq_lock(st, "approval_put");
    int r = sq_exec(s, SQ_APR_PUT, NULL, "iHii", account_id, hash, expires_at, I64(attempts));
    sq_unlock(s);
    return r;
}

int sq_approval_use(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                    int64_t now)
{
    sq_store *s = sq_lock(st, "approval_use");
    uint8_t stored[KW_STORE_HASH_BYTES];
    int64_t expires_at, attempts;
    bool row;
    int r, verdict;
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    if ((r = sq_run(s, SQ_APR_GET, &row, "i", account_id)) != KW_OK)
        goto out;
    if (!row) {
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    sqlite3_stmt *stmt = s->stmts[SQ_APR_GET];
    sq_col_fixed(stmt, 0, stored, sizeof(stored));
    expires_at = sqlite3_column_int64(stmt, 1);
    attempts = sqlite3_column_int64(stmt, 2);
    sqlite3_reset(stmt);

    bool consume; /* delete the code (match, expiry or last attempt) */
    if (now >= expires_at) {
        verdict = KW_ERR_NOT_FOUND;
        consume = true;
    } else if (sodium_memcmp(stored, hash, KW_STORE_HASH_BYTES) == 0) {
        verdict = KW_OK;
        consume = true;
    } else {
        verdict = KW_ERR_VERIFY;
        consume = attempts <= 1;
    }
    if (consume)
        r = sq_exec(s, SQ_APR_DEL, NULL, "i", account_id);
    else
        r = sq_exec(s, SQ_APR_SPEND, NULL, "i", account_id);
    if (r != KW_OK)
        goto out;
    if ((r = sq_commit(s)) != KW_OK)
        goto out;
    r = verdict;
out:
    sq_unlock(s);
    sodium_memzero(stored, sizeof(stored));
    return r;
}

int sq_expire(kw_store *st, int64_t now, size_t *removed)
{
    sq_store *s = sq_lock(st, "expire");
    int logins = 0, codes = 0;
    int r;
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    if ((r = sq_exec(s, SQ_LOGIN_EXPIRE, &logins, "i", now)) != KW_OK)
        goto out;
    if ((r = sq_exec(s, SQ_APR_EXPIRE, &codes, "i", now)) != KW_OK)
        goto out;
    if ((r = sq_commit(s)) != KW_OK)
        goto out;
    *removed = (size_t)logins + (size_t)codes;
out:
    sq_unlock(s);
    return r;
}
