/* Relayed end-to-end messages through keywardd (issue 6, "messages").
 *
 * Set-up: the real keywardd (temporary data directory, SQLite, --quiet)
 * and the real keyward CLI create "alice" (one device) and "bob" (three
 * devices joined by approval code). The profiles are then opened in this
 * process (kwc_profile_load) for their session tokens and device keys.
 *
 * 1. Relay: 32 concurrent clients on keep-alive HTTP/1.1 connections: 29
 *    senders POST /v1/msg/send with a 1 KiB message sealed for bob's 3
 *    devices, the envelope itself as the body (application/octet-stream;
 *    one envelope sealed before the window; each send rewrites the message
 *    id, which the server keys the mailbox on — it routes and does not
 *    verify signatures, receiving clients do), and 3 receivers, one per
 *    bob device, loop GET /v1/msg/fetch-raw + POST /v1/msg/ack. A message
 *    is relayed when all 3 devices have acknowledged it; every send and ack
 *    was committed (fsync) before its reply. After the window the senders
 *    stop, the devices drain their mailboxes, and every message whose send
 *    was answered 200 must have been acknowledged by each device exactly
 *    once (else the target is reported missed). Figures: relayed
 *    messages/s, p50/p99 of the send request and of send-to-last-ack,
 *    errors, keywardd's CPU time per relayed message.
 *    Baseline, same run: redis-benchmark LPUSH and RPOP (32 clients, 1 KiB
 *    values) against a redis-server this bench starts and stops (no
 *    persistence: it does not sync anything). Target >= 5,000 relayed/s.
 * 2. The client's own cost per message, in process on one core: sealing a
 *    1 KiB message for 3 devices (payload, message key, 3 HPKE auth wraps,
 *    signature) and, per receiving device, decode + signature verify +
 *    unwrap + decrypt.
 *
 * keywardd and keyward are found in $KEYWARD_BIN_DIR, else ../bin next to
 * this binary (build with `make BUILD=... programs` first). */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "bench.h"
#include "client/client_internal.h"
#include "keyward/codec.h"
#include "keyward/envelope.h"
#include "keyward/keyward.h"
#include "keyward/sign.h"

#define RB_CLIENTS 32
#define RB_RECEIVERS 3
#define RB_SENDERS (RB_CLIENTS - RB_RECEIVERS)
#define RB_SECONDS 5.0
#define RB_TARGET 5000.0
#define RB_MSG_BYTES 1024
#define RB_MAX_MSGS (1u << 20)
#define RB_INFLIGHT 4000 /* senders wait when this many are not yet relayed */
#define RB_BUF (4u << 20)
#define RB_PASS "bench-profile-passphrase"

/* ---- processes ---- */

