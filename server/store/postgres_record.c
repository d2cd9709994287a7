/*
 * server/store/postgres_record.c — the record domain on PostgreSQL
 * (server/store/record.h): the "records" component (same tables as
 * sqlite_record.c, BLOB → BYTEA, INTEGER → BIGINT), compare-and-swap record
 * writes and deletes with the zone change counter, upload sessions, content
 * references for garbage collection, keychain updates.
 *
 * Concurrency between nodes (SQLite gets it from BEGIN IMMEDIATE): put,
 * delete and upload_create run READ COMMITTED after locking the account row
 * (SELECT … FOR UPDATE, the lock every read-check-write of an account
 * takes), so per account they queue whichever node serves them: the
 * version compare-and-swap, the upload limit and the zone counter (an
 * upsert … RETURNING) never see a stale value, and the loser of a race
 * gets KW_ERR_CONFLICT. The keychain update is one compare-and-swap
 * UPDATE. Every write commits (synchronous_commit on) before it returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/postgres_internal.h"
#include "store/record.h"

#define UPLOADS_PER_ACCOUNT_MAX 64

/* Step 1 of the component. Never edit; append new steps. */
static const char rec_step1[] =
    "CREATE TABLE records ("
    "  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  zone TEXT NOT NULL,"
    "  id BYTEA NOT NULL CHECK (octet_length(id) = 16),"
    "  version BIGINT NOT NULL CHECK (version >= 1),"
    "  meta BYTEA NOT NULL,"
    "  wrap BYTEA NOT NULL,"
    "  key_generation BIGINT NOT NULL CHECK (key_generation >= 1),"
    "  content_len BIGINT NOT NULL CHECK (content_len >= 0),"
    "  nchunks BIGINT NOT NULL CHECK (nchunks >= 1),"
    "  content BYTEA,"
    "  ref BYTEA UNIQUE CHECK (ref IS NULL OR octet_length(ref) = 16),"
    "  change BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  CHECK ((content IS NULL) <> (ref IS NULL)),"
    "  UNIQUE (account_id, category, zone, id)"
    ");"
    "CREATE TABLE record_zones ("
    "  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  zone TEXT NOT NULL,"
    "  change BIGINT NOT NULL CHECK (change >= 1),"
    "  PRIMARY KEY (account_id, category, zone)"
    ");"
    "CREATE TABLE record_uploads ("
    "  ref BYTEA PRIMARY KEY CHECK (octet_length(ref) = 16),"
    "  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  zone TEXT NOT NULL,"
    "  id BYTEA NOT NULL,"
    "  version BIGINT NOT NULL,"
    "  created_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX record_uploads_by_account ON record_uploads(account_id);"
    "CREATE INDEX record_uploads_by_age ON record_uploads(created_at);";

static const char *const rec_steps[] = {rec_step1};
const pg_component pg_record_component = {"records", rec_steps, 1};

#define REC_COLS                                                                                   \
    "category, zone, id, version, meta, wrap, key_generation, content_len, nchunks, ref, change, " \
    "updated_at"

static const char SQL_ACC_LOCK[] = "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE";
static const char SQL_CUR[] = "SELECT version, ref FROM records WHERE account_id = $1 AND category = $2"
                              " AND zone = $3 AND id = $4";
static const char SQL_ZONE_BUMP[] =
    "INSERT INTO record_zones (account_id, category, zone, change) VALUES ($1, $2, $3, 1)"
    " ON CONFLICT (account_id, category, zone) DO UPDATE SET change = record_zones.change + 1"
    " RETURNING change";
static const char SQL_ZONE_GET[] =
    "SELECT change FROM record_zones WHERE account_id = $1 AND category = $2 AND zone = $3";
static const char SQL_INSERT[] =
    "INSERT INTO records (account_id, category, zone, id, version, meta, wrap, key_generation,"
    " content_len, nchunks, content, ref, change, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
static const char SQL_UPDATE[] =
    "UPDATE records SET version = $5, meta = $6, wrap = $7, key_generation = $8, content_len = $9,"
    " nchunks = $10, content = $11, ref = $12, change = $13, updated_at = $14"
    " WHERE account_id = $1 AND category = $2 AND zone = $3 AND id = $4";
