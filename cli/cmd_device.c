/* keyward device list | approve ID (--code JOINCODE | interactive) | remove ID [--yes]
 *              | removals | dismiss ID
 * (ID may follow "--"; an ID starting with '-' is taken as the ID anyway).
 * removals lists the removals the web page queued; remove completes one
 * (signed roster, keys rotated), dismiss drops it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_ckv.h"
#include "keyward/client_ckv.h"
#include "keyward/client_web.h"
#include "keyward/codec.h"
#include "keyward/err.h"

/* A device id: 16 bytes in base64url (22 characters, no padding). */
static bool is_device_id(const char *a)
{
    uint8_t raw[16];
    size_t n = 0;
    return strlen(a) == 22 && kw_b64url_decode(raw, sizeof(raw), &n, a, 22) == KW_OK && n == 16;
}

static bool confirm_code(const char *join_code, void *arg)
{
    char ans[16], q[160];
    (void)arg;
    snprintf(q, sizeof(q), "Does the new device show join code %s? [y/N] ", join_code);
    return cli_prompt(q, ans, sizeof(ans), false) && (ans[0] == 'y' || ans[0] == 'Y');
}

/* Self-monitoring after a device command that succeeded (list, remove;
 * approve runs it inside the library): the own label is checked against
 * the rosters this account's devices made, so a roster version none of
 * them made is an alert here (exit 2, unknown-own-device). Ends the
 * command (ckv_cli_finish: alerts on stderr and in --json; frees *c). */
static int finish_monitored(kw_client **c, int r, json_t *out, bool monitor, const char *headline)
{
    if (r == KW_OK && monitor) {
        json_t *sc = NULL;
        int sr = kw_client_ckv_own_change(*c, 0, NULL, &sc);
        json_t *al = json_object_get(sc, "alerts");
        if (out == NULL)
            out = json_object();
        if (json_array_size(al) > 0 && out != NULL)
            json_object_set(out, "alerts", al);
        if (sc != NULL) {
            json_object_del(sc, "alerts");
            if (out != NULL && !cli_g.json)
                json_decref(sc); /* the table stays as it was */
            else if (out != NULL)
                json_object_set_new(out, "self_check", sc);
            else
                json_decref(sc);
        }
        if (sr == KW_ERR_VERIFY)
            r = sr;
        else if (sr != KW_OK && out != NULL && cli_g.json)
            json_object_set_new(out, "self_check_error", json_string(kw_client_error(*c)));
    }
    return ckv_cli_finish(c, r, out, headline);
}

int cmd_device_main(int argc, char **argv)
{
    const char *id = NULL, *code = NULL, *v;
    bool yes = false;
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    if (argc < 2)
        return cli_usage("usage: keyward device list | approve ID --code CODE | remove ID [--yes] | "
                         "removals | dismiss ID");
    const char *sub = argv[1];
    bool options = true;
    for (int i = 2; i < argc; i++) {
        /* device ids are base64url and may start with '-': "--" ends the
         * options, and a well-formed device id is never an option */
        if (options && strcmp(argv[i], "--") == 0)
            options = false;
        else if (options && !is_device_id(argv[i]) && cli_opt(argc, argv, &i, "code", &v))
            code = v;
        else if (options && (strcmp(argv[i], "--yes") == 0 || strcmp(argv[i], "-y") == 0))
            yes = true;
        else if ((!options || argv[i][0] != '-' || is_device_id(argv[i])) && id == NULL)
            id = argv[i];
        else
            return cli_usage("device %s: unexpected '%s'", sub, argv[i]);
    }
    if (strcmp(sub, "list") == 0 || strcmp(sub, "removals") == 0) {
        if (id != NULL || code != NULL || yes)
            return cli_usage("device %s takes no argument", sub);
    } else if (strcmp(sub, "approve") == 0 || strcmp(sub, "remove") == 0 || strcmp(sub, "dismiss") == 0) {
        if (id == NULL)
            return cli_usage("device %s: missing device ID (see `keyward device list`)", sub);
    } else {
        return cli_usage("unknown subcommand 'device %s'", sub);
    }
    if (strcmp(sub, "approve") == 0 && code == NULL && !isatty(0))
        return cli_usage("device approve: give --code with the join code the new device shows");
    if (strcmp(sub, "remove") == 0 && !yes) {
        char ans[16], q[160];
        snprintf(q, sizeof(q), "Remove device %s and rotate the keychain key? [y/N] ", id);
        if (!cli_prompt(q, ans, sizeof(ans), false))
            return cli_usage("device remove: confirm with --yes");
        if (ans[0] != 'y' && ans[0] != 'Y')
            return cli_usage("device remove: not confirmed");
    }
    if ((rc = cli_open(&c)) != 0)
        return rc;
    if (strcmp(sub, "list") == 0) {
        r = kw_client_device_list(c, &out);
        return finish_monitored(&c, r, out, true, NULL);
    } else if (strcmp(sub, "removals") == 0) {
        r = kw_client_web_removals(c, &out);
        if (r == 0 && !cli_g.json) {
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(out, "removals"), i, e)
            {
                const char *nm = json_string_value(json_object_get(e, "name"));
                printf("%s  %s  requested %lld\n", json_string_value(json_object_get(e, "device_id")),
                       nm != NULL ? nm : "?", (long long)json_integer_value(json_object_get(e, "requested_at")));
            }
            if (json_array_size(json_object_get(out, "removals")) == 0)
                printf("no device removals queued from the web page\n");
            json_decref(out);
            rc = 0;
        } else {
            rc = r == 0 ? cli_print(out, NULL) : cli_fail(c, r);
        }
    } else if (strcmp(sub, "dismiss") == 0) {
        r = kw_client_web_removal_dismiss(c, id, &out);
        rc = r == 0 ? cli_print(out, "queued removal dismissed; the device keeps its place") : cli_fail(c, r);
    } else if (strcmp(sub, "approve") == 0) {
        r = kw_client_device_approve(c, id, code, confirm_code, NULL, &out);
        return finish_monitored(&c, r, out, false, "device approved");
    } else {
        r = kw_client_device_remove(c, id, &out);
        return finish_monitored(&c, r, out, true, "device removed; keychain key rotated");
    }
    kw_client_free(&c);
    return rc;
}
