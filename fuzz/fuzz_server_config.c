/* libFuzzer target: keywardd's configuration parser (server/config.c).
 * Byte 0 selects what the rest is:
 *   even  a config file for kw_config_load_file (written to a private temp
 *         file): only KW_ERR_FORMAT / KW_ERR_TOO_LARGE, TOO_LARGE only for a
 *         line over the line limit, never OK with a NUL byte or an
 *         over-long line in the file; an accepted file leaves every field
 *         within its bounds, and writing the resulting configuration back
 *         as a file and loading it again gives the same configuration;
 *         kw_config_finish then fails only with FORMAT / TOO_LARGE;
 *   odd   "key\0value" for kw_config_set: only KW_OK, KW_ERR_FORMAT or
 *         KW_ERR_NOT_FOUND (unknown key), and a failed set leaves the
 *         configuration unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINE_LIMIT 2048 /* CONFIG_LINE_MAX in config.c: a line of up to 2047 bytes, newline aside */

static char path[64];
static int fd = -1;

static void cleanup(void)
{
    if (path[0] != '\0')
        unlink(path);
}

static void setup_once(void)
{
    if (fd >= 0)
        return;
    if (kw_init() != KW_OK)
        abort();
    snprintf(path, sizeof(path), "/tmp/fuzz_server_config.XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        abort();
    atexit(cleanup);
}

static void put_file(const void *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
}

static void check_bounds(const kw_config *c)
{
    if (memchr(c->listen_addr, '\0', sizeof(c->listen_addr)) == NULL ||
        memchr(c->data_dir, '\0', sizeof(c->data_dir)) == NULL ||
        memchr(c->store, '\0', sizeof(c->store)) == NULL ||
        memchr(c->key_file, '\0', sizeof(c->key_file)) == NULL ||
        memchr(c->tls_cert, '\0', sizeof(c->tls_cert)) == NULL ||
        memchr(c->tls_key, '\0', sizeof(c->tls_key)) == NULL ||
        memchr(c->port_file, '\0', sizeof(c->port_file)) == NULL)
        abort();
    if (c->threads < 1 || c->threads > 256 || c->session_ttl < 60 ||
        c->session_ttl > 365LL * 24 * 3600 || c->listen_addr[0] == '\0' || c->data_dir[0] == '\0')
        abort();
}

/* The longest line (without its newline) of the input. */
static size_t longest_line(const uint8_t *d, size_t n)
{
    size_t best = 0, cur = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n') {
            cur = 0;
            continue;
        }
        if (++cur > best)
            best = cur;
    }
    return best;
}

static void dump(const kw_config *c, char *out, size_t cap)
{
    size_t o = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(out + o, cap - o, __VA_ARGS__);                                          \
        if (n_ < 0 || (size_t)n_ >= cap - o)                                                       \
            abort();                                                                               \
        o += (size_t)n_;                                                                           \
    } while (0)
    ADD("# regenerated\nlisten = %s:%u\n", c->listen_addr, (unsigned)c->port);
    ADD("data_dir = %s\n", c->data_dir);
    if (c->store[0] != '\0')
        ADD("store = %s\n", c->store);
    if (c->key_file[0] != '\0')
        ADD("key_file = %s\n", c->key_file);
    if (c->tls_cert[0] != '\0')
        ADD("tls_cert = %s\n", c->tls_cert);
    if (c->tls_key[0] != '\0')
        ADD("tls_key = %s\n", c->tls_key);
    if (c->port_file[0] != '\0')
        ADD("port_file = %s\n", c->port_file);
    ADD("threads = %u\nsession_ttl = %lld\nquiet = %s\ntest_faults = %s\n", c->threads,
        (long long)c->session_ttl, c->quiet ? "yes" : "no", c->test_faults ? "true" : "false");
    if (c->pending_logins_set)
        ADD("pending_logins = %s\n", c->pending_logins_memory ? "memory" : "store");
    for (size_t i = 0; i < c->next; i++)
        ADD("%s = %s\n", c->ext[i].key, c->ext[i].value);
#undef ADD
}

/* The area keys, in order, with their values. */
static bool same_ext(const kw_config *a, const kw_config *b)
{
    if (a->next != b->next)
        return false;
    for (size_t i = 0; i < a->next; i++)
        if (strcmp(a->ext[i].key, b->ext[i].key) != 0 || strcmp(a->ext[i].value, b->ext[i].value) != 0)
            return false;
    return true;
}

/* Field-wise equality (strings compare up to their NUL: the bytes after it
 * are whatever an earlier value left there). */
static bool same(const kw_config *a, const kw_config *b)
{
    return strcmp(a->listen_addr, b->listen_addr) == 0 && a->port == b->port &&
           strcmp(a->data_dir, b->data_dir) == 0 && strcmp(a->store, b->store) == 0 &&
           strcmp(a->key_file, b->key_file) == 0 && strcmp(a->tls_cert, b->tls_cert) == 0 &&
           strcmp(a->tls_key, b->tls_key) == 0 && strcmp(a->port_file, b->port_file) == 0 &&
           a->threads == b->threads && a->session_ttl == b->session_ttl && a->quiet == b->quiet &&
           a->test_faults == b->test_faults &&
           a->pending_logins_memory == b->pending_logins_memory &&
           a->pending_logins_set == b->pending_logins_set && same_ext(a, b);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
    kw_config c, d;
    kw_config_defaults(&c);
    put_file(data, size);
    int r = kw_config_load_file(&c, path);
    if (r == KW_ERR_TOO_LARGE) {
        if (longest_line(data, size) < LINE_LIMIT - 1)
            abort();
        return;
    }
    if (r == KW_ERR_FORMAT)
        return;
    if (r != KW_OK || memchr(data, '\0', size) != NULL || longest_line(data, size) >= LINE_LIMIT)
        abort();
    check_bounds(&c);
    static char text[8 * 1024 + 8 * 1100 + KW_CONFIG_EXT_MAX * (64 + KW_CONFIG_PATH_MAX + 8)];
    dump(&c, text, sizeof(text));
    put_file(text, strlen(text));
    kw_config_defaults(&d);
    snprintf(d.listen_addr, sizeof(d.listen_addr), "x"); /* the file sets it */
    if (kw_config_load_file(&d, path) != KW_OK || !same(&c, &d))
        abort();
    r = kw_config_finish(&c);
    if (r != KW_OK && r != KW_ERR_FORMAT && r != KW_ERR_TOO_LARGE)
        abort();
    if (r == KW_OK && (c.store[0] == '\0' || c.key_file[0] == '\0'))
        abort();
}

static void fuzz_set(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 2);
    memcpy(s, data, size);
    s[size] = '\0';
    s[size + 1] = '\0';
    const char *key = s, *value = s + strlen(s) + 1;
    kw_config c, before;
    kw_config_defaults(&c);
    before = c;
    int r = kw_config_set(&c, key, value);
    if (r == KW_OK)
        check_bounds(&c);
    else if (r != KW_ERR_FORMAT && r != KW_ERR_NOT_FOUND)
        abort();
    else if (memcmp(&c, &before, sizeof(c)) != 0)
        abort();
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size == 0 || size > 64 * 1024)
        return 0;
    if ((data[0] & 1) == 0)
        fuzz_file(data + 1, size - 1);
    else
        fuzz_set(data + 1, size - 1);
    return 0;
}