static const char SQL_DELETE[] =
    "DELETE FROM records WHERE account_id = $1 AND category = $2 AND zone = $3 AND id = $4";
static const char SQL_GET[] = "SELECT " REC_COLS ", content FROM records WHERE account_id = $1"
                              " AND category = $2 AND zone = $3 AND id = $4";
static const char SQL_LIST[] = "SELECT " REC_COLS " FROM records WHERE account_id = $1 AND category = $2"
                               " AND zone = $3 AND id > $4 ORDER BY id LIMIT $5";
static const char SQL_UP_INSERT[] =
    "INSERT INTO record_uploads (ref, account_id, category, zone, id, version, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)";
static const char SQL_UP_COUNT[] = "SELECT count(*) FROM record_uploads WHERE account_id = $1";
static const char SQL_UP_GET[] =
    "SELECT account_id, category, zone, id, version, created_at FROM record_uploads WHERE ref = $1";
static const char SQL_UP_DEL[] = "DELETE FROM record_uploads WHERE ref = $1 AND account_id = $2";
static const char SQL_UP_EXPIRE[] = "DELETE FROM record_uploads WHERE created_at < $1";
static const char SQL_REF_OWNER[] = "SELECT account_id, nchunks FROM records WHERE ref = $1";
static const char SQL_REFS[] = "SELECT ref FROM records WHERE ref IS NOT NULL"
                               " UNION ALL SELECT ref FROM record_uploads";
static const char SQL_KC_PUT[] =
    "UPDATE keychains SET version = $2, keychain = $3 WHERE account_id = $1 AND version = $2 - 1";
static const char SQL_KC_EXISTS[] = "SELECT version FROM keychains WHERE account_id = $1";

typedef struct {
    int64_t account_id, now, version, uploads_since;
    const kw_store_record *rec;
    const kw_store_upload *up_in;
    kw_store_upload *up_out;
    const char *category, *zone;
    const uint8_t *id, *after, *ref, *keychain;
    size_t limit, len;
    int64_t *change, *nchunks, *owner;
    uint8_t *old_ref;
    bool *had_old;
    kw_store_record *out;
    kw_store_record *list;
    uint8_t (*refs)[KW_STORE_REC_REF_BYTES];
    size_t count;
} rec_arg;

static int lock_account(pg_ctx *x, int64_t account_id)
{
    PGresult *res = NULL;
    int r = pg_q(x, SQL_ACC_LOCK, &res, NULL, "i", account_id);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}

/* The current version (0 when absent) and content ref of a record. */
static int cur_version(pg_ctx *x, int64_t account_id, const char *cat, const char *zone, const uint8_t id[16],
                       int64_t *version, uint8_t old_ref[16], bool *had_old)
{
    PGresult *res = NULL;
    *version = 0;
    *had_old = false;
    int r = pg_q(x, SQL_CUR, &res, NULL, "ittI", account_id, cat, zone, id);
    if (r == KW_OK && PQntuples(res) == 1) {
        *version = pg_col_i64(res, 0, 0);
        if (!pg_col_null(res, 0, 1) && PQgetlength(res, 0, 1) == 16) {
            pg_col_fixed(res, 0, 1, old_ref, 16);
            *had_old = true;
        }
    }
    PQclear(res);
    return r;
}

static int zone_bump(pg_ctx *x, int64_t account_id, const char *cat, const char *zone, int64_t *change)
{
    return pg_scalar(x, SQL_ZONE_BUMP, change, "itt", account_id, cat, zone);
}

