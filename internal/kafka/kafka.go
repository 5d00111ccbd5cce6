// Package kafka is Meterline's franz-go plumbing: clients, the embedded broker of
// `meterline dev`, the topics Meterline owns and the codec of their payloads.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"

	"github.com/meterline/meterline/internal/platform/config"
)

// Topics names the topics Meterline owns. Names carry the payload's contract version, so a
// breaking change of a payload means new topics, never a changed meaning of old ones.
type Topics struct {
	// Collected carries every accepted usage document as a meterline.v1.UsageEvent, keyed by
	// organization id.
	Collected string
	// Provisioning carries plans, mappings, accounts and resource types as JSON documents,
	// keyed by what they are ("metering_plan/<id>/<digest>", ...); compacted, one partition so
	// that every reader applies them in one order.
	Provisioning string
	// Rejected carries the documents the metering processor did not count, as
	// meterline.v1.RejectedUsage with the reason, keyed by organization id.
	Rejected string
	// Rated carries the changed window cells of each processor transaction, as
	// meterline.v1.RatedUsage, keyed by organization id: the contract of billing exporters.
	Rated string
	// RatedBatch carries the same cells as Rated in batches, as meterline.v1.RatedUsageBatch:
	// every cell one transaction changed in a partition, split into records of a bounded
	// size. The cell sink reads it; Rated is produced only when METERLINE_RATED_V1 is set.
	RatedBatch string
	// Changelog is the metering processor's state: cells ("c/...") and the ids of counted
	// documents ("d/<id>"); compacted, co-partitioned with Collected.
	Changelog string
	// PollerState carries each poller source's state (its cursor), keyed by the source and
	// written in the same transaction as the usage events it accounts for (TxPublisher);
	// compacted, so the last state of every source is kept, and one partition.
	PollerState string
	// DeadLetter carries the records a sink could not write (a value a column cannot take, a
	// record that does not decode), each as it was read, with headers naming the sink, the
	// error and where it was read (HeaderSink, ...); one partition.
	DeadLetter string
	// PollerRejects carries the provider payloads a poller could not decode (or the documents
	// it built that failed validation), each as it was read, keyed by the poller source, with
	// headers naming the request and the error (HeaderPollerRequest, HeaderError); written in
	// the poller's transaction, so a payload is set aside once per committed poll; one partition.
	PollerRejects string
	// PollerMetadata carries what pollers read of their providers' entities (package
	// metadata: an ElasticBox instance's size and state history), as versioned JSON keyed by
	// "<source>/<kind>/<id>/<day>", written in the poller's transaction; compacted, so the last
	// record of an entity's day is kept.
	PollerMetadata string
}

// MaxBatchCells bounds the cells of one record of Topics.RatedBatch: the cell sink gives the
// i-th cell of the record at offset o the position o*MaxBatchCells+i.
const MaxBatchCells = 1 << 16

// TopicsFor returns the topic names under prefix.
func TopicsFor(prefix string) Topics {
	return Topics{
		Collected:      prefix + ".usage.collected.v1",
		Provisioning:   prefix + ".provisioning.v1",
		Rejected:       prefix + ".usage.rejected.v1",
		Rated:          prefix + ".usage.rated.v1",
		RatedBatch:     prefix + ".usage.rated.v2",
		Changelog:      prefix + ".metering.changelog.v1",
		PollerState:    prefix + ".poller.state.v1",
		DeadLetter:     prefix + ".sink.deadletter.v1",
		PollerRejects:  prefix + ".poller.rejects.v1",
		PollerMetadata: prefix + ".poller.metadata.v1",
	}
}

// Groups are the consumer groups of Meterline's consumers.
type Groups struct {
	Processor, RawSink, CellSink, RejectionSink, MetadataSink string
}

// GroupsFor returns the consumer groups under prefix (the topic prefix): two Meterlines that
// share a broker under different prefixes never share a group, so one's rebalances never
// stall the other. Under the default prefix they are meterline-processor, meterline-sink-raw,
// meterline-sink-cells and meterline-sink-rejections.
func GroupsFor(prefix string) Groups {
	return Groups{
		Processor:     prefix + "-processor",
		RawSink:       prefix + "-sink-raw",
		CellSink:      prefix + "-sink-cells",
		RejectionSink: prefix + "-sink-rejections",
		MetadataSink:  prefix + "-sink-metadata",
	}
}

