/*
 * event — one CloudEvents 1.0 event of CONTRACT.md §1, decoded and validated.
 *
 * tally_event_decode() parses one JSON text with jansson, checks every rule
 * of the contract (envelope, required fields, types, enums, id shapes,
 * decimals, times) and fills a typed view. On a violation it returns
 * TALLY_EINVAL and an error message that names the field and the rule:
 *     "data.input_tokens: must be a non-negative integer below 2^53"
 *
 * Ownership: the event owns `root` (the parsed JSON); every `const char *`
 * and `data` below is borrowed from it and lives until tally_event_free().
 * Optional strings are NULL when absent (or JSON null). Enum values
 * (status, role, kind...) and defaults (e.g. the timezone) point at static
 * strings instead, which live forever.
 *
 * Ids (the event id, subject and every *_id field) are 1-128 characters
 * (Unicode code points) with no control character (C0, DEL, C1). Messages
 * are one line of printable text: quoted input is cut and sanitised.
 *
 * Decimals (tally_decimal.text): a JSON integer is written exactly; a JSON
 * number with a fraction or exponent is read by jansson as a double and
 * written with 15 significant digits ("%.15g") spelled out without an
 * exponent (1.5e-07 becomes "0.00000015"); a JSON string must match
 * -?digits[.digits] and is kept as sent (a negative zero loses its sign).
 * The text is at most TALLY_DECIMAL_MAX_CHARS long; longer values are
 * rejected.
 */
#ifndef TALLY_EVENT_H
#define TALLY_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tally_err.h"
#include "tally_event_types.h"
#include "tally_time.h"

/* Events larger than this are rejected before parsing (Kafka's own default
 * message limit is about 1 MB; the local broker allows more so that such an
 * event can still reach the DLQ). */
#define TALLY_EVENT_MAX_BYTES (1024 * 1024)
#define TALLY_DECIMAL_MAX_CHARS 40

/* Decode and validate one event. On success ev is filled and must be released
 * with tally_event_free(); on failure ev holds nothing to release and err
 * names the field and the rule. `buf` need not be NUL-terminated. */
tally_code tally_event_decode(const char *buf, size_t len, tally_event *ev, tally_err *err);

void tally_event_free(tally_event *ev);

/* The partition key of an event: its subject, or "_global" without one. */
const char *tally_event_key(const tally_event *ev);

#endif
