/*
 * lib/client internals: the device profile (profile.c), the HTTP layer
 * (http.c) and the state of a kw_client shared by the flows (flows.c).
 *
 * profile.c uses neither libcurl nor the flows, so a program linking only
 * the profile functions needs no libcurl.
 */
#ifndef KEYWARD_CLIENT_INTERNAL_H
#define KEYWARD_CLIENT_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/client.h"
#include "keyward/pwkey.h"

#define KWC_ID_BYTES 16
#define KWC_KK_MAX 32 /* KK generations kept in a profile (newest) */
#define KWC_URL_MAX 512
#define KWC_TOKEN_MAX 64
#define KWC_SECRETS_MAGIC "KWS1"
#define KWC_SECRETS_HEADERBYTES (4 + KW_PWKEY_RECORDBYTES)
#define KWC_SECRETS_MAXBYTES 8192

typedef struct {
    uint8_t identity_seed[32]; /* Ed25519 */
    uint8_t hpke_sk[32];
    uint8_t hpke_pk[32];
    uint8_t has_account_seed;
    uint8_t account_seed[32];
    char token[KWC_TOKEN_MAX]; /* NUL-terminated, "" when signed out */
    uint16_t nkk;
    struct {
        uint64_t gen;
        uint8_t kk[32];
    } kk[KWC_KK_MAX]; /* ascending generations */
} kwc_secrets;

typedef struct {
    char dir[PATH_MAX];
    /* config.json (public) */
    char server[KWC_URL_MAX];
    char account[KW_CLIENT_NAME_MAXBYTES + 1];
    uint8_t device_id[KWC_ID_BYTES];
    char device_name[KW_CLIENT_NAME_MAXBYTES + 1];
    bool has_account_pk;
    uint8_t account_pk[32];
    char state[16]; /* "", "pending", "trusted", "removed" */
    /* secrets.bin */
    kwc_secrets *s;        /* sodium_malloc'd */
    uint8_t *key;          /* sodium_malloc'd, 32 bytes: the profile key */
    kw_pwkey_params params;
} kwc_profile;

/* Resolves the profile directory: dir when non-NULL, else $KEYWARD_HOME,
 * $XDG_DATA_HOME/keyward, $HOME/.local/share/keyward. */
int kwc_profile_path(char out[static PATH_MAX], const char *dir);

/* Loads the profile in dir (config.json + secrets.bin) with passphrase.
 * KW_ERR_NOT_FOUND when there is none, KW_ERR_VERIFY for a wrong passphrase
 * or a tampered file, KW_ERR_FORMAT for a damaged one. */
int kwc_profile_load(kwc_profile **p, const char *dir, const char *passphrase, size_t passphrase_len);

/* A new profile in dir (created 0700 if missing) with fresh device keys;
 * written at once. fast_kdf: minimal Argon2id parameters (TEST ONLY).
 * KW_ERR_CONFLICT when a profile exists there. */
int kwc_profile_create(kwc_profile **p, const char *dir, const char *passphrase,
                       size_t passphrase_len, bool fast_kdf);

/* Writes config.json and secrets.bin durably (temp, fsync, rename, fsync
 * dir), mode 0600. */
int kwc_profile_save(kwc_profile *p);

/* Wipes and frees *p. */
void kwc_profile_free(kwc_profile **p);

/* KK of generation gen, or NULL. */
const uint8_t *kwc_profile_kk(const kwc_profile *p, uint64_t gen);
/* Newest KK generation held (0 when none). */
uint64_t kwc_profile_kk_latest(const kwc_profile *p);
/* Stores KK of generation gen (replacing; dropping the oldest when full). */
void kwc_profile_kk_put(kwc_profile *p, uint64_t gen, const uint8_t kk[static 32]);

/* Durable write of data to dir/name (mode 0600). */
int kwc_write_file(const char *dir, const char *name, const uint8_t *data, size_t len);

/* ---- the client ---- */

/* Rollback high-water marks of this device (pins.json in the profile
 * directory, public): the newest roster version verified and the SHA-256
 * of its bytes, the newest keychain version and KK generation opened.
 * Bound to the account and device id they were recorded for. */
typedef struct {
    uint64_t roster_version;
    uint8_t roster_hash[32];
    uint64_t keychain_version;
    uint64_t kk_generation;
} kwc_pins;

struct kw_client {
    kwc_profile *p; /* NULL until created or loaded */
    char dir[PATH_MAX];
    char server[KWC_URL_MAX];
    char ca_file[PATH_MAX];
    uint8_t *passphrase; /* sodium_malloc'd copy, for creating a profile */
    size_t passphrase_len;
    bool fast_kdf;
    kwc_pins pins;
    char err[512];
    int origin;
    struct kw_client_authenticator *seckey_auth; /* keys.c (borrowed); NULL: libfido2 default */
};

