/* Unit tests for expand_message_xmd and the OPRF/VOPRF/POPRF: limits,
 * round trips, and refusal of invalid elements, scalars and proofs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "keyward/h2c.h"
#include "keyward/keyward.h"
#include "keyward/oprf.h"

static const uint8_t dst_ok[] = "QUUX-V01-CS02-with-expander-SHA512-256";

/* An encoding above the field prime, and an odd ("negative") one. */
static const uint8_t noncanon_big[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
static const uint8_t noncanon_odd[32] = {1};
static const uint8_t identity[32] = {0};
/* The group order L, little-endian: not a reduced scalar. */
static const uint8_t order_l[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                    0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

static void test_xmd_limits(void **state)
{
    (void)state;
    static uint8_t out[KW_H2C_XMD_SHA512_MAXBYTES + 1];
    uint8_t dst[300];
    memset(dst, 'D', sizeof(dst));
    assert_int_equal(kw_h2c_expand_xmd_sha512(out, 64, (const uint8_t *)"m", 1, dst, 255), KW_OK);
    assert_int_equal(kw_h2c_expand_xmd_sha512(out, 64, (const uint8_t *)"m", 1, dst, 256),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_h2c_expand_xmd_sha512(out, 64, (const uint8_t *)"m", 1, dst, 0),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_h2c_expand_xmd_sha512(out, 64, (const uint8_t *)"m", 1, NULL, 0),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_h2c_expand_xmd_sha512(out, 0, NULL, 0, dst_ok, sizeof(dst_ok) - 1),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_h2c_expand_xmd_sha512(out, KW_H2C_XMD_SHA512_MAXBYTES, NULL, 0, dst_ok,
                                              sizeof(dst_ok) - 1),
                     KW_OK);
    assert_int_equal(kw_h2c_expand_xmd_sha512(out, KW_H2C_XMD_SHA512_MAXBYTES + 1, NULL, 0, dst_ok,
                                              sizeof(dst_ok) - 1),
                     KW_ERR_TOO_LARGE);
}

/* The output length is bound into the hash (no prefix property), the DST
 * separates domains, and a message in parts equals the whole message. */
static void test_xmd_properties(void **state)
{
    (void)state;
    uint8_t a[100], b[64], c[64], d[64];
    const uint8_t msg[] = "abcdef0123456789";
    assert_int_equal(kw_h2c_expand_xmd_sha512(a, sizeof(a), msg, 16, dst_ok, 10), KW_OK);
    assert_int_equal(kw_h2c_expand_xmd_sha512(b, sizeof(b), msg, 16, dst_ok, 10), KW_OK);
    assert_memory_not_equal(a, b, sizeof(b));
    assert_int_equal(kw_h2c_expand_xmd_sha512(c, sizeof(c), msg, 16, dst_ok, 11), KW_OK);
    assert_memory_not_equal(b, c, sizeof(b));
    const kw_h2c_part parts[] = {{msg, 3}, {NULL, 0}, {msg + 3, 13}};
    assert_int_equal(kw_h2c_expand_xmd_sha512_parts(d, sizeof(d), parts, 3, dst_ok, 10), KW_OK);
    assert_memory_equal(b, d, sizeof(b));
}

static void test_oprf_round_trip(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], blind[32], blinded[32], eval[32], out1[64], out2[64], direct[64];
    const uint8_t input[] = "correct horse";
    assert_int_equal(kw_oprf_keygen(sk, pk), KW_OK);
    assert_int_equal(kw_oprf_blind(blind, blinded, KW_OPRF_MODE_OPRF, input, sizeof(input)), KW_OK);
    assert_int_equal(kw_oprf_blind_evaluate(eval, sk, blinded), KW_OK);
    assert_int_equal(kw_oprf_finalize(out1, input, sizeof(input), blind, eval), KW_OK);
    /* a second, differently blinded run gives the same PRF value */
    assert_int_equal(kw_oprf_blind(blind, blinded, KW_OPRF_MODE_OPRF, input, sizeof(input)), KW_OK);
    assert_int_equal(kw_oprf_blind_evaluate(eval, sk, blinded), KW_OK);
    assert_int_equal(kw_oprf_finalize(out2, input, sizeof(input), blind, eval), KW_OK);
    assert_memory_equal(out1, out2, 64);
    assert_int_equal(kw_oprf_evaluate(direct, sk, input, sizeof(input)), KW_OK);
    assert_memory_equal(out1, direct, 64);
    /* another key gives another value */
    uint8_t sk2[32], pk2[32];
    assert_int_equal(kw_oprf_keygen(sk2, pk2), KW_OK);
    assert_int_equal(kw_oprf_evaluate(out2, sk2, input, sizeof(input)), KW_OK);
    assert_memory_not_equal(out1, out2, 64);
}

static void test_derive_keypair(void **state)
{
    (void)state;
    uint8_t seed[32] = {7}, sk1[32], sk2[32], pk[32], pk_chk[32];
    assert_int_equal(kw_oprf_derive_keypair(sk1, pk, KW_OPRF_MODE_VOPRF, seed, (const uint8_t *)"a", 1), KW_OK);
    assert_int_equal(crypto_scalarmult_ristretto255_base(pk_chk, sk1), 0);
    assert_memory_equal(pk, pk_chk, 32);
    assert_int_equal(kw_oprf_derive_keypair(sk2, NULL, KW_OPRF_MODE_VOPRF, seed, (const uint8_t *)"b", 1), KW_OK);
    assert_memory_not_equal(sk1, sk2, 32);
    assert_int_equal(kw_oprf_derive_keypair(sk2, NULL, KW_OPRF_MODE_OPRF, seed, (const uint8_t *)"a", 1), KW_OK);
    assert_memory_not_equal(sk1, sk2, 32); /* the mode is in the DST */
    assert_int_equal(kw_oprf_derive_keypair(sk2, NULL, 3, seed, NULL, 0), KW_ERR_INVALID_ARG);
}

static void test_invalid_elements_refused(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], eval[32], out[64], blind[32], blinded[32];
    assert_int_equal(kw_oprf_keygen(sk, pk), KW_OK);
    assert_int_equal(kw_oprf_blind_evaluate(eval, sk, noncanon_big), KW_ERR_FORMAT);
    assert_int_equal(kw_oprf_blind_evaluate(eval, sk, noncanon_odd), KW_ERR_FORMAT);
    assert_int_equal(kw_oprf_blind_evaluate(eval, sk, identity), KW_ERR_CRYPTO);
    assert_true(sodium_is_zero(eval, 32));
    assert_int_equal(kw_oprf_blind(blind, blinded, KW_OPRF_MODE_OPRF, (const uint8_t *)"x", 1), KW_OK);
    assert_int_equal(kw_oprf_finalize(out, (const uint8_t *)"x", 1, blind, noncanon_big), KW_ERR_FORMAT);
    assert_int_equal(kw_oprf_finalize(out, (const uint8_t *)"x", 1, blind, identity), KW_ERR_CRYPTO);
    assert_true(sodium_is_zero(out, 64));
    assert_false(kw_oprf_element_is_valid(identity));
    assert_false(kw_oprf_element_is_valid(noncanon_big));
    assert_true(kw_oprf_element_is_valid(pk));
    uint8_t tweaked[32];
    assert_int_equal(kw_poprf_tweak_key(tweaked, identity, NULL, 0), KW_ERR_CRYPTO);
    assert_int_equal(kw_poprf_tweak_key(tweaked, noncanon_odd, NULL, 0), KW_ERR_FORMAT);
}

