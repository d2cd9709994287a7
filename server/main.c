/* keywardd — the keyward server: HTTP/JSON API over a storage backend. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/areas.h"
#include "config.h"
#include "http/http.h"
#include "keys.h"
#include "keyward/keyward.h"
#include "store/admin.h"
#include "store/store.h"

#define PEM_MAX (64 * 1024)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: keywardd [options]            run the server\n"
            "       keywardd migrate [options]    apply schema migrations and exit\n"
            "       keywardd check [options]      check the store's consistency and exit\n"
            "                                     (exit 3 when it found problems)\n"
            "       keywardd version\n"
            "options:\n"
            "  --config FILE       read key = value settings (see keywardd(8))\n"
            "  --listen ADDR:PORT  listen address (default 127.0.0.1:8443; port 0 = any)\n"
            "  --data DIR          data directory (default ./keyward-data)\n"
            "  --store URI         storage (default sqlite:DIR/keyward.db; or postgres://...)\n"
            "  --tls-cert FILE --tls-key FILE   serve HTTPS (required off loopback)\n"
            "  --port-file FILE    write the bound port to FILE once listening\n"
            "  --threads N         worker threads (default 4)\n"
            "  --pending-logins memory|store   where pending sign-ins wait between login/start\n"
            "                      and login/finish (default memory on SQLite, store otherwise;\n"
            "                      memory: no disk write, one keywardd per store only,\n"
            "                      a restart drops them)\n"
            "  --kt-epoch-ms N     key-transparency epoch cadence in ms (default 1000)\n"
            "  --quiet             no per-request log lines\n"
            "exit codes: 0 clean shutdown, 1 usage or configuration error, 2 startup failure\n");
}

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, PEM_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0 || n > PEM_MAX) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int parse_args(int argc, char **argv, int start, kw_config *cfg)
{
    static const struct {
        const char *flag, *key;
    } map[] = {{"--listen", "listen"},       {"--data", "data_dir"},     {"--store", "store"},
               {"--tls-cert", "tls_cert"},   {"--tls-key", "tls_key"},   {"--port-file", "port_file"},
               {"--threads", "threads"},     {"--key-file", "key_file"}, {"--session-ttl", "session_ttl"},
               {"--kt-epoch-ms", "kt_epoch_ms"},
               {"--pending-logins", "pending_logins"}};
    /* The config file first, so flags override it. */
    for (int i = start; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc || kw_config_load_file(cfg, argv[i + 1]) != KW_OK)
                return -1;
            i++;
        }
    }
    for (int i = start; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--quiet") == 0) {
            cfg->quiet = true;
            continue;
        }
        if (strcmp(argv[i], "--test-faults") == 0) {
            cfg->test_faults = true;
            continue;
        }
        if (strcmp(argv[i], "--set") == 0) {
            /* --set area.key=value: any config key, mostly the areas' own. */
            char kv[2 * KW_CONFIG_PATH_MAX];
            char *eq = NULL;
            if (i + 1 < argc && strlen(argv[i + 1]) < sizeof(kv)) {
                memcpy(kv, argv[i + 1], strlen(argv[i + 1]) + 1);
                eq = strchr(kv, '=');
            }
            if (eq == NULL) {
                fprintf(stderr, "keywardd: --set needs KEY=VALUE\n");
                return -1;
            }
            *eq = '\0';
            if (kw_config_set(cfg, kv, eq + 1) != KW_OK) {
                fprintf(stderr, "keywardd: bad --set %s\n", kv);
                return -1;
            }
            i++;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        bool known = false;
        for (size_t m = 0; m < sizeof(map) / sizeof(map[0]); m++) {
            if (strcmp(argv[i], map[m].flag) != 0)
                continue;
            known = true;
            if (i + 1 >= argc || kw_config_set(cfg, map[m].key, argv[i + 1]) != KW_OK) {
                fprintf(stderr, "keywardd: bad value for %s\n", argv[i]);
                return -1;
            }
            i++;
        }
        if (!known) {
            fprintf(stderr, "keywardd: unknown option %s\n", argv[i]);
            return -1;
        }
    }
    return kw_config_finish(cfg) == KW_OK ? 0 : -1;
}

static void check_line(void *ud, const kw_store_check_rule *rule, int64_t violations)
{
    (void)ud;
    printf("%-20s %s %lld  %s\n", rule->name, violations == 0 ? "ok  " : "FAIL", (long long)violations,
           rule->description);
}

/* keywardd check: every consistency rule of the store (store/admin.h);
 * exit 0 when all hold, 3 when some do not, 2 when the check cannot run. */
static int check_store(kw_store *store, const char *shown, int version)
{
    int64_t problems = 0;
    printf("keywardd: checking store %s (schema version %d)\n", shown, version);
    int r = kw_store_check(store, check_line, NULL, &problems);
    kw_store_close(&store);
    if (r != KW_OK) {
        fprintf(stderr, "keywardd: check failed: %s\n", kw_strerror(r));
        return 2;
    }
    printf("keywardd: %lld problem(s)\n", (long long)problems);
    return problems == 0 ? 0 : 3;
}

