/*
 * tally dlq — the operator's view of the dead letters (stream/dlq.c): every
 * event tally-ingest rejected, unchanged (same key, same value bytes), with
 * the headers tally-error (the reason) and tally-source-offset
 * (topic/partition/offset of the original in the events topic).
 *
 *   tally dlq [list]   print them, filtered
 *   tally dlq replay   re-publish them to the events topic, each at most once
 *                      (recorded in PostgreSQL, dlq_replays)
 *
 * The reader takes the topic's end at start (the watermarks of a
 * read_committed client: the last stable offsets) and reads every partition
 * from the beginning up to there, committed records only: dead letters are
 * written in Kafka transactions and an aborted one must never show. It
 * assigns the partitions itself and never joins or commits to a consumer
 * group. A partition is read to its end when the client reports the end
 * (enable.partition.eof), when its position reaches the end, or when the
 * record before the end arrives — not by counting records: the last offsets
 * of a partition may be transaction markers, which are never delivered.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_cli.h"
#include "tally_common.h"
#include "tally_pg.h"
#include "tally_stream.h"

#define PROG "tally dlq"
/* A consumer group name the reader states but never joins nor commits to
 * (it assigns partitions itself); librdkafka's consumer API wants one. */
#define READER_GROUP "tally-dlq-reader"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    const char *brokers, *topic, *events_topic, *pg_url;
    /* filters */
    const char *type, *reason, *id;
    bool has_since;
    tally_usec since;
    long long limit; /* list: 0 = all */
    bool json;
    int timeout_ms; /* give up when the topic sends nothing for this long */
    /* replay */
    bool all, dry_run;
    const char *file;
} dlq_opts;

/* One dead letter as read. Strings are borrowed from the message or from
 * root, and live for the callback only. */
typedef struct {
    const rd_kafka_message_t *m;
    int32_t partition;
    int64_t offset;
    tally_usec timestamp; /* the Kafka record's time; -1 when unknown */
    char reason[512];     /* tally-error, made printable; "" when absent */
    char source[256];     /* tally-source-offset, made printable; "" when absent */
    bool has_reason, has_source;
    json_t *root;                 /* the value, when it parses as a JSON object (owned) */
    const char *id, *type, *time; /* from root; NULL when absent or not strings */
} dead_letter;

/* What the reader calls for every dead letter the filters select; false stops it. */
typedef bool (*letter_fn)(const dead_letter *dl, void *arg);

/* --- reading the topic --------------------------------------------------- */

static void header_text(rd_kafka_headers_t *h, const char *name, char *out, size_t len,
                        bool *present) {
    const void *val;
    size_t n;
    *present = h && rd_kafka_header_get_last(h, name, &val, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
               val;
    if (*present)
        tally_text_quote(val, n, out, len, false);
    else
        out[0] = '\0';
}

static const char *string_member(const json_t *obj, const char *name) {
    return json_string_value(json_object_get(obj, name)); /* NULL unless a string */
}

static void letter_fill(dead_letter *dl, const rd_kafka_message_t *m) {
    memset(dl, 0, sizeof *dl);
    dl->m = m;
    dl->partition = m->partition;
    dl->offset = m->offset;
    rd_kafka_timestamp_type_t tstype;
    int64_t ms = rd_kafka_message_timestamp(m, &tstype);
    dl->timestamp = ms >= 0 ? ms * 1000 : -1;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) h = NULL;
    header_text(h, "tally-error", dl->reason, sizeof dl->reason, &dl->has_reason);
    header_text(h, "tally-source-offset", dl->source, sizeof dl->source, &dl->has_source);
    /* Leniently: the value may be anything (it was rejected after all). */
    if (m->payload && m->len > 0) {
        json_error_t jerr;
        json_t *root = json_loadb(m->payload, m->len, 0, &jerr);
        if (root && json_is_object(root)) {
            dl->root = root;
            dl->id = string_member(root, "id");
            dl->type = string_member(root, "type");
            dl->time = string_member(root, "time");
        } else {
            json_decref(root);
        }
    }
}

static bool letter_selected(const dead_letter *dl, const dlq_opts *o) {
    if (o->type && (!dl->type || strcmp(dl->type, o->type))) return false;
    if (o->id && (!dl->id || strcmp(dl->id, o->id))) return false;
    if (o->reason && !strstr(dl->reason, o->reason)) return false;
    if (o->has_since && (dl->timestamp < 0 || dl->timestamp < o->since)) return false;
    return true;
}

typedef struct {
    int32_t id;
    int64_t end; /* the offset after the last record readable at start */
    bool done;
} part_state;

