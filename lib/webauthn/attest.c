/* Attestation statements (WebAuthn L3 §8): "none", "packed" (self and x5c)
 * and "fido-u2f". Signatures go through libfido2 (fido_cred_verify /
 * fido_cred_verify_self) when it can take the credential — an ES256 or
 * ES384 key and no extensions in authData — and through OpenSSL/libsodium
 * otherwise (libfido2 1.12 keeps RSA keys in a fixed 2048-bit struct and
 * refuses extension outputs it was not told to expect). Certificate
 * requirements and chains are checked with OpenSSL X509 in every case. */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <fido.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "keyward/err.h"
#include "wa_internal.h"

typedef struct {
    bool has_alg;
    int64_t alg;
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *x5c[KW_WEBAUTHN_X5C_MAX];
    size_t x5c_len[KW_WEBAUTHN_X5C_MAX];
    size_t n_x5c;
    bool has_x5c;
    bool has_ecdaa;
    size_t n_pairs;
} att_stmt_t;

/* Key equal to a C string (definite text). */
static bool text_is(const cbor_item_t *it, const char *s)
{
    size_t n = strlen(s);
    return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
           memcmp(cbor_string_handle(it), s, n) == 0;
}

/* Fills st from the attStmt map `item` (the item stays owned by the caller,
 * pointers point into it). */
static int stmt_parse(att_stmt_t *st, const cbor_item_t *item)
{
    memset(st, 0, sizeof(*st));
    if (!cbor_isa_map(item) || !cbor_map_is_definite(item))
        return KW_ERR_FORMAT;
    struct cbor_pair *p = cbor_map_handle(item);
    st->n_pairs = cbor_map_size(item);
    bool seen_sig = false;
    for (size_t i = 0; i < st->n_pairs; i++) {
        const cbor_item_t *k = p[i].key, *v = p[i].value;
        if (!cbor_isa_string(k) || !cbor_string_is_definite(k))
            return KW_ERR_FORMAT;
        for (size_t j = 0; j < i; j++) {
            const cbor_item_t *k2 = p[j].key;
            if (cbor_string_length(k2) == cbor_string_length(k) &&
                memcmp(cbor_string_handle(k2), cbor_string_handle(k), cbor_string_length(k)) == 0)
                return KW_ERR_FORMAT; /* duplicate key */
        }
        if (text_is(k, "alg")) {
            if (cbor_isa_uint(v))
                st->alg = cbor_get_int(v) > INT32_MAX ? INT64_MAX : (int64_t)cbor_get_int(v);
            else if (cbor_isa_negint(v))
                st->alg = cbor_get_int(v) > INT32_MAX ? INT64_MIN : -1 - (int64_t)cbor_get_int(v);
            else
                return KW_ERR_FORMAT;
            st->has_alg = true;
        } else if (text_is(k, "sig")) {
            if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v))
                return KW_ERR_FORMAT;
            st->sig = cbor_bytestring_handle(v);
            st->sig_len = cbor_bytestring_length(v);
            if (st->sig_len == 0)
                return KW_ERR_FORMAT;
            if (st->sig_len > KW_WEBAUTHN_SIG_MAXBYTES)
                return KW_ERR_TOO_LARGE;
            seen_sig = true;
        } else if (text_is(k, "x5c")) {
            if (!cbor_isa_array(v) || !cbor_array_is_definite(v) || cbor_array_size(v) == 0)
                return KW_ERR_FORMAT;
            if (cbor_array_size(v) > KW_WEBAUTHN_X5C_MAX)
                return KW_ERR_TOO_LARGE;
            cbor_item_t **certs = cbor_array_handle(v);
            for (size_t c = 0; c < cbor_array_size(v); c++) {
                if (!cbor_isa_bytestring(certs[c]) || !cbor_bytestring_is_definite(certs[c]) ||
                    cbor_bytestring_length(certs[c]) == 0)
                    return KW_ERR_FORMAT;
                st->x5c[c] = cbor_bytestring_handle(certs[c]);
                st->x5c_len[c] = cbor_bytestring_length(certs[c]);
            }
            st->n_x5c = cbor_array_size(v);
            st->has_x5c = true;
        } else if (text_is(k, "ecdaaKeyId")) {
            st->has_ecdaa = true;
        }
    }
    if (!seen_sig)
        st->sig = NULL;
    return KW_OK;
}

