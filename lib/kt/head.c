/* Tree heads, log leaves, indices, promises and reason names. See kt.h. */
#include <sodium.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/kt.h"
#include "kt/kt_dir_internal.h"

void kt_be_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

uint64_t kt_be_get(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

const char *kw_kt_reason_name(kw_kt_reason r)
{
    switch (r) {
    case KW_KT_OK: return "ok";
    case KW_KT_MALFORMED: return "malformed";
    case KW_KT_BAD_HEAD_SIGNATURE: return "bad-head-signature";
    case KW_KT_HEAD_ROLLBACK: return "head-rollback";
    case KW_KT_INCONSISTENT: return "inconsistent";
    case KW_KT_LOG_INCLUSION: return "log-inclusion-failure";
    case KW_KT_VRF_FAILURE: return "vrf-failure";
    case KW_KT_MEMBERSHIP_FAILURE: return "membership-failure";
    case KW_KT_NONMEMBERSHIP_FAILURE: return "non-membership-failure";
    case KW_KT_NOT_LATEST: return "not-latest";
    case KW_KT_VALUE_MISMATCH: return "value-mismatch";
    case KW_KT_WRONG_VERSION: return "wrong-version";
    case KW_KT_AUDIT_OUT_OF_ORDER: return "audit-out-of-order";
    case KW_KT_AUDIT_PREFIX_MISMATCH: return "audit-prefix-mismatch";
    case KW_KT_AUDIT_DUPLICATE_INDEX: return "audit-duplicate-index";
    case KW_KT_AUDIT_LOG_MISMATCH: return "audit-log-mismatch";
    }
    return "unknown";
}

size_t kt_alpha(uint8_t out[static KT_ALPHA_MAXBYTES], const uint8_t *label, size_t label_len)
{
    kt_be_put(out, label_len, 2);
    if (label_len > 0)
        memcpy(out + 2, label, label_len);
    return 2 + label_len;
}

void kt_index_make(uint8_t out[static KW_KT_INDEXBYTES], const uint8_t beta[static KT_PREFIXBYTES],
                   uint32_t version)
{
    uint32_t rev = 0;
    for (unsigned i = 0; i < 32; i++)
        rev |= ((version >> i) & 1u) << (31 - i);
    memcpy(out, beta, 4);
    kt_be_put(out + 4, rev, 4);
    memcpy(out + 8, beta + 4, KT_PREFIXBYTES - 4);
}

void kt_head_tbs(uint8_t out[static KW_KT_HEAD_TBSBYTES], const kw_kt_head *h)
{
    kt_be_put(out, h->epoch, 8);
    kt_be_put(out + 8, h->log_size, 8);
    memcpy(out + 16, h->log_root, 32);
    memcpy(out + 48, h->prefix_root, 32);
    kt_be_put(out + 80, h->timestamp, 8);
}

void kw_kt_head_encode(uint8_t out[static KW_KT_HEADBYTES], const kw_kt_head *h)
{
    kt_head_tbs(out, h);
    memcpy(out + KW_KT_HEAD_TBSBYTES, h->sig, KW_SIGN_BYTES);
}

int kw_kt_head_decode(kw_kt_head *h, const uint8_t *in, size_t len)
{
    memset(h, 0, sizeof(*h));
    if (len < KW_KT_HEADBYTES)
        return KW_ERR_TRUNCATED;
    if (len > KW_KT_HEADBYTES)
        return KW_ERR_TOO_LARGE;
    h->epoch = kt_be_get(in, 8);
    h->log_size = kt_be_get(in + 8, 8);
    memcpy(h->log_root, in + 16, 32);
    memcpy(h->prefix_root, in + 48, 32);
    h->timestamp = kt_be_get(in + 80, 8);
    memcpy(h->sig, in + KW_KT_HEAD_TBSBYTES, KW_SIGN_BYTES);
    if (h->epoch == UINT64_MAX || h->log_size != h->epoch + 1) {
        memset(h, 0, sizeof(*h));
        return KW_ERR_FORMAT;
    }
    return KW_OK;
}

int kt_head_get(kw_buf *b, kw_kt_head *h)
{
    if (kw_buf_len(b) < KW_KT_HEADBYTES) {
        memset(h, 0, sizeof(*h));
        return KW_ERR_TRUNCATED;
    }
    int r = kw_kt_head_decode(h, kw_buf_ptr(b), KW_KT_HEADBYTES);
    if (r != KW_OK)
        return r;
    return kw_buf_get(b, NULL, KW_KT_HEADBYTES);
}

int kt_head_put(kw_buf *b, const kw_kt_head *h)
{
    uint8_t enc[KW_KT_HEADBYTES];
    kw_kt_head_encode(enc, h);
    return kw_buf_put(b, enc, sizeof(enc));
}

int kw_kt_head_sign(kw_kt_head *h, const kw_sign_key *log_key)
{
    uint8_t tbs[KW_KT_HEAD_TBSBYTES];
    kt_head_tbs(tbs, h);
    return kw_sign(log_key, h->sig, (const uint8_t *)KW_KT_HEAD_CONTEXT,
                   sizeof(KW_KT_HEAD_CONTEXT) - 1, tbs, sizeof(tbs));
}

int kw_kt_head_verify(const kw_kt_head *h, const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES])
{
    uint8_t tbs[KW_KT_HEAD_TBSBYTES];
    if (h->epoch == UINT64_MAX || h->log_size != h->epoch + 1)
        return KW_ERR_VERIFY;
    kt_head_tbs(tbs, h);
    if (kw_sign_verify(h->sig, log_pk, (const uint8_t *)KW_KT_HEAD_CONTEXT,
                       sizeof(KW_KT_HEAD_CONTEXT) - 1, tbs, sizeof(tbs)) != KW_OK)
        return KW_ERR_VERIFY;
    return KW_OK;
}

