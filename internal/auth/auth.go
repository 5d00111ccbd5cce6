// Package auth authenticates Meterline's HTTP requests and says what they may do. A request
// presents `Authorization: Bearer <credential>`: an OAuth2 JWT verified against an issuer's
// keys (any OIDC issuer, or Cloud Foundry's UAA), an API key the provisioning API made (a
// record of the provisioning topic, so every process sees its creation and revocation), or a
// static admin key of the configuration. On a loopback listener with none of them configured,
// a request without credentials is admitted as admin, so that a newcomer's `meterline dev`
// works as it did.
//
// The Authenticator derives a Principal per request and puts it in the request's context;
// handlers ask From(ctx), or the Require* checks, which return fault errors (401
// unauthenticated, 403 forbidden) that internal/platform/web answers in the API's JSON error
// shape. A context without a principal is refused: a handler reached around the
// Authenticator serves nothing.
//
// It is an adapter: HTTP and JWT live here, and no domain package imports it.
package auth

import (
	"context"
	"slices"
	"strings"

	"github.com/meterline/meterline/internal/fault"
)

// Scopes of Abacus (a UAA token's) and Meterline's own.
const (
	// ScopeWrite writes usage of any resource of the granted organizations.
	ScopeWrite = "abacus.usage.write"
	// ScopeRead reads usage (documents and reports) of any resource of the granted
	// organizations.
	ScopeRead = "abacus.usage.read"
	// ScopeAdmin is provisioning (plans, prices, mappings, accounts, resource types, API
	// keys) and every organization.
	ScopeAdmin = "meterline.admin"
)

// ResourceScope is the scope of one resource: abacus.usage.<resource>.read or .write.
func ResourceScope(resource, op string) string { return "abacus.usage." + resource + "." + op }

// Method says how a principal was authenticated.
type Method string

const (
	MethodJWT       Method = "jwt"
	MethodAPIKey    Method = "api_key"
	MethodAdminKey  Method = "admin_key"
	MethodAnonymous Method = "anonymous"
)

// Principal is who a request acts for and what it may do: its scopes, and the organizations
// it may read and write (its token's claims, its account's organizations, an API key's).
// Write implies nothing about read.
type Principal struct {
	Subject string
	Method  Method
	Scopes  []string
	// Organizations are the organizations granted; AllOrganizations grants every one.
	Organizations    []string
	AllOrganizations bool
	// Admin is the admin scope: provisioning, and every organization.
	Admin bool

	orgs              map[string]bool
	readAll, writeAll bool
	read, write       map[string]bool // resource ids of resource-scoped scopes
}

// NewPrincipal returns the principal of subject with scopes in orgs ("*" among them grants
// every organization). Scopes other than Abacus' and Meterline's are ignored (a token may carry
// openid and the like).
func NewPrincipal(subject string, m Method, scopes, orgs []string) *Principal {
	p := &Principal{Subject: subject, Method: m, Scopes: scopes, orgs: map[string]bool{},
		read: map[string]bool{}, write: map[string]bool{}}
	for _, s := range scopes {
		switch s {
		case ScopeAdmin:
			p.Admin = true
		case ScopeRead:
			p.readAll = true
		case ScopeWrite:
			p.writeAll = true
		default:
			if res, op, ok := resourceOf(s); ok && op == "read" {
				p.read[res] = true
			} else if ok {
				p.write[res] = true
			}
		}
	}
	for _, o := range orgs {
		if o == "*" {
			p.AllOrganizations = true
		} else if !p.orgs[o] {
			p.orgs[o] = true
			p.Organizations = append(p.Organizations, o)
		}
	}
	p.AllOrganizations = p.AllOrganizations || p.Admin
	return p
}

// resourceOf splits a resource-scoped scope abacus.usage.<resource>.<read|write>. A resource
// id may itself hold dots.
func resourceOf(s string) (resource, op string, ok bool) {
	rest, ok := strings.CutPrefix(s, "abacus.usage.")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", "", false
	}
	resource, op = rest[:i], rest[i+1:]
	return resource, op, op == "read" || op == "write"
}

// KnownScope reports whether s is a scope this package gives a meaning to.
func KnownScope(s string) bool {
	if s == ScopeAdmin || s == ScopeRead || s == ScopeWrite {
		return true
	}
	_, _, ok := resourceOf(s)
	return ok
}

// Grants reports whether org is one of the principal's organizations.
func (p *Principal) Grants(org string) bool { return p.AllOrganizations || p.orgs[org] }

