/* keyward send NAME TEXT | keyward send NAME --file F [--type TYPE]
 * — an end-to-end message to every device of account NAME and to this
 * account's other devices (keyward/client_msg.h). TEXT may follow "--".
 * A recipient who is a contact is held to its Contact Key Verification pins
 * (keyward/client_ckv.h): a refusal prints the named alert (exit 2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cli.h"
#include "cmd_ckv.h"
#include "keyward/client_msg.h"
#include "keyward/err.h"

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    *len = 0;
    if (f == NULL)
        return cli_usage("send: cannot open '%s'", path);
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 ||
        (uint64_t)st.st_size > KW_CLIENT_MSG_CONTENT_MAXBYTES) {
        fclose(f);
        fprintf(stderr, "keyward: '%s' is larger than %zu bytes\n", path,
                (size_t)KW_CLIENT_MSG_CONTENT_MAXBYTES);
        return CLI_EXIT_LIMIT;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n == 0 ? 1 : n);
    if (b == NULL || fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return cli_usage("send: cannot read '%s'", path);
    }
    fclose(f);
    *out = b;
    *len = n;
    return 0;
}

int cmd_send_main(int argc, char **argv)
{
    const char *name = NULL, *text = NULL, *file = NULL, *type = NULL, *v;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        if (options && strcmp(argv[i], "--") == 0)
            options = false;
        else if (options && cli_opt(argc, argv, &i, "file", &v))
            file = v;
        else if (options && cli_opt(argc, argv, &i, "type", &v))
            type = v;
        else if ((!options || argv[i][0] != '-') && name == NULL)
            name = argv[i];
        else if ((!options || argv[i][0] != '-') && text == NULL)
            text = argv[i];
        else
            return cli_usage("send: unexpected '%s'", argv[i]);
    }
    if (name == NULL || (text == NULL) == (file == NULL))
        return cli_usage("usage: keyward send NAME TEXT | keyward send NAME --file F [--type TYPE]");
    if (type == NULL)
        type = file != NULL ? KW_CLIENT_MSG_TYPE_FILE : KW_CLIENT_MSG_TYPE_TEXT;
    uint8_t *content = NULL;
    size_t len = 0;
    int rc;
    if (file != NULL && (rc = read_file(file, &content, &len)) != 0)
        return rc;
    if (text != NULL && strlen(text) > KW_CLIENT_MSG_CONTENT_MAXBYTES) {
        fprintf(stderr, "keyward: the message is too long\n");
        return CLI_EXIT_LIMIT;
    }
    kw_client *c = NULL;
    json_t *out = NULL;
    if ((rc = cli_open(&c)) == 0) {
        int r = kw_client_msg_send(c, name, type,
                                   text != NULL ? (const uint8_t *)text : content,
                                   text != NULL ? strlen(text) : len, &out);
        /* a contact's CKV alerts are shown (a refused send: exit 2 with the
         * named alert, e.g. account-key-changed) */
        rc = ckv_cli_finish(&c, r, out, "message sent");
    }
    if (content != NULL) {
        sodium_memzero(content, len);
        free(content);
    }
    kw_client_free(&c);
    return rc;
}
