/*
 * Unit tests of ingest/event: every fixture under tests/fixtures/events
 * (valid/ must decode; invalid/ must fail with the message in the sibling
 * .expect file), the defaults of each type, the rules that fixtures cannot
 * show well (size limit, buffers without a NUL, borrowed strings), and the
 * small API around the decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_stream.h"

#define VALID_DIR TALLY_FIXTURES "/events/valid"
#define INVALID_DIR TALLY_FIXTURES "/events/invalid"

/* ---- helpers ---------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir ending in suffix, sorted; *n gets the count. */
static char **list_dir(const char *dir, const char *suffix, size_t *n) {
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    size_t cap = 64, count = 0;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0) continue;
        if (count == cap) names = realloc(names, (cap *= 2) * sizeof *names);
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, cmp_names);
    *n = count;
    return names;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Decode the fixture valid/<name>.json, failing the test if it is rejected. */
static void decode_valid(const char *name, tally_event *ev) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", VALID_DIR, name);
    size_t len;
    char *buf = read_file(path, &len);
    tally_err err;
    tally_code rc = tally_event_decode(buf, len, ev, &err);
    free(buf); /* the event must not borrow from the input buffer */
    if (rc != TALLY_OK) fail_msg("%s: %s", name, err.msg);
}

static tally_code decode_str(const char *s, tally_event *ev, tally_err *err) {
    return tally_event_decode(s, strlen(s), ev, err);
}

/* Assert that s is rejected with a message containing want. */
static void expect_reject(const char *s, const char *want) {
    tally_event ev;
    tally_err err;
    if (decode_str(s, &ev, &err) == TALLY_OK) {
        tally_event_free(&ev);
        fail_msg("accepted: %s", s);
    }
    assert_int_equal(err.code, TALLY_EINVAL);
    if (!strstr(err.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    assert_null(ev.doc);
}

static bool is_one_printable_line(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7F) return false;
    return true;
}

/* An interaction.recorded with the given data members (a JSON fragment). */
static char *interaction_with(const char *members) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"specversion\":\"1.0\",\"id\":\"evt-1\",\"type\":\"interaction.recorded\","
             "\"time\":\"2026-03-14T12:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\","
             "\"user_id\":\"u1\",\"model_id\":\"m1\"%s%s}}",
             *members ? "," : "", members);
    return buf;
}

static char *price_with(const char *input_price) {
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"specversion\":\"1.0\",\"id\":\"p1\",\"type\":\"model.priced\","
             "\"time\":\"2026-03-14T12:00:00Z\",\"data\":{\"model_id\":\"m\","
             "\"input_usd_per_1m\":%s,\"output_usd_per_1m\":1,"
             "\"effective_from\":\"2026-01-01T00:00:00Z\"}}",
             input_price);
    return buf;
}

/* ---- fixtures --------------------------------------------------------- */

static void every_valid_fixture_decodes(void **state) {
    (void)state;
    size_t n;
    char **names = list_dir(VALID_DIR, ".json", &n);
    assert_true(n >= 2 * TALLY_EV__COUNT);
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", VALID_DIR, names[i]);
        size_t len;
        char *buf = read_file(path, &len);
        tally_event ev;
        tally_err err;
        if (tally_event_decode(buf, len, &ev, &err) != TALLY_OK)
            fail_msg("%s rejected: %s", names[i], err.msg);
        /* valid/<type>.<variant>.json: the decoded type is the file's */
        const char *type = tally_event_type_name(ev.type);
        assert_non_null(type);
        if (strncmp(names[i], type, strlen(type)) != 0 || names[i][strlen(type)] != '.')
            fail_msg("%s decoded as %s", names[i], type);
        assert_true(tally_json_is_object(ev.data));
        assert_non_null(ev.id);
        assert_non_null(ev.time_text);
        tally_event_free(&ev);
        free(buf);
    }
    free_names(names, n);
}

static void every_type_has_minimal_and_full_fixture(void **state) {
    (void)state;
    for (int t = 0; t < TALLY_EV__COUNT; t++) {
        const char *variants[] = {"minimal", "full"};
        for (int v = 0; v < 2; v++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", tally_event_type_name((tally_event_type)t),
                     variants[v]);
            tally_event ev;
            decode_valid(name, &ev);
            assert_int_equal(ev.type, t);
            tally_event_free(&ev);
        }
    }
}

