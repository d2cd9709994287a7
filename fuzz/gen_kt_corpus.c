/* Writes the seed corpus of fuzz_kt_proof (fuzz/corpus/kt_proof) from a
 * real directory under the target's fixed keys. Not a fuzz target; build
 * and run by hand after a wire-format change:
 *   cc -std=c17 -Iinclude -Ilib fuzz/gen_kt_corpus.c build/X/libkeyward.a \
 *      -lsodium -lcrypto -o /tmp/gen && /tmp/gen fuzz/corpus/kt_proof */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/keyward.h"
#include "keyward/kt.h"

static const char *dir_out;

static void put(const char *name, uint8_t mode, const uint8_t *pre, size_t pre_len,
                const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir_out, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(&mode, 1, 1, f) != 1 || (pre_len && fwrite(pre, 1, pre_len, f) != pre_len) ||
        fwrite(p, 1, n, f) != n || fclose(f) != 0)
        abort();
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int main(int argc, char **argv)
{
    uint8_t seed[32], sk[KW_VRF_SECRETKEYBYTES], pk[KW_VRF_PUBLICKEYBYTES];
    uint8_t promise[KW_KT_PROMISE_MAXBYTES], hb[KW_KT_HEADBYTES], u[4];
    size_t plen;
    kw_sign_key *key = NULL;
    kw_kt_dir *d = NULL;
    kw_kt_head h[8];
    const uint8_t *label = (const uint8_t *)"fuzz-label", *value = (const uint8_t *)"fuzz-value";
    if (argc != 2 || kw_init() != KW_OK)
        return 1;
    dir_out = argv[1];
    memset(seed, 0x11, sizeof(seed));
    kw_vrf_keypair_from_seed(pk, sk, seed);
    memset(seed, 0x22, sizeof(seed));
    if (kw_sign_key_from_seed(&key, seed) != KW_OK)
        return 1;
    kw_kt_dir_config cfg = {.vrf_sk = sk, .log_key = key, .max_merge_delay = 2};
    if (kw_kt_dir_new(&d, &cfg) != KW_OK)
        return 1;
    kw_buf *b = kw_buf_new(KW_KT_INSERTIONS_MAXBYTES);
    /* epoch 0: empty; search of an absent label */
    if (kw_kt_dir_publish(d, 1000, &h[0]) != KW_OK)
        return 1;
    kw_kt_dir_search(d, label, 10, 0, b);
    put("search-absent", 0, NULL, 0, kw_buf_ptr(b), kw_buf_len(b));
    /* epochs 1..3: versions 1..3 of the label, other labels beside */
    for (int e = 1; e <= 3; e++) {
        char other[32];
        for (int i = 0; i < 5; i++) {
            snprintf(other, sizeof(other), "other-%d-%d", e, i);
            kw_kt_dir_update(d, (const uint8_t *)other, strlen(other), value, 10, promise,
                             sizeof(promise), &plen);
        }
        if (kw_kt_dir_update(d, label, 10, value, 10, promise, sizeof(promise), &plen) != KW_OK ||
            kw_kt_dir_publish(d, 1000 + (uint64_t)e, &h[e]) != KW_OK)
            return 1;
        if (e == 1)
            put("promise", 6, NULL, 0, promise, plen);
    }
    kw_buf_reset(b);
    kw_kt_dir_search(d, label, 10, 0, b);
    put("search", 0, NULL, 0, kw_buf_ptr(b), kw_buf_len(b));
    kw_buf_reset(b);
    kw_kt_dir_search(d, label, 10, h[1].log_size, b);
    kw_kt_head_encode(hb, &h[1]);
    put("search-pinned", 1, hb, sizeof(hb), kw_buf_ptr(b), kw_buf_len(b));
    /* mode 8: compact searches, pinned 2, 1 and 0 epochs back */
    for (int back = 2; back >= 0; back--) {
        static const char *names[] = {"search-append-current", "search-append-1back",
                                      "search-append"};
        uint8_t pre[KW_KT_HEADBYTES + 2 + KW_KT_FRONTIER_MAXBYTES], leaf[32];
        size_t fl;
        kw_log_compact fr;
        const kw_kt_head *ph = &h[3 - back];
        kw_log_compact_init(&fr);
        for (int e = 0; e <= 3 - back; e++) {
            kw_kt_log_leaf_hash(leaf, h[e].epoch, h[e].prefix_root, h[e].timestamp);
            kw_log_compact_append(&fr, leaf);
        }
        kw_kt_head_encode(pre, ph);
        if (kw_kt_frontier_encode(pre + KW_KT_HEADBYTES + 2, KW_KT_FRONTIER_MAXBYTES, &fl, &fr) != KW_OK)
            return 1;
        pre[KW_KT_HEADBYTES] = (uint8_t)(fl >> 8);
        pre[KW_KT_HEADBYTES + 1] = (uint8_t)fl;
        kw_buf_reset(b);
        if (kw_kt_dir_search_append(d, label, 10, ph->log_size, b) != KW_OK)
            return 1;
        put(names[back], 8, pre, KW_KT_HEADBYTES + 2 + fl, kw_buf_ptr(b), kw_buf_len(b));
    }
    kw_buf_reset(b);
    kw_kt_dir_lookup(d, label, 10, 1, 0, b);
    be32(u, 1);
    put("lookup-v1", 2, u, 4, kw_buf_ptr(b), kw_buf_len(b));
    kw_buf_reset(b);
    kw_kt_dir_monitor(d, label, 10, 0, 0, 0, b);
    put("monitor", 3, u, 4, kw_buf_ptr(b), kw_buf_len(b));
    kw_buf_reset(b);
    kw_kt_dir_consistency(d, 1, 3, b);
    put("consistency", 4, hb, sizeof(hb), kw_buf_ptr(b), kw_buf_len(b));
    kw_buf_reset(b);
    kw_kt_dir_search(d, (const uint8_t *)"nobody", 6, 0, b);
    put("empty-search", 0, NULL, 0, kw_buf_ptr(b), kw_buf_len(b));
    /* mode 5: (u32 length ‖ list) for epochs 0..2 */
    kw_buf *seq = kw_buf_new(KW_KT_INSERTIONS_MAXBYTES);
    for (uint64_t e = 0; e < 3; e++) {
        kw_buf_reset(b);
        kw_kt_dir_insertions(d, e, b);
        be32(u, (uint32_t)kw_buf_len(b));
        kw_buf_put(seq, u, 4);
        kw_buf_put(seq, kw_buf_ptr(b), kw_buf_len(b));
    }
    put("audit-3-epochs", 5, NULL, 0, kw_buf_ptr(seq), kw_buf_len(seq));
    kw_buf_free(&seq);
    /* mode 7: an auditor record over the newest head */
    {
        kw_sign_key *aud = NULL;
        uint8_t rec[KW_KT_AUDITOR_SIGBYTES];
        memset(seed, 0x33, sizeof(seed));
        if (kw_sign_key_from_seed(&aud, seed) != KW_OK || kw_kt_auditor_sig_make(rec, aud, &h[3]) != KW_OK)
            return 1;
        put("auditor-record", 7, NULL, 0, rec, sizeof(rec));
        kw_sign_key_free(&aud);
    }
    kw_buf_free(&b);
    kw_kt_dir_free(&d);
    kw_sign_key_free(&key);
    return 0;
}
