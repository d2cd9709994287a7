/* Unit tests for the message envelope, payload and prekey codecs
 * (keyward/envelope.h): round trips to several devices, every byte tampered,
 * wrong keys, truncation at every length, oversize and malformed fields
 * (built with an encoder written here from the format in the header), and
 * the signed prekey. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/envelope.h"
#include "keyward/hpke.h"
#include "keyward/keyward.h"
#include "keyward/sign.h"

#define NDEV 3

typedef struct {
    kw_sign_key *id;                 /* sender identity */
    uint8_t id_pk[32];
    uint8_t s_pk[32], s_sk[32];      /* sender roster HPKE key */
    uint8_t r_pk[NDEV][32], r_sk[NDEV][32];
    kw_envelope_recipient rc[NDEV];
    kw_envelope_params p;
    uint8_t head[KW_PAYLOAD_HEADBYTES];
    uint8_t *payload, *env;
    size_t plen, elen;
    kw_envelope e;
} fx;

static const char CONTENT[] = "the content of a message";

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL || kw_init() != KW_OK || kw_sign_key_new(&f->id) != KW_OK)
        return -1;
    kw_sign_key_public(f->id, f->id_pk);
    kw_hpke_keypair(f->s_pk, f->s_sk);
    for (size_t i = 0; i < NDEV; i++) {
        kw_hpke_keypair(f->r_pk[i], f->r_sk[i]);
        randombytes_buf(f->rc[i].device_id, 16);
        f->rc[i].prekey_id = (uint32_t)i; /* device 0: its roster key, others prekeys 1, 2 */
        memcpy(f->rc[i].pk, f->r_pk[i], 32);
    }
    randombytes_buf(f->p.id, 16);
    randombytes_buf(f->p.sender_device, 16);
    f->p.timestamp_ms = 1795800000000ull;
    f->p.sender = "alice";
    f->p.recipient = "bob";
    f->p.type = "sas-commit";
    randombytes_buf(f->head, sizeof(f->head));
    if (kw_payload_encode(&f->payload, &f->plen, f->head, (const uint8_t *)CONTENT, strlen(CONTENT)) !=
            KW_OK ||
        kw_envelope_seal(&f->env, &f->elen, &f->p, f->rc, NDEV, f->s_sk, f->s_pk, f->id, f->payload,
                         f->plen) != KW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    kw_sign_key_free(&f->id);
    free(f->payload);
    free(f->env);
    free(f);
    return 0;
}

static void test_round_trip(void **state)
{
    fx *f = *state;
    assert_int_equal(kw_envelope_decode(&f->e, f->env, f->elen), KW_OK);
    assert_int_equal(kw_envelope_verify(&f->e, f->env, f->elen, f->id_pk), KW_OK);
    assert_memory_equal(f->e.id, f->p.id, 16);
    assert_int_equal(f->e.timestamp_ms, f->p.timestamp_ms);
    assert_string_equal(f->e.sender, "alice");
    assert_string_equal(f->e.recipient, "bob");
    assert_string_equal(f->e.type, "sas-commit");
    assert_memory_equal(f->e.sender_device, f->p.sender_device, 16);
    assert_int_equal(f->e.nwraps, NDEV);
    assert_int_equal(f->e.body_len, f->plen + 16);
    /* the body is encrypted once: the envelope grows by one wrap per device */
    assert_int_equal(f->elen, 4 + 16 + 8 + 1 + 5 + 16 + 1 + 3 + 1 + 10 + 24 + 2 +
                                  NDEV * KW_ENVELOPE_WRAP_ENTRYBYTES + 4 + f->plen + 16 + 64);
    for (size_t i = 0; i < NDEV; i++) {
        const kw_envelope_wrap *w = kw_envelope_find(&f->e, f->rc[i].device_id);
        assert_non_null(w);
        assert_int_equal(w->prekey_id, i);
        uint8_t *pt = NULL, head[KW_PAYLOAD_HEADBYTES];
        size_t pl = 0, cl = 0;
        const uint8_t *content = NULL;
        bool has_head = false;
        assert_int_equal(kw_envelope_open(&pt, &pl, &f->e, w, f->r_sk[i], f->r_pk[i], f->s_pk), KW_OK);
        assert_int_equal(kw_payload_decode(pt, pl, &has_head, head, &content, &cl), KW_OK);
        assert_true(has_head);
        assert_memory_equal(head, f->head, sizeof(head));
        assert_int_equal(cl, strlen(CONTENT));
        assert_memory_equal(content, CONTENT, cl);
        free(pt);
    }
    uint8_t other[16];
    randombytes_buf(other, 16);
    assert_null(kw_envelope_find(&f->e, other));
}

