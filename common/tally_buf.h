/*
 * tally_buf — a growable byte buffer, always NUL-terminated. The buffer owns
 * `data`; tally_buf_free releases it. Appends abort the process when memory
 * runs out (nothing sensible can follow), so callers need no error paths.
 */
#ifndef TALLY_BUF_H
#define TALLY_BUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len, cap;
} tally_buf;

void tally_buf_append(tally_buf *b, const char *s, size_t n);
void tally_buf_puts(tally_buf *b, const char *s);
void tally_buf_putc(tally_buf *b, char c);
void tally_buf_printf(tally_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tally_buf_reset(tally_buf *b); /* len = 0, keeps the memory */
void tally_buf_free(tally_buf *b);

/* Append one element of a PostgreSQL array literal: NULL, or the string
 * double-quoted with '"' and '\' escaped. A ',' is written before every
 * element but the first (the caller writes the braces). */
void tally_buf_pg_array_elem(tally_buf *b, const char *s, int first);

#endif
