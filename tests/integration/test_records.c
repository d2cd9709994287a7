/*
 * Integration: end-to-end cloud records through the real keyward CLI
 * against a real keywardd (loopback, temporary SQLite store, chunk files).
 *
 * Scenario (in order, one server, shared profiles): A creates "alice", B
 * joins it. A puts a small file in "notes" (inline), lists and gets it back;
 * B, the other trusted device, reads it too (the service key travels in the
 * keychain); A replaces it (version 2) and removes it. Compare-and-swap:
 * writes and deletes naming a stale version are refused with 409 and change
 * nothing. Paging: the list endpoint pages by id with a cursor. A 5 MiB file
 * streams in 1 MiB pieces (six chunk files on disk) and comes back equal. An
 * upload interrupted after two pieces resumes at piece 2. A directory backup
 * is incremental by content hash and restores into an empty directory.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "client/client_internal.h"
#include "keyward/client_records.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/record.h"
#include "util/harness.h"

#define PASSWORD "correct horse battery staple"
#define PASSPHRASE "integration-test-passphrase"

static kw_it_server srv;
static char *prof_a, *prof_b;
static char workdir[400];

static kw_it_result cli_expect(const char *profile, int expect, const char *const *args)
{
    kw_it_result r = kw_it_cli(&srv, profile, NULL, args);
    if (r.status != expect)
        kw_it_dump(args[1] != NULL ? args[1] : args[0], &r);
    assert_int_equal(r.status, expect);
    return r;
}

static const char *jstr(const kw_it_result *r, const char *key)
{
    const char *s = json_string_value(json_object_get(r->json, key));
    return s != NULL ? s : "";
}

static int64_t jint(const kw_it_result *r, const char *key)
{
    return json_integer_value(json_object_get(r->json, key));
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void assert_same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    uint8_t *x = read_file(a, &la), *y = read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
}

/* The session token of a profile (to talk to the API directly). */
static void token_of(const char *profile, char *out, size_t cap)
{
    kw_client *c = NULL;
    kw_client_options o = {.profile_dir = profile, .server_url = srv.url, .passphrase = PASSPHRASE,
                           .passphrase_len = strlen(PASSPHRASE), .fast_kdf = true};
    assert_int_equal(kw_client_open(&c, &o), KW_OK);
    snprintf(out, cap, "%s", c->p->s->token);
    kw_client_free(&c);
}

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    prof_b = kw_it_profile(&srv, "B");
    snprintf(workdir, sizeof(workdir), "%s/work", srv.dir);
    mkdir(workdir, 0700);
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    free(prof_b);
    return 0;
}

static void test_accounts(void **state)
{
    (void)state;
    const char *mk[] = {"--json", "account", "create", "alice", "--device-name", "laptop-A", NULL};
    kw_it_result r = cli_expect(prof_a, 0, mk);
    kw_it_result_free(&r);
    const char *code[] = {"--json", "approval-code", NULL};
    r = cli_expect(prof_a, 0, code);
    char ac[8];
    snprintf(ac, sizeof(ac), "%s", jstr(&r, "code"));
    kw_it_result_free(&r);
    const char *in[] = {"--json", "login", "alice", "--device-name", "phone-B", "--approval-code", ac, NULL};
    r = cli_expect(prof_b, 0, in);
    char bid[32], join[8];
    snprintf(bid, sizeof(bid), "%s", jstr(&r, "device_id"));
    snprintf(join, sizeof(join), "%s", jstr(&r, "join_code"));
    kw_it_result_free(&r);
    const char *ok[] = {"--json", "device", "approve", bid, "--code", join, NULL};
    r = cli_expect(prof_a, 0, ok);
    kw_it_result_free(&r);
}

