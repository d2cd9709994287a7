/* libFuzzer target: the keychain formats (keyward/keychain.h) on
 * attacker-controlled bytes. Byte 0 selects what the rest is:
 *   0  a keychain plaintext for kw_keychain_decode (a decoded keychain
 *      must re-encode to exactly the input: the encoding is canonical;
 *      format 2 with a services section included);
 *   1  a sealed keychain for kw_keychain_open under the fixed KK of account
 *      "fuzz", at the version/generation its header names (the seeds in
 *      fuzz/corpus/keychain/ are sealed with it, so they get past the AEAD);
 *   2  a plaintext that the target seals itself and opens again, so the
 *      parser behind the AEAD sees arbitrary bytes through the real path;
 *   3  a recovery code string for kw_recovery_code_parse (a parsed code
 *      re-encodes to a code that parses to the same key);
 *   4  a KK wrap, a chain entry and a recovery wrap, opened with fixed keys.
 * Checks: only the documented error codes; failed opens leave their
 * outputs zeroed / NULL. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/hpke.h"
#include "keyward/keychain.h"
#include "keyward/keyward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed keys (the seed corpus depends on them). */
static const uint8_t kk[32] = "keyward fuzz keychain key KK g1";
static const uint8_t recovery_key[32] = "keyward fuzz recovery key 012345";
static const char ikm_r[] = "keyward fuzz kk wrap receiver key seed";
static const char ikm_s[] = "keyward fuzz kk wrap sender key seed!!";
static const uint8_t receiver_id[16] = "fuzz receiver 01";
static uint8_t skR[32], pkR[32], skS[32], pkS[32];

static void setup_once(void)
{
    static int done;
    if (done)
        return;
    if (kw_init() != KW_OK ||
        kw_hpke_derive_keypair(pkR, skR, (const uint8_t *)ikm_r, sizeof(ikm_r) - 1) != KW_OK ||
        kw_hpke_derive_keypair(pkS, skS, (const uint8_t *)ikm_s, sizeof(ikm_s) - 1) != KW_OK)
        abort();
    done = 1;
}

static void check_format_err(int r)
{
    if (r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE && r != KW_ERR_FORMAT)
        abort();
}

static void plaintext(const uint8_t *in, size_t n)
{
    kw_keychain *kc = (kw_keychain *)1;
    int r = kw_keychain_decode(&kc, in, n);
    if (r != KW_OK) {
        if (r != KW_ERR_VERIFY) /* a service-key chain entry that does not open */
            check_format_err(r);
        if (kc != NULL)
            abort();
        return;
    }
    size_t len = 0;
    uint8_t *out = malloc(n + 1);
    if (out == NULL || kw_keychain_plaintext_len(kc) != n ||
        kw_keychain_encode(out, n + 1, &len, kc) != KW_OK || len != n || memcmp(out, in, n) != 0)
        abort();
    free(out);
    kw_keychain_free(&kc);
}

static void sealed(const uint8_t *in, size_t n)
{
    uint64_t v = 0, g = 0;
    kw_keychain *kc = (kw_keychain *)1;
    int h = kw_keychain_header(in, n, &v, &g);
    int r = kw_keychain_open(&kc, in, n, kk, "fuzz", v ? v : 1, g ? g : 1);
    if (h != KW_OK && r != h)
        abort();
    if (r != KW_OK) {
        if (r != KW_ERR_VERIFY)
            check_format_err(r);
        if (kc != NULL)
            abort();
    }
    kw_keychain_free(&kc);
}

static void reseal(const uint8_t *in, size_t n)
{
    /* seal the bytes as a plaintext by hand, then open through the API */
    kw_keychain *kc = NULL;
    if (n > 4096)
        return;
    uint8_t *blob = malloc(KW_KEYCHAIN_HEADERBYTES + n + KW_KEYCHAIN_TAGBYTES);
    uint8_t ad[KW_KEYCHAIN_HEADERBYTES + 4];
    unsigned long long clen = 0;
    if (blob == NULL)
        abort();
    memset(blob, 0, KW_KEYCHAIN_HEADERBYTES);
    memcpy(blob, KW_KEYCHAIN_MAGIC, 4);
    blob[11] = 3; /* version 3 */
    blob[19] = 2; /* generation 2 */
    memcpy(ad, blob, KW_KEYCHAIN_HEADERBYTES);
    memcpy(ad + KW_KEYCHAIN_HEADERBYTES, "fuzz", 4);
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + KW_KEYCHAIN_HEADERBYTES, &clen, in, n, ad, sizeof(ad),
                                               NULL, blob + 20, kk);
    int r = kw_keychain_open(&kc, blob, KW_KEYCHAIN_HEADERBYTES + (size_t)clen, kk, "fuzz", 3, 2);
    kw_keychain *kc2 = NULL;
    int r2 = kw_keychain_decode(&kc2, in, n);
    if (r != r2 || (r == KW_OK) != (kc != NULL))
        abort();
    kw_keychain_free(&kc);
    kw_keychain_free(&kc2);
    free(blob);
}

static void code(const uint8_t *in, size_t n)
{
    char *s = malloc(n + 1), again[KW_RECOVERY_CODEBYTES];
    uint8_t key[32], key2[32];
    if (s == NULL)
        abort();
    memcpy(s, in, n);
    s[n] = '\0';
    int r = kw_recovery_code_parse(key, s);
    if (r == KW_OK) {
        kw_recovery_code_encode(again, key);
        if (kw_recovery_code_parse(key2, again) != KW_OK || memcmp(key, key2, 32) != 0)
            abort();
    } else {
        check_format_err(r);
        for (size_t i = 0; i < 32; i++)
            if (key[i] != 0)
                abort();
    }
    free(s);
}

static void wraps(const uint8_t *in, size_t n)
{
    uint8_t out[32];
    int r = kw_kk_unwrap(out, in, n, "fuzz", 1, receiver_id, skR, pkR, pkS);
    if (r != KW_OK && r != KW_ERR_VERIFY && r != KW_ERR_CRYPTO && r != KW_ERR_TRUNCATED &&
        r != KW_ERR_TOO_LARGE)
        abort();
    r = kw_kk_chain_open(out, in, n, kk, "fuzz", 2);
    if (r != KW_OK && r != KW_ERR_VERIFY && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE)
        abort();
    if (r != KW_OK)
        for (size_t i = 0; i < 32; i++)
            if (out[i] != 0)
                abort();
    r = kw_recovery_unwrap(out, in, n, recovery_key, "fuzz", 1);
    if (r != KW_OK && r != KW_ERR_VERIFY && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size < 1)
        return 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0: plaintext(in, n); break;
    case 1: sealed(in, n); break;
    case 2: reseal(in, n); break;
    case 3: code(in, n); break;
    default: wraps(in, n); break;
    }
    return 0;
}