static void every_invalid_fixture_is_rejected_with_its_message(void **state) {
    (void)state;
    size_t n, n_expect;
    char **names = list_dir(INVALID_DIR, ".json", &n);
    char **expects = list_dir(INVALID_DIR, ".expect", &n_expect);
    assert_true(n >= 150);
    assert_int_equal(n, n_expect); /* one .expect per fixture, no orphans */
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", INVALID_DIR, names[i]);
        size_t len, elen;
        char *buf = read_file(path, &len);
        snprintf(path + strlen(path) - 5, 16, ".expect");
        char *want = read_file(path, &elen);
        while (elen && (want[elen - 1] == '\n' || want[elen - 1] == '\r')) want[--elen] = '\0';
        assert_true(elen > 0);

        tally_event ev;
        tally_err err;
        tally_code rc = tally_event_decode(buf, len, &ev, &err);
        if (rc == TALLY_OK) {
            tally_event_free(&ev);
            fail_msg("%s accepted (expected \"%s\")", names[i], want);
        }
        assert_int_equal(rc, TALLY_EINVAL);
        assert_int_equal(err.code, TALLY_EINVAL);
        if (!strstr(err.msg, want))
            fail_msg("%s: message \"%s\" lacks \"%s\"", names[i], err.msg, want);
        if (!is_one_printable_line(err.msg)) fail_msg("%s: message not one line", names[i]);
        assert_null(ev.doc);
        assert_null(ev.id);
        tally_event_free(&ev); /* harmless on a failed decode */
        free(want);
        free(buf);
    }
    free_names(names, n);
    free_names(expects, n_expect);
}

/* ---- each type: values and defaults ------------------------------------ */

static void tenant_defaults_and_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("tenant.upserted.minimal", &ev);
    assert_int_equal(ev.type, TALLY_EV_TENANT_UPSERTED);
    assert_string_equal(ev.u.tenant.tenant_id, "ixc-distribuidor-42");
    assert_string_equal(ev.u.tenant.name, "IXC Distribuidor 42");
    assert_string_equal(ev.u.tenant.status, "active");
    assert_string_equal(ev.u.tenant.timezone, "America/Sao_Paulo");
    assert_null(ev.u.tenant.slug);
    assert_null(ev.u.tenant.contact);
    assert_false(ev.u.tenant.content_retention_days.set); /* absent: keep */
    assert_false(ev.u.tenant.user_retention_days.set);
    assert_null(ev.subject);
    assert_null(ev.source);
    tally_event_free(&ev);

    decode_valid("tenant.upserted.full", &ev);
    assert_string_equal(ev.u.tenant.slug, "ixc-42");
    assert_string_equal(ev.u.tenant.status, "suspended");
    assert_string_equal(ev.u.tenant.timezone, "America/Manaus");
    assert_string_equal(ev.u.tenant.contact, "financeiro@ixc42.com.br");
    assert_string_equal(ev.source, "gateway-sp-1");
    assert_string_equal(ev.subject, "ixc-distribuidor-42");
    assert_true(ev.u.tenant.content_retention_days.set);
    assert_int_equal(ev.u.tenant.content_retention_days.v, 90);
    assert_true(ev.u.tenant.user_retention_days.set);
    assert_int_equal(ev.u.tenant.user_retention_days.v, 1825);
    tally_event_free(&ev);

    decode_valid("tenant.upserted.retention-null", &ev); /* null: keep */
    assert_false(ev.u.tenant.content_retention_days.set);
    assert_false(ev.u.tenant.user_retention_days.set);
    tally_event_free(&ev);
}

/* The bounds: 1 day and the largest integer PostgreSQL stores are taken;
 * 0, negatives, reals, strings and anything larger are not, naming the field. */
static void tenant_retention_bounds(void **state) {
    (void)state;
    static const struct {
        const char *value;
        long long want; /* 0: rejected */
        const char *message;
    } cases[] = {
        {"1", 1, NULL},
        {"2147483647", 2147483647LL, NULL},
        {"0", 0, "data.content_retention_days: must be an integer >= 1 or null"},
        {"-1", 0, "data.content_retention_days: must be an integer >= 1 or null"},
        {"30.0", 0, "data.content_retention_days: must be an integer >= 1 or null"},
        {"1e2", 0, "data.content_retention_days: must be an integer >= 1 or null"},
        {"\"x\"", 0, "data.content_retention_days: must be an integer >= 1 or null"},
        {"[30]", 0, "data.content_retention_days: must be an integer >= 1 or null"},
        {"2147483648", 0, "data.content_retention_days: must be at most 2147483647"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"tenant.upserted\","
                 "\"time\":\"2026-03-14T12:00:00Z\",\"data\":{\"tenant_id\":\"t1\","
                 "\"name\":\"T\",\"content_retention_days\":%s}}",
                 cases[i].value);
        tally_event ev;
        tally_err err = {0};
        tally_code rc = tally_event_decode(json, strlen(json), &ev, &err);
        if (cases[i].want) {
            if (rc != TALLY_OK) fail_msg("%s rejected: %s", cases[i].value, err.msg);
            assert_true(ev.u.tenant.content_retention_days.set);
            assert_int_equal(ev.u.tenant.content_retention_days.v, cases[i].want);
            assert_false(ev.u.tenant.user_retention_days.set);
            tally_event_free(&ev);
        } else {
            assert_int_equal(rc, TALLY_EINVAL);
            assert_string_equal(err.msg, cases[i].message);
        }
    }
}

