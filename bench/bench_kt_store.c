/* Key-transparency publishing through the store, in the server (issue 5's
 * publish figure on the server side): a real keywardd (SQLite store in a
 * temporary directory, synchronous=FULL, --test-faults) measured through
 * its test-only endpoints:
 *  - baseline: POST /v1/kt/test-vrf-rate/{n} — bare ECVRF evaluations/s on
 *    the server's publish threads (2 on this machine), in the same process
 *    and the same run;
 *  - a tree already holding N labels (POST /v1/kt/test-fill/N, published);
 *  - then N more updates: test-fill stores them (one transaction; its
 *    store_us) and the publisher's next epoch reads them from the store,
 *    indexes them (one VRF evaluation per new label on the publish
 *    threads; proofs come later from the low-priority prover, switched off
 *    here with --set kt.prover=0 so it does not share the cores), inserts
 *    them into the tree, signs, and commits the epoch (GET
 *    /v1/kt/test-stats: last_total_us);
 *  - end-to-end updates/s = N / (store_us + last_total_us), its ratio to
 *    the bare VRF rate (target >= 0.8), peak RSS of keywardd (VmHWM) and
 *    bytes stored per label-version (database growth / updates; without
 *    the 80-byte VRF proof per label the prover adds).
 * N = 10^5 by default, 10^6 with KEYWARD_BENCH_LARGE=1 (or
 * KEYWARD_BENCH_KT_STORE_N). keywardd is found in $KEYWARD_BIN_DIR, else
 * at ../bin/keywardd next to this binary. */
#define _GNU_SOURCE /* strcasestr */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "bench.h"
#include "bench_srv.h"

#define KS_BUF (64 * 1024)

typedef bench_srv ks_server;

static int ks_start(ks_server *s)
{
    static const char *const extra[] = {"--kt-epoch-ms", "500", "--set", "kt.prover=0", NULL};
    return bench_srv_start(s, "ktstore", extra);
}

static void ks_kill(ks_server *s)
{
    bench_srv_stop(s);
}

static void ks_cleanup(ks_server *s)
{
    bench_srv_cleanup(s);
}

/* One request on a fresh connection; the JSON answer parsed (NULL on any
 * failure or a status other than 200). */
static json_t *ks_call(const ks_server *s, const char *method, const char *path)
{
    static char buf[KS_BUF];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: "
                     "close\r\n\r\n",
                     method, path);
    size_t len = 0;
    if (n > 0 && write(fd, req, (size_t)n) == n) {
        ssize_t r;
        while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    if (len < 12 || atoi(buf + 9) != 200)
        return NULL;
    char *body = strstr(buf, "\r\n\r\n");
    return body == NULL ? NULL : json_loads(body + 4, 0, NULL);
}

static int64_t ks_int(json_t *o, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(o, key));
}

static long ks_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* CPU seconds (user + system, every thread) keywardd has used. */
static double ks_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long long ks_db_bytes(const ks_server *s)
{
    const char *suffix[] = {"", "-wal"};
    long long total = 0;
    for (size_t i = 0; i < 2; i++) {
        char path[400];
        struct stat st;
        snprintf(path, sizeof(path), "%s/data/keyward.db%s", s->dir, suffix[i]);
        if (stat(path, &st) == 0)
            total += (long long)st.st_size;
    }
    return total;
}

/* Fills n labels and waits until an epoch published them: *store_us (the
 * fill's store transaction) and *publish_us (the epoch's sync + index +
 * tree + sign + store commit). 0 on success. */
static int ks_fill_publish(const ks_server *s, uint64_t n, int64_t *store_us, int64_t *publish_us,
                           int64_t *index_us)
{
    char path[64];
    json_t *o = ks_call(s, "GET", "/v1/kt/test-stats");
    if (o == NULL)
        return -1;
    int64_t before = ks_int(o, "last_epoch");
    json_decref(o);
    snprintf(path, sizeof(path), "/v1/kt/test-fill/%llu", (unsigned long long)n);
    if ((o = ks_call(s, "POST", path)) == NULL) {
        printf("kt_store: fill of %llu refused\n", (unsigned long long)n);
        return -1;
    }
    *store_us = ks_int(o, "store_us");
    json_decref(o);
    for (int i = 0; i < 36000; i++) { /* up to an hour */
        usleep(100 * 1000);
        if ((o = ks_call(s, "GET", "/v1/kt/test-stats")) == NULL)
            continue;
        int done = ks_int(o, "last_epoch") != before && (uint64_t)ks_int(o, "last_n") == n;
        *publish_us = ks_int(o, "last_total_us");
        *index_us = ks_int(o, "last_index_us");
        json_decref(o);
        if (done)
            return 0;
    }
    return -1;
}

