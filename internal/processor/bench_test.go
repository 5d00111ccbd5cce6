package processor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// BenchmarkProcessorThroughput measures, against the real test broker, how fast the metering
// processor drains a pre-filled collected-usage topic (object storage documents of 200
// organizations and 2,000 instances), and, in the same run, how fast the same records are
// consumed and produced again in transactions with no processing at all (the raw rate the
// processor is compared with). It reports both in documents/s and their ratio.
func BenchmarkProcessorThroughput(b *testing.B) {
	const docs = 20000
	cfg := testenv.Get(b).Config(b)
	cfg.Kafka.Retention = 100000 * time.Hour // the records are stamped at a pinned instant
	testenv.DeleteTopicsWithPrefix(b, cfg)
	ctx := context.Background()
	cl := testenv.Kafka(b, cfg, kgo.ProducerLinger(5*time.Millisecond))
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, zap.NewNop()); err != nil {
		b.Fatal(err)
	}
	topics := kafka.TopicsFor(cfg.Kafka.TopicPrefix)
	at := clock.Instants[0]
	now := at.UnixMilli()
	var recs []*kgo.Record
	for i := range docs {
		d := objectDoc(fmt.Sprintf("org-%d", i%200), fmt.Sprintf("i-%d", i%2000), now-int64(i%3600)*1000)
		d.DedupID = fmt.Sprint(i)
		r, err := kafka.EventRecord(topics.Collected, &meterlinev1.UsageEvent{Id: d.ID(), Source: "bench", Document: d.Proto()})
		if err != nil {
			b.Fatal(err)
		}
		r.Timestamp = at
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	cat := catalog.NewCatalog()
	if err := provisioning.NewAPI(cat, catalogWriter{cat}, zap.NewNop()).LoadBuiltin(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var raw, processed time.Duration
	for range b.N {
		raw += drain(b, cfg.Kafka.Brokers, testenv.Name("raw"), func(group string) func(context.Context) error {
			return rawCopy(b, cfg.Kafka.Brokers, group, topics.Collected, cfg.Kafka.TopicPrefix+".bench.copy")
		})
		processed += drain(b, cfg.Kafka.Brokers, testenv.Name("processor"), func(group string) func(context.Context) error {
			s, err := New(Config{Brokers: cfg.Kafka.Brokers, Topics: topics, Group: group, TransactionalID: group,
				Acceptance: metering.DefaultAcceptance, Clock: clock.NewManual(at)}, cat, cat, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			return s.Run
		})
	}
	rawRate := float64(docs*b.N) / raw.Seconds()
	procRate := float64(docs*b.N) / processed.Seconds()
	b.ReportMetric(procRate, "docs/s")
	b.ReportMetric(rawRate, "raw-docs/s")
	b.ReportMetric(procRate/rawRate, "ratio")
}

// drain runs the consumer start(group) returns until its group has no lag, and returns how
// long that took.
func drain(b *testing.B, brokers []string, group string, start func(group string) func(context.Context) error) time.Duration {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	run := start(group)
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	for {
		lags, err := kadm.NewClient(adm).Lag(context.Background(), group)
		if l, ok := lags[group]; err == nil && ok && l.Error() == nil && len(l.Lag) > 0 && l.Lag.Total() == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(began)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return took
}

// rawCopy consumes topic in transactions and produces every record unchanged to copyTopic:
// Kafka's cost of the processor's consume-transform-produce loop without the transform.
func rawCopy(b *testing.B, brokers []string, group, topic, copyTopic string) func(context.Context) error {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = kadm.NewClient(adm).CreateTopic(context.Background(), 3, -1, nil, copyTopic)
	adm.Close()
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(brokers...), kgo.TransactionalID(group), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context) error {
		defer sess.Close()
		for {
			fetches := sess.PollRecords(ctx, 5000)
			if ctx.Err() != nil {
				return nil
			}
			if fetches.NumRecords() == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				return err
			}
			fetches.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Topic: copyTopic, Partition: r.Partition, Key: r.Key, Value: r.Value}, nil)
			})
			if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
				return err
			}
		}
	}
}
