package scim

// Discovery documents of RFC 7644 §4 and RFC 7643 §5–§7.

// ProviderFeatures are the capabilities advertised in
// /ServiceProviderConfig.
type ProviderFeatures struct {
	MaxResults       int
	DefaultPageSize  int
	MaxOperations    int
	MaxPayloadSize   int64
	DocumentationURI string
}

// ServiceProviderConfig renders /ServiceProviderConfig (RFC 7643 §5). Every
// sub-field is present, as Okta's 2016 SPEC test asserts.
func ServiceProviderConfig(f ProviderFeatures, location string) map[string]any {
	return map[string]any{
		"schemas":          []string{SPCSchema},
		"documentationUri": f.DocumentationURI,
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": f.MaxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		// RFC 9865 §4: both pagination methods are offered.
		"pagination": map[string]any{
			"cursor":                  true,
			"index":                   true,
			"defaultPaginationMethod": "index",
			"defaultPageSize":         f.DefaultPageSize,
			"maxPageSize":             f.MaxResults,
		},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "A bearer token issued with 'scimd token issue', sent as Authorization: Bearer <token>.",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": location},
	}
}

// ResourceTypeDoc renders one /ResourceTypes entry (RFC 7643 §6).
func (rt *ResourceType) ResourceTypeDoc(location string) map[string]any {
	exts := make([]any, 0, len(rt.Extensions))
	for _, e := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": e.ID, "required": false})
	}
	return map[string]any{
		"schemas":          []string{RTSchema},
		"id":               rt.Name,
		"name":             rt.Name,
		"endpoint":         rt.Endpoint,
		"description":      rt.Description,
		"schema":           rt.Schema.ID,
		"schemaExtensions": exts,
		"meta":             map[string]any{"resourceType": "ResourceType", "location": location},
	}
}

// Doc renders a schema for /Schemas (RFC 7643 §7). Common attributes (id,
// externalId, meta) are described by RFC 7643 §3.1 and are not listed.
func (s *Schema) Doc(location string) map[string]any {
	attrs := make([]any, 0, len(s.Attributes))
	for _, a := range s.Attributes {
		attrs = append(attrs, a.doc())
	}
	return map[string]any{
		"schemas":     []string{SchemaSchema},
		"id":          s.ID,
		"name":        s.Name,
		"description": s.Description,
		"attributes":  attrs,
		"meta":        map[string]any{"resourceType": "Schema", "location": location},
	}
}

func (a *Attribute) doc() map[string]any {
	m := map[string]any{
		"name":        a.Name,
		"type":        a.Type,
		"multiValued": a.MultiValued,
		"description": a.Description,
		"required":    a.Required,
		"mutability":  a.Mutability,
		"returned":    a.Returned,
	}
	if a.Type != TypeComplex && a.Type != TypeBoolean {
		m["caseExact"] = a.CaseExact
		m["uniqueness"] = a.Uniqueness
	}
	if len(a.CanonicalValues) > 0 {
		m["canonicalValues"] = a.CanonicalValues
	}
	if len(a.ReferenceTypes) > 0 {
		m["referenceTypes"] = a.ReferenceTypes
	}
	if len(a.SubAttributes) > 0 {
		subs := make([]any, 0, len(a.SubAttributes))
		for _, s := range a.SubAttributes {
			subs = append(subs, s.doc())
		}
		m["subAttributes"] = subs
	}
	return m
}
