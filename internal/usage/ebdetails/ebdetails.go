// Package ebdetails is how a usage document of an ElasticBox service instance carries the
// instance's details (size, region, provider, profile schema, creation, state history, ...)
// that ElasticBox's cost report shows beside the cost: as extra measures, which the built-in
// elasticbox metering plan does not meter (it reads cost and up_seconds only), so they are
// stored with the document in usage_events and count nothing.
//
// The ElasticBox poller writes them (internal/poller/elasticbox) and the ElasticBox report
// view reads them (internal/report/elasticbox); a client that posts ElasticBox documents
// through the collector may add them too, and without them its instances show in the view
// with their cost and empty details. The encoding (docs/reports.md, "ElasticBox"):
//
//   - a text detail is a measure named "eb:<key>=<value>" with quantity 0, its value cut to
//     the 256 bytes a measure name may have;
//   - a number is a measure "eb:<key>" whose quantity is the number (times are epoch seconds
//     with microseconds);
//   - a state of the state history is a measure "eb:state:<up|down>@<started>" whose quantity
//     is when it completed (0 while it goes on), times in epoch seconds with microseconds; at
//     most MaxStates of them, the latest kept.
//
// The package does no I/O.
package ebdetails

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/usage"
)

// Resource and Plan are the resource id and plan id of ElasticBox documents; Cost (US
// dollars) and UpSeconds the measures the plan meters.
const (
	Resource  = "elasticbox"
	Plan      = "standard"
	Cost      = "cost"
	UpSeconds = "up_seconds"
)

// MaxStates bounds the states a document carries, so that a document stays within the 100
// measures a document may have.
const MaxStates = 64

// prefix starts every detail measure's name.
const prefix = "eb:"

// maxName is the longest measure name a document may have.
const maxName = 256

// State is one entry of an instance's state history.
type State struct {
	State     string // up or down
	Started   time.Time
	Completed *time.Time // nil while the state goes on
}

// Details are what a document tells of its instance beside the cost; zero values are unknown.
type Details struct {
	Size, Region, Cloud, ProviderType, ProfileSchema, Type, Operation, EventType string
	CPUUnit, MemoryUnit, DiskUnit                                                string
	Created, Deleted                                                             *time.Time
	Instances, CPU, Memory, Disk                                                 *decimal.Decimal
	States                                                                       []State
}

// text are the text details by key; numbers the numbers; both in the order measures are
// written.
func (d *Details) text() []struct {
	key string
	v   *string
} {
	return []struct {
		key string
		v   *string
	}{{"size", &d.Size}, {"region", &d.Region}, {"cloud", &d.Cloud}, {"provider_type", &d.ProviderType},
		{"profile_schema", &d.ProfileSchema}, {"type", &d.Type}, {"operation", &d.Operation}, {"event_type", &d.EventType},
		{"cpu_unit", &d.CPUUnit}, {"memory_unit", &d.MemoryUnit}, {"disk_unit", &d.DiskUnit}}
}

func (d *Details) numbers() []struct {
	key string
	v   **decimal.Decimal
} {
	return []struct {
		key string
		v   **decimal.Decimal
	}{{"instances", &d.Instances}, {"size.cpu", &d.CPU}, {"size.memory", &d.Memory}, {"size.disk", &d.Disk}}
}

// Seconds is t in epoch seconds with microseconds, as the measures hold times.
func Seconds(t time.Time) decimal.Decimal { return decimal.New(t.UnixMicro(), -6) }

// timeOf is the inverse of Seconds.
func timeOf(q decimal.Decimal) time.Time { return time.UnixMicro(q.Shift(6).IntPart()).UTC() }

// Measures returns the measures that carry d (none for unknown details). Negative numbers
// and times before 1970 are left out: a quantity is never negative.
func (d Details) Measures() []usage.Measure {
	var out []usage.Measure
	for _, t := range d.text() {
		if *t.v == "" {
			continue
		}
		name := prefix + t.key + "=" + *t.v
		for len(name) > maxName || !utf8.ValidString(name) {
			name = strings.ToValidUTF8(name[:min(len(name), maxName)-1], "")
		}
		out = append(out, usage.Measure{Measure: name, Quantity: decimal.Zero})
	}
	for _, n := range d.numbers() {
		if *n.v != nil && !(*n.v).IsNegative() {
			out = append(out, usage.Measure{Measure: prefix + n.key, Quantity: **n.v})
		}
	}
	for _, t := range []struct {
		key string
		v   *time.Time
	}{{"created", d.Created}, {"deleted", d.Deleted}} {
		if t.v != nil && t.v.UnixMicro() >= 0 {
			out = append(out, usage.Measure{Measure: prefix + t.key, Quantity: Seconds(*t.v)})
		}
	}
	states := d.States
	if len(states) > MaxStates {
		states = states[len(states)-MaxStates:]
	}
	for _, s := range states {
		if (s.State != "up" && s.State != "down") || s.Started.UnixMicro() < 0 {
			continue
		}
		q := decimal.Zero
		if s.Completed != nil && s.Completed.UnixMicro() > 0 {
			q = Seconds(*s.Completed)
		}
		out = append(out, usage.Measure{Measure: prefix + "state:" + s.State + "@" + Seconds(s.Started).StringFixed(6), Quantity: q})
	}
	return out
}

