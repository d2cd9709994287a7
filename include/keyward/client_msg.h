/*
 * keyward/client_msg.h — end-to-end messages between accounts, fanned out to
 * every device (DESIGN.md "Messages"; wire formats in keyward/envelope.h).
 *
 * Sending: the recipient account's roster is looked up verified in the
 * key-transparency log (keyward/client_kt.h: search proof, account key
 * pinned on first use), the own roster is the one verified under the
 * profile's pinned account key; the body is encrypted once under a fresh
 * message key, the key is wrapped with HPKE auth mode (sender: this device's
 * roster HPKE key) to each recipient device's signed prekey (or its roster
 * HPKE key when it has published none) and to this account's other
 * devices, and the envelope is signed by this device's identity key. The
 * server gets the envelope plus the list of device mailboxes it goes to.
 *
 * Receiving (kw_client_msg_sync): fetches this device's mailbox in order and
 * for each envelope checks, before anything is kept: strict format, the
 * recipient account is ours (or the sender is one of our own devices), the
 * sender device is in the sender account's verified roster, the signature
 * under that device's identity key, the HPKE auth wrap from its roster HPKE
 * key to one of our prekeys, the body AEAD, the timestamp window
 * (KW_CLIENT_MSG_WINDOW_SECONDS back, KW_CLIENT_MSG_FUTURE_SECONDS ahead)
 * and the per-device seen-id store (replays and duplicates). Accepted
 * messages are written durably to the profile's inbox (PROFILE/inbox/,
 * sealed with XChaCha20-Poly1305 under a key derived from the profile key,
 * like secrets.bin) and recorded as seen; only then are they acknowledged,
 * so an acknowledged (deleted) message is never lost. Refused envelopes are
 * acknowledged too (they can never become valid) and reported with a stable
 * reason name (kw_client_msg_hooks.on_reject), never stored; two kinds stay
 * unacknowledged on the server and are checked again by the next sync: a
 * sender whose roster does not verify now ("sender-roster", maybe an attack
 * on the log rather than on the message) and, for DEFER seconds (600), a
 * sender device the log does not list yet (publication lag; "deferred").
 *
 * Gossip: every payload carries the sender's newest verified tree head; the
 * receiver checks it against its own (kw_client_kt_check_gossip). The
 * outcome is in kw_client_msg.gossip and, when it is not "ok"/"none", in the
 * sync result's "alerts" array and the on_gossip hook (a split view is
 * KW_CLIENT_MSG_GOSSIP_SPLIT_VIEW, "split-view").
 *
 * Prekeys: a device publishes an X25519 prekey signed by its identity key
 * (the server keeps the current and the previous one); a sync rotates it
 * when older than KEYWARD_PREKEY_ROTATE_SECONDS (default 7 days) and wipes
 * retired prekey private keys KEYWARD_PREKEY_GRACE_SECONDS (default 7
 * days) after their retirement. Prekey private keys and the seen-id store
 * live in PROFILE/msg.bin, sealed like the inbox.
 *
 * Typed payloads: `type` is 1..KW_CLIENT_MSG_TYPE_MAXBYTES bytes of
 * [a-z0-9-]; "text" and "file" are the CLI's; other modules use their own
 * ("sas-commit", "sas-reveal", "sas-confirm", ...). The library does not
 * interpret a type's content.
 *
 * Errors: as keyward/client.h (0 or a negative KW_ERR_*; kw_client_error
 * tells what). KW_ERR_VERIFY (origin LOCAL) when the recipient's roster does
 * not verify; KW_ERR_INVALID_ARG for a bad type, name or length;
 * KW_ERR_TOO_LARGE over KW_CLIENT_MSG_CONTENT_MAXBYTES.
 *
 * Thread safety: one kw_client, one thread. Secret: message contents and
 * keys; contents handed out in kw_client_msg are wiped by
 * kw_client_msg_list_free.
 */
#ifndef KEYWARD_CLIENT_MSG_H
#define KEYWARD_CLIENT_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/client.h"

#define KW_CLIENT_MSG_TYPE_MAXBYTES 32
#define KW_CLIENT_MSG_CONTENT_MAXBYTES ((size_t)960 << 10) /* = KW_PAYLOAD_CONTENT_MAXBYTES */
#define KW_CLIENT_MSG_IDBYTES 16
#define KW_CLIENT_MSG_WINDOW_SECONDS (14 * 24 * 3600) /* older envelopes are refused */
#define KW_CLIENT_MSG_FUTURE_SECONDS 600              /* clock skew allowed ahead */
#define KW_CLIENT_MSG_TYPE_TEXT "text"
#define KW_CLIENT_MSG_TYPE_FILE "file"

