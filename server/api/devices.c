/*
 * Devices and rosters: list the account's devices, read rosters, approve a
 * pending device into the roster, remove a device (roster without it, KK
 * rotation, keychain re-encryption and session revocation in one store
 * call). Also the request readers and the roster check the other areas
 * share.
 *
 * The server verifies every roster it stores: signed by the account key
 * stored at account creation, naming the account, exactly one version newer
 * than the current one, and listing exactly the devices the change leaves
 * trusted. The store's compare-and-swap on the version makes two concurrent
 * changes fail cleanly (409) instead of interleaving.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/roster.h"
#include "keyward/sign.h"

/* ---- shared helpers ---- */

int kw_api_store_fail(kw_http_resp *resp, int err, const char *what)
{
    switch (err) {
    case KW_ERR_NOT_FOUND: return kw_http_fail(resp, err, "%s not found", what);
    case KW_ERR_CONFLICT: return kw_http_fail(resp, err, "%s changed meanwhile or already exists", what);
    case KW_ERR_TOO_LARGE: return kw_http_fail(resp, err, "%s is too large", what);
    case KW_ERR_INVALID_ARG: return kw_http_fail(resp, err, "%s: inconsistent request", what);
    case KW_ERR_LIMIT: return kw_http_fail(resp, err, "%s: limit reached", what);
    case KW_ERR_STORAGE: return kw_http_fail(resp, err, "storage unavailable");
    default: return kw_http_fail(resp, err == KW_ERR_NOMEM ? err : KW_ERR_INTERNAL, "internal error");
    }
}

int kw_api_no_fields(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const none[] = {NULL};
    if (req->body == NULL)
        return KW_OK;
    return kw_api_only_fields(resp, req->body, none);
}

int kw_api_parse_id(kw_http_resp *resp, const char *s, uint8_t id[KW_STORE_ID_BYTES])
{
    size_t n = 0;
    if (strlen(s) != kw_b64url_encoded_len(KW_STORE_ID_BYTES) ||
        kw_b64url_decode(id, KW_STORE_ID_BYTES, &n, s, strlen(s)) != KW_OK || n != KW_STORE_ID_BYTES)
        return kw_http_fail(resp, KW_ERR_FORMAT, "ids are 16 bytes in base64url");
    return KW_OK;
}

int kw_api_get_id(kw_http_resp *resp, json_t *obj, const char *field, uint8_t id[KW_STORE_ID_BYTES])
{
    return kw_api_get_b64_fixed(resp, obj, field, id, KW_STORE_ID_BYTES);
}

int kw_api_get_device(kw_http_resp *resp, json_t *obj, const char *field, kw_store_device *d)
{
    static const char *const fields[] = {"id", "name", "identity_pk", "hpke_pk", NULL};
    const char *name;
    json_t *o = json_object_get(obj, field);
    memset(d, 0, sizeof(*d));
    if (!json_is_object(o))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' must be an object", field);
    int r;
    if ((r = kw_api_only_fields(resp, o, fields)) != KW_OK ||
        (r = kw_api_get_id(resp, o, "id", d->id)) != KW_OK ||
        (r = kw_api_get_str(resp, o, "name", KW_STORE_NAME_MAX, &name)) != KW_OK ||
        (r = kw_api_check_name(resp, name)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, o, "identity_pk", d->identity_pk, 32)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, o, "hpke_pk", d->hpke_pk, 32)) != KW_OK)
        return r;
    memcpy(d->name, name, strlen(name) + 1);
    if (kw_sign_pk_validate(d->identity_pk) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "identity_pk is not a valid Ed25519 key");
    if (kw_ct_is_zero(d->hpke_pk, 32))
        return kw_http_fail(resp, KW_ERR_FORMAT, "hpke_pk is not a valid X25519 key");
    return KW_OK;
}

const char *kw_api_device_state_name(int state)
{
    switch (state) {
    case KW_DEVICE_PENDING: return "pending";
    case KW_DEVICE_TRUSTED: return "trusted";
    default: return "removed";
    }
}

