package cf

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meterline/meterline/internal/poller"
)

// v2Resource is a resource of a Cloud Controller v2 list (metadata and entity).
type v2Resource struct {
	Metadata struct {
		GUID string `json:"guid"`
	} `json:"metadata"`
	Entity struct {
		OrganizationGUID string `json:"organization_guid"`
		SpaceGUID        string `json:"space_guid"`
		State            string `json:"state"`
		Memory           int64  `json:"memory"`
		Instances        int64  `json:"instances"`
		ServicePlanGUID  string `json:"service_plan_guid"`
		Type             string `json:"type"`
	} `json:"entity"`
}

// snapshotV2 is the snapshot of a foundation without the v3 lists: /v2/spaces, /v2/apps (in
// v2 an app is its web process, whose guid the v2 usage events carry as app_guid) and
// /v2/service_instances, every page. Its time is Cloud Controller's Date of the first answer.
func (p *Provider) snapshotV2(ctx context.Context) (snap, error) {
	s := snap{running: map[string]footprint{}, instances: map[string]instance{}}
	spaceOrg := map[string]string{}
	err := p.listV2(ctx, "/v2/spaces", &s.at, func(r v2Resource) { spaceOrg[r.Metadata.GUID] = r.Entity.OrganizationGUID })
	if err == nil {
		err = p.listV2(ctx, "/v2/apps", &s.at, func(r v2Resource) {
			e := r.Entity
			if e.State != "STARTED" || e.Instances <= 0 || e.Memory <= 0 {
				return
			}
			s.running["p:"+r.Metadata.GUID] = footprint{Resource: ResourceApp, Org: spaceOrg[e.SpaceGUID], Space: e.SpaceGUID,
				App: r.Metadata.GUID, MemoryMB: e.Memory, Count: e.Instances}
		})
	}
	if err == nil {
		err = p.listV2(ctx, "/v2/service_instances", &s.at, func(r v2Resource) {
			e := r.Entity
			if e.Type != "" && e.Type != "managed_service_instance" {
				return // user-provided instances are not metered
			}
			s.instances[r.Metadata.GUID] = instance{Org: spaceOrg[e.SpaceGUID], Space: e.SpaceGUID, Plan: e.ServicePlanGUID}
		})
	}
	return s, err
}

// listV2 calls each for every resource of every page of a v2 list (next_url, at most 1000
// pages); at is set from the first answer's Date.
func (p *Provider) listV2(ctx context.Context, path string, at *time.Time, each func(v2Resource)) error {
	next := path + "?" + url.Values{"results-per-page": {"100"}, "page": {"1"}}.Encode()
	for page := 1; next != "" && page <= 1000; page++ {
		u := p.cfg.API + next
		if strings.HasPrefix(next, "http://") || strings.HasPrefix(next, "https://") {
			u = next
		}
		ans, err := p.cfg.Client.Get(ctx, u, http.Header{"Accept": {"application/json"}})
		if err != nil {
			return err
		}
		if err := stamp(at, ans.Header, path); err != nil {
			return err
		}
		var pg struct {
			NextURL   *string      `json:"next_url"`
			Resources []v2Resource `json:"resources"`
		}
		if err := json.Unmarshal(ans.Body, &pg); err != nil || pg.Resources == nil {
			if err == nil {
				err = errors.New("no resources")
			}
			return &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
		}
		for _, r := range pg.Resources {
			each(r)
		}
		next = ""
		if pg.NextURL != nil {
			next = *pg.NextURL
		}
	}
	return nil
}
