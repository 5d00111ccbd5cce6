package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestServesThePageAndItsAssets(t *testing.T) {
	for path, ct := range map[string]string{
		Prefix:                "text/html; charset=utf-8",
		Prefix + "index.html": "text/html; charset=utf-8",
		Prefix + "app.js":     "text/javascript; charset=utf-8",
		Prefix + "style.css":  "text/css; charset=utf-8",
	} {
		rec := get(t, http.MethodGet, path)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ct {
			t.Errorf("GET %s: %d %q, want 200 %q", path, rec.Code, rec.Header().Get("Content-Type"), ct)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-cache"} {
			if got := rec.Header().Get(h); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, h, got, want)
			}
		}
		if c := rec.Header().Get("Content-Security-Policy"); !strings.Contains(c, "default-src 'none'") || !strings.Contains(c, "script-src 'self'") ||
			strings.Contains(c, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, c)
		}
		// Revalidation: the same ETag answers 304.
		if again := get(t, http.MethodGet, path, "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.Code)
		}
	}
	if rec := get(t, http.MethodHead, Prefix+"app.js"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD app.js: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestRefusesWhatItDoesNotServe(t *testing.T) {
	for _, path := range []string{Prefix + "nothing.js", Prefix + "../ui.go", Prefix + "assets/app.js", Prefix + "index.html/x"} {
		if rec := get(t, http.MethodGet, path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := get(t, m, Prefix)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: %d Allow %q, want 405 GET, HEAD", m, Prefix, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

// TestAssetsFetchNothingFromElsewhere: the page works without the internet and under its
// CSP: no absolute URL, no inline script or style, no HTML written from strings.
func TestAssetsFetchNothingFromElsewhere(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	err := fs.WalkDir(Assets(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Assets(), name)
		if err != nil {
			return err
		}
		s := string(b)
		// The SVG namespace is a name, not a fetch.
		s = strings.ReplaceAll(s, `"http://www.w3.org/2000/svg"`, "")
		if m := external.FindString(s); m != "" {
			t.Errorf("%s refers to %q", name, m)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", " style=", "<script>", "onclick="} {
			if strings.Contains(s, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := fs.ReadFile(Assets(), "index.html")
	for _, want := range []string{`src="app.js"`, `href="style.css"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html does not load %s", want)
		}
	}
}
