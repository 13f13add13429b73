package scim

// This file holds the typed, closed AST that ParseFilter produces
// (RFC 7644 §3.4.2.2). Every node can print itself back as filter text;
// parsing that text again yields an identical tree (see FuzzParseFilter).

// Expr is a node of a parsed filter. The set of implementations is closed:
// *And, *Or, *Not, *Compare, *Present and *ValuePath.
type Expr interface {
	// String renders the node as canonical filter text.
	String() string
	expr()
}

// AttrPath names an attribute as written in a filter or PATCH path:
// an optional schema URN, an attribute name and an optional sub-attribute.
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
// has URI "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
// Name "manager" and Sub "value". Names keep the case the client used;
// resolution against the schema is case-insensitive.
type AttrPath struct {
	URI  string
	Name string
	Sub  string
}

// CompareOp is a comparison operator of RFC 7644 §3.4.2.2 (always lower case).
type CompareOp string

// The comparison operators.
const (
	OpEq CompareOp = "eq"
	OpNe CompareOp = "ne"
	OpCo CompareOp = "co"
	OpSw CompareOp = "sw"
	OpEw CompareOp = "ew"
	OpGt CompareOp = "gt"
	OpGe CompareOp = "ge"
	OpLt CompareOp = "lt"
	OpLe CompareOp = "le"
)

// And is "L and R".
type And struct{ L, R Expr }

// Or is "L or R".
type Or struct{ L, R Expr }

// Not is "not (X)".
type Not struct{ X Expr }

// Compare is "Path Op Value". Value is one of: string, Number, bool, or nil
// for the JSON literal null.
type Compare struct {
	Path  AttrPath
	Op    CompareOp
	Value any
}

// Present is "Path pr".
type Present struct{ Path AttrPath }

// ValuePath is "Path[Filter]": true when some element of the multi-valued
// attribute Path matches Filter. Attribute paths inside Filter are relative
// to the element (their Name is a sub-attribute of Path). Path.Sub is always
// empty. Entra's non-standard "emails[type eq \"work\"].value eq \"x\"" parses
// as ValuePath{emails, And{type eq "work", value eq "x"}}.
type ValuePath struct {
	Path   AttrPath
	Filter Expr
}

// Number is a JSON number literal kept as written ("42", "-1.5e3").
type Number string

func (*And) expr()       {}
func (*Or) expr()        {}
func (*Not) expr()       {}
func (*Compare) expr()   {}
func (*Present) expr()   {}
func (*ValuePath) expr() {}
