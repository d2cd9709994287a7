/*
 * Key custody: picks the provider from `custody.provider` and builds the
 * associated data that binds every wrap to its account, label and
 * generation (custody.h).
 */
#include "custody/custody.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "keyward/err.h"

#define AD_PREFIX "keyward custody v1"
#define AD_MAX (sizeof(AD_PREFIX) - 1 + 8 + 1 + KW_CUSTODY_LABEL_MAX + 8)

struct kw_custody {
    const kw_custody_provider *prov;
    void *impl;
};

int kw_custody_open(kw_custody **out, const kw_config *cfg, const char *data_dir)
{
    const char *name = kw_config_get(cfg, "custody.provider");
    int r;
    *out = NULL;
    kw_custody *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return KW_ERR_NOMEM;
    if (name == NULL || strcmp(name, "keyfile") == 0) {
        r = kw_custody_keyfile_open(&c->impl, &c->prov, cfg, data_dir);
    } else if (strcmp(name, "pkcs11") == 0) {
        r = kw_custody_pkcs11_open(&c->impl, &c->prov, cfg);
    } else {
        fprintf(stderr, "level=error event=custody key=custody.provider error=\"keyfile or pkcs11\"\n");
        r = KW_ERR_INVALID_ARG;
    }
    if (r != KW_OK) {
        free(c);
        return r;
    }
    *out = c;
    return KW_OK;
}

void kw_custody_close(kw_custody **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    if ((*cp)->prov != NULL && (*cp)->prov->close != NULL)
        (*cp)->prov->close((*cp)->impl);
    free(*cp);
    *cp = NULL;
}

const char *kw_custody_name(const kw_custody *c)
{
    return c->prov->name;
}

static int make_ad(uint8_t ad[AD_MAX], size_t *ad_len, int64_t account_id, const char *label,
                   int64_t generation)
{
    size_t n = label == NULL ? 0 : strlen(label), k = sizeof(AD_PREFIX) - 1;
    if (n == 0 || n > KW_CUSTODY_LABEL_MAX || account_id < 0 || generation < 0)
        return KW_ERR_INVALID_ARG;
    memcpy(ad, AD_PREFIX, k);
    for (int i = 7; i >= 0; i--)
        ad[k++] = (uint8_t)((uint64_t)account_id >> (8 * i));
    ad[k++] = (uint8_t)n;
    memcpy(ad + k, label, n);
    k += n;
    for (int i = 7; i >= 0; i--)
        ad[k++] = (uint8_t)((uint64_t)generation >> (8 * i));
    *ad_len = k;
    return KW_OK;
}

int kw_custody_wrap(kw_custody *c, int64_t account_id, const char *label, int64_t generation,
                    const uint8_t *secret, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    uint8_t ad[AD_MAX];
    size_t ad_len = 0;
    *out_len = 0;
    if (len == 0 || len > KW_CUSTODY_SECRET_MAX)
        return KW_ERR_TOO_LARGE;
    int r = make_ad(ad, &ad_len, account_id, label, generation);
    if (r != KW_OK)
        return r;
    if (out_cap < 1)
        return KW_ERR_TOO_LARGE;
    out[0] = c->prov->tag;
    r = c->prov->seal(c->impl, ad, ad_len, secret, len, out + 1, out_cap - 1, out_len);
    if (r != KW_OK) {
        sodium_memzero(out, out_cap);
        *out_len = 0;
        return r;
    }
    (*out_len)++;
    return KW_OK;
}

int kw_custody_unwrap(kw_custody *c, int64_t account_id, const char *label, int64_t generation,
                      const uint8_t *in, size_t in_len, uint8_t *secret, size_t cap, size_t *len)
{
    uint8_t ad[AD_MAX];
    size_t ad_len = 0;
    *len = 0;
    sodium_memzero(secret, cap); /* the output holds nothing unless it opens */
    int r = make_ad(ad, &ad_len, account_id, label, generation);
    if (r != KW_OK)
        return r;
    if (in_len < 1 || in_len > KW_CUSTODY_WRAP_MAX + 16)
        return KW_ERR_VERIFY;
    if (in[0] != c->prov->tag)
        return KW_ERR_VERIFY; /* made by another provider */
    r = c->prov->open(c->impl, ad, ad_len, in + 1, in_len - 1, secret, cap, len);
    if (r != KW_OK) {
        sodium_memzero(secret, cap);
        *len = 0;
    }
    return r;
}
