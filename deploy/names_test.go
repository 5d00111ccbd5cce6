// Package deploy checks the operator files of deploy/: the Prometheus rules and the Grafana
// dashboard name only metrics Meterline registers, and parse as Prometheus would.
package deploy

import (
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/metrics"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/processor"
	"github.com/meterline/meterline/internal/report/abacus"
	"github.com/meterline/meterline/internal/sink"
)

// describing is a Registerer that registers with a registry and keeps the name of every
// metric a collector describes: a vector with no child yet is gathered as nothing, but it is
// described.
type describing struct {
	reg   *prometheus.Registry
	names map[string]prometheus.ValueType
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describing) Register(c prometheus.Collector) error {
	if err := d.reg.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = prometheus.UntypedValue
		}
	}
	return nil
}

func (d *describing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

func (d *describing) Unregister(c prometheus.Collector) bool { return d.reg.Unregister(c) }

// exported returns the metric names a Meterline process exposes, with every component
// constructed as internal/app constructs it (its constructor registers its metrics), over a
// broker and tables that are never reached: each Kafka client is closed at once.
// Histograms add their _bucket, _sum and _count series.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	base := metrics.NewRegistry()
	d := &describing{reg: prometheus.NewRegistry(), names: map[string]prometheus.ValueType{}}
	// The runtime and process collectors NewRegistry registers.
	mfs, err := base.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		d.names[mf.GetName()] = prometheus.UntypedValue
	}
	log := zap.NewNop()
	brokers := []string{"127.0.0.1:1"}
	topics := kafka.TopicsFor("meterline")
	groups := kafka.GroupsFor("meterline")
	cat := catalog.NewCatalog()
	p, err := processor.New(processor.Config{Brokers: brokers, Topics: topics, Group: groups.Processor, TransactionalID: "meterline-processor",
		Acceptance: metering.DefaultAcceptance}, cat, cat, log, d)
	if err != nil {
		t.Fatal(err)
	}
	p.Client().Close()
	sinkCfg := func(topic, group string) sink.Config {
		return sink.Config{Brokers: brokers, Topic: topic, Group: group, DeadLetter: topics.DeadLetter, BatchSize: 10, FlushInterval: time.Second}
	}
	raw, err := sink.NewRaw(sinkCfg(topics.Collected, groups.RawSink), clickhouse.NewEvents(nil), log, d)
	if err != nil {
		t.Fatal(err)
	}
	raw.Client().Close()
	cells, err := sink.NewCells(sinkCfg(topics.RatedBatch, groups.CellSink), clickhouse.NewCells(nil), log, d)
	if err != nil {
		t.Fatal(err)
	}
	cells.Client().Close()
	rejections, err := sink.NewRejections(sinkCfg(topics.Rejected, groups.RejectionSink), clickhouse.NewRejections(nil), log, d)
	if err != nil {
		t.Fatal(err)
	}
	rejections.Client().Close()
	meta, err := sink.NewMetadata(sinkCfg(topics.PollerMetadata, groups.MetadataSink), clickhouse.NewProviderMetadata(nil), log, d)
	if err != nil {
		t.Fatal(err)
	}
	meta.Client().Close()
	collector.New(collector.Config{}, nil, nil, nil, log, d)
	abacus.NewAPI(nil, nil, 1<<20, log, d)
	poller.NewMetrics(d)

	out := map[string]bool{}
	for name := range d.names {
		out[name] = true
	}
	// A Desc does not tell a histogram: those the rules and the dashboard use are listed.
	for _, h := range histograms {
		if !out[h] {
			t.Errorf("histogram %s is not registered", h)
		}
		out[h+"_bucket"], out[h+"_sum"], out[h+"_count"] = true, true, true
	}
	return out
}

// histograms are the histograms among the metrics (the rules use their series).
var histograms = []string{
	"meterline_processor_transaction_seconds",
	"meterline_poller_transaction_seconds",
	"meterline_sink_write_lag_seconds",
	"meterline_rawsink_flush_seconds",
	"meterline_cellsink_flush_seconds",
	"meterline_rejectionsink_flush_seconds",
	"meterline_collector_post_seconds",
	"meterline_report_seconds",
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
