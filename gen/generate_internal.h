/*
 * generate_internal — what the files of the generator's engine share (not
 * for other callers; generate.h holds what generate_text.c shares too):
 *
 *   generate.c              options, random numbers, the time line, the
 *                           pending duplicates and feedback, the run
 *   generate_json.c         the output buffer, the JSON, number and time
 *                           writers, the CloudEvents envelope
 *   generate_interaction.c  the models and their prices; one interaction,
 *                           built from its own stream and written
 *   generate_estimate.c     each tenant's expected month, week and day, which
 *                           plan limits and budgets are sized from
 *   generate_entities.c     zones, platform shapes, tenants, user ids, and
 *                           the entity events
 *   generate_limits.c       plans, subscriptions and budgets, sized to be
 *                           reached
 *
 * Everything here that has linkage is prefixed (gen_, GEN_, o_, ev_); the
 * smallest helpers, called on every event, are static inline here, so that
 * each file still inlines them.
 */
#ifndef TALLY_GENERATE_INTERNAL_H
#define TALLY_GENERATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tally_gen.h"

#define N_(a) (sizeof(a) / sizeof((a)[0]))
#define MS_HOUR 3600000LL
#define MS_DAY 86400000LL
#define FLUSH_AT (1u << 20)

/* ---- random numbers (generate.c) ---- */

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    return mix64(a ^ mix64(b + 0x9e3779b97f4a7c15ULL * (1 + mix64(c ^ mix64(d + 1)))));
}

static inline bool chance(tally_gen_rng *r, double p) { return tally_gen_unit(r) < p; }

static inline int64_t range(tally_gen_rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(tally_gen_unit(r) * (double)(hi - lo + 1));
}

/* A log-normal draw: the median times e^(sigma·z), z about standard normal
 * (the sum of four uniforms: light tails, which keeps values plausible). */
double tally__gen_lognormal(tally_gen_rng *r, double median, double sigma);

/* An index in [0, n) drawn with the weights w[0..n-1]. */
unsigned tally__gen_weighted(tally_gen_rng *r, const unsigned *w, unsigned n);

