package metering

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Scope is how wide a cell is, from one resource instance to a whole organization.
type Scope uint8

// The scopes, narrowest first.
const (
	ScopeInstance Scope = iota
	ScopeConsumer
	ScopeSpace
	ScopeOrganization
)

var scopeNames = [...]string{"instance", "consumer", "space", "organization"}

func (s Scope) String() string { return scopeNames[s] }

// CellKey identifies a cell: a scope with the ids down to it, a resource, a plan (empty for
// the resource-level cells that add up every plan of the resource), a metric, a level and the
// start of the level's period.
type CellKey struct {
	Scope    Scope
	Org      string
	Space    string // "" above space scope
	Consumer string // "" above consumer scope
	Instance string // "" above instance scope
	Resource string
	Plan     string // PlanKey of the plans used, "" for resource-level cells
	Metric   string
	Level    Level
	From     int64
}

// PlanKey names the plans a cell was metered and rated with, as Abacus' plan ids did:
// "<plan_id>/<metering plan>/<rating plan>/<pricing plan>".
func PlanKey(planID, metering, rating, pricing string) string {
	return planID + "/" + metering + "/" + rating + "/" + pricing
}

// ParseScope returns the scope named s ("instance", "consumer", "space", "organization").
func ParseScope(s string) (Scope, bool) {
	for i, n := range scopeNames {
		if n == s {
			return Scope(i), true
		}
	}
	return 0, false
}

// ParseLevel returns the level named s ("second", "minute", "hour", "day", "month").
func ParseLevel(s string) (Level, bool) {
	for i, n := range levelNames {
		if n == s {
			return Level(i), true
		}
	}
	return 0, false
}

// AppendTo appends the encoding of k to b, the key of its cell on the changelog:
// "c/<scope>/<org>/<space>/<consumer>/<instance>/<resource>/<plan>/<metric>/<level>/<from>",
// every id path-escaped.
func (k CellKey) AppendTo(b []byte) []byte {
	b = append(b, "c/"...)
	b = append(b, k.Scope.String()...)
	for _, s := range [...]string{k.Org, k.Space, k.Consumer, k.Instance, k.Resource, k.Plan, k.Metric} {
		b = append(b, '/')
		if plain(s) {
			b = append(b, s...)
		} else {
			b = append(b, url.PathEscape(s)...)
		}
	}
	b = append(b, '/')
	b = append(b, k.Level.String()...)
	b = append(b, '/')
	return strconv.AppendInt(b, k.From, 10)
}

// plain tells whether s has only unreserved characters, which url.PathEscape leaves as they
// are.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

var errBadKey = errors.New("not a cell key")

// ParseCellKey decodes what CellKey.AppendTo encodes.
func ParseCellKey(s string) (CellKey, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 11 || parts[0] != "c" {
		return CellKey{}, fmt.Errorf("%w: %q", errBadKey, s)
	}
	var k CellKey
	scope := -1
	for i, n := range scopeNames {
		if n == parts[1] {
			scope = i
		}
	}
	level := -1
	for i, n := range levelNames {
		if n == parts[9] {
			level = i
		}
	}
	from, err := strconv.ParseInt(parts[10], 10, 64)
	if scope < 0 || level < 0 || err != nil {
		return CellKey{}, fmt.Errorf("%w: %q", errBadKey, s)
	}
	k.Scope, k.Level, k.From = Scope(scope), Level(level), from
	ids := []*string{&k.Org, &k.Space, &k.Consumer, &k.Instance, &k.Resource, &k.Plan, &k.Metric}
	for i, p := range ids {
		v, err := url.PathUnescape(parts[2+i])
		if err != nil {
			return CellKey{}, fmt.Errorf("%w: %q", errBadKey, s)
		}
		*p = v
	}
	return k, nil
}
