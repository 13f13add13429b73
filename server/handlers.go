package server

import (
	"net/http"
	"strings"

	"scimd/scim"
	"scimd/store"
)

func (s *Server) rtOf(k store.Kind) *scim.ResourceType {
	if k == store.Users {
		return s.cat.User
	}
	return s.cat.Group
}

// baseURL is the external URL of the SCIM base path: public_url when set,
// otherwise the scheme and host the request came to.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL + s.cfg.BasePath
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.cfg.BasePath
}

// render turns a stored resource into its SCIM representation.
func (s *Server) render(r *http.Request, k store.Kind, res *store.Resource) map[string]any {
	return s.RenderAt(s.baseURL(r), k, res)
}

// AppendStoredAt appends a user read with store.Query.Raw (or an event's
// stored resource) as RenderAt and scim.AppendJSON would write it, from
// its stored JSON without decoding it (raw.go); ok is false when it
// cannot be sure to, and the caller renders the decoded document.
func (s *Server) AppendStoredAt(b []byte, base string, k store.Kind, res *store.Resource) (_ []byte, ok bool) {
	if k != store.Users || res.Text == nil {
		return b, false
	}
	return s.raw.appendStored(b, base, res)
}

// RenderAt is a stored resource as GET returns it, with references and
// meta.location under base (the external URL of the SCIM base path). The
// webhook deliverer renders events' resources with it, so a receiver gets
// exactly what a GET would have returned after the change.
func (s *Server) RenderAt(base string, k store.Kind, res *store.Resource) map[string]any {
	rt := s.rtOf(k)
	out := make(map[string]any, len(res.Doc)+3)
	schemas := []string{rt.Schema.ID}
	doc := rt.Visible(res.Doc)
	for key, v := range doc {
		out[key] = v
	}
	for _, e := range rt.Extensions {
		if _, ok := doc[e.ID]; ok {
			schemas = append(schemas, e.ID)
		}
	}
	// References get their $ref from the server's own URL.
	for _, key := range []string{"members", "groups"} {
		if l, ok := out[key].([]any); ok {
			for i, el := range l {
				switch m := el.(type) {
				case scim.MemberRef:
					m.Ref = base + "/" + refPath(m.Type) + "/" + m.Value
					l[i] = m
				case map[string]any:
					m["$ref"] = base + "/" + refPath(m["type"]) + "/" + m["value"].(string)
				}
			}
		}
	}
	if k == store.Groups {
		if _, ok := out["members"]; !ok {
			out["members"] = []any{}
		}
	}
	if ext, ok := out[scim.EnterpriseSchema].(map[string]any); ok {
		if m, ok := ext["manager"].(map[string]any); ok {
			if id, ok := m["value"].(string); ok {
				m = cloneMap(m)
				m["$ref"] = base + "/Users/" + id
				ext = cloneMap(ext)
				ext["manager"] = m
				out[scim.EnterpriseSchema] = ext
			}
		}
	}
	out["schemas"] = schemas
	out["id"] = res.ID
	out["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      res.Created,
		"lastModified": res.Modified,
		"location":     base + rt.Endpoint + "/" + res.ID,
		"version":      scim.ETag(res.Version),
	}
	return out
}

// refPath is the endpoint a member or group reference points into.
func refPath(typ any) string {
	if typ == "User" {
		return "Users"
	}
	return "Groups"
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) projection(r *http.Request, k store.Kind) (*scim.Projection, error) {
	q := r.URL.Query()
	return s.rtOf(k).ParseProjection(q.Get("attributes"), q.Get("excludedAttributes"))
}

