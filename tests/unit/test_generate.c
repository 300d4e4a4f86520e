/* Unit tests of ingest/generate: every generated line passes the decoder,
 * output is deterministic, and the duplicate and feedback shares are exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_stream.h"
#include "tally_gen.h"

typedef struct {
    char *p;
    size_t len, cap;
} mem;

static int mem_sink(void *ctx, const char *buf, size_t len) {
    mem *m = ctx;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap : 1 << 20;
        while (m->len + len > cap) cap *= 2;
        char *p = realloc(m->p, cap);
        if (!p) return -1;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static mem run(const tally_gen_opts *o, tally_gen_stats *st) {
    mem m = {0};
    tally_err err;
    tally_code rc = tally_gen_run(o, mem_sink, &m, st, &err);
    if (rc != TALLY_OK) fail_msg("generate failed: %s", err.msg);
    return m;
}

typedef struct {
    const char *line;
    size_t len;
    char id[TALLY_ID_MAX_LEN + 1];
    tally_event_type type;
    tally_usec time;
} line_info;

static int by_id(const void *a, const void *b) {
    const line_info *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line < y->line ? -1 : x->line > y->line);
}

/* Decode every line; any error fails the test with the line and the reason. */
static line_info *decode_all(const mem *m, size_t *n_out) {
    size_t cap = 1024, n = 0;
    line_info *v = malloc(cap * sizeof *v);
    assert_non_null(v);
    const char *p = m->p, *end = m->p + m->len;
    assert_true(m->len > 0 && end[-1] == '\n');
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        tally_event ev;
        tally_err err;
        if (tally_event_decode(p, (size_t)(nl - p), &ev, &err) != TALLY_OK)
            fail_msg("line %zu rejected: %s\n%.*s", n + 1, err.msg, (int)(nl - p), p);
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        line_info *li = &v[n++];
        li->line = p;
        li->len = (size_t)(nl - p);
        snprintf(li->id, sizeof li->id, "%s", ev.id);
        li->type = ev.type;
        li->time = ev.time;
        if (ev.type == TALLY_EV_INTERACTION_RECORDED) {
            const tally_interaction *x = &ev.u.interaction;
            assert_true(x->cached_tokens <= x->input_tokens);
            assert_string_equal(x->tenant_id, ev.subject);
        }
        tally_event_free(&ev);
        p = nl + 1;
    }
    *n_out = n;
    return v;
}

static void every_line_decodes(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_gen_opts_default(&o);
    o.events = 4000;
    o.tenants = 7; /* a second lap of shapes, and the Noronha zone */
    o.duplicates_pct = 3;
    o.feedback_pct = 10;
    tally_gen_stats st;
    mem m = run(&o, &st);
    size_t n;
    line_info *v = decode_all(&m, &n);
    assert_int_equal(n, st.lines);
    assert_int_equal(st.interactions, 4000);
    assert_int_equal(st.entities + st.interactions + st.duplicates + st.feedback, st.lines);

    /* entities first, then interactions in time order (first sightings) */
    unsigned types[TALLY_EV__COUNT] = {0};
    bool in_traffic = false;
    tally_usec last = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        types[v[i].type]++;
        bool traffic = v[i].type == TALLY_EV_INTERACTION_RECORDED ||
                       v[i].type == TALLY_EV_FEEDBACK_RECORDED;
        if (in_traffic) assert_true(traffic);
        in_traffic = traffic;
        if (v[i].type == TALLY_EV_INTERACTION_RECORDED) {
            bool dup = false; /* a re-sent one carries its original, earlier time */
            for (size_t k = i; k-- > 0 && !dup;)
                dup = v[k].type == TALLY_EV_INTERACTION_RECORDED && !strcmp(v[k].id, v[i].id);
            if (!dup) {
                assert_true(v[i].time >= last);
                last = v[i].time;
            }
        }
    }
    for (int t = 0; t < TALLY_EV__COUNT; t++) assert_true(types[t] > 0);
    assert_int_equal(types[TALLY_EV_TENANT_UPSERTED], 7);
    assert_int_equal(types[TALLY_EV_USER_UPSERTED], 7 * 20);
    assert_true(types[TALLY_EV_MODEL_PRICED] >= 10);
    assert_int_equal(types[TALLY_EV_FX_RATE_SET], 2);

    /* the texts: Portuguese, with quotes and line breaks that were escaped */
    assert_non_null(strstr(m.p, "\\n"));
    assert_non_null(strstr(m.p, "\\\""));
    assert_non_null(strstr(m.p, "ção"));
    assert_non_null(strstr(m.p, "\"kind\":\"stt\""));
    assert_non_null(strstr(m.p, "\"kind\":\"tts\""));
    assert_non_null(strstr(m.p, "\"kind\":\"embedding\""));
    assert_non_null(strstr(m.p, "\"status\":\"error\""));
    assert_non_null(strstr(m.p, "\"timezone\":\"America/Noronha\""));
    assert_non_null(strstr(m.p, "-03:00\""));
    assert_non_null(strstr(m.p, "Z\""));
    free(v);
    free(m.p);
}

