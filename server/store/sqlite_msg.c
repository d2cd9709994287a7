/*
 * server/store/sqlite_msg.c — SQLite backend of the msg domain
 * (store/msg.h): envelopes stored once, mailbox rows per device, prekeys.
 *
 * Group commit: puts and acks are queued and one caller at a time (the
 * leader) runs everything queued for a store in one transaction, each item
 * inside its own SAVEPOINT (a failing item — a duplicate id — is backed out
 * alone), then COMMITs once: one WAL sync for a whole batch of concurrent
 * senders. The COMMIT itself runs with synchronous=NORMAL (the WAL frames
 * are written, not yet synced; the connection is back to FULL right after,
 * so no other domain's commit changes) and the leader syncs the WAL file
 * with fsync() AFTER releasing the store lock: meanwhile other requests
 * authenticate, read and queue the next batch, whose leader may already
 * commit. Each caller returns only after the fsync that made its write
 * durable (a checkpoint that moves frames into the database syncs the WAL
 * first and the database after, so frames checkpointed meanwhile are
 * durable too); when the COMMIT or the fsync fails every item of the batch
 * fails. The queue is process-wide (the store handle has no room for it)
 * and batches only join items of the same store.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/msg.h"
#include "store/sqlite_internal.h"

#define I64(x) ((int64_t)(x))

static const char *const msg_steps[] = {
    "CREATE TABLE msg_envelopes ("
    " id INTEGER PRIMARY KEY,"
    " msg_id BLOB NOT NULL UNIQUE CHECK (length(msg_id) = 16),"
    " sender_account INTEGER NOT NULL,"
    " body BLOB," /* NULL once every mailbox acknowledged it */
    " refs INTEGER NOT NULL CHECK (refs >= 0)," /* mailboxes at first; 0 once all acknowledged */
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX msg_envelopes_done ON msg_envelopes(created_at) WHERE refs = 0;"
    "CREATE TABLE msg_mailbox ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id BLOB NOT NULL CHECK (length(device_id) = 16),"
    " env INTEGER NOT NULL REFERENCES msg_envelopes(id),"
    " UNIQUE (device_id, env));"
    "CREATE INDEX msg_mailbox_by_device ON msg_mailbox(device_id, seq);"
    "CREATE TABLE msg_prekeys ("
    " device_id BLOB PRIMARY KEY CHECK (length(device_id) = 16),"
    " cur_id INTEGER NOT NULL,"
    " cur BLOB NOT NULL,"
    " prev_id INTEGER,"
    " prev BLOB,"
    " updated_at INTEGER NOT NULL);",
    /* 2: acks find the other mailboxes of an envelope by index, so only
     * the last one touches the envelope row (refs becomes 0, body NULL) */
    "CREATE INDEX msg_mailbox_by_env ON msg_mailbox(env);",
};

const sq_component sq_msg_component = {"msg", msg_steps,
                                       (int)(sizeof(msg_steps) / sizeof(msg_steps[0]))};

static const char SQL_SYNC_NORMAL[] = "PRAGMA synchronous = NORMAL";
static const char SQL_SYNC_FULL[] = "PRAGMA synchronous = FULL";
static const char SQL_SAVEPOINT[] = "SAVEPOINT msg_item";
static const char SQL_RELEASE[] = "RELEASE msg_item";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO msg_item";
static const char SQL_ENV_INSERT[] = "INSERT INTO msg_envelopes (msg_id, sender_account, body, refs, "
                                     "created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_BOX_INSERT[] = "INSERT INTO msg_mailbox (device_id, env) VALUES (?1, ?2)";
static const char SQL_ACK_FIND[] = "SELECT e.id FROM msg_envelopes e JOIN msg_mailbox m ON m.env = e.id "
                                   "WHERE e.msg_id = ?1 AND m.device_id = ?2";
static const char SQL_BOX_DEL[] = "DELETE FROM msg_mailbox WHERE device_id = ?1 AND env = ?2";
static const char SQL_ENV_LEFT[] = "SELECT count(*) FROM (SELECT 1 FROM msg_mailbox WHERE env = ?1 LIMIT 1)";
static const char SQL_ENV_DONE[] = "UPDATE msg_envelopes SET refs = 0, body = NULL WHERE id = ?1";
static const char SQL_FETCH[] = "SELECT m.seq, e.msg_id, e.body FROM msg_mailbox m "
                                "JOIN msg_envelopes e ON e.id = m.env "
                                "WHERE m.device_id = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3";
static const char SQL_COUNT[] = "SELECT count(*) FROM msg_mailbox WHERE device_id = ?1";
static const char SQL_PK_GET[] = "SELECT cur_id, cur, prev_id, prev, updated_at FROM msg_prekeys "
                                 "WHERE device_id = ?1";