func (s *Server) writeResource(w http.ResponseWriter, r *http.Request, k store.Kind, res *store.Resource, status int, proj *scim.Projection) {
	base := s.baseURL(r)
	w.Header().Set("ETag", scim.ETag(res.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", base+s.rtOf(k).Endpoint+"/"+res.ID)
	}
	if proj.IsDefault() {
		// A user with its stored text (one just created) is sent from that
		// JSON (raw.go); anything else is rendered.
		bp := bufPool.Get().(*[]byte)
		b, ok := s.AppendStoredAt((*bp)[:0], base, k, res)
		if ok {
			writeJSON(w, status, scim.RawJSON(b))
			putBuf(bp, b)
			return
		}
		putBuf(bp, b)
	}
	out := s.RenderAt(base, k, res)
	proj.Apply(s.rtOf(k), out)
	writeJSON(w, status, out)
}

func refsKey(k store.Kind) string {
	if k == store.Users {
		return "groups"
	}
	return "members"
}

func (s *Server) get(k store.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		proj, err := s.projection(r, k)
		if err != nil {
			return err
		}
		res, err := s.st.Get(r.Context(), k, r.PathValue("id"), proj.Wants(refsKey(k)))
		if err != nil {
			return err
		}
		if inm := r.Header.Get("If-None-Match"); inm != "" && scim.MatchETag(inm, res.Version) {
			w.Header().Set("ETag", scim.ETag(res.Version))
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		s.writeResource(w, r, k, res, http.StatusOK, proj)
		return nil
	}
}

func (s *Server) decode(w http.ResponseWriter, r *http.Request, k store.Kind) (map[string]any, error) {
	b, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	raw, err := scim.DecodeObject(b, s.cfg.Limits)
	if err != nil {
		return nil, err
	}
	return s.rtOf(k).Normalize(raw, s.cfg.Limits)
}

func (s *Server) create(k store.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		doc, err := s.decode(w, r, k)
		if err != nil {
			return err
		}
		res, err := s.st.Create(r.Context(), actorOf(r), k, doc)
		if err != nil {
			return err
		}
		proj, err := s.projection(r, k)
		if err != nil {
			return err
		}
		s.writeResource(w, r, k, res, http.StatusCreated, proj)
		return nil
	}
}

func (s *Server) replace(k store.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		doc, err := s.decode(w, r, k)
		if err != nil {
			return err
		}
		res, err := s.st.Replace(r.Context(), actorOf(r), k, r.PathValue("id"), doc, r.Header.Get("If-Match"))
		if err != nil {
			return err
		}
		proj, err := s.projection(r, k)
		if err != nil {
			return err
		}
		s.writeResource(w, r, k, res, http.StatusOK, proj)
		return nil
	}
}

// patch answers 200 with the resource for users (what Entra's validator
// expects) and 204 for groups, whose member lists can be large (Microsoft
// recommends 204; Okta accepts it), unless the request asks for attributes.
func (s *Server) patch(k store.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		ops, err := scim.DecodePatch(b, s.cfg.Limits)
		if err != nil {
			return err
		}
		a := actorOf(r)
		opt := scim.PatchOptions{Limits: s.cfg.Limits, ReplaceMembersAdds: scim.ReplaceMembersAdds(a.IDP)}
		res, err := s.st.Patch(r.Context(), a, k, r.PathValue("id"), ops, opt, r.Header.Get("If-Match"))
		if err != nil {
			return err
		}
		q := r.URL.Query()
		if k == store.Groups && q.Get("attributes") == "" && q.Get("excludedAttributes") == "" {
			w.Header().Set("ETag", scim.ETag(res.Version))
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		proj, err := s.projection(r, k)
		if err != nil {
			return err
		}
		if k == store.Groups && proj.Wants("members") {
			// The store does not read a group's members back after a PATCH.
			if res, err = s.st.Get(r.Context(), k, res.ID, true); err != nil {
				return err
			}
		}
		s.writeResource(w, r, k, res, http.StatusOK, proj)
		return nil
	}
}

func (s *Server) delete(k store.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.st.Delete(r.Context(), actorOf(r), k, r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// defaultCount is the page size when a list request names none.
const defaultCount = 100

func (s *Server) list(k store.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		in := scim.ListInput{Filter: q.Get("filter"), SortBy: q.Get("sortBy"), SortOrder: q.Get("sortOrder"),
			StartIndex: q.Get("startIndex"), Count: q.Get("count"), Attributes: q.Get("attributes"), Excluded: q.Get("excludedAttributes")}
		if _, ok := q["filter"]; ok && in.Filter == "" {
			in.Filter = " " // present but empty: invalidFilter
		}
		if c, ok := q["cursor"]; ok {
			in.Cursor = &c[0]
		}
		return s.runList(w, r, k, in)
	}
}

func (s *Server) search(k store.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		body, err := scim.DecodeObject(b, s.cfg.Limits)
		if err != nil {
			return err
		}
		in, err := scim.SearchInput(body)
		if err != nil {
			return err
		}
		return s.runList(w, r, k, in)
	}
}

