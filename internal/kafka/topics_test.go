package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/testenv"
)

// TestChangelogTuning: the changelog is created with the configured segment.ms and
// delete.retention.ms; an existing changelog with other values (a deployment from before
// they were set, or a changed configuration) gets the configured ones at the next start; its
// other configs are left as they are.
func TestChangelogTuning(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := testenv.Kafka(t, cfg)
	adm := kadm.NewClient(cl)
	changelog := TopicsFor(cfg.Kafka.TopicPrefix).Changelog
	f := func(when string, want map[string]string) {
		t.Helper()
		rc, err := topicConfigs(ctx, adm, changelog)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, c := range rc.Configs {
			if _, ok := want[c.Key]; ok {
				got[c.Key] = c.MaybeValue()
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s is %q, want %q", when, k, got[k], v)
			}
		}
	}

	cfg.Kafka.ChangelogSegment, cfg.Kafka.ChangelogDeleteRetention = 20*time.Minute, 90*time.Minute
	if err := EnsureTopics(ctx, cl, cfg.Kafka, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	f("created", map[string]string{"cleanup.policy": "compact", "segment.ms": "1200000", "max.compaction.lag.ms": "1200000",
		"delete.retention.ms": "5400000"})

	// An operator's own setting of another config is kept.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "min.cleanable.dirty.ratio", Value: kadm.StringPtr("0.3")},
		{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("604800000")},
	}, changelog); err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.ChangelogDeleteRetention = 2 * time.Hour
	if err := EnsureTopics(ctx, cl, cfg.Kafka, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	f("existing", map[string]string{"segment.ms": "1200000", "delete.retention.ms": "7200000", "min.cleanable.dirty.ratio": "0.3"})

	// A start with nothing to change changes nothing.
	if err := EnsureTopics(ctx, cl, cfg.Kafka, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	f("again", map[string]string{"segment.ms": "1200000", "delete.retention.ms": "7200000", "min.cleanable.dirty.ratio": "0.3"})
}

// TestEnsureTopicsEmbedded: `meterline dev`'s embedded broker takes the topics and their
// configs, when it creates them and again when they exist (kfake does not know every topic
// config a Kafka broker does).
func TestEnsureTopicsEmbedded(t *testing.T) {
	e, err := StartEmbedded("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cl, err := NewClient(e.Brokers(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg := config.Default().Kafka
	for _, when := range []string{"created", "existing"} {
		if err := EnsureTopics(context.Background(), cl, cfg, zaptest.NewLogger(t)); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
}

// TestWhileUnknown: a topic unknown to the broker asked is asked about again, and nothing
// else is: another error, or a stop, ends the tries.
func TestWhileUnknown(t *testing.T) {
	ctx := context.Background()
	tries := 0
	err := whileUnknown(ctx, func() error {
		if tries++; tries < 3 {
			return kerr.UnknownTopicOrPartition
		}
		return nil
	})
	if err != nil || tries != 3 {
		t.Errorf("unknown twice, then known: err %v after %d tries, want nil after 3", err, tries)
	}

	tries = 0
	err = whileUnknown(ctx, func() error { tries++; return kerr.TopicAuthorizationFailed })
	if !errors.Is(err, kerr.TopicAuthorizationFailed) || tries != 1 {
		t.Errorf("another error: %v after %d tries, want it after 1", err, tries)
	}

	stopped, cancel := context.WithCancel(ctx)
	cancel()
	tries = 0
	err = whileUnknown(stopped, func() error { tries++; return kerr.UnknownTopicOrPartition })
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || tries != 1 {
		t.Errorf("stopped: %v after %d tries, want the unknown topic after 1", err, tries)
	}
}
