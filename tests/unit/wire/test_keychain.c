/* Unit tests for the client-side secrets formats (keyward/keychain.h):
 * sealed keychain, KK wraps, the KK chain, recovery key / code / wrap /
 * proof, and the join code. Layouts are cross-checked with libsodium and
 * keyward/hpke.h directly, from the header's description. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/hkdf.h"
#include "keyward/hpke.h"
#include "keyward/keychain.h"
#include "keyward/keyward.h"

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

static kw_keychain *sample(void)
{
    uint8_t seed[32];
    kw_keychain *kc = NULL;
    for (size_t i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(kw_keychain_new(&kc, seed), KW_OK);
    assert_int_equal(kw_keychain_set(kc, "service/photos/1", (const uint8_t *)"0123456789abcdef", 16), KW_OK);
    assert_int_equal(kw_keychain_set(kc, "wifi", (const uint8_t *)"hunter2", 7), KW_OK);
    assert_int_equal(kw_keychain_set(kc, "empty", NULL, 0), KW_OK);
    return kc;
}

/* ---- keychain ---- */

static void test_keychain_items(void **state)
{
    (void)state;
    kw_keychain *kc = sample();
    const uint8_t *v;
    const char *name;
    size_t n;
    assert_int_equal(kw_keychain_count(kc), 3);
    assert_int_equal(kw_keychain_get(kc, "wifi", &v, &n), KW_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(v, "hunter2", 7);
    assert_int_equal(kw_keychain_get(kc, "empty", &v, &n), KW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(kw_keychain_get(kc, "nope", &v, &n), KW_ERR_NOT_FOUND);
    /* replace keeps the position */
    assert_int_equal(kw_keychain_set(kc, "wifi", (const uint8_t *)"correct horse", 13), KW_OK);
    assert_int_equal(kw_keychain_item(kc, 1, &name, &v, &n), KW_OK);
    assert_string_equal(name, "wifi");
    assert_int_equal(n, 13);
    assert_int_equal(kw_keychain_item(kc, 3, &name, &v, &n), KW_ERR_NOT_FOUND);
    /* delete */
    assert_int_equal(kw_keychain_delete(kc, "service/photos/1"), KW_OK);
    assert_int_equal(kw_keychain_delete(kc, "service/photos/1"), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_keychain_count(kc), 2);
    assert_int_equal(kw_keychain_item(kc, 0, &name, &v, &n), KW_OK);
    assert_string_equal(name, "wifi");
    /* plaintext length tracks edits */
    assert_int_equal(kw_keychain_plaintext_len(kc), 32 + 2 + (1 + 4 + 4 + 13) + (1 + 5 + 4 + 0));
    /* argument checks */
    char long_name[300];
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    assert_int_equal(kw_keychain_set(kc, long_name, v, 1), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_keychain_set(kc, "", v, 1), KW_ERR_INVALID_ARG);
    long_name[255] = '\0';
    assert_int_equal(kw_keychain_set(kc, long_name, (const uint8_t *)"x", 1), KW_OK);
    kw_keychain_free(&kc);
    assert_null(kc);
    kw_keychain_free(&kc);
}

static void test_keychain_limits(void **state)
{
    (void)state;
    kw_keychain *kc = NULL;
    uint8_t seed[32] = {1};
    uint8_t *big = calloc(1, KW_KEYCHAIN_VALUE_MAXBYTES + 1);
    char name[16];
    assert_non_null(big);
    assert_int_equal(kw_keychain_new(&kc, seed), KW_OK);
    assert_int_equal(kw_keychain_set(kc, "v", big, KW_KEYCHAIN_VALUE_MAXBYTES + 1), KW_ERR_TOO_LARGE);
    /* the 1 MiB total: fifteen 64 KiB values fit, the sixteenth does not */
    for (int i = 0; i < 15; i++) {
        snprintf(name, sizeof(name), "big%d", i);
        assert_int_equal(kw_keychain_set(kc, name, big, KW_KEYCHAIN_VALUE_MAXBYTES), KW_OK);
    }
    assert_int_equal(kw_keychain_set(kc, "big15", big, KW_KEYCHAIN_VALUE_MAXBYTES), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_keychain_count(kc), 15);
    /* the largest keychain seals within KW_KEYCHAIN_MAXBYTES and opens */
    size_t room = KW_KEYCHAIN_PLAINTEXT_MAXBYTES - kw_keychain_plaintext_len(kc) - 5 - 4;
    assert_int_equal(kw_keychain_set(kc, "fill", big, room), KW_OK);
    assert_int_equal(kw_keychain_plaintext_len(kc), KW_KEYCHAIN_PLAINTEXT_MAXBYTES);
    assert_int_equal(kw_keychain_set(kc, "x", NULL, 0), KW_ERR_TOO_LARGE);
    uint8_t *blob = malloc(KW_KEYCHAIN_MAXBYTES), kk[32];
    size_t n = 0;
    kw_kk_new(kk);
    assert_non_null(blob);
    assert_int_equal(kw_keychain_seal(blob, KW_KEYCHAIN_MAXBYTES, &n, kc, kk, "alice", 1, 1), KW_OK);
    assert_int_equal(n, KW_KEYCHAIN_MAXBYTES);
    kw_keychain *back = NULL;
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alice", 1, 1), KW_OK);
    assert_int_equal(kw_keychain_count(back), 16);
    kw_keychain_free(&back);
    /* a short output buffer */
    assert_int_equal(kw_keychain_seal(blob, KW_KEYCHAIN_MAXBYTES - 1, &n, kc, kk, "alice", 1, 1),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(n, 0);
    kw_keychain_free(&kc);
    /* 256 items, not 257 */
    assert_int_equal(kw_keychain_new(&kc, seed), KW_OK);
    for (int i = 0; i < KW_KEYCHAIN_ITEMS_MAX; i++) {
        snprintf(name, sizeof(name), "i%d", i);
        assert_int_equal(kw_keychain_set(kc, name, (const uint8_t *)"v", 1), KW_OK);
    }
    assert_int_equal(kw_keychain_set(kc, "one more", (const uint8_t *)"v", 1), KW_ERR_LIMIT);
    assert_int_equal(kw_keychain_set(kc, "i7", (const uint8_t *)"w", 1), KW_OK); /* replacing is fine */
    kw_keychain_free(&kc);
    free(blob);
    free(big);
}

static void same_items(const kw_keychain *a, const kw_keychain *b)
{
    uint8_t sa[32], sb[32];
    kw_keychain_seed(a, sa);
    kw_keychain_seed(b, sb);
    assert_memory_equal(sa, sb, 32);
    assert_int_equal(kw_keychain_count(a), kw_keychain_count(b));
    for (size_t i = 0; i < kw_keychain_count(a); i++) {
        const char *na, *nb;
        const uint8_t *va, *vb;
        size_t la, lb;
        assert_int_equal(kw_keychain_item(a, i, &na, &va, &la), KW_OK);
        assert_int_equal(kw_keychain_item(b, i, &nb, &vb, &lb), KW_OK);
        assert_string_equal(na, nb);
        assert_int_equal(la, lb);
        if (la > 0)
            assert_memory_equal(va, vb, la);
    }
}

static void test_keychain_seal_open(void **state)
{
    (void)state;
    kw_keychain *kc = sample(), *back = NULL;
    uint8_t kk[32], kk2[32], blob[1024];
    size_t n = 0;
    uint64_t v = 0, g = 0;
    kw_kk_new(kk);
    kw_kk_new(kk2);
    assert_int_equal(kw_keychain_seal(blob, sizeof(blob), &n, kc, kk, "alice", 5, 2), KW_OK);
    assert_int_equal(n, KW_KEYCHAIN_HEADERBYTES + kw_keychain_plaintext_len(kc) + 16);
    assert_int_equal(kw_keychain_header(blob, n, &v, &g), KW_OK);
    assert_int_equal(v, 5);
    assert_int_equal(g, 2);
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alice", 5, 2), KW_OK);
    same_items(kc, back);
    kw_keychain_free(&back);

    /* the layout: decrypt by hand with ad = header ‖ name */
    uint8_t ad[64], pt[1024], enc[1024];
    unsigned long long mlen = 0;
    memcpy(ad, blob, 44);
    memcpy(ad + 44, "alice", 5);
    assert_memory_equal(blob, "KWK1", 4);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, blob + 44, n - 44, ad, 49,
                                                                blob + 20, kk),
                     0);
    size_t elen = 0;
    assert_int_equal(kw_keychain_encode(enc, sizeof(enc), &elen, kc), KW_OK);
    assert_int_equal(mlen, elen);
    assert_memory_equal(pt, enc, elen);

    /* wrong key, name, version, generation */
    back = (kw_keychain *)1;
    assert_int_equal(kw_keychain_open(&back, blob, n, kk2, "alice", 5, 2), KW_ERR_VERIFY);
    assert_null(back);
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alicf", 5, 2), KW_ERR_VERIFY);
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alice", 4, 2), KW_ERR_VERIFY);
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alice", 5, 1), KW_ERR_VERIFY);
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "", 5, 2), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alice", 0, 2), KW_ERR_INVALID_ARG);
    /* a rolled-back header (version edited to what the reader expects) */
    blob[11] ^= 1;
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alice", 4, 2), KW_ERR_VERIFY);
    blob[11] ^= 1;
    /* every byte tampered */
    for (size_t i = 4; i < n; i++) {
        blob[i] ^= 0x20;
        int r = kw_keychain_open(&back, blob, n, kk, "alice", 5, 2);
        assert_int_equal(r, KW_ERR_VERIFY);
        assert_null(back);
        blob[i] ^= 0x20;
    }
    blob[0] = 'X';
    assert_int_equal(kw_keychain_open(&back, blob, n, kk, "alice", 5, 2), KW_ERR_FORMAT);
    blob[0] = 'K';
    /* every truncation */
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len + 1);
        assert_non_null(copy);
        memcpy(copy, blob, len);
        int want = len < KW_KEYCHAIN_HEADERBYTES + 16 ? KW_ERR_TRUNCATED : KW_ERR_VERIFY;
        assert_int_equal(kw_keychain_open(&back, copy, len, kk, "alice", 5, 2), want);
        free(copy);
    }
    /* trailing bytes do not authenticate */
    blob[n] = 0;
    assert_int_equal(kw_keychain_open(&back, blob, n + 1, kk, "alice", 5, 2), KW_ERR_VERIFY);
    /* oversized */
    uint8_t *huge = calloc(1, KW_KEYCHAIN_MAXBYTES + 1);
    assert_non_null(huge);
    memcpy(huge, blob, n);
    assert_int_equal(kw_keychain_open(&back, huge, KW_KEYCHAIN_MAXBYTES + 1, kk, "alice", 5, 2),
                     KW_ERR_TOO_LARGE);
    free(huge);
    /* two seals differ (fresh nonce) */
    uint8_t blob2[1024];
    size_t n2 = 0;
    assert_int_equal(kw_keychain_seal(blob2, sizeof(blob2), &n2, kc, kk, "alice", 5, 2), KW_OK);
    assert_int_equal(n2, n);
    assert_memory_not_equal(blob2, blob, n);
    assert_int_equal(kw_keychain_seal(blob2, sizeof(blob2), &n2, kc, kk, "alice", 0, 2), KW_ERR_INVALID_ARG);
    assert_true(kw_ct_is_zero(blob2, sizeof(blob2)));
    kw_keychain_free(&kc);
}

