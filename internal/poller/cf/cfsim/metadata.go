package cfsim

import (
	"net/http"
	"slices"
)

// MetaScript is what the simulator says of its fleet beyond usage: organization names,
// quotas and buildpacks (the PCF usage report's metadata). Organizations are named
// "org-<guid>", spaces "space-<guid>", apps "app-<guid>", plans "plan-<guid>" (offering
// "postgres") unless named here; an app's buildpack is go_buildpack unless named here.
type MetaScript struct {
	OrgNames    map[string]string `json:"org_names,omitempty"`
	Buildpacks  map[string]string `json:"buildpacks,omitempty"`
	OrgQuotas   []Quota           `json:"org_quotas,omitempty"`
	SpaceQuotas []Quota           `json:"space_quotas,omitempty"`
}

// Quota is an organization or space quota and what it applies to; a nil limit is unlimited.
type Quota struct {
	GUID             string   `json:"guid"`
	Name             string   `json:"name"`
	MemoryMB         *int64   `json:"total_memory_in_mb,omitempty"`
	InstanceMemoryMB *int64   `json:"per_process_memory_in_mb,omitempty"`
	Instances        *int64   `json:"total_instances,omitempty"`
	Services         *int64   `json:"total_service_instances,omitempty"`
	Routes           *int64   `json:"total_routes,omitempty"`
	Orgs             []string `json:"organizations,omitempty"` // organization quotas
	Org              string   `json:"organization,omitempty"`  // space quotas
	Spaces           []string `json:"spaces,omitempty"`        // space quotas
}

// metadataRoutes serves the lists the poller's metadata loop reads beside the usage events:
// organizations, organization and space quotas, the apps' current droplets, service plans
// and offerings (the shapes of upstream-samples/cf-v3).
func (s *Sim) metadataRoutes(mux *http.ServeMux) {
	for _, kind := range []string{"organization_quotas", "space_quotas", "service_plans", "service_offerings"} {
		mux.HandleFunc("GET /v3/"+kind, s.guard(s.metadataList(kind)))
	}
	mux.HandleFunc("GET /v3/apps/{guid}/droplets/current", s.guard(s.currentDroplet))
}

// organizationJSON is organization org as /v3/organizations lists it: named by the script's
// metadata (org-<guid> by default), with its quota relationship. s.mu is held.
func (s *Sim) organizationJSON(org string) map[string]any {
	name := s.script.Metadata.OrgNames[org]
	if name == "" {
		name = "org-" + org
	}
	return map[string]any{"guid": org, "name": name, "suspended": false, "relationships": map[string]any{"quota": data("")}}
}

func data(guid string) map[string]any { return map[string]any{"data": map[string]string{"guid": guid}} }

func quotaJSON(q Quota, rels map[string]any) map[string]any {
	return map[string]any{"guid": q.GUID, "name": q.Name,
		"apps":          map[string]any{"total_memory_in_mb": q.MemoryMB, "per_process_memory_in_mb": q.InstanceMemoryMB, "total_instances": q.Instances},
		"services":      map[string]any{"paid_services_allowed": true, "total_service_instances": q.Services},
		"routes":        map[string]any{"total_routes": q.Routes},
		"relationships": rels}
}

func guids(gs []string) map[string]any {
	out := make([]map[string]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, map[string]string{"guid": g})
	}
	return map[string]any{"data": out}
}

func (s *Sim) metadataList(kind string) func(http.ResponseWriter, *http.Request, bool) {
	return func(w http.ResponseWriter, r *http.Request, _ bool) {
		now := s.clk.Now()
		s.mu.Lock()
		s.advance()
		meta := s.script.Metadata
		res := []map[string]any{}
		switch kind {
		case "organization_quotas":
			for _, q := range meta.OrgQuotas {
				res = append(res, quotaJSON(q, map[string]any{"organizations": guids(q.Orgs)}))
			}
		case "space_quotas":
			for _, q := range meta.SpaceQuotas {
				res = append(res, quotaJSON(q, map[string]any{"organization": data(q.Org), "spaces": guids(q.Spaces)}))
			}
		case "service_plans", "service_offerings":
			var plans []string
			for _, e := range s.events {
				if e.Service && e.Plan != "" && !slices.Contains(plans, e.Plan) {
					plans = append(plans, e.Plan)
				}
			}
			for _, in := range s.instances {
				if !slices.Contains(plans, in.plan) {
					plans = append(plans, in.plan)
				}
			}
			slices.Sort(plans)
			for _, p := range plans {
				if kind == "service_plans" {
					res = append(res, map[string]any{"guid": p, "name": "plan-" + p, "free": false,
						"relationships": map[string]any{"service_offering": data("offering-" + p)}})
				} else {
					res = append(res, map[string]any{"guid": "offering-" + p, "name": "postgres"})
				}
			}
		}
		s.mu.Unlock()
		writeJSON(w, now, http.StatusOK, map[string]any{"pagination": map[string]any{"total_results": len(res), "total_pages": 1, "next": nil}, "resources": res})
	}
}

// currentDroplet answers the staged droplet of a started app, 404 for any other.
func (s *Sim) currentDroplet(w http.ResponseWriter, r *http.Request, _ bool) {
	now := s.clk.Now()
	app := r.PathValue("guid")
	s.mu.Lock()
	s.advance()
	_, ok := s.apps[app]
	bp := s.script.Metadata.Buildpacks[app]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, now, http.StatusNotFound, cfError(10010, "CF-ResourceNotFound", "Droplet not found"))
		return
	}
	if bp == "" {
		bp = "go_buildpack"
	}
	writeJSON(w, now, http.StatusOK, map[string]any{"guid": "droplet-" + app, "state": "STAGED", "lifecycle": map[string]any{"type": "buildpack", "data": map[string]any{}},
		"buildpacks": []map[string]any{{"name": bp, "detect_output": bp, "buildpack_name": bp}}, "stack": "cflinuxfs4",
		"relationships": map[string]any{"app": data(app)}})
}
