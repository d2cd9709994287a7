/*
 * The PKCS#11 custody provider: an AES-256 key that never leaves a token
 * (CKA_SENSITIVE, not CKA_EXTRACTABLE), used with CKM_AES_GCM. The module
 * is loaded with dlopen; one read-write user session is opened at start and
 * shared by the HTTP threads under a mutex (a PKCS#11 session runs one
 * operation at a time).
 *
 * Declarations come from p11-kit's pkcs11.h (the OASIS PKCS#11 2.40 API).
 * Tested against SoftHSM2 (tests/unit/server/test_custody.c).
 */
#include "custody/custody.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#include "config.h"
#include "keyward/err.h"

#define P11_IV 12
#define P11_TAG 16
#define P11_PIN_MAX 256
#define P11_SLOTS_MAX 64
#define P11_DEFAULT_KEY_LABEL "keyward-custody"

typedef struct {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE key;
    bool initialized, open, logged_in;
    pthread_mutex_t lock;
} p11_impl;

static void p11_log(const char *what, CK_RV rv)
{
    fprintf(stderr, "level=error event=custody provider=pkcs11 op=%s rv=0x%lx\n", what,
            (unsigned long)rv);
}

static int p11_crypt(p11_impl *p, bool encrypt, const uint8_t *iv, const uint8_t *ad, size_t ad_len,
                     const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    CK_GCM_PARAMS gcm;
    memset(&gcm, 0, sizeof(gcm));
    gcm.pIv = (CK_BYTE_PTR)iv;
    gcm.ulIvLen = P11_IV;
    gcm.ulIvBits = P11_IV * 8;
    gcm.pAAD = (CK_BYTE_PTR)ad;
    gcm.ulAADLen = ad_len;
    gcm.ulTagBits = P11_TAG * 8;
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    CK_ULONG olen = out_cap;
    CK_RV rv;
    pthread_mutex_lock(&p->lock);
    if (encrypt) {
        rv = p->f->C_EncryptInit(p->session, &mech, p->key);
        if (rv == CKR_OK)
            rv = p->f->C_Encrypt(p->session, (CK_BYTE_PTR)in, in_len, out, &olen);
    } else {
        rv = p->f->C_DecryptInit(p->session, &mech, p->key);
        if (rv == CKR_OK)
            rv = p->f->C_Decrypt(p->session, (CK_BYTE_PTR)in, in_len, out, &olen);
    }
    pthread_mutex_unlock(&p->lock);
    if (rv != CKR_OK) {
        /* a tag that does not verify comes back as ENCRYPTED_DATA_INVALID
         * or (SoftHSM2) GENERAL_ERROR: either way the wrap does not open */
        if (!encrypt)
            return KW_ERR_VERIFY;
        p11_log("encrypt", rv);
        return KW_ERR_SYSTEM;
    }
    *out_len = olen;
    return KW_OK;
}

static int p11_seal(void *impl, const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t pt_len,
                    uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t n = 0;
    if (out_cap < P11_IV + pt_len + P11_TAG)
        return KW_ERR_TOO_LARGE;
    randombytes_buf(out, P11_IV);
    int r = p11_crypt(impl, true, out, ad, ad_len, pt, pt_len, out + P11_IV, out_cap - P11_IV, &n);
    if (r == KW_OK && n != pt_len + P11_TAG)
        r = KW_ERR_SYSTEM;
    if (r == KW_OK)
        *out_len = P11_IV + n;
    return r;
}

static int p11_open_wrap(void *impl, const uint8_t *ad, size_t ad_len, const uint8_t *in,
                         size_t in_len, uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
    uint8_t buf[KW_CUSTODY_SECRET_MAX + P11_TAG];
    size_t n = 0;
    if (in_len < P11_IV + P11_TAG || in_len - P11_IV > sizeof(buf))
        return KW_ERR_VERIFY;
    int r = p11_crypt(impl, false, in, ad, ad_len, in + P11_IV, in_len - P11_IV, buf, sizeof(buf), &n);
    if (r == KW_OK && n != in_len - P11_IV - P11_TAG)
        r = KW_ERR_VERIFY;
    if (r == KW_OK && n > pt_cap)
        r = KW_ERR_TOO_LARGE;
    if (r == KW_OK) {
        memcpy(pt, buf, n);
        *pt_len = n;
    }
    sodium_memzero(buf, sizeof(buf));
    return r;
}

