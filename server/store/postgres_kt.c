/*
 * server/store/postgres_kt.c — PostgreSQL backend of the key-transparency
 * domain (store/kt.h): component "kt" with the tables kt_updates,
 * kt_epochs, kt_labels and kt_auditors (as on SQLite) plus kt_seq, the
 * queue's head row.
 *
 * Sequence numbers: an identity column would hand out seq 7 and 8 to two
 * concurrent enqueues and let 8 commit first; a publisher marking "seq <=
 * 8" would then publish 8 while 7, committed a moment later, stays pending
 * behind an already published update, and the loader's order (epochs never
 * go backwards along the queue) would break at the next start. So each
 * enqueue transaction advances the head row kt_seq (UPDATE … RETURNING, the
 * row stays locked until COMMIT): seq order is commit order, on every node.
 *
 * Each write is one transaction with synchronous_commit on: an enqueued
 * update is durable before its promise leaves the server; an epoch's head,
 * the marking of its updates and its new labels' VRF proofs land together
 * or not at all. The load reads everything in one REPEATABLE READ snapshot.
 * An auditor record is one conditional upsert (never replaces a newer one).
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/kt.h"
#include "store/postgres_internal.h"

#define I64(x) ((int64_t)(x))

/* Step 1 of the component. Never edit; append new steps. */
static const char kt_step1[] =
    "CREATE TABLE kt_seq (id BIGINT PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL);"
    "INSERT INTO kt_seq (id, last) VALUES (1, 0);"
    "CREATE TABLE kt_updates ("
    "  seq BIGINT PRIMARY KEY,"
    "  label BYTEA NOT NULL CHECK (octet_length(label) BETWEEN 1 AND 1024),"
    "  version BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967294),"
    "  value BYTEA NOT NULL CHECK (octet_length(value) <= 65536),"
    "  accepted_at BIGINT NOT NULL,"
    "  epoch BIGINT,"
    "  UNIQUE (label, version)"
    ");"
    "CREATE INDEX kt_updates_pending ON kt_updates(epoch, seq);"
    "CREATE TABLE kt_epochs ("
    "  epoch BIGINT PRIMARY KEY CHECK (epoch >= 0),"
    "  ts BIGINT NOT NULL,"
    "  head BYTEA NOT NULL CHECK (octet_length(head) = 152),"
    "  n BIGINT NOT NULL"
    ");"
    "CREATE TABLE kt_labels ("
    "  label BYTEA PRIMARY KEY CHECK (octet_length(label) BETWEEN 1 AND 1024),"
    "  vrf_proof BYTEA NOT NULL CHECK (octet_length(vrf_proof) = 80)"
    ");"
    "CREATE TABLE kt_auditors ("
    "  auditor_pk BYTEA PRIMARY KEY CHECK (octet_length(auditor_pk) = 32),"
    "  epoch BIGINT NOT NULL,"
    "  record BYTEA NOT NULL CHECK (octet_length(record) = 248)"
    ");";

static const char *const kt_steps[] = {kt_step1};
const pg_component pg_kt_component = {"kt", kt_steps, (int)(sizeof(kt_steps) / sizeof(kt_steps[0]))};

static const char SQL_SEQ[] = "UPDATE kt_seq SET last = last + $1 WHERE id = 1 RETURNING last";
static const char SQL_ENQ[] = "INSERT INTO kt_updates (seq, label, version, value, accepted_at, epoch)"
                              " VALUES ($1, $2, $3, $4, $5, NULL)";
static const char SQL_MARK[] = "UPDATE kt_updates SET epoch = $1 WHERE epoch IS NULL AND seq <= $2";
static const char SQL_EPOCH[] = "INSERT INTO kt_epochs (epoch, ts, head, n) VALUES ($1, $2, $3, $4)";
static const char SQL_LABEL[] =
    "INSERT INTO kt_labels (label, vrf_proof) VALUES ($1, $2) ON CONFLICT (label) DO NOTHING";
