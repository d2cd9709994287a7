/*
 * keyward/roster.h — the account's signed device roster (wire format "KWR1").
 *
 * A roster lists the devices an account trusts, with their public keys and
 * the account's CKV / ADP switches, and is signed by the account key. It is
 * the value the key-transparency log publishes for the account, what the
 * server checks before it changes the device set, and what a receiving
 * device consults to decide whether a KK wrap came from a trusted device.
 *
 * Encoding (big-endian, no padding, every field fixed or length-prefixed):
 *
 *   "KWR1" ‖ u64 version ‖ u8 len ‖ account name ‖ account_pk[32] ‖ u8 flags ‖
 *   u16 n ‖ n × (id[16] ‖ identity_pk[32] ‖ hpke_pk[32] ‖ u8 len ‖ name) ‖
 *   sig[64]
 *
 *   sig = kw_sign(account key, ctx "roster", everything before sig)
 *
 * Limits: version >= 1; account name 1..64 bytes; device names 0..64 bytes;
 * names hold no control bytes (0x00-0x1f, 0x7f); flags only bit 0 (CKV on)
 * and bit 1 (ADP on); 1..64 devices; no two devices share an id, identity
 * key or HPKE key; account_pk and identity keys are valid Ed25519 keys
 * (kw_sign_pk_validate); HPKE keys are not all zero; nothing follows sig.
 * Decoding is strict, so each kw_roster has exactly one encoding (verify
 * re-encodes the struct and checks the signature over those bytes).
 *
 * Owns nothing: kw_roster is a plain struct of fixed arrays (about 9.5 KiB),
 * no allocation. All functions are thread-safe on distinct outputs.
 *
 * Errors: KW_ERR_TRUNCATED when the input ends early; KW_ERR_TOO_LARGE when
 * the input exceeds KW_ROSTER_MAXBYTES or a length/count field exceeds its
 * limit (names over 64 bytes, over 64 devices) or an output buffer is short;
 * KW_ERR_FORMAT for a wrong magic, unknown flag bits, version 0, an empty
 * account name, zero devices, control bytes in a name, an invalid key, a
 * duplicate device and trailing bytes; KW_ERR_VERIFY when the signature does
 * not verify under the expected account key or the roster carries another
 * account key; KW_ERR_INVALID_ARG for a struct outside the limits passed to
 * encode or a signing key that is not the roster's account key.
 *
 * Secret data: none (the account signing key stays inside kw_sign_key).
 */
#ifndef KEYWARD_ROSTER_H
#define KEYWARD_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward/sign.h"

#define KW_ROSTER_MAGIC "KWR1"
#define KW_ROSTER_SIG_CONTEXT "roster"
#define KW_ROSTER_IDBYTES 16
#define KW_ROSTER_PUBLICKEYBYTES 32
#define KW_ROSTER_NAME_MAXBYTES 64
#define KW_ROSTER_DEVICE_NAME_MAXBYTES 64
#define KW_ROSTER_DEVICES_MAX 64

#define KW_ROSTER_FLAG_CKV 0x01u /* Contact Key Verification on */
#define KW_ROSTER_FLAG_ADP 0x02u /* Advanced Data Protection on */
#define KW_ROSTER_FLAGS_KNOWN (KW_ROSTER_FLAG_CKV | KW_ROSTER_FLAG_ADP)

/* Fixed sizes of the encoding. */
#define KW_ROSTER_DEVICE_FIXEDBYTES (16 + 32 + 32 + 1)
#define KW_ROSTER_MINBYTES (4 + 8 + 1 + 1 + 32 + 1 + 2 + KW_ROSTER_DEVICE_FIXEDBYTES + KW_SIGN_BYTES)
#define KW_ROSTER_MAXBYTES                                                                         \
    (4 + 8 + 1 + KW_ROSTER_NAME_MAXBYTES + 32 + 1 + 2 +                                            \
     KW_ROSTER_DEVICES_MAX * (KW_ROSTER_DEVICE_FIXEDBYTES + KW_ROSTER_DEVICE_NAME_MAXBYTES) +      \
     KW_SIGN_BYTES)

typedef struct {
    uint8_t id[KW_ROSTER_IDBYTES];
    uint8_t identity_pk[KW_ROSTER_PUBLICKEYBYTES]; /* Ed25519 */
    uint8_t hpke_pk[KW_ROSTER_PUBLICKEYBYTES];     /* X25519 */
    uint8_t name_len;
    char name[KW_ROSTER_DEVICE_NAME_MAXBYTES + 1]; /* NUL-terminated copy */
} kw_roster_device;

