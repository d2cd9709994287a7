/* libFuzzer target: the Contact Key Verification parsers of the client
 * (keyward/client_ckv.h). Byte 0 selects what the rest is:
 *   even  a verification code typed by a user (kw_ckv_code_check, at most
 *         256 bytes): only OK / VERIFY / FORMAT; the code of the fixed
 *         account itself, with its spaces, must be OK;
 *   odd   roster bytes checked against a contact pin (kw_ckv_pin_check):
 *         the pin moves only on KW_CKV_OK, and then to exactly the
 *         version the roster carries; a second check of the same bytes is
 *         OK again (the same version, the same hash), also without a
 *         decoded copy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/client_ckv.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t PK[32] = {0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a,
                               0xa7, 0x4d, 0x1b, 0x7e, 0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4,
                               0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (kw_init() != KW_OK)
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    if ((data[0] & 1) == 0) {
        char text[300];
        size_t n = size - 1 < sizeof(text) - 1 ? size - 1 : sizeof(text) - 1;
        memcpy(text, data + 1, n);
        text[n] = '\0';
        int r = kw_ckv_code_check(text, "alice", PK);
        if (r != KW_OK && r != KW_ERR_VERIFY && r != KW_ERR_FORMAT)
            abort();
        char code[KW_CKV_CODEBYTES];
        if (kw_ckv_code(code, "alice", PK) != KW_OK || kw_ckv_code_check(code, "alice", PK) != KW_OK)
            abort();
        return 0;
    }
    kw_roster *ros = malloc(sizeof(*ros));
    if (ros == NULL)
        return 0;
    kw_ckv_pin pin;
    memset(&pin, 0, sizeof(pin));
    kw_roster probe;
    /* pin the key the bytes claim, so the signature check is reached */
    if (kw_roster_decode_unverified(&probe, data + 1, size - 1) == KW_OK)
        memcpy(pin.account_pk, probe.account_pk, 32);
    kw_ckv_pin before = pin;
    bool off = false;
    kw_ckv_verdict v = kw_ckv_pin_check(&pin, ros, data + 1, size - 1, &off);
    if (v != KW_CKV_OK) {
        if (memcmp(&before, &pin, sizeof(pin)) != 0)
            abort();
    } else {
        if (pin.roster_version != ros->version || off)
            abort();
        if (kw_ckv_pin_check(&pin, ros, data + 1, size - 1, &off) != KW_CKV_OK ||
            kw_ckv_pin_check(&pin, NULL, data + 1, size - 1, &off) != KW_CKV_OK)
            abort();
    }
    free(ros);
    return 0;
}