static void user_defaults_and_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("user.upserted.minimal", &ev);
    assert_string_equal(ev.u.user.user_id, "u-1001");
    assert_string_equal(ev.u.user.role, "member");
    assert_int_equal(ev.u.user.active, -1);
    assert_null(ev.u.user.name);
    assert_null(ev.u.user.email);
    tally_event_free(&ev);

    decode_valid("user.upserted.full", &ev);
    assert_string_equal(ev.u.user.role, "admin");
    assert_int_equal(ev.u.user.active, 0);
    assert_string_equal(ev.u.user.name, "Jo\xc3\xa3o da Silva");
    assert_string_equal(ev.u.user.email, "joao@ixc42.com.br");
    tally_event_free(&ev);

    decode_valid("user.upserted.tutor", &ev);
    assert_string_equal(ev.u.user.role, "tutor");
    assert_int_equal(ev.u.user.active, 1);
    tally_event_free(&ev);
}

static void plan_defaults_and_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("plan.upserted.minimal", &ev);
    assert_string_equal(ev.u.plan.plan_id, "plan-basic");
    assert_null(ev.u.plan.tenant_id);
    assert_false(ev.u.plan.monthly_request_limit.set);
    assert_false(ev.u.plan.monthly_token_limit.set);
    assert_null(ev.u.plan.description);
    tally_event_free(&ev);

    decode_valid("plan.upserted.full", &ev);
    assert_string_equal(ev.u.plan.tenant_id, "ixc-distribuidor-42");
    assert_true(ev.u.plan.monthly_request_limit.set);
    assert_int_equal(ev.u.plan.monthly_request_limit.v, 10000);
    assert_false(ev.u.plan.monthly_token_limit.set); /* JSON null = unlimited */
    assert_non_null(ev.u.plan.description);
    tally_event_free(&ev);
}

static void subscription_defaults_and_values(void **state) {
    (void)state;
    tally_event ev;
    tally_usec t;
    decode_valid("subscription.upserted.minimal", &ev);
    assert_string_equal(ev.u.subscription.status, "active");
    assert_null(ev.u.subscription.user_id);
    assert_false(ev.u.subscription.has_ends_at);
    assert_true(tally_time_parse_rfc3339("2026-03-01T03:00:00Z", &t));
    assert_int_equal(ev.u.subscription.starts_at, t);
    tally_event_free(&ev);

    decode_valid("subscription.upserted.full", &ev);
    assert_string_equal(ev.u.subscription.status, "trial");
    assert_string_equal(ev.u.subscription.user_id, "u-1001");
    assert_string_equal(ev.u.subscription.plan_id, "plan-pro");
    assert_true(ev.u.subscription.has_ends_at);
    assert_true(tally_time_parse_rfc3339("2026-04-01T00:00:00Z", &t));
    assert_int_equal(ev.u.subscription.ends_at, t);
    tally_event_free(&ev);

    decode_valid("subscription.upserted.suspended", &ev);
    assert_string_equal(ev.u.subscription.status, "suspended");
    assert_string_equal(ev.u.subscription.user_id, "u-1002");
    assert_false(ev.u.subscription.has_ends_at);
    tally_event_free(&ev);
}

static void price_defaults_and_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("model.priced.minimal", &ev);
    const tally_price *p = &ev.u.price;
    assert_string_equal(p->model_id, "openai/gpt-4o-mini");
    assert_true(p->input_usd_per_1m.set);
    assert_string_equal(p->input_usd_per_1m.text, "0.15");
    assert_string_equal(p->output_usd_per_1m.text, "0.6");
    assert_true(p->cached_input_usd_per_1m.set); /* default: the input price */
    assert_string_equal(p->cached_input_usd_per_1m.text, "0.15");
    assert_true(p->minutes_saved_per_100_output_tokens.set); /* default: 0 */
    assert_string_equal(p->minutes_saved_per_100_output_tokens.text, "0");
    assert_null(p->tenant_id);
    assert_null(p->provider);
    tally_usec t;
    assert_true(tally_time_parse_rfc3339("2026-01-01T00:00:00Z", &t));
    assert_int_equal(p->effective_from, t);
    assert_string_equal(tally_event_key(&ev), "_global");
    tally_event_free(&ev);

    decode_valid("model.priced.full", &ev);
    p = &ev.u.price;
    assert_string_equal(p->input_usd_per_1m.text, "0.150000"); /* strings kept as sent */
    assert_string_equal(p->output_usd_per_1m.text, "0.600000");
    assert_string_equal(p->cached_input_usd_per_1m.text, "0.075");
    assert_string_equal(p->minutes_saved_per_100_output_tokens.text, "1.5");
    assert_string_equal(p->tenant_id, "ixc-distribuidor-42");
    assert_string_equal(p->provider, "openai");
    tally_event_free(&ev);

    decode_valid("model.priced.global-integer-prices", &ev);
    p = &ev.u.price;
    assert_string_equal(p->input_usd_per_1m.text, "3");
    assert_string_equal(p->output_usd_per_1m.text, "15");
    assert_string_equal(p->cached_input_usd_per_1m.text, "0");
    assert_string_equal(p->minutes_saved_per_100_output_tokens.text, "0.5");
    assert_null(p->tenant_id);
    tally_event_free(&ev);
}

