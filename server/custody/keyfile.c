/*
 * The key-file custody provider: a random 256-bit key in a file of the data
 * directory (mode 0600, written durably: temporary file, fsync, rename,
 * fsync of the directory), XChaCha20-Poly1305 with a random nonce.
 *
 * File format: "KWCK1\n" ‖ key[32] (exactly 38 bytes; anything else is
 * refused rather than replaced, so a damaged file never silently orphans
 * the wraps made under the old key).
 */
#include "custody/custody.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "keyward/err.h"

#define KF_MAGIC "KWCK1\n"
#define KF_MAGIC_LEN 6
#define KF_LEN (KF_MAGIC_LEN + 32)
#define KF_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KF_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

static int kf_seal(void *impl, const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t pt_len,
                   uint8_t *out, size_t out_cap, size_t *out_len)
{
    const uint8_t *key = impl;
    unsigned long long clen = 0;
    if (out_cap < KF_NONCE + pt_len + KF_TAG)
        return KW_ERR_TOO_LARGE;
    randombytes_buf(out, KF_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + KF_NONCE, &clen, pt, pt_len, ad, ad_len, NULL,
                                               out, key);
    *out_len = KF_NONCE + (size_t)clen;
    return KW_OK;
}

static int kf_open(void *impl, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len,
                   uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
    const uint8_t *key = impl;
    unsigned long long mlen = 0;
    if (in_len < KF_NONCE + KF_TAG)
        return KW_ERR_VERIFY;
    if (pt_cap < in_len - KF_NONCE - KF_TAG)
        return KW_ERR_TOO_LARGE;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, in + KF_NONCE, in_len - KF_NONCE,
                                                   ad, ad_len, in, key) != 0)
        return KW_ERR_VERIFY;
    *pt_len = (size_t)mlen;
    return KW_OK;
}

static void kf_close(void *impl)
{
    if (impl != NULL)
        sodium_free(impl);
}

static const kw_custody_provider keyfile_provider = {"keyfile", 0x01, kf_seal, kf_open, kf_close};

static int read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return KW_ERR_FORMAT;
        p += got;
        n -= (size_t)got;
    }
    return KW_OK;
}

/* Creates the key file durably; KW_ERR_CONFLICT when another process made
 * it meanwhile. */
static int kf_create(const char *path, const uint8_t file[KF_LEN])
{
    char tmp[PATH_MAX + 8], dirbuf[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return KW_ERR_INVALID_ARG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return KW_ERR_SYSTEM;
    size_t off = 0;
    int r = KW_OK;
    while (off < KF_LEN && r == KW_OK) {
        ssize_t w = write(fd, file + off, KF_LEN - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            r = KW_ERR_SYSTEM;
        else
            off += (size_t)w;
    }
    if (r == KW_OK && fsync(fd) != 0)
        r = KW_ERR_SYSTEM;
    close(fd);
    /* link() fails when the target exists: never replace a key file */
    if (r == KW_OK && link(tmp, path) != 0)
        r = errno == EEXIST ? KW_ERR_CONFLICT : KW_ERR_SYSTEM;
    unlink(tmp);
    if (r != KW_OK)
        return r;
    snprintf(dirbuf, sizeof(dirbuf), "%s", path);
    int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            r = KW_ERR_SYSTEM;
        close(dfd);
    }
    return r;
}

int kw_custody_keyfile_open(void **impl, const kw_custody_provider **prov, const kw_config *cfg,
                            const char *data_dir)
{
    char path[PATH_MAX];
    uint8_t file[KF_LEN];
    const char *given = kw_config_get(cfg, "custody.key_file");
    int r = KW_ERR_INTERNAL;
    *impl = NULL;
    if (given != NULL)
        snprintf(path, sizeof(path), "%s", given);
    else if (snprintf(path, sizeof(path), "%s/custody.key", data_dir) >= (int)sizeof(path))
        return KW_ERR_INVALID_ARG;
    uint8_t *key = sodium_malloc(32);
    if (key == NULL)
        return KW_ERR_NOMEM;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st;
            r = fstat(fd, &st) == 0 && st.st_size == KF_LEN ? read_exact(fd, file, KF_LEN)
                                                           : KW_ERR_FORMAT;
            close(fd);
            if (r == KW_OK && memcmp(file, KF_MAGIC, KF_MAGIC_LEN) != 0)
                r = KW_ERR_FORMAT;
            if (r == KW_OK && (st.st_mode & 077) != 0) {
                fprintf(stderr, "level=error event=custody key=custody.key_file "
                                "error=\"the key file is readable by others (want mode 0600)\"\n");
                r = KW_ERR_INVALID_ARG;
            }
            if (r == KW_ERR_FORMAT)
                fprintf(stderr, "level=error event=custody key=custody.key_file error=\"damaged key "
                                "file\"\n");
            break;
        }
        if (errno != ENOENT) {
            fprintf(stderr, "level=error event=custody key=custody.key_file error=\"%s\"\n",
                    strerror(errno));
            r = KW_ERR_SYSTEM;
            break;
        }
        memcpy(file, KF_MAGIC, KF_MAGIC_LEN);
        randombytes_buf(file + KF_MAGIC_LEN, 32);
        r = kf_create(path, file);
        if (r == KW_OK)
            break;
        if (r != KW_ERR_CONFLICT) {
            fprintf(stderr, "level=error event=custody key=custody.key_file error=\"cannot create\"\n");
            break;
        }
    }
    if (r == KW_OK) {
        memcpy(key, file + KF_MAGIC_LEN, 32);
        *impl = key;
        *prov = &keyfile_provider;
    } else {
        sodium_free(key);
    }
    sodium_memzero(file, sizeof(file));
    return r;
}