/* Seals plaintext pt by hand (a plaintext our encoder would never make). */
static size_t seal_raw(uint8_t *out, const uint8_t *pt, size_t pt_len, const uint8_t kk[32])
{
    unsigned long long clen = 0;
    uint8_t ad[64];
    memcpy(out, "KWK1", 4);
    put_be(out + 4, 1, 8);
    put_be(out + 12, 1, 8);
    randombytes_buf(out + 20, 24);
    memcpy(ad, out, 44);
    memcpy(ad + 44, "alice", 5);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 44, &clen, pt, pt_len, ad, 49, NULL, out + 20, kk);
    return 44 + (size_t)clen;
}

static void test_keychain_plaintext_parse(void **state)
{
    (void)state;
    kw_keychain *kc = sample(), *back = NULL;
    uint8_t pt[512], bad[512], blob[600], kk[32];
    size_t n = 0;
    kw_kk_new(kk);
    assert_int_equal(kw_keychain_encode(pt, sizeof(pt), &n, kc), KW_OK);
    assert_int_equal(kw_keychain_encode(pt, n - 1, &n, kc), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_keychain_encode(pt, sizeof(pt), &n, kc), KW_OK);
    assert_int_equal(kw_keychain_decode(&back, pt, n), KW_OK);
    same_items(kc, back);
    kw_keychain_free(&back);
    /* every truncation */
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len + 1);
        assert_non_null(copy);
        memcpy(copy, pt, len);
        assert_int_equal(kw_keychain_decode(&back, copy, len), KW_ERR_TRUNCATED);
        assert_null(back);
        free(copy);
    }
    /* trailing bytes */
    pt[n] = 0;
    assert_int_equal(kw_keychain_decode(&back, pt, n + 1), KW_ERR_FORMAT);
    /* a duplicate name: seed ‖ 2 ‖ ("a", "x") ‖ ("a", "y") */
    size_t o = 32;
    memset(bad, 0, 32);
    put_be(bad + o, 2, 2);
    o += 2;
    for (int i = 0; i < 2; i++) {
        bad[o++] = 1;
        bad[o++] = 'a';
        put_be(bad + o, 1, 4);
        o += 4;
        bad[o++] = (uint8_t)('x' + i);
    }
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_ERR_FORMAT);
    /* sealed, it opens to the same refusal (and *kc stays NULL) */
    size_t bl = seal_raw(blob, bad, o, kk);
    back = (kw_keychain *)1;
    assert_int_equal(kw_keychain_open(&back, blob, bl, kk, "alice", 1, 1), KW_ERR_FORMAT);
    assert_null(back);
    bad[42] = 'b'; /* the second name differs now: fine */
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_OK);
    kw_keychain_free(&back);
    /* an empty name, a NUL in a name */
    bad[34] = 0;
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_ERR_FORMAT);
    bad[34] = 1;
    bad[35] = '\0';
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_ERR_FORMAT);
    bad[35] = 'a';
    /* a value length over 64 KiB, a count over 256 */
    put_be(bad + 36, KW_KEYCHAIN_VALUE_MAXBYTES + 1, 4);
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_ERR_TOO_LARGE);
    put_be(bad + 36, 1, 4);
    put_be(bad + 32, 257, 2);
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_ERR_TOO_LARGE);
    put_be(bad + 32, 3, 2);
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_ERR_TRUNCATED);
    put_be(bad + 32, 1, 2);
    assert_int_equal(kw_keychain_decode(&back, bad, o), KW_ERR_FORMAT); /* trailing item */
    /* a plaintext over the limit */
    uint8_t *huge = calloc(1, KW_KEYCHAIN_PLAINTEXT_MAXBYTES + 1);
    assert_non_null(huge);
    assert_int_equal(kw_keychain_decode(&back, huge, KW_KEYCHAIN_PLAINTEXT_MAXBYTES + 1), KW_ERR_TOO_LARGE);
    free(huge);
    kw_keychain_free(&kc);
}

