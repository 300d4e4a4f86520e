/*
 * tally_time — RFC 3339 instants as int64 microseconds since the Unix epoch
 * (UTC). Time-zone arithmetic for reports is done by PostgreSQL, which owns
 * the IANA database; C code only parses and prints instants.
 */
#ifndef TALLY_TIME_H
#define TALLY_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t tally_usec;

/* Parse "2026-03-14T12:00:00.123-03:00" (also 'Z', lower-case 't'/'z',
 * a space for 'T', fractions up to nanoseconds; digits past microseconds are
 * truncated). Returns false on anything else, including impossible dates. */
bool tally_time_parse_rfc3339(const char *s, tally_usec *out);

/* Write "2026-03-14T15:00:00.123000Z" into buf (at least 32 bytes). */
void tally_time_format_utc(tally_usec t, char *buf, size_t len);

/* Wall-clock now, in microseconds since the epoch. */
tally_usec tally_time_now(void);

/* Monotonic clock in microseconds, for durations and timeouts. */
int64_t tally_time_monotonic_us(void);

#endif
