/*
 * report_table — a usage report (CONTRACT.md §3, the JSON of
 * `GET /v1/tenants/{id}/usage`) rendered as an aligned text table for a
 * person at a terminal. `tally report --format table` prints it; machines
 * should ask for json or csv instead.
 *
 * The table has one line per report row and a totals line: the period
 * (shortened to its date for day, week and month buckets), one column per
 * grouped field, then requests, errors, input/cached/output tokens,
 * cost_usd, cost_brl ("-" when the report has no FX rate), time saved,
 * likes and dislikes. Text is left-aligned, numbers right-aligned, and
 * widths count UTF-8 code points, so "João" is four columns wide.
 */
#ifndef TALLY_REPORT_TABLE_H
#define TALLY_REPORT_TABLE_H

#include <jansson.h>
#include <stddef.h>

#include "tally_common.h"

/* Render report as text ending in a newline. Returns a string the caller
 * frees, or NULL with err filled (TALLY_EINVAL: the document is not a usage
 * report, e.g. it has no "rows" array; TALLY_ENOMEM). */
char *tally_report_table(const json_t *report, tally_err *err);

/* The display width of UTF-8 text: its number of code points (the width
 * text_table.h aligns by). */
size_t tally_report_text_width(const char *s);

#endif
