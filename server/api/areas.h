/*
 * server/api/areas.h — the route tables of the /v1 API areas and the few
 * helpers the area files share.
 *
 * Each area file (accounts.c, login.c, sessions.c, approvals.c, totp_api.c,
 * devices.c, keychain.c, recovery.c, password.c) defines one route table; routes.c
 * gathers them. The helpers here read the request objects several areas
 * share (a device, a device id), verify rosters against the account key,
 * and keep the in-memory rate limits.
 *
 * kw_api_server_init builds the per-server state (the OPAQUE server object,
 * the key that encrypts pending logins, the rate-limit table); it must run
 * before kw_http_start and kw_api_server_fini after kw_http_stop.
 * Thread safety: everything here may be called from the HTTP worker threads
 * at once (the rate-limit table has its own lock).
 * Secrets: the state holds the OPAQUE server keys and the login-state key in
 * sodium_malloc'd memory, wiped by kw_api_server_fini.
 */
#ifndef KEYWARD_SERVER_API_AREAS_H
#define KEYWARD_SERVER_API_AREAS_H

#include "api/api.h"
#include "keyward/opaque.h"

#define KW_API_AREA(area)                                                                          \
    extern const kw_http_route kw_api_##area##_routes[];                                           \
    extern const size_t kw_api_##area##_nroutes

KW_API_AREA(accounts);
KW_API_AREA(login);
KW_API_AREA(sessions);
KW_API_AREA(approvals);
KW_API_AREA(totp);
KW_API_AREA(devices);
KW_API_AREA(keychain);
KW_API_AREA(recovery);
KW_API_AREA(password);
KW_API_AREA(kt);
KW_API_AREA(roster); /* roster.c: CKV switch (ckv engineer) */
KW_API_AREA(msg); /* messages.c: mailboxes and prekeys (msg engineer) */
int kw_api_msg_start(kw_server *srv); void kw_api_msg_stop(kw_server *srv); /* messages.c: id expiry sweep */
int kw_api_msg_auth_get(kw_server *srv, const uint8_t hash[KW_STORE_HASH_BYTES], int64_t now, kw_api_caller *caller, int64_t *expires_at, bool *touch, uint64_t *gen); void kw_api_msg_auth_put(kw_server *srv, uint64_t gen, const kw_api_caller *caller, int64_t expires_at, int64_t seen_at, int64_t now); /* messages.c: kw_api_auth's session cache (KW_OK hit, KW_ERR_NOT_FOUND miss: *gen for put, KW_ERR_UNSUPPORTED off) */

/* ---- key transparency (kt.c) ---- */

/* Derives the log and VRF keys from srv->keys->kt_seed, creates the
 * in-memory directory, publishes epoch 0 and starts the publisher thread
 * (one epoch every epoch_ms, heartbeats included). Call after
 * kw_api_server_init and before kw_http_start. KW_ERR_NOMEM, KW_ERR_SYSTEM. */
int kw_api_kt_start(kw_server *srv, int64_t epoch_ms);
/* Stops the publisher (joins it) and frees the directory; NULL-safe. Call
 * after kw_http_stop. */
void kw_api_kt_stop(kw_server *srv);
/* Queues an accepted roster of account `name` as the label's next version
 * (logged on failure; the roster is already stored). Thread-safe. */
void kw_api_kt_roster(kw_server *srv, const char *name, const uint8_t *roster, size_t len);
/* The same, adding the signed promise to out as "kt_promise" (base64url;
 * out may be NULL). The update is stored before the promise exists. Returns
 * the error (logged) without a promise when it could not be queued. */
int kw_api_kt_roster_promise(kw_server *srv, const char *name, const uint8_t *roster, size_t len,
                             json_t *out);
/* kw_api_kt_roster_promise, returning out (the answer to send; may be
 * NULL: the roster is queued all the same). */
json_t *kw_api_kt_roster_answer(kw_server *srv, const char *name, const uint8_t *roster,
                                size_t len, json_t *out);

/* The OPAQUE configuration every party uses (docs/api.md). */
#define KW_API_OPAQUE_CONTEXT "keyward-opaque-v1"
void kw_api_opaque_config(kw_opaque_config *cfg);

