/*
 * Cloud records, client side (keyward/client_records.h): sealing and
 * opening records (keyward/record.h), inline writes, resumable piece
 * uploads, verified downloads, listing with the rollback marks, deletes,
 * and directory backup/restore. HTTP goes through one reused libcurl handle
 * (keep-alive) with the session's bearer token.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "keyward/client_records.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/record.h"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define SERVER KW_CLIENT_ORIGIN_SERVER
#define NETWORK KW_CLIENT_ORIGIN_NETWORK
#define PROFILE KW_CLIENT_ORIGIN_PROFILE

#define INLINE_MAX (256 * 1024) /* = the server's KW_STORE_REC_INLINE_MAX */
#define RESP_MAX ((size_t)4 << 20)
#define PAGE 1000
#define PINS_FILE "records-pins.log"
#define PINS_MAGIC "keyward-records-pins v1"
#define RESUME_DIR "uploads"
#define RESUME_AD "keyward upload resume v1"
#define DEFAULT_ZONE "default"
#define BACKUP_CATEGORY "backup"
#define PKEY_MAX (KW_SVCKEY_CATEGORY_MAXBYTES + KW_RECORD_ZONE_MAXBYTES + 32)

typedef struct {
    char *key; /* "cat/zone/id" or "cat/zone" (zones) */
    int64_t value;
    uint8_t deleted;
} pin;

struct kw_records {
    kw_client *c;
    kw_keychain *kc;
    uint64_t kcv, kkgen;
    CURL *h;
    kw_records_progress_fn progress;
    void *parg;
    pin *pins;
    size_t npins, cap;
    FILE *log;
    size_t log_lines;
};

typedef struct {
    uint8_t id[16];
    int64_t version;
    uint8_t *meta;
    size_t meta_len;
    uint8_t *wrap;
    size_t wrap_len;
    int64_t content_len, nchunks;
    bool has_ref;
    uint8_t ref[16];
    uint8_t *content;
    size_t content_size;
    uint32_t gen;
    kw_record_meta m;
} rec_entry;

static void entry_clear(rec_entry *e)
{
    free(e->meta);
    free(e->wrap);
    free(e->content);
    sodium_memzero(e, sizeof(*e));
}

static void entries_free(rec_entry **es, size_t n)
{
    if (*es == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        entry_clear(&(*es)[i]);
    free(*es);
    *es = NULL;
}

static const char *zone_or_default(const char *zone)
{
    return zone != NULL ? zone : DEFAULT_ZONE;
}

/* ---- pins (rollback marks) ---- */

static uint64_t pin_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static pin *pin_find(kw_records *rs, const char *key)
{
    if (rs->cap == 0)
        return NULL;
    for (size_t i = pin_hash(key) & (rs->cap - 1);; i = (i + 1) & (rs->cap - 1)) {
        if (rs->pins[i].key == NULL)
            return NULL;
        if (strcmp(rs->pins[i].key, key) == 0)
            return &rs->pins[i];
    }
}

static int pin_set_mem(kw_records *rs, const char *key, int64_t value, bool deleted)
{
    pin *p = pin_find(rs, key);
    if (p == NULL) {
        if ((rs->npins + 1) * 10 > rs->cap * 7) {
            size_t ncap = rs->cap == 0 ? 256 : rs->cap * 2;
            pin *np = calloc(ncap, sizeof(*np));
            if (np == NULL)
                return KW_ERR_NOMEM;
            for (size_t i = 0; i < rs->cap; i++) {
                if (rs->pins[i].key == NULL)
                    continue;
                size_t j = pin_hash(rs->pins[i].key) & (ncap - 1);
                while (np[j].key != NULL)
                    j = (j + 1) & (ncap - 1);
                np[j] = rs->pins[i];
            }
            free(rs->pins);
            rs->pins = np;
            rs->cap = ncap;
        }
        size_t j = pin_hash(key) & (rs->cap - 1);
        while (rs->pins[j].key != NULL)
            j = (j + 1) & (rs->cap - 1);
        if ((rs->pins[j].key = strdup(key)) == NULL)
            return KW_ERR_NOMEM;
        p = &rs->pins[j];
        rs->npins++;
    }
    p->value = value;
    p->deleted = deleted ? 1 : 0;
    return KW_OK;
}

static int pins_path(kw_records *rs, char out[PATH_MAX + 32])
{
    if (snprintf(out, PATH_MAX + 32, "%s/%s", rs->c->dir, PINS_FILE) >= PATH_MAX + 32)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

static void pins_header(kw_records *rs, char *out, size_t cap)
{
    char id[32];
    kwc_id_b64(id, rs->c->p->device_id);
    snprintf(out, cap, "%s %s %s", PINS_MAGIC, rs->c->p->account, id);
}

/* Rewrites the log with one line per pin (durably), and reopens it for appending. */
static int pins_rewrite(kw_records *rs)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48], hdr[256];
    if (pins_path(rs, path) != KW_OK)
        return KW_ERR_TOO_LARGE;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (rs->log != NULL) {
        fclose(rs->log);
        rs->log = NULL;
    }
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return KW_ERR_SYSTEM;
    pins_header(rs, hdr, sizeof(hdr));
    fprintf(f, "%s\n", hdr);
    for (size_t i = 0; i < rs->cap; i++)
        if (rs->pins[i].key != NULL)
            fprintf(f, "%c %s %lld\n", strchr(rs->pins[i].key, '/') == strrchr(rs->pins[i].key, '/') ? 'z'
                                       : rs->pins[i].deleted                                        ? 'd'
                                                                                                    : 'r',
                    rs->pins[i].key, (long long)rs->pins[i].value);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return KW_ERR_SYSTEM;
    }
    rs->log_lines = rs->npins;
    rs->log = fopen(path, "a");
    return rs->log != NULL ? KW_OK : KW_ERR_SYSTEM;
}

static int pins_load(kw_records *rs)
{
    char path[PATH_MAX + 32], hdr[256], line[512];
    if (pins_path(rs, path) != KW_OK)
        return KW_ERR_TOO_LARGE;
    pins_header(rs, hdr, sizeof(hdr));
    FILE *f = fopen(path, "r");
    bool mine = false;
    if (f != NULL) {
        if (fgets(line, sizeof(line), f) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            mine = strcmp(line, hdr) == 0;
        }
        while (mine && fgets(line, sizeof(line), f) != NULL) {
            char kind = 0, key[160];
            long long v = 0;
            if (sscanf(line, "%c %150s %lld", &kind, key, &v) != 3 || v < 0 ||
                (kind != 'r' && kind != 'd' && kind != 'z'))
                continue; /* a line cut by a crash */
            pin *p = pin_find(rs, key);
            /* marks only move forward; a deletion at v outranks a version v */
            if (p != NULL && (p->value > v || (p->value == v && (p->deleted || kind != 'd'))))
                continue;
            if (pin_set_mem(rs, key, v, kind == 'd') != KW_OK) {
                fclose(f);
                return KW_ERR_NOMEM;
            }
            rs->log_lines++;
        }
        fclose(f);
    }
    if (!mine || rs->log_lines > 2 * rs->npins + 1024)
        return pins_rewrite(rs);
    rs->log = fopen(path, "a");
    return rs->log != NULL ? KW_OK : KW_ERR_SYSTEM;
}

static void pins_append(kw_records *rs, char kind, const char *key, int64_t v)
{
    if (rs->log != NULL) {
        fprintf(rs->log, "%c %s %lld\n", kind, key, (long long)v);
        fflush(rs->log);
        rs->log_lines++;
    }
}

static void rec_key(char out[PKEY_MAX], const char *cat, const char *zone, const uint8_t id[16])
{
    char idb[32];
    kw_b64url_encode(idb, sizeof(idb), id, 16);
    snprintf(out, PKEY_MAX, "%s/%s/%s", cat, zone, idb);
}

/* Refuses a record version below the one seen, or at/below a deletion. */
static int pin_check(kw_records *rs, const char *cat, const char *zone, const uint8_t id[16], int64_t v)
{
    char key[PKEY_MAX];
    rec_key(key, cat, zone, id);
    const pin *p = pin_find(rs, key);
    if (p == NULL)
        return KW_OK;
    const char *idb = strrchr(key, '/') + 1;
    if (p->deleted && v <= p->value)
        return kwc_fail(rs->c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: the server resurrected deleted record %s in %s/%s: it serves version "
                        "%lld, this device saw it deleted at version %lld",
                        idb, cat, zone, (long long)v, (long long)p->value);
    if (v < p->value)
        return kwc_fail(rs->c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: the server rolled record %s in %s/%s back: it serves version %lld, this "
                        "device has seen version %lld",
                        idb, cat, zone, (long long)v, (long long)p->value);
    return KW_OK;
}

static int pin_record(kw_records *rs, const char *cat, const char *zone, const uint8_t id[16], int64_t v,
                      bool deleted)
{
    char key[PKEY_MAX];
    rec_key(key, cat, zone, id);
    const pin *p = pin_find(rs, key);
    if (p != NULL && (p->value > v || (p->value == v && p->deleted == deleted)))
        return KW_OK;
    int r = pin_set_mem(rs, key, v, deleted);
    if (r == KW_OK)
        pins_append(rs, deleted ? 'd' : 'r', key, v);
    return r;
}

static int zone_check(kw_records *rs, const char *cat, const char *zone, int64_t change)
{
    char key[PKEY_MAX];
    snprintf(key, sizeof(key), "%s/%s", cat, zone);
    const pin *p = pin_find(rs, key);
    if (p != NULL && change < p->value)
        return kwc_fail(rs->c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: the server rolled zone %s/%s back: its change counter is %lld, this "
                        "device has seen %lld",
                        cat, zone, (long long)change, (long long)p->value);
    if (p != NULL && p->value == change)
        return KW_OK;
    int r = pin_set_mem(rs, key, change, false);
    if (r == KW_OK)
        pins_append(rs, 'z', key, change);
    return r;
}

/* ---- HTTP ---- */

