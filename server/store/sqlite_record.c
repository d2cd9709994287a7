/*
 * server/store/sqlite_record.c — the record domain on SQLite
 * (server/store/record.h): the "records" schema component, compare-and-swap
 * record writes and deletes with the zone change counter, upload sessions,
 * content references for garbage collection, and keychain updates.
 * Every write is one BEGIN IMMEDIATE … COMMIT (WAL, synchronous=FULL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/record.h"
#include "store/sqlite_internal.h"

#define UPLOADS_PER_ACCOUNT_MAX 64

static const char rec_schema_v1[] =
    "CREATE TABLE records ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  zone TEXT NOT NULL,"
    "  id BLOB NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  version INTEGER NOT NULL CHECK (version >= 1),"
    "  meta BLOB NOT NULL,"
    "  wrap BLOB NOT NULL,"
    "  key_generation INTEGER NOT NULL CHECK (key_generation >= 1),"
    "  content_len INTEGER NOT NULL CHECK (content_len >= 0),"
    "  nchunks INTEGER NOT NULL CHECK (nchunks >= 1),"
    "  content BLOB,"
    "  ref BLOB UNIQUE CHECK (ref IS NULL OR length(ref) = 16),"
    "  change INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  CHECK ((content IS NULL) <> (ref IS NULL)),"
    "  UNIQUE (account_id, category, zone, id)"
    ");"
    "CREATE TABLE record_zones ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  zone TEXT NOT NULL,"
    "  change INTEGER NOT NULL CHECK (change >= 1),"
    "  PRIMARY KEY (account_id, category, zone)"
    ") WITHOUT ROWID;"
    "CREATE TABLE record_uploads ("
    "  ref BLOB PRIMARY KEY CHECK (typeof(ref) = 'blob' AND length(ref) = 16),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  zone TEXT NOT NULL,"
    "  id BLOB NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX record_uploads_by_account ON record_uploads(account_id);"
    "CREATE INDEX record_uploads_by_age ON record_uploads(created_at);";

static const char *const rec_steps[] = {rec_schema_v1};
const sq_component sq_record_component = {"records", rec_steps, 1};

#define REC_COLS                                                                                   \
    "category, zone, id, version, meta, wrap, key_generation, content_len, nchunks, ref, change, " \
    "updated_at"

static const char SQL_CUR[] = "SELECT version, ref FROM records WHERE account_id = ?1 AND category = ?2"
                              " AND zone = ?3 AND id = ?4";
static const char SQL_ZONE_BUMP[] =
    "INSERT INTO record_zones (account_id, category, zone, change) VALUES (?1, ?2, ?3, 1)"
    " ON CONFLICT (account_id, category, zone) DO UPDATE SET change = change + 1 RETURNING change";
static const char SQL_ZONE_GET[] =
    "SELECT change FROM record_zones WHERE account_id = ?1 AND category = ?2 AND zone = ?3";
static const char SQL_INSERT[] =
    "INSERT INTO records (account_id, category, zone, id, version, meta, wrap, key_generation,"
    " content_len, nchunks, content, ref, change, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
static const char SQL_UPDATE[] =
    "UPDATE records SET version = ?5, meta = ?6, wrap = ?7, key_generation = ?8, content_len = ?9,"
    " nchunks = ?10, content = ?11, ref = ?12, change = ?13, updated_at = ?14"
    " WHERE account_id = ?1 AND category = ?2 AND zone = ?3 AND id = ?4";
static const char SQL_DELETE[] =
    "DELETE FROM records WHERE account_id = ?1 AND category = ?2 AND zone = ?3 AND id = ?4";
static const char SQL_GET[] = "SELECT " REC_COLS ", content FROM records WHERE account_id = ?1"
                              " AND category = ?2 AND zone = ?3 AND id = ?4";
static const char SQL_LIST[] = "SELECT " REC_COLS " FROM records WHERE account_id = ?1 AND category = ?2"
                               " AND zone = ?3 AND id > ?4 ORDER BY id LIMIT ?5";
static const char SQL_UP_INSERT[] =
    "INSERT INTO record_uploads (ref, account_id, category, zone, id, version, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_UP_COUNT[] = "SELECT count(*) FROM record_uploads WHERE account_id = ?1";
static const char SQL_UP_GET[] =
    "SELECT account_id, category, zone, id, version, created_at FROM record_uploads WHERE ref = ?1";
static const char SQL_UP_DEL[] = "DELETE FROM record_uploads WHERE ref = ?1 AND account_id = ?2";
static const char SQL_UP_EXPIRE[] = "DELETE FROM record_uploads WHERE created_at < ?1";
static const char SQL_REF_OWNER[] = "SELECT account_id, nchunks FROM records WHERE ref = ?1";
static const char SQL_REFS[] = "SELECT ref FROM records WHERE ref IS NOT NULL"
                               " UNION ALL SELECT ref FROM record_uploads";
static const char SQL_KC_PUT[] =
    "UPDATE keychains SET version = ?2, keychain = ?3 WHERE account_id = ?1 AND version = ?2 - 1";
static const char SQL_KC_EXISTS[] = "SELECT version FROM keychains WHERE account_id = ?1";

/* The current version (0 when absent) and content ref of a record. */
static int cur_version(sq_store *s, int64_t account_id, const char *cat, const char *zone,
                       const uint8_t id[16], int64_t *version, uint8_t old_ref[16], bool *had_old)
{
    bool row = false;
    *version = 0;
    *had_old = false;
    int r = sq_run_q(s, SQL_CUR, &row, "ittI", account_id, cat, zone, id);
    if (r == KW_OK && row) {
        sqlite3_stmt *st = sq_stmt_q(s, SQL_CUR);
        *version = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 1) == SQLITE_BLOB && sqlite3_column_bytes(st, 1) == 16) {
            sq_col_fixed(st, 1, old_ref, 16);
            *had_old = true;
        }
    }
    sqlite3_stmt *st = sq_stmt_q(s, SQL_CUR);
    if (st != NULL)
        sqlite3_reset(st);
    return r;
}

