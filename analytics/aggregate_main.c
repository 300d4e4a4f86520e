/*
 * tally-aggregate — the daemon that keeps the usage rollups in PostgreSQL,
 * exactly once. SIGTERM/SIGINT: finish the batch in hand, commit, exit 0.
 */
#include "tally_analytics.h"

enum { FLAG_PG = 1 };

static const struct option own_flags[] = {
    {"pg-url", required_argument, 0, FLAG_PG},
    {0, 0, 0, 0},
};

static void init_own(void *own, const tally_config *env) { *(const char **)own = env->pg_url; }

static bool parse_own(void *own, int flag, const char *arg) {
    if (flag == FLAG_PG) *(const char **)own = arg;
    return true;
}

static void *open_aggregator(void *own, const tally_consumer_options *opt,
                             tally_consumer_handlers *h, tally_err *err) {
    return tally_aggregator_open(*(const char **)own, opt, h, err);
}

static void close_aggregator(void *state) { tally_aggregator_close(state); }

int main(int argc, char **argv) {
    const char *pg_url = NULL;
    const tally_daemon daemon = {
        .prog = "tally-aggregate",
        .log_name = "aggregate",
        .about = "Consume tally.events in the consumer group 'tally-aggregate' and count every\n"
                 "interaction and rating once into PostgreSQL rollups: per tenant, 15-minute\n"
                 "bucket, model, user, agent, kind and channel; and per hour without the user\n"
                 "(for fast reports). Each batch's rollups, the ids and ratings it counted and\n"
                 "the Kafka offsets it consumed commit in one transaction; partitions start from\n"
                 "the offsets stored there.",
        .group = "tally-aggregate",
        .batch_size = 5000,
        .own_flags = own_flags,
        .own_help = "      --pg-url URL        PostgreSQL connection string\n",
        .parse_own = parse_own,
        .own_cfg = &pg_url,
        .init_own = init_own,
        .open = open_aggregator,
        .close = close_aggregator,
    };
    return tally_daemon_main(argc, argv, &daemon);
}