typedef struct {
    char *data;
    size_t len, cap;
    bool too_large;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    sink *s = arg;
    size_t n = size * nmemb;
    if (nmemb != 0 && n / nmemb != size)
        return 0;
    if (n > RESP_MAX - s->len) {
        s->too_large = true;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t ncap = s->cap == 0 ? 65536 : s->cap;
        while (ncap < s->len + n + 1)
            ncap *= 2;
        char *nb = realloc(s->data, ncap);
        if (nb == NULL)
            return 0;
        s->data = nb;
        s->cap = ncap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

static int code_from_name(const char *name)
{
    for (int e = -1; e >= -14; e--)
        if (strcmp(kw_errname(e), name) == 0)
            return e;
    return KW_ERR_INTERNAL;
}

/* Prepares handle h for one request (method, path, optional body: JSON text,
 * or raw bytes when binary; answer into *s); *hdrs receives the header list
 * to free after it ran. */
static int easy_prepare(kw_records *rs, CURL *h, const char *method, const char *path, const char *body,
                        size_t blen, bool binary, sink *s, struct curl_slist **hdrs)
{
    kw_client *c = rs->c;
    char url[KWC_URL_MAX + 512], authz[KWC_TOKEN_MAX + 32];
    struct curl_slist *l = NULL, *n;
    *hdrs = NULL;
    if (snprintf(url, sizeof(url), "%s%s", c->server, path) >= (int)sizeof(url))
        return kwc_fail(c, LOCAL, KW_ERR_TOO_LARGE, "URL too long");
    snprintf(authz, sizeof(authz), "Authorization: Bearer %s", c->p->s->token);
    l = curl_slist_append(NULL, authz);
    sodium_memzero(authz, sizeof(authz));
    if (l == NULL || (n = curl_slist_append(l, binary ? "Content-Type: application/octet-stream"
                                                        : "Content-Type: application/json")) == NULL ||
        (l = n, n = curl_slist_append(l, "Expect:")) == NULL) {
        curl_slist_free_all(l);
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    }
    l = n;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "keyward-cli/0.1");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    *hdrs = l;
    return KW_OK;
}

/* The error of a non-2xx answer held in s. */
static int answer_error(kw_records *rs, const sink *s, long status)
{
    json_error_t jerr;
    json_t *j = s->len > 0 ? json_loadb(s->data, s->len, 0, &jerr) : NULL;
    const json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int r = kwc_fail(rs->c, SERVER, code != NULL ? code_from_name(code) : KW_ERR_INTERNAL, "%s (HTTP %ld)",
                     msg != NULL ? msg : "the server refused the request", status);
    json_decref(j);
    return r;
}

static int transfer_error(kw_records *rs, const sink *s, CURLcode cr)
{
    return s->too_large ? kwc_fail(rs->c, NETWORK, KW_ERR_TOO_LARGE, "the server's answer exceeds %zu bytes",
                                   RESP_MAX)
                        : kwc_fail(rs->c, NETWORK, KW_ERR_SYSTEM, "cannot reach %s: %s", rs->c->server,
                                   curl_easy_strerror(cr));
}

/* One request on the session's connection. body: JSON text (NULL: none).
 * With text != NULL the 2xx answer is returned as text, else parsed into
 * *json (an object). */
static int rq(kw_records *rs, const char *method, const char *path, const char *body, size_t blen,
              json_t **json, char **text, size_t *tlen)
{
    struct curl_slist *hdrs = NULL;
    sink s = {0};
    long status = 0;
    int r;
    if (json != NULL)
        *json = NULL;
    if (text != NULL)
        *text = NULL;
    if ((r = easy_prepare(rs, rs->h, method, path, body, blen, false, &s, &hdrs)) != KW_OK)
        return r;
    CURLcode cr = curl_easy_perform(rs->h);
    if (cr != CURLE_OK) {
        r = transfer_error(rs, &s, cr);
        goto out;
    }
    curl_easy_getinfo(rs->h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        r = answer_error(rs, &s, status);
        goto out;
    }
    if (text != NULL) {
        *text = s.data != NULL ? s.data : strdup("");
        *tlen = s.len;
        s.data = NULL;
        r = *text != NULL ? KW_OK : kwc_fail(rs->c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    json_error_t jerr;
    json_t *j = s.len > 0 ? json_loadb(s.data, s.len, 0, &jerr) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        r = kwc_fail(rs->c, NETWORK, KW_ERR_FORMAT, "the server's answer is not a JSON object");
        goto out;
    }
    *json = j;
    r = KW_OK;
out:
    free(s.data);
    curl_slist_free_all(hdrs);
    return r;
}

/* ---- parallel piece uploads (a few requests in flight on their own
 * connections, so that the server's worker threads overlap) ---- */

#define PAR_MAX 4
#define XFER_BUF (512L * 1024) /* libcurl's socket buffer for piece transfers */

typedef struct {
    CURL *h;
    struct curl_slist *hdrs;
    char *body;
    sink s;
    bool busy;
    size_t plen;
} par_slot;

typedef struct {
    kw_records *rs;
    CURLM *m;
    par_slot slot[PAR_MAX];
    size_t n;
    uint64_t done, total;
    long completed;
    char *spare[PAR_MAX + 1]; /* sent bodies kept for the next pieces (ciphertext: no wipe needed) */
    size_t nspare;
} par_up;

#define PAR_BODY_BYTES ((size_t)KW_RECORD_PIECE_BYTES + KW_RECORD_PIECE_OVERHEAD)

/* A body for one sealed piece (PAR_BODY_BYTES): a sent one again when there is
 * one, so that a long upload does not map fresh memory for every piece. */
static char *par_body(par_up *pu)
{
    return pu->nspare > 0 ? pu->spare[--pu->nspare] : malloc(PAR_BODY_BYTES);
}

static void par_body_done(par_up *pu, char *body)
{
    if (body != NULL && pu->nspare < PAR_MAX + 1)
        pu->spare[pu->nspare++] = body;
    else
        free(body);
}

static void par_free(par_up *pu)
{
    for (size_t i = 0; i < pu->n; i++) {
        par_slot *sl = &pu->slot[i];
        if (sl->busy)
            curl_multi_remove_handle(pu->m, sl->h);
        if (sl->h != NULL)
            curl_easy_cleanup(sl->h);
        curl_slist_free_all(sl->hdrs);
        free(sl->body);
        free(sl->s.data);
    }
    for (size_t i = 0; i < pu->nspare; i++)
        free(pu->spare[i]);
    if (pu->m != NULL)
        curl_multi_cleanup(pu->m);
    memset(pu, 0, sizeof(*pu));
}

static int par_init(par_up *pu, kw_records *rs, uint64_t total)
{
    memset(pu, 0, sizeof(*pu));
    pu->rs = rs;
    pu->total = total;
    if ((pu->m = curl_multi_init()) == NULL)
        return kwc_fail(rs->c, NETWORK, KW_ERR_NOMEM, "cannot initialise libcurl");
    for (pu->n = 0; pu->n < PAR_MAX; pu->n++)
        if ((pu->slot[pu->n].h = curl_easy_init()) == NULL) {
            par_free(pu);
            return kwc_fail(rs->c, NETWORK, KW_ERR_NOMEM, "cannot initialise libcurl");
        }
    return KW_OK;
}


enum { REAP_NOWAIT, REAP_SLOT, REAP_DRAIN };

/* Collects finished transfers; with REAP_SLOT waits until a slot is free,
 * with REAP_DRAIN until none is busy; REAP_NOWAIT only moves the transfers
 * on (called between slices of local work so that the sockets stay fed). */
static int par_reap(par_up *pu, int mode)
{
    bool drain = mode == REAP_DRAIN;
    int r = KW_OK;
    for (;;) {
        int running = 0, msgs = 0;
        if (curl_multi_perform(pu->m, &running) != CURLM_OK)
            return kwc_fail(pu->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(pu->m, &msgs)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            par_slot *sl = NULL;
            for (size_t i = 0; i < pu->n; i++)
                if (pu->slot[i].h == msg->easy_handle)
                    sl = &pu->slot[i];
            if (sl == NULL)
                continue;
            long status = 0;
            curl_easy_getinfo(sl->h, CURLINFO_RESPONSE_CODE, &status);
            if (r == KW_OK) {
                if (msg->data.result != CURLE_OK)
                    r = transfer_error(pu->rs, &sl->s, msg->data.result);
                else if (status < 200 || status >= 300)
                    r = answer_error(pu->rs, &sl->s, status);
            }
            curl_multi_remove_handle(pu->m, sl->h);
            curl_slist_free_all(sl->hdrs);
            sl->hdrs = NULL;
            par_body_done(pu, sl->body);
            sl->body = NULL;
            free(sl->s.data);
            memset(&sl->s, 0, sizeof(sl->s));
            sl->busy = false;
            if (r == KW_OK) {
                pu->completed++;
                pu->done += sl->plen;
                if (pu->rs->progress != NULL)
                    pu->rs->progress(pu->done < pu->total ? pu->done : pu->total, pu->total, pu->rs->parg);
            }
        }
        size_t busy = 0;
        for (size_t i = 0; i < pu->n; i++)
            busy += pu->slot[i].busy ? 1 : 0;
        if (r != KW_OK || busy == 0 || mode == REAP_NOWAIT || (!drain && busy < pu->n))
            return r;
        if (curl_multi_poll(pu->m, NULL, 0, 1000, NULL) != CURLM_OK)
            return kwc_fail(pu->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
    }
}

/* Starts the PUT of one sealed piece (takes body). */
static int par_send(par_up *pu, const char *path, char *body, size_t blen, size_t plen)
{
    int r = par_reap(pu, REAP_SLOT);
    par_slot *sl = NULL;
    for (size_t i = 0; i < pu->n && sl == NULL; i++)
        if (!pu->slot[i].busy)
            sl = &pu->slot[i];
    if (r != KW_OK || sl == NULL) {
        free(body);
        return r != KW_OK ? r : KW_ERR_INTERNAL;
    }
    sl->body = body; /* transferred */
    sl->plen = plen;
    if ((r = easy_prepare(pu->rs, sl->h, "PUT", path, body, blen, true, &sl->s, &sl->hdrs)) != KW_OK)
        return r;
    curl_easy_setopt(sl->h, CURLOPT_UPLOAD_BUFFERSIZE, XFER_BUF); /* fewer, larger sends */
    if (curl_multi_add_handle(pu->m, sl->h) != CURLM_OK)
        return kwc_fail(pu->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
    sl->busy = true;
    return KW_OK;
}

#define OUT_DIRECT_ALIGN 4096 /* O_DIRECT alignment of a download's output (buffer, offset, length) */
#define OUT_DIRECT_MIN (8u << 20) /* downloads from this size write their output with O_DIRECT */

/* ---- content hash (and a download's output writes) on a helper thread ----
 * The content hash (BLAKE2b-256 for content in pieces, ~3x libsodium's
 * SHA-256 here, and still the slowest step of a transfer after the AEAD) runs
 * on a helper thread: it hashes piece i while this thread seals or opens
 * piece i+1 and keeps the transfers moving. A download's helper also writes
 * each piece to the output after hashing it (fd >= 0). Pieces alternate
 * between two plaintext buffers; a buffer is reused only after the helper is
 * done with it. Without a thread (pthread_create failed) all runs inline. */
typedef struct {
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kw_record_hash_state *hs;
    CURLM *wake; /* woken (curl_multi_wakeup) when a piece is done, or NULL */
    int fd;   /* output of a download, or -1 */
    int werr; /* errno of the first failed output write (sticky) */
    bool direct; /* fd is in O_DIRECT mode (aligned pieces go straight to the disk) */
    const uint8_t *p;
    size_t n;
    bool busy, quit, started;
} hasher;

/* Hashes p[0..n) and writes it to h->fd (when >= 0, and no write failed yet). */
static void hasher_work(hasher *h, const uint8_t *p, size_t n)
{
    if (h->hs != NULL)
        kw_record_hash_update(h->hs, p, n);
    size_t o = 0;
    if (h->fd >= 0 && h->direct) {
        /* O_DIRECT (see content_to_path): the block-aligned part of the piece
         * from the aligned buffer at the aligned offset; then (a last piece's
         * tail, or when the file system refuses) the descriptor goes back to
         * buffered writes for the rest */
        size_t al = n & ~(size_t)(OUT_DIRECT_ALIGN - 1);
        while (o < al && ((uintptr_t)(p + o) & (OUT_DIRECT_ALIGN - 1)) == 0) {
            ssize_t w = write(h->fd, p + o, al - o);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0 || ((size_t)w & (OUT_DIRECT_ALIGN - 1)) != 0) {
                if (w > 0)
                    o += (size_t)w;
                break;
            }
            o += (size_t)w;
        }
        if (o < n) {
            int fl = fcntl(h->fd, F_GETFL);
            if (fl < 0 || fcntl(h->fd, F_SETFL, fl & ~O_DIRECT) != 0)
                h->werr = errno != 0 ? errno : EIO;
            h->direct = false;
        }
    }
    for (; h->fd >= 0 && h->werr == 0 && o < n;) {
        ssize_t w = write(h->fd, p + o, n - o);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            h->werr = w < 0 ? errno : EIO;
        else
            o += (size_t)w;
    }
}

static void *hasher_main(void *arg)
{
    hasher *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->busy && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        if (!h->busy)
            break;
        const uint8_t *p = h->p;
        size_t n = h->n;
        pthread_mutex_unlock(&h->mu);
        hasher_work(h, p, n);
        pthread_mutex_lock(&h->mu);
        h->busy = false;
        pthread_cond_broadcast(&h->cv);
        if (h->wake != NULL)
            curl_multi_wakeup(h->wake); /* the one libcurl call made for another thread */
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void hasher_start(hasher *h, kw_record_hash_state *hs, int fd, CURLM *wake)
{
    memset(h, 0, sizeof(*h));
    h->hs = hs;
    h->fd = fd;
    h->wake = wake;
    /* KEYWARD_RECORDS_HASH_THREAD=0 keeps hashing inline (for comparisons) */
    const char *ht = getenv("KEYWARD_RECORDS_HASH_THREAD");
    if (ht != NULL && strcmp(ht, "0") == 0)
        return;
    if (pthread_mutex_init(&h->mu, NULL) != 0)
        return;
    if (pthread_cond_init(&h->cv, NULL) != 0) {
        pthread_mutex_destroy(&h->mu);
        return;
    }
    if (pthread_create(&h->t, NULL, hasher_main, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        return;
    }
    h->started = true;
}

/* Waits until the helper is done with the last piece handed over. With
 * pump, waits in pump (which blocks in curl_multi_poll on the transfers
 * until they move or the helper wakes it), else on the condition variable.
 * KW_ERR_SYSTEM once an output write failed (h->werr). */
static int hasher_wait(hasher *h, int (*pump)(void *), void *arg)
{
    if (!h->started)
        return h->werr != 0 ? KW_ERR_SYSTEM : KW_OK;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (h->busy && pump == NULL)
            pthread_cond_wait(&h->cv, &h->mu);
        bool busy = h->busy;
        int werr = h->werr;
        pthread_mutex_unlock(&h->mu);
        if (!busy)
            return werr != 0 ? KW_ERR_SYSTEM : KW_OK;
        int r = pump != NULL ? pump(arg) : KW_OK;
        if (r != KW_OK)
            return r;
    }
}

/* Hands p[0..n) over for hashing (after the previous piece's hash). */
static int hasher_submit(hasher *h, const uint8_t *p, size_t n, int (*pump)(void *), void *arg)
{
    if (!h->started) {
        hasher_work(h, p, n);
        return h->werr != 0 ? KW_ERR_SYSTEM : KW_OK;
    }
    int r = hasher_wait(h, pump, arg);
    if (r != KW_OK)
        return r;
    pthread_mutex_lock(&h->mu);
    h->p = p;
    h->n = n;
    h->busy = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return KW_OK;
}

/* Finishes the pending hash and ends the thread (idempotent). */
static void hasher_stop(hasher *h)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->mu);
    h->quit = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->t, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    h->started = false;
}

/* Waits for the transfers to move (or a helper's wakeup, or 100 ms), then
 * collects what finished. */
static int par_pump(void *arg)
{
    par_up *pu = arg;
    if (pu->m == NULL)
        return KW_OK;
    if (curl_multi_poll(pu->m, NULL, 0, 100, NULL) != CURLM_OK)
        return kwc_fail(pu->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
    return par_reap(pu, REAP_NOWAIT);
}

static int rq_json(kw_records *rs, const char *method, const char *path, json_t *body, json_t **resp)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body != NULL && text == NULL)
        return kwc_fail(rs->c, LOCAL, KW_ERR_NOMEM, "out of memory");
    int r = rq(rs, method, path, text, text != NULL ? strlen(text) : 0, resp, NULL, NULL);
    free(text);
    return r;
}

/* ---- open / free ---- */

int kw_records_open(kw_records **out, kw_client *c)
{
    kw_records *rs = NULL;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((rs = calloc(1, sizeof(*rs))) == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    rs->c = c;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (rs->h = curl_easy_init()) == NULL) {
        r = kwc_fail(c, NETWORK, KW_ERR_SYSTEM, "cannot initialise libcurl");
        goto fail;
    }
    if ((r = kwc_sync_kk(c, &rs->kc, &rs->kcv, &rs->kkgen, NULL)) != KW_OK)
        goto fail;
    if ((r = pins_load(rs)) != KW_OK) {
        r = kwc_fail(c, PROFILE, r, "cannot read or write %s/%s", c->dir, PINS_FILE);
        goto fail;
    }
    *out = rs;
    return KW_OK;
fail:
    kw_records_free(&rs);
    return r;
}

void kw_records_free(kw_records **rsp)
{
    if (rsp == NULL || *rsp == NULL)
        return;
    kw_records *rs = *rsp;
    if (rs->log != NULL) {
        if (rs->log_lines > 2 * rs->npins + 1024)
            pins_rewrite(rs);
        if (rs->log != NULL) {
            fflush(rs->log);
            fsync(fileno(rs->log));
            fclose(rs->log);
        }
    }
    for (size_t i = 0; i < rs->cap; i++)
        free(rs->pins[i].key);
    free(rs->pins);
    kw_keychain_free(&rs->kc);
    if (rs->h != NULL)
        curl_easy_cleanup(rs->h);
    free(rs);
    *rsp = NULL;
}

void kw_records_set_progress(kw_records *rs, kw_records_progress_fn fn, void *arg)
{
    rs->progress = fn;
    rs->parg = arg;
}

/* ---- sealing helpers ---- */

static int check_addr(kw_records *rs, const char *cat, const char *zone)
{
    if (!kw_category_name_ok(cat))
        return kwc_fail(rs->c, LOCAL, KW_ERR_INVALID_ARG,
                        "'%s' is not a category (1..32 bytes of [a-z0-9-])", cat != NULL ? cat : "");
    if (!kw_record_zone_ok(zone))
        return kwc_fail(rs->c, LOCAL, KW_ERR_INVALID_ARG, "'%s' is not a zone (1..64 bytes of [A-Za-z0-9._-])",
                        zone);
    return KW_OK;
}

/* The service key of cat at generation gen, syncing the keychain once when
 * this device does not have it yet. */
static int svc_key(kw_records *rs, const char *cat, uint32_t gen, uint8_t key[KW_SVCKEY_BYTES])
{
    int r = kw_keychain_svc_get(rs->kc, cat, gen, key, NULL);
    if (r == KW_ERR_NOT_FOUND) {
        kw_keychain_free(&rs->kc);
        if ((r = kwc_sync_kk(rs->c, &rs->kc, &rs->kcv, &rs->kkgen, NULL)) != KW_OK)
            return r;
        r = kw_keychain_svc_get(rs->kc, cat, gen, key, NULL);
    }
    if (r != KW_OK)
        return kwc_fail(rs->c, LOCAL, KW_ERR_VERIFY,
                        "this device holds no service key of generation %u for '%s' (%s)", gen, cat,
                        kw_strerror(r));
    return KW_OK;
}

/* Unwraps e's record key and opens its metadata as version e->version of
 * cat/zone/id. */
static int entry_open(kw_records *rs, const char *cat, const char *zone, rec_entry *e,
                      uint8_t rkey[KW_RECORD_KEYBYTES])
{
    uint8_t sk[KW_SVCKEY_BYTES];
    char idb[32];
    kw_record_ref ref = {.category = cat, .zone = zone, .version = (uint64_t)e->version};
    memcpy(ref.id, e->id, 16);
    kw_b64url_encode(idb, sizeof(idb), e->id, 16);
    int r = kw_record_wrap_generation(e->wrap, e->wrap_len, &e->gen);
    if (r != KW_OK)
        return kwc_fail(rs->c, LOCAL, KW_ERR_VERIFY, "ALERT: record %s in %s/%s has a malformed key wrap",
                        idb, cat, zone);
    if ((r = svc_key(rs, cat, e->gen, sk)) != KW_OK)
        return r;
    r = kw_record_key_unwrap(rkey, e->wrap, e->wrap_len, sk, &ref);
    sodium_memzero(sk, sizeof(sk));
    if (r == KW_OK)
        r = kw_record_meta_open(&e->m, e->meta, e->meta_len, rkey, &ref);
    if (r != KW_OK) {
        sodium_memzero(rkey, KW_RECORD_KEYBYTES);
        return kwc_fail(rs->c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: record %s does not open as version %lld of %s/%s (%s): the server "
                        "swapped or replayed its ciphertext",
                        idb, (long long)e->version, cat, zone, kw_strerror(r));
    }
    return KW_OK;
}

/* Reads a record object of the API into e. */
static int entry_parse(kw_records *rs, const json_t *o, rec_entry *e)
{
    uint64_t v = 0, cl = 0, nc = 0;
    size_t n = 0;
    const char *id = json_string_value(json_object_get(o, "id"));
    memset(e, 0, sizeof(*e));
    if (id == NULL || kw_b64url_decode(e->id, 16, &n, id, strlen(id)) != KW_OK || n != 16 ||
        kwc_get_u64(o, "version", &v) != KW_OK || v < 1 || kwc_get_u64(o, "content_len", &cl) != KW_OK ||
        kwc_get_u64(o, "nchunks", &nc) != KW_OK ||
        kwc_get_b64(o, "meta", KW_RECORD_META_MAXBYTES, &e->meta, &e->meta_len) != KW_OK ||
        kwc_get_b64(o, "wrap", KW_RECORD_WRAPBYTES, &e->wrap, &e->wrap_len) != KW_OK)
        return kwc_bad_answer(rs->c, "record");
    e->version = (int64_t)v;
    e->content_len = (int64_t)cl;
    e->nchunks = (int64_t)nc;
    if (json_object_get(o, "ref") != NULL) {
        if (kwc_get_b64_fixed(o, "ref", e->ref, 16) != KW_OK)
            return kwc_bad_answer(rs->c, "record ref");
        e->has_ref = true;
    }
    if (json_object_get(o, "content") != NULL &&
        kwc_get_b64(o, "content", INLINE_MAX, &e->content, &e->content_size) != KW_OK)
        return kwc_bad_answer(rs->c, "record content");
    return KW_OK;
}

/* Every record of the zone, checked against the marks and opened; marks
 * advanced only when the whole listing checked out. */
static int list_zone(kw_records *rs, const char *cat, const char *zone, rec_entry **out, size_t *count,
                     int64_t *change_out, char cls[16])
{
    rec_entry *es = NULL;
    size_t n = 0, cap = 0;
    int64_t change = -1;
    char path[256], after[32] = "";
    uint8_t rkey[KW_RECORD_KEYBYTES];
    int r = KW_OK;
    *out = NULL;
    *count = 0;
    snprintf(path, sizeof(path), "/v1/records/%s/%s", cat, zone);
    for (;;) {
        json_t *body = json_pack("{s:i}", "limit", PAGE), *resp = NULL;
        if (body == NULL) {
            r = KW_ERR_NOMEM;
            break;
        }
        if (after[0] != '\0')
            json_object_set_new(body, "after", json_string(after));
        r = rq_json(rs, "POST", path, body, &resp);
        json_decref(body);
        if (r != KW_OK)
            break;
        uint64_t ch = 0;
        const json_t *recs = json_object_get(resp, "records");
        if (kwc_get_u64(resp, "change", &ch) != KW_OK || !json_is_array(recs)) {
            json_decref(resp);
            r = kwc_bad_answer(rs->c, "record list");
            break;
        }
        if (change < 0 || (int64_t)ch < change)
            change = (int64_t)ch; /* the lowest counter seen over the pages */
        if (cls != NULL && json_is_string(json_object_get(resp, "class")))
            snprintf(cls, 16, "%s", json_string_value(json_object_get(resp, "class")));
        for (size_t i = 0; i < json_array_size(recs) && r == KW_OK; i++) {
            if (n == cap) {
                size_t ncap = cap == 0 ? 64 : cap * 2;
                rec_entry *g = realloc(es, ncap * sizeof(*g));
                if (g == NULL) {
                    r = KW_ERR_NOMEM;
                    break;
                }
                es = g;
                cap = ncap;
            }
            r = entry_parse(rs, json_array_get(recs, i), &es[n]);
            n++;
            if (r == KW_OK)
                r = pin_check(rs, cat, zone, es[n - 1].id, es[n - 1].version);
            if (r == KW_OK)
                r = entry_open(rs, cat, zone, &es[n - 1], rkey);
            sodium_memzero(rkey, sizeof(rkey));
        }
        const char *next = json_string_value(json_object_get(resp, "next"));
        if (r == KW_OK && next != NULL && strlen(next) < sizeof(after))
            snprintf(after, sizeof(after), "%s", next);
        else
            after[0] = '\0';
        json_decref(resp);
        if (r != KW_OK || after[0] == '\0')
            break;
    }
    if (r == KW_OK)
        r = zone_check(rs, cat, zone, change < 0 ? 0 : change);
    for (size_t i = 0; i < n && r == KW_OK; i++)
        r = pin_record(rs, cat, zone, es[i].id, es[i].version, false);
    if (r != KW_OK) {
        entries_free(&es, n);
        return r;
    }
    *out = es;
    *count = n;
    if (change_out != NULL)
        *change_out = change < 0 ? 0 : change;
    return KW_OK;
}

/* The entry whose name is `which` or whose id is `which` (base64url). */
static rec_entry *find_entry(rec_entry *es, size_t n, const char *which)
{
    uint8_t id[16];
    size_t len = 0;
    bool is_id = strlen(which) == 22 && kw_b64url_decode(id, 16, &len, which, 22) == KW_OK && len == 16;
    for (size_t i = 0; i < n; i++)
        if (strcmp(es[i].m.name, which) == 0)
            return &es[i];
    for (size_t i = 0; i < n && is_id; i++)
        if (memcmp(es[i].id, id, 16) == 0)
            return &es[i];
    return NULL;
}

/* ---- put ---- */

typedef struct {
    int fd;
    const uint8_t *mem;
    uint64_t size, mtime, ctime;
} source;

/* Reads len bytes at off; beyond the source's end, zeros (the padding). */
static int src_read(const source *s, uint64_t off, uint8_t *buf, size_t len)
{
    size_t have = off >= s->size ? 0 : (size_t)(s->size - off < len ? s->size - off : len);
    if (have < len)
        memset(buf + have, 0, len - have);
    if (have == 0)
        return KW_OK;
    if (s->mem != NULL) {
        memcpy(buf, s->mem + off, have);
        return KW_OK;
    }
    size_t o = 0;
    while (o < have) {
        ssize_t n = pread(s->fd, buf + o, have - o, (off_t)(off + o));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return KW_ERR_SYSTEM;
        o += (size_t)n;
    }
    return KW_OK;
}

/* Resume state, sealed under the profile key. */
typedef struct {
    uint8_t upload_id[16];
    uint8_t id[16];
    int64_t version;
    uint64_t size, mtime;
    uint8_t key[KW_RECORD_KEYBYTES];
} resume_state;

static int resume_path(kw_records *rs, char out[PATH_MAX + 64], const char *cat, const char *zone,
                       const char *name, const char *file)
{
    char real[PATH_MAX], hex[33];
    uint8_t h[32];
    crypto_hash_sha256_state st;
    if (realpath(file, real) == NULL)
        snprintf(real, sizeof(real), "%s", file);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)cat, strlen(cat) + 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)zone, strlen(zone) + 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name) + 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)real, strlen(real));
    crypto_hash_sha256_final(&st, h);
    kw_hex_encode(hex, sizeof(hex), h, 16);
    if (snprintf(out, PATH_MAX + 64, "%s/%s/%s", rs->c->dir, RESUME_DIR, hex) >= PATH_MAX + 64)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

