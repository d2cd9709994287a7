/*
 * keyward/kt_commit.h — the value commitment of key transparency.
 *
 * A leaf of the prefix tree (kt_prefix.h) holds a 32-byte commitment to one
 * (label, version, value), never the value or the label itself:
 *
 *   commitment = HMAC-SHA256(K, opening ‖ u16 len(label) ‖ label
 *                               ‖ u64 version ‖ u32 len(value) ‖ value)
 *
 * with K the fixed, public ASCII key "keyward/kt/commitment/v1" (24 bytes)
 * and all integers big-endian. The opening is 32 fresh random bytes chosen
 * by the server when the version is published and handed to a client
 * together with the value and the proof; without it the commitment reveals
 * nothing about the label or the value (HMAC as a PRF keyed, in effect, by
 * the opening), and with it the commitment binds exactly one (label,
 * version, value) — the length prefixes make the encoding injective.
 *
 * Owns: opening generation, computing and verifying commitments.
 * Limits: a label is at most KW_COMMIT_LABEL_MAXBYTES bytes, a value at
 * most KW_COMMIT_VALUE_MAXBYTES (KW_ERR_TOO_LARGE beyond).
 * Secret data: the opening is secret until it is disclosed with a proof (it
 * is what hides the value); the HMAC state is wiped. Commitments are public
 * and compared in constant time.
 * Thread-safe: no state; call kw_init() first.
 */
#ifndef KEYWARD_KT_COMMIT_H
#define KEYWARD_KT_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#define KW_COMMIT_BYTES 32
#define KW_COMMIT_OPENINGBYTES 32
#define KW_COMMIT_LABEL_MAXBYTES 1024
#define KW_COMMIT_VALUE_MAXBYTES ((size_t)1 << 20)

/* Fills opening with fresh random bytes (randombytes_buf). Cannot fail. */
void kw_commit_opening_new(uint8_t opening[static KW_COMMIT_OPENINGBYTES]);

/* Computes the commitment to (label, version, value) under opening.
 * KW_ERR_TOO_LARGE when the label or the value is over its maximum,
 * KW_ERR_INVALID_ARG for a NULL pointer with a non-zero length. out is
 * zeroed on error. */
int kw_commit_compute(uint8_t out[static KW_COMMIT_BYTES],
                      const uint8_t opening[static KW_COMMIT_OPENINGBYTES],
                      const uint8_t *label, size_t label_len, uint64_t version,
                      const uint8_t *value, size_t value_len);

/* Checks in constant time that commitment opens to (label, version, value)
 * under opening. 0 when it does, KW_ERR_VERIFY when it does not, and the
 * errors of kw_commit_compute. */
int kw_commit_verify(const uint8_t commitment[static KW_COMMIT_BYTES],
                     const uint8_t opening[static KW_COMMIT_OPENINGBYTES],
                     const uint8_t *label, size_t label_len, uint64_t version,
                     const uint8_t *value, size_t value_len)
    __attribute__((warn_unused_result));

#endif
