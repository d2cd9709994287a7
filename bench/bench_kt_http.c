/* Key-transparency searches over HTTP against a real keywardd (the binary
 * on a temporary data directory, SQLite store, durable directory):
 *  - the directory is filled through the test-only POST /v1/kt/test-fill
 *    (server started with --test-faults) with L synthetic labels (default
 *    10^4; KEYWARD_BENCH_KT_LABELS to change), published with their VRF
 *    proofs in one epoch, so answering a search costs no VRF;
 *  - one answer is verified with kw_kt_search_verify first (the figure is
 *    about correct answers);
 *  - then 8 keep-alive connections (one thread each, raw sockets, in this
 *    process: the client shares the 2 cores with the server) ask
 *    GET /v1/kt/search/{random label} for ~3 s: answers/s against the
 *    target 2,000/s, side by side with GET /v1/kt/keys (a tiny KT answer:
 *    the HTTP floor of this server on this machine) in the same run.
 * keywardd is found in $KEYWARD_BIN_DIR, else at ../bin/keywardd next to
 * this binary. */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "bench.h"
#include "bench_srv.h"
#include "keyward/codec.h"
#include "keyward/keyward.h"
#include "keyward/kt.h"

#define KH_CONNS 8
#define KH_SECONDS 3.0
#define KH_BUF (64 * 1024)

typedef bench_srv kh_server;

static int kh_start(kh_server *s)
{
    static const char *const extra[] = {"--kt-epoch-ms", "200", NULL};
    return bench_srv_start(s, "ktbench", extra);
}

static void kh_stop(kh_server *s)
{
    bench_srv_cleanup(s);
}

/* ---- a keep-alive HTTP/1.1 client ---- */

typedef struct {
    int fd;
    char buf[KH_BUF];
} kh_conn;

