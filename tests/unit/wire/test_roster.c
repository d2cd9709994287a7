/* Unit tests for the signed device roster (keyward/roster.h): round trips,
 * the byte layout (checked against an encoder written here from the spec),
 * and every refusal with its specific error code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/roster.h"
#include "keyward/sign.h"

typedef struct {
    kw_sign_key *acct;
    uint8_t acct_pk[32];
    kw_sign_key *dev_keys[KW_ROSTER_DEVICES_MAX + 1];
    kw_roster r;
    uint8_t enc[KW_ROSTER_MAXBYTES + 16];
    size_t enc_len;
} fx;

static void dev_fill(fx *f, size_t i, uint8_t id[16], uint8_t ipk[32], uint8_t hpk[32])
{
    memset(id, 0, 16);
    id[0] = 0xd0;
    id[15] = (uint8_t)i;
    kw_sign_key_public(f->dev_keys[i], ipk);
    uint8_t hsk[32];
    randombytes_buf(hsk, sizeof(hsk));
    crypto_scalarmult_base(hpk, hsk);
}

/* A roster of account "alice" at version 7, flags CKV, n devices. */
static void build(fx *f, size_t n)
{
    uint8_t id[16], ipk[32], hpk[32];
    char name[16];
    assert_int_equal(kw_roster_init(&f->r, 7, "alice", f->acct_pk, KW_ROSTER_FLAG_CKV), KW_OK);
    for (size_t i = 0; i < n; i++) {
        dev_fill(f, i, id, ipk, hpk);
        snprintf(name, sizeof(name), "device %zu", i);
        assert_int_equal(kw_roster_add(&f->r, id, ipk, hpk, name), KW_OK);
    }
    assert_int_equal(kw_roster_encode(f->enc, sizeof(f->enc), &f->enc_len, &f->r, f->acct), KW_OK);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL || kw_init() != KW_OK || kw_sign_key_new(&f->acct) != KW_OK)
        return -1;
    kw_sign_key_public(f->acct, f->acct_pk);
    for (size_t i = 0; i <= KW_ROSTER_DEVICES_MAX; i++)
        if (kw_sign_key_new(&f->dev_keys[i]) != KW_OK)
            return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    kw_sign_key_free(&f->acct);
    for (size_t i = 0; i <= KW_ROSTER_DEVICES_MAX; i++)
        kw_sign_key_free(&f->dev_keys[i]);
    free(f);
    return 0;
}

/* The format written out independently from the header's description, with
 * no checks at all, signed with ctx under key. */
static size_t raw_encode(uint8_t *out, const kw_roster *r, const kw_sign_key *key, const char *ctx)
{
    size_t o = 0;
    memcpy(out, "KWR1", 4);
    o = 4;
    for (int i = 7; i >= 0; i--)
        out[o++] = (uint8_t)(r->version >> (8 * i));
    out[o++] = r->name_len;
    memcpy(out + o, r->name, r->name_len);
    o += r->name_len;
    memcpy(out + o, r->account_pk, 32);
    o += 32;
    out[o++] = r->flags;
    out[o++] = (uint8_t)(r->ndevices >> 8);
    out[o++] = (uint8_t)r->ndevices;
    for (size_t i = 0; i < r->ndevices; i++) {
        memcpy(out + o, r->devices[i].id, 16);
        memcpy(out + o + 16, r->devices[i].identity_pk, 32);
        memcpy(out + o + 48, r->devices[i].hpke_pk, 32);
        o += 80;
        out[o++] = r->devices[i].name_len;
        memcpy(out + o, r->devices[i].name, r->devices[i].name_len);
        o += r->devices[i].name_len;
    }
    assert_int_equal(kw_sign(key, out + o, (const uint8_t *)ctx, strlen(ctx), out, o), KW_OK);
    return o + 64;
}

static void expect_open(fx *f, const uint8_t *in, size_t len, int want)
{
    kw_roster r;
    memset(&r, 0x5a, sizeof(r));
    assert_int_equal(kw_roster_open(&r, in, len, f->acct_pk), want);
    if (want != KW_OK) {
        /* the output is zeroed on every failure */
        kw_roster zero;
        memset(&zero, 0, sizeof(zero));
        assert_memory_equal(&r, &zero, sizeof(r));
    }
}

