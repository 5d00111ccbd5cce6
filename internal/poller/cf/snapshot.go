package cf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/meterline/meterline/internal/poller"
)

// bootstrap takes a snapshot of what runs now and reconciles the state with it, then sets
// both cursors to the newest events. On a first start the state is empty and every running
// process and existing instance starts at the snapshot's time (Cloud Controller's Date); after
// a discontinuity (why) what stopped meanwhile stops then, what started starts then, and what
// is unchanged gives no document. The 31 days of retained events are never replayed.
func (p *Provider) bootstrap(ctx context.Context, st state, why *poller.Notice) (poller.Batch, error) {
	if st.API == "" {
		api, err := p.detectAPI(ctx)
		if err != nil {
			return poller.Batch{}, err
		}
		st.API = api
	}
	// The cursors first: an event after them is read later, and one between them and the
	// snapshot is already in the snapshot (applied again, it changes nothing).
	appCursor, err := p.newest(ctx, st.API, false)
	if err != nil {
		return poller.Batch{}, err
	}
	svcCursor, err := p.newest(ctx, st.API, true)
	if err != nil {
		return poller.Batch{}, err
	}
	takeSnapshot := p.snapshot
	if st.API == "v2" {
		takeSnapshot = p.snapshotV2 // a foundation without the v3 lists
	}
	snap, err := takeSnapshot(ctx)
	if err != nil {
		return poller.Batch{}, err
	}
	// A first start only: after a discontinuity an empty app stream is one pruned down to
	// a service event (the stream was read before, so the token has global read).
	if why == nil && appCursor == "" && len(snap.running) > 0 {
		return poller.Batch{}, &poller.MisconfiguredError{Msg: fmt.Sprintf(
			"cloud controller %s lists %d running processes but no app usage event: the token has no global read (admin, admin_read_only or global_auditor), so every usage would read as none",
			p.cfg.API, len(snap.running))}
	}
	at := snap.at
	dedup := "snapshot:" + strconv.FormatInt(at.Unix(), 10) + ":"
	var cs []change
	for _, key := range sortedKeys(st.Running) {
		if key[0] != 'p' {
			continue // tasks and staging are not in the snapshot; their own events end them
		}
		if _, ok := snap.running[key]; !ok {
			before := st.Running[key]
			cs = append(cs, change{key: key, at: at, before: &before, dedup: dedup + key})
			delete(st.Running, key)
		}
	}
	for _, key := range sortedKeys(snap.running) {
		after := snap.running[key]
		c := change{key: key, at: at, after: &after, dedup: dedup + key}
		if before, ok := st.Running[key]; ok {
			c.before = &before
		}
		st.Running[key] = after
		cs = append(cs, c)
	}
	var out []change
	for _, c := range cs {
		if !same(c.before, c.after) {
			out = append(out, c)
		}
	}
	var batch poller.Batch
	for _, c := range out {
		batch.Docs = append(batch.Docs, appDoc(p.cfg.Foundation, c))
	}
	for _, guid := range sortedKeys(st.Instances) {
		old := st.Instances[guid]
		if now, ok := snap.instances[guid]; !ok || now.Plan != old.Plan {
			batch.Docs = append(batch.Docs, serviceDoc(p.cfg.Foundation, guid, old, at, false, dedup+"close:"+guid))
			delete(st.Instances, guid)
		}
	}
	for _, guid := range sortedKeys(snap.instances) {
		if _, ok := st.Instances[guid]; ok {
			continue
		}
		in := snap.instances[guid]
		st.Instances[guid] = in
		batch.Docs = append(batch.Docs, serviceDoc(p.cfg.Foundation, guid, in, at, true, dedup+"open:"+guid))
	}
	st.Ready = true
	st.Apps = stream{Anchor: appCursor}
	st.Services = stream{Anchor: svcCursor}
	raw, err := json.Marshal(st)
	if err != nil {
		return poller.Batch{}, err
	}
	batch.State, batch.Through = raw, at.Add(-p.cfg.MinAge)
	if why != nil {
		why.Detail += fmt.Sprintf(" at %s: %d documents", at.Format(time.RFC3339), len(batch.Docs))
		batch.Notices = append(batch.Notices, *why)
	}
	return batch, nil
}

