/* The record domain's public functions: argument checks, then dispatch to
 * the backend (server/store/record.h). */
#include "store/record.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyward/err.h"
#include "store/backend.h"

static const struct kw_store_record_ops *ops(kw_store *st)
{
    return st != NULL && st->ops != NULL ? st->ops->record : NULL;
}

/* A NUL-terminated string of 1..max bytes inside its array. */
static bool name_ok(const char *s, size_t max)
{
    size_t n = s != NULL ? strnlen(s, max + 1) : 0;
    return n >= 1 && n <= max;
}

void kw_store_record_clear(kw_store_record *r)
{
    if (r == NULL)
        return;
    free(r->meta);
    free(r->wrap);
    free(r->content);
    memset(r, 0, sizeof(*r));
}

void kw_store_record_free_list(kw_store_record **recs, size_t n)
{
    if (recs == NULL || *recs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        kw_store_record_clear(&(*recs)[i]);
    free(*recs);
    *recs = NULL;
}

int kw_store_record_put(kw_store *st, int64_t account_id, const kw_store_record *rec, int64_t now,
                        int64_t *change, uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old)
{
    if (change != NULL)
        *change = 0;
    if (had_old != NULL)
        *had_old = false;
    if (rec == NULL || change == NULL || old_ref == NULL || had_old == NULL ||
        !name_ok(rec->category, KW_STORE_REC_CATEGORY_MAX) || !name_ok(rec->zone, KW_STORE_REC_ZONE_MAX) ||
        rec->version < 1 || rec->meta == NULL || rec->meta_len == 0 || rec->wrap == NULL ||
        rec->wrap_len == 0 || rec->key_generation < 1 || rec->content_len < 0 || rec->nchunks < 1 ||
        (rec->content != NULL) == rec->has_ref)
        return KW_ERR_INVALID_ARG;
    if (rec->meta_len > KW_STORE_REC_META_MAX || rec->wrap_len > KW_STORE_REC_WRAP_MAX ||
        (rec->content != NULL && rec->content_size > KW_STORE_REC_INLINE_MAX))
        return KW_ERR_TOO_LARGE;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->put(st, account_id, rec, now, change, old_ref, had_old);
}

int kw_store_record_get(kw_store *st, int64_t account_id, const char *category, const char *zone,
                        const uint8_t id[KW_STORE_REC_ID_BYTES], kw_store_record *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (out == NULL || id == NULL || !name_ok(category, KW_STORE_REC_CATEGORY_MAX) ||
        !name_ok(zone, KW_STORE_REC_ZONE_MAX))
        return KW_ERR_INVALID_ARG;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->get(st, account_id, category, zone, id, out);
}

int kw_store_record_list(kw_store *st, int64_t account_id, const char *category, const char *zone,
                         const uint8_t *after, size_t limit, kw_store_record **out, size_t *count,
                         int64_t *change)
{
    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (change != NULL)
        *change = 0;
    if (out == NULL || count == NULL || change == NULL || limit < 1 ||
        !name_ok(category, KW_STORE_REC_CATEGORY_MAX) || !name_ok(zone, KW_STORE_REC_ZONE_MAX))
        return KW_ERR_INVALID_ARG;
    if (limit > KW_STORE_REC_LIST_MAX)
        return KW_ERR_TOO_LARGE;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->list(st, account_id, category, zone, after, limit, out, count, change);
}

int kw_store_record_delete(kw_store *st, int64_t account_id, const char *category, const char *zone,
                           const uint8_t id[KW_STORE_REC_ID_BYTES], int64_t version, int64_t *change,
                           uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old)
{
    if (change != NULL)
        *change = 0;
    if (had_old != NULL)
        *had_old = false;
    if (id == NULL || change == NULL || old_ref == NULL || had_old == NULL || version < 1 ||
        !name_ok(category, KW_STORE_REC_CATEGORY_MAX) || !name_ok(zone, KW_STORE_REC_ZONE_MAX))
        return KW_ERR_INVALID_ARG;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->del(st, account_id, category, zone, id, version, change, old_ref, had_old);
}

int kw_store_record_upload_create(kw_store *st, const kw_store_upload *up)
{
    if (up == NULL || up->version < 1 || !name_ok(up->category, KW_STORE_REC_CATEGORY_MAX) ||
        !name_ok(up->zone, KW_STORE_REC_ZONE_MAX))
        return KW_ERR_INVALID_ARG;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->upload_create(st, up);
}

int kw_store_record_upload_get(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES],
                               kw_store_upload *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (ref == NULL || out == NULL)
        return KW_ERR_INVALID_ARG;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->upload_get(st, ref, out);
}

int kw_store_record_upload_delete(kw_store *st, int64_t account_id,
                                  const uint8_t ref[KW_STORE_REC_REF_BYTES])
{
    if (ref == NULL)
        return KW_ERR_INVALID_ARG;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->upload_delete(st, account_id, ref);
}

int kw_store_record_ref_owner(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES],
                              int64_t *account_id, int64_t *nchunks)
{
    if (account_id != NULL)
        *account_id = 0;
    if (nchunks != NULL)
        *nchunks = 0;
    if (ref == NULL || account_id == NULL || nchunks == NULL)
        return KW_ERR_INVALID_ARG;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->ref_owner(st, ref, account_id, nchunks);
}

int kw_store_record_refs(kw_store *st, int64_t uploads_since, uint8_t (**refs)[KW_STORE_REC_REF_BYTES],
                         size_t *n)
{
    if (refs != NULL)
        *refs = NULL;
    if (n != NULL)
        *n = 0;
    if (refs == NULL || n == NULL)
        return KW_ERR_INVALID_ARG;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->refs(st, uploads_since, refs, n);
}

int kw_store_record_keychain_put(kw_store *st, int64_t account_id, int64_t version,
                                 const uint8_t *keychain, size_t len)
{
    if (keychain == NULL || len == 0 || version < 2)
        return KW_ERR_INVALID_ARG;
    if (len > KW_STORE_BLOB_MAX)
        return KW_ERR_TOO_LARGE;
    if (ops(st) == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->keychain_put(st, account_id, version, keychain, len);
}
