/*
 * generate — the engine of `tally generate` (see generate.h for the shape of
 * the output, generate_text.c for the texts).
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
 * from a stream seeded by (seed, n). Re-sent duplicates are rebuilt from that
 * stream, so they are byte-identical without being kept. Which interactions
 * are duplicated or rated is drawn by selection sampling (Knuth's algorithm
 * S), so the counts are exactly round(N × pct / 100), from streams of their
 * own: changing --duplicates does not change the interactions themselves.
 * Duplicates and feedback wait in a min-heap keyed by the time they are due
 * and are written when the time line passes it.
 *
 * Money is integer: prices in millionths of a dollar per 1M tokens, costs in
 * 1e-12 dollars, written as exact decimals.
 */
#include "generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_(a) (sizeof(a) / sizeof((a)[0]))
#define MS_HOUR 3600000LL
#define MS_DAY 86400000LL
#define FLUSH_AT (1u << 20)

/* ---- random numbers ---- */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    return mix64(a ^ mix64(b + 0x9e3779b97f4a7c15ULL * (1 + mix64(c ^ mix64(d + 1)))));
}

void tally_gen_rng_seed(tally_gen_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = mix64(seed);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tally_gen_next(tally_gen_rng *r) {
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
    return (uint32_t)(((tally_gen_next(r) >> 32) * (uint64_t)n) >> 32);
}

double tally_gen_unit(tally_gen_rng *r) { return (double)(tally_gen_next(r) >> 11) * 0x1p-53; }

static bool chance(tally_gen_rng *r, double p) { return tally_gen_unit(r) < p; }

static int64_t range(tally_gen_rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(tally_gen_unit(r) * (double)(hi - lo + 1));
}

/* exp and log of our own (no libm): the same bits on every machine and
 * every C library, which byte-for-byte reproducible output needs. Accurate
 * to a few ulps over the ranges used here (|x| < 700; x > 0 normal). */
static double d_exp(double x) {
    if (x < -700) return 0;
    double kf = x * 1.4426950408889634;
    int64_t k = (int64_t)(kf + (kf >= 0 ? 0.5 : -0.5));
    double r = (x - (double)k * 6.93147180369123816490e-01) - (double)k * 1.90821492927058770002e-10;
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
static double lognormal(tally_gen_rng *r, double median, double sigma) {
    double z = tally_gen_unit(r) + tally_gen_unit(r) + tally_gen_unit(r) + tally_gen_unit(r);
    return median * d_exp(sigma * (z - 2.0) * 1.7320508075688772);
}

static unsigned weighted(tally_gen_rng *r, const unsigned *w, unsigned n) {
    unsigned total = 0, i = 0;
    for (unsigned k = 0; k < n; k++) total += w[k];
    unsigned x = tally_gen_below(r, total);
    while (x >= w[i]) x -= w[i++];
    return i;
}

/* ---- the output buffer and the JSON writer ---- */

typedef struct {
    char *p;
    size_t len, cap;
    tally_gen_sink sink;
    void *ctx;
    bool failed;
    uint64_t bytes, lines;
} out_buf;

static void o_grow(out_buf *o, size_t n) {
    size_t cap = o->cap;
    while (o->len + n > cap) cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) abort(); /* a few MiB: if that fails, nothing sensible is left to do */
    o->p = p;
    o->cap = cap;
}

static inline void o_raw(out_buf *o, const char *s, size_t n) {
    if (o->len + n > o->cap) o_grow(o, n);
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* a string literal only: "" s "" does not compile with anything else */
#define O_LIT(o, s) o_raw((o), "" s "", sizeof(s) - 1)

static inline void o_ch(out_buf *o, char c) {
    if (o->len + 1 > o->cap) o_grow(o, 1);
    o->p[o->len++] = c;
}

static void o_u64(out_buf *o, uint64_t v) {
    char tmp[24];
    int i = 24;
    do tmp[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    o_raw(o, tmp + i, (size_t)(24 - i));
}

static void o_hex(out_buf *o, uint64_t v, int width) {
    char tmp[16];
    int i = 16;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0 || 16 - i < width);
    o_raw(o, tmp + i, (size_t)(16 - i));
}

/* v / 10^scale as an exact decimal, trailing zeros trimmed ("0.000075", "12.5", "3"). */
static void o_fixed(out_buf *o, uint64_t v, int scale) {
    uint64_t p = 1;
    for (int i = 0; i < scale; i++) p *= 10;
    uint64_t frac = v % p;
    o_u64(o, v / p);
    if (!frac) return;
    char tmp[20];
    int n = scale;
    while (frac % 10 == 0) frac /= 10, n--;
    for (int i = n - 1; i >= 0; i--, frac /= 10) tmp[i] = (char)('0' + frac % 10);
    o_ch(o, '.');
    o_raw(o, tmp, (size_t)n);
}

/* Whether any of the 8 bytes of w is below 0x20, '"' or '\\' (the classic
 * "has zero byte" bit tricks: exact, no false positives). */
static inline bool word_needs_escape(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t lt20 = (w - ones * 0x20) & ~w, zq = (q - ones) & ~q, zb = (b - ones) & ~b;
    return ((lt20 | zq | zb) & highs) != 0;
}

/* A JSON string. The texts are valid UTF-8 by construction; what JSON
 * requires escaping is '"', '\\' and the C0 controls. Clean stretches are
 * skipped eight bytes at a time. */
static void o_str(out_buf *o, const char *s, size_t n) {
    o_ch(o, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!word_needs_escape(w)) {
                i += 7;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        o_raw(o, s + run, i - run);
        run = i + 1;
        char esc[8] = {'\\', 0};
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = "0123456789abcdef"[c >> 4];
            esc[5] = "0123456789abcdef"[c & 15];
            k = 6;
        }
        o_raw(o, esc, k);
    }
    o_raw(o, s + run, n - run);
    o_ch(o, '"');
}

static void o_cstr(out_buf *o, const char *s) { o_str(o, s, strlen(s)); }

/* ,"key": */
static void o_key(out_buf *o, const char *key) {
    o_ch(o, ',');
    o_ch(o, '"');
    o_raw(o, key, strlen(key));
    O_LIT(o, "\":");
}

static void o_flush(out_buf *o) {
    if (!o->len) return;
    if (!o->failed && o->sink(o->ctx, o->p, o->len) != 0) o->failed = true;
    o->bytes += o->len;
    o->len = 0;
}

/* ---- time ---- */

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* "2026-03-14T09:12:33.123-03:00" (offset_h != 0 or !utc) or "…Z"; ms precision
 * unless whole seconds are asked for. */
static void o_time(out_buf *o, int64_t ms, int offset_h, bool utc, bool millis) {
    if (utc) offset_h = 0;
    int64_t local = ms + offset_h * MS_HOUR, day = floordiv(local, MS_DAY);
    int64_t in_day = local - day * MS_DAY;
    int y;
    unsigned m, d, sec = (unsigned)(in_day / 1000);
    civil_from_days(day, &y, &m, &d);
    char b[40] = "0000-00-00T00:00:00.000";
    put2(b, (unsigned)y / 100);
    put2(b + 2, (unsigned)y % 100);
    put2(b + 5, m);
    put2(b + 8, d);
    put2(b + 11, sec / 3600);
    put2(b + 14, sec / 60 % 60);
    put2(b + 17, sec % 60);
    unsigned frac = (unsigned)(in_day % 1000);
    b[20] = (char)('0' + frac / 100);
    put2(b + 21, frac % 100);
    size_t n = millis ? 23 : 19;
    if (utc) {
        b[n++] = 'Z';
    } else {
        b[n++] = offset_h < 0 ? '-' : '+';
        put2(b + n, (unsigned)abs(offset_h));
        memcpy(b + n + 2, ":00", 3);
        n += 5;
    }
    o_ch(o, '"');
    o_raw(o, b, n);
    o_ch(o, '"');
}

/* ---- catalogues: zones, shapes, tenants, models ---- */

static const struct {
    const char *name;
    int offset_h; /* fixed: Brazil has had no daylight saving time since 2019 */
} ZONES[] = {{"America/Sao_Paulo", -3}, {"America/Manaus", -4}, {"America/Rio_Branco", -5},
             {"America/Noronha", -2}};
static const unsigned ZONE_CYCLE[] = {0, 0, 1, 0, 2, 0, 3, 0, 0, 1};

typedef struct {
    const char *id, *name;
} tenant_name;

static const tenant_name SCHOOLS[] = {{"escola-aprender-mais", "Escola Aprender Mais"},
                                      {"escola-saber-digital", "Saber Digital Cursos Online"},
                                      {"escola-conecta-ead", "Conecta EAD"},
                                      {"escola-mestre-do-excel", "Mestre do Excel"}};
static const tenant_name TUTORINGS[] = {{"tutoria-aula-viva", "Aula Viva Tutores"},
                                        {"tutoria-teachloop-br", "TeachLoop Brasil"},
                                        {"tutoria-reforco-ja", "Reforço Já"}};
static const tenant_name IXCS[] = {{"ixc-distribuidor-42", "Norte Fibra Telecom"},
                                   {"ixc-distribuidor-17", "Sertão Net Provedor"},
                                   {"ixc-distribuidor-88", "Litoral Conecta Internet"}};
/* in the order of generate_text.c's businesses: clinic, pizzeria, gym, real estate */
static const tenant_name BOTS[] = {{"uzz-clinica-sorriso", "Clínica Odontológica Sorriso"},
                                   {"uzz-pizzaria-bella-napoli", "Pizzaria Bella Napoli"},
                                   {"uzz-academia-forca-total", "Academia Força Total"},
                                   {"uzz-imobiliaria-horizonte", "Imobiliária Horizonte"}};
static const tenant_name SUPPORTS[] = {{"gatte-suporte", "GATTE Tecnologia — Suporte"},
                                       {"gatte-revenda-lc", "Revenda LC Soluções"}};

typedef struct {
    const tenant_name *names;
    unsigned n_names;
    const char *source;                  /* the publishing service */
    double weight;                       /* relative traffic */
    unsigned char hours[24];             /* the local daily rhythm, percent of the peak */
    double weekend;                      /* Saturday/Sunday factor */
} shape_info;

static const shape_info SHAPES[TALLY_GEN__SHAPES] = {
    [TALLY_GEN_SCHOOL] = {SCHOOLS, N_(SCHOOLS), "escola-api-1", 1.0,
                          {4, 2, 1, 1, 1, 2, 5, 10, 18, 28, 36, 40, 34, 32, 38, 42, 44, 46, 52, 68,
                           80, 74, 50, 20},
                          0.7},
    [TALLY_GEN_TUTORING] = {TUTORINGS, N_(TUTORINGS), "tutoria-worker-1", 0.6,
                            {1, 1, 1, 1, 1, 1, 3, 8, 20, 35, 45, 48, 38, 40, 55, 65, 70, 68, 60, 55,
                             40, 25, 10, 4},
                            0.45},
    [TALLY_GEN_IXC] = {IXCS, N_(IXCS), "ixc-backend-1", 1.4,
                       {1, 1, 1, 1, 1, 1, 3, 10, 45, 80, 95, 90, 55, 70, 95, 100, 92, 80, 40, 15,
                        8, 5, 3, 2},
                       0.15},
    [TALLY_GEN_WHATSAPP] = {BOTS, N_(BOTS), "uzz-gateway-sp-1", 1.8,
                            {5, 3, 2, 1, 1, 2, 6, 18, 45, 70, 80, 85, 90, 75, 70, 75, 78, 80, 85, 88,
                             75, 55, 30, 12},
                            0.8},
    [TALLY_GEN_SUPPORT] = {SUPPORTS, N_(SUPPORTS), "gatte-bot-1", 0.8,
                           {1, 1, 1, 1, 1, 1, 4, 15, 60, 90, 100, 95, 60, 75, 95, 100, 90, 75, 30,
                            10, 5, 3, 2, 1},
                           0.2},
};

enum { M_4O_MINI, M_4O, M_HAIKU, M_GEMINI, M_LLAMA70, M_LLAMA8, M_EMBED, M_WHISPER, M_TTS, M__N };

/* Prices in millionths of a dollar per 1M tokens (0.15 $/1M = 150000); -1 =
 * not given. minutes: minutes_saved_per_100_output_tokens in hundredths. */
typedef struct {
    const char *id, *provider;
    int64_t in, out, cached, minutes, ms_per_token;
} model_info;

static const model_info MODELS[M__N] = {
    [M_4O_MINI] = {"openai/gpt-4o-mini", "openai", 150000, 600000, 75000, 150, 12},
    [M_4O] = {"openai/gpt-4o", "openai", 2500000, 10000000, 1250000, 200, 18},
    [M_HAIKU] = {"anthropic/claude-3-5-haiku", "anthropic", 800000, 4000000, 80000, 180, 14},
    [M_GEMINI] = {"google/gemini-1.5-flash", "google", 75000, 300000, 18750, 120, 9},
    [M_LLAMA70] = {"meta/llama-3.1-70b", "groq", 590000, 790000, -1, 150, 4},
    /* priced only from three quarters into the window: until then it costs 0 */
    [M_LLAMA8] = {"groq/llama-3.1-8b-instant", "groq", 50000, 80000, -1, 100, 2},
    [M_EMBED] = {"openai/text-embedding-3-small", "openai", 20000, 0, -1, -1, 0},
    /* $0.006 a minute, billed as 10 audio tokens a second */
    [M_WHISPER] = {"openai/whisper-1", "openai", 10000000, 0, -1, -1, 0},
    /* $15 per 1M characters: one input token per character */
    [M_TTS] = {"openai/tts-1", "openai", 15000000, 0, -1, -1, 0},
};

/* The second version of some prices, in force from mid-window. */
static const struct {
    int model;
    int64_t in, out, cached;
} PRICE_V2[] = {{M_4O, 2000000, 8000000, 1000000}, {M_GEMINI, 100000, 400000, 25000}};

/* One tenant's own negotiated price (the first IXC distributor's). */
#define TENANT_PRICE_MODEL M_4O_MINI
static const int64_t TENANT_PRICE[3] = {120000, 480000, 60000};

#define FX_V1 5420000 /* BRL per USD in millionths: 5.42, then 5.61 */
#define FX_V2 5610000

typedef struct {
    char id[72], name[160], slug[72];
    unsigned shape, round, zone, business, n_agents, agents[5];
    double weight;
    uint64_t expect_requests, expect_tokens, expect_cost_e12; /* over the window */
} tenant;

typedef struct {
    unsigned shape, zone, n;
    uint32_t *members;
    double *cum; /* cumulative static weights of the members, cum[n-1] = total */
} tclass;

typedef struct {
    const tally_gen_opts *o;
    char seedhex[20];
    int64_t start_ms, mid_ms, late_ms, fx_ms, epoch_ms; /* window start, price/FX changes, list prices */
    uint32_t n_tenants;
    tenant *tenants;
    unsigned n_classes;
    tclass classes[TALLY_GEN__SHAPES * N_(ZONES)];
    size_t n_hours;
    double *cum;        /* [n_hours + 1] cumulative weight of all classes */
    double *class_w;    /* [n_hours][n_classes] */
    size_t last_nonzero;
    int priced_tenant;  /* the tenant with its own price */
    out_buf out;
    uint64_t n_entities;
    char qbuf[2048], abuf[2048];
} gen;

/* ---- users ---- */

/* "+55 DDD 9XXXXXXXX" without spaces, distinct for distinct users of a tenant. */
static void phone_of(const gen *g, uint32_t t, uint32_t u, char *buf) {
    static const char *const DDD[] = {"11", "21", "31", "41", "51", "61", "71", "81", "85", "92"};
    /* u × 62773913 is a bijection modulo 9·10^7 (they are coprime) */
    uint64_t digits = 10000000 + (hash4(0, t, 'P', 0) + (uint64_t)u * 62773913) % 90000000;
    memcpy(buf, "+55", 3);
    memcpy(buf + 3, DDD[(t + (unsigned)(g->o->seed % 7)) % N_(DDD)], 2);
    buf[5] = '9';
    for (int i = 13; i >= 6; i--, digits /= 10) buf[i] = (char)('0' + digits % 10);
    buf[14] = '\0';
}

static void uuid_of(uint64_t h, char *buf) {
    uint64_t a = mix64(h), b = mix64(h ^ 0x5851f42d4c957f2dULL);
    static const char hx[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) buf[k++] = '-';
        unsigned nib = (unsigned)((i < 16 ? a >> (60 - 4 * i) : b >> (60 - 4 * (i - 16))) & 15);
        if (i == 12) nib = 4;                /* version 4 */
        if (i == 16) nib = 8 | (nib & 3);    /* RFC 4122 variant */
        buf[k++] = hx[nib];
    }
    buf[k] = '\0';
}

