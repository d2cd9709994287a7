/* libFuzzer target: the key custody wrap parser (server/custody/custody.c
 * and the key-file provider, included here as the fuzz_server_* rule links
 * only config.c and keys.c). Input: byte 0 picks the label and generation,
 * the rest is a wrap. Checks:
 *   - kw_custody_unwrap never reads past the input and, on any failure,
 *     leaves a zero length and a zeroed output;
 *   - a wrap that opens yields at most KW_CUSTODY_SECRET_MAX bytes, and
 *     re-wrapping what opened opens again to the same bytes;
 *   - wrapping the input's prefix (when it fits) opens to the same bytes for
 *     exactly (account, label, generation) and not for another generation. */
#include "custody/custody.c"
#include "custody/keyfile.c"
#include "custody/pkcs11.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kw_custody *cust;

static void init(void)
{
    static kw_config cfg;
    char dir[] = "/tmp/kw-fuzz-custody-XXXXXX";
    if (sodium_init() < 0 || mkdtemp(dir) == NULL)
        abort();
    kw_config_defaults(&cfg);
    if (kw_custody_open(&cust, &cfg, dir) != KW_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const labels[] = {"photos", "mail", "contact-unwrap", "passcode-verifier"};
    uint8_t out[KW_CUSTODY_SECRET_MAX + 8], again[KW_CUSTODY_WRAP_MAX], back[KW_CUSTODY_SECRET_MAX];
    size_t len = 99, alen = 0, blen = 0;
    if (cust == NULL)
        init();
    if (size == 0)
        return 0;
    const char *label = labels[data[0] & 3];
    int64_t gen = (data[0] >> 2) & 7;
    int r = kw_custody_unwrap(cust, 7, label, gen, data + 1, size - 1, out, sizeof(out), &len);
    if (r != KW_OK) {
        if (len != 0 || !sodium_is_zero(out, sizeof(out)))
            abort();
    } else {
        if (len == 0 || len > KW_CUSTODY_SECRET_MAX)
            abort();
        if (kw_custody_wrap(cust, 7, label, gen, out, len, again, sizeof(again), &alen) != KW_OK ||
            kw_custody_unwrap(cust, 7, label, gen, again, alen, back, sizeof(back), &blen) != KW_OK ||
            blen != len || memcmp(back, out, len) != 0)
            abort();
    }
    size_t n = size - 1 < KW_CUSTODY_SECRET_MAX ? size - 1 : KW_CUSTODY_SECRET_MAX;
    if (n > 0) {
        if (kw_custody_wrap(cust, 7, label, gen, data + 1, n, again, sizeof(again), &alen) != KW_OK)
            abort();
        if (kw_custody_unwrap(cust, 7, label, gen, again, alen, back, sizeof(back), &blen) != KW_OK || blen != n ||
            memcmp(back, data + 1, n) != 0)
            abort();
        if (kw_custody_unwrap(cust, 7, label, gen + 1, again, alen, back, sizeof(back), &blen) != KW_ERR_VERIFY)
            abort();
    }
    return 0;
}
