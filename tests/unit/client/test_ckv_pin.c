/*
 * Unit tests of kw_ckv_pin_check (lib/client/ckv_pin.c), the check every
 * use of a contact runs on the roster bytes of a verified log value:
 * each refusal has its own verdict and leaves the pin untouched; an
 * accepted roster moves the pin; the bytes already pinned are accepted
 * without a decoded copy, other bytes are not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "keyward/client_ckv.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

static kw_sign_key *ak, *other;
static uint8_t apk[32];

static void roster(kw_roster *r, uint64_t version, uint8_t flags, int ndev)
{
    assert_int_equal(kw_roster_init(r, version, "bob", apk, flags), KW_OK);
    for (int i = 0; i < ndev; i++) {
        uint8_t id[16], ipk[32], hpk[32];
        kw_sign_key *k = NULL;
        memset(id, i + 1, sizeof(id));
        memset(hpk, i + 1, sizeof(hpk));
        assert_int_equal(kw_sign_key_new(&k), KW_OK);
        kw_sign_key_public(k, ipk);
        kw_sign_key_free(&k);
        assert_int_equal(kw_roster_add(r, id, ipk, hpk, "d"), KW_OK);
    }
}

static uint8_t *enc(const kw_roster *r, const kw_sign_key *k, size_t *len)
{
    uint8_t *b = malloc(KW_ROSTER_MAXBYTES);
    kw_roster c = *r;
    assert_non_null(b);
    kw_sign_key_public(k, c.account_pk);
    assert_int_equal(kw_roster_encode(b, KW_ROSTER_MAXBYTES, len, &c, k), KW_OK);
    return b;
}

static void test_verdicts(void **state)
{
    (void)state;
    kw_roster *r = malloc(sizeof(*r)), *out = malloc(sizeof(*out));
    kw_ckv_pin pin, saved;
    size_t len = 0;
    bool off = true;
    assert_non_null(r);
    assert_non_null(out);
    memset(&pin, 0, sizeof(pin));
    memcpy(pin.account_pk, apk, 32);

    /* first use: accepted, pinned */
    roster(r, 3, KW_ROSTER_FLAG_CKV, 2);
    uint8_t *v3 = enc(r, ak, &len);
    size_t v3_len = len;
    assert_int_equal(kw_ckv_pin_check(&pin, out, v3, v3_len, &off), KW_CKV_OK);
    assert_false(off);
    assert_int_equal(pin.roster_version, 3);
    assert_true(pin.ckv);
    assert_int_equal(out->ndevices, 2);
    /* the same bytes again, with or without a decoded copy */
    assert_int_equal(kw_ckv_pin_check(&pin, out, v3, v3_len, &off), KW_CKV_OK);
    assert_int_equal(kw_ckv_pin_check(&pin, NULL, v3, v3_len, &off), KW_CKV_OK);
    saved = pin;

    /* another account key, validly signed by it */
    uint8_t *bad = enc(r, other, &len);
    assert_int_equal(kw_ckv_pin_check(&pin, out, bad, len, &off), KW_CKV_KEY_CHANGED);
    free(bad);
    /* the pinned key in the bytes, another key's signature (a device added) */
    roster(r, 4, KW_ROSTER_FLAG_CKV, 3);
    bad = enc(r, other, &len);
    memcpy(bad + 4 + 8 + 1 + 3, apk, 32);
    assert_int_equal(kw_ckv_pin_check(&pin, out, bad, len, &off), KW_CKV_NOT_SIGNED);
    assert_int_equal(kw_ckv_pin_check(&pin, NULL, bad, len, &off), KW_CKV_MALFORMED);
    free(bad);
    /* an older version, validly signed */
    roster(r, 2, KW_ROSTER_FLAG_CKV, 1);
    bad = enc(r, ak, &len);
    assert_int_equal(kw_ckv_pin_check(&pin, out, bad, len, &off), KW_CKV_ROLLBACK);
    free(bad);
    /* the pinned version with other contents (a fork) */
    roster(r, 3, KW_ROSTER_FLAG_CKV, 1);
    bad = enc(r, ak, &len);
    assert_int_equal(kw_ckv_pin_check(&pin, out, bad, len, &off), KW_CKV_ROLLBACK);
    free(bad);
    /* garbage */
    uint8_t junk[64];
    memset(junk, 0x41, sizeof(junk));
    assert_int_equal(kw_ckv_pin_check(&pin, out, junk, sizeof(junk), &off), KW_CKV_MALFORMED);
    assert_int_equal(kw_ckv_pin_check(&pin, out, v3, v3_len - 1, &off), KW_CKV_MALFORMED);
    assert_memory_equal(&pin, &saved, sizeof(pin)); /* no refusal moved the pin */

    /* a newer signed version with CKV off: accepted, turned_off set */
    roster(r, 5, 0, 2);
    uint8_t *v5 = enc(r, ak, &len);
    assert_int_equal(kw_ckv_pin_check(&pin, out, v5, len, &off), KW_CKV_OK);
    assert_true(off);
    assert_int_equal(pin.roster_version, 5);
    assert_false(pin.ckv);
    /* off stays off: no second turned_off */
    assert_int_equal(kw_ckv_pin_check(&pin, out, v5, len, &off), KW_CKV_OK);
    assert_false(off);
    free(v5);
    free(v3);
    free(r);
    free(out);
}

int main(void)
{
    if (kw_init() != KW_OK || kw_sign_key_new(&ak) != KW_OK || kw_sign_key_new(&other) != KW_OK)
        return 1;
    kw_sign_key_public(ak, apk);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    kw_sign_key_free(&ak);
    kw_sign_key_free(&other);
    return r;
}