/* The user id of user u of tenant t (buf: 48 bytes). */
static void user_id_of(const gen *g, uint32_t t, uint32_t u, char *buf) {
    const tenant *tn = &g->tenants[t];
    switch (tn->shape) {
    case TALLY_GEN_SCHOOL: {
        char *p = buf + (u == 0 ? 5 : 6);
        memcpy(buf, u == 0 ? "prof-" : "aluno-", (size_t)(p - buf));
        uint64_t v = 1000 + (uint64_t)t * 100000 + u;
        char tmp[24];
        int i = 24;
        do tmp[--i] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        memcpy(p, tmp + i, (size_t)(24 - i));
        p[24 - i] = '\0';
        break;
    }
    case TALLY_GEN_WHATSAPP: phone_of(g, t, u, buf); break;
    default: uuid_of(hash4(g->o->seed, 'U', t, u), buf);
    }
}

/* ---- the time line ---- */

static void hour_weights(unsigned shape, double *w) {
    for (int h = 0; h < 24; h++) w[h] = SHAPES[shape].hours[h] / 100.0;
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
            int64_t lh = (int64_t)b + ZONES[k->zone].offset_h;
            if (lh < 0 || lh >= (int64_t)o->days * 24) continue;
            int64_t day = lh / 24;
            int wd = (int)((first_day + day + 4) % 7); /* 0 = Sunday; 1970-01-01 was a Thursday */
            double w = hw[lh % 24] * day_factor[day] * total;
            if (wd == 0 || wd == 6) w *= SHAPES[k->shape].weekend;
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

/* The expected share of the traffic of tenant t. */
static double tenant_share(const gen *g, uint32_t t) {
    const tenant *tn = &g->tenants[t];
    for (unsigned c = 0; c < g->n_classes; c++) {
        const tclass *k = &g->classes[c];
        if (k->shape != tn->shape || k->zone != tn->zone) continue;
        double s = 0;
        for (size_t b = 0; b < g->n_hours; b++) s += g->class_w[b * g->n_classes + c];
        return s / g->cum[g->n_hours] * tn->weight / k->cum[k->n - 1];
    }
    return 0;
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
        if (k->cum[mid] > y) hi = mid;
        else lo = mid + 1;
    }
    *tenant_out = k->members[lo];
}

