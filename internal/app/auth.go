package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/platform/config"
)

// prepareAuth completes the authentication settings of a command that serves APIs, before it
// starts: it reads METERLINE_AUTH_ADMIN_KEYS_FILE into the admin keys and tells whether
// requests without credentials are admitted (anonymous), which is only when nothing is
// configured and the listener is a loopback address. With nothing configured on any other
// address its error names the missing setting, and the command does not start.
func prepareAuth(cfg *config.Config) (anonymous bool, err error) {
	a := &cfg.Auth
	if a.AdminKeysFile != "" {
		b, err := os.ReadFile(a.AdminKeysFile)
		if err != nil {
			return false, fmt.Errorf("invalid configuration: METERLINE_AUTH_ADMIN_KEYS_FILE: %w", err)
		}
		var keys []string
		for _, line := range strings.Split(string(b), "\n") {
			if k := strings.TrimSpace(line); k != "" && !strings.HasPrefix(k, "#") {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return false, errors.New("invalid configuration: METERLINE_AUTH_ADMIN_KEYS_FILE: holds no key")
		}
		if err := config.CheckAdminKeys(keys); err != nil {
			return false, fmt.Errorf("invalid configuration: METERLINE_AUTH_ADMIN_KEYS_FILE: %w", err)
		}
		a.AdminKeys = append(a.AdminKeys, keys...)
	}
	if a.Configured() {
		return false, nil
	}
	if !loopback(cfg.HTTPAddr) {
		return false, fmt.Errorf("invalid configuration: METERLINE_AUTH_ISSUER or METERLINE_AUTH_ADMIN_KEYS: one is required "+
			"when METERLINE_HTTP_ADDR (%s) is not a loopback address: without them anyone who reaches it could read and write every organization's usage (docs/security.md)", cfg.HTTPAddr)
	}
	return true, nil
}

// loopback reports whether the host of addr is a loopback address (127.0.0.0/8, ::1, localhost).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newAuthenticator returns the authenticator of a process's APIs over cat, waiting for the
// issuer's discovery document like for any other dependency.
func newAuthenticator(ctx context.Context, s *stack, cat auth.Catalog) (*auth.Authenticator, error) {
	cfg := s.e.cfg.Auth
	ac := auth.Config{Auth: cfg, Anonymous: s.e.anonymous, Clock: s.e.clock}
	log := s.e.log.Named("auth")
	var a *auth.Authenticator
	err := retry(ctx, s.e.log, "auth issuer "+cfg.Issuer, func(ctx context.Context) error {
		var err error
		a, err = auth.New(ctx, ac, cat, log)
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.e.anonymous {
		log.Warn("no METERLINE_AUTH_ISSUER or METERLINE_AUTH_ADMIN_KEYS: requests without credentials are admitted as admin, on this loopback listener only",
			zap.String("addr", s.e.cfg.HTTPAddr))
	}
	return a, nil
}
