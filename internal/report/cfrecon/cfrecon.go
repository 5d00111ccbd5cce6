// Package cfrecon is the reconciliation view of Cloud Foundry: what the Usage Service reported
// of an organization's day (as the cf poller's Usage Service loop stored it) against what
// Meterline metered from Cloud Controller's usage events for the same day, per app and per
// service instance, with the differences, in exact decimals.
//
// The metered side is read from the stored documents (usage_events, counted ones only), not
// from usage_cells: the cf poller's documents are changes of a footprint (current and
// previous memory and instances at an instant), so an app's usage in a day is the footprint
// each document sets, held until the next document of its process, clipped to the day. That
// is exactly what the built-in time-based plans integrate, but it does not wait for the
// processor's carry to reach a day without events, and it keeps each app and service
// instance (consumer) apart without the plans' formulas.
package cfrecon

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The resources of the cf poller's documents the view reads (internal/poller/cf).
const (
	ResourceApp     = "linux-container"
	ResourceTask    = "cf-task"
	ResourceService = "cf-service"
)

// The kinds of stored Usage Service rows.
const (
	KindApp     = "app"
	KindService = "service"
	// KindTask is a task summary: App, Memory, Instances (task_count_for_range) and Seconds
	// (total_duration_in_seconds_for_range).
	KindTask = "task"
	// KindDay marks an organization's day as read (with or without entries).
	KindDay = "day"
)

// Row is one stored Usage Service entry of an organization's day (the rows of
// cf_usage_service).
type Row struct {
	Foundation   string
	Organization string
	Day          time.Time // 00:00 UTC
	Kind         string    // KindApp, KindTask, KindService or KindDay
	Entry        int       // the entry's place in the Usage Service's answer
	Space        string
	SpaceName    string
	// Apps: the parent application, its process (app_guid), the footprint.
	App, AppName      string
	Process           string
	Instances, Memory int64 // instance_count, memory_in_mb_per_instance
	// Services: the instance on a plan.
	ServiceInstance, InstanceName string
	InstanceType                  string
	Plan, PlanName                string
	Service, ServiceName          string
	Deleted                       bool
	Seconds                       decimal.Decimal // duration_in_seconds
}

// Step is one counted document of an organization: the footprint it sets from AtMs on, until
// the next step of the same resource instance. Memory is bytes per instance (apps); Instances
// the running instances (apps) or 1/0 (a service instance open or closed).
type Step struct {
	Resource, Instance string // resource_id, resource_instance_id
	Space, Consumer    string
	AtMs               int64
	Memory, Instances  decimal.Decimal
}

// Store reads both sides.
type Store interface {
	// UsageService returns the stored rows of org's day, and whether anything of org is stored
	// at all (false: an organization the Usage Service loop has never read).
	UsageService(ctx context.Context, org string, day time.Time) ([]Row, bool, error)
	// Metered returns the counted documents of org's apps (ResourceApp), tasks (ResourceTask)
	// and service instances (ResourceService) that set a footprint in [fromMs, toMs): those inside, and for each
	// resource instance the latest before fromMs; ordered by instance, then time and offset.
	Metered(ctx context.Context, org string, fromMs, toMs int64) ([]Step, error)
}

// AppFigures are an app's memory GB-hours and instance-hours in the day.
type AppFigures struct {
	MemoryGBHours decimal.Decimal `json:"memory_gb_hours"`
	InstanceHours decimal.Decimal `json:"instance_hours"`
}

// ServiceFigures are a service instance's hours on a plan in the day.
type ServiceFigures struct {
	Hours decimal.Decimal `json:"hours"`
}

// AppLine is one app, the Usage Service against Meterline.
type AppLine struct {
	App          string     `json:"app"`
	Name         string     `json:"name,omitempty"`
	Space        string     `json:"space"`
	UsageService AppFigures `json:"usage_service"`
	Metered      AppFigures `json:"metered"`
	Difference   AppFigures `json:"difference"` // usage service − metered
}

// ServiceLine is one service instance on one plan.
type ServiceLine struct {
	ServiceInstance string         `json:"service_instance"`
	Plan            string         `json:"plan"`
	Name            string         `json:"name,omitempty"`
	Space           string         `json:"space"`
	UsageService    ServiceFigures `json:"usage_service"`
	Metered         ServiceFigures `json:"metered"`
	Difference      ServiceFigures `json:"difference"`
}

