/*
 * keyward kt lookup NAME — looks NAME's roster up in the server's
 * key-transparency directory and verifies it: the log and VRF keys are
 * pinned in PROFILE/kt.json on first use (with the server URL), the search
 * proof is verified (kw_kt_search_verify) against the newest head verified
 * before (which must be consistent with the new one), the new head is
 * stored, and the roster in the value must open under the account key it
 * carries, name NAME, carry the directory's version and keep the account
 * key first seen for NAME (also pinned in kt.json).
 *
 * keyward audit --server URL [--from EPOCH] — replays every epoch's
 * insertion list through the auditor (kw_kt_auditor) and prints how many
 * epochs it verified; exit 2 naming the epoch on failure. The log key is
 * the one pinned in the profile's kt.json when it exists for that server,
 * else the one the server serves.
 *
 * Talks to the public, unauthenticated /v1/kt endpoints with libcurl;
 * the profile passphrase is not needed (nothing secret is read or written).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/kt.h"
#include "keyward/roster.h"

#define KT_HTTP_MAX ((size_t)48 << 20)

typedef struct {
    char *data;
    size_t len;
    int too_large;
} kt_body;

static size_t kt_write(char *p, size_t size, size_t n, void *ud)
{
    kt_body *b = ud;
    size_t add = size * n;
    if (b->len + add > KT_HTTP_MAX) {
        b->too_large = 1;
        return 0;
    }
    char *nd = realloc(b->data, b->len + add + 1);
    if (nd == NULL)
        return 0;
    b->data = nd;
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* GETs server + path; returns the parsed JSON object of a 200 answer, else
 * NULL with *status set (0: network error). */
static json_t *kt_get(const char *server, const char *path, long *status)
{
    char url[2048];
    kt_body b = {0};
    json_t *out = NULL;
    *status = 0;
    if (snprintf(url, sizeof(url), "%s%s", server, path) >= (int)sizeof(url))
        return NULL;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kt_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cli_g.ca != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, cli_g.ca);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (*status == 200 && b.data != NULL)
            out = json_loadb(b.data, b.len, 0, NULL);
        if (out != NULL && !json_is_object(out)) {
            json_decref(out);
            out = NULL;
        }
    }
    curl_easy_cleanup(c);
    free(b.data);
    return out;
}

/* Decodes a base64url string field into a malloc'd buffer (max bytes). */
static int kt_b64(json_t *o, const char *field, size_t max, uint8_t **out, size_t *len)
{
    json_t *v = json_object_get(o, field);
    *out = NULL;
    if (!json_is_string(v))
        return KW_ERR_FORMAT;
    size_t slen = json_string_length(v);
    if (slen / 4 * 3 + 3 > max + 3)
        return KW_ERR_TOO_LARGE;
    uint8_t *buf = malloc(slen / 4 * 3 + 3);
    if (buf == NULL)
        return KW_ERR_NOMEM;
    int r = kw_b64url_decode(buf, slen / 4 * 3 + 3, len, json_string_value(v), slen);
    if (r != KW_OK) {
        free(buf);
        return r;
    }
    *out = buf;
    return KW_OK;
}

static int kt_b64_fixed(json_t *o, const char *field, uint8_t *out, size_t n)
{
    uint8_t *b = NULL;
    size_t len = 0;
    int r = kt_b64(o, field, n, &b, &len);
    if (r == KW_OK && len != n)
        r = KW_ERR_FORMAT;
    if (r == KW_OK)
        memcpy(out, b, n);
    free(b);
    return r;
}

static int kt_put_b64(json_t *o, const char *field, const uint8_t *p, size_t n)
{
    size_t cap = kw_b64url_encoded_len(n) + 1;
    char *s = malloc(cap);
    if (s == NULL || kw_b64url_encode(s, cap, p, n) != KW_OK) {
        free(s);
        return KW_ERR_NOMEM;
    }
    int r = json_object_set_new(o, field, json_string(s)) == 0 ? KW_OK : KW_ERR_NOMEM;
    free(s);
    return r;
}

static const char *kt_server(void)
{
    if (cli_g.server != NULL)
        return cli_g.server;
    return getenv("KEYWARD_SERVER");
}

static const char *kt_profile(void)
{
    if (cli_g.profile != NULL)
        return cli_g.profile;
    return getenv("KEYWARD_HOME");
}

