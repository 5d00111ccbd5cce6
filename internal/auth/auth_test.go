package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/platform/web"
)

// issuer is a test OAuth2 issuer: an HTTP server of a JWKS (at /token_keys, as UAA serves
// it) and of an OIDC discovery document, and the RSA key its tokens are signed with.
type issuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{key: rsaKey(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /token_keys", func(w http.ResponseWriter, _ *http.Request) {
		web.WriteJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &is.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/token_keys",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign returns a JWT of claims signed with key under key id kid.
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var t0 = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func testCatalog(t *testing.T, keys ...catalog.APIKey) *catalog.Catalog {
	t.Helper()
	c := catalog.NewCatalog()
	add := func(v any) {
		r, err := catalog.RecordOf(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	add(catalog.Account{AccountID: "acct-a", Organizations: []string{"org-a", "org-a2"}, PricingCountry: "USA", Currency: "USD"})
	for _, k := range keys {
		add(k)
	}
	return c
}

func request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/accounts", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// TestJWT: tokens of the issuer are verified against its JWKS: scopes from a UAA-style array
// or an OIDC string (scope or scp), organizations from the organizations claim and the account
// claim; an expired, not yet valid, wrongly signed, foreign or mis-addressed token is refused.
func TestJWT(t *testing.T) {
	is := newIssuer(t)
	clk := clock.NewManual(t0)
	cfg := Config{Auth: config.Auth{Issuer: is.srv.URL, JWKSURL: is.srv.URL + "/token_keys", Audience: "meterline",
		OrganizationsClaim: "meterline_organizations", AccountClaim: "meterline_account"}, Clock: clk}
	a, err := New(context.Background(), cfg, testCatalog(t), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": is.srv.URL, "sub": "client-1", "aud": []string{"meterline"},
			"iat": t0.Add(-time.Minute).Unix(), "exp": t0.Add(time.Hour).Unix()}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	ok := func(name, tok string, scopes, orgs []string) {
		t.Helper()
		p, err := a.Authenticate(request(tok))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if p.Method != MethodJWT || p.Subject != "client-1" || !slices.Equal(p.Scopes, scopes) || !slices.Equal(p.Organizations, orgs) {
			t.Errorf("%s: principal %+v, want scopes %v organizations %v", name, p, scopes, orgs)
		}
	}
	refused := func(name, tok, reason string) {
		t.Helper()
		_, err := a.Authenticate(request(tok))
		if fault.KindOf(err) != fault.KindUnauthenticated || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want unauthenticated (%s)", name, err, reason)
		}
	}
	rs := func(extra map[string]any) string { return sign(t, is.key, jose.RS256, "k1", claims(extra)) }

	ok("UAA array scope", rs(map[string]any{"scope": []string{"abacus.usage.write", "uaa.resource"}, "meterline_organizations": []string{"org-a"}}),
		[]string{"abacus.usage.write", "uaa.resource"}, []string{"org-a"})
	ok("OIDC string scope", rs(map[string]any{"scope": "openid abacus.usage.read", "meterline_organizations": "org-b"}),
		[]string{"openid", "abacus.usage.read"}, []string{"org-b"})
	ok("scp", rs(map[string]any{"scp": []string{"abacus.usage.read"}, "meterline_account": "acct-a"}),
		[]string{"abacus.usage.read"}, []string{"org-a", "org-a2"})
	ok("an unknown account grants nothing", rs(map[string]any{"scope": "abacus.usage.read", "meterline_account": "nobody"}),
		[]string{"abacus.usage.read"}, nil)
	ok("aud as a string", rs(map[string]any{"aud": "meterline", "scope": "abacus.usage.read"}), []string{"abacus.usage.read"}, nil)

	refused("expired", rs(map[string]any{"exp": t0.Add(-time.Second).Unix()}), "expired")
	refused("no exp", rs(map[string]any{"exp": nil}), "expired")
	refused("not yet valid", rs(map[string]any{"nbf": t0.Add(time.Hour).Unix()}), "nbf")
	refused("wrong key", sign(t, rsaKey(t), jose.RS256, "k1", claims(nil)), "signature")
	refused("unknown key id", sign(t, rsaKey(t), jose.RS256, "k2", claims(nil)), "signature")
	refused("HMAC", sign(t, []byte(strings.Repeat("s", 32)), jose.HS256, "k1", claims(nil)), "not valid")
	refused("wrong issuer", rs(map[string]any{"iss": "https://elsewhere"}), "different provider")
	refused("wrong audience", rs(map[string]any{"aud": []string{"other"}}), "audience")
	refused("not a JWT", "ey.not.a.jwt", "not valid")

	// The clock moves on: the token of an hour expires.
	tok := rs(map[string]any{"scope": "abacus.usage.read"})
	clk.Advance(time.Hour + time.Second)
	refused("expired later", tok, "expired")
}

// TestDiscovery: with only the issuer configured, its keys are found by OIDC discovery.
func TestDiscovery(t *testing.T) {
	is := newIssuer(t)
	a, err := New(context.Background(), Config{Auth: config.Auth{Issuer: is.srv.URL, OrganizationsClaim: "orgs"}, Clock: clock.NewManual(t0)}, testCatalog(t), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, is.key, jose.RS256, "k1", map[string]any{"iss": is.srv.URL, "sub": "s", "exp": t0.Add(time.Hour).Unix(),
		"scope": []string{"meterline.admin"}})
	p, err := a.Authenticate(request(tok))
	if err != nil || !p.Admin {
		t.Fatalf("principal %+v, %v; want an admin", p, err)
	}
	if _, err := New(context.Background(), Config{Auth: config.Auth{Issuer: is.srv.URL + "/nothing"}}, testCatalog(t), zap.NewNop()); err == nil {
		t.Error("an issuer without a discovery document: no error")
	}
}

// TestAPIKeys: a key of the catalog authenticates with its scopes and organizations until it
// expires or is revoked; another secret under its id, or an unknown id, is refused.
func TestAPIKeys(t *testing.T) {
	id, secret, hash, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, KeyPrefix+id+"_") || len(id) != keyIDLength || hash != HashKey(secret) || strings.Contains(hash, secret) {
		t.Fatalf("NewKey() = %q, %q, %q", id, secret, hash)
	}
	rid, revokedSecret, rhash, _ := NewKey()
	eid, expiredSecret, ehash, _ := NewKey()
	_, unknownSecret, _, _ := NewKey()
	created, expires := t0.UnixMilli(), t0.Add(time.Hour).UnixMilli()
	cat := testCatalog(t,
		catalog.APIKey{ID: id, Hash: hash, Organizations: []string{"org-a"}, Scopes: []string{"abacus.usage.write"}, Created: created},
		catalog.APIKey{ID: rid, Hash: rhash, Organizations: []string{"org-a"}, Scopes: []string{"abacus.usage.write"}, Created: created, Revoked: created + 1},
		catalog.APIKey{ID: eid, Hash: ehash, Organizations: []string{"*"}, Scopes: []string{"abacus.usage.read"}, Created: created, Expires: expires})
	clk := clock.NewManual(t0)
	a, err := New(context.Background(), Config{Clock: clk}, cat, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(request(secret))
	if err != nil || p.Method != MethodAPIKey || !p.CanWrite("org-a", "x") || p.CanWrite("org-b", "x") || p.CanRead("org-a", "x") {
		t.Errorf("key for org-a: %+v, %v", p, err)
	}
	if p, err := a.Authenticate(request(expiredSecret)); err != nil || !p.CanRead("any-org", "x") {
		t.Errorf("key of every organization before its expiry: %+v, %v", p, err)
	}
	refused := func(name, tok, reason string) {
		t.Helper()
		_, err := a.Authenticate(request(tok))
		if fault.KindOf(err) != fault.KindUnauthenticated || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want unauthenticated (%s)", name, err, reason)
		}
	}
	refused("revoked", revokedSecret, "revoked")
	refused("another secret", secret[:len(secret)-2]+"xx", "not valid")
	refused("unknown", unknownSecret, "not valid")
	refused("short", KeyPrefix+"abc", "not valid")
	refused("a JWT without an issuer", "eyJhbGciOi.x.y", "no issuer")
	clk.Set(time.UnixMilli(expires))
	refused("expired", expiredSecret, "expired")
}

// TestWrap: the open paths need nothing; a request without credentials is 401 with a
// challenge and the API's JSON error body, unless anonymous requests are admitted; admin keys
// are admins; a bad token's challenge says invalid_token.
func TestWrap(t *testing.T) {
	var got *Principal
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = From(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	serve := func(a *Authenticator, path, header string) *httptest.ResponseRecorder {
		got = nil
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		a.Wrap(next).ServeHTTP(rec, r)
		return rec
	}
	a, err := New(context.Background(), Config{Auth: config.Auth{AdminKeys: []string{"first-admin-key", "second-admin-key"}}}, testCatalog(t), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if rec := serve(a, path, ""); rec.Code != http.StatusNoContent || got != nil {
			t.Errorf("%s: %d, principal %v; want it open", path, rec.Code, got)
		}
	}
	f := func(header string, status int, challenge, kind string) {
		t.Helper()
		rec := serve(a, "/v1/accounts", header)
		if rec.Code != status || rec.Header().Get("WWW-Authenticate") != challenge {
			t.Errorf("%q: %d %q, want %d %q", header, rec.Code, rec.Header().Get("WWW-Authenticate"), status, challenge)
		}
		if kind != "" {
			var body web.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Kind != kind || body.Error == "" {
				t.Errorf("%q: body %s, want kind %s", header, rec.Body, kind)
			}
		}
	}
	f("", http.StatusUnauthorized, `Bearer realm="meterline"`, "unauthenticated")
	f("Basic dXNlcjpwYXNz", http.StatusUnauthorized, `Bearer realm="meterline", error="invalid_request", error_description="the Authorization header must be Bearer <token or API key>"`, "unauthenticated")
	f("Bearer nonsense", http.StatusUnauthorized, `Bearer realm="meterline", error="invalid_token", error_description="the token is not valid (no issuer of JWTs is configured)"`, "unauthenticated")
	f("Bearer second-admin-key", http.StatusNoContent, "", "")
	if got == nil || !got.Admin || got.Method != MethodAdminKey {
		t.Errorf("admin key: principal %+v", got)
	}
	f("bearer first-admin-key", http.StatusNoContent, "", "")

	anon, _ := New(context.Background(), Config{Anonymous: true}, testCatalog(t), zap.NewNop())
	if rec := serve(anon, "/v1/accounts", ""); rec.Code != http.StatusNoContent || got == nil || !got.Admin || got.Method != MethodAnonymous {
		t.Errorf("anonymous: %d, %+v", rec.Code, got)
	}
	if rec := serve(anon, "/v1/accounts", "Bearer forged"); rec.Code != http.StatusUnauthorized {
		t.Errorf("anonymous listener, bad token: %d, want 401 (a token presented is checked)", rec.Code)
	}
}

// TestPrincipal: what each kind of scope allows. Write implies nothing about read, a
// resource scope allows that resource only, and nothing reaches an organization not granted.
func TestPrincipal(t *testing.T) {
	type can struct{ readA, readAX, readAllA, writeAX, writeAY, readB, writeBX, admin bool }
	f := func(name string, scopes, orgs []string, want can) {
		t.Helper()
		p := NewPrincipal("s", MethodJWT, scopes, orgs)
		got := can{p.CanRead("a", "y"), p.CanRead("a", "x"), p.CanReadAll("a"), p.CanWrite("a", "x"), p.CanWrite("a", "y"),
			p.CanRead("b", "x"), p.CanWrite("b", "x"), p.Admin}
		if got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	f("writer of a", []string{ScopeWrite}, []string{"a"}, can{writeAX: true, writeAY: true})
	f("reader of a", []string{ScopeRead}, []string{"a"}, can{readA: true, readAX: true, readAllA: true})
	f("resource writer", []string{ResourceScope("x", "write")}, []string{"a"}, can{writeAX: true})
	f("resource reader", []string{ResourceScope("x", "read")}, []string{"a"}, can{readAX: true})
	f("every organization", []string{ScopeRead, ScopeWrite}, []string{"*"}, can{true, true, true, true, true, true, true, false})
	f("admin", []string{ScopeAdmin}, nil, can{true, true, true, true, true, true, true, true})
	f("scopes without organizations", []string{ScopeRead, ScopeWrite}, nil, can{})
	f("organizations without scopes", []string{"openid"}, []string{"a"}, can{})
	f("a resource id with dots", []string{"abacus.usage.x.read"}, []string{"a"}, can{readAX: true})

	ctx := WithPrincipal(context.Background(), NewPrincipal("s", MethodJWT, []string{ResourceScope("x", "read")}, []string{"a"}))
	if err := RequireReadAll(ctx, "a"); fault.KindOf(err) != fault.KindForbidden || !strings.Contains(err.Error(), "only resources x") {
		t.Errorf("RequireReadAll of a resource reader: %v", err)
	}
	if err := RequireReadSome(ctx, "a"); err != nil {
		t.Errorf("RequireReadSome of a resource reader: %v", err)
	}
	if err := RequireRead(ctx, "a", "y"); fault.KindOf(err) != fault.KindForbidden {
		t.Errorf("RequireRead of another resource: %v", err)
	}
	if err := RequireAdmin(context.Background()); fault.KindOf(err) != fault.KindUnauthenticated {
		t.Errorf("no principal: %v, want unauthenticated", err)
	}
	for s, known := range map[string]bool{ScopeAdmin: true, ScopeRead: true, "abacus.usage.r.write": true, "abacus.usage.read.x": false, "openid": false, "abacus.usage..read": false} {
		if KnownScope(s) != known {
			t.Errorf("KnownScope(%q) = %v", s, !known)
		}
	}
}
