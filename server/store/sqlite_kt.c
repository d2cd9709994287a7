/*
 * server/store/sqlite_kt.c — SQLite backend of the key-transparency domain
 * (store/kt.h): component "kt" with the tables kt_updates, kt_epochs,
 * kt_labels and kt_auditors.
 *
 * Each write is one transaction (BEGIN IMMEDIATE … COMMIT under the
 * connection's WAL with synchronous=FULL): an enqueued update is durable
 * before its promise leaves the server, and an epoch's head, the marking
 * of its updates and its new labels' VRF proofs land together or not at
 * all.
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/kt.h"
#include "store/sqlite_internal.h"

#define I64(x) ((int64_t)(x))

/* Step 1 of the component. Never edit; append new steps. */
static const char kt_schema_v1[] =
    "CREATE TABLE kt_updates ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  label BLOB NOT NULL CHECK (typeof(label) = 'blob' AND length(label) BETWEEN 1 AND 1024),"
    "  version INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967294),"
    "  value BLOB NOT NULL CHECK (typeof(value) = 'blob' AND length(value) <= 65536),"
    "  accepted_at INTEGER NOT NULL,"
    "  epoch INTEGER,"
    "  UNIQUE (label, version)"
    ");"
    "CREATE INDEX kt_updates_pending ON kt_updates(epoch, seq);"
    "CREATE TABLE kt_epochs ("
    "  epoch INTEGER PRIMARY KEY CHECK (epoch >= 0),"
    "  ts INTEGER NOT NULL,"
    "  head BLOB NOT NULL CHECK (typeof(head) = 'blob' AND length(head) = 152),"
    "  n INTEGER NOT NULL"
    ");"
    "CREATE TABLE kt_labels ("
    "  label BLOB PRIMARY KEY CHECK (typeof(label) = 'blob' AND length(label) BETWEEN 1 AND 1024),"
    "  vrf_proof BLOB NOT NULL CHECK (typeof(vrf_proof) = 'blob' AND length(vrf_proof) = 80)"
    ") WITHOUT ROWID;"
    "CREATE TABLE kt_auditors ("
    "  auditor_pk BLOB PRIMARY KEY CHECK (typeof(auditor_pk) = 'blob' AND length(auditor_pk) = 32),"
    "  epoch INTEGER NOT NULL,"
    "  record BLOB NOT NULL CHECK (typeof(record) = 'blob' AND length(record) = 248)"
    ") WITHOUT ROWID;";

static const char *const kt_steps[] = {kt_schema_v1};
const sq_component sq_kt_component = {"kt", kt_steps, (int)(sizeof(kt_steps) / sizeof(kt_steps[0]))};

static const char SQL_ENQ[] =
    "INSERT INTO kt_updates (label, version, value, accepted_at, epoch) VALUES (?, ?, ?, ?, NULL)";
static const char SQL_MARK[] =
    "UPDATE kt_updates SET epoch = ? WHERE epoch IS NULL AND seq <= ?";
static const char SQL_EPOCH[] = "INSERT INTO kt_epochs (epoch, ts, head, n) VALUES (?, ?, ?, ?)";
static const char SQL_LABEL[] = "INSERT OR IGNORE INTO kt_labels (label, vrf_proof) VALUES (?, ?)";
static const char SQL_LABELS[] = "SELECT label, vrf_proof FROM kt_labels";
static const char SQL_UPDATES[] =
    "SELECT seq, epoch, label, version, value FROM kt_updates ORDER BY seq";
static const char SQL_EPOCHS[] = "SELECT epoch, ts, head FROM kt_epochs ORDER BY epoch";
static const char SQL_AUD_GET[] = "SELECT epoch, record FROM kt_auditors WHERE auditor_pk = ?";
static const char SQL_AUD_PUT[] =
    "INSERT OR REPLACE INTO kt_auditors (auditor_pk, epoch, record) VALUES (?, ?, ?)";

/* The newest roster of every account that is not among its label's
 * updates (the crash window between the core store's roster commit and
 * the kt enqueue). Reads the core tables of the same database. */
static const char SQL_UNQUEUED[] =
    "SELECT a.name, r.roster FROM accounts a JOIN rosters r ON r.account_id = a.id"
    " WHERE r.version = (SELECT MAX(version) FROM rosters WHERE account_id = a.id)"
    "   AND NOT EXISTS (SELECT 1 FROM kt_updates u"
    "                    WHERE u.label = CAST(a.name AS BLOB) AND u.value = r.roster)"
    " ORDER BY a.id";

