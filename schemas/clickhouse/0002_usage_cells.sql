-- usage_cells: every committed value of every window cell, as the metering processor
-- published it on meterline.usage.rated.v1 (one row per cell per processor transaction).
--
-- A cell is (organization, space, consumer, resource instance, resource, plan, metric, scope,
-- level, period). Its value as of time t is the row with the greatest processed_ms <= t:
-- argMax(quantity, processed_ms) ... WHERE processed_ms <= t. Reports read it that way, so a
-- report for a past time never changes. The cell sink may write a row twice after a crash;
-- the copies are identical (same processed_ms, same Kafka offset), so argMax is unaffected,
-- and ReplacingMergeTree removes them on merge. Quantities and costs that are maps
-- (time-based metrics) are in the *_json columns, decimals in the Decimal columns.
CREATE TABLE IF NOT EXISTS usage_cells
(
    account_id String,
    organization_id String,
    space_id String,
    consumer_id String,
    resource_instance_id String,
    resource_id String,
    plan String,
    metric String,
    scope String,
    level String,
    period_start_ms Int64,
    period_end_ms Int64,
    period_start DateTime('UTC') DEFAULT toDateTime(intDiv(period_start_ms, 1000), 'UTC'),
    quantity Nullable(Decimal(38, 12)),
    quantity_json String,
    cost Nullable(Decimal(38, 12)),
    cost_json String,
    currency String,
    processed_ms Int64,
    kafka_partition Int32,
    kafka_offset Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(period_start)
ORDER BY (organization_id, level, period_start_ms, scope, resource_id, plan, metric, space_id, consumer_id,
          resource_instance_id, processed_ms, kafka_partition, kafka_offset);
