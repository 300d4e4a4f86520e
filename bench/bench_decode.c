/*
 * bench_decode — what validating an event costs on top of parsing it.
 *
 *     bench_decode FILE.ndjson [REPEATS]
 *
 * Reads an NDJSON file (one event per line) into memory, then times, in one
 * run and alternating so that both see the same machine:
 *   (a) json_loadb + json_decref of every line (a bare parse, flags 0);
 *   (b) json_loadb with the decoder's flags (DECODE_ANY|REJECT_DUPLICATES);
 *   (c) tally_event_decode + tally_event_free of every line;
 *   (d) tally_json_parse + tally_json_free (the reader under the decoder).
 * Each pass is repeated REPEATS times (default 5) and the best is kept. It
 * prints events/s for each, the overhead of (c) over (d) — the budget in the
 * design is +50% at most — and how many times faster (c) is than (b), the
 * jansson parse the decoder used before.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_stream.h"
#include "tally_common.h"

typedef struct {
    const char *p;
    size_t len;
} line;

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static line *split_lines(char *buf, size_t len, size_t *n_out) {
    size_t cap = 1024, n = 0;
    line *lines = malloc(cap * sizeof *lines);
    for (size_t i = 0; lines && i < len;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t l = end - i;
        if (l && buf[i + l - 1] == '\r') l--;
        if (l) {
            if (n == cap) {
                line *bigger = realloc(lines, (cap *= 2) * sizeof *lines);
                if (!bigger) free(lines);
                lines = bigger;
                if (!lines) break;
            }
            lines[n++] = (line){buf + i, l};
        }
        i = end + 1;
    }
    *n_out = n;
    return lines;
}

/* One pass of each kind; returns its duration in microseconds. *bad counts
 * the lines that did not parse or decode. */
static int64_t pass_parse(const line *lines, size_t n, size_t flags, size_t *bad) {
    int64_t t0 = tally_time_monotonic_us();
    json_error_t jerr;
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_loadb(lines[i].p, lines[i].len, flags, &jerr);
        if (j)
            json_decref(j);
        else
            (*bad)++;
    }
    return tally_time_monotonic_us() - t0;
}

static int64_t pass_tally_json(const line *lines, size_t n, size_t *bad) {
    int64_t t0 = tally_time_monotonic_us();
    for (size_t i = 0; i < n; i++) {
        tally_json_doc *d = tally_json_parse(lines[i].p, lines[i].len, NULL);
        if (d)
            tally_json_free(d);
        else
            (*bad)++;
    }
    return tally_time_monotonic_us() - t0;
}

static int64_t pass_decode(const line *lines, size_t n, size_t *bad, tally_err *first) {
    int64_t t0 = tally_time_monotonic_us();
    tally_event ev;
    tally_err err;
    for (size_t i = 0; i < n; i++) {
        if (tally_event_decode(lines[i].p, lines[i].len, &ev, &err) == TALLY_OK) {
            tally_event_free(&ev);
        } else {
            if (!*bad) *first = err;
            (*bad)++;
        }
    }
    return tally_time_monotonic_us() - t0;
}

static double per_sec(size_t n, int64_t us) { return us > 0 ? (double)n * 1e6 / (double)us : 0; }

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE.ndjson [REPEATS]\n", argv[0]);
        return 2;
    }
    int repeats = argc == 3 ? atoi(argv[2]) : 5;
    if (repeats < 1) repeats = 1;
    size_t len, n;
    char *buf = read_all(argv[1], &len);
    if (!buf) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
        return 1;
    }
    line *lines = split_lines(buf, len, &n);
    if (!lines || n == 0) {
        fprintf(stderr, "%s: no events in %s\n", argv[0], argv[1]);
        return 1;
    }

    int64_t best_a = INT64_MAX, best_b = INT64_MAX, best_c = INT64_MAX, best_d = INT64_MAX;
    size_t bad_a = 0, bad_b = 0, bad_c = 0, bad_d = 0;
    tally_err first = {0};
    for (int r = 0; r < repeats; r++) {
        size_t ba = 0, bb = 0, bc = 0, bd = 0;
        int64_t a = pass_parse(lines, n, 0, &ba);
        int64_t b = pass_parse(lines, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &bb);
        int64_t c = pass_decode(lines, n, &bc, &first);
        int64_t d = pass_tally_json(lines, n, &bd);
        if (d < best_d) best_d = d;
        if (a < best_a) best_a = a;
        if (b < best_b) best_b = b;
        if (c < best_c) best_c = c;
        bad_a = ba, bad_b = bb, bad_c = bc, bad_d = bd;
    }

    printf("events: %zu lines, %zu bytes (%.0f bytes/event), best of %d passes\n", n, len,
           (double)len / (double)n, repeats);
    printf("(a) json_loadb+decref (flags 0)        %12.0f events/s  %8.1f ms  %zu unparsable\n",
           per_sec(n, best_a), best_a / 1e3, bad_a);
    printf("(b) json_loadb+decref (decoder flags)  %12.0f events/s  %8.1f ms  %zu unparsable\n",
           per_sec(n, best_b), best_b / 1e3, bad_b);
    printf("(c) tally_event_decode+free            %12.0f events/s  %8.1f ms  %zu rejected\n",
           per_sec(n, best_c), best_c / 1e3, bad_c);
    if (bad_c) printf("    first rejection: %s\n", first.msg);
    printf("(d) tally_json_parse+free              %12.0f events/s  %8.1f ms  %zu unparsable\n",
           per_sec(n, best_d), best_d / 1e3, bad_d);
    printf("overhead of (c) over (d): %+.1f%% (budget: +50%%)\n",
           100.0 * ((double)best_c / (double)best_d - 1.0));
    printf("(c) is %.1f x as fast as (b)\n", (double)best_b / (double)best_c);
    free(lines);
    free(buf);
    return 0;
}
