package clickhouse

import (
	"context"
	"errors"
	"fmt"

	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// RejectionRow is a rejected document with where it was read from Kafka.
type RejectionRow struct {
	Rejection *meterlinev1.RejectedUsage
	Partition int32
	Offset    int64
}

// Rejection says why a document was not counted.
type Rejection struct {
	Code        string `json:"code"`
	Reason      string `json:"reason"`
	ProcessedMs int64  `json:"processed"`
}

// Rejections reads and writes the table usage_rejections.
type Rejections struct {
	conn Conn
}

// NewRejections returns the usage_rejections table over conn.
func NewRejections(conn Conn) *Rejections { return &Rejections{conn: conn} }

const insertRejections = `INSERT INTO usage_rejections (id, organization_id, resource_id, plan_id, end_ms,
code, reason, processed_ms, kafka_partition, kafka_offset)`

// Insert writes rows; writing a row again adds an identical copy that merges remove.
func (r *Rejections) Insert(ctx context.Context, rows []RejectionRow) error {
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

// Rejection returns why a document was rejected (ErrNotRejected when it was not).
func (a Archive) Rejection(ctx context.Context, org, id string) (Rejection, error) {
	return a.Rejections.Get(ctx, org, id)
}

// ErrNotRejected is returned by Get for a document that was not rejected (or not yet).
var ErrNotRejected = errors.New("not rejected")

// Get returns why the document id of organization org was rejected.
func (r *Rejections) Get(ctx context.Context, org, id string) (Rejection, error) {
	end, ok := usage.EndOfID(id)
	if !ok {
		return Rejection{}, ErrNotRejected
	}
	var rj Rejection
	err := r.conn.QueryRow(ctx, `SELECT code, reason, processed_ms FROM usage_rejections
WHERE organization_id = ? AND event_time = toDateTime(?, 'UTC') AND id = ? LIMIT 1`, org, end/1000, id).
		Scan(&rj.Code, &rj.Reason, &rj.ProcessedMs)
	if isNoRows(err) {
		return Rejection{}, ErrNotRejected
	}
	if err != nil {
		return Rejection{}, fmt.Errorf("usage_rejections: get %s: %w", id, err)
	}
	return rj, nil
}
