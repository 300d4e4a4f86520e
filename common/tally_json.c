/*
 * tally_json — one JSON text into a flat array of nodes (tally_common.h says
 * what it accepts and why it exists).
 *
 * Layout. Nodes are stored in document order; a container is followed by its
 * whole subtree, and `span` counts the nodes of a subtree (itself included),
 * so the sibling after a node is node + span. Members carry their key. Every
 * string and key is unescaped into one block sized by the input: a string's
 * text plus its NUL never takes more bytes than the string took quoted, so
 * the block cannot overflow and nothing is moved once written.
 *
 * The grammar, the limits and the refusals follow jansson's load.c rule by
 * rule (tests/unit/test_json.c checks them against it), so that switching
 * the decoder to this reader changed no event's fate.
 */
#include "tally_common.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally_json {
    uint8_t type;
    uint32_t span;    /* nodes in this subtree, itself included */
    uint32_t count;   /* members or elements of a container */
    uint32_t key_len; /* of a member's key */
    const char *key;  /* a member's key, else NULL */
    union {
        long long i;
        double d;
        struct {
            const char *s;
            size_t len;
        } str;
        struct { /* an object of more than SMALL_OBJECT members: its members by key */
            const uint32_t *slots; /* offset of the member from the object, 0 = empty */
            uint32_t mask;         /* slots - 1 (a power of two) */
            uint32_t at;           /* where slots start in the doc's index, while parsing */
        } index;
    } v;
};

struct tally_json_doc {
    tally_json *nodes;
    size_t n, cap;
    char *strings; /* >= len + 1 bytes: every unescaped string and key */
    size_t used, strings_cap;
    uint32_t *index; /* the member tables of large objects, one after another */
    size_t index_used, index_cap;
    size_t indexed; /* objects with a table */
};

/* Objects up to this many members are searched member by member; larger
 * ones (an event's `data`) get a hash table of their keys, built while the
 * duplicate keys are looked for, and used by tally_json_get. */
#define SMALL_OBJECT 8

typedef struct {
    const unsigned char *start, *p, *end;
    tally_json_doc *doc;
    tally_json_error *err;
    int depth;
} parser;

/* ---- errors ---------------------------------------------------------------- */