static void fx_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("fx.rate_set.minimal", &ev);
    assert_string_equal(ev.u.fx.currency, "BRL");
    assert_string_equal(ev.u.fx.per_usd.text, "5.42");
    tally_event_free(&ev);
    decode_valid("fx.rate_set.full", &ev);
    assert_string_equal(ev.u.fx.per_usd.text, "5.4200");
    tally_event_free(&ev);
}

static void budget_defaults_and_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("budget.set.minimal", &ev);
    const tally_budget *b = &ev.u.budget;
    assert_string_equal(b->kind, "tokens");
    assert_string_equal(b->period, "monthly");
    assert_int_equal(b->n_thresholds, 3);
    assert_int_equal(b->thresholds[0], 80);
    assert_int_equal(b->thresholds[1], 90);
    assert_int_equal(b->thresholds[2], 100);
    assert_false(b->pause_at_limit);
    assert_true(b->token_limit.set); /* kind "tokens" needs it */
    assert_int_equal(b->token_limit.v, 1000000);
    assert_false(b->brl_limit.set);
    assert_null(b->webhook_url);
    tally_event_free(&ev);

    decode_valid("budget.set.full", &ev);
    b = &ev.u.budget;
    assert_string_equal(b->kind, "both");
    assert_string_equal(b->period, "daily");
    assert_int_equal(b->n_thresholds, 4);
    assert_int_equal(b->thresholds[0], 50);
    assert_int_equal(b->thresholds[3], 120);
    assert_true(b->pause_at_limit);
    assert_true(b->token_limit.set);
    assert_int_equal(b->token_limit.v, 2000000);
    assert_string_equal(b->brl_limit.text, "150.00");
    assert_string_equal(b->webhook_url, "https://hooks.ixc42.com.br/tally");
    tally_event_free(&ev);

    decode_valid("budget.set.brl-nulls", &ev);
    b = &ev.u.budget;
    assert_int_equal(b->n_thresholds, 3); /* null thresholds = the default */
    assert_string_equal(b->brl_limit.text, "99.9");
    assert_false(b->pause_at_limit);
    assert_null(b->webhook_url);
    tally_event_free(&ev);

    decode_valid("budget.set.threshold-bounds", &ev); /* 1 and 1000, http://, limits of 0 */
    b = &ev.u.budget;
    assert_int_equal(b->n_thresholds, 2);
    assert_int_equal(b->thresholds[0], 1);
    assert_int_equal(b->thresholds[1], 1000);
    assert_int_equal(b->token_limit.v, 0);
    assert_string_equal(b->brl_limit.text, "0");
    assert_string_equal(b->webhook_url, "http://hooks.example.com/tally/uzz-clinica-sorriso");
    tally_event_free(&ev);
}

/* kind says which limits a budget sets; the one it names must be there (a
 * present but malformed limit is reported as malformed, before this rule). */
static char *budget_with(const char *members) {
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"specversion\":\"1.0\",\"id\":\"b1\",\"type\":\"budget.set\","
             "\"time\":\"2026-03-14T12:00:00Z\",\"data\":{\"tenant_id\":\"t1\","
             "\"budget_id\":\"b1\",\"period\":\"monthly\",%s}}",
             members);
    return buf;
}

