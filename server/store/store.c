/*
 * server/store/store.c — the public kw_store_* functions: backend choice by
 * URI scheme, argument checks shared by every backend, and dispatch through
 * the backend's kw_store_ops (backend.h).
 *
 * Everything checkable without the database is checked here, before a
 * backend is called: NULL pointers, name lengths (KW_ERR_TOO_LARGE over
 * KW_STORE_NAME_MAX, KW_ERR_INVALID_ARG when empty or unterminated), blob
 * sizes (KW_ERR_TOO_LARGE over KW_STORE_BLOB_MAX, KW_ERR_INVALID_ARG when a
 * required blob is NULL or empty), list counts (KW_ERR_LIMIT over
 * KW_STORE_CHANGE_MAX). Out-params are cleared on entry.
 */
#include "store/backend.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"

/* ---- argument checks ---- */

static int check_blob(const uint8_t *p, size_t len)
{
    if (len > KW_STORE_BLOB_MAX)
        return KW_ERR_TOO_LARGE;
    if (p == NULL || len == 0)
        return KW_ERR_INVALID_ARG;
    return KW_OK;
}

/* An optional blob: NULL (with length 0) means "absent". */
static int check_opt_blob(const uint8_t *p, size_t len)
{
    if (p == NULL)
        return len == 0 ? KW_OK : KW_ERR_INVALID_ARG;
    return check_blob(p, len);
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

static int check_device(const kw_store_device *d)
{
    if (d == NULL)
        return KW_ERR_INVALID_ARG;
    /* The name is a fixed array: it must be terminated inside it. */
    if (memchr(d->name, '\0', sizeof(d->name)) == NULL)
        return KW_ERR_INVALID_ARG;
    return KW_OK;
}

static int check_count(const void *list, size_t n)
{
    if (n > KW_STORE_CHANGE_MAX)
        return KW_ERR_LIMIT;
    if (n > 0 && list == NULL)
        return KW_ERR_INVALID_ARG;
    return KW_OK;
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        int check_r_ = (expr);                                                                     \
        if (check_r_ != KW_OK)                                                                     \
            return check_r_;                                                                       \
    } while (0)

#define NONNULL(p)                                                                                 \
    do {                                                                                           \
        if ((p) == NULL)                                                                           \
            return KW_ERR_INVALID_ARG;                                                             \
    } while (0)

/* ---- open / close ---- */

int kw_store_open(const char *uri, kw_store **out)
{
    NONNULL(out);
    *out = NULL;
    NONNULL(uri);
    const char *path = uri;
    if (strncmp(uri, "sqlite:", 7) == 0) {
        path = uri + 7;
        /* sqlite:///abs/path and sqlite://rel are accepted too. */
        if (strncmp(path, "//", 2) == 0)
            path += 2;
    } else if (strncmp(uri, "postgres://", 11) == 0 || strncmp(uri, "postgresql://", 13) == 0) {
        return kw_store_postgres_open(uri, out); /* libpq parses the rest of the URI */
    }
    if (path[0] == '\0')
        return KW_ERR_INVALID_ARG;
    return kw_store_sqlite_open(path, out);
}

void kw_store_close(kw_store **st)
{
    if (st == NULL || *st == NULL)
        return;
    (*st)->ops->close(*st);
    *st = NULL;
}

int kw_store_schema_version(kw_store *st, int *version)
{
    NONNULL(version);
    *version = 0;
    NONNULL(st);
    return st->ops->schema_version(st, version);
}

/* ---- accounts ---- */

void kw_store_account_clear(kw_store_account *a)
{
    if (a == NULL)
        return;
    if (a->opaque_record != NULL) {
        sodium_memzero(a->opaque_record, a->opaque_record_len);
        free(a->opaque_record);
    }
    if (a->totp_secret != NULL) {
        sodium_memzero(a->totp_secret, a->totp_secret_len);
        free(a->totp_secret);
    }
    a->opaque_record = NULL;
    a->opaque_record_len = 0;
    a->totp_secret = NULL;
    a->totp_secret_len = 0;
}

int kw_store_account_create(kw_store *st, const kw_store_new_account *na, int64_t *account_id)
{
    NONNULL(account_id);
    *account_id = 0;
    NONNULL(st);
    NONNULL(na);
    CHECK(check_name(na->name));
    CHECK(check_blob(na->opaque_record, na->opaque_record_len));
    NONNULL(na->account_pk);
    CHECK(check_device(na->device));
    CHECK(check_blob(na->roster, na->roster_len));
    CHECK(check_blob(na->keychain, na->keychain_len));
    CHECK(check_blob(na->device_wrap, na->device_wrap_len));
    NONNULL(na->session_hash);
    return st->ops->account_create(st, na, account_id);
}

static void account_zero(kw_store_account *out)
{
    memset(out, 0, sizeof(*out));
}

int kw_store_account_get_by_name(kw_store *st, const char *name, kw_store_account *out)
{
    NONNULL(out);
    account_zero(out);
    NONNULL(st);
    CHECK(check_name(name));
    return st->ops->account_get_by_name(st, name, out);
}

int kw_store_account_get(kw_store *st, int64_t account_id, kw_store_account *out)
{
    NONNULL(out);
    account_zero(out);
    NONNULL(st);
    return st->ops->account_get(st, account_id, out);
}

int kw_store_account_set_opaque(kw_store *st, int64_t account_id, const uint8_t *record, size_t len)
{
    NONNULL(st);
    CHECK(check_blob(record, len));
    return st->ops->account_set_opaque(st, account_id, record, len);
}

int kw_store_account_set_totp(kw_store *st, int64_t account_id, const uint8_t *secret, size_t len)
{
    NONNULL(st);
    CHECK(check_opt_blob(secret, len));
    return st->ops->account_set_totp(st, account_id, secret, len);
}

int kw_store_account_use_totp_step(kw_store *st, int64_t account_id, int64_t step)
{
    NONNULL(st);
    if (step < 0)
        return KW_ERR_INVALID_ARG;
    return st->ops->account_use_totp_step(st, account_id, step);
}

/* ---- devices ---- */

int kw_store_device_add(kw_store *st, const kw_store_device *d)
{
    NONNULL(st);
    CHECK(check_device(d));
    return st->ops->device_add(st, d);
}

int kw_store_device_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_device *out)
{
    NONNULL(out);
    memset(out, 0, sizeof(*out));
    NONNULL(st);
    NONNULL(id);
    return st->ops->device_get(st, id, out);
}

