/*
 * keyward kt lookup NAME — looks NAME's roster up in the server's
 * key-transparency directory and verifies it (kw_client_kt_lookup): keys
 * and the newest verified head pinned in PROFILE/kt.json, the search proof
 * against them, the roster under the account key first seen for NAME.
 * keyward kt head — fetches, verifies and pins the newest head.
 * keyward kt gossip HEAD — checks a peer's head against ours (split view).
 * keyward kt require-auditor PK [--max-lag N] — requires an auditor's
 * signature over (a head consistent with) every pinned head.
 *
 * keyward audit [--from EPOCH] [--state DIR] [--sign KEYFILE] — replays
 * every epoch's insertion list through the auditor (kw_kt_auditor) and
 * prints how many epochs it verified; exit 2 naming the epoch on failure.
 * The state (auditor state + every verified (index, commitment)) is kept
 * in DIR (default PROFILE/audit) so the next run resumes where this one
 * stopped: --from EPOCH checks that the saved state ends there (0: start
 * over). With --sign, the auditor's Ed25519 key (KEYFILE: base64url seed,
 * created 0600 when missing) signs the newest verified head and the record
 * is published on the server. The log key is the one pinned in kt.json for
 * that server, else the one the server serves.
 *
 * Uses only the public /v1/kt endpoints through the client library; the
 * profile passphrase is not needed (nothing secret is read or written,
 * except the auditor key file).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "keyward/client_kt.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/kt.h"
#include "keyward/roster.h"

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


/* Opens a client for the key-transparency functions (no passphrase). */
static int kt_open(kw_client **c)
{
    kw_client_options o = {.profile_dir = cli_g.profile, .server_url = cli_g.server,
                           .ca_file = cli_g.ca};
    int r = kw_client_kt_open(c, &o);
    if (r != KW_OK) {
        int code = cli_fail(*c, r);
        kw_client_free(c);
        return code;
    }
    return CLI_EXIT_OK;
}

/* A verification failure: names the reason (exit 2). */
static int kt_verify_fail(kw_client *c, int r, const char *reason)
{
    if (r == KW_ERR_VERIFY) {
        const char *msg = kw_client_error(c);
        if (cli_g.json) {
            json_t *o = json_pack("{s:s,s:s}", "error", msg, "reason", reason);
            if (o != NULL) {
                json_dumpf(o, stdout, JSON_COMPACT);
                fputc('\n', stdout);
                json_decref(o);
            }
        }
        fprintf(stderr, "keyward: %s\n", msg);
        return CLI_EXIT_AUTH;
    }
    return cli_fail(c, r);
}

