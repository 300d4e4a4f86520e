/*
 * common/tally_json: the fast JSON reader held to its one promise, input by
 * input, against jansson. The promise (tally_common.h): tally_json_parse
 * accepts exactly what
 *
 *     json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err)
 *
 * accepts, and yields the same tree: the same types (integer vs real), the
 * same integers, bitwise the same doubles, the same string bytes and lengths,
 * the same keys in the same order, the same elements in order. The event
 * decoder swaps one for the other, so any difference is a behaviour change
 * for every producer of events.
 *
 * jansson is the reference, with one difference on purpose: jansson drops
 * one NUL byte that directly follows a number or a literal, so it accepts
 * "1\0", "true\0" and "[1\0]" (but not "\0", "1\0\0" or "\"a\"\0").
 * tally_json refuses every text holding a NUL byte: JSON has no place for
 * one, and an event carrying one is garbage to dead-letter, not to count.
 * agree() counts those inputs apart ("NUL refused") and fails if tally_json
 * ever accepts a text with a NUL byte.
 *
 * Every input goes through agree(), which parses it with both readers and
 * counts these kinds of problem, each printed with the input (as a C string
 * literal, ready to paste into the table below):
 *   acceptance    one reader accepts and the other refuses;
 *   tree          both accept but the trees differ (where and how is shown);
 *   error report  tally_json refuses without line >= 1, column >= 1,
 *                 position <= len and a text;
 *   fault kind    tally_json's invalid_utf8 is set on a text that is valid
 *                 UTF-8, or is not set when bad UTF-8 is the text's only
 *                 fault (with '?' for each bad byte, jansson accepts it).
 *                 The decoder words the two differently ("invalid UTF-8 at
 *                 byte" / "invalid JSON"), as the fixtures' .expect files
 *                 show. When a text has both kinds of fault, which one is
 *                 "first" depends on how far a reader looks ahead (jansson
 *                 reads a whole token, "tru\xFF", or a whole string,
 *                 "\"\\uD800\xFF\"", before it judges it); those texts are
 *                 only counted ("first faults differ"), and printed with
 *                 TALLY_TEST_VERBOSE=1, which also prints every problem.
 *   table         (the table and the sweeps) jansson's verdict is not the
 *                 one written down: this test's idea of jansson is wrong.
 *
 * The inputs: a hand-written table of edge cases (each with jansson's own
 * verdict, which is checked too, so the table documents jansson), generated
 * sweeps (every byte, every \u escape, surrogate pairs, UTF-8 lead bytes,
 * nesting depths around TALLY_JSON_MAX_DEPTH, long texts, numbers near the
 * limits of long long and double, random numbers), every fixture event, and
 * 20 000 deterministic random mutations of events and edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tally_common.h"

#define JANSSON_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)
#define EVENTS_DIR TALLY_FIXTURES "/events"
#define MUTATIONS 20000

/* ---- growable bytes ---------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} bytes;

static void add(bytes *b, const void *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap) cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void adds(bytes *b, const char *s) { add(b, s, strlen(s)); }

static void addc(bytes *b, unsigned char c) { add(b, &c, 1); }

static void addrep(bytes *b, const char *s, size_t times) {
    for (size_t i = 0; i < times; i++) adds(b, s);
}

static void addf(bytes *b, const char *fmt, ...) CMOCKA_PRINTF_ATTRIBUTE(2, 3);
static void addf(bytes *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    add(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void reset(bytes *b) {
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

/* ---- showing inputs ----------------------------------------------------- */

static bool hexdigit(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* s as the inside of a C string literal: "\xC3" "A" never runs together. */
static void quote_into(bytes *out, const char *s, size_t len) {
    bool after_hex = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (after_hex && hexdigit(c)) adds(out, "\" \"");
        after_hex = false;
        switch (c) {
        case '"': adds(out, "\\\""); break;
        case '\\': adds(out, "\\\\"); break;
        case '\n': adds(out, "\\n"); break;
        case '\r': adds(out, "\\r"); break;
        case '\t': adds(out, "\\t"); break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                addc(out, c);
            } else {
                addf(out, "\\x%02X", c);
                after_hex = true;
            }
        }
    }
}

/* The input as a C literal; a long one as its head and tail. */
static const char *quoted(bytes *out, const char *s, size_t len) {
    reset(out);
    adds(out, "\"");
    if (len <= 480) {
        quote_into(out, s, len);
    } else {
        quote_into(out, s, 240);
        addf(out, "\" ...%zu bytes... \"", len - 240 - 160);
        quote_into(out, s + len - 160, 160);
    }
    adds(out, "\"");
    return out->p;
}

/* ---- same_tree ------------------------------------------------------------ */

/* Why the last same_tree said no, and where ("$.data.attachments[1]"). */
static char why[512];
static char where[512];

static bool differ(const char *fmt, ...) CMOCKA_PRINTF_ATTRIBUTE(1, 2);
static bool differ(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    where[0] = '\0';
    return false;
}

/* Prepends one step of the path as same_tree unwinds. */
static void blame(const char *step) {
    size_t n = strlen(step), m = strlen(where);
    if (n + m + 1 > sizeof where) return;
    memmove(where + n, where, m + 1);
    memcpy(where, step, n);
}

static const char *type_name(tally_json_type t) {
    switch (t) {
    case TALLY_JSON_NULL: return "null";
    case TALLY_JSON_FALSE: return "false";
    case TALLY_JSON_TRUE: return "true";
    case TALLY_JSON_INTEGER: return "integer";
    case TALLY_JSON_REAL: return "real";
    case TALLY_JSON_STRING: return "string";
    case TALLY_JSON_ARRAY: return "array";
    case TALLY_JSON_OBJECT: return "object";
    }
    return "(not a type)";
}

static tally_json_type type_in_jansson(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_NULL: return TALLY_JSON_NULL;
    case JSON_FALSE: return TALLY_JSON_FALSE;
    case JSON_TRUE: return TALLY_JSON_TRUE;
    case JSON_INTEGER: return TALLY_JSON_INTEGER;
    case JSON_REAL: return TALLY_JSON_REAL;
    case JSON_STRING: return TALLY_JSON_STRING;
    case JSON_ARRAY: return TALLY_JSON_ARRAY;
    case JSON_OBJECT: return TALLY_JSON_OBJECT;
    }
    fail_msg("jansson gave a node of no known type");
    return TALLY_JSON_NULL;
}

/* The tally_json_is_* tests say what tally_json_typeof says. */
static bool predicates_say(const tally_json *t, tally_json_type want) {
    return tally_json_is_null(t) == (want == TALLY_JSON_NULL) &&
           tally_json_is_bool(t) == (want == TALLY_JSON_TRUE || want == TALLY_JSON_FALSE) &&
           tally_json_is_integer(t) == (want == TALLY_JSON_INTEGER) &&
           tally_json_is_real(t) == (want == TALLY_JSON_REAL) &&
           tally_json_is_string(t) == (want == TALLY_JSON_STRING) &&
           tally_json_is_array(t) == (want == TALLY_JSON_ARRAY) &&
           tally_json_is_object(t) == (want == TALLY_JSON_OBJECT);
}

/* Same bytes, same length, and tally_json's copy NUL-terminated. */
static bool same_bytes(const char *what, const char *j, size_t jlen, const char *t, size_t tlen) {
    if (!t) return differ("%s: tally_json gives NULL", what);
    if (jlen == tlen && memcmp(j, t, jlen) == 0 && t[tlen] == '\0') return true;
    bytes a = {0}, b = {0};
    differ("%s: jansson %s (%zu bytes), tally_json %s (%zu bytes%s)", what, quoted(&a, j, jlen),
           jlen, quoted(&b, t, tlen), tlen, t[tlen] == '\0' ? "" : ", not NUL-terminated");
    free(a.p);
    free(b.p);
    return false;
}

static bool same_tree(const json_t *j, const tally_json *t);

static bool same_array(const json_t *j, const tally_json *t) {
    size_t n = json_array_size(j);
    if (tally_json_size(t) != n)
        return differ("array of %zu elements, tally_json_size says %zu", n, tally_json_size(t));
    const tally_json *c = tally_json_first(t);
    for (size_t i = 0; i < n; i++) {
        char step[32];
        snprintf(step, sizeof step, "[%zu]", i);
        if (!c) {
            differ("tally_json_first/next end after %zu of %zu elements", i, n);
            blame(step);
            return false;
        }
        if (!same_tree(json_array_get(j, i), c)) {
            blame(step);
            return false;
        }
        c = tally_json_next(t, c);
    }
    if (c) return differ("tally_json_first/next go on past the %zu elements", n);
    return true;
}

