package chartcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository's root, from this package's folder (deploy/helm/chartcheck).
var repoRoot = filepath.Join("..", "..", "..")

// binary is what the meterline binary says about itself.
type binary struct {
	// path is the binary's file.
	path string
	// settings are the environment variable names of every setting (METERLINE_*).
	settings map[string]bool
	// commands are the binary's subcommands; providers are those of `poller <provider>`.
	commands, providers []string
}

var (
	binOnce sync.Once
	bin     binary
	binErr  error
)

var (
	settingLine  = regexp.MustCompile(`(?m)^\s+--[a-z0-9-]+\s+(METERLINE_[A-Z0-9_]+)$`)
	commandLine  = regexp.MustCompile(`(?m)^  ([a-z]+) +\S`)
	providerList = regexp.MustCompile(`poller <provider>: [^(]*\(([a-z, ]+)\)`)
)

// meterline builds the meterline binary (or takes METERLINE_BIN) once and reads its --help:
// the settings are what the configuration package knows, not a list kept here.
func meterline(t *testing.T) binary {
	t.Helper()
	binOnce.Do(func() {
		path := os.Getenv("METERLINE_BIN")
		if path == "" {
			dir, err := os.MkdirTemp("", "chartcheck")
			if err != nil {
				binErr = err
				return
			}
			path = filepath.Join(dir, "meterline")
			cmd := exec.Command("go", "build", "-o", path, "./services/meterline")
			cmd.Dir = repoRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = &buildError{err: err, out: string(out)}
				return
			}
		}
		bin, binErr = describe(path)
	})
	if binErr != nil {
		t.Fatalf("meterline binary: %v", binErr)
	}
	return bin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// describe runs `meterline --help` and `meterline collector --help`.
func describe(path string) (binary, error) {
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := exec.Command(path, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	top, err := run("--help")
	if err != nil {
		return binary{}, err
	}
	help, err := run("collector", "--help")
	if err != nil {
		return binary{}, err
	}
	b := binary{path: path, settings: map[string]bool{}}
	for _, m := range settingLine.FindAllStringSubmatch(help, -1) {
		b.settings[m[1]] = true
	}
	_, cmds, _ := strings.Cut(top, "Commands:\n")
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	for _, m := range commandLine.FindAllStringSubmatch(cmds, -1) {
		b.commands = append(b.commands, m[1])
	}
	if m := providerList.FindStringSubmatch(top); m != nil {
		for p := range strings.SplitSeq(m[1], ",") {
			b.providers = append(b.providers, strings.TrimSpace(p))
		}
	}
	return b, nil
}

func TestBinaryDescribesItself(t *testing.T) {
	b := meterline(t)
	// A few settings and commands every deployment uses: if these are not found, the parsing
	// of --help is broken and every check below would pass vacuously.
	for _, s := range []string{"METERLINE_HTTP_ADDR", "METERLINE_KAFKA_BROKERS", "METERLINE_CLICKHOUSE_PASSWORD", "METERLINE_AUTH_ADMIN_KEYS", "METERLINE_NOVA_AUTH_URL"} {
		if !b.settings[s] {
			t.Errorf("setting %s not found in `meterline collector --help`", s)
		}
	}
	if len(b.settings) < 50 {
		t.Errorf("only %d settings found in --help", len(b.settings))
	}
	for _, c := range []string{"collector", "sink", "processor", "reporting", "provisioning", "migrate", "poller"} {
		if !slices.Contains(b.commands, c) {
			t.Errorf("command %s not found in `meterline --help` (found %v)", c, b.commands)
		}
	}
	if !slices.Contains(b.providers, "nova") || !slices.Contains(b.providers, "cf") {
		t.Errorf("providers %v: nova and cf expected", b.providers)
	}
}