static int kt_lookup(const char *name)
{
    kw_client *c = NULL;
    kw_client_kt_result res;
    kw_roster *roster = NULL;
    json_t *out = NULL;
    int rc = kt_open(&c);
    if (rc != CLI_EXIT_OK)
        return rc;
    int r = kw_client_kt_lookup(c, name, &res);
    if (r != KW_OK) {
        rc = kt_verify_fail(c, r, res.reason);
        goto out;
    }
    if (res.version == 0) {
        rc = kt_fail("kt lookup", "no such account in the directory (absence verified)",
                     CLI_EXIT_NOT_FOUND);
        goto out;
    }
    rc = CLI_EXIT_SERVER;
    json_t *devices = json_array();
    roster = calloc(1, sizeof(*roster));
    if (devices == NULL || roster == NULL ||
        kw_roster_open(roster, res.roster, res.roster_len, res.account_pk) != KW_OK) {
        json_decref(devices);
        goto out;
    }
    for (uint16_t i = 0; i < roster->ndevices; i++) {
        char id[64];
        kw_b64url_encode(id, sizeof(id), roster->devices[i].id, sizeof(roster->devices[i].id));
        json_array_append_new(devices, json_pack("{s:s,s:s}", "id", id, "name", roster->devices[i].name));
    }
    json_t *forged = json_array();
    for (uint32_t i = 0; forged != NULL && i < res.nforged && i < KW_CLIENT_KT_FORGED_MAX; i++)
        json_array_append_new(forged, json_integer((json_int_t)res.forged[i]));
    out = json_pack("{s:s,s:I,s:I,s:I,s:I,s:o,s:I,s:o}", "name", name, "version",
                    (json_int_t)res.version, "log_version", (json_int_t)res.log_version, "epoch",
                    (json_int_t)res.head.epoch, "ndevices", (json_int_t)roster->ndevices, "devices",
                    devices, "nforged", (json_int_t)res.nforged, "forged_versions", forged);
    if (out == NULL)
        goto out;
    if (res.nforged > 0)
        fprintf(stderr,
                "keyward: WARNING: %s's label holds %u version(s) not signed by its account key "
                "(forged entries, first: %u); the newest signed roster was accepted\n",
                name, res.nforged, res.forged[0]);
    if (cli_g.json) {
        json_dumpf(out, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    } else {
        printf("%s: roster version %u verified at epoch %" PRIu64 " (%u devices)\n", name,
               res.version, res.head.epoch, (unsigned)roster->ndevices);
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
    json_decref(out);
    kw_client_kt_result_clear(&res);
    kw_client_free(&c);
    return rc;
}

/* keyward kt head: fetch, verify (consistency with the pinned head) and pin
 * the newest head. */
static int kt_head_cmd(void)
{
    kw_client *c = NULL;
    kw_kt_head h;
    kw_client_kt_failure f;
    kw_kt_reason kr;
    int rc = kt_open(&c);
    if (rc != CLI_EXIT_OK)
        return rc;
    int r = kw_client_kt_head(c, &h, &f, &kr);
    if (r != KW_OK) {
        rc = kt_verify_fail(c, r, kw_client_kt_reason_name(f, kr));
        goto out;
    }
    uint8_t enc[KW_KT_HEADBYTES];
    char b64[KW_KT_HEADBYTES * 2];
    kw_kt_head_encode(enc, &h);
    kw_b64url_encode(b64, sizeof(b64), enc, sizeof(enc));
    if (cli_g.json)
        printf("{\"epoch\":%" PRIu64 ",\"log_size\":%" PRIu64 ",\"head\":\"%s\"}\n", h.epoch,
               h.log_size, b64);
    else
        printf("head at epoch %" PRIu64 " verified and pinned\n%s\n", h.epoch, b64);
    rc = CLI_EXIT_OK;
out:
    kw_client_free(&c);
    return rc;
}

/* keyward kt gossip HEAD: checks a peer's head (base64url) against ours. */
static int kt_gossip_cmd(const char *b64)
{
    kw_client *c = NULL;
    uint8_t enc[KW_KT_HEADBYTES + 4];
    size_t len = 0;
    kw_client_kt_failure f;
    kw_kt_reason kr;
    if (kw_b64url_decode(enc, sizeof(enc), &len, b64, strlen(b64)) != KW_OK)
        return cli_usage("kt gossip: HEAD is a base64url tree head");
    int rc = kt_open(&c);
    if (rc != CLI_EXIT_OK)
        return rc;
    int r = kw_client_kt_check_gossip(c, enc, len, &f, &kr);
    if (r != KW_OK)
        rc = kt_verify_fail(c, r, kw_client_kt_reason_name(f, kr));
    else {
        if (cli_g.json)
            printf("{\"consistent\":true}\n");
        else
            printf("the peer's head is consistent with ours\n");
        rc = CLI_EXIT_OK;
    }
    kw_client_free(&c);
    return rc;
}

/* keyward kt require-auditor PK [--max-lag EPOCHS] */
static int kt_require_cmd(int argc, char **argv)
{
    kw_client *c = NULL;
    uint8_t pk[KW_SIGN_PUBLICKEYBYTES + 4];
    size_t len = 0;
    uint64_t lag = 3600;
    const char *pkb = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "max-lag", &v)) {
            char *end;
            errno = 0;
            unsigned long long l = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || v[0] == '\0' || v[0] == '-')
                return cli_usage("kt require-auditor: --max-lag takes a number of epochs");
            lag = (uint64_t)l;
        } else if (pkb == NULL)
            pkb = argv[i];
        else
            return cli_usage("kt require-auditor: unexpected '%s'", argv[i]);
    }
    if (pkb == NULL || kw_b64url_decode(pk, sizeof(pk), &len, pkb, strlen(pkb)) != KW_OK ||
        len != KW_SIGN_PUBLICKEYBYTES)
        return cli_usage("kt require-auditor PUBLIC_KEY (base64url) [--max-lag EPOCHS]");
    int rc = kt_open(&c);
    if (rc != CLI_EXIT_OK)
        return rc;
    int r = kw_client_kt_require_auditor(c, pk, lag);
    rc = r == KW_OK ? CLI_EXIT_OK : cli_fail(c, r);
    if (r == KW_OK && !cli_g.json)
        printf("heads pinned from now on need this auditor's signature (lag <= %" PRIu64 ")\n", lag);
    kw_client_free(&c);
    return rc;
}