static const char SQL_PK_INSERT[] = "INSERT INTO msg_prekeys (device_id, cur_id, cur, updated_at) "
                                    "VALUES (?1, ?2, ?3, ?4)";
static const char SQL_PK_ROTATE[] = "UPDATE msg_prekeys SET prev_id = cur_id, prev = cur, cur_id = ?2, "
                                    "cur = ?3, updated_at = ?4 WHERE device_id = ?1";
static const char SQL_ACC_NAME_OF[] = "SELECT name FROM accounts WHERE id = ?1";
static const char SQL_ACC_ID_OF[] = "SELECT id FROM accounts WHERE name = ?1";
static const char SQL_DEV_OF[] = "SELECT account_id, state FROM devices WHERE id = ?1";
static const char SQL_EXPIRE[] = "DELETE FROM msg_envelopes WHERE refs = 0 AND created_at < ?1";

/* ---- group commit ---- */

enum { GC_PUT = 1, GC_ACK = 2 };

typedef struct gc_item {
    sq_store *s;
    int kind;
    /* put */
    const uint8_t *msg_id;
    int64_t sender_account;
    const uint8_t *env;
    size_t len;
    const uint8_t (*devices)[KW_STORE_ID_BYTES];
    size_t ndevices;
    int64_t now;
    kw_store_msg_send *checks; /* NULL: a plain put */
    /* ack */
    const uint8_t *device;
    const uint8_t (*ids)[KW_STORE_MSG_IDBYTES];
    size_t nids;
    size_t removed;
    int result;
    bool done;
    struct gc_item *next;
} gc_item;

static pthread_mutex_t gc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gc_cv = PTHREAD_COND_INITIALIZER;
static gc_item *gc_head, *gc_tail;
static bool gc_leader;

/* The routing checks of a checked send, inside the item's savepoint. */
static int item_checks(sq_store *s, kw_store_msg_send *m)
{
    bool row = false;
    int64_t rcpt = 0;
    int r = sq_run_q(s, SQL_ACC_NAME_OF, &row, "i", m->sender_account);
    sqlite3_stmt *st = sq_stmt_q(s, SQL_ACC_NAME_OF);
    if (r != KW_OK)
        return r;
    bool same = row && sqlite3_column_text(st, 0) != NULL &&
                strcmp((const char *)sqlite3_column_text(st, 0), m->sender_name) == 0;
    sqlite3_reset(st);
    if (!same) {
        m->refusal = KW_STORE_MSG_REFUSED_SENDER;
        return KW_ERR_VERIFY;
    }
    r = sq_scalar_q(s, SQL_ACC_ID_OF, &rcpt, "t", m->recipient_name);
    if (r == KW_ERR_NOT_FOUND)
        m->refusal = KW_STORE_MSG_REFUSED_RECIPIENT;
    if (r != KW_OK)
        return r;
    st = sq_stmt_q(s, SQL_DEV_OF);
    for (size_t i = 0; i < m->ndevices; i++) {
        if ((r = sq_run_q(s, SQL_DEV_OF, &row, "I", m->devices[i])) != KW_OK)
            return r;
        int64_t acct = row ? sqlite3_column_int64(st, 0) : -1;
        int state = row ? sqlite3_column_int(st, 1) : -1;
        sqlite3_reset(st);
        m->device_index = i;
        if (!row || (acct != m->sender_account && acct != rcpt)) {
            m->refusal = KW_STORE_MSG_REFUSED_DEVICE;
            return KW_ERR_NOT_FOUND;
        }
        if (state != KW_DEVICE_TRUSTED || memcmp(m->devices[i], m->sender_device, KW_STORE_ID_BYTES) == 0) {
            m->refusal = KW_STORE_MSG_REFUSED_UNTRUSTED;
            return KW_ERR_CONFLICT;
        }
    }
    m->device_index = 0;
    return KW_OK;
}

static int item_put(sq_store *s, gc_item *it)
{
    if (it->checks != NULL) {
        int rc = item_checks(s, it->checks);
        if (rc != KW_OK)
            return rc;
    }
    int r = sq_exec_q(s, SQL_ENV_INSERT, NULL, "bibii", it->msg_id, (size_t)KW_STORE_MSG_IDBYTES,
                      it->sender_account, it->env, it->len, I64(it->ndevices), it->now);
    if (r == KW_ERR_CONFLICT && it->checks != NULL)
        it->checks->refusal = KW_STORE_MSG_REFUSED_DUPLICATE;
    if (r != KW_OK)
        return r;
    int64_t env_id = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < it->ndevices && r == KW_OK; i++)
        r = sq_exec_q(s, SQL_BOX_INSERT, NULL, "Ii", it->devices[i], env_id);
    return r;
}

