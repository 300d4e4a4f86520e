/*
 * generate_interaction — one interaction (see generate_internal.h): the
 * models and their prices, what interaction n is (user, kind, model,
 * channel, texts, tokens, latency, errors, the cost and time saved the
 * platform itself reports), drawn from a stream seeded by (seed, n) alone,
 * and its interaction.recorded event, with the metadata of its platform.
 *
 * Because nothing but (seed, n, time, tenant) goes in, a re-sent duplicate
 * is rebuilt and written again byte for byte without being kept.
 *
 * Money is integer: prices in millionths of a dollar per 1M tokens, costs in
 * 1e-12 dollars, written as exact decimals.
 */
#include "generate_internal.h"

#include <stddef.h>
#include <string.h>

/* ---- models and prices ---- */

const model_info tally__gen_models[M__N] = {
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
const gen_price tally__gen_price_v2[GEN_N_PRICE_V2] = {{M_4O, 2000000, 8000000, 1000000},
                                                       {M_GEMINI, 100000, 400000, 25000}};

/* One tenant's own price of TENANT_PRICE_MODEL (the first IXC distributor's). */
const int64_t tally__gen_tenant_price[3] = {120000, 480000, 60000};

/* ---- interactions ---- */

static const char *const KIND_NAMES[] = {"chat", "embedding", "tts", "stt"};
static const char *const CHANNELS[] = {"whatsapp", "web", "api"};
enum { CH_WHATSAPP, CH_WEB, CH_API };

/* The price in force for tenant t at time ms: {in, out, cached}, false when none. */
bool tally__gen_price_at(const gen *g, uint32_t t, int model, int64_t ms, int64_t p[3]) {
    const model_info *m = &tally__gen_models[model];
    if (model == M_LLAMA8 && ms < g->late_ms) return false;
    p[0] = m->in;
    p[1] = m->out;
    p[2] = m->cached >= 0 ? m->cached : m->in;
    if (model == TENANT_PRICE_MODEL && (int)t == g->priced_tenant) {
        memcpy(p, tally__gen_tenant_price, sizeof tally__gen_tenant_price);
        return true;
    }
    for (size_t i = 0; i < N_(tally__gen_price_v2); i++)
        if (tally__gen_price_v2[i].model == model && ms >= g->mid_ms) {
            p[0] = tally__gen_price_v2[i].in;
            p[1] = tally__gen_price_v2[i].out;
            p[2] = tally__gen_price_v2[i].cached;
        }
    return true;
}

uint64_t tally__gen_cost_e12(const int64_t p[3], const irec *x) {
    return (uint64_t)((x->in - x->cached) * p[0] + x->cached * p[2] + x->out * p[1]);
}

static uint64_t round_to(uint64_t v, uint64_t unit) { return (v + unit / 2) / unit * unit; }

static int chat_model(unsigned shape, tally_gen_rng *r) {
    static const unsigned school[] = {55, 15, 20, 10}, tutoring[] = {60, 40},
                          ixc[] = {35, 10, 15, 10, 25, 5}, bot[] = {72, 0, 0, 12, 8, 8},
                          support[] = {80, 0, 20};
    switch (shape) {
    case TALLY_GEN_SCHOOL: return (int)tally__gen_weighted(r, school, 4);
    case TALLY_GEN_TUTORING: return (int)tally__gen_weighted(r, tutoring, 2);
    case TALLY_GEN_IXC: return (int)tally__gen_weighted(r, ixc, 6);
    case TALLY_GEN_WHATSAPP: return (int)tally__gen_weighted(r, bot, 6);
    default: return (int)tally__gen_weighted(r, support, 3);
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
    x->in = (int64_t)tally__gen_lognormal(r, in_median[tn->shape], 0.6) + (int64_t)(x->q.len / 4) +
            20;
    x->out = (int64_t)tally__gen_lognormal(r, out_median[tn->shape], 0.55) + 1;
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
        x->latency = (int64_t)tally__gen_lognormal(r, 450, 0.4) +
                     (int64_t)((double)(x->out * tally__gen_models[x->model].ms_per_token) *
                               (0.8 + 0.4 * tally_gen_unit(r)));
        break;
    case TALLY_GEN_EMBEDDING:
        x->in = (int64_t)(x->q.len / 4) + (int64_t)tally__gen_lognormal(r, 120, 0.5);
        x->latency = 40 + (int64_t)tally__gen_lognormal(r, 80, 0.4);
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
        x->latency = x->err_code == CODES[0] ? 30000 : (int64_t)tally__gen_lognormal(r, 350, 0.5);
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
            const model_info *m = &tally__gen_models[x->model];
            int64_t lp[3] = {m->in, m->out, m->cached >= 0 ? m->cached : m->in};
            x->cost_e12 = round_to(tally__gen_cost_e12(lp, x), 1000000); /* 6 decimals */
        } else {
            /* the gateway knows the provider's real price, priced in Tally or not */
            if (!tally__gen_price_at(g, x->tenant, x->model, x->ms, p)) {
                p[0] = tally__gen_models[x->model].in;
                p[1] = tally__gen_models[x->model].out;
                p[2] = tally__gen_models[x->model].in;
            }
            x->cost_e12 = round_to(tally__gen_cost_e12(p, x), gateway ? 10000 : 1000000);
        }
    }
    if (tn->shape == TALLY_GEN_SCHOOL && chance(r, 0.75)) {
        x->has_saved = true;
        x->saved_cmin = (uint64_t)((double)x->out * (double)tally__gen_models[x->model].minutes /
                                   100.0 * (0.7 + 0.6 * tally_gen_unit(r)));
    }
}

