/*
 * server/store/msg.c — the public kw_store_msg_* functions: argument checks
 * (store/msg.h) and dispatch to the backend's msg operations;
 * KW_ERR_UNSUPPORTED when the backend has none. Out-params are cleared on
 * entry.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/backend.h"
#include "store/msg.h"

static const struct kw_store_msg_ops *ops(kw_store *st)
{
    return st != NULL && st->ops != NULL ? st->ops->msg : NULL;
}

#define NEED_OPS(st)                                                                               \
    do {                                                                                           \
        if ((st) == NULL)                                                                          \
            return KW_ERR_INVALID_ARG;                                                             \
        if (ops(st) == NULL)                                                                       \
            return KW_ERR_UNSUPPORTED;                                                             \
    } while (0)

int kw_store_msg_put(kw_store *st, const uint8_t msg_id[KW_STORE_MSG_IDBYTES],
                     int64_t sender_account, const uint8_t *env, size_t len,
                     const uint8_t (*devices)[KW_STORE_ID_BYTES], size_t ndevices, int64_t now)
{
    NEED_OPS(st);
    if (msg_id == NULL || env == NULL || len == 0 || devices == NULL || ndevices == 0)
        return KW_ERR_INVALID_ARG;
    if (len > KW_STORE_MSG_ENVELOPE_MAX || ndevices > KW_STORE_MSG_DEVICES_MAX)
        return KW_ERR_TOO_LARGE;
    for (size_t i = 0; i < ndevices; i++)
        for (size_t j = 0; j < i; j++)
            if (memcmp(devices[i], devices[j], KW_STORE_ID_BYTES) == 0)
                return KW_ERR_INVALID_ARG;
    return ops(st)->put(st, msg_id, sender_account, env, len, devices, ndevices, now);
}

int kw_store_msg_send_checked(kw_store *st, kw_store_msg_send *m)
{
    if (m == NULL)
        return KW_ERR_INVALID_ARG;
    m->refusal = KW_STORE_MSG_REFUSED_NONE;
    m->device_index = 0;
    NEED_OPS(st);
    if (m->msg_id == NULL || m->sender_name == NULL || m->sender_device == NULL ||
        m->recipient_name == NULL || m->env == NULL || m->len == 0 || m->devices == NULL ||
        m->ndevices == 0)
        return KW_ERR_INVALID_ARG;
    if (m->len > KW_STORE_MSG_ENVELOPE_MAX || m->ndevices > KW_STORE_MSG_DEVICES_MAX ||
        strnlen(m->sender_name, KW_STORE_NAME_MAX + 1) > KW_STORE_NAME_MAX ||
        strnlen(m->recipient_name, KW_STORE_NAME_MAX + 1) > KW_STORE_NAME_MAX)
        return KW_ERR_TOO_LARGE;
    for (size_t i = 0; i < m->ndevices; i++)
        for (size_t j = 0; j < i; j++)
            if (memcmp(m->devices[i], m->devices[j], KW_STORE_ID_BYTES) == 0)
                return KW_ERR_INVALID_ARG;
    if (ops(st)->send == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->send(st, m);
}

int kw_store_msg_fetch(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t after,
                       size_t max_items, size_t max_bytes, kw_store_msg_item **out, size_t *count,
                       bool *more)
{
    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (more != NULL)
        *more = false;
    NEED_OPS(st);
    if (device == NULL || out == NULL || count == NULL || more == NULL || max_items == 0 ||
        max_bytes == 0 || after < 0)
        return KW_ERR_INVALID_ARG;
    if (max_items > KW_STORE_MSG_FETCH_MAX)
        max_items = KW_STORE_MSG_FETCH_MAX;
    return ops(st)->fetch(st, device, after, max_items, max_bytes, out, count, more);
}

void kw_store_msg_items_free(kw_store_msg_item **items, size_t count)
{
    if (items == NULL || *items == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free((*items)[i].envelope);
    free(*items);
    *items = NULL;
}

int kw_store_msg_ack(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                     const uint8_t (*ids)[KW_STORE_MSG_IDBYTES], size_t n, size_t *removed)
{
    if (removed != NULL)
        *removed = 0;
    NEED_OPS(st);
    if (device == NULL || ids == NULL || n == 0)
        return KW_ERR_INVALID_ARG;
    if (n > KW_STORE_MSG_ACK_MAX)
        return KW_ERR_TOO_LARGE;
    return ops(st)->ack(st, device, ids, n, removed);
}

int kw_store_msg_count(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES], int64_t *count)
{
    if (count != NULL)
        *count = 0;
    NEED_OPS(st);
    if (device == NULL || count == NULL)
        return KW_ERR_INVALID_ARG;
    return ops(st)->count(st, device, count);
}

int kw_store_msg_prekey_put(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                            int64_t prekey_id, const uint8_t *prekey, size_t len, int64_t now)
{
    NEED_OPS(st);
    if (device == NULL || prekey == NULL || len == 0 || prekey_id <= 0)
        return KW_ERR_INVALID_ARG;
    if (len > KW_STORE_MSG_PREKEY_MAX)
        return KW_ERR_TOO_LARGE;
    return ops(st)->prekey_put(st, device, prekey_id, prekey, len, now);
}

int kw_store_msg_prekey_get(kw_store *st, const uint8_t device[KW_STORE_ID_BYTES],
                            kw_store_msg_prekeys *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    NEED_OPS(st);
    if (device == NULL || out == NULL)
        return KW_ERR_INVALID_ARG;
    return ops(st)->prekey_get(st, device, out);
}

void kw_store_msg_prekeys_clear(kw_store_msg_prekeys *p)
{
    if (p == NULL)
        return;
    free(p->cur);
    free(p->prev);
    memset(p, 0, sizeof(*p));
}

int kw_store_msg_expire(kw_store *st, int64_t before, size_t *removed)
{
    if (removed != NULL)
        *removed = 0;
    NEED_OPS(st);
    return ops(st)->expire(st, before, removed);
}

int kw_store_msg_auth_watch(kw_store *st, void (*changed)(void *arg), void *arg)
{
    NEED_OPS(st);
    if (ops(st)->auth_watch == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->auth_watch(st, changed, arg);
}