#define RESUME_PT (16 + 16 + 8 + 8 + 8 + KW_RECORD_KEYBYTES)
#define RESUME_BYTES (24 + RESUME_PT + 16)

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int resume_save(kw_records *rs, const char *path, const resume_state *st)
{
    uint8_t pt[RESUME_PT], out[RESUME_BYTES];
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/%s", rs->c->dir, RESUME_DIR);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return KW_ERR_SYSTEM;
    memcpy(pt, st->upload_id, 16);
    memcpy(pt + 16, st->id, 16);
    be64(pt + 32, (uint64_t)st->version);
    be64(pt + 40, st->size);
    be64(pt + 48, st->mtime);
    memcpy(pt + 56, st->key, KW_RECORD_KEYBYTES);
    randombytes_buf(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, pt, sizeof(pt), (const uint8_t *)RESUME_AD,
                                               strlen(RESUME_AD), NULL, out, rs->c->p->key);
    sodium_memzero(pt, sizeof(pt));
    const char *base = strrchr(path, '/') + 1;
    return kwc_write_file(dir, base, out, sizeof(out));
}

static bool resume_load(kw_records *rs, const char *path, resume_state *st)
{
    uint8_t in[RESUME_BYTES + 1], pt[RESUME_PT];
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = fread(in, 1, sizeof(in), f);
    fclose(f);
    bool ok = n == RESUME_BYTES &&
              crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, in + 24, RESUME_BYTES - 24,
                                                         (const uint8_t *)RESUME_AD, strlen(RESUME_AD), in,
                                                         rs->c->p->key) == 0;
    if (ok) {
        memcpy(st->upload_id, pt, 16);
        memcpy(st->id, pt + 16, 16);
        st->version = (int64_t)ld64(pt + 32);
        st->size = ld64(pt + 40);
        st->mtime = ld64(pt + 48);
        memcpy(st->key, pt + 56, KW_RECORD_KEYBYTES);
    }
    sodium_memzero(pt, sizeof(pt));
    return ok;
}

