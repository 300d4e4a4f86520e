/*
 * tally-ingest — the daemon that stores what arrives on tally.events:
 * entities in PostgreSQL, interactions in MongoDB, rejects in the DLQ.
 * SIGTERM/SIGINT: finish the batch in hand, commit, exit 0.
 */
#include <stdio.h>

#include "tally_ingest.h"

enum { FLAG_DLQ = 1, FLAG_PG, FLAG_MONGO };

static const struct option own_flags[] = {
    {"dlq-topic", required_argument, 0, FLAG_DLQ},
    {"pg-url", required_argument, 0, FLAG_PG},
    {"mongo-url", required_argument, 0, FLAG_MONGO},
    {0, 0, 0, 0},
};

static void init_own(void *own, const tally_config *env) {
    *(tally_ingest_config *)own = (tally_ingest_config){
        .dlq_topic = env->topic_dlq, .pg_url = env->pg_url, .mongo_url = env->mongo_url};
}

static bool parse_own(void *own, int flag, const char *arg) {
    tally_ingest_config *cfg = own;
    switch (flag) {
    case FLAG_DLQ: cfg->dlq_topic = arg; break;
    case FLAG_PG: cfg->pg_url = arg; break;
    case FLAG_MONGO: cfg->mongo_url = arg; break;
    }
    return true;
}

static void *open_ingester(void *own, const tally_consumer_options *opt, tally_consumer_handlers *h,
                           tally_err *err) {
    return tally_ingester_open(own, opt, h, err);
}

static void close_ingester(void *state) { tally_ingester_close(state); }

int main(int argc, char **argv) {
    tally_ingest_config cfg;
    const tally_daemon daemon = {
        .prog = "tally-ingest",
        .log_name = "ingest",
        .about =
            "Consume tally.events in the consumer group 'tally-ingest': entities are upserted\n"
            "into PostgreSQL (newest event time wins), interactions are stored in MongoDB\n"
            "(_id = event id), events that break the contract go to the DLQ with a reason.\n"
            "Kafka offsets are committed only once a batch is durable in both stores.",
        .group = "tally-ingest",
        .batch_size = 2000,
        .own_flags = own_flags,
        .own_help = "      --dlq-topic NAME    dead-letter topic\n"
                    "      --pg-url URL        PostgreSQL connection string\n"
                    "      --mongo-url URL     MongoDB URI (names the database)\n",
        .parse_own = parse_own,
        .own_cfg = &cfg,
        .init_own = init_own,
        .open = open_ingester,
        .close = close_ingester,
    };
    return tally_daemon_main(argc, argv, &daemon);
}