static int write_port_file(const char *path, uint16_t port)
{
    char tmp[KW_CONFIG_PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%u\n", port);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return rename(tmp, path);
}

int main(int argc, char **argv)
{
    kw_config cfg;
    int start = 1;
    bool migrate_only = false, check_only = false;
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        printf("keywardd %s\n", KW_VERSION_STRING);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "migrate") == 0) {
        migrate_only = true;
        start = 2;
    }
    if (argc > 1 && strcmp(argv[1], "check") == 0) {
        check_only = true;
        start = 2;
    }
    if (kw_init() != KW_OK) {
        fprintf(stderr, "keywardd: cannot initialise libsodium\n");
        return 2;
    }
    kw_config_defaults(&cfg);
    if (parse_args(argc, argv, start, &cfg) != 0) {
        usage(stderr);
        return 1;
    }
    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "keywardd: cannot create data directory %s: %s\n", cfg.data_dir, strerror(errno));
        return 2;
    }

    kw_store *store = NULL;
    char store_shown[KW_CONFIG_PATH_MAX]; /* cfg.store without a password in it */
    kw_store_uri_redacted(cfg.store, store_shown, sizeof(store_shown));
    int r = kw_store_open(cfg.store, &store);
    if (r != KW_OK) {
        fprintf(stderr, "keywardd: cannot open store %s: %s\n", store_shown, kw_strerror(r));
        return 2;
    }
    int version = 0;
    kw_store_schema_version(store, &version);
    if (migrate_only) {
        printf("keywardd: store %s at schema version %d\n", store_shown, version);
        kw_store_close(&store);
        return 0;
    }
    if (check_only)
        return check_store(store, store_shown, version);

    kw_server_keys *keys = NULL;
    r = kw_server_keys_load(cfg.key_file, &keys);
    if (r != KW_OK) {
        fprintf(stderr, "keywardd: cannot load key file %s: %s\n", cfg.key_file, kw_strerror(r));
        kw_store_close(&store);
        return 2;
    }

    kw_server srv = {.store = store, .keys = keys, .cfg = &cfg, .session_ttl = cfg.session_ttl,
                     .test_faults = cfg.test_faults, .pending_logins_memory = cfg.pending_logins_memory};
    char *cert = NULL, *key = NULL;
    r = kw_api_server_init(&srv);
    if (r != KW_OK) {
        fprintf(stderr, "keywardd: cannot set up the API state: %s\n", kw_strerror(r));
        goto out;
    }
    if (cfg.tls_cert[0] != '\0') {
        cert = read_pem(cfg.tls_cert);
        key = read_pem(cfg.tls_key);
        if (cert == NULL || key == NULL) {
            fprintf(stderr, "keywardd: cannot read TLS certificate or key\n");
            r = KW_ERR_SYSTEM;
            goto out;
        }
    }

    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* After the mask, so the publisher thread never takes the stop signals. */
    r = kw_api_kt_start(&srv, cfg.kt_epoch_ms);
    if (r != KW_OK) {
        fprintf(stderr, "keywardd: cannot start the key-transparency directory: %s\n", kw_strerror(r));
        goto out;
    }

    r = kw_api_areas_start(&srv);
    if (r != KW_OK) {
        fprintf(stderr, "keywardd: cannot start the API areas: %s\n", kw_strerror(r));
        goto out;
    }

    size_t nroutes;
    const kw_http_route *routes = kw_api_routes(&nroutes);
    kw_http_config hc = {.bind_addr = cfg.listen_addr, .port = cfg.port, .tls_cert_pem = cert,
                         .tls_key_pem = key, .threads = cfg.threads, .quiet = cfg.quiet};
    kw_http *http = NULL;
    r = kw_http_start(&hc, routes, nroutes, &srv, &http);
    if (r != KW_OK) {
        fprintf(stderr, "keywardd: cannot listen on %s:%u: %s\n", cfg.listen_addr, cfg.port, kw_strerror(r));
        goto out;
    }
    uint16_t port = kw_http_port(http);
    fprintf(stderr, "level=info event=start listen=%s://%s:%u store=%s schema=%d routes=%zu%s%s\n",
            cert != NULL ? "https" : "http", cfg.listen_addr, port, store_shown, version, nroutes,
            cfg.test_faults ? " test_faults=on" : "",
            cfg.pending_logins_memory ? " pending_logins=memory" : "");
    if (cfg.port_file[0] != '\0' && write_port_file(cfg.port_file, port) != 0)
        fprintf(stderr, "level=warn event=port_file error=\"%s\"\n", strerror(errno));

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "level=info event=stop signal=%d\n", sig);
    kw_http_stop(&http);
    r = KW_OK;
out:
    if (key != NULL) {
        sodium_memzero(key, strlen(key));
        free(key);
    }
    free(cert);
    kw_api_areas_stop(&srv);
    kw_api_kt_stop(&srv);
    kw_api_server_fini(&srv);
    kw_server_keys_free(&keys);
    kw_store_close(&store);
    return r == KW_OK ? 0 : 2;
}