static const char SQL_LABELS[] = "SELECT label, vrf_proof FROM kt_labels";
static const char SQL_UPDATES[] = "SELECT seq, epoch, label, version, value FROM kt_updates ORDER BY seq";
static const char SQL_EPOCHS[] = "SELECT epoch, ts, head FROM kt_epochs ORDER BY epoch";
static const char SQL_AUD_GET[] = "SELECT epoch, record FROM kt_auditors WHERE auditor_pk = $1";
static const char SQL_AUD_PUT[] =
    "INSERT INTO kt_auditors (auditor_pk, epoch, record) VALUES ($1, $2, $3) ON CONFLICT (auditor_pk)"
    " DO UPDATE SET epoch = excluded.epoch, record = excluded.record WHERE kt_auditors.epoch <= excluded.epoch";
static const char SQL_UNQUEUED[] =
    "SELECT a.name, r.roster FROM accounts a JOIN rosters r ON r.account_id = a.id"
    " WHERE r.version = (SELECT max(version) FROM rosters WHERE account_id = a.id)"
    "   AND NOT EXISTS (SELECT 1 FROM kt_updates u"
    "                    WHERE u.label = convert_to(a.name, 'UTF8') AND u.value = r.roster)"
    " ORDER BY a.id";

typedef struct {
    size_t n;
    const uint8_t *const *labels;
    const size_t *label_lens;
    const uint32_t *versions;
    const uint8_t *const *values;
    const size_t *value_lens;
    int64_t now;
    uint64_t *seqs;
    /* epoch commit */
    uint64_t epoch, timestamp, upto_seq;
    const uint8_t *head;
    const kw_store_kt_label *klabels;
    size_t nlabels;
    /* auditors */
    const uint8_t *pk;
    const uint8_t *rec_in;
    uint8_t *rec_out;
    /* load */
    const kw_store_kt_loader *ld;
    /* unqueued */
    kw_store_kt_roster *list;
    size_t count;
} kt_arg;

static int enqueue_body(pg_ctx *x, void *p)
{
    static const uint8_t empty[1] = {0};
    kt_arg *a = p;
    int64_t last = 0;
    int r = pg_scalar(x, SQL_SEQ, &last, "i", I64(a->n));
    for (size_t i = 0; r == KW_OK && i < a->n; i++) {
        int64_t seq = last - I64(a->n) + 1 + I64(i);
        r = pg_q(x, SQL_ENQ, NULL, NULL, "ibibi", seq, a->labels[i], a->label_lens[i], I64(a->versions[i]),
                 a->value_lens[i] == 0 ? empty : a->values[i], a->value_lens[i], a->now);
        if (r == KW_OK)
            a->seqs[i] = (uint64_t)seq;
    }
    return r;
}

static int pg_kt_enqueue_many(kw_store *st, size_t n, const uint8_t *const *labels, const size_t *label_lens,
                              const uint32_t *versions, const uint8_t *const *values, const size_t *value_lens,
                              int64_t now, uint64_t *seqs)
{
    if (n == 0)
        return KW_OK;
    kt_arg a = {.n = n, .labels = labels, .label_lens = label_lens, .versions = versions, .values = values,
                .value_lens = value_lens, .now = now, .seqs = seqs};
    return pg_run_txn((pg_store *)st, "kt_enqueue", PG_READ_COMMITTED, enqueue_body, &a);
}

static int pg_kt_enqueue(kw_store *st, const uint8_t *label, size_t label_len, uint32_t version,
                         const uint8_t *value, size_t value_len, int64_t now, uint64_t *seq)
{
    return pg_kt_enqueue_many(st, 1, &label, &label_len, &version, &value, &value_len, now, seq);
}

static int epoch_body(pg_ctx *x, void *p)
{
    kt_arg *a = p;
    int changes = 0;
    int r = KW_OK;
    if (a->n > 0)
        r = pg_q(x, SQL_MARK, NULL, &changes, "ii", I64(a->epoch), I64(a->upto_seq));
    if (r == KW_OK && (size_t)changes != a->n) {
        pg_log(x->op, "-", "pending updates in the store disagree with the queue");
        r = KW_ERR_STORAGE;
    }
    if (r == KW_OK)
        r = pg_q(x, SQL_EPOCH, NULL, NULL, "iibi", I64(a->epoch), I64(a->timestamp), a->head,
                 (size_t)KW_STORE_KT_HEADBYTES, I64(a->n));
    for (size_t i = 0; r == KW_OK && i < a->nlabels; i++)
        r = pg_q(x, SQL_LABEL, NULL, NULL, "bb", a->klabels[i].label, a->klabels[i].label_len,
                 a->klabels[i].proof, (size_t)KW_STORE_KT_PROOFBYTES);
    return r;
}

