// Package ebdetails is the vocabulary of an ElasticBox service instance's details (size,
// region, provider, profile schema, creation, state history, ...) that ElasticBox's cost
// report shows beside the cost: the attributes of the metadata records (package metadata,
// provider elasticbox, kind service_instance) the ElasticBox poller publishes for each
// instance and day it reads (internal/poller/elasticbox), which the ElasticBox report view
// reads back from provider_metadata (internal/report/elasticbox). Usage documents carry the
// cost and up_seconds only. The attributes (docs/tables.md, "provider_metadata"):
//
//   - text details by their key (size, region, cloud, provider_type, profile_schema, type,
//     operation, event_type, cpu_unit, memory_unit, disk_unit), and organization, the
//     instance's ElasticBox organization;
//   - numbers as exact decimals (instances, size.cpu, size.memory, size.disk);
//   - times as RFC 3339 with microseconds, UTC (created, deleted);
//   - state_history, the states separated by ";", each "<up|down> <started>[ <completed>]"
//     (times as above; completed absent while the state goes on), at most MaxStates of them,
//     the latest kept: splitByChar(';', ...) in ClickHouse gives one per element.
//
// The package does no I/O.
package ebdetails

import (
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Resource and Plan are the resource id and plan id of ElasticBox documents; Cost (US
// dollars) and UpSeconds the measures the plan meters.
const (
	Resource  = "elasticbox"
	Plan      = "standard"
	Cost      = "cost"
	UpSeconds = "up_seconds"
)

// Provider and Kind name the metadata records of ElasticBox instances; Organization is the
// attribute of the instance's organization.
const (
	Provider     = "elasticbox"
	Kind         = "service_instance"
	Organization = "organization"
)

// MaxStates bounds the states a record carries (its attribute stays within metadata's
// bounds).
const MaxStates = 64

// timeLayout is how the attributes hold times.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

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

// text are the text details by key; numbers the numbers; both in the order attributes are
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

// Attributes returns the attributes that carry d (none for unknown details).
func (d Details) Attributes() map[string]string {
	out := map[string]string{}
	for _, t := range d.text() {
		if *t.v != "" {
			out[t.key] = *t.v
		}
	}
	for _, n := range d.numbers() {
		if *n.v != nil {
			out[n.key] = (*n.v).String()
		}
	}
	for _, t := range []struct {
		key string
		v   *time.Time
	}{{"created", d.Created}, {"deleted", d.Deleted}} {
		if t.v != nil {
			out[t.key] = t.v.UTC().Format(timeLayout)
		}
	}
	states := d.States
	if len(states) > MaxStates {
		states = states[len(states)-MaxStates:]
	}
	var b strings.Builder
	for _, s := range states {
		if s.State != "up" && s.State != "down" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(s.State + " " + s.Started.UTC().Format(timeLayout))
		if s.Completed != nil {
			b.WriteString(" " + s.Completed.UTC().Format(timeLayout))
		}
	}
	if b.Len() > 0 {
		out["state_history"] = b.String()
	}
	return out
}

// FromAttributes reads details from a record's attributes (others are skipped; a malformed
// number, time or state is skipped too).
func FromAttributes(attrs map[string]string) Details {
	var d Details
	for _, t := range d.text() {
		*t.v = attrs[t.key]
	}
	for _, n := range d.numbers() {
		if v, err := decimal.NewFromString(attrs[n.key]); err == nil {
			*n.v = &v
		}
	}
	for _, t := range []struct {
		key string
		v   **time.Time
	}{{"created", &d.Created}, {"deleted", &d.Deleted}} {
		if v, err := time.Parse(time.RFC3339Nano, attrs[t.key]); err == nil {
			v = v.UTC()
			*t.v = &v
		}
	}
	if h := attrs["state_history"]; h != "" {
		d.States = make([]State, 0, strings.Count(h, ";")+1)
		for e := range strings.SplitSeq(h, ";") {
			kind, rest, _ := strings.Cut(e, " ")
			at, end, hasEnd := strings.Cut(rest, " ")
			started, err := time.Parse(time.RFC3339Nano, at)
			if err != nil || (kind != "up" && kind != "down") {
				continue
			}
			st := State{State: kind, Started: started.UTC()}
			if c, err := time.Parse(time.RFC3339Nano, end); hasEnd && err == nil {
				c = c.UTC()
				st.Completed = &c
			}
			d.States = append(d.States, st)
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
