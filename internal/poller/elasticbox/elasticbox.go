// Package elasticbox is the poller of ElasticBox's reporting API (seed 003): for each
// configured organization it reads the cost report of each closed UTC day once
// (GET /services/organizations/{organization}/report/{day}/{day}) and turns each service
// instance's day into one usage document of resource elasticbox, plan standard: the day's
// cost, scaled to US dollars, and the seconds the instance was up that day, computed from its
// state_history. When the JSON report cannot be read, the CSV report of the same day is read
// instead (cost only: the CSV has no state history); when it can, the CSV is read too, for the
// sizes the JSON does not have. Each instance's details of the day (profile, sizes, state
// history: package ebdetails) are a metadata record beside the documents, never a measure.
// docs/pollers.md tells the mapping and the guarantees.
//
// A day [D, D+1) is read once the clock has passed D+1 plus the poll lag; every organization
// of the day is read before anything is published, and the documents of the day, their
// metadata records and the state that moves past it are committed together (poller.Run), so a
// day counts once.
package elasticbox

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/metadata"
	"github.com/meterline/meterline/internal/metadata/ebdetails"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/usage"
)

// Resource is the resource id of the documents; Plan their plan id.
const (
	Resource = "elasticbox"
	Plan     = "standard"
)

// The measures of a document: the day's cost in US dollars (the provider's integer divided by
// the cost scale) and the seconds of the day the instance was up.
const (
	Cost      = "cost"
	UpSeconds = "up_seconds"
)

// DefaultCostScale says the provider's integers are cents: 100 of them make a dollar.
const DefaultCostScale = 100

// DayLayout is the format of the report's start and end.
const DayLayout = "2006-01-02"

// TimeLayout is the format of ElasticBox's times (created, state_history), UTC.
const TimeLayout = "2006-01-02 15:04:05.999999"

// Config configures a Provider.
type Config struct {
	// URL is the API's base URL (https://elasticbox.example); the report paths follow it.
	URL string
	// Organizations are the organizations read, each every day.
	Organizations []string
	// CostScale is how many of the provider's cost units make a US dollar.
	CostScale int64
	// Lag is how long a closed day waits before it is read.
	Lag time.Duration
	// Client makes the requests (with the ElasticBox-Token of Token).
	Client *poller.Client
}

// Source is the poller source of the API at host: the source of its events and the key of
// its state.
func Source(host string) string { return usage.PollerSource("elasticbox") + "/" + host }

// HostOf returns the host of rawURL, for Source; rawURL itself when it has none.
func HostOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Host
	}
	return rawURL
}

// Token is the static ElasticBox-Token of every request; a 401 cannot be mended by asking
// again, so Reauthenticate fails and the poller reports the token refused.
type Token string

var _ poller.Auth = Token("")

// Authorize sets the ElasticBox-Token and ElasticBox-Release headers.
func (t Token) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("ElasticBox-Token", string(t))
	req.Header.Set("ElasticBox-Release", "4.0")
	return nil
}

// Reauthenticate fails: a static token has no renewal.
func (t Token) Reauthenticate(context.Context, *http.Request) error {
	return errors.New("the ElasticBox token was refused (401); set a valid METERLINE_ELASTICBOX_TOKEN")
}

// Provider reads the daily cost reports of the organizations; it is a poller.Provider.
type Provider struct {
	cfg   Config
	scale decimal.Decimal
	// partial holds the organizations of day already read when a later one failed, so that
	// the next Poll of the same day goes on from the failed organization: faults spread over
	// a day's many requests (429s, 5xx) then cannot keep it unreadable. Nothing is published
	// before every organization of the day is read.
	partialDay string
	partial    map[string]orgDay
	// sizing holds the JSON items of an organization of partialDay whose CSV (read for the
	// sizes) failed, so that the next Poll asks for the CSV alone.
	sizing map[string][]item
}

type orgDay struct {
	items   []item
	notices []poller.Notice
}

var _ poller.Provider = (*Provider)(nil)

// New returns the provider of cfg.
func New(cfg Config) *Provider {
	if cfg.CostScale <= 0 {
		cfg.CostScale = DefaultCostScale
	}
	cfg.Organizations = slices.Clone(cfg.Organizations)
	slices.Sort(cfg.Organizations)
	cfg.Organizations = slices.Compact(cfg.Organizations)
	return &Provider{cfg: cfg, scale: decimal.NewFromInt(cfg.CostScale)}
}

