package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"scimd/scim"
)

// admScan returns the userNames (displayNames for groups) Scan visits,
// each with its references' display names in brackets.
func admScan(t *testing.T, s *Store, k Kind, opt ScanOptions) []string {
	t.Helper()
	var out []string
	err := s.Scan(context.Background(), k, opt, func(r *Resource) error {
		name := admName(r.Doc)
		var refs []string
		for _, key := range []string{"groups", "members"} {
			l, _ := r.Doc[key].([]any)
			for _, el := range l {
				refs = append(refs, el.(map[string]any)["display"].(string))
			}
		}
		if len(refs) > 0 {
			name += "[" + strings.Join(refs, ",") + "]"
		}
		out = append(out, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// admName is a user's userName or a group's displayName.
func admName(doc map[string]any) string {
	if s, ok := doc["userName"].(string); ok {
		return s
	}
	s, _ := doc["displayName"].(string)
	return s
}

func admFixture(t *testing.T) *Store {
	t.Helper()
	s, _ := admStore(t)
	ids := map[string]string{}
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		active := "true"
		if u == "u2" || u == "u5" {
			active = "false"
		}
		ids[u] = admCreate(t, s, "entra", Users, `{"userName":"`+u+`","displayName":"User `+u+`","active":`+active+`}`).ID
	}
	admCreate(t, s, "entra", Groups, `{"displayName":"G1","members":[{"value":"`+ids["u1"]+`"},{"value":"`+ids["u4"]+`"}]}`)
	g2 := admCreate(t, s, "entra", Groups, `{"displayName":"G2","members":[{"value":"`+ids["u4"]+`"},{"value":"`+ids["u5"]+`"}]}`)
	admCreate(t, s, "entra", Groups, `{"displayName":"G3","members":[{"value":"`+g2.ID+`"}]}`)
	return s
}

func TestScan(t *testing.T) {
	s := admFixture(t)
	defer func(n int) { scanBatch = n }(scanBatch)
	yes, no := true, false
	parse := func(f string) scim.Expr {
		e, err := scim.ParseFilter(f, scim.FilterLimits{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name string
		k    Kind
		opt  ScanOptions
		want string
	}{
		{"all users", Users, ScanOptions{}, "u1[G1] u2 u3 u4[G1,G2] u5[G2]"},
		{"active", Users, ScanOptions{Active: &yes}, "u1[G1] u3 u4[G1,G2]"},
		{"inactive", Users, ScanOptions{Active: &no}, "u2 u5[G2]"},
		{"filter", Users, ScanOptions{Filter: parse(`displayName ew "4" or userName eq "U2"`)}, "u2 u4[G1,G2]"},
		{"filter and inactive", Users, ScanOptions{Filter: parse(`userName sw "u"`), Active: &no}, "u2 u5[G2]"},
		{"groups with member userNames", Groups, ScanOptions{}, "G1[u1,u4] G2[u4,u5] G3[G2]"},
		{"group filter", Groups, ScanOptions{Filter: parse(`displayName eq "g2"`)}, "G2[u4,u5]"},
	}
	for _, batch := range []int{1000, 2, 1} {
		scanBatch = batch
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/batch%d", tc.name, batch), func(t *testing.T) {
				if got := strings.Join(admScan(t, s, tc.k, tc.opt), " "); got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				n, err := s.Count(context.Background(), tc.k, tc.opt)
				if err != nil || int(n) != len(strings.Fields(tc.want)) {
					t.Errorf("Count = %d (%v), want %d", n, err, len(strings.Fields(tc.want)))
				}
			})
		}
	}
	if err := s.Scan(context.Background(), Users, ScanOptions{Filter: parse(`nosuch eq "x"`)}, func(*Resource) error { return nil }); err == nil {
		t.Errorf("a filter on an unknown attribute: no error")
	}
}

func TestFind(t *testing.T) {
	s := admFixture(t)
	ctx := context.Background()
	u, err := s.FindUser(ctx, "U4")
	if err != nil {
		t.Fatal(err)
	}
	if got := admScanOne(u); got != "u4[G1,G2]" {
		t.Errorf("FindUser(U4) = %s", got)
	}
	byID, err := s.FindUser(ctx, u.ID)
	if err != nil || byID.ID != u.ID {
		t.Errorf("FindUser(id) = %v, %v", byID, err)
	}
	g, err := s.FindGroup(ctx, "g2")
	if err != nil {
		t.Fatal(err)
	}
	if got := admScanOne(g); got != "G2[u4,u5]" {
		t.Errorf("FindGroup(g2) = %s", got)
	}
	if _, err := s.FindUser(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindUser(nobody): %v, want ErrNotFound", err)
	}
}

func admScanOne(r *Resource) string {
	name := admName(r.Doc)
	var refs []string
	for _, key := range []string{"groups", "members"} {
		l, _ := r.Doc[key].([]any)
		for _, el := range l {
			refs = append(refs, el.(map[string]any)["display"].(string))
		}
	}
	return name + "[" + strings.Join(refs, ",") + "]"
}

func TestColumns(t *testing.T) {
	acme := "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	cat, err := scim.NewCatalog([]scim.CustomAttribute{
		{Name: acme + ":badge", Type: "string"},
		{Name: "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId", Type: "string"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(t.TempDir(), "scimd.db"), Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := admCreate(t, s, "entra", Groups, `{"displayName":"Sales"}`)
	u := admCreate(t, s, "entra", Users, `{"userName":"bjensen","name":{"givenName":"Barbara","familyName":"Jensen"},
		"emails":[{"value":"b@work.example","type":"work"},{"value":"b@home.example","type":"home"},{"value":"b2@work.example","type":"Work"},{"value":"b@elsewhere.example"}],
		"phoneNumbers":[{"value":"+1 555 0100","type":"mobile"}],
		"addresses":[{"type":"work","locality":"Paris","country":"FR"},{"locality":"Lyon"}],
		"roles":[{"value":"admin"},{"value":"dev"}],
		"microsoftId":"m-1",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","manager":{"value":"boss-id"}},
		"`+acme+`":{"badge":"B-7"}, "password":"hunter2"}`)
	ops, err := scim.DecodePatch([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":"`+u.ID+`"}]}]}`), scim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Patch(context.Background(), Actor{Token: "t", IDP: "okta"}, Groups, g.ID, ops, scim.PatchOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	r, err := s.FindUser(context.Background(), "bjensen")
	if err != nil {
		t.Fatal(err)
	}
	doc := s.Document(Users, r)
	cols := s.Columns(Users)
	cells := map[string]string{}
	var headers []string
	for _, c := range cols {
		headers = append(headers, c.Header)
		cells[c.Header] = c.Cell(doc)
	}
	for _, h := range []string{"id", "externalId", "userName", "name.givenName", "emails.work", "emails.home", "emails.other", "emails",
		"phoneNumbers.mobile", "addresses.work.locality", "addresses.home.country", "addresses.locality", "roles", "groups",
		"microsoftId", "enterprise.employeeNumber", "enterprise.manager.value", acme + ":badge", "meta.created", "meta.lastModified"} {
		if !slices.Contains(headers, h) {
			t.Errorf("no column %q in %v", h, headers)
		}
	}
	for _, h := range []string{"password", "addresses.work.type", "emails.work.primary", "enterprise.manager.$ref"} {
		if slices.Contains(headers, h) {
			t.Errorf("unexpected column %q", h)
		}
	}
	for h, want := range map[string]string{
		"id": r.ID, "userName": "bjensen", "name.givenName": "Barbara", "emails.work": "b@work.example;b2@work.example",
		"emails.home": "b@home.example", "emails": "b@elsewhere.example", "emails.other": "", "phoneNumbers.mobile": "+1 555 0100",
		"addresses.work.locality": "Paris", "addresses.work.country": "FR", "addresses.locality": "Lyon", "roles": "admin;dev",
		"groups": "Sales", "microsoftId": "m-1", "enterprise.employeeNumber": "701984", "enterprise.manager.value": "boss-id",
		acme + ":badge": "B-7", "meta.created": r.Created,
	} {
		if got := cells[h]; got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	for h, v := range cells {
		if strings.Contains(v, "hunter2") {
			t.Errorf("column %s holds the password", h)
		}
	}
	gcols := s.Columns(Groups)
	var gh []string
	for _, c := range gcols {
		gh = append(gh, c.Header)
	}
	if got, want := strings.Join(gh, ","), "id,externalId,displayName,members,memberGroups,meta.created,meta.lastModified"; got != want {
		t.Errorf("group columns %s, want %s", got, want)
	}
}

func TestBackupAndStats(t *testing.T) {
	s := admFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	dest := filepath.Join(dir, "backup.db")
	info, err := s.Backup(ctx, dest, false)
	if err != nil {
		t.Fatal(err)
	}
	if info.Users != 5 || info.Groups != 3 {
		t.Errorf("backup has %d users, %d groups; want 5, 3", info.Users, info.Groups)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if _, err := s.Backup(ctx, dest, false); !errors.Is(err, ErrBackupExists) {
		t.Errorf("second backup to the same file: %v, want ErrBackupExists", err)
	}
	admCreate(t, s, "entra", Users, `{"userName":"u6"}`)
	if info, err := s.Backup(ctx, dest, true); err != nil || info.Users != 6 {
		t.Errorf("overwrite: %+v, %v; want 6 users", info, err)
	}
	if _, err := s.Backup(ctx, s.Path(), true); err == nil {
		t.Errorf("backup over the live database: no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("backup folder holds %d files, want only the backup (no temporary files)", len(entries))
	}

	b, err := Open(dest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.UsersActive != 4 || st.UsersInactive != 2 || st.Groups != 3 || st.Memberships != 5 || st.LastWrite == nil {
		t.Errorf("stats of the restored copy: %+v", st)
	}
}
