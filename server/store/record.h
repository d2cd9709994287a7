/*
 * server/store/record.h — the `record` storage domain: cloud records per
 * account, category and zone (issue 7), their upload sessions, the
 * per-zone change counters, and the keychain updates that add service keys.
 *
 * A record row holds what the server may see: the record id, its version,
 * the sealed metadata, the wrapped record key and its service-key
 * generation, the content's ciphertext length and chunk count, and where the
 * content is — inline in the row (small records) or in chunk storage under
 * a random content reference (the id of the upload session that wrote it;
 * the chunk files live on the filesystem, see server/api/records.c).
 *
 * Writes are compare-and-swap on the version: a put names the new version,
 * which must be exactly current+1 (1 for a record that does not exist), a
 * delete names the current version; otherwise KW_ERR_CONFLICT and nothing
 * changes. Every write and delete bumps the zone's change counter in the
 * same transaction, and the record remembers the counter of its last write.
 * Committing an upload (put with from_upload) consumes the upload row and
 * makes the new version visible in one transaction: no half record is ever
 * visible; chunk files of uploads that never commit are garbage (listed by
 * kw_store_record_refs for collection).
 *
 * Thread-safe as kw_store. Errors as store.h, KW_ERR_UNSUPPORTED when the
 * backend has no record domain.
 */
#ifndef KEYWARD_SERVER_STORE_RECORD_H
#define KEYWARD_SERVER_STORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define KW_STORE_REC_CATEGORY_MAX 32
#define KW_STORE_REC_ZONE_MAX 64
#define KW_STORE_REC_ID_BYTES 16
#define KW_STORE_REC_REF_BYTES 16
#define KW_STORE_REC_META_MAX 4096
#define KW_STORE_REC_WRAP_MAX 128
#define KW_STORE_REC_INLINE_MAX (256 * 1024) /* content kept in the row */
#define KW_STORE_REC_LIST_MAX 1000           /* records per listing page */

typedef struct {
    char category[KW_STORE_REC_CATEGORY_MAX + 1];
    char zone[KW_STORE_REC_ZONE_MAX + 1];
    uint8_t id[KW_STORE_REC_ID_BYTES];
    int64_t version;
    uint8_t *meta;
    size_t meta_len;
    uint8_t *wrap;
    size_t wrap_len;
    int64_t key_generation;
    int64_t content_len;  /* ciphertext bytes */
    int64_t nchunks;
    uint8_t *content;     /* inline content, or NULL */
    size_t content_size;
    bool has_ref;         /* content in chunk storage under ref */
    uint8_t ref[KW_STORE_REC_REF_BYTES];
    int64_t change;       /* zone change counter at this record's last write */
    int64_t updated_at;
} kw_store_record;

/* Frees the blobs inside a record (not the struct). */
void kw_store_record_clear(kw_store_record *r);
/* Frees an array of n records and sets *recs to NULL. */
void kw_store_record_free_list(kw_store_record **recs, size_t n);

/* Writes version rec->version of a record (CAS: current+1). Content is
 * either inline (rec->content, at most KW_STORE_REC_INLINE_MAX) or the
 * upload named by rec->ref (has_ref; the upload must be the account's, for
 * this category, zone, id and version: else KW_ERR_NOT_FOUND / CONFLICT),
 * which is consumed. *change gets the zone's new counter; when the write
 * replaced content in chunk storage, *old_ref gets that reference and
 * *had_old is true (the caller deletes its files). */
int kw_store_record_put(kw_store *st, int64_t account_id, const kw_store_record *rec, int64_t now,
                        int64_t *change, uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old);

/* One record (inline content included). KW_ERR_NOT_FOUND. */
int kw_store_record_get(kw_store *st, int64_t account_id, const char *category, const char *zone,
                        const uint8_t id[KW_STORE_REC_ID_BYTES], kw_store_record *out);

/* Up to limit (1..KW_STORE_REC_LIST_MAX) records of a zone in id order,
 * after `after` (NULL: from the start), without inline content; *change
 * gets the zone's counter (0 for a zone never written). */