static int zone_bump(sq_store *s, int64_t account_id, const char *cat, const char *zone, int64_t *change)
{
    bool row = false;
    int r = sq_run_q(s, SQL_ZONE_BUMP, &row, "itt", account_id, cat, zone);
    sqlite3_stmt *st = sq_stmt_q(s, SQL_ZONE_BUMP);
    if (r == KW_OK && !row)
        r = KW_ERR_STORAGE;
    if (r == KW_OK)
        *change = sqlite3_column_int64(st, 0);
    if (st != NULL)
        sqlite3_reset(st);
    return r;
}

static int sq_rec_put(kw_store *st, int64_t account_id, const kw_store_record *rec, int64_t now,
                      int64_t *change, uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old)
{
    sq_store *s = sq_lock(st, "record_put");
    int64_t cur = 0;
    bool row = false;
    int r = sq_begin(s);
    if (r != KW_OK)
        goto out;
    if ((r = cur_version(s, account_id, rec->category, rec->zone, rec->id, &cur, old_ref, had_old)) !=
        KW_OK)
        goto out;
    if (rec->version != cur + 1) {
        r = KW_ERR_CONFLICT;
        goto out;
    }
    if (rec->has_ref) {
        if ((r = sq_run_q(s, SQL_UP_GET, &row, "b", rec->ref, (size_t)16)) != KW_OK)
            goto out;
        sqlite3_stmt *q = sq_stmt_q(s, SQL_UP_GET);
        if (!row || sqlite3_column_int64(q, 0) != account_id) {
            r = KW_ERR_NOT_FOUND;
            goto out;
        }
        const char *c = (const char *)sqlite3_column_text(q, 1), *z = (const char *)sqlite3_column_text(q, 2);
        const void *id = sqlite3_column_blob(q, 3);
        if (c == NULL || z == NULL || id == NULL || sqlite3_column_bytes(q, 3) != 16 ||
            strcmp(c, rec->category) != 0 || strcmp(z, rec->zone) != 0 || memcmp(id, rec->id, 16) != 0 ||
            sqlite3_column_int64(q, 4) != rec->version) {
            r = KW_ERR_CONFLICT;
            goto out;
        }
        sqlite3_reset(q);
        if ((r = sq_exec_q(s, SQL_UP_DEL, NULL, "bi", rec->ref, (size_t)16, account_id)) != KW_OK)
            goto out;
    }
    if ((r = zone_bump(s, account_id, rec->category, rec->zone, change)) != KW_OK)
        goto out;
    r = sq_exec_q(s, cur == 0 ? SQL_INSERT : SQL_UPDATE, NULL, "ittIibbiiibbii", account_id,
                  rec->category, rec->zone, rec->id, rec->version, rec->meta, rec->meta_len, rec->wrap,
                  rec->wrap_len, rec->key_generation, rec->content_len, rec->nchunks, rec->content,
                  rec->content_size, rec->has_ref ? rec->ref : NULL, (size_t)16, *change, now);
    if (r != KW_OK)
        goto out;
    r = sq_commit(s);
out:
    if (r != KW_OK) {
        *change = 0;
        *had_old = false;
    }
    sq_unlock(s);
    return r;
}

