/*
 * keyward/client_ckv.h — Contact Key Verification on the client: contacts
 * looked up in the key-transparency log and pinned, self-monitoring of the
 * account's own label, named alerts, the per-account CKV switch, and the
 * verification codes (a static public code from the account key, and an
 * interactive short authentication string).
 *
 * State. Everything lives in PROFILE/ckv.bin, sealed like secrets.bin:
 * XChaCha20-Poly1305 under a key derived (HKDF-SHA256, label
 * "keyward/ckv/state/v1") from the profile key, with the account name and
 * device id as associated data. It holds the contacts (account key pinned
 * on first use, verified flag, newest roster version and hash, devices,
 * CKV switch), the roster versions this account's devices made (version +
 * SHA-256, from the authenticated, account-key-verified roster and this
 * device's own changes) and the alerts. The log and VRF keys, the newest
 * verified tree head and the account key first seen per name are
 * keyward/client_kt.h's (PROFILE/kt.json), shared with messages' gossip.
 * At most KW_CKV_CONTACTS_MAX contacts and KW_CKV_ALERTS_MAX alerts (the
 * oldest seen alerts are dropped first).
 *
 * Checks. Every use of a contact (add, show, verify, kw_client_ckv_contact_
 * check) fetches the contact's roster with a search proof, verifies the
 * tree head (signature, consistency with the newest one verified, no
 * rollback), the proof, the roster's signature under the pinned account
 * key, its name and version against the log and the pins. Self-monitoring
 * runs on a cadence (KW_CKV_SELF_CADENCE_S) and after every change of the
 * account's roster this client sees.
 *
 * Alerts. Each has a kind (the KW_CKV_ALERT_* names), the subject (a
 * contact or the own account), what happened and what to do. A check that
 * finds one stores it (once: the same kind, subject and detail is not
 * stored twice) and reports it in the "alerts" array of *out. Alerts that
 * mean the roster must not be trusted (proof-failed, device-not-signed,
 * account-key-changed, unknown-own-device, split-view) make the call fail
 * with KW_ERR_VERIFY; the others (ckv-turned-off, log-unreachable-or-frozen)
 * let it succeed. ckv-turned-off and the account-key change of an
 * unverified contact apply when both accounts have CKV on (a contact marked
 * verified is always held to its pinned key).
 *
 * Results. Every function sets *out (when it can allocate it) to a JSON
 * object, on success and on failure alike, so that "alerts" can be shown;
 * the caller json_decref's it. Errors as in client.h (kw_client_error).
 *
 * Thread safety: one kw_client, one thread. Secrets: the profile key and
 * the state key (wiped after use); nothing in ckv.bin is secret to the
 * account's own devices, but it says whom the user talks to, hence the
 * sealing.
 */
#ifndef KEYWARD_CLIENT_CKV_H
#define KEYWARD_CLIENT_CKV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/client.h"
#include "keyward/roster.h"

#define KW_CKV_CONTACTS_MAX 1024
#define KW_CKV_ALERTS_MAX 256
#define KW_CKV_STATE_MAXBYTES ((size_t)8 << 20)
#define KW_CKV_SELF_CADENCE_S 3600      /* self-monitoring at least this often */
#define KW_CKV_MAX_DELAY_S_DEFAULT 60   /* newest head older than this: log frozen */

/* Alert kinds (stable names, shown to users and in --json). */
#define KW_CKV_ALERT_DEVICE_NOT_SIGNED "device-not-signed"
#define KW_CKV_ALERT_ACCOUNT_KEY_CHANGED "account-key-changed"
#define KW_CKV_ALERT_CKV_TURNED_OFF "ckv-turned-off"
#define KW_CKV_ALERT_PROOF_FAILED "proof-failed"
#define KW_CKV_ALERT_LOG_UNREACHABLE "log-unreachable-or-frozen"
#define KW_CKV_ALERT_UNKNOWN_OWN_DEVICE "unknown-own-device"
#define KW_CKV_ALERT_SPLIT_VIEW "split-view"

/* Public verification code: 30 digits in 6 groups of 5 separated by
 * spaces (99.6 bits), from SHA-512 over a domain-separated encoding of the
 * account name and key. */
#define KW_CKV_CODE_GROUPS 6
#define KW_CKV_CODEBYTES (KW_CKV_CODE_GROUPS * 6) /* "ddddd ddddd ... ddddd" and NUL */

