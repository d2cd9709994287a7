#include "keyward/buf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"

struct kw_buf {
    uint8_t *data;
    size_t cap;  /* allocated bytes */
    size_t off;  /* read offset */
    size_t size; /* write offset (end of data) */
    size_t max;  /* maximum size */
};

kw_buf *kw_buf_new(size_t max_size)
{
    if (max_size == 0 || max_size > KW_BUF_MAX_SIZE)
        return NULL;
    kw_buf *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->max = max_size;
    return b;
}

kw_buf *kw_buf_from(const uint8_t *data, size_t len)
{
    kw_buf *b = kw_buf_new(len == 0 ? 1 : len);
    if (b == NULL)
        return NULL;
    if (len > 0 && kw_buf_put(b, data, len) != KW_OK)
        kw_buf_free(&b);
    return b;
}

void kw_buf_free(kw_buf **b)
{
    if (b == NULL || *b == NULL)
        return;
    if ((*b)->data != NULL) {
        sodium_memzero((*b)->data, (*b)->cap);
        free((*b)->data);
    }
    free(*b);
    *b = NULL;
}

size_t kw_buf_len(const kw_buf *b)
{
    return b->size - b->off;
}

const uint8_t *kw_buf_ptr(const kw_buf *b)
{
    static const uint8_t empty[1];
    return b->data != NULL ? b->data + b->off : empty;
}

size_t kw_buf_max(const kw_buf *b)
{
    return b->max;
}

void kw_buf_reset(kw_buf *b)
{
    if (b->data != NULL)
        sodium_memzero(b->data, b->cap);
    b->off = 0;
    b->size = 0;
}

/* Makes room for n more bytes at the end, compacting consumed bytes first
 * and growing geometrically up to the maximum. */
static int buf_make_room(kw_buf *b, size_t n)
{
    size_t used = b->size - b->off;
    if (n > b->max || used > b->max - n)
        return KW_ERR_TOO_LARGE;
    if (b->size + n <= b->cap)
        return KW_OK;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, used);
        sodium_memzero(b->data + used, b->cap - used);
        b->off = 0;
        b->size = used;
        if (used + n <= b->cap)
            return KW_OK;
    }
    size_t want = b->cap < 64 ? 64 : b->cap;
    while (want < used + n)
        want = want > b->max / 2 ? b->max : want * 2;
    if (want > b->max)
        want = b->max;
    /* Allocate fresh and wipe the old region so no copy of a secret is left
     * behind by realloc. */
    uint8_t *fresh = calloc(1, want);
    if (fresh == NULL)
        return KW_ERR_NOMEM;
    if (b->data != NULL) {
        memcpy(fresh, b->data, b->size);
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = fresh;
    b->cap = want;
    return KW_OK;
}

int kw_buf_reserve(kw_buf *b, size_t n, uint8_t **dst)
{
    *dst = NULL;
    int r = buf_make_room(b, n);
    if (r != KW_OK)
        return r;
    *dst = b->data + b->size;
    b->size += n;
    return KW_OK;
}

int kw_buf_put(kw_buf *b, const void *data, size_t n)
{
    uint8_t *dst;
    if (n == 0)
        return KW_OK;
    int r = kw_buf_reserve(b, n, &dst);
    if (r != KW_OK)
        return r;
    memcpy(dst, data, n);
    return KW_OK;
}

static int buf_put_be(kw_buf *b, uint64_t v, size_t width)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < width; i++)
        tmp[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    return kw_buf_put(b, tmp, width);
}

int kw_buf_put_u8(kw_buf *b, uint8_t v) { return buf_put_be(b, v, 1); }
int kw_buf_put_u16(kw_buf *b, uint16_t v) { return buf_put_be(b, v, 2); }
int kw_buf_put_u32(kw_buf *b, uint32_t v) { return buf_put_be(b, v, 4); }
int kw_buf_put_u64(kw_buf *b, uint64_t v) { return buf_put_be(b, v, 8); }

int kw_buf_put_string16(kw_buf *b, const void *data, size_t n)
{
    if (n > 0xffff)
        return KW_ERR_TOO_LARGE;
    size_t used = kw_buf_len(b);
    if (n + 2 > b->max || used > b->max - (n + 2))
        return KW_ERR_TOO_LARGE;
    int r = kw_buf_put_u16(b, (uint16_t)n);
    if (r == KW_OK)
        r = kw_buf_put(b, data, n);
    return r;
}

int kw_buf_get(kw_buf *b, void *out, size_t n)
{
    if (kw_buf_len(b) < n)
        return KW_ERR_TRUNCATED;
    if (out != NULL && n > 0)
        memcpy(out, b->data + b->off, n);
    b->off += n;
    return KW_OK;
}

static int buf_get_be(kw_buf *b, uint64_t *v, size_t width)
{
    uint8_t tmp[8];
    int r = kw_buf_get(b, tmp, width);
    if (r != KW_OK)
        return r;
    *v = 0;
    for (size_t i = 0; i < width; i++)
        *v = (*v << 8) | tmp[i];
    return KW_OK;
}

int kw_buf_get_u8(kw_buf *b, uint8_t *v)
{
    uint64_t x;
    int r = buf_get_be(b, &x, 1);
    if (r == KW_OK)
        *v = (uint8_t)x;
    return r;
}

int kw_buf_get_u16(kw_buf *b, uint16_t *v)
{
    uint64_t x;
    int r = buf_get_be(b, &x, 2);
    if (r == KW_OK)
        *v = (uint16_t)x;
    return r;
}

int kw_buf_get_u32(kw_buf *b, uint32_t *v)
{
    uint64_t x;
    int r = buf_get_be(b, &x, 4);
    if (r == KW_OK)
        *v = (uint32_t)x;
    return r;
}

int kw_buf_get_u64(kw_buf *b, uint64_t *v)
{
    return buf_get_be(b, v, 8);
}

int kw_buf_get_string16(kw_buf *b, const uint8_t **data, size_t *n, size_t max)
{
    *data = NULL;
    *n = 0;
    if (kw_buf_len(b) < 2)
        return KW_ERR_TRUNCATED;
    const uint8_t *p = kw_buf_ptr(b);
    size_t len = ((size_t)p[0] << 8) | p[1];
    if (len > max)
        return KW_ERR_TOO_LARGE;
    if (kw_buf_len(b) - 2 < len)
        return KW_ERR_TRUNCATED;
    *data = p + 2;
    *n = len;
    b->off += 2 + len;
    return KW_OK;
}
