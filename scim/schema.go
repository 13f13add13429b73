package scim

import (
	"fmt"
	"regexp"
	"strings"
)

// Schema URNs of RFC 7643 and of the SCIM messages of RFC 7644.
const (
	UserSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ListSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SearchSchema     = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	SPCSchema        = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	RTSchema         = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Attribute types of RFC 7643 §2.3.
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeDecimal   = "decimal"
	TypeInteger   = "integer"
	TypeDateTime  = "dateTime"
	TypeBinary    = "binary"
	TypeReference = "reference"
	TypeComplex   = "complex"
)

// Mutability and returned characteristics of RFC 7643 §7.
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"

	ReturnAlways  = "always"
	ReturnNever   = "never"
	ReturnDefault = "default"
	ReturnRequest = "request"
)

// Attribute is one attribute definition of a schema (RFC 7643 §7).
type Attribute struct {
	Name            string
	Type            string
	MultiValued     bool
	Description     string
	Required        bool
	CaseExact       bool
	Mutability      string
	Returned        string
	Uniqueness      string
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []*Attribute

	// Strict makes CanonicalValues binding: any other value is invalidValue.
	// RFC 7643 canonical values (e.g. email types) are only suggestions.
	Strict bool
	// Lowercase stores string values lower-cased (an operator's choice, see
	// the config's [[attributes]] lowercase).
	Lowercase bool
	// Pattern, when set, must match every string value.
	Pattern *regexp.Regexp
	// Filterable marks an operator-declared attribute as indexed for filters.
	Filterable bool
	// Custom marks an operator-declared attribute.
	Custom bool

	// names marks the attribute that names its resource (userName,
	// a group's displayName): unique under NameKey, and refused when
	// blank or holding control characters (checkName).
	names bool
}

