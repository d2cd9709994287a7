/* keywardd end to end: the real server binary on a temporary data directory,
 * driven over loopback HTTP/1.1 keep-alive connections by raw-socket clients
 * in this process (no HTTP library on the client side).
 *
 * 1. OPAQUE logins completed per second with 32 concurrent clients: one
 *    account (Identity KSF on the client, as the API tests do: the server
 *    never runs the KSF), then 32 threads loop login/start -> client finish
 *    -> login/finish as the account's known first device (device_sig) for
 *    ~5 s. Each client prepares a pool of KE1s (GenerateKE1) before the
 *    timed window, so the clients take less of the shared cores; the
 *    server's work per login is the same. Full-login latency p50/p99 and errors are printed, and the CPU
 *    split between the clients (this process) and keywardd: both run on the
 *    same cores, so the server figure is shared with the clients' crypto.
 *    Baseline: the same login's OPAQUE server work (KE2 + ServerFinish)
 *    in-process on one core. Target >= 1,000 logins/s.
 * 2. Authenticated small requests (GET /v1/devices with a bearer token) on
 *    32 keep-alive connections from one epoll client, side by side with the
 *    static ~200-byte GET /v1/static from the same server (ratio printed).
 *    Target >= 10,000 requests/s.
 *
 * keywardd is found in $KEYWARD_BIN_DIR, else at ../bin/keywardd next to
 * this binary (build with `make BUILD=... programs` first). */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "bench.h"
#include "keyward/codec.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"
#include "keyward/roster.h"
#include "keyward/sign.h"

#define SB_CLIENTS 32
#define SB_LOGIN_SECONDS 5.0
#define SB_SMALL_SECONDS 3.0
#define SB_LOGIN_TARGET 1000.0
#define SB_SMALL_TARGET 10000.0
#define SB_BUF 65536
#define SB_LAT_MAX 200000
/* Must match the server (server/api/areas.h, docs/api.md). */
#define SB_OPAQUE_CONTEXT "keyward-opaque-v1"
#define SB_LOGIN_SIG_CONTEXT "login"

/* ---- the server process ---- */

typedef struct {
    char dir[256];
    pid_t pid;
    uint16_t port;
} sb_server;

static int find_keywardd(char *out, size_t cap)
{
    const char *env = getenv("KEYWARD_BIN_DIR");
    if (env != NULL && env[0] != '\0') {
        int w = snprintf(out, cap, "%s/keywardd", env);
        if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0)
            return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    int w = snprintf(out, cap, "%s/../bin/keywardd", self);
    if (w < 0 || (size_t)w >= cap)
        return -1;
    return access(out, X_OK) == 0 ? 0 : -1;
}

static void sb_rmdir(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", dir);
}

/* Starts keywardd on 127.0.0.1, port 0, in a fresh temporary directory;
 * waits for its port file. extra: NULL-terminated additional arguments. */
