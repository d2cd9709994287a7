/*
 * keyward/envelope.h — wire formats of end-to-end messages: the signed
 * envelope ("KWM1"), the payload inside it, and the signed device prekey
 * ("KWP1"). The server and the client share this one codec.
 *
 * Envelope (big-endian, every field fixed or length-prefixed):
 *
 *   "KWM1" ‖ id[16] ‖ u64 timestamp_ms ‖ u8 len ‖ sender account ‖
 *   sender_device[16] ‖ u8 len ‖ recipient account ‖ u8 len ‖ type ‖
 *   nonce[24]                                             (= the header)
 *   ‖ u16 n ‖ n × (device_id[16] ‖ u32 prekey_id ‖ wrap[80])
 *   ‖ u32 body_len ‖ body ‖ sig[64]
 *
 *   K     = 32 random bytes (the message key), one per message
 *   hh    = SHA-256("keyward/msg/header/v1" ‖ header)
 *   body  = XChaCha20-Poly1305(K, nonce, aad = hh, payload)
 *   wrap  = HPKE auth mode single-shot seal of K (enc ‖ ct, 80 bytes) to the
 *           device's key prekey_id (0: its roster HPKE key), sender key =
 *           the sending device's roster HPKE key, info
 *           "keyward/msg/wrap/v1", aad = hh ‖ device_id ‖ u32 prekey_id
 *   sig   = kw_sign(sender device identity key, ctx "message",
 *                   everything before sig)
 *
 * Payload (the plaintext of body):
 *
 *   u8 flags (bit 0: a tree head follows) ‖ [head[152]] ‖ u32 len ‖
 *   content ‖ zero padding to a multiple of KW_PAYLOAD_PADBYTES
 *
 * Prekey:
 *
 *   "KWP1" ‖ device_id[16] ‖ u32 prekey_id ‖ u64 created_ms ‖ pk[32] ‖ sig[64]
 *   sig = kw_sign(device identity key, ctx "prekey", everything before sig)
 *
 * Limits: account names 1..64 bytes of printable ASCII (0x21..0x7e);
 * type 1..32 bytes of [a-z0-9-]; 1..KW_ENVELOPE_WRAPS_MAX wraps with
 * distinct device ids; body 16..KW_ENVELOPE_BODY_MAXBYTES bytes and a
 * multiple of the padding plus the tag; prekey_id >= 1 in a prekey; content
 * up to KW_PAYLOAD_CONTENT_MAXBYTES; nothing after sig; non-zero padding is
 * refused. Decoding is strict (one encoding per value).
 *
 * Errors: KW_ERR_TRUNCATED (input ends early), KW_ERR_TOO_LARGE (a length
 * over its limit, an input over the maximum, a short output), KW_ERR_FORMAT
 * (magic, names, type, counts, duplicate devices, padding, trailing bytes),
 * KW_ERR_VERIFY (signature, wrap or body does not authenticate),
 * KW_ERR_NOT_FOUND (no wrap for the device), KW_ERR_INVALID_ARG (arguments
 * outside the contract), KW_ERR_NOMEM.
 *
 * Thread safety: every function is stateless. Secret data: the message key
 * (wiped), payloads and contents (wiped from temporaries; a failed open
 * leaves no plaintext), the device HPKE secret keys passed in.
 */
#ifndef KEYWARD_ENVELOPE_H
#define KEYWARD_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/hpke.h"
#include "keyward/sign.h"

#define KW_ENVELOPE_MAGIC "KWM1"
#define KW_ENVELOPE_SIG_CONTEXT "message"
#define KW_ENVELOPE_WRAP_INFO "keyward/msg/wrap/v1"
#define KW_ENVELOPE_HEADER_LABEL "keyward/msg/header/v1"
#define KW_ENVELOPE_IDBYTES 16
#define KW_ENVELOPE_DEVICEBYTES 16
#define KW_ENVELOPE_KEYBYTES 32
#define KW_ENVELOPE_NONCEBYTES 24
#define KW_ENVELOPE_TAGBYTES 16
#define KW_ENVELOPE_WRAPBYTES (KW_HPKE_SEALBYTES + KW_ENVELOPE_KEYBYTES) /* 80 */
#define KW_ENVELOPE_NAME_MAXBYTES 64
#define KW_ENVELOPE_TYPE_MAXBYTES 32
#define KW_ENVELOPE_WRAPS_MAX 128 /* 64 recipient devices + 64 own */
#define KW_ENVELOPE_WRAP_ENTRYBYTES (KW_ENVELOPE_DEVICEBYTES + 4 + KW_ENVELOPE_WRAPBYTES)

