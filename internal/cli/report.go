package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// HelpAsked reports whether args ask for a command's help (-h, -help, --h, --help) before
// any argument that ends the flags.
func HelpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--h", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// Exit codes of the command line, as the services' (internal/app.Main): 0 success, 1 a failure
// (the API refused or could not be reached), 2 bad usage.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	reportUsage = `Usage: meterline report --org ID [--time T] [--format table|json|csv] [--level organization|space|consumer]
                        [--window second|minute|hour|day|month] [--url URL] [--token TOKEN]

Prints an organization's usage and charges as of a time, read from the reporting API (Abacus'
usage summary report, GET /v1/metering/organizations/ID/aggregated/usage[/T]).

  table  one row per resource, plan and metric of the window's current period: quantity,
         summary and charge, and the organization's total charge (--level space or consumer
         gives the rows of each space or consumer instead)
  json   the report exactly as the API served it
  csv    the table's rows, with a header row

A refused request (400 bad time, 401, 403, 404 unknown organization) prints the API's
problems and exits 1; bad flags exit 2.

Flags:
`
)

// levels are the report's window levels, in the order of its windows arrays.
var levels = []string{"second", "minute", "hour", "day", "month"}

// Report is `meterline report`: it returns the exit code.
func Report(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meterline report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	org := fs.String("org", "", "organization id (required)")
	at := fs.String("time", "", "the report's time: epoch milliseconds or RFC 3339 (default: now, by the server's clock)")
	format := fs.String("format", "table", "table, json or csv")
	level := fs.String("level", "organization", "rows of the table and CSV: organization, space or consumer")
	window := fs.String("window", "month", "the window whose current period the table and CSV show: "+strings.Join(levels, ", "))
	base := fs.String("url", BaseURL(getenv), "base URL of Meterline's reporting API (default from $METERLINE_HTTP_ADDR)")
	token := fs.String("token", "", "bearer credential that may read the organization: a JWT, API key or admin key (default: $METERLINE_TOKEN)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reportUsage)
		fs.PrintDefaults()
	}
	if HelpAsked(args) {
		fs.SetOutput(stdout) // asked for, the help is the output; a mistake's goes to stderr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if *token == "" {
		*token = getenv("METERLINE_TOKEN") // read here, so that --help never prints a credential
	}
	var bad []string
	if *org == "" {
		bad = append(bad, "--org is required")
	}
	if !slices.Contains([]string{"table", "json", "csv"}, *format) {
		bad = append(bad, fmt.Sprintf("--format %q: not table, json or csv", *format))
	}
	if !slices.Contains([]string{"organization", "space", "consumer"}, *level) {
		bad = append(bad, fmt.Sprintf("--level %q: not organization, space or consumer", *level))
	}
	if !slices.Contains(levels, *window) {
		bad = append(bad, fmt.Sprintf("--window %q: not one of %s", *window, strings.Join(levels, ", ")))
	}
	if fs.NArg() > 0 {
		bad = append(bad, "unexpected arguments: "+strings.Join(fs.Args(), " "))
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(stderr, "meterline report:", b)
		}
		fmt.Fprintln(stderr, "`meterline report --help` lists the flags.")
		return ExitUsage
	}
	// The time goes to the API as given: it reads epoch milliseconds and RFC 3339 alike, and
	// names the problem of anything else (a 400), so the command line and the API never
	// disagree about which times are valid.
	path := "/v1/metering/organizations/" + url.PathEscape(*org) + "/aggregated/usage"
	if *at != "" {
		path += "/" + url.PathEscape(*at)
	}
	status, body, err := NewClient(*base, *token).Do(http.MethodGet, path, nil)
	if err == nil && status != http.StatusOK {
		err = ErrorOf(status, body)
	}
	if err != nil {
		fmt.Fprintln(stderr, "meterline report:", err)
		return ExitFailed
	}
	if *format == "json" {
		stdout.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			fmt.Fprintln(stdout)
		}
		return ExitOK
	}
	var rep OrgReport
	if err := json.Unmarshal(body, &rep); err != nil {
		fmt.Fprintln(stderr, "meterline report: the API's answer is not a report:", err)
		return ExitFailed
	}
	view := View{Level: *level, Window: slices.Index(levels, *window)}
	if *format == "csv" {
		err = view.CSV(stdout, &rep)
	} else {
		err = view.Table(stdout, &rep)
	}
	if err != nil {
		fmt.Fprintln(stderr, "meterline report:", err)
		return ExitFailed
	}
	return ExitOK
}

// OrgReport is the part of the organization report the table shows. Numbers are kept as the
// API wrote them (already rounded, decimal-exact): the command line never computes a charge.
type OrgReport struct {
	OrganizationID string           `json:"organization_id"`
	End            int64            `json:"end"`
	Processed      int64            `json:"processed"`
	Windows        [][]*Charge      `json:"windows"`
	Resources      []ReportResource `json:"resources"`
	Spaces         []struct {
		SpaceID   string           `json:"space_id"`
		Resources []ReportResource `json:"resources"`
		Consumers []struct {
			ConsumerID string           `json:"consumer_id"`
			Resources  []ReportResource `json:"resources"`
		} `json:"consumers"`
	} `json:"spaces"`
}

// Charge is a window's charge.
type Charge struct {
	Charge json.Number `json:"charge"`
}

// ReportResource is a resource of a node of the report, by plan.
type ReportResource struct {
	ResourceID string `json:"resource_id"`
	Plans      []struct {
		PlanID          string `json:"plan_id"`
		AggregatedUsage []struct {
			Metric  string `json:"metric"`
			Windows [][]*struct {
				Quantity json.RawMessage `json:"quantity"`
				Summary  json.Number     `json:"summary"`
				Charge   json.Number     `json:"charge"`
			} `json:"windows"`
		} `json:"aggregated_usage"`
	} `json:"plans"`
}

// View is how a report is turned into rows: which level of the hierarchy and which window
// (an index into levels); a row shows that window's current period (its first slot).
type View struct {
	Level  string
	Window int
}

type row struct{ space, consumer, resource, plan, metric, quantity, summary, charge string }

// rows returns the view's rows: a metric with no usage in the period has none.
func (v View) rows(rep *OrgReport) []row {
	var out []row
	add := func(space, consumer string, resources []ReportResource) {
		for _, r := range resources {
			for _, p := range r.Plans {
				for _, m := range p.AggregatedUsage {
					if v.Window >= len(m.Windows) || len(m.Windows[v.Window]) == 0 || m.Windows[v.Window][0] == nil {
						continue
					}
					w := m.Windows[v.Window][0]
					out = append(out, row{space, consumer, r.ResourceID, p.PlanID, m.Metric, quantityText(w.Quantity), w.Summary.String(), w.Charge.String()})
				}
			}
		}
	}
	switch v.Level {
	case "organization":
		add("", "", rep.Resources)
	case "space":
		for _, s := range rep.Spaces {
			add(s.SpaceID, "", s.Resources)
		}
	case "consumer":
		for _, s := range rep.Spaces {
			for _, c := range s.Consumers {
				add(s.SpaceID, c.ConsumerID, c.Resources)
			}
		}
	}
	return out
}

// quantityText is a quantity as the API wrote it: a number, or for a time-based metric its
// state object in compact JSON.
func quantityText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

func (v View) header() []string {
	h := []string{"resource", "plan", "metric", "quantity", "summary", "charge"}
	switch v.Level {
	case "space":
		h = append([]string{"space"}, h...)
	case "consumer":
		h = append([]string{"space", "consumer"}, h...)
	}
	return h
}

func (v View) fields(r row) []string {
	f := []string{r.resource, r.plan, r.metric, r.quantity, r.summary, r.charge}
	switch v.Level {
	case "space":
		f = append([]string{r.space}, f...)
	case "consumer":
		f = append([]string{r.space, r.consumer}, f...)
	}
	return f
}

// total is the organization's charge in the view's window's current period, as served.
func (v View) total(rep *OrgReport) string {
	if v.Window < len(rep.Windows) && len(rep.Windows[v.Window]) > 0 && rep.Windows[v.Window][0] != nil {
		return rep.Windows[v.Window][0].Charge.String()
	}
	return "0"
}

// Table writes the report as an aligned table: a title line, the rows and the organization's
// total charge.
func (v View) Table(w io.Writer, rep *OrgReport) error {
	fmt.Fprintf(w, "organization %s as of %s (%d), processed by %s, this %s\n\n", rep.OrganizationID,
		time.UnixMilli(rep.End).UTC().Format(time.RFC3339Nano), rep.End, time.UnixMilli(rep.Processed).UTC().Format(time.RFC3339Nano), levels[v.Window])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	h := v.header()
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(h, "\t")))
	for _, r := range v.rows(rep) {
		fmt.Fprintln(tw, strings.Join(v.fields(r), "\t"))
	}
	total := make([]string, len(h))
	total[0], total[len(h)-1] = "TOTAL", v.total(rep)
	fmt.Fprintln(tw, strings.Join(total, "\t"))
	return tw.Flush()
}

// CSV writes the view's rows with a header row; the organization and the window are columns,
// so that rows of several reports can be concatenated.
func (v View) CSV(w io.Writer, rep *OrgReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(append([]string{"organization_id", "time", "window"}, v.header()...)); err != nil {
		return err
	}
	for _, r := range v.rows(rep) {
		rec := append([]string{rep.OrganizationID, fmt.Sprint(rep.End), levels[v.Window]}, v.fields(r)...)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
