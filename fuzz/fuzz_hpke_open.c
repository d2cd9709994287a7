/* libFuzzer target: HPKE opening of attacker-controlled enc ‖ ciphertext.
 *
 * Input layout: byte 0 selects the mode (bits 0-1) and whether the receiver
 * computes pkR itself (bit 2); byte 1 is the aad length (cut to what is
 * left); then the aad; the rest is the single-shot message enc ‖ ct.
 * The receiver's keys, the sender's keys, info, psk and psk_id are fixed
 * (derived from the constant seeds below), so the seed corpus can hold
 * messages that really open.
 *
 * Checks: only the documented error codes come back; a failed open leaves
 * the plaintext region zeroed; a success yields exactly in_len - 48 bytes;
 * the context API (receiver setup + open of ct at sequence number 0) agrees
 * with the single-shot form on both the outcome and the plaintext; the
 * exporter works on any context that sets up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/hpke.h"
#include "keyward/keyward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds in fuzz/corpus/hpke_open/ were sealed with kw_hpke_seal to the
 * keys derived from these constants; changing them makes the seeds stale. */
static const char ikm_r[] = "keyward fuzz hpke recipient key seed";
static const char ikm_s[] = "keyward fuzz hpke sender key seed   ";
static const uint8_t fuzz_info[] = "keyward fuzz";
static const uint8_t fuzz_psk[32] = "keyward fuzz pre-shared key 0123";
static const uint8_t fuzz_psk_id[] = "fuzz-psk";

static uint8_t skR[32], pkR[32], skS[32], pkS[32];

static void setup_once(void)
{
    static int done;
    if (done)
        return;
    if (kw_init() != KW_OK ||
        kw_hpke_derive_keypair(pkR, skR, (const uint8_t *)ikm_r, sizeof(ikm_r) - 1) != KW_OK ||
        kw_hpke_derive_keypair(pkS, skS, (const uint8_t *)ikm_s, sizeof(ikm_s) - 1) != KW_OK)
        abort();
    done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size < 2)
        return 0;
    kw_hpke_mode mode = (kw_hpke_mode)(data[0] & 3);
    const uint8_t *pk = (data[0] & 4) ? NULL : pkR;
    size_t aad_len = data[1];
    if (aad_len > size - 2)
        aad_len = size - 2;
    const uint8_t *aad = data + 2;
    const uint8_t *in = data + 2 + aad_len;
    size_t in_len = size - 2 - aad_len;

    kw_hpke_params p = {.mode = mode, .info = fuzz_info, .info_len = sizeof(fuzz_info) - 1};
    if (mode == KW_HPKE_MODE_PSK || mode == KW_HPKE_MODE_AUTH_PSK) {
        p.psk = fuzz_psk;
        p.psk_len = sizeof(fuzz_psk);
        p.psk_id = fuzz_psk_id;
        p.psk_id_len = sizeof(fuzz_psk_id) - 1;
    }
    if (mode == KW_HPKE_MODE_AUTH || mode == KW_HPKE_MODE_AUTH_PSK)
        p.pk_s = pkS;

    size_t cap = in_len + 1;
    uint8_t *pt1 = malloc(cap), *pt2 = malloc(cap);
    if (pt1 == NULL || pt2 == NULL)
        abort();
    memset(pt1, 0xa5, cap);
    size_t n1 = 7;
    int r1 = kw_hpke_open(pt1, cap, &n1, skR, pk, &p, aad, aad_len, in, in_len);
    size_t body = in_len >= KW_HPKE_SEALBYTES ? in_len - KW_HPKE_SEALBYTES : 0;
    if (r1 == KW_OK) {
        if (n1 != body)
            abort();
    } else {
        if (r1 != KW_ERR_TRUNCATED && r1 != KW_ERR_VERIFY && r1 != KW_ERR_CRYPTO)
            abort();
        if (n1 != 0)
            abort();
        for (size_t i = 0; i < body; i++)
            if (pt1[i] != 0)
                abort();
    }

    if (in_len >= KW_HPKE_ENCBYTES) {
        kw_hpke_ctx *ctx = NULL;
        int rs = kw_hpke_receiver_setup(&ctx, in, skR, pk, &p);
        if (rs == KW_OK) {
            size_t n2 = 0;
            int r2 = kw_hpke_ctx_open(ctx, pt2, cap, &n2, aad, aad_len, in + KW_HPKE_ENCBYTES,
                                      in_len - KW_HPKE_ENCBYTES);
            if (r2 != r1 || n2 != n1 || (r2 == KW_OK && memcmp(pt1, pt2, n1) != 0))
                abort();
            if (kw_hpke_ctx_seq(ctx) != (r2 == KW_OK ? 1u : 0u))
                abort();
            uint8_t exported[48];
            if (kw_hpke_ctx_export(ctx, exported, sizeof(exported), aad, aad_len) != KW_OK)
                abort();
        } else if (rs != KW_ERR_CRYPTO || ctx != NULL ||
                   r1 != (in_len >= KW_HPKE_SEALBYTES ? KW_ERR_CRYPTO : KW_ERR_TRUNCATED)) {
            abort();
        }
        kw_hpke_ctx_free(&ctx);
    }
    free(pt1);
    free(pt2);
    return 0;
}
