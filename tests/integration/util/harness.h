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

/* A test's fixture: a server and the device profiles its cases use. A
 * test lists its profiles as {name, &path} pairs ending with {NULL, NULL}. */
typedef struct {
    const char *name;
    char **path; /* receives kw_it_profile(s, name) */
} kw_it_prof;

/* kw_init(), a fresh keywardd (extra_args as for kw_it_server_start, may
 * be NULL) and a fresh directory per profile. 0 on success, -1 otherwise
 * (a cmocka setup's answer). */
int kw_it_fixture_up(kw_it_server *s, const char *const *extra_args, const kw_it_prof *profs);

/* Stops the server, removes its directory and frees the profile paths
 * (set to NULL). */
void kw_it_fixture_down(kw_it_server *s, const kw_it_prof *profs);

/* Plain HTTP request to the server: method, path, optional JSON body and
 * bearer token. Returns the status code and the response body (malloc'd). */
int kw_it_http(const kw_it_server *s, const char *method, const char *path, const char *body,
               const char *bearer, char **response);

/* kw_it_http with JSON: body (may be NULL) is sent compact and released;
 * *out (optional) receives the parsed answer or NULL. Returns the status
 * (-1 when no answer). KEYWARD_TEST_HTTP_DEBUG set: each exchange is
 * printed to stderr. */
int kw_it_call(const kw_it_server *s, const char *method, const char *path, json_t *body,
               const char *token, json_t **out);

/* The message of a JSON error answer {"error":{"message"}}, or "". */
const char *kw_it_err_message(const json_t *o);

/* The web page's password step for name: OPAQUE with the web
 * configuration (context NULL: empty; else that context, to play a client
 * with the wrong one), POST /v1/web/login/start, the client's finish and
 * POST /v1/web/login/finish. Returns the finish status and answer (*out).
 * *client_ok (optional) says whether the client accepted KE2; when it did
 * not, a fixed KE3 is sent as a client ignoring the failure would. With
 * client_ok NULL a refused KE2 is a failure. -1 when a step before the
 * finish failed (printed to stderr). */
int kw_it_web_password(const kw_it_server *s, const char *name, const char *password, const char *context,
                       bool *client_ok, json_t **out);

/* Prints a result to stderr for diagnosis. */
void kw_it_dump(const char *what, const kw_it_result *r);

#endif
