package scim

import (
	"strconv"
	"strings"
)

// ETag renders a resource version as a weak entity tag (RFC 7644 §3.14):
// the version counts the resource's changes, so equal tags mean the same
// representation, but not byte-for-byte identical JSON.
func ETag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// MatchETag reports whether an If-Match or If-None-Match header value names
// the version: "*" matches anything; otherwise one of the comma-separated
// tags must equal the version's tag (weak comparison, so W/ is optional).
func MatchETag(header string, version int64) bool {
	want := strconv.FormatInt(version, 10)
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		t = strings.Trim(t, `"`)
		if t == want {
			return true
		}
	}
	return false
}