#define KW_PAYLOAD_PADBYTES 256
#define KW_PAYLOAD_HEADBYTES 152 /* a signed tree head, keyward/kt.h KW_KT_HEADBYTES */
#define KW_PAYLOAD_CONTENT_MAXBYTES ((size_t)960 << 10) /* the envelope stays under 1 MiB */
#define KW_PAYLOAD_MAXBYTES                                                                        \
    ((1 + KW_PAYLOAD_HEADBYTES + 4 + KW_PAYLOAD_CONTENT_MAXBYTES + KW_PAYLOAD_PADBYTES - 1) /    \
     KW_PAYLOAD_PADBYTES * KW_PAYLOAD_PADBYTES)
#define KW_ENVELOPE_BODY_MAXBYTES (KW_PAYLOAD_MAXBYTES + KW_ENVELOPE_TAGBYTES)
#define KW_ENVELOPE_HEADER_MAXBYTES                                                                \
    (4 + 16 + 8 + 1 + KW_ENVELOPE_NAME_MAXBYTES + 16 + 1 + KW_ENVELOPE_NAME_MAXBYTES + 1 +        \
     KW_ENVELOPE_TYPE_MAXBYTES + KW_ENVELOPE_NONCEBYTES)
#define KW_ENVELOPE_MAXBYTES                                                                       \
    (KW_ENVELOPE_HEADER_MAXBYTES + 2 + KW_ENVELOPE_WRAPS_MAX * KW_ENVELOPE_WRAP_ENTRYBYTES + 4 +   \
     KW_ENVELOPE_BODY_MAXBYTES + KW_SIGN_BYTES)

#define KW_PREKEY_MAGIC "KWP1"
#define KW_PREKEY_SIG_CONTEXT "prekey"
#define KW_PREKEY_BYTES (4 + 16 + 4 + 8 + 32 + KW_SIGN_BYTES) /* 128 */

typedef struct {
    uint8_t device_id[KW_ENVELOPE_DEVICEBYTES];
    uint32_t prekey_id; /* 0: the device's roster HPKE key */
    uint8_t wrap[KW_ENVELOPE_WRAPBYTES];
} kw_envelope_wrap;

/* A decoded envelope. body points into the decoded input (valid while the
 * input is). */
typedef struct {
    uint8_t id[KW_ENVELOPE_IDBYTES];
    uint64_t timestamp_ms;
    char sender[KW_ENVELOPE_NAME_MAXBYTES + 1];    /* NUL-terminated */
    uint8_t sender_device[KW_ENVELOPE_DEVICEBYTES];
    char recipient[KW_ENVELOPE_NAME_MAXBYTES + 1]; /* NUL-terminated */
    char type[KW_ENVELOPE_TYPE_MAXBYTES + 1];      /* NUL-terminated */
    uint8_t nonce[KW_ENVELOPE_NONCEBYTES];
    uint16_t nwraps;
    kw_envelope_wrap wraps[KW_ENVELOPE_WRAPS_MAX];
    const uint8_t *body;
    size_t body_len;
    uint8_t header_hash[32]; /* hh, computed by decode */
    size_t signed_len;       /* bytes covered by sig */
    uint8_t sig[KW_SIGN_BYTES];
} kw_envelope;

/* One device an envelope is sealed to. */
typedef struct {
    uint8_t device_id[KW_ENVELOPE_DEVICEBYTES];
    uint32_t prekey_id;                     /* 0: pk is the roster HPKE key */
    uint8_t pk[KW_HPKE_PUBLICKEYBYTES];     /* the key to wrap to */
} kw_envelope_recipient;

/* What the sender fills in before sealing. */
typedef struct {
    uint8_t id[KW_ENVELOPE_IDBYTES]; /* fresh random per message */
    uint64_t timestamp_ms;
    const char *sender;
    uint8_t sender_device[KW_ENVELOPE_DEVICEBYTES];
    const char *recipient;
    const char *type;
} kw_envelope_params;

/* Checks an account name / a type against the limits above: true when ok. */
bool kw_envelope_name_ok(const char *name);
bool kw_envelope_type_ok(const char *type);

