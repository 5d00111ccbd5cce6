package processor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/platform/gctune"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// benchDocs is the documents of one throughput run.
const benchDocs = 20000

// BenchmarkProcessorThroughput measures, against the real test broker, how fast the metering
// processor drains a pre-filled collected-usage topic of 20,000 documents of 200
// organizations and 2,000 instances, and, in the same run, how fast the same records are
// consumed and produced again in transactions with no processing at all (the raw rate the
// processor is compared with). It reports both in documents/s and their ratio, and what the
// processor produced per document (records and bytes, all output topics, and the changelog's
// and rated topic's shares) and the CPU it spent per document (this process's; the broker's
// too when METERLINE_BENCH_BROKER_PID names the broker's process).
//
// Two plans: object storage (discrete, three metrics, sums) and the linux container (time
// based: map values and expr-lang programs, GB-hours of running memory).
func BenchmarkProcessorThroughput(b *testing.B) {
	b.Run("plan=object-storage", func(b *testing.B) {
		benchmarkThroughput(b, func(i int, now int64) usage.Document {
			return objectDoc(fmt.Sprintf("org-%d", i%200), fmt.Sprintf("i-%d", i%2000), now-int64(i%3600)*1000)
		})
	})
	b.Run("plan=linux-container", func(b *testing.B) {
		benchmarkThroughput(b, func(i int, now int64) usage.Document {
			return linuxDoc(i, now)
		})
	})
}

// linuxDoc is the i-th of benchDocs linux container documents ending by now: instance i%2000
// of org i%200 changes its memory (1 to 4 GB) and its running instances (1 to 2) every 2,000
// documents, the documents' times advancing in order over the hour before now, each giving
// the previous values as Abacus' linux container sample does.
func linuxDoc(i int, now int64) usage.Document {
	const instances = 2000
	k := i / instances // the how-manieth document of its instance
	at := now - int64(benchDocs-1-i)*3600*1000/benchDocs
	gb := func(k int) int64 { return 1 + int64(k%4) }
	running := func(k int) int64 { return 1 + int64(k%2) }
	d := containerDoc(fmt.Sprintf("org-%d", i%200), fmt.Sprintf("i-%d", i%instances), time.UnixMilli(at), gb(k))
	d.MeasuredUsage[1].Quantity = decimal.NewFromInt(running(k))
	if k > 0 {
		d.MeasuredUsage[2].Quantity = decimal.NewFromInt(gb(k-1) * gib)
		d.MeasuredUsage[3].Quantity = decimal.NewFromInt(running(k - 1))
	}
	return d
}

