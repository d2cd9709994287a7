/* libFuzzer target: keywardd's key file (server/keys.c,
 * kw_server_keys_load), read from a private temp file. Byte 0 selects:
 *   even  the rest is the whole file, as found on disk: the only errors are
 *         KW_ERR_FORMAT (and the file is never rewritten); a file that
 *         loads is exactly magic ‖ keys ‖ BLAKE2b-256 of both;
 *   odd   the rest gives the key fields, and the target adds the magic and
 *         a correct checksum, so the loader's acceptance of the contents is
 *         exercised: such a file must load and give back exactly those
 *         bytes; flipping any one bit of it must make it fail.
 * Loaded keys are read back through the read-only mapping and freed. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAGIC "KWSK1\n"
#define MAGIC_LEN 6
#define FILE_LEN (MAGIC_LEN + sizeof(kw_server_keys) + 32)

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
    snprintf(path, sizeof(path), "/tmp/fuzz_server_keys.XXXXXX");
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

static int file_is(const void *data, size_t size)
{
    struct stat st;
    uint8_t buf[FILE_LEN + 1];
    if (fstat(fd, &st) != 0 || (size_t)st.st_size != size)
        return 0;
    if (size > sizeof(buf))
        return 1; /* size matches; large files are not compared */
    return pread(fd, buf, size, 0) == (ssize_t)size && memcmp(buf, data, size) == 0;
}

/* Loads and checks the outcome: 1 when loaded (and equal to file). */
static int load(const uint8_t *file, size_t size)
{
    kw_server_keys *k = (kw_server_keys *)(uintptr_t)1;
    put_file(file, size);
    int r = kw_server_keys_load(path, &k);
    if (!file_is(file, size)) /* a present file is never rewritten */
        abort();
    if (r != KW_OK) {
        if (r != KW_ERR_FORMAT || k != NULL)
            abort();
        return 0;
    }
    if (k == NULL || size != FILE_LEN || memcmp(file, MAGIC, MAGIC_LEN) != 0 ||
        memcmp(k, file + MAGIC_LEN, sizeof(*k)) != 0)
        abort();
    uint8_t sum[32];
    crypto_generichash(sum, sizeof(sum), file, FILE_LEN - 32, NULL, 0);
    if (memcmp(sum, file + FILE_LEN - 32, 32) != 0)
        abort();
    kw_server_keys_free(&k);
    if (k != NULL)
        abort();
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size == 0 || size > 4096)
        return 0;
    if ((data[0] & 1) == 0) {
        (void)load(data + 1, size - 1);
        return 0;
    }
    uint8_t file[FILE_LEN];
    memset(file, 0, sizeof(file));
    memcpy(file, MAGIC, MAGIC_LEN);
    size_t n = size - 1 < sizeof(kw_server_keys) ? size - 1 : sizeof(kw_server_keys);
    memcpy(file + MAGIC_LEN, data + 1, n);
    crypto_generichash(file + FILE_LEN - 32, 32, file, FILE_LEN - 32, NULL, 0);
    if (!load(file, sizeof(file)))
        abort();
    /* one flipped bit, chosen by the input, anywhere in the file */
    size_t bit = 0;
    for (size_t i = 1; i < size; i++)
        bit = bit * 31 + data[i];
    bit %= 8 * sizeof(file);
    file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    if (load(file, sizeof(file)))
        abort();
    /* one byte more or less */
    uint8_t longer[FILE_LEN + 1];
    file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    memcpy(longer, file, sizeof(file));
    longer[FILE_LEN] = data[0];
    if (load(longer, sizeof(longer)) || load(file, sizeof(file) - 1))
        abort();
    return 0;
}
