/*
 * keyward/keychain.h — the client-side secrets formats: the sealed keychain,
 * KK (keychain key) wraps to devices, the KK generation chain, the recovery
 * key (code, wrap, sign-in proof) and the short code compared when a device
 * joins. All of them are opaque to the server, which stores and relays them.
 *
 * Formats (big-endian; "name" is the account name, 1..64 bytes, no length
 * prefix where the field is last or followed only by fixed-size fields):
 *
 *   keychain  = header ‖ XChaCha20-Poly1305(KK_g, nonce, ad = header ‖ name, plaintext)
 *   header    = "KWK1" ‖ u64 version ‖ u64 generation g ‖ nonce[24]         (44 bytes)
 *   plaintext = account seed[32] ‖ u16 count ‖ count × (u8 len ‖ item name ‖
 *               u32 len ‖ value)            (count ≤ 256, names 1..255 bytes
 *               without NUL, values ≤ 64 KiB, names unique, whole blob ≤ 1 MiB)
 *               [‖ services]                (format 2; absent in format 1)
 *   services  = "SVK1" ‖ u8 n ‖ n × service          (1 ≤ n ≤ 64; present only
 *               when there is at least one service key, so a keychain without
 *               service keys is byte-for-byte format 1 and format-1 keychains
 *               decode unchanged)
 *   service   = u8 len ‖ category ‖ u32 g ‖ key_g[32] ‖ (g-1) × svc chain
 *               (category 1..32 bytes of [a-z0-9-], not starting with '-',
 *               unique; 1 ≤ g ≤ 1024; chain entries for generations g, g-1, …, 2)
 *   svc chain = nonce[24] ‖ XChaCha20-Poly1305(key_h, nonce,
 *               ad = "keyward service chain v1" ‖ u8 len ‖ category ‖ u32 h,
 *               key_{h-1})                                             (72 bytes)
 *               the entry of generation h opens with key_h and yields key_{h-1}:
 *               whoever holds the current key (and the public chain) can walk
 *               back to every older generation, never forward. The decoder
 *               opens every chain entry (a keychain whose chain does not
 *               authenticate is KW_ERR_VERIFY).
 *   wrap      = HPKE auth mode (keyward/hpke.h single-shot, enc ‖ ct, 80 bytes)
 *               of KK from the approving device's HPKE key pair to the
 *               receiving device's HPKE key, empty aad,
 *               info = "keyward kk wrap v1" ‖ u8 len ‖ name ‖ u64 g ‖ receiver id[16]
 *   chain     = nonce[24] ‖ XChaCha20-Poly1305(KK_g, nonce,
 *               ad = "keyward kk chain v1" ‖ name ‖ u64 g, KK_{g-1})    (72 bytes)
 *   recovery  = nonce[24] ‖ XChaCha20-Poly1305(RWK, nonce, ad = name ‖ u64 g, KK_g)
 *               RWK  = HKDF-SHA256(salt "", recovery key, "keyward recovery wrap v1" ‖ name)
 *               auth = HKDF-SHA256(salt "", recovery key, "keyward recovery auth v1" ‖ name)
 *               proof = HMAC-SHA256(auth, login_id[16])   (what login/finish checks)
 *   code      = Crockford base32 of the 32-byte recovery key (52 characters,
 *               the last 4 bits zero) ‖ 4 characters of the first 20 bits of
 *               SHA-256(key), in 14 groups of 4 joined by '-'
 *   join code = 6 digits: u64 from the first 8 bytes of SHA-256("keyward-join-v1" ‖
 *               u8 len ‖ name ‖ device id[16] ‖ identity_pk[32] ‖ hpke_pk[32]) mod 10^6
 *
 * Owns: kw_keychain, the decrypted keychain (account key seed, items and
 * the per-category service keys with their chains),
 * kept in sodium_malloc'd memory (values in malloc'd blocks wiped before
 * they are freed) and wiped by kw_keychain_free. One keychain, one thread at
 * a time; every other function is stateless and thread-safe.
 *
 * Errors: KW_ERR_INVALID_ARG for arguments outside the contract (an account
 * name outside 1..64 bytes, version or generation 0, chain generation below
 * 2, an item name outside 1..255 bytes); KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE
 * / KW_ERR_FORMAT for malformed input, short output buffers (TOO_LARGE) and
 * wrong lengths; KW_ERR_VERIFY when a ciphertext does not authenticate (wrong
 * key, account, version, generation, device or sender) or a keychain's header
 * is not the expected version/generation; KW_ERR_CRYPTO for a low-order HPKE
 * key; KW_ERR_LIMIT for a 257th item; KW_ERR_NOT_FOUND; KW_ERR_NOMEM.
 *
 * Secret data: KK of every generation, service keys of every generation,
 * the keychain plaintext (account seed,
 * items), HPKE secret keys, the recovery key and its code, the recovery
 * wrapping key, recovery_auth and proofs. Outputs of failed opens/unwraps/
 * parses are zeroed; temporaries are wiped on every path. Headers, wraps,
 * chains, recovery wraps and join codes are public.
 */