// detectAPI is "v3", or "v2" when Cloud Controller answers 404 on the v3 events.
func (p *Provider) detectAPI(ctx context.Context) (string, error) {
	_, err := p.cfg.Client.Get(ctx, p.cfg.API+"/v3/app_usage_events?per_page=1", http.Header{"Accept": {"application/json"}})
	var se *poller.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return "v2", nil
	}
	if err != nil {
		return "", err
	}
	return "v3", nil
}

// newest returns the guid of a stream's newest event, "" when the stream is empty.
func (p *Provider) newest(ctx context.Context, api string, services bool) (string, error) {
	kind := "app_usage_events"
	if services {
		kind = "service_usage_events"
	}
	u := p.cfg.API + "/v3/" + kind + "?per_page=1&order_by=-created_at"
	decode := decodeV3
	if api == "v2" {
		u = p.cfg.API + "/v2/" + kind + "?results-per-page=1&order-direction=desc"
		decode = decodeV2
	}
	ans, err := p.cfg.Client.Get(ctx, u, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return "", err
	}
	evs, _, err := decode(ans.Body, services)
	if err != nil && len(evs) == 0 {
		return "", &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
	}
	if len(evs) == 0 {
		return "", nil
	}
	return evs[0].guid, nil
}

// snap is what runs at at.
type snap struct {
	at        time.Time
	running   map[string]footprint // "p:<process guid>"
	instances map[string]instance
}

type v3Resource struct {
	GUID          string `json:"guid"`
	State         string `json:"state"`
	Type          string `json:"type"`
	Instances     int64  `json:"instances"`
	MemoryInMB    int64  `json:"memory_in_mb"`
	Relationships map[string]struct {
		Data *struct {
			GUID string `json:"guid"`
		} `json:"data"`
	} `json:"relationships"`
}

func (r v3Resource) rel(name string) string {
	if d := r.Relationships[name].Data; d != nil {
		return d.GUID
	}
	return ""
}

// snapshot reads /v3/spaces, /v3/apps, /v3/processes and /v3/service_instances (every page).
// Its time is Cloud Controller's Date of the first answer, whole seconds.
func (p *Provider) snapshot(ctx context.Context) (snap, error) {
	s := snap{running: map[string]footprint{}, instances: map[string]instance{}}
	spaceOrg := map[string]string{}
	appSpace := map[string]string{}
	err := p.list(ctx, "/v3/spaces", &s.at, func(r v3Resource) { spaceOrg[r.GUID] = r.rel("organization") })
	if err == nil {
		err = p.list(ctx, "/v3/apps", &s.at, func(r v3Resource) {
			if r.State == "STARTED" {
				appSpace[r.GUID] = r.rel("space")
			}
		})
	}
	if err == nil {
		err = p.list(ctx, "/v3/processes", &s.at, func(r v3Resource) {
			app := r.rel("app")
			space, ok := appSpace[app]
			if !ok || r.Instances <= 0 || r.MemoryInMB <= 0 {
				return
			}
			s.running["p:"+r.GUID] = footprint{Resource: ResourceApp, Org: spaceOrg[space], Space: space, App: app, MemoryMB: r.MemoryInMB, Count: r.Instances}
		})
	}
	if err == nil {
		err = p.list(ctx, "/v3/service_instances?type=managed", &s.at, func(r v3Resource) {
			if r.Type != "" && r.Type != "managed" {
				return
			}
			space := r.rel("space")
			s.instances[r.GUID] = instance{Org: spaceOrg[space], Space: space, Plan: r.rel("service_plan")}
		})
	}
	return s, err
}

// list calls each for every resource of every page of path; at is set from the first Date.
func (p *Provider) list(ctx context.Context, path string, at *time.Time, each func(v3Resource)) error {
	return listOf(p, ctx, path, at, each)
}

// stamp sets at, when still zero, from an answer's Date, whole seconds.
func stamp(at *time.Time, h http.Header, path string) error {
	if !at.IsZero() {
		return nil
	}
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return &poller.ProviderError{Msg: "cloud controller answered " + path + " without a Date header"}
	}
	*at = d.UTC().Truncate(time.Second)
	return nil
}
