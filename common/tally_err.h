/*
 * tally_err — an error as a code and a human message, written into a buffer
 * the caller owns (the librdkafka way). Functions that can fail return a
 * tally_code and, on failure, fill the tally_err they were given (if any).
 */
#ifndef TALLY_ERR_H
#define TALLY_ERR_H

#include <stdarg.h>

typedef enum {
    TALLY_OK = 0,
    TALLY_EINVAL,    /* the input breaks the contract: reject it, move on */
    TALLY_ESTORE,    /* a store (PostgreSQL, MongoDB, Kafka) failed: retry later */
    TALLY_ENOMEM,
    TALLY_EIO,
    TALLY_ENOTFOUND, /* no such thing (or not yours to see): HTTP 404 */
    TALLY_EAUTH,     /* no or a bad credential: HTTP 401 */
} tally_code;

typedef struct {
    tally_code code;
    char msg[512];
} tally_err;

/* Fill err (when non-NULL) and return code. */
tally_code tally_err_set(tally_err *err, tally_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void tally_err_clear(tally_err *err);

#endif