#ifndef KEYWARD_KEYCHAIN_H
#define KEYWARD_KEYCHAIN_H

#include <stddef.h>
#include <stdint.h>

#define KW_KK_BYTES 32
#define KW_KEYCHAIN_MAGIC "KWK1"
#define KW_KEYCHAIN_NAME_MAXBYTES 64 /* account names, as in roster.h */
#define KW_KEYCHAIN_NONCEBYTES 24
#define KW_KEYCHAIN_TAGBYTES 16
#define KW_KEYCHAIN_HEADERBYTES (4 + 8 + 8 + KW_KEYCHAIN_NONCEBYTES)
#define KW_KEYCHAIN_MAXBYTES ((size_t)1 << 20) /* the whole sealed blob */
#define KW_KEYCHAIN_PLAINTEXT_MAXBYTES \
    (KW_KEYCHAIN_MAXBYTES - KW_KEYCHAIN_HEADERBYTES - KW_KEYCHAIN_TAGBYTES)
#define KW_KEYCHAIN_SEEDBYTES 32
#define KW_KEYCHAIN_ITEMS_MAX 256
#define KW_KEYCHAIN_ITEM_NAME_MAXBYTES 255
#define KW_KEYCHAIN_VALUE_MAXBYTES 65536

#define KW_KK_WRAPBYTES (32 + KW_KK_BYTES + 16)    /* enc ‖ ct ‖ tag */
#define KW_KK_CHAINBYTES (24 + KW_KK_BYTES + 16)   /* nonce ‖ ct ‖ tag */
#define KW_KK_DEVICE_IDBYTES 16
#define KW_KK_HPKE_KEYBYTES 32

#define KW_RECOVERY_KEYBYTES 32
#define KW_RECOVERY_AUTHBYTES 32
#define KW_RECOVERY_PROOFBYTES 32
#define KW_RECOVERY_LOGIN_IDBYTES 16
#define KW_RECOVERY_WRAPBYTES (24 + KW_KK_BYTES + 16)
#define KW_RECOVERY_WRAPKEYBYTES 32
#define KW_RECOVERY_RWK_ITEM "keyward.recovery.rwk" /* keychain item holding RWK */
#define KW_RECOVERY_CODE_CHARS 56                    /* without separators */
#define KW_RECOVERY_CODEBYTES (56 + 13 + 1)          /* 14 groups, 13 dashes, NUL */
#define KW_RECOVERY_CODE_INPUT_MAXBYTES 512

#define KW_JOIN_CODEBYTES 7 /* 6 digits and NUL */

#define KW_SVCKEY_BYTES 32
#define KW_SVCKEY_MAGIC "SVK1"
#define KW_SVCKEY_CATEGORY_MAXBYTES 32
#define KW_SVCKEY_CATEGORIES_MAX 64
#define KW_SVCKEY_GENERATIONS_MAX 1024
#define KW_SVCKEY_CHAINBYTES (24 + KW_SVCKEY_BYTES + 16)

typedef struct kw_keychain kw_keychain;

/* ---- the decrypted keychain ---- */

/* A keychain holding the account key seed and no items. KW_ERR_NOMEM; *kc
 * is NULL on failure. */
int kw_keychain_new(kw_keychain **kc, const uint8_t seed[static KW_KEYCHAIN_SEEDBYTES]);