static int sb_start(sb_server *s, const char *const *extra)
{
    char bin[PATH_MAX], data[300], portfile[300], log[300];
    memset(s, 0, sizeof(*s));
    if (find_keywardd(bin, sizeof(bin)) != 0) {
        printf("keywardd not found: set KEYWARD_BIN_DIR or build it next to the bench "
               "(make BUILD=<dir> programs)\n");
        return -1;
    }
    const char *tmp = getenv("TMPDIR"); /* e.g. TMPDIR=/dev/shm takes the disk out of the figure */
    int w = snprintf(s->dir, sizeof(s->dir), "%s/kw-srvbench-XXXXXX",
                     tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
    if (w < 0 || (size_t)w >= sizeof(s->dir))
        return -1;
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(data, sizeof(data), "%s/data", s->dir);
    snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
    snprintf(log, sizeof(log), "%s/log", s->dir);
    const char *argv[32] = {bin,          "--listen", "127.0.0.1:0", "--data", data,
                            "--port-file", portfile,  "--quiet"};
    size_t argc = 8;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(portfile, "r");
        unsigned p = 0;
        if (f != NULL) {
            int got = fscanf(f, "%u", &p);
            fclose(f);
            if (got == 1 && p > 0 && p < 65536) {
                s->port = (uint16_t)p;
                return 0;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            printf("keywardd exited at start (see its log)\n");
            s->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    printf("keywardd did not write its port file\n");
    return -1;
}

static void sb_stop(sb_server *s)
{
    if (s->pid > 0) {
        int st;
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
    if (s->dir[0] != '\0')
        sb_rmdir(s->dir);
}

/* utime + stime of a process in seconds (from /proc/<pid>/stat). */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    unsigned long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- a raw HTTP/1.1 keep-alive client ---- */

typedef struct {
    int fd;
    uint16_t port;
    char buf[SB_BUF];
    size_t len;   /* bytes in buf */
    size_t hdr;   /* header length of the response in buf, 0 until known */
    size_t total; /* header + body length, 0 until known */
} sb_conn;

static int sb_connect(sb_conn *c, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->port = port;
    c->len = c->hdr = c->total = 0;
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

static void sb_close(sb_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Formats a request into out; returns its length (0 when it does not fit). */
static size_t sb_format(char *out, size_t cap, const char *method, const char *path, const char *token,
                        const char *body, size_t body_len)
{
    int n = snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s", method, path,
                     token != NULL ? "Authorization: Bearer " : "", token != NULL ? token : "",
                     token != NULL ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t o = (size_t)n;
    if (body != NULL)
        n = snprintf(out + o, cap - o, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     body_len);
    else
        n = snprintf(out + o, cap - o, "\r\n");
    if (n < 0 || (size_t)n >= cap - o)
        return 0;
    o += (size_t)n;
    if (body != NULL) {
        if (body_len > cap - o)
            return 0;
        memcpy(out + o, body, body_len);
        o += body_len;
    }
    return o;
}

/* Looks at the bytes received so far: 1 when a whole response is in buf,
 * 0 when more are needed, -1 on a malformed response. */
static int sb_parse(sb_conn *c)
{
    if (c->hdr == 0) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end == NULL)
            return c->len == sizeof(c->buf) ? -1 : 0;
        c->hdr = (size_t)(end - c->buf) + 4;
        size_t cl = 0;
        bool have = false;
        for (char *p = c->buf; p < c->buf + c->hdr;) {
            char *eol = memmem(p, (size_t)(c->buf + c->hdr - p), "\r\n", 2);
            if (eol == NULL)
                break;
            if (eol - p > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
                cl = strtoul(p + 15, NULL, 10);
                have = true;
            }
            p = eol + 2;
        }
        if (!have || cl > sizeof(c->buf) - c->hdr)
            return -1;
        c->total = c->hdr + cl;
    }
    return c->len >= c->total ? 1 : 0;
}

/* The status of the complete response in buf; body at buf + hdr. */
static int sb_status(const sb_conn *c)
{
    int st = 0;
    if (sscanf(c->buf, "HTTP/1.%*c %d", &st) != 1)
        return -1;
    return st;
}

/* Drops the response just handled (keeping any bytes after it). */
static void sb_consume(sb_conn *c)
{
    size_t rest = c->len - c->total;
    memmove(c->buf, c->buf + c->total, rest);
    c->len = rest;
    c->hdr = c->total = 0;
}

/* One blocking request; returns the status (or -1) with the body as a
 * NUL-terminated string in *body (valid until the next call). */
static int sb_request(sb_conn *c, const char *method, const char *path, const char *token,
                      const char *body, const char **reply)
{
    static _Thread_local char req[16384];
    size_t n = sb_format(req, sizeof(req), method, path, token, body, body != NULL ? strlen(body) : 0);
    if (n == 0)
        return -1;
    if (c->fd < 0 && sb_connect(c, c->port) != 0)
        return -1;
    for (size_t o = 0; o < n;) {
        ssize_t w = send(c->fd, req + o, n - o, MSG_NOSIGNAL);
        if (w <= 0) {
            sb_close(c);
            return -1;
        }
        o += (size_t)w;
    }
    int pr;
    while ((pr = sb_parse(c)) == 0) {
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
        if (r <= 0) {
            sb_close(c);
            return -1;
        }
        c->len += (size_t)r;
    }
    if (pr < 0) {
        sb_close(c);
        return -1;
    }
    int st = sb_status(c);
    static _Thread_local char out[SB_BUF];
    size_t blen = c->total - c->hdr;
    memcpy(out, c->buf + c->hdr, blen);
    out[blen] = '\0';
    sb_consume(c);
    *reply = out;
    return st;
}

/* ---- JSON and base64url helpers ---- */

static void b64(char *out, size_t cap, const uint8_t *p, size_t n)
{
    if (kw_b64url_encode(out, cap, p, n) != KW_OK)
        out[0] = '\0';
}

static int unb64_field(json_t *o, const char *field, uint8_t *out, size_t len)
{
    const char *s = json_string_value(json_object_get(o, field));
    size_t n = 0;
    if (s == NULL || kw_b64url_decode(out, len, &n, s, strlen(s)) != KW_OK || n != len)
        return -1;
    return 0;
}

static void opaque_config(kw_opaque_config *cfg)
{
    kw_opaque_config_default(cfg, (const uint8_t *)SB_OPAQUE_CONTEXT, sizeof(SB_OPAQUE_CONTEXT) - 1);
    cfg->ksf = KW_OPAQUE_KSF_IDENTITY;
}

/* ---- the account ---- */

typedef struct {
    char name[32];
    char password[32];
    kw_sign_key *account_sk;
    uint8_t account_pk[32];
    uint8_t dev_id[16];
    kw_sign_key *dev_sk;
    uint8_t dev_pk[32];
    uint8_t dev_hpke[32];
    char token[64];
    char device_json[400];
} sb_account;

static int sb_register(sb_conn *c, sb_account *a, const char *name)
{
    kw_opaque_config cfg;
    kw_opaque_client *oc = NULL;
    kw_roster *ro = NULL;
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], resp[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], export_key[KW_OPAQUE_EXPORT_KEYBYTES];
    uint8_t *roster = NULL, blob[200];
    size_t roster_len = 0;
    char *body = NULL, e1[512], e2[512], e3[512], e4[2048];
    const char *reply;
    json_t *j = NULL;
    int ok = -1;
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->password, sizeof(a->password), "pw-%s", name);
    randombytes_buf(a->dev_id, sizeof(a->dev_id));
    randombytes_buf(a->dev_hpke, sizeof(a->dev_hpke));
    if (kw_sign_key_new(&a->account_sk) != KW_OK || kw_sign_key_new(&a->dev_sk) != KW_OK)
        goto out;
    kw_sign_key_public(a->account_sk, a->account_pk);
    kw_sign_key_public(a->dev_sk, a->dev_pk);
    char id[32], ipk[64], hpk[64];
    b64(id, sizeof(id), a->dev_id, 16);
    b64(ipk, sizeof(ipk), a->dev_pk, 32);
    b64(hpk, sizeof(hpk), a->dev_hpke, 32);
    snprintf(a->device_json, sizeof(a->device_json),
             "{\"id\":\"%s\",\"name\":\"bench-dev\",\"identity_pk\":\"%s\",\"hpke_pk\":\"%s\"}", id, ipk,
             hpk);

    opaque_config(&cfg);
    if (kw_opaque_client_new(&oc, &cfg) != KW_OK ||
        kw_opaque_client_registration_start(oc, req, (const uint8_t *)a->password, strlen(a->password)) !=
            KW_OK)
        goto out;
    b64(e1, sizeof(e1), req, sizeof(req));
    snprintf(e4, sizeof(e4), "{\"name\":\"%s\",\"request\":\"%s\"}", name, e1);
    if (sb_request(c, "POST", "/v1/accounts/register/start", NULL, e4, &reply) != 200 ||
        (j = json_loads(reply, 0, NULL)) == NULL || unb64_field(j, "response", resp, sizeof(resp)) != 0)
        goto out;
    if (kw_opaque_client_registration_finish(oc, record, export_key, resp, sizeof(resp), NULL) != KW_OK)
        goto out;
    ro = malloc(sizeof(*ro));
    roster = malloc(KW_ROSTER_MAXBYTES);
    if (ro == NULL || roster == NULL ||
        kw_roster_init(ro, 1, name, a->account_pk, 0) != KW_OK ||
        kw_roster_add(ro, a->dev_id, a->dev_pk, a->dev_hpke, "bench-dev") != KW_OK ||
        kw_roster_encode(roster, KW_ROSTER_MAXBYTES, &roster_len, ro, a->account_sk) != KW_OK)
        goto out;
    size_t cap = kw_b64url_encoded_len(roster_len) + 4096;
    body = malloc(cap);
    char *rb = malloc(kw_b64url_encoded_len(roster_len) + 1);
    if (body == NULL || rb == NULL) {
        free(rb);
        goto out;
    }
    b64(rb, kw_b64url_encoded_len(roster_len) + 1, roster, roster_len);
    b64(e1, sizeof(e1), record, sizeof(record));
    b64(e2, sizeof(e2), a->account_pk, 32);
    randombytes_buf(blob, sizeof(blob));
    b64(e3, sizeof(e3), blob, sizeof(blob));
    b64(e4, sizeof(e4), blob, 80);
    snprintf(body, cap,
             "{\"name\":\"%s\",\"record\":\"%s\",\"account_pk\":\"%s\",\"device\":%s,\"roster\":\"%s\","
             "\"keychain\":\"%s\",\"wrap\":\"%s\"}",
             name, e1, e2, a->device_json, rb, e3, e4);
    free(rb);
    json_decref(j);
    j = NULL;
    if (sb_request(c, "POST", "/v1/accounts/register/finish", NULL, body, &reply) != 200 ||
        (j = json_loads(reply, 0, NULL)) == NULL ||
        json_string_value(json_object_get(j, "token")) == NULL)
        goto out;
    snprintf(a->token, sizeof(a->token), "%s", json_string_value(json_object_get(j, "token")));
    ok = 0;
out:
    json_decref(j);
    free(body);
    free(roster);
    free(ro);
    kw_opaque_client_free(&oc);
    return ok;
}

static void sb_account_free(sb_account *a)
{
    kw_sign_key_free(&a->account_sk);
    kw_sign_key_free(&a->dev_sk);
}

/* ---- 1. logins ---- */

/* A client whose KE1 is already made. The load generator prepares a pool
 * of them before the timed window, so that the clients, which share the
 * cores with keywardd, spend less of them: the server's work per login is
 * unchanged. */
typedef struct {
    kw_opaque_client *c;
    uint8_t ke1[KW_OPAQUE_KE1BYTES];
} pre_login;

#define SB_PRE_PER_CLIENT 250

typedef struct {
    const sb_account *a;
    uint16_t port;
    pthread_barrier_t *ready, *go;
    const _Atomic double *deadline;
    pre_login *pre;
    size_t npre, next_pre;
    double *lat;
    size_t nlat;
    unsigned long ok, errors;
} login_worker;

static int pre_make(pre_login *p, const sb_account *a)
{
    kw_opaque_config cfg;
    opaque_config(&cfg);
    p->c = NULL;
    if (kw_opaque_client_new(&p->c, &cfg) != KW_OK ||
        kw_opaque_client_login_start(p->c, p->ke1, (const uint8_t *)a->password, strlen(a->password)) != KW_OK) {
        kw_opaque_client_free(&p->c);
        return -1;
    }
    return 0;
}

/* One full sign-in from a prepared KE1: 0 on a 200 with a token. Frees p->c. */
static int one_login(sb_conn *c, const sb_account *a, pre_login *p)
{
    kw_opaque_client *oc = p->c;
    uint8_t ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES];
    uint8_t sk[KW_OPAQUE_SESSION_KEYBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES], msg[32], sig[KW_SIGN_BYTES];
    char e1[256], e2[128], e3[256], body[1024];
    const char *reply;
    json_t *j = NULL;
    int r = -1;
    p->c = NULL;
    if (oc == NULL)
        goto out;
    b64(e1, sizeof(e1), p->ke1, sizeof(p->ke1));
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"ke1\":\"%s\"}", a->name, e1);
    if (sb_request(c, "POST", "/v1/login/start", NULL, body, &reply) != 200 ||
        (j = json_loads(reply, 0, NULL)) == NULL || unb64_field(j, "login_id", msg, 16) != 0 ||
        unb64_field(j, "ke2", ke2, sizeof(ke2)) != 0)
        goto out;
    if (kw_opaque_client_login_finish(oc, ke3, sk, ek, ke2, sizeof(ke2), NULL) != KW_OK)
        goto out;
    memcpy(msg + 16, a->dev_id, 16);
    if (kw_sign(a->dev_sk, sig, (const uint8_t *)SB_LOGIN_SIG_CONTEXT, sizeof(SB_LOGIN_SIG_CONTEXT) - 1,
                msg, sizeof(msg)) != KW_OK)
        goto out;
    b64(e1, sizeof(e1), msg, 16);
    b64(e2, sizeof(e2), ke3, sizeof(ke3));
    b64(e3, sizeof(e3), sig, sizeof(sig));
    snprintf(body, sizeof(body), "{\"login_id\":\"%s\",\"ke3\":\"%s\",\"device\":%s,\"device_sig\":\"%s\"}",
             e1, e2, a->device_json, e3);
    json_decref(j);
    j = NULL;
    if (sb_request(c, "POST", "/v1/login/finish", NULL, body, &reply) != 200 ||
        strstr(reply, "\"token\"") == NULL)
        goto out;
    r = 0;
out:
    json_decref(j);
    kw_opaque_client_free(&oc);
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(ek, sizeof(ek));
    return r;
}