/* keyward kt monitor NAME [--since EPOCH] [--from VERSION] */
static int kt_monitor_cmd(int argc, char **argv)
{
    kw_client *c = NULL;
    kw_client_kt_monitor_result m;
    uint64_t since = 0, from = 0;
    const char *name = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        uint64_t *dst = NULL;
        if (cli_opt(argc, argv, &i, "since", &v))
            dst = &since;
        else if (cli_opt(argc, argv, &i, "from", &v))
            dst = &from;
        else if (name == NULL) {
            name = argv[i];
            continue;
        } else
            return cli_usage("kt monitor: unexpected '%s'", argv[i]);
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno != 0 || *end != '\0' || v[0] == '\0' || v[0] == '-')
            return cli_usage("kt monitor: --since / --from take a number");
        *dst = (uint64_t)x;
    }
    if (name == NULL || from >= KW_KT_MAX_VERSION)
        return cli_usage("kt monitor NAME [--since EPOCH] [--from VERSION]");
    int rc = kt_open(&c);
    if (rc != CLI_EXIT_OK)
        return rc;
    int r = kw_client_kt_monitor(c, name, since, (uint32_t)from, &m);
    if (r != KW_OK) {
        rc = kt_verify_fail(c, r, m.reason);
        kw_client_free(&c);
        return rc;
    }
    if (cli_g.json)
        printf("{\"name\":\"%s\",\"first\":%u,\"count\":%u,\"more\":%s,\"epoch\":%" PRIu64 "}\n",
               name, m.m.first, m.m.count, m.m.more ? "true" : "false", m.m.head.epoch);
    else
        printf("%s: versions %u..%u verified at epoch %" PRIu64 "%s\n", name, m.m.first,
               m.m.first + m.m.count - 1, m.m.head.epoch,
               m.m.more ? " (more: ask again)" : " (and no later version)");
    kw_client_kt_monitor_clear(&m);
    kw_client_free(&c);
    return CLI_EXIT_OK;
}

int cmd_kt_main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "monitor") == 0)
        return kt_monitor_cmd(argc, argv);
    if (argc == 3 && strcmp(argv[1], "lookup") == 0)
        return kt_lookup(argv[2]);
    if (argc == 2 && strcmp(argv[1], "head") == 0)
        return kt_head_cmd();
    if (argc == 3 && strcmp(argv[1], "gossip") == 0)
        return kt_gossip_cmd(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "require-auditor") == 0)
        return kt_require_cmd(argc, argv);
    return cli_usage("kt lookup NAME | kt head | kt gossip HEAD | kt require-auditor PK [--max-lag N]");
}

/* ---- keyward audit ---- */

static void kw_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n-- > 0)
        *v++ = 0;
}

#define AUDIT_ENTRY 64 /* index ‖ commitment */
#define AUDIT_LIST_HDR (1 + KW_KT_HEADBYTES + 32 + 4)

static int read_file(const char *path, uint8_t **out, size_t *len, size_t max)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_SYSTEM;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || (size_t)sb.st_size > max) {
        fclose(f);
        return KW_ERR_TOO_LARGE;
    }
    uint8_t *b = malloc((size_t)sb.st_size + 1);
    if (b == NULL || fread(b, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        free(b);
        fclose(f);
        return KW_ERR_SYSTEM;
    }
    fclose(f);
    *out = b;
    *len = (size_t)sb.st_size;
    return KW_OK;
}

/* Writes path atomically (temp, fsync, rename). */
static int write_file(const char *path, const uint8_t *p, size_t n, mode_t mode)
{
    char tmp[4300];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return KW_ERR_TOO_LARGE;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return KW_ERR_SYSTEM;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return KW_ERR_SYSTEM;
        }
        off += (size_t)w;
    }
    int ok = fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return KW_ERR_SYSTEM;
    }
    return KW_OK;
}

