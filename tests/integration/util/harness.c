#include "harness.h"

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"

#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IT_OUTPUT_MAX (4 * 1024 * 1024)

static const char *bin_dir(void)
{
    const char *d = getenv("KEYWARD_BIN_DIR");
    return d != NULL ? d : "build/bin";
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    char **buf = ud;
    size_t len = *buf != NULL ? strlen(*buf) : 0;
    size_t add = size * n;
    if (len + add > IT_OUTPUT_MAX)
        return 0;
    char *nb = realloc(*buf, len + add + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + len, p, add);
    nb[len + add] = '\0';
    *buf = nb;
    return add;
}

int kw_it_http(const kw_it_server *s, const char *method, const char *path, const char *body,
               const char *bearer, char **response)
{
    char url[512], auth[512];
    long status = -1;
    *response = NULL;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    struct curl_slist *h = NULL;
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        h = curl_slist_append(h, "Content-Type: application/json");
    }
    if (bearer != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, response);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (*response == NULL)
        *response = strdup("");
    return (int)status;
}

/* KEYWARD_TEST_STORE_URI=postgres://… (scripts/test-pg): every fresh data
 * directory gets a fresh database on that server (created with psql, named
 * after the directory, its URI kept in DIR/store-uri so that a restart on
 * the same directory reuses it), passed to keywardd as --store. Tests that
 * name --store themselves (a second node on the same database) are left
 * alone. Returns 0 with uri empty when the hook does not apply. */
static int it_store_uri(const kw_it_server *s, bool fresh, const char *const *extra_args, char *uri,
                        size_t cap)
{
    const char *base = getenv("KEYWARD_TEST_STORE_URI");
    char path[400], cmd[1400], db[300];
    uri[0] = '\0';
    if (base == NULL || (strncmp(base, "postgres://", 11) != 0 && strncmp(base, "postgresql://", 13) != 0))
        return 0;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
        if (strcmp(extra_args[i], "--store") == 0)
            return 0;
    if (strlen(base) > 512 || strchr(base, '\'') != NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/store-uri", s->dir);
    if (!fresh) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            int ok = fgets(uri, (int)cap, f) != NULL;
            fclose(f);
            uri[strcspn(uri, "\n")] = '\0';
            if (ok && uri[0] != '\0')
                return 0;
        }
    }
    const char *slash = strrchr(s->dir, '/');
    snprintf(db, sizeof(db), "kwit_%s", slash != NULL ? slash + 1 : s->dir);
    for (char *p = db; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    snprintf(cmd, sizeof(cmd), "psql -q -X -v ON_ERROR_STOP=1 -d '%s' -c 'CREATE DATABASE \"%s\"' >&2", base, db);
    if (system(cmd) != 0)
        return -1;
    snprintf(uri, cap, "%s%cdbname=%s", base, strchr(base, '?') != NULL ? '&' : '?', db);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%s\n", uri);
    fclose(f);
    return 0;
}

