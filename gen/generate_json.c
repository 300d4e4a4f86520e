/*
 * generate_json — the generator's writer (see generate_internal.h): the
 * output buffer handed to the sink in chunks of whole lines, JSON strings,
 * integers, exact decimals and RFC 3339 times, and the CloudEvents envelope
 * of every event.
 *
 * The JSON is written by hand into the buffer (no jansson trees): the
 * generator exists to feed benchmarks, so it must outrun the pipeline.
 */
#include "generate_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- the output buffer and the JSON writer ---- */

void tally__o_grow(out_buf *o, size_t n) {
    size_t cap = o->cap;
    while (o->len + n > cap) cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) tally_oom("the generator's output"); /* a few MiB */
    o->p = p;
    o->cap = cap;
}

void tally__o_u64(out_buf *o, uint64_t v) {
    char tmp[24];
    int i = 24;
    do tmp[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    o_raw(o, tmp + i, (size_t)(24 - i));
}

void tally__o_hex(out_buf *o, uint64_t v, int width) {
    char tmp[16];
    int i = 16;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0 || 16 - i < width);
    o_raw(o, tmp + i, (size_t)(16 - i));
}

/* v / 10^scale as an exact decimal, trailing zeros trimmed ("0.000075", "12.5", "3"). */
void tally__o_fixed(out_buf *o, uint64_t v, int scale) {
    uint64_t p = 1;
    for (int i = 0; i < scale; i++) p *= 10;
    uint64_t frac = v % p;
    tally__o_u64(o, v / p);
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
void tally__o_str(out_buf *o, const char *s, size_t n) {
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

void tally__o_cstr(out_buf *o, const char *s) { tally__o_str(o, s, strlen(s)); }

/* ,"key": */
void tally__o_key(out_buf *o, const char *key) {
    o_ch(o, ',');
    o_ch(o, '"');
    o_raw(o, key, strlen(key));
    O_LIT(o, "\":");
}

void tally__o_flush(out_buf *o) {
    if (!o->len) return;
    if (!o->failed && o->sink(o->ctx, o->p, o->len) != 0) o->failed = true;
    o->bytes += o->len;
    o->len = 0;
}

/* ---- time ---- */

void tally__gen_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d) {
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
void tally__o_time(out_buf *o, int64_t ms, int offset_h, bool utc, bool millis) {
    if (utc) offset_h = 0;
    int64_t local = ms + offset_h * MS_HOUR, day = floordiv(local, MS_DAY);
    int64_t in_day = local - day * MS_DAY;
    int y;
    unsigned m, d, sec = (unsigned)(in_day / 1000);
    tally__gen_civil_from_days(day, &y, &m, &d);
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

/* ---- the CloudEvents envelope ---- */

void tally__o_id_interaction(out_buf *o, const gen *g, uint64_t n) {
    O_LIT(o, "\"evt-");
    o_raw(o, g->seedhex, strlen(g->seedhex));
    o_ch(o, '-');
    tally__o_hex(o, n, 8);
    o_ch(o, '"');
}

/* {"specversion":"1.0","id":"evt-…","source":…,"type":…,"time":…[,"subject":…],…,"data":{ */
void tally__ev_begin(gen *g, const char *id_kind, uint64_t id_n, const char *source,
                     const char *type, int64_t ms, int offset_h, bool utc, const char *subject) {
    out_buf *o = &g->out;
    O_LIT(o, "{\"specversion\":\"1.0\",\"id\":");
    if (id_kind) {
        O_LIT(o, "\"evt-");
        o_raw(o, g->seedhex, strlen(g->seedhex));
        o_ch(o, '-');
        o_raw(o, id_kind, strlen(id_kind));
        o_ch(o, '-');
        tally__o_hex(o, id_n, 4);
        o_ch(o, '"');
    } else {
        tally__o_id_interaction(o, g, id_n);
    }
    O_LIT(o, ",\"source\":");
    tally__o_cstr(o, source);
    O_LIT(o, ",\"type\":");
    tally__o_cstr(o, type);
    O_LIT(o, ",\"time\":");
    tally__o_time(o, ms, offset_h, utc, true);
    if (subject) {
        O_LIT(o, ",\"subject\":");
        tally__o_cstr(o, subject);
    }
    O_LIT(o, ",\"datacontenttype\":\"application/json\",\"data\":{");
}

void tally__ev_end(gen *g) {
    O_LIT(&g->out, "}}\n");
    g->out.lines++;
    if (g->out.len >= FLUSH_AT) tally__o_flush(&g->out);
}