static int put_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    const kw_store_record *rec = a->rec;
    int64_t cur = 0;
    PGresult *res = NULL;
    int r = lock_account(x, a->account_id);
    if (r == KW_OK)
        r = cur_version(x, a->account_id, rec->category, rec->zone, rec->id, &cur, a->old_ref, a->had_old);
    if (r == KW_OK && rec->version != cur + 1)
        r = KW_ERR_CONFLICT;
    if (r == KW_OK && rec->has_ref) {
        char c[KW_STORE_REC_CATEGORY_MAX + 1], z[KW_STORE_REC_ZONE_MAX + 1];
        if ((r = pg_q(x, SQL_UP_GET, &res, NULL, "b", rec->ref, (size_t)16)) != KW_OK)
            return r;
        if (PQntuples(res) != 1 || pg_col_i64(res, 0, 0) != a->account_id) {
            r = KW_ERR_NOT_FOUND;
        } else {
            pg_col_text(res, 0, 1, c, sizeof(c));
            pg_col_text(res, 0, 2, z, sizeof(z));
            if (strcmp(c, rec->category) != 0 || strcmp(z, rec->zone) != 0 || PQgetlength(res, 0, 3) != 16 ||
                memcmp(PQgetvalue(res, 0, 3), rec->id, 16) != 0 || pg_col_i64(res, 0, 4) != rec->version)
                r = KW_ERR_CONFLICT;
        }
        PQclear(res);
        if (r == KW_OK)
            r = pg_q(x, SQL_UP_DEL, NULL, NULL, "bi", rec->ref, (size_t)16, a->account_id);
    }
    if (r == KW_OK)
        r = zone_bump(x, a->account_id, rec->category, rec->zone, a->change);
    if (r == KW_OK)
        r = pg_q(x, cur == 0 ? SQL_INSERT : SQL_UPDATE, NULL, NULL, "ittIibbiiibbii", a->account_id, rec->category,
                 rec->zone, rec->id, rec->version, rec->meta, rec->meta_len, rec->wrap, rec->wrap_len,
                 rec->key_generation, rec->content_len, rec->nchunks, rec->content, rec->content_size,
                 rec->has_ref ? rec->ref : NULL, (size_t)16, *a->change, a->now);
    return r;
}

static int pg_rec_put(kw_store *st, int64_t account_id, const kw_store_record *rec, int64_t now, int64_t *change,
                      uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old)
{
    rec_arg a = {.account_id = account_id, .rec = rec, .now = now, .change = change, .old_ref = old_ref,
                 .had_old = had_old};
    int r = pg_run_txn((pg_store *)st, "record_put", PG_READ_COMMITTED, put_body, &a);
    if (r != KW_OK) {
        *change = 0;
        *had_old = false;
    }
    return r;
}

/* Reads the REC_COLS columns of a row (content not included). */
static int read_row(const PGresult *res, int i, kw_store_record *o)
{
    pg_col_text(res, i, 0, o->category, sizeof(o->category));
    pg_col_text(res, i, 1, o->zone, sizeof(o->zone));
    pg_col_fixed(res, i, 2, o->id, 16);
    o->version = pg_col_i64(res, i, 3);
    int r = pg_col_dup(res, i, 4, &o->meta, &o->meta_len);
    if (r == KW_OK)
        r = pg_col_dup(res, i, 5, &o->wrap, &o->wrap_len);
    o->key_generation = pg_col_i64(res, i, 6);
    o->content_len = pg_col_i64(res, i, 7);
    o->nchunks = pg_col_i64(res, i, 8);
    if (!pg_col_null(res, i, 9)) {
        o->has_ref = true;
        pg_col_fixed(res, i, 9, o->ref, 16);
    }
    o->change = pg_col_i64(res, i, 10);
    o->updated_at = pg_col_i64(res, i, 11);
    return r;
}

static int get_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_GET, &res, NULL, "ittI", a->account_id, a->category, a->zone, a->id);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        r = read_row(res, 0, a->out);
        if (r == KW_OK && !pg_col_null(res, 0, 12))
            r = pg_col_dup(res, 0, 12, &a->out->content, &a->out->content_size);
        if (r != KW_OK)
            kw_store_record_clear(a->out);
    }
    PQclear(res);
    return r;
}

static int pg_rec_get(kw_store *st, int64_t account_id, const char *category, const char *zone,
                      const uint8_t id[KW_STORE_REC_ID_BYTES], kw_store_record *out)
{
    rec_arg a = {.account_id = account_id, .category = category, .zone = zone, .id = id, .out = out};
    return pg_run_txn((pg_store *)st, "record_get", PG_AUTOCOMMIT, get_body, &a);
}

