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
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/meterline/meterline/internal/cli"
)

// plansCommand is `meterline plans apply [-f] FILE|DIR`: it sends every plan, mapping, resource
// type and account document of a file or a folder to a running Meterline's provisioning API, in an order
// that satisfies their references (plans, then resource types and mappings, then accounts).
// Applying the same folder twice changes nothing. It prints a line per document: created (the
// API answered 201), unchanged (it was stored already as it is), updated (an account or a
// resource type that changed) or failed (with the API's problems, such as a 409 for a plan id
// or mapping slot that holds another document: plans and mappings are immutable); on a
// terminal a progress bar below the lines counts the documents sent. A document is recognized by where it is:
//
//	metering/*.json, rating/*.json, pricing/*.json  plans of that kind (one or an array)
//	mappings/*.json                                 Meterline mappings (one or an array)
//	mappings-{metering,rating,pricing}.json         Abacus' mapping files: resource type -> plan -> plan id
//	accounts/*.json                                 accounts (one or an array)
//
// Any other JSON file is a plan whose kind its shape tells (measures: metering; prices:
// pricing), or an error.
func plansCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	const usage = "usage: meterline plans apply [-f] FILE|DIR [--url http://127.0.0.1:8080] [--token TOKEN]"
	if len(args) == 0 || (args[0] != "apply" && args[0] != "-h" && args[0] != "--help") {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if args[0] != "apply" {
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fs := flag.NewFlagSet("meterline plans apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("f", "", "a JSON file or a folder of JSON documents (or give it as the argument)")
	url := fs.String("url", cli.BaseURL(getenv), "base URL of Meterline's provisioning API (default from $METERLINE_HTTP_ADDR)")
	token := fs.String("token", "", "bearer credential with the meterline.admin scope: an admin key, API key or JWT (default: $METERLINE_TOKEN; none for a loopback Meterline without auth)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usage+"\n\nSends plans, mappings, resource types and accounts to the provisioning API, idempotently:\neach is reported created, updated, unchanged or failed.\n\nFlags:")
		fs.PrintDefaults()
	}
	if cli.HelpAsked(args[1:]) {
		fs.SetOutput(stdout)
	}
	// The path may come before or after the flags.
	rest := args[1:]
	var paths []string
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		paths, rest = append(paths, fs.Arg(0)), fs.Args()[1:]
	}
	if *dir != "" {
		paths = append(paths, *dir)
	}
	if len(paths) != 1 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if *token == "" {
		*token = getenv("METERLINE_TOKEN") // read here, so that --help never prints a credential
	}
	docs, err := collectDocuments(paths[0])
	if err != nil {
		fmt.Fprintf(stderr, "meterline plans apply: %v\n", err)
		return 1
	}
	client := cli.NewClient(*url, *token)
	counts := map[string]int{}
	bar := cli.NewProgress(stdout, cli.IsTerminal(stdout, getenv), "applying", len(docs))
	for _, d := range docs {
		result, detail := apply(client, d)
		counts[result]++
		line := fmt.Sprintf("%-10s %s", result, d.what)
		if detail != "" {
			line += " (" + d.source + "): " + detail
		}
		bar.Step(line)
	}
	bar.Finish()
	fmt.Fprintf(stdout, "%d documents: %d created, %d updated, %d unchanged, %d failed\n", len(docs),
		counts["created"], counts["updated"], counts["unchanged"], counts["failed"])
	if counts["failed"] > 0 {
		return 1
	}
	return 0
}

// apply sends one document and says what became of it. 201 is created. A 200 for a plan or a
// mapping, which are immutable, means the same document was stored already: unchanged. An
// account or a resource type may change, so it is read first: unchanged when the API's answer
// to the write is what was stored before, updated otherwise.
func apply(c *cli.Client, d document) (result, detail string) {
	var before []byte
	if d.get != "" {
		if status, body, err := c.Do(http.MethodGet, d.get, nil); err == nil && status == http.StatusOK {
			before = body
		}
	}
	status, body, err := c.Do(http.MethodPost, d.path, d.body)
	switch {
	case err != nil:
		return "failed", err.Error()
	case status == http.StatusCreated:
		return "created", ""
	case status == http.StatusOK && (d.get == "" || d.same(before, body)):
		return "unchanged", ""
	case status == http.StatusOK:
		return "updated", ""
	default:
		return "failed", cli.ErrorOf(status, body).Error()
	}
}

// same reports whether before, what the document's GET answered before it was sent (nil when
// it was not stored), is what the API answered to the write: the same JSON value (keys in any
// order), or the same text as the field d.text of the answer.
func (d document) same(before, answer []byte) bool {
	if before == nil {
		return false
	}
	if d.text != "" {
		var fields map[string]any
		return json.Unmarshal(answer, &fields) == nil && fields[d.text] == string(bytes.TrimSpace(before))
	}
	var x, y any
	return json.Unmarshal(before, &x) == nil && json.Unmarshal(answer, &y) == nil && reflect.DeepEqual(x, y)
}

type document struct {
	order  int // plans 0, resource types 1, mappings 2, accounts 3
	what   string
	source string
	path   string
	body   []byte
	get    string // where the stored version is read, for documents that may change (else empty)
	// text names the field of the document that get answers as plain text (a resource type's
	// GET answers the type only, as Abacus' does); empty when get answers the JSON document.
	text string
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
			out = append(out, document{1, "resource type " + rt, path, "/v1/provisioning/resources/" + rt + "/type", rtype, "/v1/provisioning/resources/" + rt + "/type", "resource_type"})
			for _, plan := range slices.Sorted(maps.Keys(abacus[rt])) {
				m, _ := json.Marshal(map[string]any{"kind": kind, "resource_type": rt, "plan_id": plan, "plan": abacus[rt][plan], "effective_from": 0})
				out = append(out, document{2, fmt.Sprintf("%s mapping %s/%s -> %s", kind, rt, plan, abacus[rt][plan]), path, "/v1/provisioning/mappings", m, "", ""})
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
			out = append(out, document{3, "account " + probe.AccountID, path, "/v1/accounts", it, "/v1/accounts/" + url.PathEscape(probe.AccountID), ""})
			continue
		case folder == "mappings":
			out = append(out, document{2, "mapping", path, "/v1/provisioning/mappings", it, "", ""})
			continue
		case folder == "metering" || folder == "rating" || folder == "pricing":
		case probe.Measures != nil:
			kind = "metering"
		case len(probe.Metrics) > 0 && probe.Metrics[0].Prices != nil:
			kind = "pricing"
		default:
			return nil, errors.New("cannot tell the kind of this document: put it under metering/, rating/, pricing/, mappings/ or accounts/")
		}
		out = append(out, document{0, kind + " plan " + probe.PlanID, path, "/v1/" + kind + "/plans", it, "", ""})
	}
	return out, nil
}
