package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

type catalogWriter struct{ c *catalog.Catalog }

func (w catalogWriter) Put(_ context.Context, r catalog.Record) error { return w.c.Apply(r) }

func objectDoc(org, instance string, end int64) usage.Document {
	return usage.Document{Start: end, End: end, OrganizationID: org, SpaceID: "space", ConsumerID: "app:1",
		ResourceID: "object-storage", PlanID: "basic", ResourceInstanceID: instance,
		MeasuredUsage: []usage.Measure{
			{Measure: "storage", Quantity: decimal.NewFromInt(1073741824)},
			{Measure: "light_api_calls", Quantity: decimal.NewFromInt(1000)},
			{Measure: "heavy_api_calls", Quantity: decimal.NewFromInt(100)},
		}}
}

// fixture is what a processor test starts from: fresh topics on the real broker, a client,
// the built-in plans and the pinned instant the test runs at, which the processor's clock
// reads and from which the test derives its records' stored times.
type fixture struct {
	cfg    config.Config
	ctx    context.Context
	cl     *kgo.Client
	topics kafka.Topics
	cat    *catalog.Catalog
	at     time.Time
	clock  *clock.Manual
}

// atInstants runs test as a subtest at each of clock.Instants: the processor's clock reads
// the instant, and the test stamps its records from it, whatever the date the test runs on.
func atInstants(t *testing.T, test func(t *testing.T, f fixture)) {
	for _, at := range clock.Instants {
		t.Run(at.Format(time.RFC3339Nano), func(t *testing.T) { test(t, newFixture(t, at)) })
	}
}

