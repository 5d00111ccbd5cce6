// Package pcf is the PCF usage report view of the report core (seed 000): per organization and
// date range, its spaces and their apps (instance count, memory per instance, disk quota,
// buildpack, memory MB-hours and charge) and service instances (per plan: duration and
// charge), the organization's and spaces' quotas (for charging by allocated maximum), and
// totals per space and organization; as JSON or CSV.
//
// The usage and the charges are the rated data: the instance-scope month cells of the calendar
// months the range covers whole and the day cells of its other days, as of the report's time (report.Reporter's as-of reads), summarized and charged
// with the plans' formulas at that time, as every report computes them: linux-container
// (apps), cf-task and cf-staging memory GB-hours, times 1024 for MB-hours, and cf-service
// instance hours, times 3600 for the duration in seconds (internal/plans/builtin/cf). Usage of
// the organization posted through the collector shows too: an app's linux-container usage
// under its consumer app:<guid>, any other resource as a line of its space's other usage.
// Every sum is exact; numbers are rounded once, on output, to 12 decimal places.
//
// Names, buildpacks, instance counts, disk quotas and quotas are the Cloud Foundry poller's
// metadata (cf_metadata, read through Store): what Cloud Controller said most recently, so an
// app's instance count is its present one; an app or service instance the metadata does not
// know has empty names; a service line is named by its plan's row, so a plan the instance has
// left keeps its name.
//
// Like every view, it imports the report core and never another view.
package pcf

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/meterline/meterline/internal/metadata/cfmeta"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
)

// The kinds of metadata rows (as internal/poller/cf writes them).
const (
	KindOrganization = "organization"
	KindSpace        = "space"
	KindApp          = "app"
	KindService      = "service_instance"
	KindPlan         = "service_plan" // of no organization: Org ""
)

// The Cloud Foundry resources of the report (internal/poller/cf's documents).
const (
	ResourceApp     = "linux-container"
	ResourceTask    = "cf-task"
	ResourceStaging = "cf-staging"
	ResourceService = "cf-service"
)

// Meta is what Cloud Controller says of one organization, space, app or service instance
// (package cfmeta, the one definition the CF poller writes and the PCF report reads).
type Meta = cfmeta.Meta

// Store reads the metadata.
type Store interface {
	// Metadata returns the newest row of every entity of org, and of every service plan
	// (KindPlan, Org "").
	Metadata(ctx context.Context, org string) ([]Meta, error)
}

// Quota is an organization or space quota; a nil limit is unlimited.
type Quota struct {
	GUID                  string `json:"guid"`
	Name                  string `json:"name"`
	TotalMemoryMB         *int64 `json:"total_memory_in_mb"`
	InstanceMemoryMB      *int64 `json:"per_process_memory_in_mb"`
	TotalInstances        *int64 `json:"total_instances"`
	TotalServiceInstances *int64 `json:"total_service_instances"`
	TotalRoutes           *int64 `json:"total_routes"`
}

// Report is an organization's usage report of a date range.
type Report struct {
	OrganizationGUID string `json:"organization_guid"`
	OrganizationName string `json:"organization_name"`
	// PeriodStart and PeriodEnd are the range's first and last days (UTC), both included.
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	// AsOf is the report's time: the cells as processed by then, summarized at it.
	AsOf string `json:"as_of"`
	// Settled is false while the report of AsOf may still grow (see report.Reporter).
	Settled bool    `json:"settled"`
	Quota   *Quota  `json:"quota"`
	Spaces  []Space `json:"spaces"`
	Totals  Totals  `json:"totals"`
}

// Space is a space's apps, services and other usage.
type Space struct {
	SpaceGUID string    `json:"space_guid"`
	SpaceName string    `json:"space_name"`
	Quota     *Quota    `json:"quota"`
	Apps      []App     `json:"apps"`
	Services  []Service `json:"services"`
	Other     []Other   `json:"other_usage"`
	Totals    Totals    `json:"totals"`
}

// App is an app's usage in the range.
type App struct {
	AppGUID   string `json:"app_guid"`
	AppName   string `json:"app_name"`
	State     string `json:"state"`
	Buildpack string `json:"buildpack"`
	// InstanceCount, MemoryInMBPerInstance and DiskQuotaMB are the web process's now.
	InstanceCount         int64 `json:"instance_count"`
	MemoryInMBPerInstance int64 `json:"memory_in_mb_per_instance"`
	DiskQuotaMB           int64 `json:"disk_quota_in_mb"`
	// MemoryMBHours are the app's processes'; tasks and staging are beside them.
	MemoryMBHours        report.Number `json:"memory_mb_hours"`
	TaskMemoryMBHours    report.Number `json:"task_memory_mb_hours"`
	StagingMemoryMBHours report.Number `json:"staging_memory_mb_hours"`
	Charge               report.Number `json:"charge"`
}

