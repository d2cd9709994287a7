/* The prefix tree (kt_prefix.h) over the in-memory store: batch insertion
 * of 10^5 and 10^6 random indices (inserts/s, stored bytes per leaf),
 * proof sizes at 10^6 leaves (measured, and projected to 10^9 by adding
 * log2(1000) levels), proof generation and verification rates, and ten
 * later epochs of 10^4 updates each into the 10^6-leaf tree (bytes written
 * per update, before and after pruning the superseded nodes). Hash-bound
 * figures are printed against bare SHA-256 compressions measured in the
 * same run (a verification at depth d costs 2(d + 1) compressions, since
 * each 65-byte node input spans two blocks). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "keyward/keyward.h"
#include "keyward/kt_prefix.h"

#define NPROOFS 4096
#define LOG2_1E6 19.9316 /* log2(10^6), without libm */
#define LOG2_1E3 9.9658  /* log2(1000) */

typedef struct {
    uint8_t block[55]; /* one SHA-256 compression with padding */
    uint8_t out[32];
    const kw_prefix_store *st;
    uint64_t epoch;
    kw_prefix_entry *leaves;
    size_t nleaves;
    kw_prefix_proof *proofs;
    uint8_t root[32];
    size_t next;
} pbench;

static void die(const char *what)
{
    fprintf(stderr, "bench_kt_prefix: %s\n", what);
    exit(1);
}

static void op_sha256(void *arg)
{
    pbench *b = arg;
    crypto_hash_sha256(b->out, b->block, sizeof(b->block));
    b->block[0] = b->out[0];
}

static void op_verify(void *arg)
{
    pbench *b = arg;
    size_t i = b->next++ % NPROOFS;
    if (kw_prefix_verify_member(b->root, b->leaves[i].index, b->leaves[i].commitment,
                                &b->proofs[i]) != KW_OK)
        die("verify failed");
}

static void op_prove(void *arg)
{
    pbench *b = arg;
    size_t i = (b->next++ * 7919) % b->nleaves;
    if (kw_prefix_prove(b->st, b->epoch, b->leaves[i].index, &b->proofs[0], NULL) != KW_OK)
        die("prove failed");
}

static kw_prefix_entry *random_entries(size_t n)
{
    kw_prefix_entry *e = malloc(n * sizeof(*e));
    if (e == NULL)
        die("out of memory");
    randombytes_buf(e, n * sizeof(*e));
    return e;
}

/* Builds one epoch of n random leaves; prints inserts/s and bytes/leaf. */
static kw_prefix_memstore *bulk(size_t n, kw_prefix_entry **leaves_out, double sha_rate,
                                uint8_t root[32])
{
    kw_prefix_memstore *ms;
    kw_prefix_store st;
    kw_prefix_stats stats;
    kw_prefix_memstore_stats ms_stats;
    char label[80];
    if (kw_prefix_memstore_new(&ms) != KW_OK)
        die("out of memory");
    kw_prefix_memstore_store(ms, &st);
    kw_prefix_entry *e = random_entries(n), *copy = malloc(n * sizeof(*e));
    if (copy == NULL)
        die("out of memory");
    memcpy(copy, e, n * sizeof(*e));
    double t0 = bench_now();
    if (kw_prefix_update(&st, KW_PREFIX_NO_EPOCH, 1, copy, n, root, &stats) != KW_OK)
        die("update failed");
    double dt = bench_now() - t0;
    free(copy);
    kw_prefix_memstore_stats_get(ms, &ms_stats);
    snprintf(label, sizeof(label), "batch insert of %zu (one epoch)", n);
    /* each stored node costs two compressions; the baseline in the same
     * units is compressions/s divided by the nodes per leaf */
    double nodes_per_leaf = (double)stats.nodes_written / (double)n;
    bench_report(label, (double)n / dt, "leaves/s", "SHA-256 compr/s / (2*nodes/leaf)",
                 sha_rate / (2 * nodes_per_leaf), 0);
    printf("  %.2f nodes/leaf; stored %.1f bytes/leaf (key 42 + node), in-memory store %.1f "
           "bytes/leaf; %.2f s\n",
           nodes_per_leaf, (double)ms_stats.node_bytes / (double)n,
           (double)ms_stats.mem_bytes / (double)n, dt);
    *leaves_out = e;
    return ms;
}

