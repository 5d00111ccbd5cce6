package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/platform/web"
)

// Config configures the Authenticator: the settings of internal/platform/config (issuer,
// JWKS URL, audience, claims, admin keys) and what the process decides.
type Config struct {
	config.Auth
	// Anonymous admits requests without credentials as admin; only for a loopback listener
	// with nothing else configured.
	Anonymous bool
	// Clock tells whether a token or a key expired; nil is the wall clock.
	Clock clock.Clock
}

// Catalog is what the Authenticator reads of the provisioning state.
type Catalog interface {
	Account(id string) (catalog.Account, bool)
	APIKey(id string) (catalog.APIKey, bool)
}

// Authenticator derives the principal of each request.
type Authenticator struct {
	cfg       Config
	cat       Catalog
	clock     clock.Clock
	verifier  *oidc.IDTokenVerifier // nil without an issuer
	adminKeys [][sha256.Size]byte
	log       *zap.Logger
}

// signingAlgs are the algorithms a token may be signed with when the keys are not found by
// discovery (which names the issuer's own): asymmetric ones only, never none or HMAC.
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// New returns an Authenticator over the catalog's accounts and API keys. With an issuer and
// no JWKS URL it asks the issuer's discovery document for its keys' URL (an error when the
// issuer does not answer). Key sets are fetched when a token needs them and cached; a token
// with a key id the cache does not know fetches them again (a rotated key).
func New(ctx context.Context, cfg Config, cat Catalog, log *zap.Logger) (*Authenticator, error) {
	a := &Authenticator{cfg: cfg, cat: cat, clock: clock.Or(cfg.Clock), log: log}
	for _, k := range cfg.AdminKeys {
		a.adminKeys = append(a.adminKeys, sha256.Sum256([]byte(k)))
	}
	if cfg.Issuer == "" {
		return a, nil
	}
	vc := &oidc.Config{ClientID: cfg.Audience, SkipClientIDCheck: cfg.Audience == "", Now: a.clock.Now}
	if cfg.JWKSURL != "" {
		vc.SupportedSigningAlgs = signingAlgs
		a.verifier = oidc.NewVerifier(cfg.Issuer, oidc.NewRemoteKeySet(ctx, cfg.JWKSURL), vc)
		return a, nil
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery of %s: %w", cfg.Issuer, err)
	}
	a.verifier = provider.VerifierContext(context.WithoutCancel(ctx), vc)
	return a, nil
}

// openPaths are served to anyone: probes, Prometheus and the OpenAPI document (which
// describes routes and shows no tenant's data).
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/openapi.json": true, "/openapi.yaml": true}

// challenge is the WWW-Authenticate header of a 401 (RFC 6750).
const challenge = `Bearer realm="meterline"`

// Wrap authenticates every request to next but those of the open paths: a request whose
// credentials do not hold is answered 401 with a WWW-Authenticate header and the JSON error
// body; the others reach next with their principal in the context.
func (a *Authenticator) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.Authenticate(r)
		if err != nil {
			h := challenge
			var ie *invalidToken
			if errors.As(err, &ie) {
				h += fmt.Sprintf(`, error="%s", error_description=%q`, ie.code, ie.fe.Message)
			}
			w.Header().Set("WWW-Authenticate", h)
			web.WriteError(w, a.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// invalidToken is a 401 for credentials presented that do not hold; code is RFC 6750's
// error code (invalid_request, invalid_token).
type invalidToken struct {
	fe   *fault.Error
	code string
}

func (e *invalidToken) Error() string { return e.fe.Error() }
func (e *invalidToken) Unwrap() error { return e.fe }

func invalid(code, format string, args ...any) error {
	return &invalidToken{fe: fault.Unauthenticated(format, args...), code: code}
}

// Authenticate returns the principal of r, or a fault.KindUnauthenticated error.
func (a *Authenticator) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if a.cfg.Anonymous {
			return NewPrincipal("anonymous", MethodAnonymous, []string{ScopeAdmin}, nil), nil
		}
		return nil, fault.Unauthenticated("credentials are required: send Authorization: Bearer <token or API key>")
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, invalid("invalid_request", "the Authorization header must be Bearer <token or API key>")
	}
	if a.isAdminKey(token) {
		return NewPrincipal("admin-key", MethodAdminKey, []string{ScopeAdmin}, nil), nil
	}
	if strings.HasPrefix(token, KeyPrefix) {
		return a.apiKey(token)
	}
	if a.verifier == nil {
		return nil, invalid("invalid_token", "the token is not valid (no issuer of JWTs is configured)")
	}
	return a.jwt(r.Context(), token)
}

