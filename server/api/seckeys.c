/*
 * Security keys (WebAuthn) as the account's required second factor: the
 * /v1/seckeys routes (list, register, rename, remove, policy, challenges)
 * and the helpers other areas call to verify an assertion for an
 * operation (api/seckeys.h). The relying-party checks themselves are
 * libkeyward's (keyward/webauthn.h); what is here is their server half:
 * challenges that are random, single use, expiring and bound to the account
 * and the operation (store/seckey.h), the origin allow-list and rp id from
 * the configuration, credential ids unique across accounts, the signature
 * counter stored with a compare-and-swap, and the policy rules of issue 4.
 *
 * Request parsing: every field is size-limited before decoding (client
 * data 4 KiB, authenticator data 4 KiB, attestation object 32 KiB,
 * signature 1 KiB, credential id 1023 bytes); unknown fields are refused.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "api/seckeys.h"
#include "config.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/webauthn.h"
#include "store/web.h"

#define SK_ORIGINS_MAX 16
#define SK_ORIGIN_MAX 256
#define SK_RPID_MAX 253
#define SK_TIMEOUT_DEFAULT_MS 120000
#define SK_REG_BODY_LIMIT (64u * 1024)
#define SK_DEFAULT_ORIGINS "http://localhost:*,https://localhost:*"

struct kw_api_seckeys {
    char rp_id[SK_RPID_MAX + 1];
    char *origins_buf;
    const char *origins[SK_ORIGINS_MAX];
    size_t n_origins;
    int64_t timeout_ms;
    bool require_uv; /* webauthn.user_verification = required */
};

static const int32_t sk_algs[] = {KW_COSE_ES256, KW_COSE_EDDSA, KW_COSE_ES384, KW_COSE_RS256};
#define SK_NALGS (sizeof(sk_algs) / sizeof(sk_algs[0]))

/* ---- lifecycle ---- */

void kw_api_seckeys_stop(kw_server *srv)
{
    if (srv == NULL || srv->seckeys == NULL)
        return;
    free(srv->seckeys->origins_buf);
    free(srv->seckeys);
    srv->seckeys = NULL;
}

int kw_api_seckeys_start(kw_server *srv)
{
    struct kw_api_seckeys *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KW_ERR_NOMEM;
    const char *rp = srv->cfg != NULL ? kw_config_get(srv->cfg, "webauthn.rp_id") : NULL;
    const char *orig = srv->cfg != NULL ? kw_config_get(srv->cfg, "webauthn.origins") : NULL;
    const char *tmo = srv->cfg != NULL ? kw_config_get(srv->cfg, "webauthn.timeout_ms") : NULL;
    const char *uv = srv->cfg != NULL ? kw_config_get(srv->cfg, "webauthn.user_verification") : NULL;
    if (uv != NULL && strcmp(uv, "required") != 0 && strcmp(uv, "discouraged") != 0) {
        fprintf(stderr, "level=error event=config_invalid key=webauthn.user_verification\n");
        free(s);
        return KW_ERR_INVALID_ARG;
    }
    s->require_uv = uv != NULL && strcmp(uv, "required") == 0;
    if (rp == NULL)
        rp = "localhost";
    if (orig == NULL)
        orig = SK_DEFAULT_ORIGINS;
    size_t rplen = strlen(rp);
    if (rplen == 0 || rplen > SK_RPID_MAX || strspn(rp, "abcdefghijklmnopqrstuvwxyz0123456789.-") != rplen) {
        fprintf(stderr, "level=error event=config_invalid key=webauthn.rp_id\n");
        goto bad;
    }
    memcpy(s->rp_id, rp, rplen + 1);
    s->timeout_ms = SK_TIMEOUT_DEFAULT_MS;
    if (tmo != NULL) {
        char *end = NULL;
        long long v = strtoll(tmo, &end, 10);
        if (end == tmo || *end != '\0' || v < 10000 || v > 600000) {
            fprintf(stderr, "level=error event=config_invalid key=webauthn.timeout_ms\n");
            goto bad;
        }
        s->timeout_ms = v;
    }
    if ((s->origins_buf = strdup(orig)) == NULL) {
        free(s);
        return KW_ERR_NOMEM;
    }
    for (char *save = NULL, *tok = strtok_r(s->origins_buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && tok[n - 1] == ' ')
            tok[--n] = '\0';
        if (n == 0)
            continue;
        if (s->n_origins == SK_ORIGINS_MAX || n >= SK_ORIGIN_MAX ||
            (strncmp(tok, "https://", 8) != 0 && strncmp(tok, "http://", 7) != 0)) {
            fprintf(stderr, "level=error event=config_invalid key=webauthn.origins\n");
            goto bad;
        }
        s->origins[s->n_origins++] = tok;
    }
    if (s->n_origins == 0) {
        fprintf(stderr, "level=error event=config_invalid key=webauthn.origins\n");
        goto bad;
    }
    srv->seckeys = s;
    return KW_OK;
bad:
    free(s->origins_buf);
    free(s);
    return KW_ERR_INVALID_ARG;
}

/* ---- helpers ---- */

