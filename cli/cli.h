/*
 * cli/cli.h — what the keyward command files share: global options, opening
 * the client, reading secrets from files, the environment or the terminal,
 * printing results (human or --json) and mapping errors to exit codes.
 * Uses only the public libkeyward API.
 */
#ifndef KEYWARD_CLI_H
#define KEYWARD_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "keyward/client.h"

/* Exit codes (documented in `keyward --help` and keyward(1)). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_USAGE 1
#define CLI_EXIT_AUTH 2
#define CLI_EXIT_NOT_FOUND 3
#define CLI_EXIT_CONFLICT 4
#define CLI_EXIT_SERVER 5
#define CLI_EXIT_LIMIT 6
#define CLI_EXIT_PROFILE 7

typedef struct {
    const char *server;
    const char *profile;
    const char *ca;
    bool json;
    const char *soft_key; /* --soft-key FILE: the INSECURE software security key (tests) */
} cli_globals;

extern cli_globals cli_g;

/* Opens the client with the global options and the profile passphrase
 * (KEYWARD_PASSPHRASE, else asked on the terminal). Returns an exit code;
 * prints the error itself. */
int cli_open(kw_client **c);

/* The account password: --password-file FILE (first line), KEYWARD_PASSWORD,
 * else asked on the terminal (twice when confirm). 0 or an exit code. */
int cli_password(char *buf, size_t cap, const char *file, bool confirm);

/* A secret: the first line of file when given, else $env_name, else asked
 * on the terminal as `prompt` (twice when confirm). 0 or an exit code; buf
 * is wiped on failure (the caller wipes it after use). */
int cli_secret(char *buf, size_t cap, const char *file, const char *env_name, const char *prompt,
               bool confirm);

/* Reads one line from the terminal; echo off when secret. false when there
 * is no terminal. */
bool cli_prompt(const char *question, char *buf, size_t cap, bool secret);

/* Matches option `name` at argv[*i]: "--name VALUE" (advancing *i) or
 * "--name=VALUE". Sets *val and returns true. */
bool cli_opt(int argc, char **argv, int *i, const char *name, const char **val);

/* Prints a usage error and returns CLI_EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports the client's error (stderr; also as JSON on stdout with --json)
 * and returns the exit code for err. */
int cli_fail(kw_client *c, int err);

/* Prints a result: the JSON object with --json, else "key: value" lines
 * after an optional headline. Consumes o. Returns CLI_EXIT_OK. */
int cli_print(json_t *o, const char *headline);

int cmd_account_main(int argc, char **argv);
int cmd_login_main(int argc, char **argv);
int cmd_logout_main(int argc, char **argv);
int cmd_device_main(int argc, char **argv);
int cmd_keychain_main(int argc, char **argv);
int cmd_session_main(int argc, char **argv);
int cmd_approval_code_main(int argc, char **argv);
int cmd_totp_main(int argc, char **argv);
int cmd_recovery_key_main(int argc, char **argv);
int cmd_status_main(int argc, char **argv);
int cmd_password_main(int argc, char **argv);
int cmd_kt_main(int argc, char **argv);
int cmd_audit_main(int argc, char **argv);
int cmd_key_main(int argc, char **argv);
/* cmd_key.c: sets the security-key authenticator of c (--soft-key or libfido2). */
int cli_attach_authenticator(kw_client *c);
int cmd_send_main(int argc, char **argv); int cmd_sync_main(int argc, char **argv); int cmd_inbox_main(int argc, char **argv); /* messages */
int cmd_contact_main(int argc, char **argv); /* CKV: cmd_contact.c, cmd_alerts.c, cmd_code.c, cmd_ckv.c */
int cmd_alerts_main(int argc, char **argv);
int cmd_code_main(int argc, char **argv);
int cmd_ckv_main(int argc, char **argv);
int cmd_adp_main(int argc, char **argv); /* ADP: cmd_adp.c, cmd_web.c, cmd_recovery.c */
int cmd_web_main(int argc, char **argv);
int cmd_recovery_main(int argc, char **argv);
int cmd_recover_main(int argc, char **argv);

#endif
