package cf

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/usage"
)

// state is what the poller keeps (JSON in the poller state topic, committed with the
// documents): the cursors of both streams and what runs, so that the previous values of a
// document come from here, never from the event.
type state struct {
	// Ready is false until the first snapshot was taken.
	Ready bool `json:"ready"`
	// API is "v3", or "v2" when the foundation has no v3 usage events.
	API      string `json:"api,omitempty"`
	Apps     stream `json:"apps"`
	Services stream `json:"services"`
	// Running holds each running process ("p:<guid>"), task ("t:<guid>") and staging
	// ("s:<app guid>").
	Running map[string]footprint `json:"running,omitempty"`
	// Instances holds each service instance that exists, by guid.
	Instances map[string]instance `json:"instances,omitempty"`
}

// stream is the read position in one event stream. Anchor is the after_guid of the next
// read: an event applied at least the overlap before the newest one applied, so that a read
// also returns events committed late with a lower id; Seen are the events applied after it
// (skipped when read again).
type stream struct {
	Anchor string `json:"anchor,omitempty"`
	Seen   []seen `json:"seen,omitempty"`
}

type seen struct {
	GUID string `json:"g"`
	At   int64  `json:"t"` // created_at, Unix seconds
}

func (s *stream) seenSet() map[string]bool {
	m := make(map[string]bool, len(s.Seen))
	for _, x := range s.Seen {
		m[x.GUID] = true
	}
	return m
}

// advance records applied events and moves the anchor to the last event that is more than
// overlap older than the newest one applied (keeping at most maxSeen guids).
func (s *stream) advance(applied []event, overlap time.Duration) {
	for _, e := range applied {
		s.Seen = append(s.Seen, seen{GUID: e.guid, At: e.at.Unix()})
	}
	if len(s.Seen) == 0 {
		return
	}
	newest := s.Seen[0].At
	for _, x := range s.Seen {
		newest = max(newest, x.At)
	}
	cut := 0
	for cut < len(s.Seen)-1 && (s.Seen[cut].At < newest-int64(overlap/time.Second) || len(s.Seen)-cut > maxSeen) {
		cut++
	}
	if cut > 0 {
		s.Anchor = s.Seen[cut-1].GUID
		s.Seen = slices.Clone(s.Seen[cut:])
	}
}

// footprint is what a process, task or staging uses.
type footprint struct {
	Resource string `json:"r"` // ResourceApp, ResourceTask or ResourceStaging
	Org      string `json:"o"`
	Space    string `json:"s"`
	App      string `json:"a"`
	MemoryMB int64  `json:"m"`
	Count    int64  `json:"n"`
}

// instance is a service instance that exists.
type instance struct {
	Org   string `json:"o"`
	Space string `json:"s"`
	Plan  string `json:"p"` // service plan guid
}

const mb = 1 << 20

// change is a footprint moving from before to after (nil: not running) at at.
type change struct {
	key           string
	at            time.Time
	before, after *footprint
	dedup         string
}

// appDoc is the document of a change of a process, task or staging: the linux-container
// measures (bytes and instances, Abacus' shape), previous from the state.
func appDoc(foundation string, c change) usage.Document {
	f := c.after
	if f == nil {
		f = c.before
	}
	var cm, ci, pm, pi int64
	if c.after != nil {
		cm, ci = c.after.MemoryMB*mb, c.after.Count
	}
	if c.before != nil {
		pm, pi = c.before.MemoryMB*mb, c.before.Count
	}
	kind, id, _ := strings.Cut(c.key, ":")
	prefix := map[string]string{"p": "memory:", "t": "task:", "s": "staging:"}[kind]
	return usage.Document{
		Start: c.at.UnixMilli(), End: c.at.UnixMilli(),
		OrganizationID: f.Org, SpaceID: f.Space, ConsumerID: "app:" + f.App,
		ResourceID: f.Resource, PlanID: Plan, ResourceInstanceID: prefix + id,
		DedupID: "cf:" + foundation + ":" + c.dedup,
		MeasuredUsage: []usage.Measure{
			{Measure: "current_instance_memory", Quantity: decimal.NewFromInt(cm)},
			{Measure: "current_running_instances", Quantity: decimal.NewFromInt(ci)},
			{Measure: "previous_instance_memory", Quantity: decimal.NewFromInt(pm)},
			{Measure: "previous_running_instances", Quantity: decimal.NewFromInt(pi)},
		},
	}
}

// serviceDoc opens (open) or closes a service instance on a plan.
func serviceDoc(foundation, guid string, in instance, at time.Time, open bool, dedup string) usage.Document {
	cur, prev := int64(0), int64(1)
	if open {
		cur, prev = 1, 0
	}
	return usage.Document{
		Start: at.UnixMilli(), End: at.UnixMilli(),
		OrganizationID: in.Org, SpaceID: in.Space, ConsumerID: "service:" + guid,
		ResourceID: ResourceService, PlanID: Plan, ResourceInstanceID: fmt.Sprintf("service:%s:%s", guid, in.Plan),
		DedupID: "cf:" + foundation + ":" + dedup,
		MeasuredUsage: []usage.Measure{
			{Measure: "current_instances", Quantity: decimal.NewFromInt(cur)},
			{Measure: "previous_instances", Quantity: decimal.NewFromInt(prev)},
		},
	}
}

func same(a, b *footprint) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.MemoryMB*a.Count == b.MemoryMB*b.Count && a.Count == b.Count && a.MemoryMB == b.MemoryMB
}

// fold merges the changes of one key at the same second into one (the first before, the
// last after, the last event's dedup id) and drops those that change nothing.
func fold(cs []change) []change {
	idx := map[string]int{}
	var out []change
	for _, c := range cs {
		k := c.key + "\x00" + c.at.String()
		if i, ok := idx[k]; ok {
			out[i].after, out[i].dedup = c.after, c.dedup
			continue
		}
		idx[k] = len(out)
		out = append(out, c)
	}
	kept := out[:0]
	for _, c := range out {
		if !same(c.before, c.after) {
			kept = append(kept, c)
		}
	}
	return kept
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
