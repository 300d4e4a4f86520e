#include "tally_common.h"

#include <string.h>

size_t tally_utf8_next(const unsigned char *p, size_t avail, unsigned *cp) {
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (avail < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* C0 controls, DEL and the C1 controls (U+0080..U+009F). */
static bool is_control(unsigned cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

/* Characters in s, or -1 when it breaks a text rule (*why set). */
static long text_chars(const char *s, size_t len, const char **why) {
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;
    for (size_t i = 0; i < len; chars++) {
        unsigned cp;
        size_t n = tally_utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            *why = "must be valid UTF-8";
            return -1;
        }
        if (is_control(cp)) {
            *why = "must not contain control characters";
            return -1;
        }
        i += n;
    }
    return chars;
}

const char *tally_text_problem(const char *s, size_t len) {
    const char *why = NULL;
    return text_chars(s, len, &why) < 0 ? why : NULL;
}

const char *tally_text_id_problem(const char *s, size_t len) {
    const char *why = NULL;
    long chars = text_chars(s, len, &why);
    if (chars < 0) return why;
    if (chars == 0) return "must not be empty";
    if (chars > TALLY_ID_MAX_LEN)
        return "must be at most " TALLY_STR(TALLY_ID_MAX_LEN) " characters long";
    return NULL;
}

void tally_text_quote(const char *s, size_t len, char *out, size_t out_len, bool escape) {
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    if (out_len < 4) {
        if (out_len) out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = tally_utf8_next(p + i, len - i, &cp);
        bool bad = n == 0 || is_control(cp);
        size_t need = bad ? 1 : (escape && (cp == '"' || cp == '\\') ? 2 : n);
        if (bad) n = 1;
        if (o + need + 3 >= out_len) { /* keep room for "..." and the NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (bad) {
            out[o++] = '?';
        } else {
            if (need == 2 && n == 1) out[o++] = '\\';
            memcpy(out + o, p + i, n);
            o += n;
        }
        i += n;
    }
    out[o] = '\0';
}