int kw_api_kk_generation(kw_server *srv, int64_t account_id, int64_t *generation)
{
    kw_store_device *list = NULL;
    size_t n = 0;
    uint8_t *wrap = NULL;
    size_t wrap_len = 0;
    *generation = 0;
    int r = kw_store_device_list(srv->store, account_id, &list, &n);
    if (r != KW_OK)
        return r;
    r = KW_ERR_NOT_FOUND;
    for (size_t i = 0; i < n && r == KW_ERR_NOT_FOUND; i++) {
        if (list[i].state != KW_DEVICE_TRUSTED)
            continue;
        r = kw_store_kk_wrap_get(srv->store, account_id, list[i].id, generation, &wrap, &wrap_len);
        free(wrap);
        wrap = NULL;
    }
    free(list);
    return r;
}

/* The account's trusted devices, optionally with one more (add) and
 * without one (drop). *out is malloc'd. */
static int expected_set(kw_server *srv, int64_t account_id, const kw_store_device *add,
                        const uint8_t *drop, kw_store_device **out, size_t *count)
{
    kw_store_device *list = NULL;
    size_t n = 0, k = 0;
    *out = NULL;
    *count = 0;
    int r = kw_store_device_list(srv->store, account_id, &list, &n);
    if (r != KW_OK)
        return r;
    kw_store_device *set = calloc(n + 1, sizeof(*set));
    if (set == NULL) {
        free(list);
        return KW_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].state != KW_DEVICE_TRUSTED)
            continue;
        if (drop != NULL && memcmp(list[i].id, drop, KW_STORE_ID_BYTES) == 0)
            continue;
        set[k++] = list[i];
    }
    if (add != NULL)
        set[k++] = *add;
    free(list);
    *out = set;
    *count = k;
    return KW_OK;
}

/* ---- handlers ---- */

static int devices_list(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_device *list = NULL;
    size_t n = 0, rlen = 0;
    uint8_t *roster = NULL;
    int64_t version = 0;
    json_t *out = NULL, *arr;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_device_list(srv->store, caller.account_id, &list, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "devices");
    r = kw_store_roster_latest(srv->store, caller.account_id, &version, &roster, &rlen);
    free(roster);
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster");
        goto out;
    }
    r = KW_ERR_NOMEM;
    arr = json_array();
    out = json_pack("{s:I}", "roster_version", (json_int_t)version);
    if (out == NULL || arr == NULL || json_object_set_new(out, "devices", arr) != 0) {
        json_decref(arr);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_pack("{s:s,s:s,s:I,s:I}", "name", list[i].name, "state",
                              kw_api_device_state_name(list[i].state), "created_at",
                              (json_int_t)list[i].created_at, "last_seen_at",
                              (json_int_t)list[i].last_seen_at);
        if (d == NULL || json_array_append_new(arr, d) != 0 ||
            kw_api_put_b64(d, "id", list[i].id, KW_STORE_ID_BYTES) != KW_OK ||
            kw_api_put_b64(d, "identity_pk", list[i].identity_pk, 32) != KW_OK ||
            kw_api_put_b64(d, "hpke_pk", list[i].hpke_pk, 32) != KW_OK)
            goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(list);
    return r;
}

static int roster_reply(kw_http_resp *resp, int64_t version, const uint8_t *roster, size_t len)
{
    json_t *out = json_pack("{s:I}", "version", (json_int_t)version);
    if (out == NULL || kw_api_put_b64(out, "roster", roster, len) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

static int roster_latest(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t *roster = NULL;
    size_t len = 0;
    int64_t version = 0;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_roster_latest(srv->store, caller.account_id, &version, &roster, &len)) != KW_OK)
        return kw_api_store_fail(resp, r, "roster");
    r = roster_reply(resp, version, roster, len);
    free(roster);
    return r;
}

static int roster_version(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t *roster = NULL;
    size_t len = 0;
    char *end = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    const char *p = req->params[0];
    long long v = strtoll(p, &end, 10);
    if (p[0] < '1' || p[0] > '9' || *end != '\0' || strlen(p) > 18 || v < 1)
        return kw_http_fail(resp, KW_ERR_FORMAT, "roster versions are positive integers");
    r = kw_store_roster_get(srv->store, caller.account_id, (int64_t)v, &roster, &len);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "roster version");
    r = roster_reply(resp, (int64_t)v, roster, len);
    free(roster);
    return r;
}

