/* Shared by the benchmark programs (bench_util.h). */
#include "bench_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

bench_summary bench_summarize(double *v, size_t n) {
    bench_summary s = {.n = n};
    if (!n) return s;
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++) s.mean += v[i] / (double)n;
    s.p50 = v[(size_t)ceil(0.50 * (double)n) - 1];
    s.p99 = v[(size_t)ceil(0.99 * (double)n) - 1];
    s.max = v[n - 1];
    return s;
}

size_t bench_on_body(char *p, size_t size, size_t n, void *arg) {
    bench_body *b = arg;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown) return 0;
    memcpy(grown + b->len, p, size * n);
    b->data = grown;
    b->len += size * n;
    b->data[b->len] = 0;
    return size * n;
}
