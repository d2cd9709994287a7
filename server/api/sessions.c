/*
 * Sessions: list the account's live sessions, revoke one, log out. A
 * session's public id is the base64url of its token hash (the token itself
 * is never stored). Revoking another session needs a trusted device; any
 * signed-in device may revoke its own.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/codec.h"
#include "keyward/err.h"

static int sessions_list(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_session *list = NULL;
    size_t n = 0;
    json_t *out = NULL, *arr;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_session_list(srv->store, caller.account_id, &list, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "sessions");
    int64_t now = kw_api_now(srv);
    r = KW_ERR_NOMEM;
    out = json_object();
    arr = json_array();
    if (out == NULL || arr == NULL || json_object_set_new(out, "sessions", arr) != 0) {
        json_decref(arr);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].revoked || list[i].expires_at <= now)
            continue;
        bool current = sodium_memcmp(list[i].hash, caller.session_hash, KW_STORE_HASH_BYTES) == 0;
        json_t *s = json_pack("{s:I,s:I,s:b}", "created_at", (json_int_t)list[i].created_at,
                              "expires_at", (json_int_t)list[i].expires_at, "current", current);
        if (s == NULL || json_array_append_new(arr, s) != 0 ||
            kw_api_put_b64(s, "id", list[i].hash, KW_STORE_HASH_BYTES) != KW_OK ||
            kw_api_put_b64(s, "device_id", list[i].device_id, KW_STORE_ID_BYTES) != KW_OK)
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

static int sessions_revoke(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t hash[KW_STORE_HASH_BYTES];
    size_t n = 0;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK ||
        (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    if (strlen(req->params[0]) != kw_b64url_encoded_len(KW_STORE_HASH_BYTES) ||
        kw_b64url_decode(hash, sizeof(hash), &n, req->params[0], strlen(req->params[0])) != KW_OK ||
        n != sizeof(hash))
        return kw_http_fail(resp, KW_ERR_FORMAT, "session id is not a base64url token hash");
    bool own = sodium_memcmp(hash, caller.session_hash, sizeof(hash)) == 0;
    if (!own && caller.device_state != KW_DEVICE_TRUSTED)
        return kw_http_fail(resp, KW_ERR_VERIFY, "this needs a trusted device");
    r = kw_store_session_revoke(srv->store, caller.account_id, hash);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such session");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "session");
    kw_http_json(resp, 200, json_object());
    return KW_OK;
}

static int logout(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK ||
        (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    if ((r = kw_store_session_revoke(srv->store, caller.account_id, caller.session_hash)) != KW_OK)
        return kw_api_store_fail(resp, r, "session");
    kw_http_json(resp, 200, json_object());
    return KW_OK;
}

const kw_http_route kw_api_sessions_routes[] = {
    {"GET", "/v1/sessions", sessions_list, 0},
    {"POST", "/v1/sessions/{}/revoke", sessions_revoke, 0},
    {"POST", "/v1/logout", logout, 0},
};
const size_t kw_api_sessions_nroutes =
    sizeof(kw_api_sessions_routes) / sizeof(kw_api_sessions_routes[0]);
