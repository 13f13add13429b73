package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"scimd/store"
)

// GroupsCmd is "scimd groups ...".
type GroupsCmd struct {
	List    GroupsListCmd    `cmd:"" help:"List groups as a table (or JSON)."`
	Show    GroupsShowCmd    `cmd:"" help:"Show one group and its members, by displayName or id."`
	Members GroupsMembersCmd `cmd:"" help:"List a group's members with their active state and roles."`
	Export  GroupsExportCmd  `cmd:"" help:"Export groups with their member userNames (CSV, JSON or JSON Lines), streaming."`
}

// Help shows examples.
func (GroupsCmd) Help() string {
	return `Read-only views of the groups the identity providers pushed. They work while scimd serve
is running.

Examples:
  scimd groups list
  scimd groups show "Sales EMEA"
  scimd groups export --output groups.csv`
}

// GroupFilter is the --filter of groups list and groups export.
type GroupFilter struct {
	Filter string `help:"A SCIM filter (RFC 7644 §3.4.2.2), e.g. 'displayName sw \"Sales\"'." placeholder:"FILTER"`
}

// GroupsExportCmd is "scimd groups export".
type GroupsExportCmd struct {
	ExportFlags
	GroupFilter
}

// Help shows examples.
func (GroupsExportCmd) Help() string {
	return `Every group with its attributes and members, streamed in creation order from one
consistent snapshot. CSV columns: id, externalId, displayName, members (the member users'
userNames, joined with ";"), memberGroups (nested groups' displayNames), operator-declared
group attributes, meta.created, meta.lastModified. In JSON and JSON Lines each member is
{"value": id, "display": userName (or the group's displayName), "type": "User" or "Group"}.

Examples:
  scimd groups export --output groups.csv
  scimd groups export --format jsonl | jq -r '.displayName + ": " + ([.members[].display] | join(", "))'
  scimd groups export --filter 'displayName sw "Sales"' --format json`
}

// Run exports groups.
func (c GroupsExportCmd) Run(cli *CLI) error {
	return runExport(cli, store.Groups, c.ExportFlags, Selection{Filter: c.Filter})
}

// GroupsListCmd is "scimd groups list".
type GroupsListCmd struct {
	GroupFilter
	Limit int  `help:"Show at most N groups (0: all)." placeholder:"N" default:"0"`
	JSON  bool `name:"json" help:"Print a JSON array of the same fields."`
}

// Help shows examples.
func (GroupsListCmd) Help() string {
	return `One line per group, in creation order: displayName, number of members, externalId, id.

Examples:
  scimd groups list
  scimd groups list --filter 'displayName co "admin"' --json`
}

type groupRow struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	ExternalID  string `json:"externalId"`
	Members     int    `json:"members"`
	Modified    string `json:"lastModified"`
}

// Run lists groups.
func (c GroupsListCmd) Run(cli *CLI) error {
	st, opt, err := openSelected(cli, Selection{Filter: c.Filter})
	if err != nil {
		return err
	}
	defer st.Close()
	t := newTable(os.Stdout, c.JSON, "DISPLAY NAME", "MEMBERS", "EXTERNAL ID", "ID")
	n := 0
	err = st.Scan(context.Background(), store.Groups, opt, func(r *store.Resource) error {
		if c.Limit > 0 && n >= c.Limit {
			return errStop
		}
		n++
		row := groupRow{ID: r.ID, DisplayName: str(r.Doc["displayName"]), ExternalID: str(r.Doc["externalId"]), Modified: r.Modified}
		if l, ok := r.Doc["members"].([]any); ok {
			row.Members = len(l)
		}
		return t.row(row, row.DisplayName, fmt.Sprint(row.Members), dash(row.ExternalID), row.ID)
	})
	if err != nil && !errors.Is(err, errStop) {
		return plainErr(err)
	}
	if n == 0 && !c.JSON {
		fmt.Fprintln(os.Stderr, "no groups match")
	}
	return t.close()
}

// GroupsShowCmd is "scimd groups show".
type GroupsShowCmd struct {
	Group string `arg:"" help:"The group's displayName (any case) or id."`
	JSON  bool   `name:"json" help:"Print the group's complete SCIM representation."`
}

// Help shows examples.
func (GroupsShowCmd) Help() string {
	return `The group's attributes and members (userNames), named as in the CSV export.

Examples:
  scimd groups show "Sales EMEA"
  scimd groups show e9e30dba-f08f-4109-8486-d5c6a331660a --json`
}

// Run shows one group.
func (c GroupsShowCmd) Run(cli *CLI) error { return showNamed(cli, store.Groups, c.Group, c.JSON) }