static void test_put_get_ls_rm(void **state)
{
    (void)state;
    char src[500], out[500], outb[500];
    snprintf(src, sizeof(src), "%s/note.txt", workdir);
    snprintf(out, sizeof(out), "%s/note.out", workdir);
    snprintf(outb, sizeof(outb), "%s/note.b", workdir);
    write_file(src, (const uint8_t *)"remember the milk\n", 18);
    const char *put[] = {"--json", "put", "notes", src, NULL};
    kw_it_result r = cli_expect(prof_a, 0, put);
    assert_string_equal(jstr(&r, "name"), "note.txt");
    assert_int_equal(jint(&r, "version"), 1);
    assert_int_equal(jint(&r, "size"), 18);
    kw_it_result_free(&r);

    const char *ls[] = {"--json", "ls", "notes", NULL};
    r = cli_expect(prof_a, 0, ls);
    json_t *recs = json_object_get(r.json, "records");
    assert_int_equal(json_array_size(recs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "name")), "note.txt");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(recs, 0), "size")), 18);
    assert_string_equal(jstr(&r, "class"), "adp");
    kw_it_result_free(&r);

    const char *get[] = {"--json", "get", "notes", "note.txt", "--output", out, NULL};
    r = cli_expect(prof_a, 0, get);
    kw_it_result_free(&r);
    assert_same_file(src, out);

    /* the other trusted device reads it through the shared service key */
    const char *getb[] = {"--json", "get", "notes", "note.txt", "--output", outb, NULL};
    r = cli_expect(prof_b, 0, getb);
    kw_it_result_free(&r);
    assert_same_file(src, outb);

    /* a new version under the same name */
    write_file(src, (const uint8_t *)"remember the milk and the eggs\n", 31);
    r = cli_expect(prof_a, 0, put);
    assert_int_equal(jint(&r, "version"), 2);
    kw_it_result_free(&r);
    r = cli_expect(prof_b, 0, getb);
    assert_int_equal(jint(&r, "version"), 2);
    kw_it_result_free(&r);
    assert_same_file(src, outb);

    /* unknown names and bad categories */
    const char *nope[] = {"--json", "get", "notes", "nope.txt", NULL};
    r = cli_expect(prof_a, 3, nope);
    kw_it_result_free(&r);
    const char *bad[] = {"--json", "ls", "Not_A_Category", NULL};
    r = cli_expect(prof_a, 1, bad);
    kw_it_result_free(&r);

    const char *rm[] = {"--json", "rm", "notes", "note.txt", NULL};
    r = cli_expect(prof_a, 0, rm);
    kw_it_result_free(&r);
    r = cli_expect(prof_a, 0, ls);
    assert_int_equal(json_array_size(json_object_get(r.json, "records")), 0);
    kw_it_result_free(&r);
    r = cli_expect(prof_b, 3, getb);
    kw_it_result_free(&r);
}

static void test_cas_conflict(void **state)
{
    (void)state;
    char src[500], tok[128], path[300], *resp = NULL;
    snprintf(src, sizeof(src), "%s/cas.txt", workdir);
    write_file(src, (const uint8_t *)"v1", 2);
    const char *put[] = {"--json", "put", "notes", src, "--zone", "cas", NULL};
    kw_it_result r = cli_expect(prof_a, 0, put);
    char id[32];
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    kw_it_result_free(&r);
    write_file(src, (const uint8_t *)"v2", 2);
    r = cli_expect(prof_a, 0, put);
    assert_int_equal(jint(&r, "version"), 2);
    kw_it_result_free(&r);

    token_of(prof_a, tok, sizeof(tok));
    snprintf(path, sizeof(path), "/v1/records/notes/cas/%s", id);
    /* read what the server holds, then replay it as version 2 (stale: current is 2, so 3 is next) */
    assert_int_equal(kw_it_http(&srv, "GET", path, NULL, tok, &resp), 200);
    json_error_t jerr;
    json_t *cur = json_loads(resp, 0, &jerr);
    free(resp);
    assert_non_null(cur);
    json_t *body = json_pack("{s:i,s:i,s:O,s:O,s:O}", "version", 2, "nchunks", 1, "meta",
                             json_object_get(cur, "meta"), "wrap", json_object_get(cur, "wrap"), "content",
                             json_object_get(cur, "content"));
    char *text = json_dumps(body, JSON_COMPACT);
    assert_int_equal(kw_it_http(&srv, "PUT", path, text, tok, &resp), 409);
    assert_non_null(strstr(resp, "conflict"));
    free(resp);
    free(text);
    json_decref(body);
    /* a stale delete */
    snprintf(path, sizeof(path), "/v1/records/notes/cas/%s/delete", id);
    assert_int_equal(kw_it_http(&srv, "POST", path, "{\"version\":1}", tok, &resp), 409);
    free(resp);
    /* a stale upload session */
    snprintf(path, sizeof(path), "/v1/records/notes/cas/%s/uploads", id);
    assert_int_equal(kw_it_http(&srv, "POST", path, "{\"version\":2}", tok, &resp), 409);
    free(resp);
    json_decref(cur);
    /* the keychain update checks the sealed header (version, KK generation) and the version */
    assert_int_equal(kw_it_http(&srv, "POST", "/v1/records/keychain",
                                "{\"keychain_version\":99,\"keychain\":\"S1dLMQ\"}", tok, &resp),
                     400);
    free(resp);
    /* a piece for an upload that does not exist, and a bad piece index */
    assert_int_equal(kw_it_http(&srv, "PUT", "/v1/record-uploads/AAAAAAAAAAAAAAAAAAAAAA/0",
                                "{\"data\":\"AAAA\"}", tok, &resp),
                     404);
    free(resp);
    assert_int_equal(kw_it_http(&srv, "GET", "/v1/record-content/AAAAAAAAAAAAAAAAAAAAAA/x", NULL, tok, &resp), 400);
    free(resp);
    /* no session, no records */
    assert_int_equal(kw_it_http(&srv, "POST", "/v1/records/notes/cas", "{}", NULL, &resp), 401);
    free(resp);
    /* nothing changed */
    const char *ls[] = {"--json", "ls", "notes", "--zone", "cas", NULL};
    r = cli_expect(prof_a, 0, ls);
    json_t *recs = json_object_get(r.json, "records");
    assert_int_equal(json_array_size(recs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(recs, 0), "version")), 2);
    kw_it_result_free(&r);
}

