/* Exact decimal text: money as reports and alerts write it. */
#include "tally_common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool tally_decimal_round(const char *in, int places, char *out, size_t out_len) {
    bool neg = *in == '-';
    if (neg || *in == '+') in++;
    const char *dot = strchr(in, '.');
    size_t int_len = dot ? (size_t)(dot - in) : strlen(in);
    const char *frac = dot ? dot + 1 : "";
    size_t frac_len = strlen(frac);
    if (int_len == 0 && frac_len == 0) return false;
    for (size_t i = 0; i < int_len; i++)
        if (!isdigit((unsigned char)in[i])) return false;
    for (size_t i = 0; i < frac_len; i++)
        if (!isdigit((unsigned char)frac[i])) return false;

    /* digits = integer part followed by exactly `places` fraction digits. */
    char digits[160];
    size_t n = 0;
    if (int_len + (size_t)places + 2 > sizeof digits) return false;
    digits[n++] = '0'; /* room for a carry */
    memcpy(digits + n, in, int_len);
    n += int_len;
    for (int i = 0; i < places; i++) digits[n++] = (size_t)i < frac_len ? frac[i] : '0';

    /* Decide on the dropped tail: above, below or exactly half. */
    bool round_up = false;
    if (frac_len > (size_t)places) {
        char first = frac[places];
        bool rest_nonzero = false;
        for (size_t i = (size_t)places + 1; i < frac_len; i++) rest_nonzero |= frac[i] != '0';
        if (first > '5' || (first == '5' && rest_nonzero))
            round_up = true;
        else if (first == '5') /* a tie: to even */
            round_up = (digits[n - 1] - '0') % 2 == 1;
    }
    for (size_t i = n - 1; round_up; i--) {
        if (digits[i] == '9') {
            digits[i] = '0';
        } else {
            digits[i]++;
            round_up = false;
        }
    }

    /* Write: sign, integer part without leading zeros, trimmed fraction. */
    size_t int_end = n - (size_t)places, start = 0;
    while (start + 1 < int_end && digits[start] == '0') start++;
    size_t frac_end = n;
    while (frac_end > int_end && digits[frac_end - 1] == '0') frac_end--;
    bool zero = true;
    for (size_t i = start; i < frac_end; i++) zero &= digits[i] == '0';
    size_t need = (neg && !zero) + (int_end - start) +
                  (frac_end > int_end ? 1 + frac_end - int_end : 0) + 1;
    if (need > out_len) return false;
    char *o = out;
    if (neg && !zero) *o++ = '-';
    memcpy(o, digits + start, int_end - start);
    o += int_end - start;
    if (frac_end > int_end) {
        *o++ = '.';
        memcpy(o, digits + int_end, frac_end - int_end);
        o += frac_end - int_end;
    }
    *o = '\0';
    return true;
}

json_t *tally_decimal_json(const char *in, int places) {
    char rounded[64];
    if (!in || !tally_decimal_round(in, places, rounded, sizeof rounded)) return json_null();
    return json_real(strtod(rounded, NULL));
}
