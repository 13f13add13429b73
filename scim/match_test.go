package scim

import (
	"encoding/json"
	"strings"
	"testing"
)

// matchElem decodes a JSON object the way PATCH bodies are decoded.
func matchElem(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

// TestMatch is the per-operator x per-type table for value filters
// (RFC 7644 §3.4.2.2 semantics, applied to one element).
func TestMatch(t *testing.T) {
	const elem = `{"value":"Bjensen@Example.com","type":"work","primary":true,"Display":"Ab",
		"strPrimary":"True","n":42,"f":1.5,"big":12345678901234567890,"empty":"","nul":null,
		"arr":[],"tags":["x","Y"],"sub":{"k":"V"},"num":"7","when":"2011-05-13T04:42:34Z"}`
	exact := func(p AttrPath) bool { return strings.EqualFold(p.Name, "type") }
	tests := []struct {
		filter string
		want   bool
	}{
		// Strings, case-insensitive (caseExact false).
		{`value eq "bjensen@example.com"`, true},
		{`value eq "bjensen"`, false},
		{`value ne "bjensen@example.com"`, false},
		{`value ne "other"`, true},
		{`value co "EXAMPLE"`, true},
		{`value co "nope"`, false},
		{`value sw "BJ"`, true},
		{`value sw "example"`, false},
		{`value ew ".COM"`, true},
		{`value ew "bjensen"`, false},
		{`value gt "a"`, true},
		{`value gt "c"`, false},
		{`value ge "BJENSEN@EXAMPLE.COM"`, true},
		{`value lt "C"`, true},
		{`value lt "a"`, false},
		{`value le "bjensen@example.com"`, true},
		{`when gt "2011-05-13T04:42:33Z"`, true},
		{`when lt "2011-05-13T04:42:33Z"`, false},
		// Strings, caseExact.
		{`type eq "work"`, true},
		{`type eq "Work"`, false},
		{`type ne "Work"`, true},
		{`type co "OR"`, false},
		{`type co "or"`, true},
		{`type sw "W"`, false},
		{`type ew "rk"`, true},
		{`type gt "Work"`, true}, // "w" > "W" byte-wise
		// Attribute names are case-insensitive.
		{`VALUE eq "bjensen@example.com"`, true},
		{`display eq "ab"`, true},
		// Numbers.
		{`n eq 42`, true},
		{`n eq 42.0`, true},
		{`n eq 4.2e1`, true},
		{`n ne 42`, false},
		{`n ne 43`, true},
		{`n gt 41`, true},
		{`n gt 42`, false},
		{`n ge 42`, true},
		{`n lt 42.5`, true},
		{`n le 41`, false},
		{`f gt 1`, true},
		{`f lt 1.25`, false},
		{`big gt 12345678901234560000`, true},
		{`big gt 9223372036854775807`, true},
		{`big gt 12345678901234567889`, true},
		{`big eq 12345678901234567890.0`, true},
		{`big lt 12345678901234567891`, true},
		{`n lt 1e646456992`, true}, // math/big is very slow here; must not be used
		{`f gt 1e-646456992`, true},
		{`big lt 1e1001`, true},
		{`big gt 1e-1000`, true},
		{`n co 4`, false},
		{`n sw 4`, false},
		{`n eq "42"`, true},
		{`num eq 7`, true},
		{`num gt 10`, false},
		{`n eq "forty"`, false},
		{`n eq true`, false},
		// Booleans, including Entra's string booleans in both directions.
		{`primary eq true`, true},
		{`primary eq false`, false},
		{`primary ne false`, true},
		{`primary eq "True"`, true},
		{`primary eq "true"`, true},
		{`primary eq "False"`, false},
		{`primary ne "False"`, true},
		{`primary eq "yes"`, false},
		{`primary gt false`, false},
		{`strPrimary eq true`, true},
		{`strPrimary eq false`, false},
		{`strPrimary eq "true"`, true},
		{`value eq true`, false},
		// Missing, null and empty.
		{`missing eq "x"`, false},
		{`missing ne "x"`, true},
		{`missing co "x"`, false},
		{`missing gt 1`, false},
		{`missing pr`, false},
		{`missing eq null`, true},
		{`missing ne null`, false},
		{`nul pr`, false},
		{`nul eq null`, true},
		{`empty pr`, false},
		{`empty eq null`, true},
		{`arr pr`, false},
		{`value pr`, true},
		{`primary pr`, true},
		{`n pr`, true},
		{`value eq null`, false},
		{`value ne null`, true},
		// Multi-valued and complex values inside the element.
		{`tags eq "y"`, true},
		{`tags eq "z"`, false},
		{`tags ne "x"`, false},
		{`tags pr`, true},
		{`sub.k eq "v"`, true},
		{`sub.missing pr`, false},
		{`value.k pr`, false},
		{`sub eq "v"`, false},
		// Logical operators.
		{`type eq "work" and primary eq true`, true},
		{`type eq "home" and primary eq true`, false},
		{`type eq "home" or primary eq true`, true},
		{`not (type eq "home")`, true},
		{`not (type eq "work") or n eq 42`, true},
	}
	m := matchElem(t, elem)
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := ParseFilter(tt.filter, FilterLimits{})
			if err != nil {
				t.Fatalf("ParseFilter: %v", err)
			}
			if got := Match(f, m, exact); got != tt.want {
				t.Errorf("Match(%s) = %v, want %v", f, got, tt.want)
			}
		})
	}
}

func TestMatchMisc(t *testing.T) {
	m := matchElem(t, `{"type":"Work","value":"a"}`)
	tests := []struct {
		name      string
		filter    Expr
		caseExact func(AttrPath) bool
		want      bool
	}{
		{"nil caseExact folds", filterEq("type", "work"), nil, true},
		{"caseExact true", filterEq("type", "work"), func(AttrPath) bool { return true }, false},
		{"nested value path never matches", &ValuePath{AttrPath{Name: "x"}, filterEq("type", "Work")}, nil, false},
		{"entra .value form", &And{filterEq("type", "work"), filterEq("value", "A")}, nil, true},
		{"missing number", filterEq("n", Number("2")), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.filter, m, tt.caseExact); got != tt.want {
				t.Errorf("Match(%s) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
	// Elements built in Go rather than decoded may hold float64 or int.
	g := map[string]any{"f": 2.0, "i": 3, "type": "a", "TYPE": "b"}
	if !Match(filterEq("f", Number("2")), g, nil) || !Match(&Compare{AttrPath{Name: "i"}, OpGt, Number("2.5")}, g, nil) {
		t.Errorf("numeric match on float64/int values failed")
	}
	// With keys differing only in case, the exact key wins.
	if !Match(filterEq("TYPE", "b"), g, nil) || !Match(filterEq("type", "a"), g, nil) {
		t.Errorf("exact key was not preferred")
	}
}
