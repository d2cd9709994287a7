/*
 * keyward — the command-line client. main() takes the global options
 * (anywhere on the line), then dispatches the first word through the
 * command table to one cmd_<name>_main per command file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_records.h"
#include "keyward/keyward.h"

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *usage;
} commands[] = {
    {"account", cmd_account_main, "account create NAME [--device-name N] [--password-file F]"},
    {"login", cmd_login_main,
     "login NAME [--device-name N] [--password-file F]\n"
     "        [--approval-code CODE | --totp CODE | --recovery-key CODE]"},
    {"logout", cmd_logout_main, "logout"},
    {"password", cmd_password_main,
     "password change [--password-file F] [--new-password-file F]"},
    {"device", cmd_device_main,
     "device list | device approve [--] ID (--code JOINCODE | interactive) |\n"
     "        device remove [--] ID [--yes] | device removals | device dismiss [--] ID"},
    {"keychain", cmd_keychain_main, "keychain show"},
    {"session", cmd_session_main, "session list | session revoke ID"},
    {"approval-code", cmd_approval_code_main, "approval-code"},
    {"totp", cmd_totp_main,
     "totp enable [--secret B32] [--code CODE | --self-confirm] | totp disable |\n"
     "        totp code --secret B32"},
    {"recovery-key", cmd_recovery_key_main, "recovery-key create"},
    {"status", cmd_status_main, "status"},
    {"kt", cmd_kt_main, "kt lookup NAME | head | gossip HEAD | require-auditor PK   (key transparency; pins in PROFILE/kt.json)"},
    {"audit", cmd_audit_main, "audit [--from EPOCH] [--state DIR] [--sign KEYFILE]   (replays the key-transparency log)"},
    {"key", cmd_key_main, "key add [--name N] | key list | key remove ID | key rename ID NAME |\n        key policy on|off   (security keys; --soft-key FILE: INSECURE test key)"},
    {"send", cmd_send_main, "send NAME TEXT | send NAME --file F [--type T]   (end-to-end message)"},
    {"sync", cmd_sync_main, "sync [--rotate-prekey [--no-fetch]]   (fetch, verify, store and acknowledge messages)"},
    {"inbox", cmd_inbox_main, "inbox [--type T]   (messages stored on this device)"},
    {"contact", cmd_contact_main,
     "contact add NAME | list | show NAME | remove NAME | verify NAME [--code CODE]"},
    {"alerts", cmd_alerts_main, "alerts [--seen]   (Contact Key Verification alerts)"},
    {"code", cmd_code_main, "code   (this account's public verification code)"},
    {"ckv", cmd_ckv_main, "ckv on | off | status | check | head | check-head HEAD [--from NAME]"},
    {"adp", cmd_adp_main, "adp on | off | status   (Advanced Data Protection)"},
    {"web", cmd_web_main, "web access on|off | web approve [--code CODE] [--category C]..."},
    {"recovery", cmd_recovery_main,
     "recovery contact add NAME | contact list | contact remove ID | contact cancel ID | contact "
     "help OWNER | recovery passcode set|delete [--passcode-file F]"},
    {"recover", cmd_recover_main,
     "recover NAME --contact CODE [--device-name N] | recover --passcode   (pending device)"},
    {"put", cmd_put_main, "put CATEGORY PATH [--name N] [--zone Z]   (end-to-end record; resumes)"},
    {"get", cmd_get_main, "get CATEGORY NAME|ID [--output PATH|-] [--zone Z]"},
    {"ls", cmd_ls_main, "ls CATEGORY [--zone Z]"},
    {"rm", cmd_rm_main, "rm CATEGORY NAME|ID [--zone Z]"},
    {"backup", cmd_backup_main, "backup DIR [--zone Z]   (into category backup, incremental by hash)"},
    {"restore", cmd_restore_main, "restore DIR [--zone Z]"},
};

static int help(FILE *f)
{
    fprintf(f, "usage: keyward [--server URL] [--profile DIR] [--ca FILE] [--json] COMMAND ...\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f,
            "\nglobal options:\n"
            "  --server URL    keywardd URL (else $KEYWARD_SERVER, else the profile's)\n"
            "  --profile DIR   device profile (else $KEYWARD_HOME, $XDG_DATA_HOME/keyward,\n"
            "                  ~/.local/share/keyward)\n"
            "  --ca FILE       trust this CA certificate (else $KEYWARD_CA)\n"
            "  --json          one JSON object on stdout\n"
            "  --soft-key FILE use the INSECURE software security key in FILE (tests only)\n"
            "\nsecrets: the profile passphrase from $KEYWARD_PASSPHRASE or the terminal; the\n"
            "account password from --password-file, $KEYWARD_PASSWORD or the terminal; the new\n"
            "password of `password change` from --new-password-file, $KEYWARD_NEW_PASSWORD or\n"
            "the terminal (asked twice).\n"
            "\nexit codes:\n"
            "  0 ok   1 usage   2 authentication or verification failed   3 not found\n"
            "  4 conflict   5 network or server error   6 rate limited   7 local profile error\n"
            "  8 completed with a Contact Key Verification alert (see `keyward alerts`)\n");
    return f == stdout ? 0 : 1;
}

int main(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int n = 0;
    if (rest == NULL)
        return CLI_EXIT_PROFILE;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--") == 0) { /* the rest is the command's, verbatim */
            if (n == 0) /* before the command: just ends the global options */
                i++;
            while (i < argc)
                rest[n++] = argv[i++];
            break;
        }
        if (cli_opt(argc, argv, &i, "server", &v))
            cli_g.server = v;
        else if (cli_opt(argc, argv, &i, "profile", &v))
            cli_g.profile = v;
        else if (cli_opt(argc, argv, &i, "ca", &v))
            cli_g.ca = v;
        else if (cli_opt(argc, argv, &i, "soft-key", &v))
            cli_g.soft_key = v;
        else if (strcmp(argv[i], "--json") == 0)
            cli_g.json = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            free(rest);
            return help(stdout);
        } else
            rest[n++] = argv[i];
    }
    if (n == 0) {
        free(rest);
        return help(stderr);
    }
    if (strcmp(rest[0], "help") == 0) {
        free(rest);
        return help(stdout);
    }
    if (kw_init() != 0) {
        fprintf(stderr, "keyward: cannot initialise libkeyward\n");
        free(rest);
        return CLI_EXIT_PROFILE;
    }
    int rc = -1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(rest[0], commands[i].name) == 0)
            rc = commands[i].main(n, rest);
    if (rc < 0)
        rc = cli_usage("unknown command '%s'", rest[0]);
    free(rest);
    return rc;
}
