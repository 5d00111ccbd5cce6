package config

import (
	"fmt"
	"math/big"
	"net/url"

	"github.com/meterline/meterline/internal/usage"
)

// ElasticBox configures the ElasticBox poller (internal/poller/elasticbox): the reporting API
// at URL, read with Token for each of Organizations.
type ElasticBox struct {
	// URL is the API's base URL (https://elasticbox.example), before /services/....
	URL string
	// Token is the ElasticBox-Token of every request.
	Token string
	// Organizations are the organizations whose daily cost reports are read.
	Organizations []string
	// CostScale is how many of the report's cost units make a US dollar: 100 reads them as
	// cents (the CSV header's "COST (cents of $)").
	CostScale int64
	// SimScript is the JSON script (fleet and faults) of `meterline sim elasticbox`; "" plays
	// the demo fleet.
	SimScript string
}

// Configured reports whether the ElasticBox poller has settings.
func (e ElasticBox) Configured() bool { return e.URL != "" }

func (c *Config) elasticBoxSettings() []setting {
	e := &c.ElasticBox
	return []setting{
		str(&e.URL, "METERLINE_ELASTICBOX_URL", "elasticbox-url", "ElasticBox API base URL (https://elasticbox.example); the poller reads its daily cost reports"),
		str(&e.Token, "METERLINE_ELASTICBOX_TOKEN", "elasticbox-token", "ElasticBox-Token of the reporting requests"),
		list(&e.Organizations, "METERLINE_ELASTICBOX_ORGANIZATIONS", "elasticbox-organizations", "comma-separated ElasticBox organizations whose reports are read"),
		i64(&e.CostScale, "METERLINE_ELASTICBOX_COST_SCALE", "elasticbox-cost-scale", "report cost units per US dollar (100: the integers are cents)"),
		str(&e.SimScript, "METERLINE_EBSIM_SCRIPT", "ebsim-script", "file of the fleet and faults `sim elasticbox` plays (JSON); empty plays the demo fleet"),
	}
}

// validate checks the ElasticBox settings, when any is given.
func (e ElasticBox) validate() []error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	if e.CostScale < 1 {
		bad("METERLINE_ELASTICBOX_COST_SCALE", "must be at least 1")
	} else if !exactScale(e.CostScale) {
		bad("METERLINE_ELASTICBOX_COST_SCALE", "%d must divide 10^%d: a cost divided by it must be a quantity of at most %d decimal places, exactly",
			e.CostScale, usage.QuantityScale, usage.QuantityScale)
	}
	if !e.Configured() {
		return errs
	}
	if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("METERLINE_ELASTICBOX_URL", "%q is not an http(s) URL", e.URL)
	}
	if e.Token == "" {
		bad("METERLINE_ELASTICBOX_TOKEN", "is required with METERLINE_ELASTICBOX_URL")
	}
	if len(e.Organizations) == 0 {
		bad("METERLINE_ELASTICBOX_ORGANIZATIONS", "is required with METERLINE_ELASTICBOX_URL (the organizations to read)")
	}
	return errs
}

// exactScale reports whether every integer divided by scale is a decimal of at most
// usage.QuantityScale places: whether scale divides 10^QuantityScale (100, 1000, 8, 25 do; 3
// and 10^13 do not). The poller's cost quantities are then the exact quotients.
func exactScale(scale int64) bool {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(usage.QuantityScale), nil)
	return new(big.Int).Mod(p, big.NewInt(scale)).Sign() == 0
}