static bool fail_at(parser *ps, const unsigned char *at, bool utf8, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail_at(parser *ps, const unsigned char *at, bool utf8, const char *fmt, ...) {
    tally_json_error *e = ps->err;
    if (!e) return false;
    if (at > ps->end) at = ps->end;
    e->position = (size_t)(at - ps->start);
    e->line = 1;
    e->column = 1;
    for (const unsigned char *q = ps->start; q < at; q++) {
        if (*q == '\n') {
            e->line++;
            e->column = 1;
        } else if ((*q & 0xC0) != 0x80) { /* count characters, not bytes */
            e->column++;
        }
    }
    e->invalid_utf8 = utf8;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    return false;
}

/* What the text holds at p, for messages: "end of input" or the byte. */
static bool unexpected(parser *ps, const char *expected) {
    if (ps->p >= ps->end) return fail_at(ps, ps->p, false, "%s near end of input", expected);
    unsigned c = *ps->p;
    if (c >= 0x80) {
        unsigned cp;
        if (!tally_utf8_next(ps->p, (size_t)(ps->end - ps->p), &cp))
            return fail_at(ps, ps->p, true, "unable to decode byte 0x%x", c);
    }
    if (c > 0x20 && c < 0x7F) return fail_at(ps, ps->p, false, "%s near '%c'", expected, c);
    return fail_at(ps, ps->p, false, "%s near byte 0x%02x", expected, c);
}

/* ---- nodes ----------------------------------------------------------------- */

/* A new node's index, or -1 when memory ran out. */
static long new_node(parser *ps, tally_json_type type, const char *key, size_t key_len) {
    tally_json_doc *d = ps->doc;
    if (d->n == d->cap) {
        size_t cap = d->cap * 2;
        if (cap > UINT32_MAX) return -1;
        tally_json *bigger = realloc(d->nodes, cap * sizeof *bigger);
        if (!bigger) return -1;
        d->nodes = bigger;
        d->cap = cap;
    }
    tally_json *v = &d->nodes[d->n];
    v->type = (uint8_t)type;
    v->span = 1;
    v->count = 0;
    v->key = key;
    v->key_len = (uint32_t)key_len;
    return (long)d->n++;
}

static bool out_of_memory(parser *ps) { return fail_at(ps, ps->p, false, "out of memory"); }

/* ---- lexing ---------------------------------------------------------------- */

static void skip_space(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

/* Bytes that end a plain run inside a string: the quote, the backslash,
 * control characters and the lead of every multi-byte sequence. */
static const unsigned char string_special[256] = {
    [0x00 ... 0x1F] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xFF] = 1,
};

static int hex_value(unsigned c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* The four hex digits after "\u" at p, or -1. */
static long read_hex4(parser *ps, const unsigned char *p) {
    if (ps->end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

static char *put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* One escape after the backslash at ps->p; advances past it. */
static bool read_escape(parser *ps, char **out) {
    const unsigned char *at = ps->p;
    if (ps->end - at < 2) return fail_at(ps, ps->end, false, "premature end of input");
    unsigned c = at[1];
    static const char simple[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                     ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
    if (simple[c]) {
        *(*out)++ = simple[c];
        ps->p = at + 2;
        return true;
    }
    if (c != 'u') return fail_at(ps, at, false, "invalid escape");
    long cp = read_hex4(ps, at + 2);
    if (cp < 0) return fail_at(ps, at, false, "invalid escape");
    const unsigned char *next = at + 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate: its low half must follow */
        long lo = -1;
        if (ps->end - next >= 2 && next[0] == '\\' && next[1] == 'u') {
            lo = read_hex4(ps, next + 2);
            if (lo < 0) return fail_at(ps, next, false, "invalid escape");
        }
        if (lo < 0xDC00 || lo > 0xDFFF) {
            if (lo < 0) return fail_at(ps, at, false, "invalid Unicode '\\u%04lX'", cp);
            return fail_at(ps, at, false, "invalid Unicode '\\u%04lX\\u%04lX'", cp, lo);
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        next += 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail_at(ps, at, false, "invalid Unicode '\\u%04lX'", cp);
    } else if (cp == 0) {
        return fail_at(ps, at, false, "\\u0000 is not allowed");
    }
    *out = put_utf8(*out, (unsigned)cp);
    ps->p = next;
    return true;
}

/* Whether one of the 8 bytes in v is special (see string_special): a quote,
 * a backslash, a control character or a byte >= 0x80. The classic bit
 * tricks: each test sets a byte's top bit only when some byte matches, and
 * never misses one (a false alarm only sends the block to the byte loop). */
static inline bool any_special8(uint64_t v) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = v ^ (ones * '"'), slash = v ^ (ones * '\\');
    uint64_t zero_quote = (quote - ones) & ~quote;
    uint64_t zero_slash = (slash - ones) & ~slash;
    uint64_t below_space = (v - ones * 0x20) & ~v;
    return ((zero_quote | zero_slash | below_space) & highs) | (v & highs);
}

/* The string whose opening quote is at ps->p, unescaped into the block.
 * Plain runs go 8 bytes at a time. */
static bool read_string(parser *ps, const char **s, size_t *len) {
    tally_json_doc *d = ps->doc;
    char *const begin = d->strings + d->used;
    char *o = begin;
    const unsigned char *p = ++ps->p;
    for (;;) {
        const unsigned char *run = p;
        for (uint64_t v; ps->end - p >= 8; p += 8) {
            memcpy(&v, p, 8);
            if (any_special8(v)) break;
        }
        while (p < ps->end && !string_special[*p]) p++;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p >= ps->end) return fail_at(ps, p, false, "premature end of input");
        unsigned c = *p;
        if (c == '"') {
            ps->p = p + 1;
            break;
        }
        if (c == '\\') {
            ps->p = p;
            if (!read_escape(ps, &o)) return false;
            p = ps->p;
        } else if (c < 0x20) {
            return fail_at(ps, p, false, "control character 0x%x", c);
        } else if (c >= 0xC2 && c <= 0xDF && ps->end - p >= 2 && (p[1] & 0xC0) == 0x80) {
            o[0] = (char)c, o[1] = (char)p[1]; /* two bytes (é, ç, ã): the common case */
            o += 2;
            p += 2;
        } else {
            unsigned cp;
            size_t n = tally_utf8_next(p, (size_t)(ps->end - p), &cp);
            if (!n) return fail_at(ps, p, true, "unable to decode byte 0x%x", c);
            memcpy(o, p, n);
            o += n;
            p += n;
        }
    }
    *o++ = '\0';
    *s = begin;
    *len = (size_t)(o - begin - 1);
    d->used += (size_t)(o - begin);
    return true;
}

static bool is_digit(const unsigned char *p, const unsigned char *end) {
    return p < end && *p >= '0' && *p <= '9';
}

/* A number at ps->p (a digit or '-'), as jansson's lexer reads it. */
static bool read_number(parser *ps, long at_node) {
    const unsigned char *start = ps->p, *p = start, *end = ps->end;
    bool negative = false;
    if (*p == '-') {
        negative = true;
        p++;
    }
    if (!is_digit(p, end)) return unexpected(ps, "invalid token");
    if (*p == '0') {
        p++;
        if (is_digit(p, end)) {
            ps->p = p;
            return fail_at(ps, start, false, "invalid token (leading zero)");
        }
    } else {
        while (is_digit(p, end)) p++;
    }
    tally_json *v = &ps->doc->nodes[at_node];
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        size_t digits = (size_t)(p - start) - negative;
        v->type = TALLY_JSON_INTEGER;
        if (digits <= 18) { /* fits in long long whatever the digits */
            long long x = 0;
            for (const unsigned char *q = start + negative; q < p; q++) x = x * 10 + (*q - '0');
            v->v.i = negative ? -x : x;
        } else {
            char text[24];
            if (digits > 19) goto too_big;
            memcpy(text, start, (size_t)(p - start));
            text[p - start] = '\0';
            errno = 0;
            v->v.i = strtoll(text, NULL, 10);
            if (errno == ERANGE) goto too_big;
        }
        ps->p = p;
        return true;
    too_big:
        return fail_at(ps, start, false, negative ? "too big negative integer" : "too big integer");
    }
    if (*p == '.') {
        p++;
        if (!is_digit(p, end)) return fail_at(ps, start, false, "invalid token");
        while (is_digit(p, end)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, end)) return fail_at(ps, start, false, "invalid token");
        while (is_digit(p, end)) p++;
    }
    /* strtod needs a terminated copy; the text was checked above, so it reads
     * it all. Only overflow is refused (as jansson does); underflow gives 0
     * or a subnormal. */
    size_t n = (size_t)(p - start);
    char small[64], *text = n < sizeof small ? small : malloc(n + 1);
    if (!text) return out_of_memory(ps);
    memcpy(text, start, n);
    text[n] = '\0';
    errno = 0;
    double d = strtod(text, NULL);
    bool overflow = errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL);
    if (text != small) free(text);
    if (overflow) return fail_at(ps, start, false, "real number overflow");
    v = &ps->doc->nodes[at_node];
    v->type = TALLY_JSON_REAL;
    v->v.d = d;
    ps->p = p;
    return true;
}

