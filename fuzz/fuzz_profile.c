/* libFuzzer target: the device profile's files (lib/client/profile.c,
 * through the buffer parsers of lib/client/profile_parse.h that the load
 * path calls). Byte 0 selects what the rest is:
 *   even  config.json text for kwc_profile_config_parse: only FORMAT /
 *         TRUNCATED / TOO_LARGE; accepted fields are NUL-terminated within
 *         their arrays; writing the fields back as config_save does and
 *         parsing again gives the same profile;
 *   odd   the decrypted secrets.bin plaintext for kwc_secrets_parse: only
 *         TRUNCATED / FORMAT / TOO_LARGE, the secrets zeroed on error; an
 *         accepted plaintext re-serialises to exactly the input (canonical).
 * The secrets.bin header (magic and pwkey record) is covered by
 * fuzz_pwkey; the AEAD and Argon2id steps are not parsers. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/profile_parse.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

static void check_terminated(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        abort();
}

/* The public fields, as config_save writes them. */
static char *dump_config(const kwc_profile *p)
{
    char id[32], pk[64];
    if (kw_b64url_encode(id, sizeof(id), p->device_id, KWC_ID_BYTES) != KW_OK)
        abort();
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "server", p->server, "account", p->account,
                          "device_id", id, "device_name", p->device_name, "state", p->state);
    if (o == NULL)
        abort();
    if (p->has_account_pk) {
        if (kw_b64url_encode(pk, sizeof(pk), p->account_pk, 32) != KW_OK ||
            json_object_set_new(o, "account_pk", json_string(pk)) != 0)
            abort();
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    if (text == NULL)
        abort();
    return text;
}

static void fuzz_config(const uint8_t *data, size_t size)
{
    kwc_profile *p = calloc(1, sizeof(*p)), *q = calloc(1, sizeof(*q));
    if (p == NULL || q == NULL)
        abort();
    int r = kwc_profile_config_parse(p, data, size);
    if (r != KW_OK) {
        if (r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE)
            abort();
        goto out;
    }
    if (size > KWC_CONFIG_MAXBYTES)
        abort();
    check_terminated(p->server, sizeof(p->server));
    check_terminated(p->account, sizeof(p->account));
    check_terminated(p->device_name, sizeof(p->device_name));
    check_terminated(p->state, sizeof(p->state));
    /* json_pack needs UTF-8: the parser only accepts valid JSON strings,
     * but an embedded \u0000 shortens the C string, still valid UTF-8. */
    char *text = dump_config(p);
    r = kwc_profile_config_parse(q, (const uint8_t *)text, strlen(text));
    free(text);
    if (r != KW_OK || strcmp(p->server, q->server) != 0 || strcmp(p->account, q->account) != 0 ||
        strcmp(p->device_name, q->device_name) != 0 || strcmp(p->state, q->state) != 0 ||
        memcmp(p->device_id, q->device_id, KWC_ID_BYTES) != 0 ||
        p->has_account_pk != q->has_account_pk ||
        (p->has_account_pk && memcmp(p->account_pk, q->account_pk, 32) != 0))
        abort();
out:
    free(p);
    free(q);
}

static void fuzz_secrets(const uint8_t *data, size_t size)
{
    kwc_secrets *s = malloc(sizeof(*s));
    if (s == NULL)
        abort();
    memset(s, 0xa5, sizeof(*s));
    int r = kwc_secrets_parse(s, data, size);
    if (r != KW_OK) {
        if (r != KW_ERR_TRUNCATED && r != KW_ERR_FORMAT && r != KW_ERR_TOO_LARGE)
            abort();
        if (r == KW_ERR_TOO_LARGE && size <= KWC_SECRETS_MAXBYTES)
            abort();
        if (!all_zero(s, sizeof(*s)))
            abort();
        free(s);
        return;
    }
    if (s->nkk > KWC_KK_MAX || s->has_account_seed > 1)
        abort();
    check_terminated(s->token, sizeof(s->token));
    uint8_t *out = malloc(KWC_SECRETS_MAXBYTES);
    size_t len = 0;
    if (out == NULL || kwc_secrets_serialize(s, out, KWC_SECRETS_MAXBYTES, &len) != KW_OK ||
        len != size || memcmp(out, data, size) != 0)
        abort();
    if (len > 0 && kwc_secrets_serialize(s, out, len - 1, &len) != KW_ERR_TOO_LARGE)
        abort();
    free(out);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (kw_init() != KW_OK)
            abort();
        init = 1;
    }
    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0)
        fuzz_config(data + 1, size - 1);
    else
        fuzz_secrets(data + 1, size - 1);
    return 0;
}
