#include "tally_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(tally_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) tally_oom("a growing buffer");
    b->data = p;
    b->cap = cap;
}

void tally_buf_append(tally_buf *b, const char *s, size_t n) {
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tally_buf_puts(tally_buf *b, const char *s) { tally_buf_append(b, s, strlen(s)); }

void tally_buf_putc(tally_buf *b, char c) { tally_buf_append(b, &c, 1); }

void tally_buf_printf(tally_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void tally_buf_free(tally_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void tally_buf_pg_array_elem(tally_buf *b, const char *s, int first) {
    if (!first) tally_buf_putc(b, ',');
    if (!s) {
        tally_buf_puts(b, "NULL");
        return;
    }
    tally_buf_putc(b, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\') tally_buf_putc(b, '\\');
        tally_buf_putc(b, *p);
    }
    tally_buf_putc(b, '"');
}
