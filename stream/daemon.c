/*
 * daemon — the skeleton of every consumer daemon (tally-ingest,
 * tally-aggregate, and whatever consumer comes next): the shared flags and
 * their help, logging, SIGTERM/SIGINT, open → run the consumer loop → close,
 * and the exit code. A daemon's main() is a tally_daemon table and one call.
 *
 * Exit codes: 0 after a clean stop (or --help), 1 when it could not start or
 * had to give up on a batch (nothing of it committed), 2 on a bad flag.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tally_common.h"
#include "tally_stream.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void usage(const tally_daemon *d, const tally_consumer_options *defaults, FILE *out) {
    fprintf(out, "usage: %s [options]\n\n%s\n\n", d->prog, d->about);
    fprintf(out,
            "Options (flags override the environment):\n"
            "  -b, --brokers LIST      Kafka bootstrap servers\n"
            "  -g, --group NAME        consumer group (default %s)\n"
            "  -t, --topic NAME        events topic\n"
            "  -i, --instance NAME     this process's stable name in the group (default the\n"
            "                          host name): a restart under the same name aborts what\n"
            "                          the last one left uncommitted and, when given, takes\n"
            "                          its partitions back without a rebalance (static\n"
            "                          membership); two live processes need two names\n"
            "%s"
            "      --batch-size N      events per batch (default %d)\n"
            "      --batch-ms MS       longest wait to fill a batch (default %d)\n"
            "      --drain-timeout MS  after SIGTERM, how long to retry a failing store\n"
            "                          before exiting without committing (default %d)\n"
            "      --stats-interval S  seconds between progress lines (default %d; 0 = off)\n"
            "      --max-events N      exit after N events (for tests and benchmarks)\n"
            "      --log-level LEVEL   debug|info|warn|error\n"
            "  -h, --help              this text\n"
            "      --version           the version\n\n%s",
            defaults->group, d->own_help ? d->own_help : "", defaults->batch_size,
            defaults->batch_ms, defaults->drain_timeout_ms, defaults->stats_interval_s,
            tally_config_env_help);
}

enum { O_BATCH = 256, O_BATCH_MS, O_DRAIN, O_STATS, O_MAX, O_LOG, O_VERSION, O_OWN };

static const struct option shared_flags[] = {
    {"brokers", required_argument, 0, 'b'},
    {"group", required_argument, 0, 'g'},
    {"topic", required_argument, 0, 't'},
    {"instance", required_argument, 0, 'i'},
    {"batch-size", required_argument, 0, O_BATCH},
    {"batch-ms", required_argument, 0, O_BATCH_MS},
    {"drain-timeout", required_argument, 0, O_DRAIN},
    {"stats-interval", required_argument, 0, O_STATS},
    {"max-events", required_argument, 0, O_MAX},
    {"log-level", required_argument, 0, O_LOG},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, O_VERSION},
};
#define N_SHARED (sizeof shared_flags / sizeof shared_flags[0])

/* Parse argv into opt (the shared flags) and the daemon's own (d->parse_own).
 * Returns -1 to go on, else the exit code. */
static int parse_flags(int argc, char **argv, const tally_daemon *d, tally_consumer_options *opt,
                       const char **log_level) {
    const tally_consumer_options defaults = *opt;
    size_t n_own = 0;
    while (d->own_flags && d->own_flags[n_own].name) n_own++;
    struct option *all = calloc(N_SHARED + n_own + 1, sizeof *all);
    if (!all) {
        fprintf(stderr, "%s: out of memory\n", d->prog);
        return 1;
    }
    memcpy(all, shared_flags, sizeof shared_flags);
    for (size_t i = 0; i < n_own; i++) { /* the daemon's flags are numbered after ours */
        all[N_SHARED + i] = d->own_flags[i];
        all[N_SHARED + i].val = O_OWN + (int)i;
    }
    int c, status = -1;
    long long v;
    optind = 1;
    while (status < 0 && (c = getopt_long(argc, argv, "b:g:t:i:h", all, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'b': opt->brokers = optarg; break;
        case 'g': opt->group = optarg; break;
        case 't': opt->topic = optarg; break;
        case 'i':
            opt->instance = optarg;
            opt->static_member = true;
            break;
        case O_BATCH:
            ok = tally_parse_flag_int_capped(d->prog, "--batch-size", optarg, 1, 100000,
                                             &opt->batch_size);
            break;
        case O_BATCH_MS:
            ok = tally_parse_flag_int_capped(d->prog, "--batch-ms", optarg, 1, 600000,
                                             &opt->batch_ms);
            break;
        case O_DRAIN:
            ok = tally_parse_flag_int_capped(d->prog, "--drain-timeout", optarg, 0, 86400000,
                                             &opt->drain_timeout_ms);
            break;
        case O_STATS:
            ok = tally_parse_flag_int_capped(d->prog, "--stats-interval", optarg, 0, 86400,
                                             &opt->stats_interval_s);
            break;
        case O_MAX:
            ok = tally_parse_flag_int(d->prog, "--max-events", optarg, 0, &v);
            opt->max_events = v;
            break;
        case O_LOG: *log_level = optarg; break;
        case 'h':
            usage(d, &defaults, stdout);
            status = 0;
            break;
        case O_VERSION:
            printf("%s %s\n", d->prog, TALLY_VERSION);
            status = 0;
            break;
        default:
            if (c >= O_OWN && c < O_OWN + (int)n_own) {
                ok = d->parse_own(d->own_cfg, d->own_flags[c - O_OWN].val, optarg);
            } else {
                usage(d, &defaults, stderr);
                status = 2;
            }
        }
        if (!ok) status = 2;
    }
    free(all);
    if (status < 0 && !tally_flags_no_operands(d->prog, argc, argv, optind)) status = 2;
    return status;
}

int tally_daemon_main(int argc, char **argv, const tally_daemon *d) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    tally_consumer_options opt = {
        .brokers = cfg.kafka_brokers,
        .group = d->group,
        .topic = cfg.topic_events,
        .instance = cfg.instance,
        .static_member = cfg.instance != NULL,
        .batch_size = d->batch_size,
        .batch_ms = 200,
        .drain_timeout_ms = 30000,
        .stats_interval_s = 10,
    };
    const char *log_level = cfg.log_level;
    if (d->init_own) d->init_own(d->own_cfg, &cfg);
    int status = parse_flags(argc, argv, d, &opt, &log_level);
    if (status >= 0) return status;
    static char host[256]; /* the default name, for the process's life */
    if (!opt.instance) {
        if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "tally");
        opt.instance = host;
    }
    tally_log_init(d->log_name, tally_log_level_parse(log_level));

    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    tally_err err = {0};
    tally_consumer_handlers h = {0};
    void *state = d->open(d->own_cfg, &opt, &h, &err);
    tally_consumer *c = state ? tally_consumer_new(&opt, &h, state, &err) : NULL;
    if (!c) {
        if (state) d->close(state);
        tally_error("cannot start", "error=\"%s\"", err.msg);
        return 1;
    }
    tally_info("started", "version=%s brokers=%s group=%s instance=%s topic=%s batch_size=%d",
               TALLY_VERSION, opt.brokers, opt.group, opt.instance, opt.topic, opt.batch_size);
    tally_code rc = tally_consumer_run(c, &stop_requested, &err);
    tally_consumer_free(c);
    d->close(state);
    if (rc != TALLY_OK) {
        tally_error("stopped without committing the last batch", "error=\"%s\"", err.msg);
        return 1;
    }
    tally_info("stopped", "%s", "");
    return 0;
}
