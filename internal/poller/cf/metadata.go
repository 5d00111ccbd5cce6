package cf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/meterline/meterline/internal/metadata/cfmeta"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
)

// The kinds of metadata rows.
const (
	KindOrganization = "organization"
	KindSpace        = "space"
	KindApp          = "app"
	KindService      = "service_instance"
	// KindPlan rows are the foundation's service plans, of no organization (Org ""), so that a
	// report names a plan an instance has left.
	KindPlan = "service_plan"
)

// Meta is what Cloud Controller says of one organization, space, app or service instance
// (package cfmeta, the one definition the CF poller writes and the PCF report reads).
type Meta = cfmeta.Meta

type v3Named struct {
	GUID          string `json:"guid"`
	Name          string `json:"name"`
	State         string `json:"state"`
	Type          string `json:"type"`
	Instances     int64  `json:"instances"`
	MemoryInMB    int64  `json:"memory_in_mb"`
	DiskInMB      int64  `json:"disk_in_mb"`
	Relationships map[string]struct {
		Data json.RawMessage `json:"data"`
	} `json:"relationships"`
	Apps *struct {
		TotalMemoryInMB      *int64 `json:"total_memory_in_mb"`
		PerProcessMemoryInMB *int64 `json:"per_process_memory_in_mb"`
		TotalInstances       *int64 `json:"total_instances"`
	} `json:"apps"`
	Services *struct {
		TotalServiceInstances *int64 `json:"total_service_instances"`
	} `json:"services"`
	Routes *struct {
		TotalRoutes *int64 `json:"total_routes"`
	} `json:"routes"`
}

type guidRef struct {
	GUID string `json:"guid"`
}

// rel is the guid of a to-one relationship, "" when it is null or missing.
func (r v3Named) rel(name string) string {
	var g guidRef
	if d := r.Relationships[name].Data; len(d) > 0 && json.Unmarshal(d, &g) == nil {
		return g.GUID
	}
	return ""
}

// rels are the guids of a to-many relationship.
func (r v3Named) rels(name string) []string {
	var gs []guidRef
	_ = json.Unmarshal(r.Relationships[name].Data, &gs)
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.GUID)
	}
	return out
}

type quota struct {
	guid, name                                          string
	memory, instanceMemory, instances, services, routes *int64
}

func quotaOf(r v3Named) quota {
	q := quota{guid: r.GUID, name: r.Name}
	if r.Apps != nil {
		q.memory, q.instanceMemory, q.instances = r.Apps.TotalMemoryInMB, r.Apps.PerProcessMemoryInMB, r.Apps.TotalInstances
	}
	if r.Services != nil {
		q.services = r.Services.TotalServiceInstances
	}
	if r.Routes != nil {
		q.routes = r.Routes.TotalRoutes
	}
	return q
}

func (q quota) set(m *Meta) {
	m.Quota, m.QuotaName = q.guid, q.name
	m.QuotaMemoryMB, m.QuotaInstanceMemoryMB, m.QuotaAppInstances, m.QuotaServiceInstances, m.QuotaRoutes =
		q.memory, q.instanceMemory, q.instances, q.services, q.routes
}

