/*
 * keyward/chunk.h — chunked authenticated encryption of record contents.
 *
 * A sealed stream is a header followed by chunks:
 *
 *   header  = u8 version (1) ‖ u32 chunk_size (big-endian) ‖ 24-byte random
 *             stream nonce                                   (29 bytes)
 *   chunk i = XChaCha20-Poly1305(record key, nonce_i, ad_i, plaintext_i)
 *             = ciphertext_i ‖ 16-byte tag
 *
 * Every chunk but the last carries exactly chunk_size plaintext bytes; the
 * last carries 0..chunk_size and is marked final. An empty plaintext is one
 * final empty chunk. nonce_i is the stream nonce with u64_be(i) XORed into
 * its last 8 bytes, so nonces never repeat inside a stream and streams are
 * separated by their random nonce. The associated data is
 *
 *   ad_i = header ‖ u16_be(len(context)) ‖ context ‖ u64_be(i) ‖ u8 final
 *
 * where context names what is encrypted (kw_chunk_context_build: record id
 * and version). Hence reordered chunks, chunks spliced from another stream
 * under the same key, a wrong record id or version, a changed header, a
 * dropped final chunk and bytes after the final chunk are all detected.
 *
 * Decryption releases a chunk's plaintext only after that chunk has
 * authenticated; the one-shot open wipes its whole output on failure. The
 * decoder distinguishes:
 *   KW_ERR_FORMAT     bad header (version, chunk size), or an authentic
 *                     chunk found after the final chunk;
 *   KW_ERR_TRUNCATED  the stream ends without a final chunk (cut at a chunk
 *                     boundary, a header or last piece too short to hold a
 *                     tag);
 *   KW_ERR_TOO_LARGE  a streaming input piece longer than chunk_size + 16,
 *                     or an output buffer too small;
 *   KW_ERR_VERIFY     a chunk fails to authenticate (flipped bit, wrong key
 *                     or context, reordered or spliced chunk, a stream cut
 *                     inside a chunk).
 *
 * Secrets: the record key (copied into sodium_malloc'd memory by the stream
 * objects and wiped on free) and the plaintext. Objects are not thread-safe;
 * the one-shot functions are.
 */
#ifndef KEYWARD_CHUNK_H
#define KEYWARD_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define KW_CHUNK_VERSION 1
#define KW_CHUNK_KEYBYTES 32
#define KW_CHUNK_NONCEBYTES 24
#define KW_CHUNK_HEADERBYTES 29 /* version ‖ chunk size ‖ stream nonce */
#define KW_CHUNK_ABYTES 16      /* tag added to every chunk */
#define KW_CHUNK_SIZE_DEFAULT ((size_t)1 << 16)
#define KW_CHUNK_SIZE_MIN ((size_t)1 << 12)
#define KW_CHUNK_SIZE_MAX ((size_t)1 << 20)
#define KW_CHUNK_CONTEXT_MAXBYTES 1024
/* kw_chunk_context_build: u16 len ‖ record id ‖ u64 version */
#define KW_CHUNK_RECORD_ID_MAXBYTES (KW_CHUNK_CONTEXT_MAXBYTES - 10)

/* Builds the context for a record: u16_be(len(record_id)) ‖ record_id ‖
 * u64_be(version) into out[0..*out_len). KW_ERR_TOO_LARGE when the record id
 * exceeds KW_CHUNK_RECORD_ID_MAXBYTES or out_cap is too small. */
int kw_chunk_context_build(uint8_t *out, size_t out_cap, size_t *out_len,
                           const uint8_t *record_id, size_t record_id_len, uint64_t version);

/* Size of the sealed form of pt_len plaintext bytes with chunks of
 * chunk_size (0 means KW_CHUNK_SIZE_DEFAULT):
 *   KW_CHUNK_HEADERBYTES + pt_len + KW_CHUNK_ABYTES * max(1, ceil(pt_len / chunk_size)).
 * KW_ERR_INVALID_ARG for a chunk size that is not a power of two in
 * [KW_CHUNK_SIZE_MIN, KW_CHUNK_SIZE_MAX]; KW_ERR_TOO_LARGE when the result
 * does not fit in a size_t. */
int kw_chunk_sealed_len(size_t pt_len, size_t chunk_size, size_t *ct_len);

/* Plaintext length a sealed stream of ct_len bytes will open to, read from
 * its header (which is checked but not authenticated here). KW_ERR_FORMAT for
 * a bad header, KW_ERR_TRUNCATED when ct_len cannot hold a header and a final
 * chunk. */
int kw_chunk_opened_len(const uint8_t *ct, size_t ct_len, size_t *pt_len);

/* One-shot seal of pt[0..pt_len) into out (which must not overlap pt):
 * a fresh random stream nonce, chunks of chunk_size (0 = default).
 * *out_len gets kw_chunk_sealed_len(). KW_ERR_INVALID_ARG for a bad chunk
 * size, KW_ERR_TOO_LARGE when out_cap is short or the context exceeds
 * KW_CHUNK_CONTEXT_MAXBYTES. */
