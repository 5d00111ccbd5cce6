package processor

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// marshalRated is appendRated the slow way: the message built and marshalled.
func marshalRated(t *testing.T, r *ratedUsage) []byte {
	t.Helper()
	value := func(v any) *meterlinev1.Value {
		pv, err := metering.ValueProto(plans.Round(v))
		if err != nil {
			t.Fatal(err)
		}
		return pv
	}
	k := r.key
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&meterlinev1.RatedUsage{AccountId: r.account, OrganizationId: k.Org, SpaceId: k.Space,
		ConsumerId: k.Consumer, ResourceInstanceId: k.Instance, ResourceId: k.Resource, Plan: k.Plan, Metric: k.Metric,
		Scope: k.Scope.String(), Level: k.Level.String(), PeriodStartMs: k.From, PeriodEndMs: r.to,
		Quantity: value(r.quantity), Cost: value(r.cost), Currency: r.currency, ProcessedMs: r.processed})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendRated: the hand-written encoding is byte for byte what proto.Marshal gives (with
// a map's entries in order, as a deterministic Marshal writes them), for decimals that need
// rounding or not, maps, missing costs and long fields.
func TestAppendRated(t *testing.T) {
	dec := decimal.RequireFromString
	long := strings.Repeat("x", 300)
	for i, q := range []any{
		dec("1"), dec("0"), dec("-2.5"), dec("1.50"), dec("0.123456789012"), dec("0.1234567890125"),
		dec("0.1234567890135"), dec("123456789012345678901234567890.5"), dec("1e30"), dec("-1e-20"), dec("1e200"), dec("-2e-140"),
		map[string]any{"consuming": dec("1.5"), "consumed": dec("0.00000000000049"), "since": int64(1700000000000)},
		nil,
	} {
		for _, cost := range []any{nil, dec("0.09"), dec("46.0900000000001")} {
			r := &ratedUsage{key: metering.CellKey{Scope: metering.Scope(i % 4), Org: "org", Space: "space",
				Consumer: "app:1", Instance: "i-1", Resource: "object-storage", Plan: long, Metric: "m",
				Level: metering.Level(i % 5), From: int64(i) * -1000}, to: 1700000000000,
				quantity: q, cost: cost, currency: "USD", processed: 1700000000001}
			if i%3 == 0 {
				r.account, r.key.Space, r.processed = "acct", "", 0
			}
			got, err := appendRated([]byte("prefix"), r)
			if err != nil {
				t.Fatal(err)
			}
			want := marshalRated(t, r)
			var gotMsg, wantMsg meterlinev1.RatedUsage
			if err := proto.Unmarshal(got[len("prefix"):], &gotMsg); err != nil || string(got[:6]) != "prefix" {
				t.Fatalf("quantity %v, cost %v: %x does not decode: %v", q, cost, got, err)
			}
			if err := proto.Unmarshal(want, &wantMsg); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&gotMsg, &wantMsg) || !bytes.Equal(got[6:], want) {
				t.Errorf("quantity %v, cost %v:\n got %x\nwant %x", q, cost, got, want)
			}
		}
	}
}

// TestAppendValue: a changelog value, unrounded, is byte for byte what a deterministic
// proto.Marshal of metering.ValueProto gives, for decimals, maps of maps, an empty name, a
// nil entry (left out), times and values whose lengths take more than one or two bytes.
func TestAppendValue(t *testing.T) {
	dec := decimal.RequireFromString
	long := strings.Repeat("k", 200)
	for _, v := range []any{
		dec("2468.149780647456645965576172"), dec("-1e-30"), dec("1e200"), int64(-1700000000000),
		map[string]any{},
		map[string]any{"": dec("1"), "b": nil, "a": map[string]any{"x": dec("0.5"), "y": int64(3)}},
		map[string]any{long: dec("1e300"), "z": map[string]any{long: map[string]any{long: dec("7")}}},
	} {
		got, err := appendValue([]byte("p"), v, false)
		if err != nil {
			t.Fatal(err)
		}
		pv, err := metering.ValueProto(v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(pv)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "p"+string(want) {
			t.Errorf("%v:\n got %x\nwant %x", v, got[1:], want)
		}
	}
	if _, err := appendValue(nil, map[string]any{"a": true}, false); err == nil {
		t.Error("a bool in a map encoded")
	}
}

// TestOutput: bytes handed out stay as they were while later ones are appended, across
// chunks and values larger than a chunk, and after a reset they are reused.
func TestOutput(t *testing.T) {
	var o output
	for round := range 2 {
		var got [][]byte
		var want []string
		for i := range 3000 {
			s := fmt.Sprint(round, "-", i, strings.Repeat("y", i%700))
			if i == 1500 {
				s = strings.Repeat("z", 3*chunkBytes)
			}
			got, want = append(got, o.bytes(s)), append(want, s)
			r := o.record()
			if r.Key != nil {
				t.Fatal("a record handed out again before reset")
			}
			r.Key = got[len(got)-1]
		}
		for i := range got {
			if string(got[i]) != want[i] {
				t.Fatalf("round %d: bytes %d changed", round, i)
			}
		}
		o.reset()
	}
}
