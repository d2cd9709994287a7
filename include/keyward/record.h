/*
 * keyward/record.h — the wire format of cloud records: data categories and
 * their protection classes, zones, the record key wrapped by the
 * category's service key, the encrypted metadata and the chunked content.
 *
 * A record is addressed by (category, zone, id) and has a version that
 * every write increments (compare-and-swap on the server). Each version
 * has its own fresh 256-bit record key. From the record key, HKDF-SHA256
 * (salt "", info "keyward record meta v1" / "keyward record content v1")
 * derives the metadata key and the content key.
 *
 *   ctx      = "keyward record v1" ‖ u8 len ‖ category ‖ u8 len ‖ zone ‖
 *              id[16] ‖ u64 version                      (names the record version)
 *   wrap     = u32 g ‖ nonce[24] ‖ XChaCha20-Poly1305(service key of generation g,
 *              nonce, ad = "keyward record key v1" ‖ u32 g ‖ ctx, record key)   (76 bytes)
 *   meta     = "KWR1" ‖ nonce[24] ‖ XChaCha20-Poly1305(meta key, nonce,
 *              ad = "KWR1" ‖ ctx, meta_pt)
 *   meta_pt  = u8 format ‖ u16 len ‖ name ‖ u8 len ‖ type ‖ u64 ctime ‖ u64 mtime ‖
 *              u64 size ‖ u64 padded ‖ hash[32] ‖ u32 piece size ‖ zero padding
 *              up to a multiple of 128 bytes (hides the name length)
 *   format   = which content hash `hash` is (of the exact content, unpadded):
 *              1 = SHA-256, 2 = BLAKE2b-256 (libsodium crypto_generichash,
 *              32-byte output, no key). Any other value is KW_ERR_FORMAT.
 *              Clients write format 2 for content stored in pieces (the hash
 *              runs at transfer speed: BLAKE2b is ~3x libsodium's SHA-256
 *              here) and format 1 for inline content (<= 256 KiB sealed),
 *              which the server's reader of interoperable categories and
 *              browsers (WebCrypto has SHA-256, not BLAKE2b) check.
 *   content  = the content padded with zeros to `padded` bytes, cut into pieces
 *              of `piece size` bytes (the last one shorter; an empty content is
 *              one empty piece); piece i is sealed on its own with the
 *              foundation's chunked encryption (keyward/chunk.h, kw_chunk_seal,
 *              one chunk of up to 1 MiB) under the content key, with context
 *              pctx_i = ctx ‖ u64 i ‖ u8 final (final = 1 on the last piece).
 *              The chunk format's own associated data binds its header, that
 *              context, its chunk index and final flag; pctx_i binds category,
 *              zone, record id, version, piece index and the record-level final
 *              flag. Pieces are independent, so an upload resumes at any piece.
 *              The server stores the pieces (the "chunks" of the API).
 *
 * Names are 1..1024 bytes without NUL, types 0..128 bytes, zones 1..64
 * bytes of [A-Za-z0-9._-] not starting with '.', categories as
 * kw_category_name_ok (keyward/keychain.h). Sizes are padded to buckets
 * (kw_record_padded_size: at least 256 bytes, then Padmé — at most ~12%
 * overhead, the size leaks O(log log n) bits).
 *
 * Because the wrap and the metadata bind the whole ctx, a record served
 * under another id, zone, category or version (a swap, or an old version
 * replayed as the current one under a new number) fails to open:
 * KW_ERR_VERIFY. An old version replayed with its own number is detected
 * by the client's high-water marks, not here.
 *
 * Errors: KW_ERR_INVALID_ARG (a name, zone, category or size outside the
 * contract), KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE / KW_ERR_FORMAT (malformed
 * input, short output), KW_ERR_VERIFY (does not authenticate).
 * Secrets: record keys, service keys, derived keys and the metadata
 * plaintext; outputs of failed opens are zeroed. Thread-safe (stateless).
 */
#ifndef KEYWARD_RECORD_H
#define KEYWARD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/chunk.h"
#include "keyward/keychain.h"

#define KW_RECORD_KEYBYTES 32
#define KW_RECORD_IDBYTES 16
#define KW_RECORD_ZONE_MAXBYTES 64
#define KW_RECORD_NAME_MAXBYTES 1024
#define KW_RECORD_TYPE_MAXBYTES 128
#define KW_RECORD_WRAPBYTES (4 + 24 + KW_RECORD_KEYBYTES + 16)
#define KW_RECORD_META_PAD 128
#define KW_RECORD_META_FIXED (1 + 2 + 1 + 8 * 4 + 32 + 4)
#define KW_RECORD_META_PT_MAXBYTES                                                                 \
    (((KW_RECORD_META_FIXED + KW_RECORD_NAME_MAXBYTES + KW_RECORD_TYPE_MAXBYTES) /                 \
      KW_RECORD_META_PAD + 1) * KW_RECORD_META_PAD)
