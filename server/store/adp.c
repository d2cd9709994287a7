/*
 * server/store/adp.c — the public kw_store_adp_* functions: argument checks
 * (store.h rules) and dispatch to the backend's adp operations; out-params
 * cleared on entry; KW_ERR_UNSUPPORTED when the backend has no adp domain.
 */
#include "store/adp.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/backend.h"

#define OPS(st) ((st) == NULL ? NULL : (st)->ops->adp)
#define NEED(st)                                                                                   \
    do {                                                                                           \
        if ((st) == NULL)                                                                          \
            return KW_ERR_INVALID_ARG;                                                             \
        if (OPS(st) == NULL)                                                                       \
            return KW_ERR_UNSUPPORTED;                                                             \
    } while (0)

static int check_category(const char *c)
{
    if (c == NULL)
        return KW_ERR_INVALID_ARG;
    size_t n = strnlen(c, KW_STORE_ADP_CATEGORY_MAX + 1);
    if (n > KW_STORE_ADP_CATEGORY_MAX)
        return KW_ERR_TOO_LARGE;
    return n == 0 ? KW_ERR_INVALID_ARG : KW_OK;
}

static int check_blob(const uint8_t *p, size_t len)
{
    if (len > KW_STORE_BLOB_MAX)
        return KW_ERR_TOO_LARGE;
    return p == NULL || len == 0 ? KW_ERR_INVALID_ARG : KW_OK;
}

static int check_custody(const kw_store_adp_custody *list, size_t n)
{
    if (n > KW_STORE_CHANGE_MAX)
        return KW_ERR_LIMIT;
    if (n > 0 && list == NULL)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        int r;
        if (memchr(list[i].category, '\0', sizeof(list[i].category)) == NULL)
            return KW_ERR_INVALID_ARG;
        if ((r = check_category(list[i].category)) != KW_OK || (r = check_blob(list[i].wrap, list[i].wrap_len)) != KW_OK)
            return r;
        if (list[i].generation < 1)
            return KW_ERR_INVALID_ARG;
    }
    return KW_OK;
}

static int check_categories(const char *const *list, size_t n)
{
    if (n > KW_STORE_CHANGE_MAX)
        return KW_ERR_LIMIT;
    if (n > 0 && list == NULL)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        int r = check_category(list[i]);
        if (r != KW_OK)
            return r;
    }
    return KW_OK;
}

int kw_store_adp_state_get(kw_store *st, int64_t account_id, kw_store_adp_state *out)
{
    if (out == NULL)
        return KW_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    NEED(st);
    return OPS(st)->state_get(st, account_id, out);
}

int kw_store_adp_web_access_set(kw_store *st, int64_t account_id, bool on, int64_t now)
{
    NEED(st);
    return OPS(st)->web_access_set(st, account_id, on, now);
}

int kw_store_adp_custody_put(kw_store *st, int64_t account_id, const kw_store_adp_custody *list,
                             size_t n, const char *const *adp_only, size_t nadp_only, int64_t now)
{
    int r;
    NEED(st);
    if (n == 0)
        return KW_ERR_INVALID_ARG;
    if ((r = check_custody(list, n)) != KW_OK || (r = check_categories(adp_only, nadp_only)) != KW_OK)
        return r;
    return OPS(st)->custody_put(st, account_id, list, n, adp_only, nadp_only, now);
}

int kw_store_adp_custody_list(kw_store *st, int64_t account_id, kw_store_adp_custody **out,
                              size_t *count)
{
    if (out == NULL || count == NULL)
        return KW_ERR_INVALID_ARG;
    *out = NULL;
    *count = 0;
    NEED(st);
    return OPS(st)->custody_list(st, account_id, out, count);
}

void kw_store_adp_custody_free(kw_store_adp_custody *list, size_t count)
{
    for (size_t i = 0; list != NULL && i < count; i++)
        free(list[i].wrap);
    free(list);
}

