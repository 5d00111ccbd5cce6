// Package vcloudair is the poller of vCloud Air OnDemand's metering API (seed 004): it reads
// the billable usage of every service instance one closed hour at a time, once the
// provider's own watermark (billable-costs' lastUpdateTime) of the instance's service group
// has passed the hour, and turns each L1 entity's hour (a VM, a gateway) and each L2
// entity's own usage (a virtual data center's storage, IPs: its roll-up less its L1s) into
// one usage document of resource vcloudair. docs/pollers.md tells the mapping and the
// guarantees.
//
// The hierarchy (shared/DESIGN-NOTES.md): organization = service instance, space = L2
// entity, consumer = L1 entity, resource instance = the entity; the service group (the
// account) is in the poller's documents' dedup ids only through the instance, and in the
// billed-usage table (billed.go) for reconciliation.
//
// What it relies on and checks:
//   - Closed hours only: [H, H+1h) is read once the clock passed H+1h plus the poll lag and
//     every service group's lastUpdateTime is at or past H+1h; an answer whose startTime and
//     endTime are not the hour asked is not used (a provider error, read again later).
//   - The whole hour of every instance is read before anything is built from it.
//   - L2 roll-ups are checked against their L1s: what an L2 has on top is its own usage (a
//     document); an L2 below the sum of its L1s is a notice, never a negative document.
//   - Exact quantities: usage is read as decimal text (json.Number), never a float.
//   - Billed usage is not metered: it is kept for the reconciliation report only.
package vcloudair

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/usage"
)

// Resource is the resource id of the documents: its type has the built-in plans.
const Resource = "vcloudair"

// Plan is the plan id of the documents (Virtual Private Cloud OnDemand).
const Plan = "vpc-ondemand"

// Config configures a Provider.
type Config struct {
	// Account names the vCloud Air account (company) in dedup ids and in Source.
	Account string
	// URL is the API's base URL (https://vca.vmware.com).
	URL string
	// Lag is how long a closed hour waits before it is read.
	Lag time.Duration
	// Recheck is how long to wait when the provider's lastUpdateTime has not passed the hour
	// (a minute when 0).
	Recheck time.Duration
	// Client makes the requests (with the credentials).
	Client *poller.Client
}

// Source is the poller source of account: the source of its events and the key of its state.
func Source(account string) string { return usage.PollerSource("vcloudair") + "/" + account }

// Provider reads one account's billable usage; it is a poller.Provider.
type Provider struct {
	cfg Config

	// cur is what has been read of the hour being read: the answers of a closed hour past
	// lastUpdateTime are final, so a poll that failed half way (a 429, a 5xx) leaves them for
	// the next poll of the same hour, which goes on from there. An hour reads the groups,
	// each group's watermark, the instances, and one answer per service instance and per L2;
	// a provider that fails one request in every few would otherwise never get through an
	// hour. It is kept in memory only (after a restart the hour is read again from its
	// start) and dropped once the hour's batch is built or another hour is read. Only Poll
	// uses it (the core calls Poll from one goroutine; the billing loop does not touch it).
	cur hourRead
}

// hourRead is what has been read of one hour.
type hourRead struct {
	hour      time.Time
	groups    []ServiceGroup
	hasGroups bool
	metered   map[string]bool // the groups whose lastUpdateTime has passed the hour
	insts     []ServiceInstance
	hasInsts  bool
	usage     map[string][]Entity // by path
}

var _ poller.Provider = (*Provider)(nil)

// New returns the provider of cfg.
func New(cfg Config) *Provider {
	if cfg.Recheck <= 0 {
		cfg.Recheck = time.Minute
	}
	return &Provider{cfg: cfg}
}

// state is what the poller keeps between hours (JSON in the state topic).
type state struct {
	// Next is the start of the next hour to read.
	Next time.Time `json:"next"`
}

// Initial starts at the first hour that begins at or after start.
func (p *Provider) Initial(start time.Time) ([]byte, error) {
	first := start.UTC().Truncate(time.Hour)
	if first.Before(start) {
		first = first.Add(time.Hour)
	}
	return json.Marshal(state{Next: first})
}

