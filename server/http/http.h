/*
 * server/http/http.h — keywardd's HTTP layer on libmicrohttpd.
 *
 * Owns the daemon, reads each request body up to a per-route limit, parses
 * JSON bodies (objects only), dispatches through the route table, maps
 * KW_ERR_* codes to HTTP statuses in one place (kw_http_status), writes
 * `{"error":{"code","message"}}` bodies, counts requests/errors/latency per
 * route for /metrics, and writes one structured log line per request that
 * never contains bodies, tokens or query strings. Handlers run on the
 * daemon's worker threads and must be thread-safe.
 *
 * Binary bodies: a route whose body_limit carries KW_HTTP_BINARY takes
 * `Content-Type: application/octet-stream` bodies as raw bytes (req->binary,
 * req->raw/raw_len; req->body stays NULL; no JSON parse), read into one
 * buffer sized from Content-Length, still capped at the route's limit (413
 * beyond it). Other content types on such a route are parsed as JSON as
 * everywhere. Binary responses: resp->text + text_len + content_type (a
 * buffer), or resp->file_fd + file_len (sent from the file, zero-copy on
 * plain HTTP; the layer closes the descriptor).
 */
#ifndef KEYWARD_SERVER_HTTP_H
#define KEYWARD_SERVER_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_HTTP_MAX_PARAMS 4
#define KW_HTTP_DEFAULT_BODY_LIMIT (64 * 1024)
#define KW_HTTP_MAX_TOKEN_LEN 256
/* Route flag OR'd into kw_http_route.body_limit (kept in that field so that
 * existing four-field route tables stay valid): octet-stream bodies are
 * passed raw, see above. The limit is body_limit & KW_HTTP_LIMIT_MASK. */
#define KW_HTTP_BINARY ((size_t)1 << (sizeof(size_t) * 8 - 1))
#define KW_HTTP_LIMIT_MASK (~KW_HTTP_BINARY)

typedef struct kw_http kw_http;

typedef struct {
    const char *method;
    const char *path;
    const char *params[KW_HTTP_MAX_PARAMS]; /* {name} segments, in order */
    json_t *body;                           /* parsed JSON object, or NULL */
    const uint8_t *raw;                     /* raw body bytes */
    size_t raw_len;
    bool binary;                            /* raw is an octet-stream body (KW_HTTP_BINARY routes) */
    const char *bearer;                     /* Authorization: Bearer token, or NULL */
    const char *remote;                     /* peer address, for rate limits and logs */
    void *app;                              /* the application context given at start */
} kw_http_req;

typedef struct {
    int status;          /* 0 means 200 */
    json_t *body;        /* JSON response (owned; freed by the layer) */
    char *text;          /* or a text response (owned, malloc'd) */
    const char *content_type;
    size_t text_len;     /* text's length when non-zero (may hold NUL bytes); else strlen */
    const char *csp;     /* Content-Security-Policy header (web page files), or NULL */
    char *error_message; /* set by kw_http_fail; owned */
    bool send_file;      /* send file_len bytes of file_fd (owned; closed by the layer) */
    int file_fd;
    uint64_t file_len;
} kw_http_resp;

/* A handler fills resp and returns 0, or returns a KW_ERR_* code (optionally
 * after kw_http_fail set a message) which the layer turns into the error body. */
typedef int (*kw_http_handler)(kw_http_req *req, kw_http_resp *resp);

typedef struct {
    const char *method;
    const char *pattern;  /* "/v1/accounts/{}/devices": {} matches one segment */
    kw_http_handler handler;
    size_t body_limit;    /* 0: KW_HTTP_DEFAULT_BODY_LIMIT; may carry KW_HTTP_BINARY */
} kw_http_route;

typedef struct {
    const char *bind_addr;   /* "127.0.0.1" */
    uint16_t port;           /* 0 picks a free port */
    const char *tls_cert_pem; /* contents, NULL for plain HTTP */
    const char *tls_key_pem;
    unsigned threads;        /* worker threads, >= 1 */
    bool quiet;              /* no per-request log lines */
} kw_http_config;

/* Starts the daemon serving routes (the table must outlive the daemon).
 * /healthz, /metrics and GET /v1/static (a fixed 200-byte JSON body, the
 * benchmark baseline) are built in. */
int kw_http_start(const kw_http_config *cfg, const kw_http_route *routes, size_t nroutes,
                  void *app, kw_http **out);

/* The port actually bound (useful with port 0). */
uint16_t kw_http_port(const kw_http *h);

/* Stops accepting, finishes in-flight requests, frees everything. */
void kw_http_stop(kw_http **h);

/* HTTP status for a KW_ERR_* code. */
int kw_http_status(int err);

/* Records a human-readable message for the error body and returns err, so a
 * handler can `return kw_http_fail(resp, KW_ERR_FORMAT, "name is missing");`.
 * The message must not contain secrets. */
int kw_http_fail(kw_http_resp *resp, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets a JSON body (takes ownership) and status. */
void kw_http_json(kw_http_resp *resp, int status, json_t *body);

#endif
