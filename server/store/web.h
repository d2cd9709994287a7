/*
 * server/store/web.h — store domain "web": the sessions of the
 * account-security web page (browser sessions, not bound to a device) and
 * the device removals that page queues for a trusted device to complete.
 *
 * A web session is stored as the SHA-256 of its bearer token (never the
 * token), with a public random id (for listing and revoking), its account,
 * its stage (FACTOR: the password was proven and a second factor is still
 * owed; ACTIVE: signed in), its creation and expiry times and a revoked
 * flag. A FACTOR session is replaced by an ACTIVE one exactly once
 * (kw_store_web_session_upgrade, one transaction): the pre-factor token can
 * never be used twice.
 *
 * Device removal requests: the browser holds no account key and cannot sign
 * a roster, so the page revokes the device's sessions at once and queues a
 * request here; a trusted device completes it with a signed roster
 * (POST /v1/devices/remove) — see docs/api.md "Web page".
 *
 * Argument rules as in store.h. Errors: KW_ERR_NOT_FOUND, KW_ERR_CONFLICT
 * (duplicate hash or id), KW_ERR_STORAGE, KW_ERR_NOMEM, KW_ERR_INVALID_ARG,
 * KW_ERR_UNSUPPORTED when the backend has no web domain.
 * Thread safety: as the store. Nothing stored here is secret (token hashes).
 */
#ifndef KEYWARD_SERVER_STORE_WEB_H
#define KEYWARD_SERVER_STORE_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define KW_WEB_SESSION_FACTOR 0 /* password proven, second factor owed */
#define KW_WEB_SESSION_ACTIVE 1 /* signed in */

typedef struct {
    uint8_t hash[KW_STORE_HASH_BYTES]; /* SHA-256 of the bearer token */
    uint8_t id[KW_STORE_ID_BYTES];     /* public id */
    int64_t account_id;
    int state;                         /* KW_WEB_SESSION_* */
    int64_t created_at;
    int64_t expires_at;
    bool revoked;
} kw_store_web_session;

typedef struct {
    uint8_t device_id[KW_STORE_ID_BYTES];
    int64_t account_id;
    int64_t requested_at;
    uint8_t web_session_id[KW_STORE_ID_BYTES]; /* the web session that asked */
} kw_store_web_removal;

/* Stores a session; KW_ERR_CONFLICT on a duplicate hash or id,
 * KW_ERR_NOT_FOUND for an unknown account. */
int kw_store_web_session_add(kw_store *st, const kw_store_web_session *s);
/* Any stored session (revoked and expired included: the caller checks). */
int kw_store_web_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES],
                             kw_store_web_session *out);
/* In one transaction: deletes the live (not revoked, now < expires_at)
 * FACTOR session `old_hash` of next->account_id and stores `next`.
 * KW_ERR_NOT_FOUND when there is no such live FACTOR session (used,
 * expired, revoked, another account's). */
int kw_store_web_session_upgrade(kw_store *st, const uint8_t old_hash[KW_STORE_HASH_BYTES],
                                 int64_t now, const kw_store_web_session *next);
/* The account's live ACTIVE sessions (not revoked, now < expires_at),
 * oldest first; *out malloc'd (NULL when none). */
int kw_store_web_session_list(kw_store *st, int64_t account_id, int64_t now,
                              kw_store_web_session **out, size_t *count);
/* Revokes one session of the account by public id (KW_ERR_NOT_FOUND when
 * it is not the account's or already revoked). */
int kw_store_web_session_revoke(kw_store *st, int64_t account_id,
                                const uint8_t id[KW_STORE_ID_BYTES]);
/* Revokes every session of the account; *count (optional) says how many. */
int kw_store_web_session_revoke_all(kw_store *st, int64_t account_id, size_t *count);
/* Deletes sessions that expired before now; *removed (optional). */
int kw_store_web_expire(kw_store *st, int64_t now, size_t *removed);

/* Queues (or re-queues, keeping the first request time) a device removal.
 * KW_ERR_NOT_FOUND when the device is not the account's. */
int kw_store_web_removal_put(kw_store *st, const kw_store_web_removal *rm);
/* The account's queued removals, oldest first; *out malloc'd. */
int kw_store_web_removal_list(kw_store *st, int64_t account_id, kw_store_web_removal **out,
                              size_t *count);
/* One queued removal by device id; KW_ERR_NOT_FOUND when none. */
int kw_store_web_removal_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES],
                             kw_store_web_removal *out);
/* Drops a queued removal (KW_ERR_NOT_FOUND when none for the account). */
int kw_store_web_removal_delete(kw_store *st, int64_t account_id,
                                const uint8_t device_id[KW_STORE_ID_BYTES]);

struct kw_store_web_ops {
    int (*session_add)(kw_store *st, const kw_store_web_session *s);
    int (*session_get)(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_web_session *out);
    int (*session_upgrade)(kw_store *st, const uint8_t old_hash[KW_STORE_HASH_BYTES], int64_t now,
                           const kw_store_web_session *next);
    int (*session_list)(kw_store *st, int64_t account_id, int64_t now, kw_store_web_session **out,
                        size_t *count);
    int (*session_revoke)(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES]);
    int (*session_revoke_all)(kw_store *st, int64_t account_id, size_t *count);
    int (*expire)(kw_store *st, int64_t now, size_t *removed);
    int (*removal_put)(kw_store *st, const kw_store_web_removal *rm);
    int (*removal_list)(kw_store *st, int64_t account_id, kw_store_web_removal **out, size_t *count);
    int (*removal_get)(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], kw_store_web_removal *out);
    int (*removal_delete)(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES]);
};

#endif
