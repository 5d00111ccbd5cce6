// Test support: handlers behind a fixed principal. `make lint`'s dead-code check passes over
// this file, since only tests reach it.

package auth

import (
	"context"
	"net/http"
)

// As serves h with p as the principal of every request, as if the Authenticator had found it.
func As(p *Principal, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// AsAdmin serves h as the admin (an anonymous request on a loopback listener is one).
func AsAdmin(h http.Handler) http.Handler {
	return As(NewPrincipal("test-admin", MethodAnonymous, []string{ScopeAdmin}, nil), h)
}

// AsAdminContext returns ctx carrying an admin principal.
func AsAdminContext(ctx context.Context) context.Context {
	return WithPrincipal(ctx, NewPrincipal("test-admin", MethodAnonymous, []string{ScopeAdmin}, nil))
}
