package usage

import (
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
)

func validDoc() Document {
	return Document{Start: 1396421450000, End: 1396421451000, OrganizationID: "org", SpaceID: "space", ConsumerID: "app:1",
		ResourceID: "object-storage", PlanID: "basic", ResourceInstanceID: "ri",
		MeasuredUsage: []Measure{{Measure: "storage", Quantity: decimal.NewFromInt(10)}, {Measure: "api_calls", Quantity: decimal.RequireFromString("0.5")}}}
}

// TestValidateIsParse: a document built in code is valid exactly when its JSON is, and its
// problems are the ones a POST of it is answered with.
func TestValidateIsParse(t *testing.T) {
	f := func(name string, change func(*Document), wantFields ...string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			d := validDoc()
			change(&d)
			err := d.Validate()
			b, _ := d.MarshalJSON()
			_, perr := Parse(b)
			if len(wantFields) == 0 {
				if err != nil || perr != nil {
					t.Fatalf("Validate: %v, Parse: %v; want both valid", err, perr)
				}
				if !d.valid() {
					t.Error("the fast path refused a valid document")
				}
				return
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid {
				t.Fatalf("Validate: %v, want an invalid document", err)
			}
			var got []string
			for _, p := range fe.Problems {
				got = append(got, p.Field)
			}
			if !reflect.DeepEqual(got, wantFields) {
				t.Errorf("problems name %q, want %q", got, wantFields)
			}
			if perr != nil && !reflect.DeepEqual(err, perr) {
				t.Errorf("Validate: %v\nParse: %v; want the same", err, perr)
			}
		})
	}
	long := strings.Repeat("é", 256)
	f("valid", func(*Document) {})
	f("no consumer, a dedup id, 256 characters", func(d *Document) { d.ConsumerID, d.DedupID, d.SpaceID = "", "poll:1", long })
	f("start equals end", func(d *Document) { d.Start = d.End })
	f("the last millisecond", func(d *Document) { d.Start, d.End = MaxMillis, MaxMillis })
	f("12 decimal places, 26 digits", func(d *Document) {
		d.MeasuredUsage[0].Quantity = decimal.RequireFromString("12345678901234567890123456.123456789012")
	})
	f("end before start", func(d *Document) { d.End = d.Start - 1 }, "end")
	f("negative start", func(d *Document) { d.Start = -1 }, "start")
	f("beyond MaxMillis", func(d *Document) { d.End = MaxMillis + 1 }, "end")
	f("empty organization and plan", func(d *Document) { d.OrganizationID, d.PlanID = "", "" }, "organization_id", "plan_id")
	f("257 characters", func(d *Document) { d.ResourceID = long + "x" }, "resource_id")
	f("no measures", func(d *Document) { d.MeasuredUsage = nil }, "measured_usage")
	f("a measure twice", func(d *Document) { d.MeasuredUsage[1].Measure = "storage" }, "measured_usage[1].measure")
	f("negative quantity", func(d *Document) { d.MeasuredUsage[0].Quantity = decimal.NewFromInt(-1) }, "measured_usage[0].quantity")
	f("13 decimal places", func(d *Document) {
		d.MeasuredUsage[1].Quantity = decimal.RequireFromString("0.0000000000001")
	}, "measured_usage[1].quantity")
	f("not UTF-8", func(d *Document) { d.SpaceID = "s\xff" }, "space_id")
}

func TestNewEvent(t *testing.T) {
	for _, at := range clock.Instants {
		t.Run(at.Format(time.RFC3339Nano), func(t *testing.T) {
			d := validDoc()
			ev, err := NewEvent(d, PollerSource("nova"), at, "acc")
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetId() != d.ID() || ev.GetSource() != "poller:nova" || ev.GetAccountId() != "acc" ||
				ev.GetReceivedMs() != at.UnixMilli() || ev.GetStoredMs() != 0 {
				t.Errorf("event %v, want id %s, source poller:nova, account acc, received %d, no stored time", ev, d.ID(), at.UnixMilli())
			}
			back, err := FromProto(ev.GetDocument())
			if err != nil || back.ID() != d.ID() {
				t.Errorf("the event's document has id %s (%v), want %s", back.ID(), err, d.ID())
			}
		})
	}

	bad := validDoc()
	bad.PlanID = ""
	_, err := NewEvent(bad, " ", time.Time{}, "")
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("NewEvent of a bad envelope: %v, want a *fault.Error", err)
	}
	var got []string
	for _, p := range fe.Problems {
		got = append(got, p.Field)
	}
	if want := []string{"source", "received", "plan_id"}; !reflect.DeepEqual(got, want) {
		t.Errorf("problems name %q, want %q", got, want)
	}
}

// TestNoAdapterBelow: the domain package links no Kafka, ClickHouse, HTTP or logging library.
func TestNoAdapterBelow(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "franz-go") || strings.Contains(dep, "clickhouse-go") || dep == "net/http" || strings.HasPrefix(dep, "go.uber.org/zap") {
			t.Errorf("internal/usage depends on %s", dep)
		}
	}
}

// TestValidateLeavesDoubtToParse: a quantity the fast path cannot vouch for (written with more
// than 12 places, all zeros beyond them) is still valid, as Parse says.
func TestValidateLeavesDoubtToParse(t *testing.T) {
	d := validDoc()
	d.MeasuredUsage[0].Quantity = decimal.RequireFromString("1.5000000000000")
	if d.valid() {
		t.Fatal("the fast path vouched for 13 written places; the test needs it not to")
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Validate: %v, want valid (Parse accepts trailing zeros)", err)
	}
}
