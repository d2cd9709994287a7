/*
 * server/store/sqlite_msg.c — SQLite backend of the msg domain
 * (store/msg.h): envelopes stored once, mailbox rows per device, prekeys.
 *
 * Group commit: puts and acks are queued and one caller at a time (the
 * leader) runs everything queued for a store in one transaction (an item
 * refused — a check, a duplicate id — fails before its first write and
 * alone; an item failing after a write undoes the whole batch), sharing
 * the batch's account and device lookups, then COMMITs once: one WAL sync
 * for a whole batch of concurrent senders. The COMMIT itself runs with synchronous=NORMAL (the WAL frames
 * are written, not yet synced; the connection is back to FULL right after,
 * so no other domain's commit changes) and the leader syncs the WAL file
 * with fdatasync() (its data and size; SQLite syncs its WAL the same way)
 * AFTER releasing the store lock: meanwhile other requests authenticate,
 * read and queue the next batch, which its leader commits once this sync
 * is done (one sync in flight: bigger batches, fewer syncs). Each
 * caller returns only after the sync that made its write durable (a
 * checkpoint that moves frames into the database syncs the WAL first and
 * the database after, so frames checkpointed meanwhile are durable too);
 * when the COMMIT or the sync fails every item of the batch fails. Waiters
 * sleep on a condition of their own: a finished batch wakes its items only,
 * and a leader hands over to the first queued item only. The queue is
 * process-wide (the store handle has no room for it) and batches only join
 * items of the same store.
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
static const char SQL_ENV_INSERT[] = "INSERT INTO msg_envelopes (msg_id, sender_account, body, refs, "
                                     "created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_BOX_INSERT[] = "INSERT INTO msg_mailbox (device_id, env) VALUES (?1, ?2)";
static const char SQL_ACK_DEL[] = "DELETE FROM msg_mailbox WHERE device_id = ?1 AND env = "
                                  "(SELECT id FROM msg_envelopes WHERE msg_id = ?2) RETURNING env";
static const char SQL_ENV_DONE[] = "UPDATE msg_envelopes SET refs = 0, body = NULL WHERE id = ?1 AND "
                                   "NOT EXISTS (SELECT 1 FROM msg_mailbox WHERE env = ?1)";
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
    bool queued; /* in the queue, not yet taken by a leader */
    bool done;
    pthread_cond_t cv; /* signalled when done, or when the lead is free */
    struct gc_item *next;
} gc_item;

static pthread_mutex_t gc_mu = PTHREAD_MUTEX_INITIALIZER;
static gc_item *gc_head, *gc_tail;
static bool gc_leader;

/* What one batch has looked up: inside its transaction (store lock held,
 * the batch writes only the msg tables) the answers cannot change, so
 * sends from the same account to the same account share the lookups. */
#define GC_MEMO_DEVICES 16
typedef struct {
    bool sender_known;
    int64_t sender_account;
    char sender_name[KW_STORE_NAME_MAX + 1]; /* "" when the account does not exist */
    bool rcpt_known;
    char rcpt_name[KW_STORE_NAME_MAX + 1];
    int64_t rcpt_id;
    size_t ndev;
    struct {
        uint8_t id[KW_STORE_ID_BYTES];
        bool found;
        int64_t acct;
        int state;
    } dev[GC_MEMO_DEVICES];
} gc_memo;

