/*
 * tally-aggregate — the daemon that keeps the usage rollups in PostgreSQL,
 * exactly once. SIGTERM/SIGINT: finish the batch in hand, commit, exit 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "tally_analytics.h"
#include "tally_common.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: tally-aggregate [options]\n\n"
            "Consume tally.events in the consumer group 'tally-aggregate' and count every\n"
            "interaction and rating once into PostgreSQL rollups: per tenant, 15-minute\n"
            "bucket, model, user, agent, kind and channel; and per hour without the user\n"
            "(for fast reports). Each batch's rollups, the ids and ratings it counted and\n"
            "the Kafka offsets it consumed commit in one transaction; partitions start from\n"
            "the offsets stored there.\n\n"
            "Options (flags override the environment):\n"
            "  -b, --brokers LIST      Kafka bootstrap servers\n"
            "  -g, --group NAME        consumer group (default tally-aggregate)\n"
            "  -t, --topic NAME        events topic\n"
            "      --pg-url URL        PostgreSQL connection string\n"
            "      --batch-size N      events per batch (default 5000)\n"
            "      --batch-ms MS       longest wait to fill a batch (default 200)\n"
            "      --drain-timeout MS  after SIGTERM, how long to retry a failing commit\n"
            "                          before exiting without it (default 30000)\n"
            "      --stats-interval S  seconds between progress lines (default 10; 0 = off)\n"
            "      --max-events N      exit after N events (for tests and benchmarks)\n"
            "      --log-level LEVEL   debug|info|warn|error\n"
            "  -h, --help              this text\n\n%s",
            tally_config_env_help);
}

int main(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    tally_aggregate_options opt = {
        .brokers = cfg.kafka_brokers, .group = "tally-aggregate", .topic = cfg.topic_events,
        .pg_url = cfg.pg_url, .batch_size = 5000, .batch_ms = 200, .drain_timeout_ms = 30000,
        .stats_interval_s = 10,
    };
    const char *log_level = cfg.log_level;
    enum { O_PG = 256, O_BATCH, O_BATCH_MS, O_DRAIN, O_STATS, O_MAX, O_LOG };
    static const struct option opts[] = {
        {"brokers", required_argument, 0, 'b'},       {"group", required_argument, 0, 'g'},
        {"topic", required_argument, 0, 't'},         {"pg-url", required_argument, 0, O_PG},
        {"batch-size", required_argument, 0, O_BATCH}, {"batch-ms", required_argument, 0, O_BATCH_MS},
        {"drain-timeout", required_argument, 0, O_DRAIN},
        {"stats-interval", required_argument, 0, O_STATS},
        {"max-events", required_argument, 0, O_MAX},  {"log-level", required_argument, 0, O_LOG},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    const char *prog = "tally-aggregate";
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "b:g:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': opt.brokers = optarg; break;
        case 'g': opt.group = optarg; break;
        case 't': opt.topic = optarg; break;
        case O_PG: opt.pg_url = optarg; break;
        case O_BATCH:
            if (!tally_parse_flag_int(prog, "--batch-size", optarg, 1, &v)) return 2;
            opt.batch_size = (int)(v > 100000 ? 100000 : v);
            break;
        case O_BATCH_MS:
            if (!tally_parse_flag_int(prog, "--batch-ms", optarg, 1, &v)) return 2;
            opt.batch_ms = (int)v;
            break;
        case O_DRAIN:
            if (!tally_parse_flag_int(prog, "--drain-timeout", optarg, 0, &v)) return 2;
            opt.drain_timeout_ms = (int)v;
            break;
        case O_STATS:
            if (!tally_parse_flag_int(prog, "--stats-interval", optarg, 0, &v)) return 2;
            opt.stats_interval_s = (int)v;
            break;
        case O_MAX:
            if (!tally_parse_flag_int(prog, "--max-events", optarg, 0, &v)) return 2;
            opt.max_events = v;
            break;
        case O_LOG: log_level = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        return 2;
    }
    tally_log_init("aggregate", tally_log_level_parse(log_level));
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    tally_err err = {0};
    tally_aggregator *a = tally_aggregator_new(&opt, &err);
    if (!a) {
        tally_error("cannot start", "error=\"%s\"", err.msg);
        return 1;
    }
    tally_info("started", "brokers=%s group=%s topic=%s batch_size=%d", opt.brokers, opt.group,
               opt.topic, opt.batch_size);
    tally_code rc = tally_aggregator_run(a, &stop_requested, &err);
    tally_aggregator_free(a);
    if (rc != TALLY_OK) {
        tally_error("stopped without committing the last batch", "error=\"%s\"", err.msg);
        return 1;
    }
    tally_info("stopped", "%s", "");
    return 0;
}
