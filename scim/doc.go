// Package scim implements the SCIM 2.0 protocol pieces that do not depend on
// HTTP or storage: the resource schemas (RFC 7643), the filter and PATCH path
// grammars (RFC 7644 §3.4.2.2, §3.5.2), PATCH application, the error
// envelope (RFC 7644 §3.12), list and query parameters, discovery documents,
// and the one place where identity-provider quirks are normalised.
//
// It uses the standard library only, plus the Go project's Unicode
// normaliser (golang.org/x/text/unicode/norm) for comparing names (NameKey).
package scim
