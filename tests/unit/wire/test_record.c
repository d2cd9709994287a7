/* Unit tests for the record wire format (keyward/record.h): the key wrap,
 * the sealed metadata and the content pieces, each opened only as exactly
 * the record version it was made for; every byte flip, truncation, and
 * change of category, zone, id, version, piece index or final flag is
 * refused. The wrap and metadata layouts are cross-checked with libsodium
 * and HKDF directly, from the header's description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/keyward.h"
#include "keyward/record.h"

static const uint8_t ID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static kw_record_ref ref_of(const char *cat, const char *zone, uint64_t version)
{
    kw_record_ref r = {.category = cat, .zone = zone, .version = version};
    memcpy(r.id, ID, 16);
    return r;
}

static void test_names_and_padding(void **state)
{
    (void)state;
    assert_true(kw_record_zone_ok("default"));
    assert_true(kw_record_zone_ok("My_Zone-2.x"));
    assert_false(kw_record_zone_ok(".hidden"));
    assert_false(kw_record_zone_ok("a/b"));
    assert_false(kw_record_zone_ok(""));
    assert_int_equal(kw_record_class_default("passwords"), KW_RECORD_CLASS_E2E);
    assert_int_equal(kw_record_class_default("voice-memos"), KW_RECORD_CLASS_ADP);
    assert_int_equal(kw_record_class_default("calendar"), KW_RECORD_CLASS_INTEROP);
    assert_int_equal(kw_record_class_default("other"), 0);
    assert_int_equal(kw_record_class_parse("interop"), KW_RECORD_CLASS_INTEROP);
    assert_int_equal(kw_record_class_parse("nope"), 0);
    /* Padmé with a 256-byte floor: never smaller, at most ~12% larger, few distinct sizes */
    assert_int_equal(kw_record_padded_size(0), 256);
    assert_int_equal(kw_record_padded_size(1000), 1024);
    assert_int_equal(kw_record_padded_size((uint64_t)1 << 30), (uint64_t)1 << 30);
    assert_int_equal(kw_record_padded_size(((uint64_t)1 << 30) + 1), ((uint64_t)1 << 30) + ((uint64_t)1 << 25));
    for (uint64_t n = 1; n < 5000000; n = n * 3 + 7) {
        uint64_t p = kw_record_padded_size(n);
        assert_true(p >= n);
        assert_true(n < 256 || (double)p <= (double)n * 1.125 + 1);
    }
    uint64_t np = 0, ctl = 0;
    assert_int_equal(kw_record_content_layout(0, KW_RECORD_PIECE_BYTES, &np, &ctl), KW_OK);
    assert_int_equal(np, 1);
    assert_int_equal(ctl, KW_RECORD_PIECE_OVERHEAD);
    assert_int_equal(kw_record_content_layout(3u << 20, KW_RECORD_PIECE_BYTES, &np, &ctl), KW_OK);
    assert_int_equal(np, 3);
    assert_int_equal(kw_record_content_layout(100, 3000, &np, &ctl), KW_ERR_INVALID_ARG);
}