// NewClient returns a client for brokers with Meterline's defaults: the idempotent producer
// (franz-go's default), acknowledgements from all in-sync replicas, a logger, and opts.
func NewClient(brokers []string, log *zap.Logger, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.WithLogger(Logger(log)),
		kgo.ProducerLinger(0),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// LeaveTimeout bounds how long a stopping group member waits to leave its group.
const LeaveTimeout = 5 * time.Second

// CloseMember closes a group member's client (closeFn: its Close), waiting at most
// LeaveTimeout. franz-go leaves the group on close, and a join or sync in flight (a
// rebalance: another member just died, and the coordinator waits out its session) is waited
// for first, which can take the rebalance's whole length. What a member has to do before it
// stops (end its transaction, commit its offsets) is done before it closes, so a stop need
// not wait: the coordinator drops a member that did not leave once its session times out,
// and the close not finished in time is logged.
func CloseMember(closeFn func(), log *zap.Logger) {
	if !closeWithin(closeFn, LeaveTimeout) {
		log.Warn("stopped without leaving the group: a rebalance is in flight; the group drops this member when its session times out")
	}
}

// closeWithin runs closeFn, waiting at most d, and reports whether it finished in time.
func closeWithin(closeFn func(), d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		closeFn()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Ping checks that a broker answers.
func Ping(ctx context.Context, cl *kgo.Client) error { return cl.Ping(ctx) }

// EnsureTopics creates Meterline's topics when they are missing, and checks the ones that
// exist. The collected-usage topic is left as it is; a partition count other than the
// configured one is logged, since records keyed by organization then land on other partitions
// than the configuration says. The provisioning topic is refused (an error) unless it has one
// partition and cleanup.policy compact: with more partitions readers would apply plans and
// mappings in different orders, and with deletion the first versions that decide them would
// age out. The poller state topic is held to the same (one partition, compact): deleted, a
// source's only state record would age out and its poller start over.
func EnsureTopics(ctx context.Context, cl *kgo.Client, cfg config.Kafka, log *zap.Logger) error {
	adm := kadm.NewClient(cl)
	topics := TopicsFor(cfg.TopicPrefix)
	specs := []topicSpec{
		{name: topics.Collected, partitions: cfg.Partitions, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("delete"),
			"retention.ms":   kadm.StringPtr(strconv.FormatInt(cfg.Retention.Milliseconds(), 10)),
		}},
		{name: topics.Provisioning, partitions: 1, strict: true, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("compact"),
		}},
		{name: topics.Rejected, partitions: cfg.Partitions, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("delete"),
			"retention.ms":   kadm.StringPtr(strconv.FormatInt(cfg.Retention.Milliseconds(), 10)),
		}},
		{name: topics.Rated, partitions: cfg.Partitions, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("delete"),
			"retention.ms":   kadm.StringPtr(strconv.FormatInt(cfg.Retention.Milliseconds(), 10)),
		}},
		{name: topics.RatedBatch, partitions: cfg.Partitions, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("delete"),
			"retention.ms":   kadm.StringPtr(strconv.FormatInt(cfg.Retention.Milliseconds(), 10)),
		}},
		// Co-partitioned with the collected topic: the processor writes the state of input
		// partition p to partition p. Its segment.ms and delete.retention.ms bound its bytes
		// on disk (see ChangelogTuning) and are set on an existing changelog too.
		{name: topics.Changelog, partitions: cfg.Partitions, strict: true, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("compact"),
		}, tuned: ChangelogTuning(cfg)},
		// Compacted, or a source's only state record would age out and the poller start over;
		// one partition, since its records are few and a reader finds a source's without
		// knowing a partitioner.
		{name: topics.PollerState, partitions: 1, strict: true, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("compact"),
		}},
		// Few records, read by people in the order they were set aside: one partition.
		{name: topics.PollerRejects, partitions: 1, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("delete"),
			"retention.ms":   kadm.StringPtr(strconv.FormatInt(cfg.Retention.Milliseconds(), 10)),
		}},
		{name: topics.PollerMetadata, partitions: cfg.Partitions, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("compact"),
		}},
		{name: topics.DeadLetter, partitions: 1, configs: map[string]*string{
			"cleanup.policy": kadm.StringPtr("delete"),
			"retention.ms":   kadm.StringPtr(strconv.FormatInt(cfg.Retention.Milliseconds(), 10)),
		}},
	}
	for _, s := range specs {
		configs := maps.Clone(s.configs)
		maps.Copy(configs, s.tuned)
		resp, err := adm.CreateTopic(ctx, s.partitions, cfg.Replication, configs, s.name)
		switch {
		case err == nil && resp.Err == nil:
			log.Info("created topic", zap.String("topic", s.name), zap.Int32("partitions", s.partitions))
		case errors.Is(err, kerr.TopicAlreadyExists) || errors.Is(resp.Err, kerr.TopicAlreadyExists):
			if err := checkTopic(ctx, adm, s, log); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("create topic %s: %w", s.name, err)
		default:
			return fmt.Errorf("create topic %s: %w", s.name, resp.Err)
		}
	}
	return nil
}

