package config

import (
	"fmt"
	"net/url"
	"time"
)

// VCloudAir configures the vCloud Air poller (internal/poller/vcloudair): URL, and a user
// name and password (POST /api/iam/login) or a token.
type VCloudAir struct {
	URL                string
	Username, Password string
	Token              string
	// Account names the account in the poller's source and dedup ids; "" is the URL's host.
	Account string
	// SimScript is the JSON script of `meterline sim vcloudair`; "" plays the demo company.
	SimScript string
	// BillingClose is how long after its end the vCloud Air billing view closes a billing
	// month (0: an hour): usage processed later is not billed, and the month never changes.
	BillingClose time.Duration
}

// MaxBillingClose bounds VCloudAir.BillingClose: a billing month closes within 27 days of its
// end, so at most the month before the present one is still open.
const MaxBillingClose = 27 * 24 * time.Hour

// Configured reports whether the vCloud Air poller has settings.
func (v VCloudAir) Configured() bool { return v.URL != "" }

func (c *Config) vcloudAirSettings() []setting {
	v := &c.VCloudAir
	return []setting{
		str(&v.URL, "METERLINE_VCLOUDAIR_URL", "vcloudair-url", "vCloud Air API base URL (https://vca.vmware.com), with a user and password or a token"),
		str(&v.Username, "METERLINE_VCLOUDAIR_USERNAME", "vcloudair-username", "vCloud Air user (POST /api/iam/login)"),
		str(&v.Password, "METERLINE_VCLOUDAIR_PASSWORD", "vcloudair-password", "vCloud Air password"),
		str(&v.Token, "METERLINE_VCLOUDAIR_TOKEN", "vcloudair-token", "a vCloud Air token (vchs-authorization) instead of a user and password"),
		str(&v.Account, "METERLINE_VCLOUDAIR_ACCOUNT", "vcloudair-account", "name of the account in the poller's source and dedup ids; empty is the URL's host"),
		dur(&v.BillingClose, "METERLINE_VCLOUDAIR_BILLING_CLOSE", "vcloudair-billing-close", "how long after its end the vCloud Air billing view closes a billing month (0: an hour)"),
		str(&v.SimScript, "METERLINE_VCASIM_SCRIPT", "vcasim-script", "file of the company and faults `sim vcloudair` plays (JSON); empty plays the demo company"),
	}
}

// validate checks the vCloud Air settings, when any is given.
func (v VCloudAir) validate() []error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	// The billing view's close, read by the reporting service without the poller's settings.
	if v.BillingClose < 0 || v.BillingClose > MaxBillingClose {
		bad("METERLINE_VCLOUDAIR_BILLING_CLOSE", "must be from 0 to %s (a month closes before the next one ends)", MaxBillingClose)
	}
	if !v.Configured() {
		return errs
	}
	if u, err := url.Parse(v.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("METERLINE_VCLOUDAIR_URL", "must be an http(s) URL")
	}
	switch {
	case v.Token != "" && (v.Username != "" || v.Password != ""):
		bad("METERLINE_VCLOUDAIR_TOKEN", "give a token or a user and password, not both")
	case v.Token == "" && (v.Username == "" || v.Password == ""):
		bad("METERLINE_VCLOUDAIR_USERNAME", "a user and password (or METERLINE_VCLOUDAIR_TOKEN) are required with METERLINE_VCLOUDAIR_URL")
	}
	return errs
}