// Metadata reads what the PCF usage report shows of the foundation: /v3/organizations,
// /v3/organization_quotas, /v3/spaces, /v3/space_quotas, /v3/apps, /v3/processes (web),
// each app's current droplet, /v3/service_instances, /v3/service_plans and
// /v3/service_offerings, every page. It returns one row per organization, space, app,
// managed service instance and service plan (of no organization), sorted, and Cloud Controller's Date of the first answer. An app
// without a current droplet (never staged) has no buildpack; any other failure fails the read
// (a partial read would write rows without their names).
func (p *Provider) Metadata(ctx context.Context) ([]Meta, time.Time, error) {
	var at time.Time
	all := map[string][]v3Named{}
	for _, path := range []string{"/v3/organization_quotas", "/v3/space_quotas", "/v3/organizations", "/v3/spaces", "/v3/apps",
		"/v3/processes?types=web", "/v3/service_instances?type=managed", "/v3/service_plans", "/v3/service_offerings"} {
		if err := listOf(p, ctx, path, &at, func(r v3Named) { all[path] = append(all[path], r) }); err != nil {
			return nil, at, err
		}
	}
	orgQuota, spaceQuota := map[string]quota{}, map[string]quota{}
	for _, r := range all["/v3/organization_quotas"] {
		for _, org := range r.rels("organizations") {
			orgQuota[org] = quotaOf(r)
		}
	}
	for _, r := range all["/v3/space_quotas"] {
		for _, space := range r.rels("spaces") {
			spaceQuota[space] = quotaOf(r)
		}
	}
	var out []Meta
	spaceOrg := map[string]string{}
	for _, r := range all["/v3/organizations"] {
		m := Meta{Org: r.GUID, Kind: KindOrganization, GUID: r.GUID, Name: r.Name}
		orgQuota[r.GUID].set(&m)
		out = append(out, m)
	}
	for _, r := range all["/v3/spaces"] {
		org := r.rel("organization")
		spaceOrg[r.GUID] = org
		m := Meta{Org: org, Kind: KindSpace, GUID: r.GUID, Space: r.GUID, Name: r.Name}
		spaceQuota[r.GUID].set(&m)
		out = append(out, m)
	}
	web := map[string]v3Named{}
	for _, r := range all["/v3/processes?types=web"] {
		if r.Type == "" || r.Type == "web" {
			web[r.rel("app")] = r
		}
	}
	for _, r := range all["/v3/apps"] {
		space := r.rel("space")
		m := Meta{Org: spaceOrg[space], Kind: KindApp, GUID: r.GUID, Space: space, Name: r.Name, State: r.State}
		if w, ok := web[r.GUID]; ok {
			m.Instances, m.MemoryMB, m.DiskMB = w.Instances, w.MemoryInMB, w.DiskInMB
		}
		bp, err := p.buildpack(ctx, r.GUID)
		if err != nil {
			return nil, at, err
		}
		m.Buildpack = bp
		out = append(out, m)
	}
	offering := map[string]string{}
	for _, r := range all["/v3/service_offerings"] {
		offering[r.GUID] = r.Name
	}
	plan := map[string]v3Named{}
	for _, r := range all["/v3/service_plans"] {
		plan[r.GUID] = r
	}
	for _, r := range all["/v3/service_plans"] {
		out = append(out, Meta{Kind: KindPlan, GUID: r.GUID, Name: r.Name, Plan: r.GUID, PlanName: r.Name, Offering: offering[r.rel("service_offering")]})
	}
	for _, r := range all["/v3/service_instances?type=managed"] {
		if r.Type != "" && r.Type != "managed" {
			continue
		}
		space := r.rel("space")
		pl := plan[r.rel("service_plan")]
		out = append(out, Meta{Org: spaceOrg[space], Kind: KindService, GUID: r.GUID, Space: space, Name: r.Name,
			Plan: r.rel("service_plan"), PlanName: pl.Name, Offering: offering[pl.rel("service_offering")]})
	}
	slices.SortFunc(out, func(a, b Meta) int {
		if c := compareStrings(a.Org, b.Org); c != 0 {
			return c
		}
		if c := compareStrings(a.Kind, b.Kind); c != 0 {
			return c
		}
		return compareStrings(a.GUID, b.GUID)
	})
	return out, at, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// buildpack is the buildpack of app's current droplet: the first buildpack's detected
// output's name (buildpack_name, else name), or "" when the app has no current droplet.
func (p *Provider) buildpack(ctx context.Context, app string) (string, error) {
	u := p.cfg.API + "/v3/apps/" + url.PathEscape(app) + "/droplets/current"
	ans, err := p.cfg.Client.Get(ctx, u, http.Header{"Accept": {"application/json"}})
	var se *poller.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var d struct {
		Buildpacks []struct {
			Name          string `json:"name"`
			BuildpackName string `json:"buildpack_name"`
		} `json:"buildpacks"`
	}
	if err := json.Unmarshal(ans.Body, &d); err != nil {
		return "", &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
	}
	if len(d.Buildpacks) == 0 {
		return "", nil
	}
	if d.Buildpacks[0].Name != "" {
		return d.Buildpacks[0].Name, nil
	}
	return d.Buildpacks[0].BuildpackName, nil
}

// listOf calls each for every resource of every page of path, decoded as T; at is set from
// the first answer's Date, whole seconds. It follows at most 1000 pages of 5000.
func listOf[T any](p *Provider, ctx context.Context, path string, at *time.Time, each func(T)) error {
	u, err := url.Parse(p.cfg.API + path)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("per_page", "5000")
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		u.RawQuery = q.Encode()
		ans, err := p.cfg.Client.Get(ctx, u.String(), http.Header{"Accept": {"application/json"}})
		if err != nil {
			return err
		}
		if err := stamp(at, ans.Header, path); err != nil {
			return err
		}
		var pg struct {
			Pagination struct {
				Next *struct {
					Href string `json:"href"`
				} `json:"next"`
			} `json:"pagination"`
			Resources []T `json:"resources"`
		}
		if err := json.Unmarshal(ans.Body, &pg); err != nil || pg.Resources == nil {
			if err == nil {
				err = errors.New("no resources")
			}
			return &poller.DecodeError{Request: "GET " + u.String(), Payload: ans.Body, Err: err}
		}
		for _, r := range pg.Resources {
			each(r)
		}
		if pg.Pagination.Next == nil || pg.Pagination.Next.Href == "" || page >= 1000 {
			return nil
		}
	}
}

// MetadataLoop runs beside the poller: each Interval it reads the foundation's Metadata and
// writes it (into ClickHouse cf_metadata, whose ReplacingMergeTree keeps the newest row of
// each entity, so that writing the same rows again changes nothing and an app deleted since
// keeps its last names). It produces no document: metadata is never metered.
type MetadataLoop struct {
	Provider *Provider
	Write    func(ctx context.Context, rows []Meta, read time.Time) error
	Clock    clock.Clock
	Interval time.Duration // between rounds (a minute when 0)
	Log      *zap.Logger
}

// Round reads and writes once; it returns the number of rows written.
func (l *MetadataLoop) Round(ctx context.Context) (int, error) {
	rows, at, err := l.Provider.Metadata(ctx)
	if err != nil {
		return 0, fmt.Errorf("cf metadata: %w", err)
	}
	if at.IsZero() {
		at = clock.Or(l.Clock).Now()
	}
	if err := l.Write(ctx, rows, at); err != nil {
		return 0, err
	}
	return len(rows), nil
}

// Run runs rounds until ctx ends; a failed round is logged and tried again next round.
func (l *MetadataLoop) Run(ctx context.Context) error {
	return poller.RunRounds(ctx, l.Interval, l.Log, "cf metadata", l.Round)
}
