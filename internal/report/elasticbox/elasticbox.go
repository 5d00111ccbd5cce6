// Package elasticbox is ElasticBox's reporting API (seed 003) as a view of Meterline's own
// data: the cost of each service instance of an organization per day of a period, with the
// instance's details and state history, in JSON and in ElasticBox's 21-column CSV. It reads
// the stored usage documents of resource elasticbox, whether the ElasticBox poller made them
// or a client posted them through the collector; documents the processor rejected are not
// counted.
//
// A document counts on the UTC day of its start (the poller's documents are one day each).
// A day's cost is the sum of its documents' cost measure (US dollars) times the cost scale
// (ElasticBox's units per dollar, 100 for cents, METERLINE_ELASTICBOX_COST_SCALE), rounded
// once, half away from zero, to the integer ElasticBox reports. The details are those of the
// instance's metadata records in provider_metadata (package ebdetails; the poller publishes
// one per instance and day it reads): the service's each from the latest record of the period
// that tells it, each CSV row's from its day's record (what that does not tell, the
// service's), the state history merged over the period's records. A posted document's
// instance has no record: its details are empty.
package elasticbox

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/metadata/ebdetails"
)

// Resource is the resource id of the documents the view reads.
const Resource = ebdetails.Resource

// Doc is one counted document of an instance: its start, end and measures.
type Doc struct {
	Instance, Space string
	StartMs, EndMs  int64
	ID              string
	Names           []string
	Quantities      []decimal.Decimal
}

// Detail is what a metadata record tells of an instance from ValidFromMs on (its day).
type Detail struct {
	Instance    string
	ValidFromMs int64
	Source      string
	Details     ebdetails.Details
}

// Store reads an organization's documents and its instances' details.
type Store interface {
	// Docs returns org's counted documents of resource elasticbox that start in [fromMs,
	// toMs), ordered by instance, start and id.
	Docs(ctx context.Context, org string, fromMs, toMs int64) ([]Doc, error)
	// Details returns the details of org's instances valid from a day in [fromMs, toMs),
	// ordered by instance, day and source.
	Details(ctx context.Context, org string, fromMs, toMs int64) ([]Detail, error)
	// Known reports whether org has any document of resource elasticbox at all.
	Known(ctx context.Context, org string) (bool, error)
}

// Day is one instance's day.
type Day struct {
	Day     time.Time
	Cost    decimal.Decimal   // in the report's units, rounded
	Up      decimal.Decimal   // seconds up (the documents' up_seconds)
	Details ebdetails.Details // of the day's record; the instance's for what it does not tell
}

// Instance is one service instance of the period.
type Instance struct {
	ID, ProviderID string
	Details        ebdetails.Details // of its latest records; States merged over the period
	Days           []Day             // every day of the period, in order
}

// Build turns an organization's documents and details (ordered as Store.Docs and
// Store.Details return them) into its instances over the days from first to last (inclusive,
// UTC midnights), costs in the units of scale per US dollar. Details of an instance without
// documents in the period are left out.
func Build(org string, docs []Doc, dets []Detail, first, last time.Time, scale int64) []Instance {
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	sc := decimal.NewFromInt(scale)
	byInstance := map[string][]Detail{}
	for i := 0; i < len(dets); {
		j := i
		for j < len(dets) && dets[j].Instance == dets[i].Instance {
			j++
		}
		byInstance[dets[i].Instance] = dets[i:j]
		i = j
	}
	var out []Instance
	for i := 0; i < len(docs); {
		j := i
		for j < len(docs) && docs[j].Instance == docs[i].Instance {
			j++
		}
		out = append(out, instance(org, docs[i:j], byInstance[docs[i].Instance], first, n, sc))
		i = j
	}
	return out
}

// later reports whether a is later than b: by end, then start, then id.
func later(a, b *Doc) bool {
	if a.EndMs != b.EndMs {
		return a.EndMs > b.EndMs
	}
	if a.StartMs != b.StartMs {
		return a.StartMs > b.StartMs
	}
	return a.ID > b.ID
}

func instance(org string, docs []Doc, dets []Detail, first time.Time, n int, scale decimal.Decimal) Instance {
	inst := Instance{ID: docs[0].Instance, Days: make([]Day, n)}
	sums := make([]decimal.Decimal, n)
	var latest *Doc
	for k := range docs {
		d := &docs[k]
		day := int(time.UnixMilli(d.StartMs).UTC().Sub(first) / (24 * time.Hour))
		if day < 0 || day >= n {
			continue
		}
		for m, name := range d.Names {
			if m >= len(d.Quantities) {
				break
			}
			switch name {
			case ebdetails.Cost:
				sums[day] = sums[day].Add(d.Quantities[m])
			case ebdetails.UpSeconds:
				inst.Days[day].Up = inst.Days[day].Up.Add(d.Quantities[m])
			}
		}
		if latest == nil || later(d, latest) {
			latest = d
		}
	}
	// The instance's details: each the latest record's that tells it (a size read from the
	// CSV on one day shows on the days read from the JSON, which has none). Records come by
	// day, then source: the last of a day is its own.
	ofDay := make([]*ebdetails.Details, n)
	histories := make([][]ebdetails.State, 0, len(dets))
	for k := len(dets) - 1; k >= 0; k-- {
		d := &dets[k]
		day := int(time.UnixMilli(d.ValidFromMs).UTC().Sub(first) / (24 * time.Hour))
		if day < 0 || day >= n {
			continue
		}
		inst.Details = inst.Details.Or(d.Details)
		if ofDay[day] == nil {
			ofDay[day] = &d.Details
		}
		if len(d.Details.States) > 0 {
			histories = append(histories, d.Details.States)
		}
	}
	if latest != nil && latest.Space != org {
		inst.ProviderID = latest.Space
	}
	inst.Details.States = ebdetails.MergeStates(histories...)
	for day := range inst.Days {
		inst.Days[day].Day = first.AddDate(0, 0, day)
		inst.Days[day].Cost = sums[day].Mul(scale).Round(0)
		if own := ofDay[day]; own != nil {
			// The event type is the day's own, never another day's.
			inst.Days[day].Details = own.Or(inst.Details)
			inst.Days[day].Details.EventType = own.EventType
		} else {
			// A day without a record: its details are the instance's (the event type told
			// by the cost and up-time, see EventType).
			inst.Days[day].Details = inst.Details
			inst.Days[day].Details.EventType = ""
		}
	}
	return inst
}

// EventType is the CSV's EVENT_TYPE of a day: what its document tells, else "up" when the
// instance was up or cost that day, else "down".
func (d Day) EventType() string {
	if d.Details.EventType != "" {
		return d.Details.EventType
	}
	if d.Up.IsPositive() || d.Cost.IsPositive() {
		return "up"
	}
	return "down"
}

// Allocated is a day's allocated maximum of a size (CPU, memory or disk): the size times the
// instances on a day the instance was up, 0 on a day it was down, nil when the size is
// unknown.
func (d Day) Allocated(size *decimal.Decimal) *decimal.Decimal {
	if size == nil {
		return nil
	}
	v := decimal.Zero
	if d.EventType() == "up" {
		n := decimal.NewFromInt(1)
		if d.Details.Instances != nil {
			n = *d.Details.Instances
		}
		v = size.Mul(n)
	}
	return &v
}