static void *login_thread(void *arg)
{
    login_worker *w = arg;
    sb_conn *c = calloc(1, sizeof(*c));
    while (c != NULL && w->npre < SB_PRE_PER_CLIENT && pre_make(&w->pre[w->npre], w->a) == 0)
        w->npre++;
    pthread_barrier_wait(w->ready);
    pthread_barrier_wait(w->go);
    if (c == NULL)
        return NULL;
    c->fd = -1;
    c->port = w->port;
    double t, deadline = *w->deadline;
    while ((t = bench_now()) < deadline) {
        pre_login fresh, *p = w->next_pre < w->npre ? &w->pre[w->next_pre++] : &fresh;
        if (p == &fresh && pre_make(&fresh, w->a) != 0)
            fresh.c = NULL;
        int r = one_login(c, w->a, p);
        double dt = bench_now() - t;
        if (r == 0) {
            w->ok++;
            if (w->nlat < SB_LAT_MAX / SB_CLIENTS)
                w->lat[w->nlat++] = dt;
        } else {
            w->errors++;
        }
    }
    for (size_t i = w->next_pre; i < w->npre; i++)
        kw_opaque_client_free(&w->pre[i].c);
    sb_close(c);
    free(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* In-process: the OPAQUE server work of one login (KE2 + ServerFinish),
 * one core, clients' work kept out of the timing. Returns logins/s. */
static double server_crypto_rate(double seconds)
{
    kw_opaque_config cfg;
    kw_opaque_server *srv = NULL;
    kw_opaque_client *c = NULL;
    kw_opaque_server_login *lg = NULL;
    uint8_t sk[32], pk[32], seed[64], req[KW_OPAQUE_REGISTRATION_REQUESTBYTES];
    uint8_t resp[KW_OPAQUE_REGISTRATION_RESPONSEBYTES], rec[KW_OPAQUE_REGISTRATION_RECORDBYTES];
    uint8_t ek[64], ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES], sess[64];
    static const uint8_t pw[] = "pw", cred[] = "bench";
    double spent = 0, rate = 0;
    unsigned long n = 0;
    opaque_config(&cfg);
    randombytes_buf(seed, sizeof(seed));
    if (kw_opaque_keygen(cfg.group, sk, pk) != KW_OK || kw_opaque_server_new(&srv, &cfg, sk, pk, seed) != KW_OK ||
        kw_opaque_client_new(&c, &cfg) != KW_OK ||
        kw_opaque_client_registration_start(c, req, pw, sizeof(pw)) != KW_OK ||
        kw_opaque_server_registration_response(srv, resp, req, sizeof(req), cred, sizeof(cred)) != KW_OK ||
        kw_opaque_client_registration_finish(c, rec, ek, resp, sizeof(resp), NULL) != KW_OK)
        goto out;
    double start = bench_now();
    while (bench_now() - start < seconds) {
        if (kw_opaque_client_login_start(c, ke1, pw, sizeof(pw)) != KW_OK)
            goto out;
        double t0 = bench_now();
        int r = kw_opaque_server_ke2(srv, &lg, ke2, rec, sizeof(rec), cred, sizeof(cred), ke1, sizeof(ke1),
                                     NULL);
        spent += bench_now() - t0;
        if (r != KW_OK || kw_opaque_client_login_finish(c, ke3, sess, ek, ke2, sizeof(ke2), NULL) != KW_OK)
            goto out;
        t0 = bench_now();
        r = kw_opaque_server_finish(lg, sess, ke3, sizeof(ke3));
        spent += bench_now() - t0;
        kw_opaque_server_login_free(&lg);
        if (r != KW_OK)
            goto out;
        n++;
    }
    rate = spent > 0 ? (double)n / spent : 0;
out:
    kw_opaque_server_login_free(&lg);
    kw_opaque_client_free(&c);
    kw_opaque_server_free(&srv);
    sodium_memzero(sk, sizeof(sk));
    return rate;
}

static void bench_logins(const sb_server *s, const sb_account *a)
{
    static double lat[SB_LAT_MAX];
    login_worker w[SB_CLIENTS];
    pthread_t th[SB_CLIENTS];
    pthread_barrier_t ready, go;
    static _Atomic double deadline;
    static pre_login pre[SB_CLIENTS][SB_PRE_PER_CLIENT];
    double base = server_crypto_rate(1.0);
    pthread_barrier_init(&ready, NULL, SB_CLIENTS + 1);
    pthread_barrier_init(&go, NULL, SB_CLIENTS + 1);
    for (size_t i = 0; i < SB_CLIENTS; i++) {
        w[i] = (login_worker){.a = a, .port = s->port, .ready = &ready, .go = &go, .deadline = &deadline,
                              .pre = pre[i], .lat = lat + i * (SB_LAT_MAX / SB_CLIENTS)};
        if (pthread_create(&th[i], NULL, login_thread, &w[i]) != 0) {
            printf("cannot start client threads\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&ready); /* KE1 pools made */
    double cpu_self0 = self_cpu(), cpu_srv0 = proc_cpu(s->pid), t0 = bench_now();
    deadline = t0 + SB_LOGIN_SECONDS;
    pthread_barrier_wait(&go);
    unsigned long ok = 0, errors = 0;
    size_t nl = 0;
    for (size_t i = 0; i < SB_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        errors += w[i].errors;
        memmove(lat + nl, w[i].lat, w[i].nlat * sizeof(double));
        nl += w[i].nlat;
    }
    double elapsed = bench_now() - t0;
    double cpu_self = self_cpu() - cpu_self0, cpu_srv = proc_cpu(s->pid) - cpu_srv0;
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    qsort(lat, nl, sizeof(double), cmp_double);
    double rate = (double)ok / elapsed;
    bench_report("keywardd OPAQUE logins, 32 clients", rate, "logins/s",
                 "OPAQUE server crypto, 1 core", base, 0);
    printf("  full login (login/start + client finish + login/finish; KE1s prepared before the window)"
           " p50 %.2f ms, p99 %.2f ms; "
           "%lu logins, %lu errors in %.2f s\n",
           pct(lat, nl, 0.50) * 1e3, pct(lat, nl, 0.99) * 1e3, ok, errors, elapsed);
    double total = cpu_self + cpu_srv;
    printf("  CPU over the run (%ld cores, clients share them): keywardd %.2f s (%.0f us/login), "
           "clients %.2f s (%.0f%% of the total %.2f s, %.0f%% of the cores' time)\n",
           sysconf(_SC_NPROCESSORS_ONLN), cpu_srv, ok > 0 ? cpu_srv / (double)ok * 1e6 : 0, cpu_self,
           total > 0 ? 100.0 * cpu_self / total : 0, total,
           100.0 * total / (elapsed * (double)sysconf(_SC_NPROCESSORS_ONLN)));
    if (ok > 0 && cpu_srv > 0)
        printf("  estimate with the clients off these cores: %ld cores / %.0f us of keywardd CPU per login "
               "= %.0f logins/s\n",
               sysconf(_SC_NPROCESSORS_ONLN), cpu_srv / (double)ok * 1e6,
               (double)sysconf(_SC_NPROCESSORS_ONLN) * (double)ok / cpu_srv);
    printf("  target >= %.0f logins/s: %s\n", SB_LOGIN_TARGET, rate >= SB_LOGIN_TARGET ? "met" : "MISSED");
}

/* ---- 2. small requests over 32 keep-alive connections, one epoll client ---- */

typedef struct {
    sb_conn c;
    double sent_at;
} ep_conn;

/* Runs GET path for `seconds` on SB_CLIENTS connections; returns req/s and
 * fills p50/p99 (seconds), errors and the response size. */
static double small_rate(uint16_t port, const char *path, const char *token, double seconds, double *p50,
                         double *p99, unsigned long *errors, size_t *resp_bytes)
{
    static double lat[SB_LAT_MAX];
    char req[512];
    size_t nl = 0, reqlen = sb_format(req, sizeof(req), "GET", path, token, NULL, 0);
    ep_conn *cs = calloc(SB_CLIENTS, sizeof(*cs));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    unsigned long ok = 0;
    double rate = 0;
    *errors = 0;
    *resp_bytes = 0;
    if (cs == NULL || ep < 0 || reqlen == 0)
        goto out;
    for (int i = 0; i < SB_CLIENTS; i++)
        cs[i].c.fd = -1;
    for (int i = 0; i < SB_CLIENTS; i++) {
        if (sb_connect(&cs[i].c, port) != 0)
            goto out;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].c.fd, &ev);
    }
    double start = bench_now(), end = start + seconds, now = start;
    for (int i = 0; i < SB_CLIENTS; i++) {
        cs[i].sent_at = now;
        if (send(cs[i].c.fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen)
            goto out;
    }
    int live = SB_CLIENTS;
    while (live > 0) {
        struct epoll_event evs[SB_CLIENTS];
        int n = epoll_wait(ep, evs, SB_CLIENTS, 1000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        now = bench_now();
        for (int k = 0; k < n; k++) {
            ep_conn *e = &cs[evs[k].data.u32];
            ssize_t r = recv(e->c.fd, e->c.buf + e->c.len, sizeof(e->c.buf) - e->c.len, 0);
            if (r <= 0) {
                (*errors)++;
                epoll_ctl(ep, EPOLL_CTL_DEL, e->c.fd, NULL);
                sb_close(&e->c);
                live--;
                continue;
            }
            e->c.len += (size_t)r;
            int pr = sb_parse(&e->c);
            if (pr == 0)
                continue;
            if (pr < 0 || sb_status(&e->c) != 200) {
                (*errors)++;
            } else {
                ok++;
                *resp_bytes = e->c.total - e->c.hdr;
                if (nl < SB_LAT_MAX)
                    lat[nl++] = now - e->sent_at;
            }
            sb_consume(&e->c);
            if (now >= end) {
                epoll_ctl(ep, EPOLL_CTL_DEL, e->c.fd, NULL);
                sb_close(&e->c);
                live--;
                continue;
            }
            e->sent_at = now;
            if (send(e->c.fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen) {
                (*errors)++;
                epoll_ctl(ep, EPOLL_CTL_DEL, e->c.fd, NULL);
                sb_close(&e->c);
                live--;
            }
        }
    }
    rate = (double)ok / (bench_now() - start);
    qsort(lat, nl, sizeof(double), cmp_double);
    *p50 = pct(lat, nl, 0.50);
    *p99 = pct(lat, nl, 0.99);
out:
    if (cs != NULL)
        for (int i = 0; i < SB_CLIENTS; i++)
            sb_close(&cs[i].c);
    free(cs);
    if (ep >= 0)
        close(ep);
    return rate;
}

static void bench_small(const sb_server *s, const sb_account *a)
{
    double sp50 = 0, sp99 = 0, ap50 = 0, ap99 = 0;
    unsigned long serr = 0, aerr = 0;
    size_t sbytes = 0, abytes = 0;
    double cpu_self0 = self_cpu(), cpu_srv0 = proc_cpu(s->pid), t0 = bench_now();
    double st = small_rate(s->port, "/v1/static", NULL, SB_SMALL_SECONDS, &sp50, &sp99, &serr, &sbytes);
    double cpu_self1 = self_cpu(), cpu_srv1 = proc_cpu(s->pid), t1 = bench_now();
    double au = small_rate(s->port, "/v1/devices", a->token, SB_SMALL_SECONDS, &ap50, &ap99, &aerr, &abytes);
    double cpu_self2 = self_cpu(), cpu_srv2 = proc_cpu(s->pid), t2 = bench_now();
    bench_report("GET /v1/devices (bearer), 32 conns", au, "req/s", "static GET /v1/static, 32 conns", st, 0);
    printf("  static: %zu-byte body, p50 %.3f ms, p99 %.3f ms, %lu errors; keywardd CPU %.0f%%, client %.0f%%\n",
           sbytes, sp50 * 1e3, sp99 * 1e3, serr, 100.0 * (cpu_srv1 - cpu_srv0) / (t1 - t0),
           100.0 * (cpu_self1 - cpu_self0) / (t1 - t0));
    printf("  devices: %zu-byte body, p50 %.3f ms, p99 %.3f ms, %lu errors; keywardd CPU %.0f%%, client %.0f%%\n",
           abytes, ap50 * 1e3, ap99 * 1e3, aerr, 100.0 * (cpu_srv2 - cpu_srv1) / (t2 - t1),
           100.0 * (cpu_self2 - cpu_self1) / (t2 - t1));
    printf("  target >= %.0f authenticated req/s: %s\n", SB_SMALL_TARGET, au >= SB_SMALL_TARGET ? "met" : "MISSED");
}

static void bench_server(void)
{
    sb_server s;
    sb_account a;
    const char *extra[] = {"--threads", "4", "--pending-logins", "memory", NULL};
    signal(SIGPIPE, SIG_IGN);
    if (sb_start(&s, extra) != 0) {
        sb_stop(&s);
        return;
    }
    sb_conn *c = calloc(1, sizeof(*c));
    if (c == NULL || sb_connect(c, s.port) != 0 || sb_register(c, &a, "bench-user") != 0) {
        printf("cannot register the bench account\n");
        free(c);
        sb_stop(&s);
        return;
    }
    sb_close(c);
    free(c);
    printf("keywardd pid %d on 127.0.0.1:%u, data in %s\n", (int)s.pid, s.port, s.dir);
    bench_logins(&s, &a);
    bench_small(&s, &a);
    sb_account_free(&a);
    sb_stop(&s);
}

BENCH_REGISTER("server", bench_server)
