/*
 * text_output — write a command's rendered text to a file or stdout.
 */
#include "text_output.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int tally__write_text(const char *command, const char *path, const char *text) {
    FILE *out = path ? fopen(path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "tally %s: cannot open %s: %s\n", command, path, strerror(errno));
        return 1;
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, out) == n;
    ok = (path ? fclose(out) == 0 : fflush(out) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "tally %s: cannot write %s: %s\n", command, path ? path : "stdout",
                strerror(errno));
        return 1;
    }
    return 0;
}
