/*
 * cli/cmd_ckv.h — what the Contact Key Verification commands (cmd_ckv.c,
 * cmd_contact.c, cmd_alerts.c, cmd_code.c) share: printing a result with
 * the alerts it raised.
 */
#ifndef KEYWARD_CLI_CMD_CKV_H
#define KEYWARD_CLI_CMD_CKV_H

#include <jansson.h>

#include "cli.h"

/* The command completed but raised an alert the user must look at
 * (keyward(1), EXIT STATUS). Verification failures stay exit 2. */
#define CLI_EXIT_ALERT 8

/* Ends a CKV command: prints every alert of out["alerts"] on stderr (kind,
 * subject, what happened, what to do); on error reports it like cli_fail,
 * with --json as {"error":{code,message,exit},"alerts":[...]}; on success
 * prints out (cli_print) and returns CLI_EXIT_ALERT when it carries
 * alerts. Consumes out; frees c. */
int ckv_cli_finish(kw_client **c, int r, json_t *out, const char *headline);

#endif
