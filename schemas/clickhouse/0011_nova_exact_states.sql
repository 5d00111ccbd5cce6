-- nova_servers_v2 and nova_server_days_v2: the Nova view's summaries of migration 0010
-- (nova_servers, nova_server_days), re-created so that no figure in them is rounded or wraps
-- silently (issue 12 item 5; docs/reports.md, "Exact arithmetic"). They replace 0010's tables,
-- which the end of this migration drops with their views. What changed:
--
-- A run's end (max_run_end, max_overhang, and novaDocsSQL's classification of a document as
-- inside a period or across its edge) is start_ms plus instance_seconds in ms, rounded up; it
-- is now computed in decimals and integers: instance_seconds has 12 places, so times 1000 it
-- is a multiple of 10^-9, and adding 0.999999999 before toInt64 truncates gives its exact
-- ceiling. 0010 took it through a binary floating-point number, exact below 4096 s only:
-- 100000000.000000000001 s came out as 10^11 ms instead of 10^11 + 1, and such a run ending
-- just past a period was summed whole instead of clipped. The seconds are first held within
-- [0, 10^15] (quantities are never negative; 10^15 s is 31.7 million years): a longer run ends
-- at start + 10^18 ms, past any period, so it is always clipped (exactly, by the view), and
-- toInt64 never sees a number beyond Int64 (which current ClickHouse refuses, failing the
-- insert into usage_events).
--
-- A day's measures are summed in two parts that cannot wrap: a quantity q of Decimal(38, 12)
-- is below 10^26 in size, so hi = trunc(q / 10^13) (secs_hi, vcpu_hi, ..., Decimal(38, 0))
-- and lo = q - hi * 10^13 (secs_lo, ..., Decimal(38, 12)) are each below 10^13, and q = hi *
-- 10^13 + lo exactly. 0010 summed q itself, and ClickHouse 18.16 sums a Decimal128 without an
-- overflow check: four quantities of 8.5 * 10^25 summed to 5 inside the state, before any
-- query could see it. A sum of n parts is below n * 10^13: lo wraps only past 1.7 * 10^13
-- documents, which the reader refuses by the day's docs (clickhouse/decimalparts.go), and
-- both print in full (18.16's toString of a Decimal128 of 22 or more integer digits is
-- broken) up to 10^8 documents of the largest quantities. The reader adds hi * 10^13 + lo in Go.
--
-- Existing data: the views are created first, then both tables are filled from every
-- document already in usage_events (the tables are kept from the documents, so the states of
-- 0010 are not needed, and an upgraded deployment answers as before, now exactly); then 0010's
-- views and tables are dropped. A reader of this build starts only once the migration is
-- recorded (RequireSchema), and one of the build before reads 0010's tables until they are
-- dropped (then fails on the missing tables until it is replaced). As in 0010, a document
-- the sink stores between a view and its backfill is summed twice: nova_servers_v2 does not
-- mind, and nova_server_days_v2 shows its day as holding a duplicate (docs differ from ids),
-- which the view reads from usage_events; none is missed. Run twice (a crash before the
-- migration is recorded), every day so far reads as duplicated: correct, slower.
-- docs/tables.md documents the columns, with a query example.

CREATE TABLE IF NOT EXISTS nova_servers_v2
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

