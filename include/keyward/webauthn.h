/*
 * keyward/webauthn.h — WebAuthn relying-party verification (W3C Web
 * Authentication Level 3, §7.1 registration and §7.2 authentication).
 *
 * What it owns: the checks a relying party makes on what a browser or the
 * CLI hands back from an authenticator — clientDataJSON (type, challenge,
 * origin, crossOrigin/topOrigin, tokenBinding), authenticatorData (rpIdHash,
 * flags UP/UV/BE/BS, signCount, attested credential data, extensions), the
 * attestation object (formats "none", "packed" self and x5c, "fido-u2f"),
 * the assertion signature over authenticatorData ‖ SHA-256(clientDataJSON)
 * and the signature-counter rule — and the stored-credential record the
 * server keeps per security key. It does not own challenges' lifetime
 * (single use, expiry, binding to an account and an operation) nor
 * credential-id uniqueness across accounts: those are the server's, which
 * passes the expected challenge in and stores the record that comes out.
 *
 * Algorithms: ES256 (-7), ES384 (-35), EdDSA/Ed25519 (-8), RS256 (-257,
 * 2048–4096-bit moduli). Other algorithms (ES512, Ed448, PS256, ...) and
 * other attestation formats (tpm, android-key, android-safetynet, apple,
 * packed with ecdaaKeyId) are refused with KW_ERR_UNSUPPORTED.
 *
 * Errors: KW_ERR_FORMAT malformed input (JSON, CBOR, authenticatorData,
 * certificates), KW_ERR_TRUNCATED input ending inside a value,
 * KW_ERR_TOO_LARGE input over the limits below, KW_ERR_VERIFY a check
 * failed (challenge, origin, type, rpId, flags, signature, attestation),
 * KW_ERR_CONFLICT the signature counter did not increase (possible cloned
 * authenticator: log it), KW_ERR_NOT_FOUND the credential is not in
 * allowCredentials, KW_ERR_UNSUPPORTED an algorithm or format we do not
 * implement. Each failure also reports a kw_webauthn_reason naming the exact
 * step; kw_webauthn_reason_str() gives a stable text for logs.
 *
 * Nothing here is secret: challenges, public keys, signatures and records
 * are all public values (challenges are still compared in constant time).
 * All functions are thread-safe; they keep no state.
 */
#ifndef KEYWARD_WEBAUTHN_H
#define KEYWARD_WEBAUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Input limits. */
#define KW_WEBAUTHN_CLIENTDATA_MAXBYTES 4096
#define KW_WEBAUTHN_AUTHDATA_MAXBYTES 4096
#define KW_WEBAUTHN_ATTOBJ_MAXBYTES 32768
#define KW_WEBAUTHN_SIG_MAXBYTES 1024
#define KW_WEBAUTHN_CREDID_MAXBYTES 1023
#define KW_WEBAUTHN_COSEKEY_MAXBYTES 1100
#define KW_WEBAUTHN_CHALLENGE_MINBYTES 16
#define KW_WEBAUTHN_CHALLENGE_MAXBYTES 1024
#define KW_WEBAUTHN_X5C_MAX 5 /* certificates in an x5c chain */

/* Fixed sizes. */
#define KW_WEBAUTHN_CHALLENGEBYTES 32 /* what kw_webauthn_challenge_new makes */
#define KW_WEBAUTHN_AAGUIDBYTES 16
#define KW_WEBAUTHN_RPIDHASHBYTES 32

/* COSE algorithm identifiers (RFC 9053 / IANA). */
#define KW_COSE_ES256 (-7)
#define KW_COSE_EDDSA (-8)
#define KW_COSE_ES384 (-35)
#define KW_COSE_RS256 (-257)

/* authenticatorData flag bits (authData[32]). */
#define KW_WEBAUTHN_FLAG_UP 0x01
#define KW_WEBAUTHN_FLAG_UV 0x04
#define KW_WEBAUTHN_FLAG_BE 0x08
#define KW_WEBAUTHN_FLAG_BS 0x10
#define KW_WEBAUTHN_FLAG_AT 0x40
#define KW_WEBAUTHN_FLAG_ED 0x80