static void test_round_trip(void **state)
{
    fx *f = *state;
    kw_roster r;
    build(f, 3);
    assert_int_equal(kw_roster_encoded_len(&f->r), f->enc_len);
    /* the bytes are the documented layout (Ed25519 is deterministic) */
    uint8_t raw[KW_ROSTER_MAXBYTES];
    size_t raw_len = raw_encode(raw, &f->r, f->acct, "roster");
    assert_int_equal(raw_len, f->enc_len);
    assert_memory_equal(raw, f->enc, raw_len);

    assert_int_equal(kw_roster_open(&r, f->enc, f->enc_len, f->acct_pk), KW_OK);
    assert_int_equal(r.version, 7);
    assert_string_equal(r.name, "alice");
    assert_int_equal(r.name_len, 5);
    assert_int_equal(r.flags, KW_ROSTER_FLAG_CKV);
    assert_memory_equal(r.account_pk, f->acct_pk, 32);
    assert_int_equal(r.ndevices, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_memory_equal(r.devices[i].id, f->r.devices[i].id, 16);
        assert_memory_equal(r.devices[i].identity_pk, f->r.devices[i].identity_pk, 32);
        assert_memory_equal(r.devices[i].hpke_pk, f->r.devices[i].hpke_pk, 32);
        assert_string_equal(r.devices[i].name, f->r.devices[i].name);
    }
    assert_memory_equal(r.sig, f->enc + f->enc_len - 64, 64);
    assert_int_equal(kw_roster_verify(&r, f->acct_pk), KW_OK);

    /* decode without verifying gives the same struct */
    kw_roster u;
    assert_int_equal(kw_roster_decode_unverified(&u, f->enc, f->enc_len), KW_OK);
    assert_memory_equal(&u, &r, sizeof(r));

    /* both flags, device without a name */
    uint8_t id[16], ipk[32], hpk[32];
    assert_int_equal(kw_roster_init(&f->r, 1, "bob", f->acct_pk, KW_ROSTER_FLAG_CKV | KW_ROSTER_FLAG_ADP),
                     KW_OK);
    dev_fill(f, 0, id, ipk, hpk);
    assert_int_equal(kw_roster_add(&f->r, id, ipk, hpk, NULL), KW_OK);
    assert_int_equal(kw_roster_encode(f->enc, sizeof(f->enc), &f->enc_len, &f->r, f->acct), KW_OK);
    assert_int_equal(kw_roster_open(&r, f->enc, f->enc_len, f->acct_pk), KW_OK);
    assert_int_equal(r.flags, 3);
    assert_int_equal(r.devices[0].name_len, 0);
    assert_string_equal(r.devices[0].name, "");
}

static void test_maximum(void **state)
{
    fx *f = *state;
    uint8_t id[16], ipk[32], hpk[32];
    char name[65], dname[65];
    kw_roster r;
    memset(name, 'n', 64);
    name[64] = '\0';
    assert_int_equal(kw_roster_init(&f->r, UINT64_MAX, name, f->acct_pk, 0), KW_OK);
    for (size_t i = 0; i < KW_ROSTER_DEVICES_MAX; i++) {
        dev_fill(f, i, id, ipk, hpk);
        memset(dname, 'a' + (int)(i % 26), 64);
        dname[64] = '\0';
        assert_int_equal(kw_roster_add(&f->r, id, ipk, hpk, dname), KW_OK);
    }
    dev_fill(f, KW_ROSTER_DEVICES_MAX, id, ipk, hpk);
    assert_int_equal(kw_roster_add(&f->r, id, ipk, hpk, "x"), KW_ERR_LIMIT);
    assert_int_equal(kw_roster_encode(f->enc, sizeof(f->enc), &f->enc_len, &f->r, f->acct), KW_OK);
    assert_int_equal(f->enc_len, KW_ROSTER_MAXBYTES);
    assert_int_equal(kw_roster_open(&r, f->enc, f->enc_len, f->acct_pk), KW_OK);
    assert_int_equal(r.ndevices, KW_ROSTER_DEVICES_MAX);
    assert_int_equal(r.version, UINT64_MAX);
    /* one byte more is over the limit before anything is parsed */
    f->enc[f->enc_len] = 0;
    expect_open(f, f->enc, f->enc_len + 1, KW_ERR_TOO_LARGE);
    /* a short output buffer */
    size_t n = 99;
    assert_int_equal(kw_roster_encode(f->enc, KW_ROSTER_MAXBYTES - 1, &n, &f->r, f->acct), KW_ERR_TOO_LARGE);
    assert_int_equal(n, 0);
    assert_true(kw_ct_is_zero(f->enc, KW_ROSTER_MAXBYTES - 1));
}

