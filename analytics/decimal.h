/* Exact decimal text helpers for money in reports. */
#ifndef TALLY_DECIMAL_H
#define TALLY_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>

/* Round a non-negative or negative plain decimal ("12.3456785", "-0.5",
 * "1200") half-even to `places` digits after the point and write it without
 * trailing zeros ("12.345678", "1200"). False when `in` is not such a number
 * or out is too small. */
bool tally_decimal_round(const char *in, int places, char *out, size_t out_len);

#endif