/* ---- KK wrap ---- */

typedef struct {
    uint8_t id[16], pk[32], sk[32];
} dev;

static void dev_new(dev *d, uint8_t tag)
{
    memset(d->id, tag, 16);
    assert_int_equal(kw_hpke_keypair(d->pk, d->sk), KW_OK);
}

static void test_kk_wrap(void **state)
{
    (void)state;
    dev a, b, c;
    uint8_t kk[32], out[32], w[KW_KK_WRAPBYTES + 1];
    dev_new(&a, 0xaa);
    dev_new(&b, 0xbb);
    dev_new(&c, 0xcc);
    kw_kk_new(kk);
    assert_int_equal(kw_kk_wrap(w, kk, "alice", 3, b.id, b.pk, a.sk, a.pk), KW_OK);
    assert_int_equal(kw_kk_unwrap(out, w, KW_KK_WRAPBYTES, "alice", 3, b.id, b.sk, b.pk, a.pk), KW_OK);
    assert_memory_equal(out, kk, 32);
    assert_int_equal(kw_kk_unwrap(out, w, KW_KK_WRAPBYTES, "alice", 3, b.id, b.sk, NULL, a.pk), KW_OK);
    assert_memory_equal(out, kk, 32);
    /* sender pk computed when omitted */
    assert_int_equal(kw_kk_wrap(w, kk, "alice", 3, b.id, b.pk, a.sk, NULL), KW_OK);
    assert_int_equal(kw_kk_unwrap(out, w, KW_KK_WRAPBYTES, "alice", 3, b.id, b.sk, b.pk, a.pk), KW_OK);

    /* the layout: HPKE auth mode with the documented info, empty aad */
    uint8_t info[128];
    size_t o = 0, n = 0;
    memcpy(info, "keyward kk wrap v1", 18);
    o = 18;
    info[o++] = 5;
    memcpy(info + o, "alice", 5);
    o += 5;
    put_be(info + o, 3, 8);
    o += 8;
    memcpy(info + o, b.id, 16);
    o += 16;
    kw_hpke_params p = {.mode = KW_HPKE_MODE_AUTH, .info = info, .info_len = o, .pk_s = a.pk};
    memset(out, 0, 32);
    assert_int_equal(kw_hpke_open(out, sizeof(out), &n, b.sk, b.pk, &p, NULL, 0, w, KW_KK_WRAPBYTES), KW_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(out, kk, 32);

#define EXPECT_UNWRAP(want, ...)                                                                  \
    do {                                                                                          \
        memset(out, 0x77, 32);                                                                    \
        assert_int_equal(kw_kk_unwrap(out, __VA_ARGS__), (want));                                 \
        assert_true(kw_ct_is_zero(out, 32));                                                      \
    } while (0)
    /* opened by the wrong device (its own keys, or b's keys under c's id) */
    EXPECT_UNWRAP(KW_ERR_VERIFY, w, KW_KK_WRAPBYTES, "alice", 3, c.id, c.sk, c.pk, a.pk);
    EXPECT_UNWRAP(KW_ERR_VERIFY, w, KW_KK_WRAPBYTES, "alice", 3, c.id, b.sk, b.pk, a.pk);
    /* wrong generation, wrong account */
    EXPECT_UNWRAP(KW_ERR_VERIFY, w, KW_KK_WRAPBYTES, "alice", 2, b.id, b.sk, b.pk, a.pk);
    EXPECT_UNWRAP(KW_ERR_VERIFY, w, KW_KK_WRAPBYTES, "alice", 4, b.id, b.sk, b.pk, a.pk);
    EXPECT_UNWRAP(KW_ERR_VERIFY, w, KW_KK_WRAPBYTES, "alicf", 3, b.id, b.sk, b.pk, a.pk);
    /* wrong sender: c claims to be a, or the receiver expects c */
    EXPECT_UNWRAP(KW_ERR_VERIFY, w, KW_KK_WRAPBYTES, "alice", 3, b.id, b.sk, b.pk, c.pk);
    uint8_t forged[KW_KK_WRAPBYTES];
    assert_int_equal(kw_kk_wrap(forged, kk, "alice", 3, b.id, b.pk, c.sk, c.pk), KW_OK);
    EXPECT_UNWRAP(KW_ERR_VERIFY, forged, KW_KK_WRAPBYTES, "alice", 3, b.id, b.sk, b.pk, a.pk);
    /* every byte tampered */
    for (size_t i = 0; i < KW_KK_WRAPBYTES; i++) {
        w[i] ^= 0x04;
        memset(out, 0x77, 32);
        int r = kw_kk_unwrap(out, w, KW_KK_WRAPBYTES, "alice", 3, b.id, b.sk, b.pk, a.pk);
        assert_true(r == KW_ERR_VERIFY || r == KW_ERR_CRYPTO);
        assert_true(kw_ct_is_zero(out, 32));
        w[i] ^= 0x04;
    }
    /* lengths */
    for (size_t len = 0; len < KW_KK_WRAPBYTES; len++)
        EXPECT_UNWRAP(KW_ERR_TRUNCATED, w, len, "alice", 3, b.id, b.sk, b.pk, a.pk);
    EXPECT_UNWRAP(KW_ERR_TOO_LARGE, w, KW_KK_WRAPBYTES + 1, "alice", 3, b.id, b.sk, b.pk, a.pk);
    /* a low-order enc */
    uint8_t low[KW_KK_WRAPBYTES];
    memcpy(low, w, sizeof(low));
    memset(low, 0, 32);
    EXPECT_UNWRAP(KW_ERR_CRYPTO, low, KW_KK_WRAPBYTES, "alice", 3, b.id, b.sk, b.pk, a.pk);
    /* arguments */
    EXPECT_UNWRAP(KW_ERR_INVALID_ARG, w, KW_KK_WRAPBYTES, "alice", 0, b.id, b.sk, b.pk, a.pk);
    EXPECT_UNWRAP(KW_ERR_INVALID_ARG, w, KW_KK_WRAPBYTES, "", 3, b.id, b.sk, b.pk, a.pk);
    assert_int_equal(kw_kk_wrap(w, kk, "alice", 0, b.id, b.pk, a.sk, a.pk), KW_ERR_INVALID_ARG);
    assert_true(kw_ct_is_zero(w, KW_KK_WRAPBYTES));
#undef EXPECT_UNWRAP
}

/* ---- chain ---- */

static void test_kk_chain(void **state)
{
    (void)state;
    uint8_t k1[32], k2[32], k3[32], out[32], c[KW_KK_CHAINBYTES + 1], ad[64];
    kw_kk_new(k1);
    kw_kk_new(k2);
    kw_kk_new(k3);
    assert_int_equal(kw_kk_chain_seal(c, k1, k2, "alice", 2), KW_OK);
    assert_int_equal(kw_kk_chain_open(out, c, KW_KK_CHAINBYTES, k2, "alice", 2), KW_OK);
    assert_memory_equal(out, k1, 32);
    /* layout: nonce ‖ XChaCha20-Poly1305(k2, ad = label ‖ name ‖ u64 g) */
    memcpy(ad, "keyward kk chain v1", 19);
    memcpy(ad + 19, "alice", 5);
    put_be(ad + 24, 2, 8);
    memset(out, 0, 32);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, c + 24, 48, ad, 32, c, k2), 0);
    assert_memory_equal(out, k1, 32);
    /* walking back two generations */
    uint8_t c3[KW_KK_CHAINBYTES];
    assert_int_equal(kw_kk_chain_seal(c3, k2, k3, "alice", 3), KW_OK);
    assert_int_equal(kw_kk_chain_open(out, c3, sizeof(c3), k3, "alice", 3), KW_OK);
    assert_int_equal(kw_kk_chain_open(out, c, KW_KK_CHAINBYTES, out, "alice", 2), KW_OK);
    assert_memory_equal(out, k1, 32);