static bool same_object(const json_t *j, const tally_json *t) {
    size_t n = json_object_size(j);
    if (tally_json_size(t) != n)
        return differ("object of %zu members, tally_json_size says %zu", n, tally_json_size(t));
    const tally_json *m = tally_json_first(t);
    const char *key;
    size_t key_len, i = 0;
    json_t *value;
    json_object_keylen_foreach((json_t *)j, key, key_len, value) {
        bytes step = {0};
        adds(&step, ".\"");
        quote_into(&step, key, key_len < 40 ? key_len : 40);
        adds(&step, "\"");
        bool ok;
        if (!m) {
            ok = differ("tally_json_first/next end after %zu of %zu members", i, n);
        } else if (!same_bytes("key", key, key_len, tally_json_key(m), tally_json_key_length(m))) {
            ok = false;
        } else if (tally_json_get(t, key) != m) {
            ok = differ("tally_json_get does not find member %zu by its key", i);
        } else {
            ok = same_tree(value, m);
        }
        if (!ok) blame(step.p);
        free(step.p);
        if (!ok) return false;
        m = tally_json_next(t, m);
        i++;
    }
    if (m) return differ("tally_json_first/next go on past the %zu members", n);
    return true;
}

/* Whether tally_json's t is jansson's j, recursively; if not, why and where. */
static bool same_tree(const json_t *j, const tally_json *t) {
    tally_json_type want = type_in_jansson(j);
    if (!t) return differ("jansson has %s, tally_json a NULL node", type_name(want));
    tally_json_type got = tally_json_typeof(t);
    if (got != want)
        return differ("jansson has %s, tally_json %s", type_name(want), type_name(got));
    if (!predicates_say(t, want))
        return differ("tally_json_typeof says %s, the tally_json_is_* tests do not",
                      type_name(want));
    switch (want) {
    case TALLY_JSON_NULL: return true;
    case TALLY_JSON_FALSE:
    case TALLY_JSON_TRUE:
        if (tally_json_bool(t) != (want == TALLY_JSON_TRUE))
            return differ("%s, but tally_json_bool says otherwise", type_name(want));
        return true;
    case TALLY_JSON_INTEGER:
        if (tally_json_integer(t) != json_integer_value(j))
            return differ("integer: jansson %lld, tally_json %lld",
                          (long long)json_integer_value(j), tally_json_integer(t));
        return true;
    case TALLY_JSON_REAL: {
        double a = json_real_value(j), b = tally_json_real(t);
        if (memcmp(&a, &b, sizeof a) != 0)
            return differ("real: jansson %.17g (%a), tally_json %.17g (%a)", a, a, b, b);
        return true;
    }
    case TALLY_JSON_STRING:
        return same_bytes("string", json_string_value(j), json_string_length(j),
                          tally_json_string(t), tally_json_string_length(t));
    case TALLY_JSON_ARRAY: return same_array(j, t);
    case TALLY_JSON_OBJECT: return same_object(j, t);
    }
    return false;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_valid_at(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned long cp, least;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, least = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, least = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, least = 0x10000;
    else
        return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < least || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* buf with '?' for each byte that starts no valid sequence; false when there
 * was none. */
static bool repair_utf8(const char *buf, size_t len, bytes *out) {
    bool repaired = false;
    reset(out);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_valid_at((const unsigned char *)buf + i, len - i);
        if (n) {
            add(out, buf + i, n);
            i += n;
        } else {
            adds(out, "?");
            repaired = true;
            i++;
        }
    }
    return repaired;
}

static bool verbose(void) { return getenv("TALLY_TEST_VERBOSE") != NULL; }

/* ---- agree ---------------------------------------------------------------- */

enum { ACCEPTANCE, TREE, ERROR_REPORT, FAULT_KIND, TABLE, KINDS };
static const char *const kind_names[KINDS] = {
    "acceptance", "tree", "error report", "fault kind", "table (jansson's verdict)",
};

/* One run over a set of inputs: what it saw and what went wrong. */
typedef struct {
    const char *name;
    size_t inputs, accepted;
    size_t problems[KINDS];
    size_t first_faults_differ; /* both kinds of fault; see the top */
    size_t nul_refused;         /* jansson skips the NUL, tally_json refuses */
    size_t shown, show_max;
    char context[160]; /* e.g. which mutation; printed with a problem */
} pass;

static void problem(pass *p, int kind, const char *buf, size_t len, const char *fmt, ...)
    CMOCKA_PRINTF_ATTRIBUTE(5, 6);
static void problem(pass *p, int kind, const char *buf, size_t len, const char *fmt, ...) {
    p->problems[kind]++;
    if (p->shown++ >= p->show_max && !verbose()) return;
    char detail[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    bytes q = {0};
    print_error("%s: %s%s%s: %s (%zu bytes)\n    %s\n", p->name, kind_names[kind],
                p->context[0] ? ", " : "", p->context, quoted(&q, buf, len), len, detail);
    free(q.p);
}

/* For a text both refuse: is tally_json's invalid_utf8 right? (See the top.) */
static void fault_kind(pass *p, const char *buf, size_t len, const json_error_t *jerr,
                       const tally_json_error *terr) {
    bool jansson_utf8 = json_error_code(jerr) == json_error_invalid_utf8;
    char both[600];
    snprintf(both, sizeof both, "jansson: %s (byte %d: %s); tally_json: %s (byte %zu: %.160s)",
             jansson_utf8 ? "invalid UTF-8" : "another fault", jerr->position, jerr->text,
             terr->invalid_utf8 ? "invalid_utf8" : "not invalid_utf8", terr->position, terr->text);
    bytes fixed = {0};
    if (!repair_utf8(buf, len, &fixed)) {
        if (jansson_utf8)
            problem(p, FAULT_KIND, buf, len, "this test calls it valid UTF-8, jansson does not");
        else if (terr->invalid_utf8)
            problem(p, FAULT_KIND, buf, len, "invalid_utf8 set on valid UTF-8: %s", both);
    } else {
        json_t *j = json_loadb(fixed.p, fixed.len, JANSSON_FLAGS, NULL);
        if (j && !jansson_utf8)
            problem(p, FAULT_KIND, buf, len, "this test calls bad UTF-8 its only fault: %s", both);
        else if (j && !terr->invalid_utf8)
            problem(p, FAULT_KIND, buf, len,
                    "bad UTF-8 is its only fault, but invalid_utf8 is not set: %s", both);
        else if (!j && terr->invalid_utf8 != jansson_utf8) {
            p->first_faults_differ++;
            if (verbose()) {
                bytes q = {0};
                print_message("%s: first faults differ%s%s: %s (%zu bytes)\n    %s\n", p->name,
                              p->context[0] ? ", " : "", p->context, quoted(&q, buf, len), len,
                              both);
                free(q.p);
            }
        }
        json_decref(j);
    }
    free(fixed.p);
}

/* Parses buf with both readers and records any disagreement. Returns whether
 * jansson accepted it. */
static bool agree(pass *p, const char *buf, size_t len) {
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JANSSON_FLAGS, &jerr);
    tally_json_error terr;
    memset(&terr, 0, sizeof terr);
    tally_json_doc *doc = tally_json_parse(buf, len, &terr);
    p->inputs++;
    if (j) p->accepted++;

    bool has_nul = memchr(buf, '\0', len) != NULL;
    if (j && !doc && has_nul) {
        p->nul_refused++; /* jansson's quirk, refused on purpose (see the top) */
    } else if (doc && has_nul) {
        problem(p, ACCEPTANCE, buf, len, "tally_json accepts a text holding a NUL byte");
    } else if (j && !doc) {
        problem(p, ACCEPTANCE, buf, len,
                "jansson accepts (%s), tally_json refuses: line %d, column %d, byte %zu: %.160s",
                type_name(type_in_jansson(j)), terr.line, terr.column, terr.position, terr.text);
    } else if (!j && doc) {
        problem(p, ACCEPTANCE, buf, len,
                "jansson refuses (line %d, column %d, byte %d: %s), tally_json accepts (%s)",
                jerr.line, jerr.column, jerr.position, jerr.text,
                type_name(tally_json_typeof(tally_json_root(doc))));
    } else if (j) {
        if (!same_tree(j, tally_json_root(doc)))
            problem(p, TREE, buf, len, "at $%s: %s", where, why);
    } else {
        if (terr.line < 1 || terr.column < 1 || terr.position > len || terr.text[0] == '\0' ||
            !memchr(terr.text, '\0', sizeof terr.text))
            problem(p, ERROR_REPORT, buf, len, "line %d, column %d, byte %zu, text \"%.160s\"",
                    terr.line, terr.column, terr.position, terr.text);
        fault_kind(p, buf, len, &jerr, &terr);
    }
    json_decref(j);
    if (doc) tally_json_free(doc);
    return j != NULL;
}

/* What a table entry or a generated case says jansson does with it. */
typedef enum { REFUSE, ACCEPT, EITHER } verdict;

/* agree(), and jansson's verdict as expected (so a wrong table shows). */
static void expect(pass *p, const char *buf, size_t len, verdict v) {
    bool accepted = agree(p, buf, len);
    if (v != EITHER && accepted != (v == ACCEPT))
        problem(p, TABLE, buf, len, "the table says jansson %s it, jansson %s it",
                v == ACCEPT ? "accepts" : "refuses", accepted ? "accepts" : "refuses");
}

static void expect_bytes(pass *p, const bytes *b, verdict v) { expect(p, b->p, b->len, v); }

/* Prints the totals and fails on any problem. */
static void finish(pass *p) {
    size_t total = 0;
    for (int k = 0; k < KINDS; k++) total += p->problems[k];
    print_message("%s: %zu inputs, %zu accepted by jansson; problems: %zu acceptance, %zu tree, "
                  "%zu error report, %zu fault kind, %zu table; first faults differ in %zu "
                  "(not counted); NUL refused on purpose in %zu\n",
                  p->name, p->inputs, p->accepted, p->problems[ACCEPTANCE], p->problems[TREE],
                  p->problems[ERROR_REPORT], p->problems[FAULT_KIND], p->problems[TABLE],
                  p->first_faults_differ, p->nul_refused);
    if (total)
        fail_msg("%s: %zu problems (the first %zu printed above)", p->name, total,
                 p->show_max < total ? p->show_max : total);
}

/* ---- the hand-written edge cases ------------------------------------------ */

typedef struct {
    const char *text;
    size_t len; /* the literal's length: embedded NULs count */
    verdict jansson;
} edge;

/* Grouped by hand, several to a line. */
/* clang-format off */
#define OK(s) {s, sizeof(s) - 1, ACCEPT}
#define NO(s) {s, sizeof(s) - 1, REFUSE}
static const edge edges[] = {
    /* literals */
    OK("null"), OK("true"), OK("false"),
    NO("nul"), NO("nulll"), NO("NULL"), NO("Null"), NO("True"), NO("FALSE"), NO("tru"),
    NO("truex"), NO("true1"), NO("falsey"), NO("fals"), NO("undefined"), NO("nil"), NO("t"),
    NO("n"), NO("[truefalse]"), NO("[true false]"), OK("[true,false,null]"), NO("[tru]"),
    NO("{\"a\":nul}"), NO("t\"rue\""),

    /* whitespace: only space, tab, CR and LF */
    OK(" 1"), OK("1 "), OK("\t1\t"), OK("\r\n1\r\n"), OK("\n\n\n1"),
    OK(" \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n"), OK("{ \"a\" : 1 , \"b\" :\n2 }"),
    OK("{\r\n\t\"a\"\r\n:\r\n[\r\n]\r\n}"),
    NO("\f1"), NO("1\f"), NO("\v1"), NO("1\v"), NO("[1,\v2]"), NO("{\"a\":\f1}"),
    NO("\xc2\xa0" "1"), NO("1\xc2\xa0"), NO("[1,\xc2\xa0" "2]"), NO("\xe2\x80\x8b" "1"),
    NO("\xe3\x80\x80" "1"), NO("\xe2\x80\xa8" "1"), NO("\x1c" "1"), NO("\x85" "1"),

    /* a UTF-8 byte order mark is no whitespace */
    NO("\xef\xbb\xbf{}"), NO("\xef\xbb\xbf" "1"), NO("\xef\xbb\xbf"), NO("\xfe\xff{}"),
    NO("{}\xef\xbb\xbf"),

    /* nothing, or not one value */
    NO(""), NO(" "), NO("\n"), NO(" \t\r\n"), NO("1 2"), NO("{} {}"), NO("{}{}"), NO("[] []"),
    NO("{}x"), NO("[]]"), NO("{}}"), NO("1,"), NO("1,2"), NO("\"a\"\"b\""), NO("\"a\" \"b\""),
    NO("null null"), NO("[1]x"), NO("{\"a\":1}garbage"), NO("1 /* c */"), NO("// c\n1"),
    NO("# c\n1"), NO("/**/1"), NO(","), NO(":"), NO("]"), NO("}"), NO("1]"), NO("\"a\":1"),

    /* numbers */
    OK("0"), OK("-0"), OK("1"), OK("-1"), OK("123"), OK("-123"), OK("10"), OK("100"),
    NO("01"), NO("-01"), NO("00"), NO("-00"), NO("012"), NO("01.5"), NO("00.5"),
    NO("1."), NO("-1."), NO("0."), NO("-0."), NO(".5"), NO("-.5"), NO(".e1"), NO("0.e1"),
    NO("1.e5"), NO("1e"), NO("1e+"), NO("1e-"), NO("1E"), NO("1E+"), NO("1e5."), NO("1e1.5"),
    NO("1.5.5"), NO("1e5e5"), NO("1ee5"), NO("1e+-5"), NO("1e--5"), NO("- 1"), NO("1 .5"),
    NO("-"), NO("--1"), NO("+1"), NO("+0"), NO("+"), NO("0x10"), NO("0X10"), NO("0b1"),
    NO("0o7"), NO("1_000"), NO("1,5"), NO("1.5f"), NO("1L"), NO("1d"), NO("1e5x"),
    OK("1E5"), OK("1e5"), OK("1e+5"), OK("1e-5"), OK("1E+0"), OK("1e-0"), OK("0e0"),
    OK("-0e-0"), OK("0E-1"), OK("0e+1"), OK("1e05"), OK("1e-007"), OK("1e0000000000000001"),
    OK("0.0"), OK("-0.0"), OK("1.5"), OK("-1.5"), OK("1.0e+2"), OK("-1.5e300"),
    OK("1.5E-300"), OK("1e308"), NO("1e309"), NO("-1e309"), NO("1e400"), NO("1e99999"),
    NO("1e99999999999999999999"), OK("0e99999999999"), OK("0.0e99999"), OK("0e-99999"),
    OK("1e-400"), OK("-1e-400"), OK("1e-324"), OK("1e-99999999999999999999"),
    OK("5e-324"), OK("4.9406564584124654e-324"), OK("2.4703282292062327e-324"),
    OK("2.4703282292062328e-324"), OK("2.2250738585072011e-308"),
    OK("2.2250738585072012e-308"), OK("2.2250738585072014e-308"),
    OK("1.7976931348623157e308"), OK("1.7976931348623158e308"), NO("1.7976931348623159e308"),
    NO("-1.7976931348623159e308"), OK("179769313486231570000000000000000000000000000000e260"),
    OK("0.1"), OK("0.2"), OK("0.3"), OK("1e23"), OK("8.98846567431158e307"), OK("4.35"),
    OK("2.675"), OK("1e-7"), OK("123456.789e-3"), OK("3.141592653589793238462643383279502884197"),
    OK("123456789012345678901234567890.0"), OK("0.000000000000000000000000000000000000001"),
    OK("9007199254740992.0"), OK("9007199254740993.0"), OK("9007199254740993.0000000000000000001"),
    OK("9007199254740992.5"), OK("9007199254740995.0"),
    OK("1.00000000000000011102230246251565404236316680908203125"),
    OK("1.00000000000000011102230246251565404236316680908203126"),
    OK("1.00000000000000011102230246251565404236316680908203124"),
    OK("9223372036854776832.0"), OK("9223372036854776833.0"), OK("9223372036854775807.0"),
    OK("9223372036854775807"), NO("9223372036854775808"), OK("-9223372036854775808"),
    NO("-9223372036854775809"), NO("9223372036854776832"), OK("9223372036854775808.0"),
    OK("9223372036854775808e0"), OK("-9223372036854775809.5"), NO("99999999999999999999"),
    NO("-99999999999999999999"), NO("123456789012345678901234567890"),
    OK("9007199254740993"), OK("-9007199254740993"), OK("4294967296"), OK("-2147483649"),
    NO("NaN"), NO("-NaN"), NO("nan"), NO("Infinity"), NO("-Infinity"), NO("inf"), NO("-inf"),
    NO("[NaN]"), NO("{\"a\":Infinity}"), NO("\xd9\xa1"), NO("\xef\xbc\x91"),
    OK("[0,-0,1.0,-1e-2]"), OK("[1e1,1E1,1e+1,1e-1]"), NO("[01]"), NO("[1.]"), NO("[-]"),
    NO("[.1]"), NO("{\"a\":01}"), NO("[1e309]"), NO("{\"a\":9223372036854775808}"),
    OK("{\"a\":-9223372036854775808,\"b\":9223372036854775807}"),

    /* NUL bytes outside strings: jansson drops one right after a number or literal */
    OK("1\0"), OK("0\0"), OK("-1.5e3\0"), OK("true\0"), OK("false\0"), OK("null\0"),
    OK("[1\0]"), OK("[true\0,false\0]"), OK("{\"a\":1\0}"), OK("0\0 "), OK("1\0\n"),
    NO("1\0\0"), NO("1\0x"), NO("1\0" "2"), NO("\0"), NO("\0" "1"), NO(" \0"), NO("\0 1"),
    NO("[\0" "1]"), NO("{\0}"), NO("\"a\"\0"), NO("[]\0"), NO("{}\0"), NO("[1,\0" "2]"),
    NO("{\"a\"\0:1}"), NO("{\"a\":\0" "1}"), NO("1.\0"), NO("1e\0"), NO("-\0"), NO("t\0rue"),
    NO("[1]\0"), NO("\0[1]"),

    /* strings: escapes */
    OK("\"\""), OK("\"a\""), OK("\" \""), OK("\"\\\"\""), OK("\"\\\\\""), OK("\"\\/\""),
    OK("\"/\""), OK("\"\\b\\f\\n\\r\\t\""), OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""),
    OK("\"a\\nb\""), OK("\"\\\\n\""), OK("\"\\\\\\\\\""),
    NO("\"\\x41\""), NO("\"\\U0041\""), NO("\"\\'\""), NO("\"\\a\""), NO("\"\\v\""),
    NO("\"\\0\""), NO("\"\\ \""), NO("\"\\\n\""), NO("\"\\e\""), NO("\"\\N\""), NO("\"\\B\""),
    NO("\"\\F\""), NO("\"\\\xc3\xa9\""), NO("\"\\"), NO("\"\\\\\\\""), NO("\"\\\""),

    /* strings: \u escapes */
    OK("\"\\u0041\""), OK("\"\\u00e9\""), OK("\"\\u00E9\""), OK("\"\\u20AC\""),
    OK("\"\\u20ac\""), OK("\"\\uAbCd\""), OK("\"\\u0001\""), OK("\"\\u001f\""),
    OK("\"\\u007f\""), OK("\"\\u0080\""), OK("\"\\u07ff\""), OK("\"\\u0800\""),
    OK("\"\\uFFFF\""), OK("\"\\uFEFF\""), OK("\"\\uFFFE\""), OK("\"\\uD7FF\""),
    OK("\"\\uE000\""), OK("\"\\u0022\""), OK("\"\\u005c\""), OK("\"a\\u0062c\""),
    OK("\"\\uD83D\\uDE00\""), OK("\"\\ud83d\\ude00\""), OK("\"\\uD800\\uDC00\""),
    OK("\"\\uDBFF\\uDFFF\""), OK("\"x\\uD83D\\uDE00y\""), OK("\"\\uD83D\\uDE00\\uD83D\\uDE00\""),
    NO("\"\\uD800\""), NO("\"\\uDBFF\""), NO("\"\\uDC00\""), NO("\"\\uDFFF\""),
    NO("\"\\uD800x\""), NO("\"\\uD800\\n\""), NO("\"\\uD800\\u0041\""), NO("\"\\uD800\\uD800\""),
    NO("\"\\uD800\\uE000\""), NO("\"\\uDC00\\uD800\""), NO("\"\\uD800\\\""), NO("\"\\uD800\\u\""),
    NO("\"\\uD800\\uDC0\""), NO("\"\\uD800\\uDCxx\""), NO("\"\\uD83D\xf0\x9f\x98\x80\""),
    NO("\"\\u0000\""), NO("\"a\\u0000b\""), NO("[\"\\u0000\"]"), NO("{\"\\u0000\":1}"),
    NO("{\"a\\u0000\":1}"), NO("{\"a\":\"\\u0000\"}"), NO("\"\\u0000\\u0000\""),
    NO("\"\\u\""), NO("\"\\u1\""), NO("\"\\u12\""), NO("\"\\u123\""), NO("\"\\u12G4\""),
    NO("\"\\u-123\""), NO("\"\\u 123\""), NO("\"\\u+123\""), NO("\"\\u0x12\""), NO("\"\\u00"),
    NO("\"\\u00e\""), NO("\"\\U00e9\""),

    /* strings: raw bytes */
    OK("\"\x7f\""), OK("\"a\x7f" "b\""), NO("\"\x01\""), NO("\"\x1f\""), NO("\"a\tb\""),
    NO("\"\n\""), NO("\"a\nb\""), NO("\"\r\""), NO("\"\0\""), NO("\"a\0b\""), NO("\"\x1b[0m\""),

    /* strings: unterminated or quoted wrong */
    NO("\""), NO("\"abc"), NO("\"abc\\\""), NO("[\"abc]"), NO("{\"a"), NO("{\"a\":\"b}"),
    NO("'a'"), NO("[\"a\",'b']"), NO("\"a\"\""), NO("`a`"), NO("\xe2\x80\x9c" "a\xe2\x80\x9d"),

    /* strings: valid UTF-8 */
    OK("\"\xc2\x80\""), OK("\"\xc3\xa9\""), OK("\"\xdf\xbf\""), OK("\"\xe0\xa0\x80\""),
    OK("\"\xe2\x82\xac\""), OK("\"\xed\x9f\xbf\""), OK("\"\xee\x80\x80\""), OK("\"\xef\xbf\xbf\""),
    OK("\"\xef\xbb\xbf\""), OK("\"\xf0\x90\x80\x80\""), OK("\"\xf0\x9f\x98\x80\""),
    OK("\"\xf4\x8f\xbf\xbf\""), OK("\"S\xc3\xa3o Paulo \xe2\x9c\x93 \xf0\x9f\xa4\x96\""),
    OK("\"\xc2\x85\""), OK("\"\xe2\x80\xa8\xe2\x80\xa9\""), OK("\"\xc3\xa9\\u00e9\""),

    /* strings: invalid UTF-8 (overlong, surrogates, too big, cut short, stray) */
    NO("\"\xc0\x80\""), NO("\"\xc0\xaf\""), NO("\"\xc1\xbf\""), NO("\"\xe0\x80\x80\""),
    NO("\"\xe0\x9f\xbf\""), NO("\"\xf0\x80\x80\x80\""), NO("\"\xf0\x8f\xbf\xbf\""),
    NO("\"\xed\xa0\x80\""), NO("\"\xed\xbf\xbf\""), NO("\"\xed\xa0\xbd\xed\xb8\x80\""),
    NO("\"\xf4\x90\x80\x80\""), NO("\"\xf7\xbf\xbf\xbf\""), NO("\"\xf5\x80\x80\x80\""),
    NO("\"\xf8\x88\x80\x80\x80\""), NO("\"\xfc\x84\x80\x80\x80\x80\""), NO("\"\xfe\""),
    NO("\"\xff\""), NO("\"\xf5\""), NO("\"\xc0\""), NO("\"\xc1\""),
    NO("\"\xc3\""), NO("\"\xe2\x82\""), NO("\"\xf0\x9f\x98\""), NO("\"\xc3"), NO("\"\xe2\x82"),
    NO("\"\xf0\x9f\x98"), NO("\"\xc3" "a\""), NO("\"\xe2" "a\xac\""), NO("\"\xe2\x82" "a\""),
    NO("\"\xf0\x9f\x98" "a\""), NO("\"\xc3\xc3\xa9\""), NO("\"\x80\""), NO("\"\xbf\""),
    NO("\"a\x80" "b\""), NO("\"\xc3\xa9\xa9\""), NO("\"\xc3(\""),

    /* invalid UTF-8 outside strings, and valid UTF-8 where no text may be */
    NO("\x80"), NO("[\x80]"), NO("\xff"), NO("[1,\xff]"), NO("{\xff}"), NO("1\xff"),
    NO("true\xff"), NO("[\"a\"\xff]"), NO("\xc3"), NO("\xc3\xa9"), NO("[\xc3\xa9]"),
    NO("{\"a\":\xc3\xa9}"), NO("\xed\xa0\x80"),

    /* keys: UTF-8 and escapes */
    OK("{\"\xc3\xa9\":1}"), OK("{\"\xf0\x9f\x98\x80\":\"\xf0\x9f\x98\x80\"}"),
    OK("{\"\\u00e9\":1,\"e\":2}"), OK("{\"\\n\":1,\"n\":2}"), OK("{\"\\\"\":1,\"\\\\\":2}"),
    OK("{\"\\uD83D\\uDE00\":1}"),
    NO("{\"\xff\":1}"), NO("{\"a\xc3\":1}"), NO("{\"\xed\xa0\x80\":1}"), NO("{\"\xc0\x80\":1}"),
    NO("{\"\\uDC00\":1}"), NO("{\"\\x\":1}"), NO("{\"a\nb\":1}"),

    /* where faults of both kinds meet: the first one read counts */
    NO("\"\\uD800\xff\""), NO("\"\\u0000\xff\""), NO("{\"a\":1,\"a\":\xff}"), NO("[1,]\xff"),
    NO("\"\\x\xff\""), NO("{\"a\"\xff:1}"), NO("[1 2 \xff]"), NO("\xff[1,]"), NO("[1,\xff,]"),
    NO("\"\\uDC00\xc3\xa9\xff\""), NO("{\"a\":1,\"a\":\"\xff\"}"), NO("{\"a\":1,\"a\xff\":2}"),
    NO("\"\x01\xff\""), NO("\"\xff\x01\""), NO("01\xff"), NO("1e\xff"), NO("1.\xff"),
    NO("tru\xff"), NO("[1\xff]"),

    /* objects */
    OK("{}"), OK("{ }"), OK("{\"a\":1}"), OK("{\"a\":{}}"), OK("{\"a\":{\"b\":{\"c\":[]}}}"),
    OK("{\"\":1}"), OK("{\"\":\"\"}"), OK("{\"a\":1,\"b\":2,\"c\":3}"),
    OK("{\"z\":1,\"a\":2,\"m\":3}"), OK("{\"b\":1,\"a\":{\"d\":1,\"c\":2}}"),
    OK("{\"a\":1,\"A\":2}"), OK("{\"a\":1,\"a \":2}"), OK("{\"a\":1,\"ab\":2}"),
    OK("{\"ab\":1,\"a\":2}"), OK("{\"a\":[1,{\"a\":2}]}"), OK("{\"a\":{\"a\":{\"a\":1}}}"),
    OK("{\"a\":null,\"b\":true,\"c\":false,\"d\":0,\"e\":0.5,\"f\":\"\",\"g\":[],\"h\":{}}"),
    OK("[{\"a\":1},{\"a\":2}]"), OK("{\"1\":1,\"01\":2,\"1.0\":3}"),

    /* objects: duplicate keys, also when only the escapes differ */
    NO("{\"a\":1,\"a\":2}"), NO("{\"a\":1,\"a\":1}"), NO("{\"a\":1,\"b\":2,\"a\":3}"),
    NO("{\"a\":1,\"\\u0061\":2}"), NO("{\"\\u0061\":1,\"a\":2}"), NO("{\"/\":1,\"\\/\":2}"),
    NO("{\"\xc3\xa9\":1,\"\\u00e9\":2}"), NO("{\"\\u00E9\":1,\"\\u00e9\":2}"),
    NO("{\"\\uD83D\\uDE00\":1,\"\xf0\x9f\x98\x80\":2}"), NO("{\"\":1,\"\":2}"),
    NO("{\"\\n\":1,\"\\u000a\":2}"), NO("{\"a\":{\"b\":1,\"b\":2}}"), NO("[{\"a\":1,\"a\":2}]"),
    NO("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"a\":10}"),
    NO("{\"a\":{},\"a\":{}}"), NO("{\"a\":null,\"a\":null}"),

    /* objects: keys that are no strings, and broken syntax */
    NO("{1:1}"), NO("{null:1}"), NO("{true:1}"), NO("{a:1}"), NO("{'a':1}"), NO("{[]:1}"),
    NO("{{}:1}"), NO("{\"a\":1,}"), NO("{,}"), NO("{,\"a\":1}"), NO("{\"a\" 1}"), NO("{\"a\"}"),
    NO("{\"a\":}"), NO("{\"a\"::1}"), NO("{\"a\":1 \"b\":2}"), NO("{\"a\":1;\"b\":2}"),
    NO("{\"a\"=1}"), NO("{\"a\"=>1}"), NO("{"), NO("{\"a\":1"), NO("{\"a\":1,"),
    NO("{\"a\":[}"), NO("{\"a\":1]"), NO("{\"a\":1,,\"b\":2}"), NO("{\"a\",\"b\"}"),
    NO("{\"a\":1:2}"), NO("{:1}"),

    /* arrays */
    OK("[]"), OK("[ ]"), OK("[[]]"), OK("[[],[]]"), OK("[[[]]]"), OK("[1,[2,[3,[4]]]]"),
    OK("[1,\"a\",true,false,null,{},[],1.5]"), OK("[{}]"), OK("[{\"a\":[]}]"),
    OK("[\"a\",\"a\"]"), OK("[1,1,1]"),
    NO("[1,]"), NO("[,1]"), NO("[,]"), NO("[1,,2]"), NO("[1 2]"), NO("["), NO("[1"),
    NO("[1,"), NO("[[]"), NO("[}"), NO("[1:2]"), NO("[\"a\":1]"), NO("[1}"), NO("[[1]]]"),
    NO("[1,]]"),
};
/* clang-format on */