/* ---- tenants ---- */

static bool build_tenants(gen *g) {
    const tally_gen_opts *o = g->o;
    tally_gen_rng r;
    tally_gen_rng_seed(&r, hash4(o->seed, 'W', 0, 0));
    g->tenants = calloc(o->tenants, sizeof(tenant));
    if (!g->tenants) return false;
    g->priced_tenant = 0;
    bool priced = false;
    for (uint32_t i = 0; i < o->tenants; i++) {
        tenant *t = &g->tenants[i];
        const shape_info *s = &SHAPES[i % TALLY_GEN__SHAPES];
        t->shape = i % TALLY_GEN__SHAPES;
        t->round = i / TALLY_GEN__SHAPES;
        t->zone = ZONE_CYCLE[i % N_(ZONE_CYCLE)];
        const tenant_name *nm = &s->names[t->round % s->n_names];
        unsigned lap = t->round / s->n_names;
        if (lap) {
            snprintf(t->id, sizeof t->id, "%s-%u", nm->id, lap + 1);
            snprintf(t->name, sizeof t->name, "%s %u", nm->name, lap + 1);
        } else {
            snprintf(t->id, sizeof t->id, "%s", nm->id);
            snprintf(t->name, sizeof t->name, "%s", nm->name);
        }
        const char *dash = strchr(t->id, '-');
        snprintf(t->slug, sizeof t->slug, "%s", dash ? dash + 1 : t->id);
        t->business = t->round % tally_gen_n_businesses();
        t->n_agents = 3 + i % 3;
        for (unsigned a = 0; a < t->n_agents; a++)
            t->agents[a] = (t->round * 3 + i + a) % tally_gen_n_courses();
        t->weight = s->weight * (0.6 + 0.8 * tally_gen_unit(&r));
        if (t->shape == TALLY_GEN_IXC && !priced) {
            g->priced_tenant = (int)i;
            priced = true;
        }
    }
    /* the classes: tenants of one shape and zone share a rhythm */
    for (uint32_t i = 0; i < o->tenants; i++) {
        const tenant *t = &g->tenants[i];
        unsigned c = 0;
        while (c < g->n_classes && !(g->classes[c].shape == t->shape && g->classes[c].zone == t->zone))
            c++;
        tclass *k = &g->classes[c];
        if (c == g->n_classes) {
            g->n_classes++;
            k->shape = t->shape;
            k->zone = t->zone;
            k->members = malloc(sizeof(uint32_t) * o->tenants);
            k->cum = malloc(sizeof(double) * o->tenants);
            if (!k->members || !k->cum) return false;
        }
        k->members[k->n] = i;
        k->cum[k->n] = (k->n ? k->cum[k->n - 1] : 0) + t->weight;
        k->n++;
    }
    return true;
}

/* ---- interactions ---- */

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

static const char *const KIND_NAMES[] = {"chat", "embedding", "tts", "stt"};
static const char *const CHANNELS[] = {"whatsapp", "web", "api"};
enum { CH_WHATSAPP, CH_WEB, CH_API };

/* The price in force for tenant t at time ms: {in, out, cached}, false when none. */
static bool price_at(const gen *g, uint32_t t, int model, int64_t ms, int64_t p[3]) {
    const model_info *m = &MODELS[model];
    if (model == M_LLAMA8 && ms < g->late_ms) return false;
    p[0] = m->in;
    p[1] = m->out;
    p[2] = m->cached >= 0 ? m->cached : m->in;
    if (model == TENANT_PRICE_MODEL && (int)t == g->priced_tenant) {
        memcpy(p, TENANT_PRICE, sizeof TENANT_PRICE);
        return true;
    }
    for (size_t i = 0; i < N_(PRICE_V2); i++)
        if (PRICE_V2[i].model == model && ms >= g->mid_ms) {
            p[0] = PRICE_V2[i].in;
            p[1] = PRICE_V2[i].out;
            p[2] = PRICE_V2[i].cached;
        }
    return true;
}

static uint64_t cost_e12(const int64_t p[3], const irec *x) {
    return (uint64_t)((x->in - x->cached) * p[0] + x->cached * p[2] + x->out * p[1]);
}

static uint64_t round_to(uint64_t v, uint64_t unit) { return (v + unit / 2) / unit * unit; }

static int chat_model(unsigned shape, tally_gen_rng *r) {
    static const unsigned school[] = {55, 15, 20, 10}, tutoring[] = {60, 40},
                          ixc[] = {35, 10, 15, 10, 25, 5}, bot[] = {72, 0, 0, 12, 8, 8},
                          support[] = {80, 0, 20};
    switch (shape) {
    case TALLY_GEN_SCHOOL: return (int)weighted(r, school, 4);
    case TALLY_GEN_TUTORING: return (int)weighted(r, tutoring, 2);
    case TALLY_GEN_IXC: return (int)weighted(r, ixc, 6);
    case TALLY_GEN_WHATSAPP: return (int)weighted(r, bot, 6);
    default: return (int)weighted(r, support, 3);
    }
}

