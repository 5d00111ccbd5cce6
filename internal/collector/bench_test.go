package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
)

// BenchmarkCollectorHTTP posts distinct resource usage documents over HTTP from 32
// concurrent clients to a collector that publishes to the real test broker (acks from all
// in-sync replicas, idempotent producer). Each POST is answered only once Kafka has the
// document, so this is the collector's end-to-end throughput. The duplicate look-up is off
// (no archive), as for a fresh document it only adds a ClickHouse point query.
func BenchmarkCollectorHTTP(b *testing.B) {
	cfg := testenv.Get(b).Config(b)
	cfg.Kafka.Retention = 100000 * time.Hour
	testenv.DeleteTopicsWithPrefix(b, cfg)
	ctx := context.Background()
	cl := testenv.Kafka(b, cfg, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, zap.NewNop()); err != nil {
		b.Fatal(err)
	}
	pub := kafka.NewPublisher(cl, kafka.TopicsFor(cfg.Kafka.TopicPrefix).Collected)
	mux := http.NewServeMux()
	// The clock starts at a pinned instant and runs: documents end an hour before it, and
	// their records are stamped from it (so the topic keeps them for a long retention).
	start := clock.Instants[0]
	collector.New(collector.Config{MaxBodyBytes: 1 << 20, ProduceTimeout: 10 * time.Second, Clock: clock.StartingAt(start)}, pub, nil, nil,
		zap.NewNop(), prometheus.NewRegistry()).Register(mux)
	srv := httptest.NewServer(auth.AsAdmin(mux))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var seq atomic.Int64
	end := start.Add(-time.Hour).UnixMilli()
	b.SetParallelism(16) // 16 x GOMAXPROCS (2 here) = 32 clients
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body bytes.Buffer
		for pb.Next() {
			i := seq.Add(1)
			body.Reset()
			fmt.Fprintf(&body, `{"start":%d,"end":%d,"organization_id":"org-%d","space_id":"s","consumer_id":"app:%d",
"resource_id":"object-storage","plan_id":"basic","resource_instance_id":"ri-%d","measured_usage":[{"measure":"storage","quantity":%d}]}`,
				end, end, i%100, i%1000, i, i)
			resp, err := client.Post(srv.URL+"/v1/metering/collected/usage", "application/json", bytes.NewReader(body.Bytes()))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("POST: %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