static int find_bin(const char *name, char *out, size_t cap)
{
    const char *env = getenv("KEYWARD_BIN_DIR");
    if (env != NULL && env[0] != '\0') {
        int w = snprintf(out, cap, "%s/%s", env, name);
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
    int w = snprintf(out, cap, "%s/../bin/%s", self, name);
    return w > 0 && (size_t)w < cap && access(out, X_OK) == 0 ? 0 : -1;
}

/* Runs argv with stdout captured into out (NUL-terminated); exit status.
 * A child still running after timeout_s seconds is killed (-1): a
 * redis-benchmark whose server went away would otherwise spin forever. */
static int run_capture(const char *const *argv, char *out, size_t cap, int timeout_s)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(p[1], 1);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0)
            dup2(dn, 2);
        close(p[0]);
        close(p[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    bool timed_out = false;
    double until = bench_now() + timeout_s;
    for (;;) {
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int left = (int)((until - bench_now()) * 1000);
        if (left <= 0) {
            timed_out = true;
            break;
        }
        int pr = poll(&pf, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        ssize_t r = read(p[0], out + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len + 1 >= cap)
            break;
    }
    out[len] = '\0';
    close(p[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    return !timed_out && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct {
    char dir[256];
    char url[64];
    char cli[PATH_MAX];
    pid_t pid;
    uint16_t port;
} rb_server;

static int rb_start(rb_server *s)
{
    char bin[PATH_MAX], data[300], portfile[300], log[300];
    memset(s, 0, sizeof(*s));
    if (find_bin("keywardd", bin, sizeof(bin)) != 0 || find_bin("keyward", s->cli, sizeof(s->cli)) != 0) {
        printf("keywardd/keyward not found: set KEYWARD_BIN_DIR or build them next to the bench\n");
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof(s->dir), "%s/kw-relaybench-XXXXXX", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(data, sizeof(data), "%s/data", s->dir);
    snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
    snprintf(log, sizeof(log), "%s/log", s->dir);
    const char *argv[] = {bin, "--listen", "127.0.0.1:0", "--data", data, "--port-file", portfile,
                          "--quiet", "--threads", "32", "--kt-epoch-ms", "200", NULL};
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
                snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", p);
                return 0;
            }
        }
        usleep(10000);
    }
    return -1;
}

static void rmdir_all(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", dir);
}

static void rb_stop(rb_server *s)
{
    if (s->pid > 0) {
        int st;
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
    if (s->dir[0] != '\0')
        rmdir_all(s->dir);
}

/* keyward --server URL --profile DIR --json args...; *out parsed stdout. */
static int cli(const rb_server *s, const char *prof, const char *const *args, json_t **out)
{
    static char buf[1 << 16];
    const char *argv[24] = {s->cli, "--server", s->url, "--profile", prof, "--json"};
    size_t n = 6;
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int rc = run_capture(argv, buf, sizeof(buf), 120);
    json_error_t e;
    json_t *j = json_loads(buf, 0, &e);
    if (out != NULL)
        *out = j;
    else
        json_decref(j);
    return rc;
}

/* ---- a keep-alive HTTP/1.1 connection ---- */

typedef struct {
    int fd;
    uint16_t port;
    char *buf; /* RB_BUF */
    size_t len, hdr, total;
} rb_conn;

static int conn_open(rb_conn *c, uint16_t port)
{
    c->port = port;
    c->len = c->hdr = c->total = 0;
    if (c->buf == NULL && (c->buf = malloc(RB_BUF)) == NULL)
        return -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(rb_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

/* One request; the status, with the reply body NUL-terminated in *reply
 * (valid until the next request on c) and its length in *reply_len. */
static int request(rb_conn *c, const char *method, const char *path, const char *token, const char *ctype,
                   const void *body, size_t body_len, char **reply, size_t *reply_len)
{
    char head[512];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                      method, path, token, ctype, body_len);
    if (hn <= 0 || (size_t)hn >= sizeof(head))
        return -1;
    struct {
        const void *b;
        size_t n;
    } parts[2] = {{head, (size_t)hn}, {body, body_len}};
    for (int p = 0; p < 2; p++)
        for (size_t o = 0; o < parts[p].n;) {
            ssize_t w = send(c->fd, (const char *)parts[p].b + o, parts[p].n - o,
                             MSG_NOSIGNAL | (p == 0 && body_len > 0 ? MSG_MORE : 0));
            if (w <= 0)
                return -1;
            o += (size_t)w;
        }
    c->len = c->hdr = c->total = 0;
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, RB_BUF - 1 - c->len, 0);
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        if (c->hdr == 0) {
            char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (end == NULL)
                continue;
            c->hdr = (size_t)(end - c->buf) + 4;
            char *cl = strcasestr(c->buf, "Content-Length:");
            if (cl == NULL || cl > end)
                return -1;
            c->total = c->hdr + strtoul(cl + 15, NULL, 10);
            if (c->total >= RB_BUF)
                return -1;
        }
        if (c->len >= c->total)
            break;
    }
    int st = 0;
    if (sscanf(c->buf, "HTTP/1.%*c %d", &st) != 1)
        return -1;
    c->buf[c->total] = '\0';
    *reply = c->buf + c->hdr;
    if (reply_len != NULL)
        *reply_len = c->total - c->hdr;
    return st;
}

/* utime + stime of a process in seconds (/proc/<pid>/stat). */
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
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the relay run ---- */

typedef struct {
    uint16_t port;
    char a_token[KWC_TOKEN_MAX];
    char b_token[RB_RECEIVERS][KWC_TOKEN_MAX];
    uint8_t *env; /* the sealed template */
    size_t env_len;
    atomic_uint_fast64_t next;       /* next message number */
    atomic_uint_fast64_t relayed;    /* acknowledged by all 3 devices */
    atomic_uint_fast64_t sent;       /* sends answered 200 */
    atomic_uint_fast64_t errors;
    atomic_uint_fast64_t dups;       /* a device got a message it had acknowledged */
    atomic_int stop_send, stop;
    double *sent_at;                 /* per message number */
    atomic_uchar *sent_ok;           /* per message number: the send was answered 200 */
    atomic_uchar *acked_by;          /* per message number: bit d = device d acknowledged it */
    double *send_lat, *e2e_lat;
    atomic_uint_fast64_t nsend_lat, ne2e_lat;
    double t0, t1;
} rb_run;

static void put_id(uint8_t id[16], uint64_t n)
{
    memcpy(id, "relaybench", 10);
    for (int i = 0; i < 6; i++)
        id[10 + i] = (uint8_t)(n >> (8 * i));
}

static bool get_num(const uint8_t id[16], uint64_t *n)
{
    if (memcmp(id, "relaybench", 10) != 0)
        return false;
    *n = 0;
    for (int i = 0; i < 6; i++)
        *n |= (uint64_t)id[10 + i] << (8 * i);
    return *n < RB_MAX_MSGS;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Senders POST the envelope itself (application/octet-stream: the server
 * takes the mailboxes from its wraps), each with a fresh message id. */
static void *sender(void *arg)
{
    rb_run *run = arg;
    rb_conn c = {.fd = -1};
    uint8_t *env = malloc(run->env_len);
    char *reply;
    if (env == NULL || conn_open(&c, run->port) != 0)
        goto out;
    memcpy(env, run->env, run->env_len);
    while (!atomic_load(&run->stop_send)) {
        uint64_t n = atomic_fetch_add(&run->next, 1);
        if (n >= RB_MAX_MSGS)
            break;
        while (n > atomic_load(&run->relayed) + RB_INFLIGHT && !atomic_load(&run->stop_send))
            usleep(200);
        put_id(env + 4, n);
        double t = bench_now();
        run->sent_at[n] = t;
        int st = request(&c, "POST", "/v1/msg/send", run->a_token, "application/octet-stream", env,
                         run->env_len, &reply, NULL);
        double dt = bench_now() - t;
        if (st != 200) {
            atomic_fetch_add(&run->errors, 1);
            if (st < 0) {
                close(c.fd);
                if (conn_open(&c, run->port) != 0)
                    break;
            }
            continue;
        }
        atomic_store(&run->sent_ok[n], 1);
        atomic_fetch_add(&run->sent, 1);
        if (t >= run->t0 && t < run->t1) {
            uint64_t k = atomic_fetch_add(&run->nsend_lat, 1);
            if (k < RB_MAX_MSGS)
                run->send_lat[k] = dt;
        }
    }
out:
    conn_close(&c);
    free(env);
    return NULL;
}

typedef struct {
    rb_run *run;
    int dev;
} rb_recv_arg;

/* Receivers loop GET /v1/msg/fetch-raw (the entries as octet-stream) and
 * POST /v1/msg/ack with the ids received. */
static void *receiver(void *arg)
{
    rb_recv_arg *ra = arg;
    rb_run *run = ra->run;
    const char *tok = run->b_token[ra->dev];
    rb_conn c = {.fd = -1};
    char *ack = malloc(256 * 40 + 64), *reply;
    size_t rlen = 0;
    if (ack == NULL || conn_open(&c, run->port) != 0)
        goto out;
    while (!atomic_load(&run->stop)) {
        int st = request(&c, "GET", "/v1/msg/fetch-raw", tok, "application/json", NULL, 0, &reply, &rlen);
        const uint8_t *b = (const uint8_t *)reply;
        if (st != 200 || rlen < 9 || memcmp(b, "KWM1", 4) != 0) {
            atomic_fetch_add(&run->errors, 1);
            usleep(1000);
            continue;
        }
        size_t count = (size_t)get_be(b + 5, 4), o = 9;
        size_t ao = (size_t)snprintf(ack, 16, "{\"ids\":[");
        uint64_t nums[256];
        size_t nn = 0, na = 0;
        for (size_t k = 0; k < count && na < 256; k++) {
            if (o + 28 > rlen)
                break;
            size_t len = (size_t)get_be(b + o + 24, 4);
            if (o + 28 + len > rlen)
                break;
            char id[32];
            kw_b64url_encode(id, sizeof(id), b + o + 8, 16);
            ao += (size_t)snprintf(ack + ao, 40, "%s\"%s\"", na++ > 0 ? "," : "", id);
            if (get_num(b + o + 8, &nums[nn]))
                nn++;
            o += 28 + len;
        }
        if (na == 0) {
            usleep(500); /* empty mailbox */
            continue;
        }
        memcpy(ack + ao, "]}", 3);
        ao += 2;
        st = request(&c, "POST", "/v1/msg/ack", tok, "application/json", ack, ao, &reply, NULL);
        if (st != 200) {
            atomic_fetch_add(&run->errors, 1);
            continue;
        }
        double now = bench_now();
        unsigned char bit = (unsigned char)(1u << ra->dev);
        for (size_t k = 0; k < nn; k++) {
            unsigned char before = atomic_fetch_or(&run->acked_by[nums[k]], bit);
            if (before & bit) {
                atomic_fetch_add(&run->dups, 1); /* delivered to this device twice */
                continue;
            }
            if ((before | bit) == (1u << RB_RECEIVERS) - 1) {
                atomic_fetch_add(&run->relayed, 1);
                double t = run->sent_at[nums[k]];
                if (t >= run->t0 && t < run->t1) {
                    uint64_t q = atomic_fetch_add(&run->ne2e_lat, 1);
                    if (q < RB_MAX_MSGS)
                        run->e2e_lat[q] = now - t;
                }
            }
        }
    }
out:
    conn_close(&c);
    free(ack);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_d);
    size_t i = (size_t)(p * (double)(n - 1));
    return v[i] * 1000.0;
}

/* ---- redis baseline ---- */

static double redis_rps(const char *csv, const char *test)
{
    const char *p = strstr(csv, test);
    if (p == NULL)
        return 0;
    p = strchr(p, ',');
    if (p == NULL)
        return 0;
    return strtod(p + 2, NULL); /* ,"12345.67" */
}

static void redis_baseline(double *lpush, double *rpop)
{
    char rs[PATH_MAX] = "/usr/bin/redis-server", rb[PATH_MAX] = "/usr/bin/redis-benchmark";
    *lpush = *rpop = 0;
    if (access(rs, X_OK) != 0 || access(rb, X_OK) != 0) {
        printf("  redis-server / redis-benchmark not installed (scripts/deps.d/msg.packages): no baseline\n");
        return;
    }
    char port[16];
    snprintf(port, sizeof(port), "%u", 20000u + (unsigned)(getpid() % 20000));
    const char *sargv[] = {rs, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           "--daemonize", "no", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0) {
            dup2(dn, 1);
            dup2(dn, 2);
        }
        execv(rs, (char *const *)sargv);
        _exit(127);
    }
    if (pid < 0)
        return;
    char out[8192];
    const char *ping[] = {"/usr/bin/redis-cli", "-p", port, "ping", NULL};
    for (int i = 0; i < 200; i++) {
        if (access(ping[0], X_OK) != 0) {
            usleep(300000);
            break;
        }
        if (run_capture(ping, out, sizeof(out), 10) == 0 && strstr(out, "PONG") != NULL)
            break;
        usleep(20000);
    }
    const char *bargv[] = {rb, "-p", port, "-c", "32", "-n", "200000", "-d", "1024", "-t", "lpush,rpop",
                           "--csv", NULL};
    if (run_capture(bargv, out, sizeof(out), 120) == 0) {
        *lpush = redis_rps(out, "\"LPUSH\"");
        *rpop = redis_rps(out, "\"RPOP\"");
    }
    int st;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
}

/* ---- set-up through the CLI ---- */

static int setup_accounts(rb_server *s, char prof[4][300])
{
    const char *names[4] = {"A1", "B1", "B2", "B3"};
    json_t *j = NULL;
    for (int i = 0; i < 4; i++)
        snprintf(prof[i], 300, "%s/profile-%s", s->dir, names[i]);
    const char *ca[] = {"account", "create", "alice", "--device-name", "A1", NULL};
    const char *cb[] = {"account", "create", "bob", "--device-name", "B1", NULL};
    if (cli(s, prof[0], ca, NULL) != 0 || cli(s, prof[1], cb, NULL) != 0)
        return -1;
    for (int d = 2; d < 4; d++) {
        char code[16], id[40], join[16];
        const char *mk[] = {"approval-code", NULL};
        if (cli(s, prof[1], mk, &j) != 0)
            return -1;
        snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(j, "code")));
        json_decref(j);
        const char *in[] = {"login", "bob", "--device-name", names[d], "--approval-code", code, NULL};
        if (cli(s, prof[d], in, &j) != 0)
            return -1;
        snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "device_id")));
        snprintf(join, sizeof(join), "%s", json_string_value(json_object_get(j, "join_code")));
        json_decref(j);
        const char *ok[] = {"device", "approve", id, "--code", join, NULL};
        const char *show[] = {"keychain", "show", NULL};
        if (cli(s, prof[1], ok, NULL) != 0 || cli(s, prof[d], show, NULL) != 0)
            return -1;
    }
    return 0;
}

