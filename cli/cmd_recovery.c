/* keyward recovery contact add NAME | list | remove ID | cancel ID | help OWNER
 * keyward recovery passcode set|delete [--passcode-file F]
 * keyward recover --passcode [--passcode-file F]      (a pending device)
 * keyward recover NAME --contact CODE [--device-name N] [--password-file F]
 * The passcode comes from the file, $KEYWARD_PASSCODE or the terminal; the
 * contact's recovery code is what `recovery contact help` showed the
 * contact after the waiting period. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keyward/client_adp.h"

#define RECOVERY_USAGE                                                                             \
    "usage: keyward recovery contact add NAME | contact list | contact remove ID | contact "      \
    "cancel ID | contact help OWNER | passcode set|delete [--passcode-file F]"

static int passcode(char buf[KW_CLIENT_PASSCODE_MAXBYTES + 2], const char *file, bool confirm)
{
    return cli_secret(buf, KW_CLIENT_PASSCODE_MAXBYTES + 2, file, "KEYWARD_PASSCODE", "passcode",
                      confirm);
}

static int contact_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    const char *sub = argc >= 3 ? argv[2] : "";
    bool list = strcmp(sub, "list") == 0;
    if ((list && argc != 3) || (!list && argc != 4) ||
        (!list && strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0 && strcmp(sub, "cancel") != 0 &&
         strcmp(sub, "help") != 0))
        return cli_usage(RECOVERY_USAGE);
    if ((rc = cli_open(&c)) != 0) {
        kw_client_free(&c);
        return rc;
    }
    const char *headline = NULL;
    if (list) {
        r = kw_client_recovery_contact_list(c, &out);
    } else if (strcmp(sub, "add") == 0) {
        r = kw_client_recovery_contact_add(c, argv[3], &out);
        headline = "recovery contact added: they can help you recover, after a waiting period you can "
                   "cancel from any of your devices";
    } else if (strcmp(sub, "remove") == 0) {
        r = kw_client_recovery_contact_remove(c, argv[3], &out);
        headline = "recovery contact removed";
    } else if (strcmp(sub, "cancel") == 0) {
        r = kw_client_recovery_contact_cancel(c, argv[3], &out);
        headline = "recovery by this contact cancelled";
    } else {
        r = kw_client_recovery_contact_help(c, argv[3], &out);
        const char *st = r == 0 ? json_string_value(json_object_get(out, "state")) : NULL;
        headline = st != NULL && strcmp(st, "released") == 0
                       ? "give this recovery code to its owner in person (shown once)"
                       : "recovery requested: the owner can cancel it until the release time; run this "
                         "again then";
    }
    rc = r == 0 ? cli_print(out, headline) : cli_fail(c, r);
    kw_client_free(&c);
    return rc;
}

int cmd_recovery_main(int argc, char **argv)
{
    const char *file = NULL;
    char pc[KW_CLIENT_PASSCODE_MAXBYTES + 2];
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    if (argc >= 2 && strcmp(argv[1], "contact") == 0)
        return contact_main(argc, argv);
    if (argc < 3 || strcmp(argv[1], "passcode") != 0 ||
        (strcmp(argv[2], "set") != 0 && strcmp(argv[2], "delete") != 0))
        return cli_usage(RECOVERY_USAGE);
    for (int i = 3; i < argc; i++)
        if (!cli_opt(argc, argv, &i, "passcode-file", &file))
            return cli_usage("recovery passcode: unexpected '%s'", argv[i]);
    bool set = strcmp(argv[2], "set") == 0;
    if (set && (rc = passcode(pc, file, true)) != 0)
        return rc;
    if ((rc = cli_open(&c)) == 0) {
        r = set ? kw_client_passcode_set(c, pc, &out) : kw_client_passcode_delete(c, &out);
        rc = r == 0 ? cli_print(out, set ? "passcode escrow set (10 wrong passcodes destroy it)"
                                         : "passcode escrow deleted")
                    : cli_fail(c, r);
    }
    sodium_memzero(pc, sizeof(pc));
    kw_client_free(&c);
    return rc;
}

int cmd_recover_main(int argc, char **argv)
{
    const char *file = NULL, *pwfile = NULL, *code = NULL, *name = NULL, *dname = NULL;
    bool use_passcode = false;
    char pc[KW_CLIENT_PASSCODE_MAXBYTES + 2], pw[1024];
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--passcode") == 0)
            use_passcode = true;
        else if (cli_opt(argc, argv, &i, "passcode-file", &file) || cli_opt(argc, argv, &i, "contact", &code) ||
                 cli_opt(argc, argv, &i, "password-file", &pwfile) ||
                 cli_opt(argc, argv, &i, "device-name", &dname))
            continue;
        else if (argv[i][0] != '-' && name == NULL)
            name = argv[i];
        else
            return cli_usage("recover: unexpected '%s'", argv[i]);
    }
    if (code != NULL) {
        if (name == NULL || use_passcode || file != NULL)
            return cli_usage("usage: keyward recover NAME --contact CODE [--device-name N]");
        if ((rc = cli_password(pw, sizeof(pw), pwfile, false)) != 0)
            return rc;
        if ((rc = cli_open(&c)) == 0) {
            r = kw_client_recover_contact(c, name, dname, (const uint8_t *)pw, strlen(pw), code, &out);
            rc = r == 0 ? cli_print(out, "recovered with your recovery contact: this device is trusted")
                        : cli_fail(c, r);
        }
        sodium_memzero(pw, sizeof(pw));
        kw_client_free(&c);
        return rc;
    }
    if ((!use_passcode && file == NULL) || name != NULL)
        return cli_usage("usage: keyward recover --passcode [--passcode-file F]   (after `keyward login "
                         "NAME` with a second factor) | recover NAME --contact CODE");
    if ((rc = passcode(pc, file, false)) != 0)
        return rc;
    if ((rc = cli_open(&c)) == 0) {
        r = kw_client_recover_passcode(c, pc, &out);
        rc = r == 0 ? cli_print(out, "recovered: this device is trusted") : cli_fail(c, r);
    }
    sodium_memzero(pc, sizeof(pc));
    kw_client_free(&c);
    return rc;
}
