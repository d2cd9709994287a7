/*
 * server/store/msg.h — the message domain of the store: one mailbox per
 * device holding end-to-end envelopes (opaque ciphertext to the server),
 * and each device's signed prekeys (current and previous).
 *
 * An envelope is stored once and referenced from every mailbox it goes to
 * (kw_store_msg_put, one transaction). Mailboxes are read in arrival order
 * (seq) and entries leave only when the device acknowledges them
 * (kw_store_msg_ack); once the last mailbox acknowledged an envelope its
 * bytes are deleted, its message id is kept (KW_STORE_MSG_ID_KEEP seconds,
 * kw_store_msg_expire) so that a duplicate id is refused. Every write that
 * returns 0 is committed with a full sync (concurrent puts and acks share
 * one commit: group commit), so an acknowledged send survives kill -9.
 *
 * Thread safety: as kw_store. Errors: KW_ERR_CONFLICT (duplicate message
 * id, prekey id not newer), KW_ERR_NOT_FOUND, KW_ERR_TOO_LARGE,
 * KW_ERR_INVALID_ARG, KW_ERR_STORAGE, KW_ERR_UNSUPPORTED (backend without
 * the msg domain). Secrets: none (envelopes are end-to-end encrypted).
 */
#ifndef KEYWARD_SERVER_STORE_MSG_H
#define KEYWARD_SERVER_STORE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define KW_STORE_MSG_IDBYTES 16
#define KW_STORE_MSG_ENVELOPE_MAX ((size_t)KW_STORE_BLOB_MAX) /* bytes of one envelope */
#define KW_STORE_MSG_DEVICES_MAX 128                /* mailboxes of one envelope */
#define KW_STORE_MSG_FETCH_MAX 256                  /* envelopes per fetch */
#define KW_STORE_MSG_ACK_MAX 256                    /* ids per ack */
#define KW_STORE_MSG_PREKEY_MAX 256                 /* bytes of a signed prekey */
#define KW_STORE_MSG_ID_KEEP (30 * 24 * 3600)       /* acknowledged ids kept, seconds */

/* One mailbox entry. */
typedef struct {
    int64_t seq; /* arrival order within the server */
    uint8_t msg_id[KW_STORE_MSG_IDBYTES];
    uint8_t *envelope; /* malloc'd */
    size_t len;
} kw_store_msg_item;

/* A device's prekeys (blobs malloc'd; prev NULL when none). */
typedef struct {
    int64_t cur_id;
    uint8_t *cur;
    size_t cur_len;
    int64_t prev_id;
    uint8_t *prev;
    size_t prev_len;
    int64_t updated_at;
} kw_store_msg_prekeys;

/* Stores envelope `env` (message id msg_id, sent by sender_account) into
 * the mailboxes of devices[0..ndevices) (distinct), in one transaction.
 * KW_ERR_CONFLICT when msg_id was stored before (even if acknowledged since,
 * within KW_STORE_MSG_ID_KEEP). The caller has checked the devices. */
int kw_store_msg_put(kw_store *st, const uint8_t msg_id[KW_STORE_MSG_IDBYTES],
                     int64_t sender_account, const uint8_t *env, size_t len,
                     const uint8_t (*devices)[KW_STORE_ID_BYTES], size_t ndevices, int64_t now);

/* A send with the routing checks done inside the same transaction as the
 * put (one store round trip for the whole request): the sender account's
 * name is sender_name, the recipient account recipient_name exists, and
 * every mailbox is a TRUSTED device of the sender or the recipient account
 * other than sender_device. On a refused check the call returns
 * KW_ERR_VERIFY (sender name), KW_ERR_NOT_FOUND (recipient, or a device of
 * neither account) or KW_ERR_CONFLICT (a device not trusted or the sender,
 * a duplicate id) with `refusal` and `device_index` saying which; nothing
 * is stored then. */
