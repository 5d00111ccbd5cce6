package nova

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
)

// StaticToken is a token given in the settings (METERLINE_NOVA_TOKEN): it cannot be renewed,
// so a 401 is an error of kind unauthorized until the setting changes.
type StaticToken string

var _ poller.Auth = StaticToken("")

// Authorize sets the token.
func (t StaticToken) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("X-Auth-Token", string(t))
	return nil
}

// Reauthenticate fails: a static token cannot be renewed.
func (StaticToken) Reauthenticate(context.Context, *http.Request) error {
	return errors.New("the token of METERLINE_NOVA_TOKEN was refused and cannot be renewed")
}

// Keystone authenticates with Keystone v3 (gophercloud), takes the compute endpoint from the
// token's catalog, and authenticates again when Nova answers 401 (an expired token).
type Keystone struct {
	opts   gophercloud.AuthOptions
	region string
	hc     *http.Client

	mu       sync.Mutex
	pc       *gophercloud.ProviderClient
	endpoint string
}

var _ poller.Auth = (*Keystone)(nil)

// NewKeystone returns the Keystone authentication of cfg's Keystone settings (AuthURL, the
// user or application credential, the project, Region); it authenticates on first use.
func NewKeystone(cfg config.Nova, hc *http.Client) *Keystone {
	opts := gophercloud.AuthOptions{
		IdentityEndpoint:            cfg.AuthURL,
		Username:                    cfg.Username,
		UserID:                      cfg.UserID,
		Password:                    cfg.Password,
		ApplicationCredentialID:     cfg.AppCredentialID,
		ApplicationCredentialSecret: cfg.AppSecret,
		AllowReauth:                 true,
	}
	if cfg.AppCredentialID == "" {
		if cfg.UserID == "" {
			opts.DomainName = cfg.UserDomain
		}
		switch {
		case cfg.ProjectID != "":
			opts.Scope = &gophercloud.AuthScope{ProjectID: cfg.ProjectID}
		case cfg.ProjectName != "":
			opts.Scope = &gophercloud.AuthScope{ProjectName: cfg.ProjectName, DomainName: cfg.ProjectDomain}
		}
	}
	return &Keystone{opts: opts, region: cfg.Region, hc: hc}
}

// client returns the authenticated provider client, authenticating first when needed.
func (k *Keystone) client(ctx context.Context) (*gophercloud.ProviderClient, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pc != nil {
		return k.pc, k.endpoint, nil
	}
	pc, err := openstack.NewClient(k.opts.IdentityEndpoint)
	if err != nil {
		return nil, "", fmt.Errorf("keystone %s: %w", k.opts.IdentityEndpoint, err)
	}
	if k.hc != nil {
		pc.HTTPClient = *k.hc
	}
	if err := openstack.Authenticate(ctx, pc, k.opts); err != nil {
		return nil, "", &poller.StatusError{Request: "POST " + k.opts.IdentityEndpoint + "/auth/tokens", Status: statusOf(err),
			Body: []byte(err.Error())}
	}
	sc, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{Region: k.region})
	if err != nil {
		return nil, "", &poller.ProviderError{Msg: fmt.Sprintf("keystone %s: no compute endpoint in the catalog: %v", k.opts.IdentityEndpoint, err)}
	}
	k.pc, k.endpoint = pc, sc.Endpoint
	return pc, sc.Endpoint, nil
}

// statusOf is the HTTP status of a gophercloud error, 401 when it has none (Keystone refused
// or could not be asked).
func statusOf(err error) int {
	var ue gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &ue) {
		return ue.Actual
	}
	return http.StatusUnauthorized
}

// Endpoint returns the compute endpoint of the catalog.
func (k *Keystone) Endpoint(ctx context.Context) (string, error) {
	_, ep, err := k.client(ctx)
	return ep, err
}

// Authorize sets the current token.
func (k *Keystone) Authorize(ctx context.Context, req *http.Request) error {
	pc, _, err := k.client(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", pc.Token())
	return nil
}

// Reauthenticate gets a new token unless another request did already.
func (k *Keystone) Reauthenticate(ctx context.Context, req *http.Request) error {
	pc, _, err := k.client(ctx)
	if err != nil {
		return err
	}
	return pc.Reauthenticate(ctx, req.Header.Get("X-Auth-Token"))
}

// CloudOf is the default cloud name: the host of the compute or auth URL.
func CloudOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return "default"
	}
	return u.Hostname()
}