// state is what the poller keeps between days.
type state struct {
	// Next is the next day to read, YYYY-MM-DD.
	Next string `json:"next"`
}

// Initial starts at the first day that begins at or after start.
func (p *Provider) Initial(start time.Time) ([]byte, error) {
	start = start.UTC()
	first := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	if first.Before(start) {
		first = first.AddDate(0, 0, 1)
	}
	return json.Marshal(state{Next: first.Format(DayLayout)})
}

// Poll reads the next day once it is closed and its lag has passed.
func (p *Provider) Poll(ctx context.Context, raw []byte, now time.Time) (poller.Batch, error) {
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return poller.Batch{}, fmt.Errorf("elasticbox poller state %q: %w", raw, err)
	}
	day, err := time.ParseInLocation(DayLayout, st.Next, time.UTC)
	if err != nil {
		return poller.Batch{}, fmt.Errorf("elasticbox poller state %q: %w", raw, err)
	}
	end := day.AddDate(0, 0, 1)
	if due := end.Add(p.cfg.Lag); now.Before(due) {
		return poller.Batch{Idle: true, Next: due, Through: day}, nil
	}
	var (
		docs    []usage.Document
		meta    []metadata.Record
		notices []poller.Notice
	)
	if p.partialDay != st.Next {
		p.partialDay, p.partial, p.sizing = st.Next, map[string]orgDay{}, map[string][]item{}
	}
	for _, org := range p.cfg.Organizations {
		od, ok := p.partial[org]
		if !ok {
			items, ns, err := p.read(ctx, org, day)
			if err != nil {
				return poller.Batch{}, err
			}
			od = orgDay{items: items, notices: ns}
			p.partial[org] = od
		}
		notices = append(notices, od.notices...)
		ds, ms := p.build(org, day, slices.Clone(od.items))
		docs, meta = append(docs, ds...), append(meta, ms...)
	}
	out, err := json.Marshal(state{Next: end.Format(DayLayout)})
	if err != nil {
		return poller.Batch{}, err
	}
	return poller.Batch{Docs: docs, Metadata: meta, State: out, Through: end, Notices: notices}, nil
}

// item is one service instance's day, from the JSON or the CSV report.
type item struct {
	service, providerID string
	cost                decimal.Decimal
	up                  *decimal.Decimal // seconds; nil when unknown (the CSV)
	// details are what the report tells of the instance beside its cost, published as its
	// metadata record of the day for the ElasticBox report view (package ebdetails).
	details ebdetails.Details
}

// read reads org's report of day: JSON, else the CSV.
func (p *Provider) read(ctx context.Context, org string, day time.Time) ([]item, []poller.Notice, error) {
	d := day.Format(DayLayout)
	base := strings.TrimSuffix(p.cfg.URL, "/") + "/services/organizations/" + url.PathEscape(org)
	cu := base + "/csv/" + d + "/" + d
	if items, ok := p.sizing[org]; ok {
		return p.sized(ctx, org, cu, day, items)
	}
	ju := base + "/report/" + d + "/" + d
	ans, err := p.cfg.Client.Get(ctx, ju, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return nil, nil, err
	}
	items, jerr := parseJSON(ans.Body, org, day)
	if jerr == nil {
		return p.sized(ctx, org, cu, day, items)
	}
	cans, err := p.cfg.Client.Get(ctx, cu, http.Header{"Accept": {"text/csv"}})
	if err != nil {
		return nil, nil, err
	}
	items, cerr := parseCSV(cans.Body, day)
	if cerr != nil {
		return nil, nil, &poller.DecodeError{Request: "GET " + ju + " and GET " + cu, Payload: ans.Body,
			Err: fmt.Errorf("JSON: %v; CSV: %w", jerr, cerr)}
	}
	return items, []poller.Notice{{Kind: "csv_fallback", Detail: fmt.Sprintf(
		"organization %s day %s: the JSON report could not be read (%v); the CSV report was used (cost only, no up-time)", org, d, jerr)}}, nil
}