static void test_paging(void **state)
{
    (void)state;
    char tok[128], *resp = NULL;
    kw_client *c = NULL;
    kw_records *rs = NULL;
    kw_client_options o = {.profile_dir = prof_a, .server_url = srv.url, .passphrase = PASSPHRASE,
                           .passphrase_len = strlen(PASSPHRASE), .fast_kdf = true};
    assert_int_equal(kw_client_open(&c, &o), KW_OK);
    assert_int_equal(kw_records_open(&rs, c), KW_OK);
    for (int i = 0; i < 7; i++) {
        char name[16];
        json_t *out = NULL;
        snprintf(name, sizeof(name), "p%d", i);
        assert_int_equal(kw_records_put_data(rs, "notes", "paging", name, (const uint8_t *)name, strlen(name), &out),
                         KW_OK);
        json_decref(out);
    }
    kw_records_free(&rs);
    kw_client_free(&c);
    token_of(prof_a, tok, sizeof(tok));
    char body[128] = "{\"limit\":3}";
    char seen[8][32];
    size_t nseen = 0;
    for (int page = 0; page < 5; page++) {
        assert_int_equal(kw_it_http(&srv, "POST", "/v1/records/notes/paging", body, tok, &resp), 200);
        json_error_t jerr;
        json_t *j = json_loads(resp, 0, &jerr);
        free(resp);
        json_t *recs = json_object_get(j, "records");
        for (size_t i = 0; i < json_array_size(recs); i++) {
            assert_true(nseen < 8);
            snprintf(seen[nseen++], 32, "%s", json_string_value(json_object_get(json_array_get(recs, i), "id")));
            assert_null(json_object_get(json_array_get(recs, i), "content")); /* listings carry no content */
        }
        const char *next = json_string_value(json_object_get(j, "next"));
        if (next == NULL) {
            json_decref(j);
            break;
        }
        assert_int_equal(json_array_size(recs), 3);
        snprintf(body, sizeof(body), "{\"limit\":3,\"after\":\"%s\"}", next);
        json_decref(j);
    }
    assert_int_equal(nseen, 7);
    for (size_t i = 1; i < nseen; i++) { /* id order (bytes), no repeats */
        uint8_t a[16], b[16];
        size_t la = 0, lb = 0;
        assert_int_equal(kw_b64url_decode(a, 16, &la, seen[i - 1], strlen(seen[i - 1])), KW_OK);
        assert_int_equal(kw_b64url_decode(b, 16, &lb, seen[i], strlen(seen[i])), KW_OK);
        assert_true(memcmp(a, b, 16) < 0);
    }
    /* limits are enforced */
    assert_int_equal(kw_it_http(&srv, "POST", "/v1/records/notes/paging", "{\"limit\":100000}", tok, &resp), 400);
    free(resp);
    const char *ls[] = {"--json", "ls", "notes", "--zone", "paging", NULL};
    kw_it_result r = cli_expect(prof_a, 0, ls);
    assert_int_equal(json_array_size(json_object_get(r.json, "records")), 7);
    kw_it_result_free(&r);
}

static size_t count_chunk_files(void)
{
    char chunks[500];
    size_t n = 0;
    snprintf(chunks, sizeof(chunks), "%s/data/chunks", srv.dir);
    DIR *top = opendir(chunks);
    assert_non_null(top);
    struct dirent *p;
    while ((p = readdir(top)) != NULL) {
        if (p->d_name[0] == '.')
            continue;
        char sub[800];
        snprintf(sub, sizeof(sub), "%s/%s", chunks, p->d_name);
        DIR *d = opendir(sub);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char obj[1200];
            snprintf(obj, sizeof(obj), "%s/%s", sub, e->d_name);
            DIR *o = opendir(obj);
            struct dirent *f;
            while (o != NULL && (f = readdir(o)) != NULL)
                if (f->d_name[0] != '.')
                    n++;
            if (o != NULL)
                closedir(o);
        }
        if (d != NULL)
            closedir(d);
    }
    closedir(top);
    return n;
}