static long test_abort_after(void)
{
    const char *v = getenv("KEYWARD_TEST_UPLOAD_ABORT_AFTER");
    return v != NULL && v[0] != '\0' ? strtol(v, NULL, 10) : -1;
}

/* The sealed length of piece i of a content laid out as m says. */
static uint64_t piece_sealed_len(const kw_record_meta *m, uint64_t i)
{
    uint64_t off = i * m->piece_size;
    uint64_t plen = off >= m->padded ? 0 : (m->padded - off < m->piece_size ? m->padded - off : m->piece_size);
    return plen + KW_RECORD_PIECE_OVERHEAD;
}

static int put_core(kw_records *rs, const char *cat, const char *zone, const char *name, const source *src,
                    const uint8_t id[16], int64_t version, const char *rpath, json_t **out)
{
    kw_client *c = rs->c;
    uint8_t rkey[KW_RECORD_KEYBYTES], sk[KW_SVCKEY_BYTES], wrap[KW_RECORD_WRAPBYTES];
    uint8_t *pt = NULL, *ct = NULL, *meta = NULL;
    char *body = NULL, path[256], idb[32], ub[32];
    json_t *j = NULL, *resp = NULL;
    resume_state st;
    uint32_t gen = 0;
    uint64_t npieces = 0, ctl = 0, resumed = 0, ahead = 0, skipped = 0;
    size_t meta_len = 0, ct_len = 0;
    kw_record_hash_state hs;
    kw_record_meta m;
    par_up pu;
    hasher hz;
    int r;
    memset(&pu, 0, sizeof(pu));
    memset(&hz, 0, sizeof(hz));
    memset(&st, 0, sizeof(st));
    memset(&m, 0, sizeof(m));
    if (strlen(name) == 0 || strlen(name) > KW_RECORD_NAME_MAXBYTES)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "record names are 1..%d bytes",
                        KW_RECORD_NAME_MAXBYTES);
    if (src->size > KW_RECORD_SIZE_MAX)
        return kwc_fail(c, LOCAL, KW_ERR_TOO_LARGE, "content over 1 TiB");
    if ((r = kwc_service_key_ensure(c, &rs->kc, &rs->kcv, &rs->kkgen, cat, &gen)) != KW_OK ||
        (r = svc_key(rs, cat, gen, sk)) != KW_OK)
        return r;
    kw_record_ref ref = {.category = cat, .zone = zone, .version = (uint64_t)version};
    memcpy(ref.id, id, 16);
    kw_b64url_encode(idb, sizeof(idb), id, 16);
    m.size = src->size;
    m.padded = kw_record_padded_size(src->size);
    m.piece_size = KW_RECORD_PIECE_BYTES;
    m.mtime = src->mtime;
    m.ctime = src->ctime;
    snprintf(m.name, sizeof(m.name), "%s", name);
    kw_record_content_layout(m.padded, m.piece_size, &npieces, &ctl);
    bool resuming = rpath != NULL && resume_load(rs, rpath, &st) && memcmp(st.id, id, 16) == 0 &&
                    st.version == version && st.size == src->size && st.mtime == src->mtime;
    if (resuming)
        memcpy(rkey, st.key, sizeof(rkey));
    else
        kw_record_key_new(rkey);
    r = KW_ERR_NOMEM;
    if ((pt = malloc(2 * (size_t)KW_RECORD_PIECE_BYTES)) == NULL ||
        (ct = malloc(INLINE_MAX)) == NULL || (meta = malloc(KW_RECORD_META_MAXBYTES)) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    bool inline_put = npieces == 1 && ctl <= INLINE_MAX;
    /* format 1 (SHA-256) inline, where the server's interoperable reader and
     * browsers check it; format 2 (BLAKE2b) for pieces (keyward/record.h) */
    m.hash_alg = inline_put ? KW_RECORD_HASH_SHA256 : KW_RECORD_HASH_BLAKE2B;
    kw_record_hash_init(&hs, m.hash_alg);
    hz.hs = &hs; /* inline hashing until (unless) hasher_start runs */
    hz.fd = -1;
    if (!inline_put) {
        if (resuming) {
            char up[128];
            kw_b64url_encode(ub, sizeof(ub), st.upload_id, 16);
            snprintf(up, sizeof(up), "/v1/record-uploads/%s", ub);
            uint64_t have = 0;
            if (rq_json(rs, "GET", up, NULL, &resp) == KW_OK && kwc_get_u64(resp, "chunks", &have) == KW_OK) {
                /* only pieces of exactly their sealed length count: a piece cut
                 * short by a server crash is sent again */
                const json_t *sizes = json_object_get(resp, "sizes");
                resumed = 0;
                while (resumed < have && resumed < npieces &&
                       json_integer_value(json_array_get(sizes, resumed)) ==
                           (json_int_t)piece_sealed_len(&m, resumed))
                    resumed++;
                const json_t *after = json_object_get(resp, "present_after");
                const json_t *asz = json_object_get(resp, "after_sizes");
                for (size_t k = 0; resumed == have && k < json_array_size(after); k++) {
                    json_int_t v = json_integer_value(json_array_get(after, k));
                    if (v > (json_int_t)resumed && (uint64_t)v < npieces && (uint64_t)v - resumed <= 64 &&
                        json_integer_value(json_array_get(asz, k)) == (json_int_t)piece_sealed_len(&m, (uint64_t)v))
                        ahead |= (uint64_t)1 << ((uint64_t)v - resumed - 1);
                }
            } else {
                resuming = false; /* gone (expired or committed): start over */
            }
            json_decref(resp);
            resp = NULL;
        }
        if (!resuming) {
            kw_record_key_new(rkey);
            snprintf(path, sizeof(path), "/v1/records/%s/%s/%s/uploads", cat, zone, idb);
            if ((j = json_pack("{s:I}", "version", (json_int_t)version)) == NULL ||
                (r = rq_json(rs, "POST", path, j, &resp)) != KW_OK)
                goto out;
            if (kwc_get_b64_fixed(resp, "upload_id", st.upload_id, 16) != KW_OK) {
                r = kwc_bad_answer(c, "upload");
                goto out;
            }
            json_decref(resp);
            resp = NULL;
            kw_b64url_encode(ub, sizeof(ub), st.upload_id, 16);
            memcpy(st.id, id, 16);
            st.version = version;
            st.size = src->size;
            st.mtime = src->mtime;
            memcpy(st.key, rkey, sizeof(rkey));
            if (rpath != NULL && resume_save(rs, rpath, &st) != KW_OK) {
                r = kwc_fail(c, PROFILE, KW_ERR_SYSTEM, "cannot write the upload's resume state");
                goto out;
            }
        }
    }
    long abort_after = test_abort_after(), sent = 0;
    if (!inline_put && (r = par_init(&pu, rs, src->size)) != KW_OK)
        goto out;
    if (!inline_put)
        hasher_start(&hz, &hs, -1, pu.m);
    for (uint64_t i = 0; i < npieces; i++) {
        uint64_t off = i * m.piece_size;
        size_t plen = (size_t)(m.padded - off < m.piece_size ? m.padded - off : m.piece_size);
        uint8_t *ptb = pt + (i & 1) * (size_t)KW_RECORD_PIECE_BYTES; /* the other one may be hashing */
        if ((r = src_read(src, off, ptb, plen)) != KW_OK) {
            r = kwc_fail(c, LOCAL, KW_ERR_SYSTEM, "cannot read the file: %s", strerror(errno));
            goto out;
        }
        size_t real = off >= src->size ? 0 : (size_t)(src->size - off < plen ? src->size - off : plen);
        if ((r = hasher_submit(&hz, ptb, real, par_pump, &pu)) != KW_OK)
            goto out;
        if (!inline_put && (i < resumed || (i > resumed && i - resumed <= 64 &&
                                            (ahead >> (i - resumed - 1) & 1) != 0))) {
            pu.done += plen;
            skipped++;
            continue;
        }
        /* a piece is sealed straight into the body of its PUT (raw bytes) */
        uint8_t *pb = inline_put ? ct : (uint8_t *)par_body(&pu); /* PAR_BODY_BYTES >= plen + overhead */
        if (pb == NULL) {
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((r = kw_record_piece_seal(pb, plen + KW_RECORD_PIECE_OVERHEAD, &ct_len, ptb, plen, i,
                                      i + 1 == npieces, rkey, &ref)) != KW_OK) {
            if (pb != ct)
                free(pb);
            r = kwc_fail(c, LOCAL, r, "cannot seal piece %llu: %s", (unsigned long long)i, kw_strerror(r));
            goto out;
        }
        if (inline_put)
            break;
        if (abort_after >= 0 && sent >= abort_after) {
            free(pb);
            if ((r = par_reap(&pu, REAP_DRAIN)) == KW_OK)
                r = kwc_fail(c, LOCAL, KW_ERR_SYSTEM, "upload interrupted (test hook) after %ld pieces", sent);
            goto out;
        }
        char pp[128];
        snprintf(pp, sizeof(pp), "/v1/record-uploads/%s/%llu", ub, (unsigned long long)i);
        if ((r = par_send(&pu, pp, (char *)pb, ct_len, plen)) != KW_OK) /* pb transferred */
            goto out;
        sent++;
    }
    if ((r = hasher_wait(&hz, par_pump, &pu)) != KW_OK ||
        (!inline_put && (r = par_reap(&pu, REAP_DRAIN)) != KW_OK))
        goto out;
    hasher_stop(&hz);
    kw_record_hash_final(&hs, m.hash);
    if ((r = kw_record_meta_seal(meta, KW_RECORD_META_MAXBYTES, &meta_len, &m, rkey, &ref)) != KW_OK ||
        (r = kw_record_key_wrap(wrap, rkey, sk, gen, &ref)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "cannot seal the record: %s", kw_strerror(r));
        goto out;
    }
    json_decref(j);
    if ((j = json_object()) == NULL || kwc_put_b64(j, "meta", meta, meta_len) != KW_OK ||
        kwc_put_b64(j, "wrap", wrap, sizeof(wrap)) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (inline_put) {
        json_object_set_new(j, "version", json_integer((json_int_t)version));
        json_object_set_new(j, "nchunks", json_integer(1));
        kwc_put_b64(j, "content", ct, ct_len);
        snprintf(path, sizeof(path), "/v1/records/%s/%s/%s", cat, zone, idb);
        r = rq_json(rs, "PUT", path, j, &resp);
    } else {
        json_object_set_new(j, "nchunks", json_integer((json_int_t)npieces));
        json_object_set_new(j, "content_len", json_integer((json_int_t)ctl));
        snprintf(path, sizeof(path), "/v1/record-uploads/%s/commit", ub);
        r = rq_json(rs, "POST", path, j, &resp);
    }
    if (r != KW_OK)
        goto out;
    if (rpath != NULL)
        unlink(rpath);
    uint64_t change = 0;
    kwc_get_u64(resp, "change", &change);
    if ((r = pin_record(rs, cat, zone, id, version, false)) != KW_OK)
        goto out;
    *out = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "category", cat, "zone", zone, "id", idb,
                     "name", name, "version", (json_int_t)version, "size", (json_int_t)src->size, "resumed_from",
                     (json_int_t)resumed, "resumed_pieces", (json_int_t)skipped, "change", (json_int_t)change);
    r = *out != NULL ? KW_OK : KW_ERR_NOMEM;
out:
    hasher_stop(&hz); /* before the buffers it may read go */
    par_free(&pu);
    sodium_memzero(rkey, sizeof(rkey));
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(&hs, sizeof(hs));
    if (pt != NULL) {
        sodium_memzero(pt, 2 * (size_t)KW_RECORD_PIECE_BYTES);
        free(pt);
    }
    free(ct);
    free(meta);
    free(body);
    json_decref(j);
    json_decref(resp);
    return r;
}

static int put_file_in(kw_records *rs, const char *cat, const char *zone, const char *file,
                       const char *name, rec_entry *existing, json_t **out)
{
    struct stat sb;
    uint8_t id[16];
    char rpath[PATH_MAX + 64];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return kwc_fail(rs->c, LOCAL, fd < 0 && e == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_INVALID_ARG,
                        "cannot read %s: %s", file, fd < 0 ? strerror(e) : "not a regular file");
    }
    source src = {.fd = fd, .size = (uint64_t)sb.st_size, .mtime = (uint64_t)sb.st_mtime,
                  .ctime = (uint64_t)sb.st_ctime};
    int64_t version = 1;
    if (existing != NULL) {
        memcpy(id, existing->id, 16);
        version = existing->version + 1;
    } else {
        /* a new record: reuse the id of an interrupted upload of this file */
        resume_state st;
        if (resume_path(rs, rpath, cat, zone, name, file) == KW_OK && resume_load(rs, rpath, &st) &&
            st.version == 1)
            memcpy(id, st.id, 16);
        else
            randombytes_buf(id, sizeof(id));
        sodium_memzero(&st, sizeof(st));
    }
    int r = resume_path(rs, rpath, cat, zone, name, file);
    if (r == KW_OK)
        r = put_core(rs, cat, zone, name, &src, id, version, rpath, out);
    close(fd);
    return r;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL && s[1] != '\0' ? s + 1 : path;
}