CREATE TABLE IF NOT EXISTS nova_server_days_v2
(
    organization_id String,
    resource_instance_id String,
    day Date,
    min_start AggregateFunction(min, Int64),
    max_run_end AggregateFunction(max, Int64),
    secs_hi AggregateFunction(sum, Decimal(38, 0)),
    secs_lo AggregateFunction(sum, Decimal(38, 12)),
    vcpu_hi AggregateFunction(sum, Decimal(38, 0)),
    vcpu_lo AggregateFunction(sum, Decimal(38, 12)),
    mem_hi AggregateFunction(sum, Decimal(38, 0)),
    mem_lo AggregateFunction(sum, Decimal(38, 12)),
    gb_hi AggregateFunction(sum, Decimal(38, 0)),
    gb_lo AggregateFunction(sum, Decimal(38, 12)),
    docs AggregateFunction(count),
    ids AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (organization_id, resource_instance_id, day);

-- The quantities are the view's measures (nova.MeasureNames), read without a subquery or an
-- alias: an 18.16 materialized view resolves no alias of a subquery. The parts and the run's
-- end are written out in full for the same reason (clickhouse/decimalparts.go builds the same
-- expressions for the queries).
CREATE MATERIALIZED VIEW IF NOT EXISTS nova_servers_v2_mv TO nova_servers_v2 AS
SELECT organization_id, resource_instance_id,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(greatest(least(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], toDecimal128(1000000000000000, 12)), toDecimal128(0, 12)) * toDecimal128(1000, 0) + toDecimal128('0.999999999', 12))) AS max_run_end,
    maxState(greatest(start_ms + toInt64(greatest(least(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], toDecimal128(1000000000000000, 12)), toDecimal128(0, 12)) * toDecimal128(1000, 0) + toDecimal128('0.999999999', 12)), start_ms) - end_ms) AS max_overhang,
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nova_server_days_v2_mv TO nova_server_days_v2 AS
SELECT organization_id, resource_instance_id, toDate(event_time) AS day,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(greatest(least(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], toDecimal128(1000000000000000, 12)), toDecimal128(0, 12)) * toDecimal128(1000, 0) + toDecimal128('0.999999999', 12))) AS max_run_end,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS secs_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS secs_lo,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS vcpu_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS vcpu_lo,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS mem_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS mem_lo,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS gb_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS gb_lo,
    countState() AS docs,
    uniqExactState(id) AS ids
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id, day;

-- The documents stored before the views existed, from usage_events itself.
INSERT INTO nova_servers_v2 (organization_id, resource_instance_id, min_start, max_run_end, max_overhang, latest_plan, latest_start, latest_end, latest_secs, latest_vcpu, latest_mem, latest_gb)
SELECT organization_id, resource_instance_id,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(greatest(least(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], toDecimal128(1000000000000000, 12)), toDecimal128(0, 12)) * toDecimal128(1000, 0) + toDecimal128('0.999999999', 12))) AS max_run_end,
    maxState(greatest(start_ms + toInt64(greatest(least(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], toDecimal128(1000000000000000, 12)), toDecimal128(0, 12)) * toDecimal128(1000, 0) + toDecimal128('0.999999999', 12)), start_ms) - end_ms) AS max_overhang,
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

INSERT INTO nova_server_days_v2 (organization_id, resource_instance_id, day, min_start, max_run_end, secs_hi, secs_lo, vcpu_hi, vcpu_lo, mem_hi, mem_lo, gb_hi, gb_lo, docs, ids)
SELECT organization_id, resource_instance_id, toDate(event_time) AS day,
    minState(start_ms) AS min_start,
    maxState(start_ms + toInt64(greatest(least(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')], toDecimal128(1000000000000000, 12)), toDecimal128(0, 12)) * toDecimal128(1000, 0) + toDecimal128('0.999999999', 12))) AS max_run_end,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS secs_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'instance_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS secs_lo,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS vcpu_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'vcpu_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS vcpu_lo,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS mem_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'memory_mb_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS mem_lo,
    sumState(toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')] / toDecimal128(10000000000000, 0)), 0)) AS gb_hi,
    sumState(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')] - toDecimal128(toInt64(measured_usage.quantity[indexOf(measured_usage.measure, 'local_gb_seconds')] / toDecimal128(10000000000000, 0)), 0) * toDecimal128(10000000000000, 0)) AS gb_lo,
    countState() AS docs,
    uniqExactState(id) AS ids
FROM usage_events
WHERE resource_id = 'openstack-compute'
GROUP BY organization_id, resource_instance_id, day;

-- 0010's summaries, superseded (each statement may run again: IF EXISTS).
DROP TABLE IF EXISTS nova_servers_mv;

DROP TABLE IF EXISTS nova_server_days_mv;

DROP TABLE IF EXISTS nova_servers;

DROP TABLE IF EXISTS nova_server_days;
