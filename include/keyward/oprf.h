/*
 * keyward/oprf.h — Oblivious pseudorandom functions, RFC 9497, suite
 * ristretto255-SHA512, in all three modes: OPRF (mode 0), VOPRF (mode 1,
 * verifiable, with a DLEQ proof against the server's public key) and POPRF
 * (mode 2, partially oblivious, with public info bound into the key).
 *
 * Owns: the suite's HashToGroup / HashToScalar / DeriveKeyPair, the client's
 * Blind and Finalize, the server's BlindEvaluate, and the batched DLEQ proofs
 * (GenerateProof / VerifyProof over ComputeComposites). Built on libsodium's
 * ristretto255 group and scalar arithmetic and on kw_h2c_expand_xmd_sha512.
 *
 * Encodings: elements are canonical 32-byte ristretto255 encodings, scalars
 * 32-byte little-endian reduced mod the group order, proofs c || s (64
 * bytes), outputs 64 bytes (SHA-512).
 *
 * Secrets: private keys (sk), blinds, the proof randomness r and the PRF
 * inputs and outputs are secret; every temporary derived from them is wiped
 * before return. Functions ending in _det take the randomness (blind or r)
 * from the caller: they exist for known-answer tests and for protocols (such
 * as OPAQUE) that derive it themselves; anything else should call the
 * variants that draw it from randombytes_buf.
 *
 * Errors: KW_ERR_INVALID_ARG for a bad mode, batch size 0 or over
 * KW_OPRF_MAX_BATCH, or NULL pointers; KW_ERR_TOO_LARGE for an input or info
 * over 65535 bytes; KW_ERR_FORMAT for an element that is not a canonical
 * ristretto255 encoding or a scalar that is not reduced; KW_ERR_CRYPTO for
 * the identity element, a zero scalar, or an input that hashes to the
 * identity (InvalidInputError); KW_ERR_VERIFY for a proof that does not
 * verify. Outputs are wiped on every error. Thread-safe; holds no state.
 */
#ifndef KEYWARD_OPRF_H
#define KEYWARD_OPRF_H

#include <stddef.h>
#include <stdint.h>

#define KW_OPRF_MODE_OPRF 0
#define KW_OPRF_MODE_VOPRF 1
#define KW_OPRF_MODE_POPRF 2

#define KW_OPRF_ELEMENTBYTES 32
#define KW_OPRF_SCALARBYTES 32
#define KW_OPRF_SKBYTES 32
#define KW_OPRF_PKBYTES 32
#define KW_OPRF_PROOFBYTES 64
#define KW_OPRF_OUTPUTBYTES 64
#define KW_OPRF_SEEDBYTES 32
#define KW_OPRF_INPUT_MAXBYTES 65535 /* lengths are framed as 2-byte integers */
#define KW_OPRF_INFO_MAXBYTES 65535
#define KW_OPRF_MAX_BATCH 256 /* the composite index is 2 bytes; we cap lower */

#define KW_OPRF_WUR __attribute__((warn_unused_result))

/* --- building blocks ---------------------------------------------------- */

/* HashToGroup(input) for the given mode's contextString: expand_message_xmd
 * to 64 bytes under "HashToGroup-" || contextString, then ristretto255's
 * one-way map. KW_ERR_CRYPTO if the result is the identity, KW_ERR_TOO_LARGE
 * for an input over KW_OPRF_INPUT_MAXBYTES. */
int kw_oprf_hash_to_group(uint8_t out[static KW_OPRF_ELEMENTBYTES], int mode,
                          const uint8_t *input, size_t input_len);

/* HashToScalar(input, DST): 64 uniform bytes reduced mod the group order.
 * A NULL dst means the default "HashToScalar-" || contextString. */
int kw_oprf_hash_to_scalar(uint8_t out[static KW_OPRF_SCALARBYTES], int mode,
                           const uint8_t *input, size_t input_len,
                           const uint8_t *dst, size_t dst_len);

/* DeriveKeyPair(seed, info) (RFC 9497 §3.2.1). pk may be NULL when only the
 * private key is needed (saves a base-point multiplication). KW_ERR_CRYPTO
 * when 256 counters all give zero (practically impossible). */
int kw_oprf_derive_keypair(uint8_t sk[static KW_OPRF_SKBYTES], uint8_t *pk, int mode,
                           const uint8_t seed[static KW_OPRF_SEEDBYTES],
                           const uint8_t *info, size_t info_len);

/* A fresh random key pair (sk uniform non-zero, pk = sk*G). */
int kw_oprf_keygen(uint8_t sk[static KW_OPRF_SKBYTES], uint8_t pk[static KW_OPRF_PKBYTES]);

/* True (1) when p is a canonical, non-identity ristretto255 encoding —
 * what DeserializeElement accepts. */
int kw_oprf_element_is_valid(const uint8_t p[static KW_OPRF_ELEMENTBYTES]);

/* --- client -------------------------------------------------------------- */

/* Blind(input): draws a random blind and writes blinded = blind *
 * HashToGroup(input). The same for every mode except the DST. */