static inline int64_t floordiv(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- the output buffer and the JSON writer (generate_json.c) ---- */

typedef struct {
    char *p;
    size_t len, cap;
    tally_gen_sink sink;
    void *ctx;
    bool failed;
    uint64_t bytes, lines;
} out_buf;

/* Make room for n more bytes (aborts when memory runs out). */
void tally__o_grow(out_buf *o, size_t n);

static inline void o_raw(out_buf *o, const char *s, size_t n) {
    if (o->len + n > o->cap) tally__o_grow(o, n);
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* a string literal only: "" s "" does not compile with anything else */
#define O_LIT(o, s) o_raw((o), "" s "", sizeof(s) - 1)

static inline void o_ch(out_buf *o, char c) {
    if (o->len + 1 > o->cap) tally__o_grow(o, 1);
    o->p[o->len++] = c;
}

void tally__o_u64(out_buf *o, uint64_t v);
/* Lower-case hex, zero-padded to at least `width` digits. */
void tally__o_hex(out_buf *o, uint64_t v, int width);
/* v / 10^scale as an exact decimal, trailing zeros trimmed ("0.000075", "12.5", "3"). */
void tally__o_fixed(out_buf *o, uint64_t v, int scale);
/* A JSON string of s[0..n-1] (valid UTF-8), quoted and escaped. */
void tally__o_str(out_buf *o, const char *s, size_t n);
void tally__o_cstr(out_buf *o, const char *s);
/* ,"key": */
void tally__o_key(out_buf *o, const char *key);
/* Hand what is buffered to the sink (a failure is remembered in o->failed). */
void tally__o_flush(out_buf *o);
/* "2026-03-14T09:12:33.123-03:00" (offset_h != 0 or !utc) or "…Z"; ms precision
 * unless whole seconds are asked for. */
void tally__o_time(out_buf *o, int64_t ms, int offset_h, bool utc, bool millis);

/* ---- catalogues: zones and platform shapes (generate_entities.c) ---- */

enum { GEN_N_ZONES = 4 };

typedef struct {
    const char *name;
    int offset_h; /* fixed: Brazil has had no daylight saving time since 2019 */
} gen_zone;

extern const gen_zone tally__gen_zones[GEN_N_ZONES];

typedef struct {
    const char *id, *name;
} tenant_name;

typedef struct {
    const tenant_name *names;
    unsigned n_names;
    const char *source;      /* the publishing service */
    double weight;           /* relative traffic */
    unsigned char hours[24]; /* the local daily rhythm, percent of the peak */
    double weekend;          /* Saturday/Sunday factor */
} shape_info;

extern const shape_info tally__gen_shapes[TALLY_GEN__SHAPES];

/* ---- catalogues: models and prices (generate_interaction.c) ---- */

enum { M_4O_MINI, M_4O, M_HAIKU, M_GEMINI, M_LLAMA70, M_LLAMA8, M_EMBED, M_WHISPER, M_TTS, M__N };

/* Prices in millionths of a dollar per 1M tokens (0.15 $/1M = 150000); -1 =
 * not given. minutes: minutes_saved_per_100_output_tokens in hundredths. */
typedef struct {
    const char *id, *provider;
    int64_t in, out, cached, minutes, ms_per_token;
} model_info;

extern const model_info tally__gen_models[M__N];

/* The second version of some prices, in force from mid-window. */
enum { GEN_N_PRICE_V2 = 2 };

typedef struct {
    int model;
    int64_t in, out, cached;
} gen_price;

extern const gen_price tally__gen_price_v2[GEN_N_PRICE_V2];

/* One tenant's own negotiated price (the first IXC distributor's). */
#define TENANT_PRICE_MODEL M_4O_MINI
extern const int64_t tally__gen_tenant_price[3];

/* ---- the state of a run ---- */

/* A tenant's expected traffic (generate_estimate.c), in the periods that
 * limits and budgets count, all in the tenant's zone: interactions in its
 * busiest calendar month, its busiest week (from Monday), its busiest day
 * and a mean day of the window; and what one interaction uses on average. */
typedef struct {
    double month, week, day_max, day_mean; /* interactions */
    double tokens;                         /* input + output, per interaction */
    double brl;                            /* cost in BRL at list price and the first rate */
} gen_volume;

typedef struct {
    char id[72], name[160], slug[72];
    unsigned shape, round, zone, business, n_agents, agents[5];
    double weight;
    gen_volume expect; /* set before the entities are written */
} tenant;

typedef struct {
    unsigned shape, zone, n;
    uint32_t *members;
    double *cum; /* cumulative static weights of the members, cum[n-1] = total */
} tclass;

typedef struct {
    const tally_gen_opts *o;
    char seedhex[20];
    int64_t start_ms, mid_ms, late_ms, fx_ms,
        epoch_ms; /* window start, price/FX changes, list prices */
    uint32_t n_tenants;
    tenant *tenants;
    unsigned n_classes;
    tclass classes[TALLY_GEN__SHAPES * GEN_N_ZONES];
    size_t n_hours;
    double *cum;     /* [n_hours + 1] cumulative weight of all classes */
    double *class_w; /* [n_hours][n_classes] */
    size_t last_nonzero;
    int priced_tenant; /* the tenant with its own price */
    out_buf out;
    uint64_t n_entities;
    char qbuf[2048], abuf[2048];
} gen;

/* ---- the CloudEvents envelope (generate_json.c) ---- */

/* "evt-<seed>-<n>": the id of interaction n. */
void tally__o_id_interaction(out_buf *o, const gen *g, uint64_t n);

/* {"specversion":"1.0","id":"evt-…","source":…,"type":…,"time":…[,"subject":…],…,"data":{
 * The id is "evt-<seed>-<id_kind>-<id_n>", or the interaction's (id_kind NULL). */
void tally__ev_begin(gen *g, const char *id_kind, uint64_t id_n, const char *source,
                     const char *type, int64_t ms, int offset_h, bool utc, const char *subject);

/* }}\n, and a flush when enough is buffered. */
void tally__ev_end(gen *g);

/* ---- expected volumes (generate_estimate.c) ---- */

/* BRL per USD in millionths: the first rate (5.42), and the one from fx_ms on (5.61). */
#define FX_V1 5420000
#define FX_V2 5610000

/* Days since 1970-01-01 → the civil date (proleptic Gregorian). */
void tally__gen_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);

/* Fill every tenant's `expect` from the time line (built) and a sample of
 * its interactions; false when out of memory. */
bool tally__gen_estimate(gen *g);

/* ---- tenants, users and the entity events (generate_entities.c) ---- */

/* The tenants of o->tenants and their classes (same shape, same zone);
 * false when out of memory. */
bool tally__gen_build_tenants(gen *g);

/* A version-4 UUID made of h (buf: 37 bytes). */
void tally__gen_uuid_of(uint64_t h, char *buf);

/* The user id of user u of tenant t (buf: 48 bytes). */
void tally__gen_user_id_of(const gen *g, uint32_t t, uint32_t u, char *buf);

/* The envelope of an entity event: id "evt-<seed>-ent-<n>", source
 * "backoffice-1" (prices and rates: "pricing-sync"), time ms in UTC. */
void tally__gen_ent_begin(gen *g, const char *type, int64_t ms, const char *subject);

/* A user.erased of user u of tenant t at ms: someone who asked to be
 * forgotten (LGPD art. 18) once the window's traffic is over. */
void tally__gen_write_erasure(gen *g, uint32_t t, uint32_t u, int64_t ms);

/* Tenants, users, plans, subscriptions, prices, FX rates and budgets. */
void tally__gen_write_entities(gen *g);

/* ---- plans, subscriptions and budgets (generate_limits.c) ---- */

/* Each entity event at *clock seconds, advancing it by one per event. */
void tally__gen_write_plans_and_subscriptions(gen *g, int64_t *clock);
void tally__gen_write_budgets(gen *g, int64_t *clock);

/* ---- interactions (generate_interaction.c) ---- */

typedef struct {
    uint64_t n;
    int64_t ms;
    uint32_t tenant, user;
    tally_gen_kind kind;
    int model, channel, agent, temp10, max_tokens, n_att, conv_style;
    int64_t in, out, cached, latency, audio_cs;
    bool error, was_cached, was_fallback, has_cost, has_saved, has_params, utc, omit_defaults;
    uint64_t cost_e12, saved_cmin, conv;
    const char *err_code, *att_name[2], *att_type[2];
    tally_gen_sb q, a;
    const char *intent, *label;
} irec;

/* The price in force for tenant t at time ms: {in, out, cached}, false when none. */
bool tally__gen_price_at(const gen *g, uint32_t t, int model, int64_t ms, int64_t p[3]);

/* What x costs at prices p, in 1e-12 dollars. */
uint64_t tally__gen_cost_e12(const int64_t p[3], const irec *x);

/* Interaction n, at ms, of tenant t: everything else comes from its own
 * stream, so building it again gives the same record. */
void tally__gen_build_interaction(gen *g, irec *x, uint64_t n, int64_t ms, uint32_t t);

void tally__gen_write_interaction(gen *g, const irec *x);

#endif
