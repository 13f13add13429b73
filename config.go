package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"scimd/replica"
	"scimd/scim"
	"scimd/store"
	"scimd/webhook"
)

// Config is the operator's configuration file (TOML, decoded strictly).
// The keys named in ../shared/spec/interface.md are a contract.
type Config struct {
	Server     ServerConfig      `toml:"server"`
	Database   DatabaseConfig    `toml:"database"`
	TLS        TLSConfig         `toml:"tls"`
	Tokens     TokensConfig      `toml:"tokens"`
	Log        LogConfig         `toml:"log"`
	Limits     LimitsConfig      `toml:"limits"`
	Users      UsersConfig       `toml:"users"`
	Attributes []AttributeConfig `toml:"attributes"`
	Webhooks   []WebhookConfig   `toml:"webhooks"`
	Events     EventsConfig      `toml:"events"`
	Replica    ReplicaConfig     `toml:"replica"`
	Admin      AdminConfig       `toml:"admin"`
}

// ServerConfig is [server].
type ServerConfig struct {
	Listen    string `toml:"listen"`
	BasePath  string `toml:"base_path"`
	PublicURL string `toml:"public_url"`
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight requests.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	LogFormat       string   `toml:"log_format"` // "text" or "json"
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (slowloris); the others are http.Server's.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
}

// DatabaseConfig is [database].
type DatabaseConfig struct {
	Path string `toml:"path"`
}

// TLSConfig is [tls].
type TLSConfig struct {
	Domains   []string `toml:"domains"`
	Email     string   `toml:"email"`
	CA        string   `toml:"ca"`
	CARoot    string   `toml:"ca_root"`
	Storage   string   `toml:"storage"`
	HTTPSPort int      `toml:"https_port" max:"65535"`
	HTTPPort  int      `toml:"http_port" max:"65535"`
}

// TokensConfig is [tokens].
type TokensConfig struct {
	Lifetime Duration `toml:"lifetime"`
}

// LogConfig is [log]: the provisioning log (scimd log).
type LogConfig struct {
	// Retention is how long log rows are kept; serve deletes older ones.
	Retention Duration `toml:"retention"`
}

// LimitsConfig is [limits]: request limits, advertised in
// /ServiceProviderConfig where SCIM has a field for them.
type LimitsConfig struct {
	MaxBodyBytes    int64 `toml:"max_body_bytes"`
	MaxResults      int   `toml:"max_results"`
	MaxOperations   int   `toml:"max_operations"`
	MaxMembers      int   `toml:"max_members"`
	MaxDepth        int   `toml:"max_depth"`
	MaxValueLength  int   `toml:"max_value_length"`
	MaxFilterLength int   `toml:"max_filter_length"`
	MaxFilterNodes  int   `toml:"max_filter_nodes"`
	// AuthFailuresPerMinute is how many refused authentications one client
	// address may have per minute before it gets 429; 0 turns it off.
	AuthFailuresPerMinute int `toml:"auth_failures_per_minute" zero:"off"`
	// QueryTimeout bounds the database time of one read request; when it
	// runs out the query is interrupted and the client gets 400 tooMany.
	QueryTimeout Duration `toml:"query_timeout"`
}

// UsersConfig is [users].
type UsersConfig struct {
	// OnDelete is what DELETE /Users does: "delete" removes the user and its
	// memberships; "deactivate" keeps the record (inactive, invisible to
	// SCIM) and a later POST of the same userName brings it back under its
	// old id.
	OnDelete string `toml:"on_delete"`
}

// WebhookConfig is one [[webhooks]] endpoint: the operator's own system
// told about every change (webhook/).
type WebhookConfig struct {
	Name string `toml:"name"`
	URL  string `toml:"url"`
	// Secret is the Standard Webhooks signing secret (whsec_…); SecretFile
	// names a file holding it instead, read once at start. Never logged,
	// stored or shown.
	Secret     string   `toml:"secret"`
	SecretFile string   `toml:"secret_file"`
	Events     []string `toml:"events"`     // exact types or "prefix.*"; empty: every type
	AllowHTTP  bool     `toml:"allow_http"` // plain http to a non-loopback address
	MaxAge     Duration `toml:"max_age"`    // retried this long, then failed; 0: 72h
}