static rd_kafka_t *reader_new(const dlq_opts *o, tally_err *err) {
    const tally_kafka_setting extra[] = {
        /* Dead letters are written in transactions: aborted ones never show. */
        {"isolation.level", "read_committed"},
        /* Say when a partition is read to its end. */
        {"enable.partition.eof", "true"},
    };
    return tally_kafka_consumer_new(o->brokers, READER_GROUP, extra, sizeof extra / sizeof extra[0],
                                    NULL, NULL, err);
}

/* The partitions of the topic and where each ends now. */
static tally_code reader_partitions(rd_kafka_t *rk, const dlq_opts *o, part_state **out, int *n_out,
                                    tally_err *err) {
    *out = NULL;
    *n_out = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt) return tally_err_set(err, TALLY_ESTORE, "topic %s: cannot make a handle", o->topic);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, o->timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e)
        return tally_err_set(err, TALLY_ESTORE, "kafka %s: metadata of %s: %s", o->brokers,
                             o->topic, rd_kafka_err2str(e));
    tally_code rc = TALLY_OK;
    if (md->topic_cnt < 1 || md->topics[0].err) {
        rc = tally_err_set(err, TALLY_ESTORE, "topic %s: %s", o->topic,
                           rd_kafka_err2str(md->topic_cnt < 1 ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
                                                              : md->topics[0].err));
        goto done;
    }
    int n = md->topics[0].partition_cnt;
    part_state *parts = calloc((size_t)(n > 0 ? n : 1), sizeof *parts);
    if (!parts) {
        rc = tally_err_set(err, TALLY_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        parts[i].id = md->topics[0].partitions[i].id;
        /* A read_committed client is told the last stable offset: records of
         * a transaction still open are not part of this listing. */
        e = rd_kafka_query_watermark_offsets(rk, o->topic, parts[i].id, &lo, &hi, o->timeout_ms);
        if (e) {
            rc = tally_err_set(err, TALLY_ESTORE, "topic %s partition %d: watermarks: %s", o->topic,
                               (int)parts[i].id, rd_kafka_err2str(e));
            free(parts);
            goto done;
        }
        parts[i].end = hi;
        parts[i].done = hi <= lo;
    }
    *out = parts;
    *n_out = n;
done:
    rd_kafka_metadata_destroy(md);
    return rc;
}

static part_state *part_find(part_state *parts, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (parts[i].id == id) return &parts[i];
    return NULL;
}

static bool all_done(const part_state *parts, int n) {
    for (int i = 0; i < n; i++)
        if (!parts[i].done) return false;
    return true;
}