/* The zone counter and the page in one snapshot. */
static int list_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    PGresult *res = NULL;
    int64_t ch = 0;
    int r = pg_scalar(x, SQL_ZONE_GET, &ch, "itt", a->account_id, a->category, a->zone);
    if (r == KW_ERR_NOT_FOUND) {
        ch = 0;
        r = KW_OK;
    }
    if (r == KW_OK)
        r = pg_q(x, SQL_LIST, &res, NULL, "ittbi", a->account_id, a->category, a->zone,
                 a->after != NULL ? a->after : (const uint8_t *)"", (size_t)(a->after != NULL ? 16 : 0),
                 (int64_t)a->limit);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    kw_store_record *list = calloc(a->limit > 0 ? a->limit : 1, sizeof(*list));
    if (list == NULL)
        r = KW_ERR_NOMEM;
    int got = 0;
    for (; r == KW_OK && got < n && (size_t)got < a->limit; got++)
        if ((r = read_row(res, got, &list[got])) != KW_OK) {
            got++;
            break;
        }
    PQclear(res);
    if (r != KW_OK) {
        kw_store_record_free_list(&list, (size_t)got);
        return r;
    }
    a->list = list;
    a->count = (size_t)got;
    *a->change = ch;
    return KW_OK;
}

static int pg_rec_list(kw_store *st, int64_t account_id, const char *category, const char *zone,
                       const uint8_t *after, size_t limit, kw_store_record **out, size_t *count, int64_t *change)
{
    rec_arg a = {.account_id = account_id, .category = category, .zone = zone, .after = after, .limit = limit,
                 .change = change};
    int r = pg_run_txn((pg_store *)st, "record_list", PG_SNAPSHOT, list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

static int del_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    int64_t cur = 0;
    int r = lock_account(x, a->account_id);
    if (r == KW_OK)
        r = cur_version(x, a->account_id, a->category, a->zone, a->id, &cur, a->old_ref, a->had_old);
    if (r == KW_OK && cur == 0)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK && cur != a->version)
        r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = pg_q(x, SQL_DELETE, NULL, NULL, "ittI", a->account_id, a->category, a->zone, a->id);
    if (r == KW_OK)
        r = zone_bump(x, a->account_id, a->category, a->zone, a->change);
    return r;
}

static int pg_rec_delete(kw_store *st, int64_t account_id, const char *category, const char *zone,
                         const uint8_t id[KW_STORE_REC_ID_BYTES], int64_t version, int64_t *change,
                         uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old)
{
    rec_arg a = {.account_id = account_id, .category = category, .zone = zone, .id = id, .version = version,
                 .change = change, .old_ref = old_ref, .had_old = had_old};
    int r = pg_run_txn((pg_store *)st, "record_delete", PG_READ_COMMITTED, del_body, &a);
    if (r != KW_OK) {
        *change = 0;
        *had_old = false;
    }
    return r;
}

static int up_create_body(pg_ctx *x, void *p)
{
    const kw_store_upload *up = ((rec_arg *)p)->up_in;
    int64_t cur = 0, n = 0;
    uint8_t ref[16];
    bool had = false;
    int r = lock_account(x, up->account_id);
    if (r == KW_OK)
        r = pg_scalar(x, SQL_UP_COUNT, &n, "i", up->account_id);
    if (r == KW_OK && n >= UPLOADS_PER_ACCOUNT_MAX)
        r = KW_ERR_LIMIT;
    if (r == KW_OK)
        r = cur_version(x, up->account_id, up->category, up->zone, up->id, &cur, ref, &had);
    if (r == KW_OK && up->version != cur + 1)
        r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = pg_q(x, SQL_UP_INSERT, NULL, NULL, "bittIii", up->ref, (size_t)16, up->account_id, up->category,
                 up->zone, up->id, up->version, up->created_at);
    return r;
}

static int pg_up_create(kw_store *st, const kw_store_upload *up)
{
    rec_arg a = {.up_in = up};
    return pg_run_txn((pg_store *)st, "record_upload_create", PG_READ_COMMITTED, up_create_body, &a);
}