// isAdminKey compares token with every admin key in constant time.
func (a *Authenticator) isAdminKey(token string) bool {
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, k := range a.adminKeys {
		match |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	return match == 1
}

// KeyPrefix starts every API key, so that keys and JWTs are told apart (a JWT starts with
// "ey") and a leaked key is recognised by secret scanners.
const KeyPrefix = "mlk_"

// keyIDLength is the length of an API key's id: 16 hex digits.
const keyIDLength = 16

// NewKey returns a new API key: its id, the secret to hand out once
// (mlk_<id>_<43 characters of base64url>, 256 random bits), and the SHA-256 of the secret
// (hex), which is all that is stored.
func NewKey() (id, secret, hash string, err error) {
	b := make([]byte, keyIDLength/2+32)
	if _, err := rand.Read(b); err != nil {
		return "", "", "", err
	}
	id = hex.EncodeToString(b[:keyIDLength/2])
	secret = KeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[keyIDLength/2:])
	return id, secret, HashKey(secret), nil
}

// HashKey is the stored form of an API key's secret: its SHA-256 in hex.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func (a *Authenticator) apiKey(token string) (*Principal, error) {
	rest := token[len(KeyPrefix):]
	bad := invalid("invalid_token", "the API key is not valid")
	if len(rest) < keyIDLength+2 || rest[keyIDLength] != '_' {
		return nil, bad
	}
	k, ok := a.cat.APIKey(rest[:keyIDLength])
	if !ok || subtle.ConstantTimeCompare([]byte(HashKey(token)), []byte(k.Hash)) != 1 {
		return nil, bad
	}
	switch now := a.clock.Now().UnixMilli(); {
	case k.Revoked != 0:
		return nil, invalid("invalid_token", "the API key %s was revoked", k.ID)
	case k.Expires != 0 && now >= k.Expires:
		return nil, invalid("invalid_token", "the API key %s expired", k.ID)
	}
	return NewPrincipal("api-key:"+k.ID, MethodAPIKey, k.Scopes, k.Organizations), nil
}

func (a *Authenticator) jwt(ctx context.Context, token string) (*Principal, error) {
	tok, err := a.verifier.Verify(ctx, token)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, invalid("invalid_token", "the token expired")
		}
		a.log.Debug("token refused", zap.Error(err))
		return nil, invalid("invalid_token", "the token is not valid: %s", strings.TrimPrefix(err.Error(), "oidc: "))
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return nil, invalid("invalid_token", "the token's claims do not decode")
	}
	var scopes []string
	for _, name := range []string{"scope", "scp"} {
		scopes = append(scopes, stringsOf(claims[name], true)...)
	}
	orgs := stringsOf(claims[a.cfg.OrganizationsClaim], false)
	if acct := stringsOf(claims[a.cfg.AccountClaim], false); len(acct) == 1 {
		if ac, ok := a.cat.Account(acct[0]); ok {
			orgs = append(orgs, ac.Organizations...)
		}
	}
	subject := tok.Subject
	if subject == "" {
		subject = strings.Join(stringsOf(claims["client_id"], false), "")
	}
	return NewPrincipal(subject, MethodJWT, scopes, orgs), nil
}

// stringsOf reads a claim that is a JSON array of strings or a string: with split, a string
// of space-separated values (OIDC's scope), else one value. Anything else is no value.
func stringsOf(raw json.RawMessage, split bool) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" {
		return nil
	}
	if split {
		return strings.Fields(s)
	}
	return []string{s}
}
