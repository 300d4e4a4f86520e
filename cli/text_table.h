/*
 * text_table — an aligned text table for a person at a terminal, shared by
 * the renderers of `tally report` and `tally limits`.
 *
 * The caller fills a grid of cell strings, says which columns are
 * right-aligned (numbers), then prints it line by line: every column padded
 * to its widest cell, two spaces between columns, no trailing blanks. Widths
 * count UTF-8 code points, so "João" is four columns wide. Text from outside
 * (ids, names, the API's words) goes through tally__clean_text() first.
 */
#ifndef TALLY_TEXT_TABLE_H
#define TALLY_TEXT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Owner: the caller, freed by tally__table_free(); the cells and arrays
 * belong to the table. */
typedef struct {
    size_t nrows, ncols;
    char **cells;   /* cells[r * ncols + c], each a malloc'd string */
    size_t *widths; /* per column, set by tally__table_measure() */
    bool *right;    /* per column: right-aligned */
    bool oom;       /* a cell could not be made */
} text_table;

/* An empty grid of nrows x ncols, every column left-aligned. Returns false
 * when out of memory. */
bool tally__table_init(text_table *t, size_t nrows, size_t ncols);
/* Set a cell to text, which the table now owns; NULL (out of memory) sets oom. */
void tally__table_put(text_table *t, size_t r, size_t c, char *text);
/* The column widths, once every cell is set (no NULL cell left). */
void tally__table_measure(text_table *t);
/* Line r, padded to the widths, ending in a newline. */
void tally__table_emit_line(FILE *out, const text_table *t, size_t r);
/* A rule of dashes under every column. */
void tally__table_emit_rule(FILE *out, const text_table *t);
void tally__table_free(text_table *t);

/* The display width of UTF-8 text: its number of code points. */
size_t tally__text_width(const char *s);
/* A copy of s safe to print on a terminal: C0 and C1 control characters
 * (a newline in a user's name, an escape sequence) become '?'. Caller
 * frees; NULL when out of memory. */
char *tally__clean_text(const char *s);
/* asprintf into a new string (caller frees), or NULL. */
char *tally__dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