static void test_bad_signature(void **state)
{
    fx *f = *state;
    build(f, 2);
    /* every signature byte */
    for (size_t i = f->enc_len - 64; i < f->enc_len; i++) {
        f->enc[i] ^= 0x01;
        expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
        f->enc[i] ^= 0x01;
    }
    /* another signature context */
    uint8_t raw[KW_ROSTER_MAXBYTES];
    size_t n = raw_encode(raw, &f->r, f->acct, "rosters");
    expect_open(f, raw, n, KW_ERR_VERIFY);
    /* decode without verifying accepts it, verify does not */
    kw_roster u;
    assert_int_equal(kw_roster_decode_unverified(&u, raw, n), KW_OK);
    assert_int_equal(kw_roster_verify(&u, f->acct_pk), KW_ERR_VERIFY);
    expect_open(f, f->enc, f->enc_len, KW_OK);
}

static void test_wrong_account_key(void **state)
{
    fx *f = *state;
    kw_sign_key *other = NULL;
    uint8_t other_pk[32], raw[KW_ROSTER_MAXBYTES];
    kw_roster r;
    build(f, 2);
    assert_int_equal(kw_sign_key_new(&other), KW_OK);
    kw_sign_key_public(other, other_pk);
    /* opened under another key */
    assert_int_equal(kw_roster_open(&r, f->enc, f->enc_len, other_pk), KW_ERR_VERIFY);
    /* signed by another key but claiming ours */
    size_t n = raw_encode(raw, &f->r, other, "roster");
    expect_open(f, raw, n, KW_ERR_VERIFY);
    /* a correct roster of another account key: valid for it, not for us */
    memcpy(f->r.account_pk, other_pk, 32);
    assert_int_equal(kw_roster_encode(f->enc, sizeof(f->enc), &f->enc_len, &f->r, other), KW_OK);
    assert_int_equal(kw_roster_open(&r, f->enc, f->enc_len, other_pk), KW_OK);
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    /* encode refuses a signing key that is not the roster's */
    size_t len = 5;
    assert_int_equal(kw_roster_encode(f->enc, sizeof(f->enc), &len, &f->r, f->acct), KW_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    kw_sign_key_free(&other);
}

static void test_tampered_fields(void **state)
{
    fx *f = *state;
    build(f, 2);
    size_t name_off = 13, flags_off = 13 + 5 + 32, dev_off = flags_off + 3;
    /* version */
    f->enc[11] ^= 1;
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    f->enc[11] ^= 1;
    /* account name byte */
    f->enc[name_off] = 'A';
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    f->enc[name_off] = 'a';
    /* flags: a known bit flipped is a forgery; an unknown bit is malformed */
    f->enc[flags_off] ^= KW_ROSTER_FLAG_ADP;
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    f->enc[flags_off] ^= KW_ROSTER_FLAG_CKV;
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    f->enc[flags_off] ^= KW_ROSTER_FLAG_ADP | KW_ROSTER_FLAG_CKV;
    for (unsigned bit = 2; bit < 8; bit++) {
        f->enc[flags_off] ^= (uint8_t)(1u << bit);
        expect_open(f, f->enc, f->enc_len, KW_ERR_FORMAT);
        f->enc[flags_off] ^= (uint8_t)(1u << bit);
    }
    /* device id, HPKE key, name */
    f->enc[dev_off] ^= 0x80;
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    f->enc[dev_off] ^= 0x80;
    f->enc[dev_off + 48] ^= 0x01;
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    f->enc[dev_off + 48] ^= 0x01;
    f->enc[dev_off + 81] = 'D';
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    f->enc[dev_off + 81] = 'd';
    /* device identity key replaced by another valid key */
    uint8_t pk[32];
    kw_sign_key_public(f->dev_keys[9], pk);
    memcpy(f->enc + dev_off + 16, pk, 32);
    expect_open(f, f->enc, f->enc_len, KW_ERR_VERIFY);
    memcpy(f->enc + dev_off + 16, f->r.devices[0].identity_pk, 32);
    /* a device count that disagrees with the content */
    f->enc[dev_off - 1] = 1;
    expect_open(f, f->enc, f->enc_len, KW_ERR_FORMAT); /* one device, then trailing bytes */
    f->enc[dev_off - 1] = 3;
    expect_open(f, f->enc, f->enc_len, KW_ERR_TRUNCATED);
    f->enc[dev_off - 1] = 2;
    /* magic */
    f->enc[3] = '0';
    expect_open(f, f->enc, f->enc_len, KW_ERR_FORMAT);
    expect_open(f, f->enc, 2, KW_ERR_TRUNCATED); /* "KW": a prefix of the magic */
    f->enc[0] = 'X';
    expect_open(f, f->enc, 2, KW_ERR_FORMAT);
    f->enc[0] = 'K';
    f->enc[3] = '1';
    expect_open(f, f->enc, f->enc_len, KW_OK);
}

static void test_truncation(void **state)
{
    fx *f = *state;
    build(f, 3);
    expect_open(f, NULL, 0, KW_ERR_TRUNCATED);
    for (size_t n = 0; n < f->enc_len; n++) {
        uint8_t *copy = malloc(n + 1); /* exact-size copies let ASan see over-reads */
        assert_non_null(copy);
        memcpy(copy, f->enc, n);
        expect_open(f, copy, n, KW_ERR_TRUNCATED);
        kw_roster u;
        assert_int_equal(kw_roster_decode_unverified(&u, copy, n), KW_ERR_TRUNCATED);
        free(copy);
    }
}

static void test_trailing(void **state)
{
    fx *f = *state;
    build(f, 1);
    f->enc[f->enc_len] = 0;
    expect_open(f, f->enc, f->enc_len + 1, KW_ERR_FORMAT);
    kw_roster u;
    assert_int_equal(kw_roster_decode_unverified(&u, f->enc, f->enc_len + 1), KW_ERR_FORMAT);
}

static void test_oversize_fields(void **state)
{
    fx *f = *state;
    kw_roster r;
    uint8_t raw[KW_ROSTER_MAXBYTES + 200];
    build(f, 1);
    /* account name length 65 */
    r = f->r;
    r.name_len = 65;
    memset(r.name, 'x', sizeof(r.name));
    size_t n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_TOO_LARGE);
    r.name_len = 255;
    raw[12] = 255;
    expect_open(f, raw, n, KW_ERR_TOO_LARGE);
    /* device name length 65 */
    r = f->r;
    r.devices[0].name_len = 65;
    memset(r.devices[0].name, 'y', sizeof(r.devices[0].name));
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_TOO_LARGE);
    /* a device count of 65 (the count field is checked before the devices) */
    n = raw_encode(raw, &f->r, f->acct, "roster");
    size_t count_off = 13 + 5 + 32 + 1;
    raw[count_off] = 0;
    raw[count_off + 1] = 65;
    expect_open(f, raw, n, KW_ERR_TOO_LARGE);
    raw[count_off] = 0xff;
    raw[count_off + 1] = 0xff;
    expect_open(f, raw, n, KW_ERR_TOO_LARGE);
    /* a whole input over the limit */
    uint8_t *big = calloc(1, KW_ROSTER_MAXBYTES + 1);
    assert_non_null(big);
    memcpy(big, f->enc, f->enc_len);
    expect_open(f, big, KW_ROSTER_MAXBYTES + 1, KW_ERR_TOO_LARGE);
    free(big);
}