static const char *const FILES[][2] = {
    {"Resumo da aula 3.pdf", "pdf"}, {"exercicios_modulo2.xlsx", "xlsx"},
    {"anotações.md", "md"},          {"legenda_video4.srt", "srt"},
    {"dados_vendas.csv", "csv"},     {"trabalho final.txt", "txt"},
};

void tally__gen_build_interaction(gen *g, irec *x, uint64_t n, int64_t ms, uint32_t t) {
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
        x->max_tokens = tn->shape == TALLY_GEN_TUTORING ? 4096
                                                        : MAXT[tally_gen_below(&r, N_(MAXT))];
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
    int64_t local_day = floordiv(ms + tally__gen_zones[tn->zone].offset_h * MS_HOUR, MS_DAY);
    x->conv = hash4(g->o->seed, 'C', ((uint64_t)t << 32) | x->user,
                    (uint64_t)local_day * 4 + tally_gen_below(&r, 3));

    tally_gen_text_req req = {
        (int)tn->shape,
        x->kind,
        tn->shape == TALLY_GEN_SCHOOL ? (unsigned)(x->agent < 0 ? 0 : x->agent) : tn->business,
        &x->q,
        &x->a,
        NULL,
        NULL};
    tally_gen_text(&req, &r);
    x->intent = req.intent;
    x->label = req.label;
    build_usage(g, x, tn, &r);
}

/* ---- the interaction.recorded event ---- */

static void o_conv(out_buf *o, const irec *x, unsigned shape) {
    static const char *const PREFIX[] = {"sess-", "sessao-", NULL, "wa-", NULL};
    char buf[48];
    if (PREFIX[shape]) {
        O_LIT(o, "\"");
        o_raw(o, PREFIX[shape], strlen(PREFIX[shape]));
        tally__o_hex(o, x->conv >> 16, 12);
        O_LIT(o, "\"");
    } else {
        tally__gen_uuid_of(x->conv, buf);
        tally__o_cstr(o, buf);
    }
}

static void write_metadata(gen *g, const irec *x, const tenant *tn) {
    out_buf *o = &g->out;
    O_LIT(o, ",\"metadata\":{");
    switch (tn->shape) {
    case TALLY_GEN_SCHOOL:
        O_LIT(o, "\"course\":");
        tally__o_cstr(o, x->label ? x->label : "");
        O_LIT(o, ",\"credits_remaining\":");
        tally__o_u64(o, 50 - (x->conv >> 3) % 50);
        break;
    case TALLY_GEN_TUTORING:
        O_LIT(o, "\"session_id\":");
        o_conv(o, x, tn->shape);
        O_LIT(o, ",\"subject\":");
        tally__o_cstr(o, x->label ? x->label : "");
        if (x->kind == TALLY_GEN_STT) {
            O_LIT(o, ",\"language\":\"pt-BR\",\"confidence\":0.");
            tally__o_u64(o, 88 + x->n % 11);
            O_LIT(o, ",\"provider_request_id\":\"dg-");
            tally__o_hex(o, mix64(x->n ^ x->conv), 16);
            o_ch(o, '"');
        } else {
            O_LIT(o, ",\"report\":\"lesson_report\"");
        }
        break;
    case TALLY_GEN_IXC:
        O_LIT(o, "\"assinatura_id\":\"sub-");
        o_raw(o, tn->id, strlen(tn->id));
        O_LIT(o, "\",\"tipo_acesso\":\"cloud\",\"tokens_utilizados\":");
        tally__o_u64(o, (uint64_t)(x->in + x->out));
        O_LIT(o, ",\"tempo_resposta_ms\":");
        tally__o_u64(o, (uint64_t)x->latency);
        if (x->label) {
            O_LIT(o, ",\"menu\":");
            tally__o_cstr(o, x->label);
        }
        break;
    case TALLY_GEN_WHATSAPP:
        O_LIT(o, "\"gateway\":\"uzz-gw-sp-1\",\"provider\":");
        tally__o_cstr(o, tally__gen_models[x->model].provider);
        O_LIT(o, ",\"request_id\":\"req_");
        tally__o_hex(o, mix64(x->n * 31 + x->conv), 16);
        O_LIT(o, "\",\"business\":");
        tally__o_cstr(o, x->label ? x->label : "");
        if (x->kind == TALLY_GEN_TTS) O_LIT(o, ",\"voice\":\"nova\",\"format\":\"ogg_opus\"");
        break;
    default:
        O_LIT(o, "\"mode\":\"ai_free\",\"messages_in_context\":");
        tally__o_u64(o, 1 + x->conv % 12);
        break;
    }
    if (x->err_code) {
        O_LIT(o, ",\"error\":");
        tally__o_cstr(o, x->err_code);
    }
    o_ch(o, '}');
}

