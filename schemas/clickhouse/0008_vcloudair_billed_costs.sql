-- vcloudair_billed_costs: the cost items (support cost, service credit) of each service
-- group's closed billing month (GET /api/billing/service-group/{id}/billed-costs), one row per
-- item, written by the vCloud Air poller's billing loop beside vcloudair_billed. A re-read
-- writes the same rows, which the ReplacingMergeTree merges into one (reads use FINAL).
-- properties is the item's name/value properties as JSON text.
CREATE TABLE IF NOT EXISTS vcloudair_billed_costs
(
    account String,
    service_group String,
    year UInt16,
    month UInt8,
    period_start_ms Int64,
    period_end_ms Int64,
    idx UInt16,
    type String,
    amount Decimal(38, 12),
    currency String,
    properties String,
    read_ms Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY (service_group, year, month, idx, account);

-- vcloudair_service_groups: the service groups the billing loop last read
-- (/api/billing/service-groups): names, currency, anniversary day. Rewritten when they change;
-- the latest row of a group wins (FINAL).
CREATE TABLE IF NOT EXISTS vcloudair_service_groups
(
    account String,
    id String,
    name String,
    currency String,
    anniversary UInt8,
    read_ms Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY (id, account);

-- vcloudair_service_instances: the service instances (/api/sc/instances) and the service group
-- each is billed to, as the billing loop last read them; the latest row wins (FINAL).
CREATE TABLE IF NOT EXISTS vcloudair_service_instances
(
    account String,
    id String,
    name String,
    service_group String,
    read_ms Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY (id, account);
