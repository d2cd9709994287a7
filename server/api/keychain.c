/*
 * The keychain: the current encrypted keychain with the calling device's
 * wrap of the current KK generation, and the chain blobs that let a device
 * walk back to older generations. All of it is opaque to the server.
 */
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/err.h"

static int keychain_get(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t *blob = NULL, *wrap = NULL;
    size_t blob_len = 0, wrap_len = 0;
    int64_t version = 0, gen = 0;
    json_t *out = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    r = kw_store_kk_wrap_get(srv->store, caller.account_id, caller.device_id, &gen, &wrap, &wrap_len);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "this device has no wrap of the current key");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "wrap");
    if ((r = kw_store_keychain_get(srv->store, caller.account_id, &version, &blob, &blob_len)) !=
        KW_OK) {
        r = kw_api_store_fail(resp, r, "keychain");
        goto out;
    }
    out = json_pack("{s:I,s:I}", "version", (json_int_t)version, "generation", (json_int_t)gen);
    if (out == NULL || kw_api_put_b64(out, "keychain", blob, blob_len) != KW_OK ||
        kw_api_put_b64(out, "wrap", wrap, wrap_len) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(blob);
    free(wrap);
    return r;
}

static int chain_get(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t *blob = NULL;
    size_t len = 0;
    char *end = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK)
        return r;
    const char *p = req->params[0];
    long long g = strtoll(p, &end, 10);
    if (p[0] < '1' || p[0] > '9' || *end != '\0' || strlen(p) > 18 || g < 1)
        return kw_http_fail(resp, KW_ERR_FORMAT, "generations are positive integers");
    if ((r = kw_store_kk_chain_get(srv->store, caller.account_id, (int64_t)g, &blob, &len)) != KW_OK)
        return kw_api_store_fail(resp, r, "chain of that generation");
    json_t *out = json_object();
    if (out == NULL || kw_api_put_b64(out, "chain", blob, len) != KW_OK) {
        json_decref(out);
        free(blob);
        return KW_ERR_NOMEM;
    }
    free(blob);
    kw_http_json(resp, 200, out);
    return KW_OK;
}

const kw_http_route kw_api_keychain_routes[] = {
    {"GET", "/v1/keychain", keychain_get, 0},
    {"GET", "/v1/keychain/chain/{}", chain_get, 0},
};
const size_t kw_api_keychain_nroutes =
    sizeof(kw_api_keychain_routes) / sizeof(kw_api_keychain_routes[0]);
