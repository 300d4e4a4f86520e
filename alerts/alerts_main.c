/*
 * tally-alerts — announces limit alerts: re-evaluates limits that changed
 * without an interaction (prices, FX, budgets, plans), publishes the alert
 * outbox to the alerts topic exactly once, and delivers webhooks in a thread
 * of its own. SIGTERM/SIGINT: finish the batch in hand, stop.
 *
 * It also runs the retention pass (retention.c) in a thread of its own, once
 * every --retention-interval seconds (a day): at start when the last finished
 * pass over every tenant is older than that, then whenever it comes of age.
 * A pass that fails is tried again after a few minutes; a stop leaves it
 * unfinished for the next one.
 *
 * Exit codes: 0 after a clean stop (or --help), 1 when it could not start or
 * another sender fenced it, 2 on a bad flag.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally_alerts.h"
#include "tally_common.h"
#include "tally_docs.h"
#include "tally_pg.h"

#define IDLE_MS 200              /* between looks at the outbox when it is empty */
#define REEVALUATE_EVERY_MS 1000 /* between re-evaluations of changed limits */
#define RETENTION_RETRY_S 300    /* after a retention pass that failed */
#define RETENTION_BATCH 1000     /* documents (and users) per retention batch */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    const char *brokers, *pg_url, *mongo_url, *topic, *log_level;
    int batch_size, webhook_batch, webhook_timeout_ms, stats_interval_s;
    int retention_interval_s; /* 0: no retention schedule */
    bool once;
} options;

static void usage(const options *d, FILE *out) {
    fprintf(out,
            "usage: tally-alerts [options]\n\n"
            "Publish the alerts that tally-aggregate records (the alert outbox in PostgreSQL)\n"
            "to the alerts topic exactly once, and deliver them to the budgets' webhooks,\n"
            "signed with each tenant's secret (docs/limits.md). Only one tally-alerts\n"
            "publishes to a topic at a time: a new one fences the one before.\n\n"
            "Options (flags override the environment):\n"
            "  -b, --brokers LIST         Kafka bootstrap servers\n"
            "      --pg-url URL           PostgreSQL connection string\n"
            "      --mongo-url URL        MongoDB (the history, for the retention pass)\n"
            "  -t, --topic NAME           alerts topic (default %s)\n"
            "      --batch-size N         alerts per Kafka transaction (default %d)\n"
            "      --webhook-batch N      webhooks posted at once (default %d)\n"
            "      --webhook-timeout MS   time limit of one webhook try (default %d)\n"
            "      --stats-interval S     seconds between progress lines (default %d; 0 = off)\n"
            "      --retention-interval S seconds between retention passes (default %d;\n"
            "                             0 = off): the pass of `tally retain`, recorded as\n"
            "                             requested by 'schedule'\n"
            "      --once                 exit once nothing is left to publish or deliver\n"
            "                             (for tests and benchmarks)\n"
            "      --log-level LEVEL      debug|info|warn|error\n"
            "  -h, --help                 this text\n"
            "      --version              the version\n\n"
            "TALLY_WEBHOOK_ALLOW_PRIVATE=1 lets webhooks reach loopback and private\n"
            "addresses (local receivers); by default they are refused.\n\n%s",
            d->topic, d->batch_size, d->webhook_batch, d->webhook_timeout_ms, d->stats_interval_s,
            d->retention_interval_s, tally_config_env_help);
}

