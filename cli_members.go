package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"scimd/store"
)

// GroupsMembersCmd is "scimd groups members": who holds a group, for
// operators who use groups as roles (TrackTik), with each user's own roles.
type GroupsMembersCmd struct {
	Group string `arg:"" help:"The group's displayName (any case) or id."`
	JSON  bool   `name:"json" help:"Print a JSON array."`
}

// Help shows examples.
func (GroupsMembersCmd) Help() string {
	return `Lists a group's members: users with their userName, displayName, whether they
are active, and the roles their identity provider sent (roles[].value and an
operator-declared "role" attribute); nested groups by displayName.

Examples:
  scimd groups members "Site Supervisors"
  scimd groups members e9e30dba-f08f-4109-8486-d5c6a331660a --json`
}

type memberRow struct {
	Type        string   `json:"type"`
	ID          string   `json:"id"`
	UserName    string   `json:"userName,omitempty"`
	DisplayName string   `json:"displayName,omitempty"`
	Active      *bool    `json:"active,omitempty"`
	Roles       []string `json:"roles,omitempty"`
}

// Run lists the members.
func (c GroupsMembersCmd) Run(cli *CLI) error {
	st, err := openConfigured(cli)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	g, err := st.FindGroup(ctx, c.Group)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no group has the displayName or id %q (see 'scimd groups list')", c.Group)
	}
	if err != nil {
		return plainErr(err)
	}
	members, err := st.Members(ctx, g.ID)
	if err != nil {
		return plainErr(err)
	}
	rows := make([]memberRow, 0, len(members))
	for _, m := range members {
		row := memberRow{Type: m.Type, ID: m.ID, DisplayName: m.Display}
		if m.Type == "User" {
			u, err := st.Get(ctx, store.Users, m.ID, false)
			if err != nil {
				return plainErr(err)
			}
			row.UserName, _ = u.Doc["userName"].(string)
			row.DisplayName, _ = u.Doc["displayName"].(string)
			active := true
			if a, ok := u.Doc["active"].(bool); ok {
				active = a
			}
			row.Active = &active
			row.Roles = userRoles(u.Doc)
		}
		rows = append(rows, row)
	}
	if c.JSON {
		return writeJSONValue(os.Stdout, rows)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tUSERNAME\tDISPLAY NAME\tACTIVE\tROLES\tID")
	for _, r := range rows {
		active := ""
		if r.Active != nil {
			active = fmt.Sprint(*r.Active)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Type, safeText(r.UserName), safeText(r.DisplayName), active,
			safeText(strings.Join(r.Roles, ", ")), safeText(r.ID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d members of %s\n", len(rows), strconv.Quote(str(g.Doc["displayName"])))
	return nil
}

// userRoles collects the roles an identity provider sent for a user: the
// values (or display names) of roles[] (Clarizen, Entra app roles) and an
// operator-declared single "role" attribute (Timeneye).
func userRoles(doc map[string]any) []string {
	var out []string
	if l, ok := doc["roles"].([]any); ok {
		for _, el := range l {
			m, _ := el.(map[string]any)
			for _, k := range []string{"value", "display", "type"} {
				if s, ok := m[k].(string); ok && s != "" {
					out = append(out, s)
					break
				}
			}
		}
	}
	if s, ok := doc["role"].(string); ok && s != "" {
		out = append(out, s)
	}
	return out
}
