/*
 * server/api/web_path.c — names, content types and file reads of the web
 * page's static serving (web_path.h). Fuzzed by fuzz/fuzz_server_webpath.c.
 */
#include "api/web_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyward/err.h"

const char *kw_web_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
        {".wasm", "application/wasm"}, /* no .json: package files live in the same folder */
    };
    const char *dot = strrchr(name, '.');
    if (dot == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

bool kw_web_name_ok(const char *name)
{
    size_t n = strnlen(name, KW_WEB_NAME_MAX + 1);
    if (n == 0 || n > KW_WEB_NAME_MAX || name[0] == '.' || name[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (c == '.' && name[i + 1] != '.');
        if (!ok)
            return false;
    }
    return true;
}

int kw_web_read_file(const char *dir, const char *name, size_t max, char **buf, size_t *len,
                     const char **type)
{
    char path[PATH_MAX];
    struct stat st;
    int fd = -1, r = KW_ERR_NOT_FOUND;
    char *b = NULL;
    *buf = NULL;
    *len = 0;
    *type = kw_web_content_type(name);
    if (!kw_web_name_ok(name) || *type == NULL ||
        (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return KW_ERR_NOT_FOUND;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return KW_ERR_NOT_FOUND;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
        goto out;
    if ((unsigned long long)st.st_size > max) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    size_t size = (size_t)st.st_size, got = 0;
    if ((b = malloc(size + 1)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    while (got < size) {
        ssize_t k = read(fd, b + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    if (got != size) { /* shrank under us, or an I/O error */
        r = KW_ERR_SYSTEM;
        goto out;
    }
    b[size] = '\0';
    *buf = b;
    *len = size;
    b = NULL;
    r = KW_OK;
out:
    free(b);
    close(fd);
    return r;
}