// ServiceGroup is a service group as /api/billing/service-groups lists it.
type ServiceGroup struct {
	ID          string
	Name        string
	Currency    string
	Anniversary int // the day of the month its billing months start (1 when not given)
}

// ServiceInstance is a service instance as /api/sc/instances lists it.
type ServiceInstance struct {
	ID, Name, Group string
}

// Poll reads the next hour once it is closed, its lag has passed and vCloud Air has metered it.
func (p *Provider) Poll(ctx context.Context, raw []byte, now time.Time) (poller.Batch, error) {
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return poller.Batch{}, fmt.Errorf("vcloudair poller state %q: %w", raw, err)
	}
	from, to := st.Next.UTC(), st.Next.UTC().Add(time.Hour)
	if !p.cur.hour.Equal(from) || p.cur.usage == nil {
		p.cur = hourRead{hour: from, metered: map[string]bool{}, usage: map[string][]Entity{}}
	}
	if due := to.Add(p.cfg.Lag); now.Before(due) {
		return poller.Batch{Idle: true, Next: due, Through: from}, nil
	}
	if !p.cur.hasGroups {
		groups, err := p.Groups(ctx)
		if err != nil {
			return poller.Batch{}, err
		}
		p.cur.groups, p.cur.hasGroups = groups, true
	}
	groups := p.cur.groups
	for _, g := range groups {
		if p.cur.metered[g.ID] {
			continue
		}
		lu, err := p.lastUpdate(ctx, g.ID)
		if err != nil {
			return poller.Batch{}, err
		}
		if lu.Before(to) {
			return poller.Batch{Idle: true, Next: now.Add(p.cfg.Recheck), Through: from}, nil
		}
		p.cur.metered[g.ID] = true
	}
	if !p.cur.hasInsts {
		insts, err := p.Instances(ctx)
		if err != nil {
			return poller.Batch{}, err
		}
		p.cur.insts, p.cur.hasInsts = insts, true
	}
	insts := p.cur.insts
	known := map[string]bool{}
	for _, g := range groups {
		known[g.ID] = true
	}
	var (
		docs    []usage.Document
		notices []poller.Notice
	)
	for _, in := range insts {
		if !known[in.Group] {
			notices = append(notices, poller.Notice{Kind: "unknown_service_group",
				Detail: fmt.Sprintf("service instance %s names service group %q, not among the account's: read all the same", in.ID, in.Group)})
		}
		d, n, err := p.instanceHour(ctx, in, from, to)
		if err != nil {
			return poller.Batch{}, err
		}
		docs, notices = append(docs, d...), append(notices, n...)
	}
	out, err := json.Marshal(state{Next: to})
	if err != nil {
		return poller.Batch{}, err
	}
	// The hour is read: a poll of it again (its publish failed) asks vCloud Air again.
	p.cur = hourRead{}
	return poller.Batch{Docs: docs, State: out, Through: to, Notices: notices}, nil
}

// get GETs path under the base URL and decodes its JSON into v.
func (p *Provider) get(ctx context.Context, path string, q url.Values, v any) error {
	u := strings.TrimSuffix(p.cfg.URL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ans, err := p.cfg.Client.Get(ctx, u, http.Header{"Accept": {Accept}})
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(ans.Body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
	}
	if c, ok := v.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
		}
	}
	return nil
}

