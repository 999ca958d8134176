package lifecycle

import (
	"slices"
	"testing"
	"time"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// TestAccessClusterRoles checks the shipped least-privilege roles for what
// they must never grant: wildcards, Secrets, update (the hub only patches
// and server-side applies), deleting or creating the member's IronCore
// objects, and namespace delete in either role (offboard --purge deletes a
// member's namespace with the operator's own credentials).
func TestAccessClusterRoles(t *testing.T) {
	for _, role := range []clusterprofiles.Role{clusterprofiles.RoleIronCore, clusterprofiles.RoleAPINet} {
		cr, err := AccessClusterRole(role)
		if err != nil {
			t.Fatal(err)
		}
		if cr.Name != "apinet-hub:"+string(role) {
			t.Errorf("%s: named %q", role, cr.Name)
		}
		for i, r := range cr.Rules {
			for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
				if slices.Contains(list, "*") {
					t.Errorf("%s rule %d: a wildcard: %+v", role, i, r)
				}
			}
			if slices.Contains(r.Resources, "secrets") {
				t.Errorf("%s rule %d: Secrets: %+v", role, i, r)
			}
			if slices.Contains(r.Verbs, "update") {
				t.Errorf("%s rule %d: update (the hub patches): %+v", role, i, r)
			}
			if slices.Contains(r.Verbs, "deletecollection") || slices.Contains(r.Verbs, "escalate") || slices.Contains(r.Verbs, "bind") || slices.Contains(r.Verbs, "impersonate") {
				t.Errorf("%s rule %d: %v", role, i, r.Verbs)
			}
			if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "namespaces") && slices.Contains(r.Verbs, "delete") {
				t.Errorf("%s rule %d: namespace delete: %+v", role, i, r)
			}
			if role == clusterprofiles.RoleIronCore && slices.Contains(r.APIGroups, "networking.ironcore.dev") && (slices.Contains(r.Verbs, "create") || slices.Contains(r.Verbs, "delete")) {
				t.Errorf("%s rule %d: the hub creates or deletes no IronCore object: %+v", role, i, r)
			}
			if role == clusterprofiles.RoleIronCore && slices.Contains(r.Resources, "namespaces") && !slices.Equal(r.ResourceNames, []string{"kube-system"}) {
				t.Errorf("%s rule %d: namespaces beyond kube-system: %+v", role, i, r)
			}
		}
	}
}

// TestSpreadExpiration pins the spread of token lifetimes: up to 10 % cut at
// random, whole seconds, never below the API server's 10 minutes.
func TestSpreadExpiration(t *testing.T) {
	year := 365 * 24 * time.Hour
	for _, tc := range []struct {
		name       string
		expiration time.Duration
		u          float64
		want       time.Duration
	}{
		{"no cut", year, 0, year},
		{"the most cut", year, 0.999999, 0}, // checked as a range below
		{"half", 10 * time.Hour, 0.5, 9*time.Hour + 30*time.Minute},
		{"never below 10 minutes", 10 * time.Minute, 0.9, 10 * time.Minute},
	} {
		got := spreadExpiration(tc.expiration, tc.u)
		if tc.name == "the most cut" {
			if got < year-year/10 || got > year-year/10+time.Minute {
				t.Errorf("%s: %s, want about %s", tc.name, got, year-year/10)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s: spreadExpiration(%s, %v) = %s, want %s", tc.name, tc.expiration, tc.u, got, tc.want)
		}
	}
}
