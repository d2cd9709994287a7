/*
 * harness.h — integration-test harness: a real keywardd on a free loopback
 * port with a temporary data directory, and the real keyward CLI run as a
 * child process with one profile directory per simulated device.
 *
 * Binaries come from $KEYWARD_BIN_DIR (set by the Makefile). Every server
 * the harness starts is stopped by kw_it_server_stop (SIGTERM, then SIGKILL
 * after a grace period), also from the cmocka teardown when a test fails.
 */
#ifndef KEYWARD_TESTS_HARNESS_H
#define KEYWARD_TESTS_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    unsigned port;
    char dir[256];      /* temporary data directory */
    char url[64];       /* http://127.0.0.1:PORT */
    char log_path[320]; /* server stderr */
} kw_it_server;

typedef struct {
    int status;   /* exit status of the CLI, or -1 when it did not exit normally */
    char *out;    /* stdout (NUL-terminated, malloc'd) */
    char *err;    /* stderr */
    json_t *json; /* stdout parsed as JSON when it is JSON, else NULL */
} kw_it_result;

/* Starts keywardd with a fresh temporary data directory (or reuses dir when
 * non-NULL and non-empty, to restart on the same database). extra_args is a
 * NULL-terminated list of additional flags (may be NULL). Returns 0 when
 * /healthz answers. */
int kw_it_server_start(kw_it_server *s, const char *dir, const char *const *extra_args);

/* Stops the server gracefully (SIGTERM); hard=true sends SIGKILL instead.
 * Keeps the data directory. */
void kw_it_server_stop(kw_it_server *s, bool hard);

/* Removes the data directory. */
void kw_it_server_cleanup(kw_it_server *s);

/* Runs `keyward --server URL --profile DIR args...` with the test
 * environment (KEYWARD_PASSPHRASE, KEYWARD_TEST_FAST_KDF=1), optionally
 * feeding stdin_text. */
kw_it_result kw_it_cli(const kw_it_server *s, const char *profile, const char *stdin_text,
                       const char *const *args);

void kw_it_result_free(kw_it_result *r);

/* Creates a fresh temporary directory for a device profile under the
 * server's directory; returns a malloc'd path. */
char *kw_it_profile(const kw_it_server *s, const char *name);

/* Plain HTTP request to the server: method, path, optional JSON body and
 * bearer token. Returns the status code and the response body (malloc'd). */
int kw_it_http(const kw_it_server *s, const char *method, const char *path, const char *body,
               const char *bearer, char **response);

/* Prints a result to stderr for diagnosis. */
void kw_it_dump(const char *what, const kw_it_result *r);

#endif
