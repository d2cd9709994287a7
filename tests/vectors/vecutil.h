/*
 * vecutil.h — reading test-vector files at run time.
 *
 * The vector roots are, in order: $KEYWARD_SHARED_VECTORS (set by the
 * Makefile to ../shared/vectors), then every folder listed in
 * $KEYWARD_VECTORS (colon-separated). Every *.json file under a root is
 * loaded and offered to the suite's classifier, so extra files of the same
 * schema are picked up without a rebuild, wherever they sit in the folder.
 */
#ifndef KEYWARD_TESTS_VECUTIL_H
#define KEYWARD_TESTS_VECUTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Tallies for one kind of vector; printed by vec_report. */
typedef struct {
    const char *kind;
    unsigned ran, passed, failed, unsupported;
} vec_tally;

/* Called for every JSON document found; path is for messages. */
typedef void (*vec_visit_fn)(const char *path, json_t *doc, void *ctx);

/* Walks every root and calls visit on every parsed *.json file.
 * Returns the number of files visited; prints and counts unparsable files
 * as failures through *parse_failures. */
unsigned vec_walk(vec_visit_fn visit, void *ctx, unsigned *parse_failures);

/* Decodes the hex string field `name` of obj into a fresh malloc'd buffer
 * (free with free()). Returns 0, or -1 when missing or not hex. An empty
 * string yields len 0 and a non-NULL pointer. */
int vec_hex(json_t *obj, const char *name, uint8_t **out, size_t *len);

/* Same for standard base64 (with padding, as in the Merkle files). JSON null
 * or "" give len 0. */
int vec_b64(json_t *obj, const char *name, uint8_t **out, size_t *len);

/* Unsigned integer field. Files holding integers beyond int64 are parsed
 * with integers as reals; values at or above 2^64-1 saturate to UINT64_MAX.
 * Returns 0, or -1 when missing, negative or not a number. */
int vec_u64(json_t *obj, const char *name, uint64_t *out);

/* String field or NULL. */
const char *vec_str(json_t *obj, const char *name);

/* Prints "kind: ran R, passed P, failed F, unsupported U". */
void vec_report(const vec_tally *t);

/* Prints a hex dump of a mismatch for diagnosis. */
void vec_mismatch(const char *path, const char *what, const uint8_t *got,
                  size_t got_len, const uint8_t *want, size_t want_len);

#endif
