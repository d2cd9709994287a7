/* libFuzzer target: opening a chunked stream. The input is a sealed stream
 * under a fixed key and context. The one-shot and streaming decoders must
 * stay in bounds, return only documented codes, agree on acceptance and
 * plaintext, and leave no plaintext behind on failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/chunk.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds in fuzz/corpus/chunk_open were sealed with kw_chunk_seal under
 * this key, the context ("fuzz-record", version 1) and chunk size 4096:
 * plaintexts of 0, 10, 4096 and 3*4096+100 bytes, and the last one with its
 * final chunk dropped (final-dropped). */
static const uint8_t fuzz_key[KW_CHUNK_KEYBYTES] = {
    0x6b, 0x65, 0x79, 0x77, 0x61, 0x72, 0x64, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6b, 0x65, 0x79,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

static int code_ok(int r)
{
    return r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED || r == KW_ERR_TOO_LARGE ||
           r == KW_ERR_VERIFY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (kw_init() != KW_OK)
            abort();
        ready = 1;
    }
    uint8_t ctx[64];
    size_t ctx_len;
    if (kw_chunk_context_build(ctx, sizeof(ctx), &ctx_len, (const uint8_t *)"fuzz-record", 11, 1) !=
        KW_OK)
        abort();

    /* one-shot */
    size_t cap = size, out_len = 1, pt_len = 0;
    uint8_t *out = malloc(cap + 1);
    if (out == NULL)
        return 0;
    memset(out, 0xa5, cap + 1);
    int have_len = kw_chunk_opened_len(data, size, &pt_len) == KW_OK;
    int r1 = kw_chunk_open(out, cap, &out_len, data, size, ctx, ctx_len, fuzz_key);
    if (r1 == KW_OK) {
        if (!have_len || out_len != pt_len)
            abort();
    } else {
        if (!code_ok(r1) || out_len != 0)
            abort();
        for (size_t i = 0; have_len && i < pt_len && i < cap; i++)
            if (out[i] != 0 && out[i] != 0xa5)
                abort();
    }

    /* streaming, in pieces of the advertised size */
    kw_chunk_dec *dec = NULL;
    uint8_t *sout = NULL;
    size_t total = 0;
    int r2 = kw_chunk_dec_new(&dec, data, size < KW_CHUNK_HEADERBYTES ? size : KW_CHUNK_HEADERBYTES,
                              fuzz_key, ctx, ctx_len);
    if (r2 == KW_OK) {
        size_t piece = kw_chunk_dec_piece_len(dec);
        sout = malloc(size + piece);
        if (sout == NULL)
            goto done;
        size_t off = KW_CHUNK_HEADERBYTES;
        while (r2 == KW_OK && off < size) {
            size_t n = size - off > piece ? piece : size - off, got = 1;
            r2 = kw_chunk_dec_push(dec, sout + total, piece, &got, data + off, n);
            if (r2 != KW_OK && got != 0)
                abort();
            total += got;
            off += n;
        }
        if (r2 == KW_OK)
            r2 = kw_chunk_dec_finish(dec);
    }
    if (r2 != KW_OK && !code_ok(r2))
        abort();
    if ((r1 == KW_OK) != (r2 == KW_OK))
        abort();
    if (r1 == KW_OK && (total != out_len || (total > 0 && memcmp(out, sout, total) != 0)))
        abort();
done:
    kw_chunk_dec_free(&dec);
    free(sout);
    free(out);
    return 0;
}
