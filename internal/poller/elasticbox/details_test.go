package elasticbox

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/metadata"
	"github.com/meterline/meterline/internal/metadata/ebdetails"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/usage"
)

// details returns the details the batch's metadata tells of the instance of document d,
// checking that there is one record of it, of d's organization and day.
func details(t *testing.T, b poller.Batch, d usage.Document) ebdetails.Details {
	t.Helper()
	var found []metadata.Record
	for _, m := range b.Metadata {
		if m.ID == d.ResourceInstanceID {
			found = append(found, m)
		}
	}
	if len(found) != 1 || found[0].Provider != "elasticbox" || found[0].Kind != "service_instance" || found[0].ValidFromMs != d.Start ||
		found[0].Attributes["organization"] != d.OrganizationID {
		t.Fatalf("metadata of %s: %+v", d.ResourceInstanceID, found)
	}
	for _, m := range d.MeasuredUsage {
		if m.Measure != Cost && m.Measure != UpSeconds {
			t.Errorf("document %s measures %s", d.DedupID, m.Measure)
		}
	}
	return ebdetails.FromAttributes(found[0].Attributes)
}

// TestDetails: a batch carries, beside the documents (cost and up_seconds only), a metadata
// record of each instance's details for the report view: from the JSON
// the profile, type, operation, creation and the states that overlap its day; from the CSV
// (fallback) its columns, sizes and units included.
func TestDetails(t *testing.T) {
	e := newEnv(t, fleet(), 0)
	b := e.poll(t, e.initial(t))
	a2 := details(t, b, b.Docs[1])
	if a2.Size != "m1.small" || a2.Region != "us-east-1" || a2.ProviderType != "Amazon Web Services" || a2.Type != "Linux Compute" ||
		a2.ProfileSchema != "http://elasticbox.net/schemas/aws/ec2/profile" || a2.Operation != "deploy" || a2.Cloud != "EC2" ||
		a2.Created == nil || !a2.Created.Equal(at(1)) || a2.Instances == nil || a2.Instances.String() != "1" {
		t.Errorf("eb-a2 details from the JSON: %+v", a2)
	}
	want := []ebdetails.State{
		{State: "up", Started: at(1).Add(250 * time.Microsecond), Completed: ptr(at(3.5).Add(17 * time.Microsecond))},
		{State: "down", Started: at(3.5).Add(17 * time.Microsecond), Completed: ptr(at(20))},
		{State: "up", Started: at(20)},
	}
	if len(a2.States) != len(want) {
		t.Fatalf("eb-a2 states %+v, want %+v", a2.States, want)
	}
	for i, w := range want {
		g := a2.States[i]
		if g.State != w.State || !g.Started.Equal(w.Started) || (g.Completed == nil) != (w.Completed == nil) ||
			(g.Completed != nil && !g.Completed.Equal(*w.Completed)) {
			t.Errorf("eb-a2 state %d = %+v, want %+v", i, g, w)
		}
	}
	// eb-b1's down state of long before d0 ends inside d0: kept; nothing before it is.
	if b1 := details(t, b, b.Docs[2]); len(b1.States) != 2 || b1.States[0].State != "down" {
		t.Errorf("eb-b1 states %+v", b1.States)
	}

	sc := fleet()
	sc.Faults.BrokenJSONDays = []string{d0.Format(DayLayout)}
	cb := newEnv(t, sc, 0).poll(t, newEnv(t, sc, 0).initial(t))
	c := details(t, cb, cb.Docs[0])
	if c.Size != "m1.small" || c.CPU == nil || c.CPU.String() != "1" || c.Memory.String() != "2" || c.Disk.String() != "20" ||
		c.CPUUnit != "vCPU" || c.MemoryUnit != "GiB" || c.DiskUnit != "GB" || c.EventType != "up" || c.Created == nil || len(c.States) != 0 {
		t.Errorf("eb-a1 details from the CSV: %+v", c)
	}
}

// TestSizes: a day read from the JSON takes the sizes, units and event type of the same day's
// CSV; a CSV the provider refuses (404) leaves them out, with a notice, and the day is read.
func TestSizes(t *testing.T) {
	e := newEnv(t, fleet(), 0)
	ab := e.poll(t, e.initial(t))
	a1 := details(t, ab, ab.Docs[0])
	if a1.CPU == nil || a1.CPU.String() != "1" || a1.Memory.String() != "2" || a1.Disk.String() != "20" || a1.CPUUnit != "vCPU" ||
		a1.EventType != "up" || len(a1.States) != 1 {
		t.Errorf("eb-a1 from the JSON and the CSV: %+v", a1)
	}
	refused := newEnv(t, fleet(), 0, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/csv/") {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	b := refused.poll(t, refused.initial(t))
	if d := details(t, b, b.Docs[0]); len(b.Docs) != 3 || d.CPU != nil || d.Size != "m1.small" {
		t.Errorf("without the CSV: %d documents, %+v", len(b.Docs), d)
	}
	if len(b.Notices) != 3 || b.Notices[0].Kind != "csv_sizes" {
		t.Errorf("notices %+v, want csv_sizes for acme, beta, gamma", b.Notices)
	}
}