type groupsAnswer struct {
	ServiceGroupList *struct {
		ServiceGroup []struct {
			ID                string `json:"id"`
			DisplayName       string `json:"displayName"`
			BillingCurrency   string `json:"billingCurrency"`
			BillingAttributes struct {
				Attribute []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"attribute"`
			} `json:"billingAttributes"`
		} `json:"serviceGroup"`
	} `json:"serviceGroupList"`
}

func (a *groupsAnswer) check() error {
	if a.ServiceGroupList == nil {
		return errors.New("no serviceGroupList")
	}
	for _, g := range a.ServiceGroupList.ServiceGroup {
		if g.ID == "" {
			return errors.New("a service group without id")
		}
	}
	return nil
}

// Groups lists the account's service groups, by id.
func (p *Provider) Groups(ctx context.Context) ([]ServiceGroup, error) {
	var a groupsAnswer
	if err := p.get(ctx, "/api/billing/service-groups", nil, &a); err != nil {
		return nil, err
	}
	var out []ServiceGroup
	for _, g := range a.ServiceGroupList.ServiceGroup {
		sg := ServiceGroup{ID: g.ID, Name: g.DisplayName, Currency: g.BillingCurrency, Anniversary: 1}
		for _, at := range g.BillingAttributes.Attribute {
			if at.Name == "anniversaryDate" {
				var day int
				if _, err := fmt.Sscanf(at.Value, "%d", &day); err == nil && day >= 1 && day <= 28 {
					sg.Anniversary = day
				}
			}
		}
		out = append(out, sg)
	}
	slices.SortFunc(out, func(a, b ServiceGroup) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

type instancesAnswer struct {
	Instances *[]struct {
		ID             string `json:"id"`
		Name           string `json:"name"`
		ServiceGroupID string `json:"serviceGroupId"`
	} `json:"instances"`
}

func (a *instancesAnswer) check() error {
	if a.Instances == nil {
		return errors.New("no instances")
	}
	for _, in := range *a.Instances {
		if !validID(in.ID) {
			return fmt.Errorf("service instance id %q is not an id", in.ID)
		}
	}
	return nil
}

// Instances lists the account's service instances, by id.
func (p *Provider) Instances(ctx context.Context) ([]ServiceInstance, error) {
	var a instancesAnswer
	if err := p.get(ctx, "/api/sc/instances", nil, &a); err != nil {
		return nil, err
	}
	var out []ServiceInstance
	for _, in := range *a.Instances {
		out = append(out, ServiceInstance{ID: in.ID, Name: in.Name, Group: in.ServiceGroupID})
	}
	slices.SortFunc(out, func(a, b ServiceInstance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

type costsAnswer struct {
	LastUpdateTime string `json:"lastUpdateTime"`
}

// lastUpdate is the group's metering watermark.
func (p *Provider) lastUpdate(ctx context.Context, group string) (time.Time, error) {
	var a costsAnswer
	path := "/api/metering/service-group/" + url.PathEscape(group) + "/billable-costs"
	if err := p.get(ctx, path, nil, &a); err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, a.LastUpdateTime)
	if err != nil {
		return time.Time{}, &poller.DecodeError{Request: "GET " + path, Payload: []byte(a.LastUpdateTime), Err: fmt.Errorf("lastUpdateTime: %w", err)}
	}
	return t.UTC(), nil
}

// Billable is one entry of a billableList.
type Billable struct {
	Name     string      `json:"name"`
	Usage    json.Number `json:"usage"`
	Unit     string      `json:"unit"`
	Rate     json.Number `json:"rate"`
	Cost     json.Number `json:"cost"`
	Currency string      `json:"currency"`
}

// Entity is an entity of a usage answer.
type Entity struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	EntityType   string `json:"entityType"`
	BillableList struct {
		Billable []Billable `json:"billable"`
	} `json:"billableList"`
	// ServiceInstanceID and L2ID place an entity of a service group's billed usage.
	ServiceInstanceID string `json:"serviceInstanceId"`
	L2ID              string `json:"l2Id"`
}

type usageAnswer struct {
	StartTime string    `json:"startTime"`
	EndTime   string    `json:"endTime"`
	Entity    *[]Entity `json:"entity"`
}

// validID bounds the ids used in documents and paths.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`).MatchString

func (a *usageAnswer) check() error {
	if a.Entity == nil {
		return errors.New("no entity list")
	}
	var errs []error
	for _, e := range *a.Entity {
		if !validID(e.ID) {
			errs = append(errs, fmt.Errorf("entity id %q is not an id", e.ID))
		}
		for _, b := range e.BillableList.Billable {
			if q, err := decimal.NewFromString(b.Usage.String()); err != nil || q.IsNegative() {
				errs = append(errs, fmt.Errorf("entity %s: billable %q: usage %q is not a number at least 0", e.ID, b.Name, b.Usage))
			}
		}
	}
	return errors.Join(errs...)
}

// hourUsage reads the entities of one usage path for [from, to), checking the answer's period.
func (p *Provider) hourUsage(ctx context.Context, path string, from, to time.Time) ([]Entity, error) {
	if es, ok := p.cur.usage[path]; ok && p.cur.hour.Equal(from) {
		return es, nil
	}
	var a usageAnswer
	q := url.Values{"start": {from.Format("2006-01-02T15:04:05.000Z")}, "end": {to.Format("2006-01-02T15:04:05.000Z")}}
	if err := p.get(ctx, path, q, &a); err != nil {
		return nil, err
	}
	s, err1 := time.Parse(time.RFC3339Nano, a.StartTime)
	e, err2 := time.Parse(time.RFC3339Nano, a.EndTime)
	if err1 != nil || err2 != nil || !s.Equal(from) || !e.Equal(to) {
		return nil, &poller.ProviderError{Msg: fmt.Sprintf("GET %s for %s–%s answered the period %q–%q: not yet metered to the hour's end",
			path, from.Format(time.RFC3339), to.Format(time.RFC3339), a.StartTime, a.EndTime)}
	}
	es := *a.Entity
	slices.SortFunc(es, func(a, b Entity) int { return strings.Compare(a.ID, b.ID) })
	if p.cur.hour.Equal(from) && p.cur.usage != nil {
		p.cur.usage[path] = es
	}
	return es, nil
}

// quantities sums an entity's billables by name (a name listed twice counts both).
func quantities(e Entity) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, b := range e.BillableList.Billable {
		q, _ := decimal.NewFromString(b.Usage.String()) // checked when decoded
		out[b.Name] = out[b.Name].Add(q)
	}
	return out
}

// instanceHour reads an instance's L2 entities and each one's L1 entities for the hour.
func (p *Provider) instanceHour(ctx context.Context, in ServiceInstance, from, to time.Time) ([]usage.Document, []poller.Notice, error) {
	base := "/api/metering/service-instance/" + url.PathEscape(in.ID)
	l2s, err := p.hourUsage(ctx, base+"/billable-usage", from, to)
	if err != nil {
		return nil, nil, err
	}
	var (
		docs    []usage.Document
		notices []poller.Notice
	)
	for _, l2 := range l2s {
		l1s, err := p.hourUsage(ctx, base+"/l2/"+url.PathEscape(l2.ID)+"/billable-usage", from, to)
		if err != nil {
			return nil, nil, err
		}
		own := quantities(l2)
		for _, l1 := range l1s {
			q := quantities(l1)
			for n, v := range q {
				own[n] = own[n].Sub(v)
			}
			if d, ok := p.doc(in.ID, l2.ID, l1.ID, l1.ID, q, from, to); ok {
				docs = append(docs, d)
			}
		}
		for _, n := range sortedKeys(own) {
			if own[n].IsNegative() {
				notices = append(notices, poller.Notice{Kind: "rollup_mismatch", Detail: fmt.Sprintf("service instance %s, L2 %s, hour %s: billable %s rolled up is %s below its L1 entities' sum",
					in.ID, l2.ID, from.Format(time.RFC3339), n, own[n].Neg())})
				delete(own, n)
			}
		}
		if d, ok := p.doc(in.ID, l2.ID, "", l2.ID, own, from, to); ok {
			docs = append(docs, d)
		}
	}
	return docs, notices, nil
}

// doc is the document of an entity's hour: its billables above zero as measures.
func (p *Provider) doc(sid, l2, l1, entity string, q map[string]decimal.Decimal, from, to time.Time) (usage.Document, bool) {
	var ms []usage.Measure
	for _, n := range sortedKeys(q) {
		if q[n].IsPositive() {
			ms = append(ms, usage.Measure{Measure: n, Quantity: q[n]})
		}
	}
	if len(ms) == 0 {
		return usage.Document{}, false
	}
	return usage.Document{
		Start:              from.UnixMilli(),
		End:                to.UnixMilli() - 1,
		OrganizationID:     sid,
		SpaceID:            l2,
		ConsumerID:         l1,
		ResourceID:         Resource,
		PlanID:             Plan,
		ResourceInstanceID: entity,
		DedupID:            fmt.Sprintf("vca:%s:%s:%s:%s", p.cfg.Account, sid, entity, from.Format(time.RFC3339)),
		MeasuredUsage:      ms,
	}, true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// AccountOf is the default account name: the host of the API URL.
func AccountOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return "default"
	}
	return u.Hostname()
}
