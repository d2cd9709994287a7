/*
 * The client's HTTP layer: one libcurl request per call, JSON in and out,
 * bearer token, a response size limit, TLS verification always on (an
 * optional CA file for a self-signed server), no redirects, http and https
 * only. Error bodies {"error":{code,message}} map to the KW_ERR_* whose
 * kw_errname is `code`.
 */
#include <curl/curl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "keyward/err.h"

typedef struct {
    char *data;
    size_t len;
    bool too_large;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    sink *s = arg;
    size_t n = size * nmemb;
    if (nmemb != 0 && n / nmemb != size)
        return 0;
    if (n > KW_CLIENT_RESPONSE_MAXBYTES - s->len) {
        s->too_large = true;
        return 0;
    }
    char *nb = realloc(s->data, s->len + n + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + s->len, ptr, n);
    s->len += n;
    nb[s->len] = '\0';
    s->data = nb;
    return n;
}

static int code_from_name(const char *name)
{
    for (int e = -1; e >= -14; e--)
        if (strcmp(kw_errname(e), name) == 0)
            return e;
    return KW_ERR_INTERNAL;
}

static int code_from_status(long status)
{
    switch (status) {
    case 400: return KW_ERR_FORMAT;
    case 401: case 403: return KW_ERR_VERIFY;
    case 404: return KW_ERR_NOT_FOUND;
    case 409: return KW_ERR_CONFLICT;
    case 413: return KW_ERR_TOO_LARGE;
    case 422: return KW_ERR_UNSUPPORTED;
    case 429: return KW_ERR_LIMIT;
    case 503: return KW_ERR_STORAGE;
    default: return KW_ERR_INTERNAL;
    }
}

static bool curl_ready;

int kwc_http(kw_client *c, const char *method, const char *path, json_t *body, bool auth,
             json_t **resp)
{
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    char url[KWC_URL_MAX + 256], authz[KWC_TOKEN_MAX + 32];
    char *text = NULL;
    sink s = {0};
    long status = 0;
    json_error_t jerr;
    int r;
    *resp = NULL;
    if (c->server[0] == '\0')
        return kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_INVALID_ARG,
                        "no server: give --server URL or set KEYWARD_SERVER");
    if (snprintf(url, sizeof(url), "%s%s", c->server, path) >= (int)sizeof(url))
        return kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_TOO_LARGE, "URL too long");
    if (auth && (c->p == NULL || c->p->s->token[0] == '\0'))
        return kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_VERIFY,
                        "not signed in: run `keyward login NAME` first");
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return kwc_fail(c, KW_CLIENT_ORIGIN_NETWORK, KW_ERR_SYSTEM, "cannot initialise libcurl");
        curl_ready = true;
    }
    if ((h = curl_easy_init()) == NULL)
        return kwc_fail(c, KW_CLIENT_ORIGIN_NETWORK, KW_ERR_NOMEM, "cannot initialise libcurl");
    r = KW_ERR_NOMEM;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (hdrs == NULL)
        goto out;
    if (auth) {
        snprintf(authz, sizeof(authz), "Authorization: Bearer %s", c->p->s->token);
        struct curl_slist *n = curl_slist_append(hdrs, authz);
        sodium_memzero(authz, sizeof(authz));
        if (n == NULL)
            goto out;
        hdrs = n;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "keyward-cli/0.1");
    if (strcmp(method, "POST") == 0) {
        text = body != NULL ? json_dumps(body, JSON_COMPACT) : strdup("{}");
        if (text == NULL)
            goto out;
        struct curl_slist *n = curl_slist_append(hdrs, "Content-Type: application/json");
        if (n == NULL)
            goto out;
        hdrs = n;
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cr = curl_easy_perform(h);
    if (cr != CURLE_OK) {
        if (s.too_large)
            r = kwc_fail(c, KW_CLIENT_ORIGIN_NETWORK, KW_ERR_TOO_LARGE,
                         "the server's answer exceeds %zu bytes", KW_CLIENT_RESPONSE_MAXBYTES);
        else
            r = kwc_fail(c, KW_CLIENT_ORIGIN_NETWORK, KW_ERR_SYSTEM, "cannot reach %s: %s",
                         c->server, curl_easy_strerror(cr));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    json_t *j = s.len > 0 ? json_loadb(s.data, s.len, 0, &jerr) : NULL;
    if (status >= 200 && status < 300) {
        if (!json_is_object(j)) {
            json_decref(j);
            r = kwc_fail(c, KW_CLIENT_ORIGIN_NETWORK, KW_ERR_FORMAT,
                         "the server's answer is not a JSON object");
            goto out;
        }
        *resp = j;
        r = KW_OK;
        goto out;
    }
    const json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int err = code != NULL ? code_from_name(code) : code_from_status(status);
    r = kwc_fail(c, KW_CLIENT_ORIGIN_SERVER, err, "%s (HTTP %ld)",
                 msg != NULL ? msg : "the server refused the request", status);
    json_decref(j);
out:
    if (text != NULL) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    if (s.data != NULL) {
        sodium_memzero(s.data, s.len);
        free(s.data);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return r;
}
