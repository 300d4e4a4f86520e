/*
 * generate_entities — who the traffic belongs to (see generate_internal.h):
 * the zones and the five platform shapes, the tenants built from them, the
 * ids of their users, and the entity events written before the
 * interactions: tenants, users, prices and BRL rates here; plans,
 * subscriptions and budgets, whose limits are sized from the traffic, in
 * generate_limits.c.
 */
#include "generate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- catalogues: zones, shapes, tenants ---- */

const gen_zone tally__gen_zones[GEN_N_ZONES] = {{"America/Sao_Paulo", -3},
                                                {"America/Manaus", -4},
                                                {"America/Rio_Branco", -5},
                                                {"America/Noronha", -2}};
static const unsigned ZONE_CYCLE[] = {0, 0, 1, 0, 2, 0, 3, 0, 0, 1};

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

const shape_info tally__gen_shapes[TALLY_GEN__SHAPES] = {
    [TALLY_GEN_SCHOOL] = {SCHOOLS,
                          N_(SCHOOLS),
                          "escola-api-1",
                          1.0,
                          {4,  2,  1,  1,  1,  2,  5,  10, 18, 28, 36, 40,
                           34, 32, 38, 42, 44, 46, 52, 68, 80, 74, 50, 20},
                          0.7},
    [TALLY_GEN_TUTORING] = {TUTORINGS,
                            N_(TUTORINGS),
                            "tutoria-worker-1",
                            0.6,
                            {1,  1,  1,  1,  1,  1,  3,  8,  20, 35, 45, 48,
                             38, 40, 55, 65, 70, 68, 60, 55, 40, 25, 10, 4},
                            0.45},
    [TALLY_GEN_IXC] = {IXCS,
                       N_(IXCS),
                       "ixc-backend-1",
                       1.4,
                       {1,  1,  1,  1,   1,  1,  3,  10, 45, 80, 95, 90,
                        55, 70, 95, 100, 92, 80, 40, 15, 8,  5,  3,  2},
                       0.15},
    [TALLY_GEN_WHATSAPP] = {BOTS,
                            N_(BOTS),
                            "uzz-gateway-sp-1",
                            1.8,
                            {5,  3,  2,  1,  1,  2,  6,  18, 45, 70, 80, 85,
                             90, 75, 70, 75, 78, 80, 85, 88, 75, 55, 30, 12},
                            0.8},
    [TALLY_GEN_SUPPORT] = {SUPPORTS,
                           N_(SUPPORTS),
                           "gatte-bot-1",
                           0.8,
                           {1,  1,  1,  1,   1,  1,  4,  15, 60, 90, 100, 95,
                            60, 75, 95, 100, 90, 75, 30, 10, 5,  3,  2,   1},
                           0.2},
};

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

void tally__gen_uuid_of(uint64_t h, char *buf) {
    uint64_t a = mix64(h), b = mix64(h ^ 0x5851f42d4c957f2dULL);
    static const char hx[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) buf[k++] = '-';
        unsigned nib = (unsigned)((i < 16 ? a >> (60 - 4 * i) : b >> (60 - 4 * (i - 16))) & 15);
        if (i == 12) nib = 4;             /* version 4 */
        if (i == 16) nib = 8 | (nib & 3); /* RFC 4122 variant */
        buf[k++] = hx[nib];
    }
    buf[k] = '\0';
}

/* The user id of user u of tenant t (buf: 48 bytes). */
void tally__gen_user_id_of(const gen *g, uint32_t t, uint32_t u, char *buf) {
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
    default: tally__gen_uuid_of(hash4(g->o->seed, 'U', t, u), buf);
    }
}

/* ---- tenants ---- */

