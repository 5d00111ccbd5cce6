// Package openapi merges the partial OpenAPI 3.1 documents of this folder, one per area
// (core.yaml, nova.yaml, focus.yaml, ...), into the one document Meterline serves at
// /openapi.json, and validates it with kin-openapi. It is apart from package schemas, which
// domain packages import, so that they do not depend on net/http through kin-openapi.
package openapi

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/meterline/meterline/schemas"
)

// Files holds the partial OpenAPI 3.1 documents, one per area, by file name. Each has
// openapi, info, paths and components; the names of its components start with its area's
// name, so that the files never collide. Document merges them.
//
//go:embed *.yaml
var Files embed.FS

// openAPIVersion is the OpenAPI version of every file and of the merged document.
const openAPIVersion = "3.1.0"

// openAPIMain is the file whose info, servers, security and tags the merged document takes
// (the other files' info only names their area).
const openAPIMain = "core.yaml"

// componentKinds are the sections of components that the files may fill.
var componentKinds = []string{"schemas", "responses", "parameters", "examples", "requestBodies",
	"headers", "securitySchemes", "links", "callbacks", "pathItems"}

var jsonOnce = sync.OnceValues(func() ([]byte, error) { return Merge(Files, schemas.JSONSchema) })

// JSON returns the merged OpenAPI document of every route Meterline serves, as JSON: the
// Files merged (see Merge) and validated. It is built once.
func JSON() ([]byte, error) { return jsonOnce() }

// Load loads an OpenAPI 3.1 document and validates it (references resolved, schemas
// well formed, examples valid against their schemas).
func Load(raw []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return doc, nil
}

// Merge merges the *.yaml files of files into one OpenAPI document (JSON) and validates it. Each file must be an OpenAPI 3.1.0 document; a path, or a component of the
// same kind and name, given in two files is an error naming both. A schema component that is
// only {$ref: ../jsonschema/<file>} is replaced by that JSON Schema, read from jsonSchemas
// (schemas.JSONSchema: jsonschema/<file>), its $defs becoming components <name>_<def>, so
// that one schema serves both the collector's validation and the document.
func Merge(files, jsonSchemas fs.FS) ([]byte, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("openapi: no *.yaml")
	}
	merged := map[string]any{"openapi": openAPIVersion}
	paths := map[string]any{}
	components := map[string]any{}
	pathFile := map[string]string{}
	componentFile := map[string]string{}
	for _, name := range names {
		file := path.Base(name)
		raw, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("openapi %s: %w", file, err)
		}
		if v, _ := doc["openapi"].(string); v != openAPIVersion {
			return nil, fmt.Errorf("openapi %s: openapi is %q, not %s", file, doc["openapi"], openAPIVersion)
		}
		info, _ := doc["info"].(map[string]any)
		if info["title"] == nil || info["version"] == nil {
			return nil, fmt.Errorf("openapi %s: info needs a title and a version", file)
		}
		for key := range doc {
			switch key {
			case "openapi", "info", "paths", "components":
			case "servers", "security", "tags", "externalDocs":
				if file != openAPIMain {
					return nil, fmt.Errorf("openapi %s: %s belongs in %s (the merged document takes it from there)", file, key, openAPIMain)
				}
			default:
				// x-… members hold the file's YAML anchors (shared pieces of its operations):
				// they are the file's own and are not merged.
				if !strings.HasPrefix(key, "x-") {
					return nil, fmt.Errorf("openapi %s: unexpected top-level member %q", file, key)
				}
			}
		}
		if file == openAPIMain {
			for _, key := range []string{"info", "servers", "security", "tags", "externalDocs"} {
				if v, ok := doc[key]; ok {
					merged[key] = v
				}
			}
		}
		ps, _ := doc["paths"].(map[string]any)
		for p, item := range ps {
			if other, dup := pathFile[p]; dup {
				return nil, fmt.Errorf("openapi: path %s is in both %s and %s", p, other, file)
			}
			pathFile[p], paths[p] = file, item
		}
		cs, _ := doc["components"].(map[string]any)
		for kind, v := range cs {
			if !slices.Contains(componentKinds, kind) {
				return nil, fmt.Errorf("openapi %s: unknown components section %q", file, kind)
			}
			section, _ := components[kind].(map[string]any)
			if section == nil {
				section = map[string]any{}
				components[kind] = section
			}
			entries, _ := v.(map[string]any)
			for cname, c := range entries {
				key := kind + "/" + cname
				if other, dup := componentFile[key]; dup {
					return nil, fmt.Errorf("openapi: components/%s is in both %s and %s", key, other, file)
				}
				componentFile[key], section[cname] = file, c
			}
		}
	}
	if merged["info"] == nil {
		return nil, fmt.Errorf("openapi: %s is missing (the merged document's info)", openAPIMain)
	}
	if err := inlineJSONSchemas(jsonSchemas, components, componentFile); err != nil {
		return nil, err
	}
	merged["paths"], merged["components"] = paths, components
	out, err := json.MarshalIndent(merged, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := Load(out); err != nil {
		return nil, err
	}
	return out, nil
}