static int step(sq_store *s, sqlite3_stmt *stmt);

static int sq_kt_unqueued(kw_store *st, kw_store_kt_roster **out, size_t *n)
{
    sq_store *s = sq_lock(st, "kt_unqueued");
    kw_store_kt_roster *list = NULL;
    size_t cnt = 0, cap = 0;
    bool row = false;
    int r = sq_run_q(s, SQL_UNQUEUED, &row, "");
    sqlite3_stmt *q = sq_stmt_q(s, SQL_UNQUEUED);
    int k = (r == KW_OK && row) ? 1 : 0;
    while (k == 1) {
        if (cnt == cap) {
            size_t nc = cap == 0 ? 16 : cap * 2;
            kw_store_kt_roster *p = realloc(list, nc * sizeof(*p));
            if (p == NULL) {
                r = KW_ERR_NOMEM;
                goto out;
            }
            list = p;
            cap = nc;
        }
        const char *name = (const char *)sqlite3_column_text(q, 0);
        kw_store_kt_roster *e = &list[cnt++];
        memset(e, 0, sizeof(*e));
        if (name == NULL || (e->name = strdup(name)) == NULL) {
            r = name == NULL ? KW_ERR_STORAGE : KW_ERR_NOMEM;
            goto out;
        }
        if ((r = sq_col_dup(q, 1, &e->roster, &e->len)) != KW_OK)
            goto out;
        k = step(s, q);
    }
    if (k < 0)
        r = k;
out:
    sq_unlock(s);
    if (r != KW_OK) {
        kw_store_kt_unqueued_free(list, cnt);
        return r;
    }
    *out = list;
    *n = cnt;
    return KW_OK;
}

static int sq_kt_enqueue(kw_store *st, const uint8_t *label, size_t label_len, uint32_t version,
                         const uint8_t *value, size_t value_len, int64_t now, uint64_t *seq)
{
    static const uint8_t empty[1] = {0};
    sq_store *s = sq_lock(st, "kt_enqueue");
    int r = sq_exec_q(s, SQL_ENQ, NULL, "bibi", label, label_len, I64(version),
                      value_len == 0 ? empty : value, value_len, now);
    if (r == KW_OK)
        *seq = (uint64_t)sqlite3_last_insert_rowid(s->db);
    sq_unlock(s);
    return r;
}

