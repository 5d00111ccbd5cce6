package clickhouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metadata/ebdetails"
	"github.com/meterline/meterline/internal/report/elasticbox"
)

// ElasticBoxDocs reads the documents of the ElasticBox view from usage_events: an
// organization's counted documents of resource elasticbox (those the processor rejected, in
// usage_rejections, are left out), each with its measures; and the details of its instances
// from provider_metadata (package ebdetails).
type ElasticBoxDocs struct {
	conn Conn
}

// NewElasticBoxDocs returns the ElasticBox view's store over conn.
func NewElasticBoxDocs(conn Conn) *ElasticBoxDocs { return &ElasticBoxDocs{conn: conn} }

var _ elasticbox.Store = (*ElasticBoxDocs)(nil)

// elasticBoxDocsSQL reads the documents that start in [from, to): the event_time bound (a
// document's end, never before its start) lets ClickHouse skip the months before the period.
// FINAL: a document the raw sink wrote twice counts once. The measures come as one string,
// "name\tquantity" lines, the name's backslashes, tabs and newlines escaped (\\, \t, \n), which
// the client reads several times faster than two arrays.
var elasticBoxDocsSQL = `SELECT resource_instance_id, space_id, start_ms, end_ms, id,
  arrayStringConcat(arrayMap((m, q) -> concat(` + escapedSQL("m") + `, '\t', toString(q)), measured_usage.measure, measured_usage.quantity), '\n')
FROM usage_events FINAL
WHERE organization_id = ? AND resource_id = ? AND event_time >= toDateTime(?, 'UTC') AND start_ms >= ? AND start_ms < ?
  AND id NOT IN (SELECT id FROM usage_rejections WHERE organization_id = ? AND resource_id = ?)
ORDER BY resource_instance_id, start_ms, id`

// escapedSQL is the SQL of the text col with its backslashes, tabs and newlines escaped (\\,
// \t, \n), so that texts joined by tabs and newlines split back exactly (unescaper).
func escapedSQL(col string) string {
	return `replaceAll(replaceAll(replaceAll(` + col + `, '\\', '\\\\'), '\t', '\\t'), '\n', '\\n')`
}

// Docs implements elasticbox.Store.
func (s *ElasticBoxDocs) Docs(ctx context.Context, org string, fromMs, toMs int64) ([]elasticbox.Doc, error) {
	rows, err := s.conn.Query(ctx, elasticBoxDocsSQL, org, elasticbox.Resource, fromMs/1000, fromMs, toMs, org, elasticbox.Resource)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_events: read elasticbox documents")
	}
	defer rows.Close()
	var out []elasticbox.Doc
	for rows.Next() {
		var (
			d  elasticbox.Doc
			ms string
		)
		if err := rows.Scan(&d.Instance, &d.Space, &d.StartMs, &d.EndMs, &d.ID, &ms); err != nil {
			return nil, fmt.Errorf("read elasticbox documents: %w", err)
		}
		if err := splitMeasures(&d, ms); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_events: read elasticbox documents")
	}
	return out, nil
}

// splitMeasures reads the "name\tquantity" lines of a document's measures into d.
func splitMeasures(d *elasticbox.Doc, ms string) error {
	n := strings.Count(ms, "\n") + 1
	d.Names, d.Quantities = make([]string, 0, n), make([]decimal.Decimal, 0, n)
	for line := range strings.SplitSeq(ms, "\n") {
		name, q, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("read elasticbox documents: document %s: measure %q without quantity", d.ID, line)
		}
		v, err := decimal.NewFromString(q)
		if err != nil {
			return fmt.Errorf("read elasticbox documents: document %s: quantity %q: %w", d.ID, q, err)
		}
		if strings.IndexByte(name, '\\') >= 0 {
			name = unescaper.Replace(name)
		}
		d.Names, d.Quantities = append(d.Names, name), append(d.Quantities, v)
	}
	return nil
}

var unescaper = strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n")

// Known implements elasticbox.Store: any stored document of the organization's, counted or
// not.
func (s *ElasticBoxDocs) Known(ctx context.Context, org string) (bool, error) {
	rows, err := s.conn.Query(ctx, `SELECT 1 FROM usage_events WHERE organization_id = ? AND resource_id = ? LIMIT 1`, org, elasticbox.Resource)
	if err != nil {
		return false, fault.Unavailable(err, "usage_events: look up elasticbox organization")
	}
	defer rows.Close()
	known := rows.Next()
	if err := rows.Err(); err != nil {
		return false, fault.Unavailable(err, "usage_events: look up elasticbox organization")
	}
	return known, nil
}

// elasticBoxDetailsSQL reads the metadata records of an organization's ElasticBox instances
// valid from a day in [from, to) (the valid_from bound lets ClickHouse skip the months before
// the period). FINAL: a record written twice, or read again by the poller, counts once.
// The attributes come as one string, "key\tvalue" lines escaped as the measures are: several
// times cheaper to read than the two arrays.
var elasticBoxDetailsSQL = `SELECT id, valid_from_ms, source,
  arrayStringConcat(arrayMap((k, v) -> concat(` + escapedSQL("k") + `, '\t', ` + escapedSQL("v") + `), attributes.key, attributes.value), '\n')
FROM provider_metadata FINAL
WHERE provider = ? AND kind = ? AND valid_from >= toDateTime(?, 'UTC') AND valid_from_ms >= ? AND valid_from_ms < ?
  AND attributes.value[indexOf(attributes.key, ?)] = ?
ORDER BY id, valid_from_ms, source`

// Details implements elasticbox.Store.
func (s *ElasticBoxDocs) Details(ctx context.Context, org string, fromMs, toMs int64) ([]elasticbox.Detail, error) {
	rows, err := s.conn.Query(ctx, elasticBoxDetailsSQL, ebdetails.Provider, ebdetails.Kind, fromMs/1000, fromMs, toMs, ebdetails.Organization, org)
	if err != nil {
		return nil, fault.Unavailable(err, "provider_metadata: read elasticbox details")
	}
	defer rows.Close()
	var out []elasticbox.Detail
	for rows.Next() {
		var (
			d     elasticbox.Detail
			lines string
		)
		if err := rows.Scan(&d.Instance, &d.ValidFromMs, &d.Source, &lines); err != nil {
			return nil, fmt.Errorf("read elasticbox details: %w", err)
		}
		attrs := make(map[string]string, strings.Count(lines, "\n")+1)
		for line := range strings.SplitSeq(lines, "\n") {
			k, v, ok := strings.Cut(line, "\t")
			if !ok {
				continue // no attributes: one empty line
			}
			if strings.IndexByte(line, '\\') >= 0 {
				k, v = unescaper.Replace(k), unescaper.Replace(v)
			}
			attrs[k] = v
		}
		d.Details = ebdetails.FromAttributes(attrs)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "provider_metadata: read elasticbox details")
	}
	return out, nil
}
