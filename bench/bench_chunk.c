/* Chunked encryption throughput against a single XChaCha20-Poly1305 call
 * over the same 64 MiB, both measured in this run. Each figure is the best
 * of several runs to reduce noise from other load on the machine. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "keyward/chunk.h"

#define BENCH_CHUNK_TOTAL ((size_t)64 << 20)
#define BENCH_CHUNK_RUNS 7

static double time_once(void (*op)(void *), void *ctx)
{
    double t0 = bench_now();
    op(ctx);
    return bench_now() - t0;
}

/* Runs base and cand alternately BENCH_CHUNK_RUNS times after a warm-up,
 * so both see the same machine load, and keeps the best (shortest) time of
 * each. Returns GB/s for `bytes` through *base_gbps and *cand_gbps. */
static void best_pair(void (*base)(void *), void (*cand)(void *), void *ctx, size_t bytes,
                      double *base_gbps, double *cand_gbps)
{
    double bb = 1e30, bc = 1e30;
    base(ctx);
    cand(ctx);
    for (int i = 0; i < BENCH_CHUNK_RUNS; i++) {
        double t = time_once(base, ctx);
        if (t < bb)
            bb = t;
        t = time_once(cand, ctx);
        if (t < bc)
            bc = t;
    }
    *base_gbps = (double)bytes / bb / 1e9;
    *cand_gbps = (double)bytes / bc / 1e9;
}

struct chunk_bench {
    uint8_t key[KW_CHUNK_KEYBYTES];
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    uint8_t ctx[64];
    size_t ctx_len;
    size_t chunk_size;
    uint8_t *pt;  /* BENCH_CHUNK_TOTAL */
    uint8_t *ct;  /* sealed chunked stream */
    size_t ct_len;
    uint8_t *ct1; /* single-call ciphertext */
    uint8_t *out; /* BENCH_CHUNK_TOTAL + room */
    int failed;
};

static void op_single_encrypt(void *v)
{
    struct chunk_bench *b = v;
    crypto_aead_xchacha20poly1305_ietf_encrypt(b->ct1, NULL, b->pt, BENCH_CHUNK_TOTAL, NULL, 0, NULL,
                                               b->nonce, b->key);
}

static void op_single_decrypt(void *v)
{
    struct chunk_bench *b = v;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(b->out, NULL, NULL, b->ct1,
                                                   BENCH_CHUNK_TOTAL + 16, NULL, 0, b->nonce,
                                                   b->key) != 0)
        b->failed = 1;
}

static void op_chunk_seal(void *v)
{
    struct chunk_bench *b = v;
    size_t n = 0;
    size_t cap = 0;
    if (kw_chunk_sealed_len(BENCH_CHUNK_TOTAL, b->chunk_size, &cap) != 0 ||
        kw_chunk_seal(b->ct, cap, &n, b->pt, BENCH_CHUNK_TOTAL, b->chunk_size, b->ctx, b->ctx_len,
                      b->key) != 0)
        b->failed = 1;
    b->ct_len = n;
}

static void op_chunk_open(void *v)
{
    struct chunk_bench *b = v;
    size_t n;
    if (kw_chunk_open(b->out, BENCH_CHUNK_TOTAL, &n, b->ct, b->ct_len, b->ctx, b->ctx_len,
                      b->key) != 0)
        b->failed = 1;
}

/* Streaming: encrypt chunk by chunk in place into one buffer, as a caller
 * writing a large object out piece by piece would. */
static void op_stream_encrypt(void *v)
{
    struct chunk_bench *b = v;
    kw_chunk_enc *enc = NULL;
    size_t got, off = KW_CHUNK_HEADERBYTES, done = 0;
    if (kw_chunk_enc_new(&enc, b->ct, b->key, b->chunk_size, b->ctx, b->ctx_len) != 0) {
        b->failed = 1;
        return;
    }
    size_t cs = kw_chunk_enc_chunk_size(enc);
    for (;;) {
        size_t take = BENCH_CHUNK_TOTAL - done > cs ? cs : BENCH_CHUNK_TOTAL - done;
        int final = done + take == BENCH_CHUNK_TOTAL;
        if (kw_chunk_enc_push(enc, b->ct + off, b->ct_len - off, &got, b->pt + done, take,
                              final) != 0) {
            b->failed = 1;
            break;
        }
        off += got;
        done += take;
        if (final)
            break;
    }
    kw_chunk_enc_free(&enc);
}

