/*
 * tally_config — the settings of CONTRACT.md §4, read once from the
 * environment at start; command-line flags may override fields afterwards.
 * The strings are borrowed from the environment or are static defaults.
 */
#ifndef TALLY_CONFIG_H
#define TALLY_CONFIG_H

typedef struct {
    const char *kafka_brokers;  /* TALLY_KAFKA_BROKERS */
    const char *pg_url;         /* TALLY_PG_URL */
    const char *mongo_url;      /* TALLY_MONGO_URL */
    const char *http_addr;      /* TALLY_HTTP_ADDR */
    const char *admin_key;      /* TALLY_ADMIN_KEY, NULL when unset */
    const char *topic_events;   /* TALLY_TOPIC_EVENTS */
    const char *topic_dlq;      /* TALLY_TOPIC_DLQ */
    const char *topic_alerts;   /* TALLY_TOPIC_ALERTS */
    const char *log_level;      /* TALLY_LOG_LEVEL: debug|info|warn|error */
} tally_config;

void tally_config_from_env(tally_config *cfg);

/* Parse a command-line integer flag value >= min; on a bad one print
 * "<prog>: <flag>: expected an integer >= <min>, got '<s>'" and return false. */
#include <stdbool.h>
bool tally_parse_flag_int(const char *prog, const char *flag, const char *s, long long min,
                          long long *out);

/* The help text block that lists the variables and their defaults. */
extern const char tally_config_env_help[];

#endif
