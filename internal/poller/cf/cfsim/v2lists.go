package cfsim

import (
	"net/http"
	"strconv"
	"time"
)

// v2ListHandler serves Cloud Controller v2's lists of organizations, spaces, apps (in v2 an
// app is its web process: the running processes, by their guid) and service instances, in
// the shapes of ../shared/upstream-samples/cf-v2 (metadata and entity, next_url), paged by
// results-per-page (at most 100) and page.
func (s *Sim) v2ListHandler(kind string) func(http.ResponseWriter, *http.Request, bool) {
	return func(w http.ResponseWriter, r *http.Request, _ bool) {
		now := s.clk.Now()
		q := r.URL.Query()
		per, err := strconv.Atoi(q.Get("results-per-page"))
		if q.Get("results-per-page") == "" {
			per, err = 50, nil
		}
		page, perr := strconv.Atoi(q.Get("page"))
		if q.Get("page") == "" {
			page, perr = 1, nil
		}
		if err != nil || per < 1 || per > 100 || perr != nil || page < 1 {
			writeJSON(w, now, http.StatusBadRequest, cfError(10005, "CF-BadQueryParameter", "The query parameter is invalid: results-per-page or page"))
			return
		}
		type item struct {
			guid   string
			entity map[string]any
		}
		var all []item
		s.mu.Lock()
		s.advance()
		switch kind {
		case "organizations":
			for _, g := range s.organizations() {
				all = append(all, item{g, map[string]any{"name": "org-" + g, "status": "active"}})
			}
		case "spaces":
			for _, g := range sortedKeys(s.spaces) {
				all = append(all, item{g, map[string]any{"name": "space-" + g, "organization_guid": s.spaces[g]}})
			}
		case "apps":
			for _, g := range sortedKeys(s.running) {
				p := s.running[g]
				all = append(all, item{g, map[string]any{"name": "app-" + p.app, "space_guid": p.space, "memory": p.mem, "instances": p.inst,
					"disk_quota": 1024, "state": "STARTED", "package_state": "STAGED"}})
			}
		case "service_instances":
			for _, g := range sortedKeys(s.instances) {
				in := s.instances[g]
				all = append(all, item{g, map[string]any{"name": in.name, "service_plan_guid": in.plan, "space_guid": in.space,
					"type": "managed_service_instance"}})
			}
		}
		s.mu.Unlock()
		from, to := min((page-1)*per, len(all)), min(page*per, len(all))
		res := make([]map[string]any, 0, to-from)
		for _, it := range all[from:to] {
			res = append(res, map[string]any{"metadata": map[string]any{"guid": it.guid, "url": r.URL.Path + "/" + it.guid,
				"created_at": now.UTC().Format(time.RFC3339)}, "entity": it.entity})
		}
		var next any
		if to < len(all) {
			next = r.URL.Path + "?page=" + strconv.Itoa(page+1) + "&results-per-page=" + strconv.Itoa(per)
		}
		writeJSON(w, now, http.StatusOK, map[string]any{"total_results": len(all), "total_pages": (len(all) + per - 1) / per,
			"prev_url": nil, "next_url": next, "resources": res})
	}
}

// organizations are the guids of the organizations of the spaces seen, sorted. Callers hold mu.
func (s *Sim) organizations() []string {
	orgs := map[string]bool{}
	for _, o := range s.spaces {
		orgs[o] = true
	}
	return sortedKeys(orgs)
}