int kw_store_adp_switch_apply(kw_store *st, const kw_store_adp_switch *sw)
{
    int r;
    NEED(st);
    if (sw == NULL || sw->roster_version < 1)
        return KW_ERR_INVALID_ARG;
    if ((r = check_blob(sw->roster, sw->roster_len)) != KW_OK)
        return r;
    if (sw->keychain_version != 0 && (r = check_blob(sw->keychain, sw->keychain_len)) != KW_OK)
        return r;
    if (sw->keychain_version == 0 && sw->keychain != NULL)
        return KW_ERR_INVALID_ARG;
    if ((r = check_categories(sw->drop, sw->ndrop)) != KW_OK ||
        (r = check_custody(sw->escrow, sw->nescrow)) != KW_OK)
        return r;
    if ((sw->enable && sw->nescrow > 0) || (!sw->enable && sw->ndrop > 0))
        return KW_ERR_INVALID_ARG;
    return OPS(st)->switch_apply(st, sw);
}

int kw_store_adp_caps_set(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t caps,
                          int64_t now)
{
    NEED(st);
    if (device_id == NULL || caps < 0)
        return KW_ERR_INVALID_ARG;
    return OPS(st)->caps_set(st, device_id, caps, now);
}

int kw_store_adp_caps_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t *caps)
{
    if (caps == NULL || device_id == NULL)
        return KW_ERR_INVALID_ARG;
    *caps = 0;
    NEED(st);
    return OPS(st)->caps_get(st, device_id, caps);
}

int kw_store_adp_passcode_put(kw_store *st, int64_t account_id, const kw_store_adp_passcode *p)
{
    int r;
    NEED(st);
    if (p == NULL || p->generation < 1)
        return KW_ERR_INVALID_ARG;
    if ((r = check_blob(p->verifier, p->verifier_len)) != KW_OK ||
        (r = check_blob(p->blob, p->blob_len)) != KW_OK)
        return r;
    return OPS(st)->passcode_put(st, account_id, p);
}

int kw_store_adp_passcode_take_attempt(kw_store *st, int64_t account_id, kw_store_adp_passcode *out,
                                       bool *last)
{
    if (out == NULL || last == NULL)
        return KW_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    *last = false;
    NEED(st);
    return OPS(st)->passcode_take_attempt(st, account_id, out, last);
}

int kw_store_adp_passcode_success(kw_store *st, int64_t account_id)
{
    NEED(st);
    return OPS(st)->passcode_success(st, account_id);
}

int kw_store_adp_passcode_exists(kw_store *st, int64_t account_id, int64_t *attempts_left,
                                 uint8_t *salt)
{
    if (attempts_left == NULL)
        return KW_ERR_INVALID_ARG;
    *attempts_left = 0;
    NEED(st);
    return OPS(st)->passcode_exists(st, account_id, attempts_left, salt);
}

int kw_store_adp_passcode_delete(kw_store *st, int64_t account_id)
{
    NEED(st);
    return OPS(st)->passcode_delete(st, account_id);
}

void kw_store_adp_passcode_clear(kw_store_adp_passcode *p)
{
    if (p == NULL)
        return;
    free(p->verifier);
    free(p->blob);
    sodium_memzero(p, sizeof(*p));
}

int kw_store_adp_web_request_add(kw_store *st, const kw_store_adp_web_request *rq)
{
    NEED(st);
    if (rq == NULL || memchr(rq->categories, '\0', sizeof(rq->categories)) == NULL ||
        rq->categories[0] == '\0')
        return KW_ERR_INVALID_ARG;
    return OPS(st)->web_request_add(st, rq);
}

int kw_store_adp_web_request_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES],
                                 kw_store_adp_web_request *out)
{
    if (out == NULL || id == NULL)
        return KW_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    NEED(st);
    return OPS(st)->web_request_get(st, id, out);
}

int kw_store_adp_web_request_list(kw_store *st, int64_t account_id, int64_t now,
                                  kw_store_adp_web_request **out, size_t *count)
{
    if (out == NULL || count == NULL)
        return KW_ERR_INVALID_ARG;
    *out = NULL;
    *count = 0;
    NEED(st);
    return OPS(st)->web_request_list(st, account_id, now, out, count);
}

int kw_store_adp_web_approve(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES],
                             const kw_store_adp_web_grant *grants, size_t n, int64_t expires_at,
                             int64_t now)
{
    NEED(st);
    if (id == NULL || n == 0 || grants == NULL)
        return KW_ERR_INVALID_ARG;
    if (n > KW_STORE_CHANGE_MAX)
        return KW_ERR_LIMIT;
    for (size_t i = 0; i < n; i++) {
        int r;
        if (memchr(grants[i].category, '\0', sizeof(grants[i].category)) == NULL || grants[i].generation < 1)
            return KW_ERR_INVALID_ARG;
        if ((r = check_category(grants[i].category)) != KW_OK ||
            (r = check_blob(grants[i].sealed, grants[i].sealed_len)) != KW_OK)
            return r;
    }
    return OPS(st)->web_approve(st, account_id, id, grants, n, expires_at, now);
}

