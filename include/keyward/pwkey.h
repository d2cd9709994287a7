/*
 * keyward/pwkey.h — Argon2id password-to-key derivation with a stored
 * parameters record.
 *
 * kw_pwkey_derive turns a password into a 32-byte key under explicit
 * parameters (algorithm, opslimit, memlimit, 16-byte salt). The parameters
 * are serialised as a fixed 30-byte record kept next to whatever the key
 * protects, so the key can be derived again later:
 *
 *   u8 record version (1) ‖ u8 alg (1 = Argon2id v1.3) ‖ u32_be opslimit ‖
 *   u64_be memlimit (bytes) ‖ salt[16]
 *
 * Bounds, enforced when encoding, decoding and deriving: opslimit in
 * [KW_PWKEY_OPSLIMIT_MIN, KW_PWKEY_OPSLIMIT_MAX], memlimit in
 * [KW_PWKEY_MEMLIMIT_MIN, KW_PWKEY_MEMLIMIT_MAX]; below a minimum, an
 * unknown version or algorithm → KW_ERR_FORMAT; above a maximum →
 * KW_ERR_LIMIT. The maxima keep a stored record from making us burn
 * unbounded memory or time; the minima (t = 2, m = 19 MiB, OWASP's floor for
 * Argon2id) keep a record written by someone else — a tampered store, a
 * malicious server — from downgrading the derivation to libsodium's bare
 * minimum (t = 1, m = 8 KiB), under which a key derived and then used to
 * protect new data would be cheap to brute-force. Records of the wrong
 * length: KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE.
 *
 * Secrets: the password and the derived key (wiped on failure). The salt
 * and parameters are public. Thread-safe; derivation allocates memlimit
 * bytes (KW_ERR_NOMEM when that fails).
 */
#ifndef KEYWARD_PWKEY_H
#define KEYWARD_PWKEY_H

#include <stddef.h>
#include <stdint.h>

#define KW_PWKEY_KEYBYTES 32
#define KW_PWKEY_SALTBYTES 16
#define KW_PWKEY_RECORDBYTES 30
#define KW_PWKEY_RECORD_VERSION 1
#define KW_PWKEY_ALG_ARGON2ID13 1
#define KW_PWKEY_OPSLIMIT_MIN 2u
#define KW_PWKEY_OPSLIMIT_MAX 16u
#define KW_PWKEY_MEMLIMIT_MIN ((uint64_t)19 << 20) /* 19 MiB */
#define KW_PWKEY_MEMLIMIT_MAX ((uint64_t)1 << 30) /* 1 GiB */
#define KW_PWKEY_PASSWORD_MAXBYTES 4096

/* Default strength levels for kw_pwkey_params_default. */
#define KW_PWKEY_INTERACTIVE 0 /* ops 2, 64 MiB: logins */
#define KW_PWKEY_MODERATE 1    /* ops 3, 256 MiB: keys protecting stored data */

typedef struct kw_pwkey_params {
    uint8_t alg; /* KW_PWKEY_ALG_* */
    uint32_t opslimit;
    uint64_t memlimit; /* bytes */
    uint8_t salt[KW_PWKEY_SALTBYTES];
} kw_pwkey_params;

/* Fills p with libsodium's Argon2id parameters for level and a fresh random
 * salt. KW_ERR_INVALID_ARG for an unknown level. */
int kw_pwkey_params_default(kw_pwkey_params *p, int level);

/* Checks p against the bounds above: 0, KW_ERR_FORMAT or KW_ERR_LIMIT. */
__attribute__((warn_unused_result))
int kw_pwkey_params_check(const kw_pwkey_params *p);

/* Derives key from password under p. The key is zeroed on failure.
 * Errors of kw_pwkey_params_check, KW_ERR_TOO_LARGE for a password over
 * KW_PWKEY_PASSWORD_MAXBYTES, KW_ERR_NOMEM when Argon2id cannot allocate. */
__attribute__((warn_unused_result))
int kw_pwkey_derive(uint8_t key[static KW_PWKEY_KEYBYTES], const uint8_t *password,
                    size_t password_len, const kw_pwkey_params *p);

/* Serialises p as a parameters record; p is checked first (errors of
 * kw_pwkey_params_check, nothing written on error). */
int kw_pwkey_params_encode(uint8_t out[static KW_PWKEY_RECORDBYTES], const kw_pwkey_params *p);

/* Parses a parameters record of exactly KW_PWKEY_RECORDBYTES bytes and
 * checks its bounds. KW_ERR_TRUNCATED when shorter, KW_ERR_TOO_LARGE when
 * longer, KW_ERR_FORMAT / KW_ERR_LIMIT as above; *p is zeroed on error. */
__attribute__((warn_unused_result))
int kw_pwkey_params_decode(kw_pwkey_params *p, const uint8_t *rec, size_t rec_len);

#endif
