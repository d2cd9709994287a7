/*
 * Records (docs/api.md "Records"): end-to-end encrypted cloud records by
 * category and zone, their chunk storage and resumable uploads, and the
 * keychain updates that add service keys.
 *
 * The server sees only what keyward/record.h leaves public: ids, versions,
 * sealed metadata, wrapped record keys (and their service-key generation),
 * ciphertext lengths and chunk counts. Writes are compare-and-swap on the
 * version (store/record.h).
 *
 * Chunk storage: files under records.dir (default <data_dir>/chunks), one
 * directory per content reference (the random id of the upload that wrote
 * it) at <dir>/<first 2 hex>/<32 hex>/<index>. Durability (records.sync):
 *   "commit" (default): a chunk is written to <index>.tmp (a large one's
 *     block-aligned part with O_DIRECT, straight to the device; the rest
 *     buffered with its writeback started by sync_file_range), and renamed
 *     into place before it is acknowledged — it survives the death of keywardd (kill -9), not yet a
 *     power loss. The commit fdatasyncs every chunk (a few threads) and
 *     fsyncs the directory before its store transaction: an acknowledged
 *     record survives a power loss with all its data. Chunks written under
 *     an earlier boot of the machine (the kernel's boot id, kept durably in
 *     <obj>/.boot when the upload starts, differs) may have been torn by the
 *     power loss: the upload status and the commit drop them all, and the
 *     client sends them again. The commit also checks every chunk's length
 *     (all but the last of one sealed piece size, the last not longer), so
 *     a chunk cut short is never committed.
 *   "piece": every chunk is fsynced, renamed and its directory fsynced
 *     before it is acknowledged (also chosen when the boot id is unknown).
 * A commit checks that chunks 0..n-1 are there with the announced total
 * length, then makes the record version visible in one store transaction
 * (the upload row is consumed there). A crash before the commit leaves only
 * an unreferenced directory, collected at the next start (with uploads
 * older than 24 hours); a crash after it loses nothing.
 *
 * Category classes come from the same configuration as the ADP area
 * (adp.categories_always / adp.categories_adp / adp.categories_interop,
 * comma-separated; defaults from DESIGN.md; a category in no list is an
 * ADP category), and GET /v1/records/classes serves them to clients.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/areas.h"
#include "config.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keychain.h"
#include "keyward/record.h"
#include "store/record.h"

#define REC_PIECE_MAX KW_RECORD_PIECE_MAXBYTES
#define REC_CHUNKS_MAX (((uint64_t)1 << 40) / KW_CHUNK_SIZE_MIN + 1)
#define REC_PIECE_BODY_LIMIT (2u * 1024 * 1024)
#define REC_PUT_BODY_LIMIT (512u * 1024)
#define REC_UPLOAD_TTL (24 * 3600)
#define REC_CLASS_MAX 64
#define REC_LIST_DEFAULT 100
#define REC_AHEAD_MAX 64 /* pieces past the first gap that the upload status lists */
#define REC_SYNC_THREADS 4 /* fdatasyncs in flight at a commit */
#define REC_BOOT_FILE ".boot" /* a dot file: not a chunk, skipped by the chunk scans */
#define REC_BOOT_BYTES 36 /* a boot id: a UUID in text */
#define REC_DIRECT_ALIGN 4096 /* O_DIRECT alignment of a chunk write (buffer, length) */
#define REC_DIRECT_MIN (64u * 1024) /* chunks from this size are written with O_DIRECT */

struct kw_api_records {
    char dir[PATH_MAX];
    char boot[REC_BOOT_BYTES + 1]; /* this boot's id; "" when unknown (then per-piece fsync) */
    bool sync_per_piece;
    size_t n[3];
    char cat[3][REC_CLASS_MAX][KW_SVCKEY_CATEGORY_MAXBYTES + 1];
};

static const char *const class_keys[3] = {"adp.categories_always", "adp.categories_adp",
                                          "adp.categories_interop"};
static const int class_ids[3] = {KW_RECORD_CLASS_E2E, KW_RECORD_CLASS_ADP, KW_RECORD_CLASS_INTEROP};

/* ---- configuration and start ---- */

static int parse_classes(struct kw_api_records *rs, const kw_config *cfg)
{
    for (int c = 0; c < 3; c++) {
        char buf[KW_CONFIG_PATH_MAX] = "";
        const char *v = cfg != NULL ? kw_config_get(cfg, class_keys[c]) : NULL;
        if (v == NULL) { /* DESIGN.md defaults */
            for (size_t i = 0; kw_record_default_categories[i] != NULL; i++)
                if (kw_record_class_default(kw_record_default_categories[i]) == class_ids[c]) {
                    size_t o = strlen(buf);
                    snprintf(buf + o, sizeof(buf) - o, "%s%s", o > 0 ? "," : "",
                             kw_record_default_categories[i]);
                }
        } else {
            snprintf(buf, sizeof(buf), "%s", v);
        }
        char *save = NULL;
        for (char *t = strtok_r(buf, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
            if (!kw_category_name_ok(t) || rs->n[c] >= REC_CLASS_MAX) {
                fprintf(stderr, "level=error event=records key=%s error=\"bad category list\"\n",
                        class_keys[c]);
                return KW_ERR_FORMAT;
            }
            snprintf(rs->cat[c][rs->n[c]++], KW_SVCKEY_CATEGORY_MAXBYTES + 1, "%s", t);
        }
    }
    return KW_OK;
}

static int class_of(const struct kw_api_records *rs, const char *cat)
{
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < rs->n[c]; i++)
            if (strcmp(rs->cat[c][i], cat) == 0)
                return class_ids[c];
    return KW_RECORD_CLASS_ADP;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return KW_ERR_SYSTEM;
    int r = fsync(fd) == 0 ? KW_OK : KW_ERR_SYSTEM;
    close(fd);
    return r;
}

