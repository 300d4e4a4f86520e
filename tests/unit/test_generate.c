/* Unit tests of gen/: every generated line passes the decoder, output is
 * deterministic, the duplicate and feedback shares are exact, and the plans,
 * subscriptions and budgets are there, sized so that the month reaches some
 * of their limits and not others. */
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
    o.erasures = 1;
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
        /* after the traffic, one erasure ends the stream */
        if (v[i].type == TALLY_EV_USER_ERASED) {
            assert_int_equal(i, n - 1);
            continue;
        }
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

/* ---- plans, subscriptions and budgets ---- */

/* The entity events of a run, by type, decoded; ev[i] borrows nothing. */
typedef struct {
    tally_event *ev;
    size_t n;
    size_t first_interaction; /* line index */
} entities;

static entities decode_entities(const mem *m) {
    entities e = {calloc(4096, sizeof(tally_event)), 0, 0};
    assert_non_null(e.ev);
    size_t line = 0;
    for (const char *p = m->p; p < m->p + m->len; line++) {
        const char *nl = memchr(p, '\n', (size_t)(m->p + m->len - p));
        tally_event ev;
        assert_int_equal(tally_event_decode(p, (size_t)(nl - p), &ev, NULL), TALLY_OK);
        if (ev.type == TALLY_EV_INTERACTION_RECORDED || ev.type == TALLY_EV_FEEDBACK_RECORDED) {
            tally_event_free(&ev);
            e.first_interaction = line;
            break;
        }
        assert_true(e.n < 4096);
        e.ev[e.n++] = ev;
        p = nl + 1;
    }
    return e;
}

static void entities_free(entities *e) {
    for (size_t i = 0; i < e->n; i++) tally_event_free(&e->ev[i]);
    free(e->ev);
}

static size_t count_status(const entities *e, const char *status) {
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++)
        n += e->ev[i].type == TALLY_EV_SUBSCRIPTION_UPSERTED &&
             !strcmp(e->ev[i].u.subscription.status, status);
    return n;
}

static void plans_subscriptions_and_budgets_are_emitted(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_gen_opts_default(&o); /* five tenants: one of each shape */
    o.events = 2000;
    mem m = run(&o, NULL);
    entities e = decode_entities(&m);
    assert_true(e.first_interaction == e.n); /* every entity before the traffic */

    size_t plans = 0, tenant_plans = 0, subs = 0, user_subs = 0, budgets = 0, ended = 0;
    bool kinds[3] = {0}, periods[3] = {0}, pause[2] = {0}, hook[2] = {0};
    for (size_t i = 0; i < e.n; i++) {
        const tally_event *ev = &e.ev[i];
        if (ev->type == TALLY_EV_PLAN_UPSERTED) {
            plans++;
            if (!ev->u.plan.tenant_id) continue;
            tenant_plans++; /* a tenant's own plan always limits something */
            assert_true(ev->u.plan.monthly_request_limit.set || ev->u.plan.monthly_token_limit.set);
        } else if (ev->type == TALLY_EV_SUBSCRIPTION_UPSERTED) {
            const tally_subscription *s = &ev->u.subscription;
            subs++;
            user_subs += s->user_id != NULL;
            /* in force at the start of the window, ended inside it */
            ended += s->has_ends_at && !strcmp(s->status, "active") &&
                     s->ends_at > o.start + 7 * 86400000000LL &&
                     s->ends_at < o.start + 24 * 86400000000LL;
        } else if (ev->type == TALLY_EV_BUDGET_SET) {
            const tally_budget *b = &ev->u.budget;
            budgets++;
            kinds[!strcmp(b->kind, "tokens") ? 0 : !strcmp(b->kind, "brl") ? 1 : 2] = true;
            periods[!strcmp(b->period, "daily") ? 0 : !strcmp(b->period, "weekly") ? 1 : 2] = true;
            assert_int_equal(b->n_thresholds, 3);
            assert_int_equal(b->thresholds[0], 80);
            assert_int_equal(b->thresholds[1], 90);
            assert_int_equal(b->thresholds[2], 100);
            pause[b->pause_at_limit] = true;
            hook[b->webhook_url != NULL] = true;
            if (b->webhook_url) {
                char want[200];
                snprintf(want, sizeof want, "https://hooks.example.com/tally/%s", b->tenant_id);
                assert_string_equal(b->webhook_url, want);
            }
        }
    }
    assert_true(plans >= 6); /* three global; a distributor's, a school's, the support bot's */
    assert_int_equal(tenant_plans, 3);
    assert_true(subs >= 10);
    assert_true(user_subs >= 3 + 4); /* three students, four distributor users */
    assert_true(count_status(&e, "trial") >= 2);
    assert_int_equal(count_status(&e, "suspended"), 1);
    assert_int_equal(count_status(&e, "cancelled"), 1);
    assert_int_equal(ended, 1);
    assert_int_equal(budgets, 3);
    for (int i = 0; i < 3; i++) assert_true(kinds[i] && periods[i]);
    assert_true(pause[0] && pause[1] && hook[0] && hook[1]);
    entities_free(&e);

    /* odd runs still decode: one day, two users, a window across two months */
    static const struct {
        uint32_t days, users, tenants;
        const char *start;
    } odd[] = {{1, 2, 5, "2026-03-31T00:00:00Z"},
               {20, 1, 6, "2026-03-20T00:00:00Z"},
               {45, 3, 16, "2026-02-15T00:00:00Z"}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        tally_gen_opts q = o;
        q.days = odd[i].days;
        q.users_per_tenant = odd[i].users;
        q.tenants = odd[i].tenants;
        assert_true(tally_time_parse_rfc3339(odd[i].start, &q.start));
        size_t k;
        mem r = run(&q, NULL);
        free(decode_all(&r, &k));
        free(r.p);
    }

    /* deterministic: the same seed, the same entities, byte for byte */
    mem again = run(&o, NULL);
    assert_int_equal(again.len, m.len);
    assert_memory_equal(again.p, m.p, m.len);
    free(again.p);
    free(m.p);
}