/* ---- duplicate keys ---------------------------------------------------------- */

/* FNV-1a, then a 64-bit finaliser (MurmurHash3's fmix64) so that every
 * bit of the key reaches the low bits the table uses. Keys can be chosen by
 * whoever sends the event, so a table whose probes grow long is given up
 * (see find_duplicate_key): the cost stays bounded whatever the keys. */
static uint64_t key_hash(const char *k, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static bool same_key(const tally_json *a, const tally_json *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Probes beyond this many for one key mean the keys were chosen to collide:
 * the table is dropped and the members are sorted instead. */
#define MAX_PROBES 32

static int key_order(const void *a, const void *b) {
    const tally_json *x = *(const tally_json *const *)a, *y = *(const tally_json *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* The duplicate key of a large object found by sorting its members:
 * O(n log n) whatever the keys. Sets *dup; false when memory ran out. */
static bool sorted_duplicate(const tally_json *nodes, size_t obj, const tally_json **dup) {
    uint32_t count = nodes[obj].count;
    const tally_json **m = malloc(count * sizeof *m);
    if (!m) return false;
    size_t at = obj + 1;
    for (uint32_t i = 0; i < count; i++, at += nodes[at].span) m[i] = &nodes[at];
    qsort(m, count, sizeof *m, key_order);
    *dup = NULL;
    for (uint32_t i = 1; i < count && !*dup; i++)
        if (same_key(m[i - 1], m[i])) *dup = m[i];
    free(m);
    return true;
}

/* The member of the object at index obj whose key an earlier member has, in
 * *dup (NULL when none). Small objects compare pairwise; larger ones get
 * their table of keys (kept for tally_json_get) — or, when the keys collide
 * on purpose, no table (lookups go member by member) and a sort. False when
 * memory ran out. */
static bool find_duplicate_key(parser *ps, size_t obj, const tally_json **dup) {
    tally_json_doc *d = ps->doc;
    uint32_t count = d->nodes[obj].count;
    *dup = NULL;
    if (count < 2) return true;
    if (count <= SMALL_OBJECT) {
        const tally_json *nodes = d->nodes, *m[SMALL_OBJECT];
        size_t at = obj + 1;
        for (uint32_t i = 0; i < count; i++, at += nodes[at].span) {
            m[i] = &nodes[at];
            for (uint32_t j = 0; j < i; j++)
                if (same_key(m[i], m[j])) {
                    *dup = m[i];
                    return true;
                }
        }
        return true;
    }
    size_t slots = 16;
    while (slots < 2 * (size_t)count) slots *= 2;
    if (d->index_used + slots > d->index_cap) {
        size_t cap = d->index_cap ? d->index_cap : 256;
        while (cap < d->index_used + slots) cap *= 2;
        uint32_t *bigger = realloc(d->index, cap * sizeof *bigger);
        if (!bigger) return false;
        d->index = bigger;
        d->index_cap = cap;
    }
    uint32_t *table = d->index + d->index_used;
    memset(table, 0, slots * sizeof *table);
    const tally_json *nodes = d->nodes;
    size_t at = obj + 1;
    for (uint32_t i = 0; i < count; i++, at += nodes[at].span) {
        size_t h = key_hash(nodes[at].key, nodes[at].key_len) & (slots - 1), probes = 0;
        for (; table[h]; h = (h + 1) & (slots - 1)) {
            if (same_key(&nodes[obj + table[h]], &nodes[at])) {
                *dup = &nodes[at];
                return true;
            }
            if (++probes > MAX_PROBES) { /* chosen to collide: no table */
                d->nodes[obj].v.index.mask = 0;
                return sorted_duplicate(nodes, obj, dup);
            }
        }
        table[h] = (uint32_t)(at - obj);
    }
    d->nodes[obj].v.index.at = (uint32_t)d->index_used;
    d->nodes[obj].v.index.mask = (uint32_t)(slots - 1);
    d->index_used += slots;
    d->indexed++;
    return true;
}

/* Once parsing is over (no more realloc), point the tables at their slots. */
static void link_indexes(tally_json_doc *d) {
    for (size_t i = 0, seen = 0; seen < d->indexed && i < d->n; i++) {
        tally_json *v = &d->nodes[i];
        if (v->type == TALLY_JSON_OBJECT && v->count > SMALL_OBJECT && v->v.index.mask) {
            v->v.index.slots = d->index + v->v.index.at;
            seen++;
        }
    }
}

/* ---- values ---------------------------------------------------------------- */

static bool read_value(parser *ps, const char *key, size_t key_len);

static bool read_literal(parser *ps, long at, const char *word, size_t n, tally_json_type type) {
    const unsigned char *p = ps->p;
    size_t alpha = 0; /* jansson reads the whole run of letters, then compares */
    while (p + alpha < ps->end && ((p[alpha] | 0x20) >= 'a' && (p[alpha] | 0x20) <= 'z')) alpha++;
    if (alpha != n || memcmp(p, word, n) != 0) return fail_at(ps, p, false, "invalid token");
    ps->doc->nodes[at].type = (uint8_t)type;
    ps->p += n;
    return true;
}

static bool read_array(parser *ps, long at) {
    ps->p++; /* '[' */
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return true;
    }
    for (;;) {
        if (!read_value(ps, NULL, 0)) return false;
        ps->doc->nodes[at].count++;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return true;
        }
        return unexpected(ps, "']' expected");
    }
}

static bool read_object(parser *ps, long at) {
    ps->p++; /* '{' */
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return true;
    }
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != '"') return unexpected(ps, "string or '}' expected");
        const char *key;
        size_t key_len;
        if (!read_string(ps, &key, &key_len)) return false;
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != ':') return unexpected(ps, "':' expected");
        ps->p++;
        if (!read_value(ps, key, key_len)) return false;
        ps->doc->nodes[at].count++;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        return unexpected(ps, "'}' expected");
    }
    const tally_json *dup;
    if (!find_duplicate_key(ps, (size_t)at, &dup)) return out_of_memory(ps);
    if (dup) {
        char key[64];
        tally_text_quote(dup->key, dup->key_len, key, sizeof key, true);
        return fail_at(ps, ps->p - 1, false, "duplicate object key \"%s\"", key);
    }
    return true;
}

