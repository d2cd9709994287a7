/* libFuzzer target: the message codecs (keyward/envelope.h) on
 * attacker-controlled bytes. The first byte picks the decoder: 0 the
 * envelope, 1 the payload, 2 the prekey; the rest is its input.
 *
 * Checks: a failed decode returns only TRUNCATED / TOO_LARGE / FORMAT and
 * leaves the struct zeroed; a decoded envelope lies within every limit
 * (wraps, names, body inside the input, signed length + signature = input
 * length); verify under the fixed identity key and open with the fixed
 * recipient key run on whatever decoded and return OK or VERIFY only, and
 * an open that succeeds yields a payload of the body's length; a decoded
 * payload's content lies inside the input; a prekey decodes exactly when
 * it is KW_PREKEY_BYTES long and well formed.
 *
 * Seeds (fuzz/corpus/envelope/) are made with the fixed keys below by
 * building this file with -DKW_FUZZ_MAKE_SEEDS and running it with the
 * corpus directory as argument, so they reach verify and open. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/envelope.h"
#include "keyward/err.h"
#include "keyward/hpke.h"
#include "keyward/keyward.h"
#include "keyward/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t id_seed[32] = "keyward fuzz envelope identity.";
static const uint8_t s_ikm[32] = "keyward fuzz envelope sender hpk";
static const uint8_t r_ikm[32] = "keyward fuzz envelope recipient";
static const uint8_t r_dev[16] = "fuzz-recipient!";
static kw_sign_key *idk;
static uint8_t id_pk[32], s_pk[32], s_sk[32], r_pk[32], r_sk[32];
static kw_envelope *env, *zero_env;

static void setup_once(void)
{
    static int done;
    if (done)
        return;
    if (kw_init() != KW_OK || kw_sign_key_from_seed(&idk, id_seed) != KW_OK ||
        kw_hpke_derive_keypair(s_pk, s_sk, s_ikm, sizeof(s_ikm)) != KW_OK ||
        kw_hpke_derive_keypair(r_pk, r_sk, r_ikm, sizeof(r_ikm)) != KW_OK)
        abort();
    kw_sign_key_public(idk, id_pk);
    env = malloc(sizeof(*env));
    zero_env = calloc(1, sizeof(*zero_env));
    if (env == NULL || zero_env == NULL)
        abort();
    done = 1;
}

static void check_decode_error(int r)
{
    if (r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE && r != KW_ERR_FORMAT)
        abort();
}

static void fuzz_envelope(const uint8_t *in, size_t len)
{
    int r = kw_envelope_decode(env, in, len);
    if (r != KW_OK) {
        check_decode_error(r);
        if (memcmp(env, zero_env, sizeof(*env)) != 0)
            abort();
        return;
    }
    if (env->nwraps == 0 || env->nwraps > KW_ENVELOPE_WRAPS_MAX ||
        env->signed_len + KW_SIGN_BYTES != len || env->body < in ||
        env->body + env->body_len > in + env->signed_len || env->body_len > KW_ENVELOPE_BODY_MAXBYTES ||
        !kw_envelope_name_ok(env->sender) || !kw_envelope_name_ok(env->recipient) ||
        !kw_envelope_type_ok(env->type))
        abort();
    r = kw_envelope_verify(env, in, len, id_pk);
    if (r != KW_OK && r != KW_ERR_VERIFY)
        abort();
    const kw_envelope_wrap *w = kw_envelope_find(env, r_dev);
    if (w != NULL) {
        uint8_t *pt = NULL;
        size_t pl = 0;
        r = kw_envelope_open(&pt, &pl, env, w, r_sk, r_pk, s_pk);
        if (r == KW_OK) {
            if (pl + KW_ENVELOPE_TAGBYTES != env->body_len)
                abort();
            bool has_head;
            const uint8_t *content;
            size_t cl;
            r = kw_payload_decode(pt, pl, &has_head, NULL, &content, &cl);
            if (r != KW_OK && r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE)
                abort();
            free(pt);
        } else if (r != KW_ERR_VERIFY || pt != NULL) {
            abort();
        }
    }
}

static void fuzz_payload(const uint8_t *in, size_t len)
{
    bool has_head = false;
    uint8_t head[KW_PAYLOAD_HEADBYTES];
    const uint8_t *content = NULL;
    size_t cl = 0;
    int r = kw_payload_decode(in, len, &has_head, head, &content, &cl);
    if (r != KW_OK) {
        check_decode_error(r);
        if (content != NULL || cl != 0)
            abort();
        return;
    }
    if (content < in || content + cl > in + len || cl > KW_PAYLOAD_CONTENT_MAXBYTES ||
        len % KW_PAYLOAD_PADBYTES != 0)
        abort();
}

static void fuzz_prekey(const uint8_t *in, size_t len)
{
    kw_prekey pk;
    int r = kw_prekey_decode(&pk, in, len);
    if (r != KW_OK) {
        check_decode_error(r);
        return;
    }
    if (len != KW_PREKEY_BYTES || pk.prekey_id == 0)
        abort();
    r = kw_prekey_open(&pk, in, len, id_pk);
    if (r != KW_OK && r != KW_ERR_VERIFY)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_envelope(data + 1, size - 1);
        break;
    case 1:
        fuzz_payload(data + 1, size - 1);
        break;
    default:
        fuzz_prekey(data + 1, size - 1);
        break;
    }
    return 0;
}

#ifdef KW_FUZZ_MAKE_SEEDS
static void write_seed(const char *dir, const char *name, uint8_t kind, const uint8_t *b, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(&kind, 1, 1, f) != 1 || fwrite(b, 1, n, f) != n)
        abort();
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 1;
    setup_once();
    uint8_t head[KW_PAYLOAD_HEADBYTES] = {0}, *payload = NULL, *e = NULL;
    size_t plen = 0, elen = 0;
    kw_envelope_recipient rc[2] = {{.prekey_id = 0}, {.prekey_id = 3}};
    memcpy(rc[0].device_id, r_dev, 16);
    memcpy(rc[0].pk, r_pk, 32);
    memcpy(rc[1].device_id, "another-device!", 16);
    memcpy(rc[1].pk, s_pk, 32);
    kw_envelope_params p = {.id = "fuzz-message-id", .timestamp_ms = 1795800000000ull,
                            .sender = "alice", .sender_device = "fuzz-sender-dev",
                            .recipient = "bob", .type = "text"};
    const char *texts[] = {"", "hello", "a longer message that still fits one pad unit"};
    const char *names[] = {"env-empty", "env-hello", "env-long"};
    for (size_t i = 0; i < 3; i++) {
        if (kw_payload_encode(&payload, &plen, i == 1 ? head : NULL, (const uint8_t *)texts[i],
                              strlen(texts[i])) != KW_OK ||
            kw_envelope_seal(&e, &elen, &p, rc, i == 0 ? 1 : 2, s_sk, s_pk, idk, payload, plen) != KW_OK)
            return 1;
        write_seed(argv[1], names[i], 0, e, elen);
        if (i == 1) {
            write_seed(argv[1], "payload-head", 1, payload, plen);
            write_seed(argv[1], "env-truncated", 0, e, elen / 2);
        }
        free(payload);
        free(e);
    }
    uint8_t raw[KW_PREKEY_BYTES];
    kw_prekey pk = {.device_id = "fuzz-sender-dev", .prekey_id = 7, .created_ms = 1795800000000ull};
    memcpy(pk.pk, r_pk, 32);
    if (kw_prekey_sign(raw, &pk, idk) != KW_OK)
        return 1;
    write_seed(argv[1], "prekey", 2, raw, sizeof(raw));
    write_seed(argv[1], "prekey-short", 2, raw, sizeof(raw) - 10);
    return 0;
}
#endif