/* Wipes and frees *kc, sets it to NULL; NULL is a no-op. */
void kw_keychain_free(kw_keychain **kc);

/* Copies the account key seed (secret; the caller wipes it). */
void kw_keychain_seed(const kw_keychain *kc, uint8_t seed[static KW_KEYCHAIN_SEEDBYTES]);

/* Number of items. */
size_t kw_keychain_count(const kw_keychain *kc);

/* Item i (in insertion order): its NUL-terminated name and value, pointers
 * into kc valid until the next set/delete/free. KW_ERR_NOT_FOUND past the
 * end. */
int kw_keychain_item(const kw_keychain *kc, size_t i, const char **name, const uint8_t **value,
                     size_t *value_len);

/* The value of the named item (pointer valid as for kw_keychain_item).
 * KW_ERR_NOT_FOUND. */
int kw_keychain_get(const kw_keychain *kc, const char *name, const uint8_t **value, size_t *value_len);

/* Adds the item or replaces its value (copied). KW_ERR_INVALID_ARG for a
 * name outside 1..255 bytes, KW_ERR_TOO_LARGE for a value over 64 KiB or a
 * keychain that would no longer fit KW_KEYCHAIN_MAXBYTES, KW_ERR_LIMIT for
 * a 257th item, KW_ERR_NOMEM; kc unchanged on error. */
int kw_keychain_set(kw_keychain *kc, const char *name, const uint8_t *value, size_t value_len);

/* Removes the named item (its value wiped). KW_ERR_NOT_FOUND. */
int kw_keychain_delete(kw_keychain *kc, const char *name);

/* Length of the plaintext encoding. */
size_t kw_keychain_plaintext_len(const kw_keychain *kc);

/* The plaintext encoding (secret) into out[0..*out_len). KW_ERR_TOO_LARGE
 * when out_cap is short. */
int kw_keychain_encode(uint8_t *out, size_t out_cap, size_t *out_len, const kw_keychain *kc);

/* Parses a plaintext encoding strictly (no trailing bytes, no duplicate or
 * NUL-holding names). *kc is NULL on error. */
__attribute__((warn_unused_result))
int kw_keychain_decode(kw_keychain **kc, const uint8_t *in, size_t in_len);

/* ---- the sealed keychain ---- */

/* Seals kc under kk (generation g) for account_name as keychain `version`,
 * with a fresh nonce, into out[0..*out_len) (header + plaintext + 16).
 * KW_ERR_TOO_LARGE when out_cap is short; out zeroed on error. */
int kw_keychain_seal(uint8_t *out, size_t out_cap, size_t *out_len, const kw_keychain *kc,
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t version,
                     uint64_t generation);

/* Reads the public header of a sealed keychain (to pick the KK generation).
 * KW_ERR_TRUNCATED, KW_ERR_FORMAT (magic), KW_ERR_TOO_LARGE (over 1 MiB). */
__attribute__((warn_unused_result))
int kw_keychain_header(const uint8_t *in, size_t in_len, uint64_t *version, uint64_t *generation);

/* Opens a sealed keychain that must be `version` under KK generation
 * `generation` of account_name: KW_ERR_VERIFY when the header says
 * otherwise or the ciphertext does not authenticate; the plaintext is then
 * parsed as kw_keychain_decode does. *kc is NULL and every temporary wiped
 * on error. */
__attribute__((warn_unused_result))
int kw_keychain_open(kw_keychain **kc, const uint8_t *in, size_t in_len,
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t version,
                     uint64_t generation);

/* ---- KK, wraps and the chain ---- */

/* A fresh random KK. */
void kw_kk_new(uint8_t kk[static KW_KK_BYTES]);

/* Wraps KK of generation g to the receiving device (its id and HPKE public
 * key), authenticated as the sending device (its HPKE key pair; sender_pk
 * may be NULL to compute it). out is zeroed on error. */
int kw_kk_wrap(uint8_t out[static KW_KK_WRAPBYTES], const uint8_t kk[static KW_KK_BYTES],
               const char *account_name, uint64_t generation,
               const uint8_t receiver_id[static KW_KK_DEVICE_IDBYTES],
               const uint8_t receiver_pk[static KW_KK_HPKE_KEYBYTES],
               const uint8_t sender_sk[static KW_KK_HPKE_KEYBYTES], const uint8_t *sender_pk);