static int write_durable(const char *dir, const char *name, const uint8_t *data, size_t len, bool sync);

/* The kernel's boot id (changes at every boot, so after a power loss). */
static void read_boot_id(char out[REC_BOOT_BYTES + 1])
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f == NULL)
        return;
    size_t n = fread(out, 1, REC_BOOT_BYTES, f);
    fclose(f);
    out[n == REC_BOOT_BYTES ? n : 0] = '\0';
}

/* Non-zero when obj's chunks cannot have been torn by a power loss: it has
 * no boot file (each chunk was fsynced when written: "piece" mode, or a
 * server before the boot file; a "commit" mode write adds the file first),
 * or its boot file holds this boot's id. */
static bool obj_same_boot(const struct kw_api_records *rs, const char *obj)
{
    char path[PATH_MAX + 16], got[REC_BOOT_BYTES + 1];
    snprintf(path, sizeof(path), "%s/%s", obj, REC_BOOT_FILE);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT;
    size_t n = fread(got, 1, REC_BOOT_BYTES, f);
    fclose(f);
    got[n] = '\0';
    return rs->boot[0] != '\0' && n == REC_BOOT_BYTES && strcmp(got, rs->boot) == 0;
}

/* Before a chunk is written without fsync: obj's boot file names this boot
 * (written when missing, for an upload begun in "piece" mode). */
static int obj_mark_boot(const struct kw_api_records *rs, const char *obj)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", obj, REC_BOOT_FILE);
    if (access(path, F_OK) == 0)
        return KW_OK; /* this boot's, or an earlier one's: then status and commit drop the chunks */
    return write_durable(obj, REC_BOOT_FILE, (const uint8_t *)rs->boot, REC_BOOT_BYTES, true);
}

/* Drops every chunk of obj (they may have been torn by a power loss) and
 * records this boot as the one its next chunks are written under. */
static int obj_reset_boot(const struct kw_api_records *rs, const char *obj)
{
    DIR *d = opendir(obj);
    if (d == NULL)
        return KW_ERR_SYSTEM;
    struct dirent *e;
    size_t dropped = 0;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX + 300];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue; /* ".", "..", .boot */
        snprintf(path, sizeof(path), "%s/%s", obj, e->d_name);
        if (unlink(path) == 0)
            dropped++;
    }
    closedir(d);
    fprintf(stderr, "level=warn event=records_reboot dropped_chunks=%zu\n", dropped);
    if (fsync_dir(obj) != KW_OK)
        return KW_ERR_SYSTEM;
    if (rs->sync_per_piece) { /* chunks are durable as written from now on */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/%s", obj, REC_BOOT_FILE);
        return unlink(path) == 0 && fsync_dir(obj) == KW_OK ? KW_OK : KW_ERR_SYSTEM;
    }
    return write_durable(obj, REC_BOOT_FILE, (const uint8_t *)rs->boot, REC_BOOT_BYTES, true);
}

static int mkdir_durable(const char *path, const char *parent)
{
    if (mkdir(path, 0700) != 0) {
        if (errno == EEXIST)
            return KW_OK;
        return KW_ERR_SYSTEM;
    }
    return fsync_dir(parent);
}

static void ref_hex(char out[33], const uint8_t ref[KW_STORE_REC_REF_BYTES])
{
    kw_hex_encode(out, 33, ref, KW_STORE_REC_REF_BYTES);
}