/* Short authentication string: 15 digits in 3 groups of 5 (49.8 bits). */
#define KW_CKV_SAS_GROUPS 3
#define KW_CKV_SASBYTES (KW_CKV_SAS_GROUPS * 6)
#define KW_CKV_SAS_NONCEBYTES 32
#define KW_CKV_SAS_COMMITBYTES 32

/* The public verification code of (account name, account key). Cannot
 * fail for a name of 1..64 bytes (KW_ERR_INVALID_ARG otherwise). */
int kw_ckv_code(char out[static KW_CKV_CODEBYTES], const char *account_name,
                const uint8_t account_pk[static 32]);

/* Compares a code typed by a user (digits; spaces and dashes ignored) with
 * the code of (name, pk) in constant time: 0 or KW_ERR_VERIFY
 * (KW_ERR_FORMAT when it is not 30 digits). */
int kw_ckv_code_check(const char *typed, const char *account_name,
                      const uint8_t account_pk[static 32]);

/* SAS building blocks (commit-then-reveal, docs/crypto.md "Contact Key
 * Verification"). The initiator commits to its nonce bound to both
 * accounts' names and keys as it sees them; the responder answers with its
 * nonce in the clear; the initiator reveals; both compute the SAS over
 * (initiator name, key, responder name, key, both nonces). */
void kw_ckv_sas_commit(uint8_t out[static KW_CKV_SAS_COMMITBYTES],
                       const uint8_t nonce[static KW_CKV_SAS_NONCEBYTES], const char *init_name,
                       const uint8_t init_pk[static 32], const char *resp_name,
                       const uint8_t resp_pk[static 32]);
int kw_ckv_sas_check_commit(const uint8_t commit[static KW_CKV_SAS_COMMITBYTES],
                            const uint8_t nonce[static KW_CKV_SAS_NONCEBYTES],
                            const char *init_name, const uint8_t init_pk[static 32],
                            const char *resp_name, const uint8_t resp_pk[static 32])
    __attribute__((warn_unused_result));
void kw_ckv_sas(char out[static KW_CKV_SASBYTES], const char *init_name,
                const uint8_t init_pk[static 32], const char *resp_name,
                const uint8_t resp_pk[static 32],
                const uint8_t init_nonce[static KW_CKV_SAS_NONCEBYTES],
                const uint8_t resp_nonce[static KW_CKV_SAS_NONCEBYTES]);

/* What a client keeps per contact to check each new roster against. */
typedef struct kw_ckv_pin {
    uint8_t account_pk[32];
    uint64_t roster_version; /* 0: none seen yet */
    uint8_t roster_sha256[32];
    bool ckv;
} kw_ckv_pin;

typedef enum kw_ckv_verdict {
    KW_CKV_OK = 0,
    KW_CKV_MALFORMED,   /* not a roster (proof-failed) */
    KW_CKV_KEY_CHANGED, /* another account key (account-key-changed) */
    KW_CKV_NOT_SIGNED,  /* not signed by the pinned key (device-not-signed) */
    KW_CKV_ROLLBACK,    /* an older version, or the pinned one with other bytes (proof-failed) */
} kw_ckv_verdict;

/* Checks the roster bytes of a verified log value against a contact's pin:
 * strict decoding, the pinned account key, its signature over the roster,
 * a version not below the pinned one (the same version: the same bytes).
 * On KW_CKV_OK *ros is the verified roster, the pin moves to it, and
 * *turned_off tells whether the CKV switch went from on to off. ros NULL:
 * the caller needs no decoded roster, and bytes equal (SHA-256) to the
 * pinned ones — verified when the pin was set — are accepted without
 * decoding again; other bytes are then KW_CKV_MALFORMED (check them with a
 * ros). Pure computation; ros and the pin are the caller's. */
kw_ckv_verdict kw_ckv_pin_check(kw_ckv_pin *pin, kw_roster *ros, const uint8_t *roster, size_t len,
                                bool *turned_off);

/* ---- the client ---- */

/* Turns the account's CKV switch on or off: a roster of version+1 with
 * only the CKV bit changed, signed with the account key, sent to POST
 * /v1/roster/flags; then self-monitoring runs. KW_ERR_CONFLICT when it is
 * already so. */
int kw_client_ckv_set(kw_client *c, bool on, json_t **out);

/* The account's CKV switch (from the verified own roster), the newest
 * verified head, the number of contacts and unseen alerts. */
int kw_client_ckv_status(kw_client *c, json_t **out);

