/* Unit tests for the service keys of the keychain (keyward/keychain.h,
 * "services" section): generations, the chain, the strict decoder, limits,
 * and that format-1 keychains (no service keys) still decode unchanged.
 * Chain entries are cross-checked with libsodium directly, from the
 * header's description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/err.h"
#include "keyward/keychain.h"
#include "keyward/keyward.h"

static kw_keychain *fresh(void)
{
    uint8_t seed[32];
    kw_keychain *kc = NULL;
    memset(seed, 0x5a, sizeof(seed));
    assert_int_equal(kw_keychain_new(&kc, seed), KW_OK);
    assert_int_equal(kw_keychain_set(kc, "wifi", (const uint8_t *)"hunter2", 7), KW_OK);
    return kc;
}

/* Encodes kc into a malloc'd buffer. */
static uint8_t *enc(const kw_keychain *kc, size_t *len)
{
    size_t cap = kw_keychain_plaintext_len(kc);
    uint8_t *b = malloc(cap + 1);
    assert_non_null(b);
    assert_int_equal(kw_keychain_encode(b, cap, len, kc), KW_OK);
    assert_int_equal(*len, cap);
    return b;
}

static void test_format1_unchanged(void **state)
{
    (void)state;
    kw_keychain *kc = fresh(), *back = NULL;
    size_t len = 0;
    uint8_t *b = enc(kc, &len);
    /* format 1: seed ‖ u16 count ‖ (u8 4 ‖ "wifi" ‖ u32 7 ‖ "hunter2") and nothing else */
    assert_int_equal(len, 32 + 2 + 1 + 4 + 4 + 7);
    assert_int_equal(kw_keychain_decode(&back, b, len), KW_OK);
    assert_int_equal(kw_keychain_svc_count(back), 0);
    uint8_t key[32];
    assert_int_equal(kw_keychain_svc_get(back, "photos", 0, key, NULL), KW_ERR_NOT_FOUND);
    kw_keychain_free(&back);
    kw_keychain_free(&kc);
    free(b);
}