int kw_records_put(kw_records *rs, const char *category, const char *zone, const char *path,
                   const char *name, json_t **out)
{
    rec_entry *es = NULL;
    size_t n = 0;
    int r;
    *out = NULL;
    zone = zone_or_default(zone);
    if ((r = check_addr(rs, category, zone)) != KW_OK)
        return r;
    if (name == NULL)
        name = base_name(path);
    if ((r = list_zone(rs, category, zone, &es, &n, NULL, NULL)) != KW_OK)
        return r;
    r = put_file_in(rs, category, zone, path, name, find_entry(es, n, name), out);
    entries_free(&es, n);
    return r;
}

int kw_records_put_data(kw_records *rs, const char *category, const char *zone, const char *name,
                        const uint8_t *data, size_t len, json_t **out)
{
    uint8_t id[16];
    int r;
    *out = NULL;
    zone = zone_or_default(zone);
    if ((r = check_addr(rs, category, zone)) != KW_OK)
        return r;
    source src = {.fd = -1, .mem = data, .size = len, .mtime = (uint64_t)time(NULL)};
    src.ctime = src.mtime;
    randombytes_buf(id, sizeof(id));
    return put_core(rs, category, zone, name, &src, id, 1, NULL, out);
}

/* ---- list ---- */

static json_t *entry_json(const rec_entry *e)
{
    char idb[32];
    kw_b64url_encode(idb, sizeof(idb), e->id, 16);
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id", idb, "name", e->m.name, "type", e->m.type,
                     "size", (json_int_t)e->m.size, "version", (json_int_t)e->version, "mtime",
                     (json_int_t)e->m.mtime, "key_generation", (json_int_t)e->gen);
}

