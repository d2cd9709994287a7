/*
 * keyward/client_adp.h — the client side of Advanced Data Protection
 * (docs/api.md "ADP"): the ADP switch in the signed roster, the server's
 * custody copies of service keys in standard protection, web access under
 * ADP, and passcode escrow.
 *
 * What the client trusts: the ADP flag of the account's roster verified
 * under the pinned account key — never the server's word. A server whose
 * state says otherwise than the signed roster gets an "ALERT: ..."
 * (KW_ERR_VERIFY, local), and no service key of an ADP category leaves the
 * device while the roster says ADP is on. Category classes come from the
 * server but can only be made stricter by it: the built-in classes of
 * DESIGN.md (always end-to-end: keychain, passwords, health, messages;
 * interoperable: mail, contacts, calendar; every other category: end-to-end
 * under ADP) are the floor.
 *
 * Every function returns 0 or a negative KW_ERR_* with the client error set
 * (kw_client_error), and on success a JSON object in *out (caller frees).
 * Secrets (service keys, passcodes, KK) are wiped after use.
 */
#ifndef KEYWARD_CLIENT_ADP_H
#define KEYWARD_CLIENT_ADP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "keyward/client.h"

#define KW_CLIENT_PASSCODE_MINBYTES 6
#define KW_CLIENT_PASSCODE_MAXBYTES 128

/* Declares this device's ADP support, compares the signed roster's ADP flag
 * with the server's state (ALERT on a mismatch), and in standard
 * protection uploads the custody copies the server lacks. *out: adp (from
 * the roster), server_adp, web_access, recovery_key, devices, custody,
 * escrowed (copies uploaded now). */
int kw_client_adp_status(kw_client *c, json_t **out);

/* Turns ADP on: needs a recovery key and every trusted device's declared
 * support (the server checks both; the client checks the first too).
 * Rolls the service keys of the ADP categories to a new generation, signs
 * roster current+1 with the ADP flag and stores both with the server, which
 * deletes its custody copies in the same transaction. *out: rolled. */
int kw_client_adp_enable(kw_client *c, json_t **out);

/* Turns ADP off: roster current+1 without the flag, and every generation of
 * the service keys of the ADP and interoperable categories escrowed. */
int kw_client_adp_disable(kw_client *c, json_t **out);

/* Uploads the custody copies the server lacks (nothing for ADP categories
 * while the signed roster says ADP is on). For the domain files that create
 * service keys. *out: escrowed. */
int kw_client_adp_escrow_sync(kw_client *c, json_t **out);

/* Web access under ADP on or off (the server refuses it without ADP). */
int kw_client_web_access(kw_client *c, bool on, json_t **out);

/* Approves pending web access requests: for each requested category (only
 * those in categories[0..n) when n > 0) every generation of its service key
 * is HPKE-sealed to the browser session's ephemeral key (info "keyward web
 * grant v1" ‖ u8 len ‖ account ‖ request id[16] ‖ u8 len ‖ category ‖ u32
 * generation) and sent; valid one hour. Always-end-to-end categories are
 * never released. code (6 digits, or NULL for every pending request): only
 * the request whose web code (kw_client_web_code, shown by the page) equals
 * it — a request the server made up has another key and so another code.
 * *out: releases [{request_id, web_session_id, code, released, expires_at}]. */
int kw_client_web_approve(kw_client *c, const char *const *categories, size_t n, const char *code,
                          json_t **out);

/* The 6-digit code of a web access request, which the page shows and the
 * device compares: u64 of the first 8 bytes of SHA-256("keyward-web-v1" ‖
 * u8 len ‖ account ‖ request id[16] ‖ ephemeral_pk[32]) mod 10^6. */
void kw_client_web_code(char code[static KW_CLIENT_CODEBYTES], const char *account,
                        const uint8_t request_id[static 16], const uint8_t ephemeral_pk[static 32]);

/* Sets (replaces) the passcode escrow: KK wrapped under a key derived from
 * the passcode (Argon2id, random salt) and the verifier the server checks.
 * The salt, verifier and wrap key stay in the keychain (item
 * KW_CLIENT_PASSCODE_ITEM) so a KK rotation re-escrows. */
#define KW_CLIENT_PASSCODE_ITEM "keyward.adp.passcode"
int kw_client_passcode_set(kw_client *c, const char *passcode, json_t **out);

/* Deletes the passcode escrow. */
int kw_client_passcode_delete(kw_client *c, json_t **out);

/* On a pending device (signed in with the password and a second factor):
 * opens the escrow with the passcode (one of 10 attempts; the tenth wrong
 * one destroys it), then joins the roster with the recovered KK, like the
 * recovery key does. */
int kw_client_recover_passcode(kw_client *c, const char *passcode, json_t **out);

/* ---- recovery contacts ----
 *
 * The owner adds another keyward account as a recovery contact: a fresh
 * contact recovery key CRK wraps the owner's current KK (the recovery-wrap
 * format of keyward/keychain.h, with CRK as the recovery key; its wrapping
 * key stays in the owner's keychain, item KW_CLIENT_CONTACT_ITEM_PREFIX ‖
 * contact id, so a KK rotation re-wraps); CRK itself is sealed under a fresh
 * unwrap key U (XChaCha20-Poly1305, ad "keyward contact packet v1" ‖ u8 len
 * ‖ owner ‖ contact id) and that packet HPKE-sealed to each device of the
 * contact's signed roster (info "keyward contact packet v1" ‖ u8 len ‖ owner
 * ‖ contact id ‖ device id). The server keeps U (custody-wrapped) and the
 * packets; it releases U to the contact only after the waiting period
 * (config adp.contact_wait), which the owner can cancel from any trusted
 * device. The contact's client then shows the recovery code: a one-time
 * approval code of the owner's account and CRK, "NNNNNN-XXXX-...". The
 * contact's devices come from its roster as Contact Key Verification checks
 * it (keyward/client_ckv.h: a verified key-transparency lookup, under the
 * account key pinned for the name; adding a recovery contact makes the name
 * a CKV contact when it is not one yet). */
#define KW_CLIENT_CONTACT_ITEM_PREFIX "keyward.adp.contact."

/* Adds account `contact` as a recovery contact (at most 5). *out: id. */
int kw_client_recovery_contact_add(kw_client *c, const char *contact, json_t **out);
/* The account's contacts and the accounts this one helps. */
int kw_client_recovery_contact_list(kw_client *c, json_t **out);
/* Removes contact `id` (base64url). */
int kw_client_recovery_contact_remove(kw_client *c, const char *id, json_t **out);
/* Cancels a recovery in progress by contact `id`. */
int kw_client_recovery_contact_cancel(kw_client *c, const char *id, json_t **out);
/* As the contact: asks to help `owner`; once the waiting period is over,
 * opens the packet and returns the recovery code (secret) in *out
 * ("recovery_code"), else the state and release time. */
int kw_client_recovery_contact_help(kw_client *c, const char *owner, json_t **out);
/* On a fresh device: signs in to `name` with the password and the approval
 * code inside `code`, unwraps KK with the CRK inside it and joins. */
int kw_client_recover_contact(kw_client *c, const char *name, const char *device_name,
                              const uint8_t *password, size_t password_len, const char *code,
                              json_t **out);

#endif