static tally_gen_kind pick_kind(unsigned shape, tally_gen_rng *r) {
    double u = tally_gen_unit(r);
    switch (shape) {
    case TALLY_GEN_TUTORING: return u < 0.35 ? TALLY_GEN_STT : TALLY_GEN_CHAT;
    case TALLY_GEN_IXC: return u < 0.12 ? TALLY_GEN_EMBEDDING : TALLY_GEN_CHAT;
    case TALLY_GEN_WHATSAPP:
        return u < 0.14 ? TALLY_GEN_TTS : u < 0.20 ? TALLY_GEN_EMBEDDING : TALLY_GEN_CHAT;
    default: return TALLY_GEN_CHAT;
    }
}

static void chat_tokens(irec *x, const tenant *tn, tally_gen_rng *r) {
    static const double in_median[] = {1800, 9000, 1400, 900, 1200},
                        out_median[] = {350, 700, 260, 120, 150};
    x->in = (int64_t)lognormal(r, in_median[tn->shape], 0.6) + (int64_t)(x->q.len / 4) + 20;
    x->out = (int64_t)lognormal(r, out_median[tn->shape], 0.55) + 1;
    if (x->has_params && x->out > x->max_tokens) x->out = x->max_tokens;
    double p_cache = tn->shape == TALLY_GEN_WHATSAPP ? 0.55 : 0.4;
    if (x->model == M_LLAMA70 || x->model == M_LLAMA8 || x->in < 1024 || !chance(r, p_cache))
        return;
    if (x->model == M_HAIKU || x->model == M_GEMINI) /* any prefix length */
        x->cached = (int64_t)((double)x->in * (0.3 + 0.6 * tally_gen_unit(r)));
    else /* OpenAI: 1024 tokens and then steps of 128 */
        x->cached = 1024 + 128 * range(r, 0, (x->in * 9 / 10 - 1024) / 128);
    if (x->cached > x->in) x->cached = x->in;
}

static void build_usage(gen *g, irec *x, const tenant *tn, tally_gen_rng *r) {
    switch (x->kind) {
    case TALLY_GEN_CHAT:
        chat_tokens(x, tn, r);
        x->latency = (int64_t)lognormal(r, 450, 0.4) +
                     (int64_t)((double)(x->out * MODELS[x->model].ms_per_token) *
                               (0.8 + 0.4 * tally_gen_unit(r)));
        break;
    case TALLY_GEN_EMBEDDING:
        x->in = (int64_t)(x->q.len / 4) + (int64_t)lognormal(r, 120, 0.5);
        x->latency = 40 + (int64_t)lognormal(r, 80, 0.4);
        break;
    case TALLY_GEN_TTS: {
        size_t chars = tally_gen_utf8_chars(x->a.p, x->a.len);
        x->in = (int64_t)chars;
        x->audio_cs = (int64_t)((double)chars / 14.5 * (90 + 20 * tally_gen_unit(r)));
        x->latency = 300 + (int64_t)chars * 8 + range(r, 0, 400);
        break;
    }
    case TALLY_GEN_STT:
        x->audio_cs = range(r, 1500 * 100, 3600 * 100);
        x->in = (x->audio_cs + 5) / 10; /* 10 audio tokens a second */
        x->out = (int64_t)((double)x->audio_cs / 100 * (2.8 + 0.8 * tally_gen_unit(r)));
        x->latency = x->audio_cs * 10 / 25 + range(r, 300, 1500); /* 25× real time */
        break;
    }
    if (x->was_cached) {
        x->latency = range(r, 15, 80);
    }
    if (x->error) {
        static const char *const CODES[] = {"timeout", "rate_limit_exceeded", "upstream_500",
                                            "context_length_exceeded"};
        x->err_code = CODES[tally_gen_below(r, 4)];
        x->latency = x->err_code == CODES[0] ? 30000 : (int64_t)lognormal(r, 350, 0.5);
        x->out = 0;
        x->cached = 0;
        x->a.len = 0;
        return;
    }
    /* what the platform itself reports: its cost, its time saved */
    int64_t p[3];
    bool gateway = false;
    double p_cost = 0;
    switch (tn->shape) {
    case TALLY_GEN_SCHOOL: p_cost = 0.5; break;
    case TALLY_GEN_TUTORING: p_cost = x->kind == TALLY_GEN_STT ? 1 : 0; break;
    case TALLY_GEN_IXC: p_cost = 0.05; break;
    case TALLY_GEN_WHATSAPP:
        p_cost = x->kind == TALLY_GEN_CHAT ? 0.85 : 1;
        gateway = true;
        break;
    default: break;
    }
    if (chance(r, p_cost)) {
        x->has_cost = true;
        if (x->was_cached) {
            x->cost_e12 = 0; /* answered from the gateway's cache: nothing billed */
        } else if (tn->shape == TALLY_GEN_SCHOOL) {
            /* the school's own table: list prices, never updated for the cut */
            const model_info *m = &MODELS[x->model];
            int64_t lp[3] = {m->in, m->out, m->cached >= 0 ? m->cached : m->in};
            x->cost_e12 = round_to(cost_e12(lp, x), 1000000); /* 6 decimals */
        } else {
            /* the gateway knows the provider's real price, priced in Tally or not */
            if (!price_at(g, x->tenant, x->model, x->ms, p)) {
                p[0] = MODELS[x->model].in;
                p[1] = MODELS[x->model].out;
                p[2] = MODELS[x->model].in;
            }
            x->cost_e12 = round_to(cost_e12(p, x), gateway ? 10000 : 1000000);
        }
    }
    if (tn->shape == TALLY_GEN_SCHOOL && chance(r, 0.75)) {
        x->has_saved = true;
        x->saved_cmin = (uint64_t)((double)x->out * (double)MODELS[x->model].minutes / 100.0 *
                                   (0.7 + 0.6 * tally_gen_unit(r)));
    }
}

static const char *const FILES[][2] = {
    {"Resumo da aula 3.pdf", "pdf"},    {"exercicios_modulo2.xlsx", "xlsx"},
    {"anotações.md", "md"},             {"legenda_video4.srt", "srt"},
    {"dados_vendas.csv", "csv"},        {"trabalho final.txt", "txt"},
};

