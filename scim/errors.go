package scim

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// ErrorSchema is the schema URN of the error envelope (RFC 7644 §3.12).
const ErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// Error is a SCIM protocol error: the HTTP status, the scimType keyword of
// RFC 7644 §3.12 (empty where the RFC defines none) and a detail an
// administrator can act on. It is what the server writes to the wire, so its
// Detail must never hold secrets or internals.
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("scim %d %s: %s", e.Status, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("scim %d: %s", e.Status, e.Detail)
}

// MarshalJSON renders the RFC 7644 §3.12 envelope, with status as a string.
func (e *Error) MarshalJSON() ([]byte, error) {
	type wire struct {
		Schemas  []string `json:"schemas"`
		Status   string   `json:"status"`
		ScimType string   `json:"scimType,omitempty"`
		Detail   string   `json:"detail,omitempty"`
	}
	return json.Marshal(wire{[]string{ErrorSchema}, strconv.Itoa(e.Status), e.ScimType, e.Detail})
}

func newErr(status int, scimType, format string, args []any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// InvalidFilter is 400 invalidFilter: the filter syntax was invalid or the
// filter names an attribute or operator that cannot be used.
func InvalidFilter(format string, args ...any) *Error {
	return newErr(400, "invalidFilter", format, args)
}

// InvalidSyntax is 400 invalidSyntax: the request body could not be parsed or
// violates the schema's structure.
func InvalidSyntax(format string, args ...any) *Error {
	return newErr(400, "invalidSyntax", format, args)
}

// InvalidValue is 400 invalidValue: a required value is missing or a value is
// not compatible with the attribute's type.
func InvalidValue(format string, args ...any) *Error {
	return newErr(400, "invalidValue", format, args)
}

// InvalidPath is 400 invalidPath: a PATCH path is malformed or names an
// attribute the schema does not have.
func InvalidPath(format string, args ...any) *Error {
	return newErr(400, "invalidPath", format, args)
}

// NoTarget is 400 noTarget: a PATCH path selected nothing where something was
// required.
func NoTarget(format string, args ...any) *Error {
	return newErr(400, "noTarget", format, args)
}

// Mutability is 400 mutability: the request tried to change a readOnly or
// immutable attribute.
func Mutability(format string, args ...any) *Error {
	return newErr(400, "mutability", format, args)
}

// Uniqueness is 409 uniqueness: a value that must be unique is taken.
func Uniqueness(format string, args ...any) *Error {
	return newErr(409, "uniqueness", format, args)
}

// NotFound is 404: the resource or endpoint does not exist.
func NotFound(format string, args ...any) *Error {
	return newErr(404, "", format, args)
}

// Unauthorized is 401: the request carried no usable credentials.
func Unauthorized(format string, args ...any) *Error {
	return newErr(401, "", format, args)
}

// Forbidden is 403 (RFC 7644 §3.12): the credentials are valid but do not
// permit the operation, e.g. a write with a read-only token.
func Forbidden(format string, args ...any) *Error {
	return newErr(403, "", format, args)
}

// PreconditionFailed is 412: If-Match did not match the resource's version.
func PreconditionFailed(format string, args ...any) *Error {
	return newErr(412, "", format, args)
}

// MethodNotAllowed is 405.
func MethodNotAllowed(format string, args ...any) *Error {
	return newErr(405, "", format, args)
}

// TooLarge is 413: the request body exceeds the configured limit.
func TooLarge(format string, args ...any) *Error {
	return newErr(413, "", format, args)
}

// TooManyRequests is 429 (RFC 6585 §4): the client must wait before trying
// again; the server sends Retry-After with it.
func TooManyRequests(format string, args ...any) *Error {
	return newErr(429, "", format, args)
}

// Unavailable is 503: the service cannot accept writes right now (disk full,
// read-only database); reads keep working.
func Unavailable(format string, args ...any) *Error {
	return newErr(503, "", format, args)
}

// TooMany is 400 tooMany (RFC 7644 §3.12): the server will not process the
// request because it would examine too many resources. scimd sends it for
// a query that ran out of its time budget ([limits] query_timeout).
func TooMany(format string, args ...any) *Error {
	return newErr(400, "tooMany", format, args)
}

// UnsupportedMediaType is 415 (RFC 9110 §15.5.16): the request body's
// Content-Type or Content-Encoding is not one the server reads.
func UnsupportedMediaType(format string, args ...any) *Error {
	return newErr(415, "", format, args)
}

// BadRequest is 400 with no scimType, for a request that is unusable for a
// reason none of RFC 7644's keywords names, such as a body the client
// stopped sending halfway.
func BadRequest(format string, args ...any) *Error {
	return newErr(400, "", format, args)
}

// RequestTimeout is 408 (RFC 9110 §15.5.9): the client did not send its
// request within the server's read timeout.
func RequestTimeout(format string, args ...any) *Error {
	return newErr(408, "", format, args)
}
