/*
 * keyward put | get | ls | rm | backup | restore — end-to-end encrypted
 * cloud records (keyward/client_records.h). Long transfers draw a progress
 * bar on stderr when stderr is a terminal.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_records.h"
#include "keyward/client_records.h"

typedef struct {
    double last;
    bool drawn;
} bar_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bar(uint64_t done, uint64_t total, void *arg)
{
    bar_state *b = arg;
    double t = now_s();
    if (done < total && t - b->last < 0.1)
        return;
    b->last = t;
    b->drawn = true;
    int width = 40, fill = total > 0 ? (int)((double)done / (double)total * width) : width;
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++)
        fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %5.1f%% %llu/%llu MiB", total > 0 ? 100.0 * (double)done / (double)total : 100.0,
            (unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
    fflush(stderr);
}

/* Parses --zone Z / --name N / --output P among the arguments after the
 * subcommand; the rest are positional. */
typedef struct {
    const char *zone, *name, *output;
    const char *pos[4];
    int npos;
} rec_args;

static int parse(int argc, char **argv, rec_args *a, bool allow_name, bool allow_output)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "zone", &v))
            a->zone = v;
        else if (allow_name && cli_opt(argc, argv, &i, "name", &v))
            a->name = v;
        else if (allow_output && cli_opt(argc, argv, &i, "output", &v))
            a->output = v;
        else if (allow_output && strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            a->output = argv[++i];
        else if (strcmp(argv[i], "--") == 0) {
            while (++i < argc && a->npos < 4)
                a->pos[a->npos++] = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return -1;
        else if (a->npos < 4)
            a->pos[a->npos++] = argv[i];
        else
            return -1;
    }
    return 0;
}

enum op { OP_PUT, OP_GET, OP_LS, OP_RM, OP_BACKUP, OP_RESTORE };

static int run(enum op op, int argc, char **argv)
{
    static const char *const usage[] = {
        "usage: keyward put CATEGORY PATH [--name N] [--zone Z]",
        "usage: keyward get CATEGORY NAME|ID [--output PATH|-] [--zone Z]",
        "usage: keyward ls CATEGORY [--zone Z]",
        "usage: keyward rm CATEGORY NAME|ID [--zone Z]",
        "usage: keyward backup DIR [--zone Z]",
        "usage: keyward restore DIR [--zone Z]",
    };
    static const int npos[] = {2, 2, 1, 2, 1, 1};
    rec_args a;
    if (parse(argc, argv, &a, op == OP_PUT, op == OP_GET) != 0 || a.npos != npos[op])
        return cli_usage("%s", usage[op]);
    kw_client *c = NULL;
    kw_records *rs = NULL;
    json_t *out = NULL;
    bar_state bs = {0};
    int rc = cli_open(&c), r = 0;
    if (rc != 0)
        goto done;
    if ((r = kw_records_open(&rs, c)) != 0) {
        rc = cli_fail(c, r);
        goto done;
    }
    if (isatty(STDERR_FILENO))
        kw_records_set_progress(rs, bar, &bs);
    switch (op) {
    case OP_PUT: r = kw_records_put(rs, a.pos[0], a.zone, a.pos[1], a.name, &out); break;
    case OP_GET: r = kw_records_get(rs, a.pos[0], a.zone, a.pos[1], a.output, &out); break;
    case OP_LS: r = kw_records_list(rs, a.pos[0], a.zone, &out); break;
    case OP_RM: r = kw_records_remove(rs, a.pos[0], a.zone, a.pos[1], &out); break;
    case OP_BACKUP: r = kw_records_backup(rs, a.pos[0], a.zone, &out); break;
    case OP_RESTORE: r = kw_records_restore(rs, a.pos[0], a.zone, &out); break;
    }
    if (bs.drawn)
        fputc('\n', stderr);
    if (r != 0) {
        rc = cli_fail(c, r);
    } else if (op == OP_GET && a.output != NULL && strcmp(a.output, "-") == 0) {
        json_decref(out); /* stdout carries the content */
        rc = 0;
    } else {
        rc = cli_print(out, NULL);
    }
done:
    kw_records_free(&rs);
    kw_client_free(&c);
    return rc;
}

int cmd_put_main(int argc, char **argv)
{
    return run(OP_PUT, argc, argv);
}

int cmd_get_main(int argc, char **argv)
{
    return run(OP_GET, argc, argv);
}

int cmd_ls_main(int argc, char **argv)
{
    return run(OP_LS, argc, argv);
}

int cmd_rm_main(int argc, char **argv)
{
    return run(OP_RM, argc, argv);
}

int cmd_backup_main(int argc, char **argv)
{
    return run(OP_BACKUP, argc, argv);
}

int cmd_restore_main(int argc, char **argv)
{
    return run(OP_RESTORE, argc, argv);
}