// Totals sum the lines of the organization's day.
type Totals struct {
	Apps     Sides[AppFigures]     `json:"apps"`
	Tasks    Sides[AppFigures]     `json:"tasks"`
	Services Sides[ServiceFigures] `json:"services"`
}

// Sides are a figure on both sides and the difference.
type Sides[F any] struct {
	UsageService F `json:"usage_service"`
	Metered      F `json:"metered"`
	Difference   F `json:"difference"`
}

// Lines are the lines of an organization's day: apps, their tasks (memory GB-hours and
// task-hours, in AppFigures), service instances.
type Lines struct {
	Apps     []AppLine     `json:"apps"`
	Tasks    []AppLine     `json:"tasks"`
	Services []ServiceLine `json:"services"`
}

// NewLines are lines with none yet.
func NewLines() Lines { return Lines{Apps: []AppLine{}, Tasks: []AppLine{}, Services: []ServiceLine{}} }

// Reconciliation is an organization's day reconciled.
type Reconciliation struct {
	Organization string `json:"organization"`
	Date         string `json:"date"`
	From         string `json:"from"`
	To           string `json:"to"`
	// Read is false while the Usage Service loop has not stored the day: no lines then.
	Read bool `json:"read"`
	Lines
	// Differences are the lines whose difference is not zero.
	Differences Lines  `json:"differences"`
	Totals      Totals `json:"totals"`
}

// Precision is the number of decimal places of the figures: each is divided from its exact
// sum (byte-milliseconds, instance-milliseconds) once and rounded once, half away from zero.
const Precision = 12

var (
	mib    = decimal.NewFromInt(1 << 20)
	gibMs  = decimal.NewFromInt((1 << 30) * 3600000) // a GB-hour in byte-milliseconds
	hourMs = decimal.NewFromInt(3600000)
	second = decimal.NewFromInt(1000)
)

// sums are exact numerators: byte-ms of memory, instance-ms.
type sums struct{ byteMs, instMs decimal.Decimal }

func (s sums) sub(o sums) sums { return sums{s.byteMs.Sub(o.byteMs), s.instMs.Sub(o.instMs)} }
func (s sums) add(o sums) sums { return sums{s.byteMs.Add(o.byteMs), s.instMs.Add(o.instMs)} }

func (s sums) app() AppFigures {
	return AppFigures{s.byteMs.DivRound(gibMs, Precision), s.instMs.DivRound(hourMs, Precision)}
}

func (s sums) service() ServiceFigures { return ServiceFigures{s.instMs.DivRound(hourMs, Precision)} }

type serviceKey struct{ instance, plan string }

type side struct {
	space, name string
	us, metered sums
}

// sideOf returns the sides of k, new with space and name if need be (a name the first side
// lacked is taken from the other).
func sideOf[K comparable](m map[K]*side, k K, space, name string) *side {
	s, ok := m[k]
	if !ok {
		s = &side{space: space}
		m[k] = s
	}
	if s.name == "" {
		s.name = name
	}
	return s
}

// integrate returns each step's share of [from, to): its footprint held until the next step
// of its instance (or to), byte-ms and instance-ms.
func integrate(steps []Step, from, to int64) []sums {
	out := make([]sums, len(steps))
	for i, s := range steps {
		end := to
		if i+1 < len(steps) && steps[i+1].Resource == s.Resource && steps[i+1].Instance == s.Instance {
			end = min(steps[i+1].AtMs, to)
		}
		lo := max(s.AtMs, from)
		if end <= lo {
			continue
		}
		ms := decimal.NewFromInt(end - lo)
		inst := s.Instances.Mul(ms)
		out[i] = sums{s.Memory.Mul(inst), inst}
	}
	return out
}

