/*
 * pg_cursor — the opaque cursors of the listings that page newest first
 * (alerts, API keys): the hex of "<time µs>:<id>" of the last row shown, one
 * plain URL-safe token. The next page starts strictly after that (time, id)
 * pair, so rows with equal times are neither skipped nor repeated.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

static const char HEX[] = "0123456789abcdef";

char *tally__pg_cursor_make(const char *usec, const char *id) {
    size_t n = strlen(usec) + 1 + strlen(id);
    char *out = malloc(2 * n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (const char *parts[] = {usec, ":", id}, **p = parts; p < parts + 3; p++)
        for (const unsigned char *s = (const unsigned char *)*p; *s; s++) {
            out[o++] = HEX[*s >> 4];
            out[o++] = HEX[*s & 15];
        }
    out[o] = '\0';
    return out;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool tally__pg_cursor_read(const char *c, char *buf, size_t cap, const char **usec,
                           const char **id) {
    size_t len = strlen(c);
    if (len == 0 || len % 2 || len / 2 >= cap) return false;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(c[2 * i]), lo = hexval(c[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
        buf[i] = (char)(hi << 4 | lo);
    }
    buf[len / 2] = '\0';
    char *colon = strchr(buf, ':');
    if (!colon || colon == buf) return false;
    *colon = '\0';
    const char *digits = buf[0] == '-' ? buf + 1 : buf;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 18)
        return false;
    *usec = buf;
    *id = colon + 1;
    return **id != '\0';
}
