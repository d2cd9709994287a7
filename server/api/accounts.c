/*
 * Accounts: OPAQUE registration (start answers from the OPRF seed with the
 * account name as credential identifier and stores nothing; finish creates
 * the account, its first device, roster v1, keychain v1, the device's KK
 * wrap and a session in one store transaction) and the public view of an
 * account (its account key and roster version, for contacts).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/sign.h"

static int register_start(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"name", "request", NULL};
    kw_server *srv = req->app;
    uint8_t request[KW_OPAQUE_REGISTRATION_REQUESTBYTES], response[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    const char *name;
    int r;
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, req->body, "name", KW_STORE_NAME_MAX, &name)) != KW_OK ||
        (r = kw_api_check_name(resp, name)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "request", request, sizeof(request))) != KW_OK)
        return r;
    r = kw_opaque_server_registration_response(kw_api_opaque(srv), response, request, sizeof(request),
                                               (const uint8_t *)name, strlen(name));
    if (r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED || r == KW_ERR_CRYPTO || r == KW_ERR_TOO_LARGE)
        return kw_http_fail(resp, KW_ERR_FORMAT, "request is not a valid registration request");
    if (r != KW_OK)
        return kw_http_fail(resp, KW_ERR_INTERNAL, "internal error");
    json_t *out = json_object();
    if (out == NULL || kw_api_put_b64(out, "response", response, sizeof(response)) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

static int register_finish(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"name", "record", "account_pk", "device",
                                         "roster", "keychain", "wrap", NULL};
    kw_server *srv = req->app;
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], account_pk[32];
    uint8_t raw[KW_SESSION_TOKEN_BYTES], session_hash[KW_STORE_HASH_BYTES];
    kw_opaque_registration_record rec;
    kw_store_device dev;
    uint8_t *roster = NULL, *keychain = NULL, *wrap = NULL;
    size_t roster_len = 0, keychain_len = 0, wrap_len = 0;
    char token[64] = {0};
    const char *name;
    json_t *out = NULL;
    int64_t account_id = 0;
    int r;
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, req->body, "name", KW_STORE_NAME_MAX, &name)) != KW_OK ||
        (r = kw_api_check_name(resp, name)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "record", record, sizeof(record))) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "account_pk", account_pk, 32)) != KW_OK ||
        (r = kw_api_get_device(resp, req->body, "device", &dev)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "roster", 1, KW_API_ROSTER_MAX, &roster, &roster_len)) !=
            KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "keychain", 1, KW_API_KEYCHAIN_MAX, &keychain,
                            &keychain_len)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "wrap", 1, KW_API_WRAP_MAX, &wrap, &wrap_len)) != KW_OK)
        goto out;
    if (kw_opaque_registration_record_parse(&rec, KW_OPAQUE_GROUP_RISTRETTO255, record,
                                            sizeof(record)) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "record is not a valid OPAQUE registration record");
        goto out;
    }
    if (kw_sign_pk_validate(account_pk) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "account_pk is not a valid Ed25519 key");
        goto out;
    }
    if ((r = kw_api_roster_check(resp, account_pk, name, roster, roster_len, 1, &dev, 1)) != KW_OK)
        goto out;
    randombytes_buf(raw, sizeof(raw));
    if ((r = kw_b64url_encode(token, sizeof(token), raw, sizeof(raw))) != KW_OK)
        goto out;
    kw_api_token_hash(token, session_hash);
    int64_t now = kw_api_now(srv);
    dev.created_at = dev.last_seen_at = now;
    dev.state = KW_DEVICE_TRUSTED;
    kw_store_new_account na = {.name = name,
                               .opaque_record = record,
                               .opaque_record_len = sizeof(record),
                               .account_pk = account_pk,
                               .device = &dev,
                               .roster = roster,
                               .roster_len = roster_len,
                               .keychain = keychain,
                               .keychain_len = keychain_len,
                               .device_wrap = wrap,
                               .device_wrap_len = wrap_len,
                               .session_hash = session_hash,
                               .session_expires_at = now + srv->session_ttl};
    r = kw_store_account_create(srv->store, &na, &account_id);
    if (r == KW_ERR_CONFLICT) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the name is taken (or the device is registered)");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    out = json_pack("{s:s,s:I}", "token", token, "expires_at", (json_int_t)na.session_expires_at);
    (void)kw_api_kt_roster_promise(srv, name, roster, roster_len, out); /* queued even if out is NULL */
    if (out == NULL || kw_api_put_b64(out, "device_id", dev.id, sizeof(dev.id)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(token, sizeof(token));
    free(roster);
    free(keychain);
    free(wrap);
    return r;
}

static int account_public(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_store_account acct = {0};
    uint8_t *roster = NULL;
    size_t len = 0;
    int64_t version = 0;
    json_t *out = NULL;
    const char *name = req->params[0];
    int r;
    if ((r = kw_api_check_name(resp, name)) != KW_OK)
        return r;
    r = kw_store_account_get_by_name(srv->store, name, &acct);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "account");
    if ((r = kw_store_roster_latest(srv->store, acct.id, &version, &roster, &len)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster");
        goto out;
    }
    out = json_pack("{s:s,s:I}", "name", acct.name, "roster_version", (json_int_t)version);
    if (out == NULL || kw_api_put_b64(out, "account_pk", acct.account_pk, 32) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(roster);
    kw_store_account_clear(&acct);
    return r;
}

const kw_http_route kw_api_accounts_routes[] = {
    {"POST", "/v1/accounts/register/start", register_start, 0},
    {"POST", "/v1/accounts/register/finish", register_finish, KW_API_KEYCHAIN_BODY_LIMIT},
    {"GET", "/v1/accounts/{}/public", account_public, 0},
};
const size_t kw_api_accounts_nroutes =
    sizeof(kw_api_accounts_routes) / sizeof(kw_api_accounts_routes[0]);