static void edge_cases_agree_with_jansson(void **state) {
    (void)state;
    pass p = {.name = "edge cases", .show_max = 500};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        expect(&p, edges[i].text, edges[i].len, edges[i].jansson);
    assert_true(p.inputs >= 150);
    finish(&p);
}

/* ---- generated cases -------------------------------------------------------- */

/* Every byte alone, between brackets, next to a number, in a string, after a
 * backslash. */
static void every_byte(pass *p) {
    bytes b = {0};
    for (int c = 0; c < 256; c++) {
        bool digit = c >= '0' && c <= '9', space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        reset(&b), addc(&b, (unsigned char)c);
        expect_bytes(p, &b, digit ? ACCEPT : REFUSE);
        reset(&b), adds(&b, "["), addc(&b, (unsigned char)c), adds(&b, "]");
        expect_bytes(p, &b, digit || space ? ACCEPT : REFUSE);
        reset(&b), adds(&b, "1"), addc(&b, (unsigned char)c);
        expect_bytes(p, &b, digit || space || c == 0 ? ACCEPT : REFUSE);
        reset(&b), addc(&b, (unsigned char)c), adds(&b, "1");
        expect_bytes(p, &b, c == '-' || (digit && c != '0') || space ? ACCEPT : REFUSE);
        reset(&b), adds(&b, "[1"), addc(&b, (unsigned char)c), adds(&b, "2]");
        expect_bytes(p, &b, c == ',' ? ACCEPT : EITHER);
        reset(&b), adds(&b, "\""), addc(&b, (unsigned char)c), adds(&b, "\"");
        expect_bytes(p, &b, c >= 0x20 && c < 0x80 && c != '"' && c != '\\' ? ACCEPT : REFUSE);
        reset(&b), adds(&b, "\"\\"), addc(&b, (unsigned char)c), adds(&b, "\"");
        expect_bytes(p, &b, c && strchr("\"\\/bfnrt", c) ? ACCEPT : REFUSE);
        reset(&b), adds(&b, "{\"a\""), addc(&b, (unsigned char)c), adds(&b, "1}");
        expect_bytes(p, &b, c == ':' ? ACCEPT : REFUSE);
    }
    /* every pair of bytes inside a string: overlong, cut short, stray, ... */
    for (int c = 0; c < 256; c++) {
        for (int d = 0; d < 256; d++) {
            reset(&b), adds(&b, "\""), addc(&b, (unsigned char)c), addc(&b, (unsigned char)d);
            adds(&b, "\"");
            expect_bytes(p, &b, EITHER);
        }
    }
    /* lead bytes of three and four bytes with every second byte */
    for (int c = 0xe0; c <= 0xff; c++) {
        for (int d = 0; d < 256; d++) {
            reset(&b), adds(&b, "[\""), addc(&b, (unsigned char)c), addc(&b, (unsigned char)d);
            adds(&b, c >= 0xf0 ? "\x80\x80\"]" : "\x80\"]");
            expect_bytes(p, &b, EITHER);
        }
    }
    free(b.p);
}