/* The routing checks of a checked send (reads only). */
static int item_checks(sq_store *s, kw_store_msg_send *m, gc_memo *memo)
{
    bool row = false;
    int r;
    if (!memo->sender_known || memo->sender_account != m->sender_account) {
        r = sq_run_q(s, SQL_ACC_NAME_OF, &row, "i", m->sender_account);
        sqlite3_stmt *st = sq_stmt_q(s, SQL_ACC_NAME_OF);
        if (r != KW_OK)
            return r;
        const char *name = row ? (const char *)sqlite3_column_text(st, 0) : NULL;
        snprintf(memo->sender_name, sizeof(memo->sender_name), "%s", name != NULL ? name : "");
        sqlite3_reset(st);
        memo->sender_known = true;
        memo->sender_account = m->sender_account;
    }
    if (memo->sender_name[0] == '\0' || strcmp(memo->sender_name, m->sender_name) != 0) {
        m->refusal = KW_STORE_MSG_REFUSED_SENDER;
        return KW_ERR_VERIFY;
    }
    if (!memo->rcpt_known || strcmp(memo->rcpt_name, m->recipient_name) != 0) {
        int64_t rcpt = 0;
        r = sq_scalar_q(s, SQL_ACC_ID_OF, &rcpt, "t", m->recipient_name);
        if (r == KW_ERR_NOT_FOUND)
            m->refusal = KW_STORE_MSG_REFUSED_RECIPIENT;
        if (r != KW_OK)
            return r;
        snprintf(memo->rcpt_name, sizeof(memo->rcpt_name), "%s", m->recipient_name);
        memo->rcpt_id = rcpt;
        memo->rcpt_known = true;
    }
    sqlite3_stmt *st = sq_stmt_q(s, SQL_DEV_OF);
    for (size_t i = 0; i < m->ndevices; i++) {
        bool found = false;
        int64_t acct = -1;
        int state = -1;
        size_t k = 0;
        while (k < memo->ndev && memcmp(memo->dev[k].id, m->devices[i], KW_STORE_ID_BYTES) != 0)
            k++;
        if (k < memo->ndev) {
            found = memo->dev[k].found;
            acct = memo->dev[k].acct;
            state = memo->dev[k].state;
        } else {
            if ((r = sq_run_q(s, SQL_DEV_OF, &row, "I", m->devices[i])) != KW_OK)
                return r;
            found = row;
            acct = row ? sqlite3_column_int64(st, 0) : -1;
            state = row ? sqlite3_column_int(st, 1) : -1;
            sqlite3_reset(st);
            if (memo->ndev < GC_MEMO_DEVICES) {
                memcpy(memo->dev[memo->ndev].id, m->devices[i], KW_STORE_ID_BYTES);
                memo->dev[memo->ndev].found = found;
                memo->dev[memo->ndev].acct = acct;
                memo->dev[memo->ndev].state = state;
                memo->ndev++;
            }
        }
        m->device_index = i;
        if (!found || (acct != m->sender_account && acct != memo->rcpt_id)) {
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

/* Each item either fails before its first write (a refused check; a
 * duplicate id: the envelope INSERT fails as a whole) or sets *partial, and
 * then the whole batch is undone: no per-item savepoint is needed. */
static int item_put(sq_store *s, gc_item *it, gc_memo *memo, bool *partial)
{
    *partial = false;
    if (it->checks != NULL) {
        int rc = item_checks(s, it->checks, memo);
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
    *partial = r != KW_OK;
    return r;
}

/* Two statements per id: the mailbox entry goes (its envelope's row id
 * returned), then the envelope's bytes if no mailbox holds it any more.
 * Ids not in this mailbox (acknowledged before, never ours) are skipped. */
static int item_ack(sq_store *s, gc_item *it, bool *partial)
{
    int r = KW_OK;
    *partial = false;
    it->removed = 0;
    sqlite3_stmt *del = sq_stmt_q(s, SQL_ACK_DEL);
    for (size_t i = 0; i < it->nids && r == KW_OK; i++) {
        bool row = false;
        r = sq_run_q(s, SQL_ACK_DEL, &row, "Ib", it->device, it->ids[i], (size_t)KW_STORE_MSG_IDBYTES);
        if (r != KW_OK)
            break;
        int64_t env_id = row ? sqlite3_column_int64(del, 0) : 0;
        int rc = row ? sqlite3_step(del) : SQLITE_DONE; /* runs it to its end */
        sqlite3_reset(del);
        if (rc != SQLITE_DONE) {
            r = sq_err(s, rc);
            break;
        }
        if (!row)
            continue;
        it->removed++;
        r = sq_exec_q(s, SQL_ENV_DONE, NULL, "i", env_id);
    }
    *partial = r != KW_OK; /* a storage failure: the batch is undone */
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
    gc_memo memo;
    memset(&memo, 0, sizeof(memo));
    for (gc_item *it = batch; it != NULL && !lost; it = it->next) {
        bool partial = false;
        it->result = it->kind == GC_PUT ? item_put(s, it, &memo, &partial) : item_ack(s, it, &partial);
        /* SQLite rolled everything back, or an item failed halfway */
        if (sqlite3_get_autocommit(s->db) || (it->result != KW_OK && partial)) {
            lost = true;
            r = KW_ERR_STORAGE;
        }
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

/* Marks the items of a finished batch done and wakes each waiter on its
 * own condition (no herd: only the threads whose writes are durable wake).
 * Called with gc_mu held; `next` is read before `done` is set, since a
 * waiter's item dies with its stack once it sees done. */
static void gc_finish_locked(gc_item *items)
{
    for (gc_item *it = items, *next; it != NULL; it = next) {
        next = it->next;
        it->done = true;
        pthread_cond_signal(&it->cv);
    }
}

/* Queues `me` and returns its result once the batch holding it is committed
 * and synced. A queued item whose thread finds no leader running leads:
 * it takes the whole queue, commits it (store lock held), syncs it (lock
 * released), wakes the batch's items and hands the lead to the first item
 * queued meanwhile (signalled alone). */
static int gc_submit(gc_item *me)
{
    me->result = KW_ERR_INTERNAL;
    me->done = false;
    me->queued = true;
    me->next = NULL;
    if (pthread_cond_init(&me->cv, NULL) != 0)
        return KW_ERR_SYSTEM;
    pthread_mutex_lock(&gc_mu);
    if (gc_tail != NULL)
        gc_tail->next = me;
    else
        gc_head = me;
    gc_tail = me;
    while (!me->done) {
        /* taken by a leader (being committed or synced), or waiting for the
         * running leader to hand over: sleep until signalled */
        if (!me->queued || gc_leader) {
            pthread_cond_wait(&me->cv, &gc_mu);
            continue;
        }
        gc_item *all = gc_head;
        for (gc_item *it = all; it != NULL; it = it->next)
            it->queued = false;
        gc_head = gc_tail = NULL;
        gc_leader = true;
        pthread_mutex_unlock(&gc_mu);
        /* commit per store (keeping the order within each), then sync */
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
                    if (fdatasync(fd) != 0)
                        for (gc_item *it = mine; it != NULL; it = it->next)
                            it->result = KW_ERR_STORAGE;
                    close(fd);
                }
                pthread_mutex_lock(&gc_mu);
                gc_finish_locked(mine);
                pthread_mutex_unlock(&gc_mu);
            } else {
                done[ndone].items = mine;
                done[ndone].fd = fd;
                ndone++;
            }
            all = rest;
        }
        /* fdatasync (the WAL's data and size, not its timestamps) before
         * handing the lead over: meanwhile the next batch gathers, so each
         * sync serves more writes (on this kind of machine a sync costs
         * far more CPU than the commit of a few more rows) */
        for (size_t k = 0; k < ndone; k++) {
            if (fdatasync(done[k].fd) != 0)
                for (gc_item *it = done[k].items; it != NULL; it = it->next)
                    it->result = KW_ERR_STORAGE;
            close(done[k].fd);
        }
        pthread_mutex_lock(&gc_mu);
        for (size_t k = 0; k < ndone; k++)
            gc_finish_locked(done[k].items);
        gc_leader = false;
        if (gc_head != NULL)
            pthread_cond_signal(&gc_head->cv);
    }
    pthread_mutex_unlock(&gc_mu);
    pthread_cond_destroy(&me->cv);
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

/* ---- the session/device watch (kw_store_msg_auth_watch) ---- */

typedef struct {
    void (*changed)(void *arg);
    void *arg;
} aw_ctx;

static void aw_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    aw_ctx *c = sqlite3_user_data(ctx);
    c->changed(c->arg);
    sqlite3_result_null(ctx);
}

/* FOR EACH ROW; they fire for rows deleted by foreign-key cascades too. A
 * device's last_seen_at (touched every second) does not fire. */
static const char AW_CREATE[] =
    "CREATE TEMP TRIGGER IF NOT EXISTS kw_msg_aw_ses_upd AFTER UPDATE ON main.sessions "
    "BEGIN SELECT kw_msg_auth_changed(); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS kw_msg_aw_ses_del AFTER DELETE ON main.sessions "
    "BEGIN SELECT kw_msg_auth_changed(); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS kw_msg_aw_dev_upd AFTER UPDATE OF id, account_id, state "
    "ON main.devices BEGIN SELECT kw_msg_auth_changed(); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS kw_msg_aw_dev_del AFTER DELETE ON main.devices "
    "BEGIN SELECT kw_msg_auth_changed(); END;";
static const char AW_DROP[] = "DROP TRIGGER IF EXISTS temp.kw_msg_aw_ses_upd;"
                              "DROP TRIGGER IF EXISTS temp.kw_msg_aw_ses_del;"
                              "DROP TRIGGER IF EXISTS temp.kw_msg_aw_dev_upd;"
                              "DROP TRIGGER IF EXISTS temp.kw_msg_aw_dev_del;";

static int sq_msg_auth_watch(kw_store *st, void (*changed)(void *arg), void *arg)
{
    sq_store *s = sq_lock(st, "msg_auth_watch");
    int r = KW_OK, rc;
    /* drop first: no trigger may outlive the function it calls */
    rc = sqlite3_exec(s->db, AW_DROP, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(s->db, "kw_msg_auth_changed", 0, SQLITE_UTF8, NULL, NULL, NULL,
                                        NULL, NULL);
    if (rc == SQLITE_OK && changed != NULL) {
        aw_ctx *c = malloc(sizeof(*c));
        if (c == NULL) {
            r = KW_ERR_NOMEM;
            goto out;
        }
        c->changed = changed;
        c->arg = arg;
        rc = sqlite3_create_function_v2(s->db, "kw_msg_auth_changed", 0, SQLITE_UTF8, c, aw_fn, NULL, NULL,
                                        free);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, AW_CREATE, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            (void)sqlite3_exec(s->db, AW_DROP, NULL, NULL, NULL);
            (void)sqlite3_create_function_v2(s->db, "kw_msg_auth_changed", 0, SQLITE_UTF8, NULL, NULL, NULL,
                                             NULL, NULL);
        }
    }
    if (rc != SQLITE_OK)
        r = sq_err(s, rc);
out:
    sq_unlock(s);
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
    .auth_watch = sq_msg_auth_watch,
};
