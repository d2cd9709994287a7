/*
 * keyward/client_kt.h — the client side of key transparency: verified
 * lookups of an account's roster in the server's directory, keeping the
 * newest verified tree head, and checking heads gossiped by peers.
 *
 * Owns: PROFILE/kt.json (public, nothing secret): the server URL it was
 * pinned for, the directory's log and VRF public keys (pinned on first use
 * from GET /v1/kt/keys, or set with kw_client_kt_pin_keys), the newest
 * verified tree head (152-byte wire form) with its log frontier ("frontier":
 * kw_kt_frontier_encode; lookups then ask for the compact search form,
 * GET /v1/kt/search/{name}/{m}/append; optional: profiles without it load
 * and use the classic form, and a head pinned without a frontier drops
 * the old one), the account key first seen per
 * looked-up name, and the auditor keys whose signature over a head is
 * required (kw_client_kt_require_auditor). Written durably (temporary
 * file, fsync, rename). A kt.json pinned for another server is refused
 * (KW_ERR_CONFLICT) rather than silently replaced.
 *
 * Every verification failure is KW_ERR_VERIFY (origin LOCAL) with a named
 * reason in the result: the stable string `reason` (for alerts, scripts and
 * the CLI) and the enum `failure` (+ `kt_reason` for proof failures, see
 * kw_kt_reason in kt.h). Reason names: those of kw_kt_reason_name
 * ("bad-head-signature", "head-rollback", "inconsistent", "log-inclusion-
 * failure", "vrf-failure", "membership-failure", "non-membership-failure",
 * "not-latest", "value-mismatch", "wrong-version", "malformed"), and
 * "split-view", "roster-malformed", "roster-signature",
 * "roster-wrong-account", "roster-wrong-version", "account-key-changed",
 * "auditor-signature-missing", "roster-rollback". On a verification
 * failure the pinned head
 * is NOT replaced.
 *
 * The functions need no profile secrets: kw_client_kt_open gives a client
 * without a passphrase for them (kw_client_open works as well).
 *
 * Thread safety: as kw_client (one client, one thread).
 */
#ifndef KEYWARD_CLIENT_KT_H
#define KEYWARD_CLIENT_KT_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/client.h"
#include "keyward/kt.h"

#define KW_CLIENT_KT_AUDITORS_MAX 8

typedef enum kw_client_kt_failure {
    KW_CLIENT_KT_OK = 0,
    KW_CLIENT_KT_PROOF,                 /* a directory proof failed: see kt_reason */
    KW_CLIENT_KT_SPLIT_VIEW,            /* a gossiped head is not consistent with ours */
    KW_CLIENT_KT_ROSTER_MALFORMED,      /* the verified value is not a roster */
    KW_CLIENT_KT_ROSTER_SIGNATURE,      /* the roster does not open under its account key */
    KW_CLIENT_KT_ROSTER_WRONG_ACCOUNT,  /* the roster names another account */
    KW_CLIENT_KT_ROSTER_WRONG_VERSION,  /* roster version 0 or above the directory version */
    KW_CLIENT_KT_ACCOUNT_KEY_CHANGED,   /* another account key than the one pinned for the name */
    KW_CLIENT_KT_AUDITOR_MISSING,       /* a required auditor has not signed the head */
    KW_CLIENT_KT_ROSTER_ROLLBACK,       /* the roster is older than one verified before or than
                                           a signed roster at an earlier label version */
} kw_client_kt_failure;

#define KW_CLIENT_KT_FORGED_MAX 16

/* The stable name of a failure (for KW_CLIENT_KT_PROOF: the kt reason's
 * name). Never NULL. */
const char *kw_client_kt_reason_name(kw_client_kt_failure f, kw_kt_reason kt_reason);

typedef struct kw_client_kt_result {
    uint32_t version;   /* roster version; 0: absence verified */
    uint32_t log_version; /* the label's newest version in the directory (>= version) */
    uint32_t nforged;   /* label versions below log_version whose value does not open
                           under the account key (a forged entry: alert input) */
    uint32_t forged[KW_CLIENT_KT_FORGED_MAX]; /* the first min(nforged, MAX) of them */
    uint8_t *roster;    /* malloc'd verified roster bytes (NULL when absent) */
    size_t roster_len;
    uint8_t account_pk[32]; /* the roster's account key (zero when absent) */
    kw_kt_head head;    /* the verified head (now pinned) */
    kw_client_kt_failure failure;
    kw_kt_reason kt_reason;
    const char *reason; /* static string: "" on success, else the failure's name */
} kw_client_kt_result;

/* Frees res->roster and zeroes *res. NULL is a no-op. */
void kw_client_kt_result_clear(kw_client_kt_result *res);

/* A client for the key-transparency functions only: no passphrase, no
 * profile secrets loaded (profile_dir / server_url / ca_file as in
 * kw_client_open; passphrase ignored). Free with kw_client_free. */
int kw_client_kt_open(kw_client **c, const kw_client_options *o);

/* Pins log_pk / vrf_pk for the client's server (replacing nothing: an
 * existing pin with other keys is KW_ERR_CONFLICT). */
int kw_client_kt_pin_keys(kw_client *c, const uint8_t log_pk[static 32],
                          const uint8_t vrf_pk[static 32]);

