-- usage_events: one row per accepted resource usage document (the raw event sink's table).
--
-- Written by the raw event sink from meterline.usage.collected.v1 in batches. The sink skips
-- documents whose id is already stored, so a replay after a crash adds no visible duplicate;
-- ReplacingMergeTree on the same key is the backstop should two sink instances ever write the
-- same batch during a rebalance (SELECT ... FINAL then shows exactly one row per document).
-- Times are UTC. docs/tables.md documents every column, with example queries.
CREATE TABLE IF NOT EXISTS usage_events
(
    id String,
    source String,
    account_id String,
    organization_id String,
    space_id String,
    consumer_id String,
    resource_id String,
    plan_id String,
    resource_instance_id String,
    dedup_id String,
    start_ms Int64,
    end_ms Int64,
    event_time DateTime('UTC') DEFAULT toDateTime(intDiv(end_ms, 1000), 'UTC'),
    measured_usage Nested(measure String, quantity Decimal(38, 12)),
    received_ms Int64,
    stored_ms Int64,
    stored_time DateTime('UTC') DEFAULT toDateTime(intDiv(stored_ms, 1000), 'UTC'),
    kafka_partition Int32,
    kafka_offset Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (organization_id, event_time, id);