static void test_large_streaming(void **state)
{
    (void)state;
    char src[500], out[500];
    size_t len = 5 * 1024 * 1024 + 12345;
    uint8_t *data = malloc(len);
    randombytes_buf(data, len);
    snprintf(src, sizeof(src), "%s/big.bin", workdir);
    snprintf(out, sizeof(out), "%s/big.out", workdir);
    write_file(src, data, len);
    free(data);
    size_t before = count_chunk_files();
    const char *put[] = {"--json", "put", "drive", src, NULL};
    kw_it_result r = cli_expect(prof_a, 0, put);
    assert_int_equal(jint(&r, "size"), (int64_t)len);
    kw_it_result_free(&r);
    /* padded to 5.5 MiB (Padmé): six pieces of at most 1 MiB */
    assert_int_equal(count_chunk_files() - before, 6);
    const char *get[] = {"--json", "get", "drive", "big.bin", "-o", out, NULL};
    r = cli_expect(prof_b, 0, get);
    kw_it_result_free(&r);
    assert_same_file(src, out);
    /* a new version replaces the chunk files of the old one */
    r = cli_expect(prof_a, 0, put);
    assert_int_equal(jint(&r, "version"), 2);
    kw_it_result_free(&r);
    assert_int_equal(count_chunk_files() - before, 6);
}

static void test_resume(void **state)
{
    (void)state;
    char src[500], out[500];
    size_t len = 4 * 1024 * 1024 + 7;
    uint8_t *data = malloc(len);
    randombytes_buf(data, len);
    snprintf(src, sizeof(src), "%s/resume.bin", workdir);
    snprintf(out, sizeof(out), "%s/resume.out", workdir);
    write_file(src, data, len);
    free(data);
    const char *put[] = {"--json", "put", "drive", src, NULL};
    setenv("KEYWARD_TEST_UPLOAD_ABORT_AFTER", "2", 1);
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, put);
    unsetenv("KEYWARD_TEST_UPLOAD_ABORT_AFTER");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "interrupted"));
    kw_it_result_free(&r);
    /* nothing is visible yet */
    const char *get[] = {"--json", "get", "drive", "resume.bin", "-o", out, NULL};
    r = cli_expect(prof_a, 3, get);
    kw_it_result_free(&r);
    /* the same put resumes at piece 2 */
    r = cli_expect(prof_a, 0, put);
    assert_int_equal(jint(&r, "resumed_from"), 2);
    assert_int_equal(jint(&r, "version"), 1);
    kw_it_result_free(&r);
    r = cli_expect(prof_b, 0, get);
    kw_it_result_free(&r);
    assert_same_file(src, out);
}

static void mkfile(const char *dir, const char *rel, const char *text)
{
    char p[800];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    write_file(p, (const uint8_t *)text, strlen(text));
}

typedef struct {
    char *data;
    size_t len;
} bin_sink;

static size_t bin_on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    bin_sink *b = arg;
    size_t n = size * nmemb;
    char *nd = realloc(b->data, b->len + n + 1);
    if (nd == NULL)
        return 0;
    memcpy(nd + b->len, ptr, n);
    b->len += n;
    nd[b->len] = '\0';
    b->data = nd;
    return n;
}

/* One request with a raw body (ctype, e.g. application/octet-stream);
 * returns the HTTP status, the answer in *out and its Content-Type in ctype_out. */
static long http_raw(const char *method, const char *path, const char *ctype, const void *body, size_t blen,
                     const char *tok, bin_sink *out, char *ctype_out, size_t ccap)
{
    char url[400], authz[200], cth[100];
    CURL *h = curl_easy_init();
    assert_non_null(h);
    snprintf(url, sizeof(url), "%s%s", srv.url, path);
    snprintf(authz, sizeof(authz), "Authorization: Bearer %s", tok);
    snprintf(cth, sizeof(cth), "Content-Type: %s", ctype);
    struct curl_slist *l = curl_slist_append(NULL, authz);
    l = curl_slist_append(l, cth);
    l = curl_slist_append(l, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bin_on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    long status = 0;
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype_out != NULL)
        snprintf(ctype_out, ccap, "%s", ct != NULL ? ct : "");
    curl_slist_free_all(l);
    curl_easy_cleanup(h);
    return status;
}

/* Pieces travel as raw bytes (application/octet-stream) both ways: size
 * limits hold on the binary route, the bytes stored are the bytes sent, and
 * content comes back byte for byte. */
