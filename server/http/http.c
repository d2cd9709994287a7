#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keyward/err.h"

#define HTTP_MAX_PATH 512
#define HTTP_MAX_SEGMENTS 12
#define HTTP_MAX_SEGMENT_LEN 128
#define HTTP_BUCKETS 9
/* Stats slots after the route table's: the built-in routes, then unmatched. */
#define HTTP_SLOT_HEALTHZ(h) ((h)->nroutes)
#define HTTP_SLOT_METRICS(h) ((h)->nroutes + 1)
#define HTTP_SLOT_STATIC(h) ((h)->nroutes + 2)
#define HTTP_SLOT_UNMATCHED(h) ((h)->nroutes + 3)
#define HTTP_BUILTIN_SLOTS 4

/* GET /v1/static: a fixed 200-byte JSON body, the baseline of the server
 * benchmark (the HTTP layer's cost without a handler or the store). */
static const char http_static_body[] =
    "{\"status\":\"ok\",\"service\":\"keywardd\",\"note\":\"static response of fixed size for "
    "benchmarks\",\"padding\":\"................................................................"
    ".................................\"}";
_Static_assert(sizeof(http_static_body) - 1 == 200, "the static body is 200 bytes");

static const double http_bucket_bounds[HTTP_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005,
                                                             0.01,   0.05,  0.25,   1.0};

typedef struct {
    uint64_t requests;
    uint64_t errors; /* responses with status >= 400 */
    double latency_sum;
    uint64_t buckets[HTTP_BUCKETS];
} route_stats;

struct kw_http {
    struct MHD_Daemon *daemon;
    int listen_fd;
    uint16_t port;
    const kw_http_route *routes;
    size_t nroutes;
    void *app;
    bool quiet;
    pthread_mutex_t stats_lock;
    route_stats *stats; /* nroutes + HTTP_BUILTIN_SLOTS: healthz, metrics, static, unmatched */
};

/* Per-request state kept across libmicrohttpd's access-handler calls. */
typedef struct {
    double start;
    size_t limit;
    uint8_t *body;
    size_t len;
    size_t cap;
    bool too_large;
    bool binary; /* a KW_HTTP_BINARY route with an octet-stream body */
} conn_state;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int kw_http_status(int err)
{
    switch (err) {
    case KW_OK: return 200;
    case KW_ERR_FORMAT:
    case KW_ERR_TRUNCATED:
    case KW_ERR_INVALID_ARG: return 400;
    case KW_ERR_VERIFY: return 401;
    case KW_ERR_NOT_FOUND: return 404;
    case KW_ERR_CONFLICT: return 409;
    case KW_ERR_TOO_LARGE: return 413;
    case KW_ERR_LIMIT: return 429;
    case KW_ERR_UNSUPPORTED: return 422;
    case KW_ERR_STORAGE:
    case KW_ERR_SYSTEM: return 503;
    default: return 500;
    }
}

int kw_http_fail(kw_http_resp *resp, int err, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(resp->error_message);
    resp->error_message = strdup(msg);
    return err;
}

void kw_http_json(kw_http_resp *resp, int status, json_t *body)
{
    if (resp->body != NULL)
        json_decref(resp->body);
    resp->status = status;
    resp->body = body;
}

/* Splits path into segments; false when too long, too deep or malformed. */
static bool split_path(const char *path, char segs[HTTP_MAX_SEGMENTS][HTTP_MAX_SEGMENT_LEN + 1],
                       size_t *nsegs)
{
    *nsegs = 0;
    if (path[0] != '/' || strlen(path) > HTTP_MAX_PATH)
        return false;
    const char *p = path + 1;
    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || len > HTTP_MAX_SEGMENT_LEN || *nsegs == HTTP_MAX_SEGMENTS)
            return false;
        memcpy(segs[*nsegs], p, len);
        segs[*nsegs][len] = '\0';
        (*nsegs)++;
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