func benchmarkThroughput(b *testing.B, doc func(i int, now int64) usage.Document) {
	// As `meterline processor` runs under a memory limit (gctune.Tune), unless GOGC is set.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(gctune.Percent))
	}
	cfg, topics, at := fillCollected(b, benchDocs, doc)
	ctx := context.Background()
	cat := catalog.NewCatalog()
	if err := provisioning.NewAPI(cat, catalogWriter{cat}, zap.NewNop()).LoadBuiltin(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var raw, processed time.Duration
	var rawCPU, procCPU cpuUse
	out := &produced{changelog: topics.Changelog, rated: topics.RatedBatch}
	for range b.N {
		took, use := drain(b, cfg.Kafka.Brokers, testenv.Name("raw"), func(group string) func(context.Context) error {
			return rawCopy(b, cfg.Kafka.Brokers, group, topics.Collected, cfg.Kafka.TopicPrefix+".bench.copy", copies(0, 1), nil)
		})
		raw += took
		rawCPU = rawCPU.add(use)
		took, use = drain(b, cfg.Kafka.Brokers, testenv.Name("processor"), func(group string) func(context.Context) error {
			s, err := New(Config{Brokers: cfg.Kafka.Brokers, Topics: topics, Group: group, TransactionalID: group,
				Acceptance: metering.DefaultAcceptance, Clock: clock.NewManual(at), KafkaOpts: []kgo.Opt{kgo.WithHooks(out)}},
				cat, cat, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			return s.Run
		})
		processed += took
		procCPU = procCPU.add(use)
	}
	n := float64(benchDocs * b.N)
	rawRate := n / raw.Seconds()
	procRate := n / processed.Seconds()
	b.ReportMetric(procRate, "docs/s")
	b.ReportMetric(rawRate, "raw-docs/s")
	b.ReportMetric(procRate/rawRate, "ratio")
	b.ReportMetric(float64(out.records.Load())/n, "records/doc")
	b.ReportMetric(float64(out.bytes.Load())/n, "bytes/doc")
	b.ReportMetric(float64(out.changelogRecords.Load())/n, "changelog-records/doc")
	b.ReportMetric(float64(out.changelogBytes.Load())/n, "changelog-bytes/doc")
	b.ReportMetric(float64(out.ratedRecords.Load())/n, "rated-records/doc")
	b.ReportMetric(float64(out.ratedBytes.Load())/n, "rated-bytes/doc")
	procCPU.report(b, n, "")
	rawCPU.report(b, n, "raw-")
}

// BenchmarkRawCopy is the raw transactional copy of BenchmarkProcessorThroughput (100,000
// object storage documents, 5,000 per transaction, read committed) producing a given number
// of records per input record, of a given size, through the same real broker: its figures
// fit the broker's (and client's) cost per input record, per output record and per output
// byte on this machine (docs/benchmarks.md, "Broker cost and processor budget").
//
// out=0.1 produces a copy of every tenth record; out=1, 2 and 4 that many copies of every
// record; value=N makes the copies' values N bytes long (the input's value repeated or cut)
// instead of the input's own value.
func BenchmarkRawCopy(b *testing.B) {
	const docs = 100000
	for _, c := range []struct {
		name  string
		every int // one output per every records (with n = 1); 0 for n per record
		n     int
		value int // output value bytes; 0 for the input's value
	}{
		{"out=0.1", 10, 1, 0},
		{"out=1", 0, 1, 0},
		{"out=2", 0, 2, 0},
		{"out=4", 0, 4, 0},
		{"out=1/value=2000", 0, 1, 2000},
		{"out=4/value=40", 0, 4, 40},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg, topics, _ := fillCollected(b, docs, func(i int, now int64) usage.Document {
				return objectDoc(fmt.Sprintf("org-%d", i%200), fmt.Sprintf("i-%d", i%2000), now-int64(i%3600)*1000)
			})
			out := &produced{}
			b.ResetTimer()
			var took time.Duration
			var use cpuUse
			for range b.N {
				t, u := drain(b, cfg.Kafka.Brokers, testenv.Name("raw"), func(group string) func(context.Context) error {
					return rawCopy(b, cfg.Kafka.Brokers, group, topics.Collected, cfg.Kafka.TopicPrefix+".bench.copy",
						copies(c.every, c.n), resize(c.value), kgo.WithHooks(out))
				})
				took += t
				use = use.add(u)
			}
			n := float64(docs * b.N)
			b.ReportMetric(n/took.Seconds(), "docs/s")
			b.ReportMetric(took.Seconds()*1e6/n, "µs/doc")
			b.ReportMetric(float64(out.records.Load())/n, "records/doc")
			b.ReportMetric(float64(out.bytes.Load())/n, "bytes/doc")
			use.report(b, n, "")
		})
	}
}