int kw_store_device_list(kw_store *st, int64_t account_id, kw_store_device **out, size_t *count)
{
    NONNULL(out);
    NONNULL(count);
    *out = NULL;
    *count = 0;
    NONNULL(st);
    return st->ops->device_list(st, account_id, out, count);
}

void kw_store_device_touch(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now)
{
    if (st == NULL || id == NULL)
        return;
    st->ops->device_touch(st, id, now);
}

/* ---- rosters, keychain, KK wraps ---- */

static int check_change(const kw_store_roster_change *ch)
{
    NONNULL(ch);
    CHECK(check_blob(ch->roster, ch->roster_len));
    if (ch->roster_version < 1 || ch->kk_generation < 1)
        return KW_ERR_INVALID_ARG;
    CHECK(check_count(ch->trust, ch->ntrust));
    CHECK(check_count(ch->remove, ch->nremove));
    CHECK(check_count(ch->wraps, ch->nwraps));
    /* A device cannot be trusted and removed in the same change. */
    for (size_t i = 0; i < ch->ntrust; i++)
        for (size_t j = 0; j < ch->nremove; j++)
            if (memcmp(ch->trust[i], ch->remove[j], KW_STORE_ID_BYTES) == 0)
                return KW_ERR_INVALID_ARG;
    CHECK(check_opt_blob(ch->kk_chain, ch->kk_chain_len));
    for (size_t i = 0; i < ch->nwraps; i++) {
        NONNULL(ch->wraps[i].device_id);
        CHECK(check_blob(ch->wraps[i].wrap, ch->wraps[i].wrap_len));
    }
    CHECK(check_opt_blob(ch->keychain, ch->keychain_len));
    if ((ch->keychain == NULL) != (ch->keychain_version == 0))
        return KW_ERR_INVALID_ARG;
    CHECK(check_opt_blob(ch->recovery_wrap, ch->recovery_wrap_len));
    if (ch->recovery_auth != NULL && ch->recovery_wrap == NULL)
        return KW_ERR_INVALID_ARG;
    return KW_OK;
}

int kw_store_roster_apply(kw_store *st, const kw_store_roster_change *ch)
{
    NONNULL(st);
    CHECK(check_change(ch));
    return st->ops->roster_apply(st, ch);
}

#define CLEAR_BLOB_OUT(p, len)                                                                     \
    do {                                                                                           \
        NONNULL(p);                                                                                \
        NONNULL(len);                                                                              \
        *(p) = NULL;                                                                               \
        *(len) = 0;                                                                                \
    } while (0)