/* ---- client cost ---- */

typedef struct {
    kwc_profile *a;
    kwc_profile *b[RB_RECEIVERS];
    kw_sign_key *a_id;
    uint8_t content[RB_MSG_BYTES];
    uint8_t *env;
    size_t env_len;
    kw_envelope *e;
} rb_crypto;

static int seal_one(rb_crypto *k, uint8_t **env, size_t *len)
{
    kw_envelope_recipient rc[RB_RECEIVERS];
    uint8_t *payload = NULL;
    size_t plen = 0;
    uint8_t head[KW_PAYLOAD_HEADBYTES] = {0};
    for (int i = 0; i < RB_RECEIVERS; i++) {
        memcpy(rc[i].device_id, k->b[i]->device_id, 16);
        rc[i].prekey_id = 0;
        memcpy(rc[i].pk, k->b[i]->s->hpke_pk, 32);
    }
    kw_envelope_params p = {.timestamp_ms = (uint64_t)(bench_now() * 1000), .sender = "alice",
                            .recipient = "bob", .type = "text"};
    randombytes_buf(p.id, 16);
    memcpy(p.sender_device, k->a->device_id, 16);
    int r = kw_payload_encode(&payload, &plen, head, k->content, sizeof(k->content));
    if (r == KW_OK)
        r = kw_envelope_seal(env, len, &p, rc, RB_RECEIVERS, k->a->s->hpke_sk, k->a->s->hpke_pk, k->a_id,
                             payload, plen);
    free(payload);
    return r;
}

