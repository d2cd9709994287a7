/* libFuzzer target: hex decoding stays in bounds, rejects with the documented
 * codes, and round-trips (case-folded) what it accepts. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = size / 2;
    if (size % 5 == 2 && cap > 0)
        cap--;
    uint8_t *out = malloc(cap + 1);
    size_t n = 0;
    int r = kw_hex_decode(out, cap, &n, (const char *)data, size);
    if (r == KW_OK) {
        char *enc = malloc(2 * n + 1);
        if (kw_hex_encode(enc, 2 * n + 1, out, n) != KW_OK || 2 * n != size)
            abort();
        for (size_t i = 0; i < size; i++)
            if (enc[i] != tolower(data[i]))
                abort();
        free(enc);
    } else if (r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE) {
        abort();
    }
    free(out);
    return 0;
}
