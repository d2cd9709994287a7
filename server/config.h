/*
 * server/config.h — keywardd's configuration: defaults, then the config file
 * (`key = value` lines, `#` comments), then command-line flags, later ones
 * winning. Unknown keys and malformed values are errors naming the line.
 */
#ifndef KEYWARD_SERVER_CONFIG_H
#define KEYWARD_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_CONFIG_PATH_MAX 1024
#define KW_CONFIG_EXT_MAX 64

typedef struct kw_config_s {
    char listen_addr[64];            /* default 127.0.0.1 */
    uint16_t port;                   /* default 8443 (0 = any free port) */
    char data_dir[KW_CONFIG_PATH_MAX];  /* default ./keyward-data */
    char store[KW_CONFIG_PATH_MAX];     /* default sqlite:<data_dir>/keyward.db */
    char key_file[KW_CONFIG_PATH_MAX];  /* default <data_dir>/server.key */
    char tls_cert[KW_CONFIG_PATH_MAX];  /* PEM; empty = plain HTTP (loopback only) */
    char tls_key[KW_CONFIG_PATH_MAX];
    char port_file[KW_CONFIG_PATH_MAX]; /* write the bound port here once listening */
    unsigned threads;                /* default 4 */
    int64_t session_ttl;             /* seconds, default 30 days */
    int64_t kt_epoch_ms;             /* key-transparency epoch cadence, default 1000 */
    bool quiet;                      /* no request log lines */
    bool test_faults;                /* test-only fault hooks; refused unless KEYWARD_TEST_FAULTS=1 */
    bool pending_logins_memory;      /* pending_logins = memory | store (default: memory on
                                        SQLite, which serves one node; store otherwise) */
    bool pending_logins_set;         /* given in the file or on the command line */
    /* Area keys "<area>.<name>" (e.g. "records.dir", "web.origins"): kept as
     * given, validated by the area when it starts (kw_config_get). */
    size_t next;
    struct {
        char key[64];
        char value[KW_CONFIG_PATH_MAX];
    } ext[KW_CONFIG_EXT_MAX];
} kw_config;

/* The value of an area key ("<area>.<name>") or NULL when it was not set. */
const char *kw_config_get(const kw_config *c, const char *key);

/* Fills defaults. */
void kw_config_defaults(kw_config *c);

/* Reads a config file over the current values. KW_ERR_FORMAT (no '=',
 * unknown key, bad value, NUL byte), KW_ERR_TOO_LARGE (a line over 2047
 * bytes), KW_ERR_SYSTEM (cannot open or read), each with a message on
 * stderr naming file and line. */
int kw_config_load_file(kw_config *c, const char *path);

/* Sets one key (as in the file) to a value. */
int kw_config_set(kw_config *c, const char *key, const char *value);

/* Derives dependent defaults (store, key file) from data_dir when unset and
 * checks the combination (TLS cert and key both or neither; plain HTTP only
 * on a loopback address). */
int kw_config_finish(kw_config *c);

#endif
