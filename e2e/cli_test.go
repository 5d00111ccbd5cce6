package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReportCommand runs the README's example through `meterline report`: the three object
// storage documents posted to `meterline dev`, then the built binary prints the
// organization's month as a table with storage 1, 3 thousand light calls, 300 heavy calls and
// the charge 46.09, as CSV, and as the JSON the API serves; an unknown organization and a bad
// time print the API's problems and exit 1.
func TestReportCommand(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})
	const org = "us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27"
	now := s.nowMs()
	for i := range 3 {
		end := now - int64(3-i)*1000
		doc := fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":"aaeae239-f3f8-483c-9dd0-de5d41c38b6a",
"consumer_id":"app:d98b5916-3c77-44b9-ac12-045678edabae","resource_id":"object-storage","plan_id":"basic",
"resource_instance_id":"0b39fa70-a65f-4183-bae8-385633ca5c87","measured_usage":[{"measure":"storage","quantity":1073741824},
{"measure":"light_api_calls","quantity":1000},{"measure":"heavy_api_calls","quantity":100}]}`, end, end, org)
		if r := post(t, dev, doc); r.status != http.StatusCreated {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
	}
	report := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"report", "--url", "http://" + dev.addr}, args...)...)
		var out, errs strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errs
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errs.String(), code
	}
	total := regexp.MustCompile(`(?m)^TOTAL +46\.09$`)
	var table string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		out, errs, code := report("--org", org)
		if code == 0 && total.MatchString(out) {
			table = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("meterline report never showed the 46.09 charge: exit %d\n%s%s", code, out, errs)
		}
	}
	for _, row := range []string{
		`(?m)^object-storage +basic +storage +1 +1 +1$`,
		`(?m)^object-storage +basic +thousand_light_api_calls +3 +3 +0\.09$`,
		`(?m)^object-storage +basic +heavy_api_calls +300 +300 +45$`,
		`(?m)^RESOURCE +PLAN +METRIC +QUANTITY +SUMMARY +CHARGE$`,
	} {
		if !regexp.MustCompile(row).MatchString(table) {
			t.Errorf("table lacks a row matching %s:\n%s", row, table)
		}
	}
	t.Logf("meterline report --org %s\n%s", org, table)

	// The same as of a time after it was processed, as RFC 3339 and as epoch milliseconds:
	// the documents' usage is in it, and the day's window of each consumer shows it too.
	asOf := s.nowMs()
	for _, tm := range []string{time.UnixMilli(asOf).UTC().Format(time.RFC3339Nano), fmt.Sprint(asOf)} {
		if out, errs, code := report("--org", org, "--time", tm, "--window", "day", "--level", "consumer"); code != 0 ||
			!regexp.MustCompile(`(?m)^aaeae239-f3f8-483c-9dd0-de5d41c38b6a +app:d98b5916-3c77-44b9-ac12-045678edabae +object-storage +basic +heavy_api_calls +300 +300 +45$`).MatchString(out) ||
			!total.MatchString(out) {
			t.Errorf("report --time %s --window day --level consumer: exit %d\n%s%s", tm, code, out, errs)
		}
	}

	out, errs, code := report("--org", org, "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "organization_id,time,window,resource,plan,metric,quantity,summary,charge\n") ||
		!strings.Contains(out, ",month,object-storage,basic,heavy_api_calls,300,300,45\n") {
		t.Errorf("--format csv: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = report("--org", org, "--format", "json")
	var doc struct {
		OrganizationID string                    `json:"organization_id"`
		Windows        [][]*struct{ Charge any } `json:"windows"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.OrganizationID != org ||
		doc.Windows[4][0] == nil || fmt.Sprint(doc.Windows[4][0].Charge) != "46.09" {
		t.Errorf("--format json: exit %d, %v\n%s%s", code, err, out, errs)
	}

	if out, errs, code := report("--org", "nobody"); code != 1 || out != "" ||
		!strings.HasPrefix(errs, "meterline report: 404 Not Found (not_found): organization nobody has no usage") {
		t.Errorf("unknown organization: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, errs, code := report("--org", org, "--time", "yesterday"); code != 1 || out != "" ||
		!strings.Contains(errs, "400 Bad Request (invalid)") || !strings.Contains(errs, "\n  time: not epoch milliseconds nor an RFC 3339 time (value \"yesterday\")") {
		t.Errorf("bad time: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := report("--format", "xml"); code != 2 || !strings.Contains(errs, "--org is required") || !strings.Contains(errs, `--format "xml"`) {
		t.Errorf("bad flags: exit %d, stderr %q", code, errs)
	}
}
