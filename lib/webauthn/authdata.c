/* authenticatorData (WebAuthn L3 §6.1): parsing with bounds checks, and the
 * rpIdHash and flag checks shared by registration and authentication. */
#include <string.h>

#include <sodium.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "wa_internal.h"

#define AD_HEADER 37 /* rpIdHash (32) ‖ flags (1) ‖ signCount (4) */

int kw_webauthn_authdata_parse(kw_webauthn_authdata *out, const uint8_t *ad, size_t ad_len)
{
    int r;
    memset(out, 0, sizeof(*out));
    if (ad == NULL && ad_len != 0)
        return KW_ERR_INVALID_ARG;
    if (ad_len > KW_WEBAUTHN_AUTHDATA_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (ad_len < AD_HEADER)
        return KW_ERR_TRUNCATED;
    kw_webauthn_authdata a;
    memset(&a, 0, sizeof(a));
    a.rp_id_hash = ad;
    a.flags = ad[32];
    a.sign_count = ((uint32_t)ad[33] << 24) | ((uint32_t)ad[34] << 16) |
                   ((uint32_t)ad[35] << 8) | ad[36];
    size_t pos = AD_HEADER;
    if ((a.flags & KW_WEBAUTHN_FLAG_AT) != 0) {
        a.has_attested = true;
        if (ad_len - pos < KW_WEBAUTHN_AAGUIDBYTES + 2)
            return KW_ERR_TRUNCATED;
        a.aaguid = ad + pos;
        pos += KW_WEBAUTHN_AAGUIDBYTES;
        size_t id_len = ((size_t)ad[pos] << 8) | ad[pos + 1];
        pos += 2;
        if (id_len > KW_WEBAUTHN_CREDID_MAXBYTES)
            return KW_ERR_TOO_LARGE;
        if (id_len == 0)
            return KW_ERR_FORMAT;
        if (ad_len - pos < id_len)
            return KW_ERR_TRUNCATED;
        a.cred_id = ad + pos;
        a.cred_id_len = id_len;
        pos += id_len;
        size_t klen;
        if ((r = wa_cbor_item_len(ad + pos, ad_len - pos, &klen)) != KW_OK)
            return r;
        if (klen > KW_WEBAUTHN_COSEKEY_MAXBYTES)
            return KW_ERR_TOO_LARGE;
        if ((ad[pos] >> 5) != 5)
            return KW_ERR_FORMAT; /* a COSE_Key is a map */
        a.cose_key = ad + pos;
        a.cose_key_len = klen;
        pos += klen;
    }
    if ((a.flags & KW_WEBAUTHN_FLAG_ED) != 0) {
        size_t elen;
        if ((r = wa_cbor_item_len(ad + pos, ad_len - pos, &elen)) != KW_OK)
            return r;
        if ((ad[pos] >> 5) != 5)
            return KW_ERR_FORMAT; /* extension outputs are a map */
        a.extensions = ad + pos;
        a.extensions_len = elen;
        pos += elen;
    }
    if (pos != ad_len)
        return KW_ERR_FORMAT; /* trailing bytes, or data without its flag */
    *out = a;
    return KW_OK;
}

int wa_check_rpid(kw_webauthn_reason *why, const kw_webauthn_policy *pol,
                  const uint8_t rp_id_hash[32])
{
    uint8_t want[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(want, (const uint8_t *)pol->rp_id, strlen(pol->rp_id));
    if (!kw_ct_equal(want, rp_id_hash, sizeof(want)))
        return wa_fail(why, KW_WEBAUTHN_R_RPID_MISMATCH, KW_ERR_VERIFY);
    return KW_OK;
}

int wa_check_flags(kw_webauthn_reason *why, const kw_webauthn_policy *pol, uint8_t flags)
{
    if ((flags & KW_WEBAUTHN_FLAG_UP) == 0)
        return wa_fail(why, KW_WEBAUTHN_R_UP_MISSING, KW_ERR_VERIFY);
    if (pol->require_uv && (flags & KW_WEBAUTHN_FLAG_UV) == 0)
        return wa_fail(why, KW_WEBAUTHN_R_UV_MISSING, KW_ERR_VERIFY);
    if ((flags & KW_WEBAUTHN_FLAG_BS) != 0 && (flags & KW_WEBAUTHN_FLAG_BE) == 0)
        return wa_fail(why, KW_WEBAUTHN_R_BS_WITHOUT_BE, KW_ERR_VERIFY);
    return KW_OK;
}
