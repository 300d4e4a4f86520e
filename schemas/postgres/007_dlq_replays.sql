-- Dead letters `tally dlq replay` has re-published to the events topic
-- (docs/operations.md, "Dead letters"): one row per dead letter, keyed by its
-- position in the dead-letter topic, so that each one is replayed at most once.
-- The row is inserted (ON CONFLICT DO NOTHING) in a transaction that stays
-- open while the event is published and commits only after the broker has
-- acknowledged it; a second replay of the same dead letter finds the row and
-- is skipped, a concurrent one waits on it.
CREATE TABLE dlq_replays (
    dlq_topic      text NOT NULL,
    dlq_partition  integer NOT NULL,
    dlq_offset     bigint NOT NULL,
    event_id       text,                 -- NULL when the dead letter's value had none
    source_offset  text,                 -- its tally-source-offset header: topic/partition/offset
    replayed_at    timestamptz NOT NULL DEFAULT now(),
    fixed          boolean NOT NULL DEFAULT false, -- a corrected event (--file) was published
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
CREATE INDEX dlq_replays_by_event ON dlq_replays (event_id);