static void test_malformed_fields(void **state)
{
    fx *f = *state;
    kw_roster r;
    uint8_t raw[KW_ROSTER_MAXBYTES];
    size_t n;
    build(f, 2);
    /* version 0 */
    r = f->r;
    r.version = 0;
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* empty account name */
    r = f->r;
    r.name_len = 0;
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* control bytes in names */
    r = f->r;
    r.name[2] = '\n';
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    r = f->r;
    r.devices[1].name[0] = '\0';
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    r = f->r;
    r.devices[1].name[0] = 0x7f;
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* no devices */
    r = f->r;
    r.ndevices = 0;
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* invalid keys: identity key zero (small order), HPKE key zero, account key zero */
    r = f->r;
    memset(r.devices[1].identity_pk, 0, 32);
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    r = f->r;
    memset(r.devices[0].hpke_pk, 0, 32);
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    r = f->r;
    memset(r.account_pk, 0, 32);
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* encode refuses what decode refuses */
    r = f->r;
    r.flags = 0x80;
    size_t len = 1;
    assert_int_equal(kw_roster_encode(raw, sizeof(raw), &len, &r, f->acct), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_roster_encoded_len(&r), 0);
    /* init refuses bad arguments */
    assert_int_equal(kw_roster_init(&r, 0, "alice", f->acct_pk, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_roster_init(&r, 1, "", f->acct_pk, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_roster_init(&r, 1, "a\tb", f->acct_pk, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_roster_init(&r, 1, "alice", f->acct_pk, 4), KW_ERR_INVALID_ARG);
    char long_name[80];
    memset(long_name, 'z', 65);
    long_name[65] = '\0';
    assert_int_equal(kw_roster_init(&r, 1, long_name, f->acct_pk, 0), KW_ERR_INVALID_ARG);
    uint8_t zero[32] = {0};
    assert_int_equal(kw_roster_init(&r, 1, "alice", f->acct_pk, 0), KW_OK);
    assert_int_equal(kw_roster_add(&r, zero, zero, f->r.devices[0].hpke_pk, "x"), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_roster_add(&r, zero, f->r.devices[0].identity_pk, zero, "x"), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_roster_add(&r, zero, f->r.devices[0].identity_pk, f->r.devices[0].hpke_pk, long_name),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(r.ndevices, 0);
}

static void test_duplicates(void **state)
{
    fx *f = *state;
    kw_roster r;
    uint8_t raw[KW_ROSTER_MAXBYTES];
    size_t n;
    build(f, 3);
    /* same id twice */
    r = f->r;
    memcpy(r.devices[2].id, r.devices[0].id, 16);
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* same identity key twice */
    r = f->r;
    memcpy(r.devices[2].identity_pk, r.devices[1].identity_pk, 32);
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* same HPKE key twice */
    r = f->r;
    memcpy(r.devices[1].hpke_pk, r.devices[0].hpke_pk, 32);
    n = raw_encode(raw, &r, f->acct, "roster");
    expect_open(f, raw, n, KW_ERR_FORMAT);
    /* the builder refuses them too */
    r = f->r;
    uint8_t id[16];
    memcpy(id, r.devices[0].id, 16);
    id[1] ^= 1;
    assert_int_equal(kw_roster_add(&r, r.devices[0].id, r.devices[0].identity_pk, r.devices[0].hpke_pk, "a"),
                     KW_ERR_CONFLICT);
    assert_int_equal(kw_roster_add(&r, id, r.devices[1].identity_pk, r.devices[0].hpke_pk, "a"),
                     KW_ERR_CONFLICT);
    assert_int_equal(r.ndevices, 3);
}

static void test_find_remove_diff(void **state)
{
    fx *f = *state;
    kw_roster a, b;
    kw_roster_changes d;
    uint8_t id[16], ipk[32], hpk[32];
    build(f, 4);
    a = f->r;
    assert_ptr_equal(kw_roster_find(&a, a.devices[2].id), &a.devices[2]);
    assert_ptr_equal(kw_roster_find_hpke(&a, a.devices[3].hpke_pk), &a.devices[3]);
    memset(id, 0xee, 16);
    assert_null(kw_roster_find(&a, id));
    uint8_t other_hpk[32];
    memset(other_hpk, 0xee, sizeof(other_hpk));
    assert_null(kw_roster_find_hpke(&a, other_hpk));
    b = a;
    b.version++;
    /* remove device 1, add a new one, re-key device 3 */
    assert_int_equal(kw_roster_remove(&b, a.devices[1].id), KW_OK);
    assert_int_equal(b.ndevices, 3);
    assert_memory_equal(b.devices[1].id, a.devices[2].id, 16);
    assert_int_equal(kw_roster_remove(&b, a.devices[1].id), KW_ERR_NOT_FOUND);
    dev_fill(f, 20, id, ipk, hpk);
    assert_int_equal(kw_roster_add(&b, id, ipk, hpk, "new"), KW_OK);
    b.devices[2].hpke_pk[5] ^= 1; /* was devices[3] */
    kw_roster_diff(&d, &a, &b);
    assert_int_equal(d.nadded, 1);
    assert_memory_equal(d.added[0], id, 16);
    assert_int_equal(d.nremoved, 1);
    assert_memory_equal(d.removed[0], a.devices[1].id, 16);
    assert_int_equal(d.nchanged, 1);
    assert_memory_equal(d.changed[0], a.devices[3].id, 16);
    /* the reverse */
    kw_roster_diff(&d, &b, &a);
    assert_int_equal(d.nadded, 1);
    assert_memory_equal(d.added[0], a.devices[1].id, 16);
    assert_int_equal(d.nremoved, 1);
    assert_memory_equal(d.removed[0], id, 16);
    assert_int_equal(d.nchanged, 1);
    /* no change; a renamed device is not a change */
    b = a;
    b.devices[0].name[0] = 'D';
    kw_roster_diff(&d, &a, &b);
    assert_int_equal(d.nadded + d.nremoved + d.nchanged, 0);
    /* the edited roster still encodes and opens */
    assert_int_equal(kw_roster_encode(f->enc, sizeof(f->enc), &f->enc_len, &b, f->acct), KW_OK);
    expect_open(f, f->enc, f->enc_len, KW_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maximum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_account_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_remove_diff, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
