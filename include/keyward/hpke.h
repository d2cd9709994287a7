/*
 * keyward/hpke.h — Hybrid Public Key Encryption (RFC 9180), one suite:
 * DHKEM(X25519, HKDF-SHA256) (kem_id 0x0020) / HKDF-SHA256 (kdf_id 0x0001) /
 * ChaCha20-Poly1305 (aead_id 0x0003), in all four modes (base, psk, auth,
 * auth_psk).
 *
 * Owns: kw_hpke_ctx, an encryption context holding the AEAD key, base
 * nonce, exporter secret and sequence number. Contexts live in
 * sodium_malloc'd memory and are wiped by kw_hpke_ctx_free. Built on
 * libsodium's X25519, HMAC-SHA256 and ChaCha20-Poly1305 (IETF) only.
 *
 * Thread safety: the stateless functions are thread-safe; one context must
 * be used by one thread at a time (seal/open advance its sequence number).
 *
 * Errors: KW_ERR_INVALID_ARG for inputs outside the contract (unknown mode,
 * psk without psk_id or the reverse, a psk in a non-psk mode or a missing
 * one in a psk mode, sender keys in a non-auth mode or missing ones in an
 * auth mode, a psk shorter than KW_HPKE_PSK_MINBYTES, ikm shorter than
 * KW_HPKE_IKM_MINBYTES, sealing with a receiver context or the reverse);
 * KW_ERR_TOO_LARGE when an input exceeds KW_HPKE_INPUT_MAXBYTES, an export
 * is longer than KW_HPKE_EXPORT_MAXBYTES or an output buffer is too small;
 * KW_ERR_TRUNCATED when a ciphertext is shorter than its tag (or than enc
 * plus tag in the single-shot form); KW_ERR_CRYPTO when a Diffie-Hellman
 * output is all zero (a low-order public key); KW_ERR_VERIFY when a
 * ciphertext does not authenticate; KW_ERR_LIMIT when the context's sequence
 * number is exhausted; KW_ERR_NOMEM when a context cannot be allocated.
 *
 * Secret data: secret keys, ikm, psk, shared secrets, every context field,
 * exported values and plaintexts. They are wiped from temporaries on every
 * path; a failed open zeroes the caller's plaintext buffer. info, psk_id,
 * aad, enc, public keys and ciphertexts are public.
 *
 * Wire form of the single-shot API: enc (32 bytes) ‖ ciphertext (plaintext
 * length + 16-byte tag), with the sequence number 0.
 */
#ifndef KEYWARD_HPKE_H
#define KEYWARD_HPKE_H

#include <stddef.h>
#include <stdint.h>

#define KW_HPKE_KEM_ID 0x0020
#define KW_HPKE_KDF_ID 0x0001
#define KW_HPKE_AEAD_ID 0x0003

#define KW_HPKE_PUBLICKEYBYTES 32 /* Npk */
#define KW_HPKE_SECRETKEYBYTES 32 /* Nsk */
#define KW_HPKE_ENCBYTES 32       /* Nenc */
#define KW_HPKE_SECRETBYTES 32    /* Nsecret = Nh */
#define KW_HPKE_KEYBYTES 32       /* Nk */
#define KW_HPKE_NONCEBYTES 12     /* Nn */
#define KW_HPKE_TAGBYTES 16       /* Nt */
#define KW_HPKE_EXPORT_MAXBYTES (255 * 32)
#define KW_HPKE_IKM_MINBYTES 32   /* DeriveKeyPair input: at least Nsk bytes */
#define KW_HPKE_PSK_MINBYTES 32   /* RFC 9180 §5.1.2: a psk carries >= 32 bytes of entropy */
#define KW_HPKE_INPUT_MAXBYTES 65536 /* cap on ikm, info, psk, psk_id, exporter context */

/* Single-shot sizes: enc ‖ ciphertext. */
#define KW_HPKE_SEALBYTES (KW_HPKE_ENCBYTES + KW_HPKE_TAGBYTES)

typedef enum {
    KW_HPKE_MODE_BASE = 0x00,
    KW_HPKE_MODE_PSK = 0x01,
    KW_HPKE_MODE_AUTH = 0x02,
    KW_HPKE_MODE_AUTH_PSK = 0x03,
} kw_hpke_mode;

/* The inputs that depend on the mode. Zero-initialise, then fill what the
 * mode uses: info in every mode (may be empty); psk and psk_id (both
 * non-empty) in the psk modes and neither otherwise; in the auth modes the
 * sender's keys — the sender passes sk_s (and optionally pk_s, else it is
 * computed from sk_s), the receiver passes pk_s only. Pointers may be NULL
 * only when their length is 0. Nothing is copied or kept past the call. */