// Sub returns the sub-attribute called name (case-insensitive), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	for _, s := range a.SubAttributes {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// Schema is a schema definition (RFC 7643 §7).
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// Attr returns the attribute called name (case-insensitive), or nil.
func (s *Schema) Attr(name string) *Attribute {
	for _, a := range s.Attributes {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// ResourceType is a resource type (RFC 7643 §6) with its core schema and
// extension schemas.
type ResourceType struct {
	Name        string // "User" or "Group"
	Endpoint    string // "/Users"
	Description string
	Schema      *Schema
	Extensions  []*Schema
}

// simple builds a readWrite, default-returned attribute.
func simple(name, typ string, caseExact bool, desc string) *Attribute {
	return &Attribute{Name: name, Type: typ, CaseExact: caseExact, Mutability: ReadWrite,
		Returned: ReturnDefault, Uniqueness: "none", Description: desc}
}

func str(name, desc string) *Attribute { return simple(name, TypeString, false, desc) }

func complexAttr(name string, multi bool, desc string, subs ...*Attribute) *Attribute {
	a := simple(name, TypeComplex, false, desc)
	a.MultiValued = multi
	a.SubAttributes = subs
	return a
}

func ref(name string, types []string, desc string) *Attribute {
	a := simple(name, TypeReference, true, desc)
	a.ReferenceTypes = types
	return a
}

func withCanon(a *Attribute, vals ...string) *Attribute { a.CanonicalValues = vals; return a }

func readOnly(a *Attribute) *Attribute { a.Mutability = ReadOnly; return a }

// multiValue builds the usual {value, display, type, primary} element of a
// multi-valued attribute (RFC 7643 §2.4).
func multiValue(name, desc string, valueType string, types ...string) *Attribute {
	value := simple("value", valueType, false, "The value of the "+name+" element.")
	if valueType == TypeReference {
		value.CaseExact = true
		value.ReferenceTypes = []string{"external"}
	}
	return complexAttr(name, true, desc,
		value,
		str("display", "A human-readable name, primarily used for display purposes."),
		withCanon(str("type", "A label indicating the attribute's function."), types...),
		simple("primary", TypeBoolean, false, "Indicates the primary value for this attribute."),
	)
}

// userSchema is RFC 7643 §4.1 and §8.7.1.
func userSchema() *Schema {
	userName := str("userName", "Unique identifier for the User, typically used to authenticate.")
	userName.Required = true
	userName.Uniqueness = "server"
	userName.names = true
	password := str("password", "The User's cleartext password; scimd never stores it.")
	password.Mutability = WriteOnly
	password.Returned = ReturnNever
	return &Schema{
		ID:          UserSchema,
		Name:        "User",
		Description: "User Account",
		Attributes: []*Attribute{
			userName,
			complexAttr("name", false, "The components of the user's real name.",
				str("formatted", "The full name, formatted for display."),
				str("familyName", "The family name of the User."),
				str("givenName", "The given name of the User."),
				str("middleName", "The middle name(s) of the User."),
				str("honorificPrefix", "The honorific prefix(es) of the User."),
				str("honorificSuffix", "The honorific suffix(es) of the User."),
			),
			str("displayName", "The name of the User, suitable for display to end-users."),
			str("nickName", "The casual way to address the user."),
			ref("profileUrl", []string{"external"}, "A fully qualified URL pointing to the user's online profile."),
			str("title", "The user's title, such as \"Vice President\"."),
			str("userType", "The relationship between the organization and the user."),
			str("preferredLanguage", "The User's preferred written or spoken language."),
			str("locale", "The User's default location for localization."),
			str("timezone", "The User's time zone in the 'Olson' time zone database format."),
			simple("active", TypeBoolean, false, "The User's administrative status."),
			password,
			multiValue("emails", "Email addresses for the user.", TypeString, "work", "home", "other"),
			multiValue("phoneNumbers", "Phone numbers for the User.", TypeString, "work", "home", "mobile", "fax", "pager", "other"),
			multiValue("ims", "Instant messaging addresses for the User.", TypeString, "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
			multiValue("photos", "URLs of photos of the User.", TypeReference, "photo", "thumbnail"),
			complexAttr("addresses", true, "A physical mailing address for this User.",
				str("formatted", "The full mailing address, formatted for display."),
				str("streetAddress", "The full street address component."),
				str("locality", "The city or locality component."),
				str("region", "The state or region component."),
				str("postalCode", "The zip code or postal code component."),
				str("country", "The country name component."),
				withCanon(str("type", "A label indicating the attribute's function."), "work", "home", "other"),
				simple("primary", TypeBoolean, false, "Indicates the primary address."),
			),
			readOnly(complexAttr("groups", true, "A list of groups to which the user belongs, computed from group memberships.",
				readOnly(str("value", "The identifier of the User's group.")),
				readOnly(ref("$ref", []string{"User", "Group"}, "The URI of the corresponding Group resource.")),
				readOnly(str("display", "A human-readable name of the group.")),
				readOnly(withCanon(str("type", "direct or indirect membership."), "direct", "indirect")),
			)),
			multiValue("entitlements", "A list of entitlements for the User.", TypeString),
			multiValue("roles", "A list of roles for the User.", TypeString),
			multiValue("x509Certificates", "A list of certificates issued to the User.", TypeBinary),
		},
	}
}

// enterpriseSchema is RFC 7643 §4.3.
func enterpriseSchema() *Schema {
	display := readOnly(str("displayName", "The displayName of the User's manager."))
	return &Schema{
		ID:          EnterpriseSchema,
		Name:        "EnterpriseUser",
		Description: "Enterprise User",
		Attributes: []*Attribute{
			str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
			str("costCenter", "Identifies the name of a cost center."),
			str("organization", "Identifies the name of an organization."),
			str("division", "Identifies the name of a division."),
			str("department", "Identifies the name of a department."),
			complexAttr("manager", false, "The User's manager.",
				simple("value", TypeString, true, "The id of the SCIM resource representing the User's manager."),
				ref("$ref", []string{"User"}, "The URI of the SCIM resource representing the User's manager."),
				display,
			),
		},
	}
}

// groupSchema is RFC 7643 §4.2 and §8.7.1.
func groupSchema() *Schema {
	displayName := str("displayName", "A human-readable name for the Group.")
	displayName.Required = true
	displayName.Uniqueness = "server"
	displayName.names = true
	value := simple("value", TypeString, true, "Identifier of the member of this Group.")
	value.Mutability = Immutable
	return &Schema{
		ID:          GroupSchema,
		Name:        "Group",
		Description: "Group",
		Attributes: []*Attribute{
			displayName,
			complexAttr("members", true, "A list of members of the Group.",
				value,
				ref("$ref", []string{"User", "Group"}, "The URI of the member resource."),
				readOnly(str("display", "A human-readable name of the member.")),
				withCanon(str("type", "The type of the member."), "User", "Group"),
			),
		},
	}
}

// commonAttrs are the attributes every resource has (RFC 7643 §3.1).
// externalId is the only client-writable one.
func externalIDAttr() *Attribute {
	return simple("externalId", TypeString, true, "An identifier for the resource as defined by the provisioning client.")
}

// Catalog is the set of resource types and schemas one server serves,
// including operator-declared attributes.
type Catalog struct {
	User  *ResourceType
	Group *ResourceType
}

// NewCatalog builds the standard catalogue plus the operator's declared
// attributes.
func NewCatalog(custom []CustomAttribute) (*Catalog, error) {
	c := &Catalog{
		User: &ResourceType{Name: "User", Endpoint: "/Users", Description: "User Account",
			Schema: userSchema(), Extensions: []*Schema{enterpriseSchema()}},
		Group: &ResourceType{Name: "Group", Endpoint: "/Groups", Description: "Group",
			Schema: groupSchema()},
	}
	for _, ca := range custom {
		if err := c.declare(ca); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Schemas lists every schema in the catalogue: core User, enterprise User,
// operator extensions, then Group and its extensions.
func (c *Catalog) Schemas() []*Schema {
	out := []*Schema{c.User.Schema}
	out = append(out, c.User.Extensions...)
	out = append(out, c.Group.Schema)
	out = append(out, c.Group.Extensions...)
	return out
}

// SchemaByID finds a schema by its URN (case-insensitive).
func (c *Catalog) SchemaByID(id string) *Schema {
	for _, s := range c.Schemas() {
		if strings.EqualFold(s.ID, id) {
			return s
		}
	}
	return nil
}

// ResourceTypes lists the resource types.
func (c *Catalog) ResourceTypes() []*ResourceType { return []*ResourceType{c.User, c.Group} }

// schemaFor returns the core schema or extension with the given URN, or nil.
func (rt *ResourceType) schemaFor(urn string) *Schema {
	if strings.EqualFold(rt.Schema.ID, urn) {
		return rt.Schema
	}
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.ID, urn) {
			return e
		}
	}
	return nil
}

// Target is a resolved attribute reference: the schema that holds the
// attribute, the attribute, and optionally one of its sub-attributes.
type Target struct {
	Schema *Schema    // core or extension schema
	Attr   *Attribute // the attribute; nil for id, meta and schemas (see Common)
	Sub    *Attribute // set when a sub-attribute was named
	// Common is "id", "externalId", "meta" or "schemas" for the RFC 7643 §3.1
	// common attributes, which live outside any schema's attribute list.
	Common string
	// MetaSub is the meta sub-attribute for Common == "meta" ("created", ...).
	MetaSub string
}

// InExtension reports whether the attribute lives in an extension schema,
// i.e. under its URN key in a stored document.
func (t Target) InExtension(rt *ResourceType) bool {
	return t.Schema != nil && t.Schema != rt.Schema
}

// Key is the top-level key of the stored document that holds the target.
func (t Target) Key() string {
	if t.Common != "" {
		return t.Common
	}
	return t.Attr.Name
}

// String renders the canonical name of the target, URN-qualified for
// extension attributes.
func (t Target) String() string {
	var b strings.Builder
	switch {
	case t.Common != "":
		b.WriteString(t.Common)
		if t.MetaSub != "" {
			b.WriteString("." + t.MetaSub)
		}
		return b.String()
	case t.Schema != nil && t.Schema.ID != UserSchema && t.Schema.ID != GroupSchema:
		b.WriteString(t.Schema.ID + ":")
	}
	b.WriteString(t.Attr.Name)
	if t.Sub != nil {
		b.WriteString("." + t.Sub.Name)
	}
	return b.String()
}

var metaSubs = []string{"resourceType", "created", "lastModified", "location", "version"}

// Resolve finds the attribute a path names, case-insensitively. A path with
// no URN is looked up in the core schema first, then in the extensions, so
// "manager" and "department" reach the enterprise extension (Entra's legacy
// short forms). The error is invalidPath, naming the path.
func (rt *ResourceType) Resolve(p AttrPath) (Target, error) {
	var t Target
	name, sub := p.Name, p.Sub
	if p.URI != "" {
		s := rt.schemaFor(p.URI)
		if s == nil {
			// "urn:...:User:name.givenName" parses with the URN of the
			// core schema; anything else is unknown.
			return t, InvalidPath("attribute %q: unknown schema %q for %s", p.String(), p.URI, rt.Name)
		}
		t.Schema = s
		if s == rt.Schema {
			if c, ok := commonName(name); ok {
				return resolveCommon(rt, c, sub, p)
			}
		}
		t.Attr = s.Attr(name)
	} else {
		if c, ok := commonName(name); ok {
			return resolveCommon(rt, c, sub, p)
		}
		if a := rt.Schema.Attr(name); a != nil {
			t.Schema, t.Attr = rt.Schema, a
		} else {
			for _, e := range rt.Extensions {
				if a := e.Attr(name); a != nil {
					t.Schema, t.Attr = e, a
					break
				}
			}
		}
	}
	if t.Attr == nil {
		return t, InvalidPath("attribute %q is not defined for %s resources", p.String(), rt.Name)
	}
	if sub != "" {
		if t.Attr.Type != TypeComplex {
			return t, InvalidPath("attribute %q: %s has no sub-attributes", p.String(), t.Attr.Name)
		}
		t.Sub = t.Attr.Sub(sub)
		if t.Sub == nil {
			return t, InvalidPath("attribute %q: %s has no sub-attribute %q", p.String(), t.Attr.Name, sub)
		}
	}
	return t, nil
}

func commonName(name string) (string, bool) {
	for _, c := range []string{"id", "externalId", "meta", "schemas"} {
		if strings.EqualFold(c, name) {
			return c, true
		}
	}
	return "", false
}

func resolveCommon(rt *ResourceType, c, sub string, p AttrPath) (Target, error) {
	t := Target{Schema: rt.Schema, Common: c}
	if c == "externalId" {
		t.Attr = externalIDAttr()
	}
	if sub == "" {
		return t, nil
	}
	if c != "meta" {
		return t, InvalidPath("attribute %q: %s has no sub-attributes", p.String(), c)
	}
	for _, m := range metaSubs {
		if strings.EqualFold(m, sub) {
			t.MetaSub = m
			return t, nil
		}
	}
	return t, InvalidPath("attribute %q: meta has no sub-attribute %q", p.String(), sub)
}

// CustomAttribute is an operator-declared attribute from the config file.
type CustomAttribute struct {
	// Name is the full URN-qualified name, e.g.
	// "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId" or
	// "urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge".
	Name            string
	Type            string
	MultiValued     bool
	Filterable      bool
	Unique          bool
	CaseExact       bool
	Required        bool
	Description     string
	CanonicalValues []string
	Lowercase       bool
	Pattern         string
	// SubAttributes for a complex attribute: plain names with their types.
	SubAttributes []CustomAttribute
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// declare adds an operator attribute to the resource type its URN names.
func (c *Catalog) declare(ca CustomAttribute) error {
	i := strings.LastIndex(ca.Name, ":")
	if i <= 0 {
		return fmt.Errorf("attribute %q: name must be a full URN such as urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge", ca.Name)
	}
	urn, name := ca.Name[:i], ca.Name[i+1:]
	var rt *ResourceType
	switch {
	case strings.HasSuffix(urn, ":User"):
		rt = c.User
	case strings.HasSuffix(urn, ":Group"):
		rt = c.Group
	default:
		return fmt.Errorf("attribute %q: the schema URN must end in :User or :Group", ca.Name)
	}
	a, err := buildCustom(ca, name)
	if err != nil {
		return err
	}
	s := rt.schemaFor(urn)
	if s == nil {
		if strings.HasPrefix(strings.ToLower(urn), "urn:ietf:params:scim:schemas:core:") {
			return fmt.Errorf("attribute %q: unknown core schema %q", ca.Name, urn)
		}
		s = &Schema{ID: urn, Name: extensionName(urn, rt.Name), Description: "Operator-declared extension"}
		rt.Extensions = append(rt.Extensions, s)
	}
	if s.Attr(name) != nil {
		return fmt.Errorf("attribute %q is already defined", ca.Name)
	}
	if s == rt.Schema {
		if _, common := commonName(name); common {
			return fmt.Errorf("attribute %q clashes with a common attribute", ca.Name)
		}
	}
	s.Attributes = append(s.Attributes, a)
	return nil
}

// extensionName is the human-readable name (RFC 7643 §7) of an operator
// extension schema: the URN segment before the version and the resource
// type, "acme" for urn:ietf:params:scim:schemas:extension:acme:2.0:User
// (TestSchemasGolden in server pins it).
func extensionName(urn, resource string) string {
	segs := strings.Split(strings.TrimSuffix(urn, ":"+resource), ":")
	if n := len(segs); n > 1 && strings.Trim(segs[n-1], "0123456789.") == "" {
		segs = segs[:n-1]
	}
	return segs[len(segs)-1]
}

func buildCustom(ca CustomAttribute, name string) (*Attribute, error) {
	if !attrNameRE.MatchString(name) {
		return nil, fmt.Errorf("attribute %q: %q is not a valid attribute name", ca.Name, name)
	}
	typ := ca.Type
	if typ == "" {
		typ = TypeString
	}
	switch typ {
	case TypeString, TypeBoolean, TypeDecimal, TypeInteger, TypeDateTime, TypeReference, TypeBinary, TypeComplex:
	default:
		return nil, fmt.Errorf("attribute %q: unknown type %q (want string, boolean, integer, decimal, dateTime, reference or complex)", ca.Name, typ)
	}
	a := simple(name, typ, ca.CaseExact, ca.Description)
	if a.Description == "" {
		a.Description = "Operator-declared attribute."
	}
	a.MultiValued = ca.MultiValued
	a.Required = ca.Required
	a.Custom = true
	a.Filterable = ca.Filterable
	a.Lowercase = ca.Lowercase
	if ca.Unique {
		a.Uniqueness = "server"
	}
	if len(ca.CanonicalValues) > 0 {
		a.CanonicalValues = ca.CanonicalValues
		a.Strict = true
	}
	if typ == TypeReference {
		a.ReferenceTypes = []string{"external"}
	}
	if ca.Pattern != "" {
		re, err := regexp.Compile(ca.Pattern)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: pattern: %v", ca.Name, err)
		}
		a.Pattern = re
	}
	if typ == TypeComplex {
		if len(ca.SubAttributes) == 0 {
			return nil, fmt.Errorf("attribute %q: a complex attribute needs sub_attributes", ca.Name)
		}
		for _, s := range ca.SubAttributes {
			if s.Type == TypeComplex {
				return nil, fmt.Errorf("attribute %q: sub-attribute %q cannot be complex (RFC 7643 §2.3.8)", ca.Name, s.Name)
			}
			sa, err := buildCustom(CustomAttribute{Name: ca.Name + "." + s.Name, Type: s.Type, CaseExact: s.CaseExact,
				Description: s.Description, CanonicalValues: s.CanonicalValues, Lowercase: s.Lowercase, Pattern: s.Pattern,
				Required: s.Required}, s.Name)
			if err != nil {
				return nil, err
			}
			a.SubAttributes = append(a.SubAttributes, sa)
		}
	} else if len(ca.SubAttributes) > 0 {
		return nil, fmt.Errorf("attribute %q: only complex attributes take sub_attributes", ca.Name)
	}
	return a, nil
}