static size_t utf8_encode(unsigned long cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Every \u escape, surrogate pairs around the boundaries, and code points
 * written raw (surrogates and past U+10FFFF included). */
static void every_code_point(pass *p) {
    bytes b = {0};
    for (unsigned v = 0; v <= 0xffff; v++) {
        bool surrogate = v >= 0xd800 && v <= 0xdfff;
        reset(&b), addf(&b, (v & 1) ? "\"\\u%04X\"" : "\"\\u%04x\"", v);
        expect_bytes(p, &b, v == 0 || surrogate ? REFUSE : ACCEPT);
    }
    static const unsigned highs[] = {0xd800, 0xd801, 0xd83d, 0xdaaa, 0xdbfe, 0xdbff};
    for (size_t h = 0; h < sizeof highs / sizeof highs[0]; h++) {
        for (unsigned low = 0xd000; low <= 0xe0ff; low++) {
            reset(&b), addf(&b, "\"\\u%04x\\u%04X\"", highs[h], low);
            expect_bytes(p, &b, low >= 0xdc00 && low <= 0xdfff ? ACCEPT : REFUSE);
        }
        for (unsigned low = 0; low <= 0xffff; low += 0x111) {
            reset(&b), addf(&b, "[\"\\u%04X\\u%04x\"]", highs[h], low);
            expect_bytes(p, &b, low >= 0xdc00 && low <= 0xdfff ? ACCEPT : REFUSE);
        }
    }
    for (unsigned long cp = 1; cp <= 0x140000; cp += cp < 0x10000 ? 1 : 0xff) {
        bool fine = cp >= 0x20 && cp != '"' && cp != '\\' && !(cp >= 0xd800 && cp <= 0xdfff) &&
                    cp <= 0x10ffff;
        char enc[4];
        reset(&b), adds(&b, "\""), add(&b, enc, utf8_encode(cp, enc)), adds(&b, "\"");
        expect_bytes(p, &b, fine ? ACCEPT : REFUSE);
    }
    for (unsigned long cp = 0x10fff0; cp <= 0x110010; cp++) {
        char enc[4];
        reset(&b), adds(&b, "{\""), add(&b, enc, utf8_encode(cp, enc)), adds(&b, "\":0}");
        expect_bytes(p, &b, cp <= 0x10ffff ? ACCEPT : REFUSE);
    }
    free(b.p);
}

/* levels of nesting around jansson's limit: it counts values, the innermost
 * scalar included, and refuses a depth above 2048. */
static void nesting_depths(pass *p) {
    static const size_t levels[] = {1, 2, 100, 2046, 2047, 2048, 2049, 2050, 3000};
    bytes b = {0};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        size_t n = levels[i];
        verdict deep = n <= TALLY_JSON_MAX_DEPTH ? ACCEPT : REFUSE;
        verdict deeper = n + 1 <= TALLY_JSON_MAX_DEPTH ? ACCEPT : REFUSE;

        reset(&b), addrep(&b, "[", n), addrep(&b, "]", n);
        expect_bytes(p, &b, deep);
        reset(&b), addrep(&b, "[", n), adds(&b, "1"), addrep(&b, "]", n);
        expect_bytes(p, &b, deeper);
        reset(&b), addrep(&b, "[", n), adds(&b, "\"s\",[],{}"), addrep(&b, "]", n);
        expect_bytes(p, &b, deeper);
        reset(&b), addrep(&b, "{\"a\":", n), adds(&b, "1"), addrep(&b, "}", n);
        expect_bytes(p, &b, deeper);
        reset(&b), addrep(&b, "{\"a\":", n), adds(&b, "{}"), addrep(&b, "}", n);
        expect_bytes(p, &b, deeper);
        reset(&b), addrep(&b, "{\"a\":", n - 1), adds(&b, "{}"), addrep(&b, "}", n - 1);
        expect_bytes(p, &b, deep);
        reset(&b);
        for (size_t k = 0; k < n; k++) adds(&b, k % 2 ? "{\"a\":" : "[");
        adds(&b, "0");
        for (size_t k = n; k-- > 0;) adds(&b, k % 2 ? "}" : "]");
        expect_bytes(p, &b, deeper);
        /* deep, then a sibling that is shallow */
        if (n >= 2) {
            reset(&b), adds(&b, "["), addrep(&b, "[", n - 1), addrep(&b, "]", n - 1);
            adds(&b, ",1]");
            expect_bytes(p, &b, deep);
        }
        /* never closed, closed one short, closed one too many */
        reset(&b), addrep(&b, "[", n);
        expect_bytes(p, &b, REFUSE);
        reset(&b), addrep(&b, "[", n), addrep(&b, "]", n - 1);
        expect_bytes(p, &b, REFUSE);
        reset(&b), addrep(&b, "[", n), addrep(&b, "]", n + 1);
        expect_bytes(p, &b, REFUSE);
        reset(&b), addrep(&b, "{\"a\":", n);
        expect_bytes(p, &b, REFUSE);
    }
    free(b.p);
}

