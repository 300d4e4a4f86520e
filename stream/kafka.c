#include "tally_stream.h"

#include <stdio.h>

#include "tally_common.h"

tally_code tally_kafka_conf_apply(rd_kafka_conf_t *conf, const tally_kafka_setting *s, size_t n,
                                  tally_err *err) {
    char errstr[512];
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_conf_set(conf, s[i].name, s[i].value, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
            return tally_err_set(err, TALLY_EINVAL, "kafka setting %s=%s: %s", s[i].name,
                                 s[i].value, errstr);
    return TALLY_OK;
}

/* A handle of `type` from conf (consumed either way); NULL with err naming
 * `what` when librdkafka refuses it. */
static rd_kafka_t *new_handle(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                              tally_err *err) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        tally_err_set(err, TALLY_EINVAL, "kafka %s: %s", what, errstr);
    }
    return rk;
}

/* A conf with n settings applied; NULL with err naming the bad one. */
static rd_kafka_conf_t *conf_of(const tally_kafka_setting *s, size_t n, tally_err *err) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tally_kafka_conf_apply(conf, s, n, err) != TALLY_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

rd_kafka_t *tally_kafka_consumer_new(const char *brokers, const char *group,
                                     const tally_kafka_setting *extra, size_t n_extra,
                                     void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                          rd_kafka_topic_partition_list_t *,
                                                          void *),
                                     void *opaque, tally_err *err) {
    const tally_kafka_setting base[] = {
        {"bootstrap.servers", brokers},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "false"},
        /* 1 MiB, librdkafka's default: the fetch buffers, one per partition,
         * are most of a consumer's memory (8 MiB made tally-ingest peak at
         * ~170 MB). A larger event is still fetched: the client grows the
         * size for it (the 2 MB poison test proves it). */
        {"fetch.message.max.bytes", "1048576"},
        {"max.poll.interval.ms", "600000"},
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
        {"queued.max.messages.kbytes", "16384"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tally_kafka_conf_apply(conf, base, sizeof base / sizeof base[0], err) != TALLY_OK ||
        (extra && tally_kafka_conf_apply(conf, extra, n_extra, err) != TALLY_OK)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (rebalance_cb) rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = new_handle(RD_KAFKA_CONSUMER, conf, "consumer", err);
    if (rk) rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    tally_kafka_deliveries *d = opaque;
    if (!d) return;
    if (m->err) {
        d->failed++;
        snprintf(d->last_error, sizeof d->last_error, "%s", rd_kafka_err2str(m->err));
    } else {
        d->delivered++;
    }
}

rd_kafka_t *tally_kafka_producer_new(const char *brokers, tally_kafka_deliveries *d,
                                     tally_err *err) {
    const tally_kafka_setting s[] = {
        {"bootstrap.servers", brokers},   {"enable.idempotence", "true"},  {"linger.ms", "5"},
        {"message.max.bytes", "8388608"}, {"message.timeout.ms", "30000"},
    };
    rd_kafka_conf_t *conf = conf_of(s, sizeof s / sizeof s[0], err);
    if (!conf) return NULL;
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    return new_handle(RD_KAFKA_PRODUCER, conf, "producer", err);
}

rd_kafka_t *tally_kafka_txn_producer_new(const char *brokers, const char *transactional_id,
                                         tally_err *err) {
    const tally_kafka_setting s[] = {
        {"bootstrap.servers", brokers},
        {"transactional.id", transactional_id},
        {"linger.ms", "5"},
        {"message.max.bytes", "8388608"},
        /* A transaction left open by a process that died is aborted when
         * its successor (same id) starts; this bounds the wait when none
         * does. */
        {"transaction.timeout.ms", "60000"},
    };
    rd_kafka_conf_t *conf = conf_of(s, sizeof s / sizeof s[0], err);
    rd_kafka_t *rk = conf ? new_handle(RD_KAFKA_PRODUCER, conf, "producer", err) : NULL;
    if (!rk) return NULL;
    /* Registers the id with the transaction coordinator, fencing any
     * earlier producer of the same id and aborting what it left open. */
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 60000);
    if (e) {
        tally_err_set(err, TALLY_ESTORE, "kafka transactions (transactional.id %s): %s",
                      transactional_id, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

tally_code tally_kafka_subscribe(rd_kafka_t *rk, const char *topic, tally_err *err) {
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) return tally_err_set(err, TALLY_ESTORE, "subscribe %s: %s", topic, rd_kafka_err2str(e));
    return TALLY_OK;
}

void tally_kafka_poll_batch(rd_kafka_t *rk, rd_kafka_message_t **out, int *n, int max, int wait_ms,
                            volatile sig_atomic_t *stop, bool *revoked) {
    int64_t deadline = tally_time_monotonic_us() + (int64_t)wait_ms * 1000;
    while (*n < max && !*stop) {
        int64_t left_ms = (deadline - tally_time_monotonic_us()) / 1000;
        if (left_ms <= 0) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, (int)left_ms);
        if (revoked && *revoked) {
            for (int i = 0; i < *n; i++) rd_kafka_message_destroy(out[i]);
            *n = 0;
            *revoked = false;
        }
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                tally_warn("consumer error", "error=\"%s\"", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        out[(*n)++] = m;
    }
}