int kw_oprf_blind(uint8_t blind[static KW_OPRF_SCALARBYTES],
                  uint8_t blinded[static KW_OPRF_ELEMENTBYTES], int mode,
                  const uint8_t *input, size_t input_len);

/* Blind with a caller-chosen blind (a reduced, non-zero scalar). */
int kw_oprf_blind_det(const uint8_t blind[static KW_OPRF_SCALARBYTES],
                      uint8_t blinded[static KW_OPRF_ELEMENTBYTES], int mode,
                      const uint8_t *input, size_t input_len);

/* POPRF: tweakedKey = G * HashToScalar("Info" || len || info) + pkS, which
 * the client computes once per info. KW_ERR_CRYPTO when it is the identity;
 * KW_ERR_FORMAT/CRYPTO for an invalid pk. */
int kw_poprf_tweak_key(uint8_t tweaked[static KW_OPRF_PKBYTES],
                       const uint8_t pk[static KW_OPRF_PKBYTES],
                       const uint8_t *info, size_t info_len);

/* OPRF Finalize: Hash(len || input || len || Serialize(blind^-1 * evaluated)
 * || "Finalize"). */
int kw_oprf_finalize(uint8_t out[static KW_OPRF_OUTPUTBYTES], const uint8_t *input,
                     size_t input_len, const uint8_t blind[static KW_OPRF_SCALARBYTES],
                     const uint8_t evaluated[static KW_OPRF_ELEMENTBYTES]);

/* VOPRF Finalize over a batch of n: verifies the proof for (blinded[i],
 * evaluated[i]) against pk, then writes out[i*64..] for each inputs[i].
 * blinds, blinded and evaluated are n*32 bytes each. Nothing is written
 * unless the proof verifies (KW_ERR_VERIFY). */
KW_OPRF_WUR int kw_voprf_finalize(uint8_t *out, const uint8_t *const *inputs,
                                  const size_t *input_lens, const uint8_t *blinds,
                                  const uint8_t *blinded, const uint8_t *evaluated, size_t n,
                                  const uint8_t proof[static KW_OPRF_PROOFBYTES],
                                  const uint8_t pk[static KW_OPRF_PKBYTES]);

/* POPRF Finalize over a batch of n, against the tweaked key from
 * kw_poprf_tweak_key and the same info. */
KW_OPRF_WUR int kw_poprf_finalize(uint8_t *out, const uint8_t *const *inputs,
                                  const size_t *input_lens, const uint8_t *blinds,
                                  const uint8_t *blinded, const uint8_t *evaluated, size_t n,
                                  const uint8_t proof[static KW_OPRF_PROOFBYTES],
                                  const uint8_t *info, size_t info_len,
                                  const uint8_t tweaked[static KW_OPRF_PKBYTES]);

/* --- server -------------------------------------------------------------- */

/* OPRF BlindEvaluate: evaluated = sk * blinded. blinded is validated
 * (KW_ERR_FORMAT non-canonical, KW_ERR_CRYPTO identity). */
int kw_oprf_blind_evaluate(uint8_t evaluated[static KW_OPRF_ELEMENTBYTES],
                           const uint8_t sk[static KW_OPRF_SKBYTES],
                           const uint8_t blinded[static KW_OPRF_ELEMENTBYTES]);

/* OPRF Evaluate: the server's own, unblinded PRF output for input. */
int kw_oprf_evaluate(uint8_t out[static KW_OPRF_OUTPUTBYTES], const uint8_t sk[static KW_OPRF_SKBYTES],
                     const uint8_t *input, size_t input_len);

/* VOPRF BlindEvaluate over a batch of n blinded elements (n*32 bytes) with
 * one proof; pk must be sk*G. The _det variant takes the proof randomness r
 * (a reduced, non-zero scalar: r = 0 would reveal sk through the proof, so it
 * is refused with KW_ERR_INVALID_ARG; r must never repeat for one key). */
int kw_voprf_blind_evaluate(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                            const uint8_t sk[static KW_OPRF_SKBYTES],
                            const uint8_t pk[static KW_OPRF_PKBYTES], const uint8_t *blinded,
                            size_t n);
int kw_voprf_blind_evaluate_det(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                                const uint8_t sk[static KW_OPRF_SKBYTES],
                                const uint8_t pk[static KW_OPRF_PKBYTES], const uint8_t *blinded,
                                size_t n, const uint8_t r[static KW_OPRF_SCALARBYTES]);

/* POPRF BlindEvaluate over a batch with public info: t = sk +
 * HashToScalar(framed info), evaluated = t^-1 * blinded, with a proof for
 * the key t*G. KW_ERR_CRYPTO when t is zero. */
int kw_poprf_blind_evaluate(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                            const uint8_t sk[static KW_OPRF_SKBYTES], const uint8_t *blinded,
                            size_t n, const uint8_t *info, size_t info_len);
int kw_poprf_blind_evaluate_det(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                                const uint8_t sk[static KW_OPRF_SKBYTES], const uint8_t *blinded,
                                size_t n, const uint8_t *info, size_t info_len,
                                const uint8_t r[static KW_OPRF_SCALARBYTES]);

#endif
