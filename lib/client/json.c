/* JSON and error helpers shared by the client modules (no libcurl here, so
 * the profile code links without it). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "keyward/codec.h"
#include "keyward/err.h"

int kwc_fail(kw_client *c, int origin, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    c->origin = origin;
    return err;
}

int kwc_put_b64(json_t *o, const char *key, const uint8_t *data, size_t len)
{
    size_t n = kw_b64url_encoded_len(len) + 1;
    char *s = malloc(n);
    if (s == NULL)
        return KW_ERR_NOMEM;
    int r = kw_b64url_encode(s, n, data, len);
    if (r == KW_OK && json_object_set_new(o, key, json_string(s)) != 0)
        r = KW_ERR_NOMEM;
    free(s);
    return r;
}

int kwc_get_b64_fixed(const json_t *o, const char *key, uint8_t *out, size_t len)
{
    const json_t *v = json_object_get(o, key);
    size_t n = 0;
    if (!json_is_string(v))
        return KW_ERR_FORMAT;
    int r = kw_b64url_decode(out, len, &n, json_string_value(v), json_string_length(v));
    if (r != KW_OK)
        return r;
    return n == len ? KW_OK : KW_ERR_FORMAT;
}

int kwc_get_b64(const json_t *o, const char *key, size_t max, uint8_t **out, size_t *len)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    *len = 0;
    if (!json_is_string(v))
        return KW_ERR_FORMAT;
    size_t slen = json_string_length(v), cap = slen / 4 * 3 + 3;
    if (cap > max + 3)
        return KW_ERR_TOO_LARGE;
    uint8_t *b = malloc(cap);
    if (b == NULL)
        return KW_ERR_NOMEM;
    int r = kw_b64url_decode(b, cap, len, json_string_value(v), slen);
    if (r == KW_OK && *len > max)
        r = KW_ERR_TOO_LARGE;
    if (r != KW_OK) {
        free(b);
        *len = 0;
        return r;
    }
    *out = b;
    return KW_OK;
}
