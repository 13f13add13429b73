package scim

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ListParams are the query parameters of a list or .search request
// (RFC 7644 §3.4.2, §3.4.3).
type ListParams struct {
	Filter     Expr
	SortBy     *AttrPath
	Descending bool
	StartIndex int
	Count      int
	Attributes string
	Excluded   string
	// Cursor is set for RFC 9865 cursor pagination ("" asks for the first
	// page); nil means index pagination.
	Cursor *string
}

// ListInput is the raw text of the parameters, from a query string or a
// SearchRequest body.
type ListInput struct {
	Filter, SortBy, SortOrder, StartIndex, Count, Attributes, Excluded string
	Cursor                                                             *string
}

// ParseList validates list parameters. count is capped at maxResults
// silently (RFC 7644 §3.4.2.4 lets the server return fewer) and defaults to
// defaultCount; count=0 asks for totals only.
func ParseList(in ListInput, defaultCount, maxResults int, lim FilterLimits) (*ListParams, error) {
	p := &ListParams{StartIndex: 1, Count: defaultCount, Attributes: in.Attributes, Excluded: in.Excluded, Cursor: in.Cursor}
	if in.Cursor != nil && in.StartIndex != "" {
		return nil, InvalidValue("use either startIndex (index pagination) or cursor (RFC 9865), not both")
	}
	if f := strings.TrimSpace(in.Filter); f != "" {
		e, err := ParseFilter(f, lim)
		if err != nil {
			return nil, err
		}
		p.Filter = e
	} else if in.Filter != "" {
		return nil, InvalidFilter("the filter is empty")
	}
	if in.StartIndex != "" {
		n, err := wholeNumber(in.StartIndex)
		if err != nil {
			return nil, InvalidValue("startIndex must be a whole number, not %q", clip(in.StartIndex))
		}
		if n > 1 {
			p.StartIndex = min(n, MaxStartIndex) // values below 1 are read as 1 (RFC 7644 §3.4.2.4)
		}
	}
	if in.Count != "" {
		n, err := wholeNumber(in.Count)
		if err != nil {
			return nil, InvalidValue("count must be a whole number, not %q", clip(in.Count))
		}
		if n < 0 {
			n = 0 // negative is read as 0 (RFC 7644 §3.4.2.4)
		}
		p.Count = n
	}
	if p.Count > maxResults {
		p.Count = maxResults
	}
	if s := strings.TrimSpace(in.SortBy); s != "" {
		ap, err := ParseAttrPath(s)
		if err != nil {
			return nil, InvalidValue("sortBy: %q is not an attribute name", clip(s))
		}
		p.SortBy = &ap
	}
	switch strings.ToLower(strings.TrimSpace(in.SortOrder)) {
	case "", "ascending":
	case "descending":
		p.Descending = true
	default:
		return nil, InvalidValue("sortOrder must be \"ascending\" or \"descending\", not %q", clip(in.SortOrder))
	}
	return p, nil
}

// MaxStartIndex is the largest startIndex a list answers for; a larger
// one, up to any number of digits, is read as this one and gives an empty
// page. It is the largest 32-bit integer because ASP.NET and Java clients
// read startIndex, which the response echoes, into one; no directory comes
// near it.
const MaxStartIndex = math.MaxInt32

// wholeNumber reads a decimal integer. A number too large (or too small)
// for an int is not an error: it reads as the largest (smallest) int, so
// count=99999999999999999999 is the max_results cap rather than a 400
// (RFC 7644 §3.4.2.4 lets the server return fewer results than asked).
func wholeNumber(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if errors.Is(err, strconv.ErrRange) {
		return n, nil // Atoi saturates at the int range
	}
	return n, err
}

// ListResponse builds the RFC 7644 §3.4.2 envelope. Resources is always an
// array, empty when nothing matched (Entra quarantines on a 404 here).
func ListResponse(total, startIndex int, resources []any) map[string]any {
	if resources == nil {
		resources = []any{}
	}
	return map[string]any{
		"schemas":      []string{ListSchema},
		"totalResults": total,
		"startIndex":   startIndex,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
}

// SearchInput reads a SearchRequest body (RFC 7644 §3.4.3) into ListInput.
func SearchInput(body map[string]any) (ListInput, error) {
	var in ListInput
	str := func(key string) (string, error) {
		v, ok := lookup(body, key)
		if !ok || v == nil {
			return "", nil
		}
		switch x := v.(type) {
		case string:
			return x, nil
		case []any:
			parts := make([]string, 0, len(x))
			for _, el := range x {
				s, ok := el.(string)
				if !ok {
					return "", InvalidValue("%s must list attribute names", key)
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, ","), nil
		default:
			if n, ok := v.(interface{ String() string }); ok {
				return n.String(), nil
			}
		}
		return "", InvalidValue("%s has the wrong type: %s", key, kind(v))
	}
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"filter", &in.Filter}, {"sortBy", &in.SortBy}, {"sortOrder", &in.SortOrder}, {"startIndex", &in.StartIndex},
		{"count", &in.Count}, {"attributes", &in.Attributes}, {"excludedAttributes", &in.Excluded}} {
		if *f.dst, err = str(f.key); err != nil {
			return in, err
		}
	}
	if v, ok := lookup(body, "cursor"); ok {
		c, isStr := v.(string)
		if !isStr && v != nil {
			return in, InvalidValue("cursor must be a string")
		}
		in.Cursor = &c
	}
	return in, nil
}

// CursorListResponse is the RFC 9865 form: nextCursor instead of
// startIndex, present while more pages follow.
func CursorListResponse(total int, next string, resources []any) map[string]any {
	if resources == nil {
		resources = []any{}
	}
	m := map[string]any{
		"schemas":      []string{ListSchema},
		"totalResults": total,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
	if next != "" {
		m["nextCursor"] = next
	}
	return m
}