// sized adds to the JSON items of org's day the sizes, units and event types of the CSV
// report of the same day (the JSON report has no sizes; the ElasticBox view shows them). A
// CSV that fails like a fault of the moment (429, 5xx, timeout, transport) fails the read, to
// be tried again without reading the JSON again; one the provider refuses (another 4xx) or
// that does not decode leaves the items without sizes, with a notice csv_sizes.
func (p *Provider) sized(ctx context.Context, org, cu string, day time.Time, items []item) ([]item, []poller.Notice, error) {
	skip := func(why error) ([]item, []poller.Notice, error) {
		delete(p.sizing, org)
		return items, []poller.Notice{{Kind: "csv_sizes", Detail: fmt.Sprintf(
			"organization %s day %s: the CSV report could not be read for the sizes (%v); the details carry none", org, day.Format(DayLayout), why)}}, nil
	}
	ans, err := p.cfg.Client.Get(ctx, cu, http.Header{"Accept": {"text/csv"}})
	if err != nil {
		switch poller.KindOf(err) {
		case poller.KindClient, poller.KindUndecodable:
			return skip(err)
		}
		p.sizing[org] = items
		return nil, nil, err
	}
	rows, err := parseCSV(ans.Body, day)
	if err != nil {
		return skip(err)
	}
	byID := make(map[string]*ebdetails.Details, len(rows))
	for i := range rows {
		byID[rows[i].service] = &rows[i].details
	}
	out := slices.Clone(items)
	for i := range out {
		c, ok := byID[out[i].service]
		if !ok {
			continue
		}
		d := &out[i].details
		d.CPU, d.Memory, d.Disk, d.CPUUnit, d.MemoryUnit, d.DiskUnit, d.EventType = c.CPU, c.Memory, c.Disk, c.CPUUnit, c.MemoryUnit, c.DiskUnit, c.EventType
	}
	delete(p.sizing, org)
	return out, nil, nil
}

// build makes the documents of org's day, and the metadata records of every instance read
// that day (one per instance, the last item of it; an instance without usage that day too),
// valid from the day's start.
func (p *Provider) build(org string, day time.Time, items []item) ([]usage.Document, []metadata.Record) {
	slices.SortStableFunc(items, func(a, b item) int { return strings.Compare(a.service, b.service) })
	d := day.Format(DayLayout)
	var (
		docs []usage.Document
		meta []metadata.Record
	)
	for i, it := range items {
		if i+1 == len(items) || items[i+1].service != it.service {
			attrs := it.details.Attributes()
			attrs[ebdetails.Organization] = org
			meta = append(meta, metadata.Record{Provider: ebdetails.Provider, Kind: ebdetails.Kind, ID: it.service,
				ValidFromMs: day.UnixMilli(), Attributes: attrs})
		}
		// Exact: the configured scale divides 10^QuantityScale (config.ElasticBox validates it),
		// where Div would have carried the quotient to 16 places only.
		ms := []usage.Measure{{Measure: Cost, Quantity: it.cost.DivRound(p.scale, usage.QuantityScale)}}
		if it.up != nil {
			ms = append(ms, usage.Measure{Measure: UpSeconds, Quantity: *it.up})
		}
		if it.cost.IsZero() && (it.up == nil || it.up.IsZero()) {
			continue // nothing to count: an instance down all day, or created after it
		}
		space := it.providerID
		if space == "" {
			space = org
		}
		docs = append(docs, usage.Document{
			Start: day.UnixMilli(), End: day.AddDate(0, 0, 1).UnixMilli() - 1,
			OrganizationID: org, SpaceID: space, ConsumerID: it.service,
			ResourceID: Resource, PlanID: Plan, ResourceInstanceID: it.service,
			DedupID:       fmt.Sprintf("eb:%s:%s:%s", org, it.service, d),
			MeasuredUsage: ms,
		})
	}
	return docs, meta
}

// Report is the JSON report's shape (the parts the poller reads).
type Report struct {
	Cost []struct {
		Cost    []json.Number `json:"cost"`
		Service struct {
			ID           string `json:"id"`
			ProviderID   string `json:"provider_id"`
			Organization string `json:"organization"`
			Type         string `json:"type"`
			Operation    string `json:"operation"`
			Created      string `json:"created"`
			Deleted      string `json:"deleted"`
			Profile      struct {
				Flavor    string       `json:"flavor"`
				Location  string       `json:"location"`
				Cloud     string       `json:"cloud"`
				Schema    string       `json:"schema"`
				Instances *json.Number `json:"instances"`
			} `json:"profile"`
			StateHistory []struct {
				Started   string  `json:"started"`
				State     string  `json:"state"`
				Completed *string `json:"completed"`
			} `json:"state_history"`
		} `json:"service"`
	} `json:"cost"`
}

