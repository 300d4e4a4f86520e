-- Kafka positions a consumer group has made durable here, committed in the
-- same transaction as the work they cover (the aggregator). On every partition
-- assignment the consumer seeks to next_offset, not to Kafka's own offsets.
CREATE TABLE consumer_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