/* Matches one route pattern; fills params with pointers into segs. Walks
 * the pattern in place (the same segment rules as split_path) and stops at
 * the first differing segment: every request tries the routes in turn. */
static bool match_pattern(const char *pattern, char segs[HTTP_MAX_SEGMENTS][HTTP_MAX_SEGMENT_LEN + 1],
                          size_t nsegs, const char *params[KW_HTTP_MAX_PARAMS])
{
    size_t np = 0, i = 0;
    if (pattern[0] != '/')
        return false;
    const char *p = pattern + 1;
    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || len > HTTP_MAX_SEGMENT_LEN || i == nsegs)
            return false;
        if (len == 2 && p[0] == '{' && p[1] == '}') {
            if (np == KW_HTTP_MAX_PARAMS)
                return false;
            params[np++] = segs[i];
        } else if (strncmp(segs[i], p, len) != 0 || segs[i][len] != '\0') {
            return false;
        }
        i++;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == nsegs && strlen(pattern) <= HTTP_MAX_PATH;
}

typedef struct {
    const kw_http_route *route;
    size_t index;
    bool path_known; /* some route has this path under another method */
} route_match;

static route_match find_route(const kw_http *h, const char *method, const char *path,
                              char segs[HTTP_MAX_SEGMENTS][HTTP_MAX_SEGMENT_LEN + 1],
                              const char *params[KW_HTTP_MAX_PARAMS])
{
    route_match m = {NULL, HTTP_SLOT_UNMATCHED(h), false};
    size_t nsegs;
    if (!split_path(path, segs, &nsegs))
        return m;
    for (size_t i = 0; i < h->nroutes; i++) {
        const char *tmp[KW_HTTP_MAX_PARAMS] = {0};
        if (!match_pattern(h->routes[i].pattern, segs, nsegs, tmp))
            continue;
        if (strcmp(h->routes[i].method, method) != 0) {
            m.path_known = true;
            continue;
        }
        memcpy(params, tmp, sizeof(tmp));
        m.route = &h->routes[i];
        m.index = i;
        return m;
    }
    return m;
}

static void record_stats(kw_http *h, size_t index, int status, double seconds)
{
    pthread_mutex_lock(&h->stats_lock);
    route_stats *s = &h->stats[index];
    s->requests++;
    if (status >= 400)
        s->errors++;
    s->latency_sum += seconds;
    size_t b = 0;
    while (b < HTTP_BUCKETS - 1 && seconds > http_bucket_bounds[b])
        b++;
    s->buckets[b]++;
    pthread_mutex_unlock(&h->stats_lock);
}

static const char *route_label(const kw_http *h, size_t index)
{
    if (index < h->nroutes)
        return h->routes[index].pattern;
    if (index == HTTP_SLOT_HEALTHZ(h))
        return "/healthz";
    if (index == HTTP_SLOT_METRICS(h))
        return "/metrics";
    if (index == HTTP_SLOT_STATIC(h))
        return "/v1/static";
    return "unmatched";
}

