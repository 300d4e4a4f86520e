#include "tally_common.h"

#include <stdio.h>
#include <stdlib.h>

tally_code tally_err_set(tally_err *err, tally_code code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void tally_oom(const char *what) {
    fprintf(stderr, "tally: out of memory (%s)\n", what);
    abort();
}

void tally_err_clear(tally_err *err) {
    if (err) {
        err->code = TALLY_OK;
        err->msg[0] = '\0';
    }
}