/* <dir>/<hh> and <dir>/<hh>/<hex> */
static int obj_paths(const struct kw_api_records *rs, const uint8_t ref[16], char prefix[PATH_MAX],
                     char obj[PATH_MAX])
{
    char hex[33];
    ref_hex(hex, ref);
    if (snprintf(prefix, PATH_MAX, "%s/%.2s", rs->dir, hex) >= PATH_MAX ||
        snprintf(obj, PATH_MAX, "%s/%.2s/%s", rs->dir, hex, hex) >= PATH_MAX)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

static void obj_remove(const struct kw_api_records *rs, const uint8_t ref[16])
{
    char prefix[PATH_MAX], obj[PATH_MAX], path[PATH_MAX + 300];
    if (obj_paths(rs, ref, prefix, obj) != KW_OK)
        return;
    DIR *d = opendir(obj);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", obj, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(obj);
}

static int ref_cmp(const void *a, const void *b)
{
    return memcmp(a, b, KW_STORE_REC_REF_BYTES);
}

/* Removes every object directory no record or live upload refers to, and
 * stray temporary files. */
static int gc_sweep(kw_server *srv, struct kw_api_records *rs)
{
    uint8_t(*refs)[KW_STORE_REC_REF_BYTES] = NULL;
    size_t n = 0, removed = 0;
    int r = kw_store_record_refs(srv->store, kw_api_now(srv) - REC_UPLOAD_TTL, &refs, &n);
    if (r != KW_OK)
        return r;
    if (n > 0)
        qsort(refs, n, sizeof(*refs), ref_cmp);
    DIR *top = opendir(rs->dir);
    if (top == NULL) {
        free(refs);
        return KW_ERR_SYSTEM;
    }
    struct dirent *p;
    while ((p = readdir(top)) != NULL) {
        if (p->d_name[0] == '.' || strlen(p->d_name) != 2)
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s/%s", rs->dir, p->d_name) >= (int)sizeof(sub))
            continue;
        DIR *d = opendir(sub);
        if (d == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            uint8_t ref[16];
            size_t len = 0;
            if (e->d_name[0] == '.')
                continue;
            if (strlen(e->d_name) != 32 || kw_hex_decode(ref, 16, &len, e->d_name, 32) != KW_OK ||
                len != 16)
                continue;
            if (n == 0 || bsearch(ref, refs, n, sizeof(*refs), ref_cmp) == NULL) {
                obj_remove(rs, ref);
                removed++;
            }
        }
        closedir(d);
    }
    closedir(top);
    free(refs);
    if (removed > 0)
        fprintf(stderr, "level=info event=records_gc removed=%zu\n", removed);
    return KW_OK;
}

int kw_api_records_start(kw_server *srv)
{
    struct kw_api_records *rs = calloc(1, sizeof(*rs));
    int r;
    if (rs == NULL)
        return KW_ERR_NOMEM;
    const char *dir = srv->cfg != NULL ? kw_config_get(srv->cfg, "records.dir") : NULL;
    int w = dir != NULL ? snprintf(rs->dir, sizeof(rs->dir), "%s", dir)
                        : snprintf(rs->dir, sizeof(rs->dir), "%s/chunks",
                                   srv->cfg != NULL ? srv->cfg->data_dir : ".");
    if (w < 0 || (size_t)w >= sizeof(rs->dir) - 64 || rs->dir[0] == '\0') {
        fprintf(stderr, "level=error event=records key=records.dir error=\"path too long\"\n");
        free(rs);
        return KW_ERR_FORMAT;
    }
    if ((r = parse_classes(rs, srv->cfg)) != KW_OK) {
        free(rs);
        return r;
    }
    const char *sync = srv->cfg != NULL ? kw_config_get(srv->cfg, "records.sync") : NULL;
    if (sync != NULL && strcmp(sync, "commit") != 0 && strcmp(sync, "piece") != 0) {
        fprintf(stderr, "level=error event=records key=records.sync error=\"commit or piece\"\n");
        free(rs);
        return KW_ERR_FORMAT;
    }
    read_boot_id(rs->boot);
    rs->sync_per_piece = (sync != NULL && strcmp(sync, "piece") == 0) || rs->boot[0] == '\0';
    if (mkdir(rs->dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "level=error event=records key=records.dir error=\"cannot create: %s\"\n",
                strerror(errno));
        free(rs);
        return KW_ERR_SYSTEM;
    }
    if ((r = gc_sweep(srv, rs)) != KW_OK && r != KW_ERR_UNSUPPORTED) {
        fprintf(stderr, "level=error event=records_gc error=\"%s\"\n", kw_errname(r));
        free(rs);
        return r;
    }
    srv->records = rs;
    return KW_OK;
}

void kw_api_records_stop(kw_server *srv)
{
    if (srv == NULL || srv->records == NULL)
        return;
    free(srv->records);
    srv->records = NULL;
}

/* ---- request helpers ---- */

typedef struct {
    kw_api_caller caller;
    const char *cat;
    const char *zone;
    uint8_t id[KW_STORE_REC_ID_BYTES];
} rec_addr;

static int need_area(kw_http_req *req, kw_http_resp *resp, struct kw_api_records **rs)
{
    kw_server *srv = req->app;
    *rs = srv->records;
    if (*rs == NULL)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "records are not enabled on this server");
    return KW_OK;
}

/* Authenticates a trusted device and reads {category}/{zone}[/{id}]. */
static int rec_addr_read(kw_http_req *req, kw_http_resp *resp, bool with_id, rec_addr *a)
{
    int r;
    memset(a, 0, sizeof(*a));
    if ((r = kw_api_auth(req, resp, true, &a->caller)) != KW_OK)
        return r;
    a->cat = req->params[0];
    a->zone = req->params[1];
    if (!kw_category_name_ok(a->cat))
        return kw_http_fail(resp, KW_ERR_FORMAT, "categories are 1..32 bytes of [a-z0-9-]");
    if (!kw_record_zone_ok(a->zone))
        return kw_http_fail(resp, KW_ERR_FORMAT, "zones are 1..64 bytes of [A-Za-z0-9._-]");
    if (with_id)
        return kw_api_parse_id(resp, req->params[2], a->id);
    return KW_OK;
}

static json_t *record_json(const kw_store_record *rec)
{
    char id[32];
    kw_b64url_encode(id, sizeof(id), rec->id, sizeof(rec->id));
    json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "id", id, "version", (json_int_t)rec->version,
                          "key_generation", (json_int_t)rec->key_generation, "content_len",
                          (json_int_t)rec->content_len, "nchunks", (json_int_t)rec->nchunks, "change",
                          (json_int_t)rec->change, "updated_at", (json_int_t)rec->updated_at);
    if (o == NULL || kw_api_put_b64(o, "meta", rec->meta, rec->meta_len) != KW_OK ||
        kw_api_put_b64(o, "wrap", rec->wrap, rec->wrap_len) != KW_OK ||
        (rec->has_ref && kw_api_put_b64(o, "ref", rec->ref, sizeof(rec->ref)) != KW_OK) ||
        (rec->content != NULL && kw_api_put_b64(o, "content", rec->content, rec->content_size) != KW_OK)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Reads meta and wrap (checking the wrap's generation field). */
static int read_meta_wrap(kw_http_resp *resp, json_t *body, kw_store_record *rec)
{
    uint32_t gen = 0;
    int r;
    if ((r = kw_api_get_b64(resp, body, "meta", 1, KW_RECORD_META_MAXBYTES, &rec->meta, &rec->meta_len)) !=
            KW_OK ||
        (r = kw_api_get_b64(resp, body, "wrap", KW_RECORD_WRAPBYTES, KW_RECORD_WRAPBYTES, &rec->wrap,
                            &rec->wrap_len)) != KW_OK)
        return r;
    if (kw_record_wrap_generation(rec->wrap, rec->wrap_len, &gen) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the wrap names service-key generation 0");
    rec->key_generation = gen;
    return KW_OK;
}

static int rec_store_fail(kw_http_resp *resp, int r, int64_t version)
{
    if (r == KW_ERR_CONFLICT)
        return kw_http_fail(resp, r, "the record is not at version %lld (compare-and-swap)",
                            (long long)(version - 1));
    return kw_api_store_fail(resp, r, "record");
}

static json_t *write_answer(int64_t version, int64_t change)
{
    return json_pack("{s:I,s:I}", "version", (json_int_t)version, "change", (json_int_t)change);
}

/* ---- handlers ---- */

static int classes_get(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_records *rs;
    kw_api_caller caller;
    int r;
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = kw_api_auth_any(req, resp, false, &caller)) != KW_OK)
        return r;
    json_t *o = json_object(), *cls = json_object();
    if (o == NULL || cls == NULL) {
        json_decref(o);
        json_decref(cls);
        return KW_ERR_NOMEM;
    }
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < rs->n[c]; i++)
            json_object_set_new(cls, rs->cat[c][i], json_string(kw_record_class_name(class_ids[c])));
    json_object_set_new(o, "classes", cls);
    json_object_set_new(o, "default", json_string(kw_record_class_name(KW_RECORD_CLASS_ADP)));
    kw_http_json(resp, 200, o);
    return KW_OK;
}

