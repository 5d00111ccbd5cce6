package chartcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeService is the part of a docker-compose service that is checked.
type composeService struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Command     []string       `yaml:"command"`
	Environment map[string]any `yaml:"environment"`
}

// checkCompose reports the problems of a docker-compose file: it must parse (anchors and
// merge keys resolved), every image must be pinned, every meterline service must run a
// command of the binary with settings it knows, and no METERLINE_* variable anywhere may be
// one the binary does not know.
func checkCompose(data []byte, b binary) []string {
	var file struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return []string{"docker-compose.yml does not parse: " + err.Error()}
	}
	if len(file.Services) == 0 {
		return []string{"docker-compose.yml has no services"}
	}
	var problems []string
	meterlines := 0
	for _, name := range sortedKeys(file.Services) {
		s := file.Services[name]
		where := "service " + name
		if why := pinned(s.Image); why != "" {
			problems = append(problems, fmt.Sprintf("%s: image %q: %s", where, s.Image, why))
		}
		// The meterline image is the one built from deploy/docker/Dockerfile.
		ours := s.Build != nil || strings.HasPrefix(s.Image, "meterline:") || strings.Contains(s.Image, "/meterline:")
		var env []envVar
		for _, k := range sortedKeys(s.Environment) {
			if !ours && !strings.HasPrefix(k, "METERLINE_") {
				continue // Kafka's and ClickHouse's own settings
			}
			v := fmt.Sprint(s.Environment[k])
			// docker-compose has no secret references in environment: its credentials are the
			// local ones the file's comments say to change, so they are not required to be
			// from a Secret here; only the names are checked.
			env = append(env, envVar{Name: k, Value: &v, SecretRef: "compose"})
		}
		problems = append(problems, checkEnv(where, env, b)...)
		if !ours {
			continue
		}
		meterlines++
		if len(s.Command) == 0 || !slices.Contains(b.commands, s.Command[0]) {
			problems = append(problems, fmt.Sprintf("%s: command %v is not a command of the binary %v", where, s.Command, b.commands))
		}
		if len(s.Command) > 0 && s.Command[0] == "poller" && (len(s.Command) < 2 || !slices.Contains(b.providers, s.Command[1])) {
			problems = append(problems, fmt.Sprintf("%s: command %v: not a provider of the binary %v", where, s.Command, b.providers))
		}
	}
	if meterlines == 0 {
		problems = append(problems, "no service runs the meterline image")
	}
	return problems
}

func TestComposeFile(t *testing.T) {
	b := meterline(t)
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkCompose(data, b) {
		t.Error(p)
	}
	// Each mistake, made in a copy of the file, is found.
	for _, tc := range []struct{ name, from, to, found string }{
		{"latest image", "apache/kafka:4.1.1", "apache/kafka:latest", "tag latest"},
		{"untagged image", "clickhouse/clickhouse-server:25.8", "clickhouse/clickhouse-server", "no tag"},
		{"unknown setting", "METERLINE_TOPIC_REPLICATION:", "METERLINE_TOPIC_REPLICAS:", "METERLINE_TOPIC_REPLICAS is not a setting"},
		{"unknown setting in a merged map", "METERLINE_PROCESSOR_ID:", "METERLINE_PROCESSOR_NAME:", "METERLINE_PROCESSOR_NAME is not a setting"},
		{"unknown command", `command: ["sink"]`, `command: ["sinks"]`, "is not a command of the binary"},
		{"no YAML", "services:", "services: [", "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(data), tc.from) {
				t.Fatalf("docker-compose.yml has no %q to change", tc.from)
			}
			mutated := strings.Replace(string(data), tc.from, tc.to, 1)
			problems := checkCompose([]byte(mutated), b)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.found) }) {
				t.Errorf("problems %q: none contains %q", problems, tc.found)
			}
		})
	}
}
