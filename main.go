// Command scimd is a self-hosted SCIM 2.0 server: Microsoft Entra ID and
// Okta provision users and groups into it over HTTPS, it keeps them in one
// SQLite file, and its CLI issues tokens and exports the directory.
//
// This file holds only the command-line wiring; each command group lives in
// a cli_*.go file.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"
)

// Build information, set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

// CLI is the kong root: global flags and the command tree.
type CLI struct {
	Config string `help:"Config file (TOML). Without it, built-in defaults apply." env:"SCIMD_CONFIG" placeholder:"PATH"`

	Serve   ServeCmd   `cmd:"" help:"Run the SCIM server until SIGINT or SIGTERM."`
	Token   TokenCmd   `cmd:"" help:"Issue, list, revoke and rotate bearer tokens."`
	Users   UsersCmd   `cmd:"" help:"List, show and export users."`
	Groups  GroupsCmd  `cmd:"" help:"List, show and export groups."`
	Status  StatusCmd  `cmd:"" help:"Counts, database size, token expiry; exits non-zero when a token expires within 7 days."`
	Log     LogCmd     `cmd:"" help:"Show the provisioning log: changes and failed requests."`
	Backup  BackupCmd  `cmd:"" help:"Write a verified copy of the database while the server runs."`
	Restore RestoreCmd `cmd:"" help:"Rebuild the database from the [replica] (latest, or --at a moment)."`
	Check   CheckCmd   `cmd:"" help:"Verify the database's integrity and consistency while the server runs; exits non-zero on any problem."`
	Version VersionCmd `cmd:"" help:"Print version and build information."`

	// Webhooks: issue 12 (cli_webhooks.go).
	Webhooks WebhooksCmd `cmd:"" help:"List webhook endpoints; test, retry, replay and resume deliveries."`
}

func main() {
	var cli CLI
	ctx := kong.Parse(&cli,
		kong.Name("scimd"),
		kong.Description("A self-hosted SCIM 2.0 server for Microsoft Entra ID and Okta."),
		kong.UsageOnError(),
	)
	if err := ctx.Run(&cli); err != nil {
		fmt.Fprintln(os.Stderr, "scimd: "+safeText(err.Error())) // one line, no raw controls (cli_safe.go)
		os.Exit(1)
	}
}
