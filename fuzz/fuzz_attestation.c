/* libFuzzer target: the WebAuthn attestation-object parser (CBOR map →
 * fmt/attStmt/authData → COSE key → attestation statement), the bare
 * authenticatorData parser and the stored-record decoder, all on the same
 * input. Refusals must carry one of the documented codes; an accepted
 * record must re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/webauthn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cdj[] =
    "{\"type\":\"webauthn.create\",\"challenge\":\"AAECAwQFBgcICQoLDA0ODw\","
    "\"origin\":\"https://example.org\",\"crossOrigin\":false}";
static const uint8_t chal[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static int documented(int r)
{
    return r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED || r == KW_ERR_TOO_LARGE ||
           r == KW_ERR_VERIFY || r == KW_ERR_UNSUPPORTED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (kw_init() != KW_OK)
            abort();
        ready = 1;
    }
    const char *origins[] = {"https://example.org"};
    kw_webauthn_policy pol = {.rp_id = "example.org", .origins = origins, .n_origins = 1};
    kw_webauthn_credential *cred = malloc(sizeof(*cred));
    kw_webauthn_reason why;
    int r = kw_webauthn_register_verify(cred, &why, &pol, chal, sizeof(chal), (const uint8_t *)cdj,
                                        strlen(cdj), data, size);
    if (r != KW_OK && (!documented(r) || why == KW_WEBAUTHN_R_OK))
        abort();

    kw_webauthn_authdata ad;
    r = kw_webauthn_authdata_parse(&ad, data, size);
    if (r == KW_OK) {
        if (ad.cose_key != NULL && (ad.cose_key < data || ad.cose_key + ad.cose_key_len > data + size))
            abort();
    } else if (!documented(r)) {
        abort();
    }

    r = kw_webauthn_credential_decode(cred, data, size);
    if (r == KW_OK) {
        uint8_t *enc = malloc(KW_WEBAUTHN_CREDENTIAL_MAXBYTES);
        size_t n = 0;
        if (kw_webauthn_credential_encode(enc, KW_WEBAUTHN_CREDENTIAL_MAXBYTES, &n, cred) != KW_OK ||
            n != size || memcmp(enc, data, n) != 0)
            abort();
        free(enc);
    } else if (!documented(r)) {
        abort();
    }
    free(cred);
    return 0;
}