static void test_bad_scalars_and_args(void **state)
{
    (void)state;
    uint8_t blinded[32], zero[32] = {0}, sk[32], pk[32], eval[32], proof[64];
    static uint8_t big[KW_OPRF_INPUT_MAXBYTES + 1];
    assert_int_equal(kw_oprf_blind_det(order_l, blinded, KW_OPRF_MODE_OPRF, (const uint8_t *)"x", 1),
                     KW_ERR_FORMAT);
    assert_int_equal(kw_oprf_blind_det(zero, blinded, KW_OPRF_MODE_OPRF, (const uint8_t *)"x", 1),
                     KW_ERR_CRYPTO);
    assert_int_equal(kw_oprf_blind(sk, blinded, KW_OPRF_MODE_OPRF, big, sizeof(big)), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_oprf_blind(sk, blinded, 7, big, 1), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_oprf_keygen(sk, pk), KW_OK);
    assert_int_equal(kw_oprf_blind_evaluate(eval, zero, pk), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_oprf_blind_evaluate(eval, order_l, pk), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_voprf_blind_evaluate(eval, proof, sk, pk, pk, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_voprf_blind_evaluate(eval, proof, sk, pk, pk, KW_OPRF_MAX_BATCH + 1),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_voprf_blind_evaluate_det(eval, proof, sk, pk, pk, 1, order_l),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_poprf_blind_evaluate(eval, proof, sk, pk, 1, big, sizeof(big)),
                     KW_ERR_TOO_LARGE);
}

#define N 3

typedef struct {
    uint8_t sk[32], pk[32];
    const uint8_t *inputs[N];
    size_t lens[N];
    uint8_t blinds[32 * N], blinded[32 * N], eval[32 * N], proof[64], out[64 * N];
} batch;

static void batch_setup(batch *b, int mode)
{
    static const char *words[N] = {"alpha", "beta", "gamma"};
    assert_int_equal(kw_oprf_keygen(b->sk, b->pk), KW_OK);
    for (size_t i = 0; i < N; i++) {
        b->inputs[i] = (const uint8_t *)words[i];
        b->lens[i] = strlen(words[i]);
        assert_int_equal(kw_oprf_blind(b->blinds + 32 * i, b->blinded + 32 * i, mode, b->inputs[i],
                                       b->lens[i]),
                         KW_OK);
    }
}

static void test_voprf_batch_and_tampering(void **state)
{
    (void)state;
    batch b;
    batch_setup(&b, KW_OPRF_MODE_VOPRF);
    assert_int_equal(kw_voprf_blind_evaluate(b.eval, b.proof, b.sk, b.pk, b.blinded, N), KW_OK);
    assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N,
                                       b.proof, b.pk),
                     KW_OK);
    /* each output equals the one-element batch's */
    uint8_t one[64], eval1[32], proof1[64];
    assert_int_equal(kw_voprf_blind_evaluate(eval1, proof1, b.sk, b.pk, b.blinded + 32, 1), KW_OK);
    assert_int_equal(kw_voprf_finalize(one, b.inputs + 1, b.lens + 1, b.blinds + 32, b.blinded + 32,
                                       eval1, 1, proof1, b.pk),
                     KW_OK);
    assert_memory_equal(one, b.out + 64, 64);

    /* a flipped bit anywhere in the proof */
    for (size_t i = 0; i < 64; i += 7) {
        uint8_t p[64];
        memcpy(p, b.proof, 64);
        p[i] ^= 0x01;
        assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N,
                                           p, b.pk),
                         KW_ERR_VERIFY);
        assert_true(sodium_is_zero(b.out, sizeof(b.out)));
    }
    /* an unreduced proof scalar */
    uint8_t p[64];
    memcpy(p, b.proof, 32);
    memcpy(p + 32, order_l, 32);
    assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N, p,
                                       b.pk),
                     KW_ERR_VERIFY);
    /* evaluations swapped between batch positions */
    uint8_t swapped[32 * N];
    memcpy(swapped, b.eval, sizeof(swapped));
    memcpy(swapped, b.eval + 32, 32);
    memcpy(swapped + 32, b.eval, 32);
    assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, swapped, N,
                                       b.proof, b.pk),
                     KW_ERR_VERIFY);
    /* evaluation by another key, proved against the expected key */
    uint8_t sk2[32], pk2[32];
    assert_int_equal(kw_oprf_keygen(sk2, pk2), KW_OK);
    assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N,
                                       b.proof, pk2),
                     KW_ERR_VERIFY);
    /* an invalid element in the batch */
    memcpy(swapped, b.eval, sizeof(swapped));
    memcpy(swapped + 64, identity, 32);
    assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, swapped, N,
                                       b.proof, b.pk),
                     KW_ERR_CRYPTO);
    memcpy(swapped + 64, noncanon_big, 32);
    assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, swapped, N,
                                       b.proof, b.pk),
                     KW_ERR_FORMAT);
}

