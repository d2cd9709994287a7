/* libFuzzer target: keywardd's request path splitter and route matcher
 * (server/http/http.c: split_path, match_pattern, find_route — static, so
 * this file includes http.c itself and leaves it unchanged; the server
 * fuzz rule therefore does not link a second copy of http.c).
 * Input: byte 0 picks the method, the rest up to the first '\n' is the
 * request path, anything after it an extra route pattern. Checks against an
 * independent model:
 *   - split_path accepts exactly the paths that start with '/', are at most
 *     HTTP_MAX_PATH bytes, have no empty segment (a single trailing '/' is
 *     allowed), at most HTTP_MAX_SEGMENTS segments of at most
 *     HTTP_MAX_SEGMENT_LEN bytes; the segments joined with '/' give the
 *     path back;
 *   - find_route over the real route patterns returns the first route whose
 *     method and pattern match, fills one parameter per "{}" pointing at the
 *     matching segment, and says path_known exactly when only another
 *     method's route matched;
 *   - match_pattern with the fuzzed pattern agrees with the model and never
 *     returns more than KW_HTTP_MAX_PARAMS parameters. */
#include "http/http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dummy(kw_http_req *req, kw_http_resp *resp)
{
    (void)req;
    (void)resp;
    return KW_OK;
}

static const kw_http_route fuzz_routes[] = {
    {"POST", "/v1/accounts/register/start", dummy, 0},
    {"POST", "/v1/accounts/register/finish", dummy, 0},
    {"GET", "/v1/accounts/{}/public", dummy, 0},
    {"POST", "/v1/login/start", dummy, 0},
    {"POST", "/v1/login/finish", dummy, 0},
    {"POST", "/v1/logout", dummy, 0},
    {"GET", "/v1/devices", dummy, 0},
    {"POST", "/v1/devices/approve", dummy, 0},
    {"POST", "/v1/devices/remove", dummy, 0},
    {"GET", "/v1/keychain", dummy, 0},
    {"GET", "/v1/keychain/chain/{}", dummy, 0},
    {"GET", "/v1/roster", dummy, 0},
    {"GET", "/v1/roster/{}", dummy, 0},
    {"GET", "/v1/sessions", dummy, 0},
    {"POST", "/v1/sessions/{}/revoke", dummy, 0},
    {"DELETE", "/v1/sessions/{}", dummy, 0},
    {"PUT", "/v1/x/{}/{}/{}/{}", dummy, 0},
    {"PUT", "/v1/x/{}/{}/{}/{}/{}", dummy, 0}, /* five params: must never match */
};
#define NROUTES (sizeof(fuzz_routes) / sizeof(fuzz_routes[0]))

/* ---- the model ---- */

typedef struct {
    size_t n;
    const char *start[HTTP_MAX_SEGMENTS];
    size_t len[HTTP_MAX_SEGMENTS];
} model_segs;

static bool model_split(const char *path, model_segs *m)
{
    size_t len = strlen(path);
    m->n = 0;
    if (len == 0 || path[0] != '/' || len > HTTP_MAX_PATH)
        return false;
    size_t i = 1;
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (j == i || j - i > HTTP_MAX_SEGMENT_LEN || m->n == HTTP_MAX_SEGMENTS)
            return false;
        m->start[m->n] = path + i;
        m->len[m->n] = j - i;
        m->n++;
        i = j + 1; /* past the '/' (or past the end) */
    }
    return true;
}

static bool seg_is(const model_segs *m, size_t i, const char *s)
{
    return m->len[i] == strlen(s) && memcmp(m->start[i], s, m->len[i]) == 0;
}

/* The model's match: -1 no match, else the number of parameters. */
static int model_match(const char *pattern, const model_segs *path)
{
    model_segs p;
    int np = 0;
    if (!model_split(pattern, &p) || p.n != path->n)
        return -1;
    for (size_t i = 0; i < p.n; i++) {
        if (seg_is(&p, i, "{}")) {
            np++;
            continue;
        }
        if (p.len[i] != path->len[i] || memcmp(p.start[i], path->start[i], p.len[i]) != 0)
            return -1;
    }
    return np > KW_HTTP_MAX_PARAMS ? -1 : np;
}

static void check_params(const char *pattern, const model_segs *m,
                         char segs[HTTP_MAX_SEGMENTS][HTTP_MAX_SEGMENT_LEN + 1],
                         const char *params[KW_HTTP_MAX_PARAMS], int np)
{
    model_segs p;
    int k = 0;
    if (!model_split(pattern, &p))
        abort();
    for (size_t i = 0; i < p.n; i++) {
        if (!seg_is(&p, i, "{}"))
            continue;
        if (params[k] != segs[i] || strlen(params[k]) != m->len[i] ||
            memcmp(params[k], m->start[i], m->len[i]) != 0)
            abort();
        k++;
    }
    if (k != np)
        abort();
    for (; k < KW_HTTP_MAX_PARAMS; k++)
        if (params[k] != NULL)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    if (size == 0 || size > 4096)
        return 0;
    const char *method = methods[data[0] & 3];
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *path = buf, *pattern = NULL;
    char *nl = memchr(buf, '\n', size - 1);
    if (nl != NULL) {
        *nl = '\0';
        pattern = nl + 1;
    }

    /* split_path against the model */
    char segs[HTTP_MAX_SEGMENTS][HTTP_MAX_SEGMENT_LEN + 1];
    size_t nsegs = 99;
    model_segs m;
    bool ok = split_path(path, segs, &nsegs), mok = model_split(path, &m);
    if (ok != mok)
        abort();
    if (ok) {
        if (nsegs != m.n)
            abort();
        for (size_t i = 0; i < nsegs; i++)
            if (strlen(segs[i]) != m.len[i] || memcmp(segs[i], m.start[i], m.len[i]) != 0 ||
                strchr(segs[i], '/') != NULL)
                abort();
    }

    /* find_route over the table */
    kw_http h;
    memset(&h, 0, sizeof(h));
    h.routes = fuzz_routes;
    h.nroutes = NROUTES;
    const char *params[KW_HTTP_MAX_PARAMS] = {0};
    route_match rm = find_route(&h, method, path, segs, params);
    int want = -1, want_np = -1;
    bool want_known = false;
    if (mok) {
        for (size_t i = 0; i < NROUTES; i++) {
            int np = model_match(fuzz_routes[i].pattern, &m);
            if (np < 0)
                continue;
            if (strcmp(fuzz_routes[i].method, method) != 0) {
                want_known = true;
                continue;
            }
            want = (int)i;
            want_np = np;
            break;
        }
    }
    if (want < 0) {
        if (rm.route != NULL || rm.index != HTTP_SLOT_UNMATCHED(&h) || rm.path_known != want_known)
            abort();
        for (size_t i = 0; i < KW_HTTP_MAX_PARAMS; i++)
            if (params[i] != NULL)
                abort();
    } else {
        if (rm.route != &fuzz_routes[want] || rm.index != (size_t)want)
            abort();
        check_params(fuzz_routes[want].pattern, &m, segs, params, want_np);
    }

    /* the fuzzed pattern */
    if (pattern != NULL && mok) {
        const char *p2[KW_HTTP_MAX_PARAMS] = {0};
        bool got = match_pattern(pattern, segs, m.n, p2);
        int np = model_match(pattern, &m);
        if (got != (np >= 0))
            abort();
        if (got)
            check_params(pattern, &m, segs, p2, np);
    }
    free(buf);
    return 0;
}