// EventsConfig is [events]: the webhook outbox.
type EventsConfig struct {
	// Retention is how long events are kept after every endpoint is done
	// with them (webhooks replay reaches that far back).
	Retention Duration `toml:"retention"`
	// RetryBase is the wait after a first failed delivery; it doubles per
	// attempt up to 10 minutes.
	RetryBase Duration `toml:"retry_base"`
}

// ReplicaConfig is [replica]: continuous replication of the database with
// Litestream (package replica). An empty URL turns it off.
type ReplicaConfig struct {
	URL      string `toml:"url"`
	Endpoint string `toml:"endpoint"`
	Region   string `toml:"region"`
	// AccessKeyID falls back to AWS_ACCESS_KEY_ID (for s3://). The secret
	// is never in this file: SecretAccessKeyFile names a file holding it,
	// else AWS_SECRET_ACCESS_KEY (s3://) or AZURE_STORAGE_ACCOUNT_KEY
	// (abs://, the account key) applies.
	AccessKeyID         string   `toml:"access_key_id"`
	SecretAccessKeyFile string   `toml:"secret_access_key_file"`
	SyncInterval        Duration `toml:"sync_interval"`
	Retention           Duration `toml:"retention"`
	// PasswordFile holds the password of the URL's user for sftp://,
	// webdav(s):// and nats://; SSHKeyFile is an SSH private key file and
	// SSHHostKey the server's public key, for sftp://.
	PasswordFile string `toml:"password_file"`
	SSHKeyFile   string `toml:"ssh_key_file"`
	SSHHostKey   string `toml:"ssh_host_key"`
}

// AdminConfig is [admin]: the listener for /metrics and the status page
// (cli_admin.go, package admin).
type AdminConfig struct {
	// Listen is the admin listener's address; "" turns it off.
	Listen string `toml:"listen"`
	// PasswordFile holds the basic-auth password of the user "admin";
	// required when Listen is not a loopback address.
	PasswordFile string `toml:"password_file"`
}

// defaultAdminListen is [admin] listen's default.
const defaultAdminListen = "127.0.0.1:9090"

// AttributeConfig is one [[attributes]] declaration of an operator
// attribute.
type AttributeConfig struct {
	Name            string            `toml:"name"`
	Type            string            `toml:"type"`
	MultiValued     bool              `toml:"multi_valued"`
	Filterable      bool              `toml:"filterable"`
	Unique          bool              `toml:"unique"`
	CaseExact       bool              `toml:"case_exact"`
	Required        bool              `toml:"required"`
	Description     string            `toml:"description"`
	CanonicalValues []string          `toml:"canonical_values"`
	Lowercase       bool              `toml:"lowercase"`
	Pattern         string            `toml:"pattern"`
	SubAttributes   []AttributeConfig `toml:"sub_attributes"`
}

// Default returns the built-in configuration: plain HTTP on loopback and
// scimd.db in the current folder.
func Default() Config {
	return Config{
		Server: ServerConfig{Listen: "127.0.0.1:8080", BasePath: "/scim/v2",
			ShutdownTimeout: Duration(30 * time.Second), LogFormat: "text",
			ReadHeaderTimeout: Duration(10 * time.Second), ReadTimeout: Duration(60 * time.Second),
			WriteTimeout: Duration(120 * time.Second), IdleTimeout: Duration(120 * time.Second)},
		Database: DatabaseConfig{Path: "scimd.db"},
		TLS:      TLSConfig{Domains: []string{}, HTTPSPort: 443, HTTPPort: 80},
		Tokens:   TokensConfig{Lifetime: Duration(365 * 24 * time.Hour)},
		Log:      LogConfig{Retention: Duration(90 * 24 * time.Hour)},
		Users:    UsersConfig{OnDelete: "delete"},
		Events:   EventsConfig{Retention: Duration(webhook.DefaultRetention), RetryBase: Duration(time.Second)},
		Replica:  ReplicaConfig{SyncInterval: Duration(time.Second), Retention: Duration(168 * time.Hour)},
		Admin:    AdminConfig{Listen: defaultAdminListen},
		Limits: LimitsConfig{MaxBodyBytes: 1 << 20, MaxResults: 200, MaxOperations: 1000, MaxMembers: 10000,
			MaxDepth: 32, MaxValueLength: 65536, MaxFilterLength: 8192, MaxFilterNodes: 200,
			AuthFailuresPerMinute: 20, QueryTimeout: Duration(10 * time.Second)},
	}
}