static int item_ack(sq_store *s, gc_item *it)
{
    int r = KW_OK;
    it->removed = 0;
    for (size_t i = 0; i < it->nids && r == KW_OK; i++) {
        int64_t env_id = 0;
        int changes = 0;
        r = sq_scalar_q(s, SQL_ACK_FIND, &env_id, "bI", it->ids[i], (size_t)KW_STORE_MSG_IDBYTES,
                        it->device);
        if (r == KW_ERR_NOT_FOUND) {
            r = KW_OK; /* already acknowledged, or never ours */
            continue;
        }
        if (r == KW_OK)
            r = sq_exec_q(s, SQL_BOX_DEL, &changes, "Ii", it->device, env_id);
        if (r == KW_OK && changes == 1) {
            int64_t left = 1;
            it->removed++;
            r = sq_scalar_q(s, SQL_ENV_LEFT, &left, "i", env_id);
            if (r == KW_OK && left == 0)
                r = sq_exec_q(s, SQL_ENV_DONE, NULL, "i", env_id);
        }
    }
    return r;
}

/* The WAL file of the store being committed, opened once and reopened
 * when it is another file (another store, or a WAL deleted and made again):
 * fsync() of any descriptor of the file makes its written data durable.
 * Touched by the leader only, under the store lock. */
static pthread_mutex_t wal_mu = PTHREAD_MUTEX_INITIALIZER;
static int wal_fd = -1;
static char wal_path[PATH_MAX + 8];

