package cf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
)

// The Usage Service (Pivotal's app-usage service, seed 000) reports per organization and
// period what ran: app usages (instance count, memory per instance, seconds) and service
// usages (seconds per instance and plan), and task usages (per app, the tasks' count and seconds). The Cloud Foundry poller's process reads each closed
// day of every organization once and stores it for the reconciliation view (internal/report/
// cfrecon); it is never metered: Meterline meters Cloud Controller's events.

// AppUsage is one entry of app_usages: a process at one footprint for Seconds of the period.
type AppUsage struct {
	Space, SpaceName  string
	App, AppName      string // the parent application
	Process           string // app_guid: the process (the app's own guid for its web process)
	Instances, Memory int64  // instance_count, memory_in_mb_per_instance
	Seconds           decimal.Decimal
}

// ServiceUsage is one entry of service_usages: a service instance on one plan.
type ServiceUsage struct {
	Space, SpaceName       string
	Instance, InstanceName string
	InstanceType           string // managed_service_instance or user_provided_service_instance
	Plan, PlanName         string
	Service, ServiceName   string
	Deleted                bool
	Seconds                decimal.Decimal
}

// TaskUsage is one task summary of task_usages: an app's tasks of one memory size (its
// concurrent_task_count_for_range is not kept: nothing is set against it).
type TaskUsage struct {
	Space, SpaceName string
	App, AppName     string // the parent application
	Memory           int64  // memory_in_mb_per_instance
	Count            int64  // task_count_for_range
	Seconds          decimal.Decimal
}

// DayUsage is what the Usage Service reports of one organization for one UTC day.
type DayUsage struct {
	Organization string
	Day          time.Time // 00:00 UTC
	Apps         []AppUsage
	Tasks        []TaskUsage
	Services     []ServiceUsage
}

// OrgDay names an organization's day.
type OrgDay struct {
	Organization string
	Day          time.Time
}

// maxEntries bounds the entries of one answer the reader keeps.
const maxEntries = 100000

type usageAnswer struct {
	Organization string `json:"organization_guid"`
	Apps         *[]struct {
		SpaceGUID  string      `json:"space_guid"`
		SpaceName  string      `json:"space_name"`
		AppName    string      `json:"app_name"`
		AppGUID    string      `json:"app_guid"`
		ParentName string      `json:"parent_application_name"`
		ParentGUID string      `json:"parent_application_guid"`
		Instances  json.Number `json:"instance_count"`
		Memory     json.Number `json:"memory_in_mb_per_instance"`
		Duration   json.Number `json:"duration_in_seconds"`
	} `json:"app_usages"`
	Services *[]struct {
		Deleted      bool        `json:"deleted"`
		Duration     json.Number `json:"duration_in_seconds"`
		ServiceGUID  string      `json:"service_guid"`
		ServiceName  string      `json:"service_name"`
		InstanceGUID string      `json:"service_instance_guid"`
		InstanceName string      `json:"service_instance_name"`
		InstanceType string      `json:"service_instance_type"`
		PlanGUID     string      `json:"service_plan_guid"`
		PlanName     string      `json:"service_plan_name"`
		SpaceGUID    string      `json:"space_guid"`
		SpaceName    string      `json:"space_name"`
	} `json:"service_usages"`
	Spaces *map[string]struct {
		SpaceName string `json:"space_name"`
		Tasks     []struct {
			AppGUID  string      `json:"parent_application_guid"`
			AppName  string      `json:"parent_application_name"`
			Memory   json.Number `json:"memory_in_mb_per_instance"`
			Count    json.Number `json:"task_count_for_range"`
			Duration json.Number `json:"total_duration_in_seconds_for_range"`
		} `json:"task_summaries"`
	} `json:"spaces"`
}

// seconds reads a duration in seconds: an integer or a decimal (88793.31), at least 0.
func seconds(n json.Number, name string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(n.String())
	if err != nil || d.IsNegative() {
		return decimal.Zero, fmt.Errorf("%s %q is not a number of seconds", name, n)
	}
	return d, nil
}