static bool read_value(parser *ps, const char *key, size_t key_len) {
    skip_space(ps);
    if (++ps->depth > TALLY_JSON_MAX_DEPTH)
        return fail_at(ps, ps->p, false, "maximum parsing depth reached");
    long at = new_node(ps, TALLY_JSON_NULL, key, key_len);
    if (at < 0) return out_of_memory(ps);
    bool ok;
    if (ps->p >= ps->end) return unexpected(ps, "unexpected token");
    switch (*ps->p) {
    case '{':
        ps->doc->nodes[at].type = TALLY_JSON_OBJECT;
        ok = read_object(ps, at);
        break;
    case '[':
        ps->doc->nodes[at].type = TALLY_JSON_ARRAY;
        ok = read_array(ps, at);
        break;
    case '"': {
        const char *s;
        size_t len;
        ok = read_string(ps, &s, &len);
        if (ok) {
            tally_json *v = &ps->doc->nodes[at];
            v->type = TALLY_JSON_STRING;
            v->v.str.s = s;
            v->v.str.len = len;
        }
        break;
    }
    case 't': ok = read_literal(ps, at, "true", 4, TALLY_JSON_TRUE); break;
    case 'f': ok = read_literal(ps, at, "false", 5, TALLY_JSON_FALSE); break;
    case 'n': ok = read_literal(ps, at, "null", 4, TALLY_JSON_NULL); break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            ok = read_number(ps, at);
        else
            ok = unexpected(ps, "unexpected token");
    }
    if (!ok) return false;
    ps->doc->nodes[at].span = (uint32_t)(ps->doc->n - (size_t)at);
    ps->depth--;
    return true;
}

