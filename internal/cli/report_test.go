package cli

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// served is one request the fake reporting API saw.
type served struct{ path, auth string }

// fakeAPI serves testdata/report.json for the organization of the README's example and
// answers everything else as the reporting API does its errors.
func fakeAPI(t *testing.T) (*httptest.Server, *[]served) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []served
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, served{r.URL.EscapedPath(), r.Header.Get("Authorization")})
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Header.Get("Authorization") == "Bearer wrong":
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"the bearer token is not valid","kind":"unauthenticated"}`))
		case r.Header.Get("Authorization") == "Bearer other-org":
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":"this credential may not read organization us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27","kind":"forbidden"}`))
		case strings.HasSuffix(r.URL.Path, "/aggregated/usage/yesterday"):
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid report time","kind":"invalid","problems":[{"field":"time","value":"yesterday","reason":"not epoch milliseconds nor an RFC 3339 time"}]}`))
		case strings.HasPrefix(r.URL.Path, "/v1/metering/organizations/us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27/aggregated/usage"):
			w.Write(body)
		case r.URL.Path == "/v1/metering/organizations/proxy/aggregated/usage":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>bad gateway</html>"))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"organization nobody has no usage processed by 1781524800000 in the report's windows","kind":"not_found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

const readmeOrg = "us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27"

// run runs `meterline report args...` with the environment env.
func run(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Report(args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestReportFormats(t *testing.T) {
	srv, seen := fakeAPI(t)
	check := func(name string, args ...string) {
		t.Run(name, func(t *testing.T) {
			code, out, errs := run(append([]string{"--url", srv.URL, "--org", readmeOrg}, args...), nil)
			if code != ExitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			golden(t, name, out)
		})
	}
	check("table.golden.txt")
	check("table_day.golden.txt", "--window", "day")
	check("table_space.golden.txt", "--level", "space")
	check("table_consumer.golden.txt", "--level", "consumer", "--format", "table")
	check("report.csv.golden", "--format", "csv")
	check("report_consumer.csv.golden", "--format", "csv", "--level", "consumer", "--window", "hour")

	// JSON is the report as served, byte for byte.
	code, out, _ := run([]string{"--url", srv.URL, "--org", readmeOrg, "--format", "json", "--time", "2026-06-15T12:00:00Z"}, nil)
	want, _ := os.ReadFile(filepath.Join("testdata", "report.json"))
	if code != ExitOK || out != string(want) {
		t.Errorf("--format json: exit %d, output differs from the served report:\n%s", code, out)
	}
	if last := (*seen)[len(*seen)-1]; last.path != "/v1/metering/organizations/"+readmeOrg+"/aggregated/usage/2026-06-15T12:00:00Z" || last.auth != "" {
		t.Errorf("request %+v, want the time in the path and no credential", last)
	}
}

func TestReportRequest(t *testing.T) {
	srv, seen := fakeAPI(t)
	// The token comes from $METERLINE_TOKEN unless --token gives one; odd characters of an
	// organization id are escaped in the path.
	run([]string{"--url", srv.URL + "/", "--org", readmeOrg, "--time", "1781524800000"}, map[string]string{"METERLINE_TOKEN": "env-token"})
	run([]string{"--url", srv.URL, "--org", "a/b c", "--token", "flag-token"}, map[string]string{"METERLINE_TOKEN": "env-token"})
	want := []served{
		{"/v1/metering/organizations/" + readmeOrg + "/aggregated/usage/1781524800000", "Bearer env-token"},
		{"/v1/metering/organizations/a%2Fb%20c/aggregated/usage", "Bearer flag-token"},
	}
	if len(*seen) != 2 || (*seen)[0] != want[0] || (*seen)[1] != want[1] {
		t.Errorf("requests %+v, want %+v", *seen, want)
	}
	// Without --url the address is Meterline's own.
	if got := BaseURL(func(k string) string { return map[string]string{"METERLINE_HTTP_ADDR": "10.0.0.1:9090"}[k] }); got != "http://10.0.0.1:9090" {
		t.Errorf("BaseURL = %q", got)
	}
	if got := BaseURL(func(string) string { return "" }); got != "http://127.0.0.1:8080" {
		t.Errorf("default BaseURL = %q", got)
	}
}

func TestReportErrors(t *testing.T) {
	srv, _ := fakeAPI(t)
	f := func(name string, code int, wantErr string, args ...string) {
		t.Run(name, func(t *testing.T) {
			got, out, errs := run(append([]string{"--url", srv.URL}, args...), nil)
			if got != code || out != "" || errs != wantErr {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stderr:\n%s", got, out, errs, code, wantErr)
			}
		})
	}
	f("unknown organization", ExitFailed, "meterline report: 404 Not Found (not_found): organization nobody has no usage processed by 1781524800000 in the report's windows\n", "--org", "nobody")
	f("bad time", ExitFailed, "meterline report: 400 Bad Request (invalid): invalid report time\n  time: not epoch milliseconds nor an RFC 3339 time (value \"yesterday\")\n", "--org", readmeOrg, "--time", "yesterday")
	f("bad token", ExitFailed, "meterline report: 401 Unauthorized (unauthenticated): the bearer token is not valid\n", "--org", readmeOrg, "--token", "wrong")
	f("another organization's token", ExitFailed, "meterline report: 403 Forbidden (forbidden): this credential may not read organization "+readmeOrg+"\n", "--org", readmeOrg, "--token", "other-org")
	f("not Meterline's answer", ExitFailed, "meterline report: 502 Bad Gateway: <html>bad gateway</html>\n", "--org", "proxy")
	f("no organization", ExitUsage, "meterline report: --org is required\n`meterline report --help` lists the flags.\n")
	f("several bad flags", ExitUsage, "meterline report: --format \"xml\": not table, json or csv\nmeterline report: --level \"account\": not organization, space or consumer\n"+
		"meterline report: --window \"week\": not one of second, minute, hour, day, month\nmeterline report: unexpected arguments: extra\n`meterline report --help` lists the flags.\n",
		"--org", readmeOrg, "--format", "xml", "--level", "account", "--window", "week", "extra")

	// Nothing listens: a failure, not a usage error.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if code, _, errs := run([]string{"--url", closed.URL, "--org", readmeOrg}, nil); code != ExitFailed || !strings.Contains(errs, "connect") {
		t.Errorf("unreachable API: exit %d, stderr %q", code, errs)
	}
}

func TestReportHelp(t *testing.T) {
	code, out, errs := run([]string{"--help"}, map[string]string{"METERLINE_TOKEN": "secret-token"})
	if code != ExitOK || errs != "" || !strings.Contains(out, "Usage: meterline report --org ID") || !strings.Contains(out, "-window") {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if strings.Contains(out, "secret-token") {
		t.Errorf("--help printed the credential of $METERLINE_TOKEN:\n%s", out)
	}
	if code, _, errs := run([]string{"--no-such-flag"}, nil); code != ExitUsage || !strings.Contains(errs, "flag provided but not defined") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, errs)
	}
}
