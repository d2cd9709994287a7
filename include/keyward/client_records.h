/*
 * keyward/client_records.h — end-to-end encrypted cloud records from the
 * client's side (docs/api.md "Records", keyward/record.h).
 *
 * Owns: kw_records, a records session over one signed-in kw_client: the
 * keychain (service keys) synced once at open, a reused HTTP connection,
 * and this device's rollback marks for records (records-pins.log in the
 * profile: per zone the highest change counter seen, per record the
 * highest version seen or the version it was deleted at; public, bound to
 * the account and device).
 *
 * Every record version gets a fresh record key wrapped by the category's
 * current service key (created in the keychain on first use). Files of up
 * to ~256 KiB of ciphertext travel inline; larger ones in 1 MiB pieces
 * through a resumable upload: the upload's state (its id, the record key)
 * is kept sealed under the profile key in PROFILE/uploads/ until the
 * commit, so running the same put again resumes where it stopped.
 *
 * Named refusals (KW_ERR_VERIFY, origin local, message starting "ALERT:"):
 *   "the server rolled record ... back"       an older version than seen
 *   "the server resurrected deleted record"   a version this device deleted
 *   "the server rolled zone ... back"         a lower zone change counter
 *   "record ... does not open"                swapped or replayed under another
 *                                              id, zone, category or version
 *   "record ... was truncated or extended"    a piece count or length that does
 *                                              not match the metadata
 *   "piece N of record ... does not authenticate"  reordered, swapped, tampered
 * Output files are written to a temporary name and renamed only after the
 * whole content authenticated.
 *
 * Results come back as JSON objects (*out, json_decref). One session, one
 * thread. Secrets: record keys and service keys, wiped after use.
 */
#ifndef KEYWARD_CLIENT_RECORDS_H
#define KEYWARD_CLIENT_RECORDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/client.h"

typedef struct kw_records kw_records;

/* Progress of a long transfer: bytes done of total. */
typedef void (*kw_records_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* Opens a records session on a signed-in, trusted client (syncs the
 * keychain, loads the rollback marks). *rs is NULL on error (the message is
 * the client's). */
int kw_records_open(kw_records **rs, kw_client *c);

/* Saves the rollback marks, wipes and frees *rs; NULL is a no-op. */
void kw_records_free(kw_records **rs);

/* Sets (or clears, fn NULL) the progress callback. */
void kw_records_set_progress(kw_records *rs, kw_records_progress_fn fn, void *arg);

/* Uploads the file at path as the record named `name` (NULL: the file's
 * base name) in category/zone (zone NULL: "default"): a new record, or the
 * next version of the record of that name. Resumes an interrupted upload of
 * the same file. *out: id, name, version, size, resumed_from. */
int kw_records_put(kw_records *rs, const char *category, const char *zone, const char *path,
                   const char *name, json_t **out);

/* Uploads data as a new record (fresh id, version 1) named `name`, without
 * looking for an existing one (for bulk writers). */
int kw_records_put_data(kw_records *rs, const char *category, const char *zone, const char *name,
                        const uint8_t *data, size_t len, json_t **out);

/* Lists every record of the zone (all pages), metadata decrypted and
 * checked: *out {records: [{id, name, type, size, version, mtime,
 * key_generation}], change, class}. */
int kw_records_list(kw_records *rs, const char *category, const char *zone, json_t **out);

/* Downloads the record named (or with base64url id) `which` to out_path
 * ("-": standard output; NULL: its base name in the current directory). */
int kw_records_get(kw_records *rs, const char *category, const char *zone, const char *which,
                   const char *out_path, json_t **out);

/* Deletes the record named (or with id) `which` (compare-and-swap on the
 * version this device read). */
int kw_records_remove(kw_records *rs, const char *category, const char *zone, const char *which,
                      json_t **out);

/* Backs up every regular file under dir into category "backup" (zone as
 * given, NULL "default"), named by relative path; files whose content hash
 * equals the stored one are skipped. *out: uploaded, skipped, bytes. */
int kw_records_backup(kw_records *rs, const char *dir, const char *zone, json_t **out);

/* Restores every record of the backup zone under dir (names with "..",
 * absolute names or empty components are refused); files already equal are
 * skipped. *out: restored, skipped, bytes. */
int kw_records_restore(kw_records *rs, const char *dir, const char *zone, json_t **out);

#endif