/* The allowed origins for one ceremony: the configured ones, where an entry
 * "scheme://host:*" stands for the client data's origin when that is the
 * same scheme and host with a decimal port. */
static size_t sk_origins_for(const struct kw_api_seckeys *s, const char *cd_origin,
                             const char *out[SK_ORIGINS_MAX])
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_origins; i++) {
        const char *o = s->origins[i];
        size_t len = strlen(o);
        if (len >= 2 && strcmp(o + len - 2, ":*") == 0) {
            if (cd_origin == NULL || strncmp(cd_origin, o, len - 1) != 0)
                continue;
            const char *port = cd_origin + len - 1;
            size_t digits = strspn(port, "0123456789");
            if (digits >= 1 && digits <= 5 && port[digits] == '\0' && port[0] != '0')
                out[n++] = cd_origin;
        } else {
            out[n++] = o;
        }
    }
    return n;
}

static void sk_policy(const struct kw_api_seckeys *s, kw_webauthn_policy *pol,
                      const char *const *origins, size_t n)
{
    memset(pol, 0, sizeof(*pol));
    pol->rp_id = s->rp_id;
    pol->origins = origins;
    pol->n_origins = n;
    pol->algs = sk_algs;
    pol->n_algs = SK_NALGS;
    pol->attestation = KW_WEBAUTHN_ATTEST_ANY;
    pol->require_uv = s->require_uv;
}

static const char *sk_uv(const struct kw_api_seckeys *s)
{
    return s->require_uv ? "required" : "discouraged";
}

/* The opaque WebAuthn user handle of an account: 16 bytes keyed by the
 * server's code key, so it names no account id to the authenticator. */
static void sk_user_handle(const kw_server *srv, int64_t account_id, uint8_t out[16])
{
    uint8_t in[8 + 16];
    memcpy(in, "kw-user-", 8);
    for (int i = 0; i < 8; i++)
        in[8 + i] = (uint8_t)((uint64_t)account_id >> (56 - 8 * i));
    memset(in + 16, 0, 8);
    crypto_generichash(out, 16, in, sizeof(in), srv->keys->code_key, sizeof(srv->keys->code_key));
}

/* Reads clientDataJSON's "challenge" (32 bytes) and "origin" with jansson,
 * only to find the stored challenge and pick the origin; the strict checks
 * are kw_webauthn_*'s. */
static int sk_peek_client_data(kw_http_resp *resp, const uint8_t *cdj, size_t len,
                               uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES],
                               char origin[SK_ORIGIN_MAX])
{
    json_error_t err;
    size_t n = 0;
    int r = KW_OK;
    json_t *o = json_loadb((const char *)cdj, len, JSON_REJECT_DUPLICATES, &err);
    const char *ch = json_string_value(json_object_get(o, "challenge"));
    const char *org = json_string_value(json_object_get(o, "origin"));
    if (!json_is_object(o) || ch == NULL || org == NULL || strlen(org) >= SK_ORIGIN_MAX ||
        kw_b64url_decode(challenge, KW_STORE_SECKEY_CHALLENGE_BYTES, &n, ch, strlen(ch)) != KW_OK ||
        n != KW_STORE_SECKEY_CHALLENGE_BYTES)
        r = kw_http_fail(resp, KW_ERR_FORMAT, "clientDataJSON has no valid challenge or origin");
    else
        snprintf(origin, SK_ORIGIN_MAX, "%s", org);
    json_decref(o);
    return r;
}

static void sk_to_cred(kw_webauthn_credential *cred, const kw_store_seckey *k)
{
    memset(cred, 0, sizeof(*cred));
    memcpy(cred->id, k->cred_id, k->cred_id_len);
    cred->id_len = k->cred_id_len;
    memcpy(cred->cose_key, k->cose_key, k->cose_key_len);
    cred->cose_key_len = k->cose_key_len;
    cred->alg = k->alg;
    cred->sign_count = k->sign_count;
    cred->backup_eligible = k->backup_eligible;
    cred->backup_state = k->backup_state;
    cred->uv_initialized = k->uv_initialized;
    memcpy(cred->aaguid, k->aaguid, sizeof(cred->aaguid));
    cred->att_type = k->att_type;
}

static const char *sk_alg_name(int32_t alg)
{
    switch (alg) {
    case KW_COSE_ES256: return "ES256";
    case KW_COSE_ES384: return "ES384";
    case KW_COSE_EDDSA: return "EdDSA";
    case KW_COSE_RS256: return "RS256";
    default: return "unknown";
    }
}

