/* libFuzzer target: clientDataJSON checks for both ceremonies, under a
 * strict and a cross-origin-allowing policy. Refusals must carry one of the
 * documented codes and a reason. */
#include <stdint.h>
#include <stdlib.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/webauthn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (kw_init() != KW_OK)
            abort();
        ready = 1;
    }
    static const uint8_t chal[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const char *origins[] = {"https://example.org"};
    const char *tops[] = {"https://example.com"};
    kw_webauthn_policy pol = {.rp_id = "example.org", .origins = origins, .n_origins = 1,
                              .top_origins = tops, .n_top_origins = 1};
    for (int cross = 0; cross < 2; cross++) {
        pol.allow_cross_origin = cross != 0;
        for (int c = KW_WEBAUTHN_CREATE; c <= KW_WEBAUTHN_GET; c++) {
            kw_webauthn_reason why;
            int r = kw_webauthn_clientdata_verify(&why, &pol, (kw_webauthn_ceremony)c, chal,
                                                  sizeof(chal), data, size);
            if (r == KW_OK ? why != KW_WEBAUTHN_R_OK
                           : ((r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED &&
                               r != KW_ERR_TOO_LARGE && r != KW_ERR_VERIFY) ||
                              why == KW_WEBAUTHN_R_OK))
                abort();
        }
    }
    return 0;
}