static void budget_kind_needs_its_limits(void **state) {
    (void)state;
    static const struct {
        const char *members, *want; /* want NULL: accepted */
    } cases[] = {
        {"\"kind\":\"tokens\",\"token_limit\":10", NULL},
        {"\"kind\":\"brl\",\"brl_limit\":\"1.50\"", NULL},
        {"\"kind\":\"both\",\"token_limit\":10,\"brl_limit\":1.5", NULL},
        {"\"kind\":\"tokens\",\"token_limit\":10,\"brl_limit\":null", NULL},
        {"\"kind\":\"tokens\"", "data.token_limit: required when kind is \"tokens\""},
        {"\"kind\":\"tokens\",\"brl_limit\":1",
         "data.token_limit: required when kind is \"tokens\""},
        {"\"kind\":\"brl\",\"token_limit\":10", "data.brl_limit: required when kind is \"brl\""},
        {"\"kind\":\"both\"", "data.token_limit: required when kind is \"both\""},
        {"\"kind\":\"both\",\"token_limit\":10", "data.brl_limit: required when kind is \"both\""},
        {"\"kind\":\"both\",\"brl_limit\":1", "data.token_limit: required when kind is \"both\""},
        {"\"kind\":\"both\",\"token_limit\":-1", "data.token_limit: must be a non-negative"},
        {"\"kind\":\"brl\",\"brl_limit\":\"x\"", "data.brl_limit: must be a decimal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = budget_with(cases[i].members);
        if (cases[i].want) {
            expect_reject(s, cases[i].want);
            continue;
        }
        tally_event ev;
        tally_err err;
        if (decode_str(s, &ev, &err) != TALLY_OK) fail_msg("%s rejected: %s", s, err.msg);
        tally_event_free(&ev);
    }
}

static void interaction_defaults(void **state) {
    (void)state;
    const char *names[] = {"interaction.recorded.minimal", "interaction.recorded.nulls"};
    for (int i = 0; i < 2; i++) {
        tally_event ev;
        decode_valid(names[i], &ev);
        const tally_interaction *x = &ev.u.interaction;
        assert_string_equal(x->kind, "chat");
        assert_string_equal(x->status, "ok");
        assert_int_equal(x->input_tokens, 0);
        assert_int_equal(x->output_tokens, 0);
        assert_int_equal(x->cached_tokens, 0);
        assert_false(x->audio_seconds.set);
        assert_false(x->latency_ms.set);
        assert_false(x->was_cached);
        assert_false(x->was_fallback);
        assert_false(x->cost_usd.set);
        assert_false(x->time_saved_minutes.set);
        assert_null(x->conversation_id);
        assert_null(x->agent_id);
        assert_null(x->channel);
        assert_null(x->intent);
        assert_null(ev.source);
        tally_event_free(&ev);
    }
}

static void interaction_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("interaction.recorded.full", &ev);
    const tally_interaction *x = &ev.u.interaction;
    assert_string_equal(x->tenant_id, "ixc-distribuidor-42");
    assert_string_equal(x->user_id, "u-1001");
    assert_string_equal(x->model_id, "openai/gpt-4o-mini");
    assert_string_equal(x->kind, "tts");
    assert_string_equal(x->status, "error");
    assert_string_equal(x->conversation_id, "conv-77");
    assert_string_equal(x->agent_id, "agent-suporte");
    assert_string_equal(x->channel, "whatsapp");
    assert_string_equal(x->intent, "instalacao");
    assert_int_equal(x->input_tokens, 1200);
    assert_int_equal(x->output_tokens, 350);
    assert_int_equal(x->cached_tokens, 200);
    assert_string_equal(x->audio_seconds.text, "12.5");
    assert_true(x->latency_ms.set);
    assert_int_equal(x->latency_ms.v, 840);
    assert_true(x->was_cached);
    assert_true(x->was_fallback);
    assert_string_equal(x->cost_usd.text, "0.000390");
    assert_string_equal(x->time_saved_minutes.text, "2.25");
    /* the texts are not copied into the struct but stay reachable via data */
    assert_string_equal(tally_json_string(tally_json_get(ev.data, "answer")),
                        "O prazo \xc3\xa9 de at\xc3\xa9 5 dias \xc3\xbateis.");
    assert_string_equal(tally_event_key(&ev), "ixc-distribuidor-42");
    tally_usec t;
    assert_true(tally_time_parse_rfc3339("2026-03-14T15:00:00.123Z", &t));
    assert_int_equal(ev.time, t);
    assert_string_equal(ev.time_text, "2026-03-14T12:00:00.123-03:00");
    tally_event_free(&ev);

    decode_valid("interaction.recorded.stt-decimals", &ev);
    x = &ev.u.interaction;
    assert_string_equal(x->kind, "stt");
    assert_string_equal(x->audio_seconds.text, "61.250");
    assert_string_equal(x->cost_usd.text, "0.00000015"); /* 1.5e-07, no exponent */
    assert_true(x->time_saved_minutes.set);
    assert_string_equal(x->time_saved_minutes.text, "0");
    tally_event_free(&ev);

    decode_valid("interaction.recorded.unicode-ids", &ev);
    assert_int_equal(ev.u.interaction.input_tokens, 9007199254740991LL); /* 2^53 - 1 */
    assert_string_equal(ev.subject, "escola-s\xc3\xa3o-jos\xc3\xa9");
    tally_event_free(&ev);
}

static void feedback_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("feedback.recorded.minimal", &ev);
    assert_false(ev.u.feedback.like);
    assert_string_equal(ev.u.feedback.interaction_id, "evt-ix-full");
    assert_string_equal(ev.u.feedback.user_id, "u-1001");
    tally_event_free(&ev);
    decode_valid("feedback.recorded.full", &ev);
    assert_true(ev.u.feedback.like);
    assert_string_equal(tally_event_key(&ev), "ixc-distribuidor-42");
    tally_event_free(&ev);
}

/* user.erased: two ids; the subject is not compared (as for entities), and
 * unknown data members are ignored. */
static void user_erased_values(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("user.erased.minimal", &ev);
    assert_int_equal(ev.type, TALLY_EV_USER_ERASED);
    assert_string_equal(ev.u.erased.tenant_id, "ixc-distribuidor-42");
    assert_string_equal(ev.u.erased.user_id, "u-1001");
    assert_string_equal(tally_event_key(&ev), "_global"); /* no subject: publish with one */
    tally_event_free(&ev);
    decode_valid("user.erased.full", &ev);
    assert_string_equal(ev.u.erased.user_id, "+55 11 98765-4321");
    assert_string_equal(tally_event_key(&ev), "ixc-distribuidor-42");
    tally_event_free(&ev);
    const char *bad = "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"user.erased\","
                      "\"time\":\"2026-03-14T12:00:00Z\",\"subject\":\"t\","
                      "\"data\":{\"tenant_id\":\"t\",\"user_id\":7}}";
    tally_err err;
    assert_int_equal(tally_event_decode(bad, strlen(bad), &ev, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "data.user_id"));
}

