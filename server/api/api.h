/*
 * server/api/api.h — the request handlers of keywardd's /v1 API and the
 * application context they share.
 *
 * Each area lives in its own file (accounts.c, login.c, sessions.c,
 * devices.c, keychain.c, totp.c, approvals.c, recovery.c, password.c) and exports its routes
 * through a `kw_api_<area>_routes` table; routes.c gathers them. Handlers are
 * thread-safe: they touch only the store (thread-safe) and the read-only
 * server keys. Helpers here authenticate bearer tokens and read JSON fields
 * with size limits, so each handler is short and every parser is bounded.
 * Secrets: server keys live in sodium_malloc'd memory; no handler logs a
 * request body, a token or a code.
 */
#ifndef KEYWARD_SERVER_API_H
#define KEYWARD_SERVER_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"

#define KW_SERVER_SESSION_TTL_DEFAULT (30 * 24 * 3600)
#define KW_SERVER_LOGIN_TTL 120          /* seconds between KE2 and KE3 */
#define KW_SERVER_APPROVAL_TTL 300       /* approval code lifetime */
#define KW_SERVER_APPROVAL_ATTEMPTS 5
#define KW_SESSION_TOKEN_BYTES 32

/* Long-lived server secrets, loaded from (or created in) the key file. */
typedef struct {
    uint8_t oprf_seed[64];        /* OPAQUE oprf_seed (Nh) */
    uint8_t opaque_sk[32];        /* OPAQUE server AKE private key */
    uint8_t opaque_pk[32];
    uint8_t totp_key[32];         /* encrypts TOTP secrets at rest */
    uint8_t code_key[32];         /* keys the hashes of approval codes */
    uint8_t kt_seed[32];          /* derives the KT log signing key and VRF key (HKDF) */
} kw_server_keys;

typedef struct {
    kw_store *store;
    kw_server_keys *keys;         /* sodium_malloc'd, read-only after start */
    int64_t session_ttl;
    bool test_faults;             /* test-only fault hooks enabled (never in production) */
    bool pending_logins_memory;   /* pending OPAQUE logins in process memory, not the store
                                     (one keywardd per store only); read at kw_api_server_init */
    struct kw_api_state *state;   /* OPAQUE server, login key, rate limits (areas.h) */
    struct kw_api_kt *kt;         /* key-transparency directory (kt.c); NULL: off */
    const struct kw_config_s *cfg; /* the whole configuration (area keys: kw_config_get) */
    /* Per-area state, set by the area's start hook (lifecycle.c), NULL when
     * the area is off or not started. */
    struct kw_api_seckeys *seckeys;
    struct kw_api_web *web;
    struct kw_api_msg *msg;
    struct kw_api_records *records;
    struct kw_api_adp *adp;
} kw_server;

/* Runs every area's start hook in order (lifecycle.c), after kw_api_kt_start
 * and before kw_http_start; on failure the started ones are stopped again.
 * Areas read their keys from srv->cfg. */
int kw_api_areas_start(kw_server *srv);
/* Runs the stop hooks in reverse order; safe after a failed or no start. */
void kw_api_areas_stop(kw_server *srv);

/* The authenticated caller of a request. */
typedef struct {
    int64_t account_id;
    uint8_t device_id[KW_STORE_ID_BYTES];
    uint8_t session_hash[KW_STORE_HASH_BYTES];
    int device_state;
    bool web;                           /* a web (browser) session: device_id is all zero */
    uint8_t web_session_id[KW_STORE_ID_BYTES];
} kw_api_caller;

/* Current time in Unix seconds (overridable by tests through
 * KEYWARD_TEST_TIME_OFFSET when test_faults is on). */
int64_t kw_api_now(const kw_server *srv);

/* Authenticates the bearer token: present, well-formed, its hash stored,
 * not revoked, not expired, its device not removed. KW_ERR_VERIFY with a
 * message otherwise. trusted_only additionally requires a TRUSTED device. */
int kw_api_auth(kw_http_req *req, kw_http_resp *resp, bool trusted_only, kw_api_caller *caller);

/* Creates a session for (account, device): a fresh random token returned in
 * token_out (base64url, NUL-terminated, 44 bytes suffice), its SHA-256 stored. */
/* Like kw_api_auth, and also accepts a web (browser) session token of the
 * account-security page (web.c), for the endpoints that page uses; then
 * caller->web is true and device_id is zero. trusted_only applies to device
 * sessions. Replies 401 itself on failure. */
int kw_api_auth_any(kw_http_req *req, kw_http_resp *resp, bool trusted_only, kw_api_caller *caller);

int kw_api_session_create(kw_server *srv, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                          char token_out[64], int64_t *expires_at);

/* SHA-256 of a session token string. */
void kw_api_token_hash(const char *token, uint8_t hash[KW_STORE_HASH_BYTES]);

/* JSON field readers with limits. Each returns 0 or an error already
 * described in resp (KW_ERR_FORMAT for a missing/mistyped field,
 * KW_ERR_TOO_LARGE over the limit). */
int kw_api_get_str(kw_http_resp *resp, json_t *obj, const char *field, size_t max, const char **out);
int kw_api_get_b64(kw_http_resp *resp, json_t *obj, const char *field, size_t min, size_t max,
                   uint8_t **out, size_t *len); /* malloc'd */
int kw_api_get_b64_fixed(kw_http_resp *resp, json_t *obj, const char *field, uint8_t *out, size_t len);
int kw_api_get_int(kw_http_resp *resp, json_t *obj, const char *field, int64_t min, int64_t max,
                   int64_t *out);

/* Refuses fields outside `allowed` (NULL-terminated) with KW_ERR_FORMAT. */
int kw_api_only_fields(kw_http_resp *resp, json_t *obj, const char *const *allowed);

/* Adds a base64url string field to obj; returns 0 or KW_ERR_NOMEM. */
int kw_api_put_b64(json_t *obj, const char *field, const uint8_t *data, size_t len);

/* Validates an account or device name: 1..KW_STORE_NAME_MAX bytes of
 * [A-Za-z0-9._@+-]. */
int kw_api_check_name(kw_http_resp *resp, const char *name);

/* Route tables of each area, gathered by kw_api_routes. */
const kw_http_route *kw_api_routes(size_t *count);

#endif