// inlineJSONSchemas replaces each schema component {$ref: ../jsonschema/<file>} by the file.
func inlineJSONSchemas(fsys fs.FS, components map[string]any, componentFile map[string]string) error {
	schemas, _ := components["schemas"].(map[string]any)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range schemas {
			if !yield(k) {
				return
			}
		}
	}) {
		c, _ := schemas[name].(map[string]any)
		ref, _ := c["$ref"].(string)
		if len(c) != 1 || !strings.HasSuffix(ref, ".json") || strings.HasPrefix(ref, "#") {
			continue
		}
		file := path.Clean(path.Join("openapi", ref)) // this folder's place beside jsonschema/
		raw, err := fs.ReadFile(fsys, file)
		if err != nil {
			return fmt.Errorf("openapi %s: components/schemas/%s: %w", componentFile["schemas/"+name], name, err)
		}
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("openapi: %s: %w", file, err)
		}
		delete(s, "$schema")
		delete(s, "$id")
		defs, _ := s["$defs"].(map[string]any)
		delete(s, "$defs")
		rename := map[string]string{}
		for d := range defs {
			rename["#/$defs/"+d] = "#/components/schemas/" + name + "_" + d
		}
		for d, def := range defs {
			hoisted := name + "_" + d
			if other, dup := componentFile["schemas/"+hoisted]; dup {
				return fmt.Errorf("openapi: components/schemas/%s (from %s) is also in %s", hoisted, file, other)
			}
			componentFile["schemas/"+hoisted] = file
			schemas[hoisted] = rewriteRefs(def, rename)
		}
		schemas[name] = rewriteRefs(s, rename)
	}
	return nil
}

// rewriteRefs returns v with every $ref found in rename replaced. It also drops
// additionalItems, a draft-07 keyword that JSON Schema 2020-12 (hence OpenAPI 3.1) no longer
// has and that means nothing beside an items schema, as the report schemas have it.
func rewriteRefs(v any, rename map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["items"].(map[string]any); ok {
			delete(x, "additionalItems")
		}
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				if to, ok := rename[s]; ok {
					x[k] = to
				}
				continue
			}
			x[k] = rewriteRefs(e, rename)
		}
	case []any:
		for i, e := range x {
			x[i] = rewriteRefs(e, rename)
		}
	}
	return v
}

var yamlOnce = sync.OnceValues(func() ([]byte, error) {
	raw, err := JSON()
	if err != nil {
		return nil, err
	}
	// JSON is YAML: decoded into a node, the document keeps its members' order; its JSON
	// styles (flow, double-quoted) are dropped so that it is written in block style.
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		return nil, err
	}
	plain(&node)
	return yaml.Marshal(&node)
})

// plain clears the styles of n and its children (the encoder still quotes a string that
// would read as another type).
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}

// YAML returns the document of JSON as YAML.
func YAML() ([]byte, error) { return yamlOnce() }
