/*
 * server/store/web.c — the public kw_store_web_* functions: argument checks
 * and dispatch to the backend's web ops (KW_ERR_UNSUPPORTED when the
 * backend has none). Out-params are cleared on entry.
 */
#include "store/web.h"

#include <string.h>

#include "keyward/err.h"
#include "store/backend.h"

#define WEB_OPS(st) ((st) != NULL && (st)->ops->web != NULL ? (st)->ops->web : NULL)

static int check_session(const kw_store_web_session *s)
{
    if (s == NULL || s->account_id <= 0 || s->expires_at <= s->created_at)
        return KW_ERR_INVALID_ARG;
    if (s->state != KW_WEB_SESSION_FACTOR && s->state != KW_WEB_SESSION_ACTIVE)
        return KW_ERR_INVALID_ARG;
    return KW_OK;
}

int kw_store_web_session_add(kw_store *st, const kw_store_web_session *s)
{
    if (st == NULL || check_session(s) != KW_OK)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->session_add(st, s);
}

int kw_store_web_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES],
                             kw_store_web_session *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (st == NULL || hash == NULL || out == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->session_get(st, hash, out);
}

int kw_store_web_session_upgrade(kw_store *st, const uint8_t old_hash[KW_STORE_HASH_BYTES],
                                 int64_t now, const kw_store_web_session *next)
{
    if (st == NULL || old_hash == NULL || check_session(next) != KW_OK ||
        next->state != KW_WEB_SESSION_ACTIVE)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->session_upgrade(st, old_hash, now, next);
}

int kw_store_web_session_list(kw_store *st, int64_t account_id, int64_t now,
                              kw_store_web_session **out, size_t *count)
{
    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (st == NULL || out == NULL || count == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->session_list(st, account_id, now, out, count);
}

int kw_store_web_session_revoke(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES])
{
    if (st == NULL || id == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->session_revoke(st, account_id, id);
}

int kw_store_web_session_revoke_all(kw_store *st, int64_t account_id, size_t *count)
{
    if (count != NULL)
        *count = 0;
    if (st == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->session_revoke_all(st, account_id, count);
}

int kw_store_web_expire(kw_store *st, int64_t now, size_t *removed)
{
    if (removed != NULL)
        *removed = 0;
    if (st == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->expire(st, now, removed);
}

int kw_store_web_removal_put(kw_store *st, const kw_store_web_removal *rm)
{
    if (st == NULL || rm == NULL || rm->account_id <= 0)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->removal_put(st, rm);
}

int kw_store_web_removal_list(kw_store *st, int64_t account_id, kw_store_web_removal **out,
                              size_t *count)
{
    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (st == NULL || out == NULL || count == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->removal_list(st, account_id, out, count);
}

int kw_store_web_removal_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES],
                             kw_store_web_removal *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (st == NULL || device_id == NULL || out == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->removal_get(st, device_id, out);
}

int kw_store_web_removal_delete(kw_store *st, int64_t account_id,
                                const uint8_t device_id[KW_STORE_ID_BYTES])
{
    if (st == NULL || device_id == NULL)
        return KW_ERR_INVALID_ARG;
    const struct kw_store_web_ops *o = WEB_OPS(st);
    return o == NULL ? KW_ERR_UNSUPPORTED : o->removal_delete(st, account_id, device_id);
}
