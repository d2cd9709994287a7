/* lib/client/web_removals.c — the web page's device-removal queue from a
 * trusted device (keyward/client_web.h). */
#include <stdio.h>
#include <string.h>

#include "client_internal.h"
#include "keyward/client_web.h"
#include "keyward/err.h"

int kw_client_web_removals(kw_client *c, json_t **out)
{
    json_t *resp = NULL, *devs = NULL, *e, *list;
    size_t i, j;
    int r = KW_ERR_INTERNAL;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((r = kwc_http(c, "GET", "/v1/web/removals", NULL, true, &resp)) != KW_OK)
        goto out;
    list = json_object_get(resp, "removals");
    if (!json_is_array(list)) {
        r = kwc_bad_answer(c, "device removals");
        goto out;
    }
    /* names help the user pick; the device table is only decoration here */
    if (kwc_http(c, "GET", "/v1/devices", NULL, true, &devs) != KW_OK) {
        json_decref(devs);
        devs = NULL;
    }
    json_array_foreach(list, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "device_id"));
        uint8_t raw[KWC_ID_BYTES];
        if (id == NULL || kwc_get_b64_fixed(e, "device_id", raw, sizeof(raw)) != KW_OK ||
            !json_is_integer(json_object_get(e, "requested_at"))) {
            r = kwc_bad_answer(c, "device removals");
            goto out;
        }
        json_t *d;
        json_array_foreach(json_object_get(devs, "devices"), j, d)
        {
            const char *did = json_string_value(json_object_get(d, "id"));
            if (did == NULL || strcmp(did, id) != 0)
                continue;
            json_t *nm = json_object_get(d, "name"), *st = json_object_get(d, "state");
            if (json_is_string(nm))
                json_object_set(e, "name", nm);
            if (json_is_string(st))
                json_object_set(e, "state", st);
        }
    }
    *out = resp;
    resp = NULL;
    r = KW_OK;
out:
    json_decref(resp);
    json_decref(devs);
    return r;
}

int kw_client_web_removal_dismiss(kw_client *c, const char *id, json_t **out)
{
    uint8_t raw[KWC_ID_BYTES];
    char path[96], b64[32];
    json_t *body = NULL, *resp = NULL;
    int r = KW_ERR_INTERNAL;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((r = kwc_parse_id(c, id, raw)) != KW_OK)
        return r;
    kwc_id_b64(b64, raw);
    snprintf(path, sizeof(path), "/v1/web/removals/%s/dismiss", b64);
    if ((body = json_object()) == NULL) {
        r = kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = kwc_http(c, "POST", path, body, true, &resp)) != KW_OK)
        goto out;
    if ((*out = json_pack("{s:s}", "dismissed", b64)) == NULL) {
        r = kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = KW_OK;
out:
    json_decref(body);
    json_decref(resp);
    return r;
}