// Load reads path over the defaults. An empty path gives the defaults.
// Unknown keys are errors that name the key.
func Load(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, cfg.Validate()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := decodeStrict(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func decodeStrict(b []byte, cfg *Config) error {
	d := toml.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(cfg); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			var keys []string
			for _, e := range sm.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return fmt.Errorf("line %d column %d: %s", row, col, de.Error())
		}
		return err
	}
	return nil
}

// Validate checks values that decoding cannot.
func (c *Config) Validate() error {
	if err := validateNumbers(reflect.ValueOf(*c), ""); err != nil {
		return err
	}
	if c.Database.Path == "" {
		return errors.New("[database] path must not be empty")
	}
	if !strings.HasPrefix(c.Server.BasePath, "/") {
		return fmt.Errorf("[server] base_path %q must start with /", c.Server.BasePath)
	}
	if c.Tokens.Lifetime <= 0 {
		return errors.New("[tokens] lifetime must be positive")
	}
	if c.Log.Retention <= 0 {
		return errors.New("[log] retention must be positive")
	}
	if c.Server.ReadHeaderTimeout <= 0 || c.Server.ReadTimeout <= 0 || c.Server.WriteTimeout <= 0 || c.Server.IdleTimeout <= 0 {
		return errors.New("[server] read_header_timeout, read_timeout, write_timeout and idle_timeout must be positive")
	}
	if c.Limits.AuthFailuresPerMinute < 0 {
		return errors.New("[limits] auth_failures_per_minute must be 0 (off) or positive")
	}
	switch c.Server.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("[server] log_format must be \"text\" or \"json\", not %q", c.Server.LogFormat)
	}
	switch c.Users.OnDelete {
	case "delete", "deactivate":
	default:
		return fmt.Errorf("[users] on_delete must be \"delete\" or \"deactivate\", not %q", c.Users.OnDelete)
	}
	if _, err := c.Catalog(); err != nil {
		return err
	}
	if c.Replica.URL != "" {
		if err := c.replicaBase().Validate(); err != nil {
			return fmt.Errorf("[replica] %w", err)
		}
		scheme := replica.Scheme(c.Replica.URL)
		for key, set := range map[string]bool{"secret_access_key_file": c.Replica.SecretAccessKeyFile != "", "password_file": c.Replica.PasswordFile != ""} {
			if set && !replica.Applies(scheme, key) {
				return fmt.Errorf("[replica] %s does not apply to %s:// URLs", key, scheme)
			}
		}
	}
	return c.validateWebhooks()
}

// validateWebhooks checks [[webhooks]] ([events] is all durations, which
// validateNumbers covers). Errors name the endpoint and the key, never the
// secret.
func (c *Config) validateWebhooks() error {
	seen := map[string]bool{}
	for i, w := range c.Webhooks {
		if !webhook.ValidName(w.Name) {
			return fmt.Errorf("[[webhooks]] #%d: name %q must be 1 to 64 of A-Z a-z 0-9 . _ -", i+1, w.Name)
		}
		if seen[w.Name] {
			return fmt.Errorf("[[webhooks]] %q: the name is used twice", w.Name)
		}
		seen[w.Name] = true
		u, err := url.Parse(w.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("[[webhooks]] %q: url must be an http:// or https:// URL with a host", w.Name)
		}
		if u.Scheme == "http" && !w.AllowHTTP && !loopbackHost(u.Hostname()) {
			return fmt.Errorf("[[webhooks]] %q: plain http is only allowed to loopback addresses; use https, or set allow_http = true", w.Name)
		}
		switch {
		case w.Secret != "" && w.SecretFile != "":
			return fmt.Errorf("[[webhooks]] %q: set secret or secret_file, not both", w.Name)
		case w.Secret == "" && w.SecretFile == "":
			return fmt.Errorf("[[webhooks]] %q: a secret (whsec_…) or secret_file is required", w.Name)
		case w.Secret != "":
			if _, err := webhook.ParseSecret(w.Secret); err != nil {
				return fmt.Errorf("[[webhooks]] %q: secret: %v", w.Name, err)
			}
		}
		for _, p := range w.Events {
			known := false
			for _, t := range store.EventTypes {
				known = known || webhook.Matches([]string{p}, t)
			}
			if !webhook.ValidPattern(p) || !known {
				return fmt.Errorf("[[webhooks]] %q: events: %q is not an event type or prefix.* of one (types: %s)", w.Name, p, strings.Join(store.EventTypes, ", "))
			}
		}
		if w.MaxAge < 0 {
			return fmt.Errorf("[[webhooks]] %q: max_age must not be negative", w.Name)
		}
	}
	return nil
}