static json_t *sk_key_json(const kw_store_seckey *k)
{
    json_t *o = json_pack("{s:I,s:s,s:s,s:I,s:I,s:b,s:b}", "id", (json_int_t)k->id, "name", k->name,
                          "alg", sk_alg_name(k->alg), "created_at", (json_int_t)k->created_at,
                          "last_used_at", (json_int_t)k->last_used_at, "backup_eligible",
                          k->backup_eligible, "backup_state", k->backup_state);
    char aaguid[33];
    if (o == NULL || kw_api_put_b64(o, "credential_id", k->cred_id, k->cred_id_len) != KW_OK ||
        kw_hex_encode(aaguid, sizeof(aaguid), k->aaguid, sizeof(k->aaguid)) != KW_OK ||
        json_object_set_new(o, "aaguid", json_string(aaguid)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *sk_cred_list(const kw_store_seckey *keys, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        json_t *e = json_pack("{s:s}", "type", "public-key");
        if (e == NULL || kw_api_put_b64(e, "id", keys[i].cred_id, keys[i].cred_id_len) != KW_OK ||
            json_array_append_new(a, e) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static bool sk_op_known(const char *op)
{
    static const char *const ops[] = {KW_STORE_SECKEY_OP_REGISTER,   KW_STORE_SECKEY_OP_LOGIN,
                                      KW_STORE_SECKEY_OP_WEB_LOGIN,  KW_STORE_SECKEY_OP_PASSWORD,
                                      KW_STORE_SECKEY_OP_KEY_ADD,    KW_STORE_SECKEY_OP_KEY_REMOVE,
                                      KW_STORE_SECKEY_OP_RECOVERY,   KW_STORE_SECKEY_OP_POLICY};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(op, ops[i]) == 0)
            return true;
    return false;
}

/* A fresh challenge stored for (account, op). */
static int sk_new_challenge(kw_server *srv, int64_t account_id, const char *op,
                            uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES])
{
    int64_t now = kw_api_now(srv);
    kw_webauthn_challenge_new(ch);
    return kw_store_seckey_challenge_put(srv->store, account_id, op, ch, now,
                                         now + (srv->seckeys->timeout_ms + 999) / 1000);
}

/* ---- helpers for the other areas ---- */

int kw_api_seckey_required(kw_server *srv, int64_t account_id, bool *on)
{
    *on = false;
    if (srv->seckeys == NULL)
        return KW_OK;
    return kw_store_seckey_policy_get(srv->store, account_id, on);
}

int kw_api_seckey_challenge(kw_server *srv, int64_t account_id, const char *op, json_t **options)
{
    kw_store_seckey *keys = NULL;
    size_t n = 0;
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES];
    json_t *o = NULL, *allow = NULL;
    *options = NULL;
    if (srv->seckeys == NULL)
        return KW_ERR_UNSUPPORTED;
    if (op == NULL || !sk_op_known(op))
        return KW_ERR_INVALID_ARG;
    int r = kw_store_seckey_list(srv->store, account_id, &keys, &n);
    if (r != KW_OK)
        goto out;
    if (n == 0) {
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    if ((r = sk_new_challenge(srv, account_id, op, ch)) != KW_OK)
        goto out;
    allow = sk_cred_list(keys, n);
    o = json_pack("{s:s,s:I,s:s}", "rpId", srv->seckeys->rp_id, "timeout",
                  (json_int_t)srv->seckeys->timeout_ms, "userVerification", sk_uv(srv->seckeys));
    if (allow == NULL || o == NULL || kw_api_put_b64(o, "challenge", ch, sizeof(ch)) != KW_OK ||
        json_object_set(o, "allowCredentials", allow) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    *options = o;
    o = NULL;
    r = KW_OK;
out:
    json_decref(o);
    json_decref(allow);
    free(keys);
    return r;
}

int kw_api_seckey_verify(kw_server *srv, kw_http_resp *resp, int64_t account_id, const char *op,
                         json_t *assertion, int64_t *key_id)
{
    static const char *const fields[] = {"id",   "rawId", "type", "response", "clientExtensionResults",
                                         "authenticatorAttachment", NULL};
    static const char *const rfields[] = {"clientDataJSON", "authenticatorData", "signature",
                                          "userHandle", NULL};
    uint8_t *raw = NULL, *cdj = NULL, *ad = NULL, *sig = NULL;
    size_t raw_len = 0, cdj_len = 0, ad_len = 0, sig_len = 0, n = 0;
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES];
    char origin[SK_ORIGIN_MAX];
    const char *origins[SK_ORIGINS_MAX], *id_str, *type;
    kw_store_seckey *keys = NULL;
    kw_webauthn_bytes *allow = NULL;
    kw_webauthn_credential *cred = NULL;
    kw_webauthn_policy pol;
    kw_webauthn_reason why = KW_WEBAUTHN_R_OK;
    json_t *rsp;
    int r;
    if (key_id != NULL)
        *key_id = 0;
    if (srv->seckeys == NULL)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "security keys are not enabled on this server");
    if (!json_is_object(assertion))
        return kw_http_fail(resp, KW_ERR_FORMAT, "the assertion must be an object");
    if ((r = kw_api_only_fields(resp, assertion, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, assertion, "type", 16, &type)) != KW_OK ||
        (r = kw_api_get_str(resp, assertion, "id", kw_b64url_encoded_len(KW_WEBAUTHN_CREDID_MAXBYTES),
                            &id_str)) != KW_OK)
        return r;
    if (strcmp(type, "public-key") != 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the credential type must be \"public-key\"");
    rsp = json_object_get(assertion, "response");
    if (!json_is_object(rsp))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'response' must be an object");
    if ((r = kw_api_only_fields(resp, rsp, rfields)) != KW_OK)
        return r;
    if ((r = kw_api_get_b64(resp, assertion, "rawId", 1, KW_WEBAUTHN_CREDID_MAXBYTES, &raw,
                            &raw_len)) != KW_OK ||
        (r = kw_api_get_b64(resp, rsp, "clientDataJSON", 1, KW_WEBAUTHN_CLIENTDATA_MAXBYTES, &cdj,
                            &cdj_len)) != KW_OK ||
        (r = kw_api_get_b64(resp, rsp, "authenticatorData", 37, KW_WEBAUTHN_AUTHDATA_MAXBYTES, &ad,
                            &ad_len)) != KW_OK ||
        (r = kw_api_get_b64(resp, rsp, "signature", 1, KW_WEBAUTHN_SIG_MAXBYTES, &sig, &sig_len)) !=
            KW_OK)
        goto out;
    if (strcmp(id_str, json_string_value(json_object_get(assertion, "rawId"))) != 0) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "fields 'id' and 'rawId' differ");
        goto out;
    }
    if ((r = sk_peek_client_data(resp, cdj, cdj_len, ch, origin)) != KW_OK)
        goto out;
    /* single use: taken (deleted) here, whatever happens next */
    r = kw_store_seckey_challenge_take(srv->store, account_id, op, ch, kw_api_now(srv));
    if (r == KW_ERR_NOT_FOUND) {
        r = kw_http_fail(resp, KW_ERR_VERIFY,
                         "security key check failed: the challenge is unknown, expired, already "
                         "used, or for another account or operation");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "security key challenge");
        goto out;
    }
    if ((r = kw_store_seckey_list(srv->store, account_id, &keys, &n)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "security keys");
        goto out;
    }
    const kw_store_seckey *k = NULL;
    allow = calloc(n + 1, sizeof(*allow));
    cred = malloc(sizeof(*cred));
    if (allow == NULL || cred == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        allow[i].ptr = keys[i].cred_id;
        allow[i].len = keys[i].cred_id_len;
        if (keys[i].cred_id_len == raw_len && memcmp(keys[i].cred_id, raw, raw_len) == 0)
            k = &keys[i];
    }
    if (k == NULL) {
        r = kw_http_fail(resp, KW_ERR_VERIFY,
                         "security key check failed: this key is not registered to the account");
        goto out;
    }
    sk_to_cred(cred, k);
    size_t no = sk_origins_for(srv->seckeys, origin, origins);
    sk_policy(srv->seckeys, &pol, origins, no);
    kw_webauthn_assertion as = {raw, raw_len, cdj, cdj_len, ad, ad_len, sig, sig_len};
    if (no == 0) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "security key check failed: %s",
                         kw_webauthn_reason_str(KW_WEBAUTHN_R_WRONG_ORIGIN));
        goto out;
    }
    r = kw_webauthn_assert_verify(cred, &why, &pol, ch, sizeof(ch), allow, n, &as);
    if (r == KW_ERR_CONFLICT || why == KW_WEBAUTHN_R_COUNTER_REGRESSION) {
        fprintf(stderr,
                "level=warn event=seckey_counter_regression account=%lld key=%lld stored=%u\n",
                (long long)account_id, (long long)k->id, k->sign_count);
        r = kw_http_fail(resp, KW_ERR_VERIFY,
                         "security key check failed: %s; the key may be cloned",
                         kw_webauthn_reason_str(why));
        goto out;
    }
    if (r != KW_OK) {
        int code = (r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED) ? KW_ERR_FORMAT
                   : r == KW_ERR_TOO_LARGE                         ? KW_ERR_TOO_LARGE
                   : r == KW_ERR_NOMEM                             ? KW_ERR_NOMEM
                                                                   : KW_ERR_VERIFY;
        r = kw_http_fail(resp, code, "security key check failed: %s", kw_webauthn_reason_str(why));
        goto out;
    }
    r = kw_store_seckey_use(srv->store, account_id, k->id, k->sign_count, cred->sign_count,
                            cred->backup_state, kw_api_now(srv));
    if (r == KW_ERR_CONFLICT) {
        fprintf(stderr, "level=warn event=seckey_counter_race account=%lld key=%lld\n",
                (long long)account_id, (long long)k->id);
        r = kw_http_fail(resp, KW_ERR_VERIFY,
                         "security key check failed: the key was used concurrently");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "security key");
        goto out;
    }
    if (key_id != NULL)
        *key_id = k->id;
    r = KW_OK;