static void test_wrap(void **state)
{
    (void)state;
    uint8_t svc[32], rk[32], out[32], wrap[KW_RECORD_WRAPBYTES];
    randombytes_buf(svc, sizeof(svc));
    kw_record_key_new(rk);
    kw_record_ref ref = ref_of("photos", "default", 3);
    assert_int_equal(kw_record_key_wrap(wrap, rk, svc, 7, &ref), KW_OK);
    uint32_t g = 0;
    assert_int_equal(kw_record_wrap_generation(wrap, sizeof(wrap), &g), KW_OK);
    assert_int_equal(g, 7);
    assert_int_equal(kw_record_key_unwrap(out, wrap, sizeof(wrap), svc, &ref), KW_OK);
    assert_memory_equal(out, rk, 32);

    /* the layout, opened with libsodium from the header's description */
    uint8_t ad[256];
    size_t o = 0;
    memcpy(ad, "keyward record key v1", 21);
    o = 21;
    ad[o++] = 0, ad[o++] = 0, ad[o++] = 0, ad[o++] = 7;
    memcpy(ad + o, "keyward record v1", 17);
    o += 17;
    ad[o++] = 6;
    memcpy(ad + o, "photos", 6);
    o += 6;
    ad[o++] = 7;
    memcpy(ad + o, "default", 7);
    o += 7;
    memcpy(ad + o, ID, 16);
    o += 16;
    memset(ad + o, 0, 7);
    ad[o + 7] = 3;
    o += 8;
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, wrap + 28, 48, ad, o, wrap + 4,
                                                                svc),
                     0);
    assert_memory_equal(out, rk, 32);

    /* another record, version, zone, category or generation: refused */
    kw_record_ref other = ref_of("photos", "default", 4);
    assert_int_equal(kw_record_key_unwrap(out, wrap, sizeof(wrap), svc, &other), KW_ERR_VERIFY);
    other = ref_of("photos", "work", 3);
    assert_int_equal(kw_record_key_unwrap(out, wrap, sizeof(wrap), svc, &other), KW_ERR_VERIFY);
    other = ref_of("drive", "default", 3);
    assert_int_equal(kw_record_key_unwrap(out, wrap, sizeof(wrap), svc, &other), KW_ERR_VERIFY);
    other = ref_of("photos", "default", 3);
    other.id[15] ^= 1;
    assert_int_equal(kw_record_key_unwrap(out, wrap, sizeof(wrap), svc, &other), KW_ERR_VERIFY);
    for (size_t i = 0; i < sizeof(wrap); i++) {
        wrap[i] ^= 0x20;
        int r = kw_record_key_unwrap(out, wrap, sizeof(wrap), svc, &ref);
        assert_true(r == KW_ERR_VERIFY || (i < 4 && r == KW_ERR_FORMAT));
        wrap[i] ^= 0x20;
    }
    assert_int_equal(kw_record_key_unwrap(out, wrap, sizeof(wrap) - 1, svc, &ref), KW_ERR_TRUNCATED);
    assert_int_equal(kw_record_key_unwrap(out, wrap, sizeof(wrap) + 1, svc, &ref), KW_ERR_TOO_LARGE);
    uint8_t zero[32] = {0};
    assert_memory_equal(out, zero, 32); /* wiped on failure */
    assert_int_equal(kw_record_key_wrap(wrap, rk, svc, 0, &ref), KW_ERR_INVALID_ARG);
}

static kw_record_meta sample_meta(void)
{
    kw_record_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "holiday/beach.jpeg");
    snprintf(m.type, sizeof(m.type), "image/jpeg");
    m.ctime = 1700000000;
    m.mtime = 1700000123;
    m.size = 123456;
    m.padded = kw_record_padded_size(m.size);
    m.piece_size = KW_RECORD_PIECE_BYTES;
    memset(m.sha256, 0xab, 32);
    return m;
}

