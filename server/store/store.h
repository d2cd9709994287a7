/*
 * server/store/store.h — keywardd's storage interface.
 *
 * One interface, several backends (SQLite today, PostgreSQL later): the
 * server and its tests only see these functions, which take and return
 * plain values, never SQL. Every call that returns 0 for a write has made it
 * durable (the backend commits with a full sync before returning), so an
 * acknowledged write survives kill -9. Multi-row changes that must happen
 * together are single calls and run in one transaction: either all of it is
 * stored or nothing is.
 *
 * Thread safety: a kw_store may be used from several threads at once.
 * Errors: KW_ERR_NOT_FOUND, KW_ERR_CONFLICT (unique key, stale compare-and-
 * swap version), KW_ERR_LIMIT, KW_ERR_STORAGE (backend failure, detail in the
 * log), KW_ERR_NOMEM, KW_ERR_INVALID_ARG.
 * Secrets: the store holds only what the server may see: OPAQUE records,
 * hashes of session tokens and approval codes, HPKE-wrapped keys and
 * ciphertexts. Times are Unix seconds.
 */
#ifndef KEYWARD_SERVER_STORE_H
#define KEYWARD_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kw_store kw_store;

#define KW_STORE_NAME_MAX 64        /* account and device names, bytes */
#define KW_STORE_BLOB_MAX (1 << 20) /* any single stored blob */
#define KW_STORE_HASH_BYTES 32      /* token and code hashes */
#define KW_STORE_ID_BYTES 16        /* random public ids (devices, logins, joins) */
#define KW_STORE_CHANGE_MAX 1024    /* entries in each list of one roster change */

/* Argument rules shared by every function (checked before the backend is
 * touched): a blob longer than KW_STORE_BLOB_MAX or a name longer than
 * KW_STORE_NAME_MAX gives KW_ERR_TOO_LARGE; a required pointer that is NULL,
 * a required blob that is empty, an empty name or a device name not
 * terminated inside its array gives KW_ERR_INVALID_ARG. A reference to an
 * account or device that does not exist gives KW_ERR_NOT_FOUND.
 * Expiry: a login, approval code or session is live while now < expires_at. */

/* Opens (creating if needed) the store named by uri — "sqlite:/path/file.db"
 * or a plain path for SQLite, "postgres://user@host:port/db?…" (any libpq
 * URI) for PostgreSQL — and applies pending schema migrations. */
int kw_store_open(const char *uri, kw_store **out);

/* Closes the store; NULL-safe; sets *st to NULL. */
void kw_store_close(kw_store **st);

/* The schema version after migrations (for `keywardd migrate` and tests). */
int kw_store_schema_version(kw_store *st, int *version);

/* ---- accounts ---- */

typedef struct {
    int64_t id;
    char name[KW_STORE_NAME_MAX + 1];
    uint8_t *opaque_record; /* OPAQUE RegistrationRecord */
    size_t opaque_record_len;
    uint8_t account_pk[32]; /* Ed25519 account key (signs rosters) */
    uint8_t *totp_secret;   /* encrypted under the server's key; NULL when TOTP is off */
    size_t totp_secret_len;
    int64_t totp_last_step; /* last accepted TOTP time step (replay guard) */
    int64_t created_at;
} kw_store_account;

/* Frees the blobs inside an account record (not the struct). */
void kw_store_account_clear(kw_store_account *a);

/* ---- devices ---- */

#define KW_DEVICE_PENDING 0 /* signed in, waiting to be approved into the roster */
#define KW_DEVICE_TRUSTED 1 /* in the current roster */
#define KW_DEVICE_REMOVED 2 /* removed: sessions revoked, never trusted again */

typedef struct {
    uint8_t id[KW_STORE_ID_BYTES];
    int64_t account_id;
    char name[KW_STORE_NAME_MAX + 1];
    uint8_t identity_pk[32]; /* Ed25519 */
    uint8_t hpke_pk[32];     /* X25519 */
    int state;
    int64_t created_at;
    int64_t last_seen_at;
} kw_store_device;

/* ---- what creating an account writes, in one transaction ---- */

typedef struct {
    const char *name;
    const uint8_t *opaque_record;
    size_t opaque_record_len;
    const uint8_t *account_pk;        /* 32 */
    const kw_store_device *device;    /* the first device, state TRUSTED */
    const uint8_t *roster;            /* signed roster version 1 */
    size_t roster_len;
    const uint8_t *keychain;          /* encrypted keychain, version 1 */
    size_t keychain_len;
    const uint8_t *device_wrap;       /* KK generation 1 wrapped to the device */
    size_t device_wrap_len;
    const uint8_t *session_hash;      /* first session, bound to the device */
    int64_t session_expires_at;
} kw_store_new_account;