/* Looks `name` up: search proof verified against the pinned keys and
 * consistent with the pinned head (the pinned head must be an ancestor of
 * the new one), the roster opened under its own account key, named `name`,
 * with the account key pinned for the name (first use pins it); then the
 * new head is stored.
 * Roster version rule (recovery after a forged entry): the roster version
 * must equal the label's newest version, or — when a lying server inserted
 * entries into the append-only log, so that the owner's next honest roster
 * sits at a higher label version — be below it, provided that (checked
 * with a verified monitor proof of every earlier label version) every
 * earlier value that opens under the account key has a LOWER roster
 * version (else "roster-rollback": a replayed old roster); the values that
 * do not open are reported in out->forged / nforged (on every lookup, so
 * the forgery stays visible). In every case the roster version must not be
 * below the highest one this client verified for the name (kt.json
 * "roster_versions"; else "roster-rollback"); above log_version is
 * "roster-wrong-version".  0 with *out filled
 * (version 0: the directory proves there is no such name), KW_ERR_VERIFY
 * with out->reason, network / server / profile errors as elsewhere.
 * KW_ERR_INVALID_ARG for an empty, too long or '/'-holding name. */
int kw_client_kt_lookup(kw_client *c, const char *name, kw_client_kt_result *out);

/* Fetches the newest head, verifies its signature, its consistency with the
 * pinned head (log consistency proof) and the required auditors'
 * signatures, and pins it. 0 and *head (may be NULL); KW_ERR_VERIFY with
 * *failure / *kt_reason (may be NULL) and the client error naming them. */
int kw_client_kt_head(kw_client *c, kw_kt_head *head, kw_client_kt_failure *failure,
                      kw_kt_reason *kt_reason);

/* The pinned head: 0, or KW_ERR_NOT_FOUND when nothing is pinned yet. */
int kw_client_kt_pinned(kw_client *c, kw_kt_head *head);

/* Checks a head a peer gossiped (152-byte wire form) against ours: it must
 * be signed by the pinned log key and lie on the same log — same epoch: the
 * same head byte for byte; older or newer: a consistency proof fetched from
 * the server between the two must verify and end at exactly the other
 * head. Anything else is KW_ERR_VERIFY with failure KW_CLIENT_KT_SPLIT_VIEW
 * ("split-view"; a bad signature is KW_CLIENT_KT_PROOF, "bad-head-
 * signature"). A newer consistent head is pinned. Needs a pinned head
 * (KW_ERR_NOT_FOUND otherwise: call kw_client_kt_head first). */
int kw_client_kt_check_gossip(kw_client *c, const uint8_t *head, size_t head_len,
                              kw_client_kt_failure *failure, kw_kt_reason *kt_reason);

/* Requires, from now on, for every head this client pins, the auditor
 * with Ed25519 key auditor_pk to have signed a head on the same log (its
 * newest record, GET /v1/kt/auditor/{pk}; see kw_kt_auditor_sig_make) at
 * most max_lag epochs older than it (or newer): a missing, invalid or too
 * old record is "auditor-signature-missing", an audited head not
 * consistent with ours "split-view". Stored in kt.json; calling it again
 * for the same key updates max_lag. KW_ERR_LIMIT beyond
 * KW_CLIENT_KT_AUDITORS_MAX auditors. */
int kw_client_kt_require_auditor(kw_client *c, const uint8_t auditor_pk[static 32],
                                 uint64_t max_lag);

/* Owner monitoring: every version of `name` from from_version (0 or 1:
 * all) first published at an epoch >= since_epoch, verified against the
 * pinned keys and consistent with the pinned head (the new head is
 * pinned). Up to KW_KT_MONITOR_MAXVERSIONS versions per call (m.more set:
 * call again from m.first + m.count); unless more, the absence of the next
 * version is proven. out->m's values point into out->buf; free with
 * kw_client_kt_monitor_clear. Errors and reasons as kw_client_kt_lookup
 * (no roster checks: the values are returned as they are). */
typedef struct kw_client_kt_monitor_result {
    kw_kt_monitor_result m;
    uint8_t *buf; /* the verified response (owns the values) */
    size_t len;
    kw_client_kt_failure failure;
    kw_kt_reason kt_reason;
    const char *reason;
} kw_client_kt_monitor_result;

int kw_client_kt_monitor(kw_client *c, const char *name, uint64_t since_epoch,
                         uint32_t from_version, kw_client_kt_monitor_result *out);
void kw_client_kt_monitor_clear(kw_client_kt_monitor_result *out);

/* ---- for auditors (keyward audit) ---- */

/* The log key to audit against: the pinned one when kt.json pins this
 * server, else the server's (not pinned). */
int kw_client_kt_log_key(kw_client *c, uint8_t log_pk[static 32]);

/* The newest epoch the server announces (unverified: the auditor checks
 * every head it replays). */
int kw_client_kt_newest_epoch(kw_client *c, uint64_t *epoch);

/* The insertion list of an epoch (kw_kt_auditor_feed input); *list is
 * malloc'd. KW_ERR_NOT_FOUND beyond the newest epoch. */
int kw_client_kt_insertions(kw_client *c, uint64_t epoch, uint8_t **list, size_t *len);

/* Publishes an auditor record (kw_kt_auditor_sig_make) on the server
 * (POST /v1/kt/auditor), where clients that require the auditor fetch it. */
int kw_client_kt_publish_audit(kw_client *c, const uint8_t rec[static KW_KT_AUDITOR_SIGBYTES]);

#endif