/* Unwraps a KK wrap addressed to this device (its id and HPKE key pair;
 * receiver_pk may be NULL to compute it) from the sender whose HPKE public
 * key is sender_pk. The caller must first check that sender_pk belongs to a
 * device of the verified roster (kw_roster_open + kw_roster_find_hpke): the
 * wrap proves only that the holder of sender_pk made it. KW_ERR_TRUNCATED /
 * KW_ERR_TOO_LARGE for a wrong length, KW_ERR_VERIFY, KW_ERR_CRYPTO; kk
 * zeroed on error. */
__attribute__((warn_unused_result))
int kw_kk_unwrap(uint8_t kk[static KW_KK_BYTES], const uint8_t *in, size_t in_len,
                 const char *account_name, uint64_t generation,
                 const uint8_t receiver_id[static KW_KK_DEVICE_IDBYTES],
                 const uint8_t receiver_sk[static KW_KK_HPKE_KEYBYTES], const uint8_t *receiver_pk,
                 const uint8_t sender_pk[static KW_KK_HPKE_KEYBYTES]);

/* Encrypts KK_{g-1} (kk_prev) under KK_g (kk) for generation g >= 2.
 * out zeroed on error. */
int kw_kk_chain_seal(uint8_t out[static KW_KK_CHAINBYTES], const uint8_t kk_prev[static KW_KK_BYTES],
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t generation);

/* Recovers KK_{g-1} from the chain entry of generation g under KK_g.
 * KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE for a wrong length, KW_ERR_VERIFY;
 * kk_prev zeroed on error. */
__attribute__((warn_unused_result))
int kw_kk_chain_open(uint8_t kk_prev[static KW_KK_BYTES], const uint8_t *in, size_t in_len,
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t generation);

/* ---- the recovery key ---- */

/* A fresh random recovery key. */
void kw_recovery_key_new(uint8_t key[static KW_RECOVERY_KEYBYTES]);

/* The grouped code shown to the user ("XXXX-XXXX-...-CCCC", 69 characters
 * and NUL). Secret. Cannot fail. */
void kw_recovery_code_encode(char code[static KW_RECOVERY_CODEBYTES],
                             const uint8_t key[static KW_RECOVERY_KEYBYTES]);

/* Parses a code typed by the user: case-insensitive, spaces, tabs, line
 * breaks and dashes anywhere are ignored, I and L read as 1, O as 0.
 * KW_ERR_FORMAT for a character outside the alphabet, non-zero padding bits
 * or a checksum that does not match, KW_ERR_TRUNCATED for fewer than 56
 * code characters, KW_ERR_TOO_LARGE for more (or a string over 512 bytes).
 * key zeroed on error. */
__attribute__((warn_unused_result))
int kw_recovery_code_parse(uint8_t key[static KW_RECOVERY_KEYBYTES], const char *code);

/* recovery_auth for the account: what the server stores to check the
 * recovery factor (it cannot unwrap anything with it). auth zeroed on error. */
int kw_recovery_auth(uint8_t auth[static KW_RECOVERY_AUTHBYTES],
                     const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name);

/* The recovery factor's proof for login/finish: HMAC-SHA256(auth, login_id). */
void kw_recovery_proof(uint8_t proof[static KW_RECOVERY_PROOFBYTES],
                       const uint8_t auth[static KW_RECOVERY_AUTHBYTES],
                       const uint8_t login_id[static KW_RECOVERY_LOGIN_IDBYTES]);

/* Wraps KK of generation g under the recovery key. out zeroed on error. */
int kw_recovery_wrap(uint8_t out[static KW_RECOVERY_WRAPBYTES], const uint8_t kk[static KW_KK_BYTES],
                     const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name,
                     uint64_t generation);

/* The recovery wrapping key RWK alone (secret). A trusted device keeps it
 * in the keychain (item KW_RECOVERY_RWK_ITEM) so that whichever device
 * rotates KK can re-wrap the new generation for recovery without ever
 * holding the recovery key or recovery_auth. rwk zeroed on error. */