static int pg_kt_epoch_commit(kw_store *st, uint64_t epoch, uint64_t timestamp, const uint8_t *head,
                              uint64_t upto_seq, size_t n, const kw_store_kt_label *labels, size_t nlabels)
{
    kt_arg a = {.epoch = epoch, .timestamp = timestamp, .head = head, .upto_seq = upto_seq, .n = n,
                .klabels = labels, .nlabels = nlabels};
    return pg_run_txn((pg_store *)st, "kt_epoch_commit", PG_READ_COMMITTED, epoch_body, &a);
}

static int emit_epoch(const PGresult *e, int row, const kw_store_kt_loader *ld)
{
    if (PQgetlength(e, row, 2) != KW_STORE_KT_HEADBYTES)
        return KW_ERR_STORAGE;
    return ld->epoch(ld->ctx, (uint64_t)pg_col_i64(e, row, 0), (uint64_t)pg_col_i64(e, row, 1),
                     (const uint8_t *)PQgetvalue(e, row, 2));
}

static int load_body(pg_ctx *x, void *p)
{
    const kw_store_kt_loader *ld = ((kt_arg *)p)->ld;
    PGresult *l = NULL, *e = NULL, *u = NULL;
    int r = pg_q(x, SQL_LABELS, &l, NULL, "");
    if (r == KW_OK)
        r = pg_q(x, SQL_EPOCHS, &e, NULL, "");
    if (r == KW_OK)
        r = pg_q(x, SQL_UPDATES, &u, NULL, "");
    if (r != KW_OK)
        goto out;
    for (int i = 0; i < PQntuples(l); i++) {
        if (PQgetlength(l, i, 1) != KW_STORE_KT_PROOFBYTES) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = ld->label(ld->ctx, (const uint8_t *)PQgetvalue(l, i, 0), (size_t)PQgetlength(l, i, 0),
                           (const uint8_t *)PQgetvalue(l, i, 1))) != KW_OK)
            goto out;
    }
    int ne = PQntuples(e), ei = 0;
    uint64_t last_epoch = 0;
    for (int i = 0; i < PQntuples(u); i++) {
        uint64_t ue = pg_col_null(u, i, 1) ? KW_STORE_KT_PENDING : (uint64_t)pg_col_i64(u, i, 1);
        if (ue < last_epoch) {
            r = KW_ERR_STORAGE; /* epochs go backwards along the queue */
            goto out;
        }
        last_epoch = ue;
        for (; ei < ne && (uint64_t)pg_col_i64(e, ei, 0) < ue; ei++)
            if ((r = emit_epoch(e, ei, ld)) != KW_OK)
                goto out;
        int64_t version = pg_col_i64(u, i, 3);
        if (version < 1 || version > (int64_t)UINT32_MAX - 1) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = ld->update(ld->ctx, (uint64_t)pg_col_i64(u, i, 0), ue, (const uint8_t *)PQgetvalue(u, i, 2),
                            (size_t)PQgetlength(u, i, 2), (uint32_t)version, (const uint8_t *)PQgetvalue(u, i, 4),
                            (size_t)PQgetlength(u, i, 4))) != KW_OK)
            goto out;
    }
    for (; ei < ne; ei++)
        if ((r = emit_epoch(e, ei, ld)) != KW_OK)
            goto out;
out:
    PQclear(l);
    PQclear(e);
    PQclear(u);
    return r;
}

static int pg_kt_load(kw_store *st, const kw_store_kt_loader *ld)
{
    kt_arg a = {.ld = ld};
    return pg_run_txn((pg_store *)st, "kt_load", PG_SNAPSHOT, load_body, &a);
}