/* Creates the account, its first device, roster v1, keychain v1, the
 * device's KK wrap (generation 1) and a session. KW_ERR_CONFLICT when the
 * name is taken (or the device id, identity key or session hash exists).
 * The device is stored TRUSTED whatever its state field says, under the new
 * account (its account_id field is ignored); the account's created_at is the
 * device's. Returns the new account id. */
int kw_store_account_create(kw_store *st, const kw_store_new_account *na, int64_t *account_id);

int kw_store_account_get_by_name(kw_store *st, const char *name, kw_store_account *out);
int kw_store_account_get(kw_store *st, int64_t account_id, kw_store_account *out);

/* Replaces the OPAQUE record (password change). */
int kw_store_account_set_opaque(kw_store *st, int64_t account_id, const uint8_t *record, size_t len);

/* Sets or clears (secret NULL) the encrypted TOTP secret. */
int kw_store_account_set_totp(kw_store *st, int64_t account_id, const uint8_t *secret, size_t len);

/* Advances the last accepted TOTP step; KW_ERR_CONFLICT when step is not
 * greater than the stored one (a replayed code). */
int kw_store_account_use_totp_step(kw_store *st, int64_t account_id, int64_t step);

/* ---- devices ---- */

/* Adds a PENDING device (its state field is ignored). KW_ERR_CONFLICT on a
 * duplicate id or identity key; KW_ERR_NOT_FOUND when the account does not
 * exist. */
int kw_store_device_add(kw_store *st, const kw_store_device *d);
int kw_store_device_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_device *out);

/* Lists the account's devices (all states), oldest first; *out is malloc'd
 * (NULL when there are none). */
int kw_store_device_list(kw_store *st, int64_t account_id, kw_store_device **out, size_t *count);
/* Records that the device was seen at `now` (never moves it backwards);
 * best effort: a failure is logged, not returned. */
void kw_store_device_touch(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now);

/* ---- rosters, keychain, KK wraps ---- */

typedef struct {
    const uint8_t *device_id; /* KW_STORE_ID_BYTES */
    const uint8_t *wrap;
    size_t wrap_len;
} kw_store_wrap;

/* A roster change, applied in one transaction:
 * - roster version must be exactly current+1 (else KW_ERR_CONFLICT);
 * - devices listed in trust[] move PENDING→TRUSTED, in remove[] move to
 *   REMOVED and lose every session;
 * - when kk_generation > current generation, the new generation's wraps
 *   (one per remaining device, in wraps[]) and chain blob (new KK encrypting
 *   the previous one) are stored; otherwise wraps[] add the current
 *   generation for newly trusted devices;
 * - keychain (optional, NULL to keep) replaces the keychain if its version
 *   is exactly current+1;
 * - recovery_wrap (optional) replaces the recovery wrap of KK.
 * Checked inside the transaction (nothing is stored when one fails):
 * KW_ERR_NOT_FOUND for an unknown account or a listed device that is not the
 * account's; KW_ERR_CONFLICT for a stale roster/keychain version, a
 * kk_generation other than current or current+1, trusting a device that is
 * not PENDING, removing one already REMOVED, or a wrap that already exists;
 * KW_ERR_INVALID_ARG for a rotation without kk_chain (or kk_chain without a
 * rotation), a wrap for a device that is not TRUSTED after the change, a
 * TRUSTED device left without a wrap of the current generation, or a
 * recovery_wrap without recovery_auth when none is stored yet (a NULL
 * recovery_auth keeps the stored one). A removed device also loses every KK
 * wrap it had, so kk_wrap_get refuses it at once. The recovery wrap is
 * recorded as wrapping the generation current after the change. */
typedef struct {
    int64_t account_id;
    int64_t roster_version;
    const uint8_t *roster;
    size_t roster_len;
    const uint8_t (*trust)[KW_STORE_ID_BYTES];
    size_t ntrust;
    const uint8_t (*remove)[KW_STORE_ID_BYTES];
    size_t nremove;
    int64_t kk_generation;
    const uint8_t *kk_chain; /* KK_gen encrypting KK_{gen-1}; NULL when not rotating */
    size_t kk_chain_len;
    const kw_store_wrap *wraps;
    size_t nwraps;
    int64_t keychain_version; /* 0: keep */
    const uint8_t *keychain;
    size_t keychain_len;
    const uint8_t *recovery_wrap;
    size_t recovery_wrap_len;
    const uint8_t *recovery_auth; /* 32-byte verifier key for recovery sign-in; NULL: keep */
} kw_store_roster_change;