static int kt_fail(const char *what, const char *detail, int code)
{
    if (cli_g.json) {
        json_t *o = json_pack("{s:s,s:s}", "error", what, "reason", detail);
        if (o != NULL) {
            json_dumpf(o, stdout, JSON_COMPACT);
            fputc('\n', stdout);
            json_decref(o);
        }
    }
    fprintf(stderr, "keyward: %s: %s\n", what, detail);
    return code;
}

/* Writes kt.json durably (temporary file, fsync, rename). */
static int kt_state_save(const char *path, json_t *st)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return KW_ERR_INVALID_ARG;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return KW_ERR_SYSTEM;
    int ok = json_dumpf(st, f, JSON_INDENT(2)) == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return KW_ERR_SYSTEM;
    }
    return KW_OK;
}

static int kt_lookup(const char *name)
{
    const char *server = kt_server(), *profile = kt_profile();
    char path[4096], api[2048];
    uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES], vrf_pk[KW_VRF_PUBLICKEYBYTES];
    uint8_t head_enc[KW_KT_HEADBYTES];
    uint8_t *proof = NULL;
    size_t proof_len = 0;
    kw_kt_head pinned;
    int have_pinned = 0, rc = CLI_EXIT_SERVER;
    long status = 0;
    json_t *st = NULL, *resp = NULL, *out = NULL;
    kw_roster *roster = NULL;
    if (server == NULL)
        return cli_usage("kt lookup: no server (--server or $KEYWARD_SERVER)");
    if (profile == NULL)
        return cli_usage("kt lookup: no profile (--profile or $KEYWARD_HOME)");
    if (strlen(name) == 0 || strlen(name) > KW_KT_LABEL_MAXBYTES || strchr(name, '/') != NULL)
        return cli_usage("kt lookup: bad name");
    if (snprintf(path, sizeof(path), "%s/kt.json", profile) >= (int)sizeof(path))
        return cli_usage("kt lookup: profile path too long");

    st = json_load_file(path, 0, NULL);
    if (st == NULL && access(path, F_OK) == 0) {
        rc = kt_fail("kt lookup", "kt.json is damaged", CLI_EXIT_PROFILE);
        goto out;
    }
    if (st != NULL) {
        json_t *srv = json_object_get(st, "server");
        if (!json_is_string(srv) || strcmp(json_string_value(srv), server) != 0) {
            rc = kt_fail("kt lookup", "kt.json pins another server", CLI_EXIT_PROFILE);
            goto out;
        }
        if (kt_b64_fixed(st, "log_pk", log_pk, sizeof(log_pk)) != KW_OK ||
            kt_b64_fixed(st, "vrf_pk", vrf_pk, sizeof(vrf_pk)) != KW_OK) {
            rc = kt_fail("kt lookup", "kt.json is damaged", CLI_EXIT_PROFILE);
            goto out;
        }
        if (json_object_get(st, "head") != NULL) {
            if (kt_b64_fixed(st, "head", head_enc, sizeof(head_enc)) != KW_OK ||
                kw_kt_head_decode(&pinned, head_enc, sizeof(head_enc)) != KW_OK) {
                rc = kt_fail("kt lookup", "kt.json is damaged", CLI_EXIT_PROFILE);
                goto out;
            }
            have_pinned = 1;
        }
    } else {
        /* First use: pin the server's log and VRF keys. */
        json_t *keys = kt_get(server, "/v1/kt/keys", &status);
        int r = keys == NULL ? KW_ERR_FORMAT : KW_OK;
        if (r == KW_OK && ((r = kt_b64_fixed(keys, "log_pk", log_pk, sizeof(log_pk))) != KW_OK ||
                           (r = kt_b64_fixed(keys, "vrf_pk", vrf_pk, sizeof(vrf_pk))) != KW_OK))
            r = KW_ERR_FORMAT;
        json_decref(keys);
        if (r != KW_OK) {
            rc = kt_fail("kt lookup", "cannot fetch the directory keys", CLI_EXIT_SERVER);
            goto out;
        }
        st = json_pack("{s:s,s:{}}", "server", server, "accounts");
        if (st == NULL || kt_put_b64(st, "log_pk", log_pk, sizeof(log_pk)) != KW_OK ||
            kt_put_b64(st, "vrf_pk", vrf_pk, sizeof(vrf_pk)) != KW_OK) {
            rc = CLI_EXIT_PROFILE;
            goto out;
        }
    }

    char *esc = curl_easy_escape(NULL, name, 0);
    if (esc == NULL)
        goto out;
    if (have_pinned)
        snprintf(api, sizeof(api), "/v1/kt/search/%s/%" PRIu64, esc, pinned.log_size);
    else
        snprintf(api, sizeof(api), "/v1/kt/search/%s", esc);
    curl_free(esc);
    resp = kt_get(server, api, &status);
    if (resp == NULL || kt_b64(resp, "proof", KW_KT_RESPONSE_MAXBYTES, &proof, &proof_len) != KW_OK) {
        rc = kt_fail("kt lookup", status == 0 ? "network error" : "no search proof from the server",
                     CLI_EXIT_SERVER);
        goto out;
    }

    kw_kt_trust trust = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = have_pinned ? &pinned : NULL};
    kw_kt_result res;
    kw_kt_reason why = KW_KT_OK;
    if (kw_kt_search_verify(&res, &why, &trust, (const uint8_t *)name, strlen(name), proof,
                            proof_len) != KW_OK) {
        rc = kt_fail("kt lookup: verification failed", kw_kt_reason_name(why), CLI_EXIT_AUTH);
        goto out;
    }

    int64_t ndev = 0;
    json_t *devices = json_array();
    if (devices == NULL)
        goto out;
    if (res.version > 0) {
        roster = calloc(1, sizeof(*roster));
        if (roster == NULL) {
            json_decref(devices);
            goto out;
        }
        uint8_t account_pk[KW_ROSTER_PUBLICKEYBYTES], seen_pk[KW_ROSTER_PUBLICKEYBYTES];
        const char *bad = NULL;
        if (kw_roster_decode_unverified(roster, res.value, res.value_len) != KW_OK)
            bad = "roster-malformed";
        else {
            memcpy(account_pk, roster->account_pk, sizeof(account_pk));
            if (kw_roster_open(roster, res.value, res.value_len, account_pk) != KW_OK)
                bad = "roster-signature";
            else if (strcmp(roster->name, name) != 0)
                bad = "roster-wrong-account";
            else if (roster->version != res.version)
                bad = "roster-wrong-version";
        }
        json_t *accts = json_object_get(st, "accounts");
        if (bad == NULL && !json_is_object(accts)) {
            json_object_set_new(st, "accounts", json_object());
            accts = json_object_get(st, "accounts");
        }
        if (bad == NULL && json_object_get(accts, name) != NULL) {
            if (kt_b64_fixed(accts, name, seen_pk, sizeof(seen_pk)) != KW_OK ||
                !kw_ct_equal(seen_pk, account_pk, sizeof(seen_pk)))
                bad = "account-key-changed";
        } else if (bad == NULL && kt_put_b64(accts, name, account_pk, sizeof(account_pk)) != KW_OK) {
            json_decref(devices);
            goto out;
        }
        if (bad != NULL) {
            json_decref(devices);
            rc = kt_fail("kt lookup: verification failed", bad, CLI_EXIT_AUTH);
            goto out;
        }
        ndev = roster->ndevices;
        for (uint16_t i = 0; i < roster->ndevices; i++) {
            char id[64];
            kw_b64url_encode(id, sizeof(id), roster->devices[i].id, sizeof(roster->devices[i].id));
            json_array_append_new(devices,
                                  json_pack("{s:s,s:s}", "id", id, "name", roster->devices[i].name));
        }
    }

    /* Store the newest verified head. */
    kw_kt_head_encode(head_enc, &res.head);
    if (kt_put_b64(st, "head", head_enc, sizeof(head_enc)) != KW_OK || kt_state_save(path, st) != KW_OK) {
        json_decref(devices);
        rc = kt_fail("kt lookup", "cannot write kt.json", CLI_EXIT_PROFILE);
        goto out;
    }
    if (res.version == 0) {
        json_decref(devices);
        rc = kt_fail("kt lookup", "no such account in the directory (absence verified)",
                     CLI_EXIT_NOT_FOUND);
        goto out;
    }
    out = json_pack("{s:s,s:I,s:I,s:I,s:o}", "name", name, "version", (json_int_t)res.version,
                    "epoch", (json_int_t)res.head.epoch, "ndevices", (json_int_t)ndev, "devices",
                    devices);
    if (out == NULL)
        goto out;
    if (cli_g.json) {
        json_dumpf(out, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    } else {
        printf("%s: roster version %u verified at epoch %" PRIu64 " (%" PRId64 " devices)\n", name,
               res.version, res.head.epoch, ndev);
        size_t i;
        json_t *d;
        json_array_foreach(devices, i, d)
        {
            printf("  %s  %s\n", json_string_value(json_object_get(d, "id")),
                   json_string_value(json_object_get(d, "name")));
        }
    }
    rc = CLI_EXIT_OK;
out:
    free(roster);
    free(proof);
    json_decref(out);
    json_decref(resp);
    json_decref(st);
    return rc;
}

