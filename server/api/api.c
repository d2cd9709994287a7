#include "api/api.h"
#include "api/areas.h" /* kw_api_web_auth */

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyward/codec.h"
#include "keyward/err.h"

int64_t kw_api_now(const kw_server *srv)
{
    int64_t now = (int64_t)time(NULL);
    if (srv != NULL && srv->test_faults) {
        const char *off = getenv("KEYWARD_TEST_TIME_OFFSET");
        if (off != NULL)
            now += strtoll(off, NULL, 10);
    }
    return now;
}

void kw_api_token_hash(const char *token, uint8_t hash[KW_STORE_HASH_BYTES])
{
    crypto_hash_sha256(hash, (const unsigned char *)token, strlen(token));
}

int kw_api_session_create(kw_server *srv, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                          char token_out[64], int64_t *expires_at)
{
    uint8_t raw[KW_SESSION_TOKEN_BYTES];
    kw_store_session s = {0};
    randombytes_buf(raw, sizeof(raw));
    int r = kw_b64url_encode(token_out, 64, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    if (r != KW_OK)
        return r;
    kw_api_token_hash(token_out, s.hash);
    s.account_id = account_id;
    memcpy(s.device_id, device_id, KW_STORE_ID_BYTES);
    s.created_at = kw_api_now(srv);
    s.expires_at = s.created_at + srv->session_ttl;
    r = kw_store_session_add(srv->store, &s);
    if (r != KW_OK)
        sodium_memzero(token_out, 64);
    else
        *expires_at = s.expires_at;
    return r;
}

/* The store's answer is cached per token hash by the msg area
 * (messages.c, kw_api_msg_auth_get): exact on SQLite (every session or
 * device-state change in this process invalidates it before it commits),
 * off on PostgreSQL. A hit runs the same checks on the cached copy. */
int kw_api_auth(kw_http_req *req, kw_http_resp *resp, bool trusted_only, kw_api_caller *caller)
{
    kw_server *srv = req->app;
    kw_store_session s;
    kw_store_device d;
    int64_t now, expires_at = 0;
    uint64_t gen = 0;
    bool touch = false;
    memset(caller, 0, sizeof(*caller));
    if (req->bearer == NULL || strlen(req->bearer) != 43)
        return kw_http_fail(resp, KW_ERR_VERIFY, "missing or malformed bearer token");
    kw_api_token_hash(req->bearer, caller->session_hash);
    now = kw_api_now(srv);
    int c = kw_api_msg_auth_get(srv, caller->session_hash, now, caller, &expires_at, &touch, &gen);
    if (c == KW_OK) {
        if (trusted_only && caller->device_state != KW_DEVICE_TRUSTED)
            return kw_http_fail(resp, KW_ERR_VERIFY, "this needs a trusted device");
        if (touch)
            kw_store_device_touch(srv->store, caller->device_id, now);
        return KW_OK;
    }
    int r = kw_store_session_get(srv->store, caller->session_hash, &s);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_VERIFY, "unknown session");
    if (r != KW_OK)
        return r;
    if (s.revoked)
        return kw_http_fail(resp, KW_ERR_VERIFY, "session revoked");
    if (s.expires_at <= now)
        return kw_http_fail(resp, KW_ERR_VERIFY, "session expired");
    r = kw_store_device_get(srv->store, s.device_id, &d);
    if (r != KW_OK)
        return r == KW_ERR_NOT_FOUND ? kw_http_fail(resp, KW_ERR_VERIFY, "unknown device") : r;
    if (d.state == KW_DEVICE_REMOVED)
        return kw_http_fail(resp, KW_ERR_VERIFY, "device removed");
    caller->account_id = s.account_id;
    memcpy(caller->device_id, s.device_id, KW_STORE_ID_BYTES);
    caller->device_state = d.state;
    /* last_seen_at has one-second resolution: a device already seen this
     * second needs no write (saves the write lock on busy sessions). */
    if (d.last_seen_at < now)
        kw_store_device_touch(srv->store, s.device_id, now);
    if (c == KW_ERR_NOT_FOUND) /* remembered as it was found, trusted or not */
        kw_api_msg_auth_put(srv, gen, caller, s.expires_at, now, now);
    if (trusted_only && d.state != KW_DEVICE_TRUSTED)
        return kw_http_fail(resp, KW_ERR_VERIFY, "this needs a trusted device");
    return KW_OK;
}

