/*
 * tally produce — read NDJSON events (a file or stdin), validate each with the
 * decoder and publish the valid ones to the events topic, keyed by subject
 * (or "_global"), with librdkafka's idempotent producer.
 *
 * Invalid lines are reported with their line number and reason and skipped
 * (--strict stops at the first). The value published is the line exactly as
 * read: Tally never rewrites an event on its way in.
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tally_stream.h"
#include "tally_cli.h"
#include "tally_common.h"

typedef struct {
    long long lines, valid, invalid, delivered, failed;
    char first_failure[256];
} produce_stats;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    produce_stats *st = opaque;
    if (m->err) {
        if (st->failed++ == 0)
            snprintf(st->first_failure, sizeof st->first_failure, "%s", rd_kafka_err2str(m->err));
    } else {
        st->delivered++;
    }
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: tally produce [options] [FILE]\n\n"
            "Read NDJSON events from FILE (or stdin, or '-'), validate each against the\n"
            "event contract and publish the valid ones to Kafka keyed by subject.\n\n"
            "Options:\n"
            "  -b, --brokers LIST   bootstrap servers (default $TALLY_KAFKA_BROKERS)\n"
            "  -t, --topic NAME     topic (default $TALLY_TOPIC_EVENTS or tally.events)\n"
            "      --strict         stop at the first invalid line\n"
            "      --timeout MS     give up delivering an event after MS (default 60000)\n"
            "      --no-validate    publish every line as is (for feeding test poison);\n"
            "                       the key is the subject when the line decodes, else _global\n"
            "  -q, --quiet          no progress lines\n"
            "  -h, --help           this text\n\n"
            "Exit status: 0 all published; 1 a delivery failed or Kafka was unreachable;\n"
            "2 bad usage or unreadable input; 3 some lines were invalid and skipped.\n");
}

static rd_kafka_t *make_producer(const char *brokers, const char *timeout_ms, produce_stats *st) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {
        {"bootstrap.servers", brokers},
        {"enable.idempotence", "true"},
        {"linger.ms", "20"},
        {"batch.num.messages", "10000"},
        {"batch.size", "4000000"},
        {"queue.buffering.max.messages", "500000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"message.max.bytes", "8388608"},
        {"compression.codec", "lz4"},
        {"message.timeout.ms", timeout_ms},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "tally produce: %s\n", errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "tally produce: cannot create producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Publish one value, waiting for room in the local queue when it is full. */
static bool publish(rd_kafka_t *rk, const char *topic, const char *key, const char *val, size_t len,
                    produce_stats *st) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (!err) return true;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !interrupted) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        if (st->failed++ == 0)
            snprintf(st->first_failure, sizeof st->first_failure, "%s", rd_kafka_err2str(err));
        return false;
    }
}

static void progress(const produce_stats *st, int64_t started_us, bool final) {
    double secs = (double)(tally_time_monotonic_us() - started_us) / 1e6;
    fprintf(stderr,
            "%s%lld lines, %lld valid, %lld invalid, %lld delivered, %lld failed  (%.0f lines/s)%s",
            final ? "" : "\r", st->lines, st->valid, st->invalid, st->delivered, st->failed,
            secs > 0 ? (double)st->lines / secs : 0.0, final ? "\n" : "");
}

int tally_cmd_produce(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    const char *brokers = cfg.kafka_brokers, *topic = cfg.topic_events;
    bool strict = false, validate = true, quiet = false;
    const char *timeout_ms = "60000";
    long long v;
    static const struct option opts[] = {
        {"brokers", required_argument, 0, 'b'}, {"topic", required_argument, 0, 't'},
        {"strict", no_argument, 0, 's'},        {"no-validate", no_argument, 0, 'n'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"timeout", required_argument, 0, 'T'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 's': strict = true; break;
        case 'n': validate = false; break;
        case 'q': quiet = true; break;
        case 'T':
            if (!tally_parse_flag_int("tally produce", "--timeout", optarg, 1, &v)) return 2;
            timeout_ms = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "tally produce: give at most one input file\n");
        return 2;
    }
    const char *path = optind < argc ? argv[optind] : "-";
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in) {
        fprintf(stderr, "tally produce: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }

    produce_stats st = {0};
    rd_kafka_t *rk = make_producer(brokers, timeout_ms, &st);
    if (!rk) {
        if (in != stdin) fclose(in);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    bool show_progress = !quiet && isatty(STDERR_FILENO);
    int64_t started = tally_time_monotonic_us(), last_progress = started;

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!interrupted && (n = getline(&line, &cap, in)) != -1) {
        st.lines++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue; /* blank lines are not events */
        tally_event ev;
        tally_err err;
        tally_code rc = tally_event_decode(line, (size_t)n, &ev, &err);
        if (rc != TALLY_OK && validate) {
            st.invalid++;
            fprintf(stderr, "%sline %lld: %s\n", show_progress ? "\n" : "", st.lines, err.msg);
            if (strict) break;
            continue;
        }
        st.valid += rc == TALLY_OK;
        publish(rk, topic, rc == TALLY_OK ? tally_event_key(&ev) : "_global", line, (size_t)n, &st);
        if (rc == TALLY_OK) tally_event_free(&ev);
        rd_kafka_poll(rk, 0);
        if (show_progress && (st.lines & 0x3fff) == 0) {
            int64_t now = tally_time_monotonic_us();
            if (now - last_progress > 500000) {
                progress(&st, started, false);
                last_progress = now;
            }
        }
    }
    bool read_error = ferror(in);
    free(line);
    if (in != stdin) fclose(in);

    /* Wait for every queued message's delivery report. */
    while (rd_kafka_outq_len(rk) > 0 && rd_kafka_flush(rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        if (show_progress) progress(&st, started, false);
        if (interrupted > 1) break;
    }
    int left = rd_kafka_outq_len(rk);
    if (left > 0) st.failed += left;
    rd_kafka_destroy(rk);

    if (!quiet) {
        if (show_progress) fputc('\n', stderr);
        progress(&st, started, true);
    }
    if (read_error) {
        fprintf(stderr, "tally produce: error reading %s\n", path);
        return 2;
    }
    if (st.failed) {
        fprintf(stderr, "tally produce: %lld events not delivered (first error: %s)\n", st.failed,
                st.first_failure);
        return 1;
    }
    if (interrupted) return 1;
    return st.invalid ? 3 : 0;
}
