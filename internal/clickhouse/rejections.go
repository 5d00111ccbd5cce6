package clickhouse

import (
	"context"
	"fmt"

	"github.com/meterline/meterline/internal/usage"
)

// Rejections reads and writes the table usage_rejections.
type Rejections struct {
	conn Conn
}

// NewRejections returns the usage_rejections table over conn.
func NewRejections(conn Conn) *Rejections { return &Rejections{conn: conn} }

const insertRejections = `INSERT INTO usage_rejections (id, organization_id, resource_id, plan_id, end_ms,
code, reason, processed_ms, kafka_partition, kafka_offset)`

// Insert writes rows; writing a row again adds an identical copy that merges remove.
func (r *Rejections) Insert(ctx context.Context, rows []usage.RejectionRow) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := r.conn.PrepareBatch(ctx, insertRejections)
	if err != nil {
		return fmt.Errorf("insert usage_rejections: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, row := range rows {
		rj, d := row.Rejection, row.Rejection.GetEvent().GetDocument()
		if err := batch.Append(rj.GetEvent().GetId(), d.GetOrganizationId(), d.GetResourceId(), d.GetPlanId(), d.GetEnd(),
			rj.GetCode(), rj.GetReason(), rj.GetProcessedMs(), row.Partition, row.Offset); err != nil {
			return fmt.Errorf("insert usage_rejections: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert usage_rejections: %w", err)
	}
	return nil
}

// Archive is what the collector reads back: stored events and rejections.
type Archive struct {
	*Events
	Rejections *Rejections
}

// Rejection returns why a document was rejected (usage.ErrNotRejected when it was not).
func (a Archive) Rejection(ctx context.Context, org, id string) (usage.Rejection, error) {
	return a.Rejections.Get(ctx, org, id)
}

// Get returns why the document id of organization org was rejected (usage.ErrNotRejected when
// it was not, or not yet).
func (r *Rejections) Get(ctx context.Context, org, id string) (usage.Rejection, error) {
	end, ok := usage.EndOfID(id)
	if !ok {
		return usage.Rejection{}, usage.ErrNotRejected
	}
	var rj usage.Rejection
	err := r.conn.QueryRow(ctx, `SELECT code, reason, processed_ms FROM usage_rejections
WHERE organization_id = ? AND event_time = toDateTime(?, 'UTC') AND id = ? LIMIT 1`, org, end/1000, id).
		Scan(&rj.Code, &rj.Reason, &rj.ProcessedMs)
	if isNoRows(err) {
		return usage.Rejection{}, usage.ErrNotRejected
	}
	if err != nil {
		return usage.Rejection{}, fmt.Errorf("usage_rejections: get %s: %w", id, err)
	}
	return rj, nil
}