/* The auditor key: a base64url seed in keyfile, created when missing. */
static int audit_key(const char *keyfile, kw_sign_key **key)
{
    uint8_t *b = NULL, seed[KW_SIGN_SEEDBYTES + 3];
    size_t len = 0, n = 0;
    int r = read_file(keyfile, &b, &len, 4096);
    if (r == KW_ERR_NOT_FOUND) {
        char text[64];
        if ((r = kw_sign_key_new(key)) != KW_OK)
            return r;
        kw_sign_key_seed(*key, seed);
        kw_b64url_encode(text, sizeof(text), seed, KW_SIGN_SEEDBYTES);
        kw_wipe(seed, sizeof(seed));
        size_t tl = strlen(text);
        text[tl++] = '\n';
        r = write_file(keyfile, (const uint8_t *)text, tl, 0600);
        kw_wipe(text, sizeof(text));
        if (r != KW_OK)
            kw_sign_key_free(key);
        return r;
    }
    if (r != KW_OK)
        return r;
    while (len > 0 && (b[len - 1] == '\n' || b[len - 1] == '\r'))
        len--;
    r = kw_b64url_decode(seed, sizeof(seed), &n, (const char *)b, len);
    kw_wipe(b, len);
    free(b);
    if (r == KW_OK && n != KW_SIGN_SEEDBYTES)
        r = KW_ERR_FORMAT;
    if (r == KW_OK)
        r = kw_sign_key_from_seed(key, seed);
    kw_wipe(seed, sizeof(seed));
    return r;
}

/* Resumes from DIR/state.bin (u64 number of leaves ‖ auditor state) and
 * DIR/leaves.bin (every verified (index, commitment), epoch by epoch):
 * rebuilds the tree of the saved epoch into ms and hands it to the auditor,
 * which checks its root against the saved head. */
static int audit_resume(const char *dir, const uint8_t log_pk[32], kw_prefix_memstore *ms,
                        kw_kt_auditor **a, size_t *nleaves)
{
    char path[4200];
    uint8_t *st = NULL, *lv = NULL;
    size_t stlen = 0, lvlen = 0;
    kw_prefix_store ps;
    int r;
    *nleaves = 0;
    if (snprintf(path, sizeof(path), "%s/state.bin", dir) >= (int)sizeof(path))
        return KW_ERR_TOO_LARGE;
    if ((r = read_file(path, &st, &stlen, 8 + KW_KT_AUDIT_STATEBYTES)) != KW_OK)
        return r;
    if (snprintf(path, sizeof(path), "%s/leaves.bin", dir) >= (int)sizeof(path))
        return KW_ERR_TOO_LARGE;
    r = read_file(path, &lv, &lvlen, (size_t)1 << 36);
    if (r == KW_ERR_NOT_FOUND)
        r = KW_OK;
    uint64_t n = 0;
    if (r == KW_OK && stlen < 8)
        r = KW_ERR_FORMAT;
    for (size_t i = 0; r == KW_OK && i < 8; i++)
        n = (n << 8) | st[i];
    if (r == KW_OK && (n > lvlen / AUDIT_ENTRY))
        r = KW_ERR_FORMAT; /* leaves lost: start over */
    kw_prefix_memstore_store(ms, &ps);
    /* The state's epoch count (its first 8 bytes) tells which epoch the
     * tree must be rebuilt as: the last verified one. */
    uint64_t epochs = 0;
    for (size_t i = 0; r == KW_OK && i < 8 && 8 + i < stlen; i++)
        epochs = (epochs << 8) | st[8 + i];
    if (r == KW_OK && epochs == 0)
        r = KW_ERR_FORMAT;
    if (r == KW_OK) {
        uint8_t root[32];
        kw_prefix_entry *e = n > 0 ? malloc((size_t)n * sizeof(*e)) : NULL;
        if (n > 0 && e == NULL)
            r = KW_ERR_NOMEM;
        for (size_t i = 0; r == KW_OK && i < n; i++) {
            memcpy(e[i].index, lv + i * AUDIT_ENTRY, 32);
            memcpy(e[i].commitment, lv + i * AUDIT_ENTRY + 32, 32);
        }
        if (r == KW_OK)
            r = kw_prefix_update(&ps, KW_PREFIX_NO_EPOCH, epochs - 1, e, (size_t)n, root, NULL);
        free(e);
    }
    if (r == KW_OK)
        r = kw_kt_auditor_resume(a, log_pk, &ps, st + 8, stlen - 8);
    if (r == KW_OK)
        *nleaves = (size_t)n;
    free(st);
    free(lv);
    return r;
}