int kw_recovery_wrap_key(uint8_t rwk[static KW_RECOVERY_WRAPKEYBYTES],
                         const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name);

/* kw_recovery_wrap from RWK instead of the recovery key (same output
 * format). out zeroed on error. */
int kw_recovery_wrap_rwk(uint8_t out[static KW_RECOVERY_WRAPBYTES], const uint8_t kk[static KW_KK_BYTES],
                         const uint8_t rwk[static KW_RECOVERY_WRAPKEYBYTES], const char *account_name,
                         uint64_t generation);

/* Unwraps a recovery wrap. KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE for a wrong
 * length, KW_ERR_VERIFY; kk zeroed on error. */
__attribute__((warn_unused_result))
int kw_recovery_unwrap(uint8_t kk[static KW_KK_BYTES], const uint8_t *in, size_t in_len,
                       const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name,
                       uint64_t generation);

/* ---- service keys (one per data category, with generations) ---- */

/* Non-zero when category is a valid category name (1..32 bytes of
 * [a-z0-9-], not starting with '-'). */
int kw_category_name_ok(const char *category);

/* Number of categories holding a service key. */
size_t kw_keychain_svc_count(const kw_keychain *kc);

/* The i-th category (in insertion order) and its current generation;
 * *category points into kc (valid until the next change or free).
 * KW_ERR_NOT_FOUND past the end. */
int kw_keychain_svc_at(const kw_keychain *kc, size_t i, const char **category, uint32_t *generation);

/* The service key of `category` at `generation` (0: the current one) into
 * key (secret; the caller wipes it), walking the chain back from the current
 * generation; *generation_out (optional) gets the generation returned.
 * KW_ERR_INVALID_ARG for a bad category name, KW_ERR_NOT_FOUND for a
 * category without a key or a generation above the current one,
 * KW_ERR_VERIFY when a chain entry does not open. key zeroed on error. */
int kw_keychain_svc_get(const kw_keychain *kc, const char *category, uint32_t generation,
                        uint8_t key[static KW_SVCKEY_BYTES], uint32_t *generation_out);

/* Rolls the service key of `category`: a fresh random key becomes generation
 * g+1 and the old current key is chained under it; a category without a key
 * gets generation 1. *generation_out (optional) gets the new generation.
 * KW_ERR_INVALID_ARG, KW_ERR_LIMIT for a 65th category or a generation past
 * KW_SVCKEY_GENERATIONS_MAX, KW_ERR_TOO_LARGE when the keychain would no
 * longer fit, KW_ERR_NOMEM; kc unchanged on error. */
int kw_keychain_svc_roll(kw_keychain *kc, const char *category, uint32_t *generation_out);

/* The public chain of `category` (entries for generations g..2, each
 * KW_SVCKEY_CHAINBYTES, newest first): *chain points into kc (NULL and
 * *len 0 for generation 1). Lets a holder of the current key (an escrow, a
 * web session) walk back without the keychain. KW_ERR_NOT_FOUND. */
int kw_keychain_svc_chain(const kw_keychain *kc, const char *category, const uint8_t **chain,
                          size_t *len);

/* Opens one chain entry: key_{h-1} from the entry of generation h (>= 2)
 * under key_h. KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE for a wrong length,
 * KW_ERR_VERIFY, KW_ERR_INVALID_ARG; prev zeroed on error. */
__attribute__((warn_unused_result))
int kw_svckey_chain_open(uint8_t prev[static KW_SVCKEY_BYTES], const uint8_t *entry, size_t entry_len,
                         const uint8_t key[static KW_SVCKEY_BYTES], const char *category,
                         uint32_t generation);

/* ---- joining ---- */

/* The 6-digit code both devices show when a device joins, from the joining
 * device's id and public keys. The reduction of a 64-bit value mod 10^6 is
 * biased by less than 2^-44 per code, which is negligible. */
int kw_join_code(char code[static KW_JOIN_CODEBYTES], const char *account_name,
                 const uint8_t device_id[static KW_KK_DEVICE_IDBYTES],
                 const uint8_t identity_pk[static 32], const uint8_t hpke_pk[static 32]);

#endif