int kw_store_adp_web_grants(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                            kw_store_adp_web_grant **out, size_t *count)
{
    if (out == NULL || count == NULL || id == NULL)
        return KW_ERR_INVALID_ARG;
    *out = NULL;
    *count = 0;
    NEED(st);
    return OPS(st)->web_grants(st, id, now, out, count);
}

void kw_store_adp_web_grants_free(kw_store_adp_web_grant *list, size_t count)
{
    for (size_t i = 0; list != NULL && i < count; i++)
        free(list[i].sealed);
    free(list);
}

/* ---- recovery contacts ---- */

int kw_store_adp_contact_add(kw_store *st, const kw_store_adp_contact *ct)
{
    int r;
    NEED(st);
    if (ct == NULL || ct->generation < 1 || ct->account_id == ct->contact_account_id)
        return KW_ERR_INVALID_ARG;
    if ((r = check_blob(ct->unwrap_key, ct->unwrap_key_len)) != KW_OK ||
        (r = check_blob(ct->packets, ct->packets_len)) != KW_OK ||
        (r = check_blob(ct->kk_wrap, ct->kk_wrap_len)) != KW_OK)
        return r;
    return OPS(st)->contact_add(st, ct);
}

int kw_store_adp_contact_list(kw_store *st, int64_t owner, int64_t contact, kw_store_adp_contact **out,
                              size_t *count)
{
    if (out == NULL || count == NULL || (owner == 0) == (contact == 0))
        return KW_ERR_INVALID_ARG;
    *out = NULL;
    *count = 0;
    NEED(st);
    return OPS(st)->contact_list(st, owner, contact, out, count);
}

int kw_store_adp_contact_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_adp_contact *out)
{
    if (out == NULL || id == NULL)
        return KW_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    NEED(st);
    return OPS(st)->contact_get(st, id, out);
}

int kw_store_adp_contact_set_state(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int from_state,
                                   int state, int64_t requested_at, int64_t release_at)
{
    NEED(st);
    if (id == NULL || state < KW_STORE_ADP_CONTACT_ACTIVE || state > KW_STORE_ADP_CONTACT_RELEASED)
        return KW_ERR_INVALID_ARG;
    return OPS(st)->contact_set_state(st, id, from_state, state, requested_at, release_at);
}

int kw_store_adp_contact_remove(kw_store *st, int64_t owner, const uint8_t id[KW_STORE_ID_BYTES])
{
    NEED(st);
    if (id == NULL)
        return KW_ERR_INVALID_ARG;
    return OPS(st)->contact_remove(st, owner, id);
}

int kw_store_adp_contact_rewrap(kw_store *st, int64_t owner, int64_t generation,
                                const uint8_t (*ids)[KW_STORE_ID_BYTES], const uint8_t *const *wraps,
                                const size_t *lens, size_t n)
{
    NEED(st);
    if (generation < 1 || (n > 0 && (ids == NULL || wraps == NULL || lens == NULL)))
        return KW_ERR_INVALID_ARG;
    if (n > KW_STORE_ADP_CONTACTS_MAX)
        return KW_ERR_LIMIT;
    for (size_t i = 0; i < n; i++) {
        int r = check_blob(wraps[i], lens[i]);
        if (r != KW_OK)
            return r;
    }
    return OPS(st)->contact_rewrap(st, owner, generation, ids, wraps, lens, n);
}

void kw_store_adp_contact_clear(kw_store_adp_contact *ct)
{
    if (ct == NULL)
        return;
    free(ct->unwrap_key);
    free(ct->packets);
    free(ct->kk_wrap);
    memset(ct, 0, sizeof(*ct));
}

void kw_store_adp_contacts_free(kw_store_adp_contact *list, size_t count)
{
    for (size_t i = 0; list != NULL && i < count; i++)
        kw_store_adp_contact_clear(&list[i]);
    free(list);
}