static int sq_kt_enqueue_many(kw_store *st, size_t n, const uint8_t *const *labels,
                              const size_t *label_lens, const uint32_t *versions,
                              const uint8_t *const *values, const size_t *value_lens, int64_t now,
                              uint64_t *seqs)
{
    static const uint8_t empty[1] = {0};
    sq_store *s = sq_lock(st, "kt_enqueue_many");
    int r = sq_begin(s);
    for (size_t i = 0; r == KW_OK && i < n; i++) {
        r = sq_exec_q(s, SQL_ENQ, NULL, "bibi", labels[i], label_lens[i], I64(versions[i]),
                      value_lens[i] == 0 ? empty : values[i], value_lens[i], now);
        if (r == KW_OK)
            seqs[i] = (uint64_t)sqlite3_last_insert_rowid(s->db);
    }
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

static int sq_kt_epoch_commit(kw_store *st, uint64_t epoch, uint64_t timestamp,
                              const uint8_t *head, uint64_t upto_seq, size_t n,
                              const kw_store_kt_label *labels, size_t nlabels)
{
    sq_store *s = sq_lock(st, "kt_epoch_commit");
    int changes = 0, r;
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    if (n > 0) {
        if ((r = sq_exec_q(s, SQL_MARK, &changes, "ii", I64(epoch), I64(upto_seq))) != KW_OK)
            goto out;
    }
    if ((size_t)changes != n) {
        r = KW_ERR_STORAGE; /* the queue and the store disagree */
        goto out;
    }
    if ((r = sq_exec_q(s, SQL_EPOCH, NULL, "iibi", I64(epoch), I64(timestamp), head,
                       (size_t)KW_STORE_KT_HEADBYTES, I64(n))) != KW_OK)
        goto out;
    for (size_t i = 0; i < nlabels; i++)
        if ((r = sq_exec_q(s, SQL_LABEL, NULL, "bb", labels[i].label, labels[i].label_len,
                           labels[i].proof, (size_t)KW_STORE_KT_PROOFBYTES)) != KW_OK)
            goto out;
    r = sq_commit(s);
out:
    sq_unlock(s);
    return r;
}

/* One step of a cursor: 1 row, 0 done, <0 error. */
static int step(sq_store *s, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return sq_err(s, rc);
}

static int emit_epoch(sqlite3_stmt *e, const kw_store_kt_loader *ld)
{
    if (sqlite3_column_bytes(e, 2) != KW_STORE_KT_HEADBYTES)
        return KW_ERR_STORAGE;
    return ld->epoch(ld->ctx, (uint64_t)sqlite3_column_int64(e, 0),
                     (uint64_t)sqlite3_column_int64(e, 1), sqlite3_column_blob(e, 2));
}

static int sq_kt_load(kw_store *st, const kw_store_kt_loader *ld)
{
    sq_store *s = sq_lock(st, "kt_load");
    bool row = false;
    int r, er, ur;
    /* Labels. */
    if ((r = sq_run_q(s, SQL_LABELS, &row, "")) != KW_OK)
        goto out;
    sqlite3_stmt *l = sq_stmt_q(s, SQL_LABELS);
    for (int k = row ? 1 : 0; k == 1; k = step(s, l)) {
        if (sqlite3_column_bytes(l, 1) != KW_STORE_KT_PROOFBYTES) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = ld->label(ld->ctx, sqlite3_column_blob(l, 0), (size_t)sqlite3_column_bytes(l, 0),
                           sqlite3_column_blob(l, 1))) != KW_OK)
            goto out;
    }
    /* Updates and epochs, merged. */
    if ((r = sq_run_q(s, SQL_EPOCHS, &row, "")) != KW_OK)
        goto out;
    sqlite3_stmt *e = sq_stmt_q(s, SQL_EPOCHS);
    er = row ? 1 : 0;
    if ((r = sq_run_q(s, SQL_UPDATES, &row, "")) != KW_OK)
        goto out;
    sqlite3_stmt *u = sq_stmt_q(s, SQL_UPDATES);
    ur = row ? 1 : 0;
    uint64_t last_epoch = 0;
    for (; ur == 1; ur = step(s, u)) {
        uint64_t ue = sqlite3_column_type(u, 1) == SQLITE_NULL ? KW_STORE_KT_PENDING
                                                               : (uint64_t)sqlite3_column_int64(u, 1);
        if (ue < last_epoch) {
            r = KW_ERR_STORAGE; /* epochs go backwards along the queue */
            goto out;
        }
        last_epoch = ue;
        for (; er == 1 && (uint64_t)sqlite3_column_int64(e, 0) < ue; er = step(s, e))
            if ((r = emit_epoch(e, ld)) != KW_OK)
                goto out;
        if (er < 0) {
            r = er;
            goto out;
        }
        int64_t version = sqlite3_column_int64(u, 3);
        if (version < 1 || version > (int64_t)UINT32_MAX - 1) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = ld->update(ld->ctx, (uint64_t)sqlite3_column_int64(u, 0), ue,
                            sqlite3_column_blob(u, 2), (size_t)sqlite3_column_bytes(u, 2),
                            (uint32_t)version, sqlite3_column_blob(u, 4),
                            (size_t)sqlite3_column_bytes(u, 4))) != KW_OK)
            goto out;
    }
    if (ur < 0) {
        r = ur;
        goto out;
    }
    for (; er == 1; er = step(s, e))
        if ((r = emit_epoch(e, ld)) != KW_OK)
            goto out;
    r = er < 0 ? er : KW_OK;
out:
    sq_unlock(s);
    return r;
}

static int sq_kt_auditor_put(kw_store *st, const uint8_t *pk, uint64_t epoch, const uint8_t *rec)
{
    sq_store *s = sq_lock(st, "kt_auditor_put");
    bool row = false;
    int r;
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    if ((r = sq_run_q(s, SQL_AUD_GET, &row, "b", pk, (size_t)32)) != KW_OK)
        goto out;
    if (row && (uint64_t)sqlite3_column_int64(sq_stmt_q(s, SQL_AUD_GET), 0) > epoch) {
        r = KW_ERR_CONFLICT;
        goto out;
    }
    sqlite3_reset(sq_stmt_q(s, SQL_AUD_GET));
    if ((r = sq_exec_q(s, SQL_AUD_PUT, NULL, "bib", pk, (size_t)32, I64(epoch), rec,
                       (size_t)KW_STORE_KT_AUDITBYTES)) != KW_OK)
        goto out;
    r = sq_commit(s);
out:
    sq_unlock(s);
    return r;
}