func (s *Server) runList(w http.ResponseWriter, r *http.Request, k store.Kind, in scim.ListInput) error {
	p, err := scim.ParseList(in, defaultCount, s.cfg.MaxResults, s.cfg.Limits.Filter)
	if err != nil {
		return err
	}
	rt := s.rtOf(k)
	proj, err := rt.ParseProjection(p.Attributes, p.Excluded)
	if err != nil {
		return err
	}
	// Users under the default projection are sent from their stored JSON
	// (raw.go); anything else is decoded and rendered.
	raw := k == store.Users && proj.IsDefault()
	page, err := s.st.ListPage(r.Context(), k, store.Query{Filter: p.Filter, SortBy: p.SortBy, Descending: p.Descending,
		StartIndex: p.StartIndex, Count: p.Count, WithRefs: proj.Wants(refsKey(k)), Cursor: p.Cursor, Raw: raw})
	if err != nil {
		return err
	}
	out := make([]any, 0, len(page.Resources))
	var buf []byte
	if raw {
		bp := bufPool.Get().(*[]byte)
		defer func() { putBuf(bp, buf) }()
		buf = (*bp)[:0]
	}
	base := s.baseURL(r)
	for _, res := range page.Resources {
		if raw {
			n := len(buf)
			if b, ok := s.raw.appendStored(buf, base, res); ok {
				buf = b
				out = append(out, scim.RawJSON(b[n:]))
				continue
			}
			if err := decodeStored(res); err != nil {
				return err
			}
		}
		m := s.RenderAt(base, k, res)
		proj.Apply(rt, m)
		out = append(out, m)
	}
	if p.Cursor != nil {
		writeJSON(w, http.StatusOK, scim.CursorListResponse(page.Total, page.NextCursor, out))
		return nil
	}
	writeJSON(w, http.StatusOK, scim.ListResponse(page.Total, p.StartIndex, out))
	return nil
}

// decodeStored turns a resource read with store.Query.Raw into the decoded
// form render takes, with the user's groups where fill would put them.
func decodeStored(res *store.Resource) error {
	doc, err := scim.DecodeDocument(res.Text)
	if err != nil {
		return err
	}
	if len(res.Groups) > 0 {
		l := make([]any, 0, len(res.Groups))
		for _, g := range res.Groups {
			l = append(l, map[string]any{"value": g.ID, "display": g.Display, "type": g.Type})
		}
		doc["groups"] = l
	}
	res.Doc = doc
	return nil
}

func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request) error {
	base := s.baseURL(r)
	writeJSON(w, http.StatusOK, scim.ServiceProviderConfig(scim.ProviderFeatures{
		MaxResults:       s.cfg.MaxResults,
		DefaultPageSize:  defaultCount,
		MaxOperations:    s.cfg.Limits.MaxOperations,
		MaxPayloadSize:   s.cfg.MaxBody,
		DocumentationURI: "https://datatracker.ietf.org/doc/html/rfc7644",
	}, base+"/ServiceProviderConfig"))
	return nil
}

func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request) error {
	base := s.baseURL(r)
	var out []any
	for _, rt := range s.cat.ResourceTypes() {
		out = append(out, rt.ResourceTypeDoc(base+"/ResourceTypes/"+rt.Name))
	}
	writeJSON(w, http.StatusOK, scim.ListResponse(len(out), 1, out))
	return nil
}

func (s *Server) resourceType(w http.ResponseWriter, r *http.Request) error {
	base := s.baseURL(r)
	for _, rt := range s.cat.ResourceTypes() {
		if strings.EqualFold(rt.Name, r.PathValue("id")) {
			writeJSON(w, http.StatusOK, rt.ResourceTypeDoc(base+"/ResourceTypes/"+rt.Name))
			return nil
		}
	}
	return scim.NotFound("no resource type %q; there are User and Group", clip(r.PathValue("id")))
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request) error {
	base := s.baseURL(r)
	var out []any
	for _, sc := range s.cat.Schemas() {
		out = append(out, sc.Doc(base+"/Schemas/"+sc.ID))
	}
	writeJSON(w, http.StatusOK, scim.ListResponse(len(out), 1, out))
	return nil
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) error {
	sc := s.cat.SchemaByID(r.PathValue("id"))
	if sc == nil {
		return scim.NotFound("no schema %q", clip(r.PathValue("id")))
	}
	writeJSON(w, http.StatusOK, sc.Doc(s.baseURL(r)+"/Schemas/"+sc.ID))
	return nil
}