/* Reads the REC_COLS columns of a row (content not included). */
static int read_row(sqlite3_stmt *q, kw_store_record *o)
{
    const char *c = (const char *)sqlite3_column_text(q, 0), *z = (const char *)sqlite3_column_text(q, 1);
    if (c == NULL || z == NULL)
        return KW_ERR_NOMEM;
    snprintf(o->category, sizeof(o->category), "%s", c);
    snprintf(o->zone, sizeof(o->zone), "%s", z);
    sq_col_fixed(q, 2, o->id, 16);
    o->version = sqlite3_column_int64(q, 3);
    int r = sq_col_dup(q, 4, &o->meta, &o->meta_len);
    if (r == KW_OK)
        r = sq_col_dup(q, 5, &o->wrap, &o->wrap_len);
    o->key_generation = sqlite3_column_int64(q, 6);
    o->content_len = sqlite3_column_int64(q, 7);
    o->nchunks = sqlite3_column_int64(q, 8);
    if (sqlite3_column_type(q, 9) == SQLITE_BLOB) {
        o->has_ref = true;
        sq_col_fixed(q, 9, o->ref, 16);
    }
    o->change = sqlite3_column_int64(q, 10);
    o->updated_at = sqlite3_column_int64(q, 11);
    return r;
}

static int sq_rec_get(kw_store *st, int64_t account_id, const char *category, const char *zone,
                      const uint8_t id[KW_STORE_REC_ID_BYTES], kw_store_record *out)
{
    sq_store *s = sq_lock(st, "record_get");
    bool row = false;
    int r = sq_run_q(s, SQL_GET, &row, "ittI", account_id, category, zone, id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        sqlite3_stmt *q = sq_stmt_q(s, SQL_GET);
        r = read_row(q, out);
        if (r == KW_OK && sqlite3_column_type(q, 12) == SQLITE_BLOB)
            r = sq_col_dup(q, 12, &out->content, &out->content_size);
    }
    if (r != KW_OK)
        kw_store_record_clear(out);
    sq_unlock(s);
    return r;
}