// topicSpec is a topic Meterline creates. An existing strict topic must have its partition
// count and configs; for another one, a different partition count is only logged. The tuned
// configs are set when the topic is created and set again on an existing strict topic whose
// values differ (logged): they follow Meterline's configuration, not the topic's history.
type topicSpec struct {
	name       string
	partitions int32
	configs    map[string]*string
	tuned      map[string]*string
	strict     bool
}

// ChangelogTuning is the configs that bound the processor changelog's bytes on disk, from
// cfg. A compacted topic holds, besides its live keys, its active segment (never cleaned:
// segment.ms bounds its age, default 7 days), the dirty part the cleaner has not reached
// yet, and every tombstone for delete.retention.ms after the cleaning that first reached it
// (default 24 hours), and then until the next cleaning. The cleaner cleans a log only once
// its dirty part is min.cleanable.dirty.ratio (0.5) of it, or once a record has waited
// max.compaction.lag.ms (default: forever); so max.compaction.lag.ms is set to segment.ms,
// and a rolled segment, its tombstones too, is cleaned within it whatever the ratio. The
// processor tombstones every second and minute cell soon after it wrote it
// (metering.Retention), so at a sustained rate the changelog grows by some records per
// document for as long as these keep them: about segment.ms plus delete.retention.ms of
// writes besides its live keys (docs/benchmarks.md, "Bounded state").
//
// delete.retention.ms also bounds a restore: a reader that takes longer to read a partition
// from its start may meet a key's value and miss the tombstone that deleted it, which the
// cleaner dropped meanwhile. Every tombstone deletes a cell or id the partition's floor has
// passed, and a restore removes those at its end (processor pruneToFloor), so a long restore
// loses nothing; what it reads grows with segment.ms and delete.retention.ms alike.
func ChangelogTuning(cfg config.Kafka) map[string]*string {
	ms := func(d time.Duration) *string { return kadm.StringPtr(strconv.FormatInt(d.Milliseconds(), 10)) }
	return map[string]*string{
		"segment.ms":            ms(cfg.ChangelogSegment),
		"max.compaction.lag.ms": ms(cfg.ChangelogSegment),
		"delete.retention.ms":   ms(cfg.ChangelogDeleteRetention),
	}
}

// checkTopic checks an existing topic against its spec.
func checkTopic(ctx context.Context, adm *kadm.Client, s topicSpec, log *zap.Logger) error {
	var td kadm.TopicDetail
	var ok bool
	err := whileUnknown(ctx, func() error {
		md, err := adm.ListTopics(ctx, s.name)
		if err != nil {
			return err
		}
		td, ok = md[s.name]
		if ok {
			return td.Err
		}
		return nil
	})
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("describe topic %s: %w", s.name, err)
	}
	switch {
	case s.strict && !ok:
		return fmt.Errorf("describe topic %s: the broker does not describe it", s.name)
	case s.strict && td.Err != nil:
		return fmt.Errorf("describe topic %s: %w", s.name, td.Err)
	case ok && td.Err != nil:
		log.Warn("topic could not be described; its partition count is not checked",
			zap.String("topic", s.name), zap.Error(td.Err))
	case ok && int32(len(td.Partitions)) != s.partitions && s.strict:
		return fmt.Errorf("topic %s has %d partitions; Meterline needs %d (partitions cannot be removed: copy its records to a new topic, or use another topic prefix)",
			s.name, len(td.Partitions), s.partitions)
	case ok && int32(len(td.Partitions)) != s.partitions:
		log.Warn("topic has another partition count than configured",
			zap.String("topic", s.name), zap.Int("partitions", len(td.Partitions)), zap.Int32("configured", s.partitions))
	}
	if !s.strict {
		return nil
	}
	rc, err := topicConfigs(ctx, adm, s.name)
	if err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(s.configs)) {
		want := *s.configs[key]
		i := slices.IndexFunc(rc.Configs, func(c kadm.Config) bool { return c.Key == key })
		if i < 0 {
			return fmt.Errorf("topic %s: the broker does not report its %s; Meterline needs %s", s.name, key, want)
		}
		if got := rc.Configs[i].MaybeValue(); got != want {
			return fmt.Errorf("topic %s has %s %q; Meterline needs %q (kafka-configs --alter --add-config %s=%s)",
				s.name, key, got, want, key, want)
		}
	}
	return tune(ctx, adm, s, rc, log)
}

