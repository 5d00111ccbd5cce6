package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/schemas/openapi"
)

// route is one registered route: "METHOD /path/{param}", and where it was registered.
type route struct {
	key, loc string
}

// serviceMuxes builds, for every command that serves HTTP, the mux it serves, with the same
// start functions its run function calls (their dependencies are not used before a request:
// a Kafka client connects at its first use, ClickHouse is nil). A command added to commands
// without an entry here fails TestOpenAPIDescribesEveryRoute.
func serviceMuxes(t *testing.T) map[string]*http.ServeMux {
	t.Helper()
	ctx := context.Background()
	newEnv := func() *stack {
		cfg := config.Default()
		e := &env{cfg: cfg, log: zap.NewNop(), reg: prometheus.NewRegistry(), clock: clock.StartingAt(time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC))}
		s := newStack(e)
		t.Cleanup(func() {
			for i := len(s.stops) - 1; i >= 0; i-- {
				s.stops[i](ctx)
			}
		})
		return s
	}
	brokers := []string{"127.0.0.1:1"} // never dialled: no request is served
	store := &provisioning.Store{Catalog: catalog.NewCatalog()}
	provisioningRoutes := func(s *stack, mux *http.ServeMux) {
		registerProvisioning(s, store, provisioning.NewAPI(store.Catalog, store, s.e.log), mux)
	}
	collectorRoutes := func(s *stack, mux *http.ServeMux) {
		if err := startCollector(ctx, s, brokers, nil, store, mux); err != nil {
			t.Fatal(err)
		}
	}
	reportingRoutes := func(s *stack, mux *http.ServeMux) {
		if err := startReporting(s, nil, store, mux); err != nil {
			t.Fatal(err)
		}
	}
	build := map[string][]func(*stack, *http.ServeMux){
		// dev: startProvisioning (with its API), startCollector, startReporting, serveAPI. Its
		// simulators (/sim/<provider>/, METERLINE_DEV_SIMULATORS) stand in for the providers'
		// APIs and are not Meterline's: they are left out of the document.
		"dev":          {provisioningRoutes, collectorRoutes, reportingRoutes},
		"collector":    {collectorRoutes},
		"reporting":    {reportingRoutes},
		"provisioning": {provisioningRoutes},
		"sink":         nil,
		"processor":    nil,
		"poller":       nil,
		// sim serves a provider's simulated API under "/" (not Meterline's, left out).
		"sim": nil,
	}
	// migrate serves nothing.
	muxes := map[string]*http.ServeMux{}
	for _, c := range commands {
		if c.name == "migrate" {
			continue
		}
		fns, ok := build[c.name]
		if !ok {
			t.Errorf("command %s: add the routes its mux gets to serviceMuxes (internal/app/routes_test.go)", c.name)
			continue
		}
		s, mux := newEnv(), http.NewServeMux()
		for _, fn := range fns {
			fn(s, mux)
		}
		registerOpen(s, mux)
		muxes[c.name] = mux
	}
	return muxes
}

// muxRoutes lists the patterns registered on mux. net/http does not export them, so they are
// read from its routing tree by reflection (Go 1.22 to today's: ServeMux.tree, routingNode
// {pattern, children{s, m}, multiChild, emptyChild}, pattern{str, loc}); each one found is
// then checked through mux.Handler, so a change of the tree fails here, not silently.
func muxRoutes(t *testing.T, mux *http.ServeMux) []route {
	t.Helper()
	tree := reflect.ValueOf(mux).Elem().FieldByName("tree")
	if !tree.IsValid() {
		t.Fatal("net/http's ServeMux has no routing tree any more: update muxRoutes")
	}
	seen := map[string]route{}
	var walk func(n reflect.Value)
	walk = func(n reflect.Value) {
		if n.Kind() == reflect.Pointer {
			if n.IsNil() {
				return
			}
			n = n.Elem()
		}
		if p := n.FieldByName("pattern"); p.IsValid() && !p.IsNil() {
			str, loc := p.Elem().FieldByName("str"), p.Elem().FieldByName("loc")
			if !str.IsValid() {
				t.Fatal("net/http's pattern has no str any more: update muxRoutes")
			}
			r := route{key: str.String()}
			if loc.IsValid() {
				r.loc = loc.String()
				if i := strings.Index(r.loc, "internal/"); i >= 0 {
					r.loc = r.loc[i:]
				}
			}
			seen[r.key] = r
		}
		children := n.FieldByName("children")
		if !children.IsValid() {
			t.Fatal("net/http's routingNode has no children any more: update muxRoutes")
		}
		for i := range children.FieldByName("s").Len() {
			walk(children.FieldByName("s").Index(i).FieldByName("value"))
		}
		for it := children.FieldByName("m").MapRange(); it.Next(); {
			walk(it.Value())
		}
		walk(n.FieldByName("multiChild"))
		walk(n.FieldByName("emptyChild"))
	}
	walk(tree)
	out := make([]route, 0, len(seen))
	for _, r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	if len(out) == 0 {
		t.Fatal("no route found in a mux: update muxRoutes")
	}
	for _, r := range out {
		if got := matchedPattern(t, mux, r.key); got != r.key {
			t.Fatalf("muxRoutes found %q, but a request to it is routed to %q: update muxRoutes", r.key, got)
		}
	}
	return out
}

