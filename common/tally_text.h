/*
 * tally_text — the rules untrusted text must follow (valid UTF-8, no control
 * characters; ids also 1..TALLY_ID_MAX_LEN characters) and a safe way to
 * quote such text in a message or a log line. Shared by the event decoder
 * and the HTTP API, which both name bad input back to whoever sent it.
 */
#ifndef TALLY_TEXT_H
#define TALLY_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of the valid UTF-8 sequence at p (avail bytes left) and its code
 * point, or 0 when it is not one (bad lead or continuation, cut short,
 * overlong forms, surrogates, above U+10FFFF). */
size_t tally_utf8_next(const unsigned char *p, size_t avail, unsigned *cp);

/* C0 controls, DEL and the C1 controls (U+0080..U+009F). */
bool tally_is_control(unsigned cp);

/* NULL when s is valid UTF-8 without control characters, else the rule it
 * breaks ("must be valid UTF-8", "must not contain control characters"). */
const char *tally_text_problem(const char *s, size_t len);

/* As tally_text_problem, and 1 to TALLY_ID_MAX_LEN characters long. */
const char *tally_text_id_problem(const char *s, size_t len);

/* s made safe to show: invalid UTF-8 and control characters become '?',
 * with `escape` '"' and '\' get a backslash (for text inside double
 * quotes), and what does not fit in out_len (>= 4) ends in "...". Always
 * NUL-terminated. */
void tally_text_quote(const char *s, size_t len, char *out, size_t out_len, bool escape);

#endif