// whole reads a count in [0, limit].
func whole(n json.Number, name string, limit int64) (int64, error) {
	v, err := n.Int64()
	if err != nil || v < 0 || v > limit {
		return 0, fmt.Errorf("%s %q is not an integer from 0 to %d", name, n, limit)
	}
	return v, nil
}

// UsageDay reads the app, task and service usages of org on day (start = end = the day) from the
// Usage Service at base. An answer of another organization, or an entry without its ids or
// with a bad number, is an error naming it: nothing of the day is stored then.
func (p *Provider) UsageDay(ctx context.Context, base, org string, day time.Time) (DayUsage, error) {
	out := DayUsage{Organization: org, Day: day}
	d := day.UTC().Format(time.DateOnly)
	q := url.Values{"start": {d}, "end": {d}}.Encode()
	for _, kind := range []string{"app_usages", "task_usages", "service_usages"} {
		u := strings.TrimSuffix(base, "/") + "/organizations/" + url.PathEscape(org) + "/" + kind + "?" + q
		ans, err := p.cfg.Client.Get(ctx, u, http.Header{"Accept": {"application/json"}})
		if err != nil {
			return out, err
		}
		bad := func(err error) error { return &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err} }
		var a usageAnswer
		dec := json.NewDecoder(strings.NewReader(string(ans.Body)))
		dec.UseNumber()
		if err := dec.Decode(&a); err != nil {
			return out, bad(err)
		}
		if a.Organization != "" && a.Organization != org {
			return out, bad(fmt.Errorf("the answer is of organization %q", a.Organization))
		}
		var errs []error
		switch kind {
		case "task_usages":
			if a.Spaces == nil {
				return out, bad(errors.New("no spaces"))
			}
			spaces := make([]string, 0, len(*a.Spaces))
			for sp := range *a.Spaces {
				spaces = append(spaces, sp)
			}
			slices.Sort(spaces)
			for _, sp := range spaces {
				v := (*a.Spaces)[sp]
				for i, e := range v.Tasks {
					tu := TaskUsage{Space: sp, SpaceName: v.SpaceName, App: e.AppGUID, AppName: e.AppName}
					var e1, e2, e3 error
					tu.Memory, e1 = whole(e.Memory, "memory_in_mb_per_instance", 1<<30)
					tu.Count, e2 = whole(e.Count, "task_count_for_range", 1<<40)
					tu.Seconds, e3 = seconds(e.Duration, "total_duration_in_seconds_for_range")
					if tu.App == "" {
						errs = append(errs, fmt.Errorf("task summary %d of space %s has no parent_application_guid", i, sp))
					}
					if err := errors.Join(e1, e2, e3); err != nil {
						errs = append(errs, fmt.Errorf("task summary %d of space %s (%s): %w", i, sp, tu.App, err))
					}
					out.Tasks = append(out.Tasks, tu)
				}
			}
		case "app_usages":
			if a.Apps == nil {
				return out, bad(errors.New("no app_usages"))
			}
			for i, e := range *a.Apps {
				au := AppUsage{Space: e.SpaceGUID, SpaceName: e.SpaceName, App: e.ParentGUID, AppName: e.ParentName, Process: e.AppGUID}
				if au.App == "" {
					au.App, au.AppName = e.AppGUID, e.AppName
				}
				var e1, e2, e3 error
				au.Instances, e1 = whole(e.Instances, "instance_count", 1<<20)
				au.Memory, e2 = whole(e.Memory, "memory_in_mb_per_instance", 1<<30)
				au.Seconds, e3 = seconds(e.Duration, "duration_in_seconds")
				if au.App == "" || au.Process == "" {
					errs = append(errs, fmt.Errorf("app usage %d has no app_guid", i))
				}
				if err := errors.Join(e1, e2, e3); err != nil {
					errs = append(errs, fmt.Errorf("app usage %d (%s): %w", i, au.Process, err))
				}
				out.Apps = append(out.Apps, au)
			}
		default:
			if a.Services == nil {
				return out, bad(errors.New("no service_usages"))
			}
			for i, e := range *a.Services {
				su := ServiceUsage{Space: e.SpaceGUID, SpaceName: e.SpaceName, Instance: e.InstanceGUID, InstanceName: e.InstanceName,
					InstanceType: e.InstanceType, Plan: e.PlanGUID, PlanName: e.PlanName, Service: e.ServiceGUID, ServiceName: e.ServiceName, Deleted: e.Deleted}
				var err error
				if su.Seconds, err = seconds(e.Duration, "duration_in_seconds"); err != nil {
					errs = append(errs, fmt.Errorf("service usage %d (%s): %w", i, su.Instance, err))
				}
				if su.Instance == "" {
					errs = append(errs, fmt.Errorf("service usage %d has no service_instance_guid", i))
				}
				out.Services = append(out.Services, su)
			}
		}
		if len(out.Apps)+len(out.Tasks)+len(out.Services) > maxEntries {
			errs = append(errs, fmt.Errorf("more than %d entries in a day", maxEntries))
		}
		if err := errors.Join(errs...); err != nil {
			return out, bad(err)
		}
	}
	return out, nil
}

