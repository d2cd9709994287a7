/*
 * TOTP management: enable (with a current code proving the authenticator
 * holds the secret) and disable, from a trusted device. The secret is kept
 * encrypted under the server's totp_key (XChaCha20-Poly1305, the account id
 * as associated data so a secret cannot be moved to another account).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "keyward/err.h"
#include "keyward/totp.h"

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

static void account_ad(uint8_t ad[8 + 15], int64_t account_id)
{
    memcpy(ad, "keyward-totp-v1", 15);
    for (size_t i = 0; i < 8; i++)
        ad[15 + i] = (uint8_t)((uint64_t)account_id >> (56 - 8 * i));
}

int kw_api_totp_seal(const kw_server *srv, int64_t account_id, uint8_t *sealed, size_t *sealed_len,
                     const uint8_t *secret, size_t len)
{
    uint8_t ad[8 + 15];
    if (len > KW_TOTP_SECRET_MAX)
        return KW_ERR_TOO_LARGE;
    account_ad(ad, account_id);
    randombytes_buf(sealed, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + NONCE, NULL, secret, len, ad, sizeof(ad),
                                               NULL, sealed, srv->keys->totp_key);
    *sealed_len = NONCE + len + TAG;
    return KW_OK;
}

int kw_api_totp_open(const kw_server *srv, int64_t account_id, uint8_t *secret, size_t *len,
                     const uint8_t *sealed, size_t sealed_len)
{
    uint8_t ad[8 + 15];
    *len = 0;
    if (sealed_len < NONCE + TAG || sealed_len > KW_API_TOTP_SEALED_MAX)
        return KW_ERR_FORMAT;
    account_ad(ad, account_id);
    size_t n = sealed_len - NONCE - TAG;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(secret, NULL, NULL, sealed + NONCE,
                                                   sealed_len - NONCE, ad, sizeof(ad), sealed,
                                                   srv->keys->totp_key) != 0) {
        sodium_memzero(secret, n);
        return KW_ERR_VERIFY;
    }
    *len = n;
    return KW_OK;
}

static int totp_enable(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"secret", "code", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    uint8_t *secret = NULL;
    size_t slen = 0, sealed_len = 0;
    uint8_t sealed[KW_API_TOTP_SEALED_MAX];
    char code[KW_API_CODE_DIGITS + 1] = {0};
    uint64_t step = 0;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "secret", KW_TOTP_SECRET_MIN, KW_TOTP_SECRET_MAX,
                            &secret, &slen)) != KW_OK ||
        (r = kw_api_get_code(resp, req->body, "code", code)) != KW_OK)
        goto out;
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    if (acct.totp_secret != NULL) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "TOTP is already enabled; disable it first");
        goto out;
    }
    if (kw_totp_verify(&step, KW_TOTP_SHA1, secret, slen, (uint32_t)strtoul(code, NULL, 10),
                       (uint64_t)kw_api_now(srv), KW_TOTP_DEFAULT_PERIOD, KW_TOTP_DEFAULT_DIGITS,
                       1) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "the code does not match the secret");
        goto out;
    }
    /* Spend the step first, so the code that enabled TOTP cannot also sign
     * a device in. */
    r = kw_store_account_use_totp_step(srv->store, caller.account_id, (int64_t)step);
    if (r == KW_ERR_CONFLICT) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "this code was already used; wait for the next one");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "TOTP step");
        goto out;
    }
    if ((r = kw_api_totp_seal(srv, caller.account_id, sealed, &sealed_len, secret, slen)) != KW_OK)
        goto out;
    if ((r = kw_store_account_set_totp(srv->store, caller.account_id, sealed, sealed_len)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "TOTP secret");
        goto out;
    }
    kw_http_json(resp, 200, json_object());
    r = KW_OK;
out:
    if (secret != NULL) {
        sodium_memzero(secret, slen);
        free(secret);
    }
    sodium_memzero(code, sizeof(code));
    kw_store_account_clear(&acct);
    return r;
}

static int totp_disable(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    if ((r = kw_store_account_set_totp(srv->store, caller.account_id, NULL, 0)) != KW_OK)
        return kw_api_store_fail(resp, r, "TOTP secret");
    kw_http_json(resp, 200, json_object());
    return KW_OK;
}

const kw_http_route kw_api_totp_routes[] = {
    {"POST", "/v1/totp/enable", totp_enable, 0},
    {"POST", "/v1/totp/disable", totp_disable, 0},
};
const size_t kw_api_totp_nroutes = sizeof(kw_api_totp_routes) / sizeof(kw_api_totp_routes[0]);