/* ---- one spare document per thread ------------------------------------------ */

/* A decoder parses one event after another on each thread: the document of
 * the last one, once freed, is kept (up to SPARE_MAX bytes of buffers) and
 * its buffers serve the next parse on that thread, instead of three
 * allocations and frees per event. The thread's exit frees it. */
#define SPARE_MAX (256u << 10)

/* Under AddressSanitizer no document is kept: a caller reading an event after
 * tally_event_free must be caught, not served recycled memory. */
#if defined(__SANITIZE_ADDRESS__)
#define KEEP_SPARE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_SPARE 0
#endif
#endif
#ifndef KEEP_SPARE
#define KEEP_SPARE 1
#endif

static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static bool spare_ok;

static void release(tally_json_doc *d) {
    free(d->nodes);
    free(d->strings);
    free(d->index);
    free(d);
}

static void spare_destroy(void *d) { release(d); }

static void spare_init(void) { spare_ok = pthread_key_create(&spare_key, spare_destroy) == 0; }

/* A document with room for len bytes of strings and about a node per 16
 * bytes (nodes grow when needed), or NULL. */
static tally_json_doc *doc_for(size_t len) {
    pthread_once(&spare_once, spare_init);
    tally_json_doc *d = spare_ok ? pthread_getspecific(spare_key) : NULL;
    if (d)
        pthread_setspecific(spare_key, NULL);
    else if (!(d = calloc(1, sizeof *d)))
        return NULL;
    d->n = d->used = d->index_used = d->indexed = 0;
    size_t want_nodes = len / 16 + 16;
    if (d->cap < want_nodes) {
        free(d->nodes);
        d->cap = want_nodes;
        d->nodes = malloc(d->cap * sizeof *d->nodes);
    }
    if (d->strings_cap < len + 1) {
        free(d->strings);
        d->strings_cap = len + 1;
        d->strings = malloc(d->strings_cap);
    }
    if (!d->nodes || !d->strings) {
        release(d);
        return NULL;
    }
    return d;
}

/* ---- the public face ---------------------------------------------------------- */