static void test_binary_pieces(void **state)
{
    (void)state;
    char tok[128], path[300], ctype[128], src[500], up[64];
    bin_sink o = {0};
    token_of(prof_a, tok, sizeof(tok));
    /* an upload session for a fresh id */
    snprintf(path, sizeof(path), "/v1/records/notes/bin/%s/uploads", "AAAAAAAAAAAAAAAAAAAAAQ");
    assert_int_equal(http_raw("POST", path, "application/json", "{\"version\":1}", 13, tok, &o, NULL, 0), 200);
    json_t *j = json_loads(o.data, 0, NULL);
    assert_non_null(j);
    snprintf(up, sizeof(up), "%s", json_string_value(json_object_get(j, "upload_id")));
    json_decref(j);
    free(o.data);
    memset(&o, 0, sizeof(o));
    size_t big = 2u * 1024 * 1024 + 1;
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    randombytes_buf(buf, big);
    snprintf(path, sizeof(path), "/v1/record-uploads/%s/0", up);
    /* shorter than any sealed piece */
    assert_int_equal(http_raw("PUT", path, "application/octet-stream", buf, 10, tok, &o, NULL, 0), 400);
    free(o.data);
    memset(&o, 0, sizeof(o));
    /* over the route's body limit (refused by the HTTP layer), and over a piece's size (by the handler) */
    assert_int_equal(http_raw("PUT", path, "application/octet-stream", buf, big, tok, &o, NULL, 0), 413);
    free(o.data);
    memset(&o, 0, sizeof(o));
    assert_int_equal(http_raw("PUT", path, "application/octet-stream", buf, KW_RECORD_PIECE_MAXBYTES + 1, tok,
                              &o, NULL, 0),
                     413);
    free(o.data);
    memset(&o, 0, sizeof(o));
    /* raw bytes are not JSON: sent as JSON they are refused */
    assert_int_equal(http_raw("PUT", path, "application/json", buf, 100, tok, &o, NULL, 0), 400);
    free(o.data);
    memset(&o, 0, sizeof(o));
    /* a piece-sized body is stored as sent */
    assert_int_equal(http_raw("PUT", path, "application/octet-stream", buf, 1000, tok, &o, NULL, 0), 200);
    j = json_loads(o.data, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 1000);
    json_decref(j);
    free(o.data);
    memset(&o, 0, sizeof(o));
    snprintf(path, sizeof(path), "/v1/record-uploads/%s", up);
    assert_int_equal(http_raw("GET", path, "application/json", NULL, 0, tok, &o, NULL, 0), 200);
    j = json_loads(o.data, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "chunks")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 1000);
    json_decref(j);
    free(o.data);
    memset(&o, 0, sizeof(o));
    snprintf(path, sizeof(path), "/v1/record-uploads/%s/abort", up);
    assert_int_equal(http_raw("POST", path, "application/json", NULL, 0, tok, &o, NULL, 0), 200);
    free(o.data);
    memset(&o, 0, sizeof(o));

    /* content comes back as raw bytes from a committed record (CLI put, 2 pieces) */
    snprintf(src, sizeof(src), "%s/bin.dat", workdir);
    write_file(src, buf, 1500000);
    const char *put[] = {"--json", "put", "notes", src, "--zone", "bin", NULL};
    kw_it_result r = cli_expect(prof_a, 0, put);
    char id[32];
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    kw_it_result_free(&r);
    snprintf(path, sizeof(path), "/v1/records/notes/bin/%s", id);
    assert_int_equal(http_raw("GET", path, "application/json", NULL, 0, tok, &o, NULL, 0), 200);
    j = json_loads(o.data, 0, NULL);
    const char *ref = json_string_value(json_object_get(j, "ref"));
    free(o.data);
    memset(&o, 0, sizeof(o));
    if (ref != NULL) {
        char refb[40];
        snprintf(refb, sizeof(refb), "%s", ref);
        snprintf(path, sizeof(path), "/v1/record-content/%s/0", refb);
        assert_int_equal(http_raw("GET", path, "application/json", NULL, 0, tok, &o, ctype, sizeof(ctype)), 200);
        assert_string_equal(ctype, "application/octet-stream");
        assert_int_equal(o.len, KW_RECORD_PIECE_MAXBYTES); /* a full sealed piece, not base64 text */
        free(o.data);
        memset(&o, 0, sizeof(o));
        /* without a session nothing is sent (the other profile is a device of the same account) */
        assert_int_equal(http_raw("GET", path, "application/json", NULL, 0, "not-a-token", &o, ctype,
                                  sizeof(ctype)),
                         401);
        assert_string_equal(ctype, "application/json");
        free(o.data);
        memset(&o, 0, sizeof(o));
    }
    assert_non_null(ref);
    json_decref(j);
    char dst[520];
    snprintf(dst, sizeof(dst), "%s/bin.out", workdir);
    const char *get[] = {"--json", "get", "notes", "bin.dat", "--zone", "bin", "--output", dst, NULL};
    r = cli_expect(prof_a, 0, get);
    kw_it_result_free(&r);
    size_t n = 0;
    uint8_t *back = read_file(dst, &n);
    assert_int_equal(n, 1500000);
    assert_memory_equal(back, buf, n);
    free(back);
    free(buf);
}

/* The chunk directories (<data>/chunks/<hh>/<hex>) into out[0..max), each
 * a path; returns how many. */
