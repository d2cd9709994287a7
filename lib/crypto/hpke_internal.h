/*
 * hpke_internal.h — HPKE internals shared with the tests only.
 *
 * The context layout, a deterministic sender setup (the ephemeral key is
 * given, as RFC 9180's test vectors need), the key-schedule intermediates,
 * and a way to move the sequence number. Nothing here is part of the public
 * API; applications never choose their own ephemeral key or sequence number.
 */
#ifndef KEYWARD_LIB_CRYPTO_HPKE_INTERNAL_H
#define KEYWARD_LIB_CRYPTO_HPKE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/hpke.h"

#define HPKE_ROLE_SENDER 1
#define HPKE_ROLE_RECEIVER 2

/* 1 + psk_id_hash + info_hash */
#define HPKE_KSC_BYTES (1 + 2 * KW_HPKE_SECRETBYTES)

struct kw_hpke_ctx {
    uint8_t key[KW_HPKE_KEYBYTES];
    uint8_t base_nonce[KW_HPKE_NONCEBYTES];
    uint8_t exporter_secret[KW_HPKE_SECRETBYTES];
    uint64_t seq;
    int role;
};

/* Intermediates of one setup, for the known-answer tests. Secret. */
typedef struct {
    uint8_t shared_secret[KW_HPKE_SECRETBYTES];
    uint8_t key_schedule_context[HPKE_KSC_BYTES];
    uint8_t secret[KW_HPKE_SECRETBYTES];
} hpke_trace;

/* Sender setup into a caller-owned context with the ephemeral key pair
 * (skE, pkE) given; trace may be NULL. */
int hpke_setup_sender_derand(struct kw_hpke_ctx *ctx, uint8_t enc[static KW_HPKE_ENCBYTES],
                             const uint8_t pkR[static KW_HPKE_PUBLICKEYBYTES],
                             const kw_hpke_params *p,
                             const uint8_t skE[static KW_HPKE_SECRETKEYBYTES],
                             const uint8_t pkE[static KW_HPKE_PUBLICKEYBYTES],
                             hpke_trace *trace);

/* Receiver setup into a caller-owned context; trace may be NULL. */
int hpke_setup_receiver_into(struct kw_hpke_ctx *ctx, const uint8_t enc[static KW_HPKE_ENCBYTES],
                             const uint8_t skR[static KW_HPKE_SECRETKEYBYTES],
                             const uint8_t *pkR, const kw_hpke_params *p, hpke_trace *trace);

/* The nonce the next seal/open will use. */
void hpke_ctx_nonce(const struct kw_hpke_ctx *ctx, uint8_t nonce[static KW_HPKE_NONCEBYTES]);

/* Test-only: moves the sequence number (RFC vectors use seq 0..256). */
void hpke_ctx_set_seq(struct kw_hpke_ctx *ctx, uint64_t seq);

#endif
