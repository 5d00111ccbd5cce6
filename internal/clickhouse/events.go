package clickhouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/usage"
)

// Events reads and writes the table usage_events.
type Events struct {
	conn Conn
}

// NewEvents returns the usage_events table over conn.
func NewEvents(conn Conn) *Events { return &Events{conn: conn} }

const insertEvents = `INSERT INTO usage_events (id, source, account_id, organization_id, space_id,
consumer_id, resource_id, plan_id, resource_instance_id, dedup_id, start_ms, end_ms,
measured_usage.measure, measured_usage.quantity, received_ms, stored_ms, kafka_partition, kafka_offset)`

// Insert writes rows in one INSERT. ClickHouse writes one part per month partition the rows
// fall in; each part appears whole or not at all, so a failed INSERT may have written some
// months of the batch. A retry writes them again, which the caller's duplicate look-up (or
// FINAL, on the ReplacingMergeTree) turns into one row per event.
func (e *Events) Insert(ctx context.Context, rows []usage.EventRow) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := e.conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return fmt.Errorf("insert usage_events: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range rows {
		ev, d := r.Event, r.Event.GetDocument()
		measures := make([]string, len(d.GetMeasuredUsage()))
		quantities := make([]decimal.Decimal, len(d.GetMeasuredUsage()))
		for i, m := range d.GetMeasuredUsage() {
			measures[i] = m.GetMeasure()
			q, err := decimal.NewFromString(m.GetQuantity())
			if err != nil {
				return fmt.Errorf("insert usage_events: event %s: quantity %q: %w", ev.GetId(), m.GetQuantity(), err)
			}
			quantities[i] = q
		}
		if err := batch.Append(ev.GetId(), ev.GetSource(), ev.GetAccountId(), d.GetOrganizationId(), d.GetSpaceId(),
			d.GetConsumerId(), d.GetResourceId(), d.GetPlanId(), d.GetResourceInstanceId(), d.GetDedupId(),
			d.GetStart(), d.GetEnd(), measures, quantities, ev.GetReceivedMs(), ev.GetStoredMs(),
			r.Partition, r.Offset); err != nil {
			return fmt.Errorf("insert usage_events: event %s: %w", ev.GetId(), err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert usage_events: %w", err)
	}
	return nil
}

// existingChunk is how many events one look-up query names: their ids are in the query's
// text, which ClickHouse limits (max_query_size, 256 KiB by default).
const existingChunk = 1000

// Existing returns the ids of refs that are already in the table. Each query filters on the
// organizations (the first key column) and on the partitions the ids' end times name, so it
// reads only the granules that can hold them.
func (e *Events) Existing(ctx context.Context, refs []usage.EventRef) (map[string]bool, error) {
	found := make(map[string]bool)
	for len(refs) > 0 {
		n := min(len(refs), existingChunk)
		if err := e.existing(ctx, refs[:n], found); err != nil {
			return nil, err
		}
		refs = refs[n:]
	}
	return found, nil
}

func (e *Events) existing(ctx context.Context, refs []usage.EventRef, found map[string]bool) error {
	lo, hi := int64(usage.MaxMillis), int64(0)
	orgs, ids := map[string]bool{}, make([]any, 0, len(refs))
	for _, r := range refs {
		end, ok := usage.EndOfID(r.ID)
		if !ok {
			return fmt.Errorf("usage_events: malformed id %q", r.ID)
		}
		lo, hi = min(lo, end), max(hi, end)
		orgs[r.Org] = true
		ids = append(ids, r.ID)
	}
	orgList := make([]any, 0, len(orgs))
	for o := range orgs {
		orgList = append(orgList, o)
	}
	rows, err := e.conn.Query(ctx, `SELECT DISTINCT id FROM usage_events
WHERE event_time >= toDateTime(?, 'UTC') AND event_time <= toDateTime(?, 'UTC')
  AND organization_id IN ? AND id IN ?`,
		lo/1000, hi/1000, ch.GroupSet{Value: orgList}, ch.GroupSet{Value: ids})
	if err != nil {
		return fmt.Errorf("usage_events: look up ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("usage_events: look up ids: %w", err)
		}
		found[id] = true
	}
	return rows.Err()
}

// Get returns the event with id (usage.ErrNoEvent when the table does not hold it), reading
// only the partition its end time names. The stored time is the Kafka record's timestamp the
// raw sink read (kafka.DecodeEvent), which the publisher stamped from its clock.
func (e *Events) Get(ctx context.Context, id string) (usage.StoredEvent, error) {
	end, ok := usage.EndOfID(id)
	if !ok {
		return usage.StoredEvent{}, usage.ErrNoEvent
	}
	row := e.conn.QueryRow(ctx, `SELECT id, source, account_id, organization_id, space_id, consumer_id,
resource_id, plan_id, resource_instance_id, dedup_id, start_ms, end_ms,
measured_usage.measure, measured_usage.quantity, received_ms, stored_ms
FROM usage_events WHERE event_time = toDateTime(?, 'UTC') AND id = ? LIMIT 1`, end/1000, id)
	var (
		s          usage.StoredEvent
		d          = &s.Document
		measures   []string
		quantities []decimal.Decimal
	)
	err := row.Scan(&s.ID, &s.Source, &s.AccountID, &d.OrganizationID, &d.SpaceID, &d.ConsumerID,
		&d.ResourceID, &d.PlanID, &d.ResourceInstanceID, &d.DedupID, &d.Start, &d.End,
		&measures, &quantities, &s.ReceivedMs, &s.StoredMs)
	if err != nil {
		if isNoRows(err) {
			return usage.StoredEvent{}, usage.ErrNoEvent
		}
		return usage.StoredEvent{}, fmt.Errorf("usage_events: get %s: %w", id, err)
	}
	d.MeasuredUsage = make([]usage.Measure, len(measures))
	for i := range measures {
		d.MeasuredUsage[i] = usage.Measure{Measure: measures[i], Quantity: quantities[i]}
	}
	return s, nil
}

// Count returns the number of rows, exact (FINAL) when final is true (tests use it).
func (e *Events) Count(ctx context.Context, where string, final bool, args ...any) (uint64, error) {
	q := "SELECT count() FROM usage_events"
	if final {
		q += " FINAL"
	}
	if where != "" {
		q += " WHERE " + where
	}
	var n uint64
	if err := e.conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("usage_events: count: %w", err)
	}
	return n, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// Ping checks that the server answers within ctx.
func Ping(ctx context.Context, conn Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return conn.Ping(ctx)
}