static int kh_connect(kh_conn *c, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

/* One request; returns the status and points *body at the body (in c->buf,
 * NUL-terminated), or -1. */
static int kh_request(kh_conn *c, const char *method, const char *path, const char **body)
{
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", method, path);
    if (n < 0 || (size_t)n >= sizeof(req) || write(c->fd, req, (size_t)n) != n)
        return -1;
    size_t len = 0, hdr = 0, total = 0;
    for (;;) {
        ssize_t r = read(c->fd, c->buf + len, sizeof(c->buf) - 1 - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        c->buf[len] = '\0';
        if (hdr == 0) {
            char *e = strstr(c->buf, "\r\n\r\n");
            if (e == NULL)
                continue;
            hdr = (size_t)(e - c->buf) + 4;
            const char *cl = strcasestr(c->buf, "Content-Length:");
            if (cl == NULL || cl > e)
                return -1;
            total = hdr + (size_t)strtoul(cl + 15, NULL, 10);
            if (total >= sizeof(c->buf))
                return -1;
        }
        if (len >= total)
            break;
    }
    c->buf[total] = '\0';
    if (body != NULL)
        *body = c->buf + hdr;
    return atoi(c->buf + 9);
}

typedef struct {
    uint16_t port;
    uint64_t labels;
    int search; /* 0: GET /v1/kt/keys */
    double seconds;
    uint64_t ok, errors;
    uint32_t seed;
} kh_job;

static void *kh_run(void *arg)
{
    kh_job *j = arg;
    kh_conn *c = malloc(sizeof(*c));
    if (c == NULL || kh_connect(c, j->port) != 0) {
        j->errors++;
        free(c);
        return NULL;
    }
    double end = bench_now() + j->seconds;
    char path[128];
    while (bench_now() < end) {
        if (j->search) {
            j->seed = j->seed * 1103515245u + 12345u;
            snprintf(path, sizeof(path), "/v1/kt/search/kt-fill-0-%llu",
                     (unsigned long long)((j->seed >> 4) % j->labels));
        } else {
            snprintf(path, sizeof(path), "/v1/kt/keys");
        }
        int st = kh_request(c, "GET", path, NULL);
        if (st == 200)
            j->ok++;
        else {
            j->errors++;
            close(c->fd);
            if (kh_connect(c, j->port) != 0)
                break;
        }
    }
    close(c->fd);
    free(c);
    return NULL;
}

static double kh_load(uint16_t port, uint64_t labels, int search, uint64_t *errors)
{
    kh_job j[KH_CONNS];
    pthread_t t[KH_CONNS];
    double t0 = bench_now();
    for (int i = 0; i < KH_CONNS; i++) {
        j[i] = (kh_job){.port = port, .labels = labels, .search = search, .seconds = KH_SECONDS,
                        .seed = (uint32_t)(i * 7919 + 1)};
        pthread_create(&t[i], NULL, kh_run, &j[i]);
    }
    uint64_t ok = 0;
    *errors = 0;
    for (int i = 0; i < KH_CONNS; i++) {
        pthread_join(t[i], NULL);
        ok += j[i].ok;
        *errors += j[i].errors;
    }
    return (double)ok / (bench_now() - t0);
}

static int b64_field(const char *json, const char *field, uint8_t *out, size_t cap, size_t *len)
{
    json_t *o = json_loads(json, 0, NULL);
    const char *s = json_string_value(json_object_get(o, field));
    int r = s == NULL ? KW_ERR_FORMAT : kw_b64url_decode(out, cap, len, s, strlen(s));
    json_decref(o);
    return r;
}

static void bench_kt_http(void)
{
    kh_server s;
    kh_conn *c = malloc(sizeof(*c));
    uint8_t log_pk[32], vrf_pk[32], *proof = malloc(KH_BUF);
    size_t len = 0;
    const char *body = NULL;
    const char *env = getenv("KEYWARD_BENCH_KT_LABELS");
    uint64_t labels = env != NULL ? strtoull(env, NULL, 10) : 3000;
    if (labels == 0 || labels > 1000000)
        labels = 3000;
    if (c == NULL || proof == NULL || kh_start(&s) != 0) {
        free(c);
        free(proof);
        return;
    }
    if (kh_connect(c, s.port) != 0 || kh_request(c, "GET", "/v1/kt/keys", &body) != 200 ||
        b64_field(body, "log_pk", log_pk, sizeof(log_pk), &len) != KW_OK || len != 32 ||
        b64_field(body, "vrf_pk", vrf_pk, sizeof(vrf_pk), &len) != KW_OK || len != 32) {
        printf("kt_http: cannot read the directory keys\n");
        goto out;
    }
    char path[128];
    double t0 = bench_now();
    snprintf(path, sizeof(path), "/v1/kt/test-fill/%llu", (unsigned long long)labels);
    if (kh_request(c, "POST", path, &body) != 200) {
        printf("kt_http: fill refused: %s\n", body != NULL ? body : "");
        goto out;
    }
    /* Wait for the last label to be published, and verify its answer. */
    char last[64];
    snprintf(last, sizeof(last), "kt-fill-0-%llu", (unsigned long long)(labels - 1));
    snprintf(path, sizeof(path), "/v1/kt/search/%s", last);
    kw_kt_result res;
    kw_kt_reason why = KW_KT_MALFORMED;
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    int verified = 0;
    for (int i = 0; i < 6000 && !verified; i++) {
        if (kh_request(c, "GET", path, &body) == 200 &&
            b64_field(body, "proof", proof, KH_BUF, &len) == KW_OK &&
            kw_kt_search_verify(&res, &why, &t, (const uint8_t *)last, strlen(last), proof, len) ==
                KW_OK &&
            res.version == 1)
            verified = 1;
        else
            usleep(20000);
    }
    if (!verified) {
        printf("kt_http: the filled labels were not published (last reason %s)\n",
               kw_kt_reason_name(why));
        goto out;
    }
    /* The server proves new labels in the background: measure searches
     * once every stored label has its VRF proof (the steady state). */
    int proven = 0;
    for (int i = 0; i < 30000 && !proven; i++) {
        if (kh_request(c, "GET", "/v1/kt/test-stats", &body) == 200 && body != NULL &&
            strstr(body, "\"proofs_missing\":0,") != NULL)
            proven = 1;
        else
            usleep(20000);
    }
    if (!proven) {
        printf("kt_http: the background prover did not finish\n");
        goto out;
    }
    size_t without = 0;
    (void)kw_kt_search_proof_size(&without, proof, len);
    printf("kt_http: %llu labels filled, published and proven in %.1f s; one answer "
           "verified (%zu bytes, %zu without the value)\n",
           (unsigned long long)labels, bench_now() - t0, len, without);
    uint64_t e1 = 0, e2 = 0;
    double floor_rate = kh_load(s.port, labels, 0, &e1);
    double rate = kh_load(s.port, labels, 1, &e2);
    bench_report("kt search answers over HTTP (8 conns, 2 cores shared with the client)", rate,
                 "ans/s", "GET /v1/kt/keys on the same server", floor_rate, 0);
    bench_report("  kt search answers over HTTP vs target", rate, "ans/s", "target", 2000, 1.0);
    if (e1 + e2 > 0)
        printf("  errors: %llu (keys) %llu (search)\n", (unsigned long long)e1,
               (unsigned long long)e2);
out:
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    free(proof);
    kh_stop(&s);
}

BENCH_REGISTER("kt_http", bench_kt_http)