/* Long strings, many members and elements, duplicates far apart. */
static void long_texts(pass *p) {
    bytes b = {0};
    reset(&b), adds(&b, "\""), addrep(&b, "a", 100000), adds(&b, "\"");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "\""), addrep(&b, "\\u00e9\xc3\xa9\\n", 5000), adds(&b, "\"");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "\""), addrep(&b, "\\uD83D\\uDE00", 5000), adds(&b, "\"");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "\""), addrep(&b, "\\uD83D\\uDE00", 5000), adds(&b, "\\uD83D\"");
    expect_bytes(p, &b, REFUSE);
    reset(&b), adds(&b, "\""), addrep(&b, "\xf0\x9f\x98\x80", 5000), adds(&b, "\xf0\x9f\x98\"");
    expect_bytes(p, &b, REFUSE);
    reset(&b), adds(&b, "{\""), addrep(&b, "k", 5000), adds(&b, "\":1,\""), addrep(&b, "k", 4999);
    adds(&b, "\":2}");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "{\""), addrep(&b, "k", 5000), adds(&b, "\":1,\""), addrep(&b, "k", 4999);
    adds(&b, "\\u006b\":2}");
    expect_bytes(p, &b, REFUSE);

    reset(&b), adds(&b, "{");
    for (int i = 0; i < 2000; i++) addf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    add(&b, "}", 1);
    expect_bytes(p, &b, ACCEPT);
    b.len--, adds(&b, ",\"k0\":0}");
    expect_bytes(p, &b, REFUSE);
    b.len -= 8, adds(&b, ",\"k1999\":0}");
    expect_bytes(p, &b, REFUSE);
    b.len -= 11, adds(&b, ",\"k\\u0031000\":0}");
    expect_bytes(p, &b, REFUSE);

    reset(&b), adds(&b, "[0"), addrep(&b, ",0", 100000), adds(&b, "]");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "[0"), addrep(&b, ",-1.5e-7,\"x\",true,null,[],{}", 5000), adds(&b, "]");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), addrep(&b, " \t\r\n", 10000), adds(&b, "1"), addrep(&b, "\n", 10000);
    expect_bytes(p, &b, ACCEPT);
    free(b.p);
}

