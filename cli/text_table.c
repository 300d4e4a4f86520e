/*
 * text_table — a grid of cell strings printed with aligned columns.
 */
#include "text_table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tally__table_init(text_table *t, size_t nrows, size_t ncols) {
    *t = (text_table){.nrows = nrows, .ncols = ncols};
    /* at least one of each, so that NULL only ever means out of memory */
    t->cells = calloc(nrows * ncols + 1, sizeof *t->cells);
    t->widths = calloc(ncols + 1, sizeof *t->widths);
    t->right = calloc(ncols + 1, sizeof *t->right);
    return t->cells && t->widths && t->right;
}

void tally__table_put(text_table *t, size_t r, size_t c, char *text) {
    if (!text) t->oom = true;
    free(t->cells[r * t->ncols + c]);
    t->cells[r * t->ncols + c] = text;
}

void tally__table_measure(text_table *t) {
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = tally__text_width(t->cells[r * t->ncols + c]);
            if (w > t->widths[c]) t->widths[c] = w;
        }
}

static void emit_cell(FILE *out, const char *text, size_t width, bool right, bool last) {
    size_t pad = width - tally__text_width(text);
    if (right)
        fprintf(out, "%*s%s", (int)pad, "", text);
    else if (last)
        fputs(text, out);
    else
        fprintf(out, "%s%*s", text, (int)pad, "");
    fputs(last ? "\n" : "  ", out);
}

void tally__table_emit_line(FILE *out, const text_table *t, size_t r) {
    for (size_t c = 0; c < t->ncols; c++)
        emit_cell(out, t->cells[r * t->ncols + c], t->widths[c], t->right[c], c + 1 == t->ncols);
}

void tally__table_emit_rule(FILE *out, const text_table *t) {
    for (size_t c = 0; c < t->ncols; c++) {
        for (size_t i = 0; i < t->widths[c]; i++) fputc('-', out);
        fputs(c + 1 == t->ncols ? "\n" : "  ", out);
    }
}

void tally__table_free(text_table *t) {
    if (t->cells)
        for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    free(t->widths);
    free(t->right);
    *t = (text_table){0};
}

size_t tally__text_width(const char *s) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++; /* count every byte that starts a code point */
    return n;
}

char *tally__clean_text(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7F) {
            *o++ = '?';
        } else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
            *o++ = '?';
            p++;
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

char *tally__dupf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}
