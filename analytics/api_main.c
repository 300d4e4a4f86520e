/*
 * tally-api — the HTTP report service (CONTRACT.md §3): usage reports and
 * interaction history for distributors, /healthz and /metrics for operators.
 * SIGTERM/SIGINT: stop accepting, finish the requests in flight, exit 0.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_analytics.h"
#include "tally_common.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: tally-api [options]\n\n"
            "Serve the usage reports, limits, alerts and event ingestion of Tally over\n"
            "HTTP (docs/api.md; docs/openapi.yaml, also served at /openapi.yaml):\n"
            "  GET  /livez, /readyz, /healthz             alive? stores and Kafka answer?\n"
            "  GET  /metrics                              Prometheus text: requests, lag\n"
            "  GET  /openapi.yaml                         this API described (OpenAPI 3)\n"
            "  POST /v1/events                            CloudEvents over HTTP (ingest key)\n"
            "  POST|GET /v1/admin/keys, DELETE /v1/admin/keys/{id}   keys (admin key)\n"
            "  GET  /v1/tenants/{tenant_id}/usage         the usage report (JSON or CSV)\n"
            "  GET  /v1/tenants/{tenant_id}/interactions  history pages, newest first\n"
            "  GET  /v1/tenants/{tenant_id}/limits        limits and whether it may go on\n"
            "  GET  /v1/tenants/{tenant_id}/alerts        alerts raised, webhook deliveries\n"
            "  POST /v1/tenants/{tenant_id}/users/{user_id}/erasure   erase a user (LGPD)\n"
            "Keys travel as \"Authorization: Bearer <key>\". The admin key is read from\n"
            "TALLY_ADMIN_KEY only (never a flag, so it does not show in ps); without it the\n"
            "admin route answers 403.\n\n"
            "Options (flags override the environment):\n"
            "      --http-addr HOST:PORT   where to listen (port 0: any free port)\n"
            "      --pg-url URL            PostgreSQL connection string\n"
            "      --mongo-url URL         MongoDB URI (names the database); a\n"
            "                              serverSelectionTimeoutMS of 2000 is added\n"
            "                              when it sets none, so /healthz answers fast\n"
            "  -b, --brokers LIST          Kafka bootstrap servers (POST /v1/events,\n"
            "                              /readyz, the lag in /metrics)\n"
            "  -t, --topic NAME            events topic: where POST /v1/events publishes,\n"
            "                              whose lag /metrics shows\n"
            "      --ingest-group NAME     tally-ingest's group (default tally-ingest)\n"
            "      --aggregate-group NAME  tally-aggregate's group (default tally-aggregate)\n"
            "      --threads N             PostgreSQL connections shared by the requests\n"
            "                              (default 4; one thread per HTTP connection)\n"
            "      --drain-timeout MS      on SIGTERM, how long to let requests in flight\n"
            "                              finish (default 10000)\n"
            "      --kafka-timeout MS      per Kafka call while scraping (default 1000)\n"
            "      --cors-origins LIST     browser origins allowed by CORS, comma-separated,\n"
            "                              or * (default TALLY_CORS_ORIGINS, else none)\n"
            "      --log-level LEVEL       debug|info|warn|error\n"
            "  -V, --version               print the version and exit\n"
            "  -h, --help                  this text\n\n%s",
            tally_config_env_help);
}

/* The Mongo URI with a short server selection timeout unless it has one:
 * the driver's default (30 s) would hold /healthz for that long. Caller frees. */
static char *mongo_url_with_timeout(const char *url) {
    if (strcasestr(url, "serverSelectionTimeoutMS")) return strdup(url);
    const char *hosts = strstr(url, "://");
    hosts = hosts ? hosts + 3 : url;
    const char *sep = strchr(url, '?') ? "&" : strchr(hosts, '/') ? "?" : "/?";
    size_t n = strlen(url) + 40;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s%sserverSelectionTimeoutMS=2000", url, sep);
    return out;
}

