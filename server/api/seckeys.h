/*
 * server/api/seckeys.h — security keys (WebAuthn) for the other API areas:
 * one call to issue a challenge for an operation, one call to verify an
 * assertion for it (issue 4; the routes are in seckeys.c, docs/api.md
 * "Security keys").
 *
 * Configuration (read by kw_api_seckeys_start from srv->cfg):
 *   webauthn.rp_id    the relying-party id (default "localhost")
 *   webauthn.origins  comma-separated allowed origins, compared byte for
 *                     byte; an entry ending in ":*" allows any port
 *                     (default "http://localhost:*,https://localhost:*")
 *   webauthn.timeout_ms  the ceremony timeout sent to clients and the
 *                     challenge lifetime (default 120000, 10000..600000)
 *   webauthn.user_verification  "discouraged" (default) or "required": the
 *                     UV flag is then required in every registration and
 *                     assertion, and the options sent to clients ask for it
 *
 * Operations (challenge binding, store/seckey.h KW_STORE_SECKEY_OP_*):
 * "register", "login", "web-login", "password", "key-add", "key-remove",
 * "recovery", "policy".
 *
 * Thread safety: every function may run on several HTTP threads at once.
 * Nothing here is secret; counter regressions are logged
 * (event=seckey_counter_regression, account and key id, no other data).
 */
#ifndef KEYWARD_SERVER_API_SECKEYS_H
#define KEYWARD_SERVER_API_SECKEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "store/seckey.h"

/* Start/stop hooks (lifecycle.c): config → srv->seckeys. A bad config value
 * fails the start with a log line naming the key. */
int kw_api_seckeys_start(kw_server *srv);
void kw_api_seckeys_stop(kw_server *srv);

/* Whether the account requires security keys (policy on). When the area is
 * not started, false. Store errors as is. */
int kw_api_seckey_required(kw_server *srv, int64_t account_id, bool *on);

/* Issues a fresh challenge bound to (account_id, op), stored for the
 * configured timeout, and returns WebAuthn PublicKeyCredentialRequestOptions
 * in JSON form (binary fields base64url):
 *   {challenge, rpId, timeout, userVerification ("discouraged" or "required"),
 *    allowCredentials: [{type: "public-key", id}]}
 * KW_ERR_NOT_FOUND when the account has no keys; KW_ERR_LIMIT when it has
 * too many live challenges; KW_ERR_UNSUPPORTED when the area is off. */
int kw_api_seckey_challenge(kw_server *srv, int64_t account_id, const char *op, json_t **options);

/* Verifies `assertion` — a PublicKeyCredential in JSON form:
 *   {id, rawId, type: "public-key", response: {clientDataJSON,
 *    authenticatorData, signature, userHandle?}, clientExtensionResults?,
 *    authenticatorAttachment?}
 * (binary fields base64url) — for op on account_id: the challenge named in
 * clientDataJSON is taken from the store (single use; it must be live and
 * bound to this account and op), the credential must be one of the
 * account's keys, then W3C WebAuthn §7.2 (kw_webauthn_assert_verify: type,
 * challenge, origin allow-list, rpIdHash, UP, BS/BE, signature, counter).
 * On success the new counter and last-use time are stored (compare and
 * swap) and *key_id (optional) names the key. On failure the error is
 * described in resp (KW_ERR_FORMAT / TOO_LARGE for malformed input,
 * KW_ERR_VERIFY for a refused assertion — wrong key, used or expired
 * challenge, bad signature, counter regression (also logged)). */
int kw_api_seckey_verify(kw_server *srv, kw_http_resp *resp, int64_t account_id, const char *op,
                         json_t *assertion, int64_t *key_id);

/* When the account's policy is on: requires field `field` of body to hold
 * an assertion for op (kw_api_seckey_verify), else KW_ERR_VERIFY
 * "security key assertion required" in resp. With the policy off a present
 * assertion is still verified (so a client may always send one); absent,
 * nothing is checked. *verified (optional) tells whether one was checked. */
int kw_api_seckey_gate(kw_server *srv, kw_http_resp *resp, int64_t account_id, const char *op,
                       json_t *body, const char *field, bool *verified);

#endif