static void build_interaction(gen *g, irec *x, uint64_t n, int64_t ms, uint32_t t) {
    const tenant *tn = &g->tenants[t];
    tally_gen_rng r;
    tally_gen_rng_seed(&r, hash4(g->o->seed, 'I', n, 0));
    memset(x, 0, offsetof(irec, q));
    x->n = n;
    x->ms = ms;
    x->tenant = t;
    x->q = (tally_gen_sb){g->qbuf, 0, sizeof g->qbuf};
    x->a = (tally_gen_sb){g->abuf, 0, sizeof g->abuf};
    g->qbuf[0] = g->abuf[0] = '\0';
    /* heavy users first: the density of u² piles up near 0 */
    double uu = tally_gen_unit(&r);
    x->user = (uint32_t)(uu * uu * g->o->users_per_tenant);
    x->kind = pick_kind(tn->shape, &r);
    x->model = x->kind == TALLY_GEN_EMBEDDING ? M_EMBED
               : x->kind == TALLY_GEN_TTS     ? M_TTS
               : x->kind == TALLY_GEN_STT     ? M_WHISPER
                                              : chat_model(tn->shape, &r);
    x->agent = -1;
    if (tn->shape == TALLY_GEN_SCHOOL) {
        double ua = tally_gen_unit(&r); /* the first courses are the popular ones */
        x->agent = (int)tn->agents[(unsigned)(ua * ua * tn->n_agents)];
    }
    x->utc = chance(&r, 0.35);
    x->omit_defaults = tn->shape == TALLY_GEN_IXC; /* seed 002 knows no kind or status */
    x->error = chance(&r, 0.02);
    x->was_fallback = (tn->shape == TALLY_GEN_WHATSAPP && x->model == M_LLAMA8) ||
                      (tn->shape == TALLY_GEN_IXC && chance(&r, 0.03));
    x->was_cached = !x->error && ((tn->shape == TALLY_GEN_WHATSAPP &&
                                   chance(&r, x->kind == TALLY_GEN_TTS ? 0.3 : 0.06)) ||
                                  (tn->shape == TALLY_GEN_IXC && chance(&r, 0.02)));
    static const int TEMPS[] = {2, 3, 5, 7, 7, 8, 10}, MAXT[] = {256, 512, 1000, 1024, 2048, 4096};
    static const double P_PARAMS[] = {0.3, 0.4, 1.0, 0.5, 0.4};
    if (x->kind == TALLY_GEN_CHAT && chance(&r, P_PARAMS[tn->shape])) {
        x->has_params = true;
        x->temp10 = TEMPS[tally_gen_below(&r, N_(TEMPS))];
        x->max_tokens = tn->shape == TALLY_GEN_TUTORING ? 4096 : MAXT[tally_gen_below(&r, N_(MAXT))];
    }
    switch (tn->shape) {
    case TALLY_GEN_SCHOOL: {
        double c = tally_gen_unit(&r);
        x->channel = c < 0.85 ? CH_WEB : c < 0.95 ? CH_WHATSAPP : CH_API;
        if (chance(&r, 0.06)) {
            x->n_att = 1 + (int)tally_gen_below(&r, 2);
            for (int i = 0; i < x->n_att; i++) {
                unsigned f = tally_gen_below(&r, N_(FILES));
                x->att_name[i] = FILES[f][0];
                x->att_type[i] = FILES[f][1];
            }
        }
        break;
    }
    case TALLY_GEN_TUTORING: x->channel = CH_API; break;
    case TALLY_GEN_IXC: x->channel = chance(&r, 0.6) ? CH_WEB : CH_API; break;
    case TALLY_GEN_WHATSAPP:
        x->channel = x->kind == TALLY_GEN_EMBEDDING ? CH_API : CH_WHATSAPP;
        break;
    default:
        x->channel = chance(&r, 0.88) ? CH_WHATSAPP : CH_WEB;
        if (chance(&r, 0.04)) {
            x->n_att = 1;
            x->att_name[0] = "print_erro.png";
            x->att_type[0] = "png";
        }
    }
    /* a user's conversation of the day: one of a few per local day */
    int64_t local_day = floordiv(ms + ZONES[tn->zone].offset_h * MS_HOUR, MS_DAY);
    x->conv = hash4(g->o->seed, 'C', ((uint64_t)t << 32) | x->user,
                    (uint64_t)local_day * 4 + tally_gen_below(&r, 3));

    tally_gen_text_req req = {(int)tn->shape, x->kind,
                              tn->shape == TALLY_GEN_SCHOOL ? (unsigned)(x->agent < 0 ? 0 : x->agent)
                                                            : tn->business,
                              &x->q, &x->a, NULL, NULL};
    tally_gen_text(&req, &r);
    x->intent = req.intent;
    x->label = req.label;
    build_usage(g, x, tn, &r);
}

static void o_id_interaction(out_buf *o, const gen *g, uint64_t n) {
    O_LIT(o, "\"evt-");
    o_raw(o, g->seedhex, strlen(g->seedhex));
    o_ch(o, '-');
    o_hex(o, n, 8);
    o_ch(o, '"');
}

/* {"specversion":"1.0","id":"evt-…","source":…,"type":…,"time":…[,"subject":…],…,"data":{ */
static void ev_begin(gen *g, const char *id_kind, uint64_t id_n, const char *source,
                     const char *type, int64_t ms, int offset_h, bool utc, const char *subject) {
    out_buf *o = &g->out;
    O_LIT(o, "{\"specversion\":\"1.0\",\"id\":");
    if (id_kind) {
        O_LIT(o, "\"evt-");
        o_raw(o, g->seedhex, strlen(g->seedhex));
        o_ch(o, '-');
        o_raw(o, id_kind, strlen(id_kind));
        o_ch(o, '-');
        o_hex(o, id_n, 4);
        o_ch(o, '"');
    } else {
        o_id_interaction(o, g, id_n);
    }
    O_LIT(o, ",\"source\":");
    o_cstr(o, source);
    O_LIT(o, ",\"type\":");
    o_cstr(o, type);
    O_LIT(o, ",\"time\":");
    o_time(o, ms, offset_h, utc, true);
    if (subject) {
        O_LIT(o, ",\"subject\":");
        o_cstr(o, subject);
    }
    O_LIT(o, ",\"datacontenttype\":\"application/json\",\"data\":{");
}

static void ev_end(gen *g) {
    O_LIT(&g->out, "}}\n");
    g->out.lines++;
    if (g->out.len >= FLUSH_AT) o_flush(&g->out);
}

static void o_conv(out_buf *o, const irec *x, unsigned shape) {
    static const char *const PREFIX[] = {"sess-", "sessao-", NULL, "wa-", NULL};
    char buf[48];
    if (PREFIX[shape]) {
        O_LIT(o, "\"");
        o_raw(o, PREFIX[shape], strlen(PREFIX[shape]));
        o_hex(o, x->conv >> 16, 12);
        O_LIT(o, "\"");
    } else {
        uuid_of(x->conv, buf);
        o_cstr(o, buf);
    }
}

static void write_metadata(gen *g, const irec *x, const tenant *tn) {
    out_buf *o = &g->out;
    O_LIT(o, ",\"metadata\":{");
    switch (tn->shape) {
    case TALLY_GEN_SCHOOL:
        O_LIT(o, "\"course\":");
        o_cstr(o, x->label ? x->label : "");
        O_LIT(o, ",\"credits_remaining\":");
        o_u64(o, 50 - (x->conv >> 3) % 50);
        break;
    case TALLY_GEN_TUTORING:
        O_LIT(o, "\"session_id\":");
        o_conv(o, x, tn->shape);
        O_LIT(o, ",\"subject\":");
        o_cstr(o, x->label ? x->label : "");
        if (x->kind == TALLY_GEN_STT) {
            O_LIT(o, ",\"language\":\"pt-BR\",\"confidence\":0.");
            o_u64(o, 88 + x->n % 11);
            O_LIT(o, ",\"provider_request_id\":\"dg-");
            o_hex(o, mix64(x->n ^ x->conv), 16);
            o_ch(o, '"');
        } else {
            O_LIT(o, ",\"report\":\"lesson_report\"");
        }
        break;
    case TALLY_GEN_IXC:
        O_LIT(o, "\"assinatura_id\":\"sub-");
        o_raw(o, tn->id, strlen(tn->id));
        O_LIT(o, "\",\"tipo_acesso\":\"cloud\",\"tokens_utilizados\":");
        o_u64(o, (uint64_t)(x->in + x->out));
        O_LIT(o, ",\"tempo_resposta_ms\":");
        o_u64(o, (uint64_t)x->latency);
        if (x->label) {
            O_LIT(o, ",\"menu\":");
            o_cstr(o, x->label);
        }
        break;
    case TALLY_GEN_WHATSAPP:
        O_LIT(o, "\"gateway\":\"uzz-gw-sp-1\",\"provider\":");
        o_cstr(o, MODELS[x->model].provider);
        O_LIT(o, ",\"request_id\":\"req_");
        o_hex(o, mix64(x->n * 31 + x->conv), 16);
        O_LIT(o, "\",\"business\":");
        o_cstr(o, x->label ? x->label : "");
        if (x->kind == TALLY_GEN_TTS)
            O_LIT(o, ",\"voice\":\"nova\",\"format\":\"ogg_opus\"");
        break;
    default:
        O_LIT(o, "\"mode\":\"ai_free\",\"messages_in_context\":");
        o_u64(o, 1 + x->conv % 12);
        break;
    }
    if (x->err_code) {
        O_LIT(o, ",\"error\":");
        o_cstr(o, x->err_code);
    }
    o_ch(o, '}');
}