#define KW_RECORD_META_MAXBYTES (4 + 24 + KW_RECORD_META_PT_MAXBYTES + 16)
#define KW_RECORD_CTX_MAXBYTES                                                                     \
    (17 + 1 + KW_SVCKEY_CATEGORY_MAXBYTES + 1 + KW_RECORD_ZONE_MAXBYTES + KW_RECORD_IDBYTES + 8)
#define KW_RECORD_PIECE_BYTES KW_CHUNK_SIZE_MAX /* content piece size written (1 MiB) */
#define KW_RECORD_PIECE_MIN KW_CHUNK_SIZE_MIN
#define KW_RECORD_PIECE_OVERHEAD (KW_CHUNK_HEADERBYTES + KW_CHUNK_ABYTES) /* per piece */
#define KW_RECORD_PIECE_MAXBYTES (KW_RECORD_PIECE_BYTES + KW_RECORD_PIECE_OVERHEAD)
#define KW_RECORD_SIZE_MAX ((uint64_t)1 << 40)  /* content size limit (1 TiB) */
#define KW_RECORD_PAD_MIN 256

/* Protection classes (DESIGN.md "Advanced Data Protection"). */
#define KW_RECORD_CLASS_E2E 1     /* always end-to-end */
#define KW_RECORD_CLASS_ADP 2     /* end-to-end under ADP; server custody in standard protection */
#define KW_RECORD_CLASS_INTEROP 3 /* interoperable: the server may read it */

/* The default class of a category (keychain, passwords, health, messages:
 * E2E; backup, drive, photos, notes, reminders, bookmarks, voice-memos,
 * wallet: ADP; mail, contacts, calendar: INTEROP), or 0 for a category
 * without a default. */
int kw_record_class_default(const char *category);
/* "always-e2e" / "adp" / "interop" (NULL for an unknown class), and back
 * (0 for an unknown name). */
const char *kw_record_class_name(int cls);
int kw_record_class_parse(const char *name);
/* The categories with a default class, NULL-terminated. */
extern const char *const kw_record_default_categories[];

/* Non-zero for a valid zone name. */
int kw_record_zone_ok(const char *zone);

typedef struct {
    const char *category;
    const char *zone;
    uint8_t id[KW_RECORD_IDBYTES];
    uint64_t version; /* >= 1 */
} kw_record_ref;

typedef struct {
    char name[KW_RECORD_NAME_MAXBYTES + 1];
    char type[KW_RECORD_TYPE_MAXBYTES + 1];
    uint64_t ctime;  /* Unix seconds */
    uint64_t mtime;
    uint64_t size;   /* exact content length */
    uint64_t padded; /* kw_record_padded_size(size): bytes encrypted */
    union {
        uint8_t hash[32];   /* of the content (lets a backup skip unchanged files) */
        uint8_t sha256[32]; /* the older name of `hash` (format 1 only) */
    };
    uint32_t piece_size; /* a power of two in [KW_RECORD_PIECE_MIN, KW_RECORD_PIECE_BYTES] */
    uint8_t hash_alg;    /* the format: KW_RECORD_HASH_SHA256 or _BLAKE2B (0 seals as BLAKE2B) */
} kw_record_meta;

#define KW_RECORD_HASH_SHA256 1  /* metadata format 1 */
#define KW_RECORD_HASH_BLAKE2B 2 /* metadata format 2 */

/* Streaming content hash of either format (public state, not secret). */
typedef struct {
    _Alignas(64) unsigned char opaque[448]; /* libsodium's SHA-256 or BLAKE2b state */
    uint8_t alg;
} kw_record_hash_state;

/* Starts a content hash of format alg (KW_RECORD_HASH_*); KW_ERR_INVALID_ARG
 * for another value. */
int kw_record_hash_init(kw_record_hash_state *st, uint8_t alg);
void kw_record_hash_update(kw_record_hash_state *st, const uint8_t *p, size_t n);
void kw_record_hash_final(kw_record_hash_state *st, uint8_t out[static 32]);

/* The padded length for a content of `size` bytes (max(size, 256) rounded
 * up by Padmé). */
uint64_t kw_record_padded_size(uint64_t size);

/* The record context ctx into out[0..*len). KW_ERR_INVALID_ARG for a bad
 * category, zone or version 0. */