static size_t chunk_dirs(char out[][900], size_t max)
{
    char chunks[500];
    size_t n = 0;
    snprintf(chunks, sizeof(chunks), "%s/data/chunks", srv.dir);
    DIR *top = opendir(chunks);
    assert_non_null(top);
    struct dirent *p;
    while ((p = readdir(top)) != NULL) {
        if (p->d_name[0] == '.')
            continue;
        char sub[800];
        snprintf(sub, sizeof(sub), "%s/%s", chunks, p->d_name);
        DIR *d = opendir(sub);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL)
            if (e->d_name[0] != '.' && n < max) {
                char full[1200];
                snprintf(full, sizeof(full), "%s/%s", sub, e->d_name);
                assert_true(strlen(full) < 900);
                memcpy(out[n++], full, strlen(full) + 1);
            }
        if (d != NULL)
            closedir(d);
    }
    closedir(top);
    return n;
}

/* Interrupts a put of src after `pieces` pieces and returns the chunk
 * directory its upload writes to (the one that was not there before). */
static void interrupted_put(const char *src, const char *pieces, char dir[900])
{
    static char before[256][900], after[256][900];
    size_t nb = chunk_dirs(before, 256);
    const char *put[] = {"--json", "put", "drive", src, NULL};
    setenv("KEYWARD_TEST_UPLOAD_ABORT_AFTER", pieces, 1);
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, put);
    unsetenv("KEYWARD_TEST_UPLOAD_ABORT_AFTER");
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    size_t na = chunk_dirs(after, 256);
    dir[0] = '\0';
    for (size_t i = 0; i < na; i++) {
        bool old = false;
        for (size_t k = 0; k < nb && !old; k++)
            old = strcmp(after[i], before[k]) == 0;
        if (!old)
            memcpy(dir, after[i], 900);
    }
    assert_true(dir[0] != '\0');
}

/* The rules that keep a crash from committing a torn piece (server/api/records.c,
 * records.sync = commit): pieces are acknowledged before they are fsynced,
 * so (1) a piece cut short on disk is never counted for a resume nor
 * committed — the client sends it again; (2) pieces written under another
 * boot of the machine (a power loss in between; simulated by changing the
 * upload's recorded boot id) are all dropped and sent again. Both
 * uploads then complete with their content intact. */
static void test_crash_torn_pieces(void **state)
{
    (void)state;
    char src[500], src2[500], out[500], dir[900], path[1000];
    size_t len = 5 * 1024 * 1024 + 99;
    uint8_t *data = malloc(len);
    assert_non_null(data);
    randombytes_buf(data, len);
    snprintf(src, sizeof(src), "%s/torn.bin", workdir);
    snprintf(src2, sizeof(src2), "%s/reboot.bin", workdir);
    snprintf(out, sizeof(out), "%s/torn.out", workdir);
    write_file(src, data, len);
    data[0] ^= 1;
    write_file(src2, data, len);
    free(data);

    /* (1) piece 1 of three stored pieces cut short, as a power loss could leave it */
    interrupted_put(src, "3", dir);
    snprintf(path, sizeof(path), "%s/1", dir);
    assert_int_equal(truncate(path, 1000), 0);
    const char *put[] = {"--json", "put", "drive", src, NULL};
    kw_it_result r = cli_expect(prof_a, 0, put);
    assert_int_equal(jint(&r, "resumed_from"), 1); /* piece 0 reused, piece 1 sent again */
    kw_it_result_free(&r);
    const char *get[] = {"--json", "get", "drive", "torn.bin", "-o", out, NULL};
    r = cli_expect(prof_b, 0, get);
    kw_it_result_free(&r);
    assert_same_file(src, out);

    /* (2) an upload whose pieces were written under another boot */
    interrupted_put(src2, "3", dir);
    snprintf(path, sizeof(path), "%s/.boot", dir);
    size_t blen = 0;
    uint8_t *boot = read_file(path, &blen);
    assert_int_equal(blen, 36);
    free(boot);
    write_file(path, (const uint8_t *)"00000000-0000-4000-8000-000000000000", 36);
    const char *put2[] = {"--json", "put", "drive", src2, NULL};
    r = cli_expect(prof_a, 0, put2);
    assert_int_equal(jint(&r, "resumed_from"), 0);
    assert_int_equal(jint(&r, "resumed_pieces"), 0);
    kw_it_result_free(&r);
    const char *get2[] = {"--json", "get", "drive", "reboot.bin", "-o", out, NULL};
    r = cli_expect(prof_b, 0, get2);
    kw_it_result_free(&r);
    assert_same_file(src2, out);
    size_t loglen = 0;
    char *log = (char *)read_file(srv.log_path, &loglen);
    assert_non_null(strstr(log, "event=records_reboot dropped_chunks=3"));
    free(log);
}

/* The commit checks each piece's length, not only the total: a piece cut
 * short whose loss another piece's length makes up is refused (409), and
 * so is a commit after the machine restarted (the pieces are dropped). */