/* 2^e as a double (0 below the subnormals, infinity above the range), and the
 * double just below a positive x, from their bits (no libm here). */
static double power_of_two(int e) {
    uint64_t bits = e < -1074   ? 0
                    : e < -1022 ? 1ULL << (e + 1074)
                    : e <= 1023 ? (uint64_t)(e + 1023) << 52
                                : 0x7ffULL << 52;
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static double just_below(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    if (bits) bits--;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* Numbers with many digits, and near the limits of long long and double. */
static void long_numbers(pass *p) {
    bytes b = {0};
    reset(&b), addrep(&b, "9", 400);
    expect_bytes(p, &b, REFUSE);
    reset(&b), adds(&b, "-"), addrep(&b, "1", 400);
    expect_bytes(p, &b, REFUSE);
    reset(&b), adds(&b, "1"), addrep(&b, "0", 400), adds(&b, ".0");
    expect_bytes(p, &b, REFUSE);
    reset(&b), adds(&b, "0."), addrep(&b, "0", 400), adds(&b, "1");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), addrep(&b, "1234567890", 80), adds(&b, "e-700");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "0."), addrep(&b, "9", 800);
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "1."), addrep(&b, "0", 800), adds(&b, "1");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "17976931348623157"), addrep(&b, "0", 292), adds(&b, ".0");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "17976931348623157"), addrep(&b, "0", 293), adds(&b, ".0");
    expect_bytes(p, &b, REFUSE);
    reset(&b), adds(&b, "0."), addrep(&b, "0", 323), adds(&b, "24703282292062327");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "0."), addrep(&b, "0", 323), adds(&b, "24703282292062328");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "9007199254740993."), addrep(&b, "0", 500), adds(&b, "1");
    expect_bytes(p, &b, ACCEPT);
    reset(&b), adds(&b, "1e"), addrep(&b, "0", 500), adds(&b, "1");
    expect_bytes(p, &b, ACCEPT);

    /* integers at the edges of long long */
    for (int k = 0; k <= 9; k++) {
        reset(&b), addf(&b, "922337203685477580%d", k);
        expect_bytes(p, &b, k <= 7 ? ACCEPT : REFUSE);
        reset(&b), addf(&b, "-922337203685477580%d", k);
        expect_bytes(p, &b, k <= 8 ? ACCEPT : REFUSE);
        reset(&b), addf(&b, "[922337203685477580%d.0]", k);
        expect_bytes(p, &b, ACCEPT);
    }
    for (long long d = 0; d < 50; d++) {
        reset(&b), addf(&b, "%lld", LLONG_MAX - d);
        expect_bytes(p, &b, ACCEPT);
        reset(&b), addf(&b, "%lld", LLONG_MIN + d);
        expect_bytes(p, &b, ACCEPT);
        reset(&b), addf(&b, "%lld", d * 1000003LL - 25000000LL);
        expect_bytes(p, &b, ACCEPT);
    }
    /* every power of ten and of two a double has, and a little past them */
    for (int e = -345; e <= 312; e++) {
        reset(&b), addf(&b, "1e%d", e);
        expect_bytes(p, &b, e <= 308 ? ACCEPT : REFUSE);
        reset(&b), addf(&b, "-9.999999999999999e%d", e);
        expect_bytes(p, &b, EITHER);
        reset(&b), addf(&b, "4.9406564584124654E%d", e);
        expect_bytes(p, &b, EITHER);
    }
    for (int e = -1080; e <= 1024; e++) {
        double x = power_of_two(e);
        reset(&b), addf(&b, "%.17g", x);
        expect_bytes(p, &b, EITHER);
        reset(&b), addf(&b, "%.25e", just_below(x));
        expect_bytes(p, &b, EITHER);
        reset(&b), addf(&b, "%.40g", x * 1.5);
        expect_bytes(p, &b, EITHER);
    }
    free(b.p);
}

/* ---- a small deterministic PRNG (xorshift64) ------------------------------ */

static uint64_t prng = 0x7a11c0ffee5eedULL;