int kw_store_roster_apply(kw_store *st, const kw_store_roster_change *ch);

/* The latest roster and its version; *roster malloc'd. */
int kw_store_roster_latest(kw_store *st, int64_t account_id, int64_t *version, uint8_t **roster,
                           size_t *len);

/* A given roster version; KW_ERR_NOT_FOUND when absent. */
int kw_store_roster_get(kw_store *st, int64_t account_id, int64_t version, uint8_t **roster,
                        size_t *len);

/* The current keychain and its version. */
int kw_store_keychain_get(kw_store *st, int64_t account_id, int64_t *version, uint8_t **blob,
                          size_t *len);

/* Current KK generation number and the device's wrap of it (KW_ERR_NOT_FOUND
 * when the device has none — e.g. it was removed before the rotation). */
int kw_store_kk_wrap_get(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                         int64_t *generation, uint8_t **wrap, size_t *len);

/* The chain blob of one generation (KK_gen encrypting KK_{gen-1}). */
int kw_store_kk_chain_get(kw_store *st, int64_t account_id, int64_t generation, uint8_t **blob,
                          size_t *len);

/* The recovery wrap of the current KK, its generation, and the recovery
 * verifier key; KW_ERR_NOT_FOUND when no recovery key was created. */
int kw_store_recovery_get(kw_store *st, int64_t account_id, int64_t *generation, uint8_t **wrap,
                          size_t *len, uint8_t auth[32]);

/* ---- sessions ---- */

typedef struct {
    uint8_t hash[KW_STORE_HASH_BYTES]; /* SHA-256 of the token; the token itself is never stored */
    int64_t account_id;
    uint8_t device_id[KW_STORE_ID_BYTES];
    int64_t created_at;
    int64_t expires_at;
    bool revoked;
} kw_store_session;

/* Stores a session. KW_ERR_CONFLICT when the hash exists; KW_ERR_NOT_FOUND
 * when the device does not exist, belongs to another account or is REMOVED
 * (nothing stored: a removed device never gets a session, also when its
 * removal commits concurrently). */
int kw_store_session_add(kw_store *st, const kw_store_session *s);
/* Any stored session, revoked and expired ones included (the caller checks
 * revoked and expires_at). */
int kw_store_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_session *out);
/* The account's sessions (all of them), oldest first; *out is malloc'd. */
int kw_store_session_list(kw_store *st, int64_t account_id, kw_store_session **out, size_t *count);

/* Revokes one session of the account (KW_ERR_NOT_FOUND when it is not theirs). */
int kw_store_session_revoke(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES]);

/* Revokes every session of a device (KW_ERR_NOT_FOUND for an unknown device). */
int kw_store_session_revoke_device(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES]);

/* ---- short-lived login and approval state ---- */

/* Pending OPAQUE logins between KE2 and KE3 (state is the server's
 * expected-MAC and session-key material, which the store keeps only until
 * finish or expiry). put() gives KW_ERR_CONFLICT on a duplicate id; the
 * account_id is not checked (a fake login for an unknown name may park its
 * state too). take() deletes as it reads, so a login finishes once; an
 * expired entry is deleted and refused with KW_ERR_NOT_FOUND. *state is
 * malloc'd secret material: wipe it (sodium_memzero) before free. */
int kw_store_login_put(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                       const uint8_t *state, size_t len, int64_t expires_at);
int kw_store_login_take(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                        int64_t *account_id, uint8_t **state, size_t *len);

/* Approval codes: stored as a hash, single-use, with expiry and an attempt
 * budget. put() replaces the account's previous code. use() checks a
 * candidate hash: KW_OK and deletes it on a match; KW_ERR_VERIFY on a
 * mismatch (spending one attempt; the code is deleted when the budget runs
 * out); KW_ERR_NOT_FOUND when there is no live code (an expired one is
 * deleted). attempts must be >= 1. The hash is compared in constant time. */
int kw_store_approval_put(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                          int64_t expires_at, int attempts);
int kw_store_approval_use(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                          int64_t now);

/* Removes expired logins and approval codes; *removed says how many went. */
int kw_store_expire(kw_store *st, int64_t now, size_t *removed);

#endif
