/* Unit tests for chunked content encryption: round trips around chunk
 * boundaries, both APIs against each other, and every refusal with its
 * specific error code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/chunk.h"
#include "keyward/keyward.h"

#define CS 4096 /* smallest chunk size keeps the tests fast */
#define PIECE (CS + KW_CHUNK_ABYTES)
#define H KW_CHUNK_HEADERBYTES

static uint8_t key[KW_CHUNK_KEYBYTES];
static uint8_t ctx[KW_CHUNK_CONTEXT_MAXBYTES];
static size_t ctx_len;

static void make_ctx(uint8_t *out, size_t *len, const char *id, uint64_t version)
{
    assert_int_equal(kw_chunk_context_build(out, KW_CHUNK_CONTEXT_MAXBYTES, len,
                                            (const uint8_t *)id, strlen(id), version),
                     KW_OK);
}

static int setup(void **state)
{
    (void)state;
    randombytes_buf(key, sizeof(key));
    make_ctx(ctx, &ctx_len, "record-42", 7);
    return 0;
}

static uint8_t *make_pt(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + 7);
    return p;
}

/* Seals pt with chunk size cs; returns a malloc'd ciphertext. */
static uint8_t *seal(const uint8_t *pt, size_t n, size_t cs, size_t *ct_len)
{
    size_t need;
    assert_int_equal(kw_chunk_sealed_len(n, cs, &need), KW_OK);
    uint8_t *ct = malloc(need + PIECE); /* spare room for tests that append */
    assert_non_null(ct);
    assert_int_equal(kw_chunk_seal(ct, need, ct_len, pt, n, cs, ctx, ctx_len, key), KW_OK);
    assert_int_equal(*ct_len, need);
    return ct;
}

/* Opens with the one-shot API; returns the error code. On failure, checks
 * that the output holds no plaintext. */
static int open_ct(const uint8_t *ct, size_t ct_len, const uint8_t *c, size_t c_len,
                   const uint8_t *k)
{
    size_t cap = ct_len + 1, out_len = 99;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    memset(out, 0xa5, cap);
    size_t pt_len = 0;
    int have_len = kw_chunk_opened_len(ct, ct_len, &pt_len) == KW_OK;
    int r = kw_chunk_open(out, cap, &out_len, ct, ct_len, c, c_len, k);
    if (r != KW_OK) {
        assert_int_equal(out_len, 0);
        if (have_len)
            for (size_t i = 0; i < pt_len; i++)
                assert_true(out[i] == 0 || out[i] == 0xa5);
    }
    free(out);
    return r;
}

/* Streams ct through a decryptor in pieces of the advertised length; returns
 * the first error (push or finish). */
static int stream_open(const uint8_t *ct, size_t ct_len, uint8_t *out, size_t *out_len)
{
    kw_chunk_dec *dec = NULL;
    size_t total = 0;
    int r = kw_chunk_dec_new(&dec, ct, ct_len < H ? ct_len : H, key, ctx, ctx_len);
    if (r != KW_OK)
        return r;
    size_t piece = kw_chunk_dec_piece_len(dec);
    size_t off = H;
    while (off < ct_len) {
        size_t n = ct_len - off > piece ? piece : ct_len - off;
        size_t got;
        r = kw_chunk_dec_push(dec, out + total, piece, &got, ct + off, n);
        if (r != KW_OK)
            goto out;
        total += got;
        off += n;
    }
    r = kw_chunk_dec_finish(dec);
out:
    kw_chunk_dec_free(&dec);
    assert_null(dec);
    *out_len = total;
    return r;
}

