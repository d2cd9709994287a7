/*
 * keyward/vrf.h — ECVRF-EDWARDS25519-SHA512-TAI and -ELL2 (RFC 9381).
 *
 * Owns: key derivation from a 32-byte seed, proving, verifying, proof
 * decoding, proof-to-hash, public-key validation and a proof-free
 * evaluation of the VRF output for the key holder.
 *
 * Keys: the RFC's secret key SK is the 32-byte Ed25519 seed; x and the
 * public key Y = x*B are derived from it as in RFC 8032 §5.1.5. Like
 * libsodium's Ed25519, the secret key we hand out is 64 bytes, seed ‖ pk, so
 * that proving does not recompute Y. A secret key whose second half is not
 * the seed's public key yields proofs that do not verify (the key itself is
 * not exposed by that mistake). The secret key, x, the nonce key and the
 * nonce are secret; they are wiped before return. Proofs, public keys and
 * VRF outputs (beta) are public.
 *
 * ELL2 needs libsodium >= 1.0.19 (crypto_core_ed25519_from_string); built
 * against 1.0.18 it is unsupported (KW_ERR_UNSUPPORTED), because 1.0.18's
 * Elligator 2 picks a different sign than RFC 9380 and exposes no field
 * arithmetic to correct it. kw_vrf_suite_supported tells which is which.
 *
 * Encodings are RFC 8032 point encodings, checked strictly: a point must be
 * canonical (y < p, and no sign bit on x = 0) and on the curve, else
 * KW_ERR_FORMAT. Points of mixed order are accepted where the RFC accepts
 * them. A proof is Gamma (32) ‖ c (16) ‖ s (32), with s < L.
 *
 * Errors: KW_ERR_FORMAT for malformed encodings, KW_ERR_TRUNCATED /
 * KW_ERR_TOO_LARGE for proofs of the wrong length, KW_ERR_VERIFY for a proof
 * that does not check or a public key that fails validation (small order),
 * KW_ERR_UNSUPPORTED for an unknown suite, KW_ERR_CRYPTO when
 * try-and-increment finds no point in 256 tries (probability 2^-256).
 *
 * Costs on edwards25519 with libsodium 1.0.18 (whose variable-base scalar
 * multiplication also checks the subgroup): prove = 1 fixed-base + 2
 * variable-base multiplications + ~4 point additions; verify = 1 fixed-base
 * + 3 variable-base + ~8 point additions; evaluate = 1 variable-base + ~3
 * point additions. Thread-safe: no state; call kw_init() first.
 */
#ifndef KEYWARD_VRF_H
#define KEYWARD_VRF_H

#include <stddef.h>
#include <stdint.h>

#define KW_VRF_SEEDBYTES 32
#define KW_VRF_PUBLICKEYBYTES 32
#define KW_VRF_SECRETKEYBYTES 64 /* seed ‖ public key */
#define KW_VRF_PROOFBYTES 80     /* Gamma ‖ c ‖ s */
#define KW_VRF_OUTPUTBYTES 64    /* beta */
#define KW_VRF_POINTBYTES 32
#define KW_VRF_CHALLENGEBYTES 16
#define KW_VRF_SCALARBYTES 32

/* The suites; the value is the RFC's suite_string octet. */
typedef enum {
    KW_VRF_EDWARDS25519_SHA512_TAI = 0x03,
    KW_VRF_EDWARDS25519_SHA512_ELL2 = 0x04,
} kw_vrf_suite;

/* 1 when this build implements the suite, else 0. */
int kw_vrf_suite_supported(kw_vrf_suite suite);

/* A decoded proof: Gamma a valid point, s < L. */
typedef struct {
    uint8_t gamma[KW_VRF_POINTBYTES];
    uint8_t c[KW_VRF_CHALLENGEBYTES];
    uint8_t s[KW_VRF_SCALARBYTES];
} kw_vrf_proof;

