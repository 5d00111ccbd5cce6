-- cf_usage_service: what the Cloud Foundry Usage Service reported of each organization's
-- closed day (GET /organizations/{org}/app_usages, /task_usages and /service_usages with
-- start = end = the day), one row per entry of its answers (kind 'app', 'task' or 'service')
-- and one row of kind 'day' that marks the day as read.
-- Kept for the reconciliation report only: it is never metered (Meterline meters Cloud
-- Controller's events). The cf poller's Usage Service loop reads a day once; a day read again
-- after a crash writes identical rows, which the ReplacingMergeTree merges into one (reads
-- use FINAL). Durations are decimals as the Usage Service wrote them (88793.31 s), read exactly.
CREATE TABLE IF NOT EXISTS cf_usage_service
(
    foundation String,
    organization String,
    day Date,
    kind String,
    entry UInt32,
    space String,
    space_name String,
    app String,
    app_name String,
    process String,
    instance_count Int64,
    memory_mb Int64,
    service_instance String,
    service_instance_name String,
    service_instance_type String,
    plan String,
    plan_name String,
    service String,
    service_name String,
    deleted UInt8,
    duration_seconds Decimal(38, 12),
    read_ms Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (organization, day, kind, entry, foundation);