static void test_meta(void **state)
{
    (void)state;
    uint8_t rk[32], buf[KW_RECORD_META_MAXBYTES];
    size_t len = 0;
    kw_record_key_new(rk);
    kw_record_ref ref = ref_of("photos", "default", 1);
    kw_record_meta m = sample_meta(), back;
    assert_int_equal(kw_record_meta_seal(buf, sizeof(buf), &len, &m, rk, &ref), KW_OK);
    assert_int_equal((len - 4 - 24 - 16) % KW_RECORD_META_PAD, 0);
    assert_memory_equal(buf, "KWR1", 4);
    assert_int_equal(kw_record_meta_open(&back, buf, len, rk, &ref), KW_OK);
    assert_string_equal(back.name, "holiday/beach.jpeg");
    assert_string_equal(back.type, "image/jpeg");
    assert_int_equal(back.size, 123456);
    assert_int_equal(back.mtime, 1700000123);
    assert_memory_equal(back.sha256, m.sha256, 32);
    /* the name is not in the clear, and two names of close lengths seal to one size */
    for (size_t i = 0; i + 7 <= len; i++)
        assert_false(memcmp(buf + i, "holiday", 7) == 0);
    kw_record_meta m2 = m;
    snprintf(m2.name, sizeof(m2.name), "x.jpg");
    size_t len2 = 0;
    uint8_t buf2[KW_RECORD_META_MAXBYTES];
    assert_int_equal(kw_record_meta_seal(buf2, sizeof(buf2), &len2, &m2, rk, &ref), KW_OK);
    assert_int_equal(len2, len);
    /* every flipped byte, truncation, other record version: refused */
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 1;
        int r = kw_record_meta_open(&back, buf, len, rk, &ref);
        assert_true(r == KW_ERR_VERIFY || (i < 4 && r == KW_ERR_FORMAT));
        buf[i] ^= 1;
    }
    for (size_t cut = 1; cut < 40; cut += 13) {
        int r = kw_record_meta_open(&back, buf, len - cut, rk, &ref);
        assert_true(r == KW_ERR_VERIFY || r == KW_ERR_TRUNCATED);
    }
    assert_int_equal(kw_record_meta_open(&back, buf, 30, rk, &ref), KW_ERR_TRUNCATED);
    kw_record_ref v2 = ref_of("photos", "default", 2);
    assert_int_equal(kw_record_meta_open(&back, buf, len, rk, &v2), KW_ERR_VERIFY);
    kw_record_ref z = ref_of("photos", "other", 1);
    assert_int_equal(kw_record_meta_open(&back, buf, len, rk, &z), KW_ERR_VERIFY);
    assert_int_equal(back.size, 0); /* zeroed on failure */
    /* contract checks on sealing */
    kw_record_meta bad = m;
    bad.padded = m.size;
    assert_int_equal(kw_record_meta_seal(buf, sizeof(buf), &len, &bad, rk, &ref), KW_ERR_INVALID_ARG);
    bad = m;
    bad.name[0] = '\0';
    assert_int_equal(kw_record_meta_seal(buf, sizeof(buf), &len, &bad, rk, &ref), KW_ERR_INVALID_ARG);
    bad = m;
    bad.piece_size = 3000;
    assert_int_equal(kw_record_meta_seal(buf, sizeof(buf), &len, &bad, rk, &ref), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_record_meta_seal(buf, 50, &len, &m, rk, &ref), KW_ERR_TOO_LARGE);

    /* an authentic plaintext that breaks the rules is refused after decryption:
     * seal one by hand (meta key from HKDF as documented) with non-zero padding */
    uint8_t mk[32], pt[256], ad[200], out[4 + 24 + 256 + 16];
    size_t clen = 0;
    assert_int_equal(kw_hkdf_sha256(mk, 32, NULL, 0, rk, 32, (const uint8_t *)"keyward record meta v1", 22),
                     KW_OK);
    assert_int_equal(kw_record_meta_seal(buf, sizeof(buf), &len, &m, rk, &ref), KW_OK);
    unsigned long long pl = 0;
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &pl, NULL, buf + 28, len - 28, NULL, 0,
                                                                buf + 4, mk),
                     -1); /* needs the ad: rebuild it */
    memcpy(ad, "KWR1", 4);
    assert_int_equal(kw_record_ctx(ad + 4, &clen, &ref), KW_OK);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &pl, NULL, buf + 28, len - 28, ad, 4 + clen,
                                                                buf + 4, mk),
                     0);
    assert_int_equal(pl % KW_RECORD_META_PAD, 0);
    size_t n = (size_t)pl, olen = 4 + 24 + n + 16;
    pt[n - 1] = 1; /* padding must be zero (the sample name leaves some) */
    memcpy(out, "KWR1", 4);
    randombytes_buf(out + 4, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 28, NULL, pt, n, ad, 4 + clen, NULL, out + 4, mk);
    assert_int_equal(kw_record_meta_open(&back, out, olen, rk, &ref), KW_ERR_FORMAT);
    pt[n - 1] = 0;
    assert_int_equal(pt[0], KW_RECORD_HASH_BLAKE2B); /* hash_alg 0 seals as format 2 */
    const uint8_t unknown[] = {0, 3, 0x81, 0xff};
    for (size_t k = 0; k < sizeof(unknown); k++) {
        pt[0] = unknown[k]; /* unknown formats */
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + 28, NULL, pt, n, ad, 4 + clen, NULL, out + 4, mk);
        assert_int_equal(kw_record_meta_open(&back, out, olen, rk, &ref), KW_ERR_FORMAT);
    }
    for (uint8_t f = 1; f <= 2; f++) { /* both known formats open and say which they are */
        pt[0] = f;
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + 28, NULL, pt, n, ad, 4 + clen, NULL, out + 4, mk);
        assert_int_equal(kw_record_meta_open(&back, out, olen, rk, &ref), KW_OK);
        assert_int_equal(back.hash_alg, f);
        assert_memory_equal(back.hash, m.hash, 32);
    }
    /* a format 1 record seals back as format 1; other hash_alg values are refused */
    m.hash_alg = KW_RECORD_HASH_SHA256;
    assert_int_equal(kw_record_meta_seal(buf, sizeof(buf), &len, &m, rk, &ref), KW_OK);
    assert_int_equal(kw_record_meta_open(&back, buf, len, rk, &ref), KW_OK);
    assert_int_equal(back.hash_alg, KW_RECORD_HASH_SHA256);
    m.hash_alg = 3;
    assert_int_equal(kw_record_meta_seal(buf, sizeof(buf), &len, &m, rk, &ref), KW_ERR_INVALID_ARG);
}

