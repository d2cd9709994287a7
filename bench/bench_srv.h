/*
 * bench/bench_srv.h — a real keywardd for benchmarks: found through
 * KEYWARD_BIN_DIR (else ../bin next to the bench binary), started on a
 * free loopback port with --test-faults and a fresh data directory under
 * TMPDIR, its stderr kept in DIR/log, stopped with SIGTERM.
 */
#ifndef KEYWARD_BENCH_SRV_H
#define KEYWARD_BENCH_SRV_H

#include <stdint.h>
#include <sys/types.h>

typedef struct {
    char dir[256];
    pid_t pid;
    uint16_t port;
} bench_srv;

/* Starts keywardd with `extra` (NULL-terminated, may be NULL) after the
 * standard arguments; tag names the temp directory. 0 with s->port set,
 * -1 (message printed) when the binary is missing or it did not start.
 * Call bench_srv_cleanup afterwards in both cases. */
int bench_srv_start(bench_srv *s, const char *tag, const char *const *extra);

/* Stops the process (SIGTERM, waited for); the data directory stays. */
void bench_srv_stop(bench_srv *s);

/* Stops the process and removes its directory. */
void bench_srv_cleanup(bench_srv *s);

#endif
