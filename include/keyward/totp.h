/*
 * keyward/totp.h — time-based one-time passwords (RFC 6238 over RFC 4226 HOTP).
 *
 * HMAC-SHA1 (the algorithm authenticator apps use; from OpenSSL libcrypto,
 * since libsodium has no SHA-1), HMAC-SHA256 and HMAC-SHA512 (libsodium).
 * The shared secret is secret: intermediate MACs are wiped. Thread-safe.
 */
#ifndef KEYWARD_TOTP_H
#define KEYWARD_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define KW_TOTP_SECRET_MIN 16
#define KW_TOTP_SECRET_MAX 64
#define KW_TOTP_DEFAULT_SECRETBYTES 20
#define KW_TOTP_DEFAULT_PERIOD 30
#define KW_TOTP_DEFAULT_DIGITS 6

typedef enum { KW_TOTP_SHA1 = 1, KW_TOTP_SHA256 = 2, KW_TOTP_SHA512 = 3 } kw_totp_alg;

/* HOTP value of counter (RFC 4226 dynamic truncation) with `digits` (6..8)
 * digits. KW_ERR_INVALID_ARG for a bad algorithm, digit count or secret
 * length (KW_TOTP_SECRET_MIN.. KW_TOTP_SECRET_MAX; 10 allowed for legacy). */
int kw_hotp(uint32_t *code, kw_totp_alg alg, const uint8_t *secret, size_t secret_len,
            uint64_t counter, unsigned digits);

/* TOTP value at Unix time t with the given period (seconds, > 0); *step
 * receives the time step (t / period). */
int kw_totp(uint32_t *code, uint64_t *step, kw_totp_alg alg, const uint8_t *secret,
            size_t secret_len, uint64_t t, unsigned period, unsigned digits);

/* Checks a candidate code against the steps t/period - window .. + window
 * (window at most 10), in constant time per step. On a match returns 0 and
 * the earliest matching step in *step; KW_ERR_VERIFY otherwise (*step is 0
 * on every error). This function keeps no state, so it does not stop
 * replays by itself: the caller must accept a code only when *step is
 * strictly after the last step it accepted for this secret, and record it
 * atomically (refusing only the very same step would let the code of an
 * earlier step in the window be used after a later one). */
int kw_totp_verify(uint64_t *step, kw_totp_alg alg, const uint8_t *secret, size_t secret_len,
                   uint32_t candidate, uint64_t t, unsigned period, unsigned digits, unsigned window)
    __attribute__((warn_unused_result));

/* Encodes a secret in RFC 4648 base32 without padding (the otpauth:// form).
 * out_cap must hold 8*ceil(n/5)+1 bytes. */
int kw_base32_encode(char *out, size_t out_cap, const uint8_t *in, size_t n);

/* Decodes base32 (case-insensitive, spaces and '=' padding ignored). */
int kw_base32_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t in_len);

#endif
