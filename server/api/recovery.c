/*
 * Recovery key: a trusted device stores the KK wrapped under a key derived
 * from the recovery key, with recovery_auth (the verifier of the recovery
 * sign-in factor). A device that signed in with the recovery factor reads
 * the wrap and the keychain, unwraps KK, reads the account key and adds
 * itself to the roster (join-recovery).
 *
 * The store changes the recovery wrap only together with a roster version
 * (kw_store_roster_apply), so storing a recovery key also takes a roster of
 * version current+1 listing the same trusted devices, re-signed by the
 * account key: the roster history then records when recovery changed.
 *
 * It may also carry the keychain (version current+1, compare-and-swap, in
 * the same store call): the client stores the recovery wrapping key there
 * (keyward/keychain.h, KW_RECOVERY_RWK_ITEM) so that whichever trusted
 * device later rotates KK (device removal) re-wraps the new generation for
 * recovery. The keychain is end to end: the server never sees that key.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/err.h"

static int recovery_put(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"recovery_wrap", "recovery_auth", "generation", "roster",
                                         "keychain",      "keychain_version", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    kw_store_device *list = NULL, *expect = NULL;
    uint8_t *rwrap = NULL, *roster = NULL, *cur = NULL, *keychain = NULL, auth[32];
    size_t rwrap_len = 0, roster_len = 0, cur_len = 0, n = 0, k = 0, keychain_len = 0;
    int64_t gen = 0, cur_gen = 0, version = 0, kc_version = 0;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if ((r = kw_api_get_b64(resp, req->body, "recovery_wrap", 1, KW_API_WRAP_MAX, &rwrap,
                            &rwrap_len)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "recovery_auth", auth, sizeof(auth))) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "generation", 1, INT64_MAX, &gen)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "roster", 1, KW_API_ROSTER_MAX, &roster, &roster_len)) !=
            KW_OK)
        goto out;
    /* keychain and keychain_version come together or not at all */
    if ((json_object_get(req->body, "keychain") == NULL) !=
        (json_object_get(req->body, "keychain_version") == NULL)) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "keychain and keychain_version go together");
        goto out;
    }
    if (json_object_get(req->body, "keychain") != NULL &&
        ((r = kw_api_get_b64(resp, req->body, "keychain", 1, KW_API_KEYCHAIN_MAX, &keychain,
                             &keychain_len)) != KW_OK ||
         (r = kw_api_get_int(resp, req->body, "keychain_version", 2, INT64_MAX - 1, &kc_version)) !=
             KW_OK))
        goto out;
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK ||
        (r = kw_store_roster_latest(srv->store, caller.account_id, &version, &cur, &cur_len)) !=
            KW_OK ||
        (r = kw_api_kk_generation(srv, caller.account_id, &cur_gen)) != KW_OK ||
        (r = kw_store_device_list(srv->store, caller.account_id, &list, &n)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account state");
        goto out;
    }
    if (gen != cur_gen) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the recovery wrap must wrap generation %lld",
                         (long long)cur_gen);
        goto out;
    }
    expect = calloc(n + 1, sizeof(*expect));
    if (expect == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (list[i].state == KW_DEVICE_TRUSTED)
            expect[k++] = list[i];
    if ((r = kw_api_roster_check(resp, acct.account_pk, acct.name, roster, roster_len, version + 1,
                                 expect, k)) != KW_OK)
        goto out;
    kw_store_roster_change ch = {.account_id = caller.account_id,
                                 .roster_version = version + 1,
                                 .roster = roster,
                                 .roster_len = roster_len,
                                 .kk_generation = cur_gen,
                                 .recovery_wrap = rwrap,
                                 .recovery_wrap_len = rwrap_len,
                                 .recovery_auth = auth,
                                 .keychain_version = keychain != NULL ? kc_version : 0,
                                 .keychain = keychain,
                                 .keychain_len = keychain_len};
    if ((r = kw_store_roster_apply(srv->store, &ch)) != KW_OK) {
        r = kw_api_store_fail(resp, r, keychain != NULL ? "roster, keychain or recovery wrap"
                                                        : "roster or recovery wrap");
        goto out;
    }
    kw_http_json(resp, 200,
                 kw_api_kt_roster_answer(srv, acct.name, roster, roster_len, json_object()));
    r = KW_OK;
out:
    sodium_memzero(auth, sizeof(auth));
    free(rwrap);
    free(roster);
    free(keychain);
    free(cur);
    free(list);
    free(expect);
    kw_store_account_clear(&acct);
    return r;
}

static int recovery_get(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t *wrap = NULL, *blob = NULL, auth[32];
    size_t wrap_len = 0, blob_len = 0;
    int64_t gen = 0, version = 0;
    json_t *out = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    r = kw_store_recovery_get(srv->store, caller.account_id, &gen, &wrap, &wrap_len, auth);
    sodium_memzero(auth, sizeof(auth));
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "recovery key");
    if ((r = kw_store_keychain_get(srv->store, caller.account_id, &version, &blob, &blob_len)) !=
        KW_OK) {
        r = kw_api_store_fail(resp, r, "keychain");
        goto out;
    }
    out = json_pack("{s:I,s:I}", "generation", (json_int_t)gen, "keychain_version",
                    (json_int_t)version);
    if (out == NULL || kw_api_put_b64(out, "recovery_wrap", wrap, wrap_len) != KW_OK ||
        kw_api_put_b64(out, "keychain", blob, blob_len) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(wrap);
    free(blob);
    return r;
}

static int join_recovery(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"roster", "wrap", NULL};
    kw_api_caller caller;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if (caller.device_state != KW_DEVICE_PENDING)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "the calling device is not pending");
    return kw_api_roster_add_device(req, resp, &caller, caller.device_id);
}

const kw_http_route kw_api_recovery_routes[] = {
    {"POST", "/v1/recovery", recovery_put, KW_API_KEYCHAIN_BODY_LIMIT},
    {"GET", "/v1/recovery", recovery_get, 0},
    {"POST", "/v1/devices/join-recovery", join_recovery, 0},
};
const size_t kw_api_recovery_nroutes =
    sizeof(kw_api_recovery_routes) / sizeof(kw_api_recovery_routes[0]);