int kw_store_roster_latest(kw_store *st, int64_t account_id, int64_t *version, uint8_t **roster,
                           size_t *len)
{
    NONNULL(version);
    *version = 0;
    CLEAR_BLOB_OUT(roster, len);
    NONNULL(st);
    return st->ops->roster_latest(st, account_id, version, roster, len);
}

int kw_store_roster_get(kw_store *st, int64_t account_id, int64_t version, uint8_t **roster,
                        size_t *len)
{
    CLEAR_BLOB_OUT(roster, len);
    NONNULL(st);
    return st->ops->roster_get(st, account_id, version, roster, len);
}

int kw_store_keychain_get(kw_store *st, int64_t account_id, int64_t *version, uint8_t **blob,
                          size_t *len)
{
    NONNULL(version);
    *version = 0;
    CLEAR_BLOB_OUT(blob, len);
    NONNULL(st);
    return st->ops->keychain_get(st, account_id, version, blob, len);
}

int kw_store_kk_wrap_get(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                         int64_t *generation, uint8_t **wrap, size_t *len)
{
    NONNULL(generation);
    *generation = 0;
    CLEAR_BLOB_OUT(wrap, len);
    NONNULL(st);
    NONNULL(device_id);
    return st->ops->kk_wrap_get(st, account_id, device_id, generation, wrap, len);
}

int kw_store_kk_chain_get(kw_store *st, int64_t account_id, int64_t generation, uint8_t **blob,
                          size_t *len)
{
    CLEAR_BLOB_OUT(blob, len);
    NONNULL(st);
    return st->ops->kk_chain_get(st, account_id, generation, blob, len);
}

int kw_store_recovery_get(kw_store *st, int64_t account_id, int64_t *generation, uint8_t **wrap,
                          size_t *len, uint8_t auth[32])
{
    NONNULL(generation);
    NONNULL(auth);
    *generation = 0;
    memset(auth, 0, 32);
    CLEAR_BLOB_OUT(wrap, len);
    NONNULL(st);
    return st->ops->recovery_get(st, account_id, generation, wrap, len, auth);
}

/* ---- sessions ---- */

int kw_store_session_add(kw_store *st, const kw_store_session *s)
{
    NONNULL(st);
    NONNULL(s);
    return st->ops->session_add(st, s);
}

int kw_store_session_get(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_session *out)
{
    NONNULL(out);
    memset(out, 0, sizeof(*out));
    NONNULL(st);
    NONNULL(hash);
    return st->ops->session_get(st, hash, out);
}

int kw_store_session_list(kw_store *st, int64_t account_id, kw_store_session **out, size_t *count)
{
    NONNULL(out);
    NONNULL(count);
    *out = NULL;
    *count = 0;
    NONNULL(st);
    return st->ops->session_list(st, account_id, out, count);
}

int kw_store_session_revoke(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES])
{
    NONNULL(st);
    NONNULL(hash);
    return st->ops->session_revoke(st, account_id, hash);
}

int kw_store_session_revoke_device(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES])
{
    NONNULL(st);
    NONNULL(device_id);
    return st->ops->session_revoke_device(st, device_id);
}

/* ---- short-lived login and approval state ---- */

int kw_store_login_put(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                       const uint8_t *state, size_t len, int64_t expires_at)
{
    NONNULL(st);
    NONNULL(id);
    CHECK(check_blob(state, len));
    return st->ops->login_put(st, id, account_id, state, len, expires_at);
}

int kw_store_login_take(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                        int64_t *account_id, uint8_t **state, size_t *len)
{
    NONNULL(account_id);
    *account_id = 0;
    CLEAR_BLOB_OUT(state, len);
    NONNULL(st);
    NONNULL(id);
    return st->ops->login_take(st, id, now, account_id, state, len);
}

int kw_store_approval_put(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                          int64_t expires_at, int attempts)
{
    NONNULL(st);
    NONNULL(hash);
    if (attempts < 1)
        return KW_ERR_INVALID_ARG;
    return st->ops->approval_put(st, account_id, hash, expires_at, attempts);
}

int kw_store_approval_use(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                          int64_t now)
{
    NONNULL(st);
    NONNULL(hash);
    return st->ops->approval_use(st, account_id, hash, now);
}

int kw_store_expire(kw_store *st, int64_t now, size_t *removed)
{
    NONNULL(removed);
    *removed = 0;
    NONNULL(st);
    return st->ops->expire(st, now, removed);
}