// Service is a service instance's usage on one plan (an instance updated to another plan has
// a line per plan).
type Service struct {
	ServiceInstanceGUID string        `json:"service_instance_guid"`
	ServiceInstanceName string        `json:"service_instance_name"`
	ServicePlanGUID     string        `json:"service_plan_guid"`
	ServicePlanName     string        `json:"service_plan_name"`
	ServiceName         string        `json:"service_name"`
	DurationInSeconds   report.Number `json:"duration_in_seconds"`
	Charge              report.Number `json:"charge"`
}

// Other is usage of another resource in the organization (posted through the collector).
type Other struct {
	ConsumerID         string        `json:"consumer_id"`
	ResourceID         string        `json:"resource_id"`
	ResourceInstanceID string        `json:"resource_instance_id"`
	PlanID             string        `json:"plan_id"`
	Metric             string        `json:"metric"`
	Unit               string        `json:"unit"`
	Quantity           report.Number `json:"quantity"`
	Charge             report.Number `json:"charge"`
}

// Totals sum what is below them.
type Totals struct {
	// AppInstances sums the apps' present instance counts.
	AppInstances             int64         `json:"app_instances"`
	MemoryMBHours            report.Number `json:"memory_mb_hours"`
	TaskMemoryMBHours        report.Number `json:"task_memory_mb_hours"`
	StagingMemoryMBHours     report.Number `json:"staging_memory_mb_hours"`
	ServiceDurationInSeconds report.Number `json:"service_duration_in_seconds"`
	AppCharge                report.Number `json:"app_charge"`
	ServiceCharge            report.Number `json:"service_charge"`
	OtherCharge              report.Number `json:"other_charge"`
	Charge                   report.Number `json:"charge"`
}

// MaxDays bounds a report's range.
const MaxDays = 366

// Builder builds reports with the report core and the metadata.
type Builder struct {
	r     *report.Reporter
	store Store
}

// NewBuilder returns the PCF view over r and the metadata of store.
func NewBuilder(r *report.Reporter, store Store) *Builder { return &Builder{r: r, store: store} }

// Range is a report's days [Start, End], UTC midnights, checked by ParseRange.
type Range struct{ Start, End time.Time }

// periods are the cells' periods that make up the range up to now: the month of each
// calendar month the range covers whole, the day of every other day. Both levels' cells are
// carried through periods without documents, so either adds up to the same usage; a month cell
// is one read where its days are 28 to 31.
func (rg Range) periods(now time.Time) []report.Period {
	var out []report.Period
	for d := rg.Start; !d.After(rg.End) && !d.After(now); {
		if next := d.AddDate(0, 1, 0); d.Day() == 1 && !next.After(rg.End.AddDate(0, 0, 1)) {
			out = append(out, report.Period{Level: metering.Month, From: d.UnixMilli()})
			d = next
			continue
		}
		out = append(out, report.Period{Level: metering.Day, From: d.UnixMilli()})
		d = d.AddDate(0, 0, 1)
	}
	return out
}

var (
	mbPerGB    = decimal.NewFromInt(1024)
	secPerHour = decimal.NewFromInt(3600)
)

// Build returns org's report of rg as of the present (the Reporter's clock). An organization
// with neither metadata nor usage in the range is fault.NotFound; a range that begins after
// the present is fault.Invalid.
func (b *Builder) Build(ctx context.Context, org string, rg Range) (*Report, error) {
	now := clock.Or(b.r.Clock).Now().UTC()
	if rg.Start.After(now) {
		return nil, fault.Invalid("bad usage report request", fault.Problem{Field: "start", Value: rg.Start.Format(DateLayout),
			Reason: "the range begins after the report's time " + now.Format(time.RFC3339) + ": it has no usage yet"})
	}
	asOf := now.UnixMilli()
	periods := rg.periods(now)
	cells, err := b.r.Store.Read(ctx, report.Query{Org: org, AsOf: asOf, Scopes: []metering.Scope{metering.ScopeInstance}, Periods: periods})
	if err != nil {
		return nil, err
	}
	metas, err := b.store.Metadata(ctx, org)
	if err != nil {
		return nil, err
	}
	cells = slices.DeleteFunc(cells, func(c report.Cell) bool { return c.Plan == "" })
	if len(cells) == 0 && !slices.ContainsFunc(metas, func(m Meta) bool { return m.Org == org }) {
		return nil, fault.NotFound("no organization %s: Cloud Foundry never named it and it has no usage from %s to %s",
			org, rg.Start.Format(DateLayout), rg.End.Format(DateLayout))
	}
	byKind := map[string]map[string]Meta{}
	for _, m := range metas {
		if byKind[m.Kind] == nil {
			byKind[m.Kind] = map[string]Meta{}
		}
		byKind[m.Kind][m.GUID] = m
	}
	rep := &Report{OrganizationGUID: org, PeriodStart: rg.Start.Format(DateLayout), PeriodEnd: rg.End.Format(DateLayout),
		AsOf: now.Format(time.RFC3339Nano), Settled: b.r.Settled(asOf), Spaces: []Space{}}
	if om, ok := byKind[KindOrganization][org]; ok {
		rep.OrganizationName, rep.Quota = om.Name, quotaOf(om)
	}
	acc, err := b.accumulate(cells, asOf)
	if err != nil {
		return nil, err
	}
	rep.Spaces, rep.Totals = acc.spaces(byKind)
	return rep, nil
}

