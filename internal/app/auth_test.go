package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meterline/meterline/internal/platform/config"
)

// TestPrepareAuth: without an issuer or an admin key, only a loopback listener admits
// requests without credentials; elsewhere the command does not start, and says which setting
// is missing. An admin keys file adds its keys.
func TestPrepareAuth(t *testing.T) {
	f := func(addr string, change func(*config.Auth), anonymous bool, wantErr string) {
		t.Helper()
		cfg := config.Default()
		cfg.HTTPAddr = addr
		if change != nil {
			change(&cfg.Auth)
		}
		got, err := prepareAuth(&cfg)
		if got != anonymous || (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("%s: anonymous %v, error %v; want %v, %q", addr, got, err, anonymous, wantErr)
		}
	}
	f("127.0.0.1:8080", nil, true, "")
	f("[::1]:8080", nil, true, "")
	f("localhost:8080", nil, true, "")
	f("0.0.0.0:8080", nil, false, "METERLINE_AUTH_ISSUER or METERLINE_AUTH_ADMIN_KEYS")
	f(":8080", nil, false, "METERLINE_AUTH_ISSUER or METERLINE_AUTH_ADMIN_KEYS")
	f("10.0.0.5:8080", nil, false, "is not a loopback address")
	f("0.0.0.0:8080", func(a *config.Auth) { a.AdminKeys = []string{"0123456789abcdef"} }, false, "")
	f("127.0.0.1:8080", func(a *config.Auth) { a.Issuer = "https://uaa.example/oauth/token" }, false, "")

	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, []byte("# admin keys\nfirst-key-0123456789\n\n second-key-0123456789 \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.HTTPAddr, cfg.Auth.AdminKeysFile = "0.0.0.0:8080", file
	if anon, err := prepareAuth(&cfg); anon || err != nil || !slices.Equal(cfg.Auth.AdminKeys, []string{"first-key-0123456789", "second-key-0123456789"}) {
		t.Errorf("keys file: %v, %v, keys %q", anon, err, cfg.Auth.AdminKeys)
	}
	if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f("0.0.0.0:8080", func(a *config.Auth) { a.AdminKeysFile = file }, false, "shorter than 16")
	f("0.0.0.0:8080", func(a *config.Auth) { a.AdminKeysFile = filepath.Join(dir, "missing") }, false, "METERLINE_AUTH_ADMIN_KEYS_FILE")
}