int kw_records_list(kw_records *rs, const char *category, const char *zone, json_t **out)
{
    rec_entry *es = NULL;
    size_t n = 0;
    int64_t change = 0;
    char cls[16] = "";
    int r;
    *out = NULL;
    zone = zone_or_default(zone);
    if ((r = check_addr(rs, category, zone)) != KW_OK ||
        (r = list_zone(rs, category, zone, &es, &n, &change, cls)) != KW_OK)
        return r;
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++)
        json_array_append_new(arr, entry_json(&es[i]));
    *out = json_pack("{s:s,s:s,s:s,s:I,s:o}", "category", category, "zone", zone, "class", cls, "change",
                     (json_int_t)change, "records", arr != NULL ? arr : json_array());
    entries_free(&es, n);
    return *out != NULL ? KW_OK : KW_ERR_NOMEM;
}

/* ---- get ---- */

/* Fetches and opens one record (GET), checks it against the marks. */
static int fetch_entry(kw_records *rs, const char *cat, const char *zone, const uint8_t id[16], rec_entry *e,
                       uint8_t rkey[KW_RECORD_KEYBYTES])
{
    char path[256], idb[32];
    json_t *resp = NULL;
    kw_b64url_encode(idb, sizeof(idb), id, 16);
    snprintf(path, sizeof(path), "/v1/records/%s/%s/%s", cat, zone, idb);
    int r = rq_json(rs, "GET", path, NULL, &resp);
    if (r == KW_OK)
        r = entry_parse(rs, resp, e);
    json_decref(resp);
    if (r == KW_OK && memcmp(e->id, id, 16) != 0)
        r = kwc_fail(rs->c, LOCAL, KW_ERR_VERIFY, "ALERT: the server answered with another record");
    if (r == KW_OK)
        r = pin_check(rs, cat, zone, e->id, e->version);
    if (r == KW_OK)
        r = entry_open(rs, cat, zone, e, rkey);
    if (r == KW_OK)
        r = pin_record(rs, cat, zone, e->id, e->version, false);
    return r;
}

/* Piece downloads a few at a time on their own connections; handed out
 * in order. */
typedef struct {
    CURL *h;
    struct curl_slist *hdrs;
    sink s;
    bool busy, done;
    uint64_t index;
    CURLcode res;
} dl_slot;

typedef struct {
    kw_records *rs;
    CURLM *m;
    dl_slot slot[PAR_MAX];
    uint64_t next, npieces;
    char ref[32];
    char *spare[PAR_MAX + 2]; /* answer buffers (of a whole piece) to reuse */
    size_t nspare;
} dl_pre;

#define DL_BUF (KW_RECORD_PIECE_MAXBYTES + 1)

/* Takes back an answer dl_fetch handed out (len bytes of ciphertext, which
 * is public: the buffer is reused as it is). */
static void dl_recycle(dl_pre *d, char *text, size_t len)
{
    if (text == NULL)
        return;
    /* only buffers dl_fetch allocated whole and the answer did not grow */
    if (len > 0 && len < DL_BUF && d->nspare < sizeof(d->spare) / sizeof(d->spare[0]))
        d->spare[d->nspare++] = text;
    else
        free(text);
}

static void dl_free(dl_pre *d)
{
    for (size_t i = 0; i < PAR_MAX; i++) {
        dl_slot *sl = &d->slot[i];
        if (sl->busy && !sl->done && d->m != NULL)
            curl_multi_remove_handle(d->m, sl->h);
        if (sl->h != NULL)
            curl_easy_cleanup(sl->h);
        curl_slist_free_all(sl->hdrs);
        free(sl->s.data);
    }
    for (size_t i = 0; i < d->nspare; i++)
        free(d->spare[i]);
    if (d->m != NULL)
        curl_multi_cleanup(d->m);
    memset(d, 0, sizeof(*d));
}

static int dl_init(dl_pre *d, kw_records *rs, const uint8_t ref[16], uint64_t npieces)
{
    memset(d, 0, sizeof(*d));
    d->rs = rs;
    d->npieces = npieces;
    kw_b64url_encode(d->ref, sizeof(d->ref), ref, 16);
    if ((d->m = curl_multi_init()) == NULL)
        return kwc_fail(rs->c, NETWORK, KW_ERR_NOMEM, "cannot initialise libcurl");
    for (size_t i = 0; i < PAR_MAX; i++)
        if ((d->slot[i].h = curl_easy_init()) == NULL)
            return kwc_fail(rs->c, NETWORK, KW_ERR_NOMEM, "cannot initialise libcurl");
    return KW_OK;
}

/* Moves the prefetches on without waiting (between slices of local work). */
static int dl_pump(dl_pre *d)
{
    int running = 0, msgs = 0;
    if (d->m == NULL)
        return KW_OK;
    if (curl_multi_perform(d->m, &running) != CURLM_OK)
        return kwc_fail(d->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(d->m, &msgs)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (size_t k = 0; k < PAR_MAX; k++)
            if (d->slot[k].h == msg->easy_handle) {
                d->slot[k].done = true;
                d->slot[k].res = msg->data.result;
                curl_multi_remove_handle(d->m, d->slot[k].h);
            }
    }
    return KW_OK;
}

/* dl_pump after waiting for the transfers to move (or a helper's wakeup,
 * or 100 ms). */
