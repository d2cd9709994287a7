/*
 * server/custody/custody.h — keywardd's key custody: the provider that wraps
 * the server's copies of service keys (standard protection), the unwrap keys
 * of recovery-contact packets and the passcode-escrow verifiers.
 *
 * A provider seals a secret of at most KW_CUSTODY_SECRET_MAX bytes under a
 * key it holds, with associated data binding what the secret is:
 *   AD = "keyward custody v1" ‖ u64 account id ‖ u8 len ‖ label ‖ u64 generation
 * (label is a data category such as "photos", or a purpose such as
 * "contact-unwrap"; generation the service-key generation, or 0). A wrap
 * moved to another account, label or generation does not open.
 *
 * Providers (config `custody.provider`):
 *   keyfile  (default) a random 256-bit key in <data_dir>/custody.key (mode
 *            0600, created durably on first start, or `custody.key_file`);
 *            XChaCha20-Poly1305 (libsodium). Wrap = 0x01 ‖ nonce[24] ‖ ct ‖ tag.
 *   pkcs11   an AES-256 key on a PKCS#11 token (never extractable): the module
 *            `custody.pkcs11_module` (dlopen), the token `custody.pkcs11_token`
 *            (label), the user PIN `custody.pkcs11_pin` (or the file named by
 *            `custody.pkcs11_pin_file`), the key `custody.pkcs11_key_label`
 *            (default "keyward-custody"; generated on the token when absent).
 *            CKM_AES_GCM with a random 96-bit IV and the AD above.
 *            Wrap = 0x02 ‖ iv[12] ‖ ct ‖ tag[16].
 * A wrap made by one provider is refused by the other (KW_ERR_VERIFY).
 *
 * Thread safety: wrap and unwrap may be called from several threads (the
 * PKCS#11 provider serialises its session with a mutex).
 * Errors: KW_ERR_INVALID_ARG (bad config value or argument; a log line names
 * the key), KW_ERR_SYSTEM (key file, module or token unavailable),
 * KW_ERR_VERIFY (a wrap that does not open), KW_ERR_TOO_LARGE, KW_ERR_NOMEM.
 * Secrets: the key-file key lives in sodium_malloc'd memory; secrets passed
 * in are never copied past the call; failed unwraps zero their output. The
 * PIN is wiped after login and never logged.
 */
#ifndef KEYWARD_SERVER_CUSTODY_H
#define KEYWARD_SERVER_CUSTODY_H

#include <stddef.h>
#include <stdint.h>

struct kw_config_s;

#define KW_CUSTODY_SECRET_MAX 64
#define KW_CUSTODY_LABEL_MAX 64
#define KW_CUSTODY_WRAP_MAX (1 + 24 + KW_CUSTODY_SECRET_MAX + 16)

typedef struct kw_custody kw_custody;

/* Opens the provider named by cfg's custody.* keys; data_dir is where the
 * key-file provider keeps its key by default. */
int kw_custody_open(kw_custody **out, const struct kw_config_s *cfg, const char *data_dir);

/* Closes the provider (logs out of the token, wipes the key); NULL-safe. */
void kw_custody_close(kw_custody **c);

/* "keyfile" or "pkcs11". */
const char *kw_custody_name(const kw_custody *c);

/* Seals secret[0..len) for (account, label, generation) into
 * out[0..*out_len) (out_cap >= KW_CUSTODY_WRAP_MAX suffices). */
int kw_custody_wrap(kw_custody *c, int64_t account_id, const char *label, int64_t generation,
                    const uint8_t *secret, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);

/* Opens a wrap made for exactly (account, label, generation) into
 * secret[0..*len). KW_ERR_VERIFY otherwise (secret zeroed). */
__attribute__((warn_unused_result))
int kw_custody_unwrap(kw_custody *c, int64_t account_id, const char *label, int64_t generation,
                      const uint8_t *in, size_t in_len, uint8_t *secret, size_t cap, size_t *len);

/* ---- internal: the provider interface (keyfile.c, pkcs11.c) ---- */

typedef struct {
    const char *name;
    uint8_t tag; /* first byte of every wrap */
    int (*seal)(void *impl, const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t pt_len,
                uint8_t *out, size_t out_cap, size_t *out_len);
    int (*open)(void *impl, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len,
                uint8_t *pt, size_t pt_cap, size_t *pt_len);
    void (*close)(void *impl);
} kw_custody_provider;

int kw_custody_keyfile_open(void **impl, const kw_custody_provider **prov,
                            const struct kw_config_s *cfg, const char *data_dir);
int kw_custody_pkcs11_open(void **impl, const kw_custody_provider **prov,
                           const struct kw_config_s *cfg);

#endif