int kw_api_roster_add_device(kw_http_req *req, kw_http_resp *resp, const kw_api_caller *caller,
                             const uint8_t target[KW_STORE_ID_BYTES])
{
    kw_server *srv = req->app;
    kw_store_device dev;
    kw_store_account acct = {0};
    kw_store_device *expect = NULL;
    size_t nexpect = 0, roster_len = 0, wrap_len = 0, cur_len = 0;
    uint8_t *roster = NULL, *wrap = NULL, *cur = NULL;
    int64_t version = 0, gen = 0;
    int r = kw_store_device_get(srv->store, target, &dev);
    if (r == KW_ERR_NOT_FOUND || (r == KW_OK && dev.account_id != caller->account_id))
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such device");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "device");
    if (dev.state != KW_DEVICE_PENDING)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "the device is not pending");
    if ((r = kw_api_get_b64(resp, req->body, "roster", 1, KW_API_ROSTER_MAX, &roster, &roster_len)) !=
            KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "wrap", 1, KW_API_WRAP_MAX, &wrap, &wrap_len)) != KW_OK)
        goto out;
    if ((r = kw_store_account_get(srv->store, caller->account_id, &acct)) != KW_OK ||
        (r = kw_store_roster_latest(srv->store, caller->account_id, &version, &cur, &cur_len)) !=
            KW_OK ||
        (r = kw_api_kk_generation(srv, caller->account_id, &gen)) != KW_OK ||
        (r = expected_set(srv, caller->account_id, &dev, NULL, &expect, &nexpect)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account state");
        goto out;
    }
    if ((r = kw_api_roster_check(resp, acct.account_pk, acct.name, roster, roster_len, version + 1,
                                 expect, nexpect)) != KW_OK)
        goto out;
    const uint8_t(*trust)[KW_STORE_ID_BYTES] = (const uint8_t(*)[KW_STORE_ID_BYTES])dev.id;
    kw_store_wrap w = {dev.id, wrap, wrap_len};
    kw_store_roster_change ch = {.account_id = caller->account_id,
                                 .roster_version = version + 1,
                                 .roster = roster,
                                 .roster_len = roster_len,
                                 .trust = trust,
                                 .ntrust = 1,
                                 .kk_generation = gen,
                                 .wraps = &w,
                                 .nwraps = 1};
    if ((r = kw_store_roster_apply(srv->store, &ch)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster");
        goto out;
    }
    json_t *ok = json_object();
    (void)kw_api_kt_roster_promise(srv, acct.name, roster, roster_len, ok);
    kw_http_json(resp, 200, ok);
    r = KW_OK;
out:
    free(roster);
    free(wrap);
    free(cur);
    free(expect);
    kw_store_account_clear(&acct);
    return r;
}

static int devices_approve(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"device_id", "roster", "wrap", NULL};
    kw_api_caller caller;
    uint8_t id[KW_STORE_ID_BYTES];
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_id(resp, req->body, "device_id", id)) != KW_OK)
        return r;
    return kw_api_roster_add_device(req, resp, &caller, id);
}

/* Reads the wraps array of a removal: exactly one wrap per device of
 * expect[], no other device, no duplicate. */
static int read_wraps(kw_http_resp *resp, json_t *body, const kw_store_device *expect, size_t nexpect,
                      kw_store_wrap **out, uint8_t (**ids)[KW_STORE_ID_BYTES], uint8_t ***blobs)
{
    static const char *const fields[] = {"device_id", "wrap", NULL};
    json_t *arr = json_object_get(body, "wraps");
    *out = NULL;
    *ids = NULL;
    *blobs = NULL;
    if (!json_is_array(arr))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'wraps' must be an array");
    size_t n = json_array_size(arr);
    if (n > KW_API_DEVICES_MAX)
        return kw_http_fail(resp, KW_ERR_TOO_LARGE, "too many wraps");
    if (n != nexpect)
        return kw_http_fail(resp, KW_ERR_FORMAT, "need one wrap per remaining trusted device");
    kw_store_wrap *w = calloc(n + 1, sizeof(*w));
    uint8_t(*id)[KW_STORE_ID_BYTES] = calloc(n + 1, KW_STORE_ID_BYTES);
    uint8_t **b = calloc(n + 1, sizeof(*b));
    int r = KW_ERR_NOMEM;
    if (w == NULL || id == NULL || b == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        size_t len = 0;
        bool listed = false;
        if (!json_is_object(e)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "each wrap is an object {device_id, wrap}");
            goto fail;
        }
        if ((r = kw_api_only_fields(resp, e, fields)) != KW_OK ||
            (r = kw_api_get_id(resp, e, "device_id", id[i])) != KW_OK ||
            (r = kw_api_get_b64(resp, e, "wrap", 1, KW_API_WRAP_MAX, &b[i], &len)) != KW_OK)
            goto fail;
        for (size_t j = 0; j < nexpect && !listed; j++)
            listed = memcmp(expect[j].id, id[i], KW_STORE_ID_BYTES) == 0;
        for (size_t j = 0; j < i && listed; j++)
            listed = memcmp(id[j], id[i], KW_STORE_ID_BYTES) != 0;
        if (!listed) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "wrap for a device that is not a remaining trusted "
                                                  "device, or listed twice");
            goto fail;
        }
        w[i].device_id = id[i];
        w[i].wrap = b[i];
        w[i].wrap_len = len;
    }
    *out = w;
    *ids = id;
    *blobs = b;
    return KW_OK;