static void test_context_build(void **state)
{
    (void)state;
    uint8_t out[KW_CHUNK_CONTEXT_MAXBYTES + 8];
    size_t n;
    assert_int_equal(kw_chunk_context_build(out, sizeof(out), &n, (const uint8_t *)"ab", 2,
                                            0x0102030405060708ULL),
                     KW_OK);
    const uint8_t want[] = {0, 2, 'a', 'b', 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(kw_chunk_context_build(out, 11, &n, (const uint8_t *)"ab", 2, 1),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(n, 0);
    static uint8_t id[KW_CHUNK_RECORD_ID_MAXBYTES + 1];
    assert_int_equal(kw_chunk_context_build(out, sizeof(out), &n, id, sizeof(id) - 1, 1), KW_OK);
    assert_int_equal(n, KW_CHUNK_CONTEXT_MAXBYTES);
    assert_int_equal(kw_chunk_context_build(out, sizeof(out), &n, id, sizeof(id), 1),
                     KW_ERR_TOO_LARGE);
}

static void test_sizes(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(kw_chunk_sealed_len(0, CS, &n), KW_OK);
    assert_int_equal(n, H + 16);
    assert_int_equal(kw_chunk_sealed_len(CS, CS, &n), KW_OK);
    assert_int_equal(n, H + CS + 16);
    assert_int_equal(kw_chunk_sealed_len(CS + 1, CS, &n), KW_OK);
    assert_int_equal(n, H + CS + 1 + 32);
    assert_int_equal(kw_chunk_sealed_len(1, 0, &n), KW_OK); /* default chunk size */
    assert_int_equal(n, H + 1 + 16);
    assert_int_equal(kw_chunk_sealed_len((size_t)64 << 20, 0, &n), KW_OK);
    assert_int_equal(n, H + ((size_t)64 << 20) + 1024 * 16);
    const size_t bad[] = {1, 2048, 4095, 4097, 3 * 4096, (size_t)2 << 20, SIZE_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kw_chunk_sealed_len(10, bad[i], &n), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_chunk_sealed_len(KW_CHUNK_SIZE_MAX, KW_CHUNK_SIZE_MAX, &n), KW_OK);
    assert_int_equal(kw_chunk_sealed_len(SIZE_MAX, CS, &n), KW_ERR_TOO_LARGE);
    assert_int_equal(n, 0);
    assert_int_equal(kw_chunk_sealed_len(SIZE_MAX - H - 16, CS, &n), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_chunk_sealed_len(SIZE_MAX / 2, CS, &n), KW_OK);
    assert_int_equal(n, H + SIZE_MAX / 2 + 16 * (SIZE_MAX / 2 / CS + 1));
    uint8_t pt[1] = {0};
    uint8_t out[64];
    assert_int_equal(kw_chunk_seal(out, sizeof(out), &n, pt, 1, 100, ctx, ctx_len, key),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_chunk_seal(out, H + 16, &n, pt, 1, CS, ctx, ctx_len, key),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_chunk_seal(out, sizeof(out), &n, pt, 1, CS, ctx,
                                   KW_CHUNK_CONTEXT_MAXBYTES + 1, key),
                     KW_ERR_TOO_LARGE);
}

static void roundtrip(size_t n, size_t cs)
{
    uint8_t *pt = make_pt(n);
    size_t ct_len, pt_len, out_len;
    uint8_t *ct = seal(pt, n, cs, &ct_len);
    uint8_t *out = malloc(n + 1);
    assert_non_null(out);

    assert_int_equal(kw_chunk_opened_len(ct, ct_len, &pt_len), KW_OK);
    assert_int_equal(pt_len, n);
    assert_int_equal(kw_chunk_open(out, n, &out_len, ct, ct_len, ctx, ctx_len, key), KW_OK);
    assert_int_equal(out_len, n);
    assert_memory_equal(out, pt, n);
    if (n > 0)
        assert_int_equal(kw_chunk_open(out, n - 1, &out_len, ct, ct_len, ctx, ctx_len, key),
                         KW_ERR_TOO_LARGE);

    /* the streaming decryptor reads the one-shot output */
    uint8_t *sout = malloc(n + cs + 16);
    assert_non_null(sout);
    assert_int_equal(stream_open(ct, ct_len, sout, &out_len), KW_OK);
    assert_int_equal(out_len, n);
    assert_memory_equal(sout, pt, n);

    /* the streaming encryptor's output opens with the one-shot API */
    kw_chunk_enc *enc = NULL;
    uint8_t *sct = malloc(ct_len);
    assert_non_null(sct);
    assert_int_equal(kw_chunk_enc_new(&enc, sct, key, cs, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_enc_chunk_size(enc), cs == 0 ? KW_CHUNK_SIZE_DEFAULT : cs);
    size_t ecs = kw_chunk_enc_chunk_size(enc), off = H, done = 0;
    for (;;) {
        size_t take = n - done > ecs ? ecs : n - done, got;
        int final = done + take == n;
        assert_int_equal(kw_chunk_enc_push(enc, sct + off, ct_len - off, &got, pt + done, take,
                                           final),
                         KW_OK);
        off += got;
        done += take;
        if (final)
            break;
    }
    kw_chunk_enc_free(&enc);
    assert_null(enc);
    assert_int_equal(off, ct_len);
    assert_memory_not_equal(sct + 5, ct + 5, KW_CHUNK_NONCEBYTES); /* fresh nonce */
    assert_int_equal(kw_chunk_open(out, n, &out_len, sct, ct_len, ctx, ctx_len, key), KW_OK);
    assert_memory_equal(out, pt, n);

    free(sct);
    free(sout);
    free(out);
    free(ct);
    free(pt);
}

static void test_roundtrip_boundaries(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, CS - 1, CS, CS + 1, 2 * CS, 3 * CS - 1, 3 * CS, 3 * CS + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        roundtrip(sizes[i], CS);
    const size_t d = KW_CHUNK_SIZE_DEFAULT;
    const size_t dsizes[] = {0, 1, d - 1, d, d + 1, 3 * d};
    for (size_t i = 0; i < sizeof(dsizes) / sizeof(dsizes[0]); i++)
        roundtrip(dsizes[i], 0);
    roundtrip(KW_CHUNK_SIZE_MAX + 1, KW_CHUNK_SIZE_MAX);
}

static void test_empty_is_one_final_chunk(void **state)
{
    (void)state;
    size_t ct_len, got;
    uint8_t *ct = seal(NULL, 0, CS, &ct_len);
    assert_int_equal(ct_len, H + KW_CHUNK_ABYTES);
    kw_chunk_dec *dec = NULL;
    uint8_t out[1];
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, ctx_len), KW_OK);
    assert_false(kw_chunk_dec_done(dec));
    assert_int_equal(kw_chunk_dec_push(dec, out, 0, &got, ct + H, KW_CHUNK_ABYTES), KW_OK);
    assert_int_equal(got, 0);
    assert_true(kw_chunk_dec_done(dec));
    assert_int_equal(kw_chunk_dec_finish(dec), KW_OK);
    kw_chunk_dec_free(&dec);
    /* header alone: no final chunk */
    assert_int_equal(open_ct(ct, H, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    free(ct);
}

static void test_truncation(void **state)
{
    (void)state;
    uint8_t *pt = make_pt(3 * CS + 1);
    size_t ct_len, out_len;
    uint8_t out[4 * PIECE];

    /* 3 full chunks + a 1-byte final chunk: drop the final chunk, then two */
    uint8_t *ct = seal(pt, 3 * CS + 1, CS, &ct_len);
    assert_int_equal(ct_len, H + 3 * PIECE + 17);
    assert_int_equal(open_ct(ct, H + 3 * PIECE, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    assert_int_equal(open_ct(ct, H + 2 * PIECE, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    assert_int_equal(open_ct(ct, H + PIECE, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    assert_int_equal(stream_open(ct, H + 3 * PIECE, out, &out_len), KW_ERR_TRUNCATED);
    assert_int_equal(stream_open(ct, H + PIECE, out, &out_len), KW_ERR_TRUNCATED);
    /* a last piece too short to hold a tag */
    assert_int_equal(open_ct(ct, ct_len - 2, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    assert_int_equal(stream_open(ct, ct_len - 2, out, &out_len), KW_ERR_TRUNCATED);
    /* cut inside a chunk: the partial chunk cannot authenticate */
    assert_int_equal(open_ct(ct, ct_len - 1, ctx, ctx_len, key), KW_ERR_VERIFY);
    assert_int_equal(open_ct(ct, H + 2 * PIECE + 100, ctx, ctx_len, key), KW_ERR_VERIFY);
    assert_int_equal(stream_open(ct, ct_len - 1, out, &out_len), KW_ERR_VERIFY);
    /* header cut */
    assert_int_equal(open_ct(ct, H - 1, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    assert_int_equal(open_ct(ct, 0, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    kw_chunk_dec *dec = NULL;
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H - 1, key, ctx, ctx_len), KW_ERR_TRUNCATED);
    assert_null(dec);
    free(ct);

    /* exactly 3 chunks: the last full chunk is final; dropping it leaves a
     * full non-final chunk at the end */
    ct = seal(pt, 3 * CS, CS, &ct_len);
    assert_int_equal(ct_len, H + 3 * PIECE);
    assert_int_equal(open_ct(ct, H + 2 * PIECE, ctx, ctx_len, key), KW_ERR_TRUNCATED);
    assert_int_equal(stream_open(ct, H + 2 * PIECE, out, &out_len), KW_ERR_TRUNCATED);
    free(ct);
    free(pt);
}

static void test_data_after_final(void **state)
{
    (void)state;
    uint8_t *pt = make_pt(3 * CS);
    size_t ct_len, out_len, got;
    uint8_t out[5 * PIECE];
    uint8_t *ct = seal(pt, 3 * CS, CS, &ct_len); /* seal() leaves room for one more piece */

    /* a full final chunk followed by another piece */
    memcpy(ct + ct_len, ct + H, PIECE);
    assert_int_equal(open_ct(ct, ct_len + PIECE, ctx, ctx_len, key), KW_ERR_FORMAT);
    assert_int_equal(stream_open(ct, ct_len + PIECE, out, &out_len), KW_ERR_FORMAT);
    /* ... or by a few bytes */
    assert_int_equal(open_ct(ct, ct_len + 20, ctx, ctx_len, key), KW_ERR_FORMAT);
    assert_int_equal(stream_open(ct, ct_len + 20, out, &out_len), KW_ERR_FORMAT);
    free(ct);

    /* a short final chunk followed by bytes: it can no longer be told apart
     * from a damaged chunk */
    ct = seal(pt, 2 * CS + 10, CS, &ct_len);
    memset(ct + ct_len, 0, 30);
    assert_int_equal(open_ct(ct, ct_len + 30, ctx, ctx_len, key), KW_ERR_VERIFY);
    /* streaming: a push after the final chunk */
    kw_chunk_dec *dec = NULL;
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, CS, &got, ct + H, PIECE), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, CS, &got, ct + H + PIECE, PIECE), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, CS, &got, ct + H + 2 * PIECE, 26), KW_OK);
    assert_true(kw_chunk_dec_done(dec));
    assert_int_equal(kw_chunk_dec_push(dec, out, CS, &got, ct + ct_len, 16), KW_ERR_FORMAT);
    assert_int_equal(got, 0);
    assert_false(kw_chunk_dec_done(dec));
    assert_int_equal(kw_chunk_dec_finish(dec), KW_ERR_FORMAT);
    kw_chunk_dec_free(&dec);
    free(ct);
    free(pt);
}

static void test_reorder_and_splice(void **state)
{
    (void)state;
    uint8_t *pt = make_pt(3 * CS + 5);
    size_t a_len, b_len, out_len;
    uint8_t out[4 * PIECE];
    uint8_t *a = seal(pt, 3 * CS + 5, CS, &a_len);
    uint8_t *b = seal(pt, 3 * CS + 5, CS, &b_len); /* same key, context, plaintext */
    uint8_t *m = malloc(a_len);
    assert_non_null(m);

    /* swap chunks 0 and 1 */
    memcpy(m, a, a_len);
    memcpy(m + H, a + H + PIECE, PIECE);
    memcpy(m + H + PIECE, a + H, PIECE);
    assert_int_equal(open_ct(m, a_len, ctx, ctx_len, key), KW_ERR_VERIFY);
    assert_int_equal(stream_open(m, a_len, out, &out_len), KW_ERR_VERIFY);
    assert_int_equal(out_len, 0); /* nothing released before the bad chunk */
    /* swap chunks 1 and 2: chunk 0 released, then refusal */
    memcpy(m, a, a_len);
    memcpy(m + H + PIECE, a + H + 2 * PIECE, PIECE);
    memcpy(m + H + 2 * PIECE, a + H + PIECE, PIECE);
    assert_int_equal(open_ct(m, a_len, ctx, ctx_len, key), KW_ERR_VERIFY);
    assert_int_equal(stream_open(m, a_len, out, &out_len), KW_ERR_VERIFY);
    assert_int_equal(out_len, CS);
    /* chunk 1 taken from another stream */
    memcpy(m, a, a_len);
    memcpy(m + H + PIECE, b + H + PIECE, PIECE);
    assert_int_equal(open_ct(m, a_len, ctx, ctx_len, key), KW_ERR_VERIFY);
    assert_int_equal(stream_open(m, a_len, out, &out_len), KW_ERR_VERIFY);
    /* final chunk taken from another stream */
    memcpy(m, a, a_len);
    memcpy(m + H + 3 * PIECE, b + H + 3 * PIECE, 21);
    assert_int_equal(open_ct(m, a_len, ctx, ctx_len, key), KW_ERR_VERIFY);
    /* header of another stream */
    memcpy(m, a, a_len);
    memcpy(m, b, H);
    assert_int_equal(open_ct(m, a_len, ctx, ctx_len, key), KW_ERR_VERIFY);
    /* the untouched streams still open */
    assert_int_equal(open_ct(a, a_len, ctx, ctx_len, key), KW_OK);
    assert_int_equal(open_ct(b, b_len, ctx, ctx_len, key), KW_OK);
    free(m);
    free(b);
    free(a);
    free(pt);
}

static void test_wrong_context_or_key(void **state)
{
    (void)state;
    uint8_t *pt = make_pt(CS + 3);
    size_t ct_len, c2_len;
    uint8_t *ct = seal(pt, CS + 3, CS, &ct_len);
    uint8_t c2[KW_CHUNK_CONTEXT_MAXBYTES];
    make_ctx(c2, &c2_len, "record-43", 7);
    assert_int_equal(open_ct(ct, ct_len, c2, c2_len, key), KW_ERR_VERIFY);
    make_ctx(c2, &c2_len, "record-42", 8);
    assert_int_equal(open_ct(ct, ct_len, c2, c2_len, key), KW_ERR_VERIFY);
    make_ctx(c2, &c2_len, "record-42", 6);
    assert_int_equal(open_ct(ct, ct_len, c2, c2_len, key), KW_ERR_VERIFY);
    assert_int_equal(open_ct(ct, ct_len, NULL, 0, key), KW_ERR_VERIFY);
    assert_int_equal(open_ct(ct, ct_len, ctx, ctx_len - 1, key), KW_ERR_VERIFY);
    uint8_t k2[KW_CHUNK_KEYBYTES];
    memcpy(k2, key, sizeof(k2));
    k2[31] ^= 1;
    assert_int_equal(open_ct(ct, ct_len, ctx, ctx_len, k2), KW_ERR_VERIFY);
    kw_chunk_dec *dec = NULL;
    size_t got;
    uint8_t out[CS];
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, k2, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, CS, &got, ct + H, PIECE), KW_ERR_VERIFY);
    kw_chunk_dec_free(&dec);
    assert_int_equal(open_ct(ct, ct_len, ctx, ctx_len, key), KW_OK);
    assert_int_equal(open_ct(ct, ct_len, ctx, KW_CHUNK_CONTEXT_MAXBYTES + 1, key),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, KW_CHUNK_CONTEXT_MAXBYTES + 1),
                     KW_ERR_TOO_LARGE);
    free(ct);
    free(pt);
}

/* Every single-bit flip is refused: in the version or chunk-size field as a
 * bad header, anywhere else as an authentication failure. */
static void test_every_bit_flip(void **state)
{
    (void)state;
    const size_t n = CS + 200;
    uint8_t *pt = make_pt(n);
    size_t ct_len, out_len;
    uint8_t *ct = seal(pt, n, CS, &ct_len);
    uint8_t *out = malloc(n);
    assert_non_null(out);
    for (size_t i = 0; i < ct_len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            ct[i] ^= (uint8_t)(1u << bit);
            memset(out, 0xa5, n);
            int r = kw_chunk_open(out, n, &out_len, ct, ct_len, ctx, ctx_len, key);
            assert_int_equal(r, i < 5 ? KW_ERR_FORMAT : KW_ERR_VERIFY);
            assert_int_equal(out_len, 0);
            if (i >= 5) /* past the header check: output wiped, not left as is */
                for (size_t j = 0; j < n; j++)
                    assert_int_equal(out[j], 0);
            ct[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(kw_chunk_open(out, n, &out_len, ct, ct_len, ctx, ctx_len, key), KW_OK);
    free(out);
    free(ct);
    free(pt);
}

static void test_bad_header(void **state)
{
    (void)state;
    size_t ct_len, pt_len;
    uint8_t *pt = make_pt(10);
    uint8_t *ct = seal(pt, 10, CS, &ct_len);
    kw_chunk_dec *dec = NULL;
    const uint8_t sizes[][4] = {{0, 0, 0x08, 0},    /* 2048: below minimum */
                                {0, 0x20, 0, 0},    /* 2 MiB: above maximum */
                                {0, 0, 0x30, 0},    /* not a power of two */
                                {0, 0, 0, 0},       /* zero */
                                {0x80, 0, 0x10, 0}}; /* high bits set */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t h[H];
        memcpy(h, ct, H);
        memcpy(h + 1, sizes[i], 4);
        uint8_t *m = malloc(ct_len);
        assert_non_null(m);
        memcpy(m, ct, ct_len);
        memcpy(m, h, H);
        assert_int_equal(open_ct(m, ct_len, ctx, ctx_len, key), KW_ERR_FORMAT);
        assert_int_equal(kw_chunk_opened_len(m, ct_len, &pt_len), KW_ERR_FORMAT);
        assert_int_equal(kw_chunk_dec_new(&dec, h, H, key, ctx, ctx_len), KW_ERR_FORMAT);
        assert_null(dec);
        free(m);
    }
    uint8_t h[H + 1];
    memcpy(h, ct, H);
    h[0] = 2; /* unknown version */
    assert_int_equal(kw_chunk_dec_new(&dec, h, H, key, ctx, ctx_len), KW_ERR_FORMAT);
    h[0] = 0;
    assert_int_equal(kw_chunk_dec_new(&dec, h, H, key, ctx, ctx_len), KW_ERR_FORMAT);
    memcpy(h, ct, H);
    h[H] = 0;
    assert_int_equal(kw_chunk_dec_new(&dec, h, H + 1, key, ctx, ctx_len), KW_ERR_FORMAT);
    assert_int_equal(kw_chunk_dec_new(&dec, h, H, key, ctx, ctx_len), KW_OK);
    kw_chunk_dec_free(&dec);
    kw_chunk_dec_free(&dec); /* no-op */
    free(ct);
    free(pt);
}

static void test_stream_piece_limits(void **state)
{
    (void)state;
    uint8_t *pt = make_pt(2 * CS);
    size_t ct_len, got;
    uint8_t *ct = seal(pt, 2 * CS, CS, &ct_len);
    uint8_t out[CS + 64];
    kw_chunk_dec *dec = NULL;

    /* oversized piece */
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_dec_piece_len(dec), PIECE);
    assert_int_equal(kw_chunk_dec_push(dec, out, sizeof(out), &got, ct + H, PIECE + 1),
                     KW_ERR_TOO_LARGE);
    /* sticky: a good piece is refused afterwards with the same code */
    assert_int_equal(kw_chunk_dec_push(dec, out, sizeof(out), &got, ct + H, PIECE),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_chunk_dec_finish(dec), KW_ERR_TOO_LARGE);
    kw_chunk_dec_free(&dec);

    /* a piece shorter than a tag */
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, sizeof(out), &got, ct + H, 15),
                     KW_ERR_TRUNCATED);
    kw_chunk_dec_free(&dec);

    /* output too small */
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, CS - 1, &got, ct + H, PIECE), KW_ERR_TOO_LARGE);
    kw_chunk_dec_free(&dec);

    /* a verify failure is sticky too, and finish reports it */
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, sizeof(out), &got, ct + H + PIECE, PIECE),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_chunk_dec_push(dec, out, sizeof(out), &got, ct + H, PIECE),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_chunk_dec_finish(dec), KW_ERR_VERIFY);
    kw_chunk_dec_free(&dec);

    /* a shorter-than-full middle piece must be final: refused */
    assert_int_equal(kw_chunk_dec_new(&dec, ct, H, key, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_dec_push(dec, out, sizeof(out), &got, ct + H, PIECE - 1),
                     KW_ERR_VERIFY);
    kw_chunk_dec_free(&dec);
    free(ct);
    free(pt);
}

static void test_enc_misuse_and_in_place(void **state)
{
    (void)state;
    uint8_t hdr[H];
    kw_chunk_enc *enc = NULL;
    size_t got, out_len;
    uint8_t *buf = malloc(H + 2 * PIECE);
    uint8_t *pt = make_pt(2 * CS);
    assert_non_null(buf);

    assert_int_equal(kw_chunk_enc_new(&enc, hdr, key, 1000, ctx, ctx_len), KW_ERR_INVALID_ARG);
    assert_null(enc);
    assert_int_equal(kw_chunk_enc_new(&enc, hdr, key, CS, ctx, KW_CHUNK_CONTEXT_MAXBYTES + 1),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_chunk_enc_new(&enc, hdr, key, CS, ctx, ctx_len), KW_OK);
    assert_int_equal(kw_chunk_enc_push(enc, buf, PIECE, &got, pt, CS - 1, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_chunk_enc_push(enc, buf, 2 * PIECE, &got, pt, CS + 1, 1),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_chunk_enc_push(enc, buf, PIECE - 1, &got, pt, CS, 0), KW_ERR_TOO_LARGE);
    assert_int_equal(got, 0);

    /* in place: the plaintext sits where the ciphertext goes */
    memcpy(buf, hdr, H);
    memcpy(buf + H, pt, CS);
    assert_int_equal(kw_chunk_enc_push(enc, buf + H, PIECE, &got, buf + H, CS, 0), KW_OK);
    assert_int_equal(got, PIECE);
    memcpy(buf + H + PIECE, pt + CS, CS);
    assert_int_equal(kw_chunk_enc_push(enc, buf + H + PIECE, PIECE, &got, buf + H + PIECE, CS, 1),
                     KW_OK);
    assert_int_equal(kw_chunk_enc_push(enc, buf, PIECE, &got, pt, 0, 1), KW_ERR_INVALID_ARG);
    kw_chunk_enc_free(&enc);
    kw_chunk_enc_free(&enc); /* no-op */

    uint8_t *out = malloc(2 * CS);
    assert_non_null(out);
    assert_int_equal(kw_chunk_open(out, 2 * CS, &out_len, buf, H + 2 * PIECE, ctx, ctx_len, key),
                     KW_OK);
    assert_memory_equal(out, pt, 2 * CS);
    free(out);
    free(pt);
    free(buf);
}

/* A failing one-shot open leaves no plaintext of earlier, authentic chunks. */
static void test_open_wipes_output(void **state)
{
    (void)state;
    const size_t n = 3 * CS + 9;
    uint8_t *pt = make_pt(n);
    size_t ct_len, out_len;
    uint8_t *ct = seal(pt, n, CS, &ct_len);
    uint8_t *out = malloc(n);
    assert_non_null(out);
    ct[ct_len - 1] ^= 0x80; /* last tag */
    assert_int_equal(kw_chunk_open(out, n, &out_len, ct, ct_len, ctx, ctx_len, key),
                     KW_ERR_VERIFY);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], 0);
    free(out);
    free(ct);
    free(pt);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_context_build),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_roundtrip_boundaries),
        cmocka_unit_test(test_empty_is_one_final_chunk),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_data_after_final),
        cmocka_unit_test(test_reorder_and_splice),
        cmocka_unit_test(test_wrong_context_or_key),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_stream_piece_limits),
        cmocka_unit_test(test_enc_misuse_and_in_place),
        cmocka_unit_test(test_open_wipes_output),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