// parseJSON reads a JSON report of the one day day: every entry has one cost, an integer at
// least 0, and a state history whose up-time within the day is summed.
func parseJSON(body []byte, org string, day time.Time) ([]item, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if r.Cost == nil {
		return nil, errors.New("no cost list")
	}
	from, to := day, day.AddDate(0, 0, 1)
	var items []item
	var errs []error
	seen := map[string]bool{}
	for i, c := range r.Cost {
		s := c.Service
		if s.ID == "" {
			errs = append(errs, fmt.Errorf("cost[%d]: a service without id", i))
			continue
		}
		if s.Organization != "" && s.Organization != org {
			errs = append(errs, fmt.Errorf("cost[%d]: service %s of organization %q in the report of %q", i, s.ID, s.Organization, org))
		}
		if seen[s.ID] {
			errs = append(errs, fmt.Errorf("cost[%d]: service %s listed twice", i, s.ID))
		}
		seen[s.ID] = true
		if len(c.Cost) != 1 {
			errs = append(errs, fmt.Errorf("cost[%d]: service %s has %d costs for one day", i, s.ID, len(c.Cost)))
			continue
		}
		cost, err := decimal.NewFromString(c.Cost[0].String())
		if err != nil || cost.IsNegative() || !cost.IsInteger() {
			errs = append(errs, fmt.Errorf("cost[%d]: service %s cost %q is not an integer at least 0", i, s.ID, c.Cost[0]))
			continue
		}
		up := decimal.Zero
		det, derrs := jsonDetails(i, s.Type, s.Operation, s.Created, s.Deleted, s.Profile.Flavor, s.Profile.Location, s.Profile.Cloud,
			s.Profile.Schema, s.Profile.Instances)
		errs = append(errs, derrs...)
		for j, h := range s.StateHistory {
			started, err := parseTime(h.Started)
			if err != nil {
				errs = append(errs, fmt.Errorf("cost[%d].service.state_history[%d].started: %w", i, j, err))
				continue
			}
			if h.State != "up" && h.State != "down" {
				errs = append(errs, fmt.Errorf("cost[%d].service.state_history[%d].state %q is neither up nor down", i, j, h.State))
				continue
			}
			end := to
			if h.Completed != nil && *h.Completed != "" {
				c, err := parseTime(*h.Completed)
				if err != nil {
					errs = append(errs, fmt.Errorf("cost[%d].service.state_history[%d].completed: %w", i, j, err))
					continue
				}
				end = c
				det.States = append(det.States, ebdetails.State{State: h.State, Started: started, Completed: &c})
			} else {
				det.States = append(det.States, ebdetails.State{State: h.State, Started: started})
			}
			if h.State != "up" {
				continue
			}
			if a, b := max(started.UnixMicro(), from.UnixMicro()), min(end.UnixMicro(), to.UnixMicro()); b > a {
				up = up.Add(decimal.New(b-a, -6))
			}
		}
		det.States = overlapping(det.States, from, to)
		items = append(items, item{service: s.ID, providerID: s.ProviderID, cost: cost, up: &up, details: det})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return items, nil
}

// parseCSV reads a CSV report, by its header's names (rows may be shorter than the header,
// as ElasticBox's own are), keeping the rows of day.
func parseCSV(body []byte, day time.Time) ([]item, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("the CSV has no header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, name := range []string{"SERVICE_ID", "DAY (in Date Range)", "COST (cents of $)"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("the CSV header has no %s column", name)
		}
	}
	get := func(row []string, name string) string {
		i, ok := col[name]
		if !ok || i >= len(row) {
			return ""
		}
		return strings.TrimSpace(row[i])
	}
	want := day.Format(DayLayout)
	var items []item
	var errs []error
	seen := map[string]bool{}
	for line := 2; ; line++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		id, d := get(row, "SERVICE_ID"), get(row, "DAY (in Date Range)")
		if _, err := time.Parse(DayLayout, d); err != nil || id == "" {
			errs = append(errs, fmt.Errorf("line %d: service %q day %q", line, id, d))
			continue
		}
		if d != want {
			continue
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("line %d: service %s listed twice", line, id))
		}
		seen[id] = true
		cost, err := decimal.NewFromString(get(row, "COST (cents of $)"))
		if err != nil || cost.IsNegative() || !cost.IsInteger() {
			errs = append(errs, fmt.Errorf("line %d: service %s cost %q is not an integer at least 0", line, id, get(row, "COST (cents of $)")))
			continue
		}
		det, derrs := csvDetails(line, func(name string) string { return get(row, name) })
		errs = append(errs, derrs...)
		items = append(items, item{service: id, providerID: get(row, "PROVIDER_ID"), cost: cost, details: det})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return items, nil
}

