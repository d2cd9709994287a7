/* libFuzzer target: the record formats (keyward/record.h) on
 * attacker-controlled bytes. Byte 0 selects what the rest is:
 *   0  sealed metadata for kw_record_meta_open under the fixed record key
 *      and record (the seeds in fuzz/corpus/record/ are sealed with them);
 *   1  a metadata plaintext the target seals itself (meta key from HKDF as
 *      documented) and opens, so the strict parser behind the AEAD sees
 *      arbitrary bytes; what opens must seal and open back to the same;
 *   2  a record-key wrap for kw_record_key_unwrap under the fixed service key;
 *   3  u64 piece index ‖ u8 final ‖ a sealed piece for kw_record_piece_open;
 *   4  text for the piece transport codec kw_record_b64_decode (what decodes
 *      re-encodes to exactly the input, and agrees with kw_b64url_decode).
 * Checks: only documented error codes; failed opens leave outputs zeroed. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/keyward.h"
#include "keyward/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t rkey[32] = "keyward fuzz record key (fixed)";
static const uint8_t skey[32] = "keyward fuzz service key (fixed)";

static kw_record_ref fixed_ref(void)
{
    kw_record_ref r = {.category = "photos", .zone = "default", .version = 1};
    memcpy(r.id, "fuzz record id 1", 16);
    return r;
}

static void bad(int r)
{
    if (r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE && r != KW_ERR_VERIFY)
        abort();
}

static void meta_sealed(const uint8_t *in, size_t n)
{
    kw_record_ref ref = fixed_ref();
    kw_record_meta m, zero;
    memset(&zero, 0, sizeof(zero));
    int r = kw_record_meta_open(&m, in, n, rkey, &ref);
    if (r != KW_OK) {
        bad(r);
        if (memcmp(&m, &zero, sizeof(m)) != 0)
            abort();
    }
}

static void meta_plain(const uint8_t *in, size_t n)
{
    kw_record_ref ref = fixed_ref();
    uint8_t mk[32], ad[4 + KW_RECORD_CTX_MAXBYTES], *blob;
    size_t clen = 0;
    if (n > KW_RECORD_META_PT_MAXBYTES)
        return;
    if (kw_hkdf_sha256(mk, 32, NULL, 0, rkey, 32, (const uint8_t *)"keyward record meta v1", 22) != KW_OK ||
        kw_record_ctx(ad + 4, &clen, &ref) != KW_OK)
        abort();
    memcpy(ad, "KWR1", 4);
    if ((blob = malloc(4 + 24 + n + 16)) == NULL)
        abort();
    memcpy(blob, "KWR1", 4);
    memset(blob + 4, 0x11, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 28, NULL, in, n, ad, 4 + clen, NULL, blob + 4, mk);
    kw_record_meta m, back;
    int r = kw_record_meta_open(&m, blob, 4 + 24 + n + 16, rkey, &ref);
    if (r == KW_OK) {
        uint8_t out[KW_RECORD_META_MAXBYTES];
        size_t len = 0;
        if (kw_record_meta_seal(out, sizeof(out), &len, &m, rkey, &ref) != KW_OK || len != 4 + 24 + n + 16 ||
            kw_record_meta_open(&back, out, len, rkey, &ref) != KW_OK || memcmp(&m, &back, sizeof(m)) != 0)
            abort();
    } else {
        bad(r);
    }
    free(blob);
}

static void wrap(const uint8_t *in, size_t n)
{
    kw_record_ref ref = fixed_ref();
    uint8_t k[32], zero[32] = {0};
    int r = kw_record_key_unwrap(k, in, n, skey, &ref);
    if (r != KW_OK) {
        bad(r);
        if (memcmp(k, zero, 32) != 0)
            abort();
    }
}

static void transport(const uint8_t *in, size_t n)
{
    uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
    char *again = malloc(2 * n + 8);
    size_t la = 0, lb = 0;
    if (a == NULL || b == NULL || again == NULL)
        abort();
    int r = kw_record_b64_decode(a, n + 1, &la, (const char *)in, n);
    int r2 = kw_b64url_decode(b, n + 1, &lb, (const char *)in, n);
    if ((r == KW_OK) != (r2 == KW_OK))
        abort();
    if (r == KW_OK) {
        if (la != lb || memcmp(a, b, la) != 0 || kw_record_b64_encode(again, 2 * n + 8, a, la) != KW_OK ||
            strlen(again) != n || memcmp(again, in, n) != 0)
            abort();
    } else if (r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED) {
        abort();
    }
    free(a);
    free(b);
    free(again);
}

static void piece(const uint8_t *in, size_t n)
{
    kw_record_ref ref = fixed_ref();
    if (n < 9)
        return;
    uint64_t idx = 0;
    for (int i = 0; i < 8; i++)
        idx = idx << 8 | in[i];
    size_t cap = n > KW_RECORD_PIECE_MAXBYTES ? KW_RECORD_PIECE_BYTES : n;
    uint8_t *out = malloc(cap + 1);
    size_t olen = 1;
    if (out == NULL)
        abort();
    int r = kw_record_piece_open(out, cap + 1, &olen, in + 9, n - 9, idx, in[8] & 1, rkey, &ref);
    if (r != KW_OK) {
        bad(r);
        if (olen != 0)
            abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (kw_init() != KW_OK)
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0: meta_sealed(data + 1, size - 1); break;
    case 1: meta_plain(data + 1, size - 1); break;
    case 2: wrap(data + 1, size - 1); break;
    case 3: piece(data + 1, size - 1); break;
    default: transport(data + 1, size - 1); break;
    }
    return 0;
}