/* ---- single rules ------------------------------------------------------- */

static void size_limit_is_checked_before_parsing(void **state) {
    (void)state;
    /* a valid event padded with spaces to exactly the limit is accepted */
    const char *body = interaction_with("");
    size_t n = TALLY_EVENT_MAX_BYTES;
    char *buf = malloc(2 * n);
    memcpy(buf, body, strlen(body));
    memset(buf + strlen(body), ' ', 2 * n - strlen(body));
    tally_event ev;
    tally_err err;
    assert_int_equal(tally_event_decode(buf, n, &ev, &err), TALLY_OK);
    tally_event_free(&ev);
    /* one byte more is not, and the message says by how much */
    assert_int_equal(tally_event_decode(buf, n + 1, &ev, &err), TALLY_EINVAL);
    assert_string_equal(err.msg, "event: 1048577 bytes is over the 1048576-byte limit");
    /* garbage over the limit is rejected for its size, not parsed */
    memset(buf, 0xFF, 2 * n);
    assert_int_equal(tally_event_decode(buf, 2 * n, &ev, &err), TALLY_EINVAL);
    assert_string_equal(err.msg, "event: 2097152 bytes is over the 1048576-byte limit");
    free(buf);
}

static void buffer_need_not_be_nul_terminated(void **state) {
    (void)state;
    const char *body = interaction_with("\"input_tokens\":5");
    size_t n = strlen(body);
    char *buf = malloc(n); /* exactly the event, no NUL after it */
    memcpy(buf, body, n);
    tally_event ev;
    tally_err err;
    assert_int_equal(tally_event_decode(buf, n, &ev, &err), TALLY_OK);
    assert_int_equal(ev.u.interaction.input_tokens, 5);
    tally_event_free(&ev);
    /* a length shorter than the text cuts it: invalid JSON */
    assert_int_equal(tally_event_decode(buf, n - 1, &ev, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "event: invalid JSON"));
    free(buf);
    /* NULL/0 is an empty event */
    assert_int_equal(tally_event_decode(NULL, 0, &ev, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "event: invalid JSON"));
}

static void borrowed_strings_live_in_the_tree(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("interaction.recorded.full", &ev); /* the file buffer is already freed */
    assert_ptr_equal(ev.id, tally_json_string(tally_json_get(ev.root, "id")));
    assert_ptr_equal(ev.subject, tally_json_string(tally_json_get(ev.root, "subject")));
    assert_ptr_equal(ev.time_text, tally_json_string(tally_json_get(ev.root, "time")));
    assert_ptr_equal(ev.data, tally_json_get(ev.root, "data"));
    assert_ptr_equal(ev.u.interaction.tenant_id,
                     tally_json_string(tally_json_get(ev.data, "tenant_id")));
    assert_ptr_equal(ev.u.interaction.model_id,
                     tally_json_string(tally_json_get(ev.data, "model_id")));
    assert_ptr_equal(ev.u.interaction.channel,
                     tally_json_string(tally_json_get(ev.data, "channel")));
    tally_event_free(&ev);
    assert_null(ev.doc);
    tally_event_free(&ev); /* freeing twice is harmless */
    tally_event_free(NULL);
}

static void event_key(void **state) {
    (void)state;
    tally_event ev;
    decode_valid("user.upserted.full", &ev);
    assert_string_equal(tally_event_key(&ev), "ixc-distribuidor-42");
    tally_event_free(&ev);
    decode_valid("user.upserted.minimal", &ev); /* no subject */
    assert_string_equal(tally_event_key(&ev), "_global");
    tally_event_free(&ev);
    decode_valid("fx.rate_set.full", &ev);
    assert_string_equal(tally_event_key(&ev), "_global");
    tally_event_free(&ev);
    assert_string_equal(tally_event_key(NULL), "_global");
}

static void type_names_round_trip(void **state) {
    (void)state;
    const char *names[] = {
        "tenant.upserted",   "user.upserted", "plan.upserted", "subscription.upserted",
        "model.priced",      "fx.rate_set",   "budget.set",    "interaction.recorded",
        "feedback.recorded", "user.erased"};
    assert_int_equal(sizeof names / sizeof names[0], TALLY_EV__COUNT);
    for (int i = 0; i < TALLY_EV__COUNT; i++) {
        assert_string_equal(tally_event_type_name((tally_event_type)i), names[i]);
        tally_event_type t = TALLY_EV__COUNT;
        assert_true(tally_event_type_parse(names[i], &t));
        assert_int_equal(t, i);
    }
    assert_null(tally_event_type_name(TALLY_EV__COUNT));
    assert_null(tally_event_type_name((tally_event_type)-1));
    tally_event_type t;
    assert_false(tally_event_type_parse("foo.bar", &t));
    assert_false(tally_event_type_parse("", &t));
    assert_false(tally_event_type_parse("interaction.recorded ", &t));
    assert_false(tally_event_type_parse(NULL, &t));
}

