/*
 * generate_limits — the entity events that set limits (see
 * generate_internal.h): plans, subscriptions and budgets, shaped after the
 * seed platforms that have them, and sized from each tenant's expected
 * traffic (generate_estimate.c) so that the generated month reaches some of
 * them and not others:
 *
 *   IXC distributors (seed 002)  a plan of their own with monthly request and
 *                                token limits, subscribed by the whole tenant;
 *                                a few users on the global plans (one trial,
 *                                one suspended, one cancelled)
 *   schools (seed 000)           a per-student plan of monthly messages,
 *                                subscribed by the heaviest students
 *   UZZ.AI bots (seed 003)       budgets in BRL a month, tokens and BRL a week,
 *                                tokens a day; thresholds 80/90/100, some
 *                                pausing at the limit, some with a webhook
 *   tutoring marketplace         a trial of the professional plan
 *   GATTE support                a small plan that ends mid-month, replaced by
 *                                the enterprise plan
 *
 * "One" of a kind (the suspended, the cancelled, the ended subscription)
 * belongs to the first tenant of its shape (round 0), so a run has exactly
 * one whatever --tenants says. Limits count in the tenant's zone: requests
 * or input + output tokens per calendar month (plans), tokens or BRL per
 * day, week from Monday or month (budgets).
 */
#include "generate_internal.h"

#include <stdio.h>
#include <string.h>

/* Two significant digits, at least `floor`: limits people would set. */
static uint64_t round2(double v, uint64_t floor) {
    if (!(v >= (double)floor)) return floor;
    double p = 1;
    while (v >= 100 * p) p *= 10;
    return (uint64_t)(v / p + 0.5) * (uint64_t)p;
}

/* Limit ÷ expected use, by lap of the shapes (round % 3): the first tenant of
 * a shape gets the demo's numbers; the next ones land elsewhere around 100 %. */
static const double IXC_REQUESTS[3] = {0.85, 1.15, 0.7}, IXC_TOKENS[3] = {1.2, 0.75, 1.05};
static const double BOT_MONTH_BRL[3] = {0.9, 1.1, 0.75};
static const double BOT_WEEK_TOKENS[3] = {1.1, 0.9, 1.2}, BOT_WEEK_BRL[3] = {0.85, 1.05, 0.8};

/* Students with a plan of their own, from user 1 (user 0 is the teacher). */
enum { SCHOOL_STUDENTS = 3 };
/* IXC users with a subscription of their own: users 1..4. */
enum { IXC_USERS = 4 };

/* sqrt by Newton's method: plain arithmetic, the same bits everywhere
 * without libm (see d_exp in generate.c); x in [0, 1]. */
static double unit_sqrt(double x) {
    if (x <= 0) return 0;
    double r = 1;
    for (int i = 0; i < 40; i++) r = 0.5 * (r + x / r);
    return r;
}

/* The share of a tenant's interactions that go to user u: interactions pick
 * floor(U·v²), v uniform (generate_interaction.c). */
static double user_share(const gen *g, uint32_t u) {
    double n = g->o->users_per_tenant;
    return unit_sqrt((u + 1) / n) - unit_sqrt(u / n);
}

static uint32_t school_students(const gen *g) {
    uint32_t others = g->o->users_per_tenant - 1;
    return others < SCHOOL_STUDENTS ? others : SCHOOL_STUDENTS;
}

static void write_plan(gen *g, int64_t *clock, const char *id, const tenant *tn, const char *name,
                       uint64_t requests, uint64_t tokens, const char *description) {
    out_buf *o = &g->out;
    tally__gen_ent_begin(g, "plan.upserted", (*clock)++ * 1000, tn ? tn->id : NULL);
    O_LIT(o, "\"plan_id\":");
    tally__o_cstr(o, id);
    if (tn) {
        O_LIT(o, ",\"tenant_id\":");
        tally__o_cstr(o, tn->id);
    }
    O_LIT(o, ",\"name\":");
    tally__o_cstr(o, name);
    O_LIT(o, ",\"monthly_request_limit\":");
    if (requests)
        tally__o_u64(o, requests);
    else
        O_LIT(o, "null");
    O_LIT(o, ",\"monthly_token_limit\":");
    if (tokens)
        tally__o_u64(o, tokens);
    else
        O_LIT(o, "null");
    O_LIT(o, ",\"description\":");
    tally__o_cstr(o, description);
    tally__ev_end(g);
}

typedef struct {
    const char *user;   /* NULL: the whole tenant */
    const char *suffix; /* of the id, for a tenant's second subscription; NULL: none */
    const char *plan, *status;
    int64_t starts, ends; /* ms; ends 0: open-ended */
} sub_spec;

