package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The README's organization and its three object storage documents (1 GB stored, 1000 light
// and 100 heavy API calls each): 46.09 charged.
const (
	readmeOrg      = "us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27"
	readmeSpace    = "aaeae239-f3f8-483c-9dd0-de5d41c38b6a"
	readmeConsumer = "app:d98b5916-3c77-44b9-ac12-045678edabae"
	readmeInstance = "0b39fa70-a65f-4183-bae8-385633ca5c87"
)

func objectStorageDoc(end int64, org, space, consumer, instance, plan string) string {
	return fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":%q,"consumer_id":%q,"resource_id":"object-storage",
"plan_id":%q,"resource_instance_id":%q,"measured_usage":[{"measure":"storage","quantity":1073741824},
{"measure":"light_api_calls","quantity":1000},{"measure":"heavy_api_calls","quantity":100}]}`, end, end, org, space, consumer, plan, instance)
}

// chromiumPath finds Debian's chromium (deploy/testenv/testenv.sh start chromium, part of
// `start all`, installs it); without it the test fails, as every test whose service is missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium: `deploy/testenv/testenv.sh start chromium` installs Debian's package")
	return ""
}

// artifacts is where the test keeps its screenshots: $METERLINE_TEST_ARTIFACTS/ui, else
// bin/test-artifacts/ui of the repository (docs/testing.md).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("METERLINE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot(), "bin", "test-artifacts")
	}
	dir = filepath.Join(dir, "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboard opens the web dashboard in headless Chromium on a Meterline whose APIs need
// credentials: the page asks for them, and with the admin key it draws the README's usage
// (46.09 this day and this month, by resource, space and consumer; 300 heavy calls), lists the
// organizations, drills down to the instance, shows the rejected document with its reason and
// the pipeline's health. Screenshots of each step are kept as artifacts.
func TestDashboard(t *testing.T) {
	browser := chromiumPath(t)
	s := newStack(t)
	const key = "e2e-dashboard-key-0123456789"
	dev := s.start([]string{"dev"}, "METERLINE_AUTH_ADMIN_KEYS="+key)
	base := "http://" + dev.addr
	authed := func(method, path, body string) response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		return send(t, req)
	}
	now := s.nowMs()
	for i := range 3 {
		if r := authed(http.MethodPost, "/v1/metering/collected/usage",
			objectStorageDoc(now-int64(3-i)*1000, readmeOrg, readmeSpace, readmeConsumer, readmeInstance, "basic")); r.status != http.StatusCreated {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
	}
	if r := authed(http.MethodPost, "/v1/metering/collected/usage", objectStorageDoc(now-500, "org-two", "space-2", "app:two", "inst-2", "basic")); r.status != http.StatusCreated {
		t.Fatalf("POST org-two: %d %s", r.status, r.body)
	}
	// Accepted, then rejected by the processor: there is no plan "nosuchplan".
	bad := authed(http.MethodPost, "/v1/metering/collected/usage", objectStorageDoc(now-200, readmeOrg, readmeSpace, readmeConsumer, "inst-x", "nosuchplan"))
	if bad.status != http.StatusCreated {
		t.Fatalf("POST nosuchplan: %d %s", bad.status, bad.body)
	}
	waitFor(t, "the README's 46.09, org-two and the rejection stored", func() (bool, string) {
		r := authed(http.MethodGet, "/v1/metering/organizations/"+readmeOrg+"/aggregated/usage", "")
		rj := authed(http.MethodGet, "/v1/metering/organizations/"+readmeOrg+"/rejections", "")
		two := authed(http.MethodGet, "/v1/metering/organizations/org-two/aggregated/usage", "")
		return r.status == 200 && strings.Contains(string(r.body), `[{"charge":46.09},null],[{"charge":46.09},null]]`) &&
			strings.Contains(string(rj.body), `"code":"no_plan"`) && two.status == 200, string(r.body) + string(rj.body)
	})

	// The lists the dashboard starts from, as the OpenAPI document describes them.
	v := servedOpenAPI(t, base)
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v1/metering/organizations", 200, `"organization_id":"org-two"`},
		{"/v1/metering/organizations?limit=1", 200, `"truncated":true,"next":"org-two"`},
		{"/v1/metering/organizations?limit=0", 400, `"field":"limit"`},
		{"/v1/metering/organizations/" + readmeOrg + "/rejections", 200, `"code":"no_plan"`},
		{"/v1/metering/organizations/" + readmeOrg + "/resource_instances", 200, `"resource_instance_id":"` + readmeInstance + `"`},
		{"/v1/metering/organizations/" + readmeOrg + "/resource_instances?consumer=x", 400, `"field":"consumer"`},
	} {
		r := authed(http.MethodGet, c.path, "")
		if r.status != c.status || !strings.Contains(string(r.body), c.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", c.path, r.status, r.body, c.status, c.want)
		}
		checkAnswer(t, v, "GET "+c.path, http.MethodGet, base+c.path, r)
	}
	if r := call(t, http.MethodGet, base+"/v1/metering/organizations", "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("GET /v1/metering/organizations without credentials: %d, want 401", r.status)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1800),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	// The browser lives as long as the context of the first run: that one has no deadline,
	// each step below has its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dir := artifacts(t)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		})
	}
	fail := func(what string, err error) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = chromedp.Do(c, shot("failed"))
		t.Fatalf("%s: %v (screenshot: %s)", what, err, filepath.Join(dir, "failed.png"))
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			fail(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail("read "+sel, err)
		}
		return strings.TrimSpace(s)
	}
	attr := func(sel, name string) string {
		t.Helper()
		run("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			fail("read "+sel, err)
		}
		return v.Value
	}

	// Without credentials the APIs answer 401 and the page asks for a token.
	run("open the dashboard", chromedp.Navigate(base+"/ui/#org="+readmeOrg), chromedp.WaitVisible(chromedp.CSS("#credentials")))
	if why := text("#credentials-why"); !strings.Contains(why, "401") {
		t.Errorf("the credentials form says %q, want the API's 401", why)
	}
	run("give the key", shot("1-credentials"), chromedp.SendKeys(chromedp.CSS("#token"), key), chromedp.Click(chromedp.CSS(`#credentials button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-cost-day g.bar[data-value="46.09"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-cost-month g.bar[data-value="46.09"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rejections-table`)), shot("2-organization"))

	day, month := s.now().Format("2006-01-02"), s.now().Format("2006-01")
	for _, c := range []struct{ sel, want string }{
		{"#card-charge-month .value", "46.09"},
		{"#card-charge-day .value", "46.09"},
		{"#total-month", "46.09"},
		{"#health", "ready"},
	} {
		if got := text(c.sel); got != c.want {
			t.Errorf("%s shows %q, want %q", c.sel, got, c.want)
		}
	}
	// The charts: every bar's period and value, as drawn.
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][][2]string](`Object.fromEntries(["chart-cost-day","chart-quantity-day","chart-cost-month","chart-quantity-month"].map(id =>
		[id, [...document.querySelectorAll("#" + id + " g.bar")].map(g => [g.dataset.period, g.dataset.value])]))`))
	if err != nil {
		fail("read the charts", err)
	}
	for id, want := range map[string][2]string{"chart-cost-day": {day, "46.09"}, "chart-quantity-day": {day, "300"},
		"chart-cost-month": {month, "46.09"}, "chart-quantity-month": {month, "300"}} {
		got := bars[id]
		wantLen := 14
		if strings.Contains(id, "month") {
			wantLen = 6
		}
		if len(got) != wantLen || got[len(got)-1] != want {
			t.Errorf("%s draws %v, want %d periods ending with %v", id, got, wantLen, want)
			continue
		}
		for _, b := range got[:len(got)-1] {
			if b[1] != "" {
				t.Errorf("%s: %s drawn as %q, want no usage", id, b[0], b[1])
			}
		}
	}
	if got := attr(`#chart-quantity-day select`, "aria-label"); got != "metric" {
		t.Errorf("the quantity chart has no metric choice: %q", got)
	}
	for sel, want := range map[string]string{
		`#chart-resource g.bar[data-key="object-storage"]`:         "46.09",
		`#chart-space g.bar[data-key="` + readmeSpace + `"]`:       "46.09",
		`#chart-consumer g.bar[data-key="` + readmeConsumer + `"]`: "46.09",
	} {
		if got := attr(sel, "data-value"); got != want {
			t.Errorf("%s drawn as %q, want %q", sel, got, want)
		}
	}
	if got := text(`#rejections-table tr[data-code="no_plan"]`); !strings.Contains(got, "no metering plan") || !strings.Contains(got, "nosuchplan") {
		t.Errorf("the rejected document shows %q, want its no_plan reason", got)
	}
	if got := text("#lag"); !strings.Contains(got, "consumer group") {
		t.Errorf("the pipeline's lag table shows %q", got)
	}

	// Drill-down to the README's instance.
	run("open the instance", chromedp.Click(chromedp.CSS(`.instance-link[data-instance="`+readmeInstance+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#instance-total-month")), shot("3-instance"))
	if got := text("#instance-total-month"); got != "46.09" {
		t.Errorf("the instance's month shows %q, want 46.09", got)
	}

	// The rejected document, looked up by its Location.
	run("look up the rejected document", chromedp.SendKeys(chromedp.CSS("#doc-id"), bad.header.Get("Location")),
		chromedp.Click(chromedp.CSS(`#lookup button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#doc-state")))
	if got := text("#doc-state"); got != "rejected: no_plan" {
		t.Errorf("the document shows %q, want rejected: no_plan", got)
	}

	// The other organization, from the list.
	run("open org-two", chromedp.Click(chromedp.CSS(`#orgs a[data-org="org-two"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-cost-month g.bar[data-value="16.03"]`)), shot("4-org-two"))
	if got := text("#card-charge-month .value"); got != "16.03" {
		t.Errorf("org-two's month shows %q, want 16.03", got)
	}
	var instanceShown bool
	run("read the instance panel", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		instanceShown, err = chromedp.Evaluate[bool](`!document.getElementById("instance").hidden`)(ctx, tg)
		return err
	}))
	if instanceShown {
		t.Error("the README organization's instance is still shown on org-two's page")
	}

	// As of a time before any usage: the report says there was none.
	run("as of the day before", chromedp.Navigate(fmt.Sprintf("%s/ui/#org=%s&at=%d", base, readmeOrg, now-86_400_000)),
		chromedp.WaitVisible(chromedp.CSS("#org-status .error")), shot("5-before"))
	if got := text("#org-status"); !strings.Contains(got, "No usage") {
		t.Errorf("as of the day before: %q", got)
	}
}