void kw_kt_log_leaf(uint8_t out[static KW_KT_LOG_LEAFBYTES], uint64_t epoch,
                    const uint8_t prefix_root[static KW_KT_HASHBYTES], uint64_t timestamp)
{
    kt_be_put(out, epoch, 8);
    memcpy(out + 8, prefix_root, 32);
    kt_be_put(out + 40, timestamp, 8);
}

void kw_kt_log_leaf_hash(uint8_t out[static KW_KT_HASHBYTES], uint64_t epoch,
                         const uint8_t prefix_root[static KW_KT_HASHBYTES], uint64_t timestamp)
{
    uint8_t leaf[KW_KT_LOG_LEAFBYTES];
    kw_kt_log_leaf(leaf, epoch, prefix_root, timestamp);
    kw_log_hash_leaf(out, leaf, sizeof(leaf));
}

int kw_kt_index(uint8_t index[static KW_KT_INDEXBYTES],
                const uint8_t vrf_sk[static KW_VRF_SECRETKEYBYTES], const uint8_t *label,
                size_t label_len, uint32_t version)
{
    uint8_t alpha[KT_ALPHA_MAXBYTES], beta[KW_VRF_OUTPUTBYTES];
    memset(index, 0, KW_KT_INDEXBYTES);
    if (label_len > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (version == 0 || (label == NULL && label_len != 0))
        return KW_ERR_INVALID_ARG;
    size_t n = kt_alpha(alpha, label, label_len);
    int r = kw_vrf_evaluate(beta, KW_VRF_EDWARDS25519_SHA512_TAI, vrf_sk, alpha, n);
    if (r == KW_OK)
        kt_index_make(index, beta, version);
    sodium_memzero(beta, sizeof(beta));
    return r;
}

/* Promise body: u16 len ‖ label ‖ u32 version ‖ SHA-256(value) ‖ u64 deadline. */
static size_t promise_body(uint8_t *out, const uint8_t *label, size_t label_len,
                           uint32_t version, const uint8_t *value, size_t value_len,
                           uint64_t deadline)
{
    kt_be_put(out, label_len, 2);
    if (label_len > 0)
        memcpy(out + 2, label, label_len);
    size_t o = 2 + label_len;
    kt_be_put(out + o, version, 4);
    o += 4;
    crypto_hash_sha256(out + o, value, value_len);
    o += 32;
    kt_be_put(out + o, deadline, 8);
    return o + 8;
}

int kt_promise_make(uint8_t *out, size_t cap, size_t *out_len, const kw_sign_key *key,
                    const uint8_t *label, size_t label_len, uint32_t version,
                    const uint8_t *value, size_t value_len, uint64_t deadline)
{
    *out_len = 0;
    if (label_len > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    size_t need = 2 + label_len + 4 + 32 + 8 + KW_SIGN_BYTES;
    if (cap < need)
        return KW_ERR_TOO_LARGE;
    size_t n = promise_body(out, label, label_len, version, value, value_len, deadline);
    int r = kw_sign(key, out + n, (const uint8_t *)KW_KT_PROMISE_CONTEXT,
                    sizeof(KW_KT_PROMISE_CONTEXT) - 1, out, n);
    if (r != KW_OK) {
        sodium_memzero(out, need);
        return r;
    }
    *out_len = need;
    return KW_OK;
}

int kw_kt_promise_verify(kw_kt_promise *out, const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES],
                         const uint8_t *label, size_t label_len, const uint8_t *value,
                         size_t value_len, const uint8_t *promise, size_t promise_len)
{
    uint8_t body[KW_KT_PROMISE_MAXBYTES];
    memset(out, 0, sizeof(*out));
    if (label_len > KW_KT_LABEL_MAXBYTES || value_len > KW_KT_VALUE_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (promise_len < 2)
        return KW_ERR_TRUNCATED;
    size_t plen = (size_t)kt_be_get(promise, 2);
    if (plen > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_FORMAT;
    size_t need = 2 + plen + 4 + 32 + 8 + KW_SIGN_BYTES;
    if (promise_len < need)
        return KW_ERR_TRUNCATED;
    if (promise_len > need)
        return KW_ERR_FORMAT;
    size_t n = need - KW_SIGN_BYTES;
    if (kw_sign_verify(promise + n, log_pk, (const uint8_t *)KW_KT_PROMISE_CONTEXT,
                       sizeof(KW_KT_PROMISE_CONTEXT) - 1, promise, n) != KW_OK)
        return KW_ERR_VERIFY;
    uint32_t version = (uint32_t)kt_be_get(promise + 2 + plen, 4);
    uint64_t deadline = kt_be_get(promise + 2 + plen + 4 + 32, 8);
    /* Rebuild the body for the caller's label and value: any difference in
     * either is a promise for something else. */
    size_t m = promise_body(body, label, label_len, version, value, value_len, deadline);
    if (m != n || !kw_ct_equal(body, promise, n) || version == 0)
        return KW_ERR_VERIFY;
    out->version = version;
    out->deadline_epoch = deadline;
    return KW_OK;
}

/* ---- auditor signatures ---- */

int kw_kt_auditor_sig_make(uint8_t out[static KW_KT_AUDITOR_SIGBYTES], const kw_sign_key *auditor,
                           const kw_kt_head *h)
{
    kw_sign_key_public(auditor, out);
    kw_kt_head_encode(out + 32, h);
    int r = kw_sign(auditor, out + 32 + KW_KT_HEADBYTES, (const uint8_t *)KW_KT_AUDITOR_CONTEXT,
                    sizeof(KW_KT_AUDITOR_CONTEXT) - 1, out + 32, KW_KT_HEADBYTES);
    if (r != KW_OK)
        sodium_memzero(out, KW_KT_AUDITOR_SIGBYTES);
    return r;
}

int kw_kt_auditor_sig_verify(kw_kt_head *h, uint8_t *auditor_out, const uint8_t *rec,
                             size_t rec_len, const uint8_t *auditor_pk,
                             const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES])
{
    kw_kt_head tmp;
    if (h != NULL)
        memset(h, 0, sizeof(*h));
    if (rec == NULL)
        return KW_ERR_INVALID_ARG;
    if (rec_len < KW_KT_AUDITOR_SIGBYTES)
        return KW_ERR_TRUNCATED;
    if (rec_len > KW_KT_AUDITOR_SIGBYTES)
        return KW_ERR_TOO_LARGE;
    if (auditor_pk != NULL && !kw_ct_equal(auditor_pk, rec, 32))
        return KW_ERR_VERIFY;
    int r = kw_kt_head_decode(&tmp, rec + 32, KW_KT_HEADBYTES);
    if (r != KW_OK)
        return r;
    if (kw_sign_verify(rec + 32 + KW_KT_HEADBYTES, rec, (const uint8_t *)KW_KT_AUDITOR_CONTEXT,
                       sizeof(KW_KT_AUDITOR_CONTEXT) - 1, rec + 32, KW_KT_HEADBYTES) != KW_OK ||
        kw_kt_head_verify(&tmp, log_pk) != KW_OK)
        return KW_ERR_VERIFY;
    if (h != NULL)
        *h = tmp;
    if (auditor_out != NULL)
        memcpy(auditor_out, rec, 32);
    return KW_OK;
}
