/*
 * lib/client/profile_parse.h — the device profile's two file formats as
 * buffer parsers, so they can be tested and fuzzed without files or the
 * Argon2id derivation (profile.c's load path calls exactly these).
 *
 * Internal to libkeyward. Thread-safe (no state). Secrets: the secrets.bin
 * plaintext and the kwc_secrets it decodes to (wiped on every error).
 */
#ifndef KEYWARD_CLIENT_PROFILE_PARSE_H
#define KEYWARD_CLIENT_PROFILE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "client/client_internal.h"

#define KWC_CONFIG_MAXBYTES 16384

/* Parses config.json text (at most KWC_CONFIG_MAXBYTES bytes, else
 * KW_ERR_TOO_LARGE) into the public fields of p (server, account,
 * device_name, state, device_id, account_pk). KW_ERR_FORMAT for anything
 * but a JSON object with those fields well-formed (device_name and
 * device_id required; the base64url decoder's KW_ERR_TRUNCATED /
 * KW_ERR_TOO_LARGE pass through for device_id and account_pk); on error
 * the fields may be partly written. */
int kwc_profile_config_parse(kwc_profile *p, const uint8_t *text, size_t len);

/* Decodes the decrypted secrets.bin plaintext into *s: KW_ERR_TRUNCATED
 * when it ends early, KW_ERR_FORMAT for a bad field or trailing bytes,
 * KW_ERR_TOO_LARGE over KWC_SECRETS_MAXBYTES, KW_ERR_NOMEM. *s is zeroed on
 * error. */
int kwc_secrets_parse(kwc_secrets *s, const uint8_t *pt, size_t len);

/* Encodes *s as that plaintext into out (cap bytes); *len receives its
 * length. KW_ERR_INVALID_ARG for an unterminated token, KW_ERR_TOO_LARGE
 * when cap is too small. */
int kwc_secrets_serialize(const kwc_secrets *s, uint8_t *out, size_t cap, size_t *len);

#endif
