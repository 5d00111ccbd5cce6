// Package catalog is what Meterline knows about the things it meters: metering, rating and
// pricing plans (compiled when applied), the effective-dated mappings that pick a plan for an
// organization, resource type and plan id at a time, the resource types of resource ids, and
// accounts (their organizations, pricing country and currency).
//
// The catalog is built by applying records (Record) in the order of the provisioning topic;
// it does no I/O itself. internal/provisioning writes the records (its HTTP API) and follows
// the topic (its Store), so every process that needs the catalog has the same one.
package catalog

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
)

// Mapping picks the plan of a kind for usage of a resource type and plan id whose end is at or
// after EffectiveFrom, for one organization or (OrganizationID "") for all of them.
type Mapping struct {
	Kind           string `json:"kind"`
	ResourceType   string `json:"resource_type"`
	PlanID         string `json:"plan_id"`
	OrganizationID string `json:"organization_id,omitempty"`
	EffectiveFrom  int64  `json:"effective_from"`
	Plan           string `json:"plan"` // the metering, rating or pricing plan id
}

// Account owns organizations; pricing uses its country, charges its currency.
type Account struct {
	AccountID      string   `json:"account_id"`
	Name           string   `json:"name"`
	Organizations  []string `json:"organizations"`
	PricingCountry string   `json:"pricing_country"`
	Currency       string   `json:"currency"`
}

// ResourceType maps a resource id to its resource type.
type ResourceType struct {
	ResourceID   string `json:"resource_id"`
	ResourceType string `json:"resource_type"`
}

// APIKey is a machine client's credential: a key the provisioning API made, of which only
// the SHA-256 of the secret is kept (Hash, hex). It grants Scopes in Organizations ("*" for
// every organization) until Expires (epoch ms; 0 never) or until it is revoked (Revoked, epoch
// ms; 0 while it is not). A revoked key stays revoked: its record is replaced by the revoked
// one (the same key in the topic), and a later record that would revive it is ignored.
type APIKey struct {
	ID            string   `json:"id"`
	Name          string   `json:"name,omitempty"`
	Hash          string   `json:"hash"`
	Organizations []string `json:"organizations"`
	Scopes        []string `json:"scopes"`
	Created       int64    `json:"created"`
	Expires       int64    `json:"expires,omitempty"`
	Revoked       int64    `json:"revoked,omitempty"`
}

// DefaultAccount is the account of an organization no account names: Abacus priced such
// usage in the USA.
var DefaultAccount = Account{AccountID: "", Name: "default", PricingCountry: "USA", Currency: "USD"}

// Record is one entry of the provisioning topic: its key says what it is, its value is the
// JSON document.
//
// The topic is compacted, so two records keep each other only when their keys differ. Plans
// and mappings are immutable, and their keys name their content: a plan's key carries a digest
// of its canonical JSON, a mapping's key its target plan. Compaction then keeps every version
// ever written, and every reader, applying them in topic order, picks the same first one (see
// Catalog.Apply). Accounts, resource types and API keys may change: their key is their id,
// and the latest record wins (but a revoked API key stays revoked).
type Record struct {
	Key   string
	Value []byte
}

// Keys of records.
func AccountKey(id string) string  { return "account/" + id }
func ResourceKey(id string) string { return "resource_type/" + id }
func APIKeyKey(id string) string   { return "api_key/" + id }

// PlanKey is the key of a plan of kind whose canonical JSON (encoding/json's encoding of the
// plan document) is value: "<kind>_plan/<plan id>/<first 16 hex digits of its SHA-256>". A
// plan id holding "/" stays unambiguous, since the digest is always the last 16 characters.
func PlanKey(kind, id string, value []byte) string {
	sum := sha256.Sum256(value)
	return kind + "_plan/" + id + "/" + hex.EncodeToString(sum[:8])
}

// MappingKey is the key of a mapping: "mapping/<kind>/<organization or *>/<resource
// type>/<plan id>/<effective from>/<plan>", each part path-escaped (and an organization
// named "*" written %2A) so that no two mappings share a key.
func MappingKey(m Mapping) string {
	org := "*"
	if m.OrganizationID != "" {
		org = keyPart(m.OrganizationID)
	}
	return "mapping/" + keyPart(m.Kind) + "/" + org + "/" + keyPart(m.ResourceType) + "/" + keyPart(m.PlanID) + "/" +
		strconv.FormatInt(m.EffectiveFrom, 10) + "/" + keyPart(m.Plan)
}