static void test_roll_and_walk(void **state)
{
    (void)state;
    kw_keychain *kc = fresh(), *back = NULL;
    uint8_t k1[32], k2[32], k3[32], got[32];
    uint32_t g = 0;
    assert_int_equal(kw_keychain_svc_roll(kc, "photos", &g), KW_OK);
    assert_int_equal(g, 1);
    assert_int_equal(kw_keychain_svc_get(kc, "photos", 0, k1, &g), KW_OK);
    assert_int_equal(g, 1);
    assert_int_equal(kw_keychain_svc_roll(kc, "photos", &g), KW_OK);
    assert_int_equal(g, 2);
    assert_int_equal(kw_keychain_svc_roll(kc, "photos", &g), KW_OK);
    assert_int_equal(g, 3);
    assert_int_equal(kw_keychain_svc_get(kc, "photos", 0, k3, &g), KW_OK);
    assert_int_equal(g, 3);
    assert_int_equal(kw_keychain_svc_get(kc, "photos", 2, k2, &g), KW_OK);
    assert_int_equal(g, 2);
    assert_int_equal(kw_keychain_svc_get(kc, "photos", 1, got, &g), KW_OK);
    assert_memory_equal(got, k1, 32);
    assert_memory_not_equal(k1, k2, 32);
    assert_memory_not_equal(k2, k3, 32);
    assert_int_equal(kw_keychain_svc_get(kc, "photos", 4, got, NULL), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_keychain_svc_get(kc, "Photos", 0, got, NULL), KW_ERR_INVALID_ARG);

    /* the chain, opened with libsodium straight from the header's layout */
    const uint8_t *chain = NULL;
    size_t clen = 0;
    assert_int_equal(kw_keychain_svc_chain(kc, "photos", &chain, &clen), KW_OK);
    assert_int_equal(clen, 2 * KW_SVCKEY_CHAINBYTES);
    uint8_t ad[64];
    size_t o = 0;
    memcpy(ad, "keyward service chain v1", 24);
    o = 24;
    ad[o++] = 6;
    memcpy(ad + o, "photos", 6);
    o += 6;
    ad[o++] = 0, ad[o++] = 0, ad[o++] = 0, ad[o++] = 3;
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(got, NULL, NULL, chain + 24, 48, ad, o,
                                                                chain, k3),
                     0);
    assert_memory_equal(got, k2, 32);
    assert_int_equal(kw_svckey_chain_open(got, chain + KW_SVCKEY_CHAINBYTES, KW_SVCKEY_CHAINBYTES, k2,
                                          "photos", 2),
                     KW_OK);
    assert_memory_equal(got, k1, 32);
    /* an entry opened as another generation or category fails */
    assert_int_equal(kw_svckey_chain_open(got, chain, KW_SVCKEY_CHAINBYTES, k3, "photos", 2),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_svckey_chain_open(got, chain, KW_SVCKEY_CHAINBYTES, k3, "drive", 3),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_svckey_chain_open(got, chain, KW_SVCKEY_CHAINBYTES - 1, k3, "photos", 3),
                     KW_ERR_TRUNCATED);

    /* round trip through the codec and through seal/open */
    assert_int_equal(kw_keychain_svc_roll(kc, "backup", NULL), KW_OK);
    size_t len = 0;
    uint8_t *b = enc(kc, &len);
    assert_int_equal(kw_keychain_decode(&back, b, len), KW_OK);
    assert_int_equal(kw_keychain_svc_count(back), 2);
    const char *cat = NULL;
    assert_int_equal(kw_keychain_svc_at(back, 0, &cat, &g), KW_OK);
    assert_string_equal(cat, "photos");
    assert_int_equal(g, 3);
    assert_int_equal(kw_keychain_svc_get(back, "photos", 1, got, NULL), KW_OK);
    assert_memory_equal(got, k1, 32);
    kw_keychain_free(&back);

    uint8_t kk[32];
    kw_kk_new(kk);
    size_t scap = KW_KEYCHAIN_HEADERBYTES + len + KW_KEYCHAIN_TAGBYTES, slen = 0;
    uint8_t *sealed = malloc(scap);
    assert_int_equal(kw_keychain_seal(sealed, scap, &slen, kc, kk, "alice", 2, 1), KW_OK);
    assert_int_equal(kw_keychain_open(&back, sealed, slen, kk, "alice", 2, 1), KW_OK);
    assert_int_equal(kw_keychain_svc_get(back, "photos", 0, got, NULL), KW_OK);
    assert_memory_equal(got, k3, 32);
    kw_keychain_free(&back);
    free(sealed);
    free(b);
    kw_keychain_free(&kc);
}

/* Offset of the services section in an encoding of fresh() + services. */
#define SVC_AT (32 + 2 + 1 + 4 + 4 + 7)

static int decode_mutated(const uint8_t *b, size_t len, size_t at, uint8_t xor_val, size_t newlen)
{
    uint8_t *m = malloc(len + 8);
    kw_keychain *kc = NULL;
    memcpy(m, b, len);
    if (at < len)
        m[at] ^= xor_val;
    int r = kw_keychain_decode(&kc, m, newlen);
    if (r != KW_OK)
        assert_null(kc);
    kw_keychain_free(&kc);
    free(m);
    return r;
}

