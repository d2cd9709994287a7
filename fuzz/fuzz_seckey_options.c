/* libFuzzer target: the client's reading of the server's security-key
 * request options (lib/client/keys.c, kwc_seckey_assert): rpId, challenge
 * (base64url, 16..1024 bytes), allowCredentials (at most 16 ids of at most
 * 1023 bytes). The input is the options JSON (at most 64 KiB). An in-memory
 * INSECURE software authenticator holds one ES256 credential for
 * "localhost". Properties: no crash or leak; success only when rpId is
 * "localhost" and the credential is offered, and then the assertion names
 * exactly that credential and carries clientDataJSON whose challenge is the
 * options' challenge; every failure leaves *assertion NULL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client/client_internal.h"
#include "client/keys_internal.h"
#include "keyward/client_keys.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/softkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kw_client *client;
static kw_client_authenticator *auth;
static char cred_b64[64];
static char path[64];

static void cleanup(void)
{
    kw_client_authenticator_free(&auth);
    if (path[0] != '\0')
        unlink(path);
}

static void setup_once(void)
{
    if (client != NULL)
        return;
    uint8_t cdh[32] = {0}, att[KW_SOFTKEY_INSECURE_ATTOBJ_MAXBYTES], id[32];
    size_t att_len = 0;
    kw_softkey_insecure *sk = NULL;
    if (kw_init() != KW_OK || (client = calloc(1, sizeof(*client))) == NULL)
        abort();
    snprintf(client->server, sizeof(client->server), "http://127.0.0.1:1");
    snprintf(path, sizeof(path), "/tmp/kw-fuzz-seckey-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    unlink(path); /* the soft key creates its file */
    atexit(cleanup);
    if (kw_softkey_insecure_open(&sk, path) != KW_OK ||
        kw_softkey_insecure_make_credential(sk, KW_COSE_ES256, "localhost", cdh,
                                            KW_SOFTKEY_INSECURE_ATT_NONE, 0, att, sizeof(att),
                                            &att_len, id) != KW_OK ||
        kw_b64url_encode(cred_b64, sizeof(cred_b64), id, sizeof(id)) != KW_OK)
        abort();
    kw_softkey_insecure_free(&sk);
    if (kw_client_authenticator_soft_insecure(&auth, path) != KW_OK)
        abort();
    kw_client_use_authenticator(client, auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *a = (json_t *)1;
    setup_once();
    if (size > 65536)
        return 0;
    json_t *opts = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    int r = kwc_seckey_assert(client, opts, &a);
    if (r != KW_OK) {
        if (a != NULL)
            abort();
    } else {
        const char *id = json_string_value(json_object_get(a, "rawId"));
        const char *rp = json_string_value(json_object_get(opts, "rpId"));
        const char *cd = json_string_value(
            json_object_get(json_object_get(a, "response"), "clientDataJSON"));
        uint8_t cdj[2048];
        size_t n = 0;
        if (id == NULL || strcmp(id, cred_b64) != 0 || rp == NULL || strcmp(rp, "localhost") != 0 ||
            cd == NULL || kw_b64url_decode(cdj, sizeof(cdj), &n, cd, strlen(cd)) != KW_OK)
            abort();
        json_t *c = json_loadb((const char *)cdj, n, 0, &err);
        const char *want = json_string_value(json_object_get(opts, "challenge"));
        const char *got = json_string_value(json_object_get(c, "challenge"));
        if (want == NULL || got == NULL || strcmp(want, got) != 0)
            abort();
        json_decref(c);
        json_decref(a);
    }
    json_decref(opts);
    return 0;
}
