#include "tally_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Set once at start-up, read-only afterwards (the configuration exception). */
static const char *log_component = "tally";
static tally_log_level log_min = TALLY_LOG_INFO;

void tally_log_init(const char *component, tally_log_level min_level) {
    log_component = component;
    log_min = min_level;
}

tally_log_level tally_log_level_parse(const char *s) {
    if (!s) return TALLY_LOG_INFO;
    if (!strcasecmp(s, "debug")) return TALLY_LOG_DEBUG;
    if (!strcasecmp(s, "warn")) return TALLY_LOG_WARN;
    if (!strcasecmp(s, "error")) return TALLY_LOG_ERROR;
    return TALLY_LOG_INFO;
}

static const char *level_name(tally_log_level l) {
    switch (l) {
    case TALLY_LOG_DEBUG: return "debug";
    case TALLY_LOG_INFO: return "info";
    case TALLY_LOG_WARN: return "warn";
    default: return "error";
    }
}

void tally_log(tally_log_level level, const char *msg, const char *kv_fmt, ...) {
    if (level < log_min) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s msg=\"%s\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_name(level), log_component, msg);
    if (n < 0) return;
    if (kv_fmt && *kv_fmt && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, kv_fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
    }
    if ((size_t)n >= sizeof line) n = (int)sizeof line - 1;
    line[n] = '\0';
    /* One fprintf per line so concurrent writers do not interleave mid-line. */
    fprintf(stderr, "%s\n", line);
}
