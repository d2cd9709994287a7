/*
 * wa_internal.h — WebAuthn internals shared by the lib/webauthn sources (and the
 * software authenticator). Not part of the public API.
 *
 * CBOR reaches libcbor only after wa_cbor_check has walked it: definite
 * lengths only, no tags or floats, nesting at most WA_CBOR_MAX_DEPTH, and
 * every declared array/map/string length backed by bytes actually present —
 * so a five-byte header cannot make libcbor allocate gigabytes.
 */
#ifndef KEYWARD_LIB_WEBAUTHN_WA_INTERNAL_H
#define KEYWARD_LIB_WEBAUTHN_WA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "keyward/webauthn.h"

#define WA_CBOR_MAX_DEPTH 8

/* Walks one CBOR data item at p[0..len) and stores its encoded length.
 * KW_ERR_TRUNCATED when it runs past len, KW_ERR_FORMAT for constructs
 * outside the subset above, KW_ERR_TOO_LARGE for nesting too deep. */
int wa_cbor_item_len(const uint8_t *p, size_t len, size_t *item_len);

/* A parsed COSE public key of a supported algorithm. */
typedef struct {
    int32_t alg;
    size_t coord_len;   /* EC2: 32 or 48 */
    uint8_t x[48], y[48];
    uint8_t ed[32];     /* OKP Ed25519 */
    uint8_t n[512];
    size_t n_len;
    uint8_t e[8];
    size_t e_len;
} wa_pubkey;

/* Parses a COSE_Key (exactly one CBOR map, nothing after). UNSUPPORTED for
 * algorithms or curves we do not implement, FORMAT for malformed keys. */
int wa_cose_parse(wa_pubkey *pk, const uint8_t *cose, size_t len);

/* True when alg is one of the four we implement. */
bool wa_alg_supported(int32_t alg);

/* An OpenSSL public key for pk (EC or RSA; Ed25519 too). NULL on failure. */
EVP_PKEY *wa_pubkey_to_evp(const wa_pubkey *pk);

/* Verifies sig over msg with the credential key: libsodium for EdDSA,
 * OpenSSL EVP for the others. KW_ERR_VERIFY when it does not verify. */
int wa_sig_verify(const wa_pubkey *pk, const uint8_t *msg, size_t msg_len,
                  const uint8_t *sig, size_t sig_len);

/* Verifies sig over msg with an OpenSSL key under COSE alg, checking that
 * the key type fits alg (P-256 for ES256, P-384 for ES384, RSA ≥ 2048 for
 * RS256, Ed25519 for EdDSA). KW_ERR_VERIFY on a bad signature,
 * KW_ERR_UNSUPPORTED for other algs, KW_ERR_FORMAT when the key type does
 * not fit. */
int wa_sig_verify_evp(EVP_PKEY *key, int32_t alg, const uint8_t *msg, size_t msg_len,
                      const uint8_t *sig, size_t sig_len);

/* Sets *why when why is non-NULL; returns r (for `return wa_fail(...)`). */
int wa_fail(kw_webauthn_reason *why, kw_webauthn_reason reason, int r);

/* One-time libfido2 initialisation. */
void wa_fido_init(void);

/* Checks the parsed authData flags against the policy for a ceremony. */
int wa_check_flags(kw_webauthn_reason *why, const kw_webauthn_policy *pol, uint8_t flags);

/* Checks rpIdHash == SHA-256(rp_id). */
int wa_check_rpid(kw_webauthn_reason *why, const kw_webauthn_policy *pol,
                  const uint8_t rp_id_hash[32]);

/* Attestation-statement verification (attest.c). fmt is the text value,
 * att_stmt the raw CBOR map; ad the authData, parsed into *pad; pk the
 * credential key; cdh = SHA-256(clientDataJSON). Stores the type proved. */
int wa_attest_verify(kw_webauthn_att_type *type, kw_webauthn_reason *why,
                     const kw_webauthn_policy *pol, const char *fmt,
                     const uint8_t *att_stmt, size_t att_stmt_len,
                     const uint8_t *ad, size_t ad_len, const kw_webauthn_authdata *pad,
                     const wa_pubkey *pk, const uint8_t cdh[32]);

#endif