static void decimals_are_written_canonically(void **state) {
    (void)state;
    struct {
        const char *json, *text;
    } cases[] = {
        {"0.15", "0.15"},
        {"1e20", "100000000000000000000"},
        {"1.5e-7", "0.00000015"},
        {"2.5E+3", "2500"},
        {"0.1", "0.1"},
        {"0.30000000000000004", "0.3"}, /* 15 significant digits */
        {"123456789012345.6", "123456789012346"},
        {"12345678901234567", "12345678901234567"}, /* integers are exact */
        {"1e-37", "0.0000000000000000000000000000000000001"},
        {"-0.0", "0"},
        {"0", "0"},
        {"\"-0.00\"", "0.00"},
        {"\"007.50\"", "007.50"},
        {"\"0.0000001500\"", "0.0000001500"},
        {"\"1234567890123456789012345678901234567.89\"",
         "1234567890123456789012345678901234567.89"}, /* 40 characters */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_event ev;
        tally_err err;
        if (decode_str(price_with(cases[i].json), &ev, &err) != TALLY_OK)
            fail_msg("%s: %s", cases[i].json, err.msg);
        if (strcmp(ev.u.price.input_usd_per_1m.text, cases[i].text) != 0)
            fail_msg("%s gave %s, want %s", cases[i].json, ev.u.price.input_usd_per_1m.text,
                     cases[i].text);
        tally_event_free(&ev);
    }
    expect_reject(price_with("1e-39"), "data.input_usd_per_1m: is out of range");
    expect_reject(price_with("1e41"), "data.input_usd_per_1m: is out of range");
    expect_reject(price_with("\"123456789012345678901234567890123456789.9\""),
                  "must be a decimal of at most 40 characters");
    expect_reject(price_with("-1e-300"), "must not be negative");
    expect_reject(price_with("[]"), "must be a decimal");
    expect_reject(price_with("{}"), "must be a decimal");
    expect_reject(price_with("null"), "data.input_usd_per_1m: is required");
}

