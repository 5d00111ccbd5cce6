-- usage_cells: the committed values of every window cell, as the metering processor
-- published them on meterline.usage.rated.v1 (one row per cell per processor transaction; the
-- cell sink keeps only the last of a cell's values within one of its batches).
--
-- A cell is (organization, space, consumer, resource instance, resource, plan, metric, scope,
-- level, period). processed_ms is when the processor's transaction produced a value,
-- visible_ms when the cell sink wrote it here. The value of a cell as of time t is, among the
-- rows with processed_ms <= t AND visible_ms <= t, the one with the greatest
-- (processed_ms, kafka_offset): argMax(quantity, (processed_ms, kafka_offset)). Reports read
-- it that way, so a report of time t shows exactly what could be read at t, and asking again
-- later gives the same answer. A replay after a sink crash writes copies with a later
-- visible_ms, which the same argMax reads as the same value. Partitions are by period month
-- and by the day the rows were written, so that a read of today's rows skips the older ones
-- (usage_cells_daily holds the latest value of each cell per earlier day). Quantities and costs that are
-- maps (time-based metrics) are in the *_json columns, decimals in the Decimal columns.
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
    visible_ms Int64,
    visible DateTime('UTC') DEFAULT toDateTime(intDiv(visible_ms, 1000), 'UTC'),
    kafka_partition Int32,
    kafka_offset Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY (toYYYYMM(period_start), toYYYYMMDD(visible))
ORDER BY (organization_id, level, period_start_ms, scope, resource_id, plan, metric, space_id, consumer_id,
          resource_instance_id, processed_ms, kafka_partition, kafka_offset, visible_ms);