#define EXPECT_CHAIN(want, ...)                                                                   \
    do {                                                                                          \
        memset(out, 0x55, 32);                                                                    \
        assert_int_equal(kw_kk_chain_open(out, __VA_ARGS__), (want));                             \
        assert_true(kw_ct_is_zero(out, 32));                                                      \
    } while (0)
    EXPECT_CHAIN(KW_ERR_VERIFY, c, KW_KK_CHAINBYTES, k3, "alice", 2); /* wrong KK */
    EXPECT_CHAIN(KW_ERR_VERIFY, c, KW_KK_CHAINBYTES, k1, "alice", 2);
    EXPECT_CHAIN(KW_ERR_VERIFY, c, KW_KK_CHAINBYTES, k2, "alice", 3); /* wrong generation */
    EXPECT_CHAIN(KW_ERR_VERIFY, c, KW_KK_CHAINBYTES, k2, "bob", 2);   /* wrong account */
    EXPECT_CHAIN(KW_ERR_VERIFY, c3, KW_KK_CHAINBYTES, k2, "alice", 2); /* another entry */
    for (size_t i = 0; i < KW_KK_CHAINBYTES; i++) {
        c[i] ^= 1;
        EXPECT_CHAIN(KW_ERR_VERIFY, c, KW_KK_CHAINBYTES, k2, "alice", 2);
        c[i] ^= 1;
    }
    for (size_t len = 0; len < KW_KK_CHAINBYTES; len++)
        EXPECT_CHAIN(KW_ERR_TRUNCATED, c, len, k2, "alice", 2);
    EXPECT_CHAIN(KW_ERR_TOO_LARGE, c, KW_KK_CHAINBYTES + 1, k2, "alice", 2);
    EXPECT_CHAIN(KW_ERR_INVALID_ARG, c, KW_KK_CHAINBYTES, k2, "alice", 1);
    assert_int_equal(kw_kk_chain_seal(c, k1, k2, "alice", 1), KW_ERR_INVALID_ARG);
    assert_true(kw_ct_is_zero(c, KW_KK_CHAINBYTES));