func keyPart(s string) string { return strings.ReplaceAll(url.PathEscape(s), "*", "%2A") }

// sameSlot reports whether a and b map one slot: one kind, organization (or all of them),
// resource type, plan id and effective time. A slot maps to one plan, the first written.
func sameSlot(a, b Mapping) bool {
	return a.Kind == b.Kind && a.OrganizationID == b.OrganizationID && a.ResourceType == b.ResourceType &&
		a.PlanID == b.PlanID && a.EffectiveFrom == b.EffectiveFrom
}

// Catalog is the provisioning state, built by applying records in topic order.
type Catalog struct {
	mu       sync.RWMutex
	plans    map[string]map[string]any // compiled plans by kind and plan id
	mappings map[string][]Mapping      // by kind/resource_type/plan_id, sorted by EffectiveFrom
	accounts map[string]Account
	orgs     map[string]string // organization -> account id
	types    map[string]string // resource id -> resource type
	keys     map[string]APIKey // API keys by id
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{
		plans:    map[string]map[string]any{plans.KindMetering: {}, plans.KindRating: {}, plans.KindPricing: {}},
		mappings: map[string][]Mapping{}, accounts: map[string]Account{}, orgs: map[string]string{}, types: map[string]string{},
		keys: map[string]APIKey{},
	}
}