// sums are the exact sums of an app or a service line.
type appSums struct{ memory, task, staging, charge decimal.Decimal }
type svcKey struct{ guid, plan string }
type svcSums struct{ hours, charge decimal.Decimal }
type otherKey struct{ consumer, resource, instance, plan, metric, unit string }
type otherSums struct{ qty, charge decimal.Decimal }

type spaceAcc struct {
	apps     map[string]*appSums
	services map[svcKey]*svcSums
	other    map[otherKey]*otherSums
}

type accumulated map[string]*spaceAcc

func (a accumulated) space(s string) *spaceAcc {
	sp, ok := a[s]
	if !ok {
		sp = &spaceAcc{apps: map[string]*appSums{}, services: map[svcKey]*svcSums{}, other: map[otherKey]*otherSums{}}
		a[s] = sp
	}
	return sp
}

// accumulate rates every cell at asOf and sums it into its app, service line or other line.
func (b *Builder) accumulate(cells []report.Cell, asOf int64) (accumulated, error) {
	acc := accumulated{}
	sets := map[string]report.PlanSet{}
	for i := range cells {
		c := &cells[i]
		ps, ok := sets[c.Plan]
		if !ok {
			var err error
			if ps, err = b.r.PlanSet(report.SplitPlanKey(c.Plan)); err != nil {
				return nil, err
			}
			sets[c.Plan] = ps
		}
		mm := metricOf(ps.Metering, c.Metric)
		if mm == nil {
			return nil, fault.Unavailable(nil, "cell of metric %s, which metering plan %s does not have", c.Metric, ps.IDs.MeteringPlanID)
		}
		summary, charge, err := ps.Rate(mm, c, asOf)
		if err != nil {
			return nil, err
		}
		sp := acc.space(c.Space)
		app, isApp := strings.CutPrefix(c.Consumer, "app:")
		switch {
		case isApp && c.Metric == "memory" && (c.Resource == ResourceApp || c.Resource == ResourceTask || c.Resource == ResourceStaging):
			s := sp.apps[app]
			if s == nil {
				s = &appSums{}
				sp.apps[app] = s
			}
			mb := summary.Mul(mbPerGB)
			switch c.Resource {
			case ResourceApp:
				s.memory = s.memory.Add(mb)
			case ResourceTask:
				s.task = s.task.Add(mb)
			default:
				s.staging = s.staging.Add(mb)
			}
			s.charge = s.charge.Add(charge)
		case c.Resource == ResourceService && c.Metric == "instances" && strings.HasPrefix(c.Instance, "service:"):
			guid, plan, _ := strings.Cut(strings.TrimPrefix(c.Instance, "service:"), ":")
			k := svcKey{guid, plan}
			s := sp.services[k]
			if s == nil {
				s = &svcSums{}
				sp.services[k] = s
			}
			s.hours, s.charge = s.hours.Add(summary), s.charge.Add(charge)
		default:
			k := otherKey{c.Consumer, c.Resource, c.Instance, c.Plan, c.Metric, mm.Unit}
			s := sp.other[k]
			if s == nil {
				s = &otherSums{}
				sp.other[k] = s
			}
			s.qty, s.charge = s.qty.Add(summary), s.charge.Add(charge)
		}
	}
	return acc, nil
}

// exact totals, turned into Totals once.
type sum struct {
	instances                                            int64
	memory, task, staging, duration, app, service, other decimal.Decimal
}

func (s *sum) add(o sum) {
	s.instances += o.instances
	s.memory, s.task, s.staging = s.memory.Add(o.memory), s.task.Add(o.task), s.staging.Add(o.staging)
	s.duration, s.app, s.service, s.other = s.duration.Add(o.duration), s.app.Add(o.app), s.service.Add(o.service), s.other.Add(o.other)
}

