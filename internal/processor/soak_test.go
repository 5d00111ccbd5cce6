package processor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/benchtest"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// soakWatch times the soak's restores: the only clock it reads
// and only for durations (the documents' times are simulated, from a pinned start).
var soakWatch = clock.Or(nil)

// BenchmarkProcessorSoak runs the metering processor against the real test broker on
// METERLINE_SOAK_DOCS documents (1,000,000 unless set) of METERLINE_SOAK_INSTANCES running
// object storage instances (1,000, of 100 organizations) whose stored times advance evenly
// over METERLINE_SOAK_HOURS simulated hours (96: twice the slack, so that the ids of the
// documents, kept for the slack, are pruned for its second half), from 2026-02-27T00:00Z
// (through a month's end). The documents are fed in eighths; once the processor has caught
// up with an eighth it logs and reports:
//
//   - this process's resident memory (VmRSS of /proc/self/status, after a GC that returns
//     freed memory to the system) and its live heap after a GC;
//   - the records the processor wrote to the changelog so far and their bytes (keys and
//     values, uncompressed), tombstones included;
//   - the changelog's bytes on the broker's disk, in all and per partition (DescribeLogDirs),
//     and the records and bytes a restore reads;
//   - the time a new owner of every partition takes to restore them from the changelog, one
//     after another (the processor's restore, by a Service of the same configuration), and
//     the cells and document ids it restores (the changelog's live keys).
//
// The changelog topic is created with segment.ms (and max.compaction.lag.ms)
// METERLINE_SOAK_SEGMENT and delete.retention.ms METERLINE_SOAK_DELETE_RETENTION (30s each unless set), through the
// configuration the product uses (config.Kafka.ChangelogSegment and
// ChangelogDeleteRetention), so that the broker's cleaner, which goes by the wall clock,
// compacts it within a run of minutes; the defaults are an hour each.
// METERLINE_SOAK_HEAP_PROFILE names a file for the heap profile of each measurement (the
// last one is kept). METERLINE_SOAK_LOG names a file for the processor's log.
// Run it once: go test ./internal/processor/ -run '^$' -bench ProcessorSoak -benchtime 1x.
func BenchmarkProcessorSoak(b *testing.B) {
	docs := benchtest.EnvInt(b, "METERLINE_SOAK_DOCS", 1_000_000)
	instances := benchtest.EnvInt(b, "METERLINE_SOAK_INSTANCES", 1000)
	span := int64(benchtest.EnvInt(b, "METERLINE_SOAK_HOURS", 96)) * time.Hour.Milliseconds()
	cfg := testenv.Get(b).Config(b)
	cfg.Kafka.Retention = 100000 * time.Hour // the records are stamped at simulated instants months ago
	cfg.Kafka.ChangelogSegment = soakDuration(b, "METERLINE_SOAK_SEGMENT", 30*time.Second)
	cfg.Kafka.ChangelogDeleteRetention = soakDuration(b, "METERLINE_SOAK_DELETE_RETENTION", 30*time.Second)
	testenv.DeleteTopicsWithPrefix(b, cfg)
	ctx := context.Background()
	cl := testenv.Kafka(b, cfg, kgo.ProducerLinger(5*time.Millisecond))
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, zap.NewNop()); err != nil {
		b.Fatal(err)
	}
	topics := kafka.TopicsFor(cfg.Kafka.TopicPrefix)
	cat := catalog.NewCatalog()
	if err := provisioning.NewAPI(cat, catalogWriter{cat}, zap.NewNop()).LoadBuiltin(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC)
	group := testenv.Name("processor")
	log := zap.NewNop()
	if path := os.Getenv("METERLINE_SOAK_LOG"); path != "" {
		lc := zap.NewProductionConfig()
		lc.OutputPaths = []string{path}
		var err error
		if log, err = lc.Build(); err != nil {
			b.Fatal(err)
		}
	}
	pcfg := Config{Brokers: cfg.Kafka.Brokers, Topics: topics, Group: group, TransactionalID: group,
		Acceptance: metering.DefaultAcceptance, Clock: clock.NewManual(start)}
	out := &produced{changelog: topics.Changelog, rated: topics.RatedBatch}
	running := pcfg
	running.KafkaOpts = []kgo.Opt{kgo.WithHooks(out)}
	proc, err := New(running, cat, cat, log.Named("processor"), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	// What restores a partition: a Service of the same configuration, without the session New
	// starts (which would join a group and restore what it is assigned, in the background).
	restorer := func(opts ...kgo.Opt) *Service {
		c := pcfg
		c.KafkaOpts = opts
		return &Service{cfg: c, plans: cat, accounts: cat, log: log.Named("restore")}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proc.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()

	adm := kadm.NewClient(cl)
	const batch = 20_000
	recs := make([]*kgo.Record, 0, batch)
	b.ResetTimer()
	for i, eighth := 0, 1; i < docs; eighth++ {
		for end := docs * eighth / 8; i < end; {
			recs = recs[:0]
			for ; i < end && len(recs) < batch; i++ {
				stored := start.UnixMilli() + int64(i)*span/int64(docs)
				inst := i % instances
				d := objectDoc(fmt.Sprintf("org-%d", inst%100), fmt.Sprintf("instance-%05d", inst), stored-1000)
				d.DedupID = strconv.Itoa(i)
				r, err := kafka.EventRecord(topics.Collected, &meterlinev1.UsageEvent{Id: d.ID(), Source: "soak", Document: d.Proto()})
				if err != nil {
					b.Fatal(err)
				}
				r.Timestamp = time.UnixMilli(stored)
				recs = append(recs, r)
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
		caughtUp(b, adm, group)
		b.StopTimer()
		m := soakMeasure(b, ctx, adm, topics.Changelog, restorer)
		b.Logf("%5.1fh docs %9d rss %6.1f MiB live-heap %6.1f MiB written %9d records %7.1f MiB changelog %7.1f MiB %v restore %6.0f ms reads %8d records %6.1f MiB cells %7d ids %8d",
			float64(int64(i-1)*span/int64(docs))/3.6e6, i, mib(m.rss), mib(m.heap), out.changelogRecords.Load(), mib(out.changelogBytes.Load()),
			mib(m.disk), mibs(m.partitions), m.restore.Seconds()*1000, m.records, mib(m.read), m.cells, m.ids)
		b.ReportMetric(mib(m.rss), "rss-MiB-final")
		b.ReportMetric(mib(m.heap), "heap-MiB-final")
		b.ReportMetric(mib(m.disk), "changelog-MiB-final")
		b.ReportMetric(m.restore.Seconds()*1000, "restore-ms-final")
		b.ReportMetric(float64(m.cells), "cells-final")
		b.ReportMetric(float64(m.ids), "ids-final")
		b.StartTimer()
	}
	b.StopTimer()
	// The cleaner has not reached the last writes yet: wait for it (a segment rolls only when
	// written to, so the active segment stays), then measure again.
	idle := 2*(cfg.Kafka.ChangelogSegment+cfg.Kafka.ChangelogDeleteRetention) + 30*time.Second
	time.Sleep(idle)
	m := soakMeasure(b, ctx, adm, topics.Changelog, restorer)
	b.Logf("idle %s: changelog %7.1f MiB %v restore %6.0f ms reads %8d records %6.1f MiB cells %7d ids %8d",
		idle, mib(m.disk), mibs(m.partitions), m.restore.Seconds()*1000, m.records, mib(m.read), m.cells, m.ids)
	b.ReportMetric(mib(m.disk), "changelog-MiB-idle")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(docs), "ns/doc")
}

// soakFigures is what the soak measures at a point of its run.
type soakFigures struct {
	rss, heap     uint64
	disk          int64
	partitions    []int64
	restore       time.Duration
	records, read int64
	cells, ids    int
}

// soakMeasure measures the process's memory, the changelog's bytes on disk, and a restore of
// every changelog partition, one after another as a new owner of them all restores them, by
// a Service restorer returns.
func soakMeasure(b *testing.B, ctx context.Context, adm *kadm.Client, changelog string, restorer func(...kgo.Opt) *Service) soakFigures {
	b.Helper()
	var m soakFigures
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heap, m.rss = ms.HeapAlloc, vmRSS(b)
	if path := os.Getenv("METERLINE_SOAK_HEAP_PROFILE"); path != "" { // the last measurement's is kept
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := errors.Join(pprof.WriteHeapProfile(f), f.Close()); err != nil {
			b.Fatal(err)
		}
	}
	md, err := adm.ListTopics(ctx, changelog)
	if err != nil {
		b.Fatal(err)
	}
	set := kadm.TopicsSet{}
	for _, p := range md[changelog].Partitions.Numbers() {
		set.Add(changelog, p)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, set)
	if err != nil {
		b.Fatal(err)
	}
	m.partitions = make([]int64, len(md[changelog].Partitions))
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == changelog && !p.IsFuture {
				m.partitions[p.Partition] += p.Size
				m.disk += p.Size
			}
		})
	})
	read := &fetched{}
	s := restorer(kgo.WithHooks(read))
	t0 := soakWatch.Now()
	for p := range m.partitions {
		st, err := s.restore(ctx, int32(p))
		if err != nil {
			b.Fatal(err)
		}
		m.cells += st.cells.Len()
		m.ids += len(st.ids)
	}
	m.restore = soakWatch.Now().Sub(t0)
	m.records, m.read = read.records.Load(), read.bytes.Load()
	return m
}