static void test_wrong_keys(void **state)
{
    fx *f = *state;
    uint8_t *pt = NULL, x_pk[32], x_sk[32];
    size_t pl = 0;
    kw_sign_key *other = NULL;
    uint8_t other_pk[32];
    assert_int_equal(kw_envelope_decode(&f->e, f->env, f->elen), KW_OK);
    assert_int_equal(kw_sign_key_new(&other), KW_OK);
    kw_sign_key_public(other, other_pk);
    assert_int_equal(kw_envelope_verify(&f->e, f->env, f->elen, other_pk), KW_ERR_VERIFY);
    kw_sign_key_free(&other);
    kw_hpke_keypair(x_pk, x_sk);
    const kw_envelope_wrap *w0 = kw_envelope_find(&f->e, f->rc[0].device_id);
    const kw_envelope_wrap *w1 = kw_envelope_find(&f->e, f->rc[1].device_id);
    /* a recipient key that is not the wrap's */
    assert_int_equal(kw_envelope_open(&pt, &pl, &f->e, w0, x_sk, x_pk, f->s_pk), KW_ERR_VERIFY);
    assert_null(pt);
    /* device 1's key on device 0's wrap (wraps are bound to their device) */
    assert_int_equal(kw_envelope_open(&pt, &pl, &f->e, w0, f->r_sk[1], f->r_pk[1], f->s_pk),
                     KW_ERR_VERIFY);
    /* the right key but another sender key (HPKE auth mode) */
    assert_int_equal(kw_envelope_open(&pt, &pl, &f->e, w1, f->r_sk[1], f->r_pk[1], x_pk), KW_ERR_VERIFY);
    /* a wrap relabelled as another device's, or another prekey id */
    kw_envelope_wrap moved = *w1;
    memcpy(moved.device_id, f->rc[0].device_id, 16);
    assert_int_equal(kw_envelope_open(&pt, &pl, &f->e, &moved, f->r_sk[1], f->r_pk[1], f->s_pk),
                     KW_ERR_VERIFY);
    moved = *w1;
    moved.prekey_id = 7;
    assert_int_equal(kw_envelope_open(&pt, &pl, &f->e, &moved, f->r_sk[1], f->r_pk[1], f->s_pk),
                     KW_ERR_VERIFY);
    assert_null(pt);
    assert_int_equal(pl, 0);
}

/* Every byte flipped: the envelope no longer decodes, or its signature no
 * longer verifies; and a flip inside a wrap or the body (re-signed by the
 * sender, so only the crypto is left to catch it) does not open either. */
static void test_every_byte_tampered(void **state)
{
    fx *f = *state;
    uint8_t *copy = malloc(f->elen);
    assert_non_null(copy);
    for (size_t i = 0; i < f->elen; i++) {
        memcpy(copy, f->env, f->elen);
        copy[i] ^= 0x01;
        kw_envelope e;
        int r = kw_envelope_decode(&e, copy, f->elen);
        if (r == KW_OK)
            r = kw_envelope_verify(&e, copy, f->elen, f->id_pk);
        if (r == KW_OK)
            fail_msg("byte %zu flipped still verifies", i);
    }
    free(copy);

    /* body and wraps tampered, then re-signed */
    assert_int_equal(kw_envelope_decode(&f->e, f->env, f->elen), KW_OK);
    size_t body_off = (size_t)(f->e.body - f->env);
    size_t wraps_off = body_off - 4 - NDEV * KW_ENVELOPE_WRAP_ENTRYBYTES;
    size_t spots[] = {body_off, body_off + f->plen / 2, body_off + f->plen + 15,
                      wraps_off + 20, wraps_off + 20 + 40, wraps_off + 20 + 79};
    for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++) {
        uint8_t *c2 = malloc(f->elen);
        memcpy(c2, f->env, f->elen);
        c2[spots[s]] ^= 0x80;
        assert_int_equal(kw_sign(f->id, c2 + f->elen - 64, (const uint8_t *)KW_ENVELOPE_SIG_CONTEXT,
                                 strlen(KW_ENVELOPE_SIG_CONTEXT), c2, f->elen - 64),
                         KW_OK);
        kw_envelope e;
        uint8_t *pt = NULL;
        size_t pl = 0;
        assert_int_equal(kw_envelope_decode(&e, c2, f->elen), KW_OK);
        assert_int_equal(kw_envelope_verify(&e, c2, f->elen, f->id_pk), KW_OK);
        const kw_envelope_wrap *w = kw_envelope_find(&e, f->rc[0].device_id);
        assert_int_equal(kw_envelope_open(&pt, &pl, &e, w, f->r_sk[0], f->r_pk[0], f->s_pk),
                         KW_ERR_VERIFY);
        free(c2);
    }
}