static uint64_t rnd(void) {
    prng ^= prng << 13;
    prng ^= prng >> 7;
    prng ^= prng << 17;
    return prng;
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Random well-formed numbers: long mantissas, 9s and 0s to carry, exponents
 * near the ends of the range. */
static void random_numbers(pass *p) {
    bytes b = {0};
    for (int i = 0; i < 20000; i++) {
        reset(&b);
        if (below(3) == 0) adds(&b, "-");
        size_t int_digits = below(2) ? 1 + below(3) : 1 + below(25);
        for (size_t k = 0; k < int_digits; k++) {
            size_t r = below(10);
            char c = r < 2 ? '9' : r < 4 ? '0' : (char)('0' + below(10));
            if (k == 0 && int_digits > 1 && c == '0') c = '1';
            addc(&b, (unsigned char)c);
        }
        if (below(2)) {
            adds(&b, ".");
            size_t frac = 1 + below(below(4) ? 8 : 30);
            for (size_t k = 0; k < frac; k++) addc(&b, (unsigned char)('0' + below(10)));
        }
        if (below(2)) {
            adds(&b, below(2) ? "e" : "E");
            size_t s = below(3);
            if (s) adds(&b, s == 1 ? "+" : "-");
            addf(&b, "%zu", below(4) ? below(330) : below(400));
        }
        expect_bytes(p, &b, EITHER);
    }
    free(b.p);
}

static void generated_cases_agree_with_jansson(void **state) {
    (void)state;
    pass p = {.name = "generated cases", .show_max = 200};
    every_byte(&p);
    every_code_point(&p);
    nesting_depths(&p);
    long_texts(&p);
    long_numbers(&p);
    random_numbers(&p);
    finish(&p);
}

/* ---- the fixture events ------------------------------------------------------ */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static bool ends_with(const char *s, const char *end) {
    size_t n = strlen(s), m = strlen(end);
    return n >= m && strcmp(s + n - m, end) == 0;
}

/* Each .json file as one text; each line of a .ndjson file as one text (and
 * the whole file too). Sorted, so a run is repeatable. */
static void walk(pass *p, const char *dir, size_t *files) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) fail_msg("cannot read %s", dir);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        struct stat st;
        if (name[0] == '.' || stat(path, &st) != 0) {
            /* skip */
        } else if (S_ISDIR(st.st_mode)) {
            walk(p, path, files);
        } else if (ends_with(name, ".json") || ends_with(name, ".ndjson")) {
            size_t len;
            char *buf = slurp(path, &len);
            snprintf(p->context, sizeof p->context, "%.*s", (int)sizeof p->context - 1,
                     path + strlen(TALLY_FIXTURES) + 1);
            agree(p, buf, len);
            if (ends_with(name, ".ndjson")) {
                for (char *line = buf, *end; line < buf + len; line = end + 1) {
                    end = memchr(line, '\n', (size_t)(buf + len - line));
                    if (!end) end = buf + len;
                    agree(p, line, (size_t)(end - line));
                }
            }
            free(buf);
            (*files)++;
        }
        free(names[i]);
    }
    free(names);
}

static void fixture_events_agree_with_jansson(void **state) {
    (void)state;
    pass p = {.name = "fixture events", .show_max = 200};
    size_t files = 0;
    walk(&p, EVENTS_DIR, &files);
    p.context[0] = '\0';
    print_message("fixture events: %zu files\n", files);
    assert_true(files >= 100);
    assert_true(p.accepted >= 30);
    finish(&p);
}

/* ---- random mutations ------------------------------------------------------------- */

/* clang-format off */
static const unsigned char interesting[] = {
    ' ', '\\', '{', '}', '[', ']', ',', ':', '"', '0', '1', '5', '9', 'e', 'E', '.', '-', '+',
    'u', 'a', 't', 'n', '/', '\n', '\t', 0x00, 0x01, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xed,
    0xf0, 0xf4, 0xf5, 0xff,
};

static const char *const tokens[] = {
    "\\u", "\\uD800", "\\uDC00", "\\uD83D\\uDE00", "\\u0000", "\\u0061", "\\u00e9", "\\\"",
    "\\\\", "1e309", "1e-400", "-0", "0.5", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "\xc3\xa9", "\xed\xa0\x80", "\xef\xbb\xbf", "\xf0\x9f\x98\x80",
    "\xc0\xaf", "true", "false", "null", "{}", "[]", ",\"a\":1", "\"a\":", ",\"id\":\"x\"",
    ",\"data\":{}", "\r\n", "[[[[", "]]]]",
};
/* clang-format on */

/* Inserts n bytes at b + at, if they fit in cap. */
static void insert(char *b, size_t *len, size_t cap, size_t at, const char *s, size_t n) {
    if (*len + n > cap) return;
    memmove(b + at + n, b + at, *len - at);
    memcpy(b + at, s, n);
    *len += n;
}

/* A digit for a digit, a letter for a letter: the text often stays JSON, with
 * other numbers, strings and keys (some now duplicates). */
static char similar(char c) {
    if (c >= '0' && c <= '9') return (char)('0' + below(10));
    if (c >= 'a' && c <= 'z') return (char)('a' + below(26));
    if (c >= 'A' && c <= 'Z') return (char)('A' + below(26));
    return c;
}

/* One random change to b (kept within cap). */
static void mutate(char *b, size_t *len, size_t cap) {
    size_t n = *len, r = below(100);
    if (n == 0 && r < 72) r = 72 + below(28); /* nothing to change or delete: insert */
    if (r < 10) {
        b[below(n)] ^= (char)(1u << below(8));
    } else if (r < 20) {
        size_t at = below(n);
        b[at] = similar(b[at]);
    } else if (r < 33) {
        b[below(n)] = (char)interesting[below(sizeof interesting)];
    } else if (r < 50) {
        size_t at = below(n);
        memmove(b + at, b + at + 1, n - at - 1);
        *len = n - 1;
    } else if (r < 64) {
        /* a span again, right after itself or anywhere */
        size_t at = below(n), span = 1 + below(32);
        if (span > n - at) span = n - at;
        char copy[32];
        memcpy(copy, b + at, span);
        insert(b, len, cap, below(2) ? at + span : below(n + 1), copy, span);
    } else if (r < 72) {
        *len = below(n);
    } else if (r < 88) {
        insert(b, len, cap, below(n + 1), (const char *)&interesting[below(sizeof interesting)], 1);
    } else {
        const char *t = tokens[below(sizeof tokens / sizeof tokens[0])];
        insert(b, len, cap, below(n + 1), t, strlen(t));
    }
}

typedef struct {
    char name[96];
    char *text;
    size_t len;
} seed;

static void mutations_agree_with_jansson(void **state) {
    (void)state;
    static const char *const events[] = {
        "valid/interaction.recorded.full.json", "valid/interaction.recorded.unicode-ids.json",
        "valid/model.priced.full.json",         "valid/budget.set.full.json",
        "valid/tenant.upserted.full.json",      "invalid/json.duplicate-key.json",
    };
    enum { N_EVENTS = sizeof events / sizeof events[0] };
    seed seeds[N_EVENTS];
    for (size_t i = 0; i < N_EVENTS; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", EVENTS_DIR, events[i]);
        snprintf(seeds[i].name, sizeof seeds[i].name, "%s", events[i]);
        seeds[i].text = slurp(path, &seeds[i].len);
    }
    pass p = {.name = "mutations", .show_max = 40};
    size_t n_edges = sizeof edges / sizeof edges[0], cap = 4096;
    char *work = malloc(cap);
    assert_non_null(work);
    prng = 0x7a11c0ffee5eedULL;
    for (size_t i = 0; i < MUTATIONS; i++) {
        const char *from, *what;
        size_t len;
        char label[96];
        if (i % 5 < 3) {
            const seed *s = &seeds[below(N_EVENTS)];
            from = s->text, len = s->len, what = s->name;
        } else {
            size_t e = below(n_edges);
            from = edges[e].text, len = edges[e].len;
            snprintf(label, sizeof label, "edge case %zu", e);
            what = label;
        }
        assert_true(len + 512 <= cap);
        memcpy(work, from, len);
        size_t changes = below(3) ? 1 : 2 + below(3);
        for (size_t k = 0; k < changes; k++) mutate(work, &len, cap);
        snprintf(p.context, sizeof p.context, "mutation %zu of %s", i, what);
        agree(&p, work, len);
    }
    p.context[0] = '\0';
    free(work);
    for (size_t i = 0; i < N_EVENTS; i++) free(seeds[i].text);
    finish(&p);
}

/* ---- the accessors on one event ----------------------------------------------------- */

