/*
 * tally produce against the real broker: valid lines are published keyed by
 * subject, invalid ones are reported with their line number and skipped (exit
 * 3), --strict stops at the first, and an unreachable broker is exit 1. With
 * several decoding threads over a file of many chunks, every key's events keep
 * their input order and a bad line far in is named by its own line number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "itest.h"

static const char *const LINES[] = {
    "{\"specversion\":\"1.0\",\"id\":\"p-1\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-05T12:00:00Z\",\"subject\":\"acme\",\"data\":{\"tenant_id\":\"acme\",\"user_id\":\"u1\",\"model_id\":\"m\"}}",
    "not json at all",
    "",
    "{\"specversion\":\"1.0\",\"id\":\"p-2\",\"type\":\"fx.rate_set\",\"time\":\"2026-03-05T12:00:00Z\",\"data\":{\"currency\":\"BRL\",\"per_usd\":5.42,\"effective_from\":\"2026-03-01T00:00:00Z\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"p-3\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-05T12:00:00Z\",\"subject\":\"acme\",\"data\":{\"tenant_id\":\"acme\",\"user_id\":\"u1\",\"model_id\":\"m\",\"input_tokens\":-5}}",
    "{\"specversion\":\"1.0\",\"id\":\"p-4\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-05T12:00:00Z\",\"subject\":\"beta\",\"data\":{\"tenant_id\":\"beta\",\"user_id\":\"u1\",\"model_id\":\"m\"}}",
};

static void write_input(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < sizeof LINES / sizeof LINES[0]; i++) fprintf(f, "%s\n", LINES[i]);
    fclose(f);
}

typedef struct {
    int n;
    char keys[8][32], ids[8][8];
} seen;

static void collect(const rd_kafka_message_t *m, void *arg) {
    seen *s = arg;
    if (s->n >= 8) return;
    snprintf(s->keys[s->n], sizeof s->keys[0], "%.*s", (int)m->key_len, (const char *)m->key);
    const char *id = strstr((const char *)m->payload, "\"id\":\"p-");
    snprintf(s->ids[s->n], sizeof s->ids[0], "%.3s", id ? id + 6 : "?");
    s->n++;
}

static bool has(const seen *s, const char *id, const char *key) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->ids[i], id) && !strcmp(s->keys[i], key)) return true;
    return false;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

static void skips_invalid_lines_and_keys_by_subject(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "produce", 6);
    char in[512], log[512];
    snprintf(in, sizeof in, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx.name);
    snprintf(log, sizeof log, "%s/tests/%s.log", TALLY_BIN_DIR, ctx.name);
    write_input(in);
    const char *args[] = {"produce", in, NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", args), 3);
    char *out = slurp(log);
    assert_non_null(strstr(out, "line 2: event: invalid JSON"));
    assert_non_null(strstr(out, "line 5: data.input_tokens"));
    assert_non_null(strstr(out, "3 valid, 2 invalid, 3 delivered, 0 failed"));
    free(out);

    seen s = {0};
    assert_int_equal(itest_consume_all(&ctx, ctx.topic, collect, &s, 3, 30000), 3);
    assert_true(has(&s, "p-1", "acme"));
    assert_true(has(&s, "p-2", "_global"));
    assert_true(has(&s, "p-4", "beta"));

    /* --strict: stops at line 2, after publishing line 1 only. */
    remove(log);
    const char *strict[] = {"produce", "--strict", "-t", ctx.dlq, in, NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", strict), 3);
    seen t = {0};
    itest_consume_all(&ctx, ctx.dlq, collect, &t, 3, 5000);
    assert_int_equal(t.n, 1);
    assert_true(has(&t, "p-1", "acme"));

    /* No broker: every valid line fails to be delivered, exit 1. */
    remove(log);
    const char *nobroker[] = {"produce", "-b", "127.0.0.1:1", "--timeout", "3000",
                              "--quiet", in,   NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", nobroker), 1);
    out = slurp(log);
    assert_non_null(strstr(out, "not delivered"));
    free(out);
    remove(in);
    itest_teardown(&ctx);
}

/* ---- several threads, many chunks ------------------------------------------ */

#define ORDER_KEYS 7
#define ORDER_LINES 60000 /* ~13 MB: a dozen chunks of ~1 MiB for 4 workers */
#define ORDER_BAD 41234   /* the bad line's number (1-based) */
#define ORDER_BLANK 20011 /* a blank line: still counted */

typedef struct {
    long long last[ORDER_KEYS], count[ORDER_KEYS];
    long long out_of_order, foreign, bad_seen;
} order_seen;

/* Ids are o-<key>-<n>, n growing through the file for each key. */
static void check_order(const rd_kafka_message_t *m, void *arg) {
    order_seen *s = arg;
    const char *id = memmem(m->payload, m->len, "\"id\":\"o-", 8);
    int k = -1;
    long long n = -1;
    if (!id || sscanf(id + 8, "%d-%lld", &k, &n) != 2 || k < 0 || k >= ORDER_KEYS) {
        s->foreign++;
        return;
    }
    char key[16];
    snprintf(key, sizeof key, "k%d", k);
    if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len)) s->foreign++;
    if (n == ORDER_BAD) s->bad_seen++;
    if (n <= s->last[k]) s->out_of_order++;
    s->last[k] = n;
    s->count[k]++;
}