static int aud_put_body(pg_ctx *x, void *p)
{
    kt_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_AUD_PUT, NULL, &changes, "bib", a->pk, (size_t)32, I64(a->epoch), a->rec_in,
                 (size_t)KW_STORE_KT_AUDITBYTES);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_CONFLICT; /* a record for a later epoch is stored */
    return r;
}

static int pg_kt_auditor_put(kw_store *st, const uint8_t *pk, uint64_t epoch, const uint8_t *rec)
{
    kt_arg a = {.pk = pk, .epoch = epoch, .rec_in = rec};
    return pg_run_txn((pg_store *)st, "kt_auditor_put", PG_AUTOCOMMIT, aud_put_body, &a);
}

static int aud_get_body(pg_ctx *x, void *p)
{
    kt_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_AUD_GET, &res, NULL, "b", a->pk, (size_t)32);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        if (PQgetlength(res, 0, 1) != KW_STORE_KT_AUDITBYTES)
            r = KW_ERR_STORAGE;
        else
            memcpy(a->rec_out, PQgetvalue(res, 0, 1), KW_STORE_KT_AUDITBYTES);
    }
    PQclear(res);
    return r;
}

static int pg_kt_auditor_get(kw_store *st, const uint8_t *pk, uint8_t *rec)
{
    kt_arg a = {.pk = pk, .rec_out = rec};
    return pg_run_txn((pg_store *)st, "kt_auditor_get", PG_AUTOCOMMIT, aud_get_body, &a);
}

static int unqueued_body(pg_ctx *x, void *p)
{
    kt_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_UNQUEUED, &res, NULL, "");
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    kw_store_kt_roster *list = NULL;
    if (n > 0 && (list = calloc((size_t)n, sizeof(*list))) == NULL)
        r = KW_ERR_NOMEM;
    for (int i = 0; i < n && r == KW_OK; i++) {
        if ((list[i].name = strdup(PQgetvalue(res, i, 0))) == NULL)
            r = KW_ERR_NOMEM;
        else
            r = pg_col_dup(res, i, 1, &list[i].roster, &list[i].len);
    }
    PQclear(res);
    if (r != KW_OK) {
        kw_store_kt_unqueued_free(list, (size_t)n);
        return r;
    }
    a->list = list;
    a->count = (size_t)n;
    return KW_OK;
}

static int pg_kt_unqueued(kw_store *st, kw_store_kt_roster **out, size_t *n)
{
    kt_arg a = {0};
    int r = pg_run_txn((pg_store *)st, "kt_unqueued", PG_SNAPSHOT, unqueued_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *n = a.count;
    }
    return r;
}

/* ---- several nodes (store/kt.h) ---- */

#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT"

static const char SQL_NEXTVER[] =
    "SELECT COALESCE(max(version), 0) + 1 FROM kt_updates WHERE label = $1";
static const char SQL_NEWEST[] = "SELECT COALESCE(max(epoch), -1) FROM kt_epochs";
static const char SQL_LABELS_SINCE[] =
    "SELECT l.label, l.vrf_proof FROM kt_labels l JOIN kt_updates u"
    " ON u.label = l.label AND u.version = 1 WHERE u.seq > $1";
static const char SQL_UPDATES_SINCE[] =
    "SELECT seq, epoch, label, version, value FROM kt_updates WHERE seq > $1 ORDER BY seq";
static const char SQL_EPOCHS_SINCE[] =
    "SELECT epoch, ts, head, n FROM kt_epochs WHERE epoch >= $1 ORDER BY epoch";
/* The fence: the lease row, locked until COMMIT so that nobody can take it
 * over between this check and the epoch's commit. */
static const char SQL_FENCE[] = "SELECT 1 FROM leases WHERE name = $1 AND holder = $2"
                                " AND expires_ms > " NOW_MS " FOR UPDATE";

typedef struct {
    const uint8_t *label, *value;
    size_t label_len, value_len;
    int64_t now;
    uint64_t seq, newest;
    uint32_t version;
} append_arg;

/* The head row kt_seq is updated first: it stays locked until COMMIT, so
 * appends run one after the other on every node, and the version read
 * next (a new snapshot under READ COMMITTED) sees every earlier append.
 * UNIQUE (label, version) backs it up (a conflict is retried). */
