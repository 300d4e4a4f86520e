/*
 * tally produce — read NDJSON events (a file or stdin), validate each with the
 * decoder and publish the valid ones to the events topic, keyed by subject
 * (or "_global"), with librdkafka's idempotent producer.
 *
 * Invalid lines are reported with their line number and reason and skipped
 * (--strict stops at the first). The value published is the line exactly as
 * read: Tally never rewrites an event on its way in.
 *
 * Decoding is the cost (jansson, ~15 µs an event), so worker threads decode
 * chunks of lines side by side (produce_pipeline.c) while this thread takes
 * the chunks back in input order and publishes them: every event leaves in
 * input order, so each key's events keep their order in their partition.
 */
#include <errno.h>
#include <stdint.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "produce_pipeline.h"
#include "tally_cli.h"
#include "tally_common.h"
#include "tally_stream.h"

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
            "  -j, --threads N      decode on N threads (default: the number of cores)\n"
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

/* The topic's handle, its partitions asked for before the first event.
 * Without that the first events wait in librdkafka's queue for partitions
 * unknown yet, and the metadata that tells them arrives only after the
 * producer's own timers (about a second here, measured): the whole file
 * could be decoded and queued before one message leaves. A failure to ask
 * is not an error here: the deliveries say what is wrong. One handle also
 * spares librdkafka a lookup of the topic by name per message. */
static rd_kafka_topic_t *topic_ready(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int wait_ms = timeout_ms < 5000 ? timeout_ms : 5000; /* never longer than --timeout */
    if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, wait_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    return rkt;
}

/* Publish one value, waiting for room in the local queue when it is full. */
static bool publish(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *key, size_t key_len,
                    const char *val, size_t len, produce_stats *st) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, key_len),
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

typedef struct {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    bool strict, validate, show_progress;
    int64_t started, last_progress;
} produce_run;

/* Publish one decoded chunk's lines in order; false to stop (--strict). */
static bool publish_chunk(produce_run *r, const produce_chunk *c, produce_stats *st) {
    for (size_t i = 0; i < c->nlines && !interrupted; i++) {
        const produce_line *l = &c->lines[i];
        st->lines++;
        if (l->state == PRODUCE_LINE_BLANK) continue; /* blank lines are not events */
        bool valid = l->state == PRODUCE_LINE_VALID;
        if (!valid && r->validate) {
            st->invalid++;
            fprintf(stderr, "%sline %lld: %s\n", r->show_progress ? "\n" : "", st->lines,
                    l->text_len ? c->text + l->text : "invalid (out of memory for the reason)");
            if (r->strict) return false;
            continue;
        }
        st->valid += valid;
        publish(r->rk, r->rkt, valid ? c->text + l->text : "_global", valid ? l->text_len : 7,
                c->buf + l->off, l->len, st);
    }
    /* Delivery reports once a chunk (~1200 events), not once an event. */
    rd_kafka_poll(r->rk, 0);
    if (r->show_progress) {
        int64_t now = tally_time_monotonic_us();
        if (now - r->last_progress > 500000) {
            progress(st, r->started, false);
            r->last_progress = now;
        }
    }
    return true;
}

int tally_cmd_produce(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    const char *brokers = cfg.kafka_brokers, *topic = cfg.topic_events;
    bool strict = false, validate = true, quiet = false;
    const char *timeout_ms = "60000";
    int threads = tally__produce_default_threads();
    long long v;
    static const struct option opts[] = {{"brokers", required_argument, 0, 'b'},
                                         {"topic", required_argument, 0, 't'},
                                         {"strict", no_argument, 0, 's'},
                                         {"no-validate", no_argument, 0, 'n'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {"timeout", required_argument, 0, 'T'},
                                         {"threads", required_argument, 0, 'j'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:j:qh", opts, NULL)) != -1) {
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
        case 'j':
            if (!tally_parse_flag_int("tally produce", "--threads", optarg, 1, &v)) return 2;
            if (v > 256) {
                fprintf(stderr, "tally produce: --threads: at most 256\n");
                return 2;
            }
            threads = (int)v;
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
    rd_kafka_topic_t *rkt = topic_ready(rk, topic, atoi(timeout_ms));
    if (!rkt) {
        fprintf(stderr, "tally produce: topic %s: %s\n", topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(rk);
        if (in != stdin) fclose(in);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    produce_run run = {.rk = rk,
                       .rkt = rkt,
                       .strict = strict,
                       .validate = validate,
                       .show_progress = !quiet && isatty(STDERR_FILENO)};
    run.started = run.last_progress = tally_time_monotonic_us();

    produce_pipeline *pipe = tally__produce_pipeline_start(in, threads, &interrupted);
    if (!pipe) {
        fprintf(stderr, "tally produce: cannot start %d decoding threads\n", threads);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        if (in != stdin) fclose(in);
        return 1;
    }
    produce_chunk *chunk;
    while ((chunk = tally__produce_pipeline_next(pipe)) != NULL) {
        bool go_on = publish_chunk(&run, chunk, &st);
        tally__produce_pipeline_release(pipe, chunk);
        if (!go_on) break;
    }
    bool read_error = !tally__produce_pipeline_finish(pipe);
    if (in != stdin) fclose(in);

    /* Wait for every queued message's delivery report. */
    while (rd_kafka_outq_len(rk) > 0 && rd_kafka_flush(rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        if (run.show_progress) progress(&st, run.started, false);
        if (interrupted > 1) break;
    }
    int left = rd_kafka_outq_len(rk);
    if (left > 0) st.failed += left;
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);

    if (!quiet) {
        if (run.show_progress) fputc('\n', stderr);
        progress(&st, run.started, true);
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