static void test_truncation(void **state)
{
    fx *f = *state;
    for (size_t n = 0; n < f->elen; n++) {
        kw_envelope e;
        int r = kw_envelope_decode(&e, f->env, n);
        if (r == KW_OK)
            fail_msg("a prefix of %zu bytes decodes", n);
        assert_true(r == KW_ERR_TRUNCATED || r == KW_ERR_FORMAT);
    }
    /* one byte more */
    uint8_t *longer = malloc(f->elen + 1);
    memcpy(longer, f->env, f->elen);
    longer[f->elen] = 0;
    assert_int_equal(kw_envelope_decode(&f->e, longer, f->elen + 1), KW_ERR_FORMAT);
    free(longer);
}

/* ---- an encoder written from the format, for malformed inputs ---- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} wb;

static void put(wb *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->b = realloc(w->b, w->cap);
        assert_non_null(w->b);
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_be(wb *w, uint64_t v, size_t width)
{
    uint8_t b[8];
    for (size_t i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    put(w, b, width);
}

static void put_name(wb *w, const char *s, size_t len)
{
    put_be(w, len, 1);
    put(w, s, len);
}

typedef struct {
    size_t sender_len, recipient_len, type_len;
    const char *type;
    size_t nwraps;
    bool dup_device;
    uint64_t body_len;
    size_t body_bytes;
    const char *magic;
} shape;

static uint8_t *build(const shape *s, size_t *len)
{
    wb w = {0};
    char name[300];
    memset(name, 'n', sizeof(name));
    uint8_t zero[1 << 12];
    memset(zero, 0, sizeof(zero));
    put(&w, s->magic != NULL ? s->magic : "KWM1", 4);
    put(&w, zero, 16);
    put_be(&w, 1, 8);
    put_name(&w, name, s->sender_len);
    put(&w, zero, 16);
    put_name(&w, name, s->recipient_len);
    put_name(&w, s->type != NULL ? s->type : "textxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", s->type_len);
    put(&w, zero, 24);
    put_be(&w, s->nwraps, 2);
    for (size_t i = 0; i < s->nwraps; i++) {
        uint8_t id[16] = {0};
        id[0] = (uint8_t)(s->dup_device ? 0 : i);
        id[1] = (uint8_t)(s->dup_device ? 0 : i >> 8);
        put(&w, id, 16);
        put_be(&w, 0, 4);
        put(&w, zero, KW_ENVELOPE_WRAPBYTES);
    }
    put_be(&w, s->body_len, 4);
    for (size_t left = s->body_bytes; left > 0;) {
        size_t k = left < sizeof(zero) ? left : sizeof(zero);
        put(&w, zero, k);
        left -= k;
    }
    put(&w, zero, 64);
    *len = w.n;
    return w.b;
}

static int decode_shape(const shape *s)
{
    size_t len = 0;
    uint8_t *b = build(s, &len);
    kw_envelope *e = malloc(sizeof(*e));
    int r = kw_envelope_decode(e, b, len);
    free(e);
    free(b);
    return r;
}

static const shape OK_SHAPE = {.sender_len = 5, .recipient_len = 3, .type_len = 4, .nwraps = 1,
                               .body_len = 256 + 16, .body_bytes = 256 + 16};

static void test_layout_and_limits(void **state)
{
    (void)state;
    shape s = OK_SHAPE;
    assert_int_equal(decode_shape(&s), KW_OK); /* our own encoder agrees with the decoder */
    s.magic = "KWM2";
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s = OK_SHAPE;
    s.sender_len = 65;
    assert_int_equal(decode_shape(&s), KW_ERR_TOO_LARGE);
    s.sender_len = 0;
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s = OK_SHAPE;
    s.recipient_len = 65;
    assert_int_equal(decode_shape(&s), KW_ERR_TOO_LARGE);
    s = OK_SHAPE;
    s.type_len = 33;
    assert_int_equal(decode_shape(&s), KW_ERR_TOO_LARGE);
    s.type_len = 0;
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s = OK_SHAPE;
    s.type = "Text";
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s = OK_SHAPE;
    s.nwraps = 0;
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s.nwraps = KW_ENVELOPE_WRAPS_MAX;
    assert_int_equal(decode_shape(&s), KW_OK);
    s.nwraps = KW_ENVELOPE_WRAPS_MAX + 1;
    assert_int_equal(decode_shape(&s), KW_ERR_TOO_LARGE);
    s = OK_SHAPE;
    s.nwraps = 2;
    s.dup_device = true;
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s = OK_SHAPE;
    s.body_len = s.body_bytes = 16; /* no payload at all */
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s.body_len = s.body_bytes = 300; /* not padded */
    assert_int_equal(decode_shape(&s), KW_ERR_FORMAT);
    s.body_len = (uint64_t)KW_ENVELOPE_BODY_MAXBYTES + KW_PAYLOAD_PADBYTES;
    s.body_bytes = 16;
    assert_int_equal(decode_shape(&s), KW_ERR_TOO_LARGE);
    s.body_len = 0xffffffffu;
    assert_int_equal(decode_shape(&s), KW_ERR_TOO_LARGE);
    s = OK_SHAPE;
    s.body_len = 512 + 16; /* claims more than is there */
    assert_int_equal(decode_shape(&s), KW_ERR_TRUNCATED);
    /* the largest envelope decodes; one byte over the maximum does not */
    s = OK_SHAPE;
    s.sender_len = s.recipient_len = 64;
    s.type_len = 32;
    s.type = "abcdefghijklmnopqrstuvwxyz-01234";
    s.nwraps = KW_ENVELOPE_WRAPS_MAX;
    s.body_len = s.body_bytes = KW_ENVELOPE_BODY_MAXBYTES;
    size_t len = 0;
    uint8_t *b = build(&s, &len);
    assert_int_equal(len, KW_ENVELOPE_MAXBYTES);
    kw_envelope *e = malloc(sizeof(*e));
    assert_int_equal(kw_envelope_decode(e, b, len), KW_OK);
    b = realloc(b, len + 1);
    assert_int_equal(kw_envelope_decode(e, b, len + 1), KW_ERR_TOO_LARGE);
    free(e);
    free(b);
}