static int keychain_put(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const allowed[] = {"keychain", "keychain_version", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t *kc = NULL;
    size_t kc_len = 0;
    int64_t version = 0, gen = 0;
    uint64_t hv = 0, hg = 0;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, allowed)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "keychain_version", 2, INT64_MAX - 1, &version)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "keychain", 1, KW_API_KEYCHAIN_MAX, &kc, &kc_len)) != KW_OK)
        goto out;
    if ((r = kw_api_kk_generation(srv, caller.account_id, &gen)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "key generation");
        goto out;
    }
    if (kw_keychain_header(kc, kc_len, &hv, &hg) != KW_OK || hv != (uint64_t)version ||
        hg != (uint64_t)gen) {
        r = kw_http_fail(resp, KW_ERR_FORMAT,
                         "the keychain header must name version %lld and the current KK generation",
                         (long long)version);
        goto out;
    }
    r = kw_store_record_keychain_put(srv->store, caller.account_id, version, kc, kc_len);
    if (r == KW_ERR_CONFLICT) {
        r = kw_http_fail(resp, r, "the keychain is not at version %lld", (long long)(version - 1));
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "keychain");
        goto out;
    }
    kw_http_json(resp, 200, json_pack("{s:I}", "keychain_version", (json_int_t)version));
out:
    free(kc);
    return r;
}

static int record_put(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const allowed[] = {"version", "meta", "wrap", "content", "nchunks", NULL};
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_store_record rec;
    rec_addr a;
    int64_t change = 0;
    uint8_t old_ref[16];
    bool had_old = false;
    int r;
    memset(&rec, 0, sizeof(rec));
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = rec_addr_read(req, resp, true, &a)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, allowed)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "version", 1, INT64_MAX - 1, &rec.version)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "nchunks", 1, KW_STORE_REC_INLINE_MAX / KW_CHUNK_ABYTES,
                            &rec.nchunks)) != KW_OK ||
        (r = read_meta_wrap(resp, req->body, &rec)) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "content", KW_CHUNK_ABYTES, KW_STORE_REC_INLINE_MAX,
                            &rec.content, &rec.content_size)) != KW_OK)
        goto out;
    snprintf(rec.category, sizeof(rec.category), "%s", a.cat);
    snprintf(rec.zone, sizeof(rec.zone), "%s", a.zone);
    memcpy(rec.id, a.id, sizeof(rec.id));
    rec.content_len = (int64_t)rec.content_size;
    r = kw_store_record_put(srv->store, a.caller.account_id, &rec, kw_api_now(srv), &change, old_ref,
                            &had_old);
    if (r != KW_OK) {
        r = rec_store_fail(resp, r, rec.version);
        goto out;
    }
    if (had_old)
        obj_remove(rs, old_ref);
    kw_http_json(resp, 200, write_answer(rec.version, change));
out:
    kw_store_record_clear(&rec);
    return r;
}

static int record_get(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_store_record rec;
    rec_addr a;
    int r;
    memset(&rec, 0, sizeof(rec));
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = rec_addr_read(req, resp, true, &a)) != KW_OK)
        return r;
    if ((r = kw_store_record_get(srv->store, a.caller.account_id, a.cat, a.zone, a.id, &rec)) != KW_OK)
        return kw_api_store_fail(resp, r, "record");
    json_t *o = record_json(&rec);
    kw_store_record_clear(&rec);
    if (o == NULL)
        return KW_ERR_NOMEM;
    json_object_set_new(o, "class", json_string(kw_record_class_name(class_of(rs, a.cat))));
    kw_http_json(resp, 200, o);
    return KW_OK;
}

static int record_delete(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const allowed[] = {"version", NULL};
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    rec_addr a;
    int64_t version = 0, change = 0;
    uint8_t old_ref[16];
    bool had_old = false;
    int r;
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = rec_addr_read(req, resp, true, &a)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, allowed)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "version", 1, INT64_MAX - 1, &version)) != KW_OK)
        return r;
    r = kw_store_record_delete(srv->store, a.caller.account_id, a.cat, a.zone, a.id, version, &change,
                               old_ref, &had_old);
    if (r == KW_ERR_CONFLICT)
        return kw_http_fail(resp, r, "the record is not at version %lld (compare-and-swap)",
                            (long long)version);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "record");
    if (had_old)
        obj_remove(rs, old_ref);
    kw_http_json(resp, 200, json_pack("{s:b,s:I}", "deleted", 1, "change", (json_int_t)change));
    return KW_OK;
}

