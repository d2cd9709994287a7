/*
 * bench.h — the benchmark harness. Each bench_<area>.c registers its
 * function with BENCH_REGISTER; bench/main.c runs them in name order.
 * A benchmark prints each figure next to a baseline measured in the same
 * run, with their ratio and the target, through bench_report.
 */
#ifndef KEYWARD_BENCH_H
#define KEYWARD_BENCH_H

#include <stddef.h>

typedef void (*bench_fn)(void);

void bench_register(const char *name, bench_fn fn);

#define BENCH_REGISTER(name, fn) \
    __attribute__((constructor)) static void bench_register_##fn(void) { bench_register(name, fn); }

/* Monotonic time in seconds. */
double bench_now(void);

/* Runs op(ctx) repeatedly for about `seconds` and returns operations/second. */
double bench_rate(void (*op)(void *ctx), void *ctx, double seconds);

/* Prints one figure: "label: value unit (baseline: b unit, ratio r; target: t)".
 * target_ratio <= 0 means no ratio target. */
void bench_report(const char *label, double value, const char *unit,
                  const char *baseline_label, double baseline, double target_ratio);

#endif