static void write_interaction(gen *g, const irec *x) {
    const tenant *tn = &g->tenants[x->tenant];
    out_buf *o = &g->out;
    char uid[48];
    user_id_of(g, x->tenant, x->user, uid);
    ev_begin(g, NULL, x->n, SHAPES[tn->shape].source, "interaction.recorded", x->ms,
             ZONES[tn->zone].offset_h, x->utc, tn->id);
    O_LIT(o, "\"tenant_id\":");
    o_cstr(o, tn->id);
    O_LIT(o, ",\"user_id\":");
    o_cstr(o, uid);
    O_LIT(o, ",\"model_id\":");
    o_cstr(o, MODELS[x->model].id);
    if (!(x->omit_defaults && x->kind == TALLY_GEN_CHAT)) {
        O_LIT(o, ",\"kind\":");
        o_cstr(o, KIND_NAMES[x->kind]);
    }
    if (x->kind != TALLY_GEN_EMBEDDING) {
        O_LIT(o, ",\"conversation_id\":");
        o_conv(o, x, tn->shape);
    }
    if (x->agent >= 0) {
        O_LIT(o, ",\"agent_id\":\"agente-");
        const char *slug = tally_gen_course_slug((unsigned)x->agent);
        o_raw(o, slug, strlen(slug));
        o_ch(o, '"');
    }
    O_LIT(o, ",\"channel\":");
    o_cstr(o, CHANNELS[x->channel]);
    O_LIT(o, ",\"input_tokens\":");
    o_u64(o, (uint64_t)x->in);
    if (x->out || !x->omit_defaults) {
        O_LIT(o, ",\"output_tokens\":");
        o_u64(o, (uint64_t)x->out);
    }
    if (x->cached || !x->omit_defaults) {
        O_LIT(o, ",\"cached_tokens\":");
        o_u64(o, (uint64_t)x->cached);
    }
    if (x->audio_cs) {
        O_LIT(o, ",\"audio_seconds\":");
        o_fixed(o, (uint64_t)x->audio_cs, 2);
    }
    O_LIT(o, ",\"latency_ms\":");
    o_u64(o, (uint64_t)x->latency);
    if (x->error) O_LIT(o, ",\"status\":\"error\"");
    else if (!x->omit_defaults) O_LIT(o, ",\"status\":\"ok\"");
    if (tn->shape == TALLY_GEN_WHATSAPP || tn->shape == TALLY_GEN_IXC) {
        o_key(o, "was_cached");
        if (x->was_cached) O_LIT(o, "true");
        else O_LIT(o, "false");
        o_key(o, "was_fallback");
        if (x->was_fallback) O_LIT(o, "true");
        else O_LIT(o, "false");
    }
    if (x->has_cost) {
        O_LIT(o, ",\"cost_usd\":");
        o_fixed(o, x->cost_e12, 12);
    }
    if (x->has_saved) {
        O_LIT(o, ",\"time_saved_minutes\":");
        o_fixed(o, x->saved_cmin, 2);
    }
    if (x->q.len) {
        O_LIT(o, ",\"question\":");
        o_str(o, x->q.p, x->q.len);
    }
    if (x->a.len) {
        O_LIT(o, ",\"answer\":");
        o_str(o, x->a.p, x->a.len);
    }
    if (x->intent) {
        O_LIT(o, ",\"intent\":");
        o_cstr(o, x->intent);
    }
    if (x->has_params) {
        O_LIT(o, ",\"params\":{\"temperature\":");
        o_fixed(o, (uint64_t)x->temp10, 1);
        O_LIT(o, ",\"max_tokens\":");
        o_u64(o, (uint64_t)x->max_tokens);
        o_ch(o, '}');
    }
    if (x->n_att) {
        O_LIT(o, ",\"attachments\":[");
        for (int i = 0; i < x->n_att; i++) {
            if (i) o_ch(o, ',');
            O_LIT(o, "{\"filename\":");
            o_cstr(o, x->att_name[i]);
            O_LIT(o, ",\"file_type\":");
            o_cstr(o, x->att_type[i]);
            o_ch(o, '}');
        }
        o_ch(o, ']');
    }
    write_metadata(g, x, tn);
    ev_end(g);
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
    user_id_of(g, p->tenant, p->user, uid);
    ev_begin(g, p->type == P_FEEDBACK ? "fb" : "fbr", p->n, SHAPES[tn->shape].source,
             "feedback.recorded", p->due, ZONES[tn->zone].offset_h, (p->n & 3) == 0, tn->id);
    O_LIT(o, "\"tenant_id\":");
    o_cstr(o, tn->id);
    O_LIT(o, ",\"interaction_id\":");
    o_id_interaction(o, g, p->n);
    O_LIT(o, ",\"user_id\":");
    o_cstr(o, uid);
    if (p->like) O_LIT(o, ",\"rating\":\"like\"");
    else O_LIT(o, ",\"rating\":\"dislike\"");
    ev_end(g);
}