out:
    free(raw);
    free(cdj);
    free(ad);
    free(sig);
    free(keys);
    free(allow);
    free(cred);
    return r;
}

int kw_api_seckey_gate(kw_server *srv, kw_http_resp *resp, int64_t account_id, const char *op,
                       json_t *body, const char *field, bool *verified)
{
    bool on = false;
    json_t *a = body != NULL ? json_object_get(body, field) : NULL;
    if (verified != NULL)
        *verified = false;
    int r = kw_api_seckey_required(srv, account_id, &on);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "security key policy");
    if (a == NULL) {
        if (on)
            return kw_http_fail(resp, KW_ERR_VERIFY,
                                "security key assertion required: the account requires a "
                                "security key for this (challenge operation \"%s\")",
                                op);
        return KW_OK;
    }
    if ((r = kw_api_seckey_verify(srv, resp, account_id, op, a, NULL)) != KW_OK)
        return r;
    if (verified != NULL)
        *verified = true;
    return KW_OK;
}

/* ---- routes ---- */

static int sk_parse_key_id(kw_http_resp *resp, const char *s, int64_t *id)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n || s[0] == '0')
        return kw_http_fail(resp, KW_ERR_FORMAT, "a key id is a positive decimal number");
    *id = strtoll(s, NULL, 10);
    return KW_OK;
}