static void write_subscription(gen *g, int64_t *clock, const tenant *tn, const sub_spec *s) {
    out_buf *o = &g->out;
    char id[200];
    snprintf(id, sizeof id, "sub-%s%s%s%s%s", tn->id, s->user ? "-" : "", s->user ? s->user : "",
             s->suffix ? "-" : "", s->suffix ? s->suffix : "");
    tally__gen_ent_begin(g, "subscription.upserted", (*clock)++ * 1000, tn->id);
    O_LIT(o, "\"subscription_id\":");
    tally__o_cstr(o, id);
    O_LIT(o, ",\"tenant_id\":");
    tally__o_cstr(o, tn->id);
    if (s->user) {
        O_LIT(o, ",\"user_id\":");
        tally__o_cstr(o, s->user);
    }
    O_LIT(o, ",\"plan_id\":");
    tally__o_cstr(o, s->plan);
    O_LIT(o, ",\"starts_at\":");
    if (s->starts == g->epoch_ms)
        tally__o_time(o, s->starts, 0, true, false);
    else
        tally__o_time(o, s->starts, -3, false, false);
    if (s->ends) {
        O_LIT(o, ",\"ends_at\":");
        tally__o_time(o, s->ends, -3, false, false);
    }
    O_LIT(o, ",\"status\":");
    tally__o_cstr(o, s->status);
    tally__ev_end(g);
}

/* The plans of one tenant, when its shape has any. */
static void write_tenant_plans(gen *g, int64_t *clock, const tenant *tn) {
    const gen_volume *v = &tn->expect;
    unsigned lap = tn->round % 3;
    char id[128], name[200];
    switch (tn->shape) {
    case TALLY_GEN_IXC:
        /* a distributor outgrowing its plan is the alert to demo */
        snprintf(id, sizeof id, "plan-%s-revenda", tn->id);
        snprintf(name, sizeof name, "Revenda %s", tn->name);
        write_plan(g, clock, id, tn, name, round2(IXC_REQUESTS[lap] * v->month, 10),
                   round2(IXC_TOKENS[lap] * v->month * v->tokens, 1000),
                   "Plano negociado pelo distribuidor para a sua base de clientes.");
        break;
    case TALLY_GEN_SCHOOL: {
        uint32_t n = school_students(g);
        if (!n) break;
        /* 90 % of what the middle one of the subscribed students sends: the
         * heavier ones cross it, the lighter one gets close */
        double middle = v->month * user_share(g, (n + 1) / 2);
        snprintf(id, sizeof id, "plan-%s-aluno", tn->id);
        snprintf(name, sizeof name, "Aluno %s", tn->name);
        write_plan(g, clock, id, tn, name, round2(0.9 * middle, 5), 0,
                   "Mensagens por aluno por mês com os agentes dos cursos.");
        break;
    }
    case TALLY_GEN_SUPPORT:
        if (tn->round) break;
        /* covers half the month: 45 % of the month is about 90 % of its half */
        snprintf(id, sizeof id, "plan-%s-basico", tn->id);
        snprintf(name, sizeof name, "Básico %s", tn->name);
        write_plan(g, clock, id, tn, name, round2(0.45 * v->month, 10), 0,
                   "Plano inicial, trocado pelo Enterprise no meio do mês.");
        break;
    default: break;
    }
}

static void write_tenant_subscriptions(gen *g, int64_t *clock, uint32_t t) {
    const tenant *tn = &g->tenants[t];
    const int64_t epoch = g->epoch_ms, day = MS_DAY, local = 3 * MS_HOUR; /* -03:00 midnight */
    char own[128], uid[48];
    sub_spec s = {NULL, NULL, "plan-profissional", "active", epoch, 0};
    switch (tn->shape) {
    case TALLY_GEN_SCHOOL: {
        /* every other school is on a two-week trial that ends in the window */
        if (tn->round % 2 == 1) {
            s.status = "trial";
            s.ends = g->start_ms + 14 * day + local;
        }
        write_subscription(g, clock, tn, &s);
        snprintf(own, sizeof own, "plan-%s-aluno", tn->id);
        uint32_t n = school_students(g);
        for (uint32_t u = 1; u <= n; u++) {
            tally__gen_user_id_of(g, t, u, uid);
            sub_spec st = {uid, NULL, own, u == 3 ? "trial" : "active", epoch, 0};
            write_subscription(g, clock, tn, &st);
        }
        break;
    }
    case TALLY_GEN_TUTORING:
        s.status = "trial"; /* trying the platform out before signing */
        write_subscription(g, clock, tn, &s);
        break;
    case TALLY_GEN_IXC:
        snprintf(own, sizeof own, "plan-%s-revenda", tn->id);
        s.plan = own;
        write_subscription(g, clock, tn, &s);
        /* seed 002: users subscribe to plans of their own */
        for (uint32_t u = 1; u < g->o->users_per_tenant && u <= IXC_USERS; u++) {
            tally__gen_user_id_of(g, t, u, uid);
            sub_spec su = {uid,      NULL,  u % 2 ? "plan-gratuito" : "plan-profissional",
                           "active", epoch, 0};
            if (u == 2) su.status = "trial";
            if (u == 3 && tn->round == 0) su.status = "suspended"; /* unpaid: not allowed */
            if (u == 4 && tn->round == 0) {
                su.status = "cancelled";
                su.ends = g->start_ms + 10 * day + local;
            }
            write_subscription(g, clock, tn, &su);
        }
        break;
    case TALLY_GEN_SUPPORT:
        if (tn->round == 0) {
            /* outgrew the basic plan: it ends mid-month, enterprise follows */
            snprintf(own, sizeof own, "plan-%s-basico", tn->id);
            s.plan = own;
            s.ends = g->mid_ms;
            write_subscription(g, clock, tn, &s);
            sub_spec next = {NULL, "enterprise", "plan-enterprise", "active", g->mid_ms, 0};
            write_subscription(g, clock, tn, &next);
        } else {
            s.plan = "plan-enterprise";
            write_subscription(g, clock, tn, &s);
        }
        break;
    default: write_subscription(g, clock, tn, &s);
    }
}

