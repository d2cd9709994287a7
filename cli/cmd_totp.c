/* keyward totp enable [--secret B32] [--code C | --self-confirm] | disable | code --secret B32 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static bool ask_code(const char *uri, const char *secret, char code[static KW_CLIENT_CODEBYTES],
                     void *arg)
{
    char buf[32];
    (void)arg;
    fprintf(stderr, "Add this to your authenticator app:\n  %s\n  secret: %s\n", uri, secret);
    if (!cli_prompt("current 6-digit code: ", buf, sizeof(buf), false) || strlen(buf) != 6)
        return false;
    memcpy(code, buf, 7);
    return true;
}

int cmd_totp_main(int argc, char **argv)
{
    const char *secret = NULL, *code = NULL, *v;
    bool self = false;
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    if (argc < 2)
        return cli_usage("usage: keyward totp enable | disable | code --secret B32");
    const char *sub = argv[1];
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "secret", &v))
            secret = v;
        else if (cli_opt(argc, argv, &i, "code", &v))
            code = v;
        else if (strcmp(argv[i], "--self-confirm") == 0)
            self = true;
        else
            return cli_usage("totp %s: unexpected '%s'", sub, argv[i]);
    }
    if (strcmp(sub, "code") == 0) {
        char now[KW_CLIENT_CODEBYTES];
        if (secret == NULL)
            return cli_usage("totp code: give --secret B32");
        if (kw_client_totp_code(secret, now) != 0)
            return cli_usage("totp code: not a base32 secret of 16-64 bytes");
        return cli_print(json_pack("{s:s}", "code", now), NULL);
    }
    if (strcmp(sub, "enable") != 0 && strcmp(sub, "disable") != 0)
        return cli_usage("unknown subcommand 'totp %s'", sub);
    if ((rc = cli_open(&c)) != 0)
        return rc;
    if (strcmp(sub, "enable") == 0) {
        r = kw_client_totp_enable(c, secret, code, self, ask_code, NULL, &out);
        rc = r == 0 ? cli_print(out, "TOTP enabled") : cli_fail(c, r);
    } else {
        r = kw_client_totp_disable(c, &out);
        rc = r == 0 ? cli_print(out, "TOTP disabled") : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
