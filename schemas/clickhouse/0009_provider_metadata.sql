-- provider_metadata: what pollers read of their providers' entities beside the usage (an
-- ElasticBox service instance's size, region, profile and state history), one row per source,
-- entity and day it was read (valid_from_ms, the day's UTC midnight).
--
-- Written by the metadata sink from <prefix>.poller.metadata.v1, whose records the poller
-- commits in the transaction of its documents and state. The attributes are a Nested column:
-- attributes.key and attributes.value are parallel arrays (read one with
-- attributes.value[indexOf(attributes.key, 'size')], or all with ARRAY JOIN attributes). A
-- replay writes an identical row and a source that reads a day again a later written_ms:
-- ReplacingMergeTree keeps the row written last, and exact queries add FINAL.
CREATE TABLE IF NOT EXISTS provider_metadata
(
    provider String,
    kind String,
    id String,
    valid_from_ms Int64,
    valid_from DateTime('UTC') DEFAULT toDateTime(intDiv(valid_from_ms, 1000), 'UTC'),
    source String,
    attributes Nested(key String, value String),
    written_ms UInt64,
    kafka_partition Int32,
    kafka_offset Int64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(valid_from)
ORDER BY (provider, kind, id, valid_from_ms, source);
