-- nova_servers and nova_server_days: summaries of the openstack-compute documents in
-- usage_events that ClickHouse keeps itself (each materialized view below sees every block the
-- raw sink inserts), so that the Nova view (internal/clickhouse/novaserverdays.go) reads a row
-- per server and a row per server and day instead of every hourly document.
--
-- nova_servers, per tenant and server (resource_instance_id) over all time: first start,
-- latest run end, the largest overhang of a document (how far its run or start lies after its
-- end_ms, which orders usage_events' event_time) and the latest document (by end, start, id).
-- Minima, maxima and argMax are the same however often a document is summed, so a document
-- stored twice changes nothing here, and rejections need not be known.
--
-- nova_server_days, per tenant, server and day of event_time: first start and latest run end
-- of the day's documents, the sums of their four measures, how many documents were summed
-- (docs) and how many distinct ids (ids). The summary sees inserted blocks, not usage_events'
-- deduplicated rows: a day whose docs differ from its ids holds a document stored twice, and
-- the view reads that day from usage_events FINAL instead of the sums. A day with a rejected
-- document (usage_rejections, written later by the processor), or with a document not wholly
-- inside the period asked, is read from the documents too.
-- docs/tables.md documents the columns, with a query example.

CREATE TABLE IF NOT EXISTS nova_servers
(
    organization_id String,
    resource_instance_id String,
    min_start AggregateFunction(min, Int64),
    max_run_end AggregateFunction(max, Int64),
    max_overhang AggregateFunction(max, Int64),
    latest_plan AggregateFunction(argMax, String, Tuple(Int64, Int64, String)),
    latest_start AggregateFunction(argMax, Int64, Tuple(Int64, Int64, String)),
    latest_end AggregateFunction(argMax, Int64, Tuple(Int64, Int64, String)),
    latest_secs AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String)),
    latest_vcpu AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String)),
    latest_mem AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String)),
    latest_gb AggregateFunction(argMax, Decimal(38, 12), Tuple(Int64, Int64, String))
)
ENGINE = AggregatingMergeTree()
ORDER BY (organization_id, resource_instance_id);

CREATE TABLE IF NOT EXISTS nova_server_days
(
    organization_id String,
    resource_instance_id String,
    day Date,
    min_start AggregateFunction(min, Int64),
    max_run_end AggregateFunction(max, Int64),
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

-- The quantities are the view's measures (nova.MeasureNames), read without a subquery: an
-- 18.16 materialized view resolves no alias of one.
CREATE MATERIALIZED VIEW IF NOT EXISTS nova_servers_mv TO nova_servers AS
SELECT organization_id, resource_instance_id,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000))) AS max_run_end,
    maxState(greatest(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000)), start_ms) - end_ms) AS max_overhang,
    argMaxState(plan_id, (end_ms, start_ms, id)) AS latest_plan,
    argMaxState(start_ms, (end_ms, start_ms, id)) AS latest_start,
    argMaxState(end_ms, (end_ms, start_ms, id)) AS latest_end,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], (end_ms, start_ms, id)) AS latest_secs,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')], (end_ms, start_ms, id)) AS latest_vcpu,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')], (end_ms, start_ms, id)) AS latest_mem,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')], (end_ms, start_ms, id)) AS latest_gb
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS nova_server_days_mv TO nova_server_days AS
SELECT organization_id, resource_instance_id, toDate(event_time) AS day,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000))) AS max_run_end,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) AS secs,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')]) AS vcpu,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')]) AS mem,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')]) AS gb,
    countState() AS docs,
    uniqExactState(id) AS ids
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id, day;

-- The documents stored before the views existed. A document the sink stores between the views
-- and these statements is summed twice: nova_servers does not mind, and nova_server_days shows
-- its day as holding a duplicate (read from usage_events); none is missed. Run twice (a crash
-- before the migration is recorded), every day so far would read as duplicated: correct, slower.
INSERT INTO nova_servers (organization_id, resource_instance_id, min_start, max_run_end, max_overhang, latest_plan, latest_start, latest_end, latest_secs, latest_vcpu, latest_mem, latest_gb)
SELECT organization_id, resource_instance_id,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000))) AS max_run_end,
    maxState(greatest(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000)), start_ms) - end_ms) AS max_overhang,
    argMaxState(plan_id, (end_ms, start_ms, id)) AS latest_plan,
    argMaxState(start_ms, (end_ms, start_ms, id)) AS latest_start,
    argMaxState(end_ms, (end_ms, start_ms, id)) AS latest_end,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], (end_ms, start_ms, id)) AS latest_secs,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')], (end_ms, start_ms, id)) AS latest_vcpu,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')], (end_ms, start_ms, id)) AS latest_mem,
    argMaxState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')], (end_ms, start_ms, id)) AS latest_gb
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id;

INSERT INTO nova_server_days (organization_id, resource_instance_id, day, min_start, max_run_end, secs, vcpu, mem, gb, docs, ids)
SELECT organization_id, resource_instance_id, toDate(event_time) AS day,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(ceil(toFloat64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) * 1000))) AS max_run_end,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')]) AS secs,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')]) AS vcpu,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')]) AS mem,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')]) AS gb,
    countState() AS docs,
    uniqExactState(id) AS ids
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id, day;