// Organizations lists the foundation's organization guids (/v3/organizations, every page;
// /v2/organizations on a foundation that answers 404 there).
func (p *Provider) Organizations(ctx context.Context) ([]string, error) {
	var at time.Time
	var out []string
	err := p.list(ctx, "/v3/organizations", &at, func(r v3Resource) {
		if r.GUID != "" {
			out = append(out, r.GUID)
		}
	})
	var se *poller.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		out = nil
		err = p.listV2(ctx, "/v2/organizations", &at, func(r v2Resource) {
			if r.Metadata.GUID != "" {
				out = append(out, r.Metadata.GUID)
			}
		})
	}
	return out, err
}

// ClosedDays are the last n UTC days that ended at least lag before now, the oldest first.
func ClosedDays(now time.Time, lag time.Duration, n int) []time.Time {
	last := now.UTC().Add(-lag)
	last = time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	out := make([]time.Time, 0, n)
	for i := n - 1; i >= 0; i-- {
		out = append(out, last.AddDate(0, 0, -i))
	}
	return out
}

// UsageLoop is the Usage Service loop beside the poller: each round it lists the
// organizations and reads every closed day (by Lag) of the last Days that is not stored yet,
// once; a day is stored with its entries in one write, so a crash between reading and
// writing reads it again, and a write done twice stores identical rows that the table merges.
// It meters nothing.
type UsageLoop struct {
	Provider *Provider
	URL      string // the Usage Service (https://app-usage.sys.example.com)
	// Stored returns the organization days among days that are stored already.
	Stored   func(ctx context.Context, days []time.Time) (map[OrgDay]bool, error)
	Write    func(ctx context.Context, day DayUsage, now time.Time) error
	Clock    clock.Clock
	Lag      time.Duration // how long a day waits after its end before it is read
	Interval time.Duration // between rounds (a minute when 0)
	Days     int           // how many closed days each round looks at (3 when 0)
	Log      *zap.Logger
}

// Round reads and stores what is due; it returns the number of organization days stored.
func (l *UsageLoop) Round(ctx context.Context) (int, error) {
	n := l.Days
	if n <= 0 {
		n = 3
	}
	now := l.Clock.Now()
	days := ClosedDays(now, l.Lag, n)
	stored, err := l.Stored(ctx, days)
	if err != nil {
		return 0, err
	}
	orgs, err := l.Provider.Organizations(ctx)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, day := range days {
		for _, org := range orgs {
			if stored[OrgDay{org, day}] {
				continue
			}
			u, err := l.Provider.UsageDay(ctx, l.URL, org, day)
			if err != nil {
				return done, err
			}
			if err := l.Write(ctx, u, now); err != nil {
				return done, err
			}
			done++
		}
	}
	return done, nil
}

// Run runs rounds (poller.RunRounds) until ctx ends; a failed round is logged and tried again
// next round.
func (l *UsageLoop) Run(ctx context.Context) error {
	return poller.RunRounds(ctx, l.Interval, l.Log, "cf usage service", func(ctx context.Context) (int, error) {
		n, err := l.Round(ctx)
		if err == nil && n > 0 {
			l.Log.Info("cf usage service days stored", zap.Int("organization_days", n))
		}
		return n, err
	})
}