static int wal_open_locked(sq_store *s)
{
    char path[PATH_MAX + 8];
    struct stat a, b;
    const char *db = sqlite3_db_filename(s->db, "main");
    if (db == NULL || db[0] == '\0' || snprintf(path, sizeof(path), "%s-wal", db) >= (int)sizeof(path))
        return -1;
    if (wal_fd >= 0 && strcmp(path, wal_path) == 0 && fstat(wal_fd, &a) == 0 && stat(path, &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return wal_fd;
    if (wal_fd >= 0)
        close(wal_fd);
    wal_fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(wal_path, sizeof(wal_path), "%s", path);
    return wal_fd;
}

/* A descriptor of s's WAL file of the caller's own (close it after use). */
static int wal_open(sq_store *s)
{
    pthread_mutex_lock(&wal_mu);
    int fd = wal_open_locked(s);
    if (fd >= 0)
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_unlock(&wal_mu);
    return fd;
}

/* Runs the items of one store (the list `batch`, all of s) in one
 * transaction; returns the WAL descriptor to sync once the store is
 * unlocked (-1 after a failure, the items' results then set). */
static int gc_run(sq_store *s, gc_item *batch)
{
    int fd = -1;
    sq_lock(&s->base, "msg_commit");
    int r = sq_exec_q(s, SQL_SYNC_NORMAL, NULL, "");
    if (r == KW_OK)
        r = sq_begin(s);
    bool lost = r != KW_OK;
    for (gc_item *it = batch; it != NULL && !lost; it = it->next) {
        if ((r = sq_exec_q(s, SQL_SAVEPOINT, NULL, "")) != KW_OK) {
            lost = true;
            break;
        }
        it->result = it->kind == GC_PUT ? item_put(s, it) : item_ack(s, it);
        if (sqlite3_get_autocommit(s->db)) { /* SQLite rolled everything back */
            lost = true;
            r = KW_ERR_STORAGE;
            break;
        }
        if (it->result != KW_OK && sq_exec_q(s, SQL_ROLLBACK_TO, NULL, "") != KW_OK)
            lost = true;
        if (!lost && sq_exec_q(s, SQL_RELEASE, NULL, "") != KW_OK)
            lost = true;
        if (lost)
            r = KW_ERR_STORAGE;
    }
    if (!lost && (r = sq_commit(s)) != KW_OK)
        lost = true;
    if (!sqlite3_get_autocommit(s->db)) /* a failed batch: undo it before the pragma */
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    /* back to full syncs for every other commit on this connection, before
     * anyone else may use it; a failure here is refused loudly */
    if (sq_exec_q(s, SQL_SYNC_FULL, NULL, "") != KW_OK) {
        lost = true;
        r = KW_ERR_STORAGE;
    }
    if (!lost && (fd = wal_open(s)) < 0) {
        lost = true;
        r = KW_ERR_STORAGE;
    }
    sq_unlock(s);
    if (lost) {
        for (gc_item *it = batch; it != NULL; it = it->next)
            it->result = r != KW_OK ? r : KW_ERR_STORAGE;
        return -1;
    }
    return fd;
}

static int gc_submit(gc_item *me)
{
    me->result = KW_ERR_INTERNAL;
    me->done = false;
    me->next = NULL;
    pthread_mutex_lock(&gc_mu);
    if (gc_tail != NULL)
        gc_tail->next = me;
    else
        gc_head = me;
    gc_tail = me;
    while (!me->done) {
        /* a leader is committing, or this item was taken by one (it is
         * being synced): wait to be done or to lead what is queued */
        if (gc_leader || gc_head == NULL) {
            pthread_cond_wait(&gc_cv, &gc_mu);
            continue;
        }
        gc_item *all = gc_head;
        gc_head = gc_tail = NULL;
        gc_leader = true;
        pthread_mutex_unlock(&gc_mu);
        /* commit per store (keeping the order within each), then let the
         * next leader commit while these batches sync */
        struct {
            gc_item *items;
            int fd;
        } done[8];
        size_t ndone = 0;
        while (all != NULL) {
            sq_store *s = all->s;
            gc_item *mine = NULL, **mt = &mine, *rest = NULL, **rt = &rest;
            for (gc_item *it = all, *next; it != NULL; it = next) {
                next = it->next;
                it->next = NULL;
                if (it->s == s) {
                    *mt = it;
                    mt = &it->next;
                } else {
                    *rt = it;
                    rt = &it->next;
                }
            }
            int fd = gc_run(s, mine);
            if (ndone == sizeof(done) / sizeof(done[0]) || fd < 0) {
                /* no room to defer (or nothing to sync): finish it now */
                if (fd >= 0) {
                    if (fsync(fd) != 0)
                        for (gc_item *it = mine; it != NULL; it = it->next)
                            it->result = KW_ERR_STORAGE;
                    close(fd);
                }
                pthread_mutex_lock(&gc_mu);
                for (gc_item *it = mine, *next; it != NULL; it = next) {
                    next = it->next; /* read before `done`: the waiter's item dies with its stack */
                    it->done = true;
                }
                pthread_cond_broadcast(&gc_cv);
                pthread_mutex_unlock(&gc_mu);
            } else {
                done[ndone].items = mine;
                done[ndone].fd = fd;
                ndone++;
            }
            all = rest;
        }
        pthread_mutex_lock(&gc_mu);
        gc_leader = false;
        pthread_cond_broadcast(&gc_cv);
        pthread_mutex_unlock(&gc_mu);
        for (size_t k = 0; k < ndone; k++) {
            if (fsync(done[k].fd) != 0)
                for (gc_item *it = done[k].items; it != NULL; it = it->next)
                    it->result = KW_ERR_STORAGE;
            close(done[k].fd);
        }
        pthread_mutex_lock(&gc_mu);
        for (size_t k = 0; k < ndone; k++)
            for (gc_item *it = done[k].items, *next; it != NULL; it = next) {
                next = it->next;
                it->done = true;
            }
        pthread_cond_broadcast(&gc_cv);
    }
    pthread_mutex_unlock(&gc_mu);
    return me->result;
}

/* ---- operations ---- */

static int sq_msg_put(kw_store *st, const uint8_t msg_id[KW_STORE_MSG_IDBYTES], int64_t sender_account,
                      const uint8_t *env, size_t len, const uint8_t (*devices)[KW_STORE_ID_BYTES],
                      size_t ndevices, int64_t now)
{
    gc_item it = {.s = (sq_store *)st,
                  .kind = GC_PUT,
                  .msg_id = msg_id,
                  .sender_account = sender_account,
                  .env = env,
                  .len = len,
                  .devices = devices,
                  .ndevices = ndevices,
                  .now = now};
    return gc_submit(&it);
}

static int sq_msg_send(kw_store *st, kw_store_msg_send *m)
{
    gc_item it = {.s = (sq_store *)st,
                  .kind = GC_PUT,
                  .msg_id = m->msg_id,
                  .sender_account = m->sender_account,
                  .env = m->env,
                  .len = m->len,
                  .devices = m->devices,
                  .ndevices = m->ndevices,
                  .now = m->now,
                  .checks = m};
    return gc_submit(&it);
}

static int sq_msg_ack(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                      const uint8_t (*ids)[KW_STORE_MSG_IDBYTES], size_t n, size_t *removed)
{
    gc_item it = {.s = (sq_store *)st, .kind = GC_ACK, .device = device, .ids = ids, .nids = n};
    int r = gc_submit(&it);
    if (r == KW_OK && removed != NULL)
        *removed = it.removed;
    return r;
}

static int sq_msg_fetch(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t after,
                        size_t max_items, size_t max_bytes, kw_store_msg_item **out, size_t *count,
                        bool *more)
{
    sq_store *s = sq_lock(st, "msg_fetch");
    bool row = false;
    kw_store_msg_item *items = NULL;
    size_t n = 0, bytes = 0;
    /* one row more than asked tells whether more remain */
    int r = sq_run_q(s, SQL_FETCH, &row, "Iii", device, after, I64(max_items + 1));
    sqlite3_stmt *stmt = sq_stmt_q(s, SQL_FETCH);
    if (r == KW_OK && row && (items = calloc(max_items, sizeof(*items))) == NULL)
        r = KW_ERR_NOMEM;
    while (r == KW_OK && row) {
        size_t len = (size_t)sqlite3_column_bytes(stmt, 2);
        if (n == max_items || (n > 0 && bytes + len > max_bytes)) {
            *more = true;
            break;
        }
        kw_store_msg_item *it = &items[n];
        it->seq = sqlite3_column_int64(stmt, 0);
        sq_col_fixed(stmt, 1, it->msg_id, sizeof(it->msg_id));
        if ((r = sq_col_dup(stmt, 2, &it->envelope, &it->len)) != KW_OK)
            break;
        bytes += it->len;
        n++;
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
            row = false;
        else if (rc != SQLITE_ROW)
            r = sq_err(s, rc);
    }
    sq_unlock(s);
    if (r != KW_OK) {
        kw_store_msg_items_free(&items, n);
        *more = false;
        return r;
    }
    if (n == 0) {
        free(items);
        items = NULL;
    }
    *out = items;
    *count = n;
    return KW_OK;
}

static int sq_msg_count(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t *count)
{
    sq_store *s = sq_lock(st, "msg_count");
    int r = sq_scalar_q(s, SQL_COUNT, count, "I", device);
    sq_unlock(s);
    return r;
}

static int sq_msg_prekey_put(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t prekey_id,
                             const uint8_t *prekey, size_t len, int64_t now)
{
    sq_store *s = sq_lock(st, "msg_prekey_put");
    bool row = false;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_run_q(s, SQL_PK_GET, &row, "I", device);
    if (r == KW_OK && row) {
        int64_t cur = sqlite3_column_int64(sq_stmt_q(s, SQL_PK_GET), 0);
        sqlite3_reset(sq_stmt_q(s, SQL_PK_GET));
        if (prekey_id <= cur)
            r = KW_ERR_CONFLICT;
        else
            r = sq_exec_q(s, SQL_PK_ROTATE, NULL, "Iibi", device, prekey_id, prekey, len, now);
    } else if (r == KW_OK) {
        r = sq_exec_q(s, SQL_PK_INSERT, NULL, "Iibi", device, prekey_id, prekey, len, now);
    }
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

static int sq_msg_prekey_get(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                             kw_store_msg_prekeys *out)
{
    sq_store *s = sq_lock(st, "msg_prekey_get");
    bool row = false;
    int r = sq_run_q(s, SQL_PK_GET, &row, "I", device);
    sqlite3_stmt *stmt = sq_stmt_q(s, SQL_PK_GET);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        out->cur_id = sqlite3_column_int64(stmt, 0);
        r = sq_col_dup(stmt, 1, &out->cur, &out->cur_len);
        if (r == KW_OK && sqlite3_column_type(stmt, 3) != SQLITE_NULL) {
            out->prev_id = sqlite3_column_int64(stmt, 2);
            r = sq_col_dup(stmt, 3, &out->prev, &out->prev_len);
        }
        out->updated_at = sqlite3_column_int64(stmt, 4);
    }
    sq_unlock(s);
    if (r != KW_OK)
        kw_store_msg_prekeys_clear(out);
    return r;
}

static int sq_msg_expire(kw_store *st, int64_t before, size_t *removed)
{
    sq_store *s = sq_lock(st, "msg_expire");
    int changes = 0;
    int r = sq_exec_q(s, SQL_EXPIRE, &changes, "i", before);
    sq_unlock(s);
    if (r == KW_OK && removed != NULL)
        *removed = (size_t)changes;
    return r;
}

const struct kw_store_msg_ops sq_msg_ops = {
    .put = sq_msg_put,
    .send = sq_msg_send,
    .fetch = sq_msg_fetch,
    .ack = sq_msg_ack,
    .count = sq_msg_count,
    .prekey_put = sq_msg_prekey_put,
    .prekey_get = sq_msg_prekey_get,
    .expire = sq_msg_expire,
};