static bool write_pending(gen *g, heap *h, irec *x, tally_gen_stats *st) {
    pending p = heap_pop(h);
    if (p.type == P_DUP) {
        build_interaction(g, x, p.n, p.ms, p.tenant);
        write_interaction(g, x);
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

static uint64_t count_of(uint64_t n, double pct) { return (uint64_t)((double)n * pct / 100.0 + 0.5); }

static bool schedule(gen *g, heap *h, const irec *x, tally_gen_rng *dup_sel, uint64_t *dups,
                     tally_gen_rng *fb_sel, uint64_t *fbs, uint64_t left) {
    tally_gen_rng r;
    if (select_next(dup_sel, dups, left)) {
        tally_gen_rng_seed(&r, hash4(g->o->seed, 'D', x->n, 0));
        double u = tally_gen_unit(&r);
        int64_t delay = u < 0.6 ? range(&r, 50, 5000)               /* a producer's retry */
                        : u < 0.95 ? range(&r, 5000, 10 * 60000)      /* a restart */
                                   : range(&r, 10 * 60000, 6 * MS_HOUR); /* a replay */
        pending p = {x->ms + delay, x->ms, 0, x->n, x->tenant, x->user, P_DUP, 0};
        if (!heap_push(h, p)) return false;
    }
    if (select_next(fb_sel, fbs, left)) {
        tally_gen_rng_seed(&r, hash4(g->o->seed, 'F', x->n, 0));
        double u = tally_gen_unit(&r);
        int64_t delay = u < 0.7 ? range(&r, 5000, 3 * 60000)
                        : u < 0.95 ? range(&r, 3 * 60000, MS_HOUR)
                                   : range(&r, MS_HOUR, MS_DAY);
        bool like = chance(&r, x->error ? 0.2 : 0.85);
        pending p = {x->ms + x->latency + delay, 0, 0, x->n, x->tenant, x->user, P_FEEDBACK, like};
        if (!heap_push(h, p)) return false;
    }
    return true;
}

/* ---- entities (generate_entities below) and the run ---- */

static void write_entities(gen *g);

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

/* Expected volume of each tenant, for limits and budgets that real traffic
 * actually reaches: a few hundred sample interactions, priced at list price. */
static void estimate(gen *g) {
    irec x;
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        tenant *tn = &g->tenants[t];
        if (tn->shape != TALLY_GEN_IXC && tn->shape != TALLY_GEN_WHATSAPP) continue;
        enum { SAMPLES = 256 };
        uint64_t tokens = 0, cost = 0;
        for (uint64_t k = 0; k < SAMPLES; k++) {
            build_interaction(g, &x, (1ULL << 62) + k, g->start_ms + 12 * MS_HOUR, t);
            int64_t p[3];
            tokens += (uint64_t)(x.in + x.out);
            if (x.has_cost) cost += x.cost_e12;
            else if (price_at(g, t, x.model, x.ms, p)) cost += cost_e12(p, &x);
        }
        double n = (double)g->o->events * tenant_share(g, t);
        tn->expect_requests = (uint64_t)n;
        tn->expect_tokens = (uint64_t)(n * (double)tokens / SAMPLES);
        tn->expect_cost_e12 = (uint64_t)(n * (double)cost / SAMPLES);
    }
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
    if (!g->out.p || !x || !build_tenants(g) || !build_timeline(g)) {
        rc = tally_err_set(err, TALLY_ENOMEM, "generate: out of memory");
        goto done;
    }
    if (o->entities) {
        estimate(g);
        write_entities(g);
    }
    st.entities = g->n_entities;

    walker w = {.u = 0, .bucket = 0, .left = o->events};
    tally_gen_rng_seed(&w.r, hash4(o->seed, 'T', 1, 0));
    tally_gen_rng dup_sel, fb_sel;
    tally_gen_rng_seed(&dup_sel, hash4(o->seed, 'S', 'D', 0));
    tally_gen_rng_seed(&fb_sel, hash4(o->seed, 'S', 'F', 0));
    uint64_t dups = count_of(o->events, o->duplicates_pct), fbs = count_of(o->events, o->feedback_pct);
    for (uint64_t n = 0; n < o->events && !g->out.failed; n++) {
        int64_t ms;
        uint32_t t;
        next_slot(g, &w, &ms, &t);
        while (h.n && h.v[0].due <= ms)
            if (!write_pending(g, &h, x, &st)) goto oom;
        build_interaction(g, x, n, ms, t);
        write_interaction(g, x);
        st.interactions++;
        if (!schedule(g, &h, x, &dup_sel, &dups, &fb_sel, &fbs, o->events - n)) goto oom;
    }
    while (h.n && !g->out.failed)
        if (!write_pending(g, &h, x, &st)) goto oom;
    o_flush(&g->out);
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

/* ---- the entity events ---- */

/* Two significant digits, at least `floor`. */
static uint64_t round2(double v, uint64_t floor) {
    if (v < (double)floor) return floor;
    double p = 1;
    while (v >= 100 * p) p *= 10;
    return (uint64_t)(v / p + 0.5) * (uint64_t)p;
}

static void ent_begin(gen *g, const char *type, int64_t ms, const char *subject) {
    bool pricing = !strncmp(type, "model.", 6) || !strncmp(type, "fx.", 3);
    ev_begin(g, "ent", g->n_entities++, pricing ? "pricing-sync" : "backoffice-1", type, ms, 0,
             true, subject);
}

static void write_tenants_and_users(gen *g, int64_t *clock) {
    static const char *const STUDENT_MAIL[] = {"gmail.com", "hotmail.com", "outlook.com",
                                               "yahoo.com.br"};
    out_buf *o = &g->out;
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        ent_begin(g, "tenant.upserted", (*clock)++ * 1000, tn->id);
        O_LIT(o, "\"tenant_id\":");
        o_cstr(o, tn->id);
        O_LIT(o, ",\"name\":");
        o_cstr(o, tn->name);
        O_LIT(o, ",\"slug\":");
        o_cstr(o, tn->slug);
        O_LIT(o, ",\"status\":\"active\",\"timezone\":");
        o_cstr(o, ZONES[tn->zone].name);
        O_LIT(o, ",\"contact\":");
        if (tn->shape == TALLY_GEN_WHATSAPP) {
            char phone[16];
            phone_of(g, t, 999999, phone);
            o_cstr(o, phone);
        } else {
            O_LIT(o, "\"contato@");
            o_raw(o, tn->slug, strlen(tn->slug));
            O_LIT(o, ".com.br\"");
        }
        ev_end(g);
    }
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        for (uint32_t u = 0; u < g->o->users_per_tenant; u++) {
            tally_gen_rng r;
            tally_gen_rng_seed(&r, hash4(g->o->seed, 'N', t, u));
            tally_gen_person p;
            tally_gen_person_pick(&r, &p);
            char uid[48];
            user_id_of(g, t, u, uid);
            ent_begin(g, "user.upserted", (*clock)++ * 1000, tn->id);
            O_LIT(o, "\"tenant_id\":");
            o_cstr(o, tn->id);
            O_LIT(o, ",\"user_id\":");
            o_cstr(o, uid);
            bool anonymous = tn->shape == TALLY_GEN_WHATSAPP && chance(&r, 0.2);
            if (!anonymous) {
                char name[96];
                snprintf(name, sizeof name, "%s %s", p.first, p.last);
                O_LIT(o, ",\"name\":");
                o_cstr(o, name);
            }
            if (tn->shape != TALLY_GEN_WHATSAPP) {
                char mail[160];
                bool student = tn->shape == TALLY_GEN_SCHOOL || tn->shape == TALLY_GEN_TUTORING ||
                               tn->shape == TALLY_GEN_SUPPORT;
                if (student && u > 0)
                    snprintf(mail, sizeof mail, "%s.%s%u@%s", p.first_ascii, p.last_ascii, u,
                             STUDENT_MAIL[u % N_(STUDENT_MAIL)]);
                else
                    snprintf(mail, sizeof mail, "%s.%s@%s.com.br", p.first_ascii, p.last_ascii,
                             tn->slug);
                O_LIT(o, ",\"email\":");
                o_cstr(o, mail);
            }
            const char *role = u == 0 ? "admin"
                               : (tn->shape == TALLY_GEN_SCHOOL ||
                                  (tn->shape == TALLY_GEN_TUTORING && u % 5 != 1))
                                   ? "student"
                                   : "member";
            O_LIT(o, ",\"role\":");
            o_cstr(o, role);
            if (u > 0 && chance(&r, 0.05)) O_LIT(o, ",\"active\":false");
            else O_LIT(o, ",\"active\":true");
            ev_end(g);
        }
    }
}

static void write_plan(gen *g, int64_t ms, const char *id, const tenant *tn, const char *name,
                       uint64_t requests, uint64_t tokens, const char *description) {
    out_buf *o = &g->out;
    ent_begin(g, "plan.upserted", ms, tn ? tn->id : NULL);
    O_LIT(o, "\"plan_id\":");
    o_cstr(o, id);
    if (tn) {
        O_LIT(o, ",\"tenant_id\":");
        o_cstr(o, tn->id);
    }
    O_LIT(o, ",\"name\":");
    o_cstr(o, name);
    O_LIT(o, ",\"monthly_request_limit\":");
    if (requests) o_u64(o, requests);
    else O_LIT(o, "null");
    O_LIT(o, ",\"monthly_token_limit\":");
    if (tokens) o_u64(o, tokens);
    else O_LIT(o, "null");
    O_LIT(o, ",\"description\":");
    o_cstr(o, description);
    ev_end(g);
}

static void write_subscription(gen *g, int64_t ms, const tenant *tn, const char *user,
                               const char *plan, const char *status, int64_t ends) {
    out_buf *o = &g->out;
    char id[160];
    snprintf(id, sizeof id, "sub-%s%s%s", tn->id, user ? "-" : "", user ? user : "");
    ent_begin(g, "subscription.upserted", ms, tn->id);
    O_LIT(o, "\"subscription_id\":");
    o_cstr(o, id);
    O_LIT(o, ",\"tenant_id\":");
    o_cstr(o, tn->id);
    if (user) {
        O_LIT(o, ",\"user_id\":");
        o_cstr(o, user);
    }
    O_LIT(o, ",\"plan_id\":");
    o_cstr(o, plan);
    O_LIT(o, ",\"starts_at\":");
    o_time(o, g->epoch_ms, 0, true, false);
    if (ends) {
        O_LIT(o, ",\"ends_at\":");
        o_time(o, ends, -3, false, false);
    }
    O_LIT(o, ",\"status\":");
    o_cstr(o, status);
    ev_end(g);
}

