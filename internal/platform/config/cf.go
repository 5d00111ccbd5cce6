package config

import (
	"fmt"
	"time"
)

// CF configures the Cloud Foundry poller (internal/poller/cf): Cloud Controller's API URL,
// with a static token or UAA client credentials.
type CF struct {
	APIURL          string
	Token           string
	UAAURL          string
	ClientID        string
	ClientSecret    string
	UsageServiceURL string // read now, used by the Usage Service reconciliation
	MinAge          time.Duration
	// Overlap is how far back each read of the event streams starts again, for rows
	// committed late (the cursor trails the newest event read by it).
	Overlap    time.Duration
	Foundation string
	// SimScript is the JSON script (actions and faults) of `meterline sim cf`; "" plays the
	// demo fleet.
	SimScript string
}

// Configured reports whether the Cloud Foundry poller has settings.
func (c CF) Configured() bool { return c.APIURL != "" }

func (c *CF) settings() []setting {
	return []setting{
		str(&c.APIURL, "METERLINE_CF_API_URL", "cf-api-url", "Cloud Controller URL (https://api.sys.example.com)"),
		str(&c.Token, "METERLINE_CF_TOKEN", "cf-token", "a bearer token with global read (admin_read_only or global_auditor); or give UAA client credentials"),
		str(&c.UAAURL, "METERLINE_CF_UAA_URL", "cf-uaa-url", "UAA URL for the client credentials grant (https://uaa.sys.example.com)"),
		str(&c.ClientID, "METERLINE_CF_CLIENT_ID", "cf-client-id", "UAA client id (with cloud_controller.global_auditor)"),
		str(&c.ClientSecret, "METERLINE_CF_CLIENT_SECRET", "cf-client-secret", "UAA client secret"),
		str(&c.UsageServiceURL, "METERLINE_CF_USAGE_SERVICE_URL", "cf-usage-service-url", "Usage Service URL, for the reconciliation"),
		dur(&c.MinAge, "METERLINE_CF_MIN_AGE", "cf-min-age", "how old a usage event must be, by Cloud Controller's Date, before it is read"),
		dur(&c.Overlap, "METERLINE_CF_OVERLAP", "cf-overlap", "how far back each read of the usage events starts again, for rows committed late"),
		str(&c.Foundation, "METERLINE_CF_FOUNDATION", "cf-foundation", "name of the foundation in the poller's source and dedup ids; empty is the API's host"),
		str(&c.SimScript, "METERLINE_CFSIM_SCRIPT", "cfsim-script", "file of the fleet and faults `sim cf` plays (JSON); empty plays the demo fleet"),
	}
}

// validate checks the Cloud Foundry settings, when any is given.
func (c CF) validate() []error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	if c.MinAge < time.Second {
		bad("METERLINE_CF_MIN_AGE", "must be at least 1s (events carry whole seconds)")
	}
	if c.Overlap < time.Second {
		bad("METERLINE_CF_OVERLAP", "must be at least 1s (events carry whole seconds)")
	}
	if !c.Configured() {
		return errs
	}
	switch {
	case c.Token != "" && c.UAAURL != "":
		bad("METERLINE_CF_TOKEN", "give it, or METERLINE_CF_UAA_URL with client credentials, not both")
	case c.Token == "" && c.UAAURL == "":
		bad("METERLINE_CF_UAA_URL", "METERLINE_CF_TOKEN or UAA client credentials are required with METERLINE_CF_API_URL")
	case c.UAAURL != "" && (c.ClientID == "" || c.ClientSecret == ""):
		bad("METERLINE_CF_CLIENT_ID", "METERLINE_CF_CLIENT_ID and METERLINE_CF_CLIENT_SECRET are required with METERLINE_CF_UAA_URL")
	}
	return errs
}