static int audit_save(const char *dir, const kw_kt_auditor *a, size_t nleaves, const uint8_t *add,
                      size_t nadd)
{
    char path[4200];
    uint8_t st[8 + KW_KT_AUDIT_STATEBYTES];
    size_t len = 0;
    int r;
    if (nadd > 0) {
        if (snprintf(path, sizeof(path), "%s/leaves.bin", dir) >= (int)sizeof(path))
        return KW_ERR_TOO_LARGE;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return KW_ERR_SYSTEM;
        /* Cut what a crashed run appended beyond the saved count first. */
        int ok = ftruncate(fd, (off_t)(nleaves * AUDIT_ENTRY)) == 0 &&
                 lseek(fd, 0, SEEK_END) == (off_t)(nleaves * AUDIT_ENTRY);
        for (size_t off = 0; ok && off < nadd * AUDIT_ENTRY;) {
            ssize_t w = write(fd, add + off, nadd * AUDIT_ENTRY - off);
            ok = w > 0;
            off += ok ? (size_t)w : 0;
        }
        ok = ok && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok)
            return KW_ERR_SYSTEM;
    }
    if ((r = kw_kt_auditor_save(a, st + 8, sizeof(st) - 8, &len)) != KW_OK)
        return r;
    uint64_t n = nleaves + nadd;
    for (int i = 7; i >= 0; i--) {
        st[i] = (uint8_t)n;
        n >>= 8;
    }
    if (snprintf(path, sizeof(path), "%s/state.bin", dir) >= (int)sizeof(path))
        return KW_ERR_TOO_LARGE;
    return write_file(path, st, 8 + len, 0644);
}

