/*
 * Integration: large records through the O_DIRECT paths (real keyward CLI,
 * real keywardd, chunk files on the real file system).
 *
 * keywardd writes the block-aligned part of every large chunk with O_DIRECT
 * and the unaligned tail (the piece's overhead) buffered; the client writes a
 * large download's output with O_DIRECT, its last piece's unaligned tail
 * buffered, and falls back to buffered writes where the file system refuses
 * (tmpfs). Checked here: files of sizes on and off the block and piece
 * boundaries come back byte for byte, into an ext4 directory and into
 * /dev/shm; every chunk on disk has exactly its sealed length and no
 * temporary file is left; and (negative) a byte flipped on disk, in the part
 * written with O_DIRECT or in the buffered tail, makes the download fail
 * verification with no output file and no temporary file left behind.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/record.h"
#include "util/harness.h"

#define PASSWORD "correct horse battery staple"
#define MIB (1024u * 1024u)

static kw_it_server srv;
static char *prof;
static char workdir[400];

static kw_it_result cli_expect(int expect, const char *const *args)
{
    kw_it_result r = kw_it_cli(&srv, prof, NULL, args);
    if (r.status != expect)
        kw_it_dump(args[1] != NULL ? args[1] : args[0], &r);
    assert_int_equal(r.status, expect);
    return r;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void assert_file_is(const char *path, const uint8_t *data, size_t len)
{
    size_t got = 0;
    uint8_t *b = read_file(path, &got);
    assert_int_equal(got, len);
    assert_memory_equal(b, data, len);
    free(b);
}

/* Files in dir whose name contains part. */
static size_t count_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part) != NULL)
            n++;
    closedir(d);
    return n;
}

/* The chunk directory written last (the newest modification time). */
static void newest_chunk_dir(char *out, size_t cap)
{
    char chunks[500];
    struct timespec best = {0, 0};
    out[0] = '\0';
    snprintf(chunks, sizeof(chunks), "%s/data/chunks", srv.dir);
    DIR *top = opendir(chunks);
    assert_non_null(top);
    struct dirent *p;
    while ((p = readdir(top)) != NULL) {
        if (p->d_name[0] == '.')
            continue;
        char sub[800];
        snprintf(sub, sizeof(sub), "%s/%s", chunks, p->d_name);
        DIR *d = opendir(sub);
        if (d == NULL)
            continue;
        struct dirent *q;
        while ((q = readdir(d)) != NULL) {
            char obj[1200];
            struct stat sb;
            if (q->d_name[0] == '.')
                continue;
            snprintf(obj, sizeof(obj), "%s/%s", sub, q->d_name);
            if (stat(obj, &sb) == 0 && S_ISDIR(sb.st_mode) &&
                (sb.st_mtim.tv_sec > best.tv_sec ||
                 (sb.st_mtim.tv_sec == best.tv_sec && sb.st_mtim.tv_nsec > best.tv_nsec))) {
                best = sb.st_mtim;
                snprintf(out, cap, "%s", obj);
            }
        }
        closedir(d);
    }
    closedir(top);
    assert_true(out[0] != '\0');
}

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof = kw_it_profile(&srv, "A");
    snprintf(workdir, sizeof(workdir), "%s/work", srv.dir);
    mkdir(workdir, 0700);
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof);
    return 0;
}

static void test_account(void **state)
{
    (void)state;
    const char *mk[] = {"--json", "account", "create", "dora", "--device-name", "laptop", NULL};
    kw_it_result r = cli_expect(0, mk);
    kw_it_result_free(&r);
}

/* Round trips of sizes on and off the 4 KiB block and 1 MiB piece
 * boundaries, into ext4 (O_DIRECT) and tmpfs (refused there or not: the
 * bytes must be the same), with every chunk of its exact sealed length. */
