/* ECVRF-EDWARDS25519-SHA512-TAI prove, verify and proof-free evaluation,
 * each against one bare crypto_scalarmult_ed25519_noclamp (the unit all
 * three are built from) measured in the same run. No ratio target: the
 * figures say what libsodium-only arithmetic costs. Expected, in units of
 * that baseline (V) plus point additions (A, ~0.15 V) and the fixed-base
 * multiplication (F, ~0.2 V): prove ≈ 2V + F + 4A, verify ≈ 3V + F + 8A,
 * evaluate ≈ V + 3A. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "keyward/keyward.h"
#include "keyward/vrf.h"

#define TAI KW_VRF_EDWARDS25519_SHA512_TAI

typedef struct {
    uint8_t pk[KW_VRF_PUBLICKEYBYTES], sk[KW_VRF_SECRETKEYBYTES];
    uint8_t pi[KW_VRF_PROOFBYTES], beta[KW_VRF_OUTPUTBYTES];
    uint8_t alpha[32];
    uint8_t scalar[32], point[32], out[32];
    uint32_t counter;
} vrf_bench;

/* Each round proves or evaluates a fresh alpha, so TAI's counter varies as
 * in real use (verify reuses one proof: its cost does not depend on it). */
static void next_alpha(vrf_bench *b)
{
    b->counter++;
    b->alpha[0] = (uint8_t)b->counter;
    b->alpha[1] = (uint8_t)(b->counter >> 8);
    b->alpha[2] = (uint8_t)(b->counter >> 16);
}

static void op_scalarmult(void *arg)
{
    vrf_bench *b = arg;
    if (crypto_scalarmult_ed25519_noclamp(b->out, b->scalar, b->point) != 0) {
        fprintf(stderr, "bench_vrf: scalarmult failed\n");
        exit(1);
    }
}

static void op_prove(void *arg)
{
    vrf_bench *b = arg;
    next_alpha(b);
    if (kw_vrf_prove(b->pi, TAI, b->sk, b->alpha, sizeof(b->alpha)) != KW_OK) {
        fprintf(stderr, "bench_vrf: prove failed\n");
        exit(1);
    }
}

static void op_verify(void *arg)
{
    vrf_bench *b = arg;
    if (kw_vrf_verify(b->beta, TAI, b->pk, b->pi, b->alpha, sizeof(b->alpha)) != KW_OK) {
        fprintf(stderr, "bench_vrf: verify failed\n");
        exit(1);
    }
}

static void op_evaluate(void *arg)
{
    vrf_bench *b = arg;
    next_alpha(b);
    if (kw_vrf_evaluate(b->beta, TAI, b->sk, b->alpha, sizeof(b->alpha)) != KW_OK) {
        fprintf(stderr, "bench_vrf: evaluate failed\n");
        exit(1);
    }
}

static void bench_vrf(void)
{
    vrf_bench *b = sodium_malloc(sizeof(*b));
    if (b == NULL) {
        fprintf(stderr, "bench_vrf: out of memory\n");
        exit(1);
    }
    kw_vrf_keypair(b->pk, b->sk);
    randombytes_buf(b->alpha, sizeof(b->alpha));
    b->counter = 0;
    crypto_core_ed25519_scalar_random(b->scalar);
    crypto_core_ed25519_random(b->point);
    const char *base_label = "crypto_scalarmult_ed25519_noclamp";

    double base = bench_rate(op_scalarmult, b, 1.0);
    double prove = bench_rate(op_prove, b, 1.0);
    bench_report("ECVRF prove (TAI, 32-byte alpha)", prove, "ops/s", base_label, base, 0);

    base = bench_rate(op_scalarmult, b, 1.0);
    op_prove(b);
    double verify = bench_rate(op_verify, b, 1.0);
    bench_report("ECVRF verify (TAI, 32-byte alpha)", verify, "ops/s", base_label, base, 0);

    base = bench_rate(op_scalarmult, b, 1.0);
    double eval = bench_rate(op_evaluate, b, 1.0);
    bench_report("ECVRF evaluate (beta only)", eval, "ops/s", base_label, base, 0);
    sodium_free(b);
}

BENCH_REGISTER("vrf", bench_vrf)