static void op_seal(void *ctx)
{
    rb_crypto *k = ctx;
    uint8_t *env = NULL;
    size_t len = 0;
    if (seal_one(k, &env, &len) != KW_OK)
        abort();
    free(env);
}

static void op_open(void *ctx)
{
    rb_crypto *k = ctx;
    uint8_t id_pk[32], *pt = NULL;
    size_t pl = 0;
    kw_sign_key_public(k->a_id, id_pk);
    if (kw_envelope_decode(k->e, k->env, k->env_len) != KW_OK ||
        kw_envelope_verify(k->e, k->env, k->env_len, id_pk) != KW_OK)
        abort();
    const kw_envelope_wrap *w = kw_envelope_find(k->e, k->b[1]->device_id);
    if (w == NULL ||
        kw_envelope_open(&pt, &pl, k->e, w, k->b[1]->s->hpke_sk, k->b[1]->s->hpke_pk, k->a->s->hpke_pk) !=
            KW_OK)
        abort();
    free(pt);
}

static void bench_relay(void)
{
    rb_server s;
    char prof[4][300];
    rb_crypto k = {0};
    rb_run *run = calloc(1, sizeof(*run));
    pthread_t th[RB_CLIENTS];
    rb_recv_arg ra[RB_RECEIVERS];
    printf("messages: relayed through keywardd (send + fetch + ack, %d B, 3 recipient devices)\n",
           RB_MSG_BYTES);
    if (run == NULL || kw_init() != KW_OK || rb_start(&s) != 0) {
        printf("  cannot start keywardd\n");
        free(run);
        return;
    }
    setenv("KEYWARD_PASSPHRASE", RB_PASS, 1);
    setenv("KEYWARD_TEST_FAST_KDF", "1", 1);
    setenv("KEYWARD_PASSWORD", "bench password for alice and bob", 1);
    if (setup_accounts(&s, prof) != 0 ||
        kwc_profile_load(&k.a, prof[0], RB_PASS, strlen(RB_PASS)) != KW_OK) {
        printf("  account set-up through the CLI failed\n");
        goto out;
    }
    for (int i = 0; i < RB_RECEIVERS; i++)
        if (kwc_profile_load(&k.b[i], prof[1 + i], RB_PASS, strlen(RB_PASS)) != KW_OK)
            goto out;
    if (kw_sign_key_from_seed(&k.a_id, k.a->s->identity_seed) != KW_OK)
        goto out;
    randombytes_buf(k.content, sizeof(k.content));
    k.e = malloc(sizeof(*k.e));
    if (k.e == NULL || seal_one(&k, &k.env, &k.env_len) != KW_OK)
        goto out;

    /* 2. the client's own cost */
    double seal_rate = bench_rate(op_seal, &k, 1.0);
    double open_rate = bench_rate(op_open, &k, 1.0);

    /* 1. the relay */
    run->port = s.port;
    snprintf(run->a_token, sizeof(run->a_token), "%s", k.a->s->token);
    for (int i = 0; i < RB_RECEIVERS; i++)
        snprintf(run->b_token[i], sizeof(run->b_token[i]), "%s", k.b[i]->s->token);
    run->env = k.env;
    run->env_len = k.env_len;
    run->sent_at = calloc(RB_MAX_MSGS, sizeof(double));
    run->sent_ok = calloc(RB_MAX_MSGS, sizeof(atomic_uchar));
    run->acked_by = calloc(RB_MAX_MSGS, sizeof(atomic_uchar));
    run->send_lat = calloc(RB_MAX_MSGS, sizeof(double));
    run->e2e_lat = calloc(RB_MAX_MSGS, sizeof(double));
    if (run->sent_at == NULL || run->sent_ok == NULL || run->acked_by == NULL || run->send_lat == NULL ||
        run->e2e_lat == NULL)
        goto out;
    double start = bench_now();
    run->t0 = start + 0.5; /* warm-up */
    run->t1 = run->t0 + RB_SECONDS;
    for (int i = 0; i < RB_RECEIVERS; i++) {
        ra[i] = (rb_recv_arg){.run = run, .dev = i};
        pthread_create(&th[i], NULL, receiver, &ra[i]);
    }
    for (int i = RB_RECEIVERS; i < RB_CLIENTS; i++)
        pthread_create(&th[i], NULL, sender, run);
    while (bench_now() < run->t0)
        usleep(1000);
    uint64_t r0 = atomic_load(&run->relayed);
    double cpu0 = proc_cpu(s.pid), load0[1] = {0};
    getloadavg(load0, 1);
    while (bench_now() < run->t1)
        usleep(1000);
    uint64_t r1 = atomic_load(&run->relayed);
    double cpu1 = proc_cpu(s.pid);
    /* stop sending, let the devices drain their mailboxes, then check that
     * every message answered 200 reached each device exactly once */
    atomic_store(&run->stop_send, 1);
    for (int i = RB_RECEIVERS; i < RB_CLIENTS; i++)
        pthread_join(th[i], NULL);
    for (double until = bench_now() + 20; bench_now() < until;) {
        if (atomic_load(&run->relayed) >= atomic_load(&run->sent))
            break;
        usleep(2000);
    }
    usleep(20000); /* a duplicate would come with the next fetches */
    atomic_store(&run->stop, 1);
    for (int i = 0; i < RB_RECEIVERS; i++)
        pthread_join(th[i], NULL);
    uint64_t nsent = 0, complete = 0, missing = 0, stray = 0, total = atomic_load(&run->next);
    if (total > RB_MAX_MSGS)
        total = RB_MAX_MSGS;
    for (uint64_t n = 0; n < total; n++) {
        unsigned char m = atomic_load(&run->acked_by[n]);
        if (atomic_load(&run->sent_ok[n])) {
            nsent++;
            if (m == (1u << RB_RECEIVERS) - 1)
                complete++;
            else
                missing++;
        } else if (m != 0) {
            stray++; /* delivered without a 200 to its send */
        }
    }
    double rate = (double)(r1 - r0) / RB_SECONDS;
    size_t ns = atomic_load(&run->nsend_lat), ne = atomic_load(&run->ne2e_lat);
    if (ns > RB_MAX_MSGS)
        ns = RB_MAX_MSGS;
    if (ne > RB_MAX_MSGS)
        ne = RB_MAX_MSGS;
    double lpush = 0, rpop = 0;
    redis_baseline(&lpush, &rpop);
    bench_report("relayed messages (send+fetch+ack, 1 KiB, 3 devices), 32 clients", rate, "msg/s",
                 "redis-benchmark LPUSH 1 KiB, 32 clients", lpush, 0);
    printf("  redis RPOP: %.0f req/s (redis here keeps no disk copy; every keywardd send and ack is "
           "fsync'ed before its reply)\n",
           rpop);
    printf("  send request: p50 %.2f ms, p99 %.2f ms; send to last ack: p50 %.2f ms, p99 %.2f ms; "
           "errors %lu\n",
           pct(run->send_lat, ns, 0.5), pct(run->send_lat, ns, 0.99), pct(run->e2e_lat, ne, 0.5),
           pct(run->e2e_lat, ne, 0.99), (unsigned long)atomic_load(&run->errors));
    printf("  delivery check: %lu sends answered 200, %lu acknowledged by all %d devices, %lu missing, "
           "%lu delivered twice to a device, %lu delivered without a 200: %s\n",
           (unsigned long)nsent, (unsigned long)complete, RB_RECEIVERS, (unsigned long)missing,
           (unsigned long)atomic_load(&run->dups), (unsigned long)stray,
           missing == 0 && atomic_load(&run->dups) == 0 && stray == 0 ? "exactly once" : "FAILED");
    printf("  client cost per message (one core): seal for 3 devices %.0f us (%.0f/s); "
           "per receiving device decode+verify+open %.0f us (%.0f/s)\n",
           1e6 / seal_rate, seal_rate, 1e6 / open_rate, open_rate);
    double srv_us = r1 > r0 ? (cpu1 - cpu0) * 1e6 / (double)(r1 - r0) : 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  keywardd CPU %.0f us per relayed message (%.2f of %ld cores over the window; the bench's "
           "clients and anything else running share them: load average %.1f at the start)\n",
           srv_us, (cpu1 - cpu0) / RB_SECONDS, cores, load0[0]);
    if (srv_us > 0)
        printf("  estimate with the clients off these cores: %ld cores / %.0f us = %.0f relayed/s "
               "(not the measured figure)\n",
               cores, srv_us, (double)cores * 1e6 / srv_us);
    bool exact = missing == 0 && atomic_load(&run->dups) == 0 && stray == 0;
    printf("  target >= %.0f relayed messages/s: %s\n", RB_TARGET,
           rate >= RB_TARGET && exact ? "met" : "MISSED");
out:
    kwc_profile_free(&k.a);
    for (int i = 0; i < RB_RECEIVERS; i++)
        kwc_profile_free(&k.b[i]);
    kw_sign_key_free(&k.a_id);
    free(k.env);
    free(k.e);
    if (run != NULL) {
        free(run->sent_at);
        free(run->sent_ok);
        free(run->acked_by);
        free(run->send_lat);
        free(run->e2e_lat);
        free(run);
    }
    rb_stop(&s);
}

BENCH_REGISTER("relay", bench_relay)
