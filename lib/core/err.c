#include "keyward/err.h"

#include <stddef.h>

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

static const struct err_entry err_table[] = {
    {KW_OK, "ok", "success"},
    {KW_ERR_FORMAT, "format", "malformed input"},
    {KW_ERR_TRUNCATED, "truncated", "input truncated"},
    {KW_ERR_TOO_LARGE, "too_large", "input or output too large"},
    {KW_ERR_VERIFY, "verify", "verification failed"},
    {KW_ERR_NOT_FOUND, "not_found", "not found"},
    {KW_ERR_CONFLICT, "conflict", "conflict"},
    {KW_ERR_LIMIT, "limit", "limit reached"},
    {KW_ERR_SYSTEM, "system", "system error"},
    {KW_ERR_STORAGE, "storage", "storage error"},
    {KW_ERR_INTERNAL, "internal", "internal error"},
    {KW_ERR_NOMEM, "nomem", "out of memory"},
    {KW_ERR_INVALID_ARG, "invalid_argument", "invalid argument"},
    {KW_ERR_UNSUPPORTED, "unsupported", "unsupported suite, format or mode"},
    {KW_ERR_CRYPTO, "crypto", "cryptographic operation failed"},
};

static const struct err_entry *err_lookup(int err)
{
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
        if (err_table[i].code == err)
            return &err_table[i];
    }
    return NULL;
}

const char *kw_strerror(int err)
{
    const struct err_entry *e = err_lookup(err);
    return e != NULL ? e->text : "unknown error";
}

const char *kw_errname(int err)
{
    const struct err_entry *e = err_lookup(err);
    return e != NULL ? e->name : "unknown";
}
