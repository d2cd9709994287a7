/*
 * keyward/softkey.h — an INSECURE software authenticator, for tests only.
 *
 * !!! INSECURE: the private keys sit in an ordinary file (mode 0600) with no
 * protection; anyone who can read the file can sign as the "security key".
 * Every name carries _insecure so that no caller picks it up by accident;
 * the CLI only uses it behind an explicit --soft-key FILE flag and says so.
 *
 * What it owns: a set of credentials (ES256 keys made with OpenSSL, Ed25519
 * keys made with libsodium), each bound to an rpIdHash, with a signature
 * counter, kept in memory and — when opened on a path — rewritten to that
 * file (temp file + rename) after every change. It produces genuine
 * CTAP2/WebAuthn-format output: authenticatorData with attested credential
 * data and COSE keys encoded with libcbor, attestation objects in the
 * "none" or "packed" (self attestation) formats, and assertion signatures
 * over authenticatorData ‖ clientDataHash with an incrementing counter.
 * Options make deliberately bad output for negative tests (UP clear, BS
 * without BE, bogus signature, a foreign rpIdHash, a repeated counter).
 *
 * AAGUID: the 16 ASCII bytes "KW-INSECURE-SOFT".
 * Errors: KW_ERR_NOT_FOUND unknown credential (or another RP's),
 * KW_ERR_UNSUPPORTED an algorithm other than ES256/EdDSA, KW_ERR_SYSTEM /
 * KW_ERR_FORMAT for the key file, KW_ERR_TOO_LARGE small output buffers.
 * Not thread-safe: one authenticator object, one thread at a time.
 * Secret: the private keys (wiped on free).
 */
#ifndef KEYWARD_SOFTKEY_H
#define KEYWARD_SOFTKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/webauthn.h"

#define KW_SOFTKEY_INSECURE_AAGUID "KW-INSECURE-SOFT"
#define KW_SOFTKEY_INSECURE_CREDIDBYTES 32
#define KW_SOFTKEY_INSECURE_MAXCREDS 64
#define KW_SOFTKEY_INSECURE_ATTOBJ_MAXBYTES 1024
#define KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES 256
#define KW_SOFTKEY_INSECURE_SIG_MAXBYTES 80

/* Option bits for make_credential / get_assertion. */
#define KW_SOFTKEY_INSECURE_OPT_NO_UP 0x01        /* clear UP (user not present) */
#define KW_SOFTKEY_INSECURE_OPT_UV 0x02           /* set UV (user verified) */
#define KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG 0x04    /* flip a bit of the signature */
#define KW_SOFTKEY_INSECURE_OPT_BS_NO_BE 0x08     /* BS set, BE clear (invalid) */
#define KW_SOFTKEY_INSECURE_OPT_BACKUP 0x10       /* BE and BS set (a synced key) */
#define KW_SOFTKEY_INSECURE_OPT_EXTENSIONS 0x20   /* ED with an extension output map */
#define KW_SOFTKEY_INSECURE_OPT_WRONG_RP 0x40     /* rpIdHash of another RP */
#define KW_SOFTKEY_INSECURE_OPT_KEEP_COUNTER 0x80 /* do not increment (replay/clone) */
#define KW_SOFTKEY_INSECURE_OPT_BE 0x100          /* BE set, BS clear */

typedef enum {
    KW_SOFTKEY_INSECURE_ATT_NONE = 0,   /* fmt "none" */
    KW_SOFTKEY_INSECURE_ATT_PACKED = 1  /* fmt "packed", self attestation */
} kw_softkey_insecure_att;

typedef struct kw_softkey_insecure kw_softkey_insecure;

/* Opens (or creates, when missing) the INSECURE key file at path; path NULL
 * keeps everything in memory. */
__attribute__((warn_unused_result))
int kw_softkey_insecure_open(kw_softkey_insecure **out, const char *path);

/* Wipes the keys and frees *sk; sets *sk to NULL. NULL-safe. */
void kw_softkey_insecure_free(kw_softkey_insecure **sk);

/* Number of credentials held. */
size_t kw_softkey_insecure_count(const kw_softkey_insecure *sk);

/* authenticatorMakeCredential: makes a new key (alg KW_COSE_ES256 or
 * KW_COSE_EDDSA) for rp_id and returns the attestation object and the new
 * credential id (KW_SOFTKEY_INSECURE_CREDIDBYTES). Counter starts at 0. */
__attribute__((warn_unused_result))
int kw_softkey_insecure_make_credential(kw_softkey_insecure *sk, int32_t alg, const char *rp_id,
                                        const uint8_t cdh[static 32], kw_softkey_insecure_att att,
                                        unsigned opts, uint8_t *attobj, size_t attobj_cap,
                                        size_t *attobj_len,
                                        uint8_t cred_id[static KW_SOFTKEY_INSECURE_CREDIDBYTES]);

/* authenticatorGetAssertion: increments the credential's counter (unless
 * OPT_KEEP_COUNTER) and returns authenticatorData and the signature over
 * authenticatorData ‖ cdh. */
__attribute__((warn_unused_result))
int kw_softkey_insecure_get_assertion(kw_softkey_insecure *sk, const char *rp_id,
                                      const uint8_t cdh[static 32], const uint8_t *cred_id,
                                      size_t cred_id_len, unsigned opts, uint8_t *ad,
                                      size_t ad_cap, size_t *ad_len, uint8_t *sig,
                                      size_t sig_cap, size_t *sig_len);

/* Sets a credential's counter (to simulate a cloned or reset key). */
int kw_softkey_insecure_set_counter(kw_softkey_insecure *sk, const uint8_t *cred_id,
                                    size_t cred_id_len, uint32_t counter);

/* What a browser would build: clientDataJSON for a ceremony, as compact
 * JSON {"type","challenge" (base64url),"origin","crossOrigin"}, into out
 * (NUL-terminated; *out_len excludes the NUL). */
int kw_softkey_insecure_client_data(char *out, size_t out_cap, size_t *out_len,
                                    kw_webauthn_ceremony ceremony, const uint8_t *challenge,
                                    size_t challenge_len, const char *origin, bool cross_origin);

#endif
