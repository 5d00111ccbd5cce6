// Package ratedusage is for billing exporters: it reads Meterline's rated usage topic
// (<prefix>.usage.rated.v2, whose records are batches, meterline.v1.RatedUsageBatch; or the
// deprecated <prefix>.usage.rated.v1, one meterline.v1.RatedUsage per record, produced only
// with METERLINE_RATED_V1=true) and decodes its cells into plain Go values, the same for both. It is public and kept stable: within v1,
// fields are only added.
//
// A record is the value of one window cell after a transaction of the metering processor
// changed it; the newest record of a cell supersedes every earlier one. Records are written in
// Kafka transactions, so a reader must read committed records only (NewReader does); an
// exporter that wants, say, the monthly charge of every organization keeps the latest record
// of each organization-scope month cell with a plan, keyed by Cell.Key.
//
//	r, err := ratedusage.NewReader([]string{"127.0.0.1:9092"}, "meterline.usage.rated.v2", "my-exporter")
//	if err != nil { ... }
//	defer r.Close()
//	for {
//		c, err := r.Next(ctx) // commits what it returned before, once per poll
//		if err != nil { ... }
//		if c.Scope == ratedusage.ScopeOrganization && c.Level == ratedusage.LevelMonth && c.PlanID != "" {
//			totals[c.Key()] = c
//		}
//	}
package ratedusage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Scopes of a cell, narrowest first.
const (
	ScopeInstance     = "instance"
	ScopeConsumer     = "consumer"
	ScopeSpace        = "space"
	ScopeOrganization = "organization"
)

// Levels of a cell's period.
const (
	LevelSecond = "second"
	LevelMinute = "minute"
	LevelHour   = "hour"
	LevelDay    = "day"
	LevelMonth  = "month"
)

// Value is a quantity or a cost: an exact decimal in plain notation ("46.09"), or for a
// time-based metric a map of values. The zero Value is no value.
type Value struct {
	Decimal string
	Map     map[string]Value
}

// IsZero reports whether the value is absent.
func (v Value) IsZero() bool { return v.Decimal == "" && v.Map == nil }

func valueOf(p *meterlinev1.Value) Value {
	switch k := p.GetKind().(type) {
	case *meterlinev1.Value_Decimal:
		return Value{Decimal: k.Decimal}
	case *meterlinev1.Value_Map:
		m := make(map[string]Value, len(k.Map.GetFields()))
		for name, e := range k.Map.GetFields() {
			m[name] = valueOf(e)
		}
		return Value{Map: m}
	default:
		return Value{}
	}
}

// Cell is one rated usage record.
type Cell struct {
	AccountID      string
	OrganizationID string
	// SpaceID, ConsumerID and ResourceInstanceID are "" above the cell's scope.
	SpaceID            string
	ConsumerID         string
	ResourceInstanceID string
	ResourceID         string
	// The plans the usage was metered, rated and priced with; all "" for the cells that add
	// up every plan of a resource.
	PlanID, MeteringPlanID, RatingPlanID, PricingPlanID string
	Metric                                              string
	Scope                                               string // ScopeInstance ... ScopeOrganization
	Level                                               string // LevelSecond ... LevelMonth
	// The cell's period [PeriodStart, PeriodEnd), UTC.
	PeriodStart, PeriodEnd time.Time
	Quantity               Value
	// Cost is Quantity rated at the organization's price, zero for unrated cells.
	Cost     Value
	Currency string
	// Processed is when the processor's transaction produced this value (millisecond
	// resolution); a cell's value as of time t is its latest record processed by t.
	Processed time.Time
}

// Key identifies the cell: records with the same key are versions of one cell.
func (c Cell) Key() string {
	return strings.Join([]string{c.Scope, c.OrganizationID, c.SpaceID, c.ConsumerID, c.ResourceInstanceID,
		c.ResourceID, c.PlanID, c.MeteringPlanID, c.RatingPlanID, c.PricingPlanID, c.Metric, c.Level,
		fmt.Sprint(c.PeriodStart.UnixMilli())}, "\x00")
}

// Decode decodes a record value of the rated usage topic v1.
func Decode(b []byte) (Cell, error) {
	var r meterlinev1.RatedUsage
	if err := proto.Unmarshal(b, &r); err != nil {
		return Cell{}, fmt.Errorf("ratedusage: not a meterline.v1.RatedUsage: %w", err)
	}
	return cellOf(&r)
}

// DecodeBatch decodes a record value of the rated usage topic v2 (<prefix>.usage.rated.v2,
// meterline.v1.RatedUsageBatch): the cells one transaction changed, in the order produced,
// each as Decode gives its v1 record.
func DecodeBatch(b []byte) ([]Cell, error) {
	var batch meterlinev1.RatedUsageBatch
	if err := proto.Unmarshal(b, &batch); err != nil {
		return nil, fmt.Errorf("ratedusage: not a meterline.v1.RatedUsageBatch: %w", err)
	}
	cells := make([]Cell, 0, len(batch.GetCells()))
	for _, r := range batch.GetCells() {
		c, err := cellOf(r)
		if err != nil {
			return nil, err
		}
		cells = append(cells, c)
	}
	return cells, nil
}