static void keeps_order_per_key_with_threads(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "produce_order", 6);
    char in[512], log[512];
    snprintf(in, sizeof in, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx.name);
    snprintf(log, sizeof log, "%s/tests/%s.log", TALLY_BIN_DIR, ctx.name);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    /* Line numbers are n; key k<n % 7>; line ORDER_BAD has a negative count,
     * line ORDER_BLANK is empty; lengths vary so that chunks cut mid-pattern. */
    for (long long n = 1; n <= ORDER_LINES; n++) {
        if (n == ORDER_BLANK) {
            fputc('\n', f);
            continue;
        }
        int k = (int)(n % ORDER_KEYS);
        fprintf(f,
                "{\"specversion\":\"1.0\",\"id\":\"o-%d-%lld\",\"type\":\"interaction.recorded\","
                "\"time\":\"2026-03-05T12:00:00Z\",\"subject\":\"k%d\",\"data\":{\"tenant_id\":"
                "\"k%d\",\"user_id\":\"u%lld\",\"model_id\":\"m\",\"input_tokens\":%lld}}\n",
                k, n, k, k, n % 997, n == ORDER_BAD ? -1 : n % 50000);
    }
    fclose(f);

    const char *args[] = {"produce", "--threads", "4", in, NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", args), 3);
    char *out = slurp(log);
    char want[128];
    snprintf(want, sizeof want, "line %d: data.input_tokens", ORDER_BAD);
    if (!strstr(out, want)) fail_msg("no \"%s\" in:\n%s", want, out);
    snprintf(want, sizeof want, "%d lines, %d valid, 1 invalid, %d delivered, 0 failed",
             ORDER_LINES, ORDER_LINES - 2, ORDER_LINES - 2);
    if (!strstr(out, want)) fail_msg("no \"%s\" in:\n%s", want, out);
    free(out);

    order_seen s = {0};
    for (int k = 0; k < ORDER_KEYS; k++) s.last[k] = -1;
    size_t got = itest_consume_all(&ctx, ctx.topic, check_order, &s, ORDER_LINES - 2, 60000);
    assert_int_equal(got, ORDER_LINES - 2);
    assert_int_equal(s.foreign, 0);
    assert_int_equal(s.bad_seen, 0);
    assert_int_equal(s.out_of_order, 0);
    long long total = 0;
    for (int k = 0; k < ORDER_KEYS; k++) total += s.count[k];
    assert_int_equal(total, ORDER_LINES - 2);

    /* --threads 0 is bad usage. */
    remove(log);
    const char *zero[] = {"produce", "--threads", "0", in, NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", zero), 2);
    remove(in);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(skips_invalid_lines_and_keys_by_subject),
        cmocka_unit_test(keeps_order_per_key_with_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
