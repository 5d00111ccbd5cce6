package clickhouse_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/report/reporttest"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/metadata"
	"github.com/meterline/meterline/internal/metadata/ebdetails"
	"github.com/meterline/meterline/internal/report/elasticbox"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// ebBenchConn fills the benchmark organization on the real ClickHouse: 1,000 service
// instances, each with a poller-style document (cost, up-time) and its metadata record (the JSON report's details and
// two states) on every day of November 2026, 30,000 documents. The database is dropped when b
// ends, so b is the parent of the benchmarks that read it.
func ebBenchConn(b *testing.B) clickhouse.Conn {
	{
		cfg := testenv.Get(b).Config(b)
		conn := testenv.ClickHouse(b, cfg)
		ctx := context.Background()
		d0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		created := d0.Add(-time.Hour)
		var (
			rows  []usage.EventRow
			metas []metadata.Row
		)
		flush := func() {
			if err := clickhouse.NewEvents(conn).Insert(ctx, rows); err != nil {
				b.Fatal(err)
			}
			if err := clickhouse.NewProviderMetadata(conn).Insert(ctx, metas); err != nil {
				b.Fatal(err)
			}
			rows, metas = rows[:0], metas[:0]
		}
		for i := range 1000 {
			inst := fmt.Sprintf("eb-%04d", i)
			for day := range 30 {
				start := d0.AddDate(0, 0, day)
				down := start.Add(time.Duration(i%24) * time.Hour)
				det := ebdetails.Details{Size: "m1.small", Region: "us-east-1", Cloud: "EC2", ProviderType: "Amazon Web Services",
					ProfileSchema: "http://elasticbox.net/schemas/aws/ec2/profile", Type: "Linux Compute", Operation: "deploy", Created: &created,
					States: []ebdetails.State{{State: "up", Started: created, Completed: &down}, {State: "down", Started: down}}}
				d := usage.Document{Start: start.UnixMilli(), End: start.AddDate(0, 0, 1).UnixMilli() - 1, OrganizationID: "eb-bench",
					SpaceID: "prov-1", ConsumerID: inst, ResourceID: ebdetails.Resource, PlanID: ebdetails.Plan, ResourceInstanceID: inst,
					DedupID: "eb:bench:" + inst + ":" + start.Format("2006-01-02"),
					MeasuredUsage: []usage.Measure{{Measure: ebdetails.Cost, Quantity: decimal.New(int64(i+day), -2)},
						{Measure: ebdetails.UpSeconds, Quantity: decimal.NewFromInt(int64(i%24) * 3600)}}}
				rows = append(rows, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(len(rows))})
				attrs := det.Attributes()
				attrs[ebdetails.Organization] = "eb-bench"
				metas = append(metas, metadata.Row{Record: metadata.Record{Source: "poller:elasticbox/bench", Provider: ebdetails.Provider,
					Kind: ebdetails.Kind, ID: inst, ValidFromMs: start.UnixMilli(), Attributes: attrs}, WrittenMs: 1})
				if len(rows) == 5000 {
					flush()
				}
			}
		}
		flush()
		return conn
	}
}

// BenchmarkElasticBoxView/report is the JSON report of the benchmark organization over its
// month (30,000 documents read from ClickHouse, 1,000 entries of 30 days written), as
// GET /services/organizations/{organization}/report/{start}/{end} answers it;
// BenchmarkElasticBoxView/csv its CSV (30,000 rows). p50-ms and p99-ms are the iterations'.
func BenchmarkElasticBoxView(b *testing.B) {
	conn := ebBenchConn(b)
	for _, kind := range []string{"report", "csv"} {
		b.Run(kind, func(b *testing.B) { benchElasticBox(b, conn, kind) })
	}
	// The store's reads alone: the documents (the query, its answer and the decoding of the
	// measures), and the details (30,000 metadata records, their attributes decoded).
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s := clickhouse.NewElasticBoxDocs(conn)
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		reporttest.Latencies(b, func() error {
			docs, err := s.Docs(context.Background(), "eb-bench", from.UnixMilli(), from.AddDate(0, 0, 30).UnixMilli())
			if err == nil && len(docs) != 30_000 {
				err = fmt.Errorf("%d documents", len(docs))
			}
			return err
		})
	})
	b.Run("details", func(b *testing.B) {
		b.ReportAllocs()
		reporttest.Latencies(b, func() error {
			dets, err := s.Details(context.Background(), "eb-bench", from.UnixMilli(), from.AddDate(0, 0, 30).UnixMilli())
			if err == nil && (len(dets) != 30_000 || len(dets[0].Details.States) != 2) {
				err = fmt.Errorf("%d details", len(dets))
			}
			return err
		})
	})
}

func benchElasticBox(b *testing.B, conn clickhouse.Conn, kind string) {
	mux := http.NewServeMux()
	elasticbox.NewAPI(clickhouse.NewElasticBoxDocs(conn), 100, zap.NewNop()).Register(mux)
	h := auth.As(auth.NewPrincipal("admin", auth.MethodAdminKey, []string{auth.ScopeAdmin}, nil), mux)
	path := "/services/organizations/eb-bench/" + kind + "/2026-11-01/2026-11-30"
	b.ReportAllocs()
	reporttest.Latencies(b, func() error {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK || w.Body.Len() < 1_000_000 {
			return fmt.Errorf("%d, %d bytes: %.300s", w.Code, w.Body.Len(), w.Body)
		}
		return nil
	})
}
