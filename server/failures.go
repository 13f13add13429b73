package server

import (
	"net/http"
	"strings"

	"scimd/scim"
	"scimd/store"
)

// recordFailure puts a failed /Users or /Groups request in the provisioning
// log (scimd log --failed): status, scimType, a redacted detail, token,
// client and the resource addressed. It is called by writeError and does
// not wait for the database. Discovery endpoints and unknown paths are not
// logged: they change nothing and would only add noise.
func (s *Server) recordFailure(r *http.Request, se *scim.Error) {
	// 429 is the refused-authentication limiter (ratelimit.go) at work: a
	// flood it answers must not turn into a flood of log rows.
	if se.Status < 400 || se.Status == http.StatusTooManyRequests {
		return
	}
	typ, id, search, ok := s.resourceOf(r.URL.Path)
	if !ok {
		return
	}
	token := actorOf(r).Token
	if token == "" {
		if info := infoOf(r); info != nil {
			token = info.token
		}
	}
	s.st.RecordFailure(&s.failures, store.Event{
		Token:        token,
		Agent:        r.UserAgent(),
		Op:           failedOp(r.Method, id, search),
		ResourceType: typ,
		ResourceID:   id,
		Status:       se.Status,
		ScimType:     se.ScimType,
		Detail:       se.Detail,
	})
}

// resourceOf parses a SCIM resource path: /Users, /Users/{id},
// /Users/.search and the same for /Groups, under any base path.
func (s *Server) resourceOf(p string) (typ, id string, search, ok bool) {
	for _, b := range s.bases {
		rest, found := strings.CutPrefix(p, b+"/")
		if !found {
			continue
		}
		seg, id, _ := strings.Cut(rest, "/")
		switch seg {
		case "Users":
			typ = "User"
		case "Groups":
			typ = "Group"
		default:
			return "", "", false, false
		}
		if strings.Contains(id, "/") {
			return "", "", false, false
		}
		if id == ".search" {
			return typ, "", true, true
		}
		return typ, id, false, true
	}
	return "", "", false, false
}

// failedOp names what a failed request tried, in the log's vocabulary.
func failedOp(method, id string, search bool) string {
	switch {
	case search:
		return "search"
	case method == http.MethodPost:
		return "create"
	case method == http.MethodPut:
		return "replace"
	case method == http.MethodPatch:
		return "patch"
	case method == http.MethodDelete:
		return "delete"
	case method == http.MethodGet && id == "":
		return "list"
	case method == http.MethodGet:
		return "get"
	}
	return strings.ToLower(method)
}