/* The content hashes of both formats: "abc" against published values
 * (FIPS 180-2 for SHA-256; BLAKE2b-256 as Python's hashlib.blake2b with
 * digest_size=32 gives it), then 10,000 random bytes fed in uneven slices
 * against libsodium's one-shot functions. */
static void test_hash(void **state)
{
    (void)state;
    static const uint8_t sha_abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    kw_record_hash_state st;
    uint8_t h[32], want[32], data[10000];
    assert_int_equal(kw_record_hash_init(&st, KW_RECORD_HASH_SHA256), KW_OK);
    kw_record_hash_update(&st, (const uint8_t *)"ab", 2);
    kw_record_hash_update(&st, (const uint8_t *)"c", 1);
    kw_record_hash_final(&st, h);
    assert_memory_equal(h, sha_abc, 32);
    static const uint8_t b2_abc[32] = {0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72, 0x31, 0x71, 0xef,
                                       0x3f, 0xee, 0x98, 0x57, 0x9b, 0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb,
                                       0x3e, 0x42, 0x72, 0x62, 0xc8, 0xc0, 0x68, 0xd5, 0x23, 0x19};
    assert_int_equal(kw_record_hash_init(&st, KW_RECORD_HASH_BLAKE2B), KW_OK);
    kw_record_hash_update(&st, (const uint8_t *)"abc", 3);
    kw_record_hash_final(&st, h);
    assert_memory_equal(h, b2_abc, 32);
    randombytes_buf(data, sizeof(data));
    for (uint8_t alg = 1; alg <= 2; alg++) {
        assert_int_equal(kw_record_hash_init(&st, alg), KW_OK);
        for (size_t o = 0, step = 1; o < sizeof(data); o += step, step = step * 3 + 1)
            kw_record_hash_update(&st, data + o, step < sizeof(data) - o ? step : sizeof(data) - o);
        kw_record_hash_final(&st, h);
        if (alg == KW_RECORD_HASH_SHA256)
            crypto_hash_sha256(want, data, sizeof(data));
        else
            crypto_generichash(want, 32, data, sizeof(data), NULL, 0);
        assert_memory_equal(h, want, 32);
    }
    assert_int_equal(kw_record_hash_init(&st, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_record_hash_init(&st, 3), KW_ERR_INVALID_ARG);
}

static void test_pieces(void **state)
{
    (void)state;
    uint8_t rk[32], pt[5000], ct[5000 + KW_RECORD_PIECE_OVERHEAD], out[5000];
    size_t clen = 0, olen = 0;
    kw_record_key_new(rk);
    randombytes_buf(pt, sizeof(pt));
    kw_record_ref ref = ref_of("drive", "default", 2);
    assert_int_equal(kw_record_piece_seal(ct, sizeof(ct), &clen, pt, sizeof(pt), 3, 0, rk, &ref), KW_OK);
    assert_int_equal(clen, sizeof(pt) + KW_RECORD_PIECE_OVERHEAD);
    assert_int_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 3, 0, rk, &ref), KW_OK);
    assert_int_equal(olen, sizeof(pt));
    assert_memory_equal(out, pt, sizeof(pt));
    /* another index (reordered), the final flag (truncation), version, record: refused */
    assert_int_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 2, 0, rk, &ref), KW_ERR_VERIFY);
    assert_int_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 3, 1, rk, &ref), KW_ERR_VERIFY);
    kw_record_ref v = ref_of("drive", "default", 1);
    assert_int_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 3, 0, rk, &v), KW_ERR_VERIFY);
    v = ref_of("drive", "default", 2);
    v.id[0] ^= 0x80;
    assert_int_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 3, 0, rk, &v), KW_ERR_VERIFY);
    uint8_t other[32];
    kw_record_key_new(other);
    assert_int_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 3, 0, other, &ref), KW_ERR_VERIFY);
    for (size_t i = 0; i < clen; i += 97) {
        ct[i] ^= 4;
        assert_int_not_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 3, 0, rk, &ref), KW_OK);
        assert_int_equal(olen, 0);
        ct[i] ^= 4;
    }
    assert_int_not_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen - 1, 3, 0, rk, &ref), KW_OK);
    assert_int_equal(kw_record_piece_seal(ct, 10, &clen, pt, sizeof(pt), 3, 0, rk, &ref), KW_ERR_TOO_LARGE);
    /* an empty final piece */
    assert_int_equal(kw_record_piece_seal(ct, sizeof(ct), &clen, pt, 0, 0, 1, rk, &ref), KW_OK);
    assert_int_equal(clen, KW_RECORD_PIECE_OVERHEAD);
    assert_int_equal(kw_record_piece_open(out, sizeof(out), &olen, ct, clen, 0, 1, rk, &ref), KW_OK);
    assert_int_equal(olen, 0);
}

