/* libFuzzer target for the key-transparency directory's response parsers
 * and verifiers (kt.h), under fixed keys so that seeds made by a real
 * directory (fuzz/corpus/kt_proof) reach the deep checks.
 *
 * Input: mode (1 byte) ‖ payload.
 *  0  search response for "fuzz-label" (no pinned head); also the size
 *     parser, which must agree with the verifier about well-formedness;
 *  1  pinned head (152 bytes) ‖ search response;
 *  2  u32 version ‖ lookup response;
 *  3  u32 expected first version ‖ monitor response;
 *  4  pinned head (152 bytes) ‖ consistency response;
 *  5  a sequence of (u32 length ‖ insertion list) fed to one auditor;
 *  6  a promise for ("fuzz-label", "fuzz-value");
 *  7  an auditor record (kw_kt_auditor_sig_verify), and the same bytes as
 *     saved auditor state for kw_kt_auditor_resume over an empty store;
 *  8  pinned head (152 bytes) ‖ u16 length ‖ frontier (kw_kt_frontier_decode)
 *     ‖ search response, verified with that frontier (the compact
 *     KW_KT_RESP_SEARCH_APPEND form, or the classic one); a verified
 *     result's frontier must fold to its head's log root.
 * Every call must return 0 or a documented error, set a reason that is OK
 * exactly on success, and return values that lie inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/keyward.h"
#include "keyward/kt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t label[] = "fuzz-label";
static const uint8_t value[] = "fuzz-value";
static uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES], log_pk[KW_SIGN_PUBLICKEYBYTES];

static void setup(void)
{
    uint8_t seed[32], sk[KW_VRF_SECRETKEYBYTES];
    kw_sign_key *key = NULL;
    if (kw_init() != KW_OK)
        abort();
    memset(seed, 0x11, sizeof(seed));
    kw_vrf_keypair_from_seed(vrf_pk, sk, seed);
    memset(seed, 0x22, sizeof(seed));
    if (kw_sign_key_from_seed(&key, seed) != KW_OK)
        abort();
    kw_sign_key_public(key, log_pk);
    kw_sign_key_free(&key);
}

static void check_code(int r)
{
    if (r != KW_OK && r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE &&
        r != KW_ERR_VERIFY && r != KW_ERR_NOMEM && r != KW_ERR_INVALID_ARG)
        abort();
}

static void check_verdict(int r, kw_kt_reason why)
{
    check_code(r);
    if ((r == KW_OK) != (why == KW_KT_OK))
        abort();
    if (r == KW_ERR_VERIFY && why == KW_KT_MALFORMED)
        abort();
    if (r != KW_OK && r != KW_ERR_VERIFY && r != KW_ERR_NOMEM && why != KW_KT_MALFORMED)
        abort();
}

static void check_inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    if (n > 0 && (p < data || p + n > data + size))
        abort();
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 9;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    kw_kt_head pin;
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_reason why;
    kw_kt_result res;
    int r;
    switch (mode) {
    case 0: {
        size_t sz;
        r = kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, p, n);
        check_verdict(r, why);
        int r2 = kw_kt_search_proof_size(&sz, p, n);
        check_code(r2);
        if (r == KW_OK && (r2 != KW_OK || sz + res.value_len != n))
            abort();
        if (r == KW_OK)
            check_inside(res.value, res.value_len, p, n);
        break;
    }
    case 1:
    case 4:
        if (n < KW_KT_HEADBYTES)
            return 0;
        if (kw_kt_head_decode(&pin, p, KW_KT_HEADBYTES) == KW_OK)
            t.pinned = &pin;
        p += KW_KT_HEADBYTES;
        n -= KW_KT_HEADBYTES;
        if (mode == 1) {
            r = kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, p, n);
            check_verdict(r, why);
            if (r == KW_OK) {
                check_inside(res.value, res.value_len, p, n);
                if (t.pinned != NULL && res.head.epoch < pin.epoch)
                    abort();
            }
        } else {
            kw_kt_head nh;
            r = kw_kt_consistency_verify(&nh, &why, &t, p, n);
            if (t.pinned == NULL) {
                if (r != KW_ERR_INVALID_ARG)
                    abort();
            } else {
                check_verdict(r, why);
                if (r == KW_OK && nh.epoch < pin.epoch)
                    abort();
            }
        }
        break;
    case 2:
        if (n < 4)
            return 0;
        r = kw_kt_lookup_verify(&res, &why, &t, label, sizeof(label) - 1, be32(p), p + 4, n - 4);
        if (be32(p) == 0) {
            if (r != KW_ERR_INVALID_ARG)
                abort();
            break;
        }
        check_verdict(r, why);
        if (r == KW_OK)
            check_inside(res.value, res.value_len, p + 4, n - 4);
        break;
    case 3: {
        if (n < 4)
            return 0;
        kw_kt_monitor_result *m = malloc(sizeof(*m));
        if (m == NULL)
            return 0;
        r = kw_kt_monitor_verify(m, &why, &t, label, sizeof(label) - 1, be32(p), p + 4, n - 4);
        check_verdict(r, why);
        if (r == KW_OK) {
            if (m->count > KW_KT_MONITOR_MAXVERSIONS)
                abort();
            for (uint32_t i = 0; i < m->count; i++)
                check_inside(m->v[i].value, m->v[i].value_len, p + 4, n - 4);
        }
        free(m);
        break;
    }
    case 5: {
        kw_kt_auditor *a = NULL;
        if (kw_kt_auditor_new(&a, log_pk, NULL) != KW_OK)
            return 0;
        while (n >= 4) {
            size_t len = be32(p);
            if (len > n - 4)
                len = n - 4;
            uint64_t fe;
            r = kw_kt_auditor_feed(a, &why, &fe, p + 4, len);
            check_code(r);
            if ((r == KW_OK) != (why == KW_KT_OK))
                abort();
            p += 4 + len;
            n -= 4 + len;
        }
        uint8_t st[KW_KT_AUDIT_STATEBYTES];
        size_t sl;
        (void)kw_kt_auditor_save(a, st, sizeof(st), &sl);
        kw_kt_auditor_free(&a);
        break;
    }
    case 6: {
        kw_kt_promise pr;
        r = kw_kt_promise_verify(&pr, log_pk, label, sizeof(label) - 1, value, sizeof(value) - 1, p,
                                 n);
        check_code(r);
        if (r == KW_OK && pr.version == 0)
            abort();
        break;
    }
    case 7: {
        kw_kt_head h;
        uint8_t who[32];
        r = kw_kt_auditor_sig_verify(&h, who, p, n, NULL, log_pk);
        check_code(r);
        if (r == KW_OK && (n != KW_KT_AUDITOR_SIGBYTES || h.log_size != h.epoch + 1))
            abort();
        kw_prefix_memstore *ms = NULL;
        kw_prefix_store st;
        kw_kt_auditor *a = NULL;
        if (kw_prefix_memstore_new(&ms) != KW_OK)
            abort();
        kw_prefix_memstore_store(ms, &st);
        r = kw_kt_auditor_resume(&a, log_pk, &st, p, n);
        if (r != KW_OK && r != KW_ERR_FORMAT && r != KW_ERR_TRUNCATED && r != KW_ERR_TOO_LARGE &&
            r != KW_ERR_VERIFY && r != KW_ERR_NOT_FOUND && r != KW_ERR_NOMEM && r != KW_ERR_INVALID_ARG)
            abort();
        kw_kt_auditor_free(&a);
        kw_prefix_memstore_free(&ms);
        break;
    }
    case 8: {
        kw_log_compact fr;
        uint8_t root[32];
        if (n < KW_KT_HEADBYTES + 2)
            return 0;
        if (kw_kt_head_decode(&pin, p, KW_KT_HEADBYTES) == KW_OK)
            t.pinned = &pin;
        p += KW_KT_HEADBYTES;
        n -= KW_KT_HEADBYTES;
        size_t fl = ((size_t)p[0] << 8) | p[1];
        p += 2;
        n -= 2;
        if (fl > n)
            fl = n;
        r = kw_kt_frontier_decode(&fr, p, fl);
        check_code(r);
        if (r == KW_OK) {
            uint8_t enc[KW_KT_FRONTIER_MAXBYTES];
            size_t el;
            if (kw_kt_frontier_encode(enc, sizeof(enc), &el, &fr) != KW_OK || el != fl ||
                memcmp(enc, p, fl) != 0)
                abort();
            t.frontier = &fr;
        }
        p += fl;
        n -= fl;
        r = kw_kt_search_verify(&res, &why, &t, label, sizeof(label) - 1, p, n);
        check_verdict(r, why);
        if (r == KW_OK) {
            check_inside(res.value, res.value_len, p, n);
            if (t.pinned != NULL && res.head.epoch < pin.epoch)
                abort();
            if (!res.have_frontier || res.frontier.size != res.head.log_size)
                abort();
            kw_log_compact_root(&res.frontier, root);
            if (memcmp(root, res.head.log_root, 32) != 0)
                abort();
        }
        break;
    }
    }
    return 0;
}
