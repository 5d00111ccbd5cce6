package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
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

// benchCollector serves a collector that publishes to the real test broker (acks from all
// in-sync replicas, idempotent producer), without the duplicate look-up (no archive: for a
// fresh document it only adds a ClickHouse point query). It returns the server's URL, a
// client, and the end of the documents to post (an hour before the collector's clock, which
// starts at a pinned instant and runs, so that the topic keeps the records).
func benchCollector(b *testing.B) (string, *http.Client, int64) {
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
	start := clock.Instants[0]
	collector.New(collector.Config{MaxBodyBytes: 1 << 20, ProduceTimeout: 10 * time.Second, Clock: clock.StartingAt(start)}, pub, nil, nil,
		zap.NewNop(), prometheus.NewRegistry()).Register(mux)
	srv := httptest.NewServer(auth.AsAdmin(mux))
	b.Cleanup(srv.Close)
	return srv.URL, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, start.Add(-time.Hour).UnixMilli()
}

// benchDoc writes distinct document i.
func benchDoc(body *bytes.Buffer, i, end int64) {
	fmt.Fprintf(body, `{"start":%d,"end":%d,"organization_id":"org-%d","space_id":"s","consumer_id":"app:%d",
"resource_id":"object-storage","plan_id":"basic","resource_instance_id":"ri-%d","measured_usage":[{"measure":"storage","quantity":%d}]}`,
		end, end, i%100, i%1000, i, i)
}

// postLoop posts from parallelism x GOMAXPROCS concurrent clients, each op a body that fill
// writes, and fails the benchmark at the first answer check refuses.
func postLoop(b *testing.B, client *http.Client, url string, parallelism int, fill func(*bytes.Buffer), check func(*http.Response) error) {
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body bytes.Buffer
		for pb.Next() {
			body.Reset()
			fill(&body)
			resp, err := client.Post(url, "application/json", bytes.NewReader(body.Bytes()))
			if err == nil {
				err = check(resp)
				resp.Body.Close()
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCollectorHTTP posts distinct resource usage documents over HTTP from 32
// concurrent clients. Each POST is answered only once Kafka has the document, so this is the
// collector's end-to-end throughput.
func BenchmarkCollectorHTTP(b *testing.B) {
	url, client, end := benchCollector(b)
	var seq atomic.Int64
	// 16 x GOMAXPROCS (2 here) = 32 clients
	postLoop(b, client, url+"/v1/metering/collected/usage", 16, func(body *bytes.Buffer) { benchDoc(body, seq.Add(1), end) },
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("POST: %d", resp.StatusCode)
			}
			return nil
		})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkCollectorBatchHTTP posts batches of 500 distinct documents from 8 concurrent
// clients (one op is one batch); each batch is answered once Kafka has all its documents.
func BenchmarkCollectorBatchHTTP(b *testing.B) {
	const size = 500
	url, client, end := benchCollector(b)
	var seq atomic.Int64
	fill := func(body *bytes.Buffer) {
		body.WriteByte('[')
		for k := range size {
			if k > 0 {
				body.WriteByte(',')
			}
			benchDoc(body, seq.Add(1), end)
		}
		body.WriteByte(']')
	}
	// 4 x GOMAXPROCS (2 here) = 8 clients
	postLoop(b, client, url+collector.BatchPath, 4, fill, func(resp *http.Response) error {
		var br collector.BatchResponse
		err := json.NewDecoder(resp.Body).Decode(&br)
		if err != nil || resp.StatusCode != http.StatusOK || br.Accepted != size {
			return fmt.Errorf("POST batch: %d, %d accepted, %v", resp.StatusCode, br.Accepted, err)
		}
		return nil
	})
	b.ReportMetric(float64(b.N)*size/b.Elapsed().Seconds(), "docs/s")
}
