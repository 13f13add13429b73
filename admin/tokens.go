package admin

import (
	"context"
	"time"

	"scimd/store"
)

// tokenView is one token name as the status page and /metrics show it:
// its current secret, with the latest use of any secret of that name that
// still works (an identity provider may still send the old secret during a
// rotation's grace period).
type tokenView struct {
	Name, IDP, State string
	// Scope is what the token may do: store.ScopeWrite, or store.ScopeRead
	// for read only (issue 12).
	Scope     string
	Expires   time.Time
	DaysLeft  int // days until Expires, rounded up; 0 or less once expired
	LastUsed  *time.Time
	LastAgent string
	// OldUntil is when the previous secret stops working, while a rotation
	// is in its grace period.
	OldUntil *time.Time
}

// tokenViews lists the tokens with a current (unrevoked, not replaced)
// secret, by name.
func tokenViews(ctx context.Context, st *store.Store, now time.Time) ([]tokenView, error) {
	all, err := st.Tokens(ctx) // by name, oldest secret first
	if err != nil {
		return nil, err
	}
	var out []tokenView
	var old []*store.Token // earlier secrets of the name being read
	for _, t := range all {
		if !t.Current() {
			if t.Revoked == nil {
				old = append(old, t)
			}
			continue
		}
		v := tokenView{Name: t.Name, IDP: t.IDP, State: t.State(now), Scope: t.Scope, Expires: t.Expires,
			DaysLeft: store.DaysLeft(t.Expires, now), LastUsed: t.LastUsed, LastAgent: t.LastAgent}
		for _, o := range old {
			if o.Name != t.Name {
				continue
			}
			if o.LastUsed != nil && (v.LastUsed == nil || o.LastUsed.After(*v.LastUsed)) {
				v.LastUsed, v.LastAgent = o.LastUsed, o.LastAgent
			}
			if o.State(now) == "rotating" {
				until := *o.Retires
				v.OldUntil = &until
			}
		}
		old = old[:0]
		out = append(out, v)
	}
	return out, nil
}