static char *render_metrics(kw_http *h)
{
    size_t cap = 4096 + (h->nroutes + HTTP_BUILTIN_SLOTS) * 2048;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t o = 0;
#define EMIT(...) o += (size_t)snprintf(out + o, cap - o, __VA_ARGS__)
    EMIT("# HELP keyward_http_requests_total HTTP requests by route.\n");
    EMIT("# TYPE keyward_http_requests_total counter\n");
    pthread_mutex_lock(&h->stats_lock);
    for (size_t i = 0; i < h->nroutes + HTTP_BUILTIN_SLOTS; i++)
        EMIT("keyward_http_requests_total{route=\"%s\"} %llu\n", route_label(h, i),
             (unsigned long long)h->stats[i].requests);
    EMIT("# HELP keyward_http_errors_total HTTP responses with status >= 400 by route.\n");
    EMIT("# TYPE keyward_http_errors_total counter\n");
    for (size_t i = 0; i < h->nroutes + HTTP_BUILTIN_SLOTS; i++)
        EMIT("keyward_http_errors_total{route=\"%s\"} %llu\n", route_label(h, i),
             (unsigned long long)h->stats[i].errors);
    EMIT("# HELP keyward_http_request_duration_seconds Request latency by route.\n");
    EMIT("# TYPE keyward_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < h->nroutes + HTTP_BUILTIN_SLOTS; i++) {
        uint64_t cum = 0;
        const char *label = route_label(h, i);
        for (size_t b = 0; b < HTTP_BUCKETS; b++) {
            cum += h->stats[i].buckets[b];
            if (b < HTTP_BUCKETS - 1)
                EMIT("keyward_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                     label, http_bucket_bounds[b], (unsigned long long)cum);
            else
                EMIT("keyward_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                     label, (unsigned long long)cum);
        }
        EMIT("keyward_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", label,
             h->stats[i].latency_sum);
        EMIT("keyward_http_request_duration_seconds_count{route=\"%s\"} %llu\n", label,
             (unsigned long long)h->stats[i].requests);
    }
    pthread_mutex_unlock(&h->stats_lock);
#undef EMIT
    if (o >= cap)
        out[cap - 1] = '\0';
    return out;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, kw_http_resp *resp, int *status_out)
{
    char *payload;
    const char *ctype;
    int status = resp->status == 0 ? 200 : resp->status;
    size_t len = 0;
    if (resp->send_file) {
        *status_out = status;
        resp->send_file = false;
        struct MHD_Response *fr = MHD_create_response_from_fd64(resp->file_len, resp->file_fd);
        if (fr == NULL) {
            close(resp->file_fd);
            return MHD_NO;
        }
        MHD_add_response_header(fr, "Content-Type", resp->content_type != NULL ? resp->content_type
                                                                               : "application/octet-stream");
        MHD_add_response_header(fr, "Cache-Control", "no-store");
        MHD_add_response_header(fr, "X-Content-Type-Options", "nosniff");
        enum MHD_Result fret = MHD_queue_response(conn, (unsigned)status, fr);
        MHD_destroy_response(fr);
        return fret;
    }
    if (resp->text != NULL) {
        len = resp->text_len; /* 0: a NUL-terminated text */
        payload = resp->text;
        resp->text = NULL;
        ctype = resp->content_type != NULL ? resp->content_type : "text/plain; charset=utf-8";
    } else {
        json_t *body = resp->body != NULL ? resp->body : json_object();
        payload = json_dumps(body, JSON_COMPACT);
        ctype = "application/json";
    }
    if (payload == NULL) {
        status = 500;
        payload = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode response\"}}");
    }
    *status_out = status;
    if (len == 0)
        len = strlen(payload);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, payload, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(payload);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp->csp != NULL) /* files of the web page (web.c) */
        MHD_add_response_header(r, "Content-Security-Policy", resp->csp);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void set_error_body(kw_http_resp *resp, int err)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", kw_errname(err), "message",
                             resp->error_message != NULL ? resp->error_message : kw_strerror(err));
    kw_http_json(resp, kw_http_status(err), body);
}

static void client_address(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "unknown");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)cap);
}

/* The route's body limit; *binary when it takes octet-stream bodies raw. */
static size_t limit_for(const kw_http *h, const char *method, const char *url, bool *binary)
{
    char segs[HTTP_MAX_SEGMENTS][HTTP_MAX_SEGMENT_LEN + 1];
    const char *params[KW_HTTP_MAX_PARAMS] = {0};
    route_match m = find_route(h, method, url, segs, params);
    *binary = m.route != NULL && (m.route->body_limit & KW_HTTP_BINARY) != 0;
    size_t limit = m.route != NULL ? m.route->body_limit & KW_HTTP_LIMIT_MASK : 0;
    return limit != 0 ? limit : KW_HTTP_DEFAULT_BODY_LIMIT;
}

