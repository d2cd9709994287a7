#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "keyward/keyward.h"

#define BENCH_MAX 32

static struct {
    const char *name;
    bench_fn fn;
} benches[BENCH_MAX];
static size_t bench_count;

void bench_register(const char *name, bench_fn fn)
{
    if (bench_count < BENCH_MAX) {
        benches[bench_count].name = name;
        benches[bench_count].fn = fn;
        bench_count++;
    }
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_rate(void (*op)(void *ctx), void *ctx, double seconds)
{
    op(ctx); /* warm up */
    unsigned long n = 0;
    double start = bench_now(), now;
    do {
        op(ctx);
        n++;
        now = bench_now();
    } while (now - start < seconds);
    return (double)n / (now - start);
}

void bench_report(const char *label, double value, const char *unit, const char *baseline_label,
                  double baseline, double target_ratio)
{
    double ratio = baseline > 0 ? value / baseline : 0;
    printf("%-40s %12.2f %-8s | %-34s %12.2f | ratio %.2fx", label, value, unit, baseline_label,
           baseline, ratio);
    if (target_ratio > 0)
        printf(" (target >= %.2fx: %s)", target_ratio, ratio >= target_ratio ? "met" : "MISSED");
    printf("\n");
    fflush(stdout);
}

static int bench_cmp(const void *a, const void *b)
{
    return strcmp(((const __typeof__(benches[0]) *)a)->name, ((const __typeof__(benches[0]) *)b)->name);
}

int main(int argc, char **argv)
{
    if (kw_init() != KW_OK) {
        fprintf(stderr, "bench: cannot initialise libkeyward\n");
        return 1;
    }
    qsort(benches, bench_count, sizeof(benches[0]), bench_cmp);
    printf("keyward benchmarks (one core unless stated; baselines measured in this run)\n");
    for (size_t i = 0; i < bench_count; i++) {
        if (argc > 1 && strstr(benches[i].name, argv[1]) == NULL)
            continue;
        printf("\n== %s\n", benches[i].name);
        benches[i].fn();
    }
    return 0;
}
