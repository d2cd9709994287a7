/*
 * kt/kt_dir_internal.h — helpers shared by the directory's files (head.c,
 * directory.c, proof.c, audit.c). Not part of the public API.
 */
#ifndef KEYWARD_KT_DIR_INTERNAL_H
#define KEYWARD_KT_DIR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/kt.h"

#define KT_ALPHA_MAXBYTES (2 + KW_KT_LABEL_MAXBYTES)
#define KT_PREFIXBYTES 28 /* the part of VRF(label) that goes into indices */
#define KT_ABSENT_SAME_LEAF 3 /* absence proof = the previous proof's path, ending at its leaf */

/* alpha = u16 len ‖ label; returns its length (label_len must be within
 * the maximum: the caller checks). */
size_t kt_alpha(uint8_t out[static KT_ALPHA_MAXBYTES], const uint8_t *label, size_t label_len);

/* index(label, v) = beta[0..4) ‖ u32 bit-reversed v ‖ beta[4..28), beta =
 * VRF(label): every version of a label under one 32-bit prefix, versions
 * v and v+1 parting at the first bit after it. */
void kt_index_make(uint8_t out[static KW_KT_INDEXBYTES], const uint8_t beta[static KT_PREFIXBYTES],
                   uint32_t version);

/* Big-endian helpers. */
void kt_be_put(uint8_t *p, uint64_t v, size_t n);
uint64_t kt_be_get(const uint8_t *p, size_t n);

/* Writes the 88-byte to-be-signed part of a head. */
void kt_head_tbs(uint8_t out[static KW_KT_HEAD_TBSBYTES], const kw_kt_head *h);

/* Builds and signs a promise. */
int kt_promise_make(uint8_t *out, size_t cap, size_t *out_len, const kw_sign_key *key,
                    const uint8_t *label, size_t label_len, uint32_t version,
                    const uint8_t *value, size_t value_len, uint64_t deadline);

/* Reads / writes a head from / to a kw_buf. */
int kt_head_get(kw_buf *b, kw_kt_head *h);
int kt_head_put(kw_buf *b, const kw_kt_head *h);

#endif