// loopbackHost reports whether host names this machine: localhost or a
// loopback IP, where plain http cannot be read by anyone else.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// webhookEndpoints reads the endpoints' secrets (secret_file once, trimmed)
// and returns them ready for delivery.
func (c *Config) webhookEndpoints() ([]webhook.Endpoint, error) {
	var out []webhook.Endpoint
	for _, w := range c.Webhooks {
		ep, err := w.endpoint()
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, nil
}

// endpoint is one [[webhooks]] endpoint ready for delivery, its secret read.
func (w WebhookConfig) endpoint() (webhook.Endpoint, error) {
	secret := w.Secret
	if w.SecretFile != "" {
		b, err := os.ReadFile(w.SecretFile)
		if err != nil {
			return webhook.Endpoint{}, fmt.Errorf("[[webhooks]] %q: secret_file: %w", w.Name, err)
		}
		secret = strings.TrimSpace(string(b))
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("[[webhooks]] %q: secret_file %s: %v", w.Name, w.SecretFile, err)
	}
	return webhook.Endpoint{Name: w.Name, URL: w.URL, Key: key, Events: w.Events, MaxAge: time.Duration(w.MaxAge)}, nil
}

// webhookEvents says which event types the store writes to the outbox:
// those some endpoint subscribes to; nil (none) without [[webhooks]].
func (c *Config) webhookEvents() func(string) bool {
	if len(c.Webhooks) == 0 {
		return nil
	}
	return func(typ string) bool {
		for _, w := range c.Webhooks {
			if webhook.Matches(w.Events, typ) {
				return true
			}
		}
		return false
	}
}

// webhook finds a configured endpoint by name.
func (c *Config) webhook(name string) (*WebhookConfig, error) {
	for i := range c.Webhooks {
		if c.Webhooks[i].Name == name {
			return &c.Webhooks[i], nil
		}
	}
	names := []string{}
	for _, w := range c.Webhooks {
		names = append(names, w.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no webhook is named %q: the config has no [[webhooks]]", name)
	}
	return nil, fmt.Errorf("no webhook is named %q (configured: %s)", name, strings.Join(names, ", "))
}

// replicaBase is [replica] without its secret.
func (c *Config) replicaBase() replica.Config {
	r := c.Replica
	return replica.Config{URL: r.URL, Endpoint: r.Endpoint, Region: r.Region, AccessKeyID: r.AccessKeyID,
		SSHKeyFile: r.SSHKeyFile, SSHHostKey: r.SSHHostKey,
		SyncInterval: time.Duration(r.SyncInterval), Retention: time.Duration(r.Retention)}
}

// replicaConfig is [replica] ready to use, with the secrets read from
// their files, else from the environment variables each store's own tools
// use: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for s3://,
// AZURE_STORAGE_ACCOUNT_KEY for abs:// (oss:// falls back to
// OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET inside Litestream).
func (c *Config) replicaConfig() (replica.Config, error) {
	rc := c.replicaBase()
	scheme := replica.Scheme(rc.URL)
	if rc.AccessKeyID == "" && scheme == "s3" {
		rc.AccessKeyID = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	readSecret := func(key, file string) (string, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("[replica] %s: %w", key, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("[replica] %s %s is empty", key, file)
		}
		return v, nil
	}
	var err error
	if f := c.Replica.SecretAccessKeyFile; f != "" {
		if rc.SecretAccessKey, err = readSecret("secret_access_key_file", f); err != nil {
			return rc, err
		}
	} else {
		switch scheme {
		case "s3":
			rc.SecretAccessKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
		case "abs":
			rc.SecretAccessKey = os.Getenv("AZURE_STORAGE_ACCOUNT_KEY")
		}
	}
	if f := c.Replica.PasswordFile; f != "" {
		if rc.Password, err = readSecret("password_file", f); err != nil {
			return rc, err
		}
	}
	return rc, nil
}

// validateNumbers refuses every number and duration of the configuration
// that is zero or negative: each is a size, a count, a limit, a port or a
// time span, and none of them means anything at zero or below (a zero
// max_results would answer every list empty, a negative timeout would fail
// every request). It walks the struct, so a key added later is covered
// without a line here. A field tagged zero:"off" accepts 0 (the feature is
// off); max:"N" sets an upper bound. The error names the key as the
// operator wrote it.
func validateNumbers(v reflect.Value, section string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fv := v.Field(i)
		key := "[" + section + "] " + name
		if section == "" {
			key = name
		}
		var n int64
		var shown string
		switch {
		case f.Type.Kind() == reflect.Struct:
			if err := validateNumbers(fv, name); err != nil {
				return err
			}
			continue
		case f.Type == reflect.TypeOf(Duration(0)):
			n = fv.Int()
			shown = time.Duration(n).String()
		case fv.CanInt():
			n = fv.Int()
			shown = strconv.FormatInt(n, 10)
		case fv.CanUint():
			n = int64(min(fv.Uint(), uint64(1)<<62))
			shown = strconv.FormatUint(fv.Uint(), 10)
		default:
			continue
		}
		zeroOK := f.Tag.Get("zero") == "off"
		switch {
		case n < 0 && zeroOK:
			return fmt.Errorf("%s must be 0 (off) or positive, not %s", key, shown)
		case n < 0 || n == 0 && !zeroOK:
			return fmt.Errorf("%s must be positive, not %s", key, shown)
		}
		if m := f.Tag.Get("max"); m != "" {
			if limit, err := strconv.ParseInt(m, 10, 64); err == nil && n > limit {
				return fmt.Errorf("%s must be at most %d, not %s", key, limit, shown)
			}
		}
	}
	return nil
}

// Catalog builds the schema catalogue with the declared attributes.
func (c *Config) Catalog() (*scim.Catalog, error) {
	var custom []scim.CustomAttribute
	for _, a := range c.Attributes {
		custom = append(custom, a.custom())
	}
	return scim.NewCatalog(custom)
}

func (a AttributeConfig) custom() scim.CustomAttribute {
	ca := scim.CustomAttribute{Name: a.Name, Type: a.Type, MultiValued: a.MultiValued, Filterable: a.Filterable,
		Unique: a.Unique, CaseExact: a.CaseExact, Required: a.Required, Description: a.Description,
		CanonicalValues: a.CanonicalValues, Lowercase: a.Lowercase, Pattern: a.Pattern}
	for _, s := range a.SubAttributes {
		ca.SubAttributes = append(ca.SubAttributes, s.custom())
	}
	return ca
}

// Limits converts [limits] for the protocol code.
func (c *Config) scimLimits() scim.Limits {
	return scim.Limits{MaxDepth: c.Limits.MaxDepth, MaxValueLen: c.Limits.MaxValueLength,
		MaxOperations: c.Limits.MaxOperations, MaxMembers: c.Limits.MaxMembers,
		Filter: scim.FilterLimits{MaxLength: c.Limits.MaxFilterLength, MaxNodes: c.Limits.MaxFilterNodes}}
}

// Duration is a time.Duration written in Go syntax ("90m", "720h") or in
// whole days ("30d", "365d").
type Duration time.Duration

// ParseDuration reads Go durations and whole days.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: use whole days like 30d or Go syntax like 720h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use whole days like 30d or Go syntax like 720h", s)
	}
	return d, nil
}

// UnmarshalText implements encoding.TextUnmarshaler for TOML and flags.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders days where the duration is whole days.
func (d Duration) MarshalText() ([]byte, error) {
	v := time.Duration(d)
	if v%(24*time.Hour) == 0 && v != 0 {
		return []byte(strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"), nil
	}
	return []byte(v.String()), nil
}
