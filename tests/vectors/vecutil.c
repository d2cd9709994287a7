#include "vecutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keyward/codec.h"

#define VEC_MAX_DEPTH 8

static unsigned walk_dir(const char *dir, int depth, vec_visit_fn visit, void *ctx,
                         unsigned *parse_failures)
{
    unsigned count = 0;
    struct dirent **names = NULL;
    if (depth > VEC_MAX_DEPTH)
        return 0;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[4096];
        struct stat st;
        if (name[0] == '.' || snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
            stat(path, &st) != 0) {
            free(names[i]);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            count += walk_dir(path, depth + 1, visit, ctx, parse_failures);
        } else {
            size_t len = strlen(name);
            if (len > 5 && strcmp(name + len - 5, ".json") == 0) {
                json_error_t err;
                json_t *doc = json_load_file(path, 0, &err);
                if (doc == NULL)
                    /* Integers beyond int64 (e.g. 2^64-1 in the Merkle cases)
                     * are read as reals; vec_u64 maps them back. */
                    doc = json_load_file(path, JSON_DECODE_INT_AS_REAL, &err);
                if (doc == NULL) {
                    fprintf(stderr, "vectors: cannot parse %s: %s\n", path, err.text);
                    (*parse_failures)++;
                } else {
                    visit(path, doc, ctx);
                    json_decref(doc);
                    count++;
                }
            }
        }
        free(names[i]);
    }
    free(names);
    return count;
}

unsigned vec_walk(vec_visit_fn visit, void *ctx, unsigned *parse_failures)
{
    unsigned count = 0;
    *parse_failures = 0;
    const char *shared = getenv("KEYWARD_SHARED_VECTORS");
    struct stat probe;
    if (shared == NULL || *shared == '\0')
        /* Run by hand from the repository root: the same choice as the Makefile. */
        shared = stat("../shared/vectors/README.md", &probe) == 0 ? "../shared/vectors" : "tests/vectors/data";
    {
        struct stat st;
        if (stat(shared, &st) != 0) {
            fprintf(stderr, "vectors: shared folder %s is missing\n", shared);
            (*parse_failures)++;
        } else {
            count += walk_dir(shared, 0, visit, ctx, parse_failures);
        }
    }
    const char *extra = getenv("KEYWARD_VECTORS");
    if (extra != NULL && *extra != '\0') {
        char *copy = strdup(extra);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save))
            count += walk_dir(tok, 0, visit, ctx, parse_failures);
        free(copy);
    }
    return count;
}

const char *vec_str(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int vec_hex(json_t *obj, const char *name, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    const char *s = vec_str(obj, name);
    if (s == NULL)
        return -1;
    size_t slen = strlen(s);
    uint8_t *buf = malloc(slen / 2 + 1);
    if (buf == NULL || kw_hex_decode(buf, slen / 2 + 1, len, s, slen) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int vec_b64(json_t *obj, const char *name, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    json_t *v = json_object_get(obj, name);
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (v != NULL && !json_is_string(v) && !json_is_null(v))
        return -1;
    size_t slen = strlen(s);
    uint8_t *buf = malloc(slen + 1);
    if (buf == NULL)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < slen; i++) {
        if (s[i] == '=')
            break;
        int d = b64_value((unsigned char)s[i]);
        if (d < 0) {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *len = o;
    return 0;
}

void vec_report(const vec_tally *t)
{
    printf("vectors %-28s ran %u, passed %u, failed %u, unsupported %u\n", t->kind, t->ran,
           t->passed, t->failed, t->unsupported);
}

void vec_mismatch(const char *path, const char *what, const uint8_t *got, size_t got_len,
                  const uint8_t *want, size_t want_len)
{
    fprintf(stderr, "  %s: %s mismatch\n    got  ", path, what);
    for (size_t i = 0; i < got_len; i++)
        fprintf(stderr, "%02x", got[i]);
    fprintf(stderr, "\n    want ");
    for (size_t i = 0; i < want_len; i++)
        fprintf(stderr, "%02x", want[i]);
    fprintf(stderr, "\n");
}

int vec_u64(json_t *obj, const char *name, uint64_t *out)
{
    json_t *v = json_object_get(obj, name);
    *out = 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -1;
        *out = (uint64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d < 0 || d != d)
            return -1;
        /* 2^64 and above (2^64-1 rounds up to 2^64 as a double) saturate. */
        *out = d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
        return 0;
    }
    return -1;
}