static void test_commit_piece_lengths(void **state)
{
    (void)state;
    char tok[128], path[300], up[64], hex[33], dir[900], file[1000];
    bin_sink o = {0};
    token_of(prof_a, tok, sizeof(tok));
    snprintf(path, sizeof(path), "/v1/records/notes/lens/%s/uploads", "AAAAAAAAAAAAAAAAAAAAAg");
    assert_int_equal(http_raw("POST", path, "application/json", "{\"version\":1}", 13, tok, &o, NULL, 0), 200);
    json_t *j = json_loads(o.data, 0, NULL);
    assert_non_null(j);
    snprintf(up, sizeof(up), "%s", json_string_value(json_object_get(j, "upload_id")));
    json_decref(j);
    free(o.data);
    memset(&o, 0, sizeof(o));
    uint8_t ref[16], buf[4096 + KW_RECORD_PIECE_OVERHEAD];
    size_t rl = 0;
    assert_int_equal(kw_b64url_decode(ref, 16, &rl, up, strlen(up)), KW_OK);
    kw_hex_encode(hex, sizeof(hex), ref, 16);
    snprintf(dir, sizeof(dir), "%s/data/chunks/%.2s/%s", srv.dir, hex, hex);
    randombytes_buf(buf, sizeof(buf));
    /* three pieces of a 4 KiB piece size: two whole, the last 100 bytes */
    const size_t sizes[3] = {sizeof(buf), sizeof(buf), 100};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/v1/record-uploads/%s/%d", up, i);
        assert_int_equal(http_raw("PUT", path, "application/octet-stream", buf, sizes[i], tok, &o, NULL, 0), 200);
        free(o.data);
        memset(&o, 0, sizeof(o));
    }
    /* piece 1 torn to 2000 bytes, the last one grown by as much: the total still adds up */
    snprintf(file, sizeof(file), "%s/1", dir);
    assert_int_equal(truncate(file, 2000), 0);
    snprintf(file, sizeof(file), "%s/2", dir);
    assert_int_equal(truncate(file, (off_t)(100 + sizeof(buf) - 2000)), 0);
    uint8_t wrap[KW_RECORD_WRAPBYTES] = {0, 0, 0, 1}, meta[4 + 24 + 128 + 16] = {'K', 'W', 'R', '1'};
    char wb[200], mb[400], body[1000];
    kw_b64url_encode(wb, sizeof(wb), wrap, sizeof(wrap));
    kw_b64url_encode(mb, sizeof(mb), meta, sizeof(meta));
    snprintf(body, sizeof(body), "{\"meta\":\"%s\",\"wrap\":\"%s\",\"nchunks\":3,\"content_len\":%zu}", mb, wb,
             2 * sizeof(buf) + 100);
    snprintf(path, sizeof(path), "/v1/record-uploads/%s/commit", up);
    assert_int_equal(http_raw("POST", path, "application/json", body, strlen(body), tok, &o, NULL, 0), 409);
    assert_non_null(strstr(o.data, "chunk 1 is not a whole sealed piece"));
    free(o.data);
    memset(&o, 0, sizeof(o));
    /* the same commit after a (simulated) reboot: refused, and the pieces are gone */
    snprintf(file, sizeof(file), "%s/.boot", dir);
    write_file(file, (const uint8_t *)"00000000-0000-4000-8000-000000000001", 36);
    assert_int_equal(http_raw("POST", path, "application/json", body, strlen(body), tok, &o, NULL, 0), 409);
    assert_non_null(strstr(o.data, "restarted"));
    free(o.data);
    memset(&o, 0, sizeof(o));
    snprintf(file, sizeof(file), "%s/0", dir);
    assert_int_not_equal(access(file, F_OK), 0);
    snprintf(path, sizeof(path), "/v1/record-uploads/%s", up);
    assert_int_equal(http_raw("GET", path, "application/json", NULL, 0, tok, &o, NULL, 0), 200);
    j = json_loads(o.data, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "chunks")), 0);
    json_decref(j);
    free(o.data);
    memset(&o, 0, sizeof(o));
    snprintf(path, sizeof(path), "/v1/record-uploads/%s/abort", up);
    assert_int_equal(http_raw("POST", path, "application/json", NULL, 0, tok, &o, NULL, 0), 200);
    free(o.data);
}

/* records.sync = piece: every piece is durable when acknowledged (no boot
 * file, nothing to drop after a restart); a put, a resumed put and a get
 * work the same. An unknown mode stops keywardd from starting. */
