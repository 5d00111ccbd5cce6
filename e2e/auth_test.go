package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/pkg/client"
)

// testIssuer is an OAuth2 issuer as UAA is one: a JWKS at /token_keys and tokens signed with
// its RSA key.
type testIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{key: key}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token_keys" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// token is a JWT of the issuer (or, with key, signed by another key under the issuer's key
// id) with scopes and claims, valid from an hour before to exp.
func (is *testIssuer) token(t *testing.T, key *rsa.PrivateKey, exp time.Time, claims map[string]any) string {
	t.Helper()
	if key == nil {
		key = is.key
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"iss": is.srv.URL + "/oauth/token", "aud": []string{"meterline"}, "iat": exp.Add(-2 * time.Hour).Unix(), "exp": exp.Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call is an HTTP request of the matrix with a bearer credential ("" for none).
func call(t *testing.T, method, u, token, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

// TestAuthMatrix runs every route of Meterline's APIs with the credentials of organization A,
// organization B, a resource-scoped writer and reader, a read-only token (granted through its
// account claim), an admin token, an expired and a wrongly signed token, none, an API key of
// A and a revoked API key, against meterline dev with an issuer configured (real Kafka and
// ClickHouse), and checks each status; no answer to a credential that may not read A holds
// any of A's data, and none to A's holds B's. An API key made on one process works, and
// once revoked fails, on another (a collector), and a listener beyond loopback without
// credentials configured does not start.
func TestAuthMatrix(t *testing.T) {
	s := newStack(t)
	is := newTestIssuer(t)
	const adminKey = "e2e-admin-key-0123456789"
	authEnv := []string{"METERLINE_AUTH_ISSUER=" + is.srv.URL + "/oauth/token", "METERLINE_AUTH_JWKS_URL=" + is.srv.URL + "/token_keys",
		"METERLINE_AUTH_AUDIENCE=meterline", "METERLINE_AUTH_ADMIN_KEYS=" + adminKey}
	dev := s.start([]string{"dev"}, authEnv...)
	base := "http://" + dev.addr
	valid, expired := s.now().Add(24*time.Hour), s.now().Add(-time.Hour)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	// Organization A's data carries the markers space-a, inst-a and "Account A"; B's space-b,
	// inst-b and "Account B".
	const orgA, orgB, res = "org-a", "org-b", "object-storage"
	admin := func(method, path, body string, want int) response {
		t.Helper()
		r := call(t, method, base+path, adminKey, body)
		if r.status != want {
			t.Fatalf("setup %s %s: %d %s, want %d", method, path, r.status, r.body, want)
		}
		return r
	}
	accountA := `{"account_id":"acct-a","name":"Account A","organizations":["org-a"],"pricing_country":"USA","currency":"USD"}`
	admin(http.MethodPost, "/v1/accounts", accountA, http.StatusCreated)
	admin(http.MethodPost, "/v1/accounts", `{"account_id":"acct-b","name":"Account B","organizations":["org-b"],"pricing_country":"USA","currency":"USD"}`, http.StatusCreated)
	newKey := func(body string) (id, secret string) {
		t.Helper()
		var k struct{ ID, Key string }
		if err := json.Unmarshal(admin(http.MethodPost, "/v1/provisioning/api_keys", body, http.StatusCreated).body, &k); err != nil {
			t.Fatal(err)
		}
		return k.ID, k.Key
	}
	_, keyA := newKey(`{"name":"A's exporter","organizations":["org-a"],"scopes":["abacus.usage.read","abacus.usage.write"]}`)
	revokedID, revokedKey := newKey(`{"organizations":["org-a"],"scopes":["abacus.usage.read","abacus.usage.write"]}`)

	tokens := map[string]string{
		"A":          is.token(t, nil, valid, map[string]any{"sub": "a", "scope": []string{"abacus.usage.read", "abacus.usage.write"}, "meterline_organizations": []string{orgA}}),
		"B":          is.token(t, nil, valid, map[string]any{"sub": "b", "scope": "abacus.usage.read abacus.usage.write", "meterline_organizations": []string{orgB}}),
		"res-writer": is.token(t, nil, valid, map[string]any{"sub": "rw", "scope": []string{"abacus.usage." + res + ".write"}, "meterline_organizations": []string{orgA}}),
		"res-reader": is.token(t, nil, valid, map[string]any{"sub": "rr", "scope": []string{"abacus.usage." + res + ".read"}, "meterline_organizations": []string{orgA}}),
		"read-only":  is.token(t, nil, valid, map[string]any{"sub": "ro", "scope": []string{"abacus.usage.read"}, "meterline_account": "acct-a"}),
		"admin":      is.token(t, nil, valid, map[string]any{"sub": "op", "scope": []string{"meterline.admin"}}),
		"expired":    is.token(t, nil, expired, map[string]any{"sub": "a", "scope": []string{"abacus.usage.read", "abacus.usage.write"}, "meterline_organizations": []string{orgA}}),
		"forged":     is.token(t, other, valid, map[string]any{"sub": "a", "scope": []string{"meterline.admin"}, "meterline_organizations": []string{orgA}}),
		"none":       "",
		"key-A":      keyA,
		"revoked":    revokedKey,
	}
	principals := []string{"A", "B", "res-writer", "res-reader", "read-only", "admin", "expired", "forged", "none", "key-A", "revoked"}

	// Usage of A and of B, and A's document to read back.
	doc := func(org, space, instance, resource, dedup string) string {
		now := s.nowMs() - 1000
		return fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":%q,"consumer_id":"app:1","resource_id":%q,"plan_id":"basic",
"resource_instance_id":%q,"dedup_id":%q,"measured_usage":[{"measure":"storage","quantity":1073741824},{"measure":"light_api_calls","quantity":1000},{"measure":"heavy_api_calls","quantity":100}]}`,
			now, now, org, space, resource, instance, dedup)
	}
	// Posted through pkg/client with each organization's bearer token; B's token may not
	// write A's usage, and no token is unauthenticated, each a typed error.
	as := func(token string) *client.Client {
		c, err := client.New(base, client.WithToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	postA, errA := as(tokens["A"]).CollectJSON(ctx, []byte(doc(orgA, "space-a", "inst-a", res, "setup")))
	_, errB := as(tokens["B"]).CollectJSON(ctx, []byte(doc(orgB, "space-b", "inst-b", res, "setup")))
	if errA != nil || errB != nil {
		t.Fatalf("setup posts: %v, %v", errA, errB)
	}
	docA := postA.ID
	var ce *client.Error
	if _, err := as(tokens["B"]).CollectJSON(ctx, []byte(doc(orgA, "space-a", "inst-a", res, "by-client-B"))); !errors.As(err, &ce) ||
		ce.Status != http.StatusForbidden || ce.Kind != client.KindForbidden {
		t.Errorf("B's token posting A's usage through pkg/client: %v, want 403 forbidden", err)
	}
	if _, err := as("").CollectJSON(ctx, []byte(doc(orgA, "space-a", "inst-a", res, "by-client-none"))); !errors.As(err, &ce) ||
		ce.Status != http.StatusUnauthorized || ce.Kind != client.KindUnauthenticated {
		t.Errorf("no token through pkg/client: %v, want 401 unauthenticated", err)
	}
	for _, org := range []string{orgA, orgB} {
		waitFor(t, "the report of "+org, func() (bool, string) {
			r := call(t, http.MethodGet, base+"/v1/metering/organizations/"+org+"/aggregated/usage", adminKey, "")
			return r.status == http.StatusOK, fmt.Sprintf("%d %s", r.status, r.body)
		})
	}
	admin(http.MethodDelete, "/v1/provisioning/api_keys/"+revokedID, "", http.StatusOK)
	pricing := admin(http.MethodGet, "/v1/pricing/plans", "", http.StatusOK)
	var plansOf []map[string]any
	if err := json.Unmarshal(pricing.body, &plansOf); err != nil || len(plansOf) == 0 {
		t.Fatalf("pricing plans: %v %s", err, pricing.body)
	}
	pricingID := plansOf[0]["plan_id"].(string)
	pricingDoc, _ := json.Marshal(plansOf[0])
	var mappings []json.RawMessage
	if err := json.Unmarshal(admin(http.MethodGet, "/v1/provisioning/mappings", "", http.StatusOK).body, &mappings); err != nil || len(mappings) == 0 {
		t.Fatalf("mappings: %v", err)
	}

	gql := func(q string) string { return "/v1/metering/aggregated/usage/graph/" + url.PathEscape(q) }
	instance := func(org, inst string) string {
		return "/v1/metering/organizations/" + org + "/resource_instances/" + inst + "/consumers/app:1/plans/basic/metering_plans/-/rating_plans/-/pricing_plans/-/aggregated/usage"
	}
	const (
		ok, created, unauth, forbidden, missing = 200, 201, 401, 403, 404
	)
	type route struct {
		name, method, path string
		body               func(principal string) string
		// want is the status of each principal; those not named answer
		// unauthenticatedDefault (expired, forged, none, revoked) or forbidden.
		want map[string]int
	}
	postDoc := func(resource string) func(string) string {
		return func(p string) string { return doc(orgA, "space-a", "inst-a", resource, "by-"+p) }
	}
	fixed := func(b string) func(string) string { return func(string) string { return b } }
	readersA := map[string]int{"A": ok, "read-only": ok, "admin": ok, "key-A": ok}
	with := func(m map[string]int, extra map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	adminOnly := func(status int) map[string]int { return map[string]int{"admin": status} }
	// vCloud Air billed service group sg-auth-a for organization A (as the billing loop would).
	billed, err := s.ch.PrepareBatch(t.Context(), "INSERT INTO "+s.database+".vcloudair_billed (account, service_group, year, month, "+
		"period_start_ms, period_end_ms, service_instance, l2, entity, entity_type, billable, quantity, unit, cost, currency, read_ms)")
	if err != nil {
		t.Fatal(err)
	}
	if err := billed.Append("e2e", "sg-auth-a", uint16(2026), uint8(5), int64(1777593600000), int64(1780272000000), orgA, "vdc", "vm", "vm",
		"vcpu_hours", decimal.NewFromInt(1), "hour", decimal.Zero, "USD", int64(0)); err != nil {
		t.Fatal(err)
	}
	if err := billed.Send(); err != nil {
		t.Fatal(err)
	}
	// The Cloud Foundry Usage Service's figures of A's 1 May (as the cf poller's loop would).
	usageA, err := s.ch.PrepareBatch(t.Context(), "INSERT INTO "+s.database+".cf_usage_service (foundation, organization, day, kind, entry, space, app, process, instance_count, memory_mb, duration_seconds)")
	if err != nil {
		t.Fatal(err)
	}
	for i, kind := range []string{"day", "app"} {
		if err := usageA.Append("e2e", orgA, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), kind, uint32(i), "space-a", "app-a", "app-a", int64(1), int64(1024), decimal.NewFromInt(3600)); err != nil {
			t.Fatal(err)
		}
	}
	if err := usageA.Send(); err != nil {
		t.Fatal(err)
	}
	// Its service group and instance, as the billing loop stores them for the vCloud Air views.
	for _, ins := range []struct {
		table string
		row   []any
	}{
		{"vcloudair_service_groups (account, id, name, currency, anniversary, read_ms)", []any{"e2e", "sg-auth-a", "Auth A", "USD", uint8(1), int64(0)}},
		{"vcloudair_service_instances (account, id, name, service_group, read_ms)", []any{"e2e", orgA, "A", "sg-auth-a", int64(0)}},
	} {
		batch, err := s.ch.PrepareBatch(t.Context(), "INSERT INTO "+s.database+"."+ins.table)
		if err != nil {
			t.Fatal(err)
		}
		if err := batch.Append(ins.row...); err != nil {
			t.Fatal(err)
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
	}
	routes := []route{
		{"POST usage of A", http.MethodPost, "/v1/metering/collected/usage", postDoc(res),
			map[string]int{"A": created, "res-writer": created, "admin": created, "key-A": created}},
		{"POST usage of A, another resource", http.MethodPost, "/v1/metering/collected/usage", postDoc("other-resource"),
			map[string]int{"A": created, "admin": created, "key-A": created}},
		{"POST a batch of A's usage", http.MethodPost, "/v1/metering/collected/usage/batch",
			func(p string) string { return "[" + postDoc(res)(p+"-batch") + "]" },
			map[string]int{"A": ok, "res-writer": ok, "admin": ok, "key-A": ok}},
		{"GET A's document", http.MethodGet, "/v1/metering/collected/usage/" + docA, nil,
			with(readersA, map[string]int{"B": missing, "res-reader": ok})},
		{"A's organization report", http.MethodGet, "/v1/metering/organizations/" + orgA + "/aggregated/usage", nil, readersA},
		{"B's organization report", http.MethodGet, "/v1/metering/organizations/" + orgB + "/aggregated/usage", nil,
			map[string]int{"B": ok, "admin": ok}},
		{"A's instance report", http.MethodGet, instance(orgA, "inst-a"), nil, with(readersA, map[string]int{"res-reader": ok})},
		{"GraphQL organization A", http.MethodGet, gql(`{ organization(organization_id: "org-a") { organization_id spaces { space_id } } }`), nil, readersA},
		{"GraphQL organizations A, B", http.MethodGet, gql(`{ organizations(organization_ids: ["org-a", "org-b"]) { organization_id spaces { space_id } } }`), nil,
			adminOnly(ok)},
		{"GraphQL account A", http.MethodGet, gql(`{ account(account_id: "acct-a") { organization_id spaces { space_id } } }`), nil, readersA},
		{"GraphQL account B (POST)", http.MethodPost, "/v1/metering/aggregated/usage/graph",
			fixed(`{"query":"{ account(account_id: \"acct-b\") { organization_id spaces { space_id } } }"}`), map[string]int{"B": ok, "admin": ok}},
		{"GraphQL resource_instance A", http.MethodGet, gql(`{ resource_instance(organization_id: "org-a", resource_instance_id: "inst-a", consumer_id: "app:1", plan_id: "basic") { resource_instance_id space_id } }`), nil,
			with(readersA, map[string]int{"res-reader": ok})},
		{"list accounts", http.MethodGet, "/v1/accounts", nil,
			map[string]int{"A": ok, "B": ok, "res-writer": ok, "res-reader": ok, "read-only": ok, "admin": ok, "key-A": ok}},
		{"GET account A", http.MethodGet, "/v1/accounts/acct-a", nil,
			with(readersA, map[string]int{"B": missing, "res-writer": missing, "res-reader": ok})},
		{"GET organization A's account", http.MethodGet, "/v1/organizations/" + orgA + "/account", nil, with(readersA, map[string]int{"res-reader": ok})},
		{"PUT account A", http.MethodPut, "/v1/accounts/acct-a", fixed(accountA), adminOnly(ok)},
		{"POST an account for oneself", http.MethodPost, "/v1/accounts",
			func(p string) string {
				return `{"account_id":"acct-of-` + p + `","name":"x","organizations":["org-new-` + p + `"],"pricing_country":"USA","currency":"USD"}`
			}, adminOnly(created)},
		{"list pricing plans", http.MethodGet, "/v1/pricing/plans", nil, adminOnly(ok)},
		{"GET a pricing plan", http.MethodGet, "/v1/pricing/plans/" + pricingID, nil, adminOnly(ok)},
		{"PUT a pricing plan", http.MethodPut, "/v1/pricing/plans/" + pricingID, fixed(string(pricingDoc)), adminOnly(ok)},
		{"POST a new pricing plan", http.MethodPost, "/v1/pricing/plans",
			func(p string) string {
				return strings.Replace(string(pricingDoc), `"plan_id":"`+pricingID+`"`, `"plan_id":"free-`+p+`"`, 1)
			}, adminOnly(created)},
		{"plan id look-up", http.MethodGet, "/v1/pricing/organizations/" + orgA + "/resource_types/" + res + "/plans/basic/time/" + fmt.Sprint(s.nowMs()) + "/pricing_plan/id", nil, adminOnly(ok)},
		{"list mappings", http.MethodGet, "/v1/provisioning/mappings", nil, adminOnly(ok)},
		{"POST a mapping", http.MethodPost, "/v1/provisioning/mappings", fixed(string(mappings[0])), adminOnly(ok)},
		{"GET a resource type", http.MethodGet, "/v1/provisioning/resources/" + res + "/type", nil, adminOnly(ok)},
		{"PUT a resource type", http.MethodPut, "/v1/provisioning/resources/" + res + "/type", fixed(`{"resource_type":"object-storage"}`), adminOnly(ok)},
		{"create an API key", http.MethodPost, "/v1/provisioning/api_keys", fixed(`{"organizations":["*"],"scopes":["meterline.admin"]}`), adminOnly(created)},
		{"list API keys", http.MethodGet, "/v1/provisioning/api_keys", nil, adminOnly(ok)},
		{"revoke an API key", http.MethodDelete, "/v1/provisioning/api_keys/" + revokedID, nil, adminOnly(ok)},
		{"Nova usage of tenant A", http.MethodGet, "/openstack/compute/v2.1/os-simple-tenant-usage/" + orgA + "?start=2026-06-01T00:00:00", nil, readersA},
		{"Nova usage of all tenants", http.MethodGet, "/openstack/compute/v2.1/os-simple-tenant-usage?start=2026-06-01T00:00:00", nil,
			map[string]int{"A": ok, "B": ok, "res-reader": ok, "read-only": ok, "admin": ok, "key-A": ok}},
		{"healthz", http.MethodGet, "/healthz", nil, nil},
		{"metrics", http.MethodGet, "/metrics", nil, nil},
		{"FOCUS export of A", http.MethodGet, "/v1/export/focus?billing_period=" + s.now().UTC().Format("2006-01") + "&organization_id=" + orgA, nil, readersA},
		{"FOCUS export of account A", http.MethodGet, "/v1/export/focus?billing_period=" + s.now().UTC().Format("2006-01") + "&account_id=acct-a", nil, readersA},
		{"vCloud Air reconciliation of A's group", http.MethodGet, "/v1/vcloudair/service-groups/sg-auth-a/reconciliation/2026/5", nil, readersA},
		{"vCloud Air reconciliation, unknown group", http.MethodGet, "/v1/vcloudair/service-groups/sg-nope/reconciliation/2026/5", nil, adminOnly(missing)},
		{"CF reconciliation of A's day", http.MethodGet, "/v1/cf/organizations/" + orgA + "/reconciliation/2026-05-01", nil, readersA},
		{"CF reconciliation of B, none stored", http.MethodGet, "/v1/cf/organizations/" + orgB + "/reconciliation/2026-05-01", nil, map[string]int{"B": missing, "admin": missing}},
		{"CF reconciliation of A's days", http.MethodGet, "/v1/cf/organizations/" + orgA + "/reconciliation?start=2026-04-30&end=2026-05-01", nil, readersA},
		{"PCF usage report of A", http.MethodGet, "/v1/cf/organizations/" + orgA + "/usage-report?start=" + s.now().UTC().Format("2006-01-02") + "&end=" + s.now().UTC().Format("2006-01-02"), nil, readersA},
		{"vCloud Air billable usage of A", http.MethodGet, "/api/metering/service-instance/" + orgA + "/billable-usage", nil, readersA},
		{"vCloud Air billable, unknown instance", http.MethodGet, "/api/metering/service-instance/si-nope/billable-usage", nil, adminOnly(missing)},
		{"vCloud Air billable costs of A's group", http.MethodGet, "/api/metering/service-group/sg-auth-a/billable-costs", nil, readersA},
		{"vCloud Air service groups", http.MethodGet, "/api/billing/service-groups", nil,
			map[string]int{"A": ok, "B": ok, "res-reader": ok, "read-only": ok, "admin": ok, "key-A": ok}},
		{"vCloud Air A's service group", http.MethodGet, "/api/billing/service-group/sg-auth-a", nil, readersA},
		{"vCloud Air billed usage of A's group", http.MethodGet, "/api/billing/service-group/sg-auth-a/billed-usage", nil, readersA},
		{"vCloud Air billed costs of A's group", http.MethodGet, "/api/billing/service-group/sg-auth-a/billed-costs", nil, readersA},
		{"vCloud Air billed usage of A", http.MethodGet, "/api/billing/service-instance/" + orgA + "/billed-usage", nil, readersA},
		{"vCloud Air billed, unknown group", http.MethodGet, "/api/billing/service-group/sg-nope/billed-usage", nil, adminOnly(missing)},
		{"OpenAPI document (JSON)", http.MethodGet, "/openapi.json", nil, nil},
		{"OpenAPI document (YAML)", http.MethodGet, "/openapi.yaml", nil, nil},
		// A has no ElasticBox usage: its readers learn 404, the others are refused.
		{"ElasticBox report of A", http.MethodGet, "/services/organizations/" + orgA + "/report/2026-05-01/2026-05-31", nil,
			map[string]int{"A": missing, "read-only": missing, "admin": missing, "key-A": missing}},
		{"ElasticBox CSV of A", http.MethodGet, "/services/organizations/" + orgA + "/csv/2026-05-01/2026-05-31", nil,
			map[string]int{"A": missing, "read-only": missing, "admin": missing, "key-A": missing}},
	}
	noCredentials := map[string]bool{"expired": true, "forged": true, "none": true, "revoked": true}
	// readsA: the principals whose answers may show A's data; readsB: B's.
	readsA := map[string]bool{"A": true, "read-only": true, "res-reader": true, "admin": true, "key-A": true}
	readsB := map[string]bool{"B": true, "admin": true}
	markersA, markersB := []string{"space-a", "inst-a", "Account A"}, []string{"space-b", "inst-b", "Account B"}

	described := servedOpenAPI(t, base) // every answer below is checked against it
	var table strings.Builder
	fmt.Fprintf(&table, "%-36s", "route")
	for _, p := range principals {
		fmt.Fprintf(&table, " %10s", p)
	}
	for _, rt := range routes {
		fmt.Fprintf(&table, "\n%-36s", rt.name)
		for _, p := range principals {
			want, named := rt.want[p]
			switch {
			case rt.want == nil:
				want = ok
			case !named && noCredentials[p]:
				want = unauth
			case !named:
				want = forbidden
			}
			body := ""
			if rt.body != nil {
				body = rt.body(p)
			}
			r := call(t, rt.method, base+rt.path, tokens[p], body)
			checkAnswer(t, described, rt.name+" as "+p, rt.method, base+rt.path, r)
			fmt.Fprintf(&table, " %10d", r.status)
			if r.status != want {
				t.Errorf("%s as %s: %d %s, want %d", rt.name, p, r.status, r.body, want)
			}
			if rt.want == nil {
				continue // the open routes: probes, metrics and the OpenAPI document, no tenant's data
			}
			if r.status >= 400 {
				var e struct{ Error, Kind string }
				if json.Unmarshal(r.body, &e) != nil || e.Error == "" || e.Kind == "" {
					// GraphQL's own error shape, Nova's {"forbidden": {"code", "message"}} and
					// vCloud Air's {"majorErrorCode", "minorErrorCode", "message"}; ElasticBox's {"message"}.
					if !strings.Contains(string(r.body), `"errors"`) && !strings.HasPrefix(string(r.body), `{"forbidden":{"code":403`) &&
						!strings.HasPrefix(string(r.body), fmt.Sprintf(`{"majorErrorCode":%d,`, r.status)) && !strings.HasPrefix(string(r.body), `{"message":`) {
						t.Errorf("%s as %s: %d without the JSON error shape: %s", rt.name, p, r.status, r.body)
					}
				}
			}
			if r.status == unauth && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s as %s: 401 without a Bearer challenge", rt.name, p)
			}
			for _, m := range markersA {
				if !readsA[p] && strings.Contains(string(r.body), m) {
					t.Errorf("cross-tenant read: %s as %s shows %q of A: %s", rt.name, p, m, r.body)
				}
			}
			for _, m := range markersB {
				if !readsB[p] && strings.Contains(string(r.body), m) {
					t.Errorf("cross-tenant read: %s as %s shows %q of B: %s", rt.name, p, m, r.body)
				}
			}
		}
	}
	t.Logf("status of every route by credential:\n%s", table.String())

	// `meterline plans apply` sends its documents with the token of METERLINE_TOKEN.
	apply := func(token string) (string, error) {
		cmd := exec.Command(binary, "plans", "apply", "-f", filepath.Join("testdata", "plans"), "--url", base)
		cmd.Env = append(os.Environ(), "METERLINE_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := apply(tokens["A"]); err == nil || !strings.Contains(out, "403") {
		t.Errorf("plans apply with A's token: %v\n%s, want it refused 403", err, out)
	}
	if out, err := apply(adminKey); err != nil || !strings.Contains(out, "created    account acme") {
		t.Errorf("plans apply with the admin key: %v\n%s", err, out)
	}

	// Another process (a collector) takes the API key made above and refuses the revoked one.
	coll := s.start([]string{"collector"}, authEnv...)
	if r := call(t, http.MethodPost, "http://"+coll.addr+"/v1/metering/collected/usage", keyA, doc(orgA, "space-a", "inst-a", res, "other-process")); r.status != created {
		t.Errorf("API key of A on a collector: %d %s", r.status, r.body)
	}
	if r := call(t, http.MethodPost, "http://"+coll.addr+"/v1/metering/collected/usage", revokedKey, doc(orgA, "space-a", "inst-a", res, "revoked")); r.status != unauth {
		t.Errorf("revoked API key on a collector: %d %s", r.status, r.body)
	}

	// Without credentials configured, a listener beyond loopback does not start.
	port := strings.Split(freeAddr(t), ":")[1]
	cmd := exec.Command(binary, "collector")
	cmd.Env = s.env(net.JoinHostPort("0.0.0.0", port))
	out, err := cmd.CombinedOutput()
	if ee, isExit := err.(*exec.ExitError); !isExit || ee.ExitCode() != 2 || !strings.Contains(string(out), "METERLINE_AUTH_ISSUER or METERLINE_AUTH_ADMIN_KEYS") {
		t.Errorf("collector on 0.0.0.0 without auth: %v\n%s", err, out)
	}
}