/* The piece transport codec agrees with keyward/codec.h's base64url on
 * every length and refuses what it refuses. */
static void test_transport_codec(void **state)
{
    (void)state;
    uint8_t in[300], out[300];
    char a[500], b[500];
    randombytes_buf(in, sizeof(in));
    for (size_t n = 0; n < sizeof(in); n++) {
        size_t la = 0, lb = 0;
        assert_int_equal(kw_b64url_encode(a, sizeof(a), in, n), KW_OK);
        assert_int_equal(kw_record_b64_encode(b, sizeof(b), in, n), KW_OK);
        assert_string_equal(a, b);
        assert_int_equal(kw_record_b64_decode(out, sizeof(out), &lb, b, strlen(b)), KW_OK);
        assert_int_equal(lb, n);
        assert_memory_equal(out, in, n);
        assert_int_equal(kw_b64url_decode(out, sizeof(out), &la, a, strlen(a)), KW_OK);
        assert_int_equal(la, n);
    }
    size_t l = 0;
    assert_int_equal(kw_record_b64_decode(out, sizeof(out), &l, "AAAAA", 5), KW_ERR_TRUNCATED);
    assert_int_equal(kw_record_b64_decode(out, sizeof(out), &l, "AA=A", 4), KW_ERR_FORMAT);
    assert_int_equal(kw_record_b64_decode(out, sizeof(out), &l, "AA+A", 4), KW_ERR_FORMAT);
    assert_int_equal(kw_record_b64_decode(out, sizeof(out), &l, "AB", 2), KW_ERR_FORMAT);  /* trailing bits */
    assert_int_equal(kw_record_b64_decode(out, sizeof(out), &l, "AAB", 3), KW_ERR_FORMAT); /* trailing bits */
    assert_int_equal(kw_record_b64_decode(out, 2, &l, "AAAA", 4), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_record_b64_encode(b, 4, in, 3), KW_ERR_TOO_LARGE);
    char hi[4] = {'A', 'A', (char)0xc3, 'A'};
    assert_int_equal(kw_record_b64_decode(out, sizeof(out), &l, hi, 4), KW_ERR_FORMAT);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_padding),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_transport_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