/* One limit that counts tokens or requests of a tenant (or one user) per
 * local day, week or month, and what the generated traffic used of it. */
enum { DAYS = 31 };
typedef struct {
    const char *name, *tenant_id, *user_id;
    char period; /* 'd', 'w', 'm' */
    bool tokens;
    int64_t limit, from_ms, to_ms; /* counting only while in force */
    int offset_h;
    int64_t used[DAYS];
} counted;

static int zone_offset(const char *zone) {
    static const struct {
        const char *name;
        int h;
    } Z[] = {{"America/Sao_Paulo", -3},
             {"America/Manaus", -4},
             {"America/Rio_Branco", -5},
             {"America/Noronha", -2}};
    for (size_t i = 0; i < sizeof Z / sizeof Z[0]; i++)
        if (!strcmp(Z[i].name, zone)) return Z[i].h;
    fail_msg("unknown zone %s", zone);
    return 0;
}

/* The largest use in one period (the window is March 2026, local: a month;
 * 2026-03-01 is a Sunday, so weeks from Monday start at days 1, 8, 15…). */
static double busiest(const counted *c, unsigned *crossed, unsigned *periods) {
    int64_t best = 0, run_ = 0;
    *crossed = *periods = 0;
    for (int d = 0; d < DAYS; d++) {
        bool ends = c->period == 'd' || (c->period == 'w' && (d % 7 == 0 || d == DAYS - 1)) ||
                    d == DAYS - 1;
        run_ += c->used[d];
        if (!ends) continue;
        if (run_ > best) best = run_;
        *crossed += run_ >= c->limit;
        (*periods)++;
        run_ = 0;
    }
    return (double)best / (double)c->limit;
}