static bool is_octet_stream(const char *ct)
{
    static const char want[] = "application/octet-stream";
    return ct != NULL && strncasecmp(ct, want, sizeof(want) - 1) == 0 &&
           (ct[sizeof(want) - 1] == '\0' || ct[sizeof(want) - 1] == ';' || ct[sizeof(want) - 1] == ' ');
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    kw_http *h = cls;
    conn_state *cs = *con_cls;
    if (cs == NULL) {
        cs = calloc(1, sizeof(*cs));
        if (cs == NULL)
            return MHD_NO;
        cs->start = now_seconds();
        bool binary_route = false;
        cs->limit = limit_for(h, method, url, &binary_route);
        cs->binary = binary_route &&
                     is_octet_stream(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"));
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        unsigned long long clv = cl != NULL ? strtoull(cl, NULL, 10) : 0;
        if (clv > cs->limit)
            cs->too_large = true;
        else if (cs->binary && clv > 0) {
            /* one buffer of the announced size: no regrowth while the body streams in;
             * page-aligned, so that a handler may write it with O_DIRECT */
            void *bp = NULL;
            cs->body = posix_memalign(&bp, 4096, (size_t)clv) == 0 ? bp : NULL;
            if (cs->body == NULL) {
                free(cs);
                return MHD_NO;
            }
            cs->cap = (size_t)clv;
        }
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (cs->too_large || n > cs->limit - cs->len) {
            cs->too_large = true;
            return MHD_YES; /* keep discarding; answer 413 at the end */
        }
        if (cs->len + n > cs->cap) {
            size_t want = cs->cap == 0 ? 1024 : cs->cap;
            while (want < cs->len + n)
                want *= 2;
            if (want > cs->limit)
                want = cs->limit;
            uint8_t *nb = realloc(cs->body, want);
            if (nb == NULL)
                return MHD_NO;
            cs->body = nb;
            cs->cap = want;
        }
        memcpy(cs->body + cs->len, upload_data, n);
        cs->len += n;
        return MHD_YES;
    }

    kw_http_resp resp = {0};
    char segs[HTTP_MAX_SEGMENTS][HTTP_MAX_SEGMENT_LEN + 1];
    kw_http_req req = {.method = method, .path = url, .app = h->app};
    char remote[INET6_ADDRSTRLEN + 1];
    client_address(conn, remote, sizeof(remote));
    req.remote = remote;
    size_t index = HTTP_SLOT_UNMATCHED(h);
    int err = KW_OK;

    if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0) {
        index = HTTP_SLOT_HEALTHZ(h);
        kw_http_json(&resp, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(url, "/v1/static") == 0 && strcmp(method, "GET") == 0) {
        index = HTTP_SLOT_STATIC(h);
        resp.text = strdup(http_static_body);
        resp.content_type = "application/json";
        if (resp.text == NULL)
            err = KW_ERR_NOMEM;
    } else if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
        index = HTTP_SLOT_METRICS(h);
        resp.text = render_metrics(h);
        resp.content_type = "text/plain; version=0.0.4";
        if (resp.text == NULL)
            err = KW_ERR_NOMEM;
    } else {
        route_match m = find_route(h, method, url, segs, req.params);
        if (m.route == NULL) {
            err = m.path_known ? kw_http_fail(&resp, KW_ERR_UNSUPPORTED, "method not allowed")
                               : kw_http_fail(&resp, KW_ERR_NOT_FOUND, "no such endpoint");
        } else if (cs->too_large) {
            index = m.index;
            err = kw_http_fail(&resp, KW_ERR_TOO_LARGE, "request body exceeds %zu bytes", cs->limit);
        } else {
            index = m.index;
            req.raw = cs->body;
            req.raw_len = cs->len;
            req.binary = cs->binary;
            const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
            if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
                strlen(auth + 7) <= KW_HTTP_MAX_TOKEN_LEN)
                req.bearer = auth + 7;
            if (cs->len > 0 && !cs->binary) {
                json_error_t jerr;
                req.body = json_loadb((const char *)cs->body, cs->len, JSON_REJECT_DUPLICATES, &jerr);
                if (req.body == NULL || !json_is_object(req.body))
                    err = kw_http_fail(&resp, KW_ERR_FORMAT, "request body is not a JSON object");
            }
            if (err == KW_OK)
                err = m.route->handler(&req, &resp);
            if (req.body != NULL)
                json_decref(req.body);
        }
    }
    if (err == KW_ERR_UNSUPPORTED && resp.error_message != NULL &&
        strcmp(resp.error_message, "method not allowed") == 0) {
        set_error_body(&resp, err);
        resp.status = 405;
    } else if (err != KW_OK) {
        set_error_body(&resp, err);
    }
    if (err != KW_OK && resp.send_file) {
        close(resp.file_fd);
        resp.send_file = false;
    }
    int status = 500;
    enum MHD_Result ret = send_response(conn, &resp, &status);
    double elapsed = now_seconds() - cs->start;
    record_stats(h, index, status, elapsed);
    if (!h->quiet)
        fprintf(stderr, "level=info event=request method=%s route=\"%s\" status=%d ms=%.3f\n",
                method, route_label(h, index), status, elapsed * 1000.0);
    if (resp.body != NULL)
        json_decref(resp.body);
    free(resp.text);
    free(resp.error_message);
    return ret;
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    conn_state *cs = *con_cls;
    if (cs == NULL)
        return;
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