static int dl_pump_cb(void *arg)
{
    dl_pre *d = arg;
    if (curl_multi_poll(d->m, NULL, 0, 100, NULL) != CURLM_OK)
        return kwc_fail(d->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
    return dl_pump(d);
}

/* The raw bytes of sealed piece i (the caller frees them), fetching ahead. */
static int dl_fetch(dl_pre *d, uint64_t i, char **text, size_t *tlen)
{
    int r;
    *text = NULL;
    for (;;) {
        /* issue what fits in the window */
        for (size_t k = 0; k < PAR_MAX && d->next < d->npieces && d->next < i + PAR_MAX; k++) {
            dl_slot *sl = &d->slot[k];
            if (sl->busy)
                continue;
            char path[128];
            snprintf(path, sizeof(path), "/v1/record-content/%s/%llu", d->ref, (unsigned long long)d->next);
            /* one buffer of a whole piece: the answer lands without regrowth */
            if (sl->s.data == NULL) {
                sl->s.data = d->nspare > 0 ? d->spare[--d->nspare] : malloc(DL_BUF);
                if (sl->s.data == NULL)
                    return kwc_fail(d->rs->c, LOCAL, KW_ERR_NOMEM, "out of memory");
                sl->s.cap = DL_BUF;
            }
            sl->s.len = 0;
            sl->s.too_large = false;
            if ((r = easy_prepare(d->rs, sl->h, "GET", path, NULL, 0, false, &sl->s, &sl->hdrs)) != KW_OK)
                return r;
            curl_easy_setopt(sl->h, CURLOPT_BUFFERSIZE, XFER_BUF); /* fewer, larger receives */
            if (curl_multi_add_handle(d->m, sl->h) != CURLM_OK)
                return kwc_fail(d->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
            sl->busy = true;
            sl->done = false;
            sl->index = d->next++;
        }
        dl_slot *want = NULL;
        for (size_t k = 0; k < PAR_MAX; k++)
            if (d->slot[k].busy && d->slot[k].index == i)
                want = &d->slot[k];
        if (want == NULL)
            return kwc_fail(d->rs->c, LOCAL, KW_ERR_INTERNAL, "piece %llu was never requested",
                            (unsigned long long)i);
        if (want->done) {
            long status = 0;
            curl_easy_getinfo(want->h, CURLINFO_RESPONSE_CODE, &status);
            if (want->res != CURLE_OK)
                r = transfer_error(d->rs, &want->s, want->res);
            else if (status < 200 || status >= 300)
                r = answer_error(d->rs, &want->s, status);
            else {
                *text = want->s.data != NULL ? want->s.data : strdup("");
                *tlen = want->s.len;
                want->s.data = NULL;
                r = *text != NULL ? KW_OK : KW_ERR_NOMEM;
            }
            free(want->s.data);
            memset(&want->s, 0, sizeof(want->s));
            curl_slist_free_all(want->hdrs);
            want->hdrs = NULL;
            want->busy = want->done = false;
            return r;
        }
        int running = 0, msgs = 0;
        if (curl_multi_perform(d->m, &running) != CURLM_OK)
            return kwc_fail(d->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
        CURLMsg *msg;
        bool progressed = false;
        while ((msg = curl_multi_info_read(d->m, &msgs)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (size_t k = 0; k < PAR_MAX; k++)
                if (d->slot[k].h == msg->easy_handle) {
                    d->slot[k].done = true;
                    d->slot[k].res = msg->data.result;
                    curl_multi_remove_handle(d->m, d->slot[k].h);
                    progressed = true;
                }
        }
        if (!progressed && curl_multi_poll(d->m, NULL, 0, 1000, NULL) != CURLM_OK)
            return kwc_fail(d->rs->c, NETWORK, KW_ERR_SYSTEM, "libcurl failed");
    }
}

/* Decrypts e's content (inline or piece by piece) to fd. */
static int content_to_fd(kw_records *rs, const char *cat, const char *zone, const rec_entry *e,
                         const uint8_t rkey[KW_RECORD_KEYBYTES], int fd)
{
    kw_client *c = rs->c;
    uint64_t npieces = 0, ctl = 0, off = 0;
    uint8_t *pt = NULL, h[32];
    char idb[32];
    kw_record_hash_state hs;
    dl_pre dl;
    hasher hz, wz;
    int r = KW_ERR_NOMEM;
    memset(&dl, 0, sizeof(dl));
    memset(&hz, 0, sizeof(hz));
    memset(&wz, 0, sizeof(wz));
    kw_record_ref ref = {.category = cat, .zone = zone, .version = (uint64_t)e->version};
    memcpy(ref.id, e->id, 16);
    kw_b64url_encode(idb, sizeof(idb), e->id, 16);
    kw_record_content_layout(e->m.padded, e->m.piece_size, &npieces, &ctl);
    if ((uint64_t)e->nchunks != npieces || (uint64_t)e->content_len != ctl ||
        (e->content != NULL && e->content_size != ctl) || (e->content == NULL && !e->has_ref))
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: record %s in %s/%s was truncated or extended: the server holds %lld "
                        "pieces (%lld bytes), its metadata says %llu (%llu bytes)",
                        idb, cat, zone, (long long)e->nchunks, (long long)e->content_len,
                        (unsigned long long)npieces, (unsigned long long)ctl);
    void *ptm = NULL; /* aligned for O_DIRECT output writes */
    if (posix_memalign(&ptm, OUT_DIRECT_ALIGN, 2 * (size_t)KW_RECORD_PIECE_BYTES) != 0)
        goto out;
    pt = ptm;
    if (kw_record_hash_init(&hs, e->m.hash_alg) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: record %s has an unknown content hash", idb);
        goto out;
    }
    /* two helpers on each piece: one hashes it, the other writes it out */
    hz.hs = &hs; /* inline hashing and writing until (unless) hasher_start runs */
    hz.fd = -1;
    wz.fd = fd;
    if (e->content == NULL && (r = dl_init(&dl, rs, e->ref, npieces)) != KW_OK)
        goto out;
    if (npieces > 1) {
        hasher_start(&hz, &hs, -1, dl.m);
        hasher_start(&wz, NULL, fd, dl.m);
    }
    int ofl = fcntl(fd, F_GETFL);
    wz.direct = ofl >= 0 && (ofl & O_DIRECT) != 0 && e->m.piece_size % OUT_DIRECT_ALIGN == 0;
    int (*pump)(void *) = dl.m != NULL ? dl_pump_cb : NULL;
    size_t inline_off = 0;
    for (uint64_t i = 0; i < npieces; i++) {
        uint64_t poff = i * e->m.piece_size;
        size_t plen = (size_t)(e->m.padded - poff < e->m.piece_size ? e->m.padded - poff : e->m.piece_size);
        size_t want = plen + KW_RECORD_PIECE_OVERHEAD, got = 0;
        const uint8_t *src = NULL;
        char *text = NULL;
        size_t tlen = 0;
        if (e->content != NULL) {
            src = e->content + inline_off;
            got = want;
            inline_off += want;
        } else {
            if ((r = dl_fetch(&dl, i, &text, &tlen)) != KW_OK) {
                if (r == KW_ERR_NOT_FOUND) {
                    /* a new version replaces the old content: not an attack when the record moved on */
                    char path[256];
                    json_t *now = NULL;
                    uint64_t v = 0;
                    snprintf(path, sizeof(path), "/v1/records/%s/%s/%s", cat, zone, idb);
                    int r2 = rq_json(rs, "GET", path, NULL, &now);
                    bool moved = r2 == KW_ERR_NOT_FOUND ||
                                 (r2 == KW_OK && kwc_get_u64(now, "version", &v) == KW_OK &&
                                  (int64_t)v > e->version);
                    json_decref(now);
                    if (moved)
                        r = kwc_fail(c, SERVER, KW_ERR_CONFLICT,
                                     "record %s in %s/%s changed or was deleted during the download: "
                                     "run it again",
                                     idb, cat, zone);
                    else
                        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                                     "ALERT: record %s in %s/%s was truncated or extended: piece %llu is "
                                     "missing",
                                     idb, cat, zone, (unsigned long long)i);
                }
                goto out;
            }
            /* the answer is the sealed piece itself (application/octet-stream) */
            got = tlen;
            src = (const uint8_t *)text;
        }
        if (got != want) {
            dl_recycle(&dl, text, tlen);
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "ALERT: record %s in %s/%s was truncated or extended: piece %llu holds %zu bytes, "
                         "not %zu",
                         idb, cat, zone, (unsigned long long)i, got, want);
            goto out;
        }
        size_t olen = 0;
        uint8_t *ptb = pt + (i & 1) * (size_t)KW_RECORD_PIECE_BYTES; /* the other one may be hashing */
        r = kw_record_piece_open(ptb, KW_RECORD_PIECE_BYTES, &olen, src, got, i, i + 1 == npieces, rkey, &ref);
        dl_recycle(&dl, text, tlen);
        if (r != KW_OK || olen != plen) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "ALERT: piece %llu of record %s in %s/%s does not authenticate (%s): reordered, "
                         "swapped or tampered",
                         (unsigned long long)i, idb, cat, zone, kw_strerror(r != KW_OK ? r : KW_ERR_FORMAT));
            goto out;
        }
        size_t real = poff >= e->m.size ? 0 : (size_t)(e->m.size - poff < plen ? e->m.size - poff : plen);
        for (size_t k = real; k < plen; k++)
            if (ptb[k] != 0) {
                r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: record %s has non-zero padding", idb);
                goto out;
            }
        /* the helpers hash this piece and write it out while the next one opens */
        if ((r = hasher_submit(&hz, ptb, real, pump, &dl)) != KW_OK ||
            (r = hasher_submit(&wz, ptb, real, pump, &dl)) != KW_OK) {
            if (r == KW_ERR_SYSTEM && wz.werr != 0)
                r = kwc_fail(c, LOCAL, KW_ERR_SYSTEM, "cannot write the output: %s", strerror(wz.werr));
            goto out;
        }
        off += real;
        if (rs->progress != NULL)
            rs->progress(off, e->m.size, rs->parg);
    }
    if ((r = hasher_wait(&hz, NULL, NULL)) != KW_OK || (r = hasher_wait(&wz, NULL, NULL)) != KW_OK) {
        if (r == KW_ERR_SYSTEM && wz.werr != 0)
            r = kwc_fail(c, LOCAL, KW_ERR_SYSTEM, "cannot write the output: %s", strerror(wz.werr));
        goto out;
    }
    hasher_stop(&wz);
    hasher_stop(&hz);
    kw_record_hash_final(&hs, h);
    if (sodium_memcmp(h, e->m.hash, 32) != 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: record %s does not match its content hash", idb);
        goto out;
    }
    r = KW_OK;
out:
    hasher_stop(&hz); /* before the buffers they may read go */
    hasher_stop(&wz);
    dl_free(&dl);
    if (pt != NULL) {
        sodium_memzero(pt, 2 * (size_t)KW_RECORD_PIECE_BYTES);
        free(pt);
    }
    return r;
}

/* Writes e's content to out_path through a temporary file renamed on success. */
static int content_to_path(kw_records *rs, const char *cat, const char *zone, const rec_entry *e,
                           const uint8_t rkey[KW_RECORD_KEYBYTES], const char *out_path)
{
    if (strcmp(out_path, "-") == 0)
        return content_to_fd(rs, cat, zone, e, rkey, STDOUT_FILENO);
    char tmp[PATH_MAX + 32];
    if (snprintf(tmp, sizeof(tmp), "%s.kwtmp-XXXXXX", out_path) >= (int)sizeof(tmp))
        return kwc_fail(rs->c, LOCAL, KW_ERR_TOO_LARGE, "output path too long");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return kwc_fail(rs->c, LOCAL, KW_ERR_SYSTEM, "cannot create %s: %s", tmp, strerror(errno));
    /* a large output bypasses the page cache (O_DIRECT, where the file system
     * takes it): each piece reaches the disk while the next one is fetched,
     * instead of the whole file waiting in dirty pages for the final fsync,
     * and no page-cache pages are allocated and filled for it */
    int fl = fcntl(fd, F_GETFL);
    if (e->m.size >= OUT_DIRECT_MIN && e->m.piece_size % OUT_DIRECT_ALIGN == 0 && fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_DIRECT); /* refused (tmpfs): buffered writes */
    int r = content_to_fd(rs, cat, zone, e, rkey, fd);
    if (r == KW_OK && (fsync(fd) != 0 || fchmod(fd, 0600) != 0))
        r = kwc_fail(rs->c, LOCAL, KW_ERR_SYSTEM, "cannot write %s: %s", out_path, strerror(errno));
    close(fd);
    if (r == KW_OK && rename(tmp, out_path) != 0)
        r = kwc_fail(rs->c, LOCAL, KW_ERR_SYSTEM, "cannot write %s: %s", out_path, strerror(errno));
    if (r != KW_OK)
        unlink(tmp);
    return r;
}

