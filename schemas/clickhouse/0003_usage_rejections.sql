-- usage_rejections: every usage document the metering processor did not count, with why.
--
-- Written by the rejection sink from meterline.usage.rejected.v1. A replay after a crash
-- writes an identical row; ReplacingMergeTree removes it on merge and queries that must be
-- exact add FINAL (or count distinct ids). The collector reads it to answer a GET of a
-- rejected document with the reason.
CREATE TABLE IF NOT EXISTS usage_rejections
(
    id String,
    organization_id String,
    resource_id String,
    plan_id String,
    end_ms Int64,
    event_time DateTime('UTC') DEFAULT toDateTime(intDiv(end_ms, 1000), 'UTC'),
    code String,
    reason String,
    processed_ms Int64,
    kafka_partition Int32,
    kafka_offset Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (organization_id, event_time, id);