/* Derives the key pair of a seed (RFC 9381 SK): sk = seed ‖ pk. Cannot fail. */
void kw_vrf_keypair_from_seed(uint8_t pk[static KW_VRF_PUBLICKEYBYTES],
                              uint8_t sk[static KW_VRF_SECRETKEYBYTES],
                              const uint8_t seed[static KW_VRF_SEEDBYTES]);

/* Generates a key pair from a fresh random seed. Cannot fail. */
void kw_vrf_keypair(uint8_t pk[static KW_VRF_PUBLICKEYBYTES],
                    uint8_t sk[static KW_VRF_SECRETKEYBYTES]);

/* RFC 9381 §5.4.5 ECVRF_validate_key: 0 when pk is a canonical curve point
 * that is not of small order (mixed-order keys pass, as in the RFC);
 * KW_ERR_FORMAT when it is not a canonical point encoding; KW_ERR_VERIFY
 * when it is of small order. */
__attribute__((warn_unused_result))
int kw_vrf_pk_validate(const uint8_t pk[static KW_VRF_PUBLICKEYBYTES]);

/* Decodes a proof from exactly KW_VRF_PROOFBYTES bytes: KW_ERR_TRUNCATED
 * when shorter, KW_ERR_TOO_LARGE when longer, KW_ERR_FORMAT when Gamma is
 * not a canonical curve point or s >= L. *out is zeroed on error. */
__attribute__((warn_unused_result))
int kw_vrf_proof_decode(kw_vrf_proof *out, const uint8_t *pi, size_t pi_len);

/* Proves alpha under sk: writes the 80-byte proof pi. Deterministic: the
 * same key and alpha always give the same proof. KW_ERR_UNSUPPORTED for an
 * unknown suite, KW_ERR_CRYPTO as above. On error pi is zeroed. */
int kw_vrf_prove(uint8_t pi[static KW_VRF_PROOFBYTES], kw_vrf_suite suite,
                 const uint8_t sk[static KW_VRF_SECRETKEYBYTES],
                 const uint8_t *alpha, size_t alpha_len);

/* Verifies pi for alpha under pk (with key validation) and writes the VRF
 * output beta. 0 on success; KW_ERR_VERIFY when the proof does not check or
 * pk is of small order; KW_ERR_FORMAT when pk or pi is malformed;
 * KW_ERR_UNSUPPORTED for an unknown suite. beta is zeroed on error. */
__attribute__((warn_unused_result))
int kw_vrf_verify(uint8_t beta[static KW_VRF_OUTPUTBYTES], kw_vrf_suite suite,
                  const uint8_t pk[static KW_VRF_PUBLICKEYBYTES],
                  const uint8_t pi[static KW_VRF_PROOFBYTES],
                  const uint8_t *alpha, size_t alpha_len);

/* RFC 9381 ECVRF_proof_to_hash: beta of a proof, WITHOUT verifying it —
 * only use on a proof that kw_vrf_verify accepted or that you made.
 * KW_ERR_FORMAT for a malformed proof, KW_ERR_UNSUPPORTED for an unknown
 * suite; beta zeroed on error. */
__attribute__((warn_unused_result))
int kw_vrf_proof_to_hash(uint8_t beta[static KW_VRF_OUTPUTBYTES], kw_vrf_suite suite,
                         const uint8_t pi[static KW_VRF_PROOFBYTES]);

/* Proof-free evaluation for the key holder: beta = Hash(suite ‖ 0x03 ‖
 * 8*x*H ‖ 0x00), equal to the beta of kw_vrf_prove's proof, at the cost of
 * one variable-base multiplication plus encode_to_curve (about half of a
 * proof). Same errors as kw_vrf_prove; beta zeroed on error. */
int kw_vrf_evaluate(uint8_t beta[static KW_VRF_OUTPUTBYTES], kw_vrf_suite suite,
                    const uint8_t sk[static KW_VRF_SECRETKEYBYTES],
                    const uint8_t *alpha, size_t alpha_len);

#endif