static int record_list(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const allowed[] = {"after", "limit", NULL};
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_store_record *recs = NULL;
    size_t n = 0;
    rec_addr a;
    uint8_t after[16];
    bool has_after = false;
    int64_t limit = REC_LIST_DEFAULT, change = 0;
    json_t *o = NULL, *arr = NULL;
    int r;
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = rec_addr_read(req, resp, false, &a)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, allowed)) != KW_OK)
        return r;
    if (json_object_get(req->body, "limit") != NULL &&
        (r = kw_api_get_int(resp, req->body, "limit", 1, KW_STORE_REC_LIST_MAX, &limit)) != KW_OK)
        return r;
    if (json_object_get(req->body, "after") != NULL) {
        if ((r = kw_api_get_id(resp, req->body, "after", after)) != KW_OK)
            return r;
        has_after = true;
    }
    r = kw_store_record_list(srv->store, a.caller.account_id, a.cat, a.zone, has_after ? after : NULL,
                             (size_t)limit, &recs, &n, &change);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "records");
    o = json_pack("{s:I,s:s}", "change", (json_int_t)change, "class",
                  kw_record_class_name(class_of(rs, a.cat)));
    arr = json_array();
    r = KW_ERR_NOMEM;
    if (o == NULL || arr == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *j = record_json(&recs[i]);
        if (j == NULL || json_array_append_new(arr, j) != 0)
            goto out;
    }
    if (n == (size_t)limit) {
        char next[32];
        kw_b64url_encode(next, sizeof(next), recs[n - 1].id, 16);
        json_object_set_new(o, "next", json_string(next));
    } else {
        json_object_set_new(o, "next", json_null());
    }
    json_object_set_new(o, "records", arr);
    arr = NULL;
    kw_http_json(resp, 200, o);
    o = NULL;
    r = KW_OK;
out:
    json_decref(o);
    json_decref(arr);
    kw_store_record_free_list(&recs, n);
    return r;
}

/* ---- uploads ---- */

static int upload_create(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const allowed[] = {"version", NULL};
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_store_upload up;
    rec_addr a;
    char prefix[PATH_MAX], obj[PATH_MAX];
    int r;
    memset(&up, 0, sizeof(up));
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = rec_addr_read(req, resp, true, &a)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, allowed)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "version", 1, INT64_MAX - 1, &up.version)) != KW_OK)
        return r;
    randombytes_buf(up.ref, sizeof(up.ref));
    up.account_id = a.caller.account_id;
    snprintf(up.category, sizeof(up.category), "%s", a.cat);
    snprintf(up.zone, sizeof(up.zone), "%s", a.zone);
    memcpy(up.id, a.id, 16);
    up.created_at = kw_api_now(srv);
    /* the directory first: a crash leaves an unreferenced directory (garbage), never a
     * live upload without one */
    if (obj_paths(rs, up.ref, prefix, obj) != KW_OK || mkdir_durable(prefix, rs->dir) != KW_OK ||
        mkdir_durable(obj, prefix) != KW_OK ||
        (!rs->sync_per_piece &&
         write_durable(obj, REC_BOOT_FILE, (const uint8_t *)rs->boot, REC_BOOT_BYTES, true) != KW_OK)) {
        fprintf(stderr, "level=error event=records error=\"cannot create a chunk directory: %s\"\n",
                strerror(errno));
        return kw_http_fail(resp, KW_ERR_SYSTEM, "chunk storage unavailable");
    }
    r = kw_store_record_upload_create(srv->store, &up);
    if (r != KW_OK) {
        obj_remove(rs, up.ref);
        return rec_store_fail(resp, r, up.version);
    }
    json_t *o = json_pack("{s:I,s:I}", "version", (json_int_t)up.version, "chunk_max",
                          (json_int_t)REC_PIECE_MAX);
    if (o == NULL || kw_api_put_b64(o, "upload_id", up.ref, 16) != KW_OK) {
        json_decref(o);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, o);
    return KW_OK;
}

/* The caller's upload named by params[0]. */
static int upload_load(kw_http_req *req, kw_http_resp *resp, kw_api_caller *caller, kw_store_upload *up)
{
    kw_server *srv = req->app;
    uint8_t ref[16];
    int r;
    if ((r = kw_api_auth(req, resp, true, caller)) != KW_OK ||
        (r = kw_api_parse_id(resp, req->params[0], ref)) != KW_OK)
        return r;
    r = kw_store_record_upload_get(srv->store, ref, up);
    if (r == KW_OK && up->account_id != caller->account_id)
        r = KW_ERR_NOT_FOUND;
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "upload");
    return KW_OK;
}

static int parse_index(kw_http_resp *resp, const char *s, uint64_t *index)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || strlen(s) > 12 || v >= REC_CHUNKS_MAX ||
        (s[0] == '0' && s[1] != '\0'))
        return kw_http_fail(resp, KW_ERR_FORMAT, "chunk indexes are decimal integers");
    *index = v;
    return KW_OK;
}

/* Writes dir/name through name.tmp and a rename. sync: fsync the file
 * before the rename and the directory after it (durable against power
 * loss); otherwise only start the writeback (survives the process dying;
 * the commit makes it durable). */
