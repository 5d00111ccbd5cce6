-- cf_metadata: what Cloud Controller says of each organization, space, app and managed
-- service instance of a Cloud Foundry foundation (names, the app's buildpack, instance count,
-- memory and disk quota, the service instance's plan and offering, the organization's and
-- spaces' quotas), for the PCF usage report (internal/report/pcf). The cf poller's metadata
-- loop writes every entity on each round with the round's time as version; the
-- ReplacingMergeTree keeps the newest row of an entity (reads use FINAL), so a re-read adds
-- nothing and an app deleted since keeps the names it last had. attributes is the JSON of the
-- kind's other fields (internal/clickhouse/cfmetadata.go). Metadata is never metered.
CREATE TABLE IF NOT EXISTS cf_metadata
(
    foundation String,
    organization_id String,
    kind String,
    guid String,
    space_id String,
    name String,
    attributes String,
    version_ms Int64
)
ENGINE = ReplacingMergeTree(version_ms)
ORDER BY (organization_id, kind, guid, foundation);
