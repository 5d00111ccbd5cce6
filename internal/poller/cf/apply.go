package cf

import (
	"fmt"

	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/usage"
)

// apply applies events to the state and returns their documents: a pure function of the
// state and the events, so a batch read again after a crash gives the same documents.
func (p *Provider) apply(st *state, evs []event, services bool) ([]usage.Document, []poller.Notice) {
	if services {
		return p.applyServices(st, evs)
	}
	var (
		cs      []change
		notices []poller.Notice
	)
	set := func(e event, key string, after *footprint) {
		var before *footprint
		if f, ok := st.Running[key]; ok {
			before = &f
		}
		if after == nil {
			delete(st.Running, key)
		} else {
			st.Running[key] = *after
		}
		cs = append(cs, change{key: key, at: e.at, before: before, after: after, dedup: e.guid})
	}
	// stop ends what runs under key; a stop of what the state does not know runs changes
	// nothing and is a notice, its detail "<state> <guid> of <what>".
	stop := func(e event, key, what string) {
		if _, ok := st.Running[key]; !ok {
			notices = append(notices, poller.Notice{Kind: "untracked_stop", Detail: fmt.Sprintf("%s %s of %s", e.state, e.guid, what)})
			return
		}
		set(e, key, nil)
	}
	for _, e := range evs {
		fp := &footprint{Org: e.org, Space: e.space, App: e.app, MemoryMB: e.mem, Count: e.inst}
		switch e.state {
		case "STARTED":
			fp.Resource = ResourceApp
			if fp.Count == 0 || fp.MemoryMB == 0 {
				fp = nil // started with nothing running counts nothing
			}
			set(e, "p:"+e.process, fp)
		case "BUILDPACK_SET":
			// Sent after staging for every process of a started app, with its footprint: no
			// change of usage. A process the state does not know runs is started, though.
			if _, ok := st.Running["p:"+e.process]; !ok && fp.Count > 0 && fp.MemoryMB > 0 {
				fp.Resource = ResourceApp
				set(e, "p:"+e.process, fp)
				notices = append(notices, poller.Notice{Kind: "untracked_running",
					Detail: fmt.Sprintf("BUILDPACK_SET %s shows process %s running, unknown to the state: started at %s", e.guid, e.process, e.at)})
			}
		case "STOPPED":
			stop(e, "p:"+e.process, "process "+e.process+" that the state does not know runs")
		case "TASK_STARTED":
			fp.Resource, fp.Count = ResourceTask, 1
			set(e, "t:"+e.task, fp)
		case "TASK_STOPPED":
			stop(e, "t:"+e.task, "task "+e.task+" that the state does not know runs")
		case "STAGING_STARTED":
			fp.Resource, fp.Count = ResourceStaging, 1
			set(e, "s:"+e.app, fp)
		case "STAGING_STOPPED":
			stop(e, "s:"+e.app, "app "+e.app+" without a staging start")
		default:
			notices = append(notices, poller.Notice{Kind: "unknown_state", Detail: fmt.Sprintf("event %s: state %q not metered", e.guid, e.state)})
		}
	}
	var docs []usage.Document
	for _, c := range fold(cs) {
		docs = append(docs, appDoc(p.cfg.Foundation, c))
	}
	return docs, notices
}

// applyServices applies service events: CREATED opens an instance on its plan, DELETED
// closes it, UPDATED to another plan closes the old and opens the new at the same instant
// (distinct instance ids), a rename (UPDATED on the same plan) changes nothing.
// User-provided instances are not metered.
func (p *Provider) applyServices(st *state, evs []event) ([]usage.Document, []poller.Notice) {
	var (
		docs    []usage.Document
		notices []poller.Notice
	)
	f := p.cfg.Foundation
	for _, e := range evs {
		if e.instanceType == "user_provided_service_instance" || e.instanceType == "user_provided" {
			continue
		}
		in := instance{Org: e.org, Space: e.space, Plan: e.plan}
		old, tracked := st.Instances[e.instance]
		switch e.state {
		case "CREATED":
			if tracked && old.Plan == in.Plan {
				continue // a purge seed or a repeat: it exists already
			}
			if tracked {
				docs = append(docs, serviceDoc(f, e.instance, old, e.at, false, e.guid+":close"))
			}
			st.Instances[e.instance] = in
			docs = append(docs, serviceDoc(f, e.instance, in, e.at, true, e.guid))
		case "UPDATED":
			if tracked && old.Plan == in.Plan {
				continue // a rename
			}
			if tracked {
				docs = append(docs, serviceDoc(f, e.instance, old, e.at, false, e.guid+":close"))
			} else {
				notices = append(notices, poller.Notice{Kind: "untracked_update", Detail: fmt.Sprintf("UPDATED %s of service instance %s unknown to the state: opened on plan %s", e.guid, e.instance, e.plan)})
			}
			st.Instances[e.instance] = in
			docs = append(docs, serviceDoc(f, e.instance, in, e.at, true, e.guid+":open"))
		case "DELETED":
			if !tracked {
				notices = append(notices, poller.Notice{Kind: "untracked_stop", Detail: fmt.Sprintf("DELETED %s of service instance %s unknown to the state", e.guid, e.instance)})
				continue
			}
			delete(st.Instances, e.instance)
			docs = append(docs, serviceDoc(f, e.instance, old, e.at, false, e.guid))
		default:
			notices = append(notices, poller.Notice{Kind: "unknown_state", Detail: fmt.Sprintf("service event %s: state %q not metered", e.guid, e.state)})
		}
	}
	return docs, notices
}