fail:
    for (size_t i = 0; b != NULL && i < n; i++)
        free(b[i]);
    free(b);
    free(id);
    free(w);
    return r;
}

static int devices_remove(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"device_id", "roster",   "generation",       "chain",
                                         "wraps",     "keychain", "keychain_version", "recovery_wrap",
                                         NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t id[KW_STORE_ID_BYTES];
    kw_store_device dev;
    kw_store_account acct = {0};
    kw_store_device *expect = NULL;
    kw_store_wrap *wraps = NULL;
    uint8_t(*wrap_ids)[KW_STORE_ID_BYTES] = NULL;
    uint8_t **wrap_blobs = NULL;
    uint8_t *roster = NULL, *chain = NULL, *keychain = NULL, *rwrap = NULL, *cur = NULL;
    size_t nexpect = 0, roster_len = 0, chain_len = 0, keychain_len = 0, rwrap_len = 0, cur_len = 0;
    int64_t version = 0, gen = 0, new_gen = 0, kc_version = 0;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_id(resp, req->body, "device_id", id)) != KW_OK)
        return r;
    r = kw_store_device_get(srv->store, id, &dev);
    if (r == KW_ERR_NOT_FOUND || (r == KW_OK && dev.account_id != caller.account_id))
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such device");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "device");
    if (dev.state == KW_DEVICE_REMOVED)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "the device is already removed");
    if ((r = kw_api_get_b64(resp, req->body, "roster", 1, KW_API_ROSTER_MAX, &roster, &roster_len)) !=
            KW_OK ||
        (r = kw_api_get_int(resp, req->body, "generation", 2, INT64_MAX - 1, &new_gen)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "chain", 1, KW_API_WRAP_MAX, &chain, &chain_len)) !=
            KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "keychain", 1, KW_API_KEYCHAIN_MAX, &keychain,
                            &keychain_len)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "keychain_version", 2, INT64_MAX - 1, &kc_version)) !=
            KW_OK)
        goto out;
    if (json_object_get(req->body, "recovery_wrap") != NULL &&
        (r = kw_api_get_b64(resp, req->body, "recovery_wrap", 1, KW_API_WRAP_MAX, &rwrap,
                            &rwrap_len)) != KW_OK)
        goto out;
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK ||
        (r = kw_store_roster_latest(srv->store, caller.account_id, &version, &cur, &cur_len)) !=
            KW_OK ||
        (r = kw_api_kk_generation(srv, caller.account_id, &gen)) != KW_OK ||
        (r = expected_set(srv, caller.account_id, NULL, id, &expect, &nexpect)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account state");
        goto out;
    }
    if (nexpect == 0) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "cannot remove the last trusted device");
        goto out;
    }
    if (new_gen != gen + 1) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "generation must be %lld", (long long)(gen + 1));
        goto out;
    }
    if ((r = kw_api_roster_check(resp, acct.account_pk, acct.name, roster, roster_len, version + 1,
                                 expect, nexpect)) != KW_OK ||
        (r = read_wraps(resp, req->body, expect, nexpect, &wraps, &wrap_ids, &wrap_blobs)) != KW_OK)
        goto out;
    const uint8_t(*remove)[KW_STORE_ID_BYTES] = (const uint8_t(*)[KW_STORE_ID_BYTES])id;
    kw_store_roster_change ch = {.account_id = caller.account_id,
                                 .roster_version = version + 1,
                                 .roster = roster,
                                 .roster_len = roster_len,
                                 .remove = remove,
                                 .nremove = 1,
                                 .kk_generation = new_gen,
                                 .kk_chain = chain,
                                 .kk_chain_len = chain_len,
                                 .wraps = wraps,
                                 .nwraps = nexpect,
                                 .keychain_version = kc_version,
                                 .keychain = keychain,
                                 .keychain_len = keychain_len,
                                 .recovery_wrap = rwrap,
                                 .recovery_wrap_len = rwrap_len};
    if ((r = kw_store_roster_apply(srv->store, &ch)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster, keychain or recovery wrap");
        goto out;
    }
    json_t *ok = json_object();
    (void)kw_api_kt_roster_promise(srv, acct.name, roster, roster_len, ok);
    kw_http_json(resp, 200, ok);
    r = KW_OK;
out:
    for (size_t i = 0; wrap_blobs != NULL && i < nexpect; i++)
        free(wrap_blobs[i]);
    free(wrap_blobs);
    free(wrap_ids);
    free(wraps);
    free(roster);
    free(chain);
    free(keychain);
    free(rwrap);
    free(cur);
    free(expect);
    kw_store_account_clear(&acct);
    return r;
}

