package usage

import (
	"strings"
	"unicode"
)

// idFields are the top-level fields of a document that hold an id; a measure's name is one
// too.
var idFields = [...]string{"organization_id", "space_id", "consumer_id", "resource_id", "plan_id", "resource_instance_id", "dedup_id"}

// IDReason says why s cannot be an id ("" when it can), whatever its length, which each
// input bounds itself: an id is not empty, holds no control character (NUL, a line break,
// DEL, the C1 controls), is not only whitespace, and is neither "." nor "..", which name no
// resource in a URL path (a client would be redirected elsewhere). The strings it is given
// are valid UTF-8: the parsers refuse the others first.
func IDReason(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must not hold a control character (such as NUL or a line break)"
	case strings.TrimFunc(s, unicode.IsSpace) == "":
		return "must not be only whitespace"
	case s == "." || s == "..":
		return `must not be "." or ".."`
	}
	return ""
}