typedef struct {
    kw_hpke_mode mode;
    const uint8_t *info;
    size_t info_len;
    const uint8_t *psk; /* secret */
    size_t psk_len;
    const uint8_t *psk_id;
    size_t psk_id_len;
    const uint8_t *sk_s; /* KW_HPKE_SECRETKEYBYTES, secret; auth sender only */
    const uint8_t *pk_s; /* KW_HPKE_PUBLICKEYBYTES; auth modes */
} kw_hpke_params;

typedef struct kw_hpke_ctx kw_hpke_ctx;

/* GenerateKeyPair: a fresh random key pair from randombytes_buf. */
int kw_hpke_keypair(uint8_t pk[static KW_HPKE_PUBLICKEYBYTES],
                    uint8_t sk[static KW_HPKE_SECRETKEYBYTES]);

/* DeriveKeyPair(ikm): the deterministic key pair of RFC 9180 §7.1.3.
 * ikm_len must be at least KW_HPKE_IKM_MINBYTES. On error pk and sk are
 * zeroed. */
int kw_hpke_derive_keypair(uint8_t pk[static KW_HPKE_PUBLICKEYBYTES],
                           uint8_t sk[static KW_HPKE_SECRETKEYBYTES],
                           const uint8_t *ikm, size_t ikm_len);

/* SetupBaseS/SetupPSKS/SetupAuthS/SetupAuthPSKS by p->mode: encapsulates
 * to pkR with a fresh ephemeral key, writes enc and returns a sender
 * context in *ctx (NULL on error). */
int kw_hpke_sender_setup(kw_hpke_ctx **ctx, uint8_t enc[static KW_HPKE_ENCBYTES],
                         const uint8_t pkR[static KW_HPKE_PUBLICKEYBYTES],
                         const kw_hpke_params *p);

/* SetupBaseR/.../SetupAuthPSKR by p->mode: decapsulates enc with skR and
 * returns a receiver context in *ctx (NULL on error). pkR is the public key
 * of skR; when NULL it is computed from skR (one more scalar
 * multiplication). A wrong key or psk is only detected by the first open. */
__attribute__((warn_unused_result))
int kw_hpke_receiver_setup(kw_hpke_ctx **ctx, const uint8_t enc[static KW_HPKE_ENCBYTES],
                           const uint8_t skR[static KW_HPKE_SECRETKEYBYTES],
                           const uint8_t *pkR, const kw_hpke_params *p);

/* Wipes and frees *ctx and sets it to NULL; NULL is a no-op. */
void kw_hpke_ctx_free(kw_hpke_ctx **ctx);

/* The sequence number the next seal/open will use. */
uint64_t kw_hpke_ctx_seq(const kw_hpke_ctx *ctx);

/* Sender: encrypts pt with aad under the next nonce into
 * ct[0..pt_len + KW_HPKE_TAGBYTES), sets *ct_len and advances the sequence
 * number. ct may equal pt (in place). KW_ERR_LIMIT once the sequence number
 * is exhausted (2^64 - 1 messages), KW_ERR_TOO_LARGE when ct_cap is short. */
int kw_hpke_ctx_seal(kw_hpke_ctx *ctx, uint8_t *ct, size_t ct_cap, size_t *ct_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len);

/* Receiver: authenticates and decrypts ct with aad under the next nonce
 * into pt[0..ct_len - KW_HPKE_TAGBYTES), sets *pt_len and advances the
 * sequence number. On KW_ERR_VERIFY the plaintext region is zeroed and the
 * sequence number stays. */
__attribute__((warn_unused_result))
int kw_hpke_ctx_open(kw_hpke_ctx *ctx, uint8_t *pt, size_t pt_cap, size_t *pt_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len);

/* Export(exporter_context, L): out[0..L) from the exporter secret, on
 * either side. L at most KW_HPKE_EXPORT_MAXBYTES. */
int kw_hpke_ctx_export(const kw_hpke_ctx *ctx, uint8_t *out, size_t out_len,
                       const uint8_t *exporter_context, size_t exporter_context_len);

/* Single-shot seal: sender setup plus one seal. Writes enc ‖ ct
 * (pt_len + KW_HPKE_SEALBYTES bytes) to out and sets *out_len. out must
 * not overlap pt. */
int kw_hpke_seal(uint8_t *out, size_t out_cap, size_t *out_len,
                 const uint8_t pkR[static KW_HPKE_PUBLICKEYBYTES], const kw_hpke_params *p,
                 const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len);

/* Single-shot open of enc ‖ ct as made by kw_hpke_seal (pt must not
 * overlap in). Writes
 * in_len - KW_HPKE_SEALBYTES bytes to pt and sets *pt_len. pkR as in
 * kw_hpke_receiver_setup. On KW_ERR_VERIFY the plaintext region is zeroed. */
__attribute__((warn_unused_result))
int kw_hpke_open(uint8_t *pt, size_t pt_cap, size_t *pt_len,
                 const uint8_t skR[static KW_HPKE_SECRETKEYBYTES], const uint8_t *pkR,
                 const kw_hpke_params *p, const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t in_len);

#endif