typedef struct {
    uint64_t version;
    uint8_t name_len;
    char name[KW_ROSTER_NAME_MAXBYTES + 1]; /* account name, NUL-terminated copy */
    uint8_t account_pk[KW_ROSTER_PUBLICKEYBYTES];
    uint8_t flags;
    uint16_t ndevices;
    kw_roster_device devices[KW_ROSTER_DEVICES_MAX];
    uint8_t sig[KW_SIGN_BYTES]; /* set by decode; ignored by encode */
} kw_roster;

/* The devices added, removed and re-keyed (same id, other identity or HPKE
 * key) between two rosters; device names are labels and not compared. */
typedef struct {
    size_t nadded, nremoved, nchanged;
    uint8_t added[KW_ROSTER_DEVICES_MAX][KW_ROSTER_IDBYTES];
    uint8_t removed[KW_ROSTER_DEVICES_MAX][KW_ROSTER_IDBYTES];
    uint8_t changed[KW_ROSTER_DEVICES_MAX][KW_ROSTER_IDBYTES];
} kw_roster_changes;

/* Sets the account part of r (version, account name, account_pk, flags) and
 * empties its device list. KW_ERR_INVALID_ARG for a name outside 1..64
 * bytes or with control bytes, version 0 or unknown flags; r is zeroed on
 * error. */
int kw_roster_init(kw_roster *r, uint64_t version, const char *account_name,
                   const uint8_t account_pk[static KW_ROSTER_PUBLICKEYBYTES], uint8_t flags);

/* Appends a device (name may be NULL for none). KW_ERR_LIMIT when the roster
 * is full, KW_ERR_CONFLICT when the id or a key is already listed,
 * KW_ERR_INVALID_ARG for a bad name or key; r is unchanged on error. */
int kw_roster_add(kw_roster *r, const uint8_t id[static KW_ROSTER_IDBYTES],
                  const uint8_t identity_pk[static KW_ROSTER_PUBLICKEYBYTES],
                  const uint8_t hpke_pk[static KW_ROSTER_PUBLICKEYBYTES], const char *name);

/* Removes the device with this id, keeping the order of the others.
 * KW_ERR_NOT_FOUND when it is not listed. */
int kw_roster_remove(kw_roster *r, const uint8_t id[static KW_ROSTER_IDBYTES]);

/* The size of r's encoding (0 when r is outside the limits). */
size_t kw_roster_encoded_len(const kw_roster *r);

/* Encodes r and signs it with the account key into out[0..*out_len).
 * The key's public key must equal r->account_pk (KW_ERR_INVALID_ARG
 * otherwise, as for any r outside the limits); KW_ERR_TOO_LARGE when
 * out_cap is short (KW_ROSTER_MAXBYTES always suffices). out is zeroed on
 * error. */
int kw_roster_encode(uint8_t *out, size_t out_cap, size_t *out_len, const kw_roster *r,
                     const kw_sign_key *account_key);

/* Decodes and verifies in one step: a roster that parses strictly and is
 * signed by account_pk, the key it also carries. This is the function to use
 * before trusting anything in a roster. r is zeroed on error. */
__attribute__((warn_unused_result))
int kw_roster_open(kw_roster *r, const uint8_t *in, size_t in_len,
                   const uint8_t account_pk[static KW_ROSTER_PUBLICKEYBYTES]);

/* Decodes strictly WITHOUT checking the signature: for display and
 * diagnostics only (for example showing what a rejected roster claimed).
 * Nothing in r may be trusted until kw_roster_verify succeeds. r is zeroed
 * on error. */
__attribute__((warn_unused_result))
int kw_roster_decode_unverified(kw_roster *r, const uint8_t *in, size_t in_len);

/* Verifies a decoded roster: r->sig over r's encoding under account_pk, and
 * r->account_pk equal to account_pk. 0 or KW_ERR_VERIFY (KW_ERR_FORMAT for
 * a struct outside the limits, KW_ERR_NOMEM). */
__attribute__((warn_unused_result))
int kw_roster_verify(const kw_roster *r, const uint8_t account_pk[static KW_ROSTER_PUBLICKEYBYTES]);

/* The device with this id, or NULL. */
const kw_roster_device *kw_roster_find(const kw_roster *r, const uint8_t id[static KW_ROSTER_IDBYTES]);

/* The device whose HPKE public key is hpke_pk, or NULL (a receiving device
 * uses it to check that a KK wrap's sender is in the signed roster). */
const kw_roster_device *kw_roster_find_hpke(const kw_roster *r,
                                            const uint8_t hpke_pk[static KW_ROSTER_PUBLICKEYBYTES]);

/* Fills d with the devices of to_r that from_r lacks (added), of from_r that
 * to_r lacks (removed), and listed in both with other keys (changed), each
 * in the order of the roster it comes from. Cannot fail. */
void kw_roster_diff(kw_roster_changes *d, const kw_roster *from_r, const kw_roster *to_r);

#endif