static int write_durable(const char *dir, const char *name, const uint8_t *data, size_t len, bool sync)
{
    char tmp[PATH_MAX + 40], fin[PATH_MAX + 40];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(fin, sizeof(fin), "%s/%s", dir, name);
    /* A large chunk from a block-aligned buffer (the HTTP layer allocates
     * octet-stream bodies aligned) goes to the disk with O_DIRECT: its data
     * is on the device when write returns (so it survives kill -9 as before;
     * the commit's fdatasync still flushes the device's cache for a power
     * loss), without allocating and filling page-cache pages for it — on this
     * kind of machine the dominant cost of a long upload — and without a
     * burst of dirty pages to write back. The unaligned tail (the piece's
     * overhead) is written buffered. Where the file system refuses O_DIRECT,
     * all of it is. */
    size_t al = len >= REC_DIRECT_MIN && ((uintptr_t)data & (REC_DIRECT_ALIGN - 1)) == 0
                    ? len & ~(size_t)(REC_DIRECT_ALIGN - 1)
                    : 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (al > 0 ? O_DIRECT : 0), 0600);
    if (fd < 0 && al > 0 && errno == EINVAL) {
        al = 0;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return KW_ERR_SYSTEM;
    size_t o = 0;
    while (o < al) {
        ssize_t w = write(fd, data + o, al - o);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0 || ((size_t)w & (REC_DIRECT_ALIGN - 1)) != 0) {
            if (w > 0)
                o += (size_t)w;
            break; /* refused (EINVAL) or short: the rest buffered */
        }
        o += (size_t)w;
    }
    if (al > 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) != 0) {
            close(fd);
            unlink(tmp);
            return KW_ERR_SYSTEM;
        }
    }
    size_t direct_done = o;
    while (o < len) {
        ssize_t w = write(fd, data + o, len - o);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return KW_ERR_SYSTEM;
        }
        o += (size_t)w;
    }
    if (!sync && len > direct_done) /* the buffered part's writeback started */
        sync_file_range(fd, (off64_t)direct_done, (off64_t)(len - direct_done), SYNC_FILE_RANGE_WRITE);
    if ((sync && fsync(fd) != 0) || close(fd) != 0) {
        unlink(tmp);
        return KW_ERR_SYSTEM;
    }
    if (rename(tmp, fin) != 0) {
        unlink(tmp);
        return KW_ERR_SYSTEM;
    }
    return sync ? fsync_dir(dir) : KW_OK;
}

static int upload_chunk_put(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const allowed[] = {"data", NULL};
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_api_caller caller;
    kw_store_upload up;
    uint64_t index = 0;
    uint8_t *data = NULL;
    const uint8_t *piece = NULL;
    const char *text = NULL;
    size_t len = 0;
    char prefix[PATH_MAX], obj[PATH_MAX], name[24];
    int r;
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = upload_load(req, resp, &caller, &up)) != KW_OK ||
        (r = parse_index(resp, req->params[1], &index)) != KW_OK)
        goto out;
    if (req->binary) {
        /* the sealed piece as the raw body (application/octet-stream) */
        piece = req->raw;
        len = req->raw_len;
        if (len < KW_RECORD_PIECE_OVERHEAD || len > REC_PIECE_MAX) {
            r = kw_http_fail(resp, len > REC_PIECE_MAX ? KW_ERR_TOO_LARGE : KW_ERR_FORMAT,
                             "the body is not a sealed piece (%zu bytes)", len);
            goto out;
        }
    } else {
        /* {"data": base64url}: the fast transport codec of keyward/record.h */
        if ((r = kw_api_only_fields(resp, req->body, allowed)) != KW_OK ||
            (r = kw_api_get_str(resp, req->body, "data", kw_b64url_encoded_len(REC_PIECE_MAX), &text)) !=
                KW_OK)
            goto out;
        if ((data = malloc(REC_PIECE_MAX)) == NULL) {
            r = KW_ERR_NOMEM;
            goto out;
        }
        if (kw_record_b64_decode(data, REC_PIECE_MAX, &len, text, strlen(text)) != KW_OK ||
            len < KW_RECORD_PIECE_OVERHEAD) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "field 'data' is not a sealed piece in base64url");
            goto out;
        }
        piece = data;
    }
    snprintf(name, sizeof(name), "%llu", (unsigned long long)index);
    if ((r = obj_paths(rs, up.ref, prefix, obj)) != KW_OK ||
        (!rs->sync_per_piece && (r = obj_mark_boot(rs, obj)) != KW_OK) ||
        (r = write_durable(obj, name, piece, len, rs->sync_per_piece)) != KW_OK) {
        fprintf(stderr, "level=error event=records error=\"cannot write a chunk: %s\"\n", strerror(errno));
        r = kw_http_fail(resp, KW_ERR_SYSTEM, "chunk storage unavailable");
        goto out;
    }
    kw_http_json(resp, 200, json_pack("{s:I,s:I}", "index", (json_int_t)index, "size", (json_int_t)len));
    r = KW_OK;
out:
    free(data);
    (void)srv;
    return r;
}

/* Sizes of the chunk files 0..; stops at the first gap. *count is the
 * number of consecutive chunks present, *total their size, *extra whether
 * a chunk file lies beyond the gap. */
static int scan_chunks(const char *obj, uint64_t limit, uint64_t *count, uint64_t *total, json_t *sizes)
{
    char path[PATH_MAX + 32];
    struct stat sb;
    *count = 0;
    *total = 0;
    for (uint64_t i = 0; i < limit; i++) {
        snprintf(path, sizeof(path), "%s/%llu", obj, (unsigned long long)i);
        if (stat(path, &sb) != 0)
            break;
        if (sizes != NULL)
            json_array_append_new(sizes, json_integer((json_int_t)sb.st_size));
        *count = i + 1;
        *total += (uint64_t)sb.st_size;
    }
    return KW_OK;
}

static int upload_status(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_records *rs;
    kw_api_caller caller;
    kw_store_upload up;
    char prefix[PATH_MAX], obj[PATH_MAX];
    uint64_t count = 0, total = 0;
    int r;
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = upload_load(req, resp, &caller, &up)) != KW_OK)
        return r;
    json_t *sizes = json_array();
    if (sizes == NULL || obj_paths(rs, up.ref, prefix, obj) != KW_OK) {
        json_decref(sizes);
        return KW_ERR_NOMEM;
    }
    if (!obj_same_boot(rs, obj) && obj_reset_boot(rs, obj) != KW_OK) {
        json_decref(sizes);
        fprintf(stderr, "level=error event=records error=\"cannot reset a chunk directory: %s\"\n",
                strerror(errno));
        return kw_http_fail(resp, KW_ERR_SYSTEM, "chunk storage unavailable");
    }
    scan_chunks(obj, REC_CHUNKS_MAX, &count, &total, sizes);
    /* pieces sent in parallel may land past the first gap */
    json_t *after = json_array(), *after_sizes = json_array();
    for (uint64_t i = count + 1; after != NULL && after_sizes != NULL && i <= count + REC_AHEAD_MAX; i++) {
        char path[PATH_MAX + 32];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%llu", obj, (unsigned long long)i);
        if (stat(path, &sb) == 0) {
            json_array_append_new(after, json_integer((json_int_t)i));
            json_array_append_new(after_sizes, json_integer((json_int_t)sb.st_size));
        }
    }
    char id[32];
    kw_b64url_encode(id, sizeof(id), up.id, 16);
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:o}", "category", up.category, "zone", up.zone,
                          "id", id, "version", (json_int_t)up.version, "chunks", (json_int_t)count, "bytes",
                          (json_int_t)total, "sizes", sizes, "present_after", after != NULL ? after : json_array(),
                          "after_sizes", after_sizes != NULL ? after_sizes : json_array());
    if (o == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, o);
    return KW_OK;
}