func cellOf(r *meterlinev1.RatedUsage) (Cell, error) {
	c := Cell{AccountID: r.GetAccountId(), OrganizationID: r.GetOrganizationId(), SpaceID: r.GetSpaceId(),
		ConsumerID: r.GetConsumerId(), ResourceInstanceID: r.GetResourceInstanceId(), ResourceID: r.GetResourceId(),
		Metric: r.GetMetric(), Scope: r.GetScope(), Level: r.GetLevel(),
		PeriodStart: time.UnixMilli(r.GetPeriodStartMs()).UTC(), PeriodEnd: time.UnixMilli(r.GetPeriodEndMs()).UTC(),
		Quantity: valueOf(r.GetQuantity()), Cost: valueOf(r.GetCost()), Currency: r.GetCurrency(),
		Processed: time.UnixMilli(r.GetProcessedMs()).UTC()}
	if p := r.GetPlan(); p != "" {
		// The last three parts are plan ids, which have no '/'; the usage's plan id may.
		parts := strings.Split(p, "/")
		n := len(parts)
		if n < 4 {
			return Cell{}, fmt.Errorf("ratedusage: plan %q is not <plan_id>/<metering>/<rating>/<pricing>", p)
		}
		c.PlanID, c.MeteringPlanID, c.RatingPlanID, c.PricingPlanID = strings.Join(parts[:n-3], "/"), parts[n-3], parts[n-2], parts[n-1]
	}
	return c, nil
}

// Reader reads the rated usage topic in a consumer group, committed records only. It uses
// franz-go: segmentio/kafka-go (v0.4.51) does not filter the records of aborted transactions
// under ReadCommitted and hands transaction markers to the reader as messages
// (segmentio/kafka-go#1332), so an exporter on it would see values a crashed processor never
// committed.
type Reader struct {
	cl       *kgo.Client
	batches  bool   // the topic is v2: each record is a batch of cells
	cells    []Cell // the cells of the batch being returned
	buf      []*kgo.Record
	returned []*kgo.Record // returned by Next since the last commit
}

// NewReader reads topic from brokers in consumer group group, from the earliest record the
// group has not committed. A topic whose name ends in ".v2" is read as the v2 topic: its
// records are batches, whose cells Next returns one by one.
func NewReader(brokers []string, topic, group string) (*Reader, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, fmt.Errorf("ratedusage: %w", err)
	}
	return &Reader{cl: cl, batches: strings.HasSuffix(topic, ".v2")}, nil
}

// Next returns the next record. Before it polls the broker for more, it commits the offsets
// of the records it returned before (the caller has handled them by asking for the next), so
// offsets are committed once per poll, not per record; a crash gives the records since the
// last commit again: handle records idempotently (by Cell.Key, newest Processed wins). A
// record that does not decode is returned as an error; calling Next again goes past it.
func (r *Reader) Next(ctx context.Context) (Cell, error) {
	if len(r.cells) > 0 {
		c := r.cells[0]
		r.cells = r.cells[1:]
		return c, nil
	}
	for len(r.buf) == 0 {
		if err := r.commit(ctx); err != nil {
			return Cell{}, err
		}
		fs := r.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Cell{}, err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return Cell{}, fmt.Errorf("ratedusage: fetch %s[%d]: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		r.buf = fs.Records()
	}
	rec := r.buf[0]
	r.buf = r.buf[1:]
	r.returned = append(r.returned, rec)
	if r.batches {
		cells, err := DecodeBatch(rec.Value)
		if err != nil {
			return Cell{}, fmt.Errorf("ratedusage: partition %d offset %d: %w", rec.Partition, rec.Offset, err)
		}
		if len(cells) == 0 {
			return r.Next(ctx)
		}
		r.cells = cells[1:]
		return cells[0], nil
	}
	c, err := Decode(rec.Value)
	if err != nil {
		return Cell{}, fmt.Errorf("ratedusage: partition %d offset %d: %w", rec.Partition, rec.Offset, err)
	}
	return c, nil
}

func (r *Reader) commit(ctx context.Context) error {
	if len(r.returned) == 0 {
		return nil
	}
	if err := r.cl.CommitRecords(ctx, r.returned...); err != nil {
		return fmt.Errorf("ratedusage: commit: %w", err)
	}
	r.returned = r.returned[:0]
	return nil
}

// Close commits the offsets of the records returned, leaves the group and closes.
func (r *Reader) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.commit(ctx)
	r.cl.Close()
	return err
}