static int sq_rec_list(kw_store *st, int64_t account_id, const char *category, const char *zone,
                       const uint8_t *after, size_t limit, kw_store_record **out, size_t *count,
                       int64_t *change)
{
    sq_store *s = sq_lock(st, "record_list");
    kw_store_record *list = NULL;
    size_t n = 0;
    bool row = false;
    int64_t ch = 0;
    int r = sq_scalar_q(s, SQL_ZONE_GET, &ch, "itt", account_id, category, zone);
    if (r == KW_ERR_NOT_FOUND) {
        ch = 0;
        r = KW_OK;
    }
    if (r != KW_OK)
        goto out;
    if ((list = calloc(limit, sizeof(*list))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    r = sq_run_q(s, SQL_LIST, &row, "ittbi", account_id, category, zone,
                 after != NULL ? after : (const uint8_t *)"", (size_t)(after != NULL ? 16 : 0),
                 (int64_t)limit);
    sqlite3_stmt *q = sq_stmt_q(s, SQL_LIST);
    while (r == KW_OK && row && n < limit) {
        if ((r = read_row(q, &list[n])) != KW_OK)
            break;
        n++;
        int rc = sqlite3_step(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            r = sq_err(s, rc);
        row = rc == SQLITE_ROW;
    }
    if (r != KW_OK) {
        kw_store_record_free_list(&list, n + 1 <= limit ? n + 1 : n);
        goto out;
    }
    *out = list; /* transferred */
    list = NULL;
    *count = n;
    *change = ch;
out:
    if (list != NULL && n == 0)
        free(list);
    sq_unlock(s);
    return r;
}

static int sq_rec_delete(kw_store *st, int64_t account_id, const char *category, const char *zone,
                         const uint8_t id[KW_STORE_REC_ID_BYTES], int64_t version, int64_t *change,
                         uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old)
{
    sq_store *s = sq_lock(st, "record_delete");
    int64_t cur = 0;
    int r = sq_begin(s);
    if (r != KW_OK)
        goto out;
    if ((r = cur_version(s, account_id, category, zone, id, &cur, old_ref, had_old)) != KW_OK)
        goto out;
    if (cur == 0) {
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    if (cur != version) {
        r = KW_ERR_CONFLICT;
        goto out;
    }
    if ((r = sq_exec_q(s, SQL_DELETE, NULL, "ittI", account_id, category, zone, id)) != KW_OK ||
        (r = zone_bump(s, account_id, category, zone, change)) != KW_OK)
        goto out;
    r = sq_commit(s);
out:
    if (r != KW_OK) {
        *change = 0;
        *had_old = false;
    }
    sq_unlock(s);
    return r;
}

static int sq_up_create(kw_store *st, const kw_store_upload *up)
{
    sq_store *s = sq_lock(st, "record_upload_create");
    int64_t cur = 0, n = 0;
    uint8_t ref[16];
    bool had = false;
    int r = sq_begin(s);
    if (r != KW_OK)
        goto out;
    if ((r = sq_scalar_q(s, SQL_UP_COUNT, &n, "i", up->account_id)) != KW_OK)
        goto out;
    if (n >= UPLOADS_PER_ACCOUNT_MAX) {
        r = KW_ERR_LIMIT;
        goto out;
    }
    if ((r = cur_version(s, up->account_id, up->category, up->zone, up->id, &cur, ref, &had)) != KW_OK)
        goto out;
    if (up->version != cur + 1) {
        r = KW_ERR_CONFLICT;
        goto out;
    }
    if ((r = sq_exec_q(s, SQL_UP_INSERT, NULL, "bittIii", up->ref, (size_t)16, up->account_id,
                       up->category, up->zone, up->id, up->version, up->created_at)) != KW_OK)
        goto out;
    r = sq_commit(s);
out:
    sq_unlock(s);
    return r;
}

static int sq_up_get(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES], kw_store_upload *out)
{
    sq_store *s = sq_lock(st, "record_upload_get");
    bool row = false;
    int r = sq_run_q(s, SQL_UP_GET, &row, "b", ref, (size_t)16);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        sqlite3_stmt *q = sq_stmt_q(s, SQL_UP_GET);
        const char *c = (const char *)sqlite3_column_text(q, 1), *z = (const char *)sqlite3_column_text(q, 2);
        memcpy(out->ref, ref, 16);
        out->account_id = sqlite3_column_int64(q, 0);
        snprintf(out->category, sizeof(out->category), "%s", c != NULL ? c : "");
        snprintf(out->zone, sizeof(out->zone), "%s", z != NULL ? z : "");
        sq_col_fixed(q, 3, out->id, 16);
        out->version = sqlite3_column_int64(q, 4);
        out->created_at = sqlite3_column_int64(q, 5);
    }
    sq_unlock(s);
    return r;
}

static int sq_up_delete(kw_store *st, int64_t account_id, const uint8_t ref[KW_STORE_REC_REF_BYTES])
{
    sq_store *s = sq_lock(st, "record_upload_delete");
    int changes = 0;
    int r = sq_exec_q(s, SQL_UP_DEL, &changes, "bi", ref, (size_t)16, account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

static int sq_ref_owner(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES], int64_t *account_id,
                        int64_t *nchunks)
{
    sq_store *s = sq_lock(st, "record_ref_owner");
    bool row = false;
    int r = sq_run_q(s, SQL_REF_OWNER, &row, "b", ref, (size_t)16);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        sqlite3_stmt *q = sq_stmt_q(s, SQL_REF_OWNER);
        *account_id = sqlite3_column_int64(q, 0);
        *nchunks = sqlite3_column_int64(q, 1);
    }
    sq_unlock(s);
    return r;
}

static int sq_refs(kw_store *st, int64_t uploads_since, uint8_t (**refs)[KW_STORE_REC_REF_BYTES],
                   size_t *n)
{
    sq_store *s = sq_lock(st, "record_refs");
    uint8_t(*list)[16] = NULL;
    size_t cnt = 0, cap = 0;
    bool row = false;
    int r = sq_exec_q(s, SQL_UP_EXPIRE, NULL, "i", uploads_since);
    if (r == KW_OK)
        r = sq_run_q(s, SQL_REFS, &row, "");
    sqlite3_stmt *q = sq_stmt_q(s, SQL_REFS);
    while (r == KW_OK && row) {
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            uint8_t(*grown)[16] = reallocarray(list, ncap, sizeof(*list));
            if (grown == NULL) {
                r = KW_ERR_NOMEM;
                break;
            }
            list = grown;
            cap = ncap;
        }
        sq_col_fixed(q, 0, list[cnt++], 16);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            r = sq_err(s, rc);
        row = rc == SQLITE_ROW;
    }
    if (r != KW_OK) {
        free(list);
    } else {
        *refs = list; /* transferred */
        *n = cnt;
    }
    sq_unlock(s);
    return r;
}

static int sq_kc_put(kw_store *st, int64_t account_id, int64_t version, const uint8_t *keychain,
                     size_t len)
{
    sq_store *s = sq_lock(st, "record_keychain_put");
    int changes = 0;
    int64_t cur = 0;
    int r = sq_exec_q(s, SQL_KC_PUT, &changes, "iib", account_id, version, keychain, len);
    if (r == KW_OK && changes == 0) {
        r = sq_scalar_q(s, SQL_KC_EXISTS, &cur, "i", account_id);
        if (r == KW_OK)
            r = KW_ERR_CONFLICT;
    }
    sq_unlock(s);
    return r;
}

const struct kw_store_record_ops sq_record_ops = {
    .put = sq_rec_put,
    .get = sq_rec_get,
    .list = sq_rec_list,
    .del = sq_rec_delete,
    .upload_create = sq_up_create,
    .upload_get = sq_up_get,
    .upload_delete = sq_up_delete,
    .ref_owner = sq_ref_owner,
    .refs = sq_refs,
    .keychain_put = sq_kc_put,
};