int cmd_audit_main(int argc, char **argv)
{
    const char *state_dir = NULL, *keyfile = NULL;
    char defdir[4200];
    int from_set = 0;
    uint64_t from = 0, newest = 0;
    uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES];
    uint8_t *list = NULL, *add = NULL;
    size_t list_len = 0, nleaves = 0, nadd = 0, add_cap = 0;
    int rc = CLI_EXIT_SERVER, r;
    kw_client *c = NULL;
    kw_kt_auditor *a = NULL;
    kw_prefix_memstore *ms = NULL;
    kw_sign_key *skey = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "from", &v)) {
            char *end;
            errno = 0;
            unsigned long long f = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || v[0] == '\0' || v[0] == '-')
                return cli_usage("audit: --from takes an epoch");
            from = (uint64_t)f;
            from_set = 1;
        } else if (cli_opt(argc, argv, &i, "state", &v)) {
            state_dir = v;
        } else if (cli_opt(argc, argv, &i, "sign", &v)) {
            keyfile = v;
        } else
            return cli_usage("audit: unexpected '%s'", argv[i]);
    }
    if ((rc = kt_open(&c)) != CLI_EXIT_OK)
        return rc;
    rc = CLI_EXIT_SERVER;
    if (state_dir == NULL) {
        if (snprintf(defdir, sizeof(defdir), "%s/audit", kw_client_profile_dir(c)) >=
            (int)sizeof(defdir)) {
            rc = cli_usage("audit: profile path too long");
            goto out;
        }
        state_dir = defdir;
    }
    (void)mkdir(state_dir, 0700);
    if (keyfile != NULL && audit_key(keyfile, &skey) != KW_OK) {
        rc = kt_fail("audit", "cannot read or create the auditor key file", CLI_EXIT_PROFILE);
        goto out;
    }
    if ((r = kw_client_kt_log_key(c, log_pk)) != KW_OK ||
        (r = kw_client_kt_newest_epoch(c, &newest)) != KW_OK) {
        rc = cli_fail(c, r);
        goto out;
    }
    if (kw_prefix_memstore_new(&ms) != KW_OK)
        goto out;
    r = from_set && from == 0 ? KW_ERR_NOT_FOUND : audit_resume(state_dir, log_pk, ms, &a, &nleaves);
    if (r != KW_OK) {
        if (from_set && from != 0) {
            rc = kt_fail("audit", "no saved state to resume from (run without --from first)",
                         CLI_EXIT_USAGE);
            goto out;
        }
        if (r != KW_ERR_NOT_FOUND)
            fprintf(stderr, "keyward: audit: saved state unusable (%s): starting over\n",
                    kw_strerror(r));
        kw_kt_auditor_free(&a);
        kw_prefix_memstore_free(&ms);
        nleaves = 0;
        if (kw_kt_auditor_new(&a, log_pk, NULL) != KW_OK)
            goto out;
        char path[4300];
        if (snprintf(path, sizeof(path), "%s/leaves.bin", state_dir) < (int)sizeof(path))
            unlink(path);
    }
    uint64_t start = kw_kt_auditor_epochs(a);
    if (from_set && from != start) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the saved state ends at epoch %" PRIu64 ", not %" PRIu64, start,
                 from);
        rc = kt_fail("audit", msg, CLI_EXIT_USAGE);
        goto out;
    }
    for (uint64_t e = start; e <= newest; e++) {
        char msg[160];
        if ((r = kw_client_kt_insertions(c, e, &list, &list_len)) != KW_OK) {
            rc = cli_fail(c, r);
            goto out;
        }
        kw_kt_reason why = KW_KT_OK;
        uint64_t failed = e;
        r = kw_kt_auditor_feed(a, &why, &failed, list, list_len);
        if (r != KW_OK) {
            snprintf(msg, sizeof(msg), "epoch %" PRIu64 " failed: %s", failed, kw_kt_reason_name(why));
            rc = kt_fail("audit", msg, CLI_EXIT_AUTH);
            goto out;
        }
        size_t k = (list_len - AUDIT_LIST_HDR) / AUDIT_ENTRY;
        if (nadd + k > add_cap) {
            size_t cap = add_cap == 0 ? 1024 : add_cap;
            while (cap < nadd + k)
                cap *= 2;
            uint8_t *na = realloc(add, cap * AUDIT_ENTRY);
            if (na == NULL)
                goto out;
            add = na;
            add_cap = cap;
        }
        if (k > 0)
            memcpy(add + nadd * AUDIT_ENTRY, list + AUDIT_LIST_HDR, k * AUDIT_ENTRY);
        nadd += k;
        free(list);
        list = NULL;
        if (ms != NULL && kw_kt_auditor_epochs(a) >= 2)
            (void)kw_prefix_memstore_prune(ms, kw_kt_auditor_epochs(a) - 1);
    }
    if (audit_save(state_dir, a, nleaves, add, nadd) != KW_OK)
        fprintf(stderr, "keyward: audit: cannot save the state in %s (the next run starts over)\n",
                state_dir);
    uint64_t n = kw_kt_auditor_epochs(a);
    kw_kt_head h;
    char pkb[64] = "";
    if (skey != NULL && kw_kt_auditor_head(a, &h) == KW_OK) {
        uint8_t rec[KW_KT_AUDITOR_SIGBYTES];
        if ((r = kw_kt_auditor_sig_make(rec, skey, &h)) != KW_OK ||
            (r = kw_client_kt_publish_audit(c, rec)) != KW_OK) {
            rc = cli_fail(c, r);
            goto out;
        }
        kw_b64url_encode(pkb, sizeof(pkb), rec, 32);
    }
    if (cli_g.json) {
        json_t *o = json_pack("{s:I,s:I,s:I}", "epochs_verified", (json_int_t)n, "newest_epoch",
                              (json_int_t)newest, "resumed_from", (json_int_t)start);
        if (o != NULL && pkb[0] != '\0')
            json_object_set_new(o, "auditor_pk", json_string(pkb));
        if (o != NULL) {
            json_dumpf(o, stdout, JSON_COMPACT);
            fputc('\n', stdout);
            json_decref(o);
        }
    } else {
        printf("audit: %" PRIu64 " epochs verified (0 through %" PRIu64 "; this run from %" PRIu64
               ")\n",
               n, newest, start);
        if (pkb[0] != '\0')
            printf("audit: signed head %" PRIu64 " as auditor %s\n", n - 1, pkb);
    }
    rc = CLI_EXIT_OK;
out:
    free(list);
    free(add);
    kw_kt_auditor_free(&a);
    kw_prefix_memstore_free(&ms);
    kw_sign_key_free(&skey);
    kw_client_free(&c);
    return rc;
}
