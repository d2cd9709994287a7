/*
 * Service keys (one per data category, with generations) kept in the
 * keychain (keyward/keychain.h "services"), and the keychain updates that
 * add or roll them: POST /v1/records/keychain with the keychain re-sealed
 * under the current KK as version current+1 (compare-and-swap; on a
 * conflict the keychain is synced again and the change re-applied).
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "client/client_internal.h"
#include "keyward/client_adp.h"
#include "keyward/err.h"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define SVC_RETRIES 4

int kwc_keychain_upload(kw_client *c, const kw_keychain *kc, uint64_t version, uint64_t gen)
{
    json_t *body = NULL, *resp = NULL;
    const uint8_t *kk = kwc_profile_kk(c->p, gen);
    int r;
    if (kk == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "this device holds no KK of generation %llu",
                        (unsigned long long)gen);
    body = json_pack("{s:I}", "keychain_version", (json_int_t)version);
    if (body == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    if ((r = kwc_seal_keychain(c, body, "keychain", kc, kk, version, gen)) != KW_OK ||
        (r = kwc_http(c, "POST", "/v1/records/keychain", body, true, &resp)) != KW_OK)
        goto out;
    r = kwc_keychain_pin(c, version, gen);
out:
    json_decref(body);
    json_decref(resp);
    return r;
}

/* Applies `roll` (create when missing, or always roll) to category in a
 * freshly synced keychain and uploads it; retries on a version conflict. */
static int svc_change(kw_client *c, kw_keychain **kc, uint64_t *kcv, uint64_t *gen, const char *category,
                      bool always_roll, uint32_t *gen_out)
{
    int r = KW_ERR_INTERNAL;
    for (int attempt = 0; attempt < SVC_RETRIES; attempt++) {
        uint8_t key[KW_SVCKEY_BYTES];
        if (attempt > 0 || *kc == NULL) {
            kw_keychain_free(kc);
            if ((r = kwc_sync_kk(c, kc, kcv, gen, NULL)) != KW_OK)
                return r;
        }
        if (!always_roll && kw_keychain_svc_get(*kc, category, 0, key, gen_out) == KW_OK) {
            sodium_memzero(key, sizeof(key));
            return KW_OK; /* another device created it meanwhile */
        }
        if ((r = kw_keychain_svc_roll(*kc, category, gen_out)) != KW_OK)
            return kwc_fail(c, LOCAL, r, "cannot add a service key for '%s': %s", category, kw_strerror(r));
        r = kwc_keychain_upload(c, *kc, *kcv + 1, *gen);
        if (r == KW_OK) {
            (*kcv)++;
            /* standard protection: the server's custody copy of a new ADP or
             * interoperable key (the ADP area decides what it may hold; best
             * effort: a later `keyward adp` run uploads what is missing) */
            json_t *esc = NULL;
            if (kw_client_adp_escrow_sync(c, &esc) != KW_OK) {
                c->err[0] = '\0';
                c->origin = 0;
            }
            json_decref(esc);
            return KW_OK;
        }
        if (r != KW_ERR_CONFLICT)
            break;
    }
    kw_keychain_free(kc); /* holds a change the server did not take */
    return r;
}

int kwc_service_key_ensure(kw_client *c, kw_keychain **kc, uint64_t *kcv, uint64_t *gen,
                           const char *category, uint32_t *gen_out)
{
    uint8_t key[KW_SVCKEY_BYTES];
    if (!kw_category_name_ok(category))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG,
                        "'%s' is not a category name (1..32 bytes of [a-z0-9-])", category);
    if (*kc != NULL && kw_keychain_svc_get(*kc, category, 0, key, gen_out) == KW_OK) {
        sodium_memzero(key, sizeof(key));
        return KW_OK;
    }
    return svc_change(c, kc, kcv, gen, category, false, gen_out);
}

int kwc_service_key_get(kw_client *c, const char *category, uint32_t generation, bool create,
                        uint8_t key[static 32], uint32_t *gen_out)
{
    kw_keychain *kc = NULL;
    uint64_t kcv = 0, gen = 0;
    int r;
    sodium_memzero(key, 32);
    if ((r = kwc_need_session(c)) != KW_OK || (r = kwc_sync_kk(c, &kc, &kcv, &gen, NULL)) != KW_OK)
        return r;
    if (create && (r = kwc_service_key_ensure(c, &kc, &kcv, &gen, category, NULL)) != KW_OK)
        goto out;
    r = kc != NULL ? kw_keychain_svc_get(kc, category, generation, key, gen_out) : KW_ERR_INTERNAL;
    if (r != KW_OK)
        r = kwc_fail(c, LOCAL, r, "no service key for '%s'%s: %s", category,
                     generation != 0 ? " of that generation" : "", kw_strerror(r));
out:
    kw_keychain_free(&kc);
    return r;
}

int kwc_service_key_roll(kw_client *c, const char *category, uint32_t *gen_out)
{
    kw_keychain *kc = NULL;
    uint64_t kcv = 0, gen = 0;
    int r;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (!kw_category_name_ok(category))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "'%s' is not a category name", category);
    r = svc_change(c, &kc, &kcv, &gen, category, true, gen_out);
    kw_keychain_free(&kc);
    return r;
}