void tally__gen_write_plans_and_subscriptions(gen *g, int64_t *clock) {
    write_plan(g, clock, "plan-gratuito", NULL, "Gratuito", 1000, 500000,
               "Para experimentar: 1.000 requisições por mês.");
    write_plan(g, clock, "plan-profissional", NULL, "Profissional", 50000, 50000000,
               "Uso profissional, com limites generosos.");
    write_plan(g, clock, "plan-enterprise", NULL, "Enterprise", 0, 0,
               "Sem limites; faturamento sob contrato.");
    for (uint32_t t = 0; t < g->n_tenants; t++) write_tenant_plans(g, clock, &g->tenants[t]);
    for (uint32_t t = 0; t < g->n_tenants; t++) write_tenant_subscriptions(g, clock, t);
}

/* ---- budgets ---- */

typedef struct {
    const char *name, *kind, *period;
    uint64_t tokens, brl_e6; /* limits (brl in millionths); 0: not sent */
    bool pause, webhook;
} budget_spec;

static void write_budget(gen *g, int64_t *clock, const tenant *tn, const budget_spec *b) {
    out_buf *o = &g->out;
    char id[128];
    snprintf(id, sizeof id, "budget-%s-%s", tn->id, b->name);
    tally__gen_ent_begin(g, "budget.set", (*clock)++ * 1000, tn->id);
    O_LIT(o, "\"tenant_id\":");
    tally__o_cstr(o, tn->id);
    O_LIT(o, ",\"budget_id\":");
    tally__o_cstr(o, id);
    O_LIT(o, ",\"kind\":");
    tally__o_cstr(o, b->kind);
    O_LIT(o, ",\"period\":");
    tally__o_cstr(o, b->period);
    if (b->tokens) {
        O_LIT(o, ",\"token_limit\":");
        tally__o_u64(o, b->tokens);
    }
    if (b->brl_e6) {
        O_LIT(o, ",\"brl_limit\":");
        tally__o_fixed(o, b->brl_e6, 6);
    }
    O_LIT(o, ",\"thresholds\":[80,90,100],\"pause_at_limit\":");
    if (b->pause)
        O_LIT(o, "true");
    else
        O_LIT(o, "false");
    if (b->webhook) {
        O_LIT(o, ",\"webhook_url\":\"https://hooks.example.com/tally/");
        o_raw(o, tn->id, strlen(tn->id)); /* tenant ids are plain ASCII: no escaping */
        o_ch(o, '"');
    }
    tally__ev_end(g);
}

void tally__gen_write_budgets(gen *g, int64_t *clock) {
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        if (tn->shape != TALLY_GEN_WHATSAPP) continue;
        const gen_volume *v = &tn->expect;
        unsigned lap = tn->round % 3;
        /* money over the month; pausing only on every other bot */
        budget_spec month = {"mensal",
                             "brl",
                             "monthly",
                             0,
                             round2(BOT_MONTH_BRL[lap] * v->month * v->brl * 1e6, 10000),
                             tn->round % 2 == 1,
                             true};
        /* tokens and money over the busiest week: the money runs out first */
        budget_spec week = {"semanal",
                            "both",
                            "weekly",
                            round2(BOT_WEEK_TOKENS[lap] * v->week * v->tokens, 1000),
                            round2(BOT_WEEK_BRL[lap] * v->week * v->brl * 1e6, 10000),
                            false,
                            false};
        /* tokens a day, between a mean and the busiest day: busy weekdays
         * cross it and pause the bot, quiet days do not */
        budget_spec daily = {
            "diario", "tokens", "daily", round2(0.5 * (v->day_mean + v->day_max) * v->tokens, 1000),
            0,        true,     true};
        write_budget(g, clock, tn, &month);
        write_budget(g, clock, tn, &week);
        write_budget(g, clock, tn, &daily);
    }
}
