#include "tally_stream.h"

#include <stdio.h>
#include <string.h>

tally_code tally_dlq_send(rd_kafka_t *producer, const char *dlq_topic,
                          const rd_kafka_message_t *msg, const char *reason, tally_err *err) {
    char source[256];
    snprintf(source, sizeof source, "%s/%d/%lld", rd_kafka_topic_name(msg->rkt),
             (int)msg->partition, (long long)msg->offset);
    /* The reason is one line: newlines become spaces. */
    char line[512];
    snprintf(line, sizeof line, "%s", reason);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(dlq_topic), RD_KAFKA_V_KEY(msg->key, msg->key_len),
            RD_KAFKA_V_VALUE(msg->payload, msg->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("tally-error", line, (ssize_t)strlen(line)),
            RD_KAFKA_V_HEADER("tally-source-offset", source, (ssize_t)strlen(source)),
            RD_KAFKA_V_END);
        if (!e) return TALLY_OK;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return tally_err_set(err, TALLY_ESTORE, "dlq: %s", rd_kafka_err2str(e));
        rd_kafka_poll(producer, 100);
    }
}
