package processor

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// BenchmarkDecodeEvent decodes a usage event record as the processor reads it from the
// collected topic (decide): the protobuf (kafka.DecodeEvent), then the document
// (usage.FromProto), for an object storage and a linux container document. It reports the
// record's value size.
func BenchmarkDecodeEvent(b *testing.B) {
	now := clock.Instants[0].UnixMilli()
	for _, c := range []struct {
		name string
		doc  usage.Document
	}{
		{"object-storage", objectDoc("org-17", "i-1017", now)},
		{"linux-container", linuxDoc(benchDocs-1, now)},
	} {
		c.doc.DedupID = "12345"
		r, err := kafka.EventRecord("collected", &meterlinev1.UsageEvent{Id: c.doc.ID(), Source: "bench", Document: c.doc.Proto()})
		if err != nil {
			b.Fatal(err)
		}
		r.Timestamp = time.UnixMilli(now)
		for _, document := range []bool{false, true} {
			name := c.name + "/protobuf"
			if document {
				name = c.name + "/document"
			}
			b.Run(name, func(b *testing.B) {
				var ev meterlinev1.UsageEvent
				b.ReportAllocs()
				for b.Loop() {
					if err := kafka.DecodeEvent(r, &ev); err != nil {
						b.Fatal(err)
					}
					if !document {
						continue
					}
					if _, err := usage.FromProto(ev.Document); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(r.Value)), "value-bytes")
			})
		}
	}
}

// BenchmarkEncodeCell encodes one changed cell as processPartition writes it: its changelog
// record (key and value), its cell of a v2 rated batch record, and (RatedV1) its v1 rated
// record, for an organization-level storage cell of object storage (a 24-place GB sum, rated)
// and an instance memory cell of the linux container (a map value). It reports the bytes
// each writes per cell.
func BenchmarkEncodeCell(b *testing.B) {
	gb := decimal.RequireFromString("2468.149780647456645965576172")
	for _, c := range []struct {
		name string
		ru   ratedUsage
	}{
		{"object-storage", ratedUsage{
			key: metering.CellKey{Scope: metering.ScopeOrganization, Org: "org-17", Resource: "object-storage",
				Plan: "basic/basic-object-storage/object-rating-plan/object-pricing-basic", Metric: "storage",
				Level: metering.Hour, From: 1798761600000},
			to: 1798765200000, quantity: gb, cost: gb.Mul(decimal.RequireFromString("0.03")),
			account: "1234-5678-9012", currency: "USD", processed: 1798763012345}},
		{"linux-container", ratedUsage{
			key: metering.CellKey{Scope: metering.ScopeInstance, Org: "org-17", Space: "space", Consumer: "app:1",
				Instance: "i-1017", Resource: "linux-container",
				Plan: "basic/basic-linux-container/standard-linux-container/basic-linux-container", Metric: "memory",
				Level: metering.Minute, From: 1798762980000},
			to: 1798763040000,
			quantity: map[string]any{"consuming": decimal.NewFromInt(2), "consumed": decimal.NewFromInt(14400000),
				"since": decimal.NewFromInt(1798762980000)},
			cost:    decimal.RequireFromString("0.000056"),
			account: "1234-5678-9012", currency: "USD", processed: 1798763012345}},
	} {
		ru := c.ru
		b.Run(c.name+"/changelog", func(b *testing.B) {
			var key, value []byte
			b.ReportAllocs()
			for b.Loop() {
				key = ru.key.AppendTo(key[:0])
				var err error
				if value, err = appendValue(value[:0], ru.quantity, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(key)+len(value)), "bytes/cell")
		})
		b.Run(c.name+"/rated-v2", func(b *testing.B) {
			// Cells appended to a batch record until it has DefaultRatedBatchBytes, then a new one.
			batch := make([]byte, 0, DefaultRatedBatchBytes+batchSlack)
			var cells, bytes int
			b.ReportAllocs()
			for b.Loop() {
				n := len(batch)
				var err error
				if batch, err = appendBatchCell(batch, &ru); err != nil {
					b.Fatal(err)
				}
				cells, bytes = cells+1, bytes+len(batch)-n
				if len(batch) >= DefaultRatedBatchBytes {
					batch = batch[:0]
				}
			}
			b.ReportMetric(float64(bytes)/float64(cells), "bytes/cell")
		})
		b.Run(c.name+"/rated-v1", func(b *testing.B) {
			var rec []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if rec, err = appendRated(rec[:0], &ru); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rec)+len(ru.key.Org)), "bytes/cell")
		})
	}
}
