-- vcloudair_billed: vCloud Air's billed usage of each service group's closed billing month
-- (GET /api/billing/service-group/{id}/billed-usage), one row per entity and billable, kept
-- for the reconciliation report only: it is never metered. The vCloud Air poller's billing
-- loop reads each closed month again on every round and writes the same rows, which the
-- ReplacingMergeTree merges into one (reads use FINAL), so a re-read never adds anything.
-- Quantities and costs are decimals as vCloud Air wrote them (read exactly).
CREATE TABLE IF NOT EXISTS vcloudair_billed
(
    account String,
    service_group String,
    year UInt16,
    month UInt8,
    period_start_ms Int64,
    period_end_ms Int64,
    service_instance String,
    l2 String,
    entity String,
    entity_type String,
    billable String,
    quantity Decimal(38, 12),
    unit String,
    cost Decimal(38, 12),
    currency String,
    read_ms Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY (service_group, year, month, service_instance, l2, entity, billable, account);
