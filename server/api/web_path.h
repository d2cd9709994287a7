/*
 * server/api/web_path.h — the file half of the web page's static serving
 * (web.c): which names may be served, with which content type, and reading
 * one regular file of the page directory with a size limit.
 *
 * A servable name is 1..KW_WEB_NAME_MAX bytes of [A-Za-z0-9_-] groups
 * joined by single dots, not starting or ending with a dot (so no "..", no
 * '/', no hidden files), with an extension from a fixed list. Files are
 * opened with O_NOFOLLOW (a symbolic link is refused), must be regular,
 * non-empty and at most `max` bytes.
 * Errors: KW_ERR_NOT_FOUND (name refused, missing, not a regular file,
 * empty), KW_ERR_TOO_LARGE, KW_ERR_SYSTEM (read error or a file that
 * changed while read), KW_ERR_NOMEM. Thread-safe; nothing secret.
 */
#ifndef KEYWARD_SERVER_API_WEB_PATH_H
#define KEYWARD_SERVER_API_WEB_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define KW_WEB_NAME_MAX 64

/* Whether name may be served (the rule above, extension not checked). */
bool kw_web_name_ok(const char *name);

/* The content type for name's extension, or NULL when not served. */
const char *kw_web_content_type(const char *name);

/* Reads dir/name into *buf (malloc'd, NUL-terminated after *len bytes) and
 * sets *type. On error *buf is NULL. */
int kw_web_read_file(const char *dir, const char *name, size_t max, char **buf, size_t *len,
                     const char **type);

#endif