// tune sets the tuned configs of s whose values on the existing topic (rc) differ. A topic
// whose configs cannot be set (a principal without AlterConfigs) is logged as a warning and
// kept as it is: its configs bound the bytes on disk, not what is counted (see
// ChangelogTuning).
func tune(ctx context.Context, adm *kadm.Client, s topicSpec, rc kadm.ResourceConfig, log *zap.Logger) error {
	var alter []kadm.AlterConfig
	for _, key := range slices.Sorted(maps.Keys(s.tuned)) {
		want := *s.tuned[key]
		got := ""
		if i := slices.IndexFunc(rc.Configs, func(c kadm.Config) bool { return c.Key == key }); i >= 0 {
			got = rc.Configs[i].MaybeValue()
		}
		if got == want {
			continue
		}
		log.Info("setting a topic config", zap.String("topic", s.name), zap.String("config", key),
			zap.String("from", got), zap.String("to", want))
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: key, Value: kadm.StringPtr(want)})
	}
	if len(alter) == 0 {
		return nil
	}
	resps, err := adm.AlterTopicConfigs(ctx, alter, s.name)
	if err == nil {
		var r kadm.AlterConfigsResponse
		r, err = resps.On(s.name, nil)
		if err == nil && r.Err != nil {
			err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
		}
	}
	if err != nil {
		log.Warn("a topic config could not be set: the topic keeps its own, and its bytes on disk are not bounded as configured (give Meterline's principal AlterConfigs on the topic, or set the configuration to the topic's values)",
			zap.String("topic", s.name), zap.String("configs", configList(alter)), zap.Error(err))
	}
	return nil
}

// configList is alter as key=value pairs, for messages.
func configList(alter []kadm.AlterConfig) string {
	parts := make([]string, len(alter))
	for i, a := range alter {
		parts[i] = a.Name + "=" + *a.Value
	}
	return strings.Join(parts, ",")
}

// topicConfigs describes the configs of topic. A topic created a moment ago (by this start,
// or by another service starting beside it) can be unknown to a broker for a while: a KRaft
// broker applies the metadata log asynchronously, and a cluster's brokers learn of a topic one
// after another. Such answers are retried for up to topicKnownWait.
func topicConfigs(ctx context.Context, adm *kadm.Client, topic string) (kadm.ResourceConfig, error) {
	var rc kadm.ResourceConfig
	err := whileUnknown(ctx, func() error {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return err
		}
		rc, err = rcs.On(topic, nil)
		if err == nil {
			err = rc.Err
		}
		return err
	})
	if err != nil {
		return kadm.ResourceConfig{}, fmt.Errorf("describe the configs of topic %s: %w", topic, err)
	}
	return rc, nil
}

// topicKnownWait bounds how long a topic that exists may be unknown to the broker asked.
const topicKnownWait = 15 * time.Second

// whileUnknown runs f until it returns anything but UNKNOWN_TOPIC_OR_PARTITION, waiting
// between tries, for at most topicKnownWait; the last error is returned.
func whileUnknown(ctx context.Context, f func() error) error {
	wait, waited := 20*time.Millisecond, time.Duration(0)
	for {
		err := f()
		if !errors.Is(err, kerr.UnknownTopicOrPartition) || waited+wait > topicKnownWait {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		waited += wait
		wait = min(2*wait, time.Second)
	}
}

// Embedded is the in-process broker of `meterline dev` (franz-go's kfake). With a data folder
// its log survives a restart of dev; writes are synced before they are acknowledged.
type Embedded struct {
	cluster *kfake.Cluster
}

// StartEmbedded starts the embedded broker on a free port of 127.0.0.1, keeping its data in
// dir ("" keeps it in memory only).
func StartEmbedded(dir string) (*Embedded, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0)}
	if dir != "" {
		opts = append(opts, kfake.DataDir(dir), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Embedded{cluster: c}, nil
}

// Brokers are the embedded broker's addresses.
func (e *Embedded) Brokers() []string { return e.cluster.ListenAddrs() }

// Close stops the embedded broker.
func (e *Embedded) Close() { e.cluster.Close() }

// Logger adapts a zap logger to kgo's.
func Logger(log *zap.Logger) kgo.Logger { return zapLogger{log.Named("kgo")} }

// zapLogger adapts zap to kgo.Logger.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Level() kgo.LogLevel {
	switch {
	case z.l.Core().Enabled(zap.DebugLevel):
		return kgo.LogLevelDebug
	case z.l.Core().Enabled(zap.InfoLevel):
		return kgo.LogLevelInfo
	default:
		return kgo.LogLevelWarn
	}
}

