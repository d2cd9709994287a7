#include "keyward/h2c.h"

#include <sodium.h>
#include <string.h>

#include "keyward/err.h"

#define XMD_B_BYTES 64  /* SHA-512 output */
#define XMD_S_BYTES 128 /* SHA-512 input block */

int kw_h2c_expand_xmd_sha512(uint8_t *out, size_t out_len, const uint8_t *msg, size_t msg_len,
                             const uint8_t *dst, size_t dst_len)
{
    const kw_h2c_part part = {msg, msg_len};
    if (msg == NULL && msg_len > 0)
        return KW_ERR_INVALID_ARG;
    return kw_h2c_expand_xmd_sha512_parts(out, out_len, &part, 1, dst, dst_len);
}

int kw_h2c_expand_xmd_sha512_parts(uint8_t *out, size_t out_len, const kw_h2c_part *parts,
                                   size_t nparts, const uint8_t *dst, size_t dst_len)
{
    static const uint8_t z_pad[XMD_S_BYTES];
    uint8_t b0[XMD_B_BYTES], bi[XMD_B_BYTES], x[XMD_B_BYTES];
    crypto_hash_sha512_state st;
    int r = KW_ERR_INTERNAL;

    if (out == NULL || out_len == 0 || dst == NULL || dst_len == 0 || (parts == NULL && nparts > 0)) {
        r = KW_ERR_INVALID_ARG;
        goto fail;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].ptr == NULL && parts[i].len > 0) {
            r = KW_ERR_INVALID_ARG;
            goto fail;
        }
    }
    if (dst_len > KW_H2C_DST_MAXBYTES || out_len > KW_H2C_XMD_SHA512_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto fail;
    }
    const size_t ell = (out_len + XMD_B_BYTES - 1) / XMD_B_BYTES;
    const uint8_t l_i_b[2] = {(uint8_t)(out_len >> 8), (uint8_t)out_len};
    const uint8_t dst_len_byte = (uint8_t)dst_len;
    const uint8_t zero = 0;

    /* b_0 = H(Z_pad || msg || I2OSP(len, 2) || I2OSP(0, 1) || DST_prime) */
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, z_pad, sizeof(z_pad));
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].len > 0)
            crypto_hash_sha512_update(&st, parts[i].ptr, parts[i].len);
    crypto_hash_sha512_update(&st, l_i_b, sizeof(l_i_b));
    crypto_hash_sha512_update(&st, &zero, 1);
    crypto_hash_sha512_update(&st, dst, dst_len);
    crypto_hash_sha512_update(&st, &dst_len_byte, 1);
    crypto_hash_sha512_final(&st, b0);

    memset(bi, 0, sizeof(bi)); /* b_1 uses b_0 xor 0 = b_0 */
    size_t done = 0;
    for (size_t i = 1; i <= ell; i++) {
        const uint8_t idx = (uint8_t)i;
        for (size_t j = 0; j < XMD_B_BYTES; j++)
            x[j] = (uint8_t)(b0[j] ^ bi[j]);
        crypto_hash_sha512_init(&st);
        crypto_hash_sha512_update(&st, x, sizeof(x));
        crypto_hash_sha512_update(&st, &idx, 1);
        crypto_hash_sha512_update(&st, dst, dst_len);
        crypto_hash_sha512_update(&st, &dst_len_byte, 1);
        crypto_hash_sha512_final(&st, bi);
        size_t take = out_len - done < XMD_B_BYTES ? out_len - done : XMD_B_BYTES;
        memcpy(out + done, bi, take);
        done += take;
    }
    r = KW_OK;
    goto out;
fail:
    if (out != NULL && out_len > 0 && out_len <= KW_H2C_XMD_SHA512_MAXBYTES)
        sodium_memzero(out, out_len);
out:
    sodium_memzero(b0, sizeof(b0));
    sodium_memzero(bi, sizeof(bi));
    sodium_memzero(x, sizeof(x));
    sodium_memzero(&st, sizeof(st));
    return r;
}
