/* libFuzzer target: the web page's static-file name check and file read
 * (server/api/web_path.c, included here: the server fuzz rule links only
 * config.c and keys.c). Input: a file name (cut at the first NUL, at most
 * 200 bytes). A fixed directory holds servable files, a hidden file, a
 * symbolic link to /etc/passwd, a subdirectory, an empty file and a file
 * over the limit. Checks: whatever is served is a regular, non-empty file
 * of that directory whose name passes kw_web_name_ok (no '/', no "..", no
 * leading dot) and has a content type; the link, the hidden file, the
 * directory and the empty file are never served; the big file is
 * KW_ERR_TOO_LARGE; the bytes read equal the file's. */
#include "api/web_path.c"

#include <assert.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIMIT 4096

static char dir[64];

static void put(const char *name, const char *text, size_t len)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f == NULL)
        abort();
    if (len > 0 && fwrite(text, 1, len, f) != len)
        abort();
    fclose(f);
}

static void setup_dir(void)
{
    static char big[LIMIT + 1];
    char p[256];
    snprintf(dir, sizeof(dir), "/tmp/kw-fuzz-web-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    put("index.html", "<!doctype html>", 15);
    put("app.js", "export {}", 9);
    put("a.b.css", "x{}", 3);
    put(".hidden.js", "secret", 6);
    put("empty.css", "", 0);
    memset(big, 'x', sizeof(big));
    put("big.js", big, sizeof(big));
    snprintf(p, sizeof(p), "%s/link.js", dir);
    if (symlink("/etc/passwd", p) != 0)
        abort();
    snprintf(p, sizeof(p), "%s/sub.js", dir);
    if (mkdir(p, 0700) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char name[201];
    if (!ready) {
        setup_dir();
        ready = 1;
    }
    size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
    memcpy(name, data, n);
    name[n] = '\0';
    char *buf = NULL;
    size_t len = 0;
    const char *type = NULL;
    int r = kw_web_read_file(dir, name, LIMIT, &buf, &len, &type);
    if (r == KW_OK) {
        assert(kw_web_name_ok(name) && type != NULL && len > 0 && buf[len] == '\0');
        assert(strchr(name, '/') == NULL && strstr(name, "..") == NULL && name[0] != '.');
        assert(strcmp(name, "link.js") != 0 && strcmp(name, "sub.js") != 0 &&
               strcmp(name, "empty.css") != 0 && strcmp(name, "big.js") != 0);
        assert(strstr(buf, "root:") == NULL && strcmp(buf, "secret") != 0);
        if (strcmp(name, "app.js") == 0)
            assert(len == 9 && memcmp(buf, "export {}", 9) == 0);
        free(buf);
    } else {
        assert(buf == NULL && len == 0);
        assert(r == KW_ERR_NOT_FOUND || (r == KW_ERR_TOO_LARGE && strcmp(name, "big.js") == 0));
    }
    if (strcmp(name, "big.js") == 0)
        assert(r == KW_ERR_TOO_LARGE);
    /* the name rule never lets a path separator or a dot-dot through */
    if (kw_web_name_ok(name))
        assert(strchr(name, '/') == NULL && strstr(name, "..") == NULL && strlen(name) <= KW_WEB_NAME_MAX);
    return 0;
}