/* Encrypts payload[0..len) once under a fresh message key, wraps the key to
 * every recipient (HPKE auth mode from sender_hpke_sk), signs with the
 * device identity key and returns the envelope in *out (malloc'd,
 * *out_len). 1..KW_ENVELOPE_WRAPS_MAX distinct recipients; payload is an
 * encoded payload (kw_payload_encode). */
int kw_envelope_seal(uint8_t **out, size_t *out_len, const kw_envelope_params *p,
                     const kw_envelope_recipient *rcpt, size_t nrcpt,
                     const uint8_t sender_hpke_sk[static KW_HPKE_SECRETKEYBYTES],
                     const uint8_t sender_hpke_pk[static KW_HPKE_PUBLICKEYBYTES],
                     const kw_sign_key *identity, const uint8_t *payload, size_t len);

/* Strict decode WITHOUT any check of the signature or the crypto: the
 * server uses it to route, the client before kw_envelope_verify. env is
 * zeroed on error. */
__attribute__((warn_unused_result))
int kw_envelope_decode(kw_envelope *env, const uint8_t *in, size_t len);

/* Verifies the signature of a decoded envelope (in/len: the same bytes it
 * was decoded from) under the sender device's identity key: 0 or
 * KW_ERR_VERIFY. */
__attribute__((warn_unused_result))
int kw_envelope_verify(const kw_envelope *env, const uint8_t *in, size_t len,
                       const uint8_t identity_pk[static KW_SIGN_PUBLICKEYBYTES]);

/* The wrap for device_id, or NULL. */
const kw_envelope_wrap *kw_envelope_find(const kw_envelope *env,
                                         const uint8_t device_id[static KW_ENVELOPE_DEVICEBYTES]);

/* Opens the wrap w of env with the recipient key (sk, pk: the key of
 * w->prekey_id) and the sender's roster HPKE key, then the body: *payload
 * (malloc'd, wipe before free) and *len. KW_ERR_VERIFY when the wrap or the
 * body does not authenticate; nothing is returned then. Does NOT check the
 * signature (kw_envelope_verify). */
__attribute__((warn_unused_result))
int kw_envelope_open(uint8_t **payload, size_t *len, const kw_envelope *env,
                     const kw_envelope_wrap *w, const uint8_t sk[static KW_HPKE_SECRETKEYBYTES],
                     const uint8_t pk[static KW_HPKE_PUBLICKEYBYTES],
                     const uint8_t sender_hpke_pk[static KW_HPKE_PUBLICKEYBYTES]);

/* Encodes a payload: head (NULL for none, else KW_PAYLOAD_HEADBYTES bytes)
 * and content, padded. *out malloc'd (wipe before free), *out_len. */
int kw_payload_encode(uint8_t **out, size_t *out_len, const uint8_t *head, const uint8_t *content,
                      size_t content_len);

/* Decodes a payload strictly: *has_head and head (KW_PAYLOAD_HEADBYTES,
 * may be NULL when not wanted), *content pointing into in and its length. */
__attribute__((warn_unused_result))
int kw_payload_decode(const uint8_t *in, size_t len, bool *has_head,
                      uint8_t head[KW_PAYLOAD_HEADBYTES], const uint8_t **content,
                      size_t *content_len);

/* A decoded prekey. */
typedef struct {
    uint8_t device_id[KW_ENVELOPE_DEVICEBYTES];
    uint32_t prekey_id;
    uint64_t created_ms;
    uint8_t pk[KW_HPKE_PUBLICKEYBYTES];
    uint8_t sig[KW_SIGN_BYTES];
} kw_prekey;

/* Encodes and signs a prekey into out (KW_PREKEY_BYTES). prekey_id >= 1,
 * pk not all zero. */
int kw_prekey_sign(uint8_t out[static KW_PREKEY_BYTES], const kw_prekey *pk,
                   const kw_sign_key *identity);

/* Decodes exactly KW_PREKEY_BYTES and verifies the signature under
 * identity_pk. pk zeroed on error. */
__attribute__((warn_unused_result))
int kw_prekey_open(kw_prekey *pk, const uint8_t *in, size_t len,
                   const uint8_t identity_pk[static KW_SIGN_PUBLICKEYBYTES]);

/* Decodes without the signature check (the server reads the device id
 * first; then kw_prekey_open with that device's key). */
__attribute__((warn_unused_result))
int kw_prekey_decode(kw_prekey *pk, const uint8_t *in, size_t len);

#endif
