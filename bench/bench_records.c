/*
 * Records end to end (issue 7): the real keywardd on a temporary data
 * directory, the client library (keyward/client_records.h) in this process.
 *
 *   1. upload and download of one large file: client encryption (XChaCha20-
 *      Poly1305 pieces, BLAKE2b content hash), HTTP on loopback, the server's
 *      chunk storage (records.sync = commit: each 1 MiB piece written —
 *      O_DIRECT for its aligned part — and renamed, every piece fdatasynced
 *      before the commit's transaction), and back with verification (the
 *      output written with O_DIRECT, then fsynced and renamed) — beside nginx (started and stopped here, WebDAV
 *      PUT and GET of a static file) moving the same bytes unencrypted in the
 *      same run. Target: >= 250 MB/s each way. Also printed: the CPU time per
 *      MiB of this process (the client) and of keywardd, steadier than the
 *      throughput when other work shares the machine, and keywardd's own
 *      timing of the piece PUTs and the commit (from /metrics).
 *   2. small records: N records of 1 KiB put (each one committed in SQLite
 *      before the answer), then listed with their metadata decrypted:
 *      records/s, and the server's bytes per record (data directory growth,
 *      database + WAL + chunks); baseline: nginx PUT of the same 1 KiB bodies.
 *
 * Sizes: 256 MiB and 2,000 records by default (a few tens of seconds);
 * KEYWARD_BENCH_FULL=1 runs the 1 GiB and 100,000 records;
 * KEYWARD_BENCH_RECORDS_MB and KEYWARD_BENCH_RECORDS_N set them directly.
 * nginx comes from scripts/deps.d/records.packages; without it the baseline
 * is reported as 0 (not measured).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dirent.h>

#include "bench.h"
#include "keyward/client.h"
#include "keyward/client_records.h"
#include "keyward/err.h"

typedef struct {
    char dir[256];
    pid_t pid;
    uint16_t port;
} rb_proc;

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? strtol(v, NULL, 10) : dflt;
}

static uint16_t free_port(void);

static int rb_find(char *out, size_t cap)
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
    return w > 0 && (size_t)w < cap && access(out, X_OK) == 0 ? 0 : -1;
}

static int wait_port_file(rb_proc *s, const char *portfile)
{
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
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

static int start_keywardd(rb_proc *s, const char *base)
{
    char bin[PATH_MAX], data[300], portfile[300], log[300], listen[64];
    if (rb_find(bin, sizeof(bin)) != 0) {
        printf("keywardd not found: set KEYWARD_BIN_DIR or build it (make programs)\n");
        return -1;
    }
    snprintf(s->dir, sizeof(s->dir), "%s", base);
    snprintf(data, sizeof(data), "%s/data", base);
    snprintf(portfile, sizeof(portfile), "%s/port", base);
    snprintf(log, sizeof(log), "%s/keywardd.log", base);
    if (s->port == 0)
        s->port = free_port(); /* kept across restarts: the client keeps its URL */
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", s->port);
    unlink(portfile);
    const char *argv[] = {bin, "--listen", listen, "--data", data, "--port-file", portfile, "--quiet",
                          "--threads", "4", NULL};
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    if (wait_port_file(s, portfile) != 0) {
        printf("keywardd did not start (see %s)\n", log);
        return -1;
    }
    return 0;
}