bool tally__gen_build_tenants(gen *g) {
    const tally_gen_opts *o = g->o;
    tally_gen_rng r;
    tally_gen_rng_seed(&r, hash4(o->seed, 'W', 0, 0));
    g->tenants = calloc(o->tenants, sizeof(tenant));
    if (!g->tenants) return false;
    g->priced_tenant = 0;
    bool priced = false;
    for (uint32_t i = 0; i < o->tenants; i++) {
        tenant *t = &g->tenants[i];
        const shape_info *s = &tally__gen_shapes[i % TALLY_GEN__SHAPES];
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
        while (c < g->n_classes &&
               !(g->classes[c].shape == t->shape && g->classes[c].zone == t->zone))
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

/* ---- the entity events ---- */

void tally__gen_ent_begin(gen *g, const char *type, int64_t ms, const char *subject) {
    bool pricing = !strncmp(type, "model.", 6) || !strncmp(type, "fx.", 3);
    tally__ev_begin(g, "ent", g->n_entities++, pricing ? "pricing-sync" : "backoffice-1", type, ms,
                    0, true, subject);
}

void tally__gen_write_erasure(gen *g, uint32_t t, uint32_t u, int64_t ms) {
    const tenant *tn = &g->tenants[t];
    char uid[48];
    tally__gen_user_id_of(g, t, u, uid);
    tally__gen_ent_begin(g, "user.erased", ms, tn->id);
    O_LIT(&g->out, "\"tenant_id\":");
    tally__o_cstr(&g->out, tn->id);
    O_LIT(&g->out, ",\"user_id\":");
    tally__o_cstr(&g->out, uid);
    tally__ev_end(g);
}

static void write_tenants_and_users(gen *g, int64_t *clock) {
    static const char *const STUDENT_MAIL[] = {"gmail.com", "hotmail.com", "outlook.com",
                                               "yahoo.com.br"};
    out_buf *o = &g->out;
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        tally__gen_ent_begin(g, "tenant.upserted", (*clock)++ * 1000, tn->id);
        O_LIT(o, "\"tenant_id\":");
        tally__o_cstr(o, tn->id);
        O_LIT(o, ",\"name\":");
        tally__o_cstr(o, tn->name);
        O_LIT(o, ",\"slug\":");
        tally__o_cstr(o, tn->slug);
        O_LIT(o, ",\"status\":\"active\",\"timezone\":");
        tally__o_cstr(o, tally__gen_zones[tn->zone].name);
        O_LIT(o, ",\"contact\":");
        if (tn->shape == TALLY_GEN_WHATSAPP) {
            char phone[16];
            phone_of(g, t, 999999, phone);
            tally__o_cstr(o, phone);
        } else {
            O_LIT(o, "\"contato@");
            o_raw(o, tn->slug, strlen(tn->slug));
            O_LIT(o, ".com.br\"");
        }
        /* GATTE's rules (seed 004): message texts deleted after 90 days,
         * personal data anonymised after 5 years */
        if (tn->shape == TALLY_GEN_SUPPORT)
            O_LIT(o, ",\"content_retention_days\":90,\"user_retention_days\":1825");
        tally__ev_end(g);
    }
    for (uint32_t t = 0; t < g->n_tenants; t++) {
        const tenant *tn = &g->tenants[t];
        for (uint32_t u = 0; u < g->o->users_per_tenant; u++) {
            tally_gen_rng r;
            tally_gen_rng_seed(&r, hash4(g->o->seed, 'N', t, u));
            tally_gen_person p;
            tally_gen_person_pick(&r, &p);
            char uid[48];
            tally__gen_user_id_of(g, t, u, uid);
            tally__gen_ent_begin(g, "user.upserted", (*clock)++ * 1000, tn->id);
            O_LIT(o, "\"tenant_id\":");
            tally__o_cstr(o, tn->id);
            O_LIT(o, ",\"user_id\":");
            tally__o_cstr(o, uid);
            bool anonymous = tn->shape == TALLY_GEN_WHATSAPP && chance(&r, 0.2);
            if (!anonymous) {
                char name[96];
                snprintf(name, sizeof name, "%s %s", p.first, p.last);
                O_LIT(o, ",\"name\":");
                tally__o_cstr(o, name);
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
                tally__o_cstr(o, mail);
            }
            /* the tutoring marketplace: one user in five is a tutor, the rest students */
            const char *role = u == 0                                          ? "admin"
                               : tn->shape == TALLY_GEN_TUTORING && u % 5 == 1 ? "tutor"
                               : tn->shape == TALLY_GEN_SCHOOL || tn->shape == TALLY_GEN_TUTORING
                                   ? "student"
                                   : "member";
            O_LIT(o, ",\"role\":");
            tally__o_cstr(o, role);
            if (u > 0 && chance(&r, 0.05))
                O_LIT(o, ",\"active\":false");
            else
                O_LIT(o, ",\"active\":true");
            tally__ev_end(g);
        }
    }
}

static void write_price(gen *g, int64_t ms, int model, const int64_t p[3], bool minutes,
                        int64_t effective, const tenant *tn) {
    const model_info *m = &tally__gen_models[model];
    out_buf *o = &g->out;
    tally__gen_ent_begin(g, "model.priced", ms, tn ? tn->id : NULL);
    O_LIT(o, "\"model_id\":");
    tally__o_cstr(o, m->id);
    O_LIT(o, ",\"provider\":");
    tally__o_cstr(o, m->provider);
    O_LIT(o, ",\"input_usd_per_1m\":");
    tally__o_fixed(o, (uint64_t)p[0], 6);
    O_LIT(o, ",\"output_usd_per_1m\":");
    tally__o_fixed(o, (uint64_t)p[1], 6);
    if (p[2] >= 0) {
        O_LIT(o, ",\"cached_input_usd_per_1m\":");
        tally__o_fixed(o, (uint64_t)p[2], 6);
    }
    if (minutes && m->minutes >= 0) {
        O_LIT(o, ",\"minutes_saved_per_100_output_tokens\":");
        tally__o_fixed(o, (uint64_t)m->minutes, 2);
    }
    O_LIT(o, ",\"effective_from\":");
    if (effective == g->epoch_ms)
        tally__o_time(o, effective, 0, true, false);
    else
        tally__o_time(o, effective, -3, false, false);
    if (tn) {
        O_LIT(o, ",\"tenant_id\":");
        tally__o_cstr(o, tn->id);
    }
    tally__ev_end(g);
}

static void write_prices_and_rates(gen *g) {
    out_buf *o = &g->out;
    int64_t at = g->epoch_ms;
    for (int i = 0; i < M__N; i++) {
        if (i == M_LLAMA8) continue;
        int64_t p[3] = {tally__gen_models[i].in, tally__gen_models[i].out,
                        tally__gen_models[i].cached};
        write_price(g, at + i * 60000, i, p, true, g->epoch_ms, NULL);
    }
    if (g->n_tenants) {
        write_price(g, at + 3 * MS_DAY, TENANT_PRICE_MODEL, tally__gen_tenant_price, false,
                    g->epoch_ms, &g->tenants[g->priced_tenant]);
    }
    for (size_t i = 0; i < N_(tally__gen_price_v2); i++) {
        int64_t p[3] = {tally__gen_price_v2[i].in, tally__gen_price_v2[i].out,
                        tally__gen_price_v2[i].cached};
        /* announced five days before it takes effect */
        write_price(g, g->mid_ms - 5 * MS_DAY, tally__gen_price_v2[i].model, p, true, g->mid_ms,
                    NULL);
    }
    int64_t p8[3] = {tally__gen_models[M_LLAMA8].in, tally__gen_models[M_LLAMA8].out, -1};
    write_price(g, g->late_ms - MS_DAY, M_LLAMA8, p8, true, g->late_ms, NULL);
    const int64_t fx[2][2] = {{FX_V1, g->epoch_ms}, {FX_V2, g->fx_ms}};
    for (int i = 0; i < 2; i++) {
        tally__gen_ent_begin(g, "fx.rate_set", fx[i][1], NULL);
        O_LIT(o, "\"currency\":\"BRL\",\"per_usd\":");
        tally__o_fixed(o, (uint64_t)fx[i][0], 6);
        O_LIT(o, ",\"effective_from\":");
        tally__o_time(o, fx[i][1], i ? -3 : 0, i == 0, false);
        tally__ev_end(g);
    }
}

void tally__gen_write_entities(gen *g) {
    /* tenants, users, plans… a second apart, from 40 days before the window */
    int64_t clock = (g->start_ms - 40 * MS_DAY) / 1000;
    write_tenants_and_users(g, &clock);
    tally__gen_write_plans_and_subscriptions(g, &clock);
    write_prices_and_rates(g);
    tally__gen_write_budgets(g, &clock);
}
