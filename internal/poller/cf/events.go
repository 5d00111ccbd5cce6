package cf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// event is one usage event of either API version and either stream, decoded and checked.
type event struct {
	guid  string
	at    time.Time // created_at, whole seconds
	state string    // STARTED, STOPPED, BUILDPACK_SET, TASK_*, STAGING_*; CREATED, UPDATED, DELETED
	// app events
	app, process, processType, task string
	mem, inst                       int64 // current memory per instance (MB), instance count
	// service events
	instance, instanceType, plan, planName, offering string
	// both
	space, org string
}

// seeded says the event looks like one of a purge-and-reseed: Cloud Controller seeds one
// STARTED per started process whose guid is the process guid (services: CREATED with the
// instance guid).
func (e event) seeded() bool {
	return (e.process != "" && e.guid == e.process) || (e.instance != "" && e.guid == e.instance)
}

type v3Ref struct {
	GUID string `json:"guid"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type v3Pair struct {
	Current  json.RawMessage `json:"current"`
	Previous json.RawMessage `json:"previous"`
}

type v3Event struct {
	GUID            string          `json:"guid"`
	CreatedAt       string          `json:"created_at"`
	State           json.RawMessage `json:"state"`
	App             *v3Ref          `json:"app"`
	Process         *v3Ref          `json:"process"`
	Space           *v3Ref          `json:"space"`
	Organization    *v3Ref          `json:"organization"`
	Task            *v3Ref          `json:"task"`
	Memory          *v3Pair         `json:"memory_in_mb_per_instance"`
	Instances       *v3Pair         `json:"instance_count"`
	ServiceInstance *v3Ref          `json:"service_instance"`
	ServicePlan     *v3Ref          `json:"service_plan"`
	ServiceOffering *v3Ref          `json:"service_offering"`
}

type v3Page struct {
	Pagination struct {
		TotalPages int `json:"total_pages"`
		Next       *struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"pagination"`
	Resources []v3Event `json:"resources"`
}

func (r *v3Ref) guid() string {
	if r == nil {
		return ""
	}
	return r.GUID
}

func (r *v3Ref) name() string {
	if r == nil {
		return ""
	}
	return r.Name
}

// decodeV3 reads a page of v3 usage events; more says pagination has a next page.
func decodeV3(body []byte, services bool) (events []event, more bool, err error) {
	var pg v3Page
	if err := json.Unmarshal(body, &pg); err != nil {
		return nil, false, err
	}
	if pg.Resources == nil {
		return nil, false, errors.New("no resources")
	}
	var errs []error
	for _, r := range pg.Resources {
		e := event{guid: r.GUID, space: r.Space.guid(), org: r.Organization.guid()}
		var err error
		if e.at, err = parseTime(r.CreatedAt); err != nil {
			errs = append(errs, fmt.Errorf("event %s: created_at: %w", r.GUID, err))
		}
		if services {
			if err := json.Unmarshal(r.State, &e.state); err != nil {
				errs = append(errs, fmt.Errorf("event %s: state: %w", r.GUID, err))
			}
			e.instance, e.instanceType = r.ServiceInstance.guid(), ""
			if r.ServiceInstance != nil {
				e.instanceType = r.ServiceInstance.Type
			}
			e.plan, e.planName, e.offering = r.ServicePlan.guid(), r.ServicePlan.name(), r.ServiceOffering.name()
		} else {
			var st struct {
				Current string `json:"current"`
			}
			if err := json.Unmarshal(r.State, &st); err != nil {
				errs = append(errs, fmt.Errorf("event %s: state: %w", r.GUID, err))
			}
			e.state = st.Current
			e.app, e.process, e.task = r.App.guid(), r.Process.guid(), r.Task.guid()
			if r.Process != nil {
				e.processType = r.Process.Type
			}
			if r.Memory != nil {
				if e.mem, err = count(r.Memory.Current); err != nil {
					errs = append(errs, fmt.Errorf("event %s: memory_in_mb_per_instance: %w", r.GUID, err))
				}
			}
			if r.Instances != nil {
				if e.inst, err = count(r.Instances.Current); err != nil {
					errs = append(errs, fmt.Errorf("event %s: instance_count: %w", r.GUID, err))
				}
			}
		}
		if err := e.check(services); err != nil {
			errs = append(errs, err)
		}
		events = append(events, e)
	}
	return events, pg.Pagination.Next != nil && pg.Pagination.Next.Href != "", errors.Join(errs...)
}

