/*
 * Entity upserts (CONTRACT.md §1.2). Every statement is guarded so that the
 * newest (event time, offset) wins: the WHERE of ON CONFLICT DO UPDATE skips
 * the write when the stored row is newer. `<=` rather than `<` lets a replay
 * of the very same event rewrite identical values, which is harmless.
 */
#include <stdio.h>
#include <string.h>

#include "pg_internal.h"

#define NEWER(tbl)                                                                                 \
    " WHERE (" tbl ".ev_time, " tbl ".ev_offset) <= (EXCLUDED.ev_time, EXCLUDED.ev_offset)"

/* Text forms of the version and of optional values, on the caller's stack. */
typedef struct {
    char time[40], offset[24];
} version_text;

static void version_fmt(tally_pg_version v, version_text *out) {
    tally_time_format_utc(v.time, out->time, sizeof out->time);
    snprintf(out->offset, sizeof out->offset, "%lld", (long long)v.offset);
}

static const char *opt_i64(tally_opt_i64 o, char *buf, size_t len) {
    if (!o.set) return NULL;
    snprintf(buf, len, "%lld", (long long)o.v);
    return buf;
}

static const char *opt_dec(const tally_decimal *d) { return d->set ? d->text : NULL; }

tally_code tally_pg_upsert_tenant(tally_pg *pg, const tally_tenant *t, tally_pg_version v,
                                  tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    char content_days[24], user_days[24];
    const char *p[] = {t->tenant_id,
                       t->name,
                       t->slug,
                       t->status,
                       t->timezone,
                       t->contact,
                       opt_i64(t->content_retention_days, content_days, sizeof content_days),
                       opt_i64(t->user_retention_days, user_days, sizeof user_days),
                       vt.time,
                       vt.offset};
    return tally__pg_exec_params(
        pg, "upsert tenant",
        "INSERT INTO tenants AS x (tenant_id, name, slug, status, timezone, contact,"
        " content_retention_days, user_retention_days, ev_time, ev_offset)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (tenant_id) DO UPDATE SET name = EXCLUDED.name, slug = EXCLUDED.slug,"
        " status = EXCLUDED.status, timezone = EXCLUDED.timezone, contact = EXCLUDED.contact,"
        " content_retention_days = EXCLUDED.content_retention_days,"
        " user_retention_days = EXCLUDED.user_retention_days,"
        " ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset, updated_at = now()" NEWER(
            "x"),
        10, p, err);
}

tally_code tally_pg_upsert_user(tally_pg *pg, const tally_user *u, tally_pg_version v,
                                tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    const char *active = u->active < 0 ? NULL : u->active ? "true" : "false";
    const char *p[] = {u->tenant_id, u->user_id, u->name, u->email,
                       u->role,      active,     vt.time, vt.offset};
    return tally__pg_exec_params(
        pg, "upsert user",
        "INSERT INTO users AS x (tenant_id, user_id, name, email, role, active, ev_time,"
        " ev_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (tenant_id, user_id) DO UPDATE SET name = EXCLUDED.name,"
        " email = EXCLUDED.email, role = EXCLUDED.role, active = EXCLUDED.active,"
        " ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset, updated_at = now()" NEWER(
            "x"),
        8, p, err);
}

tally_code tally_pg_upsert_plan(tally_pg *pg, const tally_plan *pl, tally_pg_version v,
                                tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    char req[24], tok[24];
    const char *p[] = {pl->plan_id,
                       pl->tenant_id,
                       pl->name,
                       opt_i64(pl->monthly_request_limit, req, sizeof req),
                       opt_i64(pl->monthly_token_limit, tok, sizeof tok),
                       pl->description,
                       vt.time,
                       vt.offset};
    return tally__pg_exec_params(
        pg, "upsert plan",
        "INSERT INTO plans AS x (plan_id, tenant_id, name, monthly_request_limit,"
        " monthly_token_limit, description, ev_time, ev_offset)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (plan_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id,"
        " name = EXCLUDED.name, monthly_request_limit = EXCLUDED.monthly_request_limit,"
        " monthly_token_limit = EXCLUDED.monthly_token_limit,"
        " description = EXCLUDED.description, ev_time = EXCLUDED.ev_time,"
        " ev_offset = EXCLUDED.ev_offset, updated_at = now()" NEWER("x"),
        8, p, err);
}

tally_code tally_pg_upsert_subscription(tally_pg *pg, const tally_subscription *s,
                                        tally_pg_version v, tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    char starts[40], ends[40];
    tally_time_format_utc(s->starts_at, starts, sizeof starts);
    if (s->has_ends_at) tally_time_format_utc(s->ends_at, ends, sizeof ends);
    const char *p[] = {s->subscription_id,           s->tenant_id, s->user_id, s->plan_id, starts,
                       s->has_ends_at ? ends : NULL, s->status,    vt.time,    vt.offset};
    return tally__pg_exec_params(
        pg, "upsert subscription",
        "INSERT INTO subscriptions AS x (subscription_id, tenant_id, user_id, plan_id,"
        " starts_at, ends_at, status, ev_time, ev_offset)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (subscription_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id,"
        " user_id = EXCLUDED.user_id, plan_id = EXCLUDED.plan_id,"
        " starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,"
        " status = EXCLUDED.status, ev_time = EXCLUDED.ev_time,"
        " ev_offset = EXCLUDED.ev_offset, updated_at = now()" NEWER("x"),
        9, p, err);
}