/* Signature context of the device's proof of possession in login/finish. */
#define KW_API_LOGIN_SIG_CONTEXT "login"

/* Larger body limit for requests carrying a keychain. */
#define KW_API_KEYCHAIN_BODY_LIMIT (2u * 1024 * 1024)
#define KW_API_KEYCHAIN_MAX (1u << 20)
#define KW_API_ROSTER_MAX (256u * 1024)
#define KW_API_WRAP_MAX 4096
#define KW_API_DEVICES_MAX 256

/* Builds srv->state from srv->keys; KW_ERR_NOMEM or an OPAQUE key error. */
int kw_api_server_init(kw_server *srv);
/* Wipes and frees srv->state; NULL-safe. */
void kw_api_server_fini(kw_server *srv);

/* The OPAQUE server object of srv (read-only, shared by all threads). */
const kw_opaque_server *kw_api_opaque(const kw_server *srv);

/* Seals / opens a pending login's exported state under the server's login
 * key, bound to the login id (AD). sealed holds len + KW_API_SEAL_OVERHEAD. */
#define KW_API_SEAL_OVERHEAD 40 /* 24-byte nonce + 16-byte tag */
int kw_api_login_seal(const kw_server *srv, uint8_t *sealed, const uint8_t *state, size_t len,
                      const uint8_t id[KW_STORE_ID_BYTES]);
__attribute__((warn_unused_result)) int kw_api_login_open(const kw_server *srv, uint8_t *state,
                                                          const uint8_t *sealed, size_t sealed_len,
                                                          const uint8_t id[KW_STORE_ID_BYTES]);

/* ---- pending OPAQUE logins (login/start → finish, password/start → finish) ---- */

/* What a pending login was started for: a sign-in, or a password change
 * (bound to the session that started it). A login id of one kind is
 * refused by the finish of the other. */
#define KW_API_PENDING_LOGIN 1
#define KW_API_PENDING_PASSWORD 2

typedef struct {
    int kind;                                  /* KW_API_PENDING_* */
    int64_t account_id;                        /* 0: an unknown name (fake KE2) */
    int64_t started_at;                        /* for refunding the start limits */
    uint8_t remote_hash[16];                   /* of the address that started it */
    uint8_t session_hash[KW_STORE_HASH_BYTES]; /* password change: the caller's session */
    uint8_t record_hash[KW_STORE_HASH_BYTES];  /* password change: SHA-256 of the record KE2 used */
    kw_opaque_server_login *login;             /* owned; kw_opaque_server_login_free */
} kw_api_pending;

/* Exports p->login with the rest of p (started_at and remote_hash are set
 * here from the clock and `remote`), seals it under the login key bound to a
 * fresh random id (written to id) and parks it (store or memory table) for
 * KW_SERVER_LOGIN_TTL seconds. KW_ERR_LIMIT when the memory table has no
 * room; store errors as is. */
int kw_api_pending_put(kw_server *srv, kw_api_pending *p, const char *remote,
                       uint8_t id[KW_STORE_ID_BYTES]);

/* Takes (removes) the pending login id and opens it into *p (p->login to be
 * freed with kw_api_pending_clear). KW_ERR_NOT_FOUND for an unknown,
 * expired or used id; KW_ERR_INTERNAL when the parked state does not open. */
int kw_api_pending_take(kw_server *srv, const uint8_t id[KW_STORE_ID_BYTES], kw_api_pending *p);

/* Frees p->login and wipes p. */
void kw_api_pending_clear(kw_api_pending *p);

/* Counts a start (login/start, password/start) for account `name` and the
 * remote address: KW_ERR_LIMIT (described in resp) when either start limit
 * is reached, nothing counted then. */
int kw_api_start_limit(kw_server *srv, kw_http_resp *resp, const char *name, const char *remote);

/* login.c: the OPAQUE sign-in both the device API and the web page use.
 * _begin answers {"name","ke1"} with {"login_id","ke2"} under os (a fake KE2
 * for an unknown name), parking a pending login of `kind`; log_event names
 * the log line of an unexpected OPAQUE error. _verify takes the pending
 * login id (of `kind` only) and checks KE3 under the sign-in rate limits:
 * KW_ERR_VERIFY (fail_msg for a wrong password or unknown name) or 0 with
 * *p holding the login (the caller clears it). */