int kw_chunk_seal(uint8_t *out, size_t out_cap, size_t *out_len,
                  const uint8_t *pt, size_t pt_len, size_t chunk_size,
                  const uint8_t *ctx, size_t ctx_len,
                  const uint8_t key[static KW_CHUNK_KEYBYTES]);

/* One-shot open of a sealed stream into out (which must not overlap ct).
 * Succeeds only when every chunk authenticates under key and ctx and the
 * last one is final; on any failure *out_len is 0 and out holds no
 * plaintext (chunks that authenticated before the failure are zeroed). Errors as in the header comment. */
__attribute__((warn_unused_result))
int kw_chunk_open(uint8_t *out, size_t out_cap, size_t *out_len,
                  const uint8_t *ct, size_t ct_len,
                  const uint8_t *ctx, size_t ctx_len,
                  const uint8_t key[static KW_CHUNK_KEYBYTES]);

/* ---- streaming ---------------------------------------------------------- */

typedef struct kw_chunk_enc kw_chunk_enc;
typedef struct kw_chunk_dec kw_chunk_dec;

/* Starts an encryption stream: copies key and ctx, draws the stream nonce and
 * writes the header the caller must emit first. chunk_size 0 = default.
 * KW_ERR_INVALID_ARG for a bad chunk size, KW_ERR_TOO_LARGE for an oversized
 * context, KW_ERR_NOMEM. *enc is NULL on failure. */
int kw_chunk_enc_new(kw_chunk_enc **enc, uint8_t header[static KW_CHUNK_HEADERBYTES],
                     const uint8_t key[static KW_CHUNK_KEYBYTES], size_t chunk_size,
                     const uint8_t *ctx, size_t ctx_len);

/* The stream's chunk size. */
size_t kw_chunk_enc_chunk_size(const kw_chunk_enc *enc);

/* Encrypts the next chunk: in_len must be exactly the chunk size unless
 * final is non-zero, in which case 0..chunk size. Writes in_len +
 * KW_CHUNK_ABYTES bytes to out; out may equal in (in place) but must not
 * otherwise overlap it. KW_ERR_INVALID_ARG for a wrong length or a push after
 * the final chunk, KW_ERR_TOO_LARGE when out_cap is short, KW_ERR_LIMIT when
 * the chunk counter is exhausted. */
int kw_chunk_enc_push(kw_chunk_enc *enc, uint8_t *out, size_t out_cap, size_t *out_len,
                      const uint8_t *in, size_t in_len, int final);

/* Wipes and frees *enc, sets it to NULL; NULL is a no-op. */
void kw_chunk_enc_free(kw_chunk_enc **enc);

/* Starts a decryption stream from the header bytes (exactly
 * KW_CHUNK_HEADERBYTES). KW_ERR_TRUNCATED for a short header, KW_ERR_FORMAT
 * for a bad one (or trailing bytes), KW_ERR_TOO_LARGE for an oversized
 * context, KW_ERR_NOMEM. */
int kw_chunk_dec_new(kw_chunk_dec **dec, const uint8_t *header, size_t header_len,
                     const uint8_t key[static KW_CHUNK_KEYBYTES],
                     const uint8_t *ctx, size_t ctx_len);

/* The size of each ciphertext piece to push: chunk size + KW_CHUNK_ABYTES.
 * Only the last piece of a stream may be shorter. */
size_t kw_chunk_dec_piece_len(const kw_chunk_dec *dec);

/* Authenticates and decrypts the next chunk into out (in_len - 16 bytes;
 * out must not overlap in). A piece of exactly kw_chunk_dec_piece_len() bytes
 * may be a middle or the final chunk; a shorter one must be final.
 * KW_ERR_TOO_LARGE for a longer piece or a short out_cap, KW_ERR_TRUNCATED for
 * a piece shorter than a tag, KW_ERR_VERIFY when it does not authenticate,
 * KW_ERR_FORMAT for a piece after the final chunk, KW_ERR_LIMIT when the
 * chunk counter is exhausted. out holds no plaintext
 * on failure, and any failure is sticky: every later push and finish returns
 * the same code. */
__attribute__((warn_unused_result))
int kw_chunk_dec_push(kw_chunk_dec *dec, uint8_t *out, size_t out_cap, size_t *out_len,
                      const uint8_t *in, size_t in_len);

/* Non-zero once the final chunk has authenticated. */
int kw_chunk_dec_done(const kw_chunk_dec *dec);

/* Call at the end of input: 0 when the final chunk was seen,
 * KW_ERR_TRUNCATED when the stream ended without it, or the sticky error.
 * Plaintext already released is only trustworthy as a whole after this
 * returns 0. */
__attribute__((warn_unused_result))
int kw_chunk_dec_finish(kw_chunk_dec *dec);

/* Wipes and frees *dec, sets it to NULL; NULL is a no-op. */
void kw_chunk_dec_free(kw_chunk_dec **dec);

#endif
