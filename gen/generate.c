/*
 * generate — the engine of `tally generate` (see generate.h for the shape of
 * the output, generate_text.c for the texts, generate_internal.h for how the
 * rest is split: the JSON writer, one interaction, the entities).
 *
 * Time line. The window is cut into UTC hours. Each hour has, per class of
 * tenants (same platform shape, same zone), a weight: the shape's daily
 * rhythm at that *local* hour, a weekend factor, a factor per day (noise and
 * a slight growth) and the class's share. The N interaction times are N
 * sorted uniforms drawn one after the other (each from the previous one, the
 * classic sequential order-statistics method, so nothing is stored), mapped
 * through the cumulative weight; the tenant is drawn from the classes'
 * weights of that hour. Times are therefore non-decreasing, and each
 * tenant's traffic follows its own local day.
 *
 * Content. Interaction n draws everything else (user, model, tokens, texts…)
 * from a stream seeded by (seed, n) (generate_interaction.c). Re-sent
 * duplicates are rebuilt from that stream, so they are byte-identical
 * without being kept. Which interactions are duplicated or rated is drawn by
 * selection sampling (Knuth's algorithm S), so the counts are exactly
 * round(N × pct / 100), from streams of their own: changing --duplicates
 * does not change the interactions themselves. Duplicates and feedback wait
 * in a min-heap keyed by the time they are due and are written when the
 * time line passes it.
 */
#include "generate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers (mix64, hash4, chance, range: generate_internal.h) ---- */

