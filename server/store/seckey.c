/*
 * server/store/seckey.c — the public kw_store_seckey_* functions: argument
 * checks (store/seckey.h) and dispatch to the backend's seckey operations;
 * KW_ERR_UNSUPPORTED when the backend has none. Out-params are cleared on
 * entry.
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/backend.h"
#include "store/seckey.h"

static const struct kw_store_seckey_ops *ops(kw_store *st)
{
    return st != NULL && st->ops != NULL ? st->ops->seckey : NULL;
}

static int check_name(const char *name)
{
    if (name == NULL)
        return KW_ERR_INVALID_ARG;
    size_t n = strnlen(name, KW_STORE_NAME_MAX + 1);
    if (n > KW_STORE_NAME_MAX)
        return KW_ERR_TOO_LARGE;
    return n == 0 ? KW_ERR_INVALID_ARG : KW_OK;
}

static int check_op(const char *op)
{
    if (op == NULL)
        return KW_ERR_INVALID_ARG;
    size_t n = strnlen(op, KW_STORE_SECKEY_OP_MAX + 1);
    return n == 0 || n > KW_STORE_SECKEY_OP_MAX ? KW_ERR_INVALID_ARG : KW_OK;
}

#define NEED_OPS(st)                                                                               \
    do {                                                                                           \
        if ((st) == NULL)                                                                          \
            return KW_ERR_INVALID_ARG;                                                             \
        if (ops(st) == NULL)                                                                       \
            return KW_ERR_UNSUPPORTED;                                                             \
    } while (0)

int kw_store_seckey_add(kw_store *st, kw_store_seckey *k)
{
    if (k == NULL)
        return KW_ERR_INVALID_ARG;
    NEED_OPS(st);
    if (k->cred_id_len == 0 || k->cose_key_len == 0)
        return KW_ERR_INVALID_ARG;
    if (k->cred_id_len > KW_STORE_SECKEY_CREDID_MAX || k->cose_key_len > KW_STORE_SECKEY_COSE_MAX)
        return KW_ERR_TOO_LARGE;
    if (memchr(k->name, '\0', sizeof(k->name)) == NULL)
        return KW_ERR_INVALID_ARG;
    int r = check_name(k->name);
    if (r != KW_OK)
        return r;
    k->id = 0;
    return ops(st)->add(st, k);
}

int kw_store_seckey_list(kw_store *st, int64_t account_id, kw_store_seckey **out, size_t *count)
{
    if (out == NULL || count == NULL)
        return KW_ERR_INVALID_ARG;
    *out = NULL;
    *count = 0;
    NEED_OPS(st);
    return ops(st)->list(st, account_id, out, count);
}

int kw_store_seckey_count(kw_store *st, int64_t account_id, size_t *count)
{
    if (count == NULL)
        return KW_ERR_INVALID_ARG;
    *count = 0;
    NEED_OPS(st);
    return ops(st)->count(st, account_id, count);
}

int kw_store_seckey_get(kw_store *st, int64_t account_id, int64_t key_id, kw_store_seckey *out)
{
    if (out == NULL)
        return KW_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    NEED_OPS(st);
    return ops(st)->get(st, account_id, key_id, out);
}

int kw_store_seckey_find(kw_store *st, const uint8_t *cred_id, size_t cred_id_len,
                         kw_store_seckey *out)
{
    if (out == NULL || cred_id == NULL || cred_id_len == 0)
        return KW_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    NEED_OPS(st);
    if (cred_id_len > KW_STORE_SECKEY_CREDID_MAX)
        return KW_ERR_TOO_LARGE;
    return ops(st)->find(st, cred_id, cred_id_len, out);
}

int kw_store_seckey_rename(kw_store *st, int64_t account_id, int64_t key_id, const char *name)
{
    NEED_OPS(st);
    int r = check_name(name);
    if (r != KW_OK)
        return r;
    return ops(st)->rename(st, account_id, key_id, name);
}

int kw_store_seckey_remove(kw_store *st, int64_t account_id, int64_t key_id, int flags,
                           bool *policy_turned_off)
{
    if (policy_turned_off != NULL)
        *policy_turned_off = false;
    NEED_OPS(st);
    if ((flags & ~KW_STORE_SECKEY_RM_POLICY_OFF) != 0)
        return KW_ERR_INVALID_ARG;
    return ops(st)->remove(st, account_id, key_id, flags, policy_turned_off);
}

int kw_store_seckey_use(kw_store *st, int64_t account_id, int64_t key_id, uint32_t old_count,
                        uint32_t new_count, bool backup_state, int64_t now)
{
    NEED_OPS(st);
    return ops(st)->use(st, account_id, key_id, old_count, new_count, backup_state, now);
}

int kw_store_seckey_challenge_put(kw_store *st, int64_t account_id, const char *op,
                                  const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES],
                                  int64_t now, int64_t expires_at)
{
    if (challenge == NULL)
        return KW_ERR_INVALID_ARG;
    NEED_OPS(st);
    int r = check_op(op);
    if (r != KW_OK)
        return r;
    return ops(st)->challenge_put(st, account_id, op, challenge, now, expires_at);
}

int kw_store_seckey_challenge_take(kw_store *st, int64_t account_id, const char *op,
                                   const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES],
                                   int64_t now)
{
    if (challenge == NULL)
        return KW_ERR_INVALID_ARG;
    NEED_OPS(st);
    int r = check_op(op);
    if (r != KW_OK)
        return r;
    return ops(st)->challenge_take(st, account_id, op, challenge, now);
}

int kw_store_seckey_policy_get(kw_store *st, int64_t account_id, bool *on)
{
    if (on == NULL)
        return KW_ERR_INVALID_ARG;
    *on = false;
    NEED_OPS(st);
    return ops(st)->policy_get(st, account_id, on);
}

int kw_store_seckey_policy_set(kw_store *st, int64_t account_id, bool on)
{
    NEED_OPS(st);
    return ops(st)->policy_set(st, account_id, on);
}

int kw_store_seckey_expire(kw_store *st, int64_t now, size_t *removed)
{
    if (removed != NULL)
        *removed = 0;
    NEED_OPS(st);
    return ops(st)->expire(st, now, removed);
}