int kw_store_record_list(kw_store *st, int64_t account_id, const char *category, const char *zone,
                         const uint8_t *after, size_t limit, kw_store_record **out, size_t *count,
                         int64_t *change);

/* Deletes the record if its version is `version` (else KW_ERR_CONFLICT);
 * *change, *old_ref and *had_old as for put. */
int kw_store_record_delete(kw_store *st, int64_t account_id, const char *category, const char *zone,
                           const uint8_t id[KW_STORE_REC_ID_BYTES], int64_t version, int64_t *change,
                           uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old);

/* ---- upload sessions ---- */

typedef struct {
    uint8_t ref[KW_STORE_REC_REF_BYTES];
    int64_t account_id;
    char category[KW_STORE_REC_CATEGORY_MAX + 1];
    char zone[KW_STORE_REC_ZONE_MAX + 1];
    uint8_t id[KW_STORE_REC_ID_BYTES];
    int64_t version;
    int64_t created_at;
} kw_store_upload;

/* Records a new upload session (its ref chosen by the caller).
 * KW_ERR_CONFLICT when the record's current version is not version-1 (the
 * commit checks again), KW_ERR_LIMIT when the account has too many open
 * uploads (64). */
int kw_store_record_upload_create(kw_store *st, const kw_store_upload *up);
/* The upload (any account; the caller checks the owner). KW_ERR_NOT_FOUND. */
int kw_store_record_upload_get(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES],
                               kw_store_upload *out);
/* Deletes the account's upload. KW_ERR_NOT_FOUND. */
int kw_store_record_upload_delete(kw_store *st, int64_t account_id,
                                  const uint8_t ref[KW_STORE_REC_REF_BYTES]);

/* The account and chunk count of live content `ref` (a record's; not an
 * upload's). KW_ERR_NOT_FOUND. */
int kw_store_record_ref_owner(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES],
                              int64_t *account_id, int64_t *nchunks);

/* Every content reference still wanted — by a record, or by an upload
 * created at or after `uploads_since` (older uploads are deleted here) —
 * as a malloc'd array of n refs. */
int kw_store_record_refs(kw_store *st, int64_t uploads_since, uint8_t (**refs)[KW_STORE_REC_REF_BYTES],
                         size_t *n);

/* Replaces the account's keychain when its version is exactly version-1
 * (KW_ERR_CONFLICT otherwise): a trusted device adding service keys. */
int kw_store_record_keychain_put(kw_store *st, int64_t account_id, int64_t version,
                                 const uint8_t *keychain, size_t len);

struct kw_store_record_ops {
    int (*put)(kw_store *st, int64_t account_id, const kw_store_record *rec, int64_t now,
               int64_t *change, uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old);
    int (*get)(kw_store *st, int64_t account_id, const char *category, const char *zone,
               const uint8_t id[KW_STORE_REC_ID_BYTES], kw_store_record *out);
    int (*list)(kw_store *st, int64_t account_id, const char *category, const char *zone,
                const uint8_t *after, size_t limit, kw_store_record **out, size_t *count,
                int64_t *change);
    int (*del)(kw_store *st, int64_t account_id, const char *category, const char *zone,
               const uint8_t id[KW_STORE_REC_ID_BYTES], int64_t version, int64_t *change,
               uint8_t old_ref[KW_STORE_REC_REF_BYTES], bool *had_old);
    int (*upload_create)(kw_store *st, const kw_store_upload *up);
    int (*upload_get)(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES], kw_store_upload *out);
    int (*upload_delete)(kw_store *st, int64_t account_id, const uint8_t ref[KW_STORE_REC_REF_BYTES]);
    int (*ref_owner)(kw_store *st, const uint8_t ref[KW_STORE_REC_REF_BYTES], int64_t *account_id,
                     int64_t *nchunks);
    int (*refs)(kw_store *st, int64_t uploads_since, uint8_t (**refs)[KW_STORE_REC_REF_BYTES],
                size_t *n);
    int (*keychain_put)(kw_store *st, int64_t account_id, int64_t version, const uint8_t *keychain,
                        size_t len);
};

#endif
