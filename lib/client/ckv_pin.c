/*
 * The pin check of a contact's roster (keyward/client_ckv.h,
 * kw_ckv_pin_check): pure computation, no state, thread-safe on distinct
 * arguments. Used by every use of a contact (lib/client/ckv.c) and by the
 * benchmark.
 */
#include <sodium.h>
#include <string.h>

#include "keyward/client_ckv.h"
#include "keyward/codec.h"
#include "keyward/err.h"

kw_ckv_verdict kw_ckv_pin_check(kw_ckv_pin *pin, kw_roster *ros, const uint8_t *roster, size_t len,
                                bool *turned_off)
{
    uint8_t h[32];
    *turned_off = false;
    crypto_hash_sha256(h, roster, len);
    /* the very bytes verified when the pin was set: nothing to re-verify
     * (the caller wants no decoded copy) */
    if (ros == NULL) {
        if (pin->roster_version != 0 && kw_ct_equal(h, pin->roster_sha256, 32))
            return KW_CKV_OK;
        return KW_CKV_MALFORMED; /* a new roster needs ros to be checked into */
    }
    if (kw_roster_decode_unverified(ros, roster, len) != KW_OK)
        return KW_CKV_MALFORMED;
    if (!kw_ct_equal(ros->account_pk, pin->account_pk, 32))
        return KW_CKV_KEY_CHANGED;
    if (kw_roster_verify(ros, pin->account_pk) != KW_OK)
        return KW_CKV_NOT_SIGNED;
    if (ros->version < pin->roster_version ||
        (ros->version == pin->roster_version && !kw_ct_equal(h, pin->roster_sha256, 32)))
        return KW_CKV_ROLLBACK;
    *turned_off = pin->ckv && (ros->flags & KW_ROSTER_FLAG_CKV) == 0;
    pin->roster_version = ros->version;
    memcpy(pin->roster_sha256, h, 32);
    pin->ckv = (ros->flags & KW_ROSTER_FLAG_CKV) != 0;
    return KW_CKV_OK;
}