static void test_sync_piece_mode(void **state)
{
    (void)state;
    char dir[256], src[500], out[500], dirs[8][900];
    snprintf(dir, sizeof(dir), "%s", srv.dir);
    kw_it_server_stop(&srv, false);
    const char *const bad[] = {"--set", "records.sync=sometimes", NULL};
    kw_it_server s2;
    memset(&s2, 0, sizeof(s2));
    assert_int_not_equal(kw_it_server_start(&s2, dir, bad), 0);
    kw_it_server_stop(&s2, true);
    const char *const piece[] = {"--set", "records.sync=piece", NULL};
    assert_int_equal(kw_it_server_start(&srv, dir, piece), 0);
    size_t len = 2 * 1024 * 1024 + 5;
    uint8_t *data = malloc(len);
    assert_non_null(data);
    randombytes_buf(data, len);
    snprintf(src, sizeof(src), "%s/piecemode.bin", workdir);
    snprintf(out, sizeof(out), "%s/piecemode.out", workdir);
    write_file(src, data, len);
    free(data);
    char upd[900], path[1000];
    interrupted_put(src, "1", upd);
    snprintf(path, sizeof(path), "%s/.boot", upd);
    assert_int_not_equal(access(path, F_OK), 0); /* no boot file: each piece was fsynced */
    const char *put[] = {"--json", "put", "drive", src, NULL};
    kw_it_result r = cli_expect(prof_a, 0, put);
    assert_int_equal(jint(&r, "resumed_from"), 1);
    kw_it_result_free(&r);
    const char *get[] = {"--json", "get", "drive", "piecemode.bin", "-o", out, NULL};
    r = cli_expect(prof_b, 0, get);
    kw_it_result_free(&r);
    assert_same_file(src, out);
    assert_true(chunk_dirs(dirs, 8) > 0);
    /* back to the default mode for what follows */
    kw_it_server_stop(&srv, false);
    assert_int_equal(kw_it_server_start(&srv, dir, NULL), 0);
}

static void test_backup_restore(void **state)
{
    (void)state;
    char dir[500], sub[600], dst[500], p1[800], p2[800];
    snprintf(dir, sizeof(dir), "%s/home", workdir);
    snprintf(sub, sizeof(sub), "%s/docs", dir);
    snprintf(dst, sizeof(dst), "%s/restored", workdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    mkfile(dir, "a.txt", "alpha");
    mkfile(dir, "docs/b.txt", "bravo");
    mkfile(dir, "docs/c.txt", "charlie");
    const char *bk[] = {"--json", "backup", dir, NULL};
    kw_it_result r = cli_expect(prof_a, 0, bk);
    assert_int_equal(jint(&r, "uploaded"), 3);
    assert_int_equal(jint(&r, "skipped"), 0);
    kw_it_result_free(&r);
    r = cli_expect(prof_a, 0, bk);
    assert_int_equal(jint(&r, "uploaded"), 0);
    assert_int_equal(jint(&r, "skipped"), 3);
    kw_it_result_free(&r);
    mkfile(dir, "docs/b.txt", "bravo two"); /* changed content */
    mkfile(dir, "d.txt", "delta");          /* new file */
    r = cli_expect(prof_a, 0, bk);
    assert_int_equal(jint(&r, "uploaded"), 2);
    assert_int_equal(jint(&r, "skipped"), 2);
    kw_it_result_free(&r);
    const char *rs[] = {"--json", "restore", dst, NULL};
    r = cli_expect(prof_b, 0, rs);
    assert_int_equal(jint(&r, "restored"), 4);
    kw_it_result_free(&r);
    const char *names[] = {"a.txt", "docs/b.txt", "docs/c.txt", "d.txt"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p1, sizeof(p1), "%s/%s", dir, names[i]);
        snprintf(p2, sizeof(p2), "%s/%s", dst, names[i]);
        assert_same_file(p1, p2);
    }
    r = cli_expect(prof_b, 0, rs);
    assert_int_equal(jint(&r, "restored"), 0);
    assert_int_equal(jint(&r, "skipped"), 4);
    kw_it_result_free(&r);

    /* a restore never writes through a symbolic link placed in its directory */
    char evil[500], outside[500], link[700], probe[800];
    snprintf(evil, sizeof(evil), "%s/evil", workdir);
    snprintf(outside, sizeof(outside), "%s/outside", workdir);
    snprintf(link, sizeof(link), "%s/docs", evil);
    assert_int_equal(mkdir(evil, 0700), 0);
    assert_int_equal(mkdir(outside, 0700), 0);
    assert_int_equal(symlink(outside, link), 0);
    const char *rs2[] = {"--json", "restore", evil, NULL};
    r = kw_it_cli(&srv, prof_b, NULL, rs2);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "symbolic link"));
    kw_it_result_free(&r);
    snprintf(probe, sizeof(probe), "%s/b.txt", outside);
    assert_int_not_equal(access(probe, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accounts),      cmocka_unit_test(test_put_get_ls_rm),
        cmocka_unit_test(test_cas_conflict),  cmocka_unit_test(test_paging),
        cmocka_unit_test(test_large_streaming), cmocka_unit_test(test_resume),
        cmocka_unit_test(test_backup_restore), cmocka_unit_test(test_binary_pieces),
        cmocka_unit_test(test_crash_torn_pieces), cmocka_unit_test(test_commit_piece_lengths),
        cmocka_unit_test(test_sync_piece_mode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