static int sq_kt_auditor_get(kw_store *st, const uint8_t *pk, uint8_t *rec)
{
    sq_store *s = sq_lock(st, "kt_auditor_get");
    bool row = false;
    int r = sq_run_q(s, SQL_AUD_GET, &row, "b", pk, (size_t)32);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        sqlite3_stmt *q = sq_stmt_q(s, SQL_AUD_GET);
        if (sqlite3_column_bytes(q, 1) != KW_STORE_KT_AUDITBYTES)
            r = KW_ERR_STORAGE;
        else
            memcpy(rec, sqlite3_column_blob(q, 1), KW_STORE_KT_AUDITBYTES);
    }
    sq_unlock(s);
    return r;
}

/* ---- several nodes (store/kt.h); SQLite serves one node, but the same
 * calls keep one code path in the server. ---- */

static const char SQL_NEXTVER[] =
    "SELECT COALESCE(MAX(version), 0) + 1 FROM kt_updates WHERE label = ?";
static const char SQL_NEWEST[] = "SELECT COALESCE(MAX(epoch), -1) FROM kt_epochs";
static const char SQL_LABELS_SINCE[] =
    "SELECT l.label, l.vrf_proof FROM kt_labels l JOIN kt_updates u"
    " ON u.label = l.label AND u.version = 1 WHERE u.seq > ?";
static const char SQL_UPDATES_SINCE[] =
    "SELECT seq, epoch, label, version, value FROM kt_updates WHERE seq > ? ORDER BY seq";
static const char SQL_BEGIN_READ[] = "BEGIN";
static const char SQL_EPOCHS_SINCE[] =
    "SELECT epoch, ts, head, n FROM kt_epochs WHERE epoch >= ? ORDER BY epoch";

static int sq_kt_append(kw_store *st, const uint8_t *label, size_t label_len, const uint8_t *value,
                        size_t value_len, int64_t now, uint64_t *seq, uint32_t *version,
                        uint64_t *newest_epoch)
{
    static const uint8_t empty[1] = {0};
    sq_store *s = sq_lock(st, "kt_append");
    int64_t v = 0, e = -1;
    int r;
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    if ((r = sq_scalar_q(s, SQL_NEXTVER, &v, "b", label, label_len)) != KW_OK ||
        (r = sq_scalar_q(s, SQL_NEWEST, &e, "")) != KW_OK)
        goto out;
    if (v < 1 || v > (int64_t)UINT32_MAX - 1) {
        r = KW_ERR_LIMIT;
        goto out;
    }
    if ((r = sq_exec_q(s, SQL_ENQ, NULL, "bibi", label, label_len, v,
                       value_len == 0 ? empty : value, value_len, now)) != KW_OK)
        goto out;
    int64_t q = sqlite3_last_insert_rowid(s->db);
    if ((r = sq_commit(s)) != KW_OK)
        goto out;
    *seq = (uint64_t)q;
    *version = (uint32_t)v;
    *newest_epoch = e < 0 ? KW_STORE_KT_PENDING : (uint64_t)e;
out:
    sq_unlock(s);
    return r;
}

static int emit_epoch_n(sqlite3_stmt *e, const kw_store_kt_follower *f)
{
    if (sqlite3_column_bytes(e, 2) != KW_STORE_KT_HEADBYTES || sqlite3_column_int64(e, 3) < 0)
        return KW_ERR_STORAGE;
    return f->epoch(f->ctx, (uint64_t)sqlite3_column_int64(e, 0),
                    (uint64_t)sqlite3_column_int64(e, 1), sqlite3_column_blob(e, 2),
                    (uint64_t)sqlite3_column_int64(e, 3));
}

