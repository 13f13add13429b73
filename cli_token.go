package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"scimd/store"
)

// TokenCmd is "scimd token ...".
type TokenCmd struct {
	Issue  TokenIssueCmd  `cmd:"" help:"Create a bearer token; prints the secret once on stdout."`
	List   TokenListCmd   `cmd:"" help:"List tokens (never their secrets)."`
	Revoke TokenRevokeCmd `cmd:"" help:"Revoke a token at once."`
	Rotate TokenRotateCmd `cmd:"" help:"Issue a successor; the old secret works until the grace period ends."`
}

// TokenIssueCmd is "scimd token issue".
type TokenIssueCmd struct {
	Name    string    `required:"" help:"A unique name for the connection, e.g. entra or okta."`
	Expires *Duration `help:"Lifetime, e.g. 365d or 720h (default: [tokens] lifetime)." placeholder:"DUR"`
	IDP     string    `name:"idp" default:"entra" enum:"entra,okta,generic" help:"Which client uses it: entra, okta or generic (decides how PATCH replace on members is read)."`
}

// Help shows examples.
func (TokenIssueCmd) Help() string {
	return `Examples:
  scimd token issue --name entra
  scimd token issue --name okta --idp okta --expires 180d`
}

// Run issues the token.
func (c TokenIssueCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	life := time.Duration(cfg.Tokens.Lifetime)
	if c.Expires != nil {
		life = time.Duration(*c.Expires)
	}
	if life <= 0 {
		return errors.New("--expires must be positive")
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, t, err := st.IssueToken(context.Background(), c.Name, c.IDP, life)
	if err != nil {
		if errors.Is(err, store.ErrTokenExists) {
			return fmt.Errorf("token %q already exists: pick another --name, or use 'scimd token rotate %s'", c.Name, c.Name)
		}
		return err
	}
	fmt.Println(secret)
	fmt.Fprintf(os.Stderr, "issued token %q for %s, expires %s (%d days); it is shown only once\n",
		t.Name, t.IDP, t.Expires.Format("2006-01-02"), int(life.Hours()/24))
	return nil
}

// TokenListCmd is "scimd token list".
type TokenListCmd struct {
	JSON bool `name:"json" help:"Print a JSON array."`
}

// Run lists tokens.
func (c TokenListCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.Tokens(context.Background())
	if err != nil {
		return err
	}
	now := time.Now()
	type row struct {
		Name      string     `json:"name"`
		IDP       string     `json:"idp"`
		Created   time.Time  `json:"created"`
		Expires   time.Time  `json:"expires"`
		DaysLeft  int        `json:"days_left"`
		LastUsed  *time.Time `json:"last_used"`
		LastAgent string     `json:"last_user_agent"`
		State     string     `json:"state"`
	}
	rows := make([]row, 0, len(list))
	for _, t := range list {
		rows = append(rows, row{t.Name, t.IDP, t.Created, t.Expires, int(t.Expires.Sub(now).Hours() / 24), t.LastUsed, t.LastAgent, t.State(now)})
	}
	if c.JSON {
		e := json.NewEncoder(os.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(rows)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIDP\tCREATED\tEXPIRES\tDAYS LEFT\tLAST USED\tCLIENT\tSTATE")
	for _, r := range rows {
		used := "never"
		if r.LastUsed != nil {
			used = r.LastUsed.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Name, r.IDP, r.Created.Format("2006-01-02"), r.Expires.Format("2006-01-02"),
			r.DaysLeft, used, r.LastAgent, r.State)
	}
	return tw.Flush()
}

// TokenRevokeCmd is "scimd token revoke".
type TokenRevokeCmd struct {
	Name string `arg:"" help:"The token's name."`
}

// Run revokes.
func (c TokenRevokeCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RevokeToken(context.Background(), c.Name); err != nil {
		if errors.Is(err, store.ErrNoToken) {
			return fmt.Errorf("no token is named %q (see 'scimd token list')", c.Name)
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "revoked token %q: the next request with it gets 401\n", c.Name)
	return nil
}

// TokenRotateCmd is "scimd token rotate".
type TokenRotateCmd struct {
	Name  string    `arg:"" help:"The token's name."`
	Grace *Duration `help:"How long the old secret keeps working (default 7d)." placeholder:"DUR"`
}

// Run rotates one token.
func (c TokenRotateCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	grace := 7 * 24 * time.Hour
	if c.Grace != nil {
		grace = time.Duration(*c.Grace)
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, t, err := st.RotateToken(context.Background(), c.Name, time.Duration(cfg.Tokens.Lifetime), grace, false)
	if err != nil {
		if errors.Is(err, store.ErrNoToken) {
			return fmt.Errorf("no active token is named %q (see 'scimd token list')", c.Name)
		}
		return err
	}
	fmt.Println(secret)
	fmt.Fprintf(os.Stderr, "rotated token %q: new secret expires %s; the old one keeps working for %s\n",
		t.Name, t.Expires.Format("2006-01-02"), grace)
	return nil
}
