/* libFuzzer target: base64url decoding never reads or writes out of bounds,
 * and whatever decodes re-encodes to the same text (canonical encodings only). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = size; /* also exercise a too-small output on odd sizes */
    if (size % 7 == 3 && cap > 0)
        cap--;
    uint8_t *out = malloc(cap + 1);
    size_t n = 0;
    int r = kw_b64url_decode(out, cap, &n, (const char *)data, size);
    if (r == KW_OK) {
        char *enc = malloc(kw_b64url_encoded_len(n) + 1);
        if (kw_b64url_encode(enc, kw_b64url_encoded_len(n) + 1, out, n) != KW_OK ||
            strlen(enc) != size || memcmp(enc, data, size) != 0)
            abort();
        free(enc);
    } else if (r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE) {
        abort();
    }
    free(out);
    return 0;
}
