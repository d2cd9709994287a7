/*
 * keyward/client.h — the client side of keyward: one device's profile and
 * the account, sign-in, device and keychain flows against keywardd
 * (docs/api.md).
 *
 * Owns: kw_client, which holds the device profile (a directory with
 * config.json — server URL, account name, device id and name, the pinned
 * account key, nothing secret — and secrets.bin — the device identity seed,
 * the HPKE key pair, the session token, the KK generations and the account
 * key seed, sealed with XChaCha20-Poly1305 under an Argon2id key from the
 * profile passphrase, parameters record in the file header — and pins.json,
 * the device's rollback marks: the newest roster version it verified with
 * the SHA-256 of that roster, the newest keychain version and KK generation
 * it opened; public, bound to the account and device id) and the HTTP
 * connection settings (libcurl, TLS verification always on, an optional CA
 * file for a self-signed server, a 4 MiB response limit).
 *
 * Every flow returns 0 or a negative KW_ERR_* and, on success, a JSON object
 * describing the result (*out, owned by the caller, json_decref). On error
 * kw_client_error() tells what failed and kw_client_error_origin() where
 * (the server's answer, the network, the local profile, a local check).
 * Server errors map from {"error":{code,...}} to the KW_ERR_* of that name.
 *
 * Thread safety: one kw_client, one thread. Secrets (passphrase, password,
 * keys, token, recovery code) are wiped after use; key material lives in
 * sodium_malloc'd memory while the client is open.
 */
#ifndef KEYWARD_CLIENT_H
#define KEYWARD_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_CLIENT_RESPONSE_MAXBYTES ((size_t)4 << 20)
#define KW_CLIENT_NAME_MAXBYTES 64
#define KW_CLIENT_CODEBYTES 7 /* 6 digits and NUL */

/* Where an error came from (for exit codes). */
#define KW_CLIENT_ORIGIN_NONE 0
#define KW_CLIENT_ORIGIN_SERVER 1  /* the server answered with an error */
#define KW_CLIENT_ORIGIN_NETWORK 2 /* no usable answer: connection, TLS, size, parse */
#define KW_CLIENT_ORIGIN_PROFILE 3 /* the local profile: missing, unreadable, wrong passphrase */
#define KW_CLIENT_ORIGIN_LOCAL 4   /* a local check: a signature, a code, an argument */

typedef struct kw_client kw_client;

typedef struct {
    const char *profile_dir; /* NULL: $KEYWARD_HOME, $XDG_DATA_HOME/keyward, ~/.local/share/keyward */
    const char *server_url;  /* NULL: $KEYWARD_SERVER, then the profile's */
    const char *ca_file;     /* NULL: $KEYWARD_CA, then the system store */
    const char *passphrase;  /* profile passphrase (secret, not kept) */
    size_t passphrase_len;
    bool fast_kdf; /* TEST ONLY: minimal Argon2id parameters for new profiles */
} kw_client_options;

#define KW_CLIENT_FACTOR_NONE 0
#define KW_CLIENT_FACTOR_APPROVAL 1
#define KW_CLIENT_FACTOR_TOTP 2
#define KW_CLIENT_FACTOR_RECOVERY 3

typedef struct {
    int type;          /* KW_CLIENT_FACTOR_* */
    const char *value; /* the 6-digit code or the recovery code (secret) */
} kw_client_factor;

/* Asked before approving a device when no expected code was given: shows
 * the join code; returns true to approve. */
typedef bool (*kw_client_confirm_fn)(const char *join_code, void *arg);

/* Asked for the current TOTP code of a freshly shown secret (interactive
 * enable); writes 6 digits and NUL to code, returns false to cancel. */
typedef bool (*kw_client_code_fn)(const char *otpauth_uri, const char *secret_b32,
                                  char code[static KW_CLIENT_CODEBYTES], void *arg);

/* Opens the client: derives the profile key and loads the profile when it
 * exists (KW_ERR_VERIFY for a wrong passphrase); a missing profile is
 * created by account create / login. On error *c is still returned when
 * allocated, so kw_client_error can be read; free it with kw_client_free. */
int kw_client_open(kw_client **c, const kw_client_options *o);

/* Wipes and frees *c and sets it to NULL; NULL is a no-op. */
void kw_client_free(kw_client **c);

/* The message of the last error (never NULL; "" when none). */
const char *kw_client_error(const kw_client *c);

/* KW_CLIENT_ORIGIN_* of the last error. */
int kw_client_error_origin(const kw_client *c);