static void test_strict_decoder(void **state)
{
    (void)state;
    kw_keychain *kc = fresh();
    assert_int_equal(kw_keychain_svc_roll(kc, "notes", NULL), KW_OK);
    assert_int_equal(kw_keychain_svc_roll(kc, "notes", NULL), KW_OK);
    size_t len = 0;
    uint8_t *b = enc(kc, &len);
    /* layout: "SVK1" ‖ 1 ‖ 5 ‖ "notes" ‖ u32 2 ‖ key ‖ chain[72] */
    assert_int_equal(len, SVC_AT + 5 + 1 + 5 + 4 + 32 + 72);
    assert_memory_equal(b + SVC_AT, "SVK1", 4);
    assert_int_equal(decode_mutated(b, len, len, 0, len), KW_OK);
    assert_int_equal(decode_mutated(b, len, SVC_AT, 1, len), KW_ERR_FORMAT);           /* magic */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 4, 1, len), KW_ERR_FORMAT);       /* count 0 */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 4, 0x40, len), KW_ERR_TOO_LARGE); /* 1 ^ 0x40 = 65 */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 6, 'A' ^ 'n', len), KW_ERR_FORMAT); /* "Notes" */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 6, 'n', len), KW_ERR_FORMAT);     /* NUL in name */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 14, 2, len), KW_ERR_FORMAT);      /* gen 0 */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 12, 0xff, len), KW_ERR_TOO_LARGE); /* huge gen */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 14, 1, len), KW_ERR_TRUNCATED);   /* gen 3 */
    assert_int_equal(decode_mutated(b, len, SVC_AT + 20, 1, len), KW_ERR_VERIFY);      /* key */
    assert_int_equal(decode_mutated(b, len, len - 1, 1, len), KW_ERR_VERIFY);          /* chain */
    assert_int_equal(decode_mutated(b, len, len, 0, len - 1), KW_ERR_TRUNCATED);
    assert_int_equal(decode_mutated(b, len, len, 0, SVC_AT + 3), KW_ERR_TRUNCATED);
    assert_int_equal(decode_mutated(b, len, len, 0, SVC_AT + 2), KW_ERR_TRUNCATED);
    /* trailing byte */
    uint8_t *t = malloc(len + 1);
    memcpy(t, b, len);
    t[len] = 0;
    kw_keychain *back = NULL;
    assert_int_equal(kw_keychain_decode(&back, t, len + 1), KW_ERR_FORMAT);
    /* a lone "S" is a cut services section; other bytes after the items are not one */
    assert_int_equal(kw_keychain_decode(&back, t, SVC_AT + 1), KW_ERR_TRUNCATED);
    t[SVC_AT] = 'X';
    assert_int_equal(kw_keychain_decode(&back, t, SVC_AT + 1), KW_ERR_FORMAT);
    free(t);
    free(b);

    /* duplicate category: two services named "notes" */
    kw_keychain *two = fresh();
    assert_int_equal(kw_keychain_svc_roll(two, "notes", NULL), KW_OK);
    assert_int_equal(kw_keychain_svc_roll(two, "notez", NULL), KW_OK);
    b = enc(two, &len);
    size_t second = SVC_AT + 5 + 1 + 5 + 4 + 32;
    assert_int_equal(decode_mutated(b, len, second + 5, 'z' ^ 's', len), KW_ERR_FORMAT);
    free(b);
    kw_keychain_free(&two);
    kw_keychain_free(&kc);
}

static void test_limits(void **state)
{
    (void)state;
    kw_keychain *kc = fresh();
    char name[16];
    for (int i = 0; i < KW_SVCKEY_CATEGORIES_MAX; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        assert_int_equal(kw_keychain_svc_roll(kc, name, NULL), KW_OK);
    }
    assert_int_equal(kw_keychain_svc_roll(kc, "one-too-many", NULL), KW_ERR_LIMIT);
    assert_int_equal(kw_keychain_svc_roll(kc, "-bad", NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_keychain_svc_roll(kc, "", NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_keychain_svc_roll(kc, "a-name-that-is-longer-than-32-bytes", NULL),
                     KW_ERR_INVALID_ARG);
    uint32_t g = 0;
    for (int i = 1; i < KW_SVCKEY_GENERATIONS_MAX; i++)
        assert_int_equal(kw_keychain_svc_roll(kc, "c0", &g), KW_OK);
    assert_int_equal(g, KW_SVCKEY_GENERATIONS_MAX);
    assert_int_equal(kw_keychain_svc_roll(kc, "c0", NULL), KW_ERR_LIMIT);
    /* the oldest generation is still reachable, and the whole thing round-trips */
    uint8_t k[32];
    assert_int_equal(kw_keychain_svc_get(kc, "c0", 1, k, NULL), KW_OK);
    size_t len = 0;
    uint8_t *b = enc(kc, &len);
    kw_keychain *back = NULL;
    assert_int_equal(kw_keychain_decode(&back, b, len), KW_OK);
    uint8_t k2[32];
    assert_int_equal(kw_keychain_svc_get(back, "c0", 1, k2, NULL), KW_OK);
    assert_memory_equal(k, k2, 32);
    kw_keychain_free(&back);
    free(b);
    kw_keychain_free(&kc);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format1_unchanged),
        cmocka_unit_test(test_roll_and_walk),
        cmocka_unit_test(test_strict_decoder),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
