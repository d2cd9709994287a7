/* libFuzzer target: the Argon2id parameters record (keyward/pwkey.h), which
 * is read from a profile's secrets.bin header and from the server. Checks:
 *   - kw_pwkey_params_decode fails only with KW_ERR_TRUNCATED (short),
 *     KW_ERR_TOO_LARGE (long), KW_ERR_FORMAT or KW_ERR_LIMIT, and then
 *     leaves the parameters zeroed;
 *   - an accepted record is within the documented bounds (never below the
 *     minima: no downgrade), passes kw_pwkey_params_check, and re-encodes to
 *     exactly the input bytes (the record is canonical);
 *   - the error kind matches the bounds: below a minimum or unknown
 *     version/algorithm → FORMAT, above a maximum → LIMIT.
 * No derivation is run (it would allocate up to 1 GiB per input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/pwkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (kw_init() != KW_OK)
            abort();
        init = 1;
    }
    kw_pwkey_params p;
    memset(&p, 0xa5, sizeof(p));
    int r = kw_pwkey_params_decode(&p, data, size);
    if (r != KW_OK) {
        if (!all_zero(&p, sizeof(p)))
            abort();
        if (size < KW_PWKEY_RECORDBYTES) {
            if (r != KW_ERR_TRUNCATED)
                abort();
            return 0;
        }
        if (size > KW_PWKEY_RECORDBYTES) {
            if (r != KW_ERR_TOO_LARGE)
                abort();
            return 0;
        }
        /* exact length: recompute which rule was broken */
        uint32_t ops = 0;
        uint64_t mem = 0;
        for (size_t i = 0; i < 4; i++)
            ops = (ops << 8) | data[2 + i];
        for (size_t i = 0; i < 8; i++)
            mem = (mem << 8) | data[6 + i];
        int fmt = data[0] != KW_PWKEY_RECORD_VERSION || data[1] != KW_PWKEY_ALG_ARGON2ID13 ||
                  ops < KW_PWKEY_OPSLIMIT_MIN || mem < KW_PWKEY_MEMLIMIT_MIN;
        int lim = ops > KW_PWKEY_OPSLIMIT_MAX || mem > KW_PWKEY_MEMLIMIT_MAX;
        if (r == KW_ERR_FORMAT ? !fmt : r == KW_ERR_LIMIT ? (fmt || !lim) : 1)
            abort();
        return 0;
    }
    if (size != KW_PWKEY_RECORDBYTES || p.alg != KW_PWKEY_ALG_ARGON2ID13 ||
        p.opslimit < KW_PWKEY_OPSLIMIT_MIN || p.opslimit > KW_PWKEY_OPSLIMIT_MAX ||
        p.memlimit < KW_PWKEY_MEMLIMIT_MIN || p.memlimit > KW_PWKEY_MEMLIMIT_MAX)
        abort();
    if (kw_pwkey_params_check(&p) != KW_OK)
        abort();
    uint8_t rec[KW_PWKEY_RECORDBYTES];
    if (kw_pwkey_params_encode(rec, &p) != KW_OK || memcmp(rec, data, sizeof(rec)) != 0)
        abort();
    return 0;
}