var wildcard = regexp.MustCompile(`\{([^}/]+?)(\.\.\.)?\}`)

// docKey is a pattern's key in the document's terms: {name...} (the rest of the path) is
// {name}, since OpenAPI paths have no multi-segment parameter.
func docKey(pattern string) string { return wildcard.ReplaceAllString(pattern, "{$1}") }

// matchedPattern returns the pattern mux routes a request for key ("METHOD /path/{p}") to,
// with a value in each parameter.
func matchedPattern(t *testing.T, mux *http.ServeMux, key string) string {
	t.Helper()
	method, path, ok := strings.Cut(key, " ")
	if !ok {
		t.Fatalf("route %q has no method: every API route names its method", key)
	}
	req := httptest.NewRequest(method, wildcard.ReplaceAllString(path, "x-$1"), nil)
	_, pattern := mux.Handler(req)
	return pattern
}

// areaFiles names the file of schemas/openapi/ that describes each area's routes, by path
// prefix, for the failure messages.
var areaFiles = []struct{ prefix, file string }{
	{"/openstack/", "nova.yaml"},
	{"/v1/export/focus", "focus.yaml"},
	{"/v1/vcloudair/", "vcloudair.yaml"},
	{"/api/", "vcloudair.yaml"},
	{"/services/", "elasticbox.yaml"},
	{"/v1/elasticbox/", "elasticbox.yaml"},
	{"/v1/cf/", "cf.yaml or cfrecon.yaml"},
	{"/v2/", "cf.yaml"},
	{"/v3/", "cf.yaml"},
}

func areaFile(path string) string {
	for _, a := range areaFiles {
		if strings.HasPrefix(path, a.prefix) {
			return a.file
		}
	}
	return "core.yaml, or the file of the route's area (<area>.yaml)"
}

// TestOpenAPIDescribesEveryRoute: every route a Meterline service registers is an operation
// of the OpenAPI document (schemas/openapi/*.yaml, merged), and every operation of the
// document is registered by some service, at the same pattern.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, err := openapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	muxes := serviceMuxes(t)
	registered := map[string][]string{} // doc key: the services
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range muxes {
			if !yield(k) {
				return
			}
		}
	}) {
		mux := muxes[name]
		for _, r := range muxRoutes(t, mux) {
			key := docKey(r.key)
			registered[key] = append(registered[key], name)
			if described[key] {
				continue
			}
			_, path, _ := strings.Cut(key, " ")
			msg := fmt.Sprintf("route %s (service %s, registered at %s) is not in the OpenAPI document: describe it in schemas/openapi/%s",
				r.key, name, r.loc, areaFile(path))
			t.Error(msg)
		}
		// The document's operations that this service's mux routes elsewhere (or nowhere)
		// are checked below, against every service.
		for key := range described {
			if slices.Contains(registered[key], name) {
				continue
			}
			if p := matchedPattern(t, mux, key); p != "" && docKey(p) == key {
				t.Errorf("%s: %s is routed by the mux but was not listed by muxRoutes", name, key)
			}
		}
	}
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range described {
			if !yield(k) {
				return
			}
		}
	}) {
		if len(registered[key]) == 0 {
			_, path, _ := strings.Cut(key, " ")
			t.Errorf("operation %s of the OpenAPI document is served by no service: remove it from schemas/openapi/%s or register its route", key, areaFile(path))
		}
	}
	for _, open := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /openapi.yaml"} {
		if n := len(registered[open]); n != len(muxes) {
			t.Errorf("%s is served by %d of the %d services that serve HTTP", open, n, len(muxes))
		}
	}
	t.Logf("%d operations described, %d routes registered by %d services", len(described), len(registered), len(muxes))
}