static int append_body(pg_ctx *x, void *p)
{
    static const uint8_t empty[1] = {0};
    append_arg *a = p;
    int64_t last = 0, v = 0, e = -1;
    int r = pg_scalar(x, SQL_SEQ, &last, "i", (int64_t)1);
    if (r == KW_OK)
        r = pg_scalar(x, SQL_NEXTVER, &v, "b", a->label, a->label_len);
    if (r == KW_OK)
        r = pg_scalar(x, SQL_NEWEST, &e, "");
    if (r == KW_OK && (v < 1 || v > (int64_t)UINT32_MAX - 1))
        r = KW_ERR_LIMIT;
    if (r == KW_OK)
        r = pg_q(x, SQL_ENQ, NULL, NULL, "ibibi", last, a->label, a->label_len, v,
                 a->value_len == 0 ? empty : a->value, a->value_len, a->now);
    if (r == KW_ERR_CONFLICT)
        r = PG_RETRY;
    if (r == KW_OK) {
        a->seq = (uint64_t)last;
        a->version = (uint32_t)v;
        a->newest = e < 0 ? KW_STORE_KT_PENDING : (uint64_t)e;
    }
    return r;
}

static int pg_kt_append(kw_store *st, const uint8_t *label, size_t label_len, const uint8_t *value,
                        size_t value_len, int64_t now, uint64_t *seq, uint32_t *version,
                        uint64_t *newest_epoch)
{
    append_arg a = {.label = label, .label_len = label_len, .value = value, .value_len = value_len,
                    .now = now};
    int r = pg_run_txn((pg_store *)st, "kt_append", PG_READ_COMMITTED, append_body, &a);
    if (r == KW_OK) {
        *seq = a.seq;
        *version = a.version;
        *newest_epoch = a.newest;
    }
    return r;
}

typedef struct {
    uint64_t after_seq, from_epoch;
    const kw_store_kt_follower *f;
} since_arg;

static int emit_epoch_n(const PGresult *e, int row, const kw_store_kt_follower *f)
{
    if (PQgetlength(e, row, 2) != KW_STORE_KT_HEADBYTES || pg_col_i64(e, row, 3) < 0)
        return KW_ERR_STORAGE;
    return f->epoch(f->ctx, (uint64_t)pg_col_i64(e, row, 0), (uint64_t)pg_col_i64(e, row, 1),
                    (const uint8_t *)PQgetvalue(e, row, 2), (uint64_t)pg_col_i64(e, row, 3));
}

static int since_body(pg_ctx *x, void *p)
{
    since_arg *a = p;
    const kw_store_kt_follower *f = a->f;
    PGresult *l = NULL, *e = NULL, *u = NULL;
    int r = a->after_seq == 0 ? pg_q(x, SQL_LABELS, &l, NULL, "")
                              : pg_q(x, SQL_LABELS_SINCE, &l, NULL, "i", I64(a->after_seq));
    if (r == KW_OK)
        r = pg_q(x, SQL_EPOCHS_SINCE, &e, NULL, "i", I64(a->from_epoch));
    if (r == KW_OK)
        r = pg_q(x, SQL_UPDATES_SINCE, &u, NULL, "i", I64(a->after_seq));
    if (r != KW_OK)
        goto out;
    for (int i = 0; i < PQntuples(l); i++) {
        if (PQgetlength(l, i, 1) != KW_STORE_KT_PROOFBYTES) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = f->label(f->ctx, (const uint8_t *)PQgetvalue(l, i, 0), (size_t)PQgetlength(l, i, 0),
                          (const uint8_t *)PQgetvalue(l, i, 1))) != KW_OK)
            goto out;
    }
    int ne = PQntuples(e), ei = 0;
    uint64_t last_epoch = 0;
    for (int i = 0; i < PQntuples(u); i++) {
        uint64_t ue = pg_col_null(u, i, 1) ? KW_STORE_KT_PENDING : (uint64_t)pg_col_i64(u, i, 1);
        if (ue < last_epoch || ue < a->from_epoch) {
            r = KW_ERR_STORAGE; /* epochs go backwards along the queue */
            goto out;
        }
        last_epoch = ue;
        for (; ei < ne && (uint64_t)pg_col_i64(e, ei, 0) < ue; ei++)
            if ((r = emit_epoch_n(e, ei, f)) != KW_OK)
                goto out;
        int64_t version = pg_col_i64(u, i, 3);
        if (version < 1 || version > (int64_t)UINT32_MAX - 1) {
            r = KW_ERR_STORAGE;
            goto out;
        }
        if ((r = f->update(f->ctx, (uint64_t)pg_col_i64(u, i, 0), ue, (const uint8_t *)PQgetvalue(u, i, 2),
                           (size_t)PQgetlength(u, i, 2), (uint32_t)version,
                           (const uint8_t *)PQgetvalue(u, i, 4), (size_t)PQgetlength(u, i, 4))) != KW_OK)
            goto out;
    }
    for (; ei < ne; ei++)
        if ((r = emit_epoch_n(e, ei, f)) != KW_OK)
            goto out;