/* Mark the partitions whose consumer position reached their end. */
static void check_positions(rd_kafka_t *rk, const char *topic, part_state *parts, int n) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        if (!parts[i].done) rd_kafka_topic_partition_list_add(l, topic, parts[i].id);
    if (l->cnt > 0 && rd_kafka_position(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < l->cnt; i++) {
            part_state *p = part_find(parts, n, l->elems[i].partition);
            if (p && l->elems[i].offset >= 0 && l->elems[i].offset >= p->end) p->done = true;
        }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Read every partition from the beginning to its end at start and call fn
 * for each dead letter the filters select (in offset order within each
 * partition), until fn returns false. *read counts the records read. */
static tally_code read_dead_letters(const dlq_opts *o, letter_fn fn, void *arg, long long *read,
                                    tally_err *err) {
    *read = 0;
    rd_kafka_t *rk = reader_new(o, err);
    if (!rk) return TALLY_EINVAL;
    part_state *parts = NULL;
    int n = 0;
    tally_code rc = reader_partitions(rk, o, &parts, &n, err);
    if (rc != TALLY_OK) goto out;
    if (all_done(parts, n)) goto out;

    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        if (!parts[i].done)
            rd_kafka_topic_partition_list_add(assign, o->topic, parts[i].id)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, assign);
    rd_kafka_topic_partition_list_destroy(assign);
    if (e) {
        rc = tally_err_set(err, TALLY_ESTORE, "topic %s: assign: %s", o->topic,
                           rd_kafka_err2str(e));
        goto out;
    }

    int64_t last_progress = tally_time_monotonic_us();
    bool go_on = true;
    while (go_on && !all_done(parts, n)) {
        if (interrupted) {
            rc = tally_err_set(err, TALLY_EIO, "interrupted");
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        int64_t now = tally_time_monotonic_us();
        if (!m) {
            check_positions(rk, o->topic, parts, n);
            if (!all_done(parts, n) && now - last_progress > (int64_t)o->timeout_ms * 1000) {
                for (int i = 0; i < n; i++)
                    if (!parts[i].done) {
                        rc = tally_err_set(err, TALLY_ESTORE,
                                           "topic %s partition %d: nothing arrived for %d ms"
                                           " before offset %lld (broker down?)",
                                           o->topic, (int)parts[i].id, o->timeout_ms,
                                           (long long)parts[i].end);
                        break;
                    }
                break;
            }
            continue;
        }
        part_state *p = part_find(parts, n, m->partition);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* Under read_committed the end is the last stable offset: every
             * committed record before it has been delivered. */
            if (p) p->done = true;
            last_progress = now;
        } else if (m->err) {
            fprintf(stderr, "%s: %s: %s\n", PROG, o->topic, rd_kafka_message_errstr(m));
        } else if (p && !p->done && m->offset < p->end) {
            last_progress = now;
            (*read)++;
            if (m->offset + 1 >= p->end) p->done = true;
            dead_letter dl;
            letter_fill(&dl, m);
            if (letter_selected(&dl, o)) {
                go_on = fn(&dl, arg);
                last_progress = tally_time_monotonic_us(); /* a replay may take a while */
            }
            json_decref(dl.root);
        } else if (p) {
            p->done = true; /* written after we started: not part of this listing */
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
out:
    free(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* --- list ------------------------------------------------------------------ */

/* A value of the text format: as is when plain, else quoted; "-" when absent. */
static void put_field(FILE *out, const char *name, const char *s, bool always_quote) {
    if (!s) {
        fprintf(out, " %s=-", name);
        return;
    }
    char q[600];
    tally_text_quote(s, strlen(s), q, sizeof q, true);
    bool plain = !always_quote && *q && !strpbrk(q, " \"=\\");
    fprintf(out, plain ? " %s=%s" : " %s=\"%s\"", name, q);
}

static json_t *json_text_or_null(const char *s) {
    if (!s) return json_null();
    char q[600];
    tally_text_quote(s, strlen(s), q, sizeof q, false);
    json_t *j = json_string(q);
    return j ? j : json_null();
}

typedef struct {
    const dlq_opts *o;
    long long listed;
} list_state;

static bool list_one(const dead_letter *dl, void *arg) {
    list_state *st = arg;
    char at[40] = "-";
    if (dl->timestamp >= 0) tally_time_format_utc(dl->timestamp, at, sizeof at);
    if (st->o->json) {
        const rd_kafka_message_t *m = dl->m;
        char key[600];
        if (m->key) tally_text_quote(m->key, m->key_len, key, sizeof key, false);
        json_t *j = json_object();
        json_object_set_new(j, "topic", json_string(st->o->topic));
        json_object_set_new(j, "partition", json_integer(dl->partition));
        json_object_set_new(j, "offset", json_integer(dl->offset));
        json_object_set_new(j, "timestamp", dl->timestamp >= 0 ? json_string(at) : json_null());
        json_object_set_new(j, "key", m->key ? json_string(key) : json_null());
        json_object_set_new(j, "id", json_text_or_null(dl->id));
        json_object_set_new(j, "type", json_text_or_null(dl->type));
        json_object_set_new(j, "time", json_text_or_null(dl->time));
        json_object_set_new(j, "source_offset",
                            dl->has_source ? json_string(dl->source) : json_null());
        json_object_set_new(j, "reason", dl->has_reason ? json_string(dl->reason) : json_null());
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!s) tally_oom("dlq json line");
        puts(s);
        free(s);
    } else {
        printf("dlq=%d/%lld at=%s", (int)dl->partition, (long long)dl->offset, at);
        put_field(stdout, "source", dl->has_source ? dl->source : NULL, false);
        put_field(stdout, "id", dl->id, false);
        put_field(stdout, "type", dl->type, false);
        put_field(stdout, "time", dl->time, false);
        put_field(stdout, "reason", dl->has_reason ? dl->reason : NULL, true);
        putchar('\n');
    }
    st->listed++;
    return st->o->limit == 0 || st->listed < st->o->limit;
}

static int run_list(const dlq_opts *o) {
    list_state st = {o, 0};
    long long read = 0;
    tally_err err = {0};
    tally_code rc = read_dead_letters(o, list_one, &st, &read, &err);
    fflush(stdout);
    if (rc != TALLY_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg);
        return 1;
    }
    fprintf(stderr, "%s: %lld dead letters listed (%lld read from %s)\n", PROG, st.listed, read,
            o->topic);
    return 0;
}

/* --- replay ---------------------------------------------------------------- */

typedef struct {
    const dlq_opts *o;
    tally_pg *pg;
    rd_kafka_t *producer;
    tally_kafka_deliveries deliveries;
    /* --file: the corrected event, its key, and the dead letters it covers */
    char *fixed_value;
    size_t fixed_len;
    char *fixed_key;
    bool tx_open; /* --file: the transaction holding the claims */
    int claimed;  /* --file: dead letters claimed in it */
    long long matched, replayed, skipped, invalid, failed;
    bool stop; /* a failure: replay no further */
} replay_state;

/* A PostgreSQL error, with a hint when the table is missing. */
static void pg_failure(const char *what, const tally_err *err) {
    fprintf(stderr, "%s: %s: %s%s\n", PROG, what, err->msg,
            strstr(err->msg, "does not exist") ? " (run `tally migrate` first)" : "");
}

static void replay_when(tally_usec t, char *buf, size_t len) { tally_time_format_utc(t, buf, len); }

/* Publish one value and wait for the broker's acknowledgement. */
static tally_code publish_acked(replay_state *st, const char *key, size_t key_len,
                                const void *value, size_t len, tally_err *err) {
    long long failed_before = st->deliveries.failed;
    long long delivered_before = st->deliveries.delivered;
    rd_kafka_resp_err_t e;
    for (;;) {
        e = rd_kafka_producev(st->producer, RD_KAFKA_V_TOPIC(st->o->events_topic),
                              RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
        rd_kafka_poll(st->producer, 100);
    }
    if (e)
        return tally_err_set(err, TALLY_ESTORE, "publish to %s: %s", st->o->events_topic,
                             rd_kafka_err2str(e));
    /* Longer than message.timeout.ms: the delivery report says how it ended. */
    e = rd_kafka_flush(st->producer, 40000);
    if (e)
        return tally_err_set(err, TALLY_ESTORE, "publish to %s: not acknowledged: %s",
                             st->o->events_topic, rd_kafka_err2str(e));
    if (st->deliveries.failed > failed_before)
        return tally_err_set(err, TALLY_ESTORE, "publish to %s: %s", st->o->events_topic,
                             st->deliveries.last_error);
    if (st->deliveries.delivered <= delivered_before)
        return tally_err_set(err, TALLY_ESTORE, "publish to %s: no acknowledgement",
                             st->o->events_topic);
    return TALLY_OK;
}

static void describe(const dead_letter *dl, char *buf, size_t len) {
    char id[300] = "-";
    if (dl->id) tally_text_quote(dl->id, strlen(dl->id), id, sizeof id, true);
    snprintf(buf, len, "dlq=%d/%lld id=%s source=%s", (int)dl->partition, (long long)dl->offset, id,
             dl->has_source ? dl->source : "-");
}

static tally_pg_dlq_replay record_of(const replay_state *st, const dead_letter *dl) {
    tally_pg_dlq_replay r = {
        .dlq_topic = st->o->topic,
        .dlq_partition = dl->partition,
        .dlq_offset = dl->offset,
        .event_id = dl->id,
        .source_offset = dl->has_source ? dl->source : NULL,
        .fixed = st->o->file != NULL,
    };
    return r;
}

/* A dead letter's value, decoded again (not with --file, which replaces it). */
typedef struct {
    bool decoded;
    tally_event ev;    /* when decoded */
    char problem[512]; /* when not: why */
} letter_check;

/* Whether this dead letter was replayed already (and when); false, with the
 * run stopped and the failure said, when PostgreSQL cannot tell. */
static bool look_up_replay(replay_state *st, const dead_letter *dl, bool *found, tally_usec *at) {
    tally_err err = {0};
    if (tally_pg_dlq_replay_find(st->pg, st->o->topic, dl->partition, dl->offset, found, at,
                                 &err) == TALLY_OK)
        return true;
    pg_failure("dlq_replays", &err);
    st->failed++;
    st->stop = true;
    return false;
}

/* Dry run: what would happen to this dead letter. */
static bool replay_dry(replay_state *st, const dead_letter *dl, const letter_check *chk,
                       const char *what) {
    bool found = false;
    tally_usec at = 0;
    if (!look_up_replay(st, dl, &found, &at)) return false;
    char when[40];
    if (found) {
        replay_when(at, when, sizeof when);
        printf("skip %s: already replayed at %s\n", what, when);
        st->skipped++;
    } else if (st->o->file) {
        printf("would replay %s with %s (dry run)\n", what, st->o->file);
        st->replayed++;
    } else {
        printf("would replay %s (dry run)\n", what);
        if (chk && !chk->decoded)
            printf("  warning: still invalid (%s): it would be dead-lettered again\n",
                   chk->problem);
        st->replayed++;
    }
    return true;
}

/* One dead letter, its own value: claim, publish, wait, commit. */
static bool replay_value(replay_state *st, const dead_letter *dl, const letter_check *chk,
                         const char *what) {
    const rd_kafka_message_t *m = dl->m;
    /* Keyed as the contract says; an undecodable value keeps its own key. */
    const char *key = chk->decoded ? tally_event_key(&chk->ev) : (const char *)m->key;
    size_t key_len = chk->decoded ? strlen(key) : (m->key ? m->key_len : 0);
    tally_err err = {0};
    tally_pg_dlq_replay r = record_of(st, dl);
    bool claimed = false;
    tally_usec at = 0;
    if (tally_pg_begin(st->pg, &err) != TALLY_OK ||
        tally_pg_dlq_replay_claim(st->pg, &r, &claimed, &at, &err) != TALLY_OK) {
        tally_pg_rollback(st->pg);
        pg_failure("record the replay", &err);
        st->failed++;
        st->stop = true;
        return false;
    }
    if (!claimed) {
        tally_pg_rollback(st->pg);
        char when[40];
        replay_when(at, when, sizeof when);
        printf("skip %s: already replayed at %s\n", what, when);
        st->skipped++;
        return true;
    }
    if (publish_acked(st, key, key_len, m->payload, m->len, &err) != TALLY_OK) {
        tally_pg_rollback(st->pg); /* not published: not recorded */
        fprintf(stderr, "%s: %s: %s\n", PROG, what, err.msg);
        st->failed++;
        st->stop = true;
        return false;
    }
    if (tally_pg_commit(st->pg, &err) != TALLY_OK) {
        fprintf(stderr,
                "%s: %s: published to %s but not recorded (%s): a later replay may publish it"
                " again, which the event id makes harmless\n",
                PROG, what, st->o->events_topic, err.msg);
        st->failed++;
        st->stop = true;
        return false;
    }
    printf("replayed %s -> %s\n", what, st->o->events_topic);
    if (!chk->decoded)
        printf("  warning: still invalid (%s): it will be dead-lettered again\n", chk->problem);
    st->replayed++;
    return true;
}

/* --file: claim this dead letter in the one open transaction; the corrected
 * event is published once, after the whole topic was read. */
static bool replay_claim_fixed(replay_state *st, const dead_letter *dl, const char *what) {
    tally_err err = {0};
    if (!st->tx_open) {
        if (tally_pg_begin(st->pg, &err) != TALLY_OK) {
            pg_failure("record the replay", &err);
            st->failed++;
            st->stop = true;
            return false;
        }
        st->tx_open = true;
    }
    tally_pg_dlq_replay r = record_of(st, dl);
    bool claimed = false;
    tally_usec at = 0;
    if (tally_pg_dlq_replay_claim(st->pg, &r, &claimed, &at, &err) != TALLY_OK) {
        pg_failure("record the replay", &err);
        st->failed++;
        st->stop = true;
        return false;
    }
    if (claimed) {
        st->claimed++;
        printf("replaying %s with %s\n", what, st->o->file);
    } else {
        char when[40];
        replay_when(at, when, sizeof when);
        printf("skip %s: already replayed at %s\n", what, when);
        st->skipped++;
    }
    return true;
}

static bool replay_one(const dead_letter *dl, void *arg) {
    replay_state *st = arg;
    st->matched++;
    char what[600];
    describe(dl, what, sizeof what);
    if (st->o->file) {
        if (st->o->dry_run)
            replay_dry(st, dl, NULL, what);
        else
            replay_claim_fixed(st, dl, what);
        return !st->stop && !interrupted;
    }
    letter_check chk = {0};
    const rd_kafka_message_t *m = dl->m;
    tally_err derr = {0};
    chk.decoded = m->payload && tally_event_decode(m->payload, m->len, &chk.ev, &derr) == TALLY_OK;
    if (!chk.decoded)
        snprintf(chk.problem, sizeof chk.problem, "%s", m->payload ? derr.msg : "no value");
    if (!chk.decoded && st->o->all) {
        /* It would only come back as a new dead letter, which the next --all
         * would replay again: correct it with --id and --file instead. Say
         * first whether it was replayed already (corrected, say). */
        bool found = false;
        tally_usec at = 0;
        if (!look_up_replay(st, dl, &found, &at)) return false; /* said; the run stops */
        if (found) {
            char when[40];
            replay_when(at, when, sizeof when);
            printf("skip %s: already replayed at %s\n", what, when);
            st->skipped++;
        } else {
            printf("skip %s: still invalid (%s)\n", what, chk.problem);
            st->invalid++;
        }
    } else if (st->o->dry_run) {
        replay_dry(st, dl, &chk, what);
    } else {
        replay_value(st, dl, &chk, what);
    }
    if (chk.decoded) tally_event_free(&chk.ev);
    return !st->stop && !interrupted;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Read --file: one JSON event that decodes and carries the id of --id. */
static int load_fixed(replay_state *st) {
    const char *path = st->o->file;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s: %s\n", PROG, path, strerror(errno));
        return 2;
    }
    tally_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        tally_buf_append(&b, chunk, n);
        if (b.len > (size_t)TALLY_EVENT_MAX_BYTES + 4096) break;
    }
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) {
        fprintf(stderr, "%s: error reading %s\n", PROG, path);
        tally_buf_free(&b);
        return 2;
    }
    /* One event: surrounding white space (a final newline) is not part of it. */
    size_t start = 0, end = b.len;
    while (start < end && is_space(b.data[start])) start++;
    while (end > start && is_space(b.data[end - 1])) end--;
    tally_event ev;
    tally_err err = {0};
    if (end == start) {
        fprintf(stderr, "%s: %s: empty\n", PROG, path);
        tally_buf_free(&b);
        return 2;
    }
    if (tally_event_decode(b.data + start, end - start, &ev, &err) != TALLY_OK) {
        fprintf(stderr, "%s: %s: not a valid event: %s\n", PROG, path, err.msg);
        tally_buf_free(&b);
        return 2;
    }
    int rc = 0;
    if (strcmp(ev.id, st->o->id) != 0) {
        char q[300];
        tally_text_quote(ev.id, strlen(ev.id), q, sizeof q, true);
        fprintf(stderr, "%s: %s: its id is \"%s\", not the --id given\n", PROG, path, q);
        rc = 2;
    } else {
        st->fixed_len = end - start;
        st->fixed_value = malloc(st->fixed_len);
        st->fixed_key = strdup(tally_event_key(&ev));
        if (!st->fixed_value || !st->fixed_key) tally_oom("dlq --file");
        memcpy(st->fixed_value, b.data + start, st->fixed_len);
    }
    tally_event_free(&ev);
    tally_buf_free(&b);
    return rc;
}

/* --file, after reading: publish the corrected event once for the dead
 * letters claimed, then commit the claims. */
static void publish_fixed(replay_state *st) {
    tally_err err = {0};
    if (!st->tx_open) return;
    if (st->stop || interrupted || st->claimed == 0) {
        tally_pg_rollback(st->pg);
        st->tx_open = false;
        return;
    }
    if (publish_acked(st, st->fixed_key, strlen(st->fixed_key), st->fixed_value, st->fixed_len,
                      &err) != TALLY_OK) {
        tally_pg_rollback(st->pg);
        st->tx_open = false;
        fprintf(stderr, "%s: %s: %s\n", PROG, st->o->file, err.msg);
        st->failed += st->claimed;
        return;
    }
    st->tx_open = false;
    if (tally_pg_commit(st->pg, &err) != TALLY_OK) {
        fprintf(stderr,
                "%s: %s: published to %s but not recorded (%s): a later replay may publish it"
                " again, which the event id makes harmless\n",
                PROG, st->o->file, st->o->events_topic, err.msg);
        st->failed += st->claimed;
        return;
    }
    printf("replayed %s (fixed, id %s) -> %s, for %d dead letter%s\n", st->o->file, st->o->id,
           st->o->events_topic, st->claimed, st->claimed == 1 ? "" : "s");
    st->replayed += st->claimed;
}

static int run_replay(const dlq_opts *o) {
    replay_state st = {.o = o};
    int rc = 0;
    if (o->file && (rc = load_fixed(&st)) != 0) goto out;
    tally_err err = {0};
    st.pg = tally_pg_open(o->pg_url, &err);
    if (!st.pg) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg);
        rc = 1;
        goto out;
    }
    if (!o->dry_run) {
        st.producer = tally_kafka_producer_new(o->brokers, &st.deliveries, &err);
        if (!st.producer) {
            fprintf(stderr, "%s: %s\n", PROG, err.msg);
            rc = 1;
            goto out;
        }
    }
    long long read = 0;
    tally_code read_rc = read_dead_letters(o, replay_one, &st, &read, &err);
    if (read_rc != TALLY_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg);
        st.stop = true;
    }
    if (o->file && !o->dry_run) publish_fixed(&st);

    printf("%lld %s, %lld already replayed, %lld still invalid, %lld failed (%lld matched, %lld"
           " read from %s)\n",
           st.replayed, o->dry_run ? "would be replayed (dry run)" : "replayed", st.skipped,
           st.invalid, st.failed, st.matched, read, o->topic);
    if (st.invalid)
        printf("still invalid dead letters are not replayed by --all: correct each with"
               " --id EVENT_ID --file FIXED.json\n");
    if (read_rc != TALLY_OK || st.failed || st.stop || interrupted)
        rc = 1;
    else if (o->id && st.matched == 0) {
        fprintf(stderr, "%s: no dead letter in %s has id %s\n", PROG, o->topic, o->id);
        rc = 3;
    }