int kw_api_login_begin(kw_http_req *req, kw_http_resp *resp, const kw_opaque_server *os, int kind,
                       const char *log_event);
int kw_api_login_verify(kw_server *srv, kw_http_resp *resp, const uint8_t id[KW_STORE_ID_BYTES],
                        const uint8_t ke3[KW_OPAQUE_KE3BYTES], const char *remote, int kind,
                        const char *fail_msg, kw_api_pending *p);

/* After a finish proved the password: takes p's start back from the limits
 * of account `name` and (when the finish comes from the same address) of the
 * remote address. */
void kw_api_start_refund(kw_server *srv, const kw_api_pending *p, const char *name,
                         const char *remote);

/* ---- rate limits (in memory, fixed windows) ---- */

typedef enum {
    KW_RL_LOGIN_REMOTE = 0, /* failed login/finish per remote address */
    KW_RL_LOGIN_ACCOUNT,    /* failed login/finish per account */
    KW_RL_APPROVAL_FAIL,    /* wrong approval codes per account */
    KW_RL_TOTP_FAIL,        /* wrong TOTP codes per account */
    KW_RL_APPROVAL_CREATE,  /* approval codes created per account */
    KW_RL_START_ACCOUNT,    /* login/start (and password/start) per account name, refunded on success */
    KW_RL_START_REMOTE,     /* login/start (and password/start) per remote address, refunded on success */
    KW_RL_KINDS
} kw_rl_kind;

/* KW_ERR_LIMIT (with a message in resp) when the key's count in its current
 * window has reached the kind's limit; KW_OK otherwise. Does not count. */
int kw_api_rl_check(kw_server *srv, kw_http_resp *resp, kw_rl_kind kind, const char *key);
/* Counts one event for the key. */
void kw_api_rl_hit(kw_server *srv, kw_rl_kind kind, const char *key);
/* Takes back one event counted at `since` or later in the key's current
 * window (a login/start whose finish proved the password): a stream of
 * successful sign-ins never reaches the start limits, while starts that end
 * in a wrong password, or are never finished (OPAQUE lets the client see a
 * wrong password after login/start), stay counted. */
void kw_api_rl_refund(kw_server *srv, kw_rl_kind kind, const char *key, int64_t since);
/* Formats an account id as a rate-limit key. */
void kw_api_rl_account_key(char out[24], int64_t account_id);
/* The start-limit key of an account name (known or not, so that the limit
 * does not tell which names exist): "n" and a hash of the name. */
#define KW_API_RL_NAME_KEYBYTES 40
void kw_api_rl_name_key(char out[KW_API_RL_NAME_KEYBYTES], const char *name);

/* ---- shared request readers ---- */

/* Reads field (an object {id, name, identity_pk, hpke_pk}) into d; refuses
 * unknown fields, bad names, invalid identity keys and all-zero HPKE keys. */
int kw_api_get_device(kw_http_resp *resp, json_t *obj, const char *field, kw_store_device *d);

/* Reads a base64url device id, from a JSON field or a path segment. */
int kw_api_get_id(kw_http_resp *resp, json_t *obj, const char *field, uint8_t id[KW_STORE_ID_BYTES]);
int kw_api_parse_id(kw_http_resp *resp, const char *s, uint8_t id[KW_STORE_ID_BYTES]);

/* Reads an empty or absent body ({} is fine, any field is refused). */
int kw_api_no_fields(kw_http_req *req, kw_http_resp *resp);

/* "pending" / "trusted" / "removed". */
const char *kw_api_device_state_name(int state);

/* Checks that roster is a roster (keyward/roster.h, kw_roster_open) of
 * account `name` signed under account_pk, of exactly `version`, listing
 * exactly the devices of expect[] (ids and both keys, in any order).
 * KW_ERR_VERIFY for a bad signature or another account key, KW_ERR_CONFLICT
 * for a wrong version, KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE / KW_ERR_FORMAT
 * for a malformed roster, KW_ERR_FORMAT for the wrong device set or name. */
