/* Shared helpers of the keyward command files (see cli.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "keyward/err.h"

cli_globals cli_g;

static void wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

bool cli_prompt(const char *question, char *buf, size_t cap, bool secret)
{
    struct termios old, noecho;
    bool restored = true;
    FILE *tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return false;
    int fd = fileno(tty);
    fprintf(tty, "%s", question);
    fflush(tty);
    if (secret && tcgetattr(fd, &old) == 0) {
        noecho = old;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        restored = tcsetattr(fd, TCSAFLUSH, &noecho) != 0;
    }
    bool ok = fgets(buf, (int)cap, tty) != NULL;
    if (secret && !restored) {
        tcsetattr(fd, TCSAFLUSH, &old);
        fprintf(tty, "\n");
    }
    fclose(tty);
    if (!ok)
        return false;
    buf[strcspn(buf, "\r\n")] = '\0';
    return true;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "keyward: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see keyward --help)\n");
    return CLI_EXIT_USAGE;
}

bool cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0)
        return false;
    if (a[2 + n] == '=') {
        *val = a + 3 + n;
        return true;
    }
    if (a[2 + n] != '\0' || *i + 1 >= argc)
        return false;
    *val = argv[++*i];
    return true;
}

static int exit_code(int origin, int err)
{
    if (origin == KW_CLIENT_ORIGIN_PROFILE)
        return CLI_EXIT_PROFILE;
    if (origin == KW_CLIENT_ORIGIN_NETWORK)
        return CLI_EXIT_SERVER;
    switch (err) {
    case KW_ERR_INVALID_ARG: return origin == KW_CLIENT_ORIGIN_LOCAL ? CLI_EXIT_USAGE : CLI_EXIT_SERVER;
    case KW_ERR_VERIFY: return CLI_EXIT_AUTH;
    case KW_ERR_NOT_FOUND: return CLI_EXIT_NOT_FOUND;
    case KW_ERR_CONFLICT: return CLI_EXIT_CONFLICT;
    case KW_ERR_LIMIT: return CLI_EXIT_LIMIT;
    default: return CLI_EXIT_SERVER;
    }
}

int cli_fail(kw_client *c, int err)
{
    const char *msg = kw_client_error(c);
    if (msg[0] == '\0')
        msg = kw_strerror(err);
    int code = exit_code(kw_client_error_origin(c), err);
    fprintf(stderr, "keyward: %s\n", msg);
    if (cli_g.json) {
        json_t *o = json_pack("{s:{s:s,s:s,s:i}}", "error", "code", kw_errname(err), "message", msg,
                              "exit", code);
        if (o != NULL) {
            char *s = json_dumps(o, JSON_COMPACT);
            if (s != NULL)
                printf("%s\n", s);
            free(s);
            json_decref(o);
        }
    }
    return code;
}

int cli_open(kw_client **c)
{
    char buf[1024];
    const char *pass = getenv("KEYWARD_PASSPHRASE");
    kw_client_options o = {.profile_dir = cli_g.profile, .server_url = cli_g.server,
                           .ca_file = cli_g.ca};
    const char *fast = getenv("KEYWARD_TEST_FAST_KDF");
    o.fast_kdf = fast != NULL && strcmp(fast, "1") == 0;
    if (pass == NULL) {
        if (!cli_prompt("profile passphrase: ", buf, sizeof(buf), true)) {
            fprintf(stderr, "keyward: no terminal to ask the profile passphrase: set "
                            "KEYWARD_PASSPHRASE\n");
            return CLI_EXIT_PROFILE;
        }
        pass = buf;
    }
    o.passphrase = pass;
    o.passphrase_len = strlen(pass);
    int r = kw_client_open(c, &o);
    wipe(buf, sizeof(buf));
    if (r != KW_OK) {
        int code = cli_fail(*c, r);
        kw_client_free(c);
        return code;
    }
    return cli_attach_authenticator(*c);
}

int cli_secret(char *buf, size_t cap, const char *file, const char *env_name, const char *prompt,
               bool confirm)
{
    const char *env = getenv(env_name);
    int rc = CLI_EXIT_USAGE;
    if (file != NULL) {
        FILE *f = fopen(file, "r");
        if (f == NULL) {
            fprintf(stderr, "keyward: cannot read %s: %s\n", file, strerror(errno));
            goto fail;
        }
        setvbuf(f, NULL, _IONBF, 0); /* no stdio buffer left holding the secret */
        bool ok = fgets(buf, (int)cap, f) != NULL;
        fclose(f);
        if (!ok) {
            fprintf(stderr, "keyward: %s is empty\n", file);
            goto fail;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
    } else if (env != NULL) {
        snprintf(buf, cap, "%s", env);
    } else {
        char again[1024], question[128];
        snprintf(question, sizeof(question), "%s: ", prompt);
        if (!cli_prompt(question, buf, cap, true)) {
            fprintf(stderr, "keyward: no terminal to ask the %s: use a file option or %s\n", prompt,
                    env_name);
            goto fail;
        }
        if (confirm) {
            bool ok = cli_prompt("again: ", again, sizeof(again), true) && strcmp(again, buf) == 0;
            wipe(again, sizeof(again));
            if (!ok) {
                fprintf(stderr, "keyward: the passwords differ\n");
                goto fail;
            }
        }
    }
    if (buf[0] == '\0') {
        fprintf(stderr, "keyward: the %s is empty\n", prompt);
        goto fail;
    }
    return CLI_EXIT_OK;
fail:
    wipe(buf, cap); /* nothing half-read stays behind, whatever the caller does */
    return rc;
}

int cli_password(char *buf, size_t cap, const char *file, bool confirm)
{
    return cli_secret(buf, cap, file, "KEYWARD_PASSWORD", "account password", confirm);
}

static void print_value(const char *indent, const char *key, json_t *v)
{
    if (json_is_string(v))
        printf("%s%s: %s\n", indent, key, json_string_value(v));
    else if (json_is_integer(v))
        printf("%s%s: %lld\n", indent, key, (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        printf("%s%s: %s\n", indent, key, json_is_true(v) ? "yes" : "no");
    else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        printf("%s%s:\n", indent, key);
        json_array_foreach(v, i, e)
        {
            const char *k;
            json_t *f;
            printf("%s  -\n", indent);
            json_object_foreach(e, k, f)
            {
                if (json_is_string(f) || json_is_integer(f) || json_is_boolean(f))
                    print_value("      ", k, f);
            }
        }
    }
}

/* Results can carry secrets shown once (a recovery code, a TOTP secret and
 * its otpauth URI): wipe every string in place before the object is freed. */
static void wipe_strings(json_t *v)
{
    const char *k;
    json_t *child;
    size_t i;
    if (json_is_string(v)) {
        sodium_memzero((char *)(uintptr_t)json_string_value(v), json_string_length(v));
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, child)
            wipe_strings(child);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
            wipe_strings(child);
    }
}

int cli_print(json_t *o, const char *headline)
{
    if (o == NULL)
        o = json_object();
    if (cli_g.json) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (s != NULL) {
            printf("%s\n", s);
            sodium_memzero(s, strlen(s));
        }
        free(s);
    } else {
        const char *k;
        json_t *v;
        if (headline != NULL)
            printf("%s\n", headline);
        json_object_foreach(o, k, v)
            print_value("", k, v);
    }
    fflush(stdout);
    wipe_strings(o);
    json_decref(o);
    return CLI_EXIT_OK;
}