tally_json_doc *tally_json_parse(const char *buf, size_t len, tally_json_error *err) {
    static const char empty[1] = "";
    if (!buf) buf = empty, len = 0;
    tally_json_error scratch;
    if (err) memset(err, 0, sizeof *err);
    tally_json_doc *d = doc_for(len);
    parser ps = {(const unsigned char *)buf,
                 (const unsigned char *)buf,
                 (const unsigned char *)buf + len,
                 d,
                 err ? err : &scratch,
                 0};
    if (!d) {
        out_of_memory(&ps);
        return NULL;
    }
    bool ok = read_value(&ps, NULL, 0);
    if (ok) {
        skip_space(&ps);
        if (ps.p < ps.end) ok = unexpected(&ps, "end of file expected");
    }
    if (!ok) {
        tally_json_free(d);
        return NULL;
    }
    if (d->indexed) link_indexes(d);
    return d;
}

void tally_json_free(tally_json_doc *doc) {
    if (!doc) return;
    bool small = doc->cap * sizeof *doc->nodes + doc->strings_cap +
                     doc->index_cap * sizeof *doc->index <=
                 SPARE_MAX;
    if (KEEP_SPARE && small && spare_ok && !pthread_getspecific(spare_key) &&
        pthread_setspecific(spare_key, doc) == 0)
        return;
    release(doc);
}

const tally_json *tally_json_root(const tally_json_doc *doc) {
    return doc && doc->n ? &doc->nodes[0] : NULL;
}

tally_json_type tally_json_typeof(const tally_json *v) {
    return v ? (tally_json_type)v->type : TALLY_JSON_NULL;
}

bool tally_json_is_null(const tally_json *v) { return v && v->type == TALLY_JSON_NULL; }
bool tally_json_is_bool(const tally_json *v) {
    return v && (v->type == TALLY_JSON_TRUE || v->type == TALLY_JSON_FALSE);
}
bool tally_json_is_integer(const tally_json *v) { return v && v->type == TALLY_JSON_INTEGER; }
bool tally_json_is_real(const tally_json *v) { return v && v->type == TALLY_JSON_REAL; }
bool tally_json_is_string(const tally_json *v) { return v && v->type == TALLY_JSON_STRING; }
bool tally_json_is_array(const tally_json *v) { return v && v->type == TALLY_JSON_ARRAY; }
bool tally_json_is_object(const tally_json *v) { return v && v->type == TALLY_JSON_OBJECT; }

bool tally_json_bool(const tally_json *v) { return v && v->type == TALLY_JSON_TRUE; }
long long tally_json_integer(const tally_json *v) { return tally_json_is_integer(v) ? v->v.i : 0; }
double tally_json_real(const tally_json *v) { return tally_json_is_real(v) ? v->v.d : 0.0; }
const char *tally_json_string(const tally_json *v) {
    return tally_json_is_string(v) ? v->v.str.s : NULL;
}
size_t tally_json_string_length(const tally_json *v) {
    return tally_json_is_string(v) ? v->v.str.len : 0;
}

size_t tally_json_size(const tally_json *c) {
    return tally_json_is_array(c) || tally_json_is_object(c) ? c->count : 0;
}

const tally_json *tally_json_first(const tally_json *c) {
    return tally_json_size(c) ? c + 1 : NULL;
}

const tally_json *tally_json_next(const tally_json *c, const tally_json *child) {
    if (!c || !child) return NULL;
    const tally_json *next = child + child->span;
    return next < c + c->span ? next : NULL;
}

const tally_json *tally_json_get(const tally_json *obj, const char *key) {
    if (!tally_json_is_object(obj) || !key) return NULL;
    size_t n = strlen(key);
    if (obj->count > SMALL_OBJECT && obj->v.index.mask) {
        const uint32_t *slots = obj->v.index.slots;
        for (size_t h = key_hash(key, n) & obj->v.index.mask; slots[h];
             h = (h + 1) & obj->v.index.mask) {
            const tally_json *m = obj + slots[h];
            if (m->key_len == n && memcmp(m->key, key, n) == 0) return m;
        }
        return NULL;
    }
    const tally_json *end = obj + obj->span;
    for (const tally_json *m = obj + 1; m < end; m += m->span)
        if (m->key_len == n && m->key[0] == key[0] && memcmp(m->key, key, n) == 0) return m;
    return NULL;
}

const char *tally_json_key(const tally_json *member) { return member ? member->key : NULL; }

size_t tally_json_key_length(const tally_json *member) { return member ? member->key_len : 0; }