static int open_listener(const char *addr, uint16_t port, int *fd_out, uint16_t *port_out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return KW_ERR_INVALID_ARG;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return KW_ERR_SYSTEM;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return KW_ERR_SYSTEM;
    }
    *fd_out = fd;
    *port_out = ntohs(sa.sin_port);
    return KW_OK;
}

int kw_http_start(const kw_http_config *cfg, const kw_http_route *routes, size_t nroutes, void *app,
                  kw_http **out)
{
    *out = NULL;
    kw_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return KW_ERR_NOMEM;
    h->routes = routes;
    h->nroutes = nroutes;
    h->app = app;
    h->quiet = cfg->quiet;
    h->listen_fd = -1;
    h->stats = calloc(nroutes + HTTP_BUILTIN_SLOTS, sizeof(route_stats));
    pthread_mutex_init(&h->stats_lock, NULL);
    int r = h->stats == NULL ? KW_ERR_NOMEM
                             : open_listener(cfg->bind_addr != NULL ? cfg->bind_addr : "127.0.0.1",
                                             cfg->port, &h->listen_fd, &h->port);
    if (r != KW_OK)
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_EPOLL_LINUX_ONLY;
    bool tls = cfg->tls_cert_pem != NULL && cfg->tls_key_pem != NULL;
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned threads = cfg->threads == 0 ? 2 : cfg->threads;
    if (tls)
        h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
                                     MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
                                     MHD_OPTION_THREAD_POOL_SIZE, threads,
                                     MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                     MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert_pem,
                                     MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key_pem, MHD_OPTION_END);
    else
        h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
                                     MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
                                     MHD_OPTION_THREAD_POOL_SIZE, threads,
                                     MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (h->daemon == NULL) {
        r = KW_ERR_SYSTEM;
        goto fail;
    }
    *out = h;
    return KW_OK;
fail:
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    pthread_mutex_destroy(&h->stats_lock);
    free(h->stats);
    free(h);
    return r;
}

uint16_t kw_http_port(const kw_http *h)
{
    return h->port;
}

void kw_http_stop(kw_http **hp)
{
    if (hp == NULL || *hp == NULL)
        return;
    kw_http *h = *hp;
    /* MHD owns a socket given with MHD_OPTION_LISTEN_SOCKET and closes it
     * here; closing it again could close a descriptor another thread has
     * opened meanwhile. */
    MHD_stop_daemon(h->daemon);
    h->listen_fd = -1;
    pthread_mutex_destroy(&h->stats_lock);
    free(h->stats);
    free(h);
    *hp = NULL;
}