static X509 *cert_parse(const uint8_t *der, size_t len)
{
    if (len > INT32_MAX)
        return NULL;
    const unsigned char *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)len);
    if (c != NULL && p != der + len) {
        X509_free(c);
        c = NULL;
    }
    return c;
}

static bool name_has(X509_NAME *name, int nid, const char *want)
{
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0)
        return false;
    if (want == NULL)
        return true;
    X509_NAME_ENTRY *e = X509_NAME_get_entry(name, idx);
    ASN1_STRING *s = e != NULL ? X509_NAME_ENTRY_get_data(e) : NULL;
    if (s == NULL)
        return false;
    size_t n = strlen(want);
    return (size_t)ASN1_STRING_length(s) == n && memcmp(ASN1_STRING_get0_data(s), want, n) == 0;
}

/* §8.2.1 packed attestation certificate requirements. */
static int packed_cert_check(X509 *leaf, const uint8_t aaguid[16])
{
    if (X509_get_version(leaf) != 2)
        return KW_ERR_VERIFY;
    X509_NAME *subj = X509_get_subject_name(leaf);
    if (subj == NULL || !name_has(subj, NID_countryName, NULL) ||
        !name_has(subj, NID_organizationName, NULL) || !name_has(subj, NID_commonName, NULL) ||
        !name_has(subj, NID_organizationalUnitName, "Authenticator Attestation"))
        return KW_ERR_VERIFY;
    if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0)
        return KW_ERR_VERIFY;
    /* id-fido-gen-ce-aaguid, when present: not critical, equal to AAGUID */
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1);
    if (oid == NULL)
        return KW_ERR_NOMEM;
    int idx = X509_get_ext_by_OBJ(leaf, oid, -1);
    ASN1_OBJECT_free(oid);
    if (idx >= 0) {
        X509_EXTENSION *ext = X509_get_ext(leaf, idx);
        ASN1_OCTET_STRING *val = ext != NULL ? X509_EXTENSION_get_data(ext) : NULL;
        if (val == NULL || X509_EXTENSION_get_critical(ext))
            return KW_ERR_VERIFY;
        const unsigned char *d = ASN1_STRING_get0_data(val);
        if (ASN1_STRING_length(val) != 18 || d[0] != 0x04 || d[1] != 16 ||
            memcmp(d + 2, aaguid, 16) != 0)
            return KW_ERR_VERIFY;
    }
    return KW_OK;
}

/* x5c[0] chains (through x5c[1..]) to one of the policy's roots. */
static int chain_check(const att_stmt_t *st, X509 *leaf, const kw_webauthn_policy *pol)
{
    int r = KW_ERR_VERIFY;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    if (pol->n_roots == 0 || pol->roots == NULL)
        return KW_ERR_VERIFY;
    if ((store = X509_STORE_new()) == NULL || (untrusted = sk_X509_new_null()) == NULL ||
        (ctx = X509_STORE_CTX_new()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < pol->n_roots; i++) {
        X509 *root = cert_parse(pol->roots[i].ptr, pol->roots[i].len);
        if (root == NULL) {
            r = KW_ERR_INVALID_ARG;
            goto out;
        }
        int ok = X509_STORE_add_cert(store, root);
        X509_free(root);
        if (ok != 1) {
            r = KW_ERR_INTERNAL;
            goto out;
        }
    }
    for (size_t i = 1; i < st->n_x5c; i++) {
        X509 *c = cert_parse(st->x5c[i], st->x5c_len[i]);
        if (c == NULL) {
            r = KW_ERR_FORMAT;
            goto out;
        }
        if (sk_X509_push(untrusted, c) <= 0) {
            X509_free(c);
            r = KW_ERR_NOMEM;
            goto out;
        }
    }
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        r = KW_ERR_INTERNAL;
        goto out;
    }
    r = X509_verify_cert(ctx) == 1 ? KW_OK : KW_ERR_VERIFY;
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_free(store);
    return r;
}