/* -1 to go on, else the exit code. */
static int parse_flags(int argc, char **argv, options *o) {
    enum {
        O_PG = 256,
        O_MONGO,
        O_BATCH,
        O_WBATCH,
        O_WTIMEOUT,
        O_STATS,
        O_RETENTION,
        O_ONCE,
        O_LOG,
        O_VERSION
    };
    static const struct option flags[] = {{"brokers", required_argument, 0, 'b'},
                                          {"pg-url", required_argument, 0, O_PG},
                                          {"mongo-url", required_argument, 0, O_MONGO},
                                          {"topic", required_argument, 0, 't'},
                                          {"batch-size", required_argument, 0, O_BATCH},
                                          {"webhook-batch", required_argument, 0, O_WBATCH},
                                          {"webhook-timeout", required_argument, 0, O_WTIMEOUT},
                                          {"stats-interval", required_argument, 0, O_STATS},
                                          {"retention-interval", required_argument, 0, O_RETENTION},
                                          {"once", no_argument, 0, O_ONCE},
                                          {"log-level", required_argument, 0, O_LOG},
                                          {"help", no_argument, 0, 'h'},
                                          {"version", no_argument, 0, O_VERSION},
                                          {0, 0, 0, 0}};
    const options defaults = *o;
    int c;
    while ((c = getopt_long(argc, argv, "b:t:h", flags, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'b': o->brokers = optarg; break;
        case O_PG: o->pg_url = optarg; break;
        case O_MONGO: o->mongo_url = optarg; break;
        case 't': o->topic = optarg; break;
        case O_BATCH:
            ok = tally_parse_flag_int_capped("tally-alerts", "--batch-size", optarg, 1, 10000,
                                             &o->batch_size);
            break;
        case O_WBATCH:
            ok = tally_parse_flag_int_capped("tally-alerts", "--webhook-batch", optarg, 1, 1000,
                                             &o->webhook_batch);
            break;
        case O_WTIMEOUT:
            ok = tally_parse_flag_int_capped("tally-alerts", "--webhook-timeout", optarg, 100,
                                             600000, &o->webhook_timeout_ms);
            break;
        case O_STATS:
            ok = tally_parse_flag_int_capped("tally-alerts", "--stats-interval", optarg, 0, 86400,
                                             &o->stats_interval_s);
            break;
        case O_RETENTION:
            ok = tally_parse_flag_int_capped("tally-alerts", "--retention-interval", optarg, 0,
                                             365 * 86400, &o->retention_interval_s);
            break;
        case O_ONCE: o->once = true; break;
        case O_LOG: o->log_level = optarg; break;
        case 'h': usage(&defaults, stdout); return 0;
        case O_VERSION: printf("tally-alerts %s\n", TALLY_VERSION); return 0;
        default: usage(&defaults, stderr); return 2;
        }
        if (!ok) return 2;
    }
    return tally_flags_no_operands("tally-alerts", argc, argv, optind) ? -1 : 2;
}

static void log_failure(const char *msg, const tally_err *err) {
    char why[600];
    tally_text_quote(err->msg, strlen(err->msg), why, sizeof why, true);
    tally_warn(msg, "error=\"%s\"", why);
}

/* PostgreSQL, migrated, and the sender, retried with backoff until they
 * open or a stop is requested (a store down at start is no reason to exit:
 * the other daemons wait for it too). */
static bool open_stores(const options *o, tally_pg **pg, tally_alerts_sender **s) {
    tally_backoff b;
    tally_backoff_init(&b);
    while (!stop_requested) {
        tally_err err = {0};
        int applied = 0;
        if (!*pg) *pg = tally_pg_open(o->pg_url, &err);
        if (*pg && tally_pg_migrate(*pg, &applied, &err) == TALLY_OK &&
            (*s = tally_alerts_sender_open(o->brokers, o->topic, *pg, &err)))
            return true;
        log_failure("cannot start yet, retrying", &err);
        if (!tally_backoff_wait(&b, &stop_requested, 0)) break;
    }
    return false;
}

typedef struct {
    const options *o;
    tally_alerts_deliver_options d;
    tally_alerts_deliver_stats stats;
} deliveries;

static void *deliveries_thread(void *arg) {
    deliveries *dl = arg;
    tally_alerts_deliver_run(dl->o->pg_url, &dl->d, dl->o->stats_interval_s, &stop_requested,
                             &dl->stats);
    return NULL;
}

/* ---- the retention schedule ---------------------------------------------- */

static void on_retention_step(void *arg, const tally_alerts_retention_tenant *t, const char *step,
                              bool step_done) {
    (void)arg;
    if (!step_done) return;
    char tenant[300];
    tally_text_quote(t->tenant_id, strlen(t->tenant_id), tenant, sizeof tenant, true);
    bool users = !strcmp(step, "users");
    tally_info("retention step done", "tenant=\"%s\" step=%s %s=%lld", tenant, step,
               users ? "users" : "documents", (long long)(users ? t->users : t->documents));
}

/* Run a pass when the last finished one is older than the interval; the
 * seconds until it is worth looking again. */
static int retention_if_due(const options *o, tally_pg **pg, tally_docs **docs) {
    tally_err err = {0};
    if (!*pg && !(*pg = tally_pg_open(o->pg_url, &err))) {
        log_failure("retention: cannot reach PostgreSQL, retrying", &err);
        return RETENTION_RETRY_S;
    }
    if (!*docs && !(*docs = tally_docs_open(o->mongo_url, &err))) {
        log_failure("retention: bad MongoDB URL, retention is off", &err);
        return 0;
    }
    bool found = false;
    int64_t age_us = 0, interval_us = (int64_t)o->retention_interval_s * 1000000;
    if (tally_pg_lifecycle_last_finished(*pg, TALLY_LIFECYCLE_RETENTION, &found, &age_us, &err) !=
        TALLY_OK) {
        log_failure("retention: cannot read the last run, retrying", &err);
        return RETENTION_RETRY_S;
    }
    if (found && age_us < interval_us) return (int)((interval_us - age_us) / 1000000) + 1;
    tally_alerts_retention_options ro = {.requested_by = "schedule",
                                         .batch = RETENTION_BATCH,
                                         .progress = on_retention_step,
                                         .stop = &stop_requested};
    tally_alerts_retention_result r;
    tally_code rc = tally_alerts_retention_run(*pg, *docs, &ro, &r, &err);
    int64_t documents = 0, users = 0;
    for (size_t i = 0; i < r.n_tenants; i++) {
        documents += r.tenants[i].documents;
        users += r.tenants[i].users;
    }
    if (rc != TALLY_OK)
        log_failure("retention pass failed, retrying later", &err);
    else
        tally_info(r.finished ? "retention pass finished" : "retention pass stopped",
                   "run=%lld tenants=%zu documents=%lld users=%lld", (long long)r.run_id,
                   r.n_tenants, (long long)documents, (long long)users);
    tally_alerts_retention_result_free(&r);
    return rc == TALLY_OK ? o->retention_interval_s : RETENTION_RETRY_S;
}

/* The schedule's thread, on connections of its own: look when due, else
 * sleep in short steps so that a stop is seen at once. */
static void *retention_thread(void *arg) {
    const options *o = arg;
    tally_pg *pg = NULL;
    tally_docs *docs = NULL;
    int64_t next_us = 0;
    while (!stop_requested) {
        if (tally_time_monotonic_us() >= next_us) {
            int wait_s = retention_if_due(o, &pg, &docs);
            if (wait_s <= 0) break;
            next_us = tally_time_monotonic_us() + (int64_t)wait_s * 1000000;
        }
        tally_sleep_ms(IDLE_MS);
    }
    tally_docs_close(docs);
    tally_pg_close(pg);
    return NULL;
}

/* tally_limits_reevaluate() (relational/limit_reevaluate.c) drains
 * limit_changes (prices, FX, budgets, plans changed) and records the
 * thresholds now reached without an interaction, at most once a second. */
static void reevaluate(tally_pg *pg, int64_t *next_us) {
    if (tally_time_monotonic_us() < *next_us) return;
    *next_us = tally_time_monotonic_us() + REEVALUATE_EVERY_MS * 1000LL;
    int changes = 0;
    tally_err err = {0};
    if (tally_limits_reevaluate(pg, &changes, &err) != TALLY_OK)
        log_failure("limits re-evaluation failed, retrying", &err);
    else if (changes)
        tally_info("limits re-evaluated", "changes=%d", changes);
}

/* Whether --once is done: nothing left to publish or deliver. */
static bool all_done(tally_pg *pg) {
    int64_t unpublished = 0, undelivered = 0;
    tally_err err;
    return tally_pg_alerts_pending(pg, &unpublished, &undelivered, &err) == TALLY_OK &&
           unpublished == 0 && undelivered == 0;
}

/* The publishing loop; the exit code. */
static int publish_loop(const options *o, tally_pg *pg, tally_alerts_sender *s) {
    tally_backoff b;
    tally_backoff_init(&b);
    int64_t next_stats = tally_time_monotonic_us() + (int64_t)o->stats_interval_s * 1000000;
    int64_t next_reevaluate = 0, last_published = 0;
    while (!stop_requested) {
        reevaluate(pg, &next_reevaluate);
        int n = 0;
        tally_err err = {0};
        tally_code rc = tally_alerts_sender_publish(s, o->batch_size, &n, &err);
        if (rc == TALLY_EIO) {
            char why[600];
            tally_text_quote(err.msg, strlen(err.msg), why, sizeof why, true);
            tally_error("cannot publish any more", "error=\"%s\"", why);
            return 1;
        }
        if (rc != TALLY_OK) {
            log_failure("publishing failed, retrying", &err);
            tally_backoff_wait(&b, &stop_requested, 0);
            continue;
        }
        tally_backoff_init(&b);
        const tally_alerts_sender_stats *st = tally_alerts_sender_stats_of(s);
        if (o->stats_interval_s > 0 && tally_time_monotonic_us() >= next_stats) {
            if (st->published != last_published)
                tally_info("published", "alerts=%lld batches=%lld aborted=%lld",
                           (long long)st->published, (long long)st->batches,
                           (long long)st->aborted);
            last_published = st->published;
            next_stats = tally_time_monotonic_us() + (int64_t)o->stats_interval_s * 1000000;
        }
        if (n < o->batch_size) { /* the outbox is drained: look again in a while */
            if (o->once && all_done(pg)) break;
            tally_sleep_ms(IDLE_MS);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    options o = {
        .brokers = cfg.kafka_brokers,
        .pg_url = cfg.pg_url,
        .topic = cfg.topic_alerts,
        .log_level = cfg.log_level,
        .batch_size = 500,
        .webhook_batch = 50,
        .webhook_timeout_ms = 10000,
        .stats_interval_s = 10,
        .mongo_url = cfg.mongo_url,
        .retention_interval_s = 86400,
    };
    int status = parse_flags(argc, argv, &o);
    if (status >= 0) return status;
    tally_log_init("alerts", tally_log_level_parse(o.log_level));
    setenv("PGCONNECT_TIMEOUT", "5", 0); /* libpq: do not hang on an unreachable server */
    signal(SIGPIPE, SIG_IGN);            /* a receiver that hung up is no reason to die */
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    const char *allow = getenv("TALLY_WEBHOOK_ALLOW_PRIVATE");
    deliveries dl = {
        .o = &o,
        .d = {.allow_private = allow && !strcmp(allow, "1"),
              .batch = o.webhook_batch,
              .timeout_ms = o.webhook_timeout_ms},
    };
    tally_pg *pg = NULL;
    tally_alerts_sender *s = NULL;
    if (!open_stores(&o, &pg, &s)) {
        tally_pg_close(pg);
        tally_info("stopped before starting", "%s", "");
        return stop_requested ? 0 : 1;
    }
    const tally_alerts_sender_stats *st = tally_alerts_sender_stats_of(s);
    tally_info("started",
               "version=%s brokers=%s topic=%s batch_size=%d recovered=%lld"
               " webhooks_private=%s retention_interval_s=%d",
               TALLY_VERSION, o.brokers, o.topic, o.batch_size, (long long)st->recovered,
               dl.d.allow_private ? "allowed" : "refused", o.retention_interval_s);
    pthread_t thread;
    bool threaded = pthread_create(&thread, NULL, deliveries_thread, &dl) == 0;
    if (!threaded) tally_error("cannot start the webhook thread", "%s", "");

    pthread_t retention;
    bool retaining = threaded && o.retention_interval_s > 0 &&
                     pthread_create(&retention, NULL, retention_thread, &o) == 0;
    if (threaded && o.retention_interval_s > 0 && !retaining)
        tally_error("cannot start the retention thread", "%s", "");

    status = threaded ? publish_loop(&o, pg, s) : 1;
    stop_requested = 1; /* --once, a fence or a signal: the threads stop too */
    if (threaded) pthread_join(thread, NULL);
    if (retaining) pthread_join(retention, NULL);
    tally_info("stopped",
               "published=%lld batches=%lld recovered=%lld webhook_tries=%lld delivered=%lld"
               " failed=%lld no_secret=%lld",
               (long long)st->published, (long long)st->batches, (long long)st->recovered,
               (long long)dl.stats.tries, (long long)dl.stats.delivered, (long long)dl.stats.failed,
               (long long)dl.stats.no_secret);
    tally_alerts_sender_free(s);
    tally_pg_close(pg);
    return status;
}
