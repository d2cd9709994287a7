/* libFuzzer target: the six OPAQUE message codecs and the protocol steps
 * that consume them. The first byte selects the message (low 3 bits) and
 * the AKE group (bit 3); the rest is the message. Parsers must stay in
 * bounds, return only the documented codes and round-trip what they
 * accept; the protocol functions must refuse (never accept) forged input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t pw[] = "fuzz password";
static const uint8_t cred[] = "fuzz-user";

typedef struct {
    kw_opaque_client *c;
    kw_opaque_server *s;
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES];
} world;

static world worlds[2];

static void must(int ok)
{
    if (!ok)
        abort();
}

static void setup(world *w, int group)
{
    kw_opaque_config cfg = {.group = group, .ksf = KW_OPAQUE_KSF_IDENTITY,
                            .context = (const uint8_t *)"fuzz", .context_len = 4};
    uint8_t sk[32], pk[32], seed[64] = {1}, req[32], resp[64], ex[64];
    must(kw_opaque_keygen(group, sk, pk) == KW_OK);
    must(kw_opaque_client_new(&w->c, &cfg) == KW_OK);
    must(kw_opaque_server_new(&w->s, &cfg, sk, pk, seed) == KW_OK);
    must(kw_opaque_client_registration_start(w->c, req, pw, sizeof(pw)) == KW_OK);
    must(kw_opaque_server_registration_response(w->s, resp, req, 32, cred, sizeof(cred)) == KW_OK);
    must(kw_opaque_client_registration_finish(w->c, w->record, ex, resp, 64, NULL) == KW_OK);
}

static void teardown(void)
{
    for (size_t i = 0; i < 2; i++) {
        kw_opaque_client_free(&worlds[i].c);
        kw_opaque_server_free(&worlds[i].s);
    }
}

static int documented(int r)
{
    return r == KW_OK || r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED || r == KW_ERR_TOO_LARGE ||
           r == KW_ERR_CRYPTO || r == KW_ERR_VERIFY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        must(kw_init() == KW_OK);
        setup(&worlds[0], KW_OPAQUE_GROUP_RISTRETTO255);
        setup(&worlds[1], KW_OPAQUE_GROUP_CURVE25519);
        atexit(teardown);
        ready = 1;
    }
    if (size < 1)
        return 0;
    const int kind = data[0] & 7;
    world *w = &worlds[(data[0] >> 3) & 1];
    const int group = w == &worlds[0] ? KW_OPAQUE_GROUP_RISTRETTO255 : KW_OPAQUE_GROUP_CURVE25519;
    const uint8_t *msg = data + 1;
    const size_t len = size - 1;
    /* A heap copy of exactly len bytes, so ASan sees any over-read. */
    uint8_t *m = malloc(len ? len : 1);
    if (len > 0)
        memcpy(m, msg, len);
    uint8_t out[KW_OPAQUE_KE2BYTES];
    int r;

    switch (kind) {
    case 0: {
        kw_opaque_registration_request x;
        r = kw_opaque_registration_request_parse(&x, m, len);
        if (r == KW_OK) {
            kw_opaque_registration_request_serialize(out, &x);
            must(memcmp(out, m, len) == 0);
        }
        uint8_t resp[64];
        int r2 = kw_opaque_server_registration_response(w->s, resp, m, len, cred, sizeof(cred));
        must(documented(r2) && (r2 == KW_OK) == (r == KW_OK));
        break;
    }
    case 1: {
        kw_opaque_registration_response x;
        r = kw_opaque_registration_response_parse(&x, group, m, len);
        if (r == KW_OK) {
            kw_opaque_registration_response_serialize(out, &x);
            must(memcmp(out, m, len) == 0);
        }
        uint8_t req[32], rec[192], ex[64];
        must(kw_opaque_client_registration_start(w->c, req, pw, sizeof(pw)) == KW_OK);
        int r2 = kw_opaque_client_registration_finish(w->c, rec, ex, m, len, NULL);
        must(documented(r2));
        break;
    }
    case 2: {
        kw_opaque_registration_record x;
        r = kw_opaque_registration_record_parse(&x, group, m, len);
        if (r == KW_OK) {
            kw_opaque_registration_record_serialize(out, &x);
            must(memcmp(out, m, len) == 0);
        }
        break;
    }
    case 3: {
        kw_opaque_ke1 x;
        kw_opaque_server_login *lg = NULL;
        r = kw_opaque_ke1_parse(&x, group, m, len);
        if (r == KW_OK) {
            kw_opaque_ke1_serialize(out, &x);
            must(memcmp(out, m, len) == 0);
        }
        int r2 = kw_opaque_server_ke2(w->s, &lg, out, w->record, sizeof(w->record), cred,
                                      sizeof(cred), m, len, NULL);
        must(documented(r2) && (r2 != KW_OK || r == KW_OK) && ((lg != NULL) == (r2 == KW_OK)));
        if (lg != NULL) {
            /* nobody can answer a forged KE1's login with an all-zero KE3 */
            uint8_t ke3[64] = {0}, sk[64];
            must(kw_opaque_server_finish(lg, sk, ke3, sizeof(ke3)) == KW_ERR_VERIFY);
        }
        kw_opaque_server_login_free(&lg);
        break;
    }
    case 4: {
        kw_opaque_ke2 x;
        r = kw_opaque_ke2_parse(&x, group, m, len);
        if (r == KW_OK) {
            kw_opaque_ke2_serialize(out, &x);
            must(memcmp(out, m, len) == 0);
        }
        uint8_t ke1[96], ke3[64], sk[64], ex[64];
        must(kw_opaque_client_login_start(w->c, ke1, pw, sizeof(pw)) == KW_OK);
        int r2 = kw_opaque_client_login_finish(w->c, ke3, sk, ex, m, len, NULL);
        /* a KE2 not made for this KE1 can never be accepted */
        must(documented(r2) && r2 != KW_OK);
        break;
    }
    default: {
        kw_opaque_ke3 x;
        r = kw_opaque_ke3_parse(&x, m, len);
        if (r == KW_OK) {
            kw_opaque_ke3_serialize(out, &x);
            must(memcmp(out, m, len) == 0);
        }
        break;
    }
    }
    must(documented(r));
    free(m);
    return 0;
}