static void token_counts(void **state) {
    (void)state;
    tally_event ev;
    tally_err err;
    assert_int_equal(decode_str(interaction_with("\"input_tokens\":9007199254740991,"
                                                 "\"cached_tokens\":9007199254740991"),
                                &ev, &err),
                     TALLY_OK);
    assert_int_equal(ev.u.interaction.cached_tokens, 9007199254740991LL);
    tally_event_free(&ev);
    assert_int_equal(
        decode_str(interaction_with("\"input_tokens\":0,\"cached_tokens\":0"), &ev, &err),
        TALLY_OK);
    tally_event_free(&ev);
    const char *bad[] = {"\"input_tokens\":9007199254740992",
                         "\"output_tokens\":-1",
                         "\"output_tokens\":1.0",
                         "\"output_tokens\":1E2",
                         "\"output_tokens\":true",
                         "\"output_tokens\":[1]",
                         "\"latency_ms\":-0.5",
                         "\"latency_ms\":\"5\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_reject(interaction_with(bad[i]), "must be a non-negative integer below 2^53");
    expect_reject(interaction_with("\"input_tokens\":10.5"),
                  "data.input_tokens: must be a non-negative integer below 2^53");
}

static void ids(void **state) {
    (void)state;
    char members[1024];
    char id128[129], id129[130];
    memset(id128, 'a', 128);
    id128[128] = '\0';
    memset(id129, 'a', 129);
    id129[129] = '\0';
    tally_event ev;
    tally_err err;
    snprintf(members, sizeof members, "\"agent_id\":\"%s\"", id128);
    assert_int_equal(decode_str(interaction_with(members), &ev, &err), TALLY_OK);
    assert_int_equal(strlen(ev.u.interaction.agent_id), 128);
    tally_event_free(&ev);
    snprintf(members, sizeof members, "\"agent_id\":\"%s\"", id129);
    expect_reject(interaction_with(members), "data.agent_id: must be at most 128 characters long");
    /* a space and non-ASCII letters are printable; U+2028 too (not a control) */
    assert_int_equal(
        decode_str(interaction_with("\"agent_id\":\"agente \\u00e9 \\u2028\""), &ev, &err),
        TALLY_OK);
    tally_event_free(&ev);
    expect_reject(interaction_with("\"agent_id\":\"a\\u0000b\""), "event: invalid JSON");
    expect_reject(interaction_with("\"agent_id\":\"a\\u001fb\""), "must not contain control");
    expect_reject(interaction_with("\"agent_id\":\"a\\u009fb\""), "must not contain control");
    expect_reject(interaction_with("\"agent_id\":\"\""), "data.agent_id: must not be empty");
    expect_reject(interaction_with("\"agent_id\":{}"), "data.agent_id: must be a string");
}

static void messages_quote_input_safely(void **state) {
    (void)state;
    tally_event ev;
    tally_err err;
    const char *ev_newline = "{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"foo\\nbar\","
                             "\"time\":\"2026-03-14T12:00:00Z\",\"data\":{}}";
    assert_int_equal(decode_str(ev_newline, &ev, &err), TALLY_EINVAL);
    assert_string_equal(err.msg, "type: unknown event type \"foo?bar\"");

    char longtype[600];
    snprintf(longtype, sizeof longtype,
             "{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"%0400d\\\"\","
             "\"time\":\"2026-03-14T12:00:00Z\",\"data\":{}}",
             7);
    assert_int_equal(decode_str(longtype, &ev, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "type: unknown event type \"0000"));
    assert_non_null(strstr(err.msg, "...\""));
    assert_true(strlen(err.msg) < 120);

    /* jansson's message about invalid UTF-8 keeps to printable ASCII */
    const char bad_utf8[] = "{\"specversion\":\"1.0\",\"id\":\"\xff\n\"}";
    assert_int_equal(tally_event_decode(bad_utf8, sizeof bad_utf8 - 1, &ev, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "event: invalid UTF-8 at byte"));
    assert_true(is_one_printable_line(err.msg));

    /* a multi-byte character is never cut in half */
    char members[512] = "\"kind\":\"";
    for (int i = 0; i < 60; i++) strcat(members, "\xc3\xa9");
    strcat(members, "\"");
    assert_int_equal(decode_str(interaction_with(members), &ev, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "\xc3\xa9...\""));
    strcpy(members, "\"kind\":\"");
    for (int i = 0; i < 20; i++) strcat(members, "\xf0\x9f\xa4\x96"); /* U+1F916, 4 bytes */
    strcat(members, "\"");
    assert_int_equal(decode_str(interaction_with(members), &ev, &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "\xf0\x9f\xa4\x96...\""));
}

static void time_rules(void **state) {
    (void)state;
    tally_event ev;
    tally_err err;
    const char *tmpl = "{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"fx.rate_set\","
                       "\"time\":\"%s\",\"data\":{\"currency\":\"BRL\",\"per_usd\":5,"
                       "\"effective_from\":\"2026-03-14T00:00:00Z\"}}";
    const char *good[] = {"2026-03-14T12:00:00Z", "2026-03-14t12:00:00z",
                          "2026-03-14 12:00:00.5+00:00", "2024-02-29T23:59:60-23:59"};
    char buf[512];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(buf, sizeof buf, tmpl, good[i]);
        if (decode_str(buf, &ev, &err) != TALLY_OK) fail_msg("%s: %s", good[i], err.msg);
        tally_event_free(&ev);
    }
    const char *bad[] = {"2026-03-14T12:00:00",
                         "2026-3-14T12:00:00Z",
                         "2025-02-29T00:00:00Z",
                         "2026-03-14T12:00:00+24:00",
                         "",
                         "2026-03-14T12:00:00Z "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, tmpl, bad[i]);
        expect_reject(buf, "time: must be an RFC 3339 time");
    }
}

static void null_error_buffer_is_allowed(void **state) {
    (void)state;
    tally_event ev;
    assert_int_equal(tally_event_decode("{", 1, &ev, NULL), TALLY_EINVAL);
    assert_int_equal(decode_str(interaction_with("\"kind\":\"x\""), &ev, NULL), TALLY_EINVAL);
    const char *good = interaction_with("");
    assert_int_equal(tally_event_decode(good, strlen(good), &ev, NULL), TALLY_OK);
    tally_event_free(&ev);
    assert_int_equal(tally_event_decode(good, strlen(good), NULL, NULL), TALLY_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_valid_fixture_decodes),
        cmocka_unit_test(every_type_has_minimal_and_full_fixture),
        cmocka_unit_test(every_invalid_fixture_is_rejected_with_its_message),
        cmocka_unit_test(tenant_defaults_and_values),
        cmocka_unit_test(tenant_retention_bounds),
        cmocka_unit_test(user_defaults_and_values),
        cmocka_unit_test(plan_defaults_and_values),
        cmocka_unit_test(subscription_defaults_and_values),
        cmocka_unit_test(price_defaults_and_values),
        cmocka_unit_test(fx_values),
        cmocka_unit_test(budget_defaults_and_values),
        cmocka_unit_test(budget_kind_needs_its_limits),
        cmocka_unit_test(interaction_defaults),
        cmocka_unit_test(interaction_values),
        cmocka_unit_test(feedback_values),
        cmocka_unit_test(user_erased_values),
        cmocka_unit_test(size_limit_is_checked_before_parsing),
        cmocka_unit_test(buffer_need_not_be_nul_terminated),
        cmocka_unit_test(borrowed_strings_live_in_the_tree),
        cmocka_unit_test(event_key),
        cmocka_unit_test(type_names_round_trip),
        cmocka_unit_test(decimals_are_written_canonically),
        cmocka_unit_test(token_counts),
        cmocka_unit_test(ids),
        cmocka_unit_test(messages_quote_input_safely),
        cmocka_unit_test(time_rules),
        cmocka_unit_test(null_error_buffer_is_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