// Apply adds a record read from the topic. A record that does not decode or compile (which
// the API never writes) is returned as an error and left out.
//
// Plans and mappings are immutable, and the first version in topic order wins: a plan whose
// id is known, or a mapping whose slot (see sameSlot) is known, changes nothing. It is
// returned as an error when its content differs (two writers raced, and the API answered the
// later one 409), and is nil when it is the same again (a retried or repeated write).
// Accounts and resource types are replaced by their latest record.
func (c *Catalog) Apply(r Record) error {
	kind, _, _ := cut(r.Key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if pk, ok := strings.CutSuffix(kind, "_plan"); ok && plans.IsKind(pk) {
		doc, _ := plans.NewDocument(pk)
		if err := json.Unmarshal(r.Value, doc); err != nil {
			return fmt.Errorf("record %s: %w", r.Key, err)
		}
		if first, ok := c.plans[pk][doc.ID()]; ok {
			return laterVersion(r.Key, pk, doc.ID(), plans.DocumentOf(first), doc)
		}
		compiled, err := doc.Compile()
		if err != nil {
			return fmt.Errorf("record %s: %w", r.Key, err)
		}
		c.plans[pk][doc.ID()] = compiled
		return nil
	}
	switch kind {
	case "mapping":
		var m Mapping
		if err := json.Unmarshal(r.Value, &m); err != nil {
			return fmt.Errorf("record %s: %w", r.Key, err)
		}
		k := m.Kind + "/" + m.ResourceType + "/" + m.PlanID
		list := c.mappings[k]
		if i := slices.IndexFunc(list, func(x Mapping) bool { return sameSlot(x, m) }); i >= 0 {
			if list[i].Plan == m.Plan {
				return nil
			}
			return fmt.Errorf("record %s: %w: %s is mapped to %s already", r.Key, ErrLaterVersion, SlotName(m), list[i].Plan)
		}
		list = append(list, m)
		slices.SortStableFunc(list, func(a, b Mapping) int { return cmp.Compare(a.EffectiveFrom, b.EffectiveFrom) })
		c.mappings[k] = list
	case "account":
		var a Account
		if err := json.Unmarshal(r.Value, &a); err != nil {
			return fmt.Errorf("record %s: %w", r.Key, err)
		}
		if old, ok := c.accounts[a.AccountID]; ok {
			for _, o := range old.Organizations {
				delete(c.orgs, o)
			}
		}
		c.accounts[a.AccountID] = a
		for _, o := range a.Organizations {
			c.orgs[o] = a.AccountID
		}
	case "resource_type":
		var t ResourceType
		if err := json.Unmarshal(r.Value, &t); err != nil {
			return fmt.Errorf("record %s: %w", r.Key, err)
		}
		c.types[t.ResourceID] = t.ResourceType
	case "api_key":
		var k APIKey
		if err := json.Unmarshal(r.Value, &k); err != nil {
			return fmt.Errorf("record %s: %w", r.Key, err)
		}
		if old, ok := c.keys[k.ID]; ok && old.Revoked != 0 && k.Revoked == 0 {
			return fmt.Errorf("record %s: ignored: API key %s was revoked", r.Key, k.ID)
		}
		c.keys[k.ID] = k
	default:
		return fmt.Errorf("record %s: unknown kind", r.Key)
	}
	return nil
}

// laterVersion judges a plan record whose plan id has a version already: nil when it is that
// version again (the same canonical JSON: encoding/json's encoding of the document), else an
// error saying it is ignored.
func laterVersion(key, kind, id string, first, next any) error {
	a, errA := json.Marshal(first)
	b, errB := json.Marshal(next)
	if err := errors.Join(errA, errB); err != nil {
		return fmt.Errorf("record %s: %w", key, err)
	}
	if bytes.Equal(a, b) {
		return nil
	}
	return fmt.Errorf("record %s: %w: %s plan %s has another version already (%s)", key, ErrLaterVersion, kind, id, PlanKey(kind, id, a))
}

// ErrLaterVersion marks a plan or mapping record that Apply ignores since another version came
// first: two writers raced, and the API answered the later one 409.
var ErrLaterVersion = errors.New("ignored: plans and mappings are immutable, and the first version wins")

// SlotName names a mapping's slot for messages.
func SlotName(m Mapping) string {
	org := "every organization"
	if m.OrganizationID != "" {
		org = "organization " + m.OrganizationID
	}
	return fmt.Sprintf("the %s plan of %s, resource type %s, plan id %s from %d", m.Kind, org, m.ResourceType, m.PlanID, m.EffectiveFrom)
}

func cut(key string) (kind, rest string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// MeteringPlan returns a compiled metering plan.
func (c *Catalog) MeteringPlan(id string) (*plans.Metering, bool) {
	p, ok := c.compiled(plans.KindMetering, id).(*plans.Metering)
	return p, ok
}

// RatingPlan returns a compiled rating plan.
func (c *Catalog) RatingPlan(id string) (*plans.Rating, bool) {
	p, ok := c.compiled(plans.KindRating, id).(*plans.Rating)
	return p, ok
}

// PricingPlan returns a pricing plan.
func (c *Catalog) PricingPlan(id string) (*plans.Pricing, bool) {
	p, ok := c.compiled(plans.KindPricing, id).(*plans.Pricing)
	return p, ok
}

func (c *Catalog) compiled(kind, id string) any {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.plans[kind][id]
}

// PlanDocs lists the documents of one kind, by plan id.
func (c *Catalog) PlanDocs(kind string) []plans.Document {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []plans.Document
	for _, id := range slices.Sorted(maps.Keys(c.plans[kind])) {
		out = append(out, plans.DocumentOf(c.plans[kind][id]))
	}
	return out
}

// PlanDoc returns the document of a plan of kind.
func (c *Catalog) PlanDoc(kind, id string) (plans.Document, bool) {
	compiled := c.compiled(kind, id)
	if compiled == nil {
		return nil, false
	}
	return plans.DocumentOf(compiled), true
}

// Lookup returns the plan id of kind for usage of organization org, resource type rt and plan
// id plan whose end is at time t (epoch ms): among the mappings in effect at t (effective_from
// at or before t), the latest one made for org, else the latest one made for every
// organization.
func (c *Catalog) Lookup(kind, org, rt, plan string, t int64) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var global, own *Mapping
	list := c.mappings[kind+"/"+rt+"/"+plan]
	for i := range list {
		m := &list[i]
		if m.EffectiveFrom > t {
			break
		}
		switch m.OrganizationID {
		case "":
			global = m
		case org:
			own = m
		}
	}
	if own != nil {
		return own.Plan, true
	}
	if global != nil {
		return global.Plan, true
	}
	return "", false
}

// Mappings lists the mappings of kind.
func (c *Catalog) Mappings(kind string) []Mapping {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Mapping
	for _, k := range slices.Sorted(maps.Keys(c.mappings)) {
		for _, m := range c.mappings[k] {
			if m.Kind == kind {
				out = append(out, m)
			}
		}
	}
	return out
}

// MappingAt returns the mapping stored in m's slot (see sameSlot), whatever its plan.
func (c *Catalog) MappingAt(m Mapping) (Mapping, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, x := range c.mappings[m.Kind+"/"+m.ResourceType+"/"+m.PlanID] {
		if sameSlot(x, m) {
			return x, true
		}
	}
	return Mapping{}, false
}

// ResourceType returns the resource type of a resource id.
func (c *Catalog) ResourceType(resourceID string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.types[resourceID]
	return t, ok
}

// Account returns an account by id.
func (c *Catalog) Account(id string) (Account, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.accounts[id]
	return a, ok
}

// Accounts lists every account.
func (c *Catalog) Accounts() []Account {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return byID(c.accounts)
}

// byID returns the values of m in the order of their keys; empty, not nil, for none.
func byID[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// AccountOf returns the account of an organization, or DefaultAccount with found false.
func (c *Catalog) AccountOf(org string) (Account, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if id, ok := c.orgs[org]; ok {
		return c.accounts[id], true
	}
	return DefaultAccount, false
}

// APIKey returns an API key by id, revoked or not.
func (c *Catalog) APIKey(id string) (APIKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[id]
	return k, ok
}

// APIKeys lists every API key, revoked ones included, by id.
func (c *Catalog) APIKeys() []APIKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return byID(c.keys)
}

// Currency returns the currency of org's account (DefaultAccount's when none names it).
func (c *Catalog) Currency(org string) string {
	a, _ := c.AccountOf(org)
	return a.Currency
}

// AccountID returns the id of the account owning org, "" when no account names it.
func (c *Catalog) AccountID(org string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.orgs[org]
}

// Price returns the price of metric for org's account country under pricing plan id.
func (c *Catalog) Price(pricingPlan, metric, org string) (decimal.Decimal, bool) {
	p, ok := c.PricingPlan(pricingPlan)
	if !ok {
		return decimal.Decimal{}, false
	}
	acct, _ := c.AccountOf(org)
	return p.Price(metric, acct.PricingCountry)
}

// ValidateMapping checks a mapping against the catalog: its plan exists, and the metering,
// rating and pricing plans it then joins at its effective time fit together.
func (c *Catalog) ValidateMapping(m Mapping) error {
	var ps []fault.Problem
	bad := func(field string, v any, format string, args ...any) {
		ps = append(ps, fault.Problem{Field: field, Value: v, Reason: fmt.Sprintf(format, args...)})
	}
	switch m.Kind {
	case plans.KindMetering, plans.KindRating, plans.KindPricing:
	default:
		bad("kind", usage.Echo(m.Kind), "must be metering, rating or pricing")
	}
	ps = CheckID(ps, "resource_type", m.ResourceType)
	ps = CheckID(ps, "plan_id", m.PlanID)
	if m.OrganizationID != "" { // none: every organization
		ps = CheckID(ps, "organization_id", m.OrganizationID)
	}
	ps = CheckID(ps, "plan", m.Plan)
	if m.EffectiveFrom < 0 {
		bad("effective_from", m.EffectiveFrom, "must be epoch milliseconds, not negative")
	}
	if len(ps) > 0 {
		return fault.Invalid("invalid mapping", ps...)
	}
	if _, ok := c.PlanDoc(m.Kind, m.Plan); !ok {
		return fault.Invalid("invalid mapping", fault.Problem{Field: "plan", Value: m.Plan,
			Reason: fmt.Sprintf("there is no %s plan %s", m.Kind, m.Plan)})
	}
	at := func(kind string) string {
		if kind == m.Kind {
			return m.Plan
		}
		id, _ := c.Lookup(kind, m.OrganizationID, m.ResourceType, m.PlanID, m.EffectiveFrom)
		return id
	}
	meter, _ := c.MeteringPlan(at(plans.KindMetering))
	rate, _ := c.RatingPlan(at(plans.KindRating))
	price, _ := c.PricingPlan(at(plans.KindPricing))
	if meter != nil && rate != nil {
		if err := plans.CheckConsistent(meter, rate, price); err != nil {
			return err
		}
	}
	return nil
}

// The catalog is the plan source of metering.
var _ metering.Plans = (*Catalog)(nil)

// RecordOf returns the record of a plan document (a plans.Document), a Mapping, a
// ResourceType, an Account or an APIKey: its key, and its canonical JSON as the value.
func RecordOf(v any) (Record, error) {
	value, err := json.Marshal(v)
	if err != nil {
		return Record{}, err
	}
	var key string
	switch d := v.(type) {
	case plans.Document:
		key = PlanKey(d.Kind(), d.ID(), value)
	case Mapping:
		key = MappingKey(d)
	case ResourceType:
		key = ResourceKey(d.ResourceID)
	case Account:
		key = AccountKey(d.AccountID)
	case APIKey:
		key = APIKeyKey(d.ID)
	default:
		return Record{}, fmt.Errorf("no catalog record for %T", v)
	}
	return Record{Key: key, Value: value}, nil
}
