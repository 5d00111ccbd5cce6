package openapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/meterline/meterline/schemas"
)

// TestDocument: the embedded files merge into a valid OpenAPI 3.1 document, whose reused JSON
// Schemas (schemas/jsonschema) are inlined with their $defs, and which reads back as YAML.
func TestDocument(t *testing.T) {
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Title != "Meterline" {
		t.Errorf("openapi %q, title %q", doc.OpenAPI, doc.Info.Title)
	}
	for _, name := range []string{"CoreResourceUsage", "CoreResourceUsage_id", "CoreOrganizationReport", "CoreResourceInstanceReport", "NovaTenantUsage"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("no component schema %s", name)
		}
	}
	if doc.Paths.Find("/v1/metering/collected/usage") == nil || doc.Paths.Find("/openstack/compute/v2.1/os-simple-tenant-usage") == nil {
		t.Error("a core or Nova path is missing")
	}
	y, err := YAML()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(y); err != nil {
		t.Errorf("the YAML form does not load: %v", err)
	}
	if !strings.Contains(string(y), "\nopenapi: 3.1.0\n") || !strings.Contains(string(y), " \"200\":\n") || strings.HasPrefix(string(y), "{") {
		t.Errorf("the YAML form is not in block style, with status codes as strings: %.300s", y)
	}
}

const head = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"

// TestMergeErrors: a path or a component in two files, a file of another OpenAPI version, a
// member only core.yaml may have, and a reference to nothing are errors naming the files.
func TestMergeErrors(t *testing.T) {
	core := head + "paths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\ncomponents:\n  schemas:\n    CoreX: {type: string}\n"
	f := func(name string, files map[string]string, want ...string) {
		t.Helper()
		fsys := fstest.MapFS{}
		for n, s := range files {
			fsys[n] = &fstest.MapFile{Data: []byte(s)}
		}
		_, err := Merge(fsys, schemas.JSONSchema)
		if err == nil {
			t.Errorf("%s: merged", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", name, err, w)
			}
		}
	}
	if _, err := Merge(fstest.MapFS{"core.yaml": {Data: []byte(core)}}, schemas.JSONSchema); err != nil {
		t.Fatalf("a valid file: %v", err)
	}
	f("path twice", map[string]string{"core.yaml": core, "b.yaml": head + "paths:\n  /a: {}\n"}, "path /a", "b.yaml", "core.yaml")
	f("component twice", map[string]string{"core.yaml": core, "b.yaml": head + "components:\n  schemas:\n    CoreX: {type: integer}\n"},
		"components/schemas/CoreX", "b.yaml", "core.yaml")
	f("version", map[string]string{"core.yaml": strings.Replace(core, "3.1.0", "3.0.3", 1)}, "core.yaml", "3.0.3")
	f("servers elsewhere", map[string]string{"core.yaml": core, "b.yaml": head + "servers: [{url: /}]\n"}, "b.yaml", "servers")
	f("no core", map[string]string{"b.yaml": head}, "core.yaml")
	f("dangling ref", map[string]string{"core.yaml": core + "    CoreY: {$ref: '#/components/schemas/Nowhere'}\n"}, "Nowhere")
	f("missing json schema", map[string]string{"core.yaml": core + "    CoreZ: {$ref: ../jsonschema/none.schema.json}\n"}, "core.yaml", "CoreZ")
}

// TestValidator: answers that do not match the document are refused: a body of the wrong
// shape, a status not described, a route not described; one that matches passes.
func TestValidator(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	json := http.Header{"Content-Type": {"application/json"}}
	f := func(method, target string, status int, body string, ok bool) {
		t.Helper()
		err := v.Response(httptest.NewRequest(method, target, nil), status, json, []byte(body))
		if (err == nil) != ok {
			t.Errorf("%s %s %d %s: %v, want ok %v", method, target, status, body, err, ok)
		}
	}
	f("GET", "/v1/provisioning/api_keys/k1", 200, `{"id":"k1","organizations":["o"],"scopes":["abacus.usage.read"],"created":1}`, true)
	f("GET", "/v1/provisioning/api_keys/k1", 200, `{"id":"k1","organizations":["o"],"scopes":["abacus.usage.read"],"created":1,"hash":"x"}`, false)
	f("GET", "/v1/provisioning/api_keys/k1", 404, `{"error":"API key k1 not found","kind":"not_found"}`, true)
	f("GET", "/v1/provisioning/api_keys/k1", 404, `{"error":"API key k1 not found","kind":"missing"}`, false)
	f("GET", "/v1/provisioning/api_keys/k1", 418, `{"error":"teapot","kind":"internal"}`, false)
	f("GET", "/v1/metering/organizations/o/aggregated/usage", 200, `{"organization_id":5}`, false)
	f("GET", "/openstack/compute/v2.1/os-simple-tenant-usage/t", 400, `{"badRequest":{"code":400,"message":"Invalid"}}`, true)
	f("GET", "/openstack/compute/v2.1/os-simple-tenant-usage/t", 400, `{"error":"Invalid","kind":"invalid"}`, false)
	f("GET", "/nowhere", 200, `{}`, false)
}
