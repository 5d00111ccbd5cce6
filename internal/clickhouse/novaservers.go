package clickhouse

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/report/nova"
)

// measure extracts a measure's quantity of a document (0 when it has none).
func measure(name string) string {
	return "measured_usage.quantity[indexOf(measured_usage.measure, '" + name + "')]"
}

// novaPeriodColumns are the period's columns of a group of classified documents (novaDocsSQL):
// the sums of the counted ones inside (each measure as its two parts, decimalparts.go), the
// counted ones across an edge (their measures as parts too), how many are in, and last how
// many were summed inside (for fromParts).
var novaPeriodColumns = novaPeriodSQL()

func novaPeriodSQL() string {
	var inside, edges []string
	for _, m := range novaMeasureColumns {
		inside = append(inside, "toString(sumIf("+m+"_hi, counted AND inside)), toString(sumIf("+m+"_lo, counted AND inside))")
		edges = append(edges, "groupArrayIf(toString("+m+"_hi), counted AND edge), groupArrayIf(toString("+m+"_lo), counted AND edge)")
	}
	return strings.Join(inside, ",\n  ") + `,
  groupArrayIf(plan_id, counted AND edge), groupArrayIf(start_ms, counted AND edge), groupArrayIf(end_ms, counted AND edge),
  ` + strings.Join(edges, ",\n  ") + `,
  countIf(counted AND (inside OR edge)) AS in_period, countIf(counted AND inside)`
}

// novaMeasureColumns name the view's measures (nova.MeasureNames) in the queries and the
// summaries: secs, vcpu, mem, gb, and their parts secs_hi, secs_lo, ...
var novaMeasureColumns = [4]string{"secs", "vcpu", "mem", "gb"}

// novaDocsSQL is a subquery of the tenant's documents (every tenant's without one; only those
// matching extra, with extraArgs, too), each classified for the period, with its measures'
// parts. A document's run is [start, start + instance_seconds); run_end rounds it up to the
// millisecond, exactly (runEndMs), so "inside" (summed, exactly) errs towards "edge" (clipped
// by the view, exactly), never the other way. FINAL: a document the raw sink wrote twice
// counts once.
func novaDocsSQL(q nova.Query, extra string, extraArgs []any) (string, []any) {
	where, args := "resource_id = ?", []any{nova.Resource}
	rejWhere := "resource_id = ?"
	rejArgs := []any{nova.Resource}
	if q.Tenant != "" {
		where += " AND organization_id = ?"
		args = append(args, q.Tenant)
		rejWhere += " AND organization_id = ?"
		rejArgs = append(rejArgs, q.Tenant)
	}
	if q.Instance != "" {
		where += " AND resource_instance_id = ?"
		args = append(args, q.Instance)
	}
	where += extra
	args = append(args, extraArgs...)
	sql := fmt.Sprintf(`(
  SELECT organization_id, resource_instance_id, toDate(event_time) AS day, id, plan_id, start_ms, end_ms,
    %s AS secs, %s AS vcpu, %s AS mem, %s AS gb,
    %s,
    %s AS run_end,
    start_ms >= %d AND run_end <= %d AS inside,
    NOT inside AND start_ms < %d AND run_end > %d AS edge,
    id NOT IN (SELECT id FROM usage_rejections WHERE %s) AS counted
  FROM usage_events FINAL
  WHERE %s
)`,
		measure(nova.MeasureNames[0]), measure(nova.MeasureNames[1]), measure(nova.MeasureNames[2]), measure(nova.MeasureNames[3]),
		novaPartColumns(), runEndMs("secs"), q.From, q.To, q.To, q.From, rejWhere, where)
	// The rejections' arguments come first in the text (the subquery), the events' after.
	return sql, append(rejArgs, args...)
}

// novaPartColumns are a document's measures' parts, as secs_hi, secs_lo, ..., gb_lo.
func novaPartColumns() string {
	var out []string
	for _, m := range novaMeasureColumns {
		out = append(out, hiPart(m)+" AS "+m+"_hi", loPart(m)+" AS "+m+"_lo")
	}
	return strings.Join(out, ",\n    ")
}

// novaPeriod is a row's novaPeriodColumns.
type novaPeriod struct {
	inside          [8]string // the parts of the sums inside: secs_hi, secs_lo, vcpu_hi, ...
	plans           []string
	starts, ends    []int64
	edges           [8][]string // the parts of each edge document's measures, in inside's order
	inPeriod, added uint64      // documents inside or across an edge; summed inside
}

func (p *novaPeriod) dest() []any {
	out := appendParts(make([]any, 0, 20), &p.inside)
	out = append(out, &p.plans, &p.starts, &p.ends)
	for i := range p.edges {
		out = append(out, &p.edges[i])
	}
	return append(out, &p.inPeriod, &p.added)
}

// addTo adds the documents' inside sums and edges to r's.
func (p *novaPeriod) addTo(r *nova.ServerRow) error {
	in, err := sums(p.inside, p.added)
	if err != nil {
		return err
	}
	r.Inside = nova.Measures{Seconds: r.Inside.Seconds.Add(in.Seconds), VCPU: r.Inside.VCPU.Add(in.VCPU),
		MemoryMB: r.Inside.MemoryMB.Add(in.MemoryMB), LocalGB: r.Inside.LocalGB.Add(in.LocalGB)}
	for i := range p.plans {
		d := nova.Doc{Flavor: p.plans[i], StartMs: p.starts[i], EndMs: p.ends[i]}
		var parts [8]string
		for j := range parts {
			parts[j] = p.edges[j][i]
		}
		if d.Measures, err = measures(parts); err != nil {
			return err
		}
		r.Edges = append(r.Edges, d)
	}
	return nil
}

// latestParts is the SQL of the parts of a server's latest document's measures, by argMax or
// argMaxMerge expressions of each (latest(m) for secs, vcpu, mem, gb): eight columns, for
// measures.
func latestParts(latest func(m string) string) string {
	var out []string
	for _, m := range novaMeasureColumns {
		alias := "latest_" + m + "_value"
		out = append(out, "toString("+hiPart("("+latest(m)+" AS "+alias+")")+"), toString("+loPart(alias)+")")
	}
	return strings.Join(out, ",\n  ")
}

// appendParts appends the scan destinations of eight parts to dest.
func appendParts(dest []any, parts *[8]string) []any {
	for i := range parts {
		dest = append(dest, &parts[i])
	}
	return dest
}

// measures reads a document's four measures from their parts (secs_hi, secs_lo, vcpu_hi, ...).
func measures(parts [8]string) (nova.Measures, error) {
	return sums(parts, 1)
}

// sums reads four sums of n documents' measures from their parts, each checked (fromParts).
func sums(parts [8]string, n uint64) (nova.Measures, error) {
	var out nova.Measures
	for i, p := range []*decimal.Decimal{&out.Seconds, &out.VCPU, &out.MemoryMB, &out.LocalGB} {
		d, err := fromParts(parts[2*i], parts[2*i+1], n)
		if err != nil {
			return out, fmt.Errorf("read nova servers: %s: %w", nova.MeasureNames[i], err)
		}
		*p = d
	}
	return out, nil
}