type v2Page struct {
	NextURL   *string `json:"next_url"`
	Resources []struct {
		Metadata struct {
			GUID      string `json:"guid"`
			CreatedAt string `json:"created_at"`
		} `json:"metadata"`
		Entity struct {
			State               string          `json:"state"`
			AppGUID             string          `json:"app_guid"`
			ParentAppGUID       string          `json:"parent_app_guid"`
			ProcessType         string          `json:"process_type"`
			TaskGUID            string          `json:"task_guid"`
			SpaceGUID           string          `json:"space_guid"`
			OrgGUID             string          `json:"org_guid"`
			Memory              json.RawMessage `json:"memory_in_mb_per_instance"`
			Instances           json.RawMessage `json:"instance_count"`
			ServiceInstanceGUID string          `json:"service_instance_guid"`
			ServiceInstanceType string          `json:"service_instance_type"`
			ServicePlanGUID     string          `json:"service_plan_guid"`
			ServicePlanName     string          `json:"service_plan_name"`
			ServiceLabel        string          `json:"service_label"`
		} `json:"entity"`
	} `json:"resources"`
}

// decodeV2 reads a page of v2 usage events. In v2 app_guid is the process guid and
// parent_app_guid the app; staging and task events have an empty app_guid.
func decodeV2(body []byte, services bool) (events []event, more bool, err error) {
	var pg v2Page
	if err := json.Unmarshal(body, &pg); err != nil {
		return nil, false, err
	}
	if pg.Resources == nil {
		return nil, false, errors.New("no resources")
	}
	var errs []error
	for _, r := range pg.Resources {
		en := r.Entity
		e := event{guid: r.Metadata.GUID, state: en.State, space: en.SpaceGUID, org: en.OrgGUID}
		var err error
		if e.at, err = parseTime(r.Metadata.CreatedAt); err != nil {
			errs = append(errs, fmt.Errorf("event %s: created_at: %w", e.guid, err))
		}
		if services {
			e.instance, e.instanceType, e.plan, e.planName, e.offering = en.ServiceInstanceGUID, en.ServiceInstanceType, en.ServicePlanGUID, en.ServicePlanName, en.ServiceLabel
		} else {
			e.process, e.app, e.processType, e.task = en.AppGUID, en.ParentAppGUID, en.ProcessType, en.TaskGUID
			if e.app == "" {
				e.app = en.AppGUID
			}
			if e.mem, err = count(en.Memory); err != nil {
				errs = append(errs, fmt.Errorf("event %s: memory_in_mb_per_instance: %w", e.guid, err))
			}
			if e.inst, err = count(en.Instances); err != nil {
				errs = append(errs, fmt.Errorf("event %s: instance_count: %w", e.guid, err))
			}
		}
		if err := e.check(services); err != nil {
			errs = append(errs, err)
		}
		events = append(events, e)
	}
	return events, pg.NextURL != nil && *pg.NextURL != "", errors.Join(errs...)
}

// check refuses an event the poller cannot place.
func (e event) check(services bool) error {
	var errs []error
	if e.guid == "" {
		errs = append(errs, errors.New("an event without guid"))
	}
	if e.org == "" || e.space == "" {
		errs = append(errs, fmt.Errorf("event %s: no organization or space", e.guid))
	}
	switch {
	case services && e.instance == "":
		errs = append(errs, fmt.Errorf("event %s: no service instance", e.guid))
	case !services && strings.HasPrefix(e.state, "TASK_") && e.task == "":
		errs = append(errs, fmt.Errorf("event %s: a task event without task guid", e.guid))
	case !services && (e.state == "STARTED" || e.state == "STOPPED" || e.state == "BUILDPACK_SET") && e.process == "":
		errs = append(errs, fmt.Errorf("event %s: a process event without process guid", e.guid))
	}
	if e.mem < 0 || e.inst < 0 || e.mem > 1<<30 || e.inst > 1<<20 {
		errs = append(errs, fmt.Errorf("event %s: memory %d MB or instances %d out of range", e.guid, e.mem, e.inst))
	}
	return errors.Join(errs...)
}

// count reads a non-negative integer; null or absent is 0.
func count(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s is not an integer", raw)
	}
	return n, nil
}

// parseTime reads Cloud Controller's RFC 3339 times, truncated to the second (events carry
// whole seconds; the truncation makes a fraction, if any, fold like the rest).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t.UTC().Truncate(time.Second), nil
}