static int parse_options(int argc, char **argv, tally_api_options *opt, const char **log_level) {
    enum {
        O_ADDR = 256,
        O_PG,
        O_MONGO,
        O_INGEST,
        O_AGG,
        O_THREADS,
        O_DRAIN,
        O_KTIMEOUT,
        O_LOG,
        O_CORS
    };
    static const struct option opts[] = {{"http-addr", required_argument, 0, O_ADDR},
                                         {"pg-url", required_argument, 0, O_PG},
                                         {"mongo-url", required_argument, 0, O_MONGO},
                                         {"brokers", required_argument, 0, 'b'},
                                         {"topic", required_argument, 0, 't'},
                                         {"ingest-group", required_argument, 0, O_INGEST},
                                         {"aggregate-group", required_argument, 0, O_AGG},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"drain-timeout", required_argument, 0, O_DRAIN},
                                         {"kafka-timeout", required_argument, 0, O_KTIMEOUT},
                                         {"log-level", required_argument, 0, O_LOG},
                                         {"cors-origins", required_argument, 0, O_CORS},
                                         {"version", no_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "b:t:hV", opts, NULL)) != -1) {
        switch (c) {
        case O_ADDR: opt->http_addr = optarg; break;
        case O_PG: opt->pg_url = optarg; break;
        case O_MONGO: opt->mongo_url = optarg; break;
        case 'b': opt->brokers = optarg; break;
        case 't': opt->topic = optarg; break;
        case O_INGEST: opt->ingest_group = optarg; break;
        case O_AGG: opt->aggregate_group = optarg; break;
        case O_THREADS:
            if (!tally_parse_flag_int_capped("tally-api", "--threads", optarg, 1, 256,
                                             &opt->threads))
                return 2;
            break;
        case O_DRAIN:
            if (!tally_parse_flag_int_capped("tally-api", "--drain-timeout", optarg, 0, 3600000,
                                             &opt->drain_timeout_ms))
                return 2;
            break;
        case O_KTIMEOUT:
            if (!tally_parse_flag_int_capped("tally-api", "--kafka-timeout", optarg, 1, 60000,
                                             &opt->kafka_timeout_ms))
                return 2;
            break;
        case O_LOG: *log_level = optarg; break;
        case O_CORS: opt->cors_origins = optarg; break;
        case 'V': printf("tally-api %s\n", TALLY_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    return tally_flags_no_operands("tally-api", argc, argv, optind) ? -1 : 2;
}

int main(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    tally_api_options opt = {
        .http_addr = cfg.http_addr,
        .pg_url = cfg.pg_url,
        .mongo_url = cfg.mongo_url,
        .brokers = cfg.kafka_brokers,
        .topic = cfg.topic_events,
        .admin_key = cfg.admin_key,
        .ingest_group = "tally-ingest",
        .aggregate_group = "tally-aggregate",
        .threads = 4,
        .drain_timeout_ms = 10000,
        .kafka_timeout_ms = 1000,
        .cors_origins = cfg.cors_origins,
        .pseudonym_secret = cfg.pseudonym_secret,
        .pseudonym_secret_previous = cfg.pseudonym_secret_previous,
    };
    const char *log_level = cfg.log_level;
    int rc = parse_options(argc, argv, &opt, &log_level);
    if (rc >= 0) return rc;
    tally_log_init("api", tally_log_level_parse(log_level));
    setenv("PGCONNECT_TIMEOUT", "5", 0); /* libpq: do not hang on an unreachable server */

    /* Every thread started from here on (libmicrohttpd's, librdkafka's, the
     * Mongo driver's) inherits this mask; the main thread takes the signals
     * with sigwait. SIGPIPE: a client that hung up is no reason to die. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    char *mongo = mongo_url_with_timeout(opt.mongo_url);
    if (!mongo) return 1;
    opt.mongo_url = mongo;
    tally_err err = {0};
    tally_api *api = tally_api_start(&opt, &err);
    if (!api) {
        tally_error("cannot start", "error=\"%s\"", err.msg);
        free(mongo);
        return 1;
    }
    tally_info("listening", "addr=%s port=%d pg_connections=%d admin=%s", opt.http_addr,
               tally_api_port(api), opt.threads, opt.admin_key && *opt.admin_key ? "on" : "off");
    int sig = 0;
    sigwait(&stop, &sig);
    tally_info("stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    int left = tally_api_stop(api);
    free(mongo);
    if (left) {
        tally_warn("stopped with requests in flight", "in_flight=%d", left);
        return 1;
    }
    tally_info("stopped", "%s", "");
    return 0;
}
