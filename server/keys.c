#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyward/err.h"

#define KEYS_MAGIC "KWSK1\n"
#define KEYS_MAGIC_LEN 6
#define KEYS_FILE_LEN (KEYS_MAGIC_LEN + sizeof(kw_server_keys) + 32)

static void keys_generate(kw_server_keys *k)
{
    randombytes_buf(k->oprf_seed, sizeof(k->oprf_seed));
    crypto_core_ristretto255_scalar_random(k->opaque_sk);
    crypto_scalarmult_ristretto255_base(k->opaque_pk, k->opaque_sk);
    randombytes_buf(k->totp_key, sizeof(k->totp_key));
    randombytes_buf(k->code_key, sizeof(k->code_key));
    randombytes_buf(k->kt_seed, sizeof(k->kt_seed));
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return KW_ERR_SYSTEM;
        p += w;
        n -= (size_t)w;
    }
    return KW_OK;
}

/* Writes the file durably: temporary file, fsync, rename, fsync directory. */
static int keys_store(const char *path, const uint8_t *file, size_t len)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return KW_ERR_INVALID_ARG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return KW_ERR_SYSTEM;
    int r = write_all(fd, file, len);
    if (r == KW_OK && fsync(fd) != 0)
        r = KW_ERR_SYSTEM;
    close(fd);
    if (r == KW_OK && rename(tmp, path) != 0)
        r = KW_ERR_SYSTEM;
    if (r != KW_OK) {
        unlink(tmp);
        return r;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        int dfd = open(dir[0] != '\0' ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return KW_OK;
}

int kw_server_keys_load(const char *path, kw_server_keys **out)
{
    uint8_t file[KEYS_FILE_LEN + 1];
    uint8_t sum[32];
    int r = KW_ERR_INTERNAL;
    *out = NULL;
    kw_server_keys *k = sodium_malloc(sizeof(*k));
    if (k == NULL)
        return KW_ERR_NOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        keys_generate(k);
        memcpy(file, KEYS_MAGIC, KEYS_MAGIC_LEN);
        memcpy(file + KEYS_MAGIC_LEN, k, sizeof(*k));
        crypto_generichash(file + KEYS_FILE_LEN - 32, 32, file, KEYS_FILE_LEN - 32, NULL, 0);
        r = keys_store(path, file, KEYS_FILE_LEN);
        goto out;
    }
    if (fd < 0) {
        r = KW_ERR_SYSTEM;
        goto out;
    }
    ssize_t n = read(fd, file, sizeof(file));
    close(fd);
    if (n != (ssize_t)KEYS_FILE_LEN || memcmp(file, KEYS_MAGIC, KEYS_MAGIC_LEN) != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    crypto_generichash(sum, sizeof(sum), file, KEYS_FILE_LEN - 32, NULL, 0);
    if (sodium_memcmp(sum, file + KEYS_FILE_LEN - 32, 32) != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    memcpy(k, file + KEYS_MAGIC_LEN, sizeof(*k));
    r = KW_OK;
out:
    sodium_memzero(file, sizeof(file));
    if (r != KW_OK) {
        sodium_free(k);
        return r;
    }
    sodium_mprotect_readonly(k);
    *out = k;
    return KW_OK;
}

void kw_server_keys_free(kw_server_keys **keys)
{
    if (keys == NULL || *keys == NULL)
        return;
    sodium_free(*keys); /* sodium_free wipes */
    *keys = NULL;
}
