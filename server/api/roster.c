/*
 * Roster switches (docs/api.md, "Contact Key Verification"): POST
 * /v1/roster/flags lets a trusted device turn the account's CKV switch on
 * or off. The switch lives in the signed roster (keyward/roster.h, flag
 * bit KW_ROSTER_FLAG_CKV), so the server cannot flip it: the request
 * carries a new roster signed by the account key, of version current+1,
 * naming the same account, listing exactly the same devices (ids, keys and
 * names, in the same order) with the same ADP bit, and differing from the
 * current roster in the CKV bit only. The ADP bit has its own endpoint
 * (the ADP area) and is refused here.
 *
 * The accepted roster is stored through kw_store_roster_apply (no device
 * state change, the current KK generation) and queued for the
 * key-transparency log like every other roster.
 *
 * Test-only fault hooks (srv->test_faults, docs/api.md "Test faults"):
 * POST /v1/test/roster/{account} {roster, store} publishes ANY roster bytes
 * — unchecked — to the key-transparency log as the label's next version
 * (any account name, even one this server has no account for), and with
 * "store": true also stores them as the account's next roster: the lying server that adds, hides or re-keys devices without the
 * account key (tests/attacks/test_ckv_*.c). Refused (404) without
 * --test-faults.
 */
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/err.h"
#include "keyward/roster.h"

/* Same devices in the same order with the same keys and names. */
static bool same_devices(const kw_roster *a, const kw_roster *b)
{
    if (a->ndevices != b->ndevices)
        return false;
    for (size_t i = 0; i < a->ndevices; i++) {
        const kw_roster_device *x = &a->devices[i], *y = &b->devices[i];
        if (memcmp(x->id, y->id, sizeof(x->id)) != 0 ||
            memcmp(x->identity_pk, y->identity_pk, sizeof(x->identity_pk)) != 0 ||
            memcmp(x->hpke_pk, y->hpke_pk, sizeof(x->hpke_pk)) != 0 || x->name_len != y->name_len ||
            memcmp(x->name, y->name, x->name_len) != 0)
            return false;
    }
    return true;
}

static int roster_flags(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"roster", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    kw_roster *cur = NULL, *next = NULL;
    uint8_t *blob = NULL, *cur_blob = NULL;
    size_t blob_len = 0, cur_len = 0;
    int64_t version = 0, gen = 0;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "roster", 1, KW_ROSTER_MAXBYTES, &blob, &blob_len)) !=
            KW_OK)
        return r;
    if ((cur = malloc(sizeof(*cur))) == NULL || (next = malloc(sizeof(*next))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK ||
        (r = kw_store_roster_latest(srv->store, caller.account_id, &version, &cur_blob, &cur_len)) !=
            KW_OK ||
        (r = kw_api_kk_generation(srv, caller.account_id, &gen)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account state");
        goto out;
    }
    if (kw_roster_open(cur, cur_blob, cur_len, acct.account_pk) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "the stored roster does not verify");
        goto out;
    }
    /* Signature, account name, version: the shared check, with the current
     * device set as the expected one. */
    kw_store_device *expect = calloc(cur->ndevices, sizeof(*expect));
    if (expect == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < cur->ndevices; i++) {
        memcpy(expect[i].id, cur->devices[i].id, KW_STORE_ID_BYTES);
        memcpy(expect[i].identity_pk, cur->devices[i].identity_pk, 32);
        memcpy(expect[i].hpke_pk, cur->devices[i].hpke_pk, 32);
    }
    r = kw_api_roster_check(resp, acct.account_pk, acct.name, blob, blob_len, version + 1, expect,
                            cur->ndevices);
    free(expect);
    if (r != KW_OK)
        goto out;
    if (kw_roster_open(next, blob, blob_len, acct.account_pk) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "roster signature does not verify under the account key");
        goto out;
    }
    if (!same_devices(cur, next)) {
        r = kw_http_fail(resp, KW_ERR_FORMAT,
                         "the roster must list the same devices, in the same order, as the current one");
        goto out;
    }
    if (((cur->flags ^ next->flags) & KW_ROSTER_FLAG_ADP) != 0) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "the ADP switch is not changed here");
        goto out;
    }
    if (((cur->flags ^ next->flags) & KW_ROSTER_FLAG_CKV) == 0) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the CKV switch is already %s",
                         (cur->flags & KW_ROSTER_FLAG_CKV) != 0 ? "on" : "off");
        goto out;
    }
    kw_store_roster_change ch = {.account_id = caller.account_id,
                                 .roster_version = version + 1,
                                 .roster = blob,
                                 .roster_len = blob_len,
                                 .kk_generation = gen};
    if ((r = kw_store_roster_apply(srv->store, &ch)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster");
        goto out;
    }
    json_t *o = json_pack("{s:I,s:b}", "roster_version", (json_int_t)(version + 1), "ckv",
                          (next->flags & KW_ROSTER_FLAG_CKV) != 0);
    (void)kw_api_kt_roster_promise(srv, acct.name, blob, blob_len, o); /* queued even if o is NULL */
    if (o == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, o);
    r = KW_OK;
out:
    free(cur);
    free(next);
    free(blob);
    free(cur_blob);
    kw_store_account_clear(&acct);
    return r;
}

/* ---- test-only: the lying server ---- */

static int test_roster_put(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"roster", "store", NULL};
    kw_server *srv = req->app;
    kw_store_account acct = {0};
    uint8_t *blob = NULL, *cur = NULL;
    size_t blob_len = 0, cur_len = 0;
    int64_t version = 0, gen = 0;
    int r;
    if (!srv->test_faults)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "not found");
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "roster", 1, KW_ROSTER_MAXBYTES, &blob, &blob_len)) !=
            KW_OK)
        return r;
    bool store = json_is_true(json_object_get(req->body, "store"));
    if (!store) {
        /* the log only: any label, even one this server has no account for */
        if ((r = kw_api_check_name(resp, req->params[0])) != KW_OK)
            goto out;
        kw_api_kt_roster(srv, req->params[0], blob, blob_len);
        kw_http_json(resp, 200, json_pack("{s:b}", "stored", 0));
        r = KW_OK;
        goto out;
    }
    if ((r = kw_store_account_get_by_name(srv->store, req->params[0], &acct)) != KW_OK ||
        (r = kw_store_roster_latest(srv->store, acct.id, &version, &cur, &cur_len)) != KW_OK ||
        (r = kw_api_kk_generation(srv, acct.id, &gen)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    kw_store_roster_change ch = {.account_id = acct.id,
                                 .roster_version = version + 1,
                                 .roster = blob,
                                 .roster_len = blob_len,
                                 .kk_generation = gen};
    if ((r = kw_store_roster_apply(srv->store, &ch)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster");
        goto out;
    }
    kw_api_kt_roster(srv, acct.name, blob, blob_len);
    kw_http_json(resp, 200, json_pack("{s:b}", "stored", 1));
    r = KW_OK;
out:
    free(blob);
    free(cur);
    kw_store_account_clear(&acct);
    return r;
}

const kw_http_route kw_api_roster_routes[] = {
    {"POST", "/v1/roster/flags", roster_flags, 0},
    {"POST", "/v1/test/roster/{}", test_roster_put, 0}, /* --test-faults only */
};
const size_t kw_api_roster_nroutes = sizeof(kw_api_roster_routes) / sizeof(kw_api_roster_routes[0]);
