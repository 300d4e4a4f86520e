/*
 * generate — a deterministic generator of realistic Tally traffic: the events
 * of CONTRACT.md §1 as NDJSON (one CloudEvents JSON object per line), shaped
 * after the five seed platforms (docs/…/seeds): AI course agents of schools,
 * a tutoring marketplace with transcription, IXCsoft distributors, UZZ.AI
 * WhatsApp bots with budgets and TTS, and the GATTE support bot.
 *
 * The same options give the same bytes, on every run: everything random
 * comes from xoshiro256** streams seeded (through splitmix64) by `seed`, and
 * every interaction's content from a stream of its own, so a duplicate can
 * be written again, byte for byte, without being kept in memory.
 *
 * Output order: the entity events (tenants, users, plans, subscriptions,
 * prices, FX rates, budgets), then the interactions in time order, with
 * feedback and re-sent duplicates merged in at their own (later) time. The
 * limits of plans and budgets are sized from the traffic the run will write
 * (its expected month, week and day per tenant), so some are crossed: a
 * distributor's plan, students' message plans, bots' daily token budgets on
 * busy days (gen/generate_limits.c says which).
 *
 * The JSON is written by hand into a buffer (no jansson trees): the
 * generator exists to feed benchmarks, so it must outrun the pipeline.
 */
#ifndef TALLY_GENERATE_H
#define TALLY_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tally_common.h"

typedef struct {
    uint64_t seed;             /* default 42 */
    uint64_t events;           /* interactions to write; default 1000 */
    uint32_t tenants;          /* default 5: one of each platform shape, cycling beyond */
    uint32_t users_per_tenant; /* default 20 */
    uint32_t days;             /* default 31 */
    tally_usec start;          /* the first day, 00:00 UTC; default 2026-03-01 */
    double duplicates_pct;     /* interactions sent twice with the same id; default 0 */
    double feedback_pct;       /* interactions that get a feedback.recorded; default 5 */
    bool entities;             /* write the entity events first; default true */
    uint32_t erasures;         /* users of the last tenant erased after the window
                                  (user.erased; needs entities); default 0 */
} tally_gen_opts;

/* What a run wrote. */
typedef struct {
    uint64_t entities, interactions, duplicates, feedback, lines, bytes;
} tally_gen_stats;

/* Fill o with the defaults above. */
void tally_gen_opts_default(tally_gen_opts *o);

/* Check ranges; on failure err names the option. */
tally_code tally_gen_opts_check(const tally_gen_opts *o, tally_err *err);

/* Where output goes: called with whole lines (each ending in '\n'), in
 * chunks of up to about 1 MiB. Returns 0 on success; anything else stops the
 * run with TALLY_EIO. */
typedef int (*tally_gen_sink)(void *ctx, const char *buf, size_t len);

/* Run the generator. stats (may be NULL) receives the counts. */
tally_code tally_gen_run(const tally_gen_opts *o, tally_gen_sink sink, void *ctx,
                         tally_gen_stats *stats, tally_err *err);

/* ---- Shared by generate.c and generate_text.c (not for other callers) ---- */

/* The platform shapes, in the order of the seeds. */
enum {
    TALLY_GEN_SCHOOL,   /* 000: AI course agents of schools */
    TALLY_GEN_TUTORING, /* 001: tutoring marketplace, lesson reports, transcription */
    TALLY_GEN_IXC,      /* 002: IXCsoft distributors */
    TALLY_GEN_WHATSAPP, /* 003: UZZ.AI WhatsApp bots, budgets, TTS */
    TALLY_GEN_SUPPORT,  /* 004: GATTE support bot */
    TALLY_GEN__SHAPES
};

typedef enum { TALLY_GEN_CHAT, TALLY_GEN_EMBEDDING, TALLY_GEN_TTS, TALLY_GEN_STT } tally_gen_kind;

/* xoshiro256**: small, fast, and the same numbers on every platform. */
typedef struct {
    uint64_t s[4];
} tally_gen_rng;

void tally_gen_rng_seed(tally_gen_rng *r, uint64_t seed);
/* Uniform in [0, n), n >= 1 (Lemire's multiply-shift, bias below 2^-32). */
uint32_t tally_gen_below(tally_gen_rng *r, uint32_t n);
/* Uniform in [0, 1). */
double tally_gen_unit(tally_gen_rng *r);

/* A string builder over a fixed buffer. It never overflows; a text that
 * would not fit is cut at a UTF-8 character boundary (the corpora are far
 * below the capacity, so this is a safety net, not a behaviour). */
typedef struct {
    char *p;
    size_t len, cap; /* cap includes room for the terminating NUL */
} tally_gen_sb;


/* One interaction's texts, composed from Portuguese fragments. */
typedef struct {
    int shape;                       /* in */
    tally_gen_kind kind;             /* in */
    unsigned variant;                /* in: course index (school), business index (WhatsApp bots) */
    tally_gen_sb *question, *answer; /* out; len 0 = absent */
    const char *intent;              /* out: support bot intents, else NULL */
    const char *label;               /* out: subject, course, menu…: a short tag for metadata */
} tally_gen_text_req;

void tally_gen_text(tally_gen_text_req *req, tally_gen_rng *r);

/* Catalogues that live with the texts. */
unsigned tally_gen_n_courses(void);
const char *tally_gen_course_slug(unsigned i);
unsigned tally_gen_n_businesses(void);

/* A person's name; `ascii` (lower case, no accents) is for e-mail addresses. */
typedef struct {
    const char *first, *last, *first_ascii, *last_ascii;
} tally_gen_person;

void tally_gen_person_pick(tally_gen_rng *r, tally_gen_person *p);

/* Unicode code points in a UTF-8 text (characters billed by TTS). */
size_t tally_gen_utf8_chars(const char *s, size_t len);

#endif
