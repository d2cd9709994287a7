/* clientDataJSON checks (WebAuthn L3 §7.1 steps 5–11 / §7.2 steps 8–14).
 * jansson parses (UTF-8 validated, duplicate members refused, NUL refused);
 * the size is bounded before parsing. */
#include <string.h>

#include <jansson.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "wa_internal.h"

int wa_fail(kw_webauthn_reason *why, kw_webauthn_reason reason, int r)
{
    if (why != NULL)
        *why = reason;
    return r;
}

static bool in_list(const char *s, size_t s_len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] != NULL && strlen(list[i]) == s_len && memcmp(list[i], s, s_len) == 0)
            return true;
    return false;
}

int kw_webauthn_clientdata_verify(kw_webauthn_reason *why, const kw_webauthn_policy *pol,
                                  kw_webauthn_ceremony ceremony,
                                  const uint8_t *challenge, size_t challenge_len,
                                  const uint8_t *cdj, size_t cdj_len)
{
    int r = KW_ERR_INTERNAL;
    kw_webauthn_reason reason = KW_WEBAUTHN_R_INTERNAL;
    json_t *root = NULL;
    uint8_t *got = NULL;
    if (why != NULL)
        *why = KW_WEBAUTHN_R_OK;
    if (pol == NULL || (cdj == NULL && cdj_len != 0) || challenge == NULL ||
        (ceremony != KW_WEBAUTHN_CREATE && ceremony != KW_WEBAUTHN_GET))
        return wa_fail(why, KW_WEBAUTHN_R_INTERNAL, KW_ERR_INVALID_ARG);
    if (challenge_len < KW_WEBAUTHN_CHALLENGE_MINBYTES ||
        challenge_len > KW_WEBAUTHN_CHALLENGE_MAXBYTES)
        return wa_fail(why, KW_WEBAUTHN_R_INTERNAL, KW_ERR_INVALID_ARG);
    if (cdj_len > KW_WEBAUTHN_CLIENTDATA_MAXBYTES)
        return wa_fail(why, KW_WEBAUTHN_R_TOO_LARGE, KW_ERR_TOO_LARGE);
    if (cdj_len == 0)
        return wa_fail(why, KW_WEBAUTHN_R_MALFORMED, KW_ERR_TRUNCATED);

    json_error_t jerr;
    root = json_loadb((const char *)cdj, cdj_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL) {
        /* jansson reports premature end of input distinctly */
        r = json_error_code(&jerr) == json_error_premature_end_of_input ? KW_ERR_TRUNCATED
                                                                        : KW_ERR_FORMAT;
        reason = KW_WEBAUTHN_R_MALFORMED;
        goto out;
    }
    r = KW_ERR_FORMAT;
    reason = KW_WEBAUTHN_R_MALFORMED;
    if (!json_is_object(root))
        goto out;
    json_t *type = json_object_get(root, "type");
    json_t *chal = json_object_get(root, "challenge");
    json_t *origin = json_object_get(root, "origin");
    json_t *cross = json_object_get(root, "crossOrigin");
    json_t *top = json_object_get(root, "topOrigin");
    json_t *tb = json_object_get(root, "tokenBinding");
    if (!json_is_string(type) || !json_is_string(chal) || !json_is_string(origin))
        goto out;
    if (cross != NULL && !json_is_boolean(cross))
        goto out;
    if (top != NULL && !json_is_string(top))
        goto out;

    /* type */
    const char *want_type = ceremony == KW_WEBAUTHN_CREATE ? "webauthn.create" : "webauthn.get";
    if (json_string_length(type) != strlen(want_type) ||
        memcmp(json_string_value(type), want_type, strlen(want_type)) != 0) {
        r = KW_ERR_VERIFY;
        reason = KW_WEBAUTHN_R_WRONG_TYPE;
        goto out;
    }

    /* challenge: base64url of exactly the expected bytes */
    size_t clen = json_string_length(chal), got_len = 0;
    if (clen > kw_b64url_encoded_len(KW_WEBAUTHN_CHALLENGE_MAXBYTES)) {
        r = KW_ERR_VERIFY;
        reason = KW_WEBAUTHN_R_WRONG_CHALLENGE;
        goto out;
    }
    if ((got = malloc(KW_WEBAUTHN_CHALLENGE_MAXBYTES)) == NULL) {
        r = KW_ERR_NOMEM;
        reason = KW_WEBAUTHN_R_INTERNAL;
        goto out;
    }
    if (kw_b64url_decode(got, KW_WEBAUTHN_CHALLENGE_MAXBYTES, &got_len, json_string_value(chal),
                         clen) != KW_OK)
        goto out; /* not base64url: malformed client data */
    if (got_len != challenge_len || !kw_ct_equal(got, challenge, challenge_len)) {
        r = KW_ERR_VERIFY;
        reason = KW_WEBAUTHN_R_WRONG_CHALLENGE;
        goto out;
    }

    /* origin */
    if (!in_list(json_string_value(origin), json_string_length(origin), pol->origins,
                 pol->n_origins)) {
        r = KW_ERR_VERIFY;
        reason = KW_WEBAUTHN_R_WRONG_ORIGIN;
        goto out;
    }

    /* crossOrigin / topOrigin: an embedded ceremony only when the policy
     * expects it, and then only under a top-level origin it lists. A
     * topOrigin without crossOrigin true is inconsistent. */
    bool is_cross = cross != NULL && json_is_true(cross);
    if (top != NULL && !is_cross)
        goto out;
    if (is_cross && !pol->allow_cross_origin) {
        r = KW_ERR_VERIFY;
        reason = KW_WEBAUTHN_R_CROSS_ORIGIN;
        goto out;
    }
    if (top != NULL && !in_list(json_string_value(top), json_string_length(top),
                                pol->top_origins, pol->n_top_origins)) {
        r = KW_ERR_VERIFY;
        reason = KW_WEBAUTHN_R_TOP_ORIGIN;
        goto out;
    }

    /* tokenBinding (L2 §7.1 step 10; deprecated in L3): we terminate TLS
     * without Token Binding, so "present" can never match; "supported" and
     * "not-supported" say nothing we need. */
    if (tb != NULL) {
        json_t *status = json_is_object(tb) ? json_object_get(tb, "status") : NULL;
        if (!json_is_string(status))
            goto out;
        const char *st = json_string_value(status);
        if (strcmp(st, "present") == 0) {
            r = KW_ERR_VERIFY;
            reason = KW_WEBAUTHN_R_TOKEN_BINDING;
            goto out;
        }
        if (strcmp(st, "supported") != 0 && strcmp(st, "not-supported") != 0)
            goto out;
    }
    r = KW_OK;
    reason = KW_WEBAUTHN_R_OK;
out:
    free(got);
    json_decref(root);
    return wa_fail(why, reason, r);
}