static void limits_are_sized_to_be_reached(void **state) {
    (void)state;
    tally_gen_opts o;
    tally_gen_opts_default(&o); /* March 2026, five tenants */
    o.events = 6000;
    mem m = run(&o, NULL);
    entities e = decode_entities(&m);
    counted lim[32];
    size_t n = 0;
    for (size_t i = 0; i < e.n; i++) {
        const tally_event *ev = &e.ev[i];
        if (ev->type == TALLY_EV_SUBSCRIPTION_UPSERTED) {
            const tally_subscription *s = &ev->u.subscription;
            const tally_plan *p = NULL;
            for (size_t k = 0; k < e.n && !p; k++)
                if (e.ev[k].type == TALLY_EV_PLAN_UPSERTED &&
                    !strcmp(e.ev[k].u.plan.plan_id, s->plan_id) && e.ev[k].u.plan.tenant_id)
                    p = &e.ev[k].u.plan;
            if (!p) continue; /* the global plans are not sized to a tenant */
            const tally_opt_i64 *l[2] = {&p->monthly_request_limit, &p->monthly_token_limit};
            for (int k = 0; k < 2; k++) {
                if (!l[k]->set) continue;
                assert_true(n < 32);
                lim[n++] = (counted){s->subscription_id,
                                     s->tenant_id,
                                     s->user_id,
                                     'm',
                                     k == 1,
                                     l[k]->v,
                                     s->starts_at / 1000,
                                     s->has_ends_at ? s->ends_at / 1000 : INT64_MAX,
                                     0,
                                     {0}};
            }
        } else if (ev->type == TALLY_EV_BUDGET_SET && ev->u.budget.token_limit.set) {
            const tally_budget *b = &ev->u.budget;
            assert_true(n < 32);
            lim[n++] = (counted){
                b->budget_id, b->tenant_id, NULL, b->period[0], true, b->token_limit.v,
                INT64_MIN,    INT64_MAX,    0,    {0}};
        }
    }
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < e.n; i++)
            if (e.ev[i].type == TALLY_EV_TENANT_UPSERTED &&
                !strcmp(e.ev[i].u.tenant.tenant_id, lim[k].tenant_id))
                lim[k].offset_h = zone_offset(e.ev[i].u.tenant.timezone);

    /* count the traffic (first sightings only; there are no duplicates here) */
    const int64_t start_ms = o.start / 1000;
    for (const char *p = m.p; p < m.p + m.len;) {
        const char *nl = memchr(p, '\n', (size_t)(m.p + m.len - p));
        tally_event ev;
        assert_int_equal(tally_event_decode(p, (size_t)(nl - p), &ev, NULL), TALLY_OK);
        p = nl + 1;
        if (ev.type != TALLY_EV_INTERACTION_RECORDED) {
            tally_event_free(&ev);
            continue;
        }
        const tally_interaction *x = &ev.u.interaction;
        int64_t ms = ev.time / 1000;
        for (size_t k = 0; k < n; k++) {
            counted *c = &lim[k];
            if (strcmp(c->tenant_id, x->tenant_id) ||
                (c->user_id && strcmp(c->user_id, x->user_id)))
                continue;
            if (ms < c->from_ms || ms >= c->to_ms) continue;
            int64_t local = ms + c->offset_h * 3600000LL - start_ms;
            assert_true(local >= 0 && local < DAYS * 86400000LL); /* local March */
            c->used[local / 86400000LL] += c->tokens ? x->input_tokens + x->output_tokens : 1;
        }
        tally_event_free(&ev);
    }

    unsigned crossed_plans = 0, crossed_students = 0, under = 0, daily = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned crossed, periods;
        double r = busiest(&lim[k], &crossed, &periods);
        print_message("%-48s %c %-8s limit %9lld  busiest %3.0f%%  crossed %u of %u\n", lim[k].name,
                      lim[k].period, lim[k].tokens ? "tokens" : "requests", (long long)lim[k].limit,
                      100 * r, crossed, periods);
        /* sized from the traffic: neither out of reach nor far below it */
        assert_true(r > 0.5 && r < 2.0);
        under += crossed == 0;
        if (lim[k].period == 'm' && crossed) {
            crossed_plans++;
            crossed_students += lim[k].user_id != NULL;
        }
        if (lim[k].period == 'd') {
            daily++;
            assert_true(crossed > 0 && crossed < periods); /* busy days only */
        }
    }
    assert_true(n >= 8);
    assert_int_equal(daily, 1);
    assert_true(crossed_plans >= 2);
    assert_true(crossed_students >= 1);
    assert_true(under >= 1);
    entities_free(&e);
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
        cmocka_unit_test(every_line_decodes),
        cmocka_unit_test(same_seed_same_bytes),
        cmocka_unit_test(duplicate_share),
        cmocka_unit_test(feedback_share),
        cmocka_unit_test(bad_options),
        cmocka_unit_test(tiny_runs),
        cmocka_unit_test(plans_subscriptions_and_budgets_are_emitted),
        cmocka_unit_test(limits_are_sized_to_be_reached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