// fetched counts the records a client fetched and their uncompressed bytes: a kgo hook.
type fetched struct{ records, bytes atomic.Int64 }

// OnFetchBatchRead counts a fetched batch.
func (f *fetched) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	f.records.Add(int64(m.NumRecords))
	f.bytes.Add(int64(m.UncompressedBytes))
}

// caughtUp waits until group has committed every offset of its topics.
func caughtUp(b *testing.B, adm *kadm.Client, group string) {
	b.Helper()
	for {
		lags, err := adm.Lag(context.Background(), group)
		if l, ok := lags[group]; err == nil && ok && l.Error() == nil && len(l.Lag) > 0 && l.Lag.Total() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vmRSS is this process's resident memory, from /proc/self/status.
func vmRSS(b *testing.B) uint64 {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			var kb uint64
			if _, err := fmt.Sscanf(string(rest), "%d kB", &kb); err != nil {
				b.Fatalf("VmRSS: %v", err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func mib[N int64 | uint64](n N) float64 { return float64(n) / (1 << 20) }

func mibs(ns []int64) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprintf("%.1f", mib(n))
	}
	return out
}

// soakDuration is the duration the environment variable name holds, or def when it is unset.
func soakDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		b.Fatalf("%s=%q is not a duration of at least 1s", name, v)
	}
	return d
}