#define KW_STORE_MSG_REFUSED_NONE 0
#define KW_STORE_MSG_REFUSED_SENDER 1       /* sender_name is not the sender account's */
#define KW_STORE_MSG_REFUSED_RECIPIENT 2    /* no account recipient_name */
#define KW_STORE_MSG_REFUSED_DEVICE 3       /* devices[device_index] of neither account */
#define KW_STORE_MSG_REFUSED_UNTRUSTED 4    /* devices[device_index] not trusted, or the sender */
#define KW_STORE_MSG_REFUSED_DUPLICATE 5    /* the message id was stored before */
typedef struct {
    const uint8_t *msg_id; /* KW_STORE_MSG_IDBYTES */
    int64_t sender_account;
    const char *sender_name;
    const uint8_t *sender_device; /* KW_STORE_ID_BYTES */
    const char *recipient_name;
    const uint8_t *env;
    size_t len;
    const uint8_t (*devices)[KW_STORE_ID_BYTES];
    size_t ndevices;
    int64_t now;
    int refusal;         /* out */
    size_t device_index; /* out */
} kw_store_msg_send;

int kw_store_msg_send_checked(kw_store *st, kw_store_msg_send *m);

/* Up to max_items entries of the device's mailbox with seq > after, in seq
 * order, stopping before max_bytes of envelopes would be exceeded (at least
 * one entry is returned when any exists). *more tells whether entries
 * remain. *out malloc'd (NULL when empty); free with kw_store_msg_items_free. */
int kw_store_msg_fetch(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t after,
                       size_t max_items, size_t max_bytes, kw_store_msg_item **out, size_t *count,
                       bool *more);
void kw_store_msg_items_free(kw_store_msg_item **items, size_t count);

/* Removes the listed messages from the device's mailbox (unknown ones are
 * skipped); *removed (optional) says how many went. Durable on return. */
int kw_store_msg_ack(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                     const uint8_t (*ids)[KW_STORE_MSG_IDBYTES], size_t n, size_t *removed);

/* Number of entries waiting in a device's mailbox. */
int kw_store_msg_count(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t *count);

/* Publishes a device's prekey: the current one becomes the previous one.
 * KW_ERR_CONFLICT unless prekey_id is greater than the current id. */
int kw_store_msg_prekey_put(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                            int64_t prekey_id, const uint8_t *prekey, size_t len, int64_t now);

/* The device's prekeys; KW_ERR_NOT_FOUND when it never published one. */
int kw_store_msg_prekey_get(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                            kw_store_msg_prekeys *out);
void kw_store_msg_prekeys_clear(kw_store_msg_prekeys *p);

/* Forgets the ids of envelopes every mailbox acknowledged before `before`. */
int kw_store_msg_expire(kw_store *st, int64_t before, size_t *removed);

/* Calls changed(arg) whenever this process changes a session row, or a
 * device's id, account or state, through this store: inside the writing
 * transaction, before it commits (SQLite: TEMP triggers on the store's own
 * connection calling a function of this process; they do not exist for
 * other connections). changed NULL stops watching; one watcher per store.
 * It keeps the verified session cache of kw_api_auth exact (see
 * server/api/messages.c). KW_ERR_UNSUPPORTED where other nodes write the
 * same tables (PostgreSQL): no cache there. */
int kw_store_msg_auth_watch(kw_store *st, void (*changed)(void *arg), void *arg);

/* ---- backend operations (store/backend.h) ---- */
struct kw_store_msg_ops {
    int (*put)(kw_store *st, const uint8_t msg_id[KW_STORE_MSG_IDBYTES], int64_t sender_account,
               const uint8_t *env, size_t len, const uint8_t (*devices)[KW_STORE_ID_BYTES],
               size_t ndevices, int64_t now);
    int (*send)(kw_store *st, kw_store_msg_send *m);
    int (*fetch)(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t after,
                 size_t max_items, size_t max_bytes, kw_store_msg_item **out, size_t *count,
                 bool *more);
    int (*ack)(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
               const uint8_t (*ids)[KW_STORE_MSG_IDBYTES], size_t n, size_t *removed);
    int (*count)(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t *count);
    int (*prekey_put)(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t prekey_id,
                      const uint8_t *prekey, size_t len, int64_t now);
    int (*prekey_get)(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                      kw_store_msg_prekeys *out);
    int (*expire)(kw_store *st, int64_t before, size_t *removed);
    int (*auth_watch)(kw_store *st, void (*changed)(void *arg), void *arg); /* optional */
};

#endif