/* Records an error message and origin; returns err. */
int kwc_fail(kw_client *c, int origin, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One request: method, path under the server URL, an optional JSON body
 * (borrowed), the bearer token when auth. *resp receives the parsed JSON
 * object of a 2xx answer. Errors are recorded in c. */
int kwc_http(kw_client *c, const char *method, const char *path, json_t *body, bool auth,
             json_t **resp);

/* base64url helpers over JSON objects. */
int kwc_put_b64(json_t *o, const char *key, const uint8_t *data, size_t len);
/* Exactly len bytes. */
int kwc_get_b64_fixed(const json_t *o, const char *key, uint8_t *out, size_t len);
/* Any length up to max; *out malloc'd. */
int kwc_get_b64(const json_t *o, const char *key, size_t max, uint8_t **out, size_t *len);


#include "keyward/keychain.h"
#include "keyward/roster.h"
#include "keyward/sign.h"

/* ---- shared flow helpers (flows.c), for the domain files lib/client/<domain>.c ---- */
/* Each sets the client error (kwc_fail) on failure, like the public functions. */
int kwc_need_profile(kw_client *c);
int kwc_need_session(kw_client *c);
int kwc_ensure_profile(kw_client *c);
int kwc_save(kw_client *c);
void kwc_device_identity_pk(const kwc_profile *p, uint8_t pk[32]);
json_t *kwc_device_json(const kwc_profile *p);
void kwc_id_b64(char out[32], const uint8_t id[KWC_ID_BYTES]);
int kwc_parse_id(kw_client *c, const char *s, uint8_t id[KWC_ID_BYTES]);
int kwc_bad_answer(kw_client *c, const char *what);
int kwc_get_u64(const json_t *o, const char *key, uint64_t *v);
int kwc_pins_save(kw_client *c);
int kwc_pins_load(kw_client *c);
int kwc_roster_pin(kw_client *c, const kw_roster *ros, const uint8_t *blob, size_t len);
int kwc_keychain_pin(kw_client *c, uint64_t version, uint64_t gen);
int kwc_account_key(kw_client *c, kw_sign_key **ak);
int kwc_fetch_roster(kw_client *c, kw_roster *ros);
int kwc_sync_kk(kw_client *c, kw_keychain **kc_out, uint64_t *kc_version, uint64_t *gen_out, kw_roster *ros);
int kwc_put_roster(kw_client *c, json_t *o, const kw_roster *ros, const kw_sign_key *ak);
int kwc_seal_keychain(kw_client *c, json_t *o, const char *key, const kw_keychain *kc, const uint8_t kk[static 32], uint64_t version, uint64_t gen);
json_t *kwc_result(kw_client *c);
/* POST path (no body) as the signed-in device; on success *out is the
 * client result (kwc_result) with key set to value (value is taken, also
 * on failure). */
int kwc_post_result(kw_client *c, const char *path, const char *key, json_t *value, json_t **out);
/* A pending device holding KK of generation gen (unwrapped from a recovery
 * key, a passcode escrow or a recovery contact's wrap) joins: the keychain
 * blob's header must say version and gen (else KW_ERR_VERIFY; a generation
 * mismatch says "<what> wraps KK generation ...: <renew>"), the keychain
 * must open under kk and hold the pinned account key; then this device is
 * added to the roster (signed with that key), KK is wrapped to itself,
 * POST /v1/devices/join-recovery, and the profile (account seed, KK gen,
 * state "trusted") is saved. kk is borrowed: the caller wipes it. */
int kwc_join_with_kk(kw_client *c, const uint8_t kk[static KW_KK_BYTES], uint64_t gen, const uint8_t *blob,
                     size_t blob_len, uint64_t version, const char *what, const char *renew);


/* ---- service keys (service_keys.c, records engineer) ---- */
/* Uploads kc as keychain `version` (current+1) sealed under KK `gen`
 * (POST /v1/records/keychain) and pins it. */
int kwc_keychain_upload(kw_client *c, const kw_keychain *kc, uint64_t version, uint64_t gen);
/* Makes sure *kc (synced when NULL; replaced by a fresh sync on a conflict)
 * holds a service key for category, creating generation 1 and uploading the
 * keychain when it has none. *gen_out (optional): its current generation. */
int kwc_service_key_ensure(kw_client *c, kw_keychain **kc, uint64_t *kcv, uint64_t *gen,
                           const char *category, uint32_t *gen_out);
/* The service key of category at generation (0: current), from a fresh
 * sync; create: add generation 1 when the category has none. key wiped on
 * error. */
int kwc_service_key_get(kw_client *c, const char *category, uint32_t generation, bool create,
                        uint8_t key[static 32], uint32_t *gen_out);
/* Rolls category's service key to a new generation (the old one chained
 * under it) and uploads the keychain. */
int kwc_service_key_roll(kw_client *c, const char *category, uint32_t *gen_out);

#endif
