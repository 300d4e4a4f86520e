/*
 * tally_log — structured log lines on stderr, one event per line:
 *   2026-03-14T12:00:00.123Z level=info comp=ingest msg="batch stored" n=500
 * The caller passes the key=value tail already formatted; the message is quoted.
 */
#ifndef TALLY_LOG_H
#define TALLY_LOG_H

typedef enum { TALLY_LOG_DEBUG, TALLY_LOG_INFO, TALLY_LOG_WARN, TALLY_LOG_ERROR } tally_log_level;

/* Set once at start (from TALLY_LOG_LEVEL or a flag) and the component name. */
void tally_log_init(const char *component, tally_log_level min_level);
tally_log_level tally_log_level_parse(const char *s);

void tally_log(tally_log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tally_info(msg, ...) tally_log(TALLY_LOG_INFO, msg, __VA_ARGS__)
#define tally_warn(msg, ...) tally_log(TALLY_LOG_WARN, msg, __VA_ARGS__)
#define tally_error(msg, ...) tally_log(TALLY_LOG_ERROR, msg, __VA_ARGS__)
#define tally_debug(msg, ...) tally_log(TALLY_LOG_DEBUG, msg, __VA_ARGS__)

#endif