/* libfido2 can verify this credential's attestation: EC key, no extensions. */
static bool fido_fits(const wa_pubkey *pk, const kw_webauthn_authdata *pad)
{
    return (pk->alg == KW_COSE_ES256 || pk->alg == KW_COSE_ES384) && pad->extensions == NULL;
}

static int fido_cred_check(const kw_webauthn_policy *pol, const char *fmt, bool self,
                           const uint8_t *att_stmt, size_t att_stmt_len, const uint8_t *ad,
                           size_t ad_len, const wa_pubkey *pk, const uint8_t cdh[32])
{
    int r = KW_ERR_FORMAT;
    wa_fido_init();
    fido_cred_t *c = fido_cred_new();
    if (c == NULL)
        return KW_ERR_NOMEM;
    if (fido_cred_set_type(c, pk->alg) != FIDO_OK || fido_cred_set_rp(c, pol->rp_id, NULL) != FIDO_OK ||
        fido_cred_set_clientdata_hash(c, cdh, 32) != FIDO_OK ||
        fido_cred_set_authdata_raw(c, ad, ad_len) != FIDO_OK || fido_cred_set_fmt(c, fmt) != FIDO_OK ||
        fido_cred_set_attstmt(c, att_stmt, att_stmt_len) != FIDO_OK)
        goto out;
    int fr = self ? fido_cred_verify_self(c) : fido_cred_verify(c);
    r = fr == FIDO_OK ? KW_OK : KW_ERR_VERIFY;
out:
    fido_cred_free(&c);
    return r;
}

static int packed_verify(kw_webauthn_att_type *type, kw_webauthn_reason *why,
                         const kw_webauthn_policy *pol, const att_stmt_t *st,
                         const uint8_t *att_stmt, size_t att_stmt_len,
                         const uint8_t *msg, size_t ad_len, const kw_webauthn_authdata *pad,
                         const wa_pubkey *pk, const uint8_t cdh[32])
{
    int r;
    X509 *leaf = NULL;
    if (st->has_ecdaa)
        return wa_fail(why, KW_WEBAUTHN_R_UNSUPPORTED_FMT, KW_ERR_UNSUPPORTED);
    if (!st->has_alg || st->sig == NULL)
        return wa_fail(why, KW_WEBAUTHN_R_MALFORMED, KW_ERR_FORMAT);
    if (!st->has_x5c) {
        /* self attestation: the credential key signs, under its own alg */
        if (st->alg != pk->alg)
            return wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_ALG, KW_ERR_VERIFY);
        if (fido_fits(pk, pad))
            r = fido_cred_check(pol, "packed", true, att_stmt, att_stmt_len, msg, ad_len, pk, cdh);
        else
            r = wa_sig_verify(pk, msg, ad_len + 32, st->sig, st->sig_len);
        if (r != KW_OK)
            return wa_fail(why, r == KW_ERR_FORMAT ? KW_WEBAUTHN_R_MALFORMED
                                                    : KW_WEBAUTHN_R_ATTESTATION_SIG, r);
        if (pol->attestation == KW_WEBAUTHN_ATTEST_REQUIRE_TRUSTED)
            return wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_REQUIRED, KW_ERR_VERIFY);
        *type = KW_WEBAUTHN_ATT_SELF;
        return KW_OK;
    }
    if (st->alg < INT32_MIN || st->alg > INT32_MAX || !wa_alg_supported((int32_t)st->alg))
        return wa_fail(why, KW_WEBAUTHN_R_UNSUPPORTED_ALG, KW_ERR_UNSUPPORTED);
    if ((leaf = cert_parse(st->x5c[0], st->x5c_len[0])) == NULL)
        return wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_CERT, KW_ERR_FORMAT);
    if ((r = packed_cert_check(leaf, pad->aaguid)) != KW_OK) {
        (void)wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_CERT, r);
        goto out;
    }
    EVP_PKEY *lk = X509_get0_pubkey(leaf);
    if (lk == NULL) {
        r = wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_CERT, KW_ERR_FORMAT);
        goto out;
    }
    /* the leaf's key must be of the kind attStmt.alg names, whichever path verifies */
    r = wa_sig_verify_evp(lk, (int32_t)st->alg, msg, ad_len + 32, st->sig, st->sig_len);
    if (r == KW_ERR_FORMAT) {
        (void)wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_ALG, KW_ERR_VERIFY);
        r = KW_ERR_VERIFY;
        goto out;
    }
    if (r == KW_OK && fido_fits(pk, pad))
        r = fido_cred_check(pol, "packed", false, att_stmt, att_stmt_len, msg, ad_len, pk, cdh);
    if (r != KW_OK) {
        (void)wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_SIG, r);
        goto out;
    }
    *type = KW_WEBAUTHN_ATT_BASIC;
    if (pol->attestation != KW_WEBAUTHN_ATTEST_ANY) {
        if ((r = chain_check(st, leaf, pol)) != KW_OK) {
            (void)wa_fail(why, KW_WEBAUTHN_R_UNTRUSTED_CHAIN, r);
            goto out;
        }
        *type = KW_WEBAUTHN_ATT_TRUSTED;
    }
    r = KW_OK;