int kw_api_roster_check(kw_http_resp *resp, const uint8_t account_pk[32], const char *name,
                        const uint8_t *roster, size_t roster_len, int64_t version,
                        const kw_store_device *expect, size_t nexpect);

/* Moves the pending device `target` of the caller's account into the
 * roster: reads `roster` (current+1, the trusted devices plus target) and
 * `wrap` (current KK generation wrapped to target) from the body. Shared by
 * devices/approve and devices/join-recovery. */
int kw_api_roster_add_device(kw_http_req *req, kw_http_resp *resp, const kw_api_caller *caller,
                             const uint8_t target[KW_STORE_ID_BYTES]);

/* The account's current KK generation (from any trusted device's wrap). */
int kw_api_kk_generation(kw_server *srv, int64_t account_id, int64_t *generation);

/* ---- second-factor helpers ---- */

#define KW_API_CODE_DIGITS 6
/* Reads a code field: a string of exactly 6 ASCII digits. */
int kw_api_get_code(kw_http_resp *resp, json_t *obj, const char *field,
                    char code[KW_API_CODE_DIGITS + 1]);
/* The keyed hash (HMAC-SHA256 under keys->code_key) of an approval code,
 * bound to the account. */
void kw_api_approval_hash(const kw_server *srv, int64_t account_id, const char *code,
                          uint8_t hash[KW_STORE_HASH_BYTES]);

/* TOTP secrets at rest: XChaCha20-Poly1305 under keys->totp_key, bound to
 * the account id; sealed = nonce ‖ ciphertext ‖ tag. */
#define KW_API_TOTP_SEALED_MAX (24 + 64 + 16)
int kw_api_totp_seal(const kw_server *srv, int64_t account_id, uint8_t *sealed, size_t *sealed_len,
                     const uint8_t *secret, size_t len);
__attribute__((warn_unused_result)) int kw_api_totp_open(const kw_server *srv, int64_t account_id,
                                                         uint8_t *secret, size_t *len,
                                                         const uint8_t *sealed, size_t sealed_len);

/* Maps a store error to a response, naming `what` (no secrets). */
int kw_api_store_fail(kw_http_resp *resp, int err, const char *what);

/* ---- security keys (seckeys.c; helpers and hooks in api/seckeys.h) ---- */
KW_API_AREA(seckeys);
int kw_api_seckeys_start(kw_server *srv);
void kw_api_seckeys_stop(kw_server *srv);

/* ---- web page (web.c, docs/api.md "Web page") ---- */
KW_API_AREA(web);
#define KW_API_PENDING_WEB 3 /* a pending login of the web page (empty OPAQUE context) */
/* Start hook: web.dir, web.session_ttl → srv->web; stop frees it. */
int kw_api_web_start(kw_server *srv);
void kw_api_web_stop(kw_server *srv);
/* The bearer token as a live ACTIVE web session: KW_OK (caller->web set),
 * KW_ERR_NOT_FOUND (nothing described) when it is no web session, or
 * KW_ERR_VERIFY described (revoked, expired, second factor still owed). */
int kw_api_web_auth(kw_http_req *req, kw_http_resp *resp, kw_api_caller *caller);
/* Whether the web page queued the removal of this device (its sign-ins
 * should then be refused until a trusted device completes or dismisses it). */
int kw_api_web_device_blocked(kw_server *srv, const uint8_t device_id[KW_STORE_ID_BYTES], bool *blocked);
/* Revokes every web session of the account (a password change must call it). */
int kw_api_web_revoke_account(kw_server *srv, int64_t account_id);

/* ---- records (records.c, docs/api.md "Records"): chunk storage, GC at start ---- */
KW_API_AREA(records);
int kw_api_records_start(kw_server *srv);
void kw_api_records_stop(kw_server *srv);

/* ---- ADP (adp.c, docs/api.md "ADP"): custody provider, category classes ---- */
KW_API_AREA(adp);
int kw_api_adp_start(kw_server *srv);
void kw_api_adp_stop(kw_server *srv);

#endif