/* ---- the commit's check and sync of the chunks ---- */

typedef struct {
    const char *obj;
    uint64_t n, first, step; /* this worker's chunks: first, first + step, ... < n */
    uint64_t size0;          /* chunk 0's length: every chunk but the last has it */
    int r;                   /* KW_OK, KW_ERR_CONFLICT (a bad length) or KW_ERR_SYSTEM */
    uint64_t bad;
} sync_job;

static void *sync_worker(void *arg)
{
    sync_job *j = arg;
    for (uint64_t i = j->first; i < j->n && j->r == KW_OK; i += j->step) {
        char path[PATH_MAX + 32];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%llu", j->obj, (unsigned long long)i);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) != 0) {
            if (fd >= 0)
                close(fd);
            j->r = KW_ERR_CONFLICT; /* vanished under us */
            j->bad = i;
            break;
        }
        uint64_t len = (uint64_t)sb.st_size;
        bool ok = i + 1 < j->n ? len == j->size0 : len >= KW_RECORD_PIECE_OVERHEAD && len <= j->size0;
        if (!ok) {
            j->r = KW_ERR_CONFLICT;
            j->bad = i;
        } else if (fdatasync(fd) != 0) {
            j->r = KW_ERR_SYSTEM;
            j->bad = i;
        }
        close(fd);
    }
    return NULL;
}

/* Checks the lengths of chunks 0..n-1 of obj — all but the last one sealed
 * piece of a power-of-two size in [KW_RECORD_PIECE_MIN, KW_RECORD_PIECE_BYTES],
 * the last one not longer (a chunk cut short by a crash fails here) — and
 * fdatasyncs each (a few at a time; unless every chunk was already synced
 * when it was written). KW_ERR_CONFLICT with *bad for a wrong length. */
static int chunks_check_sync(const char *obj, uint64_t n, uint64_t *bad)
{
    char path[PATH_MAX + 32];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/0", obj);
    *bad = 0;
    if (stat(path, &sb) != 0)
        return KW_ERR_CONFLICT;
    uint64_t size0 = (uint64_t)sb.st_size;
    if (n > 1) {
        uint64_t ps = size0 - KW_RECORD_PIECE_OVERHEAD;
        if (size0 <= KW_RECORD_PIECE_OVERHEAD || (ps & (ps - 1)) != 0 || ps < KW_RECORD_PIECE_MIN ||
            ps > KW_RECORD_PIECE_BYTES)
            return KW_ERR_CONFLICT;
    } else if (size0 > REC_PIECE_MAX) {
        return KW_ERR_CONFLICT;
    }
    sync_job jobs[REC_SYNC_THREADS];
    pthread_t th[REC_SYNC_THREADS];
    bool started[REC_SYNC_THREADS] = {false};
    uint64_t nthreads = n < REC_SYNC_THREADS ? n : REC_SYNC_THREADS;
    for (uint64_t k = 0; k < nthreads; k++) {
        jobs[k] = (sync_job){.obj = obj, .n = n, .first = k, .step = nthreads, .size0 = size0, .r = KW_OK};
        /* worker 0 runs on this thread; the others on their own when they can */
        if (k > 0)
            started[k] = pthread_create(&th[k], NULL, sync_worker, &jobs[k]) == 0;
    }
    sync_worker(&jobs[0]);
    for (uint64_t k = 1; k < nthreads; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            sync_worker(&jobs[k]);
    }
    int r = KW_OK;
    for (uint64_t k = 0; k < nthreads; k++)
        if (jobs[k].r != KW_OK && (r == KW_OK || jobs[k].bad < *bad)) {
            r = jobs[k].r;
            *bad = jobs[k].bad;
        }
    return r;
}