// Parse reads the details of a document from its measures' names and quantities (the
// measures that are no details are skipped; a malformed detail is skipped too).
func Parse(names []string, quantities []decimal.Decimal) Details {
	var d Details
	text, numbers := d.text(), d.numbers()
	for i, name := range names {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || i >= len(quantities) {
			continue
		}
		q := quantities[i]
		if key, v, ok := strings.Cut(rest, "="); ok {
			for _, t := range text {
				if t.key == key {
					*t.v = v
				}
			}
			continue
		}
		if st, at, ok := strings.Cut(strings.TrimPrefix(rest, "state:"), "@"); ok && strings.HasPrefix(rest, "state:") {
			started, err := decimal.NewFromString(at)
			if err != nil || (st != "up" && st != "down") {
				continue
			}
			s := State{State: st, Started: timeOf(started)}
			if q.IsPositive() {
				c := timeOf(q)
				s.Completed = &c
			}
			d.States = append(d.States, s)
			continue
		}
		switch rest {
		case "created", "deleted":
			t := timeOf(q)
			if rest == "created" {
				d.Created = &t
			} else {
				d.Deleted = &t
			}
			continue
		}
		for _, n := range numbers {
			if n.key == rest {
				v := q
				*n.v = &v
			}
		}
	}
	return d
}

// MergeStates joins the state histories of several documents of one instance: a state is
// known by its kind and start; a state some document knows completed is completed (at the
// latest completion told). The result is ordered by start.
func MergeStates(histories ...[]State) []State {
	type key struct {
		state   string
		started int64
	}
	idx := map[key]int{}
	var out []State
	for _, h := range histories {
		for _, s := range h {
			k := key{s.State, s.Started.UnixMicro()}
			i, ok := idx[k]
			if !ok {
				idx[k] = len(out)
				out = append(out, s)
				continue
			}
			if c := s.Completed; c != nil && (out[i].Completed == nil || c.After(*out[i].Completed)) {
				out[i].Completed = c
			}
		}
	}
	slices.SortStableFunc(out, func(a, b State) int { return a.Started.Compare(b.Started) })
	return out
}

// providerTypes names the provider of a profile schema's provider segment
// (http://elasticbox.net/schemas/<provider>/...), as ElasticBox's CSV PROVIDER_TYPE does.
var providerTypes = map[string]string{
	"aws": "Amazon Web Services", "openstack": "OpenStack", "azure": "Microsoft Azure", "gce": "Google Compute Engine",
	"google": "Google Compute Engine", "vsphere": "VMware vSphere", "vcloud": "VMware vCloud Air", "cloudstack": "CloudStack",
	"softlayer": "SoftLayer",
}

// ProviderTypeOf returns the provider type of a profile: by its schema's provider segment,
// else its cloud ("" when neither tells).
func ProviderTypeOf(schema, cloud string) string {
	if _, rest, ok := strings.Cut(schema, "/schemas/"); ok {
		seg, _, _ := strings.Cut(rest, "/")
		if t, ok := providerTypes[seg]; ok {
			return t
		}
	}
	return cloud
}

// DefaultCostScale says ElasticBox's cost integers are cents: 100 of them make a US dollar.
const DefaultCostScale = 100

// Or returns d with each detail it does not tell taken from o (the states are d's).
func (d Details) Or(o Details) Details {
	for i, t := range d.text() {
		if *t.v == "" {
			*t.v = *o.text()[i].v
		}
	}
	for i, n := range d.numbers() {
		if *n.v == nil {
			*n.v = *o.numbers()[i].v
		}
	}
	if d.Created == nil {
		d.Created = o.Created
	}
	if d.Deleted == nil {
		d.Deleted = o.Deleted
	}
	return d
}
