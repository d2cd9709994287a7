/* A keywardd process for benchmarks (bench_srv.h). */
#include "bench_srv.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int find_keywardd(char *out, size_t cap)
{
    const char *env = getenv("KEYWARD_BIN_DIR");
    if (env != NULL && env[0] != '\0') {
        int w = snprintf(out, cap, "%s/keywardd", env);
        return w > 0 && (size_t)w < cap && access(out, X_OK) == 0 ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    int w = snprintf(out, cap, "%s/../bin/keywardd", self);
    return w > 0 && (size_t)w < cap && access(out, X_OK) == 0 ? 0 : -1;
}

int bench_srv_start(bench_srv *s, const char *tag, const char *const *extra)
{
    char bin[PATH_MAX], data[300], portfile[300], log[300];
    const char *argv[64];
    size_t argc = 0;
    memset(s, 0, sizeof(*s));
    if (find_keywardd(bin, sizeof(bin)) != 0) {
        printf("%s: keywardd not found: set KEYWARD_BIN_DIR or build it next to the bench\n", tag);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof(s->dir), "%s/kw-%s-XXXXXX", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp",
             tag);
    if (mkdtemp(s->dir) == NULL) {
        s->dir[0] = '\0';
        return -1;
    }
    snprintf(data, sizeof(data), "%s/data", s->dir);
    snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
    snprintf(log, sizeof(log), "%s/log", s->dir);
    const char *base[] = {bin, "--listen", "127.0.0.1:0", "--data", data, "--port-file",
                          portfile, "--quiet", "--test-faults"};
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
        argv[argc++] = base[i];
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (argc + 1 >= sizeof(argv) / sizeof(argv[0]))
            return -1;
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setenv("KEYWARD_TEST_FAULTS", "1", 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(portfile, "r");
        unsigned p = 0;
        if (f != NULL) {
            int got = fscanf(f, "%u", &p);
            fclose(f);
            if (got == 1 && p > 0 && p < 65536) {
                s->port = (uint16_t)p;
                return 0;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            printf("%s: keywardd exited at start (log in %s)\n", tag, log);
            s->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    printf("%s: keywardd did not report its port (log in %s)\n", tag, log);
    return -1;
}

void bench_srv_stop(bench_srv *s)
{
    if (s->pid > 0) {
        int st;
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
}

void bench_srv_cleanup(bench_srv *s)
{
    bench_srv_stop(s);
    if (s->dir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: cannot remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}