// ReadsAny reports whether the principal may read usage of any resource at all.
func (p *Principal) ReadsAny() bool { return p.Admin || p.readAll || len(p.read) > 0 }

// CanRead reports whether the principal may read usage of resource in org.
func (p *Principal) CanRead(org, resource string) bool {
	return p.Grants(org) && (p.Admin || p.readAll || p.read[resource])
}

// CanReadAll reports whether the principal may read usage of every resource of org (an
// organization-wide report).
func (p *Principal) CanReadAll(org string) bool { return p.Grants(org) && (p.Admin || p.readAll) }

// CanWrite reports whether the principal may write usage of resource in org.
func (p *Principal) CanWrite(org, resource string) bool {
	return p.Grants(org) && (p.Admin || p.writeAll || p.write[resource])
}

// OnlyResources returns the resources a resource-scoped reader may read, sorted; nil when it
// reads every resource.
func (p *Principal) OnlyResources() []string {
	if p.Admin || p.readAll {
		return nil
	}
	out := make([]string, 0, len(p.read))
	for r := range p.read {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the principal of a request's context, nil when it has none.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// errNoPrincipal answers a request that did not pass the Authenticator.
var errNoPrincipal = fault.Unauthenticated("no credentials")

// check returns the context's principal, or the error of one without.
func check(ctx context.Context, ok func(*Principal) bool, denied func() error) error {
	p := From(ctx)
	switch {
	case p == nil:
		return errNoPrincipal
	case ok(p):
		return nil
	default:
		return denied()
	}
}

// RequireAdmin refuses a principal without the admin scope.
func RequireAdmin(ctx context.Context) error {
	return check(ctx, func(p *Principal) bool { return p.Admin }, func() error {
		return fault.Forbidden("this operation needs the scope %s", ScopeAdmin)
	})
}

// RequireWrite refuses a principal that may not write usage of resource in org.
func RequireWrite(ctx context.Context, org, resource string) error {
	return check(ctx, func(p *Principal) bool { return p.CanWrite(org, resource) }, func() error {
		if !From(ctx).Grants(org) {
			return fault.Forbidden("this token may not write usage of organization %s", org)
		}
		return fault.Forbidden("this token may not write usage of resource %s in organization %s (it needs %s or %s)",
			resource, org, ScopeWrite, ResourceScope(resource, "write"))
	})
}

// RequireReadAll refuses a principal that may not read every resource of org, as an
// organization-wide report shows them all.
func RequireReadAll(ctx context.Context, org string) error {
	return check(ctx, func(p *Principal) bool { return p.CanReadAll(org) }, func() error {
		return forbiddenRead(From(ctx), org, "an organization-wide report needs "+ScopeRead)
	})
}

// RequireReadSome refuses a principal that may read no resource of org.
func RequireReadSome(ctx context.Context, org string) error {
	return check(ctx, func(p *Principal) bool { return p.Grants(org) && p.ReadsAny() }, func() error {
		return forbiddenRead(From(ctx), org, "")
	})
}

// RequireRead refuses a principal that may not read usage of resource in org.
func RequireRead(ctx context.Context, org, resource string) error {
	return check(ctx, func(p *Principal) bool { return p.CanRead(org, resource) }, func() error {
		return forbiddenRead(From(ctx), org, "this usage is of resource "+resource)
	})
}

// RequireReadsAny refuses a principal that may read nothing at all.
func RequireReadsAny(ctx context.Context) error {
	return check(ctx, func(p *Principal) bool { return p.ReadsAny() }, func() error {
		return fault.Forbidden("this token may not read usage (it needs %s or abacus.usage.<resource_id>.read)", ScopeRead)
	})
}

// Readable reports whether the context's principal may read usage of resource in org.
func Readable(ctx context.Context, org, resource string) bool {
	p := From(ctx)
	return p != nil && p.CanRead(org, resource)
}

// ReadableOrganization reports whether the context's principal may read something of org:
// org is granted and it has a read scope.
func ReadableOrganization(ctx context.Context, org string) bool {
	p := From(ctx)
	return p != nil && p.Grants(org) && p.ReadsAny()
}

func forbiddenRead(p *Principal, org, why string) error {
	if !p.Grants(org) || !p.ReadsAny() {
		return fault.Forbidden("this token may not read organization %s", org)
	}
	if rs := p.OnlyResources(); rs != nil {
		return fault.Forbidden("this token reads only resources %s of organization %s; %s", strings.Join(rs, ", "), org, why)
	}
	return fault.Forbidden("this token may not read organization %s", org)
}