static void test_seal_arguments(void **state)
{
    fx *f = *state;
    uint8_t *out = NULL;
    size_t n = 0;
    kw_envelope_recipient two[2] = {f->rc[0], f->rc[0]};
    assert_int_equal(kw_envelope_seal(&out, &n, &f->p, two, 2, f->s_sk, f->s_pk, f->id, f->payload,
                                      f->plen),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_envelope_seal(&out, &n, &f->p, f->rc, 0, f->s_sk, f->s_pk, f->id, f->payload,
                                      f->plen),
                     KW_ERR_INVALID_ARG);
    kw_envelope_params p = f->p;
    p.type = "no spaces";
    assert_int_equal(kw_envelope_seal(&out, &n, &p, f->rc, 1, f->s_sk, f->s_pk, f->id, f->payload,
                                      f->plen),
                     KW_ERR_INVALID_ARG);
    p = f->p;
    p.recipient = "";
    assert_int_equal(kw_envelope_seal(&out, &n, &p, f->rc, 1, f->s_sk, f->s_pk, f->id, f->payload,
                                      f->plen),
                     KW_ERR_INVALID_ARG);
    /* an unpadded payload */
    assert_int_equal(kw_envelope_seal(&out, &n, &f->p, f->rc, 1, f->s_sk, f->s_pk, f->id, f->payload,
                                      f->plen - 1),
                     KW_ERR_INVALID_ARG);
    assert_null(out);
    assert_true(kw_envelope_name_ok("alice@example.org"));
    assert_false(kw_envelope_name_ok("al ice"));
    assert_true(kw_envelope_type_ok("sas-reveal"));
    assert_false(kw_envelope_type_ok("sas_reveal"));
}