static void same_seed_same_bytes(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_gen_opts_default(&o);
    o.events = 3000;
    o.duplicates_pct = 5;
    mem a = run(&o, NULL), b = run(&o, NULL);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    o.seed = 43;
    mem c = run(&o, NULL);
    assert_true(c.len != a.len || memcmp(a.p, c.p, a.len) != 0);
    free(a.p);
    free(b.p);
    free(c.p);
}

/* Duplicates: exactly round(N × pct) ids twice, each a byte copy, later. */
static void duplicate_share(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_gen_opts_default(&o);
    o.events = 2000;
    o.duplicates_pct = 10;
    o.feedback_pct = 0;
    o.entities = false;
    tally_gen_stats st;
    mem m = run(&o, &st);
    size_t n;
    line_info *v = decode_all(&m, &n);
    assert_int_equal(n, 2200);
    assert_int_equal(st.duplicates, 200);
    qsort(v, n, sizeof *v, by_id);
    size_t twice = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i].id, v[i - 1].id)) continue;
        twice++;
        assert_true(v[i].line > v[i - 1].line); /* sorted by position within an id */
        assert_int_equal(v[i].len, v[i - 1].len);
        assert_memory_equal(v[i].line, v[i - 1].line, v[i].len);
        assert_true(i < 2 || strcmp(v[i].id, v[i - 2].id)); /* never three times */
    }
    assert_int_equal(twice, 200);

    /* without the second copies, the stream is exactly the one without
     * duplicates: --duplicates adds lines and changes nothing else */
    const char **second = malloc(twice * sizeof *second);
    assert_non_null(second);
    size_t k = 0;
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i].id, v[i - 1].id)) second[k++] = v[i].line;
    mem kept = {0};
    for (const char *p = m.p; p < m.p + m.len;) {
        const char *nl = memchr(p, '\n', (size_t)(m.p + m.len - p));
        bool drop = false;
        for (size_t j = 0; j < k && !drop; j++) drop = second[j] == p;
        if (!drop) mem_sink(&kept, p, (size_t)(nl - p) + 1);
        p = nl + 1;
    }
    o.duplicates_pct = 0;
    mem plain = run(&o, &st);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(plain.len, kept.len);
    assert_memory_equal(plain.p, kept.p, plain.len);
    free(plain.p);
    free(kept.p);
    free(second);
    free(v);
    free(m.p);
}

/* Feedback: exactly round(N × pct) interactions rated, each after it. */
static void feedback_share(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_gen_opts_default(&o);
    o.events = 3000;
    o.feedback_pct = 5;
    o.entities = false;
    mem m = run(&o, NULL);
    size_t n, rated = 0;
    line_info *v = decode_all(&m, &n);
    for (size_t i = 0; i < n; i++) {
        if (v[i].type != TALLY_EV_FEEDBACK_RECORDED) continue;
        tally_event ev;
        assert_int_equal(tally_event_decode(v[i].line, v[i].len, &ev, NULL), TALLY_OK);
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            if (v[k].type == TALLY_EV_INTERACTION_RECORDED &&
                !strcmp(v[k].id, ev.u.feedback.interaction_id)) {
                seen = true;
                assert_true(v[i].time > v[k].time);
            }
        assert_true(seen);
        rated += strstr(v[i].id, "-fb-") != NULL;
        tally_event_free(&ev);
    }
    assert_int_equal(rated, 150);
    free(v);
    free(m.p);
}

static void bad_options(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_err err;
    tally_gen_opts_default(&o);
    assert_int_equal(tally_gen_opts_check(&o, &err), TALLY_OK);
    o.tenants = 0;
    assert_int_equal(tally_gen_opts_check(&o, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "--tenants"));
    tally_gen_opts_default(&o);
    o.duplicates_pct = 101;
    assert_int_equal(tally_gen_opts_check(&o, &err), TALLY_EINVAL);
    tally_gen_opts_default(&o);
    o.days = 0;
    assert_int_equal(tally_gen_opts_check(&o, &err), TALLY_EINVAL);
}

/* One tenant, one user, one day, no interactions: still valid output. */
static void tiny_runs(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_gen_opts_default(&o);
    o.tenants = 1;
    o.users_per_tenant = 1;
    o.days = 1;
    o.events = 50;
    o.duplicates_pct = 100;
    o.feedback_pct = 100;
    tally_gen_stats st;
    mem m = run(&o, &st);
    size_t n;
    line_info *v = decode_all(&m, &n);
    assert_int_equal(st.duplicates, 50);
    assert_true(st.feedback >= 50);
    free(v);
    free(m.p);
    o.events = 0;
    m = run(&o, &st);
    v = decode_all(&m, &n);
    assert_int_equal(st.interactions, 0);
    assert_true(n > 0);
    free(v);
    free(m.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_line_decodes), cmocka_unit_test(same_seed_same_bytes),
        cmocka_unit_test(duplicate_share),    cmocka_unit_test(feedback_share),
        cmocka_unit_test(bad_options),        cmocka_unit_test(tiny_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