typedef enum {
    KW_WEBAUTHN_CREATE = 1, /* "webauthn.create" — registration */
    KW_WEBAUTHN_GET = 2     /* "webauthn.get" — authentication */
} kw_webauthn_ceremony;

/* Why a verification failed; KW_WEBAUTHN_R_OK on success. */
typedef enum {
    KW_WEBAUTHN_R_OK = 0,
    KW_WEBAUTHN_R_MALFORMED,          /* JSON/CBOR/authData could not be parsed */
    KW_WEBAUTHN_R_TOO_LARGE,          /* an input is over its limit */
    KW_WEBAUTHN_R_WRONG_TYPE,         /* clientData type is not the ceremony's */
    KW_WEBAUTHN_R_WRONG_CHALLENGE,    /* clientData challenge differs */
    KW_WEBAUTHN_R_WRONG_ORIGIN,       /* origin not in the allow-list */
    KW_WEBAUTHN_R_CROSS_ORIGIN,       /* crossOrigin true and the policy refuses it */
    KW_WEBAUTHN_R_TOP_ORIGIN,         /* topOrigin not in the allow-list */
    KW_WEBAUTHN_R_TOKEN_BINDING,      /* tokenBinding "present": we have none to match */
    KW_WEBAUTHN_R_RPID_MISMATCH,      /* rpIdHash != SHA-256(rp_id) */
    KW_WEBAUTHN_R_UP_MISSING,         /* user presence flag clear */
    KW_WEBAUTHN_R_UV_MISSING,         /* user verification required, flag clear */
    KW_WEBAUTHN_R_BS_WITHOUT_BE,      /* backup state without backup eligibility */
    KW_WEBAUTHN_R_BE_CHANGED,         /* backup eligibility differs from the record */
    KW_WEBAUTHN_R_NO_ATTESTED_DATA,   /* registration without attested credential data */
    KW_WEBAUTHN_R_UNEXPECTED_ATTESTED_DATA, /* assertion carrying attested data */
    KW_WEBAUTHN_R_CRED_ID_TOO_LONG,   /* credential id over 1023 bytes */
    KW_WEBAUTHN_R_UNSUPPORTED_ALG,    /* COSE algorithm/key type not implemented */
    KW_WEBAUTHN_R_ALG_NOT_ALLOWED,    /* algorithm not in the policy's list */
    KW_WEBAUTHN_R_UNSUPPORTED_FMT,    /* attestation format not implemented */
    KW_WEBAUTHN_R_ATTESTATION_ALG,    /* attStmt alg does not fit the key */
    KW_WEBAUTHN_R_ATTESTATION_SIG,    /* attestation signature invalid */
    KW_WEBAUTHN_R_ATTESTATION_CERT,   /* x5c certificate malformed or not as required */
    KW_WEBAUTHN_R_UNTRUSTED_CHAIN,    /* x5c does not chain to a configured root */
    KW_WEBAUTHN_R_ATTESTATION_REQUIRED, /* policy wants trusted attestation */
    KW_WEBAUTHN_R_CRED_ID_MISMATCH,   /* assertion's credential id is not the record's */
    KW_WEBAUTHN_R_CRED_NOT_ALLOWED,   /* credential not in allowCredentials */
    KW_WEBAUTHN_R_BAD_SIGNATURE,      /* assertion signature invalid */
    KW_WEBAUTHN_R_COUNTER_REGRESSION, /* signCount did not increase */
    KW_WEBAUTHN_R_INTERNAL            /* library failure (allocation, OpenSSL) */
} kw_webauthn_reason;

/* How attestation is judged at registration. */
typedef enum {
    /* none, self and x5c are accepted; x5c signatures and certificate
     * requirements are checked, the chain is not. */
    KW_WEBAUTHN_ATTEST_ANY = 0,
    /* as ANY, but an x5c chain must lead to one of the policy's roots. */
    KW_WEBAUTHN_ATTEST_CHECK_CHAIN = 1,
    /* only x5c attestation chaining to a root; none and self refused. */
    KW_WEBAUTHN_ATTEST_REQUIRE_TRUSTED = 2
} kw_webauthn_attest_policy;