int kw_it_server_start(kw_it_server *s, const char *dir, const char *const *extra_args)
{
    char path[512], port_file[320], keywardd[512];
    bool fresh = !(dir != NULL && dir[0] != '\0');
    if (dir != NULL && dir[0] != '\0') {
        if (s->dir != dir)
            snprintf(s->dir, sizeof(s->dir), "%s", dir);
    } else {
        snprintf(s->dir, sizeof(s->dir), "/tmp/keyward-it-XXXXXX");
        if (mkdtemp(s->dir) == NULL)
            return -1;
    }
    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    unlink(port_file);
    snprintf(s->log_path, sizeof(s->log_path), "%s/keywardd.log", s->dir);
    snprintf(keywardd, sizeof(keywardd), "%s/keywardd", bin_dir());
    snprintf(path, sizeof(path), "%s/data", s->dir);
    static char store_uri[768];
    if (it_store_uri(s, fresh, extra_args, store_uri, sizeof(store_uri)) != 0)
        return -1;

    const char *argv[32] = {keywardd, "--data", path, "--listen", "127.0.0.1:0", "--port-file",
                            port_file, "--threads", "4"};
    size_t argc = 9;
    if (store_uri[0] != '\0') {
        argv[argc++] = "--store";
        argv[argc++] = store_uri;
    }
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && argc < 31; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execv(keywardd, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        if (f != NULL) {
            unsigned port = 0;
            int ok = fscanf(f, "%u", &port);
            fclose(f);
            if (ok == 1 && port > 0) {
                s->port = port;
                snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", port);
                char *resp = NULL;
                int st = kw_it_http(s, "GET", "/healthz", NULL, NULL, &resp);
                free(resp);
                if (st == 200)
                    return 0;
            }
        }
        int wst;
        if (waitpid(pid, &wst, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        sleep_ms(50);
    }
    return -1;
}

void kw_it_server_stop(kw_it_server *s, bool hard)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, hard ? SIGKILL : SIGTERM);
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        sleep_ms(50);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

void kw_it_server_cleanup(kw_it_server *s)
{
    char cmd[400];
    if (s->dir[0] == '\0' || strncmp(s->dir, "/tmp/keyward-it-", 16) != 0)
        return;
    if (getenv("KEYWARD_IT_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", s->dir);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
}

char *kw_it_profile(const kw_it_server *s, const char *name)
{
    char *p = malloc(400);
    if (p == NULL)
        return NULL;
    snprintf(p, 400, "%s/profile-%s", s->dir, name);
    mkdir(p, 0700);
    return p;
}

int kw_it_fixture_up(kw_it_server *s, const char *const *extra_args, const kw_it_prof *profs)
{
    if (kw_init() != KW_OK || kw_it_server_start(s, NULL, extra_args) != 0)
        return -1;
    for (size_t i = 0; profs[i].name != NULL; i++)
        if ((*profs[i].path = kw_it_profile(s, profs[i].name)) == NULL)
            return -1;
    return 0;
}

void kw_it_fixture_down(kw_it_server *s, const kw_it_prof *profs)
{
    kw_it_server_stop(s, false);
    kw_it_server_cleanup(s);
    for (size_t i = 0; profs[i].name != NULL; i++) {
        free(*profs[i].path);
        *profs[i].path = NULL;
    }
}

int kw_it_call(const kw_it_server *s, const char *method, const char *path, json_t *body,
               const char *token, json_t **out)
{
    char *req = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    char *resp = NULL;
    int st = kw_it_http(s, method, path, req, token, &resp);
    if (getenv("KEYWARD_TEST_HTTP_DEBUG") != NULL)
        fprintf(stderr, "%s %s -> %d %.300s\n", method, path, st, resp != NULL ? resp : "");
    free(req);
    json_decref(body);
    if (out != NULL) {
        json_error_t e;
        *out = resp != NULL ? json_loads(resp, 0, &e) : NULL;
    }
    free(resp);
    return st;
}

const char *kw_it_err_message(const json_t *o)
{
    const char *m = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
    return m != NULL ? m : "";
}

int kw_it_web_password(const kw_it_server *s, const char *name, const char *password, const char *context,
                       bool *client_ok, json_t **out)
{
    kw_opaque_config cfg;
    kw_opaque_client *c = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES], sk[64], ek[64];
    char s1[256], s3[256];
    size_t n = 0;
    json_t *r1 = NULL;
    int st = -1;
    *out = NULL;
    if (client_ok != NULL)
        *client_ok = false;
    kw_opaque_config_default(&cfg, (const uint8_t *)context, context != NULL ? strlen(context) : 0);
    if (kw_opaque_client_new(&c, &cfg) != KW_OK ||
        kw_opaque_client_login_start(c, ke1, (const uint8_t *)password, strlen(password)) != KW_OK ||
        kw_b64url_encode(s1, sizeof(s1), ke1, sizeof(ke1)) != KW_OK) {
        fprintf(stderr, "web password: the OPAQUE client did not start\n");
        goto out;
    }
    int st1 = kw_it_call(s, "POST", "/v1/web/login/start", json_pack("{s:s,s:s}", "name", name, "ke1", s1),
                         NULL, &r1);
    const char *k2 = json_string_value(json_object_get(r1, "ke2"));
    if (st1 != 200 || k2 == NULL || kw_b64url_decode(ke2, sizeof(ke2), &n, k2, strlen(k2)) != KW_OK) {
        fprintf(stderr, "web login/start: %d %s\n", st1, kw_it_err_message(r1));
        goto out;
    }
    int fr = kw_opaque_client_login_finish(c, ke3, sk, ek, ke2, n, NULL);
    if (client_ok != NULL)
        *client_ok = fr == KW_OK;
    else if (fr != KW_OK) {
        fprintf(stderr, "web password: the OPAQUE client refused KE2\n");
        goto out;
    }
    if (fr != KW_OK)
        memset(ke3, 0x5a, sizeof(ke3)); /* what a client that ignores the failure would send */
    if (kw_b64url_encode(s3, sizeof(s3), ke3, sizeof(ke3)) != KW_OK)
        goto out;
    st = kw_it_call(s, "POST", "/v1/web/login/finish",
                    json_pack("{s:O,s:s}", "login_id", json_object_get(r1, "login_id"), "ke3", s3), NULL, out);
out:
    json_decref(r1);
    kw_opaque_client_free(&c);
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(ek, sizeof(ek));
    return st;
}

/* Reads both pipes until the child closes them. */
static void drain(int out_fd, int err_fd, char **out, char **err)
{
    struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    int open_count = 2;
    while (open_count > 0) {
        if (poll(fds, 2, 60000) <= 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[4096];
            ssize_t n = read(fds[i].fd, tmp, sizeof(tmp));
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_count--;
                continue;
            }
            if (lens[i] + (size_t)n > IT_OUTPUT_MAX)
                continue;
            char *nb = realloc(bufs[i], lens[i] + (size_t)n + 1);
            if (nb == NULL)
                continue;
            memcpy(nb + lens[i], tmp, (size_t)n);
            lens[i] += (size_t)n;
            nb[lens[i]] = '\0';
            bufs[i] = nb;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    *out = bufs[0] != NULL ? bufs[0] : strdup("");
    *err = bufs[1] != NULL ? bufs[1] : strdup("");
}

kw_it_result kw_it_cli(const kw_it_server *s, const char *profile, const char *stdin_text,
                       const char *const *args)
{
    kw_it_result r = {.status = -1};
    char keyward[512];
    int in_pipe[2], out_pipe[2], err_pipe[2];
    snprintf(keyward, sizeof(keyward), "%s/keyward", bin_dir());
    const char *argv[48] = {keyward, "--server", s->url, "--profile", profile};
    size_t argc = 5;
    for (size_t i = 0; args[i] != NULL && argc < 47; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0)
        return r;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(err_pipe[0]);
        setenv("KEYWARD_PASSPHRASE", "integration-test-passphrase", 0);
        setenv("KEYWARD_TEST_FAST_KDF", "1", 1);
        execv(keyward, (char *const *)argv);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (stdin_text != NULL) {
        size_t len = strlen(stdin_text), off = 0;
        while (off < len) {
            ssize_t w = write(in_pipe[1], stdin_text + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    close(in_pipe[1]);
    drain(out_pipe[0], err_pipe[0], &r.out, &r.err);
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    json_error_t jerr;
    r.json = json_loads(r.out, JSON_DECODE_ANY, &jerr);
    return r;
}

void kw_it_result_free(kw_it_result *r)
{
    free(r->out);
    free(r->err);
    if (r->json != NULL)
        json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

void kw_it_dump(const char *what, const kw_it_result *r)
{
    fprintf(stderr, "--- %s: exit %d\nstdout: %s\nstderr: %s\n", what, r->status,
            r->out != NULL ? r->out : "", r->err != NULL ? r->err : "");
}