static void bench_kt_store(void)
{
    ks_server s;
    const char *env = getenv("KEYWARD_BENCH_KT_STORE_N");
    const char *large = getenv("KEYWARD_BENCH_LARGE");
    uint64_t n = large != NULL && large[0] == '1' ? 1000000 : 100000;
    if (env != NULL && strtoull(env, NULL, 10) > 0 && strtoull(env, NULL, 10) <= 1000000)
        n = strtoull(env, NULL, 10);
    if (ks_start(&s) != 0) {
        ks_cleanup(&s);
        return;
    }
    char path[64];
    json_t *o;
    double vrf1 = 0, vrf2 = 0;
    int64_t store0 = 0, pub0 = 0, idx0 = 0, store_us = 0, pub_us = 0, idx_us = 0;
    usleep(300 * 1000); /* epoch 0 */
    long long db0 = ks_db_bytes(&s);
    snprintf(path, sizeof(path), "/v1/kt/test-vrf-rate/%d", 20000);
    double c0 = ks_cpu(s.pid);
    if ((o = ks_call(&s, "POST", path)) == NULL)
        goto fail;
    double vrf_cpu = ks_cpu(s.pid) - c0;
    vrf1 = json_real_value(json_object_get(o, "per_s"));
    int threads = (int)ks_int(o, "threads");
    json_decref(o);
    /* the tree already holding n labels */
    if (ks_fill_publish(&s, n, &store0, &pub0, &idx0) != 0)
        goto fail;
    printf("kt_store: tree of %llu labels built: store %.2f s + publish %.2f s (index %.2f s)\n",
           (unsigned long long)n, (double)store0 / 1e6, (double)pub0 / 1e6, (double)idx0 / 1e6);
    /* n more, measured */
    double c1 = ks_cpu(s.pid);
    if (ks_fill_publish(&s, n, &store_us, &pub_us, &idx_us) != 0)
        goto fail;
    double pub_cpu = ks_cpu(s.pid) - c1;
    c0 = ks_cpu(s.pid);
    if ((o = ks_call(&s, "POST", path)) == NULL)
        goto fail;
    vrf_cpu += ks_cpu(s.pid) - c0;
    vrf2 = json_real_value(json_object_get(o, "per_s"));
    json_decref(o);
    long rss = ks_rss_kb(s.pid);
    ks_kill(&s); /* a clean stop checkpoints the WAL */
    long long db1 = ks_db_bytes(&s);
    double bare = (vrf1 + vrf2) / 2;
    double e2e = (double)n * 1e6 / (double)(store_us + pub_us);
    double pub = (double)n * 1e6 / (double)pub_us;
    printf("kt_store: %llu updates into a tree of %llu labels: store (enqueue) %.2f s, epoch %.2f s "
           "(index %.2f s on %d threads, the rest: read from the store, tree, sign, commit)\n",
           (unsigned long long)n, (unsigned long long)n, (double)store_us / 1e6,
           (double)pub_us / 1e6, (double)idx_us / 1e6, threads);
    printf("kt_store: bare VRF evaluations on %d threads: %.0f/s before, %.0f/s after\n", threads,
           vrf1, vrf2);
    bench_report("kt publish through the store (server, end to end incl. enqueue)", e2e,
                 "updates/s", "bare VRF evals/s, same threads, same run", bare, 0.8);
    bench_report("  kt publish through the store (epoch only, enqueue excluded)", pub, "updates/s",
                 "bare VRF evals/s", bare, 0);
    /* The same per CPU second of keywardd (fill + epoch vs the bare
     * evaluations): independent of what else runs on the machine. */
    if (vrf_cpu > 0 && pub_cpu > 0)
        bench_report("  kt publish through the store per CPU-second of keywardd", (double)n / pub_cpu,
                     "updates/cpu-s", "bare VRF evals/cpu-s", 40000.0 / vrf_cpu, 0.8);
    printf("kt_store: keywardd peak RSS %.1f MiB; stored %.1f bytes per label-version "
           "(database growth %.1f MiB / %llu versions; VRF proofs not stored: prover off)\n",
           (double)rss / 1024.0, (double)(db1 - db0) / (double)(2 * n),
           (double)(db1 - db0) / 1048576.0, (unsigned long long)(2 * n));
    ks_cleanup(&s);
    return;
fail:
    printf("kt_store: failed (server log in %s/log)\n", s.dir);
    ks_kill(&s);
}

BENCH_REGISTER("kt_store", bench_kt_store)