out:
    PQclear(l);
    PQclear(e);
    PQclear(u);
    return r;
}

static int pg_kt_load_since(kw_store *st, uint64_t after_seq, uint64_t from_epoch,
                            const kw_store_kt_follower *f)
{
    since_arg a = {.after_seq = after_seq, .from_epoch = from_epoch, .f = f};
    return pg_run_txn((pg_store *)st, "kt_load_since", PG_SNAPSHOT, since_body, &a);
}

typedef struct {
    kt_arg k;
    const char *lease, *holder;
} fenced_arg;

static int fenced_body(pg_ctx *x, void *p)
{
    fenced_arg *a = p;
    if (a->lease != NULL) {
        PGresult *res = NULL;
        int r = pg_q(x, SQL_FENCE, &res, NULL, "tt", a->lease, a->holder);
        int held = r == KW_OK && PQntuples(res) == 1;
        PQclear(res);
        if (r != KW_OK)
            return r;
        if (!held)
            return KW_ERR_CONFLICT; /* the lease is gone: another node publishes */
    }
    return epoch_body(x, &a->k);
}

static int pg_kt_epoch_commit_fenced(kw_store *st, const char *lease, const char *holder,
                                     uint64_t epoch, uint64_t timestamp, const uint8_t *head,
                                     uint64_t upto_seq, size_t n, const kw_store_kt_label *labels,
                                     size_t nlabels)
{
    fenced_arg a = {.k = {.epoch = epoch, .timestamp = timestamp, .head = head, .upto_seq = upto_seq,
                          .n = n, .klabels = labels, .nlabels = nlabels},
                    .lease = lease, .holder = holder};
    return pg_run_txn((pg_store *)st, "kt_epoch_commit", PG_READ_COMMITTED, fenced_body, &a);
}

static int labels_body(pg_ctx *x, void *p)
{
    kt_arg *a = p;
    int r = KW_OK;
    for (size_t i = 0; r == KW_OK && i < a->nlabels; i++)
        r = pg_q(x, SQL_LABEL, NULL, NULL, "bb", a->klabels[i].label, a->klabels[i].label_len,
                 a->klabels[i].proof, (size_t)KW_STORE_KT_PROOFBYTES);
    return r;
}

static int pg_kt_labels_put(kw_store *st, const kw_store_kt_label *labels, size_t n)
{
    kt_arg a = {.klabels = labels, .nlabels = n};
    return pg_run_txn((pg_store *)st, "kt_labels_put", PG_READ_COMMITTED, labels_body, &a);
}

const struct kw_store_kt_ops pg_kt_ops = {
    .append = pg_kt_append,
    .load_since = pg_kt_load_since,
    .epoch_commit_fenced = pg_kt_epoch_commit_fenced,
    .labels_put = pg_kt_labels_put,
    .enqueue = pg_kt_enqueue,
    .enqueue_many = pg_kt_enqueue_many,
    .epoch_commit = pg_kt_epoch_commit,
    .load = pg_kt_load,
    .auditor_put = pg_kt_auditor_put,
    .auditor_get = pg_kt_auditor_get,
    .unqueued = pg_kt_unqueued,
};
