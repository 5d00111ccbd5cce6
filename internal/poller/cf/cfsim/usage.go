package cfsim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Usage Service part of the simulator (Pivotal's "app-usage" service, seed 000): per
// organization and period the app, task and service usages in the shapes of
// ../shared/upstream-samples/cf-usage-service/org_app_usages.pcf-docs.json,
// org_task_usages.pcf-docs.json and org_service_usages.pcf-docs.json, served under /app-usage
// with the same bearer tokens as Cloud Controller (the real service takes
// `authorization: bearer <cf oauth-token>`).
//
// The figures come from the runs the script played, with the same whole-second times as the
// Cloud Controller events the simulator writes (created_at), so an honest poller's metered
// usage equals them to the second. Script.UsageSkew lengthens one organization's entries, so
// that a reconciliation sees a difference of exactly that much.

// run is one footprint's stretch of time: an app process at one memory and instance count,
// or a service instance on one plan.
type run struct {
	service, task    bool
	org, space       string
	app, process     string
	mem, inst        int64
	instance, plan   string
	name             string
	created, deleted time.Time // a service instance's life (deleted zero while it exists)
	from, to         time.Time // to is zero while it runs
}

// UsageURL is the Usage Service's URL when the simulator is served at base.
func UsageURL(base string) string { return strings.TrimSuffix(base, "/") + "/app-usage" }

// openRun starts a run; closeRun ends the open run of key. Callers hold mu.
func (s *Sim) openRun(key string, r run) {
	if s.open == nil {
		s.open = map[string]int{}
	}
	s.open[key] = len(s.runs)
	s.runs = append(s.runs, r)
}

func (s *Sim) closeRun(key string, at time.Time) (run, bool) {
	i, ok := s.open[key]
	if !ok {
		return run{}, false
	}
	delete(s.open, key)
	s.runs[i].to = at
	return s.runs[i], true
}

// record keeps the runs of an action the simulator has just played (its events are at the
// whole second of a.At, as created_at).
func (s *Sim) record(a Action, proc string) {
	at := a.At.UTC().Truncate(time.Second)
	switch a.Kind {
	case "start", "scale":
		s.closeRun("p:"+proc, at)
		if p := s.running[proc]; p.mem > 0 && p.inst > 0 {
			s.openRun("p:"+proc, run{org: p.org, space: p.space, app: p.app, process: proc, mem: p.mem, inst: p.inst, from: at})
		}
	case "stop":
		s.closeRun("p:"+proc, at)
	case "task":
		s.openRun("t:"+a.Task, run{task: true, org: a.Org, space: a.Space, app: a.App, process: a.Task, mem: a.MemoryMB, inst: 1, from: at})
	case "task_end":
		s.closeRun("t:"+a.Task, at)
	case "create_service":
		in := s.instances[a.Instance]
		s.openRun("s:"+a.Instance, run{service: true, org: in.org, space: in.space, instance: a.Instance, plan: in.plan, name: in.name, created: at, from: at})
	case "update_service":
		in, ok := s.instances[a.Instance]
		if !ok {
			return
		}
		if i, ok := s.open["s:"+a.Instance]; ok && s.runs[i].plan == in.plan {
			for j := range s.runs {
				if s.runs[j].service && s.runs[j].instance == a.Instance {
					s.runs[j].name = in.name // a rename: the run goes on
				}
			}
			return
		}
		created := at
		if old, was := s.closeRun("s:"+a.Instance, at); was {
			created = old.created
		}
		s.openRun("s:"+a.Instance, run{service: true, org: in.org, space: in.space, instance: a.Instance, plan: in.plan, name: in.name, created: created, from: at})
	case "delete_service":
		if _, ok := s.closeRun("s:"+a.Instance, at); ok {
			for i := range s.runs {
				if s.runs[i].service && s.runs[i].instance == a.Instance && s.runs[i].deleted.IsZero() {
					s.runs[i].deleted = at
				}
			}
		}
	}
}

// taskHandler serves task_usages: per space, a summary per parent app and task memory of the
// tasks with time in the period: how many, how many at most at once, their seconds summed.
func (s *Sim) taskHandler(w http.ResponseWriter, r *http.Request, _ bool) {
	now, from, to, ok := s.period(w, r)
	if !ok {
		return
	}
	org := r.PathValue("org")
	type summary struct {
		space, app   string
		mem          int64
		count, total int64
		edges        [][2]int64 // run start and end, for the concurrency
	}
	s.mu.Lock()
	s.advance()
	skew := int64(s.script.UsageSkew[org] / time.Second)
	var list []*summary
	byKey := map[string]*summary{}
	for _, rn := range s.runs {
		sec := rn.within(from, to, now)
		if !rn.task || rn.org != org || sec == 0 {
			continue
		}
		key := rn.space + "\x00" + rn.app + "\x00" + strconv.FormatInt(rn.mem, 10)
		sm, ok := byKey[key]
		if !ok {
			sm = &summary{space: rn.space, app: rn.app, mem: rn.mem}
			byKey[key] = sm
			list = append(list, sm)
		}
		end := rn.to
		if end.IsZero() {
			end = now
		}
		sm.count, sm.total = sm.count+1, sm.total+sec
		sm.edges = append(sm.edges, [2]int64{rn.from.Unix(), end.Unix()})
	}
	s.mu.Unlock()
	spaces := map[string]map[string]any{}
	for _, sm := range list {
		concurrent := 0
		for _, e := range sm.edges {
			n := 0
			for _, o := range sm.edges {
				if o[0] <= e[0] && e[0] < o[1] {
					n++
				}
			}
			concurrent = max(concurrent, n)
		}
		sp, ok := spaces[sm.space]
		if !ok {
			sp = map[string]any{"space_name": "space-" + sm.space, "task_summaries": []map[string]any{}}
			spaces[sm.space] = sp
		}
		sp["task_summaries"] = append(sp["task_summaries"].([]map[string]any), map[string]any{"parent_application_guid": sm.app,
			"parent_application_name": "app-" + sm.app, "memory_in_mb_per_instance": sm.mem, "task_count_for_range": sm.count,
			"concurrent_task_count_for_range": concurrent, "total_duration_in_seconds_for_range": sm.total + skew})
	}
	writeJSON(w, now, http.StatusOK, map[string]any{"organization_guid": org, "period_start": from.Format(time.DateOnly),
		"period_end": to.AddDate(0, 0, -1).Format(time.DateOnly), "spaces": spaces})
}

// period reads start and end (YYYY-MM-DD, both days included) into [from, to), or answers
// 400 naming the problem.
func (s *Sim) period(w http.ResponseWriter, r *http.Request) (now, from, to time.Time, ok bool) {
	now = s.clk.Now()
	q := r.URL.Query()
	from, err1 := time.Parse(time.DateOnly, q.Get("start"))
	end, err2 := time.Parse(time.DateOnly, q.Get("end"))
	problem := ""
	switch {
	case err1 != nil || err2 != nil:
		problem = "start and end must be dates YYYY-MM-DD"
	case end.Before(from):
		problem = "end must not be before start"
	case end.Sub(from) > 366*24*time.Hour:
		problem = "the period must not exceed a year"
	}
	if problem != "" {
		writeJSON(w, now, http.StatusBadRequest, map[string]any{"error": problem})
		return now, from, to, false
	}
	return now, from, end.AddDate(0, 0, 1), true
}

// within is the part of the run inside [from, min(to, now)), in seconds.
func (r run) within(from, to, now time.Time) int64 {
	end := r.to
	if end.IsZero() || end.After(now) {
		end = now
	}
	lo, hi := max(r.from.Unix(), from.Unix()), min(end.Unix(), to.Unix())
	return max(hi-lo, 0)
}

func (s *Sim) usageHandler(services bool) func(http.ResponseWriter, *http.Request, bool) {
	return func(w http.ResponseWriter, r *http.Request, _ bool) {
		now, from, to, ok := s.period(w, r)
		if !ok {
			return
		}
		org := r.PathValue("org")
		s.mu.Lock()
		s.advance()
		skew := int64(s.script.UsageSkew[org] / time.Second)
		type entry struct {
			r       run
			seconds int64
		}
		var entries []*entry
		byKey := map[string]*entry{}
		for _, rn := range s.runs {
			if rn.service != services || rn.task || rn.org != org {
				continue
			}
			sec := rn.within(from, to, now)
			if sec == 0 {
				continue
			}
			// The Usage Service lists an app once per footprint and a service instance once per
			// plan, with the seconds of the period summed.
			key := rn.instance + "\x00" + rn.plan
			if !services {
				key = rn.process + "\x00" + strconv.FormatInt(rn.mem, 10) + "\x00" + strconv.FormatInt(rn.inst, 10)
			}
			e, ok := byKey[key]
			if !ok {
				e = &entry{r: rn}
				byKey[key] = e
				entries = append(entries, e)
			}
			e.seconds += sec
			if !rn.deleted.IsZero() {
				e.r.deleted = rn.deleted
			}
		}
		s.mu.Unlock()
		list := make([]map[string]any, 0, len(entries))
		for _, e := range entries {
			rn, sec := e.r, e.seconds+skew
			if services {
				var deletion any
				if !rn.deleted.IsZero() {
					deletion = rn.deleted.Format("2006-01-02T15:04:05.000Z")
				}
				list = append(list, map[string]any{"deleted": !rn.deleted.IsZero(), "duration_in_seconds": sec,
					"service_guid": "offering-" + rn.plan, "service_instance_creation": rn.created.Format("2006-01-02T15:04:05.000Z"),
					"service_instance_deletion": deletion, "service_instance_guid": rn.instance, "service_instance_name": rn.name,
					"service_instance_type": "managed_service_instance", "service_name": "postgres", "service_plan_guid": rn.plan,
					"service_plan_name": "plan-" + rn.plan, "space_guid": rn.space, "space_name": "space-" + rn.space})
				continue
			}
			list = append(list, map[string]any{"space_guid": rn.space, "space_name": "space-" + rn.space, "app_name": "app-" + rn.app,
				"app_guid": rn.process, "parent_application_name": "app-" + rn.app, "parent_application_guid": rn.app,
				"instance_count": rn.inst, "memory_in_mb_per_instance": rn.mem, "duration_in_seconds": sec})
		}
		field := "app_usages"
		if services {
			field = "service_usages"
		}
		writeJSON(w, now, http.StatusOK, map[string]any{"organization_guid": org, "period_start": from.Format(time.RFC3339),
			"period_end": to.Add(-time.Second).Format(time.RFC3339), field: list})
	}
}
