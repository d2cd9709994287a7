/* HPKE single-shot seal+open against libsodium's sealed box on the same
 * 64-byte message. Both do one ephemeral key generation and two X25519
 * multiplications per round trip; the difference is our key schedule
 * (HMAC-SHA256) against the box's BLAKE2b nonce and HSalsa20. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "keyward/hpke.h"
#include "keyward/keyward.h"

#define BENCH_MSG_LEN 64

typedef struct {
    uint8_t pk[32], sk[32];
    uint8_t msg[BENCH_MSG_LEN];
    uint8_t sealed[BENCH_MSG_LEN + KW_HPKE_SEALBYTES + crypto_box_SEALBYTES];
    uint8_t opened[BENCH_MSG_LEN];
    kw_hpke_params params;
} hpke_bench;

static void hpke_round_trip(void *arg)
{
    hpke_bench *b = arg;
    size_t n = 0, m = 0;
    if (kw_hpke_seal(b->sealed, sizeof(b->sealed), &n, b->pk, &b->params, NULL, 0, b->msg,
                     sizeof(b->msg)) != KW_OK ||
        kw_hpke_open(b->opened, sizeof(b->opened), &m, b->sk, b->pk, &b->params, NULL, 0,
                     b->sealed, n) != KW_OK ||
        m != sizeof(b->msg)) {
        fprintf(stderr, "bench_hpke: HPKE round trip failed\n");
        exit(1);
    }
}

static void box_round_trip(void *arg)
{
    hpke_bench *b = arg;
    if (crypto_box_seal(b->sealed, b->msg, sizeof(b->msg), b->pk) != 0 ||
        crypto_box_seal_open(b->opened, b->sealed, sizeof(b->msg) + crypto_box_SEALBYTES, b->pk,
                             b->sk) != 0) {
        fprintf(stderr, "bench_hpke: crypto_box_seal round trip failed\n");
        exit(1);
    }
}

static void bench_hpke(void)
{
    hpke_bench b = {.params = {.mode = KW_HPKE_MODE_BASE}};
    randombytes_buf(b.msg, sizeof(b.msg));
    if (kw_hpke_keypair(b.pk, b.sk) != KW_OK) {
        fprintf(stderr, "bench_hpke: keypair failed\n");
        exit(1);
    }
    double base = bench_rate(box_round_trip, &b, 1.0);
    double ours = bench_rate(hpke_round_trip, &b, 1.0);
    bench_report("HPKE base seal+open (single-shot, 64-byte msg)", ours, "ops/s",
                 "crypto_box_seal+crypto_box_seal_open", base, 0.8);
    sodium_memzero(&b, sizeof(b));
}

BENCH_REGISTER("hpke", bench_hpke)
