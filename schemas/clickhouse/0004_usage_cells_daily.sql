-- usage_cells_daily: the latest value of every window cell among the rows of usage_cells
-- written on each UTC day (visible_day, epoch ms of the day's start), kept by a materialized
-- view as rows arrive. A cell that changes every second has 86,400 rows a day in usage_cells
-- and one here, so a read of a cell as of time t takes the latest of its daily values of the
-- days before t's day (argMaxMerge) and of its rows of t's day written by t, instead of every
-- row since the period began. The value is the tuple (quantity as text, quantity_json, cost as
-- text, cost_json, processed_ms, kafka_offset), latest by (processed_ms, kafka_offset) as in
-- usage_cells.
CREATE TABLE IF NOT EXISTS usage_cells_daily
(
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
    period_start DateTime('UTC'),
    visible_day Int64,
    latest AggregateFunction(argMax, Tuple(String, String, String, String, Int64, Int64), Tuple(Int64, Int64))
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(period_start)
ORDER BY (organization_id, level, period_start_ms, scope, resource_id, plan, metric, space_id, consumer_id,
          resource_instance_id, visible_day);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_cells_daily_mv TO usage_cells_daily AS
SELECT organization_id, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, scope, level,
       period_start_ms, toDateTime(intDiv(period_start_ms, 1000), 'UTC') AS period_start,
       intDiv(visible_ms, 86400000) * 86400000 AS visible_day,
       argMaxState(tuple(ifNull(toString(quantity), ''), quantity_json, ifNull(toString(cost), ''), cost_json,
                         processed_ms, kafka_offset), tuple(processed_ms, kafka_offset)) AS latest
FROM usage_cells
GROUP BY organization_id, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, scope, level,
         period_start_ms, period_start, visible_day;

