package collector_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/usage"
	"github.com/meterline/meterline/schemas/openapi"
)

// rejectingArchive is a fakeArchive whose documents all read back rejected.
type rejectingArchive struct{ *fakeArchive }

func (rejectingArchive) Rejection(context.Context, string, string) (usage.Rejection, error) {
	return usage.Rejection{Code: "late", Reason: "its end is more than the slack before the time it was stored", ProcessedMs: 1396421452000}, nil
}

// TestAnswersMatchOpenAPI: the collection API's answers, successes and errors (bad content
// type, bad JSON, a document failing its schema, too large, a duplicate, an unknown or
// malformed id, Kafka down, a rejected document read back) validate against the OpenAPI
// document.
func TestAnswersMatchOpenAPI(t *testing.T) {
	v, err := openapi.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, archive := range []collector.Archive{&fakeArchive{}, rejectingArchive{&fakeArchive{}}} {
		pub := &fakePublisher{}
		mux := http.NewServeMux()
		collector.New(collector.Config{MaxBodyBytes: maxBody, ProduceTimeout: 5 * time.Second}, pub, archive, nil, zap.NewNop(), prometheus.NewRegistry()).Register(mux)
		srv := httptest.NewServer(v.Handler(auth.AsAdmin(mux), t.Error))
		f := func(method, path, contentType, body string, status int) {
			t.Helper()
			if r := do(t, method, srv.URL+path, contentType, body); r.status != status {
				t.Errorf("%s %s: %d %s, want %d", method, path, r.status, r.body, status)
			}
		}
		f("POST", collectPath, "application/json", sampleDoc, 201)
		f("POST", collectPath, "application/json", sampleDoc, 409)
		f("GET", collectPath+"/"+idOf(t, sampleDoc), "", "", 200)
		f("GET", collectPath+"/1396421451000-00000000000000000000000000000000", "", "", 404)
		f("GET", collectPath+"/not-an-id", "", "", 400)
		f("POST", collectPath, "text/plain", sampleDoc, 400)
		f("POST", collectPath, "application/json", `{"start":`, 400)
		f("POST", collectPath, "application/json", strings.Replace(sampleDoc, `"quantity":10}`, `"quantity":-1}`, 1), 400)
		f("POST", collectPath, "application/json", `{"pad":"`+strings.Repeat("x", maxBody)+`"}`, 400)
		pub.setErr(errors.New("kafka down"))
		f("POST", collectPath, "application/json", strings.Replace(sampleDoc, `"end":1396421451000`, `"end":1396421451001`, 1), 503)
		srv.Close()
	}
}