const kw_http_route kw_api_devices_routes[] = {
    {"GET", "/v1/devices", devices_list, 0},
    {"GET", "/v1/roster", roster_latest, 0},
    {"GET", "/v1/roster/{}", roster_version, 0},
    {"POST", "/v1/devices/approve", devices_approve, 0},
    {"POST", "/v1/devices/remove", devices_remove, KW_API_KEYCHAIN_BODY_LIMIT},
};
const size_t kw_api_devices_nroutes = sizeof(kw_api_devices_routes) / sizeof(kw_api_devices_routes[0]);

/* The roster codec is libkeyward's (keyward/roster.h), shared with the
 * clients: decode strictly, verify under the account key from the store, then
 * check what the change needs (account name, version, device set). */
static int roster_fail(kw_http_resp *resp, int err)
{
    switch (err) {
    case KW_ERR_VERIFY:
        return kw_http_fail(resp, err, "roster signature does not verify under the account key");
    case KW_ERR_TRUNCATED: return kw_http_fail(resp, err, "roster is truncated");
    case KW_ERR_TOO_LARGE: return kw_http_fail(resp, err, "roster exceeds its limits");
    case KW_ERR_FORMAT: return kw_http_fail(resp, err, "roster is malformed");
    case KW_ERR_NOMEM: return kw_http_fail(resp, err, "internal error");
    default: return kw_http_fail(resp, KW_ERR_INTERNAL, "internal error");
    }
}

int kw_api_roster_check(kw_http_resp *resp, const uint8_t account_pk[32], const char *name,
                        const uint8_t *roster, size_t roster_len, int64_t version,
                        const kw_store_device *expect, size_t nexpect)
{
    kw_roster *r = malloc(sizeof(*r));
    int e;
    if (r == NULL)
        return kw_http_fail(resp, KW_ERR_NOMEM, "internal error");
    if ((e = kw_roster_open(r, roster, roster_len, account_pk)) != KW_OK) {
        e = roster_fail(resp, e);
        goto out;
    }
    if (r->name_len != strlen(name) || memcmp(r->name, name, r->name_len) != 0) {
        e = kw_http_fail(resp, KW_ERR_FORMAT, "roster names another account");
        goto out;
    }
    if (version < 1 || r->version != (uint64_t)version) {
        e = kw_http_fail(resp, KW_ERR_CONFLICT, "roster version must be %lld", (long long)version);
        goto out;
    }
    /* exactly the expected set: same size, every expected device listed with
     * both its keys (roster.h refuses duplicate ids, so no device is counted
     * twice) */
    e = KW_OK;
    if (r->ndevices != nexpect)
        e = KW_ERR_FORMAT;
    for (size_t i = 0; i < nexpect && e == KW_OK; i++) {
        const kw_roster_device *d = kw_roster_find(r, expect[i].id);
        if (d == NULL || memcmp(d->identity_pk, expect[i].identity_pk, 32) != 0 ||
            memcmp(d->hpke_pk, expect[i].hpke_pk, 32) != 0)
            e = KW_ERR_FORMAT;
    }
    if (e != KW_OK)
        e = kw_http_fail(resp, e, "roster does not list exactly the expected devices");
out:
    free(r);
    return e;
}
