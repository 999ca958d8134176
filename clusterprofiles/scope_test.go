package clusterprofiles

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        Scope
		wantProblem string
	}{
		{name: "none: the whole cluster"},
		{name: "watch filter", annotations: map[string]string{AnnotationWatchFilter: "blue"}, want: Scope{WatchFilter: "blue"}},
		{name: "namespaces sorted and unique", annotations: map[string]string{AnnotationIronCoreNamespaces: "team-b, team-a,team-b"},
			want: Scope{Namespaces: []string{"team-a", "team-b"}}},
		{name: "both", annotations: map[string]string{AnnotationWatchFilter: "red", AnnotationIronCoreNamespaces: "team-a"},
			want: Scope{WatchFilter: "red", Namespaces: []string{"team-a"}}},
		{name: "empty filter", annotations: map[string]string{AnnotationWatchFilter: ""}, wantProblem: "must not be empty"},
		{name: "filter no label value", annotations: map[string]string{AnnotationWatchFilter: "a/b"}, wantProblem: "is not a label value of common.ironcore.dev/watch-filter"},
		{name: "empty namespace in list", annotations: map[string]string{AnnotationIronCoreNamespaces: "a,,b"}, wantProblem: `"" is not a namespace name`},
		{name: "bad namespace", annotations: map[string]string{AnnotationIronCoreNamespaces: "Team"}, wantProblem: `"Team" is not a namespace name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problem := parseScope(newProfile("fleet", "m", nil, tc.annotations))
			if tc.wantProblem != "" {
				if problem == nil || problem.Reason != ReasonScopeInvalid || !strings.Contains(problem.Message, tc.wantProblem) {
					t.Fatalf("parseScope() problem = %v, want %s containing %q", problem, ReasonScopeInvalid, tc.wantProblem)
				}
				return
			}
			if problem != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseScope() = %#v, %v; want %#v", got, problem, tc.want)
			}
		})
	}
}

func TestParseCarriesScope(t *testing.T) {
	cp := newProfile("fleet", "m", map[string]string{LabelRole: string(RoleIronCore), LabelPeer: "apinet-1"},
		map[string]string{AnnotationWatchFilter: "blue"})
	p, problem := Parse(cp)
	if problem != nil || p.Scope.WatchFilter != "blue" {
		t.Fatalf("Parse() = %+v, %v", p, problem)
	}
	cp.Annotations[AnnotationWatchFilter] = "-bad-"
	if _, problem := Parse(cp); problem == nil || problem.Reason != ReasonScopeInvalid {
		t.Fatalf("Parse() with a bad filter: %v, want %s", problem, ReasonScopeInvalid)
	}
}

func TestScopeOverlaps(t *testing.T) {
	whole := Scope{}
	blue, green := Scope{WatchFilter: "blue"}, Scope{WatchFilter: "green"}
	teamA, teamB := Scope{Namespaces: []string{"team-a"}}, Scope{Namespaces: []string{"team-b"}}
	ab := Scope{Namespaces: []string{"team-a", "team-b"}}
	blueA := Scope{WatchFilter: "blue", Namespaces: []string{"team-a"}}
	for _, tc := range []struct {
		a, b Scope
		want bool
	}{
		{whole, whole, true},
		{whole, blue, true},
		{blue, blue, true},
		{blue, green, false},
		{teamA, teamB, false},
		{teamA, ab, true},
		{blue, teamA, true},
		{blueA, teamB, false},
		{blueA, green, false},
		{blueA, Scope{WatchFilter: "blue", Namespaces: []string{"team-b"}}, false},
		{blueA, ab, true},
	} {
		if got := tc.a.Overlaps(tc.b); got != tc.want {
			t.Errorf("%v overlaps %v = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Overlaps(tc.a); got != tc.want {
			t.Errorf("%v overlaps %v = %v, want %v (symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestScopeWithin(t *testing.T) {
	for _, tc := range []struct {
		scope      Scope
		hub        string
		want       string
		wantReason string
	}{
		{Scope{}, "", "", ""},
		{Scope{WatchFilter: "blue"}, "", "blue", ""},
		{Scope{}, "blue", "blue", ""},
		{Scope{WatchFilter: "blue"}, "blue", "blue", ""},
		{Scope{WatchFilter: "green"}, "blue", "", ReasonScopeInvalid},
	} {
		got, problem := tc.scope.Within(tc.hub)
		switch {
		case tc.wantReason != "":
			if problem == nil || problem.Reason != tc.wantReason || !strings.Contains(problem.Message, "may narrow") {
				t.Errorf("%v within %q: %v, want %s", tc.scope, tc.hub, problem, tc.wantReason)
			}
		case problem != nil || got.WatchFilter != tc.want:
			t.Errorf("%v within %q = %v, %v; want filter %q", tc.scope, tc.hub, got, problem, tc.want)
		}
	}
}

func TestScopeSelectsAndString(t *testing.T) {
	s := Scope{WatchFilter: "blue", Namespaces: []string{"a", "c"}}
	for _, tc := range []struct {
		ns     string
		filter string
		want   bool
	}{{"a", "blue", true}, {"c", "blue", true}, {"b", "blue", false}, {"a", "green", false}, {"a", "", false}} {
		if got := s.Selects(tc.ns, map[string]string{LabelWatchFilter: tc.filter}); got != tc.want {
			t.Errorf("Selects(%s, %q) = %v, want %v", tc.ns, tc.filter, got, tc.want)
		}
	}
	if !(Scope{}).Selects("any", nil) {
		t.Error("the whole cluster selects everything")
	}
	if got, want := s.String(), "watch-filter blue; namespaces a, c"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := (Scope{}).String(); got != "the whole cluster" {
		t.Errorf("String() = %q", got)
	}
	if s.Key() == (Scope{WatchFilter: "blue"}).Key() {
		t.Error("Key must tell scopes apart")
	}
}
