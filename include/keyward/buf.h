/*
 * keyward/buf.h — the bounded byte buffer used for all parsing and serialising.
 *
 * A kw_buf owns a growable region whose maximum size is fixed at creation;
 * writers append at the end, readers consume from a read offset. Any write
 * past the maximum fails with KW_ERR_TOO_LARGE and leaves the buffer as it
 * was; any read past the end fails with KW_ERR_TRUNCATED and consumes
 * nothing. Integers are big-endian. The contents are wiped when the buffer
 * grows (old region) and when it is freed, so a buffer may hold secrets.
 * Not thread-safe: one buffer, one thread at a time.
 */
#ifndef KEYWARD_BUF_H
#define KEYWARD_BUF_H

#include <stddef.h>
#include <stdint.h>

#define KW_BUF_MAX_SIZE ((size_t)1 << 30) /* hard ceiling on any buffer's maximum */

typedef struct kw_buf kw_buf;

/* Creates an empty buffer that may grow up to max_size bytes (at most
 * KW_BUF_MAX_SIZE). Returns NULL when allocation fails or max_size is 0 or
 * over the ceiling. */
kw_buf *kw_buf_new(size_t max_size);

/* Creates a buffer holding a copy of data[0..len) with maximum len, ready to
 * be read from the start. Returns NULL on allocation failure or len over the
 * ceiling. */
kw_buf *kw_buf_from(const uint8_t *data, size_t len);

/* Wipes and frees *b and sets *b to NULL; a NULL b or *b is a no-op. */
void kw_buf_free(kw_buf **b);

/* Number of unread bytes. */
size_t kw_buf_len(const kw_buf *b);

/* Pointer to the first unread byte (valid until the next write or free). */
const uint8_t *kw_buf_ptr(const kw_buf *b);

/* The maximum size the buffer was created with. */
size_t kw_buf_max(const kw_buf *b);

/* Wipes the contents and resets both offsets; the maximum stays. */
void kw_buf_reset(kw_buf *b);

/* Appends n bytes. KW_ERR_TOO_LARGE past the maximum, KW_ERR_NOMEM on
 * allocation failure; on error the buffer is unchanged. */
int kw_buf_put(kw_buf *b, const void *data, size_t n);
int kw_buf_put_u8(kw_buf *b, uint8_t v);
int kw_buf_put_u16(kw_buf *b, uint16_t v);
int kw_buf_put_u32(kw_buf *b, uint32_t v);
int kw_buf_put_u64(kw_buf *b, uint64_t v);

/* Appends a big-endian u16 length followed by n bytes (n < 65536). */
int kw_buf_put_string16(kw_buf *b, const void *data, size_t n);

/* Reserves n writable bytes at the end and returns them through *dst; the
 * bytes count as written. Same errors as kw_buf_put. */
int kw_buf_reserve(kw_buf *b, size_t n, uint8_t **dst);

/* Consumes n bytes into out (out may be NULL to skip them).
 * KW_ERR_TRUNCATED when fewer than n bytes are unread; nothing consumed. */
int kw_buf_get(kw_buf *b, void *out, size_t n);
int kw_buf_get_u8(kw_buf *b, uint8_t *v);
int kw_buf_get_u16(kw_buf *b, uint16_t *v);
int kw_buf_get_u32(kw_buf *b, uint32_t *v);
int kw_buf_get_u64(kw_buf *b, uint64_t *v);

/* Consumes a u16 length and that many bytes, returning a pointer into the
 * buffer (valid until the next write) and the length. max bounds the length:
 * KW_ERR_TOO_LARGE when exceeded, KW_ERR_TRUNCATED when the data is short;
 * nothing is consumed on error. */
int kw_buf_get_string16(kw_buf *b, const uint8_t **data, size_t *n, size_t max);

#endif
