package ebdetails

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestRoundTrip: details written as attributes read back the same, times to the
// microsecond, long and hostile values whole; more than MaxStates states keep the latest;
// unknown details write no attribute.
func TestRoundTrip(t *testing.T) {
	created := time.Date(2015, 11, 12, 16, 45, 5, 246651000, time.UTC)
	done := created.Add(90 * time.Minute)
	four := decimal.NewFromInt(4)
	long := strings.Repeat("é", 200) + "\t\"\n"
	in := Details{Size: "t1.micro", Region: "us-west-1", ProviderType: "Amazon Web Services", Type: long,
		Created: &created, Instances: &four, States: []State{{State: "up", Started: created, Completed: &done}, {State: "down", Started: done}}}
	attrs := in.Attributes()
	out := FromAttributes(attrs)
	if out.Size != in.Size || out.Region != in.Region || out.ProviderType != in.ProviderType || out.Type != long ||
		!out.Created.Equal(created) || out.Instances.String() != "4" || out.Deleted != nil || out.CPU != nil {
		t.Errorf("read back %+v", out)
	}
	if attrs["created"] != "2015-11-12T16:45:05.246651Z" || attrs["instances"] != "4" ||
		attrs["state_history"] != "up 2015-11-12T16:45:05.246651Z 2015-11-12T18:15:05.246651Z;down 2015-11-12T18:15:05.246651Z" {
		t.Errorf("attributes %q", attrs)
	}
	if len(out.States) != 2 || !out.States[0].Completed.Equal(done) || out.States[1].Completed != nil || !out.States[1].Started.Equal(done) {
		t.Errorf("states %+v", out.States)
	}
	many := Details{}
	for i := range MaxStates + 10 {
		many.States = append(many.States, State{State: "up", Started: created.Add(time.Duration(i) * time.Minute)})
	}
	got := FromAttributes(many.Attributes()).States
	if len(got) != MaxStates || !got[0].Started.Equal(created.Add(10*time.Minute)) {
		t.Errorf("%d states from %v", len(got), got[0].Started)
	}
	if a := (Details{}).Attributes(); len(a) != 0 {
		t.Errorf("unknown details as %q", a)
	}
	if d := FromAttributes(map[string]string{"instances": "x", "created": "yesterday", "state_history": "up;sideways 2015-11-12T16:45:05Z"}); d.Instances != nil || d.Created != nil || len(d.States) != 0 {
		t.Errorf("malformed attributes read as %+v", d)
	}
}

// TestMergeStates: states known by kind and start; the latest completion wins.
func TestMergeStates(t *testing.T) {
	t0 := time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	t1 := t0.Add(2 * time.Hour)
	got := MergeStates([]State{{State: "up", Started: t0}}, []State{{State: "down", Started: t1}, {State: "up", Started: t0, Completed: &t1}})
	if len(got) != 2 || got[0].State != "up" || got[0].Completed == nil || !got[0].Completed.Equal(t1) || got[1].State != "down" {
		t.Errorf("merged %+v", got)
	}
}

func TestProviderTypeOf(t *testing.T) {
	if g := ProviderTypeOf("http://elasticbox.net/schemas/aws/ec2/profile", "EC2"); g != "Amazon Web Services" {
		t.Errorf("aws: %q", g)
	}
	if g := ProviderTypeOf("http://example/other", "Private"); g != "Private" {
		t.Errorf("other: %q", g)
	}
}

// TestOr: a detail not told is taken from the other; one told is kept.
func TestOr(t *testing.T) {
	c := time.Date(2026, 2, 28, 23, 59, 59, 999999000, time.UTC)
	one := decimal.NewFromInt(1)
	got := Details{Size: "m1.small"}.Or(Details{Size: "t1.micro", Region: "us-east-1", CPU: &one, Created: &c, States: []State{{State: "up", Started: c}}})
	if got.Size != "m1.small" || got.Region != "us-east-1" || got.CPU == nil || !got.Created.Equal(c) || got.States != nil {
		t.Errorf("Or = %+v", got)
	}
}