func (s sum) totals() Totals {
	return Totals{AppInstances: s.instances, MemoryMBHours: report.Number(s.memory), TaskMemoryMBHours: report.Number(s.task),
		StagingMemoryMBHours: report.Number(s.staging), ServiceDurationInSeconds: report.Number(s.duration),
		AppCharge: report.Number(s.app), ServiceCharge: report.Number(s.service), OtherCharge: report.Number(s.other),
		Charge: report.Number(s.app.Add(s.service).Add(s.other))}
}

// spaces builds the spaces' lines with their names, sorted by name then guid, and the totals.
func (a accumulated) spaces(meta map[string]map[string]Meta) ([]Space, Totals) {
	out := make([]Space, 0, len(a))
	var org sum
	for guid, acc := range a {
		sm := meta[KindSpace][guid]
		sp := Space{SpaceGUID: guid, SpaceName: sm.Name, Quota: quotaOf(sm), Apps: []App{}, Services: []Service{}, Other: []Other{}}
		var tot sum
		for app, s := range acc.apps {
			m := meta[KindApp][app]
			sp.Apps = append(sp.Apps, App{AppGUID: app, AppName: m.Name, State: m.State, Buildpack: m.Buildpack,
				InstanceCount: m.Instances, MemoryInMBPerInstance: m.MemoryMB, DiskQuotaMB: m.DiskMB,
				MemoryMBHours: report.Number(s.memory), TaskMemoryMBHours: report.Number(s.task),
				StagingMemoryMBHours: report.Number(s.staging), Charge: report.Number(s.charge)})
			tot.add(sum{instances: m.Instances, memory: s.memory, task: s.task, staging: s.staging, app: s.charge})
		}
		for k, s := range acc.services {
			m := meta[KindService][k.guid]
			line := Service{ServiceInstanceGUID: k.guid, ServiceInstanceName: m.Name, ServicePlanGUID: k.plan,
				DurationInSeconds: report.Number(s.hours.Mul(secPerHour)), Charge: report.Number(s.charge)}
			if pm, ok := meta[KindPlan][k.plan]; ok {
				line.ServicePlanName, line.ServiceName = pm.PlanName, pm.Offering
			} else if m.Plan == k.plan {
				line.ServicePlanName, line.ServiceName = m.PlanName, m.Offering
			}
			sp.Services = append(sp.Services, line)
			tot.add(sum{duration: s.hours.Mul(secPerHour), service: s.charge})
		}
		for k, s := range acc.other {
			sp.Other = append(sp.Other, Other{ConsumerID: k.consumer, ResourceID: k.resource, ResourceInstanceID: k.instance,
				PlanID: k.plan, Metric: k.metric, Unit: k.unit, Quantity: report.Number(s.qty), Charge: report.Number(s.charge)})
			tot.add(sum{other: s.charge})
		}
		slices.SortFunc(sp.Apps, func(x, y App) int {
			return cmp.Or(cmp.Compare(x.AppName, y.AppName), cmp.Compare(x.AppGUID, y.AppGUID))
		})
		slices.SortFunc(sp.Services, func(x, y Service) int {
			return cmp.Or(cmp.Compare(x.ServiceInstanceName, y.ServiceInstanceName), cmp.Compare(x.ServiceInstanceGUID, y.ServiceInstanceGUID),
				cmp.Compare(x.ServicePlanGUID, y.ServicePlanGUID))
		})
		slices.SortFunc(sp.Other, func(x, y Other) int {
			return cmp.Or(cmp.Compare(x.ConsumerID, y.ConsumerID), cmp.Compare(x.ResourceInstanceID, y.ResourceInstanceID),
				cmp.Compare(x.ResourceID, y.ResourceID), cmp.Compare(x.PlanID, y.PlanID), cmp.Compare(x.Metric, y.Metric))
		})
		sp.Totals = tot.totals()
		org.add(tot)
		out = append(out, sp)
	}
	slices.SortFunc(out, func(x, y Space) int {
		return cmp.Or(cmp.Compare(x.SpaceName, y.SpaceName), cmp.Compare(x.SpaceGUID, y.SpaceGUID))
	})
	return out, org.totals()
}

func quotaOf(m Meta) *Quota {
	if m.Quota == "" {
		return nil
	}
	return &Quota{GUID: m.Quota, Name: m.QuotaName, TotalMemoryMB: m.QuotaMemoryMB, InstanceMemoryMB: m.QuotaInstanceMemoryMB,
		TotalInstances: m.QuotaAppInstances, TotalServiceInstances: m.QuotaServiceInstances, TotalRoutes: m.QuotaRoutes}
}

func metricOf(m *plans.Metering, name string) *plans.Metric {
	for _, mm := range m.Metrics {
		if mm.Name == name {
			return mm
		}
	}
	return nil
}