/* What the accepted attestation proved. */
typedef enum {
    KW_WEBAUTHN_ATT_NONE = 0,    /* "none" */
    KW_WEBAUTHN_ATT_SELF = 1,    /* packed self attestation */
    KW_WEBAUTHN_ATT_BASIC = 2,   /* x5c verified, chain not checked */
    KW_WEBAUTHN_ATT_TRUSTED = 3  /* x5c chained to a configured root */
} kw_webauthn_att_type;

typedef struct {
    const uint8_t *ptr;
    size_t len;
} kw_webauthn_bytes;

/* The relying party's policy. All strings are NUL-terminated and compared
 * byte for byte (origins as the browser serialises them, e.g.
 * "https://example.org"). */
typedef struct {
    const char *rp_id;                 /* e.g. "example.org" */
    const char *const *origins;        /* allowed origins (at least one) */
    size_t n_origins;
    bool allow_cross_origin;           /* accept crossOrigin: true (iframes) */
    const char *const *top_origins;    /* allowed topOrigin values when cross-origin */
    size_t n_top_origins;
    bool require_uv;                   /* UV flag required */
    const int32_t *algs;               /* allowed COSE algs; NULL = all supported */
    size_t n_algs;
    kw_webauthn_attest_policy attestation;
    const kw_webauthn_bytes *roots;    /* DER attestation roots for chain checks */
    size_t n_roots;
} kw_webauthn_policy;

/* The record a server stores per credential. Public data. */
typedef struct {
    uint8_t id[KW_WEBAUTHN_CREDID_MAXBYTES];
    size_t id_len;
    uint8_t cose_key[KW_WEBAUTHN_COSEKEY_MAXBYTES];
    size_t cose_key_len;
    int32_t alg;                       /* KW_COSE_* */
    uint32_t sign_count;
    bool backup_eligible;              /* BE at registration; never changes */
    bool backup_state;                 /* BS as last seen */
    bool uv_initialized;               /* UV at registration */
    uint8_t aaguid[KW_WEBAUTHN_AAGUIDBYTES];
    uint8_t att_type;                  /* kw_webauthn_att_type */
} kw_webauthn_credential;

/* Largest output of kw_webauthn_credential_encode. */
#define KW_WEBAUTHN_CREDENTIAL_MAXBYTES \
    (4 + 1 + 1 + 4 + 4 + KW_WEBAUTHN_AAGUIDBYTES + 2 + KW_WEBAUTHN_CREDID_MAXBYTES + 2 + \
     KW_WEBAUTHN_COSEKEY_MAXBYTES)

/* One assertion as returned by navigator.credentials.get. */
typedef struct {
    const uint8_t *credential_id;      /* rawId */
    size_t credential_id_len;
    const uint8_t *client_data_json;
    size_t client_data_json_len;
    const uint8_t *authenticator_data;
    size_t authenticator_data_len;
    const uint8_t *signature;
    size_t signature_len;
} kw_webauthn_assertion;

/* authenticatorData, parsed; pointers point into the parsed input. */
typedef struct {
    const uint8_t *rp_id_hash;         /* 32 bytes */
    uint8_t flags;
    uint32_t sign_count;
    bool has_attested;                 /* AT */
    const uint8_t *aaguid;             /* 16 bytes when has_attested */
    const uint8_t *cred_id;
    size_t cred_id_len;
    const uint8_t *cose_key;
    size_t cose_key_len;
    const uint8_t *extensions;         /* the CBOR map, when ED */
    size_t extensions_len;
} kw_webauthn_authdata;

/* A static text for a reason; never NULL. */
const char *kw_webauthn_reason_str(kw_webauthn_reason why);

/* Fills out with KW_WEBAUTHN_CHALLENGEBYTES fresh random bytes. The server
 * keeps it single-use, expiring and bound to the account and operation. */
void kw_webauthn_challenge_new(uint8_t out[static KW_WEBAUTHN_CHALLENGEBYTES]);

