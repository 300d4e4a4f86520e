/*
 * api_gzip — compressing answers for clients that accept gzip (a month by
 * day × model is a few hundred KB of JSON that compresses ten times).
 *
 * Accept-Encoding is read with its q-values (RFC 9110 §12.5.3): "gzip" or
 * "*" with q > 0 and no "gzip;q=0" that overrides "*". Small bodies are sent
 * as they are: below a kilobyte the gzip header and the CPU cost more than
 * they save.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "api_internal.h"

/* The q-value of one Accept-Encoding element "coding;q=0.5" (1 when none). */
static double element_q(const char *params, size_t len) {
    const char *q = NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
            (i == 0 || params[i - 1] == ';' || params[i - 1] == ' ')) {
            q = params + i + 2;
            break;
        }
    return q ? strtod(q, NULL) : 1.0;
}

bool tally__api_accepts_gzip(const char *accept_encoding) {
    if (!accept_encoding) return false;
    double gzip = -1, star = -1; /* -1: not named */
    const char *p = accept_encoding;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *e = p;
        while (e < p + len && (*e == ' ' || *e == '\t')) e++;
        size_t name = strcspn(e, ",; \t");
        if (name > (size_t)(p + len - e)) name = (size_t)(p + len - e);
        double q = element_q(e + name, (size_t)(p + len - (e + name)));
        if ((name == 4 && !strncasecmp(e, "gzip", 4)) ||
            (name == 6 && !strncasecmp(e, "x-gzip", 6)))
            gzip = q;
        else if (name == 1 && *e == '*')
            star = q;
        p += len;
        if (*p == ',') p++;
    }
    return gzip >= 0 ? gzip > 0 : star > 0;
}

bool tally__api_gzip(const char *in, size_t len, char **out, size_t *out_len) {
    if (len < API_GZIP_MIN_BYTES) return false;
    z_stream z = {0};
    /* 15 + 16: a gzip wrapper rather than zlib's; level 6 is zlib's default */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    size_t cap = deflateBound(&z, (uLong)len);
    char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return false;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || n >= len) { /* not smaller: send it plain */
        free(buf);
        return false;
    }
    *out = buf;
    *out_len = n;
    return true;
}
