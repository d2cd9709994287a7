#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"

#define CONFIG_LINE_MAX 2048

void kw_config_defaults(kw_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen_addr, sizeof(c->listen_addr), "127.0.0.1");
    c->port = 8443;
    snprintf(c->data_dir, sizeof(c->data_dir), "./keyward-data");
    c->threads = 4;
    c->session_ttl = 30 * 24 * 3600;
    c->kt_epoch_ms = 1000;
}

static int set_path(char *dst, const char *value)
{
    size_t n = strlen(value);
    if (n == 0 || n >= KW_CONFIG_PATH_MAX)
        return KW_ERR_FORMAT;
    memcpy(dst, value, n + 1);
    return KW_OK;
}

static int parse_uint(const char *value, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (value[0] < '0' || value[0] > '9')
        return KW_ERR_FORMAT;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return KW_ERR_FORMAT;
    *out = v;
    return KW_OK;
}

static int parse_bool(const char *value, bool *out)
{
    if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
        *out = true;
    else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
        *out = false;
    else
        return KW_ERR_FORMAT;
    return KW_OK;
}

/* Area keys: "<area>.<name>", lower-case letters, digits and '_' around
 * exactly one dot; a later value replaces an earlier one. */
static int config_set_ext(kw_config *c, const char *key, const char *value)
{
    const char *dot = strchr(key, '.');
    size_t klen = strlen(key);
    if (dot == NULL || dot == key || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
        return KW_ERR_NOT_FOUND;
    for (const char *p = key; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return KW_ERR_NOT_FOUND;
    if (klen >= sizeof(c->ext[0].key))
        return KW_ERR_NOT_FOUND; /* no area key is that long */
    if (strlen(value) >= sizeof(c->ext[0].value))
        return KW_ERR_FORMAT;
    size_t i = 0;
    while (i < c->next && strcmp(c->ext[i].key, key) != 0)
        i++;
    if (i == c->next) {
        if (c->next == KW_CONFIG_EXT_MAX)
            return KW_ERR_FORMAT; /* more area keys than any deployment needs */
        c->next++;
    }
    memcpy(c->ext[i].key, key, klen + 1);
    memcpy(c->ext[i].value, value, strlen(value) + 1);
    return KW_OK;
}

int kw_config_set(kw_config *c, const char *key, const char *value)
{
    unsigned long long v;
    int r;
    if (strcmp(key, "listen") == 0) {
        /* ADDR:PORT */
        const char *colon = strrchr(value, ':');
        if (colon == NULL || (size_t)(colon - value) >= sizeof(c->listen_addr) || colon == value)
            return KW_ERR_FORMAT;
        if ((r = parse_uint(colon + 1, 65535, &v)) != KW_OK)
            return r;
        memcpy(c->listen_addr, value, (size_t)(colon - value));
        c->listen_addr[colon - value] = '\0';
        c->port = (uint16_t)v;
        return KW_OK;
    }
    if (strcmp(key, "data_dir") == 0)
        return set_path(c->data_dir, value);
    if (strcmp(key, "store") == 0)
        return set_path(c->store, value);
    if (strcmp(key, "key_file") == 0)
        return set_path(c->key_file, value);
    if (strcmp(key, "tls_cert") == 0)
        return set_path(c->tls_cert, value);
    if (strcmp(key, "tls_key") == 0)
        return set_path(c->tls_key, value);
    if (strcmp(key, "port_file") == 0)
        return set_path(c->port_file, value);
    if (strcmp(key, "threads") == 0) {
        if ((r = parse_uint(value, 256, &v)) != KW_OK || v == 0)
            return KW_ERR_FORMAT;
        c->threads = (unsigned)v;
        return KW_OK;
    }
    if (strcmp(key, "session_ttl") == 0) {
        if ((r = parse_uint(value, 365ULL * 24 * 3600, &v)) != KW_OK || v < 60)
            return KW_ERR_FORMAT;
        c->session_ttl = (int64_t)v;
        return KW_OK;
    }
    if (strcmp(key, "kt_epoch_ms") == 0) {
        if ((r = parse_uint(value, 3600ULL * 1000, &v)) != KW_OK || v < 10)
            return KW_ERR_FORMAT;
        c->kt_epoch_ms = (int64_t)v;
        return KW_OK;
    }
    if (strcmp(key, "quiet") == 0)
        return parse_bool(value, &c->quiet);
    if (strcmp(key, "test_faults") == 0)
        return parse_bool(value, &c->test_faults);
    if (strcmp(key, "pending_logins") == 0) {
        if (strcmp(value, "memory") == 0)
            c->pending_logins_memory = true;
        else if (strcmp(value, "store") == 0)
            c->pending_logins_memory = false;
        else
            return KW_ERR_FORMAT;
        c->pending_logins_set = true;
        return KW_OK;
    }
    return config_set_ext(c, key, value);
}

const char *kw_config_get(const kw_config *c, const char *key)
{
    for (size_t i = 0; i < c->next; i++)
        if (strcmp(c->ext[i].key, key) == 0)
            return c->ext[i].value;
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Reads one line, without its newline, into line (cap bytes with the NUL):
 * 1 when a line was read, 0 at end of file, KW_ERR_TOO_LARGE when it does
 * not fit, KW_ERR_FORMAT for a NUL byte (it would silently cut the line
 * short), KW_ERR_SYSTEM on a read error. */
static int read_line(FILE *f, char *line, size_t cap)
{
    size_t n = 0;
    int ch, any = 0;
    while ((ch = getc(f)) != EOF) {
        any = 1;
        if (ch == '\n')
            break;
        if (ch == '\0')
            return KW_ERR_FORMAT;
        if (n + 1 >= cap)
            return KW_ERR_TOO_LARGE;
        line[n++] = (char)ch;
    }
    if (ch == EOF && ferror(f))
        return KW_ERR_SYSTEM;
    line[n] = '\0';
    return any;
}

int kw_config_load_file(kw_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "keywardd: cannot open config %s: %s\n", path, strerror(errno));
        return KW_ERR_SYSTEM;
    }
    char line[CONFIG_LINE_MAX];
    unsigned lineno = 0;
    int r = KW_OK, got;
    while ((got = read_line(f, line, sizeof(line))) != 0) {
        lineno++;
        if (got < 0) {
            fprintf(stderr, "keywardd: %s:%u: %s\n", path, lineno,
                    got == KW_ERR_TOO_LARGE ? "line too long"
                    : got == KW_ERR_FORMAT  ? "NUL byte in line"
                                            : "read error");
            r = got;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            fprintf(stderr, "keywardd: %s:%u: expected key = value\n", path, lineno);
            r = KW_ERR_FORMAT;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        int e = kw_config_set(c, key, value);
        if (e != KW_OK) {
            fprintf(stderr, "keywardd: %s:%u: %s '%s'\n", path, lineno,
                    e == KW_ERR_NOT_FOUND ? "unknown key" : "bad value for", key);
            r = e == KW_ERR_NOT_FOUND ? KW_ERR_FORMAT : e;
            break;
        }
    }
    fclose(f);
    return r;
}

int kw_config_finish(kw_config *c)
{
    if (c->store[0] == '\0' &&
        snprintf(c->store, sizeof(c->store), "sqlite:%s/keyward.db", c->data_dir) >= (int)sizeof(c->store))
        return KW_ERR_TOO_LARGE;
    /* A SQLite store serves exactly one keywardd, so pending sign-ins can wait
     * in memory (saving two durable commits per login); a shared store keeps
     * them in the database so any node can finish them. */
    if (!c->pending_logins_set)
        c->pending_logins_memory = strncmp(c->store, "sqlite:", 7) == 0 || strstr(c->store, "://") == NULL;
    if (c->key_file[0] == '\0' &&
        snprintf(c->key_file, sizeof(c->key_file), "%s/server.key", c->data_dir) >= (int)sizeof(c->key_file))
        return KW_ERR_TOO_LARGE;
    if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
        fprintf(stderr, "keywardd: tls_cert and tls_key go together\n");
        return KW_ERR_FORMAT;
    }
    if (c->tls_cert[0] == '\0' && strncmp(c->listen_addr, "127.", 4) != 0) {
        fprintf(stderr, "keywardd: plain HTTP is allowed on loopback only; set tls_cert and tls_key\n");
        return KW_ERR_FORMAT;
    }
    if (c->test_faults) {
        const char *env = getenv("KEYWARD_TEST_FAULTS");
        if (env == NULL || strcmp(env, "1") != 0) {
            fprintf(stderr, "keywardd: test_faults needs KEYWARD_TEST_FAULTS=1 in the environment\n");
            return KW_ERR_FORMAT;
        }
    }
    return KW_OK;
}