/* Checks clientDataJSON for a ceremony: valid UTF-8 JSON object of at most
 * KW_WEBAUTHN_CLIENTDATA_MAXBYTES, no duplicate members; "type" matches the
 * ceremony; "challenge" (base64url) equals challenge (constant time);
 * "origin" is in the allow-list; crossOrigin true only when the policy
 * allows it, and then topOrigin (when present) in its list; a tokenBinding
 * with status "present" is refused (no token binding to match), other
 * statuses ignored. why may be NULL. */
__attribute__((warn_unused_result))
int kw_webauthn_clientdata_verify(kw_webauthn_reason *why, const kw_webauthn_policy *pol,
                                  kw_webauthn_ceremony ceremony,
                                  const uint8_t *challenge, size_t challenge_len,
                                  const uint8_t *cdj, size_t cdj_len);

/* Parses authenticatorData with bounds checks: 37-byte header, attested
 * credential data when AT (credential id ≤ 1023 bytes, one well-formed
 * COSE key), an extensions CBOR map when ED, and nothing after. Checks no
 * policy. */
__attribute__((warn_unused_result))
int kw_webauthn_authdata_parse(kw_webauthn_authdata *out, const uint8_t *ad, size_t ad_len);

/* Registration (§7.1): verifies clientDataJSON (webauthn.create) and the
 * attestation object against the policy and the expected challenge, and on
 * success fills *out with the record to store (sign_count from authData).
 * On failure *out is zeroed. why may be NULL. */
__attribute__((warn_unused_result))
int kw_webauthn_register_verify(kw_webauthn_credential *out, kw_webauthn_reason *why,
                                const kw_webauthn_policy *pol,
                                const uint8_t *challenge, size_t challenge_len,
                                const uint8_t *cdj, size_t cdj_len,
                                const uint8_t *attobj, size_t attobj_len);

/* Authentication (§7.2): verifies an assertion for the stored credential
 * *cred. allow lists the credential ids offered in allowCredentials (NULL
 * and 0 for a discoverable-credential ceremony). On success cred->sign_count
 * and cred->backup_state are updated — store the record again; on failure
 * *cred is unchanged. A counter that does not increase while either side
 * is non-zero gives KW_ERR_CONFLICT (KW_WEBAUTHN_R_COUNTER_REGRESSION);
 * 0 → 0 is accepted. why may be NULL. */
__attribute__((warn_unused_result))
int kw_webauthn_assert_verify(kw_webauthn_credential *cred, kw_webauthn_reason *why,
                              const kw_webauthn_policy *pol,
                              const uint8_t *challenge, size_t challenge_len,
                              const kw_webauthn_bytes *allow, size_t n_allow,
                              const kw_webauthn_assertion *assertion);

/* Builds a record from a credential id and a COSE public key obtained
 * elsewhere (migration, tests). KW_ERR_UNSUPPORTED for algorithms we do not
 * implement, KW_ERR_FORMAT for malformed keys. */
__attribute__((warn_unused_result))
int kw_webauthn_credential_init(kw_webauthn_credential *out,
                                const uint8_t *id, size_t id_len,
                                const uint8_t *cose_key, size_t cose_key_len,
                                uint32_t sign_count, bool backup_eligible, bool backup_state);

/* Serialises a record (at most KW_WEBAUTHN_CREDENTIAL_MAXBYTES bytes):
 * "KWC1" ‖ flags ‖ att_type ‖ alg (i32) ‖ sign_count (u32) ‖ aaguid ‖
 * u16 id length ‖ id ‖ u16 key length ‖ COSE key, big-endian. */
int kw_webauthn_credential_encode(uint8_t *out, size_t out_cap, size_t *out_len,
                                  const kw_webauthn_credential *cred);

/* Parses a record; refuses unknown versions or flags, lengths over the
 * limits, trailing bytes, and a COSE key that does not parse or whose
 * algorithm differs from the alg field. On error *cred is zeroed. */
__attribute__((warn_unused_result))
int kw_webauthn_credential_decode(kw_webauthn_credential *cred, const uint8_t *in, size_t in_len);

#endif