int kw_records_get(kw_records *rs, const char *category, const char *zone, const char *which,
                   const char *out_path, json_t **out)
{
    rec_entry *es = NULL, e;
    size_t n = 0;
    uint8_t rkey[KW_RECORD_KEYBYTES];
    int r;
    *out = NULL;
    memset(&e, 0, sizeof(e));
    zone = zone_or_default(zone);
    if ((r = check_addr(rs, category, zone)) != KW_OK ||
        (r = list_zone(rs, category, zone, &es, &n, NULL, NULL)) != KW_OK)
        return r;
    const rec_entry *f = find_entry(es, n, which);
    if (f == NULL) {
        r = kwc_fail(rs->c, LOCAL, KW_ERR_NOT_FOUND, "no record '%s' in %s/%s", which, category, zone);
        goto out;
    }
    if ((r = fetch_entry(rs, category, zone, f->id, &e, rkey)) != KW_OK)
        goto out;
    if (out_path == NULL)
        out_path = base_name(e.m.name);
    if ((r = content_to_path(rs, category, zone, &e, rkey, out_path)) != KW_OK)
        goto out;
    *out = entry_json(&e);
    if (*out != NULL)
        json_object_set_new(*out, "path", json_string(out_path));
    r = *out != NULL ? KW_OK : KW_ERR_NOMEM;
out:
    sodium_memzero(rkey, sizeof(rkey));
    entry_clear(&e);
    entries_free(&es, n);
    return r;
}

/* ---- rm ---- */

int kw_records_remove(kw_records *rs, const char *category, const char *zone, const char *which,
                      json_t **out)
{
    rec_entry *es = NULL;
    size_t n = 0;
    json_t *j = NULL, *resp = NULL;
    char path[256], idb[32];
    int r;
    *out = NULL;
    zone = zone_or_default(zone);
    if ((r = check_addr(rs, category, zone)) != KW_OK ||
        (r = list_zone(rs, category, zone, &es, &n, NULL, NULL)) != KW_OK)
        return r;
    const rec_entry *f = find_entry(es, n, which);
    if (f == NULL) {
        r = kwc_fail(rs->c, LOCAL, KW_ERR_NOT_FOUND, "no record '%s' in %s/%s", which, category, zone);
        goto out;
    }
    kw_b64url_encode(idb, sizeof(idb), f->id, 16);
    snprintf(path, sizeof(path), "/v1/records/%s/%s/%s/delete", category, zone, idb);
    if ((j = json_pack("{s:I}", "version", (json_int_t)f->version)) == NULL ||
        (r = rq_json(rs, "POST", path, j, &resp)) != KW_OK)
        goto out;
    if ((r = pin_record(rs, category, zone, f->id, f->version, true)) != KW_OK)
        goto out;
    *out = json_pack("{s:s,s:s,s:I,s:b}", "id", idb, "name", f->m.name, "version", (json_int_t)f->version,
                     "deleted", 1);
    r = *out != NULL ? KW_OK : KW_ERR_NOMEM;
out:
    json_decref(j);
    json_decref(resp);
    entries_free(&es, n);
    return r;
}

/* ---- backup / restore ---- */

/* The content hash of the file at path in the format alg (a record's
 * meta.hash_alg), to compare with that record's. */
static int hash_file(const char *path, uint8_t alg, uint8_t h[32])
{
    kw_record_hash_state st;
    uint8_t buf[65536];
    if (kw_record_hash_init(&st, alg) != KW_OK)
        return KW_ERR_FORMAT;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return KW_ERR_SYSTEM;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return KW_ERR_SYSTEM;
        }
        if (n == 0)
            break;
        kw_record_hash_update(&st, buf, (size_t)n);
    }
    close(fd);
    kw_record_hash_final(&st, h);
    return KW_OK;
}

typedef struct {
    kw_records *rs;
    const char *zone;
    rec_entry *es;
    size_t n;
    uint64_t uploaded, skipped, bytes;
} backup_ctx;

static int backup_walk(backup_ctx *b, const char *root, const char *rel, int depth)
{
    char dirpath[PATH_MAX], path[PATH_MAX], name[PATH_MAX];
    if (depth > 64)
        return kwc_fail(b->rs->c, LOCAL, KW_ERR_LIMIT, "directories nested too deep under %s", root);
    snprintf(dirpath, sizeof(dirpath), "%s%s%s", root, rel[0] != '\0' ? "/" : "", rel);
    DIR *d = opendir(dirpath);
    if (d == NULL)
        return kwc_fail(b->rs->c, LOCAL, KW_ERR_NOT_FOUND, "cannot open %s: %s", dirpath, strerror(errno));
    struct dirent *de;
    int r = KW_OK;
    while (r == KW_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (snprintf(name, sizeof(name), "%s%s%s", rel, rel[0] != '\0' ? "/" : "", de->d_name) >=
                (int)sizeof(name) ||
            snprintf(path, sizeof(path), "%s/%s", root, name) >= (int)sizeof(path))
            continue;
        struct stat sb;
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            r = backup_walk(b, root, name, depth + 1);
            continue;
        }
        if (!S_ISREG(sb.st_mode) || strlen(name) > KW_RECORD_NAME_MAXBYTES)
            continue;
        rec_entry *f = find_entry(b->es, b->n, name);
        uint8_t h[32];
        if (f != NULL && f->m.size == (uint64_t)sb.st_size && hash_file(path, f->m.hash_alg, h) == KW_OK &&
            sodium_memcmp(h, f->m.hash, 32) == 0) {
            b->skipped++;
            continue;
        }
        json_t *o = NULL;
        r = put_file_in(b->rs, BACKUP_CATEGORY, b->zone, path, name, f, &o);
        json_decref(o);
        if (r == KW_OK) {
            b->uploaded++;
            b->bytes += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
    return r;
}

int kw_records_backup(kw_records *rs, const char *dir, const char *zone, json_t **out)
{
    backup_ctx b = {.rs = rs, .zone = zone_or_default(zone)};
    int r;
    *out = NULL;
    if ((r = check_addr(rs, BACKUP_CATEGORY, b.zone)) != KW_OK ||
        (r = list_zone(rs, BACKUP_CATEGORY, b.zone, &b.es, &b.n, NULL, NULL)) != KW_OK)
        return r;
    r = backup_walk(&b, dir, "", 0);
    if (r == KW_OK) {
        *out = json_pack("{s:s,s:s,s:I,s:I,s:I}", "directory", dir, "zone", b.zone, "uploaded",
                         (json_int_t)b.uploaded, "skipped", (json_int_t)b.skipped, "bytes", (json_int_t)b.bytes);
        r = *out != NULL ? KW_OK : KW_ERR_NOMEM;
    }
    entries_free(&b.es, b.n);
    return r;
}

/* A relative name without "..", "." or empty components. */
static bool safe_name(const char *name)
{
    if (name[0] == '/' || name[0] == '\0')
        return false;
    const char *p = name;
    while (*p != '\0') {
        const char *s = strchr(p, '/');
        size_t n = s != NULL ? (size_t)(s - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        if (*p == '/')
            p++;
        if (s != NULL && *p == '\0')
            return false;
    }
    return true;
}

/* Creates the directories of path below root, refusing any that is a
 * symbolic link (a restore never writes outside its directory). */
static int mkdirs_for(const char *root, const char *path)
{
    char tmp[PATH_MAX];
    struct stat sb;
    size_t rl = strlen(root);
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + rl + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return KW_ERR_SYSTEM;
        if (lstat(tmp, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return KW_ERR_FORMAT;
        *p = '/';
    }
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return KW_ERR_FORMAT; /* a link or a directory where the file goes */
    return KW_OK;
}

int kw_records_restore(kw_records *rs, const char *dir, const char *zone, json_t **out)
{
    rec_entry *es = NULL;
    size_t n = 0;
    uint64_t restored = 0, skipped = 0, bytes = 0;
    uint8_t rkey[KW_RECORD_KEYBYTES];
    int r;
    *out = NULL;
    zone = zone_or_default(zone);
    if ((r = check_addr(rs, BACKUP_CATEGORY, zone)) != KW_OK ||
        (r = list_zone(rs, BACKUP_CATEGORY, zone, &es, &n, NULL, NULL)) != KW_OK)
        return r;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        r = kwc_fail(rs->c, LOCAL, KW_ERR_SYSTEM, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n && r == KW_OK; i++) {
        char path[PATH_MAX];
        uint8_t h[32];
        struct stat sb;
        if (!safe_name(es[i].m.name)) {
            r = kwc_fail(rs->c, LOCAL, KW_ERR_FORMAT, "refusing to restore the unsafe name '%s'",
                         es[i].m.name);
            break;
        }
        if (snprintf(path, sizeof(path), "%s/%s", dir, es[i].m.name) >= (int)sizeof(path))
            continue;
        if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == es[i].m.size &&
            hash_file(path, es[i].m.hash_alg, h) == KW_OK && sodium_memcmp(h, es[i].m.hash, 32) == 0) {
            skipped++;
            continue;
        }
        rec_entry e;
        memset(&e, 0, sizeof(e));
        if ((r = mkdirs_for(dir, path)) != KW_OK) {
            r = kwc_fail(rs->c, LOCAL, r, "cannot restore %s: %s", path,
                         r == KW_ERR_FORMAT ? "a symbolic link or a directory is in the way"
                                            : "cannot create its directories");
            break;
        }
        if ((r = fetch_entry(rs, BACKUP_CATEGORY, zone, es[i].id, &e, rkey)) == KW_OK &&
            (r = content_to_path(rs, BACKUP_CATEGORY, zone, &e, rkey, path)) == KW_OK) {
            restored++;
            bytes += e.m.size;
        }
        sodium_memzero(rkey, sizeof(rkey));
        entry_clear(&e);
    }
    if (r == KW_OK) {
        *out = json_pack("{s:s,s:s,s:I,s:I,s:I}", "directory", dir, "zone", zone, "restored",
                         (json_int_t)restored, "skipped", (json_int_t)skipped, "bytes", (json_int_t)bytes);
        r = *out != NULL ? KW_OK : KW_ERR_NOMEM;
    }
out:
    entries_free(&es, n);
    return r;
}