static void test_poprf_batch_and_tampering(void **state)
{
    (void)state;
    batch b;
    const uint8_t info[] = "epoch 7", other[] = "epoch 8";
    uint8_t tweaked[32], out_b[64 * N];
    batch_setup(&b, KW_OPRF_MODE_POPRF);
    assert_int_equal(kw_poprf_tweak_key(tweaked, b.pk, info, sizeof(info)), KW_OK);
    assert_int_equal(kw_poprf_blind_evaluate(b.eval, b.proof, b.sk, b.blinded, N, info, sizeof(info)),
                     KW_OK);
    assert_int_equal(kw_poprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N,
                                       b.proof, info, sizeof(info), tweaked),
                     KW_OK);
    /* the client expecting other info refuses the proof */
    uint8_t tweaked2[32];
    assert_int_equal(kw_poprf_tweak_key(tweaked2, b.pk, other, sizeof(other)), KW_OK);
    assert_int_equal(kw_poprf_finalize(out_b, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N,
                                       b.proof, other, sizeof(other), tweaked2),
                     KW_ERR_VERIFY);
    uint8_t p[64];
    memcpy(p, b.proof, 64);
    p[40] ^= 0x80;
    assert_int_equal(kw_poprf_finalize(out_b, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N, p,
                                       info, sizeof(info), tweaked),
                     KW_ERR_VERIFY);
    /* a different info gives a different PRF */
    assert_int_equal(kw_poprf_blind_evaluate(b.eval, b.proof, b.sk, b.blinded, N, other, sizeof(other)),
                     KW_OK);
    assert_int_equal(kw_poprf_finalize(out_b, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N,
                                       b.proof, other, sizeof(other), tweaked2),
                     KW_OK);
    assert_memory_not_equal(b.out, out_b, 64);
}

