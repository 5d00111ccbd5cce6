package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeProvisioning stores documents by path as the provisioning API does: plans and mappings
// are immutable (the same again is 200, another is 409), accounts and resource types change
// (200 whether changed or not; a resource type's GET answers the type as text), a plan without measures is refused with its problems.
type fakeProvisioning struct {
	mu     sync.Mutex
	stored map[string]string // by the GET path of the document
}

func (f *fakeProvisioning) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer admin-key" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"a credential is required","kind":"unauthenticated"}`)
		return
	}
	if r.Method == http.MethodGet {
		if doc, ok := f.stored[r.URL.Path]; ok {
			if strings.HasSuffix(r.URL.Path, "/type") { // the resource type only, as text
				var t struct {
					ResourceType string `json:"resource_type"`
				}
				json.Unmarshal([]byte(doc), &t)
				w.Header().Set("Content-Type", "text/plain")
				doc = t.ResourceType
			}
			io.WriteString(w, doc)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"not found","kind":"not_found"}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var probe map[string]any
	json.Unmarshal(body, &probe)
	key := r.URL.Path
	switch {
	case strings.HasSuffix(key, "/plans"):
		if probe["measures"] == nil && strings.HasPrefix(key, "/v1/metering/") {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid plan","kind":"invalid","problems":[{"field":"measures","reason":"is required"}]}`)
			return
		}
		key += "/" + probe["plan_id"].(string)
	case key == "/v1/accounts":
		key += "/" + probe["account_id"].(string)
	case key == "/v1/provisioning/mappings":
		key += "/" + probe["resource_type"].(string) + "/" + probe["plan_id"].(string)
	}
	var canon bytes.Buffer
	json.Compact(&canon, body)
	old, existed := f.stored[key]
	mutable := strings.HasPrefix(key, "/v1/accounts/") || strings.HasSuffix(key, "/type")
	switch {
	case !existed:
		f.stored[key] = canon.String()
		w.WriteHeader(http.StatusCreated)
	case old != canon.String() && !mutable:
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"error":"plan `+probe["plan_id"].(string)+` exists with another content; plans are immutable","kind":"conflict"}`)
		return
	default:
		f.stored[key] = canon.String()
	}
	io.WriteString(w, canon.String())
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPlansApply(t *testing.T) {
	srv := httptest.NewServer(&fakeProvisioning{stored: map[string]string{}})
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "metering", "storage.json"), `{"plan_id":"storage-v2","measures":[{"name":"storage","unit":"BYTE"}],"metrics":[{"name":"storage","unit":"GB"}]}`)
	writeFile(t, filepath.Join(dir, "mappings-metering.json"), `{"object-storage":{"basic":"storage-v2"}}`)
	writeFile(t, filepath.Join(dir, "accounts", "acme.json"), `{"account_id":"acme","name":"ACME","organizations":["org-acme"]}`)
	env := map[string]string{"METERLINE_TOKEN": "admin-key", "METERLINE_HTTP_ADDR": strings.TrimPrefix(srv.URL, "http://")}
	apply := func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := plansCommand(append([]string{"apply"}, args...), func(k string) string { return env[k] }, &out, &errs)
		return code, out.String(), errs.String()
	}
	check := func(name string, wantCode int, wantOut string, args ...string) {
		t.Helper()
		code, out, errs := apply(args...)
		if code != wantCode || out != wantOut {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr: %s\nwant exit %d, stdout:\n%s", name, code, out, errs, wantCode, wantOut)
		}
	}
	check("first apply (the folder as the argument)", 0, `created    metering plan storage-v2
created    resource type object-storage
created    metering mapping object-storage/basic -> storage-v2
created    account acme
4 documents: 4 created, 0 updated, 0 unchanged, 0 failed
`, dir)
	check("the same again (-f, the address from METERLINE_HTTP_ADDR)", 0, `unchanged  metering plan storage-v2
unchanged  resource type object-storage
unchanged  metering mapping object-storage/basic -> storage-v2
unchanged  account acme
4 documents: 0 created, 0 updated, 4 unchanged, 0 failed
`, "-f", dir)

	// One file, given after the flags: an account that changed is updated.
	writeFile(t, filepath.Join(dir, "accounts", "acme.json"), `{"account_id":"acme","name":"ACME Corp","organizations":["org-acme"]}`)
	check("a changed account", 0, "updated    account acme\n1 documents: 0 created, 1 updated, 0 unchanged, 0 failed\n",
		"--url", srv.URL, filepath.Join(dir, "accounts", "acme.json"))

	// A plan that holds another document, and one the API refuses: each failed with the API's
	// problems, the rest applied, exit 1.
	writeFile(t, filepath.Join(dir, "metering", "storage.json"), `{"plan_id":"storage-v2","measures":[{"name":"storage","unit":"KB"}],"metrics":[{"name":"storage","unit":"GB"}]}`)
	writeFile(t, filepath.Join(dir, "metering", "broken.json"), `{"plan_id":"broken","metrics":[{"name":"storage","unit":"GB"}]}`)
	check("conflicts and invalid plans", 1, "failed     metering plan broken ("+filepath.Join(dir, "metering", "broken.json")+"): 400 Bad Request (invalid): invalid plan\n  measures: is required\n"+
		"failed     metering plan storage-v2 ("+filepath.Join(dir, "metering", "storage.json")+"): 409 Conflict (conflict): plan storage-v2 exists with another content; plans are immutable\n"+
		"unchanged  resource type object-storage\nunchanged  metering mapping object-storage/basic -> storage-v2\nunchanged  account acme\n"+
		"5 documents: 0 created, 0 updated, 3 unchanged, 2 failed\n", dir)

	// A wrong credential fails every document, with the API's reason.
	code, out, _ := apply("--token", "wrong", filepath.Join(dir, "accounts"))
	if code != 1 || !strings.Contains(out, "failed     account acme") || !strings.Contains(out, "401 Unauthorized (unauthenticated): a credential is required") {
		t.Errorf("wrong token: exit %d\n%s", code, out)
	}

	for _, args := range [][]string{{}, {dir, dir}} {
		if code, _, errs := apply(args...); code != 2 || !strings.Contains(errs, "usage: meterline plans apply") {
			t.Errorf("apply %v: exit %d, stderr %q, want the usage and 2", args, code, errs)
		}
	}
	if code, out, errs := apply("--help"); code != 0 || errs != "" || !strings.Contains(out, "usage: meterline plans apply") || strings.Contains(out, "admin-key") {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