int kw_record_ctx(uint8_t out[static KW_RECORD_CTX_MAXBYTES], size_t *len, const kw_record_ref *ref);

/* A fresh random record key. */
void kw_record_key_new(uint8_t key[static KW_RECORD_KEYBYTES]);

/* Wraps the record key under the service key of generation gen (>= 1).
 * out zeroed on error. */
int kw_record_key_wrap(uint8_t out[static KW_RECORD_WRAPBYTES], const uint8_t key[static KW_RECORD_KEYBYTES],
                       const uint8_t svc_key[static KW_SVCKEY_BYTES], uint32_t gen,
                       const kw_record_ref *ref);

/* The service-key generation a wrap names (public). KW_ERR_TRUNCATED /
 * KW_ERR_TOO_LARGE for a wrong length, KW_ERR_FORMAT for generation 0. */
int kw_record_wrap_generation(const uint8_t *wrap, size_t wrap_len, uint32_t *gen);

/* Unwraps the record key with the service key of the wrap's generation.
 * KW_ERR_VERIFY (another key, record, version), length errors as above;
 * key zeroed on error. */
__attribute__((warn_unused_result))
int kw_record_key_unwrap(uint8_t key[static KW_RECORD_KEYBYTES], const uint8_t *wrap, size_t wrap_len,
                         const uint8_t svc_key[static KW_SVCKEY_BYTES], const kw_record_ref *ref);

/* Seals the metadata under the record key: out[0..*len), at most
 * KW_RECORD_META_MAXBYTES, in the format meta->hash_alg names (0: format 2,
 * BLAKE2b-256). KW_ERR_INVALID_ARG for a name outside 1..1024 bytes, a type
 * over 128, size over KW_RECORD_SIZE_MAX, padded != kw_record_padded_size(size)
 * or another hash_alg; KW_ERR_TOO_LARGE for a short out_cap. */
int kw_record_meta_seal(uint8_t *out, size_t out_cap, size_t *len, const kw_record_meta *meta,
                        const uint8_t key[static KW_RECORD_KEYBYTES], const kw_record_ref *ref);

/* Opens and strictly parses sealed metadata (the rules of meta_seal: format
 * 1 or 2, which sets meta->hash_alg; zero padding, no trailing bytes).
 * *meta zeroed on error. */
__attribute__((warn_unused_result))
int kw_record_meta_open(kw_record_meta *meta, const uint8_t *in, size_t in_len,
                        const uint8_t key[static KW_RECORD_KEYBYTES], const kw_record_ref *ref);

/* Number of pieces of a padded content of `padded` bytes cut in pieces of
 * piece_size, and the total sealed length. KW_ERR_INVALID_ARG for a bad
 * piece size or padded over KW_RECORD_SIZE_MAX. */
int kw_record_content_layout(uint64_t padded, uint32_t piece_size, uint64_t *npieces, uint64_t *ct_len);

/* Seals piece `index` (pt_len bytes, at most KW_RECORD_PIECE_BYTES; final
 * marks the last piece) into out[0..*out_len) (pt_len +
 * KW_RECORD_PIECE_OVERHEAD). KW_ERR_TOO_LARGE for a short out_cap. */
int kw_record_piece_seal(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *pt, size_t pt_len,
                         uint64_t index, int final, const uint8_t key[static KW_RECORD_KEYBYTES],
                         const kw_record_ref *ref);

/* Opens piece `index` (final as expected by the caller from the metadata).
 * KW_ERR_VERIFY when it does not authenticate as that piece of that record
 * version (swapped, reordered, a wrong final flag, tampered), other errors
 * as kw_chunk_open. out holds no plaintext on failure. */
__attribute__((warn_unused_result))
int kw_record_piece_open(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *ct, size_t ct_len,
                         uint64_t index, int final, const uint8_t key[static KW_RECORD_KEYBYTES],
                         const kw_record_ref *ref);

/* ---- transport of sealed pieces (public data) ----
 * Pieces travel in JSON as base64url without padding. These table-driven
 * codecs are for ciphertext only: they are fast and NOT constant time (use
 * keyward/codec.h for anything secret). Same rules as kw_b64url_decode:
 * the URL-safe alphabet only, no padding, canonical trailing bits;
 * KW_ERR_FORMAT, KW_ERR_TRUNCATED (length 1 mod 4), KW_ERR_TOO_LARGE (out_cap). */
int kw_record_b64_encode(char *out, size_t out_cap, const uint8_t *in, size_t n);
int kw_record_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t in_len);

#endif