void tally_gen_rng_seed(tally_gen_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = mix64(seed);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(tally_gen_rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint32_t tally_gen_below(tally_gen_rng *r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

double tally_gen_unit(tally_gen_rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

/* exp and log of our own (no libm): the same bits on every machine and
 * every C library, which byte-for-byte reproducible output needs. Accurate
 * to a few ulps over the ranges used here (|x| < 700; x > 0 normal). */
static double d_exp(double x) {
    if (x < -700) return 0;
    double kf = x * 1.4426950408889634;
    int64_t k = (int64_t)(kf + (kf >= 0 ? 0.5 : -0.5));
    double r = (x - (double)k * 6.93147180369123816490e-01) -
               (double)k * 1.90821492927058770002e-10;
    double t = 1, s = 1;
    for (int i = 1; i <= 14; i++) {
        t *= r / i;
        s += t;
    }
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double p;
    memcpy(&p, &bits, sizeof p);
    return s * p;
}

static double d_log(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m /= 2;
        e++;
    }
    double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
    for (int i = 1; i <= 25; i += 2) {
        sum += term / i;
        term *= s2;
    }
    return 2 * sum + e * 0.6931471805599453;
}

/* A log-normal draw: the median times e^(sigma·z), z about standard normal
 * (the sum of four uniforms: light tails, which keeps values plausible). */
double tally__gen_lognormal(tally_gen_rng *r, double median, double sigma) {
    double z = tally_gen_unit(r) + tally_gen_unit(r) + tally_gen_unit(r) + tally_gen_unit(r);
    return median * d_exp(sigma * (z - 2.0) * 1.7320508075688772);
}

unsigned tally__gen_weighted(tally_gen_rng *r, const unsigned *w, unsigned n) {
    unsigned total = 0, i = 0;
    for (unsigned k = 0; k < n; k++) total += w[k];
    unsigned x = tally_gen_below(r, total);
    while (x >= w[i]) x -= w[i++];
    return i;
}

/* ---- the time line ---- */

static void hour_weights(unsigned shape, double *w) {
    for (int h = 0; h < 24; h++) w[h] = tally__gen_shapes[shape].hours[h] / 100.0;
}

static bool build_timeline(gen *g) {
    const tally_gen_opts *o = g->o;
    tally_gen_rng r;
    tally_gen_rng_seed(&r, hash4(o->seed, 'T', 0, 0));
    double *day_factor = malloc(sizeof(double) * o->days);
    if (!day_factor) return false;
    for (uint32_t d = 0; d < o->days; d++)
        day_factor[d] = (0.85 + 0.3 * tally_gen_unit(&r)) * (1.0 + 0.005 * d);

    g->n_hours = ((size_t)o->days + 1) * 24;
    g->cum = calloc(g->n_hours + 1, sizeof(double));
    g->class_w = calloc(g->n_hours * g->n_classes, sizeof(double));
    if (!g->cum || !g->class_w) {
        free(day_factor);
        return false;
    }
    int64_t first_day = floordiv(g->start_ms, MS_DAY);
    for (unsigned c = 0; c < g->n_classes; c++) {
        const tclass *k = &g->classes[c];
        double hw[24], total = k->cum[k->n - 1];
        hour_weights(k->shape, hw);
        for (size_t b = 0; b < g->n_hours; b++) {
            int64_t lh = (int64_t)b + tally__gen_zones[k->zone].offset_h;
            if (lh < 0 || lh >= (int64_t)o->days * 24) continue;
            int64_t day = lh / 24;
            int wd = (int)((first_day + day + 4) % 7); /* 0 = Sunday; 1970-01-01 was a Thursday */
            double w = hw[lh % 24] * day_factor[day] * total;
            if (wd == 0 || wd == 6) w *= tally__gen_shapes[k->shape].weekend;
            g->class_w[b * g->n_classes + c] = w;
        }
    }
    for (size_t b = 0; b < g->n_hours; b++) {
        double s = 0;
        for (unsigned c = 0; c < g->n_classes; c++) s += g->class_w[b * g->n_classes + c];
        g->cum[b + 1] = g->cum[b] + s;
        if (s > 0) g->last_nonzero = b;
    }
    free(day_factor);
    return true;
}

/* Walks the time line: the state of the sequential sorted uniforms. */
typedef struct {
    tally_gen_rng r;
    double u;
    size_t bucket;
    uint64_t left;
} walker;

static void next_slot(gen *g, walker *w, int64_t *ms, uint32_t *tenant_out) {
    /* U(k) = 1 - (1 - U(k-1)) · V^(1/(N-k+1)): the next of N sorted uniforms */
    double v = 1.0 - tally_gen_unit(&w->r);
    w->u = 1.0 - (1.0 - w->u) * d_exp(d_log(v) / (double)w->left--);
    double target = w->u * g->cum[g->n_hours], frac;
    while (w->bucket < g->last_nonzero && g->cum[w->bucket + 1] <= target) w->bucket++;
    size_t b = w->bucket;
    double width = g->cum[b + 1] - g->cum[b];
    frac = width > 0 ? (target - g->cum[b]) / width : 0.0;
    if (frac < 0) frac = 0;
    if (frac > 0.9999999) frac = 0.9999999;
    *ms = g->start_ms + (int64_t)b * MS_HOUR + (int64_t)(frac * (double)MS_HOUR);

    const double *cw = g->class_w + b * g->n_classes;
    double x = tally_gen_unit(&w->r) * (g->cum[b + 1] - g->cum[b]);
    unsigned c = 0;
    while (c + 1 < g->n_classes && (x >= cw[c] || cw[c] == 0)) x -= cw[c++];
    while (cw[c] == 0 && c > 0) c--; /* rounding at the top end */
    const tclass *k = &g->classes[c];
    double y = tally_gen_unit(&w->r) * k->cum[k->n - 1];
    unsigned lo = 0, hi = k->n - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (k->cum[mid] > y)
            hi = mid;
        else
            lo = mid + 1;
    }
    *tenant_out = k->members[lo];
}

/* ---- feedback and duplicates: the pending heap ---- */

enum { P_DUP, P_FEEDBACK, P_REVISION };

typedef struct {
    int64_t due, ms; /* when to write it; the original's time (duplicates) */
    uint64_t seq, n;
    uint32_t tenant, user;
    uint8_t type, like;
} pending;

typedef struct {
    pending *v;
    size_t n, cap;
    uint64_t seq;
} heap;

static bool before(const pending *a, const pending *b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static bool heap_push(heap *h, pending p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        pending *v = realloc(h->v, cap * sizeof *v);
        if (!v) return false;
        h->v = v;
        h->cap = cap;
    }
    p.seq = h->seq++;
    size_t i = h->n++;
    while (i > 0 && before(&p, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = p;
    return true;
}

static pending heap_pop(heap *h) {
    pending top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static void write_feedback(gen *g, const pending *p) {
    const tenant *tn = &g->tenants[p->tenant];
    out_buf *o = &g->out;
    char uid[48];
    tally__gen_user_id_of(g, p->tenant, p->user, uid);
    tally__ev_begin(g, p->type == P_FEEDBACK ? "fb" : "fbr", p->n,
                    tally__gen_shapes[tn->shape].source, "feedback.recorded", p->due,
                    tally__gen_zones[tn->zone].offset_h, (p->n & 3) == 0, tn->id);
    O_LIT(o, "\"tenant_id\":");
    tally__o_cstr(o, tn->id);
    O_LIT(o, ",\"interaction_id\":");
    tally__o_id_interaction(o, g, p->n);
    O_LIT(o, ",\"user_id\":");
    tally__o_cstr(o, uid);
    if (p->like)
        O_LIT(o, ",\"rating\":\"like\"");
    else
        O_LIT(o, ",\"rating\":\"dislike\"");
    tally__ev_end(g);
}

static bool write_pending(gen *g, heap *h, irec *x, tally_gen_stats *st) {
    pending p = heap_pop(h);
    if (p.type == P_DUP) {
        tally__gen_build_interaction(g, x, p.n, p.ms, p.tenant);
        tally__gen_write_interaction(g, x);
        st->duplicates++;
        return true;
    }
    write_feedback(g, &p);
    st->feedback++;
    if (p.type == P_REVISION) return true;
    /* some change their mind later: the newest rating of the pair wins */
    tally_gen_rng r;
    tally_gen_rng_seed(&r, hash4(g->o->seed, 'R', p.n, 0));
    if (!chance(&r, 0.06)) return true;
    p.type = P_REVISION;
    p.due += range(&r, 10 * 60000, 2 * MS_DAY);
    if (chance(&r, 0.7)) p.like = !p.like;
    return heap_push(h, p);
}

/* Selection sampling: take `*want` of the `left` that remain, each with the
 * right probability, so exactly *want are taken in the end. */
static bool select_next(tally_gen_rng *r, uint64_t *want, uint64_t left) {
    if (!*want || tally_gen_unit(r) * (double)left >= (double)*want) return false;
    (*want)--;
    return true;
}

static uint64_t count_of(uint64_t n, double pct) {
    return (uint64_t)((double)n * pct / 100.0 + 0.5);
}

static bool schedule(gen *g, heap *h, const irec *x, tally_gen_rng *dup_sel, uint64_t *dups,
                     tally_gen_rng *fb_sel, uint64_t *fbs, uint64_t left) {
    tally_gen_rng r;
    if (select_next(dup_sel, dups, left)) {
        tally_gen_rng_seed(&r, hash4(g->o->seed, 'D', x->n, 0));
        double u = tally_gen_unit(&r);
        int64_t delay = u < 0.6    ? range(&r, 50, 5000)                 /* a producer's retry */
                        : u < 0.95 ? range(&r, 5000, 10 * 60000)         /* a restart */
                                   : range(&r, 10 * 60000, 6 * MS_HOUR); /* a replay */
        pending p = {x->ms + delay, x->ms, 0, x->n, x->tenant, x->user, P_DUP, 0};
        if (!heap_push(h, p)) return false;
    }
    if (select_next(fb_sel, fbs, left)) {
        tally_gen_rng_seed(&r, hash4(g->o->seed, 'F', x->n, 0));
        double u = tally_gen_unit(&r);
        int64_t delay = u < 0.7    ? range(&r, 5000, 3 * 60000)
                        : u < 0.95 ? range(&r, 3 * 60000, MS_HOUR)
                                   : range(&r, MS_HOUR, MS_DAY);
        bool like = chance(&r, x->error ? 0.2 : 0.85);
        pending p = {x->ms + x->latency + delay, 0, 0, x->n, x->tenant, x->user, P_FEEDBACK, like};
        if (!heap_push(h, p)) return false;
    }
    return true;
}

/* ---- the run ---- */

void tally_gen_opts_default(tally_gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->seed = 42;
    o->events = 1000;
    o->tenants = 5;
    o->users_per_tenant = 20;
    o->days = 31;
    tally_time_parse_rfc3339("2026-03-01T00:00:00Z", &o->start);
    o->duplicates_pct = 0;
    o->feedback_pct = 5;
    o->entities = true;
}

tally_code tally_gen_opts_check(const tally_gen_opts *o, tally_err *err) {
    if (o->events > 1000000000000ULL)
        return tally_err_set(err, TALLY_EINVAL, "--events: at most 10^12");
    if (o->tenants < 1 || o->tenants > 100000)
        return tally_err_set(err, TALLY_EINVAL, "--tenants: from 1 to 100000");
    if (o->users_per_tenant < 1 || o->users_per_tenant > 10000000)
        return tally_err_set(err, TALLY_EINVAL, "--users-per-tenant: from 1 to 10000000");
    if (o->erasures > o->users_per_tenant)
        return tally_err_set(err, TALLY_EINVAL, "--erasures: at most --users-per-tenant");
    if (o->days < 1 || o->days > 3660)
        return tally_err_set(err, TALLY_EINVAL, "--days: from 1 to 3660");
    if (!(o->duplicates_pct >= 0 && o->duplicates_pct <= 100))
        return tally_err_set(err, TALLY_EINVAL, "--duplicates: a percent from 0 to 100");
    if (!(o->feedback_pct >= 0 && o->feedback_pct <= 100))
        return tally_err_set(err, TALLY_EINVAL, "--feedback: a percent from 0 to 100");
    if (o->start % (86400LL * 1000000) != 0 || o->start < 0 ||
        o->start > 253402214400LL * 1000000 - (int64_t)(o->days + 120) * 86400 * 1000000)
        return tally_err_set(err, TALLY_EINVAL, "--start: a date (midnight UTC) from 1970 to 9999");
    return TALLY_OK;
}

static void gen_free(gen *g) {
    for (unsigned c = 0; c < g->n_classes; c++) {
        free(g->classes[c].members);
        free(g->classes[c].cum);
    }
    free(g->tenants);
    free(g->cum);
    free(g->class_w);
    free(g->out.p);
}

tally_code tally_gen_run(const tally_gen_opts *o, tally_gen_sink sink, void *ctx,
                         tally_gen_stats *stats, tally_err *err) {
    tally_gen_stats st = {0};
    if (stats) *stats = st;
    tally_code rc = tally_gen_opts_check(o, err);
    if (rc != TALLY_OK) return rc;
    gen *g = calloc(1, sizeof *g);
    if (!g) return tally_err_set(err, TALLY_ENOMEM, "generate: out of memory");
    g->o = o;
    snprintf(g->seedhex, sizeof g->seedhex, "%llx", (unsigned long long)o->seed);
    g->start_ms = o->start / 1000;
    g->mid_ms = g->start_ms + (int64_t)(o->days / 2) * MS_DAY + 3 * MS_HOUR;
    g->late_ms = g->start_ms + (int64_t)(o->days * 3 / 4) * MS_DAY + 3 * MS_HOUR;
    g->fx_ms = g->start_ms + (int64_t)(o->days * 2 / 3) * MS_DAY + 3 * MS_HOUR;
    g->epoch_ms = g->start_ms - 59 * MS_DAY;
    g->n_tenants = o->tenants;
    g->out = (out_buf){malloc(2 * FLUSH_AT), 0, 2 * FLUSH_AT, sink, ctx, false, 0, 0};
    heap h = {0};
    irec *x = malloc(sizeof *x);
    if (!g->out.p || !x || !tally__gen_build_tenants(g) || !build_timeline(g)) {
        rc = tally_err_set(err, TALLY_ENOMEM, "generate: out of memory");
        goto done;
    }
    if (o->entities) {
        if (!tally__gen_estimate(g)) {
            rc = tally_err_set(err, TALLY_ENOMEM, "generate: out of memory");
            goto done;
        }
        tally__gen_write_entities(g);
    }
    st.entities = g->n_entities;

    walker w = {.u = 0, .bucket = 0, .left = o->events};
    tally_gen_rng_seed(&w.r, hash4(o->seed, 'T', 1, 0));
    tally_gen_rng dup_sel, fb_sel;
    tally_gen_rng_seed(&dup_sel, hash4(o->seed, 'S', 'D', 0));
    tally_gen_rng_seed(&fb_sel, hash4(o->seed, 'S', 'F', 0));
    uint64_t dups = count_of(o->events, o->duplicates_pct),
             fbs = count_of(o->events, o->feedback_pct);
    for (uint64_t n = 0; n < o->events && !g->out.failed; n++) {
        int64_t ms;
        uint32_t t;
        next_slot(g, &w, &ms, &t);
        while (h.n && h.v[0].due <= ms)
            if (!write_pending(g, &h, x, &st)) goto oom;
        tally__gen_build_interaction(g, x, n, ms, t);
        tally__gen_write_interaction(g, x);
        st.interactions++;
        if (!schedule(g, &h, x, &dup_sel, &dups, &fb_sel, &fbs, o->events - n)) goto oom;
    }
    while (h.n && !g->out.failed)
        if (!write_pending(g, &h, x, &st)) goto oom;
    /* after the window, the first users of the last tenant ask to be erased
     * (the last tenant: not the one the main job prints) */
    for (uint32_t u = 0; o->entities && u < o->erasures && !g->out.failed; u++)
        tally__gen_write_erasure(g, g->n_tenants - 1, u,
                                 g->start_ms + (int64_t)o->days * MS_DAY + u * 1000);
    st.entities = g->n_entities;
    tally__o_flush(&g->out);
    if (g->out.failed) rc = tally_err_set(err, TALLY_EIO, "generate: the output failed");
    goto done;
oom:
    rc = tally_err_set(err, TALLY_ENOMEM, "generate: out of memory");
done:
    st.lines = g->out.lines;
    st.bytes = g->out.bytes;
    if (stats) *stats = st;
    free(h.v);
    free(x);
    gen_free(g);
    free(g);
    return rc;
}
