/*
 * kill -9 of keywardd around record writes (DESIGN.md "Storage": every
 * acknowledged write survives a crash; nothing is half-written).
 *
 *   (a) five records acknowledged to the CLI, then the server killed with
 *       SIGKILL at once: after a restart all five read back intact;
 *   (b) a 24 MiB upload running in another process, the server killed with
 *       SIGKILL once at least two pieces are on disk: after a restart the
 *       record is not visible at all (no half record), the pieces already
 *       acknowledged are still there (the restart's garbage collection keeps
 *       a live upload), and the same put resumes and completes; the content
 *       reads back equal;
 *   (c) an abandoned upload whose session row is removed (as its expiry
 *       would) leaves chunk files that the next start collects.
 */
#include "attack_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static kw_it_server srv;
static char *prof_a;
static char work[400];

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    snprintf(work, sizeof(work), "%s/work", srv.dir);
    mkdir(work, 0700);
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    return 0;
}

static void restart(void)
{
    assert_int_equal(kw_it_server_start(&srv, srv.dir, NULL), 0);
}

static void mkfile(const char *name, size_t len, uint8_t seed)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", work, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    uint8_t *b = malloc(len);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
    assert_int_equal(fwrite(b, 1, len, f), len);
    free(b);
    fclose(f);
}

static void same(const char *cat, const char *name)
{
    char in[600], out[600], cmd[1400];
    snprintf(in, sizeof(in), "%s/%s", work, name);
    snprintf(out, sizeof(out), "%s/%s.out", work, name);
    const char *get[] = {"--json", "get", cat, name, "-o", out, NULL};
    kw_it_result r = at_cli(&srv, prof_a, get, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", in, out);
    assert_int_equal(system(cmd), 0);
    unlink(out);
}

/* Chunk files (not temporaries) under the chunk directory. */
static size_t chunk_files(void)
{
    char chunks[500];
    size_t n = 0;
    snprintf(chunks, sizeof(chunks), "%s/data/chunks", srv.dir);
    DIR *top = opendir(chunks);
    if (top == NULL)
        return 0;
    struct dirent *p;
    while ((p = readdir(top)) != NULL) {
        if (p->d_name[0] == '.')
            continue;
        char sub[800];
        snprintf(sub, sizeof(sub), "%s/%s", chunks, p->d_name);
        DIR *d = opendir(sub);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char obj[1200];
            snprintf(obj, sizeof(obj), "%s/%s", sub, e->d_name);
            DIR *o = opendir(obj);
            struct dirent *f;
            while (o != NULL && (f = readdir(o)) != NULL)
                if (f->d_name[0] != '.' && strstr(f->d_name, ".tmp") == NULL)
                    n++;
            if (o != NULL)
                closedir(o);
        }
        if (d != NULL)
            closedir(d);
    }
    closedir(top);
    return n;
}

static void test_acknowledged_survive(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    for (int i = 0; i < 5; i++) {
        char name[32], p[600];
        snprintf(name, sizeof(name), "ack%d.txt", i);
        mkfile(name, 1000 + (size_t)i * 700, (uint8_t)i);
        snprintf(p, sizeof(p), "%s/%s", work, name);
        const char *put[] = {"--json", "put", "notes", p, NULL};
        kw_it_result r = at_cli(&srv, prof_a, put, 0);
        assert_int_equal(r.status, 0);
        kw_it_result_free(&r);
    }
    kw_it_server_stop(&srv, true); /* SIGKILL right after the last acknowledgement */
    restart();
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "ack%d.txt", i);
        same("notes", name);
    }
}

static void test_kill_during_upload(void **state)
{
    (void)state;
    char p[600], keyward[600];
    mkfile("huge.bin", 24u << 20, 7);
    snprintf(p, sizeof(p), "%s/huge.bin", work);
    const char *bin = getenv("KEYWARD_BIN_DIR");
    snprintf(keyward, sizeof(keyward), "%s/keyward", bin != NULL ? bin : "build/bin");
    size_t before = chunk_files();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("KEYWARD_PASSPHRASE", AT_PASSPHRASE, 1);
        setenv("KEYWARD_TEST_FAST_KDF", "1", 1);
        execl(keyward, keyward, "--server", srv.url, "--profile", prof_a, "--json", "put", "drive", p,
              (char *)NULL);
        _exit(127);
    }
    /* wait for two acknowledged pieces, then kill the server hard */
    for (int i = 0; i < 3000 && chunk_files() < before + 2; i++)
        usleep(10000);
    assert_true(chunk_files() >= before + 2);
    kw_it_server_stop(&srv, true);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(!WIFEXITED(st) || WEXITSTATUS(st) != 0); /* the client saw the failure */
    size_t on_disk = chunk_files() - before;
    restart();
    /* no half record */
    const char *ls[] = {"--json", "ls", "drive", NULL};
    kw_it_result r = at_cli(&srv, prof_a, ls, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "records")), 0);
    kw_it_result_free(&r);
    /* the live upload's pieces survived the restart's collection */
    assert_int_equal(chunk_files() - before, on_disk);
    const char *put[] = {"--json", "put", "drive", p, NULL};
    r = at_cli(&srv, prof_a, put, 0);
    assert_int_equal(r.status, 0);
    /* every piece that reached the disk is reused (in parallel uploads they need not be consecutive) */
    assert_int_equal(json_integer_value(json_object_get(r.json, "resumed_pieces")), (json_int_t)on_disk);
    kw_it_result_free(&r);
    same("drive", "huge.bin");
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "ack%d.txt", i);
        same("notes", name);
    }
}

static void test_garbage_collected(void **state)
{
    (void)state;
    char p[600];
    mkfile("orphan.bin", 3u << 20, 9);
    snprintf(p, sizeof(p), "%s/orphan.bin", work);
    size_t before = chunk_files();
    const char *put[] = {"--json", "put", "drive", p, NULL};
    setenv("KEYWARD_TEST_UPLOAD_ABORT_AFTER", "2", 1);
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, put);
    unsetenv("KEYWARD_TEST_UPLOAD_ABORT_AFTER");
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(chunk_files() - before, 2);
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "DELETE FROM record_uploads", NULL, 0, NULL, 0, 1); /* as expiry would */
    at_lie_end(&srv, db);
    assert_int_equal(chunk_files(), before);
    /* the put starts over and completes */
    r = at_cli(&srv, prof_a, put, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "resumed_from")), 0);
    kw_it_result_free(&r);
    same("drive", "orphan.bin");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acknowledged_survive),
        cmocka_unit_test(test_kill_during_upload),
        cmocka_unit_test(test_garbage_collected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