static void p11_close(void *impl)
{
    p11_impl *p = impl;
    if (p == NULL)
        return;
    if (p->logged_in)
        p->f->C_Logout(p->session);
    if (p->open)
        p->f->C_CloseSession(p->session);
    if (p->initialized)
        p->f->C_Finalize(NULL);
    if (p->dl != NULL)
        dlclose(p->dl);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static const kw_custody_provider pkcs11_provider = {"pkcs11", 0x02, p11_seal, p11_open_wrap, p11_close};

/* Token labels are 32 bytes padded with spaces. */
static bool label_is(const CK_UTF8CHAR label[32], const char *want)
{
    size_t n = strlen(want);
    if (n > 32 || memcmp(label, want, n) != 0)
        return false;
    for (size_t i = n; i < 32; i++)
        if (label[i] != ' ')
            return false;
    return true;
}

static int read_pin(const kw_config *cfg, char pin[P11_PIN_MAX])
{
    const char *v = kw_config_get(cfg, "custody.pkcs11_pin");
    const char *file = kw_config_get(cfg, "custody.pkcs11_pin_file");
    if (v != NULL) {
        if (strlen(v) >= P11_PIN_MAX)
            return KW_ERR_TOO_LARGE;
        snprintf(pin, P11_PIN_MAX, "%s", v);
        return KW_OK;
    }
    if (file == NULL)
        return KW_ERR_INVALID_ARG;
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return KW_ERR_SYSTEM;
    size_t n = fread(pin, 1, P11_PIN_MAX - 1, f);
    fclose(f);
    pin[n] = '\0';
    while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
        pin[--n] = '\0';
    return n > 0 ? KW_OK : KW_ERR_INVALID_ARG;
}

static int find_or_make_key(p11_impl *p, const char *label)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG len = 32, found = 0;
    CK_ATTRIBUTE find[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_RV rv = p->f->C_FindObjectsInit(p->session, find, sizeof(find) / sizeof(find[0]));
    if (rv == CKR_OK) {
        rv = p->f->C_FindObjects(p->session, &p->key, 1, &found);
        p->f->C_FindObjectsFinal(p->session);
    }
    if (rv != CKR_OK) {
        p11_log("find key", rv);
        return KW_ERR_SYSTEM;
    }
    if (found == 1)
        return KW_OK;
    CK_ATTRIBUTE make[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},
        {CKA_DECRYPT, &yes, sizeof(yes)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
    };
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    rv = p->f->C_GenerateKey(p->session, &gen, make, sizeof(make) / sizeof(make[0]), &p->key);
    if (rv != CKR_OK) {
        p11_log("generate key", rv);
        return KW_ERR_SYSTEM;
    }
    return KW_OK;
}

int kw_custody_pkcs11_open(void **impl, const kw_custody_provider **prov, const kw_config *cfg)
{
    const char *module = kw_config_get(cfg, "custody.pkcs11_module");
    const char *token = kw_config_get(cfg, "custody.pkcs11_token");
    const char *klabel = kw_config_get(cfg, "custody.pkcs11_key_label");
    char pin[P11_PIN_MAX];
    CK_SLOT_ID slots[P11_SLOTS_MAX];
    CK_ULONG nslots = P11_SLOTS_MAX;
    CK_RV rv;
    int r = KW_ERR_SYSTEM;
    *impl = NULL;
    if (klabel == NULL)
        klabel = P11_DEFAULT_KEY_LABEL;
    if (module == NULL || token == NULL || strlen(token) > 32 || strlen(klabel) > 64) {
        fprintf(stderr, "level=error event=custody key=custody.pkcs11_module error=\"the pkcs11 "
                        "provider needs custody.pkcs11_module and custody.pkcs11_token (<= 32 "
                        "bytes)\"\n");
        return KW_ERR_INVALID_ARG;
    }
    if ((r = read_pin(cfg, pin)) != KW_OK) {
        fprintf(stderr, "level=error event=custody key=custody.pkcs11_pin error=\"no usable PIN "
                        "(custody.pkcs11_pin or custody.pkcs11_pin_file)\"\n");
        return r;
    }
    p11_impl *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    pthread_mutex_init(&p->lock, NULL);
    r = KW_ERR_SYSTEM;
    if ((p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "level=error event=custody key=custody.pkcs11_module error=\"cannot load "
                        "the module\"\n");
        goto out;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
    if (get == NULL || get(&p->f) != CKR_OK || p->f == NULL) {
        fprintf(stderr, "level=error event=custody key=custody.pkcs11_module error=\"not a PKCS#11 "
                        "module\"\n");
        goto out;
    }
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    if ((rv = p->f->C_Initialize(&args)) != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        p11_log("initialize", rv);
        goto out;
    }
    p->initialized = rv == CKR_OK;
    if ((rv = p->f->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK) {
        p11_log("slot list", rv);
        goto out;
    }
    CK_SLOT_ID slot = 0;
    bool have = false;
    for (CK_ULONG i = 0; i < nslots && !have; i++) {
        CK_TOKEN_INFO ti;
        if (p->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && label_is(ti.label, token)) {
            slot = slots[i];
            have = true;
        }
    }
    if (!have) {
        fprintf(stderr, "level=error event=custody key=custody.pkcs11_token error=\"no such token\"\n");
        goto out;
    }
    if ((rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                  &p->session)) != CKR_OK) {
        p11_log("open session", rv);
        goto out;
    }
    p->open = true;
    rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        p11_log("login", rv);
        fprintf(stderr, "level=error event=custody key=custody.pkcs11_pin error=\"token login "
                        "refused\"\n");
        goto out;
    }
    p->logged_in = rv == CKR_OK;
    if ((r = find_or_make_key(p, klabel)) != KW_OK)
        goto out;
    *impl = p;
    *prov = &pkcs11_provider;
    p = NULL; /* transferred */
    r = KW_OK;
out:
    sodium_memzero(pin, sizeof(pin));
    if (p != NULL) {
        if (r == KW_OK)
            r = KW_ERR_SYSTEM;
        p11_close(p);
    }
    return r;
}
