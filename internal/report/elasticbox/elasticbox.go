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
// once, half away from zero, to the integer ElasticBox reports. The details are those the
// documents carry (package ebdetails): the service's each from the latest document of the
// period that tells it, each CSV row's from the latest document of its day (what it does not
// tell, the service's), the state history merged over the period's documents.
package elasticbox

import (
	"context"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/usage/ebdetails"
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

// Store reads an organization's documents.
type Store interface {
	// Docs returns org's counted documents of resource elasticbox that start in [fromMs,
	// toMs), ordered by instance, start and id.
	Docs(ctx context.Context, org string, fromMs, toMs int64) ([]Doc, error)
	// Known reports whether org has any document of resource elasticbox at all.
	Known(ctx context.Context, org string) (bool, error)
}

// Day is one instance's day.
type Day struct {
	Day     time.Time
	Cost    decimal.Decimal   // in the report's units, rounded
	Up      decimal.Decimal   // seconds up (the documents' up_seconds)
	Details ebdetails.Details // of the day's latest document; the instance's when it has none
}

// Instance is one service instance of the period.
type Instance struct {
	ID, ProviderID string
	Details        ebdetails.Details // of its latest document; States merged over the period
	Days           []Day             // every day of the period, in order
}

// Build turns an organization's documents (ordered as Store.Docs returns them) into its
// instances over the days from first to last (inclusive, UTC midnights), costs in the units
// of scale per US dollar.
func Build(org string, docs []Doc, first, last time.Time, scale int64) []Instance {
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	sc := decimal.NewFromInt(scale)
	var out []Instance
	for i := 0; i < len(docs); {
		j := i
		for j < len(docs) && docs[j].Instance == docs[i].Instance {
			j++
		}
		out = append(out, instance(org, docs[i:j], first, n, sc))
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

func instance(org string, docs []Doc, first time.Time, n int, scale decimal.Decimal) Instance {
	inst := Instance{ID: docs[0].Instance, Days: make([]Day, n)}
	sums := make([]decimal.Decimal, n)
	latestOfDay := make([]*Doc, n)
	var latest *Doc
	var histories [][]ebdetails.State
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
		if latestOfDay[day] == nil || later(d, latestOfDay[day]) {
			latestOfDay[day] = d
		}
		if latest == nil || later(d, latest) {
			latest = d
		}
	}
	// The instance's details: each the latest document's that tells it (a size read from the
	// CSV on one day shows on the days read from the JSON, which has none).
	dets := make(map[*Doc]ebdetails.Details, len(docs))
	order := make([]*Doc, len(docs))
	for k := range docs {
		order[k] = &docs[k]
		dets[order[k]] = ebdetails.Parse(docs[k].Names, docs[k].Quantities)
		if s := dets[order[k]].States; len(s) > 0 {
			histories = append(histories, s)
		}
	}
	slices.SortFunc(order, func(a, b *Doc) int {
		if later(a, b) {
			return -1
		}
		if later(b, a) {
			return 1
		}
		return 0
	})
	for _, d := range order {
		inst.Details = inst.Details.Or(dets[d])
	}
	if latest != nil && latest.Space != org {
		inst.ProviderID = latest.Space
	}
	inst.Details.States = ebdetails.MergeStates(histories...)
	for day := range inst.Days {
		inst.Days[day].Day = first.AddDate(0, 0, day)
		inst.Days[day].Cost = sums[day].Mul(scale).Round(0)
		if d := latestOfDay[day]; d != nil {
			// The event type is the day's own, never another day's.
			own := dets[d]
			inst.Days[day].Details = own.Or(inst.Details)
			inst.Days[day].Details.EventType = own.EventType
		} else {
			// A day without documents: the instance cost nothing and was not up (the poller
			// writes no document of such a day); its details are the instance's.
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
