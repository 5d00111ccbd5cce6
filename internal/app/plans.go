package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// plansCommand is `meterline plans apply -f DIR`: it sends every plan, mapping, resource type
// and account document of a folder to a running Meterline's provisioning API, in an order
// that satisfies their references (plans, then resource types and mappings, then accounts).
// Applying the same folder twice changes nothing. It prints a line per document: created (the
// API answered 201), applied (200: it was stored already, or for an account or resource type
// it was updated) or failed (with the API's answer, such as a 409 for a plan id or mapping slot
// that holds another document: plans and mappings are immutable). A document is recognized by where it is:
//
//	metering/*.json, rating/*.json, pricing/*.json  plans of that kind (one or an array)
//	mappings/*.json                                 Meterline mappings (one or an array)
//	mappings-{metering,rating,pricing}.json         Abacus' mapping files: resource type -> plan -> plan id
//	accounts/*.json                                 accounts (one or an array)
//
// Any other JSON file is a plan whose kind its shape tells (measures: metering; prices:
// pricing), or an error.
func plansCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "apply" {
		fmt.Fprintln(stderr, "usage: meterline plans apply -f DIR [--url http://127.0.0.1:8080]")
		return 2
	}
	fs := flag.NewFlagSet("meterline plans apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("f", "", "folder of JSON documents")
	url := fs.String("url", "", "base URL of Meterline's provisioning API (default: http://$METERLINE_HTTP_ADDR)")
	token := fs.String("token", getenv("METERLINE_TOKEN"), "bearer credential with the meterline.admin scope: an admin key, API key or JWT (default: $METERLINE_TOKEN; none for a loopback Meterline without auth)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: meterline plans apply -f DIR [--url http://127.0.0.1:8080]")
		return 2
	}
	if *url == "" {
		addr := getenv("METERLINE_HTTP_ADDR")
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		*url = "http://" + addr
	}
	docs, err := collectDocuments(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "meterline plans apply: %v\n", err)
		return 1
	}
	client := &http.Client{Timeout: 30 * time.Second}
	failed := 0
	for _, d := range docs {
		// 201 means the API created the document; 200 that it was there already, the same
		// (plans, mappings, unchanged accounts and resource types) or now changed (accounts and
		// resource types, which may change), so it says "applied" rather than "unchanged".
		status, body, err := send(client, strings.TrimSuffix(*url, "/")+d.path, *token, d.body)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(stdout, "%-10s %s %s: %v\n", "failed", d.what, d.source, err)
		case status == http.StatusCreated:
			fmt.Fprintf(stdout, "%-10s %s\n", "created", d.what)
		case status == http.StatusOK:
			fmt.Fprintf(stdout, "%-10s %s\n", "applied", d.what)
		default:
			failed++
			fmt.Fprintf(stdout, "%-10s %s (%s): %d %s\n", "failed", d.what, d.source, status, strings.TrimSpace(string(body)))
		}
	}
	fmt.Fprintf(stdout, "%d documents, %d failed\n", len(docs), failed)
	if failed > 0 {
		return 1
	}
	return 0
}

type document struct {
	order  int // plans 0, resource types 1, mappings 2, accounts 3
	what   string
	source string
	path   string
	body   []byte
}

func send(c *http.Client, url, token string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// collectDocuments reads every JSON document under dir, in applying order.
func collectDocuments(dir string) ([]document, error) {
	var docs []document
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found, err := documentsOf(path, filepath.Base(filepath.Dir(path)), raw)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		docs = append(docs, found...)
		return nil
	})
	slices.SortStableFunc(docs, func(a, b document) int { return a.order - b.order })
	return docs, err
}

func documentsOf(path, folder string, raw []byte) ([]document, error) {
	base := filepath.Base(path)
	if kind, ok := strings.CutPrefix(strings.TrimSuffix(base, ".json"), "mappings-"); ok {
		var abacus map[string]map[string]string
		if err := json.Unmarshal(raw, &abacus); err != nil {
			return nil, fmt.Errorf("not an Abacus mapping file: %w", err)
		}
		var out []document
		for _, rt := range slices.Sorted(maps.Keys(abacus)) {
			rtype, _ := json.Marshal(map[string]string{"resource_id": rt, "resource_type": rt})
			out = append(out, document{1, "resource type " + rt, path, "/v1/provisioning/resources/" + rt + "/type", rtype})
			for _, plan := range slices.Sorted(maps.Keys(abacus[rt])) {
				m, _ := json.Marshal(map[string]any{"kind": kind, "resource_type": rt, "plan_id": plan, "plan": abacus[rt][plan], "effective_from": 0})
				out = append(out, document{2, fmt.Sprintf("%s mapping %s/%s -> %s", kind, rt, plan, abacus[rt][plan]), path, "/v1/provisioning/mappings", m})
			}
		}
		return out, nil
	}
	var items []json.RawMessage
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
	} else {
		items = []json.RawMessage{raw}
	}
	var out []document
	for _, it := range items {
		var probe struct {
			PlanID    string            `json:"plan_id"`
			AccountID string            `json:"account_id"`
			Measures  []json.RawMessage `json:"measures"`
			Metrics   []struct {
				Prices json.RawMessage `json:"prices"`
			} `json:"metrics"`
		}
		if err := json.Unmarshal(it, &probe); err != nil {
			return nil, err
		}
		kind := folder
		switch {
		case folder == "accounts":
			out = append(out, document{3, "account " + probe.AccountID, path, "/v1/accounts", it})
			continue
		case folder == "mappings":
			out = append(out, document{2, "mapping", path, "/v1/provisioning/mappings", it})
			continue
		case folder == "metering" || folder == "rating" || folder == "pricing":
		case probe.Measures != nil:
			kind = "metering"
		case len(probe.Metrics) > 0 && probe.Metrics[0].Prices != nil:
			kind = "pricing"
		default:
			return nil, errors.New("cannot tell the kind of this document: put it under metering/, rating/, pricing/, mappings/ or accounts/")
		}
		out = append(out, document{0, kind + " plan " + probe.PlanID, path, "/v1/" + kind + "/plans", it})
	}
	return out, nil
}
