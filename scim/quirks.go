package scim

import "strings"

// This file is the one place where identity-provider quirks are turned into
// what RFC 7643/7644 mean. Each function names the clients and request shapes
// it exists for and the test that proves it (quirks_test.go). Nothing outside
// this file special-cases a client.

// quirkBool turns the strings "True"/"False" (any case) into booleans.
// Entra's IsSoftDeleted Switch() mapping yields "True"/"False" for active
// (TestQuirkEntraStringBooleanActive), roles[].primary arrives as "True"
// (TestQuirkEntraRolesPrimaryString), and AzureAD's reference Postman suite
// POSTs "active":"True" (TestQuirkPostmanActiveStringTrue).
func quirkBool(v any) any {
	if s, ok := v.(string); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return v
}

// quirkManager normalises the enterprise manager attribute. Entra sends it
// as a plain id string in PATCH and in bodies, as {"value": id}, as a legacy
// array [{"$ref":..., "value": id}], and clears it with "", {"value": ""} or
// null (TestQuirkEntraManagerShapes). It is always stored and returned as
// {"value": id}.
func quirkManager(v any) any {
	switch m := v.(type) {
	case string:
		if m == "" {
			return nil
		}
		return map[string]any{"value": m}
	case []any:
		if len(m) == 0 {
			return nil
		}
		return quirkManager(m[0])
	case map[string]any:
		for k, x := range m {
			if strings.EqualFold(k, "value") {
				if s, ok := x.(string); ok && s == "" || x == nil {
					return nil
				}
			}
		}
	}
	return v
}

// quirkMember turns a bare member id string into {"value": id}: the AzureAD
// reference Postman suite sends {"op":"add","path":"members","value":"id"}
// (TestQuirkPostmanMemberBareString).
func quirkMember(v any) any {
	if s, ok := v.(string); ok {
		return map[string]any{"value": s}
	}
	return v
}

// quirkOp lower-cases PATCH op names: Entra sends "Add", "Replace", "Remove"
// (TestQuirkEntraCapitalisedOps).
func quirkOp(op string) string { return strings.ToLower(strings.TrimSpace(op)) }

// quirkClear reports whether a PATCH add/replace value means "clear this
// attribute": Microsoft's validation harness sends "" and then null for every
// optional mapped attribute and expects them gone
// (TestQuirkEntraClearWithEmptyString).
func quirkClear(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}

// quirkRemoveValues reports whether a PATCH remove of a multi-valued
// attribute carries a value array naming the elements to remove. Entra sends
// {"op":"Remove","path":"members","value":[{"value":"id"}]} and means only
// those members; an RFC-literal reading removes every member
// (TestQuirkEntraRemoveMembersWithValueArray).
func quirkRemoveValues(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, len(x) > 0
	case map[string]any:
		return []any{x}, true
	case string:
		return []any{map[string]any{"value": x}}, x != ""
	}
	return nil, false
}

// ReplaceMembersAdds reports whether a PATCH "replace" on members adds
// (Entra: production sends one member per replace, so RFC replace-all would
// leave one member per group; TestQuirkEntraReplaceMembersAdds) rather than
// replacing the set (RFC 7644 §3.5.2.3, Okta's full push). The interface
// contract ties this to the token's idp.
func ReplaceMembersAdds(idp string) bool { return idp == "entra" }

// BoolLiteral reads a filter value compared with a boolean attribute:
// true/false, and the strings "True"/"False" that Entra filters with
// (roles[primary eq "True"]; TestQuirkEntraFilterStringBoolean).
func BoolLiteral(v any) (bool, bool) {
	b, ok := quirkBool(v).(bool)
	return b, ok
}

// BearerSecret takes the secret out of an Authorization header value. The
// standard form is "Bearer <secret>" (any case); Okta's header-auth mode
// has been seen sending the secret with no scheme when the admin left
// "Bearer " out, so a bare value that starts with the token prefix is
// accepted too (TestQuirkOktaBareAuthorization). ok is false for anything
// else.
func BearerSecret(header, prefix string) (secret string, ok bool) {
	h := strings.TrimSpace(header)
	switch {
	case len(h) > 7 && strings.EqualFold(h[:7], "bearer "):
		return strings.TrimSpace(h[7:]), true
	case prefix != "" && strings.HasPrefix(h, prefix):
		return h, true
	}
	return "", false
}
