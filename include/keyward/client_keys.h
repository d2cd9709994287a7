/*
 * keyward/client_keys.h — security keys on the client side: the
 * authenticator a kw_client uses when the server asks for a security key
 * (sign-in of a new device, password change, key changes, policy), and the
 * key-management flows (docs/api.md "Security keys").
 *
 * Authenticators:
 *   - a real USB security key through libfido2 (the first FIDO2 device
 *     found, or a given hidraw path); when the key wants a PIN the pin
 *     callback is asked (no callback: KW_ERR_VERIFY "PIN required");
 *   - the INSECURE software authenticator (keyward/softkey.h) — keys in a
 *     plain file — only when explicitly asked for with
 *     kw_client_authenticator_soft_insecure (CLI: --soft-key FILE), which
 *     prints a warning on stderr. Tests only.
 * A client without an authenticator set uses libfido2 with no PIN callback.
 *
 * Origin sent in clientDataJSON: $KEYWARD_WEBAUTHN_ORIGIN when set, else
 * the server URL's scheme, the server's rp id and the server URL's port
 * (e.g. http://localhost:8443): what a page of that server would report.
 *
 * Every flow returns 0 or a negative KW_ERR_* with the client's error set
 * (kw_client_error), and on success a JSON object in *out (json_decref).
 * Thread safety: as keyward/client.h. Secrets: the PIN (wiped after use);
 * the soft key's private keys live in its file, unprotected.
 */
#ifndef KEYWARD_CLIENT_KEYS_H
#define KEYWARD_CLIENT_KEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/client.h"

typedef struct kw_client_authenticator kw_client_authenticator;

#define KW_CLIENT_PIN_MAXBYTES 64

/* Asked when a security key wants its PIN: writes a NUL-terminated PIN
 * into pin (cap bytes), returns false to cancel. */
typedef bool (*kw_client_pin_fn)(char *pin, size_t cap, void *arg);

/* A libfido2 authenticator: dev_path NULL picks the first FIDO device found
 * when one is needed. Nothing is opened here. */
int kw_client_authenticator_fido2(kw_client_authenticator **out, const char *dev_path,
                                  kw_client_pin_fn pin, void *arg);

/* The INSECURE software authenticator on key file path (created when
 * missing). Prints "WARNING: INSECURE software security key ..." on stderr. */
int kw_client_authenticator_soft_insecure(kw_client_authenticator **out, const char *path);

/* Frees *a and sets it to NULL; NULL-safe. */
void kw_client_authenticator_free(kw_client_authenticator **a);

/* The authenticator c uses from now on (borrowed: keep it alive while c
 * uses it); NULL goes back to the default (libfido2, no PIN callback). */
void kw_client_use_authenticator(kw_client *c, kw_client_authenticator *a);

/* {policy, max, keys: [{id, name, alg, credential_id, created_at,
 * last_used_at, backup_eligible, backup_state, aaguid}]}. */
int kw_client_key_list(kw_client *c, json_t **out);

/* Registers a new key (name NULL: the server names it "key-N"): creation
 * options from the server, a credential from the authenticator, and, when
 * the account's policy is on, an assertion of an already registered key.
 * *out: {key}. */
int kw_client_key_add(kw_client *c, const char *name, json_t **out);

/* Removes key `id`; with the policy on an assertion is made first (the
 * key being removed may make it). Going below two keys with the policy on
 * turns the policy off (trusted device + assertion). *out: {policy,
 * policy_turned_off}. */
int kw_client_key_remove(kw_client *c, int64_t id, json_t **out);

int kw_client_key_rename(kw_client *c, int64_t id, const char *name, json_t **out);

/* Turns the requirement on (at least two keys) or off; both need an
 * assertion. *out: {policy}. */
int kw_client_key_policy(kw_client *c, bool on, json_t **out);

#endif
