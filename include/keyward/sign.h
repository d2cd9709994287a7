/*
 * keyward/sign.h — Ed25519 signatures with domain separation.
 *
 * Every signature is a plain Ed25519 signature (libsodium) over
 *
 *   "keyward-sig-v1" ‖ u8 len(context) ‖ context ‖ message
 *
 * so a signature made for one purpose (context) never verifies for another.
 * Contexts are 1..KW_SIGN_CONTEXT_MAXBYTES bytes; an empty context is
 * refused so that every caller names its purpose.
 *
 * A kw_sign_key owns a secret key in sodium_malloc'd memory (guarded, wiped
 * and freed by kw_sign_key_free). The key object is read-only after creation,
 * so it may be shared between threads for signing; the free functions are
 * not thread-safe with respect to users of the key.
 *
 * Errors: KW_ERR_INVALID_ARG for a context outside 1..255 bytes,
 * KW_ERR_VERIFY for a signature that does not verify, KW_ERR_FORMAT for an
 * invalid public key (kw_sign_pk_validate), KW_ERR_NOMEM, KW_ERR_TOO_LARGE
 * when the message length overflows.
 * Secret: the seed and secret key. Public keys, messages and signatures are
 * not treated as secret (the signed buffer is still wiped after use).
 */
#ifndef KEYWARD_SIGN_H
#define KEYWARD_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define KW_SIGN_SEEDBYTES 32
#define KW_SIGN_PUBLICKEYBYTES 32
#define KW_SIGN_BYTES 64
#define KW_SIGN_CONTEXT_MAXBYTES 255
#define KW_SIGN_DOMAIN "keyward-sig-v1"

typedef struct kw_sign_key kw_sign_key;

/* Creates a key pair from fresh randomness. KW_ERR_NOMEM; *key is NULL on
 * failure. */
int kw_sign_key_new(kw_sign_key **key);

/* Creates the key pair determined by seed (RFC 8032 secret key).
 * KW_ERR_NOMEM; *key is NULL on failure. */
int kw_sign_key_from_seed(kw_sign_key **key, const uint8_t seed[static KW_SIGN_SEEDBYTES]);

/* Copies the public key. Cannot fail. */
void kw_sign_key_public(const kw_sign_key *key, uint8_t pk[static KW_SIGN_PUBLICKEYBYTES]);

/* Copies the seed (secret: the caller wipes it) so the key can be stored and
 * recreated with kw_sign_key_from_seed. Cannot fail. */
void kw_sign_key_seed(const kw_sign_key *key, uint8_t seed[static KW_SIGN_SEEDBYTES]);

/* Wipes and frees *key, sets it to NULL; NULL is a no-op. */
void kw_sign_key_free(kw_sign_key **key);

/* Signs msg under context ctx. sig is zeroed on failure.
 * KW_ERR_INVALID_ARG for a bad context length, KW_ERR_NOMEM,
 * KW_ERR_TOO_LARGE. */
int kw_sign(const kw_sign_key *key, uint8_t sig[static KW_SIGN_BYTES],
            const uint8_t *ctx, size_t ctx_len, const uint8_t *msg, size_t msg_len);

/* Verifies sig over msg under context ctx and public key pk. 0 only for a
 * valid, canonical signature; KW_ERR_VERIFY otherwise (also for an invalid or
 * small-order public key); KW_ERR_INVALID_ARG for a bad context length;
 * KW_ERR_NOMEM; KW_ERR_TOO_LARGE. */
__attribute__((warn_unused_result))
int kw_sign_verify(const uint8_t sig[static KW_SIGN_BYTES],
                   const uint8_t pk[static KW_SIGN_PUBLICKEYBYTES],
                   const uint8_t *ctx, size_t ctx_len, const uint8_t *msg, size_t msg_len);

/* Checks that pk is a canonical encoding of a point in the prime-order
 * subgroup other than the identity and small-order points. 0 or
 * KW_ERR_FORMAT. */
__attribute__((warn_unused_result))
int kw_sign_pk_validate(const uint8_t pk[static KW_SIGN_PUBLICKEYBYTES]);

#endif