static int up_get_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    kw_store_upload *out = a->up_out;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_UP_GET, &res, NULL, "b", a->ref, (size_t)16);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        memcpy(out->ref, a->ref, 16);
        out->account_id = pg_col_i64(res, 0, 0);
        pg_col_text(res, 0, 1, out->category, sizeof(out->category));
        pg_col_text(res, 0, 2, out->zone, sizeof(out->zone));
        pg_col_fixed(res, 0, 3, out->id, 16);
        out->version = pg_col_i64(res, 0, 4);
        out->created_at = pg_col_i64(res, 0, 5);
    }
    PQclear(res);
    return r;
}

static int pg_up_get(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES], kw_store_upload *out)
{
    rec_arg a = {.ref = ref, .up_out = out};
    return pg_run_txn((pg_store *)st, "record_upload_get", PG_AUTOCOMMIT, up_get_body, &a);
}

static int up_del_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_UP_DEL, NULL, &changes, "bi", a->ref, (size_t)16, a->account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    return r;
}

static int pg_up_delete(kw_store *st, int64_t account_id, const uint8_t ref[KW_STORE_REC_REF_BYTES])
{
    rec_arg a = {.account_id = account_id, .ref = ref};
    return pg_run_txn((pg_store *)st, "record_upload_delete", PG_AUTOCOMMIT, up_del_body, &a);
}

static int owner_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_REF_OWNER, &res, NULL, "b", a->ref, (size_t)16);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        *a->owner = pg_col_i64(res, 0, 0);
        *a->nchunks = pg_col_i64(res, 0, 1);
    }
    PQclear(res);
    return r;
}

static int pg_ref_owner(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES], int64_t *account_id,
                        int64_t *nchunks)
{
    rec_arg a = {.ref = ref, .owner = account_id, .nchunks = nchunks};
    return pg_run_txn((pg_store *)st, "record_ref_owner", PG_AUTOCOMMIT, owner_body, &a);
}

static int refs_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_UP_EXPIRE, NULL, NULL, "i", a->uploads_since);
    if (r == KW_OK)
        r = pg_q(x, SQL_REFS, &res, NULL, "");
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    uint8_t(*list)[16] = calloc(n > 0 ? (size_t)n : 1, 16);
    if (list == NULL) {
        PQclear(res);
        return KW_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++)
        pg_col_fixed(res, i, 0, list[i], 16);
    PQclear(res);
    a->refs = list;
    a->count = (size_t)n;
    return KW_OK;
}

static int pg_refs(kw_store *st, int64_t uploads_since, uint8_t (**refs)[KW_STORE_REC_REF_BYTES], size_t *n)
{
    rec_arg a = {.uploads_since = uploads_since};
    int r = pg_run_txn((pg_store *)st, "record_refs", PG_READ_COMMITTED, refs_body, &a);
    if (r == KW_OK) {
        *refs = a.refs;
        *n = a.count;
    }
    return r;
}

static int kc_body(pg_ctx *x, void *p)
{
    rec_arg *a = p;
    int changes = 0;
    int64_t cur = 0;
    int r = pg_q(x, SQL_KC_PUT, NULL, &changes, "iib", a->account_id, a->version, a->keychain, a->len);
    if (r == KW_OK && changes == 0) {
        r = pg_scalar(x, SQL_KC_EXISTS, &cur, "i", a->account_id);
        if (r == KW_OK)
            r = KW_ERR_CONFLICT;
    }
    return r;
}

static int pg_kc_put(kw_store *st, int64_t account_id, int64_t version, const uint8_t *keychain, size_t len)
{
    rec_arg a = {.account_id = account_id, .version = version, .keychain = keychain, .len = len};
    return pg_run_txn((pg_store *)st, "record_keychain_put", PG_READ_COMMITTED, kc_body, &a);
}

const struct kw_store_record_ops pg_record_ops = {
    .put = pg_rec_put,
    .get = pg_rec_get,
    .list = pg_rec_list,
    .del = pg_rec_delete,
    .upload_create = pg_up_create,
    .upload_get = pg_up_get,
    .upload_delete = pg_up_delete,
    .ref_owner = pg_ref_owner,
    .refs = pg_refs,
    .keychain_put = pg_kc_put,
};