out:
    if (st.tx_open) tally_pg_rollback(st.pg);
    if (st.producer) {
        rd_kafka_flush(st.producer, 5000);
        rd_kafka_destroy(st.producer);
    }
    tally_pg_close(st.pg);
    free(st.fixed_value);
    free(st.fixed_key);
    return rc;
}

/* --- the command ------------------------------------------------------------ */

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: tally dlq [list] [options]\n"
        "       tally dlq replay (--id EVENT_ID [--file FIXED.json] | --all) [--dry-run]"
        " [options]\n\n"
        "The dead-letter topic holds every event tally-ingest rejected, unchanged (same key,\n"
        "same value bytes), with two headers: tally-error (the reason) and\n"
        "tally-source-offset (topic/partition/offset of the original in the events topic).\n"
        "\n"
        "list (the default) prints one line per dead letter, reading every partition from\n"
        "the beginning to where it ended when the command started:\n"
        "  dlq=PARTITION/OFFSET at=WRITTEN source=TOPIC/PARTITION/OFFSET id=ID type=TYPE\n"
        "  time=TIME reason=\"...\"\n"
        "ID, TYPE and TIME come from the value, read leniently: '-' when it is not a JSON\n"
        "object or lacks them; WRITTEN is the Kafka record's time. --format json prints\n"
        "one JSON object per line instead (null for '-'). A summary goes to stderr.\n"
        "\n"
        "replay re-publishes dead letters to the events topic with an idempotent producer,\n"
        "keyed as the contract says (the event's subject, or _global; a value that does\n"
        "not decode keeps the dead letter's own key), and waits for the broker's\n"
        "acknowledgement. Each dead letter is replayed at most once: its position is\n"
        "recorded in PostgreSQL (table dlq_replays) in a transaction that commits only\n"
        "after the acknowledgement, and a dead letter already recorded is skipped\n"
        "(\"already replayed at ...\"). --id replays the dead letters of one event, each\n"
        "with its own value; with --file it publishes the corrected event in FIXED.json\n"
        "once instead (one JSON event that must pass the event decoder and carry that id).\n"
        "--all replays every dead letter the filters select whose value passes the\n"
        "decoder now, and skips the others (\"still invalid\"): they would only come back\n"
        "as new dead letters. --id publishes even such a value (with the dead letter's\n"
        "own key), with a warning.\n"
        "\n"
        "Options:\n"
        "  -b, --brokers LIST      bootstrap servers (default $TALLY_KAFKA_BROKERS)\n"
        "  -t, --topic NAME        dead-letter topic (default $TALLY_TOPIC_DLQ or tally.dlq)\n"
        "      --type TYPE         only dead letters whose value has this event type\n"
        "      --reason TEXT       only those whose reason contains TEXT\n"
        "      --id EVENT_ID       only those whose value has this event id\n"
        "      --since TIME        only those written to the topic at or after TIME (RFC 3339)\n"
        "      --timeout MS        give up when Kafka answers nothing for MS (default 30000)\n"
        "  list:\n"
        "      --format text|json  one line each (default) or NDJSON\n"
        "      --limit N           stop after N dead letters\n"
        "  replay:\n"
        "      --all               every dead letter the filters select\n"
        "      --file FIXED.json   with --id: publish this corrected event instead\n"
        "      --dry-run           say what would be replayed; publish and record nothing\n"
        "      --events-topic NAME where to publish (default $TALLY_TOPIC_EVENTS or\n"
        "                          tally.events)\n"
        "      --pg-url URL        PostgreSQL with the dlq_replays table (default\n"
        "                          $TALLY_PG_URL)\n"
        "  -h, --help              this text\n"
        "\n"
        "Dead letters are written in Kafka transactions: whoever reads the dead-letter topic\n"
        "must read committed records only, or the copies of an aborted batch show up too.\n"
        "tally dlq does; with kcat:\n"
        "  kcat -C -t tally.dlq -X isolation.level=read_committed -e \\\n"
        "       -f '%%p/%%o %%h\\n%%s\\n'\n"
        "\n"
        "Exit status: 0 done (a dead letter already replayed is skipped, not an error);\n"
        "1 Kafka or PostgreSQL failed; 2 bad usage, or a --file that is not a valid event\n"
        "with that id; 3 replay --id found no dead letter with that id.\n");
}

