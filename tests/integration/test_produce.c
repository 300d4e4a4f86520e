/*
 * tally produce against the real broker: valid lines are published keyed by
 * subject, invalid ones are reported with their line number and skipped (exit
 * 3), --strict stops at the first, and an unreachable broker is exit 1.
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(skips_invalid_lines_and_keys_by_subject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
