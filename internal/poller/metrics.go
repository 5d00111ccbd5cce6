package poller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pollers' metrics, labelled by source.
type Metrics struct {
	lastSuccess *prometheus.GaugeVec
	lag         *prometheus.GaugeVec
	lagShare    *prometheus.GaugeVec
	documents   *prometheus.CounterVec
	rejects     *prometheus.CounterVec
	errors      *prometheus.CounterVec
	notices     *prometheus.CounterVec
	txnSeconds  *prometheus.HistogramVec
	aborted     *prometheus.CounterVec
}

// NewMetrics registers the pollers' metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meterline_poller_last_success_timestamp_seconds",
			Help: "When the poller last committed a period (Unix seconds)."}, []string{"source"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meterline_poller_lag_seconds",
			Help: "How far behind the poller's clock the end of the last period read is."}, []string{"source"}),
		lagShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meterline_poller_lag_slack_ratio",
			Help: "The lag as a share of the metering slack: at 1, what is read now is rejected as too late."}, []string{"source"}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meterline_poller_documents_total",
			Help: "Usage documents the poller committed (a period read again after a crash counts again)."}, []string{"source"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meterline_poller_rejects_total",
			Help: "Payloads and documents set aside to the poller rejects topic."}, []string{"source"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meterline_poller_errors_total",
			Help: "Failed polls and publishes, by kind."}, []string{"source", "kind"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meterline_poller_notices_total",
			Help: "Findings about the provider's data, by kind (a server gone before its last period was read, ...)."}, []string{"source", "kind"}),
		txnSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "meterline_poller_transaction_seconds",
			Help:    "Time to publish a batch in one Kafka transaction (begin to end), by outcome (committed, failed).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"source", "outcome"}),
		aborted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meterline_poller_aborted_transactions_total",
			Help: "Publishes that did not commit (aborted, or fenced): the batch is polled again."}, []string{"source"}),
	}
	reg.MustRegister(m.lastSuccess, m.lag, m.lagShare, m.documents, m.rejects, m.errors, m.notices, m.txnSeconds, m.aborted)
	return m
}

// sourceMetrics are the metrics of one source; a nil one counts nothing.
type sourceMetrics struct {
	m      *Metrics
	source string
}

func (m *Metrics) source(s string) *sourceMetrics {
	if m == nil {
		return nil
	}
	return &sourceMetrics{m: m, source: s}
}

func (s *sourceMetrics) failed(kind string) {
	if s != nil {
		s.m.errors.WithLabelValues(s.source, kind).Inc()
	}
}

func (s *sourceMetrics) notice(kind string) {
	if s != nil {
		s.m.notices.WithLabelValues(s.source, kind).Inc()
	}
}

func (s *sourceMetrics) rejected(n int) {
	if s != nil {
		s.m.rejects.WithLabelValues(s.source).Add(float64(n))
	}
}

func (s *sourceMetrics) published(docs, rejects int) {
	if s != nil {
		s.m.documents.WithLabelValues(s.source).Add(float64(docs))
		s.rejected(rejects)
	}
}

// observe records the lag at now of a poller that has read through through; success says a
// period was just committed.
func (s *sourceMetrics) observe(now, through time.Time, slack time.Duration, success bool) {
	if s == nil {
		return
	}
	if success {
		s.m.lastSuccess.WithLabelValues(s.source).Set(float64(now.UnixMilli()) / 1000)
	}
	if through.IsZero() {
		return
	}
	lag := max(now.Sub(through), 0)
	s.m.lag.WithLabelValues(s.source).Set(lag.Seconds())
	if slack > 0 {
		s.m.lagShare.WithLabelValues(s.source).Set(lag.Seconds() / slack.Seconds())
	}
}

// transaction observes a publish (one transaction) that took d, committed or not.
func (s *sourceMetrics) transaction(d time.Duration, committed bool) {
	if s == nil {
		return
	}
	outcome := "committed"
	if !committed {
		outcome = "failed"
		s.m.aborted.WithLabelValues(s.source).Inc()
	}
	s.m.txnSeconds.WithLabelValues(s.source, outcome).Observe(d.Seconds())
}