#undef EXPECT_CHAIN
}

/* ---- recovery ---- */

static void strip_dashes(char *dst, const char *src)
{
    for (; *src; src++)
        if (*src != '-')
            *dst++ = *src;
    *dst = '\0';
}

static void test_recovery_code(void **state)
{
    (void)state;
    uint8_t key[32], back[32];
    char code[KW_RECOVERY_CODEBYTES], alt[256], flat[80];
    kw_recovery_key_new(key);
    kw_recovery_code_encode(code, key);
    assert_int_equal(strlen(code), 69);
    for (size_t i = 0; i < 69; i++) {
        if (i % 5 == 4)
            assert_int_equal(code[i], '-');
        else
            assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", code[i]));
    }
    assert_int_equal(kw_recovery_code_parse(back, code), KW_OK);
    assert_memory_equal(back, key, 32);

    /* the encoding by hand: Crockford base32 of the key, then 20 bits of SHA-256 */
    static const char alpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    strip_dashes(flat, code);
    for (size_t i = 0; i < 52; i++) {
        size_t bit = i * 5;
        unsigned v = 0;
        for (size_t j = 0; j < 5; j++) {
            size_t b = bit + j;
            unsigned x = b < 256 ? (key[b / 8] >> (7 - b % 8)) & 1u : 0u;
            v = v << 1 | x;
        }
        assert_int_equal(flat[i], alpha[v]);
    }
    uint8_t h[32];
    crypto_hash_sha256(h, key, 32);
    unsigned ck = (unsigned)h[0] << 12 | (unsigned)h[1] << 4 | (unsigned)h[2] >> 4;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(flat[52 + i], alpha[(ck >> (15 - 5 * i)) & 31u]);

    /* tolerated variations: lower case, spaces, no separators, odd spacing */
    for (size_t i = 0; code[i]; i++)
        alt[i] = (char)tolower((unsigned char)code[i]), alt[i + 1] = '\0';
    assert_int_equal(kw_recovery_code_parse(back, alt), KW_OK);
    assert_memory_equal(back, key, 32);
    for (size_t i = 0; code[i]; i++)
        alt[i] = code[i] == '-' ? ' ' : code[i], alt[i + 1] = '\0';
    assert_int_equal(kw_recovery_code_parse(back, alt), KW_OK);
    assert_memory_equal(back, key, 32);
    assert_int_equal(kw_recovery_code_parse(back, flat), KW_OK);
    assert_memory_equal(back, key, 32);
    snprintf(alt, sizeof(alt), "  %.*s -- %s\n", 10, flat, flat + 10);
    assert_int_equal(kw_recovery_code_parse(back, alt), KW_OK);
    assert_memory_equal(back, key, 32);

    /* I and L read as 1, O as 0 (a key whose code has both digits) */
    uint8_t k01[32];
    memset(k01, 0, 32);
    k01[0] = 0x08; /* 00001 000.. : "1" then "0"s */
    kw_recovery_code_encode(code, k01);
    assert_non_null(strchr(code, '1'));
    assert_non_null(strchr(code, '0'));
    const char *subs[][2] = {{"1", "I"}, {"1", "l"}, {"1", "L"}, {"1", "i"}, {"0", "O"}, {"0", "o"}};
    for (size_t s = 0; s < 6; s++) {
        strcpy(alt, code);
        for (char *p = alt; *p; p++)
            if (*p == subs[s][0][0])
                *p = subs[s][1][0];
        assert_int_equal(kw_recovery_code_parse(back, alt), KW_OK);
        assert_memory_equal(back, k01, 32);
    }

    /* typos: every single-character substitution is caught (checksum or
     * padding bits), each a format error; a fixed key keeps this
     * deterministic (a random one would slip through 2^-20 of the time) */
    for (size_t i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 37 + 11);
    kw_recovery_code_encode(code, key);
    for (size_t i = 0; code[i]; i++) {
        if (code[i] == '-')
            continue;
        strcpy(alt, code);
        const char *p = strchr(alpha, code[i]);
        alt[i] = alpha[((size_t)(p - alpha) + 1 + i % 31) % 32];
        memset(back, 0x33, 32);
        assert_int_equal(kw_recovery_code_parse(back, alt), KW_ERR_FORMAT);
        assert_true(kw_ct_is_zero(back, 32));
    }
    /* swapped neighbours (where they differ) */
    for (size_t i = 0; i + 1 < 56; i++) {
        strip_dashes(flat, code);
        if (flat[i] == flat[i + 1])
            continue;
        char t = flat[i];
        flat[i] = flat[i + 1];
        flat[i + 1] = t;
        assert_int_equal(kw_recovery_code_parse(back, flat), KW_ERR_FORMAT);
    }
    /* non-zero padding bits with a matching checksum */
    strip_dashes(flat, code);
    const char *p51 = strchr(alpha, flat[51]);
    flat[51] = alpha[((size_t)(p51 - alpha)) | 1u];
    if (flat[51] == code[51 + 51 / 4])
        flat[51] = alpha[((size_t)(p51 - alpha)) | 2u];
    assert_int_equal(kw_recovery_code_parse(back, flat), KW_ERR_FORMAT);
    /* a character outside the alphabet */
    strcpy(alt, code);
    alt[7] = 'U';
    assert_int_equal(kw_recovery_code_parse(back, alt), KW_ERR_FORMAT);
    alt[7] = '!';
    assert_int_equal(kw_recovery_code_parse(back, alt), KW_ERR_FORMAT);
    /* missing and extra characters */
    strip_dashes(flat, code);
    flat[55] = '\0';
    assert_int_equal(kw_recovery_code_parse(back, flat), KW_ERR_TRUNCATED);
    assert_int_equal(kw_recovery_code_parse(back, ""), KW_ERR_TRUNCATED);
    assert_int_equal(kw_recovery_code_parse(back, "----  "), KW_ERR_TRUNCATED);
    snprintf(alt, sizeof(alt), "%s-0", code);
    assert_int_equal(kw_recovery_code_parse(back, alt), KW_ERR_TOO_LARGE);
    char *longs = malloc(600);
    assert_non_null(longs);
    memset(longs, ' ', 599);
    longs[599] = '\0';
    assert_int_equal(kw_recovery_code_parse(back, longs), KW_ERR_TOO_LARGE);
    free(longs);
}