static int upload_commit(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const allowed[] = {"meta", "wrap", "nchunks", "content_len", NULL};
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_api_caller caller;
    kw_store_upload up;
    kw_store_record rec;
    char prefix[PATH_MAX], obj[PATH_MAX], path[PATH_MAX + 32];
    uint64_t count = 0, total = 0;
    int64_t change = 0;
    uint8_t old_ref[16];
    bool had_old = false;
    struct stat sb;
    int r;
    memset(&rec, 0, sizeof(rec));
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = upload_load(req, resp, &caller, &up)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, allowed)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "nchunks", 1, (int64_t)REC_CHUNKS_MAX - 1, &rec.nchunks)) !=
            KW_OK ||
        (r = kw_api_get_int(resp, req->body, "content_len", KW_CHUNK_ABYTES, INT64_MAX - 1,
                            &rec.content_len)) != KW_OK ||
        (r = read_meta_wrap(resp, req->body, &rec)) != KW_OK)
        goto out;
    if ((r = obj_paths(rs, up.ref, prefix, obj)) != KW_OK)
        goto out;
    if (!obj_same_boot(rs, obj)) {
        r = obj_reset_boot(rs, obj) != KW_OK
                ? kw_http_fail(resp, KW_ERR_SYSTEM, "chunk storage unavailable")
                : kw_http_fail(resp, KW_ERR_CONFLICT, "the machine restarted since these chunks were written "
                                                      "(a power loss may have torn them): they were dropped, "
                                                      "upload them again");
        goto out;
    }
    scan_chunks(obj, (uint64_t)rec.nchunks + 1, &count, &total, NULL);
    snprintf(path, sizeof(path), "%s/%lld", obj, (long long)rec.nchunks);
    if (count < (uint64_t)rec.nchunks) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "chunk %llu has not been uploaded",
                         (unsigned long long)count);
        goto out;
    }
    if (stat(path, &sb) == 0 || total != (uint64_t)rec.content_len) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the uploaded chunks do not add up to %lld bytes in %lld "
                                                "chunks",
                         (long long)rec.content_len, (long long)rec.nchunks);
        goto out;
    }
    /* every chunk's length checked and its data made durable, then the directory
     * (the renames), before the transaction that makes the record visible */
    uint64_t bad = 0;
    if ((r = chunks_check_sync(obj, (uint64_t)rec.nchunks, &bad)) != KW_OK) {
        if (r == KW_ERR_CONFLICT)
            r = kw_http_fail(resp, KW_ERR_CONFLICT, "chunk %llu is not a whole sealed piece: upload it again",
                             (unsigned long long)bad);
        else
            r = kw_http_fail(resp, KW_ERR_SYSTEM, "chunk storage unavailable");
        goto out;
    }
    if (!rs->sync_per_piece && fsync_dir(obj) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_SYSTEM, "chunk storage unavailable");
        goto out;
    }
    snprintf(rec.category, sizeof(rec.category), "%s", up.category);
    snprintf(rec.zone, sizeof(rec.zone), "%s", up.zone);
    memcpy(rec.id, up.id, 16);
    rec.version = up.version;
    rec.has_ref = true;
    memcpy(rec.ref, up.ref, 16);
    r = kw_store_record_put(srv->store, caller.account_id, &rec, kw_api_now(srv), &change, old_ref,
                            &had_old);
    if (r != KW_OK) {
        r = rec_store_fail(resp, r, rec.version);
        goto out;
    }
    if (had_old)
        obj_remove(rs, old_ref);
    kw_http_json(resp, 200, write_answer(rec.version, change));
out:
    kw_store_record_clear(&rec);
    return r;
}

static int upload_abort(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_api_caller caller;
    kw_store_upload up;
    int r;
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = upload_load(req, resp, &caller, &up)) != KW_OK ||
        (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    if ((r = kw_store_record_upload_delete(srv->store, caller.account_id, up.ref)) != KW_OK)
        return kw_api_store_fail(resp, r, "upload");
    obj_remove(rs, up.ref);
    kw_http_json(resp, 200, json_pack("{s:b}", "aborted", 1));
    return KW_OK;
}

/* GET /v1/record-content/{ref}/{index}: one chunk as raw bytes
 * (application/octet-stream), sent from its file. */
static int content_get(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    struct kw_api_records *rs;
    kw_api_caller caller;
    uint8_t ref[16];
    uint64_t index = 0;
    int64_t owner = 0, nchunks = 0;
    char prefix[PATH_MAX], obj[PATH_MAX], path[PATH_MAX + 32];
    int fd = -1, r;
    if ((r = need_area(req, resp, &rs)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_parse_id(resp, req->params[0], ref)) != KW_OK ||
        (r = parse_index(resp, req->params[1], &index)) != KW_OK)
        return r;
    r = kw_store_record_ref_owner(srv->store, ref, &owner, &nchunks);
    if (r == KW_OK && (owner != caller.account_id || index >= (uint64_t)nchunks))
        r = KW_ERR_NOT_FOUND;
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "content");
    if ((r = obj_paths(rs, ref, prefix, obj)) != KW_OK)
        return r;
    snprintf(path, sizeof(path), "%s/%llu", obj, (unsigned long long)index);
    struct stat sb;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND, "chunk %llu of this content is missing",
                         (unsigned long long)index);
        goto out;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > REC_PIECE_MAX) {
        r = kw_http_fail(resp, KW_ERR_STORAGE, "a stored chunk is larger than any chunk");
        goto out;
    }
    /* the descriptor is transferred; the layer sends the file and closes it */
    resp->send_file = true;
    resp->file_fd = fd;
    resp->file_len = (uint64_t)sb.st_size;
    resp->content_type = "application/octet-stream";
    resp->status = 200;
    fd = -1;
    r = KW_OK;
out:
    if (fd >= 0)
        close(fd);
    return r;
}

const kw_http_route kw_api_records_routes[] = {
    {"GET", "/v1/records/classes", classes_get, 0},
    {"POST", "/v1/records/keychain", keychain_put, KW_API_KEYCHAIN_BODY_LIMIT},
    {"POST", "/v1/records/{}/{}", record_list, 0},
    {"PUT", "/v1/records/{}/{}/{}", record_put, REC_PUT_BODY_LIMIT},
    {"GET", "/v1/records/{}/{}/{}", record_get, 0},
    {"POST", "/v1/records/{}/{}/{}/delete", record_delete, 0},
    {"POST", "/v1/records/{}/{}/{}/uploads", upload_create, 0},
    {"GET", "/v1/record-uploads/{}", upload_status, 0},
    {"PUT", "/v1/record-uploads/{}/{}", upload_chunk_put, REC_PIECE_BODY_LIMIT | KW_HTTP_BINARY},
    {"POST", "/v1/record-uploads/{}/commit", upload_commit, 0},
    {"POST", "/v1/record-uploads/{}/abort", upload_abort, 0},
    {"GET", "/v1/record-content/{}/{}", content_get, 0},
};
const size_t kw_api_records_nroutes = sizeof(kw_api_records_routes) / sizeof(kw_api_records_routes[0]);
