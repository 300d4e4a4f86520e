/*
 * tally-ingest — the daemon that stores what arrives on tally.events:
 * entities in PostgreSQL, interactions in MongoDB, rejects in the DLQ.
 * SIGTERM/SIGINT: finish the batch in hand, commit, exit 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_ingest.h"
#include "tally_common.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: tally-ingest [options]\n\n"
            "Consume tally.events in the consumer group 'tally-ingest': entities are upserted\n"
            "into PostgreSQL (newest event time wins), interactions are stored in MongoDB\n"
            "(_id = event id), events that break the contract go to the DLQ with a reason.\n"
            "Kafka offsets are committed only once a batch is durable in both stores.\n\n"
            "Options (flags override the environment):\n"
            "  -b, --brokers LIST      Kafka bootstrap servers\n"
            "  -g, --group NAME        consumer group (default tally-ingest)\n"
            "  -t, --topic NAME        events topic\n"
            "      --dlq-topic NAME    dead-letter topic\n"
            "      --pg-url URL        PostgreSQL connection string\n"
            "      --mongo-url URL     MongoDB URI (names the database)\n"
            "      --batch-size N      events per batch (default 2000)\n"
            "      --batch-ms MS       longest wait to fill a batch (default 200)\n"
            "      --drain-timeout MS  after SIGTERM, how long to retry a failing store\n"
            "                          before exiting without committing (default 30000)\n"
            "      --stats-interval S  seconds between progress lines (default 10; 0 = off)\n"
            "      --max-events N      exit after N events (for tests and benchmarks)\n"
            "      --log-level LEVEL   debug|info|warn|error\n"
            "  -h, --help              this text\n\n%s",
            tally_config_env_help);
}

int main(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    tally_ingest_options opt = {
        .brokers = cfg.kafka_brokers, .group = "tally-ingest", .topic = cfg.topic_events,
        .dlq_topic = cfg.topic_dlq, .pg_url = cfg.pg_url, .mongo_url = cfg.mongo_url,
        .batch_size = 2000, .batch_ms = 200, .drain_timeout_ms = 30000, .stats_interval_s = 10,
    };
    const char *log_level = cfg.log_level;
    enum { O_DLQ = 256, O_PG, O_MONGO, O_BATCH, O_BATCH_MS, O_DRAIN, O_STATS, O_MAX, O_LOG };
    static const struct option opts[] = {
        {"brokers", required_argument, 0, 'b'},    {"group", required_argument, 0, 'g'},
        {"topic", required_argument, 0, 't'},      {"dlq-topic", required_argument, 0, O_DLQ},
        {"pg-url", required_argument, 0, O_PG},    {"mongo-url", required_argument, 0, O_MONGO},
        {"batch-size", required_argument, 0, O_BATCH},
        {"batch-ms", required_argument, 0, O_BATCH_MS},
        {"drain-timeout", required_argument, 0, O_DRAIN},
        {"stats-interval", required_argument, 0, O_STATS},
        {"max-events", required_argument, 0, O_MAX},
        {"log-level", required_argument, 0, O_LOG},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "b:g:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': opt.brokers = optarg; break;
        case 'g': opt.group = optarg; break;
        case 't': opt.topic = optarg; break;
        case O_DLQ: opt.dlq_topic = optarg; break;
        case O_PG: opt.pg_url = optarg; break;
        case O_MONGO: opt.mongo_url = optarg; break;
        case O_BATCH:
            if (!tally_parse_flag_int("tally-ingest", "--batch-size", optarg, 1, &v)) return 2;
            opt.batch_size = (int)(v > 100000 ? 100000 : v);
            break;
        case O_BATCH_MS:
            if (!tally_parse_flag_int("tally-ingest", "--batch-ms", optarg, 1, &v)) return 2;
            opt.batch_ms = (int)v;
            break;
        case O_DRAIN:
            if (!tally_parse_flag_int("tally-ingest", "--drain-timeout", optarg, 0, &v)) return 2;
            opt.drain_timeout_ms = (int)v;
            break;
        case O_STATS:
            if (!tally_parse_flag_int("tally-ingest", "--stats-interval", optarg, 0, &v)) return 2;
            opt.stats_interval_s = (int)v;
            break;
        case O_MAX:
            if (!tally_parse_flag_int("tally-ingest", "--max-events", optarg, 0, &v)) return 2;
            opt.max_events = v;
            break;
        case O_LOG: log_level = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tally-ingest: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    tally_log_init("ingest", tally_log_level_parse(log_level));

    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    tally_err err = {0};
    tally_ingester *ing = tally_ingester_new(&opt, &err);
    if (!ing) {
        tally_error("cannot start", "error=\"%s\"", err.msg);
        return 1;
    }
    tally_info("started", "brokers=%s group=%s topic=%s dlq=%s batch_size=%d", opt.brokers,
               opt.group, opt.topic, opt.dlq_topic, opt.batch_size);
    tally_code rc = tally_ingester_run(ing, &stop_requested, &err);
    tally_ingester_free(ing);
    if (rc != TALLY_OK) {
        tally_error("stopped without committing the last batch", "error=\"%s\"", err.msg);
        return 1;
    }
    tally_info("stopped", "%s", "");
    return 0;
}