out:
    X509_free(leaf);
    return r;
}

static int u2f_verify(kw_webauthn_att_type *type, kw_webauthn_reason *why,
                      const kw_webauthn_policy *pol, const att_stmt_t *st,
                      const uint8_t *att_stmt, size_t att_stmt_len,
                      const uint8_t *ad, size_t ad_len, const kw_webauthn_authdata *pad,
                      const wa_pubkey *pk, const uint8_t cdh[32])
{
    int r;
    X509 *leaf = NULL;
    uint8_t *base = NULL;
    if (st->sig == NULL || !st->has_x5c || st->has_alg || st->n_x5c != 1)
        return wa_fail(why, KW_WEBAUTHN_R_MALFORMED, KW_ERR_FORMAT);
    if (pk->alg != KW_COSE_ES256)
        return wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_ALG, KW_ERR_VERIFY);
    if ((leaf = cert_parse(st->x5c[0], st->x5c_len[0])) == NULL)
        return wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_CERT, KW_ERR_FORMAT);
    EVP_PKEY *lk = X509_get0_pubkey(leaf);
    if (lk == NULL) {
        r = wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_CERT, KW_ERR_FORMAT);
        goto out;
    }
    /* verificationData = 0x00 ‖ rpIdHash ‖ cdh ‖ credentialId ‖ 0x04 ‖ x ‖ y */
    size_t blen = 1 + 32 + 32 + pad->cred_id_len + 65;
    if ((base = malloc(blen)) == NULL) {
        r = wa_fail(why, KW_WEBAUTHN_R_INTERNAL, KW_ERR_NOMEM);
        goto out;
    }
    size_t o = 0;
    base[o++] = 0x00;
    memcpy(base + o, pad->rp_id_hash, 32), o += 32;
    memcpy(base + o, cdh, 32), o += 32;
    memcpy(base + o, pad->cred_id, pad->cred_id_len), o += pad->cred_id_len;
    base[o++] = 0x04;
    memcpy(base + o, pk->x, 32), o += 32;
    memcpy(base + o, pk->y, 32);
    r = wa_sig_verify_evp(lk, KW_COSE_ES256, base, blen, st->sig, st->sig_len);
    if (r == KW_ERR_FORMAT) { /* the certificate key is not P-256 */
        r = wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_CERT, KW_ERR_VERIFY);
        goto out;
    }
    if (r == KW_OK && fido_fits(pk, pad))
        r = fido_cred_check(pol, "fido-u2f", false, att_stmt, att_stmt_len, ad, ad_len, pk, cdh);
    if (r != KW_OK) {
        (void)wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_SIG, r);
        goto out;
    }
    *type = KW_WEBAUTHN_ATT_BASIC;
    if (pol->attestation != KW_WEBAUTHN_ATTEST_ANY) {
        if ((r = chain_check(st, leaf, pol)) != KW_OK) {
            (void)wa_fail(why, KW_WEBAUTHN_R_UNTRUSTED_CHAIN, r);
            goto out;
        }
        *type = KW_WEBAUTHN_ATT_TRUSTED;
    }
    r = KW_OK;
