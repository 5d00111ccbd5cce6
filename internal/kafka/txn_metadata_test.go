package kafka

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/metadata"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
)

// TestTxPublisherMetadata: metadata records are committed with the state or not at all. A
// crash after the records are produced and before the state leaves neither once the next
// instance has started; its publish commits both, each record keyed by source, kind, id and
// day with the source the publisher's. A record beyond the bounds fails the publish and
// leaves nothing.
func TestTxPublisherMetadata(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topics := TopicsFor(cfg.Kafka.TopicPrefix)
	at := clock.Instants[2]
	source := usage.PollerSource("test") + "/meta"
	newPublisher := func() *TxPublisher {
		t.Helper()
		p, err := NewTxPublisher(ctx, TxConfig{Brokers: cfg.Kafka.Brokers, Topics: topics, Source: source,
			Prefix: cfg.Kafka.TopicPrefix, Clock: clock.NewManual(at)}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	day := at.Truncate(24 * time.Hour).UnixMilli()
	meta := []metadata.Record{
		{Provider: "elasticbox", Kind: "service_instance", ID: "eb-1", ValidFromMs: day, Attributes: map[string]string{"size": "m1.small"}},
		{Provider: "elasticbox", Kind: "service_instance", ID: "eb-2", ValidFromMs: day, Attributes: map[string]string{}},
	}
	adm := kadm.NewClient(testenv.Kafka(t, cfg))
	check := func(wantState string, want []metadata.Record) {
		t.Helper()
		if err := Settled(ctx, adm, topics.PollerMetadata, topics.PollerState); err != nil {
			t.Fatal(err)
		}
		state, ok, err := LastState(ctx, cfg.Kafka.Brokers, topics.PollerState, source, zap.NewNop())
		if err != nil || ok != (wantState != "") || string(state) != wantState {
			t.Errorf("state %q (found %v, %v), want %q", state, ok, err, wantState)
		}
		recs, err := Committed(ctx, cfg.Kafka.Brokers, topics.PollerMetadata)
		if err != nil {
			t.Fatal(err)
		}
		var got, wantKeys []string
		for _, r := range recs {
			m, err := metadata.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Key) != m.Key() || m.Source != source || !r.Timestamp.Equal(at) {
				t.Errorf("record %s: %+v at %v", r.Key, m, r.Timestamp)
			}
			got = append(got, string(r.Key)+" "+m.Attributes["size"])
		}
		for _, m := range want {
			m.Source = source
			wantKeys = append(wantKeys, m.Key()+" "+m.Attributes["size"])
		}
		slices.Sort(got)
		if !slices.Equal(got, wantKeys) {
			t.Errorf("committed metadata %q, want %q", got, wantKeys)
		}
	}

	first := newPublisher()
	first.CrashAfterEvents(testenv.CrashAt(1))
	if err := first.PublishWithMetadata(ctx, nil, nil, meta, []byte("day-1")); !errors.Is(err, testenv.ErrCrash) {
		t.Fatalf("first publish: %v, want the simulated crash", err)
	}
	second := newPublisher()
	check("", nil)
	if err := second.PublishWithMetadata(ctx, nil, nil, meta, []byte("day-1")); err != nil {
		t.Fatal(err)
	}
	check("day-1", meta)

	bad := []metadata.Record{{Provider: "elasticbox", Kind: "service_instance", ID: strings.Repeat("x", metadata.MaxName+1), ValidFromMs: day}}
	if err := second.PublishWithMetadata(ctx, nil, nil, bad, []byte("day-2")); err == nil || !strings.Contains(err.Error(), "at most 256") {
		t.Fatalf("publish of a record beyond the bounds: %v", err)
	}
	check("day-1", meta)
}
