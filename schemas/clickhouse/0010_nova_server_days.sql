-- nova_server_days: per tenant, server (resource_instance_id) and day of event_time, a summary
-- of the openstack-compute documents in usage_events, kept by ClickHouse itself (the
-- materialized view nova_server_days_mv below sees every block the raw sink inserts). The
-- Nova view (internal/clickhouse/novaservers.go) reads it instead of every hourly document.
--
-- Exactly once: the summary sees inserted blocks, not usage_events' deduplicated rows, so a
-- document the sink wrote twice is in it twice. Its docs (countState) and ids (uniqExactState
-- of the document ids) tell: a day whose docs differ from its ids holds a duplicate, and the
-- view reads that day's documents from usage_events FINAL instead of the sums. Rejections are
-- not known here (they come later, in usage_rejections): a day with a rejected document is
-- read from the documents too. min_start/max_run_end say whether every document of the day
-- lies inside a period (else the day is read from the documents and clipped).
-- docs/tables.md documents the columns, with a query example.
CREATE TABLE IF NOT EXISTS nova_server_days
(
    organization_id String,
    resource_instance_id String,
    day Date,
    min_start AggregateFunction(min, Int64),
    max_run_end AggregateFunction(max, Int64),
    latest_plan AggregateFunction(argMax, String, Tuple(Int64, Int64, String)),
    latest_start AggregateFunction(argMax, Int64, Tuple(Int64, Int64, String)),
    latest_end AggregateFunction(argMax, Int64, Tuple(Int64, Int64, String)),
    latest_secs AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String)),
    latest_vcpu AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String)),
    latest_mem AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String)),
    latest_gb AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String)),
    secs AggregateFunction(sum, Decimal(38, 12)),
    vcpu AggregateFunction(sum, Decimal(38, 12)),
    mem AggregateFunction(sum, Decimal(38, 12)),
    gb AggregateFunction(sum, Decimal(38, 12)),
    docs AggregateFunction(count),
    ids AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (organization_id, resource_instance_id, day);

-- The quantities are read as the view's measures (nova.MeasureNames); no subquery, as an
-- 18.16 materialized view resolves none of its aliases.
CREATE MATERIALIZED VIEW IF NOT EXISTS nova_server_days_mv TO nova_server_days AS
SELECT organization_id, resource_instance_id, toDate(event_time) AS day,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000))) AS max_run_end,
    argMaxState(plan_id, (end_ms, start_ms, id)) AS latest_plan,
    argMaxState(start_ms, (end_ms, start_ms, id)) AS latest_start,
    argMaxState(end_ms, (end_ms, start_ms, id)) AS latest_end,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], (end_ms, start_ms, id)) AS latest_secs,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')], (end_ms, start_ms, id)) AS latest_vcpu,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')], (end_ms, start_ms, id)) AS latest_mem,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')], (end_ms, start_ms, id)) AS latest_gb,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) AS secs,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')]) AS vcpu,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')]) AS mem,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')]) AS gb,
    countState() AS docs,
    uniqExactState(id) AS ids
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id, day;

-- The documents stored before the view existed. A document the sink stores between the two
-- statements is summed twice and so shows as a duplicate (its day read from usage_events);
-- none is missed.
INSERT INTO nova_server_days (organization_id, resource_instance_id, day, min_start, max_run_end, latest_plan, latest_start, latest_end, latest_secs, latest_vcpu, latest_mem, latest_gb, secs, vcpu, mem, gb, docs, ids)
SELECT organization_id, resource_instance_id, toDate(event_time) AS day,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000))) AS max_run_end,
    argMaxState(plan_id, (end_ms, start_ms, id)) AS latest_plan,
    argMaxState(start_ms, (end_ms, start_ms, id)) AS latest_start,
    argMaxState(end_ms, (end_ms, start_ms, id)) AS latest_end,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], (end_ms, start_ms, id)) AS latest_secs,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')], (end_ms, start_ms, id)) AS latest_vcpu,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')], (end_ms, start_ms, id)) AS latest_mem,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')], (end_ms, start_ms, id)) AS latest_gb,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) AS secs,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')]) AS vcpu,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')]) AS mem,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')]) AS gb,
    countState() AS docs,
    uniqExactState(id) AS ids
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id, day;