out:
    free(base);
    X509_free(leaf);
    return r;
}

int wa_attest_verify(kw_webauthn_att_type *type, kw_webauthn_reason *why,
                     const kw_webauthn_policy *pol, const char *fmt,
                     const uint8_t *att_stmt, size_t att_stmt_len,
                     const uint8_t *ad, size_t ad_len, const kw_webauthn_authdata *pad,
                     const wa_pubkey *pk, const uint8_t cdh[32])
{
    int r;
    cbor_item_t *item = NULL;
    uint8_t *msg = NULL;
    att_stmt_t st;
    *type = KW_WEBAUTHN_ATT_NONE;
    bool is_none = strcmp(fmt, "none") == 0, is_packed = strcmp(fmt, "packed") == 0,
         is_u2f = strcmp(fmt, "fido-u2f") == 0;
    if (!is_none && !is_packed && !is_u2f)
        return wa_fail(why, KW_WEBAUTHN_R_UNSUPPORTED_FMT, KW_ERR_UNSUPPORTED);
    struct cbor_load_result res;
    item = cbor_load(att_stmt, att_stmt_len, &res);
    if (item == NULL || res.error.code != CBOR_ERR_NONE || res.read != att_stmt_len) {
        r = wa_fail(why, KW_WEBAUTHN_R_MALFORMED, KW_ERR_FORMAT);
        goto out;
    }
    if ((r = stmt_parse(&st, item)) != KW_OK) {
        (void)wa_fail(why, r == KW_ERR_TOO_LARGE ? KW_WEBAUTHN_R_TOO_LARGE : KW_WEBAUTHN_R_MALFORMED,
                      r);
        goto out;
    }
    if (is_none) {
        if (st.n_pairs != 0) {
            r = wa_fail(why, KW_WEBAUTHN_R_MALFORMED, KW_ERR_FORMAT);
            goto out;
        }
        if (pol->attestation == KW_WEBAUTHN_ATTEST_REQUIRE_TRUSTED) {
            r = wa_fail(why, KW_WEBAUTHN_R_ATTESTATION_REQUIRED, KW_ERR_VERIFY);
            goto out;
        }
        r = KW_OK;
        goto out;
    }
    /* the signed message: authData ‖ clientDataHash */
    if ((msg = malloc(ad_len + 32)) == NULL) {
        r = wa_fail(why, KW_WEBAUTHN_R_INTERNAL, KW_ERR_NOMEM);
        goto out;
    }
    memcpy(msg, ad, ad_len);
    memcpy(msg + ad_len, cdh, 32);
    if (is_packed)
        r = packed_verify(type, why, pol, &st, att_stmt, att_stmt_len, msg, ad_len, pad, pk, cdh);
    else
        r = u2f_verify(type, why, pol, &st, att_stmt, att_stmt_len, ad, ad_len, pad, pk, cdh);
out:
    free(msg);
    if (item != NULL)
        cbor_decref(&item);
    return r;
}