static void test_roundtrip_sizes(void **state)
{
    (void)state;
    const size_t sizes[] = {8 * MIB, 9 * MIB + 1234, 12 * MIB + 1, 10 * MIB + 4096};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len = sizes[k];
        char name[64], src[600], out[600], shm[600];
        snprintf(name, sizeof(name), "direct-%zu.bin", k);
        snprintf(src, sizeof(src), "%s/%s", workdir, name);
        snprintf(out, sizeof(out), "%s/%s.out", workdir, name);
        snprintf(shm, sizeof(shm), "/dev/shm/kw-direct-%d-%zu.out", (int)getpid(), k);
        uint8_t *data = malloc(len);
        assert_non_null(data);
        randombytes_buf(data, len);
        write_file(src, data, len);
        const char *put[] = {"--json", "put", "drive", src, NULL};
        kw_it_result r = cli_expect(0, put);
        assert_int_equal(json_integer_value(json_object_get(r.json, "size")), (json_int_t)len);
        kw_it_result_free(&r);

        /* the chunks on disk: all of one sealed piece's length but the last,
         * which is not longer; no temporary file left */
        char obj[1200];
        newest_chunk_dir(obj, sizeof(obj));
        assert_int_equal(count_named(obj, ".tmp"), 0);
        size_t nchunks = 0;
        for (;; nchunks++) {
            char path[1300];
            struct stat sb;
            snprintf(path, sizeof(path), "%s/%zu", obj, nchunks);
            if (stat(path, &sb) != 0)
                break;
            if (nchunks == 0)
                assert_int_equal((uint64_t)sb.st_size, (uint64_t)MIB + KW_RECORD_PIECE_OVERHEAD);
            else
                assert_true((uint64_t)sb.st_size <= (uint64_t)MIB + KW_RECORD_PIECE_OVERHEAD);
        }
        assert_true(nchunks >= len / MIB);

        const char *get[] = {"--json", "get", "drive", name, "-o", out, NULL};
        r = cli_expect(0, get);
        kw_it_result_free(&r);
        assert_file_is(out, data, len);
        assert_int_equal(count_named(workdir, ".kwtmp-"), 0);
        const char *gets[] = {"--json", "get", "drive", name, "-o", shm, NULL};
        r = cli_expect(0, gets);
        kw_it_result_free(&r);
        assert_file_is(shm, data, len);
        unlink(shm);
        unlink(out);
        free(data);
    }
}

/* Flips one byte of a stored chunk at offset off (from its start, or from
 * its end when from_end). */
static void flip_chunk_byte(const char *obj, unsigned chunk, long off, bool from_end)
{
    char path[1300];
    snprintf(path, sizeof(path), "%s/%u", obj, chunk);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, from_end ? SEEK_END : SEEK_SET), 0);
    int c = fgetc(f);
    assert_true(c != EOF);
    assert_int_equal(fseek(f, -1, SEEK_CUR), 0);
    assert_int_not_equal(fputc(c ^ 0x40, f), EOF);
    assert_int_equal(fclose(f), 0);
}

/* Negative: a byte changed on disk in the O_DIRECT part of a chunk, or in
 * its buffered tail, is caught; the large output is never left behind. */
static void test_tampered_chunk_refused(void **state)
{
    (void)state;
    for (int where = 0; where < 2; where++) {
        size_t len = 9 * MIB + 777;
        char name[64], src[600], out[600];
        snprintf(name, sizeof(name), "tamper-%d.bin", where);
        snprintf(src, sizeof(src), "%s/%s", workdir, name);
        snprintf(out, sizeof(out), "%s/%s.out", workdir, name);
        uint8_t *data = malloc(len);
        assert_non_null(data);
        randombytes_buf(data, len);
        write_file(src, data, len);
        free(data);
        const char *put[] = {"--json", "put", "drive", src, NULL};
        kw_it_result r = cli_expect(0, put);
        kw_it_result_free(&r);
        char obj[1200];
        newest_chunk_dir(obj, sizeof(obj));
        /* chunk 3's middle (written with O_DIRECT) or chunk 5's last byte (the tail) */
        if (where == 0)
            flip_chunk_byte(obj, 3, (long)(MIB / 2), false);
        else
            flip_chunk_byte(obj, 5, -1, true);
        const char *get[] = {"--json", "get", "drive", name, "-o", out, NULL};
        r = cli_expect(2, get);
        kw_it_result_free(&r);
        assert_int_not_equal(access(out, F_OK), 0);
        assert_int_equal(count_named(workdir, ".kwtmp-"), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account),
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_tampered_chunk_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