static int sk_auth(kw_http_req *req, kw_http_resp *resp, kw_api_caller *caller)
{
    kw_server *srv = req->app;
    if (srv->seckeys == NULL)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "security keys are not enabled on this server");
    return kw_api_auth_any(req, resp, true, caller);
}

static int seckeys_list(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_seckey *keys = NULL;
    size_t n = 0;
    bool on = false;
    json_t *out = NULL, *arr = NULL;
    int r;
    if ((r = sk_auth(req, resp, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_seckey_list(srv->store, caller.account_id, &keys, &n)) != KW_OK ||
        (r = kw_store_seckey_policy_get(srv->store, caller.account_id, &on)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "security keys");
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (json_array_append_new(arr, sk_key_json(&keys[i])) != 0) {
            r = KW_ERR_NOMEM;
            goto out;
        }
    }
    out = json_pack("{s:b,s:i,s:i,s:s}", "policy", on, "max", KW_STORE_SECKEY_MAX, "policy_min",
                    KW_STORE_SECKEY_POLICY_MIN, "rp_id", srv->seckeys->rp_id);
    if (arr == NULL || out == NULL || json_object_set_new(out, "keys", arr) != 0) {
        arr = NULL;
        r = KW_ERR_NOMEM;
        goto out;
    }
    arr = NULL;
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    json_decref(arr);
    free(keys);
    return r;
}

static int seckeys_challenge(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"op", NULL};
    static const char *const allowed[] = {KW_STORE_SECKEY_OP_PASSWORD, KW_STORE_SECKEY_OP_KEY_ADD,
                                          KW_STORE_SECKEY_OP_KEY_REMOVE, KW_STORE_SECKEY_OP_RECOVERY,
                                          KW_STORE_SECKEY_OP_POLICY};
    kw_server *srv = req->app;
    kw_api_caller caller;
    const char *op;
    json_t *opts = NULL;
    bool ok = false;
    int r;
    if ((r = sk_auth(req, resp, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, req->body, "op", KW_STORE_SECKEY_OP_MAX, &op)) != KW_OK)
        return r;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        ok = ok || strcmp(op, allowed[i]) == 0;
    if (!ok)
        return kw_http_fail(resp, KW_ERR_FORMAT,
                            "op must be password, key-add, key-remove, recovery or policy");
    r = kw_api_seckey_challenge(srv, caller.account_id, op, &opts);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "the account has no security keys");
    if (r == KW_ERR_LIMIT)
        return kw_http_fail(resp, KW_ERR_LIMIT, "too many security key challenges; try again later");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "security key challenge");
    json_t *out = json_pack("{s:o}", "publicKey", opts);
    if (out == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, out);
    return KW_OK;
}