static void test_recovery_wrap_and_proof(void **state)
{
    (void)state;
    uint8_t key[32], key2[32], kk[32], out[32], w[KW_RECOVERY_WRAPBYTES + 1];
    uint8_t auth[32], auth2[32], proof[32], want[32], login_id[16];
    kw_recovery_key_new(key);
    kw_recovery_key_new(key2);
    kw_kk_new(kk);
    assert_int_equal(kw_recovery_wrap(w, kk, key, "alice", 4), KW_OK);
    assert_int_equal(kw_recovery_unwrap(out, w, KW_RECOVERY_WRAPBYTES, key, "alice", 4), KW_OK);
    assert_memory_equal(out, kk, 32);
    /* layout: HKDF-SHA256(salt "", key, "keyward recovery wrap v1" ‖ name) */
    uint8_t wk[32], info[64], ad[16];
    memcpy(info, "keyward recovery wrap v1", 24);
    memcpy(info + 24, "alice", 5);
    assert_int_equal(kw_hkdf_sha256(wk, 32, NULL, 0, key, 32, info, 29), KW_OK);
    memcpy(ad, "alice", 5);
    put_be(ad + 5, 4, 8);
    memset(out, 0, 32);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, w + 24, 48, ad, 13, w, wk), 0);
    assert_memory_equal(out, kk, 32);

