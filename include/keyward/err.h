/*
 * keyward/err.h — the one table of error codes used across libkeyward.
 *
 * Every fallible function returns 0 (KW_OK) on success or one negative
 * KW_ERR_* code. The kinds are kept distinct so a caller (and the server's
 * error→status mapping) can tell malformed input from a failed check from a
 * resource limit. Thread-safe; holds no state.
 */
#ifndef KEYWARD_ERR_H
#define KEYWARD_ERR_H

#define KW_OK 0
#define KW_ERR_FORMAT (-1)      /* input is malformed (bad character, bad encoding, bad field) */
#define KW_ERR_TRUNCATED (-2)   /* input ended before a complete value */
#define KW_ERR_TOO_LARGE (-3)   /* input or output exceeds its declared maximum */
#define KW_ERR_VERIFY (-4)      /* authentication, signature or proof check failed */
#define KW_ERR_NOT_FOUND (-5)   /* the named object does not exist */
#define KW_ERR_CONFLICT (-6)    /* the object changed or already exists */
#define KW_ERR_LIMIT (-7)       /* a count, rate or capacity limit was hit */
#define KW_ERR_SYSTEM (-8)      /* an operating-system call failed */
#define KW_ERR_STORAGE (-9)     /* the storage backend failed */
#define KW_ERR_INTERNAL (-10)   /* a bug or an impossible state */
#define KW_ERR_NOMEM (-11)      /* allocation failed */
#define KW_ERR_INVALID_ARG (-12) /* the caller passed an argument outside the contract */
#define KW_ERR_UNSUPPORTED (-13) /* a suite, format or mode we do not implement */
#define KW_ERR_CRYPTO (-14)     /* a cryptographic operation failed (invalid point, zero secret) */

/* Returns a static, human-readable description of an error code; never NULL. */
const char *kw_strerror(int err);

/* Returns a short stable identifier ("format", "verify", ...) for an error
 * code, suitable for machine-readable error bodies; never NULL. */
const char *kw_errname(int err);

#endif