void tally__gen_write_interaction(gen *g, const irec *x) {
    const tenant *tn = &g->tenants[x->tenant];
    out_buf *o = &g->out;
    char uid[48];
    tally__gen_user_id_of(g, x->tenant, x->user, uid);
    tally__ev_begin(g, NULL, x->n, tally__gen_shapes[tn->shape].source, "interaction.recorded",
                    x->ms, tally__gen_zones[tn->zone].offset_h, x->utc, tn->id);
    O_LIT(o, "\"tenant_id\":");
    tally__o_cstr(o, tn->id);
    O_LIT(o, ",\"user_id\":");
    tally__o_cstr(o, uid);
    O_LIT(o, ",\"model_id\":");
    tally__o_cstr(o, tally__gen_models[x->model].id);
    if (!(x->omit_defaults && x->kind == TALLY_GEN_CHAT)) {
        O_LIT(o, ",\"kind\":");
        tally__o_cstr(o, KIND_NAMES[x->kind]);
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
    tally__o_cstr(o, CHANNELS[x->channel]);
    O_LIT(o, ",\"input_tokens\":");
    tally__o_u64(o, (uint64_t)x->in);
    if (x->out || !x->omit_defaults) {
        O_LIT(o, ",\"output_tokens\":");
        tally__o_u64(o, (uint64_t)x->out);
    }
    if (x->cached || !x->omit_defaults) {
        O_LIT(o, ",\"cached_tokens\":");
        tally__o_u64(o, (uint64_t)x->cached);
    }
    if (x->audio_cs) {
        O_LIT(o, ",\"audio_seconds\":");
        tally__o_fixed(o, (uint64_t)x->audio_cs, 2);
    }
    O_LIT(o, ",\"latency_ms\":");
    tally__o_u64(o, (uint64_t)x->latency);
    if (x->error)
        O_LIT(o, ",\"status\":\"error\"");
    else if (!x->omit_defaults)
        O_LIT(o, ",\"status\":\"ok\"");
    if (tn->shape == TALLY_GEN_WHATSAPP || tn->shape == TALLY_GEN_IXC) {
        tally__o_key(o, "was_cached");
        if (x->was_cached)
            O_LIT(o, "true");
        else
            O_LIT(o, "false");
        tally__o_key(o, "was_fallback");
        if (x->was_fallback)
            O_LIT(o, "true");
        else
            O_LIT(o, "false");
    }
    if (x->has_cost) {
        O_LIT(o, ",\"cost_usd\":");
        tally__o_fixed(o, x->cost_e12, 12);
    }
    if (x->has_saved) {
        O_LIT(o, ",\"time_saved_minutes\":");
        tally__o_fixed(o, x->saved_cmin, 2);
    }
    if (x->q.len) {
        O_LIT(o, ",\"question\":");
        tally__o_str(o, x->q.p, x->q.len);
    }
    if (x->a.len) {
        O_LIT(o, ",\"answer\":");
        tally__o_str(o, x->a.p, x->a.len);
    }
    if (x->intent) {
        O_LIT(o, ",\"intent\":");
        tally__o_cstr(o, x->intent);
    }
    if (x->has_params) {
        O_LIT(o, ",\"params\":{\"temperature\":");
        tally__o_fixed(o, (uint64_t)x->temp10, 1);
        O_LIT(o, ",\"max_tokens\":");
        tally__o_u64(o, (uint64_t)x->max_tokens);
        o_ch(o, '}');
    }
    if (x->n_att) {
        O_LIT(o, ",\"attachments\":[");
        for (int i = 0; i < x->n_att; i++) {
            if (i) o_ch(o, ',');
            O_LIT(o, "{\"filename\":");
            tally__o_cstr(o, x->att_name[i]);
            O_LIT(o, ",\"file_type\":");
            tally__o_cstr(o, x->att_type[i]);
            o_ch(o, '}');
        }
        o_ch(o, ']');
    }
    write_metadata(g, x, tn);
    tally__ev_end(g);
}