/* The profile directory in use. */
const char *kw_client_profile_dir(const kw_client *c);

/* Creates account `name` with this device as its first trusted device:
 * OPAQUE registration, account key, KK generation 1, roster v1, keychain
 * v1, the device's wrap; stores the session. device_name may be NULL. */
int kw_client_account_create(kw_client *c, const char *name, const char *device_name,
                             const uint8_t *password, size_t password_len, json_t **out);

/* Signs in to `name` (OPAQUE + device signature + optional factor). A new
 * device comes back pending with its join code in *out; with the recovery
 * factor it then joins itself with the recovery key and becomes trusted. */
int kw_client_login(kw_client *c, const char *name, const char *device_name,
                    const uint8_t *password, size_t password_len, const kw_client_factor *factor,
                    json_t **out);

/* Changes the account password (trusted devices only): proves the current
 * password with a fresh OPAQUE login bound to this session and registers
 * the new one in the same exchange (password/start + finish). The server
 * replaces the record only after the proof verifies, then revokes every
 * other session of the account (*out: sessions_revoked). A wrong current
 * password is detected here: KW_ERR_VERIFY (local), nothing sent to finish,
 * nothing changed. KW_ERR_INVALID_ARG for an empty new password. */
int kw_client_password_change(kw_client *c, const uint8_t *password, size_t password_len,
                              const uint8_t *new_password, size_t new_password_len, json_t **out);

/* Revokes the current session and forgets its token. */
int kw_client_logout(kw_client *c, json_t **out);

/* Device list with each pending device's join code, checked against the
 * verified roster: a device shown trusted that the roster does not list,
 * or a roster device shown otherwise or missing, is KW_ERR_VERIFY (local,
 * an "ALERT: ..." message); pending devices outside the roster are fine.
 * roster_version in *out is the verified roster's. */
int kw_client_device_list(kw_client *c, json_t **out);

/* Approves pending device `device_id` (base64url): its join code must equal
 * expected_code, or (when expected_code is NULL) confirm must return true.
 * KW_ERR_VERIFY (local) when the codes differ or confirm refuses. */
int kw_client_device_approve(kw_client *c, const char *device_id, const char *expected_code,
                             kw_client_confirm_fn confirm, void *arg, json_t **out);

/* Removes device `device_id`: roster without it, KK rotated with a chain,
 * wraps to every remaining trusted device, keychain re-sealed. When the
 * keychain holds the recovery wrapping key (recovery keys made since it is
 * kept there), the new generation is re-wrapped for recovery in the same
 * request, so the recovery key keeps working (*out: recovery_rewrapped). */
int kw_client_device_remove(kw_client *c, const char *device_id, json_t **out);

/* Unwraps the current KK, opens the keychain and lists it.
 *
 * Rollback (every flow that reads the roster or the keychain): a verified
 * roster older than the newest this device verified, or of that version
 * with other bytes, is KW_ERR_VERIFY "ALERT: the server rolled the roster
 * back ..."; a keychain of an older version, or under a KK generation older
 * than the newest the device holds, is KW_ERR_VERIFY "ALERT: the server
 * rolled the keychain back ...". */
int kw_client_keychain_show(kw_client *c, json_t **out);

int kw_client_session_list(kw_client *c, json_t **out);
int kw_client_session_revoke(kw_client *c, const char *session_id, json_t **out);

/* A fresh approval code for a new device (trusted devices only). */
int kw_client_approval_code(kw_client *c, json_t **out);

/* Enables TOTP. secret_b32 NULL: a fresh 20-byte secret. The current code is
 * `code`, or computed from the secret when self_confirm (TEST ONLY), or
 * asked from ask(). *out holds the otpauth URI and the base32 secret. */
int kw_client_totp_enable(kw_client *c, const char *secret_b32, const char *code, bool self_confirm,
                          kw_client_code_fn ask, void *arg, json_t **out);
int kw_client_totp_disable(kw_client *c, json_t **out);

/* The current TOTP code of a base32 secret (no client needed). */
int kw_client_totp_code(const char *secret_b32, char code[static KW_CLIENT_CODEBYTES]);

/* Creates (replaces) the recovery key; *out holds its grouped code. The
 * recovery wrapping key (not the recovery key) is stored in the keychain
 * (KW_RECOVERY_RWK_ITEM, keychain version+1 in the same request) so that a
 * later KK rotation can re-wrap for recovery. */
int kw_client_recovery_create(kw_client *c, json_t **out);

/* Account, device, state, server, KK generation. */
int kw_client_status(kw_client *c, json_t **out);

#endif
