/* What the benchmark programs share: a monotonic clock, nearest-rank
 * percentiles and a libcurl body collector. Benchmark-only code. */
#ifndef TALLY_BENCH_UTIL_H
#define TALLY_BENCH_UTIL_H

#include <stddef.h>

/* Milliseconds on the monotonic clock. */
double bench_now_ms(void);

typedef struct {
    size_t n;
    double p50, p99, max, mean;
} bench_summary;

/* Nearest-rank percentiles of v (sorted in place). */
bench_summary bench_summarize(double *v, size_t n);

/* A response body for CURLOPT_WRITEFUNCTION bench_on_body; NUL-terminated,
 * data malloc'd (caller frees). */
typedef struct {
    char *data;
    size_t len;
} bench_body;
size_t bench_on_body(char *p, size_t size, size_t n, void *arg);

#endif