static void stop_proc(rb_proc *s)
{
    if (s->pid > 0) {
        int st;
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
}

static uint16_t free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_open(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* nginx serving base/www with WebDAV PUT, on a free loopback port. */
static int start_nginx(rb_proc *s, const char *base)
{
    const char *cands[] = {"/usr/sbin/nginx", "/usr/bin/nginx", NULL};
    const char *bin = NULL;
    for (size_t i = 0; cands[i] != NULL && bin == NULL; i++)
        if (access(cands[i], X_OK) == 0)
            bin = cands[i];
    if (bin == NULL)
        return -1;
    char conf[300], www[300];
    if (snprintf(s->dir, sizeof(s->dir), "%.240s/nginx", base) >= (int)sizeof(s->dir))
        return -1;
    mkdir(s->dir, 0700);
    snprintf(www, sizeof(www), "%s/www", s->dir);
    mkdir(www, 0700);
    snprintf(conf, sizeof(conf), "%s/nginx.conf", s->dir);
    s->port = free_port();
    FILE *f = fopen(conf, "w");
    if (f == NULL || s->port == 0)
        return -1;
    if (geteuid() == 0) /* workers would drop to nobody, who cannot write here */
        fprintf(f, "user root;\n");
    fprintf(f,
            "worker_processes 2;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
            "events { worker_connections 256; }\n"
            "http {\n access_log off;\n sendfile on;\n client_body_temp_path %s/body;\n"
            " proxy_temp_path %s/proxy;\n fastcgi_temp_path %s/fastcgi;\n uwsgi_temp_path %s/uwsgi;\n"
            " scgi_temp_path %s/scgi;\n client_max_body_size 0;\n client_body_buffer_size 1m;\n"
            " server {\n  listen 127.0.0.1:%u;\n  location / { root %s; dav_methods PUT; "
            "create_full_put_path on; }\n }\n}\n",
            s->dir, s->dir, s->dir, s->dir, s->dir, s->dir, s->dir, s->port, www);
    fclose(f);
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, bin, "-p", s->dir, "-c", conf, "-g", "daemon off;", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        if (port_open(s->port))
            return 0;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* PUT file (or data) to nginx; GET it back into a file. Returns seconds. */
static double nginx_put(CURL *h, uint16_t port, const char *name, const char *file, const void *data,
                        size_t len)
{
    char url[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/%s", port, name);
    FILE *f = file != NULL ? fopen(file, "rb") : NULL;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (f != NULL) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READDATA, f);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    double t0 = bench_now();
    CURLcode cr = curl_easy_perform(h);
    double dt = bench_now() - t0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (f != NULL)
        fclose(f);
    return cr == CURLE_OK && status >= 200 && status < 300 ? dt : -1;
}

static double nginx_get(CURL *h, uint16_t port, const char *name, const char *out)
{
    char url[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/%s", port, name);
    FILE *f = fopen(out, "wb");
    if (f == NULL)
        return -1;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    double t0 = bench_now();
    CURLcode cr = curl_easy_perform(h);
    fflush(f);
    double dt = bench_now() - t0;
    fclose(f);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return cr == CURLE_OK && status == 200 ? dt : -1;
}

typedef struct {
    char buf[1 << 18];
    size_t len;
} metrics_text;

static size_t metrics_sink(char *ptr, size_t size, size_t n, void *arg)
{
    metrics_text *m = arg;
    size_t k = size * n;
    if (k > sizeof(m->buf) - 1 - m->len)
        k = sizeof(m->buf) - 1 - m->len;
    memcpy(m->buf + m->len, ptr, k);
    m->len += k;
    m->buf[m->len] = '\0';
    return size * n;
}

/* Server-side seconds spent in one route (all methods sharing the pattern)
 * and its request count, from keywardd's /metrics; -1 when unavailable. */
static double server_route_seconds(CURL *h, uint16_t port, const char *route, double *count)
{
    static metrics_text m;
    char url[100], key[200];
    double sum = 0;
    *count = 0;
    m.len = 0;
    m.buf[0] = '\0';
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, metrics_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
    if (curl_easy_perform(h) != CURLE_OK)
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        snprintf(key, sizeof(key), "keyward_http_request_duration_seconds_%s{route=\"%s\"} ",
                 pass == 0 ? "sum" : "count", route);
        for (const char *p = strstr(m.buf, key); p != NULL; p = strstr(p + 1, key)) {
            double v = strtod(p + strlen(key), NULL);
            if (pass == 0)
                sum += v;
            else
                *count += v;
        }
    }
    return *count > 0 ? sum : -1;
}

/* CPU seconds (user + system) of this process, and of process pid (from
 * /proc; 0 when unreadable). */
static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t tree_bytes(const char *dir)
{
    uint64_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[1200];
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &sb) != 0)
            continue;
        n += S_ISDIR(sb.st_mode) ? tree_bytes(p) : (uint64_t)sb.st_size;
    }
    closedir(d);
    return n;
}