/* Self-monitoring of the own label now (force) or when due (cadence, or
 * the own roster changed since the last check). *out: "checked" (bool),
 * "log_version", "roster_version", "alerts". */
int kw_client_ckv_self_check(kw_client *c, bool force, json_t **out);

/* Self-monitoring right after a change of the account's roster (device
 * approved or removed): records roster `version` with the SHA-256 of its
 * encoding (sha256; NULL: nothing to record) as made by this device, takes
 * the verified own roster from the server (recorded too), and, when the
 * account has CKV on, checks the own label in the log at once (force), so
 * that a roster version none of the account's devices made shows up as
 * unknown-own-device (KW_ERR_VERIFY) on the command that changed it or the
 * next one. *out: "ckv", "checked" and, when checked, as
 * kw_client_ckv_self_check. */
int kw_client_ckv_own_change(kw_client *c, uint64_t version, const uint8_t *sha256, json_t **out);

/* Looks NAME up with a verified search proof, verifies its roster under
 * the account key it carries and pins that key. KW_ERR_CONFLICT when NAME
 * is a contact already, KW_ERR_NOT_FOUND when the log proves it absent. */
int kw_client_contact_add(kw_client *c, const char *name, json_t **out);

/* The contacts as stored (no network). */
int kw_client_contact_list(kw_client *c, json_t **out);

/* Re-checks NAME (see "Checks") and shows it: account key, public code,
 * verified flag, CKV switch, roster version, devices. */
int kw_client_contact_show(kw_client *c, const char *name, json_t **out);

/* Forgets NAME (its pins; its alerts stay). KW_ERR_NOT_FOUND. */
int kw_client_contact_remove(kw_client *c, const char *name, json_t **out);

/* Re-checks NAME and marks it verified when `code` is NAME's public
 * verification code for the pinned account key: KW_ERR_VERIFY (and
 * nothing marked) when it is not. */
int kw_client_contact_verify_code(kw_client *c, const char *name, const char *code, json_t **out);

/* Marks NAME verified after an interactive SAS compare confirmed by the
 * user (the caller ran the exchange). */
int kw_client_contact_mark_verified(kw_client *c, const char *name, const char *how, json_t **out);

/* Asked with the short authentication string both devices show; returns
 * true when the user confirms the other device shows the same. */
typedef bool (*kw_client_sas_confirm_fn)(const char *sas, void *arg);

/* The interactive compare with NAME (both users run it at the same time,
 * each naming the other): re-checks NAME, runs commit-then-reveal over
 * end-to-end typed messages ("sas-commit", "sas-reveal", "sas-confirm";
 * the account whose name sorts first commits), shows the SAS through
 * confirm and marks NAME verified (pinning its account key) when confirmed.
 * KW_ERR_VERIFY when not confirmed or when the peer's commitment does not
 * open for the keys this device sees; KW_ERR_LIMIT after timeout_s seconds
 * (0: 120) without the peer's message. */
int kw_client_contact_verify_sas(kw_client *c, const char *name, kw_client_sas_confirm_fn confirm,
                                 void *arg, unsigned timeout_s, json_t **out);

/* The check every use of a contact runs (for messages: before encrypting
 * to or accepting from NAME): 0 and the verified roster's encoding in
 * *roster (malloc'd, *roster_len) or an error with the alert in *out.
 * roster may be NULL. */
int kw_client_ckv_contact_check(kw_client *c, const char *name, uint8_t **roster,
                                size_t *roster_len, json_t **out);

/* The newest verified tree head (152 bytes, keyward/kt.h) for gossip, or
 * KW_ERR_NOT_FOUND before the first check. */
int kw_client_ckv_head(kw_client *c, uint8_t head[static 152]);

/* Checks a tree head gossiped by `from` (a contact, or NULL): signed by the
 * pinned log key, and consistent with the newest head this client verified
 * (the server must prove consistency between the two, and the same epoch
 * must mean the same head). A head that cannot be reconciled is the
 * split-view alert (KW_ERR_VERIFY); a newer consistent one becomes the
 * pinned head. */
int kw_client_ckv_gossip_check(kw_client *c, const uint8_t *head, size_t head_len, const char *from,
                               json_t **out);

/* The stored alerts, newest first; mark_seen marks them seen. A self-check
 * runs first when due. */
int kw_client_ckv_alerts(kw_client *c, bool mark_seen, json_t **out);

/* The own public verification code (and the account key it encodes). */
int kw_client_ckv_code(kw_client *c, json_t **out);

#endif