static int sq_kt_load_since(kw_store *st, uint64_t after_seq, uint64_t from_epoch,
                            const kw_store_kt_follower *f)
{
    sq_store *s = sq_lock(st, "kt_load_since");
    bool row = false;
    int r, er, ur;
    /* One snapshot: a deferred (read) transaction; the connection is ours
     * while locked. */
    if ((r = sq_exec_q(s, SQL_BEGIN_READ, NULL, "")) != KW_OK)
        goto out;
    const char *lsql = after_seq == 0 ? SQL_LABELS : SQL_LABELS_SINCE;
    r = after_seq == 0 ? sq_run_q(s, SQL_LABELS, &row, "")
                       : sq_run_q(s, SQL_LABELS_SINCE, &row, "i", I64(after_seq));
    if (r != KW_OK)
        goto out;
    sqlite3_stmt *l = sq_stmt_q(s, lsql);
    for (int k = row ? 1 : 0; k != 0; k = step(s, l)) {
        if (k < 0) {
            r = k;
            goto out;
        }
        if (sqlite3_column_bytes(l, 1) != KW_STORE_KT_PROOFBYTES) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = f->label(f->ctx, sqlite3_column_blob(l, 0), (size_t)sqlite3_column_bytes(l, 0),
                          sqlite3_column_blob(l, 1))) != KW_OK)
            goto out;
    }
    if ((r = sq_run_q(s, SQL_EPOCHS_SINCE, &row, "i", I64(from_epoch))) != KW_OK)
        goto out;
    sqlite3_stmt *e = sq_stmt_q(s, SQL_EPOCHS_SINCE);
    er = row ? 1 : 0;
    if ((r = sq_run_q(s, SQL_UPDATES_SINCE, &row, "i", I64(after_seq))) != KW_OK)
        goto out;
    sqlite3_stmt *u = sq_stmt_q(s, SQL_UPDATES_SINCE);
    ur = row ? 1 : 0;
    uint64_t last_epoch = 0;
    for (; ur == 1; ur = step(s, u)) {
        uint64_t ue = sqlite3_column_type(u, 1) == SQLITE_NULL ? KW_STORE_KT_PENDING
                                                               : (uint64_t)sqlite3_column_int64(u, 1);
        if (ue < last_epoch || ue < from_epoch) {
            r = KW_ERR_STORAGE; /* epochs go backwards along the queue */
            goto out;
        }
        last_epoch = ue;
        for (; er == 1 && (uint64_t)sqlite3_column_int64(e, 0) < ue; er = step(s, e))
            if ((r = emit_epoch_n(e, f)) != KW_OK)
                goto out;
        if (er < 0) {
            r = er;
            goto out;
        }
        int64_t version = sqlite3_column_int64(u, 3);
        if (version < 1 || version > (int64_t)UINT32_MAX - 1) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = f->update(f->ctx, (uint64_t)sqlite3_column_int64(u, 0), ue,
                           sqlite3_column_blob(u, 2), (size_t)sqlite3_column_bytes(u, 2),
                           (uint32_t)version, sqlite3_column_blob(u, 4),
                           (size_t)sqlite3_column_bytes(u, 4))) != KW_OK)
            goto out;
    }
    if (ur < 0) {
        r = ur;
        goto out;
    }
    for (; er == 1; er = step(s, e))
        if ((r = emit_epoch_n(e, f)) != KW_OK)
            goto out;
    r = er < 0 ? er : KW_OK;
out:
    sq_unlock(s); /* ends the read transaction */
    return r;
}

/* One node per SQLite file: the lease is always held (sqlite_admin.c), so
 * there is nothing to fence; the epoch's primary key still refuses a
 * second commit of one epoch number. */
static int sq_kt_epoch_commit_fenced(kw_store *st, const char *lease, const char *holder,
                                     uint64_t epoch, uint64_t timestamp, const uint8_t *head,
                                     uint64_t upto_seq, size_t n, const kw_store_kt_label *labels,
                                     size_t nlabels)
{
    (void)lease;
    (void)holder;
    return sq_kt_epoch_commit(st, epoch, timestamp, head, upto_seq, n, labels, nlabels);
}

static int sq_kt_labels_put(kw_store *st, const kw_store_kt_label *labels, size_t n)
{
    sq_store *s = sq_lock(st, "kt_labels_put");
    int r = sq_begin(s);
    for (size_t i = 0; r == KW_OK && i < n; i++)
        r = sq_exec_q(s, SQL_LABEL, NULL, "bb", labels[i].label, labels[i].label_len,
                      labels[i].proof, (size_t)KW_STORE_KT_PROOFBYTES);
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

const struct kw_store_kt_ops sq_kt_ops = {
    .append = sq_kt_append,
    .load_since = sq_kt_load_since,
    .epoch_commit_fenced = sq_kt_epoch_commit_fenced,
    .labels_put = sq_kt_labels_put,
    .enqueue = sq_kt_enqueue,
    .enqueue_many = sq_kt_enqueue_many,
    .epoch_commit = sq_kt_epoch_commit,
    .load = sq_kt_load,
    .auditor_put = sq_kt_auditor_put,
    .auditor_get = sq_kt_auditor_get,
    .unqueued = sq_kt_unqueued,
};