static int write_big(const char *path, uint64_t size)
{
    uint8_t *block = malloc(1 << 20);
    FILE *f = fopen(path, "wb");
    if (block == NULL || f == NULL) {
        free(block);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    randombytes_buf(block, 1 << 20);
    for (uint64_t o = 0; o < size; o += 1 << 20) {
        size_t n = size - o < (1 << 20) ? (size_t)(size - o) : (1 << 20);
        block[0] ^= (uint8_t)o; /* no two blocks alike */
        fwrite(block, 1, n, f);
    }
    free(block);
    return fclose(f);
}

static void bench_records(void)
{
    char base[256], prof[300], big[300], back[300];
    rb_proc srv = {0}, ngx = {0};
    kw_client *c = NULL;
    kw_records *rs = NULL;
    json_t *out = NULL;
    CURL *h = NULL;
    bool full = env_long("KEYWARD_BENCH_FULL", 0) != 0;
    uint64_t mb = (uint64_t)env_long("KEYWARD_BENCH_RECORDS_MB", full ? 1024 : 256);
    long nsmall = env_long("KEYWARD_BENCH_RECORDS_N", full ? 100000 : 2000);
    uint64_t size = mb << 20;
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/kw-recbench-XXXXXX", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
    if (mkdtemp(base) == NULL || start_keywardd(&srv, base) != 0)
        goto out;
    snprintf(prof, sizeof(prof), "%s/profile", base);
    snprintf(big, sizeof(big), "%s/big.bin", base);
    snprintf(back, sizeof(back), "%s/big.back", base);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv.port);
    kw_client_options o = {.profile_dir = prof, .server_url = url, .passphrase = "bench",
                           .passphrase_len = 5, .fast_kdf = true};
    if (kw_client_open(&c, &o) != KW_OK ||
        kw_client_account_create(c, "bench", "bench-device", (const uint8_t *)"bench password", 14, &out) !=
            KW_OK) {
        printf("records: cannot create the bench account: %s\n", c != NULL ? kw_client_error(c) : "");
        goto out;
    }
    json_decref(out);
    out = NULL;
    if (kw_records_open(&rs, c) != KW_OK || write_big(big, size) != 0) {
        printf("records: cannot open a records session: %s\n", kw_client_error(c));
        goto out;
    }
    printf("records: %llu MiB file, %ld small records (KEYWARD_BENCH_FULL=1: 1 GiB and 100000)\n",
           (unsigned long long)mb, nsmall);

    /* baseline first: nginx moving the same bytes, plain */
    double ngx_up = 0, ngx_down = 0, ngx_small = 0;
    h = curl_easy_init();
    if (h != NULL && start_nginx(&ngx, base) == 0) {
        double t = nginx_put(h, ngx.port, "big.bin", big, NULL, size);
        if (t > 0)
            ngx_up = (double)size / 1e6 / t;
        t = nginx_get(h, ngx.port, "big.bin", back);
        if (t > 0)
            ngx_down = (double)size / 1e6 / t;
        uint8_t kib[1024];
        randombytes_buf(kib, sizeof(kib));
        long nb = nsmall < 2000 ? nsmall : 2000;
        double t0 = bench_now();
        int ok = 1;
        for (long i = 0; i < nb && ok; i++) {
            char name[64];
            snprintf(name, sizeof(name), "small/%ld", i);
            ok = nginx_put(h, ngx.port, name, NULL, kib, sizeof(kib)) > 0;
        }
        if (ok)
            ngx_small = (double)nb / (bench_now() - t0);
        unlink(back);
    } else {
        printf("records: nginx not available (scripts/deps.d/records.packages): baselines not measured\n");
    }
    stop_proc(&ngx);

    /* keyward: put, then get (with the CPU time each side spent: on a shared
     * machine the wall-clock figures move with the load, these less) */
    double c0 = cpu_self(), s0 = cpu_of(srv.pid);
    double t0 = bench_now();
    int r = kw_records_put(rs, "drive", NULL, big, "big.bin", &out);
    double up_s = bench_now() - t0;
    double up_cc = cpu_self() - c0, up_sc = cpu_of(srv.pid) - s0;
    json_decref(out);
    out = NULL;
    if (r != KW_OK) {
        printf("records: upload failed: %s\n", kw_client_error(c));
        goto out;
    }
    c0 = cpu_self();
    s0 = cpu_of(srv.pid);
    t0 = bench_now();
    r = kw_records_get(rs, "drive", NULL, "big.bin", back, &out);
    double down_s = bench_now() - t0;
    double down_cc = cpu_self() - c0, down_sc = cpu_of(srv.pid) - s0;
    json_decref(out);
    out = NULL;
    if (r != KW_OK) {
        printf("records: download failed: %s\n", kw_client_error(c));
        goto out;
    }
    double up = (double)size / 1e6 / up_s, down = (double)size / 1e6 / down_s;
    bench_report("records upload, end to end", up, "MB/s", "nginx WebDAV PUT, plain", ngx_up, 0);
    bench_report("records download, end to end", down, "MB/s", "nginx GET, plain", ngx_down, 0);
    printf("  target >= 250 MB/s each way: upload %s, download %s\n", up >= 250 ? "met" : "MISSED",
           down >= 250 ? "met" : "MISSED");
    double mib = (double)size / (1 << 20), cn = 0, pn = 0;
    double commit_s = h != NULL ? server_route_seconds(h, srv.port, "/v1/record-uploads/{}/commit", &cn) : -1;
    double piece_s = h != NULL ? server_route_seconds(h, srv.port, "/v1/record-uploads/{}/{}", &pn) : -1;
    if (commit_s > 0 && piece_s > 0)
        printf("  keywardd: %.0f piece PUTs, %.2f ms each on average (%.1f in flight); the commit (chunk "
               "lengths, fdatasync of every chunk, the store transaction) %.0f ms\n",
               pn, 1000 * piece_s / pn, piece_s / up_s, 1000 * commit_s);
    printf("  CPU per MiB: upload client %.2f ms + keywardd %.2f ms, download client %.2f ms + keywardd %.2f ms "
           "(wall %.2f / %.2f ms per MiB)\n",
           1000 * up_cc / mib, 1000 * up_sc / mib, 1000 * down_cc / mib, 1000 * down_sc / mib,
           1000 * up_s / mib, 1000 * down_s / mib);
    unlink(back);

    /* small records */
    char data_dir[300];
    snprintf(data_dir, sizeof(data_dir), "%s/data", base);
    /* sizes on a checkpointed database: stop (SQLite checkpoints and drops
     * the WAL on close), measure, start again on the same directory and port */
    stop_proc(&srv);
    uint64_t before = tree_bytes(data_dir);
    if (start_keywardd(&srv, base) != 0)
        goto out;
    uint8_t kib[1024];
    randombytes_buf(kib, sizeof(kib));
    t0 = bench_now();
    for (long i = 0; i < nsmall; i++) {
        char name[64];
        snprintf(name, sizeof(name), "note-%06ld.txt", i);
        kib[0] = (uint8_t)i;
        if ((r = kw_records_put_data(rs, "notes", "small", name, kib, sizeof(kib), &out)) != KW_OK) {
            printf("records: small put %ld failed: %s\n", i, kw_client_error(c));
            goto out;
        }
        json_decref(out);
        out = NULL;
    }
    double put_rate = (double)nsmall / (bench_now() - t0);
    /* where a small put's time goes: the server's handler (auth, CAS, one store
     * commit with its WAL fsync) against the client's end-to-end time */
    double srv_n = 0, srv_s = h != NULL ? server_route_seconds(h, srv.port, "/v1/records/{}/{}/{}", &srv_n) : -1;
    t0 = bench_now();
    r = kw_records_list(rs, "notes", "small", &out);
    double list_s = bench_now() - t0;
    size_t listed = r == KW_OK ? json_array_size(json_object_get(out, "records")) : 0;
    json_decref(out);
    out = NULL;
    stop_proc(&srv);
    uint64_t after = tree_bytes(data_dir);
    bench_report("records put, 1 KiB each", put_rate, "rec/s", "nginx WebDAV PUT 1 KiB", ngx_small, 0);
    bench_report("records listed (metadata decrypted)", (double)listed / list_s, "rec/s", "records put",
                 put_rate, 0);
    if (srv_s > 0)
        printf("  a 1 KiB put: %.3f ms end to end, %.3f ms of it in keywardd's handler (store commit "
               "included), the rest client crypto + HTTP\n",
               1000.0 / put_rate, 1000.0 * srv_s / srv_n);
    printf("  server bytes per 1 KiB record: %.0f (growth of the checkpointed database over %ld records)\n",
           (double)(after - before) / (double)nsmall, nsmall);
out:
    json_decref(out);
    kw_records_free(&rs);
    kw_client_free(&c);
    if (h != NULL)
        curl_easy_cleanup(h);
    stop_proc(&ngx);
    stop_proc(&srv);
    if (base[0] != '\0' && strstr(base, "kw-recbench-") != NULL) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: cannot remove %s\n", base);
    }
}

BENCH_REGISTER("records", bench_records)