static void write_plans_and_subscriptions(gen *g, int64_t *clock) {
    write_plan(g, (*clock)++ * 1000, "plan-gratuito", NULL, "Gratuito", 1000, 500000,
               "Para experimentar: 1.000 requisições por mês.");
    write_plan(g, (*clock)++ * 1000, "plan-profissional", NULL, "Profissional", 50000, 50000000,
               "Uso profissional, com limites generosos.");
    write_plan(g, (*clock)++ * 1000, "plan-enterprise", NULL, "Enterprise", 0, 0,
               "Sem limites; faturamento sob contrato.");
    double month = 30.0 / g->o->days;
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        if (tn->shape != TALLY_GEN_IXC) continue;
        char id[128], name[200];
        snprintf(id, sizeof id, "plan-%s-revenda", tn->id);
        snprintf(name, sizeof name, "Revenda %s", tn->name);
        /* set to be reached: a distributor outgrowing its plan is the alert to demo */
        write_plan(g, (*clock)++ * 1000, id, tn, name,
                   round2(0.85 * month * (double)tn->expect_requests, 10),
                   round2(1.2 * month * (double)tn->expect_tokens, 1000),
                   "Plano negociado pelo distribuidor para a sua base de clientes.");
    }
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        static const char *const PLAN_OF[] = {"plan-profissional", "plan-profissional", NULL,
                                              "plan-profissional", "plan-enterprise"};
        char own[128];
        snprintf(own, sizeof own, "plan-%s-revenda", tn->id);
        bool trial = tn->shape == TALLY_GEN_SCHOOL && tn->round % 2 == 1;
        write_subscription(g, (*clock)++ * 1000, tn, NULL, PLAN_OF[tn->shape] ? PLAN_OF[tn->shape] : own,
                           trial ? "trial" : "active", trial ? g->start_ms + 14 * MS_DAY + 3 * MS_HOUR : 0);
        if (tn->shape != TALLY_GEN_IXC) continue;
        /* seed 002: users subscribe to plans of their own */
        for (uint32_t u = 1; u < g->o->users_per_tenant && u <= 4; u++) {
            char uid[48];
            user_id_of(g, t, u, uid);
            bool cancelled = u == 4;
            write_subscription(g, (*clock)++ * 1000, tn, uid,
                               u % 2 ? "plan-gratuito" : "plan-profissional",
                               cancelled ? "cancelled" : "active",
                               cancelled ? g->start_ms + 10 * MS_DAY + 3 * MS_HOUR : 0);
        }
    }
}

static void write_price(gen *g, int64_t ms, int model, const int64_t p[3], bool minutes,
                        int64_t effective, const tenant *tn) {
    const model_info *m = &MODELS[model];
    out_buf *o = &g->out;
    ent_begin(g, "model.priced", ms, tn ? tn->id : NULL);
    O_LIT(o, "\"model_id\":");
    o_cstr(o, m->id);
    O_LIT(o, ",\"provider\":");
    o_cstr(o, m->provider);
    O_LIT(o, ",\"input_usd_per_1m\":");
    o_fixed(o, (uint64_t)p[0], 6);
    O_LIT(o, ",\"output_usd_per_1m\":");
    o_fixed(o, (uint64_t)p[1], 6);
    if (p[2] >= 0) {
        O_LIT(o, ",\"cached_input_usd_per_1m\":");
        o_fixed(o, (uint64_t)p[2], 6);
    }
    if (minutes && m->minutes >= 0) {
        O_LIT(o, ",\"minutes_saved_per_100_output_tokens\":");
        o_fixed(o, (uint64_t)m->minutes, 2);
    }
    O_LIT(o, ",\"effective_from\":");
    if (effective == g->epoch_ms) o_time(o, effective, 0, true, false);
    else o_time(o, effective, -3, false, false);
    if (tn) {
        O_LIT(o, ",\"tenant_id\":");
        o_cstr(o, tn->id);
    }
    ev_end(g);
}

static void write_prices_and_rates(gen *g) {
    out_buf *o = &g->out;
    int64_t at = g->epoch_ms;
    for (int i = 0; i < M__N; i++) {
        if (i == M_LLAMA8) continue;
        int64_t p[3] = {MODELS[i].in, MODELS[i].out, MODELS[i].cached};
        write_price(g, at + i * 60000, i, p, true, g->epoch_ms, NULL);
    }
    if (g->n_tenants) {
        write_price(g, at + 3 * MS_DAY, TENANT_PRICE_MODEL, TENANT_PRICE, false, g->epoch_ms,
                    &g->tenants[g->priced_tenant]);
    }
    for (size_t i = 0; i < N_(PRICE_V2); i++) {
        int64_t p[3] = {PRICE_V2[i].in, PRICE_V2[i].out, PRICE_V2[i].cached};
        /* announced five days before it takes effect */
        write_price(g, g->mid_ms - 5 * MS_DAY, PRICE_V2[i].model, p, true, g->mid_ms, NULL);
    }
    int64_t p8[3] = {MODELS[M_LLAMA8].in, MODELS[M_LLAMA8].out, -1};
    write_price(g, g->late_ms - MS_DAY, M_LLAMA8, p8, true, g->late_ms, NULL);
    const int64_t fx[2][2] = {{FX_V1, g->epoch_ms}, {FX_V2, g->fx_ms}};
    for (int i = 0; i < 2; i++) {
        ent_begin(g, "fx.rate_set", fx[i][1], NULL);
        O_LIT(o, "\"currency\":\"BRL\",\"per_usd\":");
        o_fixed(o, (uint64_t)fx[i][0], 6);
        O_LIT(o, ",\"effective_from\":");
        o_time(o, fx[i][1], i ? -3 : 0, i == 0, false);
        ev_end(g);
    }
}

static void write_budgets(gen *g, int64_t *clock) {
    out_buf *o = &g->out;
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        if (tn->shape != TALLY_GEN_WHATSAPP) continue;
        double days = g->o->days;
        /* BRL in millionths: cost_e12 × 5.42 / 1e6 */
        double brl_month = (double)tn->expect_cost_e12 * (FX_V1 / 1e6) / 1e6 * 30.0 / days;
        double tokens_day = (double)tn->expect_tokens / days;
        bool weekly = tn->round % 2 == 1;
        for (int b = 0; b < 2; b++) {
            char id[128];
            snprintf(id, sizeof id, "budget-%s-%s", tn->id, b ? "diario" : weekly ? "semanal" : "mensal");
            ent_begin(g, "budget.set", (*clock)++ * 1000, tn->id);
            O_LIT(o, "\"tenant_id\":");
            o_cstr(o, tn->id);
            O_LIT(o, ",\"budget_id\":");
            o_cstr(o, id);
            if (b == 0) {
                /* money over the month (or week): about 90% of what the traffic costs */
                if (weekly) O_LIT(o, ",\"kind\":\"both\",\"period\":\"weekly\"");
                else O_LIT(o, ",\"kind\":\"brl\",\"period\":\"monthly\"");
                double scale = weekly ? 7.0 / 30.0 : 1.0;
                if (weekly) {
                    O_LIT(o, ",\"token_limit\":");
                    o_u64(o, round2(0.9 * tokens_day * 7, 1000));
                }
                O_LIT(o, ",\"brl_limit\":");
                o_fixed(o, round2(0.9 * brl_month * scale, 10000), 6);
                O_LIT(o, ",\"thresholds\":[80,90,100],\"pause_at_limit\":false");
            } else {
                /* tokens a day: busy weekdays cross it */
                O_LIT(o, ",\"kind\":\"tokens\",\"period\":\"daily\",\"token_limit\":");
                o_u64(o, round2(1.1 * tokens_day, 1000));
                O_LIT(o, ",\"thresholds\":[50,80,100],\"pause_at_limit\":true");
            }
            O_LIT(o, ",\"webhook_url\":\"https://hooks.uzz.ai/budgets/");
            o_raw(o, tn->id, strlen(tn->id));
            o_ch(o, '"');
            ev_end(g);
        }
    }
}

static void write_entities(gen *g) {
    /* tenants, users, plans… a second apart, from 40 days before the window */
    int64_t clock = (g->start_ms - 40 * MS_DAY) / 1000;
    write_tenants_and_users(g, &clock);
    write_plans_and_subscriptions(g, &clock);
    write_prices_and_rates(g);
    write_budgets(g, &clock);
}