/* The proof randomness changes the proof but not the evaluation. */
static void test_voprf_det_proof(void **state)
{
    (void)state;
    batch b;
    uint8_t r1[32] = {1}, r2[32] = {2}, e1[32 * N], p1[64], p2[64];
    batch_setup(&b, KW_OPRF_MODE_VOPRF);
    assert_int_equal(kw_voprf_blind_evaluate_det(e1, p1, b.sk, b.pk, b.blinded, N, r1), KW_OK);
    assert_int_equal(kw_voprf_blind_evaluate_det(b.eval, p2, b.sk, b.pk, b.blinded, N, r2), KW_OK);
    assert_memory_equal(e1, b.eval, sizeof(e1));
    assert_memory_not_equal(p1, p2, 64);
    assert_int_equal(kw_voprf_finalize(b.out, b.inputs, b.lens, b.blinds, b.blinded, b.eval, N, p1,
                                       b.pk),
                     KW_OK);
}

/* A zero proof randomness would make s = -c*sk, so anyone holding the proof
 * could solve for the server's key: it is refused in both modes. */
static void test_zero_proof_randomness_refused(void **state)
{
    (void)state;
    batch b;
    const uint8_t zero[32] = {0};
    uint8_t e[32 * N], proof[64];
    batch_setup(&b, KW_OPRF_MODE_VOPRF);
    memset(proof, 0x11, sizeof(proof));
    assert_int_equal(kw_voprf_blind_evaluate_det(e, proof, b.sk, b.pk, b.blinded, N, zero),
                     KW_ERR_INVALID_ARG);
    for (size_t i = 0; i < sizeof(proof); i++)
        assert_int_equal(proof[i], 0);
    batch_setup(&b, KW_OPRF_MODE_POPRF);
    memset(proof, 0x11, sizeof(proof));
    assert_int_equal(kw_poprf_blind_evaluate_det(e, proof, b.sk, b.blinded, N,
                                                 (const uint8_t *)"info", 4, zero),
                     KW_ERR_INVALID_ARG);
    for (size_t i = 0; i < sizeof(proof); i++)
        assert_int_equal(proof[i], 0);
}

/* Inputs over 2^16 - 1 bytes cannot be framed and are refused at every
 * entry point, hash_to_group included. */
static void test_input_length_limits(void **state)
{
    (void)state;
    static uint8_t big[KW_OPRF_INPUT_MAXBYTES + 1];
    uint8_t p[32], blind[32], blinded[32], out[64], sk[32], pk[32];
    memset(p, 0x77, sizeof(p));
    assert_int_equal(kw_oprf_hash_to_group(p, KW_OPRF_MODE_OPRF, big, sizeof(big)),
                     KW_ERR_TOO_LARGE);
    assert_true(kw_ct_is_zero(p, sizeof(p)));
    assert_int_equal(kw_oprf_hash_to_group(p, KW_OPRF_MODE_OPRF, big, sizeof(big) - 1), KW_OK);
    assert_int_equal(kw_oprf_blind(blind, blinded, KW_OPRF_MODE_OPRF, big, sizeof(big)),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_oprf_keygen(sk, pk), KW_OK);
    assert_int_equal(kw_oprf_evaluate(out, sk, big, sizeof(big)), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_oprf_blind(blind, blinded, KW_OPRF_MODE_OPRF, big, 16), KW_OK);
    assert_int_equal(kw_oprf_finalize(out, big, sizeof(big), blind, blinded), KW_ERR_TOO_LARGE);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xmd_limits),
        cmocka_unit_test(test_xmd_properties),
        cmocka_unit_test(test_oprf_round_trip),
        cmocka_unit_test(test_derive_keypair),
        cmocka_unit_test(test_invalid_elements_refused),
        cmocka_unit_test(test_bad_scalars_and_args),
        cmocka_unit_test(test_voprf_batch_and_tampering),
        cmocka_unit_test(test_poprf_batch_and_tampering),
        cmocka_unit_test(test_voprf_det_proof),
        cmocka_unit_test(test_zero_proof_randomness_refused),
        cmocka_unit_test(test_input_length_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
