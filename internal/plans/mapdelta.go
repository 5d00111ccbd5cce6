package plans

import (
	"regexp"
	"slices"
	"strings"
)

// The aggregate of time-based metrics in Abacus' linux container and the built-in plans made
// from it: each entry of the instance's map value moves the aggregate by its change,
//
//	!curr ? a : {consuming: curr.consuming - (prev?.consuming || 0) + (a?.consuming || 0), consumed: ...}
//
// Run as a program it is most of such a plan's metering (six aggregate cells per instance
// cell); mapDelta computes it with the program's own operations (addSub, the literal 0 of
// ||), so its result is the program's to the decimal's representation, and its first step,
// curr.f - (prev?.f || 0), is the same for every aggregate cell of a change (AggregateEach
// computes it once).

// mapDeltaEntry is one entry of the map literal, the same name thrice.
var mapDeltaEntry = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*):curr\.([A-Za-z_][A-Za-z0-9_]*)-\(prev\?\.([A-Za-z_][A-Za-z0-9_]*)\|\|0\)\+\(a\?\.([A-Za-z_][A-Za-z0-9_]*)\|\|0\)$`)

// mapDeltaFields returns the entries' names when canonical is the map-delta aggregate.
func mapDeltaFields(canonical string) ([]string, bool) {
	body, ok := strings.CutPrefix(canonical, "!curr?a:{")
	if body, ok = strings.CutSuffix(body, "}"); !ok || body == "" {
		return nil, false
	}
	var fields []string
	for _, entry := range strings.Split(body, ",") {
		m := mapDeltaEntry.FindStringSubmatch(entry)
		if m == nil || m[1] != m[2] || m[1] != m[3] || m[1] != m[4] {
			return nil, false
		}
		// A repeated entry is the program's to decide. So is an entry named as an argument:
		// canonical text renames a map key that is an arrow argument to the argument's
		// canonical name, so {x: curr.a - (prev?.a || 0) + (x?.a || 0)} with x as first
		// argument reads {a: curr.a ...} there, and its key is x, not a.
		if slices.Contains(fields, m[1]) || slices.Contains(stageArgs[Aggregate], m[1]) {
			return nil, false
		}
		fields = append(fields, m[1])
	}
	return fields, true
}

// mapChange is the first step of the map-delta aggregate for one instance change: per entry,
// curr.f - (prev?.f || 0); same is set when curr is falsy (the aggregate is a, unchanged).
type mapChange struct {
	same bool
	diff [8]any // by field; a formula of more fields takes the program
}

// maxMapFields bounds the entries mapDelta computes itself.
const maxMapFields = len(mapChange{}.diff)

// entry is m[name] for a map or nil; ok is false for any other value, whose member access the
// program reports (or, with ?., gives nil: either way the program's to do).
func entry(v any, name string) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case map[string]any:
		return x[name], true
	}
	return nil, false
}

// mapOrNil reports whether v is a map or nil: a value whose ?. the program reads.
func mapOrNil(v any) bool {
	_, ok := entry(v, "")
	return ok
}

// or0 is `v || 0`.
func or0(v any) any {
	if Truthy(v) {
		return v
	}
	return zeroLiteral
}

// mapChangeOf computes the first step for prev and curr; ok is false when the program must
// run (curr not a map, a step that fails).
func (f *Formula) mapChangeOf(prev, curr any) (ch mapChange, ok bool) {
	if len(f.fields) > maxMapFields {
		return ch, false
	}
	if !Truthy(curr) {
		return mapChange{same: true}, true
	}
	if _, isMap := curr.(map[string]any); !isMap {
		return ch, false // curr.f of a number or a string is the program's error
	}
	if !mapOrNil(prev) {
		return ch, false
	}
	for i, name := range f.fields {
		c, _ := entry(curr, name)
		p, _ := entry(prev, name)
		d, err := addSub(c, or0(p), true)
		if err != nil {
			return ch, false
		}
		ch.diff[i] = d
	}
	return ch, true
}

// applyMap returns the aggregate of a for the change ch: a itself when curr was falsy (as the
// program returns it, normalized), else the map of each entry's diff + (a?.f || 0).
func (f *Formula) applyMap(ch *mapChange, a any, measures map[string]any) (any, bool) {
	if ch.same {
		return a, normalized(a, measures)
	}
	if !mapOrNil(a) {
		return nil, false
	}
	out := make(map[string]any, len(f.fields))
	for i, name := range f.fields {
		e, _ := entry(a, name)
		v, err := addSub(ch.diff[i], or0(e), false)
		if err != nil {
			return nil, false
		}
		out[name] = v
	}
	return out, true
}