#define EXPECT_RUNWRAP(want_, ...)                                                                \
    do {                                                                                          \
        memset(out, 0x66, 32);                                                                    \
        assert_int_equal(kw_recovery_unwrap(out, __VA_ARGS__), (want_));                          \
        assert_true(kw_ct_is_zero(out, 32));                                                      \
    } while (0)
    EXPECT_RUNWRAP(KW_ERR_VERIFY, w, KW_RECOVERY_WRAPBYTES, key2, "alice", 4);
    EXPECT_RUNWRAP(KW_ERR_VERIFY, w, KW_RECOVERY_WRAPBYTES, key, "alice", 3);
    EXPECT_RUNWRAP(KW_ERR_VERIFY, w, KW_RECOVERY_WRAPBYTES, key, "mallory", 4);
    for (size_t i = 0; i < KW_RECOVERY_WRAPBYTES; i++) {
        w[i] ^= 0x10;
        EXPECT_RUNWRAP(KW_ERR_VERIFY, w, KW_RECOVERY_WRAPBYTES, key, "alice", 4);
        w[i] ^= 0x10;
    }
    EXPECT_RUNWRAP(KW_ERR_TRUNCATED, w, KW_RECOVERY_WRAPBYTES - 1, key, "alice", 4);
    EXPECT_RUNWRAP(KW_ERR_TOO_LARGE, w, KW_RECOVERY_WRAPBYTES + 1, key, "alice", 4);
    EXPECT_RUNWRAP(KW_ERR_INVALID_ARG, w, KW_RECOVERY_WRAPBYTES, key, "alice", 0);
