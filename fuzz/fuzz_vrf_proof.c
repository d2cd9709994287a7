/* libFuzzer target: ECVRF proof decoding and verification. Decoding from
 * bytes accepts exactly 80 bytes with a canonical curve point and s < L,
 * rejects everything else with the documented codes and a zeroed output;
 * whatever decodes, proof_to_hash accepts; verification never accepts a
 * proof the fixed key did not make, and a fuzzed public key (the first 32
 * bytes) is either valid, malformed or of small order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/keyward.h"
#include "keyward/vrf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TAI KW_VRF_EDWARDS25519_SHA512_TAI

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint8_t pk[KW_VRF_PUBLICKEYBYTES], sk[KW_VRF_SECRETKEYBYTES];
    static const uint8_t alpha[] = "fuzz";
    static const uint8_t zero[sizeof(kw_vrf_proof)];
    if (!ready) {
        uint8_t seed[KW_VRF_SEEDBYTES] = {1};
        if (kw_init() != KW_OK)
            abort();
        kw_vrf_keypair_from_seed(pk, sk, seed);
        ready = 1;
    }

    kw_vrf_proof proof;
    uint8_t beta[KW_VRF_OUTPUTBYTES], beta2[KW_VRF_OUTPUTBYTES];
    int r = kw_vrf_proof_decode(&proof, data, size);
    if (r == KW_OK) {
        if (size != KW_VRF_PROOFBYTES || memcmp(proof.gamma, data, 32) != 0 ||
            memcmp(proof.c, data + 32, 16) != 0 || memcmp(proof.s, data + 48, 32) != 0)
            abort();
        if (kw_vrf_proof_to_hash(beta, TAI, data) != KW_OK)
            abort();
        r = kw_vrf_verify(beta2, TAI, pk, data, alpha, sizeof(alpha) - 1);
        if (r == KW_OK ? memcmp(beta, beta2, sizeof(beta)) != 0 : r != KW_ERR_VERIFY)
            abort();
    } else {
        if (r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE)
            abort();
        if ((r == KW_ERR_TRUNCATED) != (size < KW_VRF_PROOFBYTES) ||
            (r == KW_ERR_TOO_LARGE) != (size > KW_VRF_PROOFBYTES))
            abort();
        if (memcmp(&proof, zero, sizeof(proof)) != 0)
            abort();
        if (size == KW_VRF_PROOFBYTES &&
            (kw_vrf_verify(beta, TAI, pk, data, alpha, sizeof(alpha) - 1) != KW_ERR_FORMAT ||
             kw_vrf_proof_to_hash(beta, TAI, data) != KW_ERR_FORMAT))
            abort();
    }

    /* pk ‖ proof ‖ alpha */
    if (size >= KW_VRF_PUBLICKEYBYTES + KW_VRF_PROOFBYTES) {
        int v = kw_vrf_pk_validate(data);
        if (v != KW_OK && v != KW_ERR_FORMAT && v != KW_ERR_VERIFY)
            abort();
        const uint8_t *pi = data + KW_VRF_PUBLICKEYBYTES;
        const uint8_t *a = pi + KW_VRF_PROOFBYTES;
        size_t a_len = size - KW_VRF_PUBLICKEYBYTES - KW_VRF_PROOFBYTES;
        r = kw_vrf_verify(beta, TAI, data, pi, a, a_len);
        if (r != KW_OK && r != KW_ERR_FORMAT && r != KW_ERR_VERIFY)
            abort();
        if (v == KW_ERR_FORMAT && r != KW_ERR_FORMAT)
            abort();
        if (v != KW_OK && r == KW_OK)
            abort();
        /* accepted only when pi is a real proof under that key */
        if (r == KW_OK && memcmp(data, pk, 32) == 0) {
            uint8_t want[KW_VRF_PROOFBYTES];
            if (kw_vrf_prove(want, TAI, sk, a, a_len) != KW_OK || memcmp(want, pi, sizeof(want)) != 0)
                abort();
        }
    }
    return 0;
}