static void accessors_on_an_event(void **state) {
    (void)state;
    size_t len;
    char *buf = slurp(EVENTS_DIR "/valid/interaction.recorded.full.json", &len);
    tally_json_error err;
    tally_json_doc *doc = tally_json_parse(buf, len, &err);
    assert_non_null(doc);
    const tally_json *root = tally_json_root(doc);
    assert_non_null(root);
    assert_int_equal(tally_json_typeof(root), TALLY_JSON_OBJECT);
    assert_true(tally_json_is_object(root));
    assert_null(tally_json_key(root));

    /* members in text order, with their keys */
    static const char *const top[] = {"specversion", "id",      "source",          "type",
                                      "time",        "subject", "datacontenttype", "data"};
    assert_int_equal(tally_json_size(root), 8);
    size_t i = 0;
    for (const tally_json *m = tally_json_first(root); m; m = tally_json_next(root, m), i++) {
        assert_true(i < 8);
        assert_string_equal(tally_json_key(m), top[i]);
        assert_int_equal(tally_json_key_length(m), strlen(top[i]));
        assert_ptr_equal(tally_json_get(root, top[i]), m);
    }
    assert_int_equal(i, 8);

    const tally_json *id = tally_json_get(root, "id");
    assert_int_equal(tally_json_typeof(id), TALLY_JSON_STRING);
    assert_string_equal(tally_json_string(id), "evt-ix-full");
    assert_int_equal(tally_json_string_length(id), 11);

    /* missing keys: absent, a prefix, longer, another case, empty */
    assert_null(tally_json_get(root, "missing"));
    assert_null(tally_json_get(root, "i"));
    assert_null(tally_json_get(root, "idx"));
    assert_null(tally_json_get(root, "ID"));
    assert_null(tally_json_get(root, ""));
    assert_null(tally_json_get(root, "tenant_id")); /* only in data */

    const tally_json *data = tally_json_get(root, "data");
    assert_true(tally_json_is_object(data));
    /* data is large enough to be looked up through its table of keys */
    assert_true(tally_json_size(data) > 8);
    assert_null(tally_json_get(data, "missing"));
    assert_null(tally_json_get(data, "user"));
    assert_null(tally_json_get(data, "user_id_"));
    assert_null(tally_json_get(data, ""));
    assert_null(tally_json_get(data, "data"));
    static const char *const members[] = {
        "tenant_id",
        "user_id",
        "model_id",
        "kind",
        "conversation_id",
        "agent_id",
        "channel",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "audio_seconds",
        "latency_ms",
        "status",
        "was_cached",
        "was_fallback",
        "cost_usd",
        "time_saved_minutes",
        "question",
        "answer",
        "intent",
        "params",
        "attachments",
        "metadata",
    };
    size_t n_members = sizeof members / sizeof members[0];
    assert_int_equal(tally_json_size(data), n_members);
    i = 0;
    for (const tally_json *m = tally_json_first(data); m; m = tally_json_next(data, m), i++) {
        assert_true(i < n_members);
        assert_string_equal(tally_json_key(m), members[i]);
        assert_int_equal(tally_json_key_length(m), strlen(members[i]));
    }
    assert_int_equal(i, n_members);

    /* values of each type, and the zero values of the wrong accessor */
    const tally_json *tokens_in = tally_json_get(data, "input_tokens");
    assert_int_equal(tally_json_typeof(tokens_in), TALLY_JSON_INTEGER);
    assert_int_equal(tally_json_integer(tokens_in), 1200);
    assert_true(tally_json_real(tokens_in) == 0.0);
    assert_null(tally_json_string(tokens_in));
    assert_int_equal(tally_json_string_length(tokens_in), 0);
    assert_false(tally_json_bool(tokens_in));
    const tally_json *seconds = tally_json_get(data, "audio_seconds");
    assert_int_equal(tally_json_typeof(seconds), TALLY_JSON_REAL);
    assert_true(tally_json_real(seconds) == 12.5);
    assert_int_equal(tally_json_integer(seconds), 0);
    const tally_json *cached = tally_json_get(data, "was_cached");
    assert_int_equal(tally_json_typeof(cached), TALLY_JSON_TRUE);
    assert_true(tally_json_is_bool(cached));
    assert_true(tally_json_bool(cached));
    const tally_json *question = tally_json_get(data, "question");
    assert_string_equal(tally_json_string(question),
                        "Qual \xc3\xa9 o prazo de instala\xc3\xa7\xc3\xa3o?");
    assert_int_equal(tally_json_string_length(question), strlen(tally_json_string(question)));
    assert_int_equal(tally_json_integer(question), 0);

    /* tally_json_get on what is no object */
    const tally_json *attachments = tally_json_get(data, "attachments");
    assert_int_equal(tally_json_typeof(attachments), TALLY_JSON_ARRAY);
    assert_int_equal(tally_json_size(attachments), 2);
    assert_null(tally_json_get(attachments, "filename"));
    assert_null(tally_json_get(id, "id"));
    assert_null(tally_json_get(tokens_in, "x"));
    const tally_json *first = tally_json_first(attachments);
    assert_null(tally_json_key(first)); /* an element has no key */
    assert_string_equal(tally_json_string(tally_json_get(first, "filename")), "contrato.pdf");
    const tally_json *empty = tally_json_next(attachments, first);
    assert_true(tally_json_is_object(empty));
    assert_int_equal(tally_json_size(empty), 0);
    assert_null(tally_json_first(empty));
    assert_null(tally_json_get(empty, "filename"));
    assert_null(tally_json_next(attachments, empty));

    /* a nested array, element by element */
    const tally_json *a = tally_json_get(tally_json_get(tally_json_get(data, "metadata"), "nested"),
                                         "a");
    assert_int_equal(tally_json_size(a), 3);
    long long want = 1;
    for (const tally_json *e = tally_json_first(a); e; e = tally_json_next(a, e), want++)
        assert_int_equal(tally_json_integer(e), want);
    assert_int_equal(want, 4);

    /* the tests are false for NULL */
    assert_false(tally_json_is_null(NULL));
    assert_false(tally_json_is_bool(NULL));
    assert_false(tally_json_is_integer(NULL));
    assert_false(tally_json_is_real(NULL));
    assert_false(tally_json_is_string(NULL));
    assert_false(tally_json_is_array(NULL));
    assert_false(tally_json_is_object(NULL));
    assert_false(tally_json_is_string(tally_json_get(root, "missing")));

    tally_json_free(doc);
    /* err may be NULL */
    doc = tally_json_parse(buf, len, NULL);
    assert_non_null(doc);
    tally_json_free(doc);
    assert_null(tally_json_parse("{\"a\":}", 6, NULL));
    free(buf);
}

/* ---- refusals ------------------------------------------------------------------ */

static void refused(const char *buf, size_t len, bool utf8, int line, size_t line_start) {
    tally_json_error err;
    memset(&err, 0, sizeof err);
    bytes q = {0};
    const char *shown = quoted(&q, buf, len);
    if (tally_json_parse(buf, len, &err)) fail_msg("tally_json accepts %s", shown);
    if (err.line < 1 || err.column < 1 || err.position > len || err.text[0] == '\0')
        fail_msg("%s: line %d, column %d, byte %zu, text \"%s\"", shown, err.line, err.column,
                 err.position, err.text);
    if (err.invalid_utf8 != utf8)
        fail_msg("%s: invalid_utf8 %s (%s)", shown, err.invalid_utf8 ? "set" : "not set", err.text);
    if (line && (err.line != line || err.position < line_start))
        fail_msg("%s: the fault is on line %d (from byte %zu), tally_json says line %d, byte %zu",
                 shown, line, line_start, err.line, err.position);
    free(q.p);
}

#define REFUSED(s, utf8, line, line_start) refused(s, sizeof(s) - 1, utf8, line, line_start)

/* ---- keys chosen to collide ---------------------------------------------- */

/* The reader's key hash (common/tally_json.c, key_hash), written again here
 * so that the test can choose keys that land in one slot of its table. */
static uint64_t reader_key_hash(const char *k, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* An object of 300 members whose keys all hash to one slot of a 1024-slot
 * table (what a sender can compute offline: the hash has no secret). The
 * reader must give up its table (probes bounded) and still refuse a
 * duplicate — naming it — and still find every member by key. */
static void colliding_keys(void **state) {
    (void)state;
    enum { N = 300 };
    static char keys[N][16];
    size_t found = 0;
    for (unsigned long c = 0; found < N; c++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%lx", c);
        if ((reader_key_hash(k, (size_t)n) & 1023) == 7) memcpy(keys[found++], k, (size_t)n + 1);
    }
    bytes text = {0};
    adds(&text, "{");
    for (size_t i = 0; i < N; i++) addf(&text, "%s\"%s\":%zu", i ? "," : "", keys[i], i);
    adds(&text, "}");
    tally_json_doc *doc = tally_json_parse(text.p, text.len, NULL);
    assert_non_null(doc);
    const tally_json *root = tally_json_root(doc);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(tally_json_integer(tally_json_get(root, keys[i])), (long long)i);
    assert_null(tally_json_get(root, "k-missing"));
    tally_json_free(doc);

    text.len--; /* a duplicate of the 150th key at the end */
    addf(&text, ",\"%s\":1}", keys[150]);
    tally_json_error err;
    assert_null(tally_json_parse(text.p, text.len, &err));
    char want[64];
    snprintf(want, sizeof want, "duplicate object key \"%s\"", keys[150]);
    assert_string_equal(err.text, want);
    free(text.p);
}

static void refusals_say_where_and_why(void **state) {
    (void)state;
    REFUSED("", false, 1, 0);
    REFUSED("{\"a\":}", false, 1, 0);
    REFUSED("{\n  \"a\": 1,\n  \"b\": x\n}", false, 3, 12);
    REFUSED("[1,\n2,\n3,\nx]", false, 4, 10);
    REFUSED("{\"a\":1,\"a\":2}", false, 1, 0);
    REFUSED("\"\\u0000\"", false, 1, 0);
    REFUSED("1e309", false, 1, 0);
    REFUSED("\"\xff\"", true, 1, 0);
    REFUSED("{\"a\":\"\xc3(\"}", true, 1, 0);
    REFUSED("[\n\"\xed\xa0\x80\"]", true, 2, 2);
    REFUSED("{\"\xc0\xaf\":1}", true, 1, 0);
    REFUSED("\xef\xbb\xbf{}", false, 1, 0);

    static const char *const utf8_fixtures[] = {"json.invalid-utf8.json",
                                                "json.overlong-utf8.json"};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        size_t len;
        snprintf(path, sizeof path, "%s/invalid/%s", EVENTS_DIR, utf8_fixtures[i]);
        char *buf = slurp(path, &len);
        refused(buf, len, true, 1, 0);
        free(buf);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edge_cases_agree_with_jansson),
        cmocka_unit_test(generated_cases_agree_with_jansson),
        cmocka_unit_test(fixture_events_agree_with_jansson),
        cmocka_unit_test(mutations_agree_with_jansson),
        cmocka_unit_test(accessors_on_an_event),
        cmocka_unit_test(refusals_say_where_and_why),
        cmocka_unit_test(colliding_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