static void test_payload(void **state)
{
    (void)state;
    uint8_t *p = NULL, head[KW_PAYLOAD_HEADBYTES];
    size_t n = 0, cl = 0;
    const uint8_t *content = NULL;
    bool has_head = true;
    /* no head, empty content: one pad unit */
    assert_int_equal(kw_payload_encode(&p, &n, NULL, NULL, 0), KW_OK);
    assert_int_equal(n, KW_PAYLOAD_PADBYTES);
    assert_int_equal(kw_payload_decode(p, n, &has_head, head, &content, &cl), KW_OK);
    assert_false(has_head);
    assert_int_equal(cl, 0);
    p[n - 1] = 1; /* non-zero padding */
    assert_int_equal(kw_payload_decode(p, n, &has_head, head, &content, &cl), KW_ERR_FORMAT);
    p[n - 1] = 0;
    p[0] = 2; /* unknown flag */
    assert_int_equal(kw_payload_decode(p, n, &has_head, head, &content, &cl), KW_ERR_FORMAT);
    p[0] = 0;
    p[4] = 255; /* content length beyond the end */
    assert_int_equal(kw_payload_decode(p, n, &has_head, head, &content, &cl), KW_ERR_TRUNCATED);
    p[4] = 0;
    assert_int_equal(kw_payload_decode(p, n - 1, &has_head, head, &content, &cl), KW_ERR_FORMAT);
    free(p);
    /* a length that leaves a whole pad unit of zeros is not canonical */
    uint8_t big[512] = {0};
    big[4] = 1; /* content length 1 in a 512-byte payload */
    assert_int_equal(kw_payload_decode(big, sizeof(big), &has_head, head, &content, &cl), KW_ERR_FORMAT);
    /* the content limit */
    uint8_t *huge = calloc(1, KW_PAYLOAD_CONTENT_MAXBYTES + 1);
    assert_int_equal(kw_payload_encode(&p, &n, NULL, huge, KW_PAYLOAD_CONTENT_MAXBYTES + 1),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_payload_encode(&p, &n, head, huge, KW_PAYLOAD_CONTENT_MAXBYTES), KW_OK);
    assert_int_equal(n, KW_PAYLOAD_MAXBYTES);
    assert_int_equal(kw_payload_decode(p, n, &has_head, NULL, &content, &cl), KW_OK);
    assert_true(has_head);
    assert_int_equal(cl, KW_PAYLOAD_CONTENT_MAXBYTES);
    free(p);
    free(huge);
}

static void test_prekey(void **state)
{
    fx *f = *state;
    uint8_t raw[KW_PREKEY_BYTES], copy[KW_PREKEY_BYTES];
    kw_prekey pk = {.prekey_id = 5, .created_ms = 42}, out;
    randombytes_buf(pk.device_id, 16);
    memcpy(pk.pk, f->r_pk[1], 32);
    assert_int_equal(kw_prekey_sign(raw, &pk, f->id), KW_OK);
    assert_int_equal(kw_prekey_open(&out, raw, sizeof(raw), f->id_pk), KW_OK);
    assert_int_equal(out.prekey_id, 5);
    assert_int_equal(out.created_ms, 42);
    assert_memory_equal(out.pk, pk.pk, 32);
    assert_memory_equal(out.device_id, pk.device_id, 16);
    for (size_t i = 0; i < sizeof(raw); i++) {
        memcpy(copy, raw, sizeof(raw));
        copy[i] ^= 0x04;
        if (kw_prekey_open(&out, copy, sizeof(copy), f->id_pk) == KW_OK)
            fail_msg("prekey byte %zu flipped still verifies", i);
    }
    kw_sign_key *other = NULL;
    uint8_t opk[32];
    assert_int_equal(kw_sign_key_new(&other), KW_OK);
    kw_sign_key_public(other, opk);
    assert_int_equal(kw_prekey_open(&out, raw, sizeof(raw), opk), KW_ERR_VERIFY);
    kw_sign_key_free(&other);
    assert_int_equal(kw_prekey_open(&out, raw, sizeof(raw) - 1, f->id_pk), KW_ERR_TRUNCATED);
    uint8_t longer[KW_PREKEY_BYTES + 1] = {0};
    memcpy(longer, raw, sizeof(raw));
    assert_int_equal(kw_prekey_open(&out, longer, sizeof(longer), f->id_pk), KW_ERR_TOO_LARGE);
    pk.prekey_id = 0;
    assert_int_equal(kw_prekey_sign(raw, &pk, f->id), KW_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test(test_layout_and_limits),
        cmocka_unit_test_setup_teardown(test_seal_arguments, setup, teardown),
        cmocka_unit_test(test_payload),
        cmocka_unit_test_setup_teardown(test_prekey, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