int kw_api_get_str(kw_http_resp *resp, json_t *obj, const char *field, size_t max, const char **out)
{
    *out = NULL;
    json_t *v = json_object_get(obj, field);
    if (!json_is_string(v))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' must be a string", field);
    if (json_string_length(v) > max)
        return kw_http_fail(resp, KW_ERR_TOO_LARGE, "field '%s' is longer than %zu bytes", field, max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' contains NUL", field);
    *out = json_string_value(v);
    return KW_OK;
}

int kw_api_get_b64(kw_http_resp *resp, json_t *obj, const char *field, size_t min, size_t max,
                   uint8_t **out, size_t *len)
{
    const char *s;
    *out = NULL;
    *len = 0;
    int r = kw_api_get_str(resp, obj, field, kw_b64url_encoded_len(max), &s);
    if (r != KW_OK)
        return r;
    uint8_t *buf = malloc(max == 0 ? 1 : max);
    if (buf == NULL)
        return KW_ERR_NOMEM;
    r = kw_b64url_decode(buf, max, len, s, strlen(s));
    if (r != KW_OK) {
        free(buf);
        *len = 0;
        return kw_http_fail(resp, r == KW_ERR_TOO_LARGE ? KW_ERR_TOO_LARGE : KW_ERR_FORMAT,
                            "field '%s' is not valid base64url", field);
    }
    if (*len < min) {
        free(buf);
        *len = 0;
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' is shorter than %zu bytes", field, min);
    }
    *out = buf;
    return KW_OK;
}

int kw_api_get_b64_fixed(kw_http_resp *resp, json_t *obj, const char *field, uint8_t *out, size_t len)
{
    uint8_t *tmp;
    size_t n;
    int r = kw_api_get_b64(resp, obj, field, len, len, &tmp, &n);
    if (r != KW_OK)
        return r;
    memcpy(out, tmp, len);
    sodium_memzero(tmp, len);
    free(tmp);
    return KW_OK;
}

int kw_api_get_int(kw_http_resp *resp, json_t *obj, const char *field, int64_t min, int64_t max,
                   int64_t *out)
{
    json_t *v = json_object_get(obj, field);
    if (!json_is_integer(v))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' must be an integer", field);
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' is out of range", field);
    *out = (int64_t)i;
    return KW_OK;
}

int kw_api_only_fields(kw_http_resp *resp, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return kw_http_fail(resp, KW_ERR_FORMAT, "expected a JSON object");
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok)
            return kw_http_fail(resp, KW_ERR_FORMAT, "unknown field '%.64s'", key);
    }
    return KW_OK;
}

int kw_api_put_b64(json_t *obj, const char *field, const uint8_t *data, size_t len)
{
    size_t cap = kw_b64url_encoded_len(len) + 1;
    char *s = malloc(cap);
    if (s == NULL)
        return KW_ERR_NOMEM;
    int r = kw_b64url_encode(s, cap, data, len);
    if (r == KW_OK && json_object_set_new(obj, field, json_string(s)) != 0)
        r = KW_ERR_NOMEM;
    free(s);
    return r;
}

int kw_api_check_name(kw_http_resp *resp, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > KW_STORE_NAME_MAX)
        return kw_http_fail(resp, KW_ERR_FORMAT, "names are 1 to %d bytes", KW_STORE_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
        if (!ok)
            return kw_http_fail(resp, KW_ERR_FORMAT, "names use only letters, digits and . _ @ + -");
    }
    return KW_OK;
}

/* A web session of the account-security page (web.c) first — it is only a
 * store lookup by token hash — then a device session. A web session passes
 * trusted_only: it was opened with the password and a second factor (the
 * security key when the account's policy asks), and it expires within
 * web.session_ttl. */
int kw_api_auth_any(kw_http_req *req, kw_http_resp *resp, bool trusted_only, kw_api_caller *caller)
{
    kw_server *srv = req->app;
    memset(caller, 0, sizeof(*caller));
    if (srv != NULL && srv->web != NULL) {
        int r = kw_api_web_auth(req, resp, caller);
        if (r != KW_ERR_NOT_FOUND)
            return r;
    }
    return kw_api_auth(req, resp, trusted_only, caller);
}