// appLines turns the sides of each app into lines, the differing ones, and their totals.
func appLines(m map[string]*side) (lines, diffs []AppLine, t Sides[AppFigures]) {
	lines, diffs = []AppLine{}, []AppLine{}
	var tus, tm sums
	for k, s := range m {
		diff := s.us.sub(s.metered)
		l := AppLine{App: k, Name: s.name, Space: s.space, UsageService: s.us.app(), Metered: s.metered.app(), Difference: diff.app()}
		lines = append(lines, l)
		if !diff.byteMs.IsZero() || !diff.instMs.IsZero() {
			diffs = append(diffs, l)
		}
		tus, tm = tus.add(s.us), tm.add(s.metered)
	}
	byApp := func(a, b AppLine) int {
		return cmp.Or(strings.Compare(a.Space, b.Space), strings.Compare(a.App, b.App))
	}
	slices.SortFunc(lines, byApp)
	slices.SortFunc(diffs, byApp)
	return lines, diffs, Sides[AppFigures]{tus.app(), tm.app(), tus.sub(tm).app()}
}

// Reconcile sets the Usage Service's rows of a day [from, to) against the metered steps.
func Reconcile(rows []Row, steps []Step, from, to time.Time) (lines, diffs Lines, t Totals) {
	appSides, taskSides := map[string]*side{}, map[string]*side{}
	svcSides := map[serviceKey]*side{}
	for _, r := range rows {
		ms := r.Seconds.Mul(second)
		switch {
		case r.Kind == KindApp:
			inst := decimal.NewFromInt(r.Instances).Mul(ms)
			s := sideOf(appSides, r.App, r.Space, r.AppName)
			s.us = s.us.add(sums{decimal.NewFromInt(r.Memory).Mul(mib).Mul(inst), inst})
		case r.Kind == KindTask:
			// The summary's seconds are those of all its tasks, each one instance.
			s := sideOf(taskSides, r.App, r.Space, r.AppName)
			s.us = s.us.add(sums{decimal.NewFromInt(r.Memory).Mul(mib).Mul(ms), ms})
		case r.Kind == KindService && !strings.HasPrefix(r.InstanceType, "user_provided"):
			// User-provided instances are not metered (the cf poller skips them): not set against.
			s := sideOf(svcSides, serviceKey{r.ServiceInstance, r.Plan}, r.Space, r.InstanceName)
			s.us = s.us.add(sums{decimal.Zero, ms})
		}
	}
	shares := integrate(steps, from.UnixMilli(), to.UnixMilli())
	for i, st := range steps {
		switch st.Resource {
		case ResourceApp, ResourceTask:
			app, ok := strings.CutPrefix(st.Consumer, "app:")
			m := appSides
			if st.Resource == ResourceTask {
				m = taskSides
			}
			if !ok || (shares[i].instMs.IsZero() && m[app] == nil) {
				continue
			}
			s := sideOf(m, app, st.Space, "")
			s.metered = s.metered.add(shares[i])
		case ResourceService:
			// service:<instance guid>:<plan guid>
			rest, ok := strings.CutPrefix(st.Instance, "service:")
			guid, plan, ok2 := strings.Cut(rest, ":")
			if !ok || !ok2 {
				continue
			}
			k := serviceKey{guid, plan}
			if shares[i].instMs.IsZero() && svcSides[k] == nil {
				continue
			}
			s := sideOf(svcSides, k, st.Space, "")
			s.metered = s.metered.add(sums{decimal.Zero, shares[i].instMs})
		}
	}
	lines, diffs = NewLines(), NewLines()
	lines.Apps, diffs.Apps, t.Apps = appLines(appSides)
	lines.Tasks, diffs.Tasks, t.Tasks = appLines(taskSides)
	var tus, tm sums
	for k, s := range svcSides {
		diff := s.us.sub(s.metered)
		l := ServiceLine{ServiceInstance: k.instance, Plan: k.plan, Name: s.name, Space: s.space,
			UsageService: s.us.service(), Metered: s.metered.service(), Difference: diff.service()}
		lines.Services = append(lines.Services, l)
		if !diff.instMs.IsZero() {
			diffs.Services = append(diffs.Services, l)
		}
		tus, tm = tus.add(s.us), tm.add(s.metered)
	}
	t.Services = Sides[ServiceFigures]{tus.service(), tm.service(), tus.sub(tm).service()}
	bySvc := func(a, b ServiceLine) int {
		return cmp.Or(strings.Compare(a.Space, b.Space), strings.Compare(a.ServiceInstance, b.ServiceInstance), strings.Compare(a.Plan, b.Plan))
	}
	slices.SortFunc(lines.Services, bySvc)
	slices.SortFunc(diffs.Services, bySvc)
	return lines, diffs, t
}