int cmd_kt_main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "lookup") == 0)
        return kt_lookup(argv[2]);
    return cli_usage("kt lookup NAME");
}

int cmd_audit_main(int argc, char **argv)
{
    const char *server = kt_server(), *profile = kt_profile();
    uint64_t from = 0;
    uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES];
    uint8_t *list = NULL;
    size_t list_len = 0;
    long status = 0;
    int rc = CLI_EXIT_SERVER, pinned = 0;
    kw_kt_auditor *a = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "from", &v)) {
            char *end;
            errno = 0;
            unsigned long long f = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || v[0] == '\0' || v[0] == '-')
                return cli_usage("audit: --from takes an epoch");
            from = (uint64_t)f;
        } else
            return cli_usage("audit: unexpected '%s'", argv[i]);
    }
    if (from != 0)
        return cli_usage("audit: --from is not supported yet (the replay starts at epoch 0)");
    if (server == NULL)
        return cli_usage("audit: no server (--server or $KEYWARD_SERVER)");
    if (profile != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/kt.json", profile);
        json_t *st = json_load_file(path, 0, NULL);
        json_t *srv = json_object_get(st, "server");
        if (json_is_string(srv) && strcmp(json_string_value(srv), server) == 0 &&
            kt_b64_fixed(st, "log_pk", log_pk, sizeof(log_pk)) == KW_OK)
            pinned = 1;
        json_decref(st);
    }
    if (!pinned) {
        json_t *keys = kt_get(server, "/v1/kt/keys", &status);
        int r = keys == NULL ? KW_ERR_FORMAT : kt_b64_fixed(keys, "log_pk", log_pk, sizeof(log_pk));
        json_decref(keys);
        if (r != KW_OK)
            return kt_fail("audit", "cannot fetch the directory keys", CLI_EXIT_SERVER);
    }
    json_t *h = kt_get(server, "/v1/kt/head", &status);
    json_t *je = json_object_get(h, "epoch");
    if (!json_is_integer(je) || json_integer_value(je) < 0) {
        json_decref(h);
        return kt_fail("audit", "cannot fetch the newest head", CLI_EXIT_SERVER);
    }
    uint64_t newest = (uint64_t)json_integer_value(je);
    json_decref(h);
    if (kw_kt_auditor_new(&a, log_pk, NULL) != KW_OK)
        return kt_fail("audit", "out of memory", CLI_EXIT_PROFILE);
    for (uint64_t e = 0; e <= newest; e++) {
        char api[64], msg[160];
        snprintf(api, sizeof(api), "/v1/kt/insertions/%" PRIu64, e);
        json_t *resp = kt_get(server, api, &status);
        int r = resp == NULL ? KW_ERR_FORMAT
                             : kt_b64(resp, "insertions", KW_KT_INSERTIONS_MAXBYTES, &list, &list_len);
        json_decref(resp);
        if (r != KW_OK) {
            snprintf(msg, sizeof(msg), "epoch %" PRIu64 ": no insertion list from the server", e);
            rc = kt_fail("audit", msg, CLI_EXIT_SERVER);
            goto out;
        }
        kw_kt_reason why = KW_KT_OK;
        uint64_t failed = e;
        r = kw_kt_auditor_feed(a, &why, &failed, list, list_len);
        free(list);
        list = NULL;
        if (r != KW_OK) {
            snprintf(msg, sizeof(msg), "epoch %" PRIu64 " failed: %s", failed, kw_kt_reason_name(why));
            rc = kt_fail("audit", msg, CLI_EXIT_AUTH);
            goto out;
        }
    }
    uint64_t n = kw_kt_auditor_epochs(a);
    if (cli_g.json) {
        json_t *o = json_pack("{s:I,s:I}", "epochs_verified", (json_int_t)n, "newest_epoch",
                              (json_int_t)newest);
        if (o != NULL) {
            json_dumpf(o, stdout, JSON_COMPACT);
            fputc('\n', stdout);
            json_decref(o);
        }
    } else
        printf("audit: %" PRIu64 " epochs verified (0 through %" PRIu64 ")\n", n, newest);
    rc = CLI_EXIT_OK;
out:
    free(list);
    kw_kt_auditor_free(&a);
    return rc;
}