enum {
    OPT_TYPE = 256,
    OPT_REASON,
    OPT_ID,
    OPT_SINCE,
    OPT_TIMEOUT,
    OPT_FORMAT,
    OPT_LIMIT,
    OPT_ALL,
    OPT_FILE,
    OPT_DRY_RUN,
    OPT_EVENTS_TOPIC,
    OPT_PG_URL,
};

int tally_cmd_dlq(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    dlq_opts o = {
        .brokers = cfg.kafka_brokers,
        .topic = cfg.topic_dlq,
        .events_topic = cfg.topic_events,
        .pg_url = cfg.pg_url,
        .timeout_ms = 30000,
    };
    bool replay = false;
    if (argc > 1 && !strcmp(argv[1], "replay")) {
        replay = true;
        argc--, argv++;
    } else if (argc > 1 && !strcmp(argv[1], "list")) {
        argc--, argv++;
    }
    static const struct option opts[] = {
        {"brokers", required_argument, 0, 'b'},
        {"topic", required_argument, 0, 't'},
        {"type", required_argument, 0, OPT_TYPE},
        {"reason", required_argument, 0, OPT_REASON},
        {"id", required_argument, 0, OPT_ID},
        {"since", required_argument, 0, OPT_SINCE},
        {"timeout", required_argument, 0, OPT_TIMEOUT},
        {"format", required_argument, 0, OPT_FORMAT},
        {"limit", required_argument, 0, OPT_LIMIT},
        {"all", no_argument, 0, OPT_ALL},
        {"file", required_argument, 0, OPT_FILE},
        {"dry-run", no_argument, 0, OPT_DRY_RUN},
        {"events-topic", required_argument, 0, OPT_EVENTS_TOPIC},
        {"pg-url", required_argument, 0, OPT_PG_URL},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *list_only = NULL, *replay_only = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': o.brokers = optarg; break;
        case 't': o.topic = optarg; break;
        case OPT_TYPE: o.type = optarg; break;
        case OPT_REASON: o.reason = optarg; break;
        case OPT_ID: o.id = optarg; break;
        case OPT_SINCE:
            if (!tally_time_parse_rfc3339(optarg, &o.since)) {
                fprintf(stderr, "%s: --since: expected an RFC 3339 time, got '%s'\n", PROG, optarg);
                return 2;
            }
            o.has_since = true;
            break;
        case OPT_TIMEOUT:
            if (!tally_parse_flag_int_capped(PROG, "--timeout", optarg, 1, 3600000, &o.timeout_ms))
                return 2;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                fprintf(stderr, "%s: --format: expected text or json, got '%s'\n", PROG, optarg);
                return 2;
            }
            o.json = !strcmp(optarg, "json");
            list_only = "--format";
            break;
        case OPT_LIMIT:
            if (!tally_parse_flag_int(PROG, "--limit", optarg, 1, &o.limit)) return 2;
            list_only = "--limit";
            break;
        case OPT_ALL: o.all = true, replay_only = "--all"; break;
        case OPT_FILE: o.file = optarg, replay_only = "--file"; break;
        case OPT_DRY_RUN: o.dry_run = true, replay_only = "--dry-run"; break;
        case OPT_EVENTS_TOPIC: o.events_topic = optarg, replay_only = "--events-topic"; break;
        case OPT_PG_URL: o.pg_url = optarg, replay_only = "--pg-url"; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (try '%s --help')\n", PROG, argv[optind],
                PROG);
        return 2;
    }
    if (!replay) {
        if (replay_only) {
            fprintf(stderr, "%s: %s belongs to 'tally dlq replay'\n", PROG, replay_only);
            return 2;
        }
        return run_list(&o);
    }
    if (list_only) {
        fprintf(stderr, "%s: %s belongs to 'tally dlq list'\n", PROG, list_only);
        return 2;
    }
    if (!o.all == !o.id) {
        fprintf(stderr, "%s: replay needs exactly one of --id EVENT_ID and --all\n", PROG);
        return 2;
    }
    if (o.file && !o.id) {
        fprintf(stderr, "%s: --file needs --id (one corrected event for one event id)\n", PROG);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return run_replay(&o);
}
