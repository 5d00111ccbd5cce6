package clickhouse

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/report/nova"
)

// measure extracts a measure's quantity of a document (0 when it has none).
func measure(name string) string {
	return "measured_usage.quantity[indexOf(measured_usage.measure, '" + name + "')]"
}

// novaPeriodColumns are the period's columns of a group of classified documents (novaDocsSQL):
// the sums of the counted ones inside, the counted ones across an edge, and how many are in;
// last, the sums inside again in Float64, only to see their size (decimalSum).
const novaPeriodColumns = `toString(sumIf(secs, counted AND inside)), toString(sumIf(vcpu, counted AND inside)),
  toString(sumIf(mem, counted AND inside)), toString(sumIf(gb, counted AND inside)),
  groupArrayIf(plan_id, counted AND edge), groupArrayIf(start_ms, counted AND edge), groupArrayIf(end_ms, counted AND edge),
  groupArrayIf(toString(secs), counted AND edge), groupArrayIf(toString(vcpu), counted AND edge),
  groupArrayIf(toString(mem), counted AND edge), groupArrayIf(toString(gb), counted AND edge),
  countIf(counted AND (inside OR edge)) AS in_period,
  sumIf(toFloat64(secs), counted AND inside), sumIf(toFloat64(vcpu), counted AND inside),
  sumIf(toFloat64(mem), counted AND inside), sumIf(toFloat64(gb), counted AND inside)`

// novaDocsSQL is a subquery of the tenant's documents (every tenant's without one; only those
// matching extra, with extraArgs, too), each classified for the period. A document's run is
// [start, start + instance_seconds); runEnd rounds it up to the millisecond, so "inside"
// (summed, exactly) errs towards "edge" (clipped by the view, exactly). FINAL: a document the
// raw sink wrote twice counts once.
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
    start_ms + toInt64(ceil(toFloat64(secs) * 1000)) AS run_end,
    start_ms >= %d AND run_end <= %d AS inside,
    NOT inside AND start_ms < %d AND run_end > %d AS edge,
    id NOT IN (SELECT id FROM usage_rejections WHERE %s) AS counted
  FROM usage_events FINAL
  WHERE %s
)`,
		measure(nova.MeasureNames[0]), measure(nova.MeasureNames[1]), measure(nova.MeasureNames[2]), measure(nova.MeasureNames[3]),
		q.From, q.To, q.To, q.From, rejWhere, where)
	// The rejections' arguments come first in the text (the subquery), the events' after.
	return sql, append(rejArgs, args...)
}

// novaPeriod is a row's novaPeriodColumns.
type novaPeriod struct {
	is, iv, im, ig string
	plans          []string
	starts, ends   []int64
	es, ev, em, eg []string
	inPeriod       uint64
	approx         [4]float64
}

func (p *novaPeriod) dest() []any {
	return []any{&p.is, &p.iv, &p.im, &p.ig, &p.plans, &p.starts, &p.ends, &p.es, &p.ev, &p.em, &p.eg, &p.inPeriod,
		&p.approx[0], &p.approx[1], &p.approx[2], &p.approx[3]}
}

// addTo adds the documents' inside sums and edges to r's.
func (p *novaPeriod) addTo(r *nova.ServerRow) error {
	in, err := sums(p.is, p.iv, p.im, p.ig, p.approx)
	if err != nil {
		return err
	}
	r.Inside = nova.Measures{Seconds: r.Inside.Seconds.Add(in.Seconds), VCPU: r.Inside.VCPU.Add(in.VCPU),
		MemoryMB: r.Inside.MemoryMB.Add(in.MemoryMB), LocalGB: r.Inside.LocalGB.Add(in.LocalGB)}
	for i := range p.plans {
		d := nova.Doc{Flavor: p.plans[i], StartMs: p.starts[i], EndMs: p.ends[i]}
		if d.Measures, err = measures(p.es[i], p.ev[i], p.em[i], p.eg[i]); err != nil {
			return err
		}
		r.Edges = append(r.Edges, d)
	}
	return nil
}

func measures(s, v, m, g string) (nova.Measures, error) {
	var out nova.Measures
	for i, p := range []*decimal.Decimal{&out.Seconds, &out.VCPU, &out.MemoryMB, &out.LocalGB} {
		d, err := decimal.NewFromString([]string{s, v, m, g}[i])
		if err != nil {
			return out, fmt.Errorf("read nova servers: quantity %q: %w", []string{s, v, m, g}[i], err)
		}
		*p = d
	}
	return out, nil
}

// sums is measures of four sums, each checked against its Float64 sum (decimalSum).
func sums(s, v, m, g string, approx [4]float64) (nova.Measures, error) {
	for i, x := range []string{s, v, m, g} {
		if _, err := decimalSum(x, approx[i]); err != nil {
			return nova.Measures{}, fmt.Errorf("read nova servers: %s: %w", nova.MeasureNames[i], err)
		}
	}
	return measures(s, v, m, g)
}