func (z zapLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fields = append(fields, zap.Any(fmt.Sprint(keyvals[i]), keyvals[i+1]))
	}
	switch level {
	case kgo.LogLevelError:
		z.l.Error(msg, fields...)
	case kgo.LogLevelWarn:
		z.l.Warn(msg, fields...)
	case kgo.LogLevelInfo:
		z.l.Debug(msg, fields...) // kgo's info is chatty (every connection); keep it at debug
	default:
		z.l.Debug(msg, fields...)
	}
}

// Publisher produces usage events to the collected-usage topic and waits for Kafka's
// acknowledgement from all in-sync replicas.
type Publisher struct {
	cl    *kgo.Client
	topic string
}

// NewPublisher returns a publisher to topic over cl.
func NewPublisher(cl *kgo.Client, topic string) *Publisher { return &Publisher{cl: cl, topic: topic} }

// Publish produces ev stamped by franz-go with the wall clock; see PublishAt.
func (p *Publisher) Publish(ctx context.Context, ev *meterlinev1.UsageEvent) (time.Time, error) {
	return p.PublishAt(ctx, ev, time.Time{})
}

// PublishAt produces ev with the record timestamp at (the event's stored time, which readers
// take from the record: see DecodeEvent; the zero time leaves it to franz-go, which stamps the
// wall clock) and returns the timestamp once Kafka has the record durably. On error
// (including ctx ending first) the event may or may not be in Kafka; a client retrying the
// same document is then recognised by its id downstream, so it still counts once.
func (p *Publisher) PublishAt(ctx context.Context, ev *meterlinev1.UsageEvent, at time.Time) (time.Time, error) {
	rec, err := EventRecord(p.topic, ev)
	if err != nil {
		return time.Time{}, err
	}
	rec.Timestamp = at
	if err := Produce(ctx, p.cl, rec); err != nil {
		return time.Time{}, err
	}
	return rec.Timestamp, nil
}

// Produce produces recs and waits until Kafka has them all, or until ctx ends, whichever comes
// first. It differs from kgo's ProduceSync in that last case: the idempotent producer never
// fails a record whose request it has sent (it cannot know whether the broker wrote it), so
// while a broker is unreachable ProduceSync does not return at ctx's end, and a caller bounded
// by a timeout would hang for as long as the outage lasts. Produce returns ctx's error then,
// and the records stay in the client, which produces them once the broker is back (or drops
// them when it is closed): on any error, each record may or may not end up in Kafka, so a
// caller that answers "not stored" must have its retry recognised downstream (by id).
// Records produced by a caller whose ctx ended are not to be changed or reused.
func Produce(ctx context.Context, cl *kgo.Client, recs ...*kgo.Record) error {
	results := make(chan error, len(recs)) // buffered: a promise never blocks the client
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { results <- err })
	}
	var first error
	for range recs {
		select {
		case err := <-results:
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

// endOffsetsWait bounds how long EndOffsets tries again.
const endOffsetsWait = 10 * time.Second

// EndOffsets returns the end offset of every partition of topic. A topic created a moment ago
// may not be in the broker's metadata yet, and a partition may be between leaders: a failed
// look-up, or one with a partition's error, is tried again for up to endOffsetsWait. An
// offset is never guessed: a reader that took a partition's unknown end for 0 would think it
// had read everything before it had read anything.
func EndOffsets(ctx context.Context, adm *kadm.Client, topic string) (kadm.ListedOffsets, error) {
	return knownOffsets(ctx, topic, adm.ListEndOffsets)
}

// knownOffsets lists the offsets of every partition of topic with list (an end offset, a
// last stable offset), as EndOffsets says.
func knownOffsets(ctx context.Context, topic string, list func(context.Context, ...string) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	ctx, cancel := context.WithTimeout(ctx, endOffsetsWait)
	defer cancel()
	for {
		ends, err := list(ctx, topic)
		if err == nil {
			err = ends.Error()
			if err == nil && len(ends[topic]) == 0 {
				err = fmt.Errorf("the broker lists no partition of it")
			}
		}
		if err == nil {
			return ends, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("topic %s: offsets unknown: %w", topic, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
