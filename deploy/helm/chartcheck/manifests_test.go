package chartcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// object is one parsed Kubernetes manifest.
type object struct {
	Kind, APIVersion, Name string
	// Raw is the document; Doc its decoded form.
	Raw []byte
	Doc map[string]any
}

// parseManifests splits a multi-document YAML stream and parses each document; every one
// must be an object with apiVersion, kind and metadata.name.
func parseManifests(stream string) ([]object, error) {
	dec := yaml.NewDecoder(strings.NewReader(stream))
	var objs []object
	for i := 0; ; i++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		var doc map[string]any
		if err := node.Decode(&doc); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if doc == nil {
			continue // an empty document (a template rendering nothing)
		}
		var raw bytes.Buffer
		enc := yaml.NewEncoder(&raw)
		if err := enc.Encode(&node); err != nil {
			return nil, err
		}
		o := object{Raw: raw.Bytes(), Doc: doc}
		o.Kind, _ = doc["kind"].(string)
		o.APIVersion, _ = doc["apiVersion"].(string)
		o.Name, _ = dig(doc, "metadata", "name").(string)
		if o.Kind == "" || o.APIVersion == "" || o.Name == "" {
			return nil, fmt.Errorf("document %d has no kind, apiVersion or metadata.name:\n%s", i+1, raw.String())
		}
		objs = append(objs, o)
	}
}

// dig returns the value at path in nested maps, or nil.
func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// credential matches the settings that are secrets, by name: they must come from a Secret.
var credential = regexp.MustCompile(`(PASSWORD|TOKEN|SECRET|ADMIN_KEYS)$`)

// pinned reports why image is not pinned to a version ("" when it is): a digest, or a tag
// other than latest.
func pinned(image string) string {
	if image == "" {
		return "no image"
	}
	if _, digest, ok := strings.Cut(image, "@"); ok {
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			return "digest " + digest + " is not sha256:<64 hex>"
		}
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	switch {
	case !ok || tag == "":
		return "no tag (latest implied)"
	case tag == "latest":
		return "tag latest"
	}
	return ""
}

// envVar is one container environment variable.
type envVar struct {
	Name  string
	Value *string
	// SecretRef is "secret/key" when the value is from a Secret; FieldRef the field path.
	SecretRef, FieldRef string
}

// checkEnv reports the problems of a container's environment: a name the binary does not
// know, a credential given inline, a duplicate.
func checkEnv(where string, env []envVar, b binary) []string {
	var problems []string
	seen := map[string]bool{}
	for _, e := range env {
		switch {
		case !b.settings[e.Name]:
			problems = append(problems, fmt.Sprintf("%s: env %s is not a setting of the binary (`meterline --help`)", where, e.Name))
		case credential.MatchString(e.Name) && e.SecretRef == "":
			problems = append(problems, fmt.Sprintf("%s: env %s is a credential given inline, not from a Secret", where, e.Name))
		case seen[e.Name]:
			problems = append(problems, fmt.Sprintf("%s: env %s given twice", where, e.Name))
		}
		seen[e.Name] = true
	}
	return problems
}

// hostPort returns the port of a host:port, or "".
func hostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// containsAll reports whether every key of sub has the same value in m.
func containsAll(m, sub map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