/* What checking the sender's gossiped tree head gave. */
typedef enum {
    KW_CLIENT_MSG_GOSSIP_NONE = 0,   /* "none": the sender had no verified head to send */
    KW_CLIENT_MSG_GOSSIP_OK,         /* "ok": consistent with our view of the log */
    KW_CLIENT_MSG_GOSSIP_UNCHECKED,  /* "unchecked": we could not check (no head of our own,
                                        log unreachable) */
    KW_CLIENT_MSG_GOSSIP_SPLIT_VIEW, /* "split-view": the two heads are not on one log */
    KW_CLIENT_MSG_GOSSIP_BAD_HEAD,   /* "bad-head": malformed or not signed by the log key */
} kw_client_msg_gossip;

/* Stable name of a gossip outcome (above); never NULL. */
const char *kw_client_msg_gossip_name(kw_client_msg_gossip g);

/* One received message (inbox entry). */
typedef struct {
    uint8_t id[KW_CLIENT_MSG_IDBYTES];
    char id_b64[24];                             /* base64url of id */
    char sender[KW_CLIENT_NAME_MAXBYTES + 1];    /* sender account */
    uint8_t sender_device[16];
    char sender_device_b64[24];
    char recipient[KW_CLIENT_NAME_MAXBYTES + 1]; /* recipient account */
    char type[KW_CLIENT_MSG_TYPE_MAXBYTES + 1];
    uint64_t timestamp_ms; /* the sender's clock (signed) */
    uint64_t received_ms;  /* this device's clock when stored */
    bool own;              /* sent by this account (a copy for our other devices) */
    kw_client_msg_gossip gossip;
    char gossip_reason[48]; /* the kt reason name when not ok/none, else "" */
    uint8_t *content;       /* secret; malloc'd (1 byte for empty) */
    size_t content_len;
} kw_client_msg;

/* Wipes every content and frees the array; sets *list to NULL. */
void kw_client_msg_list_free(kw_client_msg **list, size_t n);

/* Optional callbacks of a sync (all may be NULL). */
typedef struct {
    /* A message newly stored in the inbox (called after it is durable). */
    void (*on_message)(const kw_client_msg *m, void *arg);
    /* An envelope refused: reason is a stable name ("replay", "duplicate",
     * "stale", "future", "sender-not-in-roster", "sender-roster",
     * "bad-signature", "not-for-this-device", "misdelivered",
     * "decrypt-failed", "malformed"), detail a human sentence. */
    void (*on_reject)(const char *reason, const char *detail, void *arg);
    /* A gossip check that was neither ok nor none (split view, bad head,
     * unchecked), for the alerts module. */
    void (*on_gossip)(const kw_client_msg *m, kw_client_msg_gossip g, const char *reason,
                      void *arg);
    void *arg;
} kw_client_msg_hooks;

/* Sends `len` bytes of content of `type` to account `account` (all its
 * devices) and to this account's other devices. `account` may be the own
 * account (a note to self, for the other devices). *out (may be NULL):
 * {id, recipient, devices, bytes, contact, verified, alerts}. A recipient
 * who is a contact (keyward/client_ckv.h) is held to its pins through
 * kw_client_ckv_contact_check before anything is encrypted: a refusal
 * (account-key-changed, device-not-signed, ...) is KW_ERR_VERIFY with
 * *out = {"alerts": [...]} (the caller json_decref's it). */
int kw_client_msg_send(kw_client *c, const char *account, const char *type, const uint8_t *bytes,
                       size_t len, json_t **out);

/* kw_client_msg_send without a result object. */
int kw_client_msg_send_typed(kw_client *c, const char *account, const char *type,
                             const uint8_t *bytes, size_t len);

/* Fetches, verifies, stores and acknowledges everything in this device's
 * mailbox (repeating while the server has more), publishing or rotating
 * this device's prekey when due. *out (may be NULL): {received, rejected,
 * messages: [...], rejects: [{reason, detail}], alerts: [{reason, sender,
 * id, detail}]}. A refused envelope does not make the sync fail. */
int kw_client_msg_sync(kw_client *c, const kw_client_msg_hooks *hooks, json_t **out);

/* The inbox, oldest first (by sender timestamp, then id); type and sender
 * filter when non-NULL. *list NULL when empty. Reads only the profile. */
int kw_client_msg_list(kw_client *c, const char *type, const char *sender, kw_client_msg **list,
                       size_t *n);

/* The inbox as JSON for the CLI: {messages:[{id, sender, sender_device,
 * type, timestamp_ms, own, gossip, text | bytes}]}; text for "text"
 * messages, else the size and base64url content. */
int kw_client_msg_inbox(kw_client *c, const char *type, json_t **out);

/* Deletes one message from the inbox (a consumed typed message).
 * KW_ERR_NOT_FOUND when absent. Its id stays in the seen store. */
int kw_client_msg_delete(kw_client *c, const uint8_t id[static KW_CLIENT_MSG_IDBYTES]);

/* Generates, signs and publishes a new prekey now; the previous one is kept
 * for the grace period. *out (may be NULL): {prekey_id}. */
int kw_client_msg_prekey_rotate(kw_client *c, json_t **out);

#endif
