package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
)

// DefaultTickInterval is how often, in the processor's clock, a tick record is written to
// every partition of the collected topic.
const DefaultTickInterval = time.Minute

// tickCheck is how often, in real time, the tick writer looks whether the clock entered a new
// interval.
const tickCheck = time.Second

// runTicks writes, whenever the processor's clock enters a new tick interval, a tick of the
// interval's start to every partition of the collected topic (kafka.TickRecord), until ctx
// ends. Ticks make stream time advance in partitions without usage, so running usage is
// carried into a new period there too; since they are records of the input, a replay
// crosses each boundary at the same point of the stream. Every processor instance writes
// them: copies of a tick change nothing (stream time is the greatest time seen). A tick that
// cannot be written is tried again at the next check.
func (s *Service) runTicks(ctx context.Context) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.WithLogger(kafka.Logger(s.log)),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}, s.cfg.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.log.Error("the tick writer cannot start: running usage is carried only as usage arrives", zap.Error(err))
		return
	}
	defer cl.Close()
	var last time.Time
	t := time.NewTicker(tickCheck)
	defer t.Stop()
	for {
		at := s.clock.Now().UTC().Truncate(s.cfg.TickInterval)
		if at.After(last) {
			if err := s.tick(ctx, cl, at.UnixMilli()); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("writing tick records failed; tried again", zap.Error(err))
			} else {
				last = at
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick writes the tick of ms to every partition of the collected topic.
func (s *Service) tick(ctx context.Context, cl *kgo.Client, ms int64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	topic := s.cfg.Topics.Collected
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return err
	}
	d, ok := details[topic]
	if !ok || d.Err != nil {
		return fmt.Errorf("topic %s: %v", topic, d.Err)
	}
	records := make([]*kgo.Record, 0, len(d.Partitions))
	for p := range d.Partitions {
		records = append(records, kafka.TickRecord(topic, p, ms))
	}
	return cl.ProduceSync(ctx, records...).FirstErr()
}