static void bench_kt_prefix(void)
{
    pbench *b = calloc(1, sizeof(*b));
    if (b == NULL)
        die("out of memory");
    b->proofs = malloc(NPROOFS * sizeof(kw_prefix_proof));
    if (b->proofs == NULL)
        die("out of memory");
    randombytes_buf(b->block, sizeof(b->block));
    double sha = bench_rate(op_sha256, b, 1.0);
    bench_report("SHA-256 compressions (55-byte input)", sha, "ops/s", "-", 0, 0);

    kw_prefix_entry *e;
    uint8_t root[32];
    kw_prefix_memstore *ms = bulk(100000, &e, sha, root);
    kw_prefix_memstore_free(&ms);
    free(e);
    size_t n = 1000000;
    ms = bulk(n, &e, sha, root);
    kw_prefix_store st;
    kw_prefix_memstore_store(ms, &st);

    /* proof sizes at 10^6, over NPROOFS leaves and as many absent indices */
    double msum = 0, asum = 0, dsum = 0;
    size_t mmax = 0, amax = 0;
    for (size_t i = 0; i < NPROOFS; i++) {
        kw_prefix_proof *p = &b->proofs[i];
        uint8_t x[32];
        randombytes_buf(x, sizeof(x));
        if (kw_prefix_prove(&st, 1, x, p, NULL) != KW_OK || p->result == KW_PREFIX_MEMBER)
            die("absent prove failed");
        size_t len = kw_prefix_proof_encoded_len(p);
        asum += (double)len;
        amax = len > amax ? len : amax;
        if (kw_prefix_prove(&st, 1, e[i].index, p, NULL) != KW_OK || p->result != KW_PREFIX_MEMBER)
            die("prove failed");
        len = kw_prefix_proof_encoded_len(p);
        msum += (double)len;
        dsum += p->depth;
        mmax = len > mmax ? len : mmax;
    }
    double mavg = msum / NPROOFS, aavg = asum / NPROOFS, davg = dsum / NPROOFS;
    bench_report("membership proof at 10^6 (measured)", mavg, "bytes", "20 levels x 32 B", 640, 0);
    printf("  mean depth %.2f (log2 n = %.2f), max %zu bytes; non-membership mean %.1f bytes, "
           "max %zu\n",
           davg, LOG2_1E6, mmax, aavg, amax);
    printf("  a search carries one such path (v present) and the few levels where v+1's "
           "path parts from it (1 byte for a one-version label): ~%.0f bytes at 10^6, projected "
           "%.0f at 10^9 (+%.2f levels); plus the head, log proof, 1 VRF proof and the opening "
           "(bench kt_dir)\n",
           mavg + 1, mavg + 1 + 32 * LOG2_1E3, LOG2_1E3);
    bench_report("membership proof at 10^9 (projected)", mavg + 32 * LOG2_1E3, "bytes",
                 "30 levels x 32 B", 960, 0);

    /* verification and proving rates */
    b->st = &st;
    b->epoch = 1;
    b->leaves = e;
    b->nleaves = n;
    memcpy(b->root, root, 32);
    b->next = 0;
    double v = bench_rate(op_verify, b, 1.0);
    bench_report("membership verify at 10^6", v, "ops/s", "SHA-256 compr/s / (2(d+1))",
                 sha / (2 * (davg + 1)), 0);
    kw_prefix_proof keep = b->proofs[0];
    b->next = 0;
    double pr = bench_rate(op_prove, b, 1.0);
    b->proofs[0] = keep;
    bench_report("prove (in-memory store) at 10^6", pr, "ops/s", "membership verify", v, 0);

    /* later epochs: 10 x 10^4 updates into the 10^6 tree */
    kw_prefix_memstore_stats s0, s1, s2;
    kw_prefix_memstore_stats_get(ms, &s0);
    uint64_t written = 0, stale = 0, nodes = 0;
    double t = 0;
    const size_t k = 10000, epochs = 10;
    for (size_t ep = 0; ep < epochs; ep++) {
        kw_prefix_entry *u = random_entries(k);
        kw_prefix_stats stats;
        double t0 = bench_now();
        if (kw_prefix_update(&st, 1 + ep, 2 + ep, u, k, root, &stats) != KW_OK)
            die("update failed");
        t += bench_now() - t0;
        written += stats.bytes_written;
        nodes += stats.nodes_written;
        stale += stats.nodes_stale;
        free(u);
    }
    kw_prefix_memstore_stats_get(ms, &s1);
    double nodes_per_update = (double)nodes / (double)(k * epochs);
    bench_report("epoch of 10^4 updates into 10^6", (double)(k * epochs) / t, "updates/s",
                 "SHA-256 compr/s / (2*nodes/update)", sha / (2 * nodes_per_update), 0);
    printf("  written %.1f nodes, %.0f bytes/update (%.1f nodes superseded/update); store grew %.0f "
           "bytes/update before pruning\n",
           nodes_per_update, (double)written / (double)(k * epochs), (double)stale / (double)(k * epochs),
           (double)(s1.node_bytes - s0.node_bytes) / (double)(k * epochs));
    if (kw_prefix_memstore_prune(ms, 1 + epochs) != KW_OK)
        die("prune failed");
    kw_prefix_memstore_stats_get(ms, &s2);
    printf("  after pruning to the newest epoch: %.1f stored bytes/leaf over %zu leaves "
           "(%llu nodes)\n",
           (double)s2.node_bytes / (double)(n + k * epochs), n + k * epochs,
           (unsigned long long)s2.nodes);
    kw_prefix_memstore_free(&ms);
    free(e);
    free(b->proofs);
    free(b);
}

BENCH_REGISTER("kt_prefix", bench_kt_prefix)
