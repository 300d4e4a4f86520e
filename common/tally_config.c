#include "tally_common.h"

#include <stdio.h>
#include <stdlib.h>

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

void tally_config_from_env(tally_config *cfg) {
    cfg->kafka_brokers = env_or("TALLY_KAFKA_BROKERS", "127.0.0.1:9092");
    cfg->pg_url = env_or("TALLY_PG_URL", "postgresql://127.0.0.1:5432/tally");
    cfg->mongo_url = env_or("TALLY_MONGO_URL", "mongodb://127.0.0.1:27017/tally");
    cfg->http_addr = env_or("TALLY_HTTP_ADDR", "127.0.0.1:8080");
    cfg->admin_key = env_or("TALLY_ADMIN_KEY", NULL);
    cfg->topic_events = env_or("TALLY_TOPIC_EVENTS", "tally.events");
    cfg->topic_dlq = env_or("TALLY_TOPIC_DLQ", "tally.dlq");
    cfg->topic_alerts = env_or("TALLY_TOPIC_ALERTS", "tally.alerts");
    cfg->log_level = env_or("TALLY_LOG_LEVEL", "info");
    cfg->instance = env_or("TALLY_INSTANCE", NULL);
    cfg->cors_origins = env_or("TALLY_CORS_ORIGINS", NULL);
    cfg->pseudonym_secret = env_or("TALLY_PSEUDONYM_SECRET", NULL);
    cfg->pseudonym_secret_previous = env_or("TALLY_PSEUDONYM_SECRET_PREVIOUS", NULL);
}

const char tally_config_env_help[] =
    "Environment:\n"
    "  TALLY_KAFKA_BROKERS  bootstrap servers          (default 127.0.0.1:9092)\n"
    "  TALLY_PG_URL         libpq connection string    (default postgresql://127.0.0.1:5432/tally)\n"
    "  TALLY_MONGO_URL      MongoDB URI, names the db  (default mongodb://127.0.0.1:27017/tally)\n"
    "  TALLY_HTTP_ADDR      report service address     (default 127.0.0.1:8080)\n"
    "  TALLY_ADMIN_KEY      admin API key              (default none: admin routes refuse)\n"
    "  TALLY_TOPIC_EVENTS   events topic               (default tally.events)\n"
    "  TALLY_TOPIC_DLQ      dead-letter topic          (default tally.dlq)\n"
    "  TALLY_TOPIC_ALERTS   alerts topic               (default tally.alerts)\n"
    "  TALLY_LOG_LEVEL      debug|info|warn|error      (default info)\n"
    "  TALLY_INSTANCE       a consumer's stable name in its group (--instance)\n"
    "  TALLY_CORS_ORIGINS   tally-api: browser origins allowed by CORS, comma-separated,\n"
    "                       or * for any (default none)\n"
    "  TALLY_PSEUDONYM_SECRET  key of erased users' pseudonyms (user.erased; default none:\n"
    "                       an erasure waits until it is set)\n"
    "  TALLY_PSEUDONYM_SECRET_PREVIOUS  the key before a rotation (default none)\n";

bool tally_parse_flag_int(const char *prog, const char *flag, const char *s, long long min,
                          long long *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min) {
        fprintf(stderr, "%s: %s: expected an integer >= %lld, got '%s'\n", prog, flag, min, s);
        return false;
    }
    *out = v;
    return true;
}

bool tally_parse_flag_int_capped(const char *prog, const char *flag, const char *s, long long min,
                                 long long max, int *out) {
    long long v;
    if (!tally_parse_flag_int(prog, flag, s, min, &v)) return false;
    *out = (int)(v > max ? max : v);
    return true;
}

bool tally_flags_no_operands(const char *prog, int argc, char **argv, int first) {
    if (first >= argc) return true;
    fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[first]);
    return false;
}
