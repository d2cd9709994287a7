#include "keyward/chunk.h"

#include <sodium.h>
#include <string.h>

#include "keyward/err.h"

/* Largest associated data: header ‖ u16 len ‖ context ‖ u64 index ‖ final. */
#define CHUNK_AD_TAILBYTES 9
#define CHUNK_AD_MAXBYTES \
    (KW_CHUNK_HEADERBYTES + 2 + KW_CHUNK_CONTEXT_MAXBYTES + CHUNK_AD_TAILBYTES)

_Static_assert(KW_CHUNK_KEYBYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(KW_CHUNK_NONCEBYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(KW_CHUNK_ABYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");

/* State shared by the one-shot functions and the stream objects. The AD
 * buffer holds the fixed prefix; its last 9 bytes are rewritten per chunk. */
struct chunk_state {
    uint8_t key[KW_CHUNK_KEYBYTES];
    uint8_t nonce[KW_CHUNK_NONCEBYTES];
    size_t cs;
    uint64_t index;
    size_t ad_len;
    uint8_t ad[CHUNK_AD_MAXBYTES];
};

struct kw_chunk_enc {
    struct chunk_state st;
    int finished;
};

struct kw_chunk_dec {
    struct chunk_state st;
    int done;
    int err; /* sticky error, 0 while healthy */
};

static void put_be(uint8_t *p, uint64_t v, size_t width)
{
    for (size_t i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static int chunk_size_ok(size_t cs)
{
    return cs >= KW_CHUNK_SIZE_MIN && cs <= KW_CHUNK_SIZE_MAX && (cs & (cs - 1)) == 0;
}

/* Checks a header's version and chunk size; the nonce is any 24 bytes. */
static int chunk_header_parse(const uint8_t h[KW_CHUNK_HEADERBYTES], size_t *cs)
{
    size_t v = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
    if (h[0] != KW_CHUNK_VERSION || !chunk_size_ok(v))
        return KW_ERR_FORMAT;
    *cs = v;
    return KW_OK;
}

/* Fills st (except key) from a header and the context. */
static void chunk_state_init(struct chunk_state *st, const uint8_t header[KW_CHUNK_HEADERBYTES],
                             size_t cs, const uint8_t *ctx, size_t ctx_len)
{
    st->cs = cs;
    st->index = 0;
    memcpy(st->nonce, header + 5, KW_CHUNK_NONCEBYTES);
    memcpy(st->ad, header, KW_CHUNK_HEADERBYTES);
    put_be(st->ad + KW_CHUNK_HEADERBYTES, ctx_len, 2);
    if (ctx_len > 0)
        memcpy(st->ad + KW_CHUNK_HEADERBYTES + 2, ctx, ctx_len);
    st->ad_len = KW_CHUNK_HEADERBYTES + 2 + ctx_len + CHUNK_AD_TAILBYTES;
}

/* Sets the per-chunk nonce and AD tail for st->index and final. */
static void chunk_prepare(struct chunk_state *st, uint8_t nonce[KW_CHUNK_NONCEBYTES], int final)
{
    memcpy(nonce, st->nonce, KW_CHUNK_NONCEBYTES);
    for (size_t i = 0; i < 8; i++)
        nonce[16 + i] ^= (uint8_t)(st->index >> (8 * (7 - i)));
    uint8_t *tail = st->ad + st->ad_len - CHUNK_AD_TAILBYTES;
    put_be(tail, st->index, 8);
    tail[8] = final ? 1 : 0;
}

static void chunk_encrypt(struct chunk_state *st, uint8_t *out, const uint8_t *in, size_t in_len,
                          int final)
{
    uint8_t nonce[KW_CHUNK_NONCEBYTES];
    chunk_prepare(st, nonce, final);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, in, in_len, st->ad, st->ad_len, NULL,
                                               nonce, st->key);
}

/* Authenticates, then decrypts, one piece (in_len >= 16) as chunk
 * st->index with the given final flag. 0 or -1. */
static int chunk_decrypt(struct chunk_state *st, uint8_t *out, const uint8_t *in, size_t in_len,
                         int final)
{
    uint8_t nonce[KW_CHUNK_NONCEBYTES];
    chunk_prepare(st, nonce, final);
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in, in_len, st->ad,
                                                      st->ad_len, nonce, st->key);
}

/* Decrypts a piece expected to carry final flag `expect`; when it does not
 * authenticate and is full-sized, tries the other flag to name the failure:
 * `wrong_flag_err` when it authenticates that way, KW_ERR_VERIFY otherwise.
 * out holds no plaintext on failure. */
static int chunk_open_piece(struct chunk_state *st, uint8_t *out, const uint8_t *in,
                            size_t in_len, int expect, int wrong_flag_err)
{
    if (chunk_decrypt(st, out, in, in_len, expect) == 0)
        return KW_OK;
    if (in_len == st->cs + KW_CHUNK_ABYTES && chunk_decrypt(st, out, in, in_len, !expect) == 0) {
        sodium_memzero(out, in_len - KW_CHUNK_ABYTES);
        return wrong_flag_err;
    }
    return KW_ERR_VERIFY;
}

int kw_chunk_context_build(uint8_t *out, size_t out_cap, size_t *out_len,
                           const uint8_t *record_id, size_t record_id_len, uint64_t version)
{
    *out_len = 0;
    if (record_id_len > KW_CHUNK_RECORD_ID_MAXBYTES || out_cap < record_id_len + 10)
        return KW_ERR_TOO_LARGE;
    put_be(out, record_id_len, 2);
    if (record_id_len > 0)
        memcpy(out + 2, record_id, record_id_len);
    put_be(out + 2 + record_id_len, version, 8);
    *out_len = record_id_len + 10;
    return KW_OK;
}

int kw_chunk_sealed_len(size_t pt_len, size_t chunk_size, size_t *ct_len)
{
    *ct_len = 0;
    if (chunk_size == 0)
        chunk_size = KW_CHUNK_SIZE_DEFAULT;
    if (!chunk_size_ok(chunk_size))
        return KW_ERR_INVALID_ARG;
    size_t chunks = pt_len / chunk_size + (pt_len % chunk_size != 0 ? 1 : 0);
    if (chunks == 0)
        chunks = 1;
    size_t tags = chunks * KW_CHUNK_ABYTES; /* chunks <= SIZE_MAX / 4096: no overflow */
    if (pt_len > SIZE_MAX - tags || pt_len + tags > SIZE_MAX - KW_CHUNK_HEADERBYTES)
        return KW_ERR_TOO_LARGE;
    *ct_len = KW_CHUNK_HEADERBYTES + pt_len + tags;
    return KW_OK;
}

int kw_chunk_opened_len(const uint8_t *ct, size_t ct_len, size_t *pt_len)
{
    size_t cs;
    *pt_len = 0;
    if (ct_len < KW_CHUNK_HEADERBYTES)
        return KW_ERR_TRUNCATED;
    int r = chunk_header_parse(ct, &cs);
    if (r != KW_OK)
        return r;
    size_t rem = ct_len - KW_CHUNK_HEADERBYTES;
    size_t piece = cs + KW_CHUNK_ABYTES;
    size_t last = rem % piece;
    if (rem == 0 || (last != 0 && last < KW_CHUNK_ABYTES))
        return KW_ERR_TRUNCATED;
    *pt_len = (rem / piece) * cs + (last != 0 ? last - KW_CHUNK_ABYTES : 0);
    return KW_OK;
}

int kw_chunk_seal(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *pt,
                  size_t pt_len, size_t chunk_size, const uint8_t *ctx, size_t ctx_len,
                  const uint8_t key[static KW_CHUNK_KEYBYTES])
{
    struct chunk_state st;
    uint8_t header[KW_CHUNK_HEADERBYTES];
    size_t need;
    int r = KW_ERR_INTERNAL;

    *out_len = 0;
    if (chunk_size == 0)
        chunk_size = KW_CHUNK_SIZE_DEFAULT;
    if ((r = kw_chunk_sealed_len(pt_len, chunk_size, &need)) != KW_OK)
        return r;
    if (ctx_len > KW_CHUNK_CONTEXT_MAXBYTES || need > out_cap)
        return KW_ERR_TOO_LARGE;

    header[0] = KW_CHUNK_VERSION;
    put_be(header + 1, chunk_size, 4);
    randombytes_buf(header + 5, KW_CHUNK_NONCEBYTES);
    chunk_state_init(&st, header, chunk_size, ctx, ctx_len);
    memcpy(st.key, key, KW_CHUNK_KEYBYTES);

    memcpy(out, header, KW_CHUNK_HEADERBYTES);
    uint8_t *o = out + KW_CHUNK_HEADERBYTES;
    size_t done = 0;
    for (;;) {
        size_t n = pt_len - done > chunk_size ? chunk_size : pt_len - done;
        int final = (done + n == pt_len);
        /* pt may be NULL for an empty plaintext: no arithmetic on it then */
        chunk_encrypt(&st, o, n > 0 ? pt + done : pt, n, final);
        o += n + KW_CHUNK_ABYTES;
        done += n;
        st.index++;
        if (final)
            break;
    }
    *out_len = need;
    r = KW_OK;
    sodium_memzero(&st, sizeof(st));
    return r;
}

int kw_chunk_open(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *ct,
                  size_t ct_len, const uint8_t *ctx, size_t ctx_len,
                  const uint8_t key[static KW_CHUNK_KEYBYTES])
{
    struct chunk_state st;
    size_t pt_len = 0, cs;
    int r = KW_ERR_INTERNAL;

    *out_len = 0;
    if ((r = kw_chunk_opened_len(ct, ct_len, &pt_len)) != KW_OK)
        return r;
    if (ctx_len > KW_CHUNK_CONTEXT_MAXBYTES || pt_len > out_cap)
        return KW_ERR_TOO_LARGE;
    if ((r = chunk_header_parse(ct, &cs)) != KW_OK)
        return r;
    chunk_state_init(&st, ct, cs, ctx, ctx_len);
    memcpy(st.key, key, KW_CHUNK_KEYBYTES);

    const uint8_t *p = ct + KW_CHUNK_HEADERBYTES;
    size_t rem = ct_len - KW_CHUNK_HEADERBYTES;
    uint8_t *o = out;
    for (;;) {
        size_t piece = rem > cs + KW_CHUNK_ABYTES ? cs + KW_CHUNK_ABYTES : rem;
        int last = (piece == rem);
        /* A middle piece that authenticates as final means data follows the
         * final chunk; a last piece that authenticates as non-final means
         * the final chunk was cut off. */
        r = chunk_open_piece(&st, o, p, piece, last, last ? KW_ERR_TRUNCATED : KW_ERR_FORMAT);
        if (r != KW_OK)
            goto out;
        o += piece - KW_CHUNK_ABYTES;
        p += piece;
        rem -= piece;
        st.index++;
        if (last)
            break;
    }
    *out_len = pt_len;
    r = KW_OK;
out:
    if (r != KW_OK)
        sodium_memzero(out, pt_len);
    sodium_memzero(&st, sizeof(st));
    return r;
}

/* sodium_malloc does not align unless the size is a multiple of the
 * alignment; round up so the struct is properly aligned. */
static void *chunk_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    void *p = sodium_malloc(size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

int kw_chunk_enc_new(kw_chunk_enc **enc, uint8_t header[static KW_CHUNK_HEADERBYTES],
                     const uint8_t key[static KW_CHUNK_KEYBYTES], size_t chunk_size,
                     const uint8_t *ctx, size_t ctx_len)
{
    *enc = NULL;
    if (chunk_size == 0)
        chunk_size = KW_CHUNK_SIZE_DEFAULT;
    if (!chunk_size_ok(chunk_size))
        return KW_ERR_INVALID_ARG;
    if (ctx_len > KW_CHUNK_CONTEXT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    kw_chunk_enc *e = chunk_alloc(sizeof(*e));
    if (e == NULL)
        return KW_ERR_NOMEM;
    header[0] = KW_CHUNK_VERSION;
    put_be(header + 1, chunk_size, 4);
    randombytes_buf(header + 5, KW_CHUNK_NONCEBYTES);
    chunk_state_init(&e->st, header, chunk_size, ctx, ctx_len);
    memcpy(e->st.key, key, KW_CHUNK_KEYBYTES);
    *enc = e; /* transferred */
    return KW_OK;
}

size_t kw_chunk_enc_chunk_size(const kw_chunk_enc *enc)
{
    return enc->st.cs;
}

int kw_chunk_enc_push(kw_chunk_enc *enc, uint8_t *out, size_t out_cap, size_t *out_len,
                      const uint8_t *in, size_t in_len, int final)
{
    *out_len = 0;
    if (enc->finished || in_len > enc->st.cs || (!final && in_len != enc->st.cs))
        return KW_ERR_INVALID_ARG;
    if (out_cap < in_len + KW_CHUNK_ABYTES)
        return KW_ERR_TOO_LARGE;
    if (enc->st.index == UINT64_MAX)
        return KW_ERR_LIMIT;
    chunk_encrypt(&enc->st, out, in, in_len, final);
    enc->st.index++;
    enc->finished = final != 0;
    *out_len = in_len + KW_CHUNK_ABYTES;
    return KW_OK;
}

void kw_chunk_enc_free(kw_chunk_enc **enc)
{
    if (enc == NULL || *enc == NULL)
        return;
    sodium_free(*enc); /* sodium_free wipes */
    *enc = NULL;
}

int kw_chunk_dec_new(kw_chunk_dec **dec, const uint8_t *header, size_t header_len,
                     const uint8_t key[static KW_CHUNK_KEYBYTES], const uint8_t *ctx,
                     size_t ctx_len)
{
    size_t cs;
    *dec = NULL;
    if (header_len < KW_CHUNK_HEADERBYTES)
        return KW_ERR_TRUNCATED;
    if (header_len > KW_CHUNK_HEADERBYTES)
        return KW_ERR_FORMAT;
    int r = chunk_header_parse(header, &cs);
    if (r != KW_OK)
        return r;
    if (ctx_len > KW_CHUNK_CONTEXT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    kw_chunk_dec *d = chunk_alloc(sizeof(*d));
    if (d == NULL)
        return KW_ERR_NOMEM;
    chunk_state_init(&d->st, header, cs, ctx, ctx_len);
    memcpy(d->st.key, key, KW_CHUNK_KEYBYTES);
    *dec = d; /* transferred */
    return KW_OK;
}

size_t kw_chunk_dec_piece_len(const kw_chunk_dec *dec)
{
    return dec->st.cs + KW_CHUNK_ABYTES;
}

int kw_chunk_dec_push(kw_chunk_dec *dec, uint8_t *out, size_t out_cap, size_t *out_len,
                      const uint8_t *in, size_t in_len)
{
    int r = KW_ERR_INTERNAL;
    *out_len = 0;
    if (dec->err != 0)
        return dec->err;
    if (dec->done)
        r = KW_ERR_FORMAT; /* data after the final chunk */
    else if (in_len > dec->st.cs + KW_CHUNK_ABYTES)
        r = KW_ERR_TOO_LARGE;
    else if (in_len < KW_CHUNK_ABYTES)
        r = KW_ERR_TRUNCATED;
    else if (out_cap < in_len - KW_CHUNK_ABYTES)
        r = KW_ERR_TOO_LARGE;
    else if (dec->st.index == UINT64_MAX)
        r = KW_ERR_LIMIT;
    else if (in_len < dec->st.cs + KW_CHUNK_ABYTES)
        r = chunk_decrypt(&dec->st, out, in, in_len, 1) == 0 ? KW_OK : KW_ERR_VERIFY;
    else if (chunk_decrypt(&dec->st, out, in, in_len, 0) == 0)
        r = KW_OK;
    else
        r = chunk_decrypt(&dec->st, out, in, in_len, 1) == 0 ? KW_OK : KW_ERR_VERIFY;
    if (r != KW_OK) {
        dec->err = r;
        return r;
    }
    /* chunk_prepare left the final flag of the authenticated attempt in the
     * AD tail. */
    dec->done = dec->st.ad[dec->st.ad_len - 1] != 0;
    dec->st.index++;
    *out_len = in_len - KW_CHUNK_ABYTES;
    return KW_OK;
}

int kw_chunk_dec_done(const kw_chunk_dec *dec)
{
    return dec->err == 0 && dec->done;
}

int kw_chunk_dec_finish(kw_chunk_dec *dec)
{
    if (dec->err != 0)
        return dec->err;
    if (!dec->done) {
        dec->err = KW_ERR_TRUNCATED;
        return dec->err;
    }
    return KW_OK;
}

void kw_chunk_dec_free(kw_chunk_dec **dec)
{
    if (dec == NULL || *dec == NULL)
        return;
    sodium_free(*dec);
    *dec = NULL;
}
