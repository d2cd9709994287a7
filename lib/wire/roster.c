/* The signed device roster ("KWR1"): strict codec, signing and verification.
 * See include/keyward/roster.h for the format and the contract. */
#include "keyward/roster.h"

#include <sodium.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"

#define CTX (const uint8_t *)KW_ROSTER_SIG_CONTEXT, (sizeof(KW_ROSTER_SIG_CONTEXT) - 1)

_Static_assert(KW_ROSTER_PUBLICKEYBYTES == KW_SIGN_PUBLICKEYBYTES, "account key size");

/* A bounded reader over const bytes; a short read consumes nothing. */
typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static int rd(reader *rd_, void *out, size_t n)
{
    if (rd_->n < n)
        return KW_ERR_TRUNCATED;
    if (out != NULL)
        memcpy(out, rd_->p, n);
    rd_->p += n;
    rd_->n -= n;
    return KW_OK;
}

static uint64_t be_load(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void be_store(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

static bool name_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool hpke_pk_ok(const uint8_t pk[KW_ROSTER_PUBLICKEYBYTES])
{
    return !kw_ct_is_zero(pk, KW_ROSTER_PUBLICKEYBYTES);
}

/* Whether device i clashes (id, identity key or HPKE key) with one of
 * devices[0..i). */
static bool clashes(const kw_roster_device *devs, size_t i, const kw_roster_device *d)
{
    for (size_t j = 0; j < i; j++) {
        if (memcmp(devs[j].id, d->id, KW_ROSTER_IDBYTES) == 0 ||
            memcmp(devs[j].identity_pk, d->identity_pk, KW_ROSTER_PUBLICKEYBYTES) == 0 ||
            memcmp(devs[j].hpke_pk, d->hpke_pk, KW_ROSTER_PUBLICKEYBYTES) == 0)
            return true;
    }
    return false;
}

/* Every rule of the format for a struct (the byte-level ones are in decode):
 * KW_OK or KW_ERR_FORMAT. */
static int roster_check(const kw_roster *r)
{
    if (r->version == 0 || r->name_len == 0 || r->name_len > KW_ROSTER_NAME_MAXBYTES ||
        (r->flags & ~KW_ROSTER_FLAGS_KNOWN) != 0 || r->ndevices == 0 ||
        r->ndevices > KW_ROSTER_DEVICES_MAX)
        return KW_ERR_FORMAT;
    if (!name_ok((const uint8_t *)r->name, r->name_len) || kw_sign_pk_validate(r->account_pk) != KW_OK)
        return KW_ERR_FORMAT;
    for (size_t i = 0; i < r->ndevices; i++) {
        const kw_roster_device *d = &r->devices[i];
        if (d->name_len > KW_ROSTER_DEVICE_NAME_MAXBYTES || !name_ok((const uint8_t *)d->name, d->name_len) ||
            kw_sign_pk_validate(d->identity_pk) != KW_OK || !hpke_pk_ok(d->hpke_pk) ||
            clashes(r->devices, i, d))
            return KW_ERR_FORMAT;
    }
    return KW_OK;
}

/* Length of the signed part of a checked roster. */
static size_t body_len(const kw_roster *r)
{
    size_t n = 4 + 8 + 1 + r->name_len + 32 + 1 + 2;
    for (size_t i = 0; i < r->ndevices; i++)
        n += KW_ROSTER_DEVICE_FIXEDBYTES + r->devices[i].name_len;
    return n;
}

/* Writes the signed part of a checked roster to out (KW_ROSTER_MAXBYTES). */
static size_t body_write(uint8_t *out, const kw_roster *r)
{
    size_t o = 0;
    memcpy(out, KW_ROSTER_MAGIC, 4);
    o = 4;
    be_store(out + o, r->version, 8);
    o += 8;
    out[o++] = r->name_len;
    memcpy(out + o, r->name, r->name_len);
    o += r->name_len;
    memcpy(out + o, r->account_pk, 32);
    o += 32;
    out[o++] = r->flags;
    be_store(out + o, r->ndevices, 2);
    o += 2;
    for (size_t i = 0; i < r->ndevices; i++) {
        const kw_roster_device *d = &r->devices[i];
        memcpy(out + o, d->id, 16);
        memcpy(out + o + 16, d->identity_pk, 32);
        memcpy(out + o + 48, d->hpke_pk, 32);
        o += 80;
        out[o++] = d->name_len;
        memcpy(out + o, d->name, d->name_len);
        o += d->name_len;
    }
    return o;
}

int kw_roster_init(kw_roster *r, uint64_t version, const char *account_name,
                   const uint8_t account_pk[static KW_ROSTER_PUBLICKEYBYTES], uint8_t flags)
{
    memset(r, 0, sizeof(*r));
    size_t n = account_name != NULL ? strnlen(account_name, KW_ROSTER_NAME_MAXBYTES + 1) : 0;
    if (version == 0 || n == 0 || n > KW_ROSTER_NAME_MAXBYTES || !name_ok((const uint8_t *)account_name, n) ||
        (flags & ~KW_ROSTER_FLAGS_KNOWN) != 0)
        return KW_ERR_INVALID_ARG;
    r->version = version;
    r->name_len = (uint8_t)n;
    memcpy(r->name, account_name, n);
    memcpy(r->account_pk, account_pk, KW_ROSTER_PUBLICKEYBYTES);
    r->flags = flags;
    return KW_OK;
}

int kw_roster_add(kw_roster *r, const uint8_t id[static KW_ROSTER_IDBYTES],
                  const uint8_t identity_pk[static KW_ROSTER_PUBLICKEYBYTES],
                  const uint8_t hpke_pk[static KW_ROSTER_PUBLICKEYBYTES], const char *name)
{
    size_t n = name != NULL ? strnlen(name, KW_ROSTER_DEVICE_NAME_MAXBYTES + 1) : 0;
    if (n > KW_ROSTER_DEVICE_NAME_MAXBYTES || !name_ok((const uint8_t *)name, n) ||
        kw_sign_pk_validate(identity_pk) != KW_OK || !hpke_pk_ok(hpke_pk))
        return KW_ERR_INVALID_ARG;
    if (r->ndevices >= KW_ROSTER_DEVICES_MAX)
        return KW_ERR_LIMIT;
    kw_roster_device *d = &r->devices[r->ndevices];
    memset(d, 0, sizeof(*d));
    memcpy(d->id, id, KW_ROSTER_IDBYTES);
    memcpy(d->identity_pk, identity_pk, KW_ROSTER_PUBLICKEYBYTES);
    memcpy(d->hpke_pk, hpke_pk, KW_ROSTER_PUBLICKEYBYTES);
    d->name_len = (uint8_t)n;
    if (n > 0)
        memcpy(d->name, name, n);
    if (clashes(r->devices, r->ndevices, d)) {
        memset(d, 0, sizeof(*d));
        return KW_ERR_CONFLICT;
    }
    r->ndevices++;
    return KW_OK;
}

int kw_roster_remove(kw_roster *r, const uint8_t id[static KW_ROSTER_IDBYTES])
{
    if (r->ndevices > KW_ROSTER_DEVICES_MAX)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < r->ndevices && i < KW_ROSTER_DEVICES_MAX; i++) {
        if (memcmp(r->devices[i].id, id, KW_ROSTER_IDBYTES) != 0)
            continue;
        memmove(&r->devices[i], &r->devices[i + 1], (r->ndevices - i - 1) * sizeof(r->devices[0]));
        r->ndevices--;
        memset(&r->devices[r->ndevices], 0, sizeof(r->devices[0]));
        return KW_OK;
    }
    return KW_ERR_NOT_FOUND;
}

size_t kw_roster_encoded_len(const kw_roster *r)
{
    if (roster_check(r) != KW_OK)
        return 0;
    return body_len(r) + KW_SIGN_BYTES;
}

int kw_roster_encode(uint8_t *out, size_t out_cap, size_t *out_len, const kw_roster *r,
                     const kw_sign_key *account_key)
{
    uint8_t pk[KW_SIGN_PUBLICKEYBYTES];
    int r_ = KW_ERR_INTERNAL;
    *out_len = 0;
    if (roster_check(r) != KW_OK) {
        r_ = KW_ERR_INVALID_ARG;
        goto out;
    }
    kw_sign_key_public(account_key, pk);
    if (memcmp(pk, r->account_pk, sizeof(pk)) != 0) {
        r_ = KW_ERR_INVALID_ARG;
        goto out;
    }
    size_t n = body_len(r);
    if (out_cap < n + KW_SIGN_BYTES) {
        r_ = KW_ERR_TOO_LARGE;
        goto out;
    }
    body_write(out, r);
    if ((r_ = kw_sign(account_key, out + n, CTX, out, n)) != KW_OK)
        goto out;
    *out_len = n + KW_SIGN_BYTES;
    r_ = KW_OK;
out:
    if (r_ != KW_OK && out != NULL && out_cap > 0)
        memset(out, 0, out_cap);
    return r_;
}

/* Parses in strictly into r (no signature check). */
static int roster_parse(kw_roster *r, const uint8_t *in, size_t in_len)
{
    reader rr = {in, in_len};
    uint8_t b[8];
    int e;
    memset(r, 0, sizeof(*r));
    if (in_len > KW_ROSTER_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    /* the magic: mismatch in what is there is a format error, else short */
    if (in_len > 0 && memcmp(in, KW_ROSTER_MAGIC, in_len < 4 ? in_len : 4) != 0)
        return KW_ERR_FORMAT;
    if ((e = rd(&rr, NULL, 4)) != KW_OK || (e = rd(&rr, b, 8)) != KW_OK)
        return e;
    r->version = be_load(b, 8);
    if ((e = rd(&rr, &r->name_len, 1)) != KW_OK)
        return e;
    if (r->name_len > KW_ROSTER_NAME_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if ((e = rd(&rr, r->name, r->name_len)) != KW_OK || (e = rd(&rr, r->account_pk, 32)) != KW_OK ||
        (e = rd(&rr, &r->flags, 1)) != KW_OK || (e = rd(&rr, b, 2)) != KW_OK)
        return e;
    size_t n = (size_t)be_load(b, 2);
    if (n > KW_ROSTER_DEVICES_MAX)
        return KW_ERR_TOO_LARGE;
    r->ndevices = (uint16_t)n;
    for (size_t i = 0; i < n; i++) {
        kw_roster_device *d = &r->devices[i];
        if ((e = rd(&rr, d->id, 16)) != KW_OK || (e = rd(&rr, d->identity_pk, 32)) != KW_OK ||
            (e = rd(&rr, d->hpke_pk, 32)) != KW_OK || (e = rd(&rr, &d->name_len, 1)) != KW_OK)
            return e;
        if (d->name_len > KW_ROSTER_DEVICE_NAME_MAXBYTES)
            return KW_ERR_TOO_LARGE;
        if ((e = rd(&rr, d->name, d->name_len)) != KW_OK)
            return e;
    }
    if ((e = rd(&rr, r->sig, KW_SIGN_BYTES)) != KW_OK)
        return e;
    if (rr.n != 0)
        return KW_ERR_FORMAT; /* trailing bytes */
    return roster_check(r);
}

int kw_roster_decode_unverified(kw_roster *r, const uint8_t *in, size_t in_len)
{
    int e = roster_parse(r, in, in_len);
    if (e != KW_OK)
        memset(r, 0, sizeof(*r));
    return e;
}

int kw_roster_verify(const kw_roster *r, const uint8_t account_pk[static KW_ROSTER_PUBLICKEYBYTES])
{
    uint8_t body[KW_ROSTER_MAXBYTES];
    if (roster_check(r) != KW_OK)
        return KW_ERR_FORMAT;
    if (!kw_ct_equal(r->account_pk, account_pk, KW_ROSTER_PUBLICKEYBYTES))
        return KW_ERR_VERIFY;
    size_t n = body_write(body, r);
    int e = kw_sign_verify(r->sig, account_pk, CTX, body, n);
    if (e == KW_ERR_NOMEM)
        return e;
    return e == KW_OK ? KW_OK : KW_ERR_VERIFY;
}

int kw_roster_open(kw_roster *r, const uint8_t *in, size_t in_len,
                   const uint8_t account_pk[static KW_ROSTER_PUBLICKEYBYTES])
{
    int e = roster_parse(r, in, in_len);
    if (e == KW_OK)
        e = kw_roster_verify(r, account_pk);
    if (e != KW_OK)
        memset(r, 0, sizeof(*r));
    return e;
}

const kw_roster_device *kw_roster_find(const kw_roster *r, const uint8_t id[static KW_ROSTER_IDBYTES])
{
    for (size_t i = 0; i < r->ndevices && i < KW_ROSTER_DEVICES_MAX; i++)
        if (memcmp(r->devices[i].id, id, KW_ROSTER_IDBYTES) == 0)
            return &r->devices[i];
    return NULL;
}

const kw_roster_device *kw_roster_find_hpke(const kw_roster *r,
                                            const uint8_t hpke_pk[static KW_ROSTER_PUBLICKEYBYTES])
{
    for (size_t i = 0; i < r->ndevices && i < KW_ROSTER_DEVICES_MAX; i++)
        if (memcmp(r->devices[i].hpke_pk, hpke_pk, KW_ROSTER_PUBLICKEYBYTES) == 0)
            return &r->devices[i];
    return NULL;
}

void kw_roster_diff(kw_roster_changes *d, const kw_roster *from_r, const kw_roster *to_r)
{
    memset(d, 0, sizeof(*d));
    size_t nf = from_r->ndevices < KW_ROSTER_DEVICES_MAX ? from_r->ndevices : KW_ROSTER_DEVICES_MAX;
    size_t nt = to_r->ndevices < KW_ROSTER_DEVICES_MAX ? to_r->ndevices : KW_ROSTER_DEVICES_MAX;
    for (size_t i = 0; i < nt; i++) {
        const kw_roster_device *t = &to_r->devices[i];
        const kw_roster_device *f = kw_roster_find(from_r, t->id);
        if (f == NULL)
            memcpy(d->added[d->nadded++], t->id, KW_ROSTER_IDBYTES);
        else if (memcmp(f->identity_pk, t->identity_pk, KW_ROSTER_PUBLICKEYBYTES) != 0 ||
                 memcmp(f->hpke_pk, t->hpke_pk, KW_ROSTER_PUBLICKEYBYTES) != 0)
            memcpy(d->changed[d->nchanged++], t->id, KW_ROSTER_IDBYTES);
    }
    for (size_t i = 0; i < nf; i++) {
        const kw_roster_device *f = &from_r->devices[i];
        if (kw_roster_find(to_r, f->id) == NULL)
            memcpy(d->removed[d->nremoved++], f->id, KW_ROSTER_IDBYTES);
    }
}