tally_code tally_pg_upsert_price(tally_pg *pg, const tally_price *pr, tally_pg_version v,
                                 tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    char eff[40];
    tally_time_format_utc(pr->effective_from, eff, sizeof eff);
    const char *cached = opt_dec(&pr->cached_input_usd_per_1m);
    const char *saved = opt_dec(&pr->minutes_saved_per_100_output_tokens);
    const char *p[] = {pr->model_id,
                       pr->tenant_id ? pr->tenant_id : "",
                       eff,
                       pr->provider,
                       pr->input_usd_per_1m.text,
                       pr->output_usd_per_1m.text,
                       cached ? cached : pr->input_usd_per_1m.text,
                       saved ? saved : "0",
                       vt.time,
                       vt.offset};
    return tally__pg_exec_params(
        pg, "upsert model price",
        "INSERT INTO model_prices AS x (model_id, tenant_key, effective_from, provider,"
        " input_usd_per_1m, output_usd_per_1m, cached_input_usd_per_1m,"
        " minutes_saved_per_100_output_tokens, ev_time, ev_offset)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (model_id, tenant_key, effective_from) DO UPDATE SET"
        " provider = EXCLUDED.provider, input_usd_per_1m = EXCLUDED.input_usd_per_1m,"
        " output_usd_per_1m = EXCLUDED.output_usd_per_1m,"
        " cached_input_usd_per_1m = EXCLUDED.cached_input_usd_per_1m,"
        " minutes_saved_per_100_output_tokens = EXCLUDED.minutes_saved_per_100_output_tokens,"
        " ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset" NEWER("x"),
        10, p, err);
}

tally_code tally_pg_upsert_fx(tally_pg *pg, const tally_fx *f, tally_pg_version v, tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    char eff[40];
    tally_time_format_utc(f->effective_from, eff, sizeof eff);
    const char *p[] = {f->currency, eff, f->per_usd.text, vt.time, vt.offset};
    return tally__pg_exec_params(
        pg, "upsert fx rate",
        "INSERT INTO fx_rates AS x (currency, effective_from, per_usd, ev_time, ev_offset)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (currency, effective_from) DO UPDATE SET per_usd = EXCLUDED.per_usd,"
        " ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset" NEWER("x"),
        5, p, err);
}

tally_code tally_pg_upsert_budget(tally_pg *pg, const tally_budget *b, tally_pg_version v,
                                  tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    char tok[24], thresholds[16 * TALLY_MAX_THRESHOLDS + 4];
    size_t used = 0;
    thresholds[used++] = '{';
    for (int i = 0; i < b->n_thresholds; i++)
        used += (size_t)snprintf(thresholds + used, sizeof thresholds - used, "%s%d", i ? "," : "",
                                 b->thresholds[i]);
    snprintf(thresholds + used, sizeof thresholds - used, "}");
    const char *p[] = {b->tenant_id,
                       b->budget_id,
                       b->kind,
                       b->period,
                       opt_i64(b->token_limit, tok, sizeof tok),
                       opt_dec(&b->brl_limit),
                       thresholds,
                       b->pause_at_limit ? "true" : "false",
                       b->webhook_url,
                       vt.time,
                       vt.offset};
    return tally__pg_exec_params(
        pg, "upsert budget",
        "INSERT INTO budgets AS x (tenant_id, budget_id, kind, period, token_limit, brl_limit,"
        " thresholds, pause_at_limit, webhook_url, ev_time, ev_offset)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (tenant_id, budget_id) DO UPDATE SET kind = EXCLUDED.kind,"
        " period = EXCLUDED.period, token_limit = EXCLUDED.token_limit,"
        " brl_limit = EXCLUDED.brl_limit, thresholds = EXCLUDED.thresholds,"
        " pause_at_limit = EXCLUDED.pause_at_limit, webhook_url = EXCLUDED.webhook_url,"
        " ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset, updated_at = now()" NEWER(
            "x"),
        11, p, err);
}

tally_code tally_pg_upsert_feedback(tally_pg *pg, const tally_feedback *f, const char *event_id,
                                    tally_pg_version v, tally_err *err) {
    version_text vt;
    version_fmt(v, &vt);
    const char *p[] = {f->interaction_id, f->user_id, f->tenant_id, f->like ? "like" : "dislike",
                       event_id,          vt.time,    vt.offset};
    return tally__pg_exec_params(
        pg, "upsert feedback",
        "INSERT INTO feedback AS x (interaction_id, user_id, tenant_id, rating, event_id,"
        " ev_time, ev_offset) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (interaction_id, user_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id,"
        " rating = EXCLUDED.rating, event_id = EXCLUDED.event_id, ev_time = EXCLUDED.ev_time,"
        " ev_offset = EXCLUDED.ev_offset" NEWER("x"),
        7, p, err);
}