static int seckeys_register_start(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    kw_store_seckey *keys = NULL;
    size_t n = 0;
    bool on = false;
    uint8_t ch[KW_STORE_SECKEY_CHALLENGE_BYTES], uh[16];
    json_t *out = NULL, *pk = NULL, *params = NULL, *excl = NULL;
    int r;
    if ((r = sk_auth(req, resp, &caller)) != KW_OK || (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK ||
        (r = kw_store_seckey_list(srv->store, caller.account_id, &keys, &n)) != KW_OK ||
        (r = kw_store_seckey_policy_get(srv->store, caller.account_id, &on)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    if (n >= KW_STORE_SECKEY_MAX) {
        r = kw_http_fail(resp, KW_ERR_LIMIT, "the account already has %d security keys",
                         KW_STORE_SECKEY_MAX);
        goto out;
    }
    r = sk_new_challenge(srv, caller.account_id, KW_STORE_SECKEY_OP_REGISTER, ch);
    if (r == KW_ERR_LIMIT) {
        r = kw_http_fail(resp, KW_ERR_LIMIT, "too many security key challenges; try again later");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "security key challenge");
        goto out;
    }
    sk_user_handle(srv, caller.account_id, uh);
    params = json_array();
    for (size_t i = 0; params != NULL && i < SK_NALGS; i++)
        if (json_array_append_new(params, json_pack("{s:s,s:i}", "type", "public-key", "alg",
                                                     (int)sk_algs[i])) != 0) {
            r = KW_ERR_NOMEM;
            goto out;
        }
    excl = sk_cred_list(keys, n);
    pk = json_pack("{s:{s:s,s:s},s:{s:s,s:s},s:I,s:s,s:{s:s,s:s,s:b}}", "rp", "id",
                   srv->seckeys->rp_id, "name", "keyward", "user", "name", acct.name, "displayName",
                   acct.name, "timeout", (json_int_t)srv->seckeys->timeout_ms, "attestation", "direct",
                   "authenticatorSelection", "userVerification", sk_uv(srv->seckeys), "residentKey",
                   "discouraged", "requireResidentKey", 0);
    if (params == NULL || excl == NULL || pk == NULL ||
        kw_api_put_b64(json_object_get(pk, "user"), "id", uh, sizeof(uh)) != KW_OK ||
        kw_api_put_b64(pk, "challenge", ch, sizeof(ch)) != KW_OK ||
        json_object_set(pk, "pubKeyCredParams", params) != 0 ||
        json_object_set(pk, "excludeCredentials", excl) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    out = json_pack("{s:O,s:b}", "publicKey", pk, "assertion_required", on);
    if (out == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    r = KW_OK;
out:
    json_decref(pk);
    json_decref(params);
    json_decref(excl);
    free(keys);
    kw_store_account_clear(&acct);
    return r;
}

static int seckeys_register_finish(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"credential", "name", "assertion", NULL};
    static const char *const cfields[] = {"id",       "rawId", "type", "response", "clientExtensionResults",
                                          "authenticatorAttachment", NULL};
    static const char *const rfields[] = {"clientDataJSON", "attestationObject", "transports",
                                          "publicKeyAlgorithm", "publicKey", "authenticatorData", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_webauthn_credential *cred = NULL;
    kw_webauthn_policy pol;
    kw_webauthn_reason why = KW_WEBAUTHN_R_OK;
    kw_store_seckey *k = NULL;
    uint8_t *raw = NULL, *cdj = NULL, *att = NULL, ch[KW_STORE_SECKEY_CHALLENGE_BYTES];
    size_t raw_len = 0, cdj_len = 0, att_len = 0, count = 0;
    char origin[SK_ORIGIN_MAX];
    const char *origins[SK_ORIGINS_MAX], *name = NULL, *type, *id_str;
    json_t *c, *rsp, *out = NULL;
    int r;
    if ((r = sk_auth(req, resp, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if (json_object_get(req->body, "name") != NULL &&
        ((r = kw_api_get_str(resp, req->body, "name", KW_STORE_NAME_MAX, &name)) != KW_OK ||
         (r = kw_api_check_name(resp, name)) != KW_OK))
        return r;
    c = json_object_get(req->body, "credential");
    if (!json_is_object(c))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'credential' must be an object");
    if ((r = kw_api_only_fields(resp, c, cfields)) != KW_OK ||
        (r = kw_api_get_str(resp, c, "type", 16, &type)) != KW_OK ||
        (r = kw_api_get_str(resp, c, "id", kw_b64url_encoded_len(KW_WEBAUTHN_CREDID_MAXBYTES),
                            &id_str)) != KW_OK)
        return r;
    if (strcmp(type, "public-key") != 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the credential type must be \"public-key\"");
    rsp = json_object_get(c, "response");
    if (!json_is_object(rsp))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'response' must be an object");
    if ((r = kw_api_only_fields(resp, rsp, rfields)) != KW_OK)
        return r;
    if ((r = kw_api_get_b64(resp, c, "rawId", 1, KW_WEBAUTHN_CREDID_MAXBYTES, &raw, &raw_len)) !=
            KW_OK ||
        (r = kw_api_get_b64(resp, rsp, "clientDataJSON", 1, KW_WEBAUTHN_CLIENTDATA_MAXBYTES, &cdj,
                            &cdj_len)) != KW_OK ||
        (r = kw_api_get_b64(resp, rsp, "attestationObject", 1, KW_WEBAUTHN_ATTOBJ_MAXBYTES, &att,
                            &att_len)) != KW_OK)
        goto out;
    if (strcmp(id_str, json_string_value(json_object_get(c, "rawId"))) != 0) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "fields 'id' and 'rawId' differ");
        goto out;
    }
    if ((r = sk_peek_client_data(resp, cdj, cdj_len, ch, origin)) != KW_OK)
        goto out;
    /* with the policy on, adding a key takes an assertion of a key already registered */
    if ((r = kw_api_seckey_gate(srv, resp, caller.account_id, KW_STORE_SECKEY_OP_KEY_ADD, req->body,
                                "assertion", NULL)) != KW_OK)
        goto out;
    r = kw_store_seckey_challenge_take(srv->store, caller.account_id, KW_STORE_SECKEY_OP_REGISTER,
                                       ch, kw_api_now(srv));
    if (r == KW_ERR_NOT_FOUND) {
        r = kw_http_fail(resp, KW_ERR_VERIFY,
                         "registration failed: the challenge is unknown, expired, already used, or "
                         "for another account or operation");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "security key challenge");
        goto out;
    }
    if ((cred = malloc(sizeof(*cred))) == NULL || (k = calloc(1, sizeof(*k))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    size_t no = sk_origins_for(srv->seckeys, origin, origins);
    if (no == 0) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "registration failed: %s",
                         kw_webauthn_reason_str(KW_WEBAUTHN_R_WRONG_ORIGIN));
        goto out;
    }
    sk_policy(srv->seckeys, &pol, origins, no);
    r = kw_webauthn_register_verify(cred, &why, &pol, ch, sizeof(ch), cdj, cdj_len, att, att_len);
    if (r != KW_OK) {
        int code = r == KW_ERR_UNSUPPORTED                           ? KW_ERR_UNSUPPORTED
                   : (r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED) ? KW_ERR_FORMAT
                   : r == KW_ERR_TOO_LARGE                         ? KW_ERR_TOO_LARGE
                   : r == KW_ERR_NOMEM                             ? KW_ERR_NOMEM
                                                                   : KW_ERR_VERIFY;
        r = kw_http_fail(resp, code, "registration failed: %s", kw_webauthn_reason_str(why));
        goto out;
    }
    if (cred->id_len != raw_len || memcmp(cred->id, raw, raw_len) != 0) {
        r = kw_http_fail(resp, KW_ERR_VERIFY,
                         "registration failed: rawId is not the attested credential id");
        goto out;
    }
    if ((r = kw_store_seckey_count(srv->store, caller.account_id, &count)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "security keys");
        goto out;
    }
    k->account_id = caller.account_id;
    memcpy(k->cred_id, cred->id, cred->id_len);
    k->cred_id_len = cred->id_len;
    memcpy(k->cose_key, cred->cose_key, cred->cose_key_len);
    k->cose_key_len = cred->cose_key_len;
    k->alg = cred->alg;
    k->sign_count = cred->sign_count;
    k->backup_eligible = cred->backup_eligible;
    k->backup_state = cred->backup_state;
    k->uv_initialized = cred->uv_initialized;
    k->att_type = cred->att_type;
    memcpy(k->aaguid, cred->aaguid, sizeof(k->aaguid));
    if (name != NULL)
        snprintf(k->name, sizeof(k->name), "%s", name);
    else
        snprintf(k->name, sizeof(k->name), "key-%zu", count + 1);
    k->created_at = kw_api_now(srv);
    r = kw_store_seckey_add(srv->store, k);
    if (r == KW_ERR_CONFLICT) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "this security key is already registered");
        goto out;
    }
    if (r == KW_ERR_LIMIT) {
        r = kw_http_fail(resp, KW_ERR_LIMIT, "the account already has %d security keys",
                         KW_STORE_SECKEY_MAX);
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "security key");
        goto out;
    }
    out = json_pack("{s:o}", "key", sk_key_json(k));
    if (out == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    r = KW_OK;
out:
    free(raw);
    free(cdj);
    free(att);
    free(cred);
    free(k);
    return r;
}

static int seckeys_rename(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"name", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    const char *name;
    int64_t id = 0;
    int r;
    if ((r = sk_auth(req, resp, &caller)) != KW_OK ||
        (r = sk_parse_key_id(resp, req->params[0], &id)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, req->body, "name", KW_STORE_NAME_MAX, &name)) != KW_OK ||
        (r = kw_api_check_name(resp, name)) != KW_OK)
        return r;
    r = kw_store_seckey_rename(srv->store, caller.account_id, id, name);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such security key");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "security key");
    kw_http_json(resp, 200, json_object());
    return KW_OK;
}

static int seckeys_remove(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"assertion", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_seckey k;
    bool verified = false, turned_off = false, on = false;
    size_t n = 0;
    int64_t id = 0;
    int r;
    if ((r = sk_auth(req, resp, &caller)) != KW_OK ||
        (r = sk_parse_key_id(resp, req->params[0], &id)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    r = kw_store_seckey_get(srv->store, caller.account_id, id, &k);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such security key");
    if (r != KW_OK || (r = kw_store_seckey_count(srv->store, caller.account_id, &n)) != KW_OK ||
        (r = kw_store_seckey_policy_get(srv->store, caller.account_id, &on)) != KW_OK)
        return kw_api_store_fail(resp, r, "security keys");
    bool below = on && n - 1 < KW_STORE_SECKEY_POLICY_MIN;
    if (below && caller.web)
        return kw_http_fail(resp, KW_ERR_VERIFY,
                            "removing this key turns the security-key requirement off: only a "
                            "trusted device may do that");
    if ((r = kw_api_seckey_gate(srv, resp, caller.account_id, KW_STORE_SECKEY_OP_KEY_REMOVE,
                                req->body, "assertion", &verified)) != KW_OK)
        return r;
    int flags = below && verified && !caller.web && caller.device_state == KW_DEVICE_TRUSTED
                    ? KW_STORE_SECKEY_RM_POLICY_OFF
                    : 0;
    r = kw_store_seckey_remove(srv->store, caller.account_id, id, flags, &turned_off);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such security key");
    if (r == KW_ERR_CONFLICT)
        return kw_http_fail(resp, KW_ERR_CONFLICT,
                            "the account requires at least %d security keys",
                            KW_STORE_SECKEY_POLICY_MIN);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "security key");
    if (turned_off)
        fprintf(stderr, "level=info event=seckey_policy_off account=%lld reason=below_minimum\n",
                (long long)caller.account_id);
    kw_http_json(resp, 200,
                 json_pack("{s:b,s:b}", "policy", on && !turned_off, "policy_turned_off", turned_off));
    return KW_OK;
}

/* Turning the policy on ends what was opened without a security key: the
 * sessions of pending devices (let in by a code while the policy was off;
 * they sign in again, now with a key, before they can use the recovery key,
 * a recovery passcode or contact to join) and the account's web sessions
 * but the caller's (web sign-in now takes a key). The policy is already
 * stored; a failure here is logged (level=error), not returned. */
static void sk_policy_on_revoke(kw_server *srv, const kw_api_caller *caller)
{
    kw_store_device *devs = NULL;
    kw_store_web_session *ws = NULL;
    size_t n = 0, revoked_dev = 0, revoked_web = 0;
    int r = kw_store_device_list(srv->store, caller->account_id, &devs, &n);
    for (size_t i = 0; r == KW_OK && i < n; i++) {
        if (devs[i].state != KW_DEVICE_PENDING)
            continue;
        int rr = kw_store_session_revoke_device(srv->store, devs[i].id);
        if (rr == KW_OK)
            revoked_dev++;
        else if (rr != KW_ERR_NOT_FOUND)
            r = rr;
    }
    free(devs);
    if (r != KW_OK)
        fprintf(stderr, "level=error event=seckey_policy_revoke what=pending_devices account=%lld error=%s\n",
                (long long)caller->account_id, kw_errname(r));
    n = 0;
    r = kw_store_web_session_list(srv->store, caller->account_id, kw_api_now(srv), &ws, &n);
    for (size_t i = 0; r == KW_OK && i < n; i++) {
        if (caller->web && sodium_memcmp(ws[i].id, caller->web_session_id, KW_STORE_ID_BYTES) == 0)
            continue;
        int rr = kw_store_web_session_revoke(srv->store, caller->account_id, ws[i].id);
        if (rr == KW_OK)
            revoked_web++;
        else if (rr != KW_ERR_NOT_FOUND)
            r = rr;
    }
    free(ws);
    if (r != KW_OK && r != KW_ERR_UNSUPPORTED)
        fprintf(stderr, "level=error event=seckey_policy_revoke what=web_sessions account=%lld error=%s\n",
                (long long)caller->account_id, kw_errname(r));
    fprintf(stderr, "level=info event=seckey_policy_revoke account=%lld pending_devices=%zu web_sessions=%zu\n",
            (long long)caller->account_id, revoked_dev, revoked_web);
}

static int seckeys_policy(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"enabled", "assertion", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    size_t n = 0;
    int r;
    if ((r = sk_auth(req, resp, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    json_t *en = json_object_get(req->body, "enabled");
    if (!json_is_boolean(en))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'enabled' must be true or false");
    bool want = json_is_true(en);
    if (!want && caller.web)
        return kw_http_fail(resp, KW_ERR_VERIFY,
                            "only a trusted device may turn the security-key requirement off");
    if ((r = kw_store_seckey_count(srv->store, caller.account_id, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "security keys");
    if (want && n < KW_STORE_SECKEY_POLICY_MIN)
        return kw_http_fail(resp, KW_ERR_CONFLICT,
                            "register at least %d security keys before requiring them (the account "
                            "has %zu)",
                            KW_STORE_SECKEY_POLICY_MIN, n);
    /* both directions need a key in hand: on proves the keys work, off is
     * the policy's own change */
    if (json_object_get(req->body, "assertion") == NULL)
        return kw_http_fail(resp, KW_ERR_VERIFY,
                            "security key assertion required (challenge operation \"policy\")");
    if ((r = kw_api_seckey_verify(srv, resp, caller.account_id, KW_STORE_SECKEY_OP_POLICY,
                                  json_object_get(req->body, "assertion"), NULL)) != KW_OK)
        return r;
    r = kw_store_seckey_policy_set(srv->store, caller.account_id, want);
    if (r == KW_ERR_CONFLICT)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "register at least %d security keys first",
                            KW_STORE_SECKEY_POLICY_MIN);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "security key policy");
    fprintf(stderr, "level=info event=seckey_policy account=%lld on=%d\n",
            (long long)caller.account_id, want ? 1 : 0);
    if (want)
        sk_policy_on_revoke(srv, &caller);
    kw_http_json(resp, 200, json_pack("{s:b}", "policy", want));
    return KW_OK;
}

const kw_http_route kw_api_seckeys_routes[] = {
    {"GET", "/v1/seckeys", seckeys_list, 0},
    {"POST", "/v1/seckeys/challenge", seckeys_challenge, 0},
    {"POST", "/v1/seckeys/register/start", seckeys_register_start, 0},
    {"POST", "/v1/seckeys/register/finish", seckeys_register_finish, SK_REG_BODY_LIMIT},
    {"POST", "/v1/seckeys/policy", seckeys_policy, 0},
    {"POST", "/v1/seckeys/{}/rename", seckeys_rename, 0},
    {"POST", "/v1/seckeys/{}/remove", seckeys_remove, 0},
};
const size_t kw_api_seckeys_nroutes = sizeof(kw_api_seckeys_routes) / sizeof(kw_api_seckeys_routes[0]);