#undef EXPECT_RUNWRAP
    /* RWK alone (kept in the keychain for re-wrapping after a rotation) */
    uint8_t rwk[KW_RECOVERY_WRAPKEYBYTES], w2[KW_RECOVERY_WRAPBYTES];
    assert_int_equal(kw_recovery_wrap_key(rwk, key, "alice"), KW_OK);
    assert_memory_equal(rwk, wk, 32);
    assert_int_equal(kw_recovery_wrap_rwk(w2, kk, rwk, "alice", 5), KW_OK);
    assert_int_equal(kw_recovery_unwrap(out, w2, sizeof(w2), key, "alice", 5), KW_OK);
    assert_memory_equal(out, kk, 32);
    assert_int_equal(kw_recovery_unwrap(out, w2, sizeof(w2), key, "alice", 4), KW_ERR_VERIFY);
    assert_int_equal(kw_recovery_wrap_rwk(w2, kk, rwk, "alice", 0), KW_ERR_INVALID_ARG);
    assert_true(kw_ct_is_zero(w2, sizeof(w2)));
    assert_int_equal(kw_recovery_wrap_key(rwk, key, ""), KW_ERR_INVALID_ARG);
    assert_true(kw_ct_is_zero(rwk, sizeof(rwk)));
    /* a chain entry is not a recovery wrap (other key, other ad) */
    uint8_t c[KW_KK_CHAINBYTES];
    assert_int_equal(kw_kk_chain_seal(c, kk, key, "alice", 4), KW_OK);
    assert_int_equal(kw_recovery_unwrap(out, c, sizeof(c), key, "alice", 4), KW_ERR_VERIFY);

    /* recovery_auth: the other HKDF output, bound to the account */
    assert_int_equal(kw_recovery_auth(auth, key, "alice"), KW_OK);
    memcpy(info, "keyward recovery auth v1", 24);
    assert_int_equal(kw_hkdf_sha256(want, 32, NULL, 0, key, 32, info, 29), KW_OK);
    assert_memory_equal(auth, want, 32);
    assert_memory_not_equal(auth, wk, 32);
    assert_int_equal(kw_recovery_auth(auth2, key, "alicf"), KW_OK);
    assert_memory_not_equal(auth, auth2, 32);
    assert_int_equal(kw_recovery_auth(auth2, key, ""), KW_ERR_INVALID_ARG);
    assert_true(kw_ct_is_zero(auth2, 32));
    /* the proof is exactly what server/api/login.c recomputes */
    randombytes_buf(login_id, sizeof(login_id));
    kw_recovery_proof(proof, auth, login_id);
    crypto_auth_hmacsha256(want, login_id, 16, auth);
    assert_memory_equal(proof, want, 32);
    login_id[0] ^= 1;
    crypto_auth_hmacsha256(want, login_id, 16, auth);
    assert_memory_not_equal(proof, want, 32);

    /* the full path: code typed by the user -> key -> KK */
    char code[KW_RECOVERY_CODEBYTES];
    uint8_t typed[32];
    kw_recovery_code_encode(code, key);
    assert_int_equal(kw_recovery_code_parse(typed, code), KW_OK);
    assert_int_equal(kw_recovery_unwrap(out, w, KW_RECOVERY_WRAPBYTES, typed, "alice", 4), KW_OK);
    assert_memory_equal(out, kk, 32);
}

/* ---- join code ---- */

static void test_join_code(void **state)
{
    (void)state;
    uint8_t id[16], ipk[32], hpk[32], h[32];
    char code[KW_JOIN_CODEBYTES], code2[KW_JOIN_CODEBYTES], want[8];
    randombytes_buf(id, sizeof(id));
    randombytes_buf(ipk, sizeof(ipk));
    randombytes_buf(hpk, sizeof(hpk));
    assert_int_equal(kw_join_code(code, "alice", id, ipk, hpk), KW_OK);
    assert_int_equal(strlen(code), 6);
    for (size_t i = 0; i < 6; i++)
        assert_true(code[i] >= '0' && code[i] <= '9');
    /* by hand */
    uint8_t m[15 + 1 + 5 + 16 + 32 + 32];
    size_t o = 0;
    memcpy(m, "keyward-join-v1", 15);
    o = 15;
    m[o++] = 5;
    memcpy(m + o, "alice", 5);
    o += 5;
    memcpy(m + o, id, 16);
    o += 16;
    memcpy(m + o, ipk, 32);
    o += 32;
    memcpy(m + o, hpk, 32);
    o += 32;
    crypto_hash_sha256(h, m, o);
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | h[i];
    snprintf(want, sizeof(want), "%06u", (unsigned)(v % 1000000u));
    assert_string_equal(code, want);
    /* deterministic, and bound to each input (a collision is 1e-6 likely per
     * change; the inputs here are fixed random draws) */
    assert_int_equal(kw_join_code(code2, "alice", id, ipk, hpk), KW_OK);
    assert_string_equal(code, code2);
    int differ = 0;
    id[0] ^= 1;
    assert_int_equal(kw_join_code(code2, "alice", id, ipk, hpk), KW_OK);
    differ += strcmp(code, code2) != 0;
    id[0] ^= 1;
    hpk[31] ^= 1;
    assert_int_equal(kw_join_code(code2, "alice", id, ipk, hpk), KW_OK);
    differ += strcmp(code, code2) != 0;
    hpk[31] ^= 1;
    assert_int_equal(kw_join_code(code2, "alicf", id, ipk, hpk), KW_OK);
    differ += strcmp(code, code2) != 0;
    assert_true(differ >= 2);
    assert_int_equal(kw_join_code(code2, "", id, ipk, hpk), KW_ERR_INVALID_ARG);
    assert_string_equal(code2, "");
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keychain_items),
        cmocka_unit_test(test_keychain_limits),
        cmocka_unit_test(test_keychain_seal_open),
        cmocka_unit_test(test_keychain_plaintext_parse),
        cmocka_unit_test(test_kk_wrap),
        cmocka_unit_test(test_kk_chain),
        cmocka_unit_test(test_recovery_code),
        cmocka_unit_test(test_recovery_wrap_and_proof),
        cmocka_unit_test(test_join_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