func newFixture(t *testing.T, at time.Time) fixture {
	t.Helper()
	f := fixture{cfg: testenv.Get(t).Config(t), at: at, clock: clock.NewManual(at)}
	// Records are stamped with pinned instants months in the past: the broker must not
	// delete them for their age while the test runs.
	f.cfg.Kafka.Retention = 100000 * time.Hour
	testenv.DeleteTopicsWithPrefix(t, f.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	f.ctx = ctx
	f.cl = testenv.Kafka(t, f.cfg)
	if err := kafka.EnsureTopics(ctx, f.cl, f.cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	f.topics = kafka.TopicsFor(f.cfg.Kafka.TopicPrefix)
	f.cat = catalog.NewCatalog()
	if err := provisioning.NewAPI(f.cat, catalogWriter{f.cat}, zap.NewNop()).LoadBuiltin(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// publish produces ev to the collected topic with its record stamped at stored (epoch ms):
// the time Kafka took it, which the processor judges it by unless ev carries a stored_ms of
// its own, and returns the record, its partition and offset set.
func (f fixture) publish(t *testing.T, ev *meterlinev1.UsageEvent, stored int64) *kgo.Record {
	t.Helper()
	r, err := kafka.EventRecord(f.topics.Collected, ev)
	if err != nil {
		t.Fatal(err)
	}
	r.Timestamp = time.UnixMilli(stored)
	if err := f.cl.ProduceSync(f.ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return r
}

// config is the processor configuration of f's topics, with its clock.
func (f fixture) config(group string, maxPoll int) Config {
	return Config{Brokers: f.cfg.Kafka.Brokers, Topics: f.topics, Group: group, TransactionalID: group,
		Acceptance: metering.DefaultAcceptance, MaxPollRecords: maxPoll, Clock: f.clock}
}

// TestExactlyOnceThroughKafka runs the processor on the real broker. It "crashes" the first
// instance after it produced a transaction's records but before the transaction ended; a
// second instance rebuilds the state from the changelog and finishes. Every document counts
// once (duplicates published too), rejections carry their reasons, and the rated cells
// reproduce Abacus' object storage figures.
func TestExactlyOnceThroughKafka(t *testing.T) { atInstants(t, testExactlyOnceThroughKafka) }

func testExactlyOnceThroughKafka(t *testing.T, f fixture) {
	cfg, ctx, cl, topics := f.cfg, f.ctx, f.cl, f.topics
	now := f.at.UnixMilli()
	var docs []usage.Document
	for i := range 3 {
		docs = append(docs, objectDoc("org-a", "i1", now-int64(i+1)*1000))
	}
	for _, inst := range []string{"i1", "i2", "i3", "i4"} {
		for i := range 4 {
			docs = append(docs, objectDoc("org-b", inst, now-int64(i+1)*1000))
		}
	}
	docs = append(docs, docs[:5]...) // published twice: count once
	late := objectDoc("org-a", "i9", now-3*24*3600*1000)
	unplanned := objectDoc("org-a", "i9", now-500)
	unplanned.PlanID = "gold"
	docs = append(docs, late, unplanned)
	for _, d := range docs {
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
	}

	cat := f.cat
	group := testenv.Name("processor")
	newService := func() *Service {
		s, err := New(f.config(group, 4), cat, cat, zaptest.NewLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := newService()
	first.afterProduce = testenv.CrashAt(3) // a crash before the third transaction ends
	if err := first.Run(ctx); !errors.Is(err, testenv.ErrCrash) {
		t.Fatalf("first processor: %v, want the simulated crash", err)
	}

	second := newService()
	runUntilCaughtUp(t, ctx, second, cl, group)

	// The committed state, as a restore reads it.
	state := map[metering.CellKey]any{}
	seen := map[string]bool{}
	for p := range cfg.Kafka.Partitions {
		st, err := second.restore(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for id := range st.ids {
			seen[id] = true
		}
	}
	for k, v := range committedCells(t, f) {
		state[k] = v
	}
	// The late document's id is not kept: any copy of it is too late again.
	if len(seen) != 20 {
		t.Errorf("%d documents counted or rejected, want the 20 distinct ones in time", len(seen))
	}
	plan := metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	month, _ := metering.Month.Period(now - 1000)
	for _, c := range []struct{ org, metric, want string }{
		{"org-a", "storage", "1"}, {"org-a", "thousand_light_api_calls", "3"}, {"org-a", "heavy_api_calls", "300"},
		{"org-b", "storage", "4"}, {"org-b", "thousand_light_api_calls", "16"}, {"org-b", "heavy_api_calls", "1600"},
	} {
		k := metering.CellKey{Scope: metering.ScopeOrganization, Org: c.org, Resource: "object-storage", Plan: plan,
			Metric: c.metric, Level: metering.Month, From: month}
		if v, ok := state[k].(decimal.Decimal); !ok || !v.Equal(decimal.RequireFromString(c.want)) {
			t.Errorf("%s %s this month = %v, want %s", c.org, c.metric, state[k], c.want)
		}
	}

	// The newest rated value of org-a's monthly plan cells charges 46.09.
	costs := map[string]decimal.Decimal{}
	readRated(t, ctx, cfg.Kafka.Brokers, topics.RatedBatch, func(ru *meterlinev1.RatedUsage) {
		if ru.OrganizationId == "org-a" && ru.Scope == "organization" && ru.Level == "month" && ru.Plan == plan && ru.Cost != nil {
			costs[ru.Metric] = decimal.RequireFromString(ru.Cost.GetDecimal())
		}
		if ru.Currency != "USD" {
			t.Errorf("rated usage in %q, want USD", ru.Currency)
		}
		// The processing time is the pinned clock's (or, past it, one more per transaction).
		if ru.ProcessedMs < now || ru.ProcessedMs > now+1000 {
			t.Errorf("rated usage processed at %d, want the clock's %d", ru.ProcessedMs, now)
		}
	})
	total := decimal.Zero
	for _, c := range costs {
		total = total.Add(c)
	}
	if !total.Equal(decimal.RequireFromString("46.09")) {
		t.Errorf("org-a's month charges %v (%v), want 46.09", total, costs)
	}

	codes := map[string]int{}
	readAll(t, ctx, cfg.Kafka.Brokers, topics.Rejected, func(r *kgo.Record) {
		var ru meterlinev1.RejectedUsage
		if err := proto.Unmarshal(r.Value, &ru); err != nil {
			t.Fatal(err)
		}
		if ru.Reason == "" {
			t.Errorf("rejection of %s without a reason", ru.Event.GetId())
		}
		codes[ru.Code]++
	})
	if fmt.Sprint(codes) != "map[no_plan:1 too_late:1]" {
		t.Errorf("rejections %v, want one too_late and one no_plan", codes)
	}
}

// runUntilCaughtUp runs s until its group has no lag, then stops it.
func runUntilCaughtUp(t *testing.T, ctx context.Context, s *Service, cl *kgo.Client, group string) {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	adm := kadm.NewClient(cl)
	for {
		lags, err := adm.Lag(ctx, group)
		if err == nil {
			if l, ok := lags[group]; ok && testenv.NoLag(l) {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the processor did not catch up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("processor: %v", err)
	}
}

// readRated calls fn with every committed cell of the v2 rated topic, in order.
func readRated(t *testing.T, ctx context.Context, brokers []string, topic string, fn func(*meterlinev1.RatedUsage)) {
	t.Helper()
	readAll(t, ctx, brokers, topic, func(r *kgo.Record) {
		var b meterlinev1.RatedUsageBatch
		if err := proto.Unmarshal(r.Value, &b); err != nil {
			t.Fatal(err)
		}
		for _, c := range b.GetCells() {
			fn(c)
		}
	})
}

// readAll calls fn with every committed record of topic, in order, once no transaction on
// it is still ending.
func readAll(t *testing.T, ctx context.Context, brokers []string, topic string, fn func(*kgo.Record)) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := kafka.Settled(rctx, kadm.NewClient(cl), topic); err != nil {
		t.Fatal(err)
	}
	records, err := kafka.Committed(rctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		fn(r)
	}
}

// TestPruning: once the stored time of a partition's input passes a document's end plus the
// slack (and the future tolerance), its id and the cells of periods that ended by then are
// deleted from the changelog and from memory; a copy of such a document arriving later is
// rejected as too late, never counted again. Stored times are set on the events, so the test
// needs no waiting.
func TestPruning(t *testing.T) { atInstants(t, testPruning) }

func testPruning(t *testing.T, f fixture) {
	cfg, ctx, cl, topics := f.cfg, f.ctx, f.cl, f.topics
	acc := metering.DefaultAcceptance
	// The last records are stored a minute before the pinned instant, the first ones just
	// over the slack before them; the instants are such that all of it is one month.
	t1 := f.at.UnixMilli() - time.Minute.Milliseconds()
	t0 := t1 - (acc.Slack + acc.Future + 2*time.Minute).Milliseconds() // A's and B's ids are pruned by t1
	a, b, c := objectDoc("org-p", "i1", t0-1000), objectDoc("org-p", "i2", t0-500), objectDoc("org-p", "i1", t1-1000)
	sameMonth(t, a.End, c.End)
	for _, e := range []struct {
		doc    usage.Document
		stored int64
	}{{a, t0}, {b, t0}, {c, t1}, {a, t1}} { // the last: a copy of A, after its id was pruned
		f.publish(t, &meterlinev1.UsageEvent{Id: e.doc.ID(), Source: "test", Document: e.doc.Proto(), StoredMs: e.stored}, e.stored)
	}
	cat := f.cat
	group := testenv.Name("processor")
	s, err := New(f.config(group, 1), cat, cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, ctx, s, cl, group)

	horizon := t1 - (acc.Slack + acc.Future).Milliseconds()
	ids := map[string]bool{}
	state := map[metering.CellKey]any{}
	for p := range cfg.Kafka.Partitions {
		st, err := s.restore(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for id := range st.ids {
			ids[id] = true
		}
	}
	for k, v := range committedCells(t, f) {
		state[k] = v
		if _, to := k.Level.Period(k.From); to <= horizon {
			t.Errorf("cell %s of a period that ended before the horizon was restored", k.AppendTo(nil))
		}
	}
	if !ids[c.ID()] || len(ids) != 1 {
		t.Errorf("restored ids %v, want only C's %s", ids, c.ID())
	}
	plan := metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	month, _ := metering.Month.Period(t0)
	k := metering.CellKey{Scope: metering.ScopeOrganization, Org: "org-p", Resource: "object-storage", Plan: plan,
		Metric: "heavy_api_calls", Level: metering.Month, From: month}
	if v, ok := state[k].(decimal.Decimal); !ok || !v.Equal(decimal.NewFromInt(300)) {
		t.Errorf("org-p's heavy API calls this month = %v, want 300: A, B and C once each", state[k])
	}
	var rejected []string
	readAll(t, ctx, cfg.Kafka.Brokers, topics.Rejected, func(r *kgo.Record) {
		var ru meterlinev1.RejectedUsage
		if err := proto.Unmarshal(r.Value, &ru); err != nil {
			t.Fatal(err)
		}
		rejected = append(rejected, ru.Code+" "+ru.Event.GetId())
	})
	if want := []string{"too_late " + a.ID()}; fmt.Sprint(rejected) != fmt.Sprint(want) {
		t.Errorf("rejections %v, want %v", rejected, want)
	}
}

// TestRatingFailureRejectsTheDocument: the cells of a transaction are rated once, at its end;
// when that fails, the processor finds the document whose change fails to rate by processing
// the partition's documents again one by one, and rejects it (and the later ones that fail
// the same way), as it would have alone. Here a rating formula fails once an organization
// stores more than 2 GB: of four instances storing 1 GB each, the third and fourth are
// rejected, in one transaction.
func TestRatingFailureRejectsTheDocument(t *testing.T) {
	atInstants(t, testRatingFailureRejectsTheDocument)
}

func testRatingFailureRejectsTheDocument(t *testing.T, f fixture) {
	api := provisioning.NewAPI(f.cat, catalogWriter{f.cat}, zap.NewNop())
	capped := plans.RatingPlan{PlanID: "capped-rating",
		Metrics: []plans.RatingMetric{{Name: "storage", Rate: "(price, qty) => qty > 2 ? qty / 0 : qty"}}}
	if _, err := api.PutPlan(f.ctx, &capped); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutResourceType(f.ctx, catalog.ResourceType{ResourceID: "capped-storage", ResourceType: "capped"}); err != nil {
		t.Fatal(err)
	}
	// The metering mapping first: the rating mapping is checked against it.
	for _, m := range [][2]string{{plans.KindMetering, "basic-object-storage"}, {plans.KindRating, "capped-rating"}} {
		if _, err := api.PutMapping(f.ctx, catalog.Mapping{Kind: m[0], ResourceType: "capped", PlanID: "basic", Plan: m[1]}); err != nil {
			t.Fatal(err)
		}
	}
	now := f.at.UnixMilli()
	var docs []usage.Document
	for i, inst := range []string{"i1", "i2", "i3", "i4"} {
		d := objectDoc("org-c", inst, now-int64(4-i)*1000)
		d.ResourceID = "capped-storage"
		docs = append(docs, d)
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
	}
	group := testenv.Name("processor")
	s, err := New(f.config(group, 0), f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, f.ctx, s, f.cl, group)

	rejected := rejections(t, f, func(ru *meterlinev1.RejectedUsage) string { return ru.Code + " " + ru.Event.GetId() })
	if want := []string{"formula_error " + docs[2].ID(), "formula_error " + docs[3].ID()}; fmt.Sprint(rejected) != fmt.Sprint(want) {
		t.Errorf("rejections %v, want %v", rejected, want)
	}
	plan := metering.PlanKey("basic", "basic-object-storage", "capped-rating", "")
	month, _ := metering.Month.Period(now - 1000)
	k := metering.CellKey{Scope: metering.ScopeOrganization, Org: "org-c", Resource: "capped-storage", Plan: plan,
		Metric: "storage", Level: metering.Month, From: month}
	found := false
	readRated(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.RatedBatch, func(ru *meterlinev1.RatedUsage) {
		if ru.OrganizationId == k.Org && ru.Scope == "organization" && ru.Level == "month" && ru.Plan == plan && ru.Metric == "storage" {
			found = true
			if q, c := ru.Quantity.GetDecimal(), ru.Cost.GetDecimal(); q != "2" || c != "2" {
				t.Errorf("org-c's storage this month: quantity %s, cost %s, want 2 and 2", q, c)
			}
		}
	})
	if !found {
		t.Error("no rated record of org-c's storage this month")
	}
}

// TestPruningFloor: stored times come from the collectors' clocks, so one collector two minutes
// fast pushes the partition's pruning horizon past usage a slower collector still stores within
// the slack. Such usage, and a copy of a document whose id was pruned, are rejected as too late
// (the horizon never goes back and is kept with the state), never counted again into a cell
// rebuilt from nothing.
func TestPruningFloor(t *testing.T) { atInstants(t, testPruningFloor) }

func testPruningFloor(t *testing.T, f fixture) {
	acc := metering.DefaultAcceptance
	now := f.at.UnixMilli()
	T := now - 5*60_000
	base := T - acc.Slack.Milliseconds()
	x := objectDoc("org-s", "i1", base+10_000)
	z := objectDoc("org-s", "i2", T+3*60_000) // stored by the fast collector
	y := objectDoc("org-s", "i1", base+20_000)
	sameMonth(t, x.End, z.End)
	publish := func(d usage.Document, stored int64) {
		t.Helper()
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto(), StoredMs: stored}, stored)
	}
	publish(x, T)
	publish(z, T+3*60_000)
	publish(y, T+10_000)
	publish(x, T+10_000) // a copy of X through the slow collector
	group := testenv.Name("processor")
	s, err := New(f.config(group, 1), f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, f.ctx, s, f.cl, group)

	rejected := rejections(t, f, func(ru *meterlinev1.RejectedUsage) string { return ru.Code })
	if fmt.Sprint(rejected) != "[too_late too_late]" {
		t.Errorf("rejections %v, want Y and the copy of X too late", rejected)
	}
	plan := metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	month, _ := metering.Month.Period(T)
	monthKey := metering.CellKey{Scope: metering.ScopeOrganization, Org: "org-s", Resource: "object-storage", Plan: plan,
		Metric: "heavy_api_calls", Level: metering.Month, From: month}
	latest := map[string]string{}
	readRated(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.RatedBatch, func(ru *meterlinev1.RatedUsage) {
		if ru.Scope == "organization" && ru.Plan == plan && ru.Metric == "heavy_api_calls" {
			latest[ru.Level+fmt.Sprint(ru.PeriodStartMs)] = ru.Quantity.GetDecimal()
		}
	})
	if got := latest["month"+fmt.Sprint(monthKey.From)]; got != "200" {
		t.Errorf("organization's month heavy calls %s, want 200 (X and Z, once each)", got)
	}
	// A new owner restores the floor and the processing time with the state.
	for p := range f.cfg.Kafka.Partitions {
		st, err := s.restore(f.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if st.cells.Len() > 0 && (st.floor <= base || st.processed == 0) {
			t.Errorf("partition %d restored floor %d processed %d, want the floor past %d and a processing time", p, st.floor, st.processed, base)
		}
	}
}

// rejections reads the rejected topic of f and returns what describe says of each record.
func rejections(t *testing.T, f fixture, describe func(*meterlinev1.RejectedUsage) string) []string {
	t.Helper()
	var out []string
	readAll(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.Rejected, func(r *kgo.Record) {
		var ru meterlinev1.RejectedUsage
		if err := proto.Unmarshal(r.Value, &ru); err != nil {
			t.Fatal(err)
		}
		out = append(out, describe(&ru))
	})
	return out
}

// sameMonth fails the test when from and to (epoch ms) are in different months: a test whose
// month cell must hold both derived them wrongly from its pinned instant.
func sameMonth(t *testing.T, from, to int64) {
	t.Helper()
	a, _ := metering.Month.Period(from)
	b, _ := metering.Month.Period(to)
	if a != b {
		t.Fatalf("test setup: %s and %s are in different months", time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC())
	}
}

// TestStopCommitsTheProducedTransaction: a stop (ctx cancelled) that comes after a
// transaction's records were produced does not cancel its end: the transaction commits, its
// document is counted and its offsets are committed, and Run returns without an error. (The
// processor's tick writer may add ticks after the document, which a later transaction
// consumes: the offsets checked are the document's.)
func TestStopCommitsTheProducedTransaction(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	now := f.at.UnixMilli()
	d := objectDoc("org-stop", "i1", now-1000)
	r := f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
	group := testenv.Name("processor")
	s, err := New(f.config(group, 0), f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(f.ctx)
	defer stop()
	s.afterProduce = func() error { stop(); return nil }
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run stopped after producing: %v, want nil", err)
	}
	// The commit is the transaction's: it is fetched once the transaction's markers are
	// written (RequireStable), which the coordinator does after EndTxn returned.
	for tries := 1; ; tries++ { // up to 30s
		offsets, err := kadm.NewClient(f.cl).FetchOffsets(kadm.RequireStable(f.ctx), group)
		o, ok := offsets.Lookup(f.topics.Collected, r.Partition)
		if err == nil && ok && o.At > r.Offset {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if tries == 300 {
			t.Fatalf("the group's offsets after the stop: %v %v, want partition %d's past the document's %d", offsets, err, r.Partition, r.Offset)
		}
	}
	counted := false
	for p := range f.cfg.Kafka.Partitions {
		st, err := s.restore(f.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		_, ok := st.ids[d.ID()]
		counted = counted || ok
	}
	if !counted {
		t.Errorf("document %s not in the committed state", d.ID())
	}
}

// committedCells reads the committed cells of f's changelog as compaction leaves them, and a
// restore loads them: the newest value of each cell key, none for a tombstone.
func committedCells(t *testing.T, f fixture) map[metering.CellKey]any {
	t.Helper()
	cells := map[metering.CellKey]any{}
	readAll(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.Changelog, func(r *kgo.Record) {
		e, err := decodeEntry(r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.kind != keyCell:
		case e.value == nil:
			delete(cells, e.cell)
		default:
			cells[e.cell] = e.value
		}
	})
	return cells
}

// TestOverflowIsRejected: two valid documents of 26 nines of heavy API calls each (told apart
// by their dedup ids) would leave their cells more than Decimal(38, 12) holds: the first is
// counted, the second is rejected with the code overflow, published on the rejected topic and
// counted in the rejection metric. So is a document whose cost would overflow, which only the
// transaction's rating at its end finds (the documents are then rated one by one). Later usage
// of both organizations is counted.
func TestOverflowIsRejected(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	api := provisioning.NewAPI(f.cat, catalogWriter{f.cat}, zap.NewNop())
	dear := plans.PricingPlan{PlanID: "dear", Metrics: []plans.PricingMetric{
		{Name: "storage", Prices: []plans.Price{{Country: "USA", Price: decimal.NewFromInt(1)}}},
		{Name: "thousand_light_api_calls", Prices: []plans.Price{{Country: "USA", Price: decimal.NewFromInt(1)}}},
		{Name: "heavy_api_calls", Prices: []plans.Price{{Country: "USA", Price: decimal.RequireFromString("1e20")}}},
	}}
	if _, err := api.PutPlan(f.ctx, &dear); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutMapping(f.ctx, catalog.Mapping{Kind: plans.KindPricing, ResourceType: "object-storage", PlanID: "basic",
		OrganizationID: "org-dear", Plan: "dear"}); err != nil {
		t.Fatal(err)
	}
	now := f.at.UnixMilli()
	heavy := func(org, qty, dedup string, end int64) usage.Document {
		d := objectDoc(org, "i1", end)
		d.DedupID = dedup
		d.MeasuredUsage = []usage.Measure{{Measure: "heavy_api_calls", Quantity: decimal.RequireFromString(qty)}}
		return d
	}
	const nines26 = "99999999999999999999999999"
	docs := []usage.Document{
		heavy("org-big", nines26, "a", now-4000),
		heavy("org-big", nines26, "b", now-3000), // overflows the quantities
		heavy("org-dear", "100000", "a", now-4000),
		heavy("org-dear", "1000000", "b", now-3000), // overflows the costs
		heavy("org-big", "0", "c", now-2000),
		heavy("org-dear", "1", "c", now-2000),
	}
	for _, d := range docs {
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
	}
	group := testenv.Name("processor")
	s, err := New(f.config(group, 0), f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, f.ctx, s, f.cl, group)

	rejected := rejections(t, f, func(ru *meterlinev1.RejectedUsage) string {
		if !strings.Contains(ru.Reason, "heavy_api_calls") || !strings.Contains(ru.Reason, "Decimal(38, 12)") {
			t.Errorf("the reason %q names no metric or column", ru.Reason)
		}
		return ru.Code + " " + ru.Event.GetId()
	})
	slices.Sort(rejected)
	want := []string{"overflow " + docs[1].ID(), "overflow " + docs[3].ID()}
	slices.Sort(want)
	if fmt.Sprint(rejected) != fmt.Sprint(want) {
		t.Errorf("rejections %v, want %v", rejected, want)
	}
	if n := testutil.ToFloat64(s.metrics.rejected.WithLabelValues(string(metering.RejectOverflow))); n != 2 {
		t.Errorf("meterline_processor_rejected_total{code=overflow} = %v, want 2", n)
	}
	month, _ := metering.Month.Period(now)
	latest := map[string]string{}
	readRated(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.RatedBatch, func(ru *meterlinev1.RatedUsage) {
		if ru.Scope == "organization" && ru.Level == "month" && ru.Plan != "" && ru.PeriodStartMs == month {
			latest[ru.OrganizationId] = ru.Quantity.GetDecimal() + " " + ru.Cost.GetDecimal()
		}
	})
	if got, want := latest["org-big"], nines26+" 14999999999999999999999999.85"; got != want {
		t.Errorf("org-big's month: quantity and cost %s, want %s", got, want)
	}
	if got, want := latest["org-dear"], "100001 10000100000000000000000000"; got != want {
		t.Errorf("org-dear's month: quantity and cost %s, want %s", got, want)
	}
}