// fillCollected makes the topics of a fresh prefix and fills the collected topic with docs
// documents doc(i, now), stamped at a pinned instant, whose time it
// returns.
func fillCollected(b *testing.B, docs int, doc func(i int, now int64) usage.Document) (config.Config, kafka.Topics, time.Time) {
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
	recs := make([]*kgo.Record, 0, docs)
	for i := range docs {
		d := doc(i, now)
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
	return cfg, topics, at
}

// produced counts the records a client produced and their bytes (keys, values and headers),
// all topics, and those of the changelog and rated topics: a kgo hook.
type produced struct {
	changelog, rated                 string
	records, bytes                   atomic.Int64
	changelogRecords, changelogBytes atomic.Int64
	ratedRecords, ratedBytes         atomic.Int64
}

// OnProduceRecordUnbuffered counts r when it was produced (err nil).
func (p *produced) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err != nil {
		return
	}
	n := int64(len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	p.records.Add(1)
	p.bytes.Add(n)
	switch r.Topic {
	case p.changelog:
		p.changelogRecords.Add(1)
		p.changelogBytes.Add(n)
	case p.rated:
		p.ratedRecords.Add(1)
		p.ratedBytes.Add(n)
	}
}

// cpuUse is CPU time spent: this process's (user and system) and the broker's when known.
type cpuUse struct {
	self, broker time.Duration
	hasBroker    bool
}

func (c cpuUse) add(d cpuUse) cpuUse {
	return cpuUse{self: c.self + d.self, broker: c.broker + d.broker, hasBroker: d.hasBroker}
}

// report reports c per document of n, as µs, with the metrics' names prefixed.
func (c cpuUse) report(b *testing.B, n float64, prefix string) {
	b.ReportMetric(float64(c.self.Microseconds())/n, prefix+"cpu-µs/doc")
	if c.hasBroker {
		b.ReportMetric(float64(c.broker.Microseconds())/n, prefix+"broker-cpu-µs/doc")
	}
}

// cpuNow is the CPU time this process and the broker (the process whose id
// METERLINE_BENCH_BROKER_PID gives, if any) have spent so far.
func cpuNow(b *testing.B) cpuUse {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	c := cpuUse{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	pid := os.Getenv("METERLINE_BENCH_BROKER_PID")
	if pid == "" {
		return c
	}
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		b.Fatalf("METERLINE_BENCH_BROKER_PID: %v", err)
	}
	// The fields after the command's closing parenthesis; utime and stime are the 14th and
	// 15th of the line, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("METERLINE_BENCH_BROKER_PID: cannot read /proc/%s/stat", pid)
	}
	c.broker, c.hasBroker = time.Duration(utime+stime)*10*time.Millisecond, true
	return c
}

// drain runs the consumer start(group) returns until its group has no lag, and returns how
// long that took and the CPU spent meanwhile.
func drain(b *testing.B, brokers []string, group string, start func(group string) func(context.Context) error) (time.Duration, cpuUse) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	run := start(group)
	began, cpu := time.Now(), cpuNow(b)
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
	took, end := time.Since(began), cpuNow(b)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return took, cpuUse{self: end.self - cpu.self, broker: end.broker - cpu.broker, hasBroker: end.hasBroker}
}

// copies returns how many records the raw copy produces for the record at offset: n for
// every record (every 0 or 1), or one for every every-th.
func copies(every, n int) func(offset int64) int {
	if every > 1 {
		return func(offset int64) int {
			if offset%int64(every) == 0 {
				return 1
			}
			return 0
		}
	}
	return func(int64) int { return n }
}

// resize returns the value a copy carries: the input's own (n 0) or n bytes of it, repeated.
func resize(n int) func(v []byte) []byte {
	if n == 0 {
		return nil
	}
	return func(v []byte) []byte {
		out := make([]byte, n)
		for i := 0; i < n; i += copy(out[i:], v) {
		}
		return out
	}
}

// rawCopy consumes topic in transactions and produces copies(offset) records for each record
// to copyTopic, with the record's key and its value (or value(its value) when value is not
// nil): Kafka's cost of the processor's consume-transform-produce loop without the transform.
func rawCopy(b *testing.B, brokers []string, group, topic, copyTopic string, copies func(int64) int, value func([]byte) []byte, opts ...kgo.Opt) func(context.Context) error {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = kadm.NewClient(adm).CreateTopic(context.Background(), 3, -1, nil, copyTopic)
	adm.Close()
	sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.TransactionalID(group), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
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
				v := r.Value
				if value != nil {
					v = value(v)
				}
				for range copies(r.Offset) {
					sess.Produce(ctx, &kgo.Record{Topic: copyTopic, Partition: r.Partition, Key: r.Key, Value: v}, nil)
				}
			})
			if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
				return err
			}
		}
	}
}
