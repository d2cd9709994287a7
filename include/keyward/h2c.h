/*
 * keyward/h2c.h — expand_message_xmd (RFC 9380 §5.3.1) with SHA-512.
 *
 * The uniform-bytes building block of hash-to-curve, used by the OPRF
 * (RFC 9497) to hash to ristretto255 and to scalars. libsodium 1.0.18 has no
 * hash-to-curve, so this construction lives here; the hash itself is
 * libsodium's SHA-512. Thread-safe; holds no state. The input message may be
 * secret (a password): intermediate blocks are wiped before return.
 *
 * Errors: KW_ERR_INVALID_ARG for an empty DST or a zero output length
 * (RFC 9380 §3.1 requires a non-empty tag), KW_ERR_TOO_LARGE for a DST over
 * 255 bytes (the §5.3.3 oversize-DST reduction is deliberately not applied:
 * every DST keyward uses is short) or an output over 255 blocks (16320
 * bytes).
 */
#ifndef KEYWARD_H2C_H
#define KEYWARD_H2C_H

#include <stddef.h>
#include <stdint.h>

#define KW_H2C_XMD_SHA512_MAXBYTES (255 * 64) /* ell <= 255 blocks of b_in_bytes */
#define KW_H2C_DST_MAXBYTES 255

/* expand_message_xmd(msg, DST, out_len) with H = SHA-512, written to
 * out[0..out_len). On error out is wiped. */
int kw_h2c_expand_xmd_sha512(uint8_t *out, size_t out_len, const uint8_t *msg, size_t msg_len,
                             const uint8_t *dst, size_t dst_len);

/* One piece of a message given in parts (so framed transcripts need no
 * copy); a NULL ptr is allowed only with len 0. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} kw_h2c_part;

/* As kw_h2c_expand_xmd_sha512 with msg the concatenation of parts[0..n). */
int kw_h2c_expand_xmd_sha512_parts(uint8_t *out, size_t out_len, const kw_h2c_part *parts,
                                   size_t nparts, const uint8_t *dst, size_t dst_len);

#endif