// parseTime reads ElasticBox's times: "2015-11-12 16:47:02.399111", UTC (a 'T' and a zone
// are accepted too).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{TimeLayout, "2006-01-02T15:04:05.999999", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

// jsonDetails reads the details of the i-th entry of a JSON report; a created, deleted or
// instances that cannot be read is an error (the report is then refused, as for a bad cost).
func jsonDetails(i int, typ, op, created, deleted, flavor, location, cloud, schema string, instances *json.Number) (ebdetails.Details, []error) {
	d := ebdetails.Details{Size: flavor, Region: location, Cloud: cloud, ProfileSchema: schema, Type: typ, Operation: op,
		ProviderType: ebdetails.ProviderTypeOf(schema, cloud)}
	var errs []error
	for _, t := range []struct {
		field, v string
		dst      **time.Time
	}{{"created", created, &d.Created}, {"deleted", deleted, &d.Deleted}} {
		if t.v == "" {
			continue
		}
		at, err := parseTime(t.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("cost[%d].service.%s: %w", i, t.field, err))
			continue
		}
		*t.dst = &at
	}
	if instances != nil {
		n, err := decimal.NewFromString(instances.String())
		if err != nil || n.IsNegative() || !n.IsInteger() {
			errs = append(errs, fmt.Errorf("cost[%d].service.profile.instances %q is not an integer at least 0", i, instances.String()))
		} else {
			d.Instances = &n
		}
	}
	return d, errs
}

// csvDetails reads the details of a CSV row (get returns a column's value, "" when the row
// has none): the columns a row leaves out are unknown; a number or time that cannot be read
// is an error.
func csvDetails(line int, get func(string) string) (ebdetails.Details, []error) {
	d := ebdetails.Details{Size: get("SIZE"), Region: get("REGION"), ProviderType: get("PROVIDER_TYPE"), ProfileSchema: get("PROFILE_SCHEMA"),
		Type: get("TYPE"), EventType: get("EVENT_TYPE"), CPUUnit: get("CPU UNIT"), MemoryUnit: get("MEMORY UNIT"), DiskUnit: get("DISK UNIT")}
	var errs []error
	if c := get("CREATED (UTC)"); c != "" {
		at, err := parseTime(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: CREATED (UTC): %w", line, err))
		} else {
			d.Created = &at
		}
	}
	for _, n := range []struct {
		col string
		dst **decimal.Decimal
	}{{"INSTANCES", &d.Instances}, {"SIZE.CPU", &d.CPU}, {"SIZE.MEMORY", &d.Memory}, {"SIZE.DISK", &d.Disk}} {
		v := get(n.col)
		if v == "" {
			continue
		}
		q, err := decimal.NewFromString(v)
		if err != nil || q.IsNegative() || len(v) > usage.MaxNumberLength {
			errs = append(errs, fmt.Errorf("line %d: %s %q is not a number at least 0", line, n.col, v))
			continue
		}
		*n.dst = &q
	}
	return d, errs
}

// overlapping keeps the states that overlap [from, to) (a state without completion goes on):
// a day's document carries the part of the history that tells its day.
func overlapping(states []ebdetails.State, from, to time.Time) []ebdetails.State {
	var out []ebdetails.State
	for _, s := range states {
		if s.Started.Before(to) && (s.Completed == nil || s.Completed.After(from)) {
			out = append(out, s)
		}
	}
	return out
}
