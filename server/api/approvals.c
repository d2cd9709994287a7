/*
 * Approval codes: a trusted device asks for a 6-digit code that a new
 * device then presents as its second factor. Only a keyed hash of the code
 * is stored (HMAC-SHA256 under the server's code_key, bound to the account),
 * so a copy of the database does not give live codes away; the store makes
 * the code single-use with a 300 s lifetime and a budget of 5 attempts.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/err.h"

int kw_api_get_code(kw_http_resp *resp, json_t *obj, const char *field,
                    char code[KW_API_CODE_DIGITS + 1])
{
    const char *s;
    memset(code, 0, KW_API_CODE_DIGITS + 1);
    int r = kw_api_get_str(resp, obj, field, 16, &s);
    if (r != KW_OK)
        return r;
    if (strlen(s) != KW_API_CODE_DIGITS)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' must be %d digits", field,
                            KW_API_CODE_DIGITS);
    for (size_t i = 0; i < KW_API_CODE_DIGITS; i++)
        if (s[i] < '0' || s[i] > '9')
            return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' must be %d digits", field,
                                KW_API_CODE_DIGITS);
    memcpy(code, s, KW_API_CODE_DIGITS);
    return KW_OK;
}

void kw_api_approval_hash(const kw_server *srv, int64_t account_id, const char *code,
                          uint8_t hash[KW_STORE_HASH_BYTES])
{
    static const char label[] = "keyward-approval-v1";
    crypto_auth_hmacsha256_state st;
    uint8_t acc[8];
    for (size_t i = 0; i < 8; i++)
        acc[i] = (uint8_t)((uint64_t)account_id >> (56 - 8 * i));
    crypto_auth_hmacsha256_init(&st, srv->keys->code_key, sizeof(srv->keys->code_key));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, sizeof(label));
    crypto_auth_hmacsha256_update(&st, acc, sizeof(acc));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)code, strlen(code));
    crypto_auth_hmacsha256_final(&st, hash);
    sodium_memzero(&st, sizeof(st));
}

static int approvals_create(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    char key[24], code[KW_API_CODE_DIGITS + 1];
    uint8_t hash[KW_STORE_HASH_BYTES];
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    kw_api_rl_account_key(key, caller.account_id);
    if ((r = kw_api_rl_check(srv, resp, KW_RL_APPROVAL_CREATE, key)) != KW_OK)
        return r;
    kw_api_rl_hit(srv, KW_RL_APPROVAL_CREATE, key);
    snprintf(code, sizeof(code), "%06u", (unsigned)randombytes_uniform(1000000));
    kw_api_approval_hash(srv, caller.account_id, code, hash);
    int64_t expires_at = kw_api_now(srv) + KW_SERVER_APPROVAL_TTL;
    r = kw_store_approval_put(srv->store, caller.account_id, hash, expires_at,
                              KW_SERVER_APPROVAL_ATTEMPTS);
    sodium_memzero(hash, sizeof(hash));
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "approval code");
        goto out;
    }
    json_t *out = json_pack("{s:s,s:I}", "code", code, "expires_at", (json_int_t)expires_at);
    if (out == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    r = KW_OK;
out:
    sodium_memzero(code, sizeof(code));
    return r;
}

const kw_http_route kw_api_approvals_routes[] = {
    {"POST", "/v1/approvals", approvals_create, 0},
};
const size_t kw_api_approvals_nroutes =
    sizeof(kw_api_approvals_routes) / sizeof(kw_api_approvals_routes[0]);