static void op_stream_decrypt(void *v)
{
    struct chunk_bench *b = v;
    kw_chunk_dec *dec = NULL;
    size_t got, off = KW_CHUNK_HEADERBYTES, total = 0;
    if (kw_chunk_dec_new(&dec, b->ct, KW_CHUNK_HEADERBYTES, b->key, b->ctx, b->ctx_len) != 0) {
        b->failed = 1;
        return;
    }
    size_t piece = kw_chunk_dec_piece_len(dec);
    while (off < b->ct_len) {
        size_t n = b->ct_len - off > piece ? piece : b->ct_len - off;
        if (kw_chunk_dec_push(dec, b->out + total, BENCH_CHUNK_TOTAL + 64 - total, &got,
                              b->ct + off, n) != 0) {
            b->failed = 1;
            break;
        }
        total += got;
        off += n;
    }
    if (kw_chunk_dec_finish(dec) != 0)
        b->failed = 1;
    kw_chunk_dec_free(&dec);
}

static void bench_chunk(void)
{
    struct chunk_bench b = {0};
    size_t cap;
    if (kw_chunk_sealed_len(BENCH_CHUNK_TOTAL, KW_CHUNK_SIZE_MIN, &cap) != 0)
        return;
    b.pt = malloc(BENCH_CHUNK_TOTAL);
    b.ct = malloc(cap);
    b.ct1 = malloc(BENCH_CHUNK_TOTAL + 16);
    b.out = malloc(BENCH_CHUNK_TOTAL + 64);
    if (b.pt == NULL || b.ct == NULL || b.ct1 == NULL || b.out == NULL) {
        printf("bench_chunk: out of memory\n");
        goto out;
    }
    randombytes_buf(b.key, sizeof(b.key));
    randombytes_buf(b.nonce, sizeof(b.nonce));
    randombytes_buf(b.pt, BENCH_CHUNK_TOTAL);
    if (kw_chunk_context_build(b.ctx, sizeof(b.ctx), &b.ctx_len, (const uint8_t *)"bench-record",
                               12, 1) != 0)
        goto out;
    /* touch every page once so first-run page faults are not measured */
    sodium_memzero(b.ct, cap);
    sodium_memzero(b.ct1, BENCH_CHUNK_TOTAL + 16);
    sodium_memzero(b.out, BENCH_CHUNK_TOTAL + 64);

    const size_t sizes[] = {KW_CHUNK_SIZE_DEFAULT, KW_CHUNK_SIZE_MIN, KW_CHUNK_SIZE_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char label[96];
        double base, fig;
        double target = i == 0 ? 0.9 : 0;
        b.chunk_size = sizes[i];
        best_pair(op_single_encrypt, op_chunk_seal, &b, BENCH_CHUNK_TOTAL, &base, &fig);
        snprintf(label, sizeof(label), "chunked encryption 64 MiB (%zu KiB chunks)",
                 sizes[i] / 1024);
        bench_report(label, fig, "GB/s", "single xchacha20poly1305 encrypt", base, target);
        best_pair(op_single_decrypt, op_chunk_open, &b, BENCH_CHUNK_TOTAL, &base, &fig);
        snprintf(label, sizeof(label), "chunked decryption 64 MiB (%zu KiB chunks)",
                 sizes[i] / 1024);
        bench_report(label, fig, "GB/s", "single xchacha20poly1305 decrypt", base, target);
        if (i == 0) {
            best_pair(op_single_encrypt, op_stream_encrypt, &b, BENCH_CHUNK_TOTAL, &base, &fig);
            bench_report("streaming encryption 64 MiB (64 KiB)", fig, "GB/s",
                         "single xchacha20poly1305 encrypt", base, 0.9);
            best_pair(op_single_decrypt, op_stream_decrypt, &b, BENCH_CHUNK_TOTAL, &base, &fig);
            bench_report("streaming decryption 64 MiB (64 KiB)", fig, "GB/s",
                         "single xchacha20poly1305 decrypt", base, 0.9);
        }
    }
    if (b.failed)
        printf("bench_chunk: an operation FAILED; figures are not valid\n");
out:
    free(b.pt);
    free(b.ct);
    free(b.ct1);
    free(b.out);
}

BENCH_REGISTER("chunk", bench_chunk)
