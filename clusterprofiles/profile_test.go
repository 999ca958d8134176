package clusterprofiles

import (
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

func newProfile(ns, name string, labels, annotations map[string]string) *clusterinventoryv1alpha1.ClusterProfile {
	return &clusterinventoryv1alpha1.ClusterProfile{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   ns,
			Name:        name,
			Labels:      labels,
			Annotations: annotations,
		},
	}
}

func TestParse(t *testing.T) {
	key := types.NamespacedName{Namespace: "fleet", Name: "member-1"}
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        *Profile
		wantReason  string
	}{
		{
			name:   "apinet role",
			labels: map[string]string{LabelRole: "apinet"},
			want:   &Profile{Key: key, Name: "fleet/member-1", Role: RoleAPINet},
		},
		{
			name:   "apinet role ignores peer and namespace",
			labels: map[string]string{LabelRole: "apinet", LabelPeer: "NOT valid"},
			annotations: map[string]string{
				AnnotationAPINetNamespace: "NOT valid",
			},
			want: &Profile{Key: key, Name: "fleet/member-1", Role: RoleAPINet},
		},
		{
			name:   "ironcore with peer",
			labels: map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			want: &Profile{
				Key: key, Name: "fleet/member-1", Role: RoleIronCore,
				Peer:            types.NamespacedName{Namespace: "fleet", Name: "apinet-a"},
				APINetNamespace: "fleet-member-1",
			},
		},
		{
			name:   "settings are not part of the profile, valid or not",
			labels: map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{
				AnnotationDisableNetworkPeering: "sometimes", AnnotationNodeAffinityAware: "true",
				AnnotationTakeOver: "maybe", natAnnotationPrefix + "min-public-ips": "x",
			},
			want: &Profile{
				Key: key, Name: "fleet/member-1", Role: RoleIronCore,
				Peer:            types.NamespacedName{Namespace: "fleet", Name: "apinet-a"},
				APINetNamespace: "fleet-member-1",
			},
		},
		{
			name:   "ironcore with dotted peer",
			labels: map[string]string{LabelRole: "ironcore", LabelPeer: "apinet.example.com"},
			want: &Profile{
				Key: key, Name: "fleet/member-1", Role: RoleIronCore,
				Peer:            types.NamespacedName{Namespace: "fleet", Name: "apinet.example.com"},
				APINetNamespace: "fleet-member-1",
			},
		},
		{
			name:        "ironcore with explicit namespace",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: "tenant-42"},
			want: &Profile{
				Key: key, Name: "fleet/member-1", Role: RoleIronCore,
				Peer:            types.NamespacedName{Namespace: "fleet", Name: "apinet-a"},
				APINetNamespace: "tenant-42",
			},
		},
		{
			name:       "no labels",
			wantReason: ReasonRoleInvalid,
		},
		{
			name:       "missing role label",
			labels:     map[string]string{LabelPeer: "apinet-a"},
			wantReason: ReasonRoleInvalid,
		},
		{
			name:       "empty role",
			labels:     map[string]string{LabelRole: ""},
			wantReason: ReasonRoleInvalid,
		},
		{
			name:       "unknown role",
			labels:     map[string]string{LabelRole: "gardener"},
			wantReason: ReasonRoleInvalid,
		},
		{
			name:       "role in wrong case",
			labels:     map[string]string{LabelRole: "IronCore"},
			wantReason: ReasonRoleInvalid,
		},
		{
			name:       "ironcore without peer label",
			labels:     map[string]string{LabelRole: "ironcore"},
			wantReason: ReasonPeerNotFound,
		},
		{
			name:       "ironcore with empty peer label",
			labels:     map[string]string{LabelRole: "ironcore", LabelPeer: ""},
			wantReason: ReasonPeerNotFound,
		},
		{
			name:       "peer not a DNS subdomain (uppercase)",
			labels:     map[string]string{LabelRole: "ironcore", LabelPeer: "Apinet"},
			wantReason: ReasonPeerNotFound,
		},
		{
			name:       "peer not a DNS subdomain (trailing dash)",
			labels:     map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-"},
			wantReason: ReasonPeerNotFound,
		},
		{
			name:       "peer not a DNS subdomain (underscore)",
			labels:     map[string]string{LabelRole: "ironcore", LabelPeer: "apinet_a"},
			wantReason: ReasonPeerNotFound,
		},
		{
			name:        "namespace annotation uppercase",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: "Tenant"},
			wantReason:  ReasonNamespaceInvalid,
		},
		{
			name:        "namespace annotation too long",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: strings.Repeat("a", 64)},
			wantReason:  ReasonNamespaceInvalid,
		},
		{
			name:        "namespace annotation empty",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: ""},
			wantReason:  ReasonNamespaceInvalid,
		},
		{
			name:        "namespace annotation with a dot",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: "tenant.a"},
			wantReason:  ReasonNamespaceInvalid,
		},
		{
			name:        "namespace annotation naming kube-system",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: "kube-system"},
			wantReason:  ReasonNamespaceInvalid,
		},
		{
			name:        "namespace annotation naming apinet's own namespace",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: "apinet-system"},
			wantReason:  ReasonNamespaceInvalid,
		},
		{
			name:        "namespace annotation naming default",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationAPINetNamespace: "default"},
			wantReason:  ReasonNamespaceInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := Parse(newProfile(key.Namespace, key.Name, tt.labels, tt.annotations))
			if tt.wantReason != "" {
				if got != nil {
					t.Errorf("Parse() profile = %+v, want nil", got)
				}
				if problem == nil {
					t.Fatalf("Parse() problem = nil, want reason %q", tt.wantReason)
				}
				if problem.Reason != tt.wantReason {
					t.Errorf("Parse() reason = %q, want %q (message %q)", problem.Reason, tt.wantReason, problem.Message)
				}
				if problem.Message == "" {
					t.Errorf("Parse() problem message is empty")
				}
				if !strings.HasPrefix(problem.Error(), problem.Reason+": ") {
					t.Errorf("Problem.Error() = %q, want reason prefix", problem.Error())
				}
				return
			}
			if problem != nil {
				t.Fatalf("Parse() problem = %v, want none", problem)
			}
			if got == nil {
				t.Fatalf("Parse() profile = nil")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}

func TestParseLongKeyDefaultNamespace(t *testing.T) {
	ns := strings.Repeat("n", 63)
	name := strings.Repeat("a.b", 84) + "c" // 253 characters
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		t.Fatalf("test name invalid: %v", errs)
	}
	got, problem := Parse(newProfile(ns, name, map[string]string{LabelRole: "ironcore", LabelPeer: "p"}, nil))
	if problem != nil {
		t.Fatalf("Parse() problem = %v", problem)
	}
	if errs := validation.IsDNS1123Label(got.APINetNamespace); len(errs) > 0 {
		t.Errorf("APINetNamespace %q invalid: %v", got.APINetNamespace, errs)
	}
	if got.APINetNamespace != DefaultAPINetNamespace(got.Key) {
		t.Errorf("APINetNamespace = %q, want DefaultAPINetNamespace %q", got.APINetNamespace, DefaultAPINetNamespace(got.Key))
	}
}

func TestClusterNameRoundTrip(t *testing.T) {
	for _, key := range []types.NamespacedName{
		{Namespace: "fleet", Name: "member-1"},
		{Namespace: "a", Name: "b"},
		{Namespace: "ns", Name: "name.with.dots"},
		{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("x", 253)},
	} {
		name := ClusterName(key)
		if want := multicluster.ClusterName(key.Namespace + "/" + key.Name); name != want {
			t.Errorf("ClusterName(%v) = %q, want %q", key, name, want)
		}
		back, err := ParseClusterName(name)
		if err != nil {
			t.Errorf("ParseClusterName(%q) error = %v", name, err)
			continue
		}
		if back != key {
			t.Errorf("ParseClusterName(ClusterName(%v)) = %v", key, back)
		}
	}
}

func TestParseClusterNameErrors(t *testing.T) {
	for _, name := range []multicluster.ClusterName{"", "a", "/b", "a/", "a/b/c", "/", "//"} {
		t.Run(string(name), func(t *testing.T) {
			key, err := ParseClusterName(name)
			if err == nil {
				t.Fatalf("ParseClusterName(%q) = %v, want error", name, key)
			}
			if key != (types.NamespacedName{}) {
				t.Errorf("ParseClusterName(%q) key = %v, want zero", name, key)
			}
			if !strings.Contains(err.Error(), "<namespace>/<name>") {
				t.Errorf("ParseClusterName(%q) error = %q", name, err)
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	tests := []struct {
		in   multicluster.ClusterName
		want string
	}{
		{"ns/name", "ns.name"},
		{"fleet/member.one", "fleet.member.one"},
		{multicluster.ClusterName(strings.Repeat("a", 30) + "/" + strings.Repeat("b", 32)), strings.Repeat("a", 30) + "." + strings.Repeat("b", 32)},
	}
	for _, tt := range tests {
		if got := LabelValue(tt.in); got != tt.want {
			t.Errorf("LabelValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLabelValueLong(t *testing.T) {
	ns := strings.Repeat("n", 63)
	inputs := []multicluster.ClusterName{
		ClusterName(types.NamespacedName{Namespace: ns, Name: strings.Repeat("a", 253)}),
		ClusterName(types.NamespacedName{Namespace: ns, Name: strings.Repeat("a", 252) + "b"}),
		ClusterName(types.NamespacedName{Namespace: "fleet", Name: strings.Repeat("a", 57) + "-" + strings.Repeat("b", 10)}),
		ClusterName(types.NamespacedName{Namespace: "fleet", Name: strings.Repeat("a", 48) + "." + strings.Repeat("b", 10)}),
		ClusterName(types.NamespacedName{Namespace: "fleet", Name: strings.Repeat("a.", 126) + "a"}),
		ClusterName(types.NamespacedName{Namespace: "a", Name: strings.Repeat("b", 62)}), // exactly 64
	}
	seen := map[string]multicluster.ClusterName{}
	for _, in := range inputs {
		got := LabelValue(in)
		if len(got) > validation.LabelValueMaxLength {
			t.Errorf("LabelValue(%q) = %q has %d characters", in, got, len(got))
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("LabelValue(%q) = %q invalid: %v", in, got, errs)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("LabelValue(%q) = LabelValue(%q) = %q", in, other, got)
		}
		seen[got] = in
		if again := LabelValue(in); again != got {
			t.Errorf("LabelValue(%q) not deterministic: %q then %q", in, got, again)
		}
	}
}

func TestDefaultAPINetNamespace(t *testing.T) {
	// Pinned: an apinet namespace outlives hub versions, so a change here
	// would move existing members to new namespaces.
	pinned := []struct {
		key  types.NamespacedName
		want string
	}{
		// Unambiguous: the plain form, as before.
		{types.NamespacedName{Namespace: "fleet", Name: "member-1"}, "fleet-member-1"},
		{types.NamespacedName{Namespace: "fleet", Name: "ironcore-1"}, "fleet-ironcore-1"},
		{types.NamespacedName{Namespace: "a", Name: "b"}, "a-b"},
		{types.NamespacedName{Namespace: "a", Name: "b-c"}, "a-b-c"},
		{types.NamespacedName{Namespace: strings.Repeat("a", 31), Name: strings.Repeat("b", 31)}, strings.Repeat("a", 31) + "-" + strings.Repeat("b", 31)},
		// Ambiguous: the plain form and the hash of "<namespace>/<name>".
		{types.NamespacedName{Namespace: "a-b", Name: "c"}, "a-b-c-4e84717d"},
		{types.NamespacedName{Namespace: "a", Name: "b.c"}, "a-b-c-c0620514"},
		{types.NamespacedName{Namespace: "fleet", Name: "a.b.c"}, "fleet-a-b-c-7b4cb96e"},
		{types.NamespacedName{Namespace: "fleet-eu", Name: "ironcore-1"}, "fleet-eu-ironcore-1-9a943167"},
	}
	for _, tt := range pinned {
		if got := DefaultAPINetNamespace(tt.key); got != tt.want {
			t.Errorf("DefaultAPINetNamespace(%v) = %q, want %q", tt.key, got, tt.want)
		}
	}

	// Keys whose plain forms collide, and long keys, map to distinct valid
	// labels.
	distinct := []types.NamespacedName{
		{Namespace: "a-b", Name: "c"},
		{Namespace: "a", Name: "b-c"},
		{Namespace: "a", Name: "b.c"},
		{Namespace: "a-b", Name: "c.d"},
		{Namespace: "a-b-c", Name: "d"},
		{Namespace: "a", Name: "b-c-d"},
		{Namespace: "a", Name: "b.c.d"},
		{Namespace: "a", Name: "b-c.d"},
		{Namespace: "fleet", Name: "member-1"},
		{Namespace: "fleet", Name: "member.1"},
		{Namespace: "fleet", Name: "a.b.c"},
		{Namespace: "fleet", Name: "a-b-c"},
		{Namespace: "a", Name: strings.Repeat("b", 62)},
		{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("x", 253)},
		{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("x.", 126) + "x"},
		{Namespace: strings.Repeat("n", 62) + "x", Name: strings.Repeat("x-", 126) + "x"},
		{Namespace: strings.Repeat("n-", 31) + "n", Name: "x"},
		{Namespace: strings.Repeat("n-", 31) + "n", Name: "y"},
		{Namespace: "fleet", Name: strings.Repeat("a", 50) + "." + strings.Repeat("b", 50)},
		{Namespace: "fleet", Name: strings.Repeat("a", 50) + "-" + strings.Repeat("b", 50)},
		{Namespace: "fleet", Name: strings.Repeat("a", 51) + "-" + strings.Repeat("b", 50)},
		{Namespace: "fleet", Name: strings.Repeat("a-", 120) + "a"},
		// The cut lands right after a dash or a dot of the head.
		{Namespace: "fleet-x", Name: strings.Repeat("a", 45) + "-" + strings.Repeat("b", 20)},
		{Namespace: "fleet", Name: strings.Repeat("a", 47) + "." + strings.Repeat("b", 20)},
		{Namespace: "0", Name: "0"},
	}
	seen := map[string]types.NamespacedName{}
	for _, key := range distinct {
		if len(validation.IsDNS1123Label(key.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(key.Name)) > 0 {
			t.Fatalf("test key %v is not a valid profile key", key)
		}
		got := DefaultAPINetNamespace(key)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("DefaultAPINetNamespace(%v) = %q invalid: %v", key, got, errs)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("DefaultAPINetNamespace(%v) = DefaultAPINetNamespace(%v) = %q", key, other, got)
		}
		seen[got] = key
		if again := DefaultAPINetNamespace(key); again != got {
			t.Errorf("DefaultAPINetNamespace(%v) not deterministic: %q then %q", key, got, again)
		}
	}
}

// A profile in a hub namespace such as "kube" would by default map into a
// system namespace of the peer; Parse refuses it and names the way out.
func TestParseDefaultSystemNamespace(t *testing.T) {
	labels := map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"}
	for _, key := range []types.NamespacedName{{Namespace: "kube", Name: "system"}, {Namespace: "kube", Name: "ironcore-1"}, {Namespace: "apinet", Name: "system"}} {
		got, problem := Parse(newProfile(key.Namespace, key.Name, labels, nil))
		if got != nil || problem == nil || problem.Reason != ReasonNamespaceInvalid || !strings.Contains(problem.Message, AnnotationAPINetNamespace) {
			t.Errorf("Parse(%v) = %+v, %+v; want a %s problem naming %s", key, got, problem, ReasonNamespaceInvalid, AnnotationAPINetNamespace)
		}
		got, problem = Parse(newProfile(key.Namespace, key.Name, labels, map[string]string{AnnotationAPINetNamespace: "tenant"}))
		if problem != nil || got.APINetNamespace != "tenant" {
			t.Errorf("Parse(%v) with an explicit namespace = %+v, %+v", key, got, problem)
		}
	}
}

func TestSystemNamespace(t *testing.T) {
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "kube-anything", "apinet-system", "ironcore-net-system", "metalnet-system"} {
		if !SystemNamespace(ns) {
			t.Errorf("SystemNamespace(%q) = false", ns)
		}
	}
	for _, ns := range []string{"fleet-ironcore-1", "tenant", "kube", "kubernetes", "defaults", "my-kube-system", "apinet-system-2", "apinet", "ironcore-net", "metalnet", "system"} {
		if SystemNamespace(ns) {
			t.Errorf("SystemNamespace(%q) = true", ns)
		}
	}
}

func TestParseSettings(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	nat := natAnnotationPrefix + "min-public-ips"
	tests := []struct {
		name        string
		annotations map[string]string
		last        Settings
		want        Settings
		// wantProblems are the annotation keys of the problems, in order.
		wantProblems []string
		// wantKept are words each problem's message must hold, in order.
		wantKept []string
	}{
		{name: "nothing set", want: Settings{}},
		{
			name:        "nothing set drops what was in force",
			last:        Settings{DisableNetworkPeering: yes, NodeAffinityAware: no, TakeOver: true, NATAnnotations: map[string]string{nat: "1"}},
			annotations: map[string]string{"other.io/x": "y"},
			want:        Settings{},
		},
		{
			name: "all valid",
			annotations: map[string]string{
				AnnotationDisableNetworkPeering: "true", AnnotationNodeAffinityAware: "0",
				AnnotationTakeOver: "true", nat: "2", natAnnotationPrefix + "max-public-ips": "x",
				AnnotationAPINetNamespace: "tenant",
			},
			want: Settings{
				DisableNetworkPeering: yes, NodeAffinityAware: no, TakeOver: true,
				NATAnnotations: map[string]string{nat: "2", natAnnotationPrefix + "max-public-ips": "x"},
			},
		},
		{
			name:        "take-over false",
			annotations: map[string]string{AnnotationTakeOver: "false"},
			last:        Settings{TakeOver: true},
			want:        Settings{},
		},
		{
			name:         "invalid override without a value before: the hub's flag stays",
			annotations:  map[string]string{AnnotationDisableNetworkPeering: "sometimes"},
			want:         Settings{},
			wantProblems: []string{AnnotationDisableNetworkPeering},
			wantKept:     []string{`"sometimes" is not true or false; the hub's --disable-network-peering stays in force`},
		},
		{
			name:         "invalid override keeps the value before",
			annotations:  map[string]string{AnnotationNodeAffinityAware: "", AnnotationDisableNetworkPeering: "false"},
			last:         Settings{DisableNetworkPeering: yes, NodeAffinityAware: yes},
			want:         Settings{DisableNetworkPeering: no, NodeAffinityAware: yes},
			wantProblems: []string{AnnotationNodeAffinityAware},
			wantKept:     []string{"true, its value before, stays in force"},
		},
		{
			name:         "take-over is strict and keeps the value before",
			annotations:  map[string]string{AnnotationTakeOver: "True"},
			last:         Settings{TakeOver: true},
			want:         Settings{TakeOver: true},
			wantProblems: []string{AnnotationTakeOver},
			wantKept:     []string{"take-over stays on"},
		},
		{
			name:         "take-over is strict, off before",
			annotations:  map[string]string{AnnotationTakeOver: "1"},
			want:         Settings{},
			wantProblems: []string{AnnotationTakeOver},
			wantKept:     []string{"take-over stays off"},
		},
		{
			name: "every key bad, sorted by key, the rest still read",
			annotations: map[string]string{
				AnnotationTakeOver: "yes", AnnotationNodeAffinityAware: "no", AnnotationDisableNetworkPeering: "off", nat: "3",
			},
			last:         Settings{DisableNetworkPeering: no, TakeOver: false},
			want:         Settings{DisableNetworkPeering: no, NATAnnotations: map[string]string{nat: "3"}},
			wantProblems: []string{AnnotationDisableNetworkPeering, AnnotationNodeAffinityAware, AnnotationTakeOver},
			wantKept:     []string{"false, its value before", "the hub's --is-node-affinity-aware stays in force", "take-over stays off"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := newProfile("fleet", "member-1", map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"}, tt.annotations)
			lastBefore := Settings{NATAnnotations: maps.Clone(tt.last.NATAnnotations), TakeOver: tt.last.TakeOver}
			if tt.last.DisableNetworkPeering != nil {
				lastBefore.DisableNetworkPeering = ptr.To(*tt.last.DisableNetworkPeering)
			}
			if tt.last.NodeAffinityAware != nil {
				lastBefore.NodeAffinityAware = ptr.To(*tt.last.NodeAffinityAware)
			}
			got, problems := ParseSettings(cp, tt.last)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSettings() = %s, want %s", settingsString(got), settingsString(tt.want))
			}
			if len(problems) != len(tt.wantProblems) {
				t.Fatalf("ParseSettings() problems = %v, want about %v", problems, tt.wantProblems)
			}
			for i, p := range problems {
				if p.Reason != ReasonAnnotationInvalid || !strings.HasPrefix(p.Message, "annotation "+tt.wantProblems[i]+"=") || !strings.Contains(p.Message, tt.wantKept[i]) {
					t.Errorf("problem %d = %+v, want %s about %s saying %q", i, p, ReasonAnnotationInvalid, tt.wantProblems[i], tt.wantKept[i])
				}
				if strings.Contains(p.Message, "\n") {
					t.Errorf("problem %d spans lines: %q", i, p.Message)
				}
			}
			// The result shares nothing with last or the profile.
			if got.DisableNetworkPeering != nil && got.DisableNetworkPeering == tt.last.DisableNetworkPeering ||
				got.NodeAffinityAware != nil && got.NodeAffinityAware == tt.last.NodeAffinityAware {
				t.Errorf("ParseSettings() returns a pointer of last")
			}
			if !reflect.DeepEqual(tt.last, lastBefore) {
				t.Errorf("ParseSettings() changed last")
			}
			for k := range got.NATAnnotations {
				got.NATAnnotations[k] = "changed"
				if tt.annotations[k] == "changed" {
					t.Errorf("NATAnnotations shares the profile's map")
				}
			}
		})
	}
}

func settingsString(s Settings) string {
	b := func(p *bool) string {
		if p == nil {
			return "nil"
		}
		return strconv.FormatBool(*p)
	}
	return fmt.Sprintf("{DisableNetworkPeering:%s NodeAffinityAware:%s TakeOver:%t NATAnnotations:%v}", b(s.DisableNetworkPeering), b(s.NodeAffinityAware), s.TakeOver, s.NATAnnotations)
}

func FuzzParse(f *testing.F) {
	f.Add("fleet", "member-1", "apinet", "", "", false)
	f.Add("fleet", "member-1", "ironcore", "apinet-a", "", false)
	f.Add("fleet", "member-1", "ironcore", "apinet-a", "tenant", true)
	f.Add("fleet", "member-1", "ironcore", "apinet-a", "", true)
	f.Add("fleet", "member-1", "ironcore", "Apinet", "", false)
	f.Add("fleet", "member-1", "ironcore", "apinet-a", "Tenant", true)
	f.Add("fleet", "member-1", "IronCore", "apinet-a", "", false)
	f.Add("fleet", "member-1", "", "", "", false)
	f.Add(strings.Repeat("n", 63), strings.Repeat("a.b", 84)+"c", "ironcore", "p", "", false)
	f.Add("fleet", "member-1", "ironcore", strings.Repeat("a", 254), strings.Repeat("a", 64), true)
	f.Fuzz(func(t *testing.T, ns, name, role, peer, apinetNS string, setNS bool) {
		labels := map[string]string{LabelRole: role}
		if peer != "" {
			labels[LabelPeer] = peer
		}
		var annotations map[string]string
		if setNS {
			annotations = map[string]string{AnnotationAPINetNamespace: apinetNS}
		}
		got, problem := Parse(newProfile(ns, name, labels, annotations))
		if (got == nil) == (problem == nil) {
			t.Fatalf("Parse() = %+v, %+v: want exactly one of profile and problem", got, problem)
		}
		if problem != nil {
			if problem.Reason == "" || problem.Message == "" {
				t.Fatalf("Parse() problem %+v lacks reason or message", problem)
			}
			return
		}
		if got.Key != (types.NamespacedName{Namespace: ns, Name: name}) {
			t.Fatalf("Parse() key = %v", got.Key)
		}
		if got.Name != ClusterName(got.Key) {
			t.Fatalf("Parse() name = %q, want %q", got.Name, ClusterName(got.Key))
		}
		if Role(role) != got.Role {
			t.Fatalf("Parse() role = %q for label %q", got.Role, role)
		}
		switch got.Role {
		case RoleAPINet:
			if got.Peer != (types.NamespacedName{}) || got.APINetNamespace != "" {
				t.Fatalf("apinet profile has peer/namespace: %+v", got)
			}
		case RoleIronCore:
			if got.Peer.Namespace != ns || got.Peer.Name != peer {
				t.Fatalf("Parse() peer = %v, want %s/%s", got.Peer, ns, peer)
			}
			if errs := validation.IsDNS1123Subdomain(got.Peer.Name); len(errs) > 0 {
				t.Fatalf("Parse() accepted peer %q: %v", got.Peer.Name, errs)
			}
			if setNS && got.APINetNamespace != apinetNS {
				t.Fatalf("Parse() namespace = %q, want annotation %q", got.APINetNamespace, apinetNS)
			}
			// The default namespace is only defined for a key the API server
			// accepts; an explicit annotation must always be valid.
			keyValid := len(validation.IsDNS1123Label(ns)) == 0 && len(validation.IsDNS1123Subdomain(name)) == 0
			if setNS || keyValid {
				if errs := validation.IsDNS1123Label(got.APINetNamespace); len(errs) > 0 {
					t.Fatalf("Parse() namespace %q invalid: %v", got.APINetNamespace, errs)
				}
			}
		default:
			t.Fatalf("Parse() role = %q", got.Role)
		}
	})
}

func FuzzLabelValue(f *testing.F) {
	f.Add("ns", "name")
	f.Add("fleet", "member.one")
	f.Add(strings.Repeat("n", 63), strings.Repeat("a", 253))
	f.Add("a", strings.Repeat("b", 62))
	f.Add("fleet", strings.Repeat("a", 48)+"."+strings.Repeat("b", 10))
	f.Add("fleet", strings.Repeat("a", 57)+"-"+strings.Repeat("b", 10))
	f.Fuzz(func(t *testing.T, ns, name string) {
		if len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			t.Skip("not a valid namespace/name")
		}
		key := types.NamespacedName{Namespace: ns, Name: name}
		got := LabelValue(ClusterName(key))
		if len(got) > validation.LabelValueMaxLength {
			t.Fatalf("LabelValue(%v) = %q has %d characters", key, got, len(got))
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Fatalf("LabelValue(%v) = %q invalid: %v", key, got, errs)
		}
		if len(ns)+1+len(name) <= validation.LabelValueMaxLength && got != ns+"."+name {
			t.Fatalf("LabelValue(%v) = %q, want %q", key, got, ns+"."+name)
		}
		def := DefaultAPINetNamespace(key)
		if errs := validation.IsDNS1123Label(def); len(errs) > 0 {
			t.Fatalf("DefaultAPINetNamespace(%v) = %q invalid: %v", key, def, errs)
		}
		back, err := ParseClusterName(ClusterName(key))
		if err != nil || back != key {
			t.Fatalf("ParseClusterName(ClusterName(%v)) = %v, %v", key, back, err)
		}
	})
}

// FuzzDefaultAPINetNamespace: for every key the API server accepts, the
// default namespace is a DNS label, is the plain form where that is
// unambiguous, and differs between keys whose plain forms collide (moving a
// dash between namespace and name, or a dot for a dash in the name).
func FuzzDefaultAPINetNamespace(f *testing.F) {
	f.Add("fleet", "ironcore-1")
	f.Add("a-b", "c")
	f.Add("a", "b.c")
	f.Add("fleet-eu", "member.one")
	f.Add(strings.Repeat("n", 63), strings.Repeat("a.b", 84)+"c")
	f.Add(strings.Repeat("n-", 31)+"n", strings.Repeat("x-", 100)+"x")
	f.Fuzz(func(t *testing.T, ns, name string) {
		valid := func(k types.NamespacedName) bool {
			return len(validation.IsDNS1123Label(k.Namespace)) == 0 && len(validation.IsDNS1123Subdomain(k.Name)) == 0
		}
		key := types.NamespacedName{Namespace: ns, Name: name}
		if !valid(key) {
			t.Skip("not a valid namespace/name")
		}
		got := DefaultAPINetNamespace(key)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Fatalf("DefaultAPINetNamespace(%v) = %q invalid: %v", key, got, errs)
		}
		plain := ns + "-" + name
		if !strings.Contains(ns, "-") && !strings.Contains(name, ".") && len(plain) <= validation.DNS1123LabelMaxLength && got != plain {
			t.Fatalf("DefaultAPINetNamespace(%v) = %q, want the plain %q", key, got, plain)
		}
		var twins []types.NamespacedName
		if i := strings.LastIndex(ns, "-"); i >= 0 {
			twins = append(twins, types.NamespacedName{Namespace: ns[:i], Name: ns[i+1:] + "-" + name})
		}
		if i := strings.Index(name, "-"); i >= 0 {
			twins = append(twins, types.NamespacedName{Namespace: ns + "-" + name[:i], Name: name[i+1:]})
			twins = append(twins, types.NamespacedName{Namespace: ns, Name: name[:i] + "." + name[i+1:]})
		}
		if i := strings.Index(name, "."); i >= 0 {
			twins = append(twins, types.NamespacedName{Namespace: ns, Name: name[:i] + "-" + name[i+1:]})
		}
		for _, twin := range twins {
			if valid(twin) && twin != key && DefaultAPINetNamespace(twin) == got {
				t.Fatalf("DefaultAPINetNamespace(%v) = DefaultAPINetNamespace(%v) = %q", key, twin, got)
			}
		}
	})
}

func TestParseSettingsHandbackLayout(t *testing.T) {
	tests := []struct {
		name      string
		value     *string
		last      HandbackLayout
		want      HandbackLayout
		wantIn    HandbackLayout // Layout() of the result
		wantStays string         // "" for no problem; else the layout the problem says stays
	}{
		{name: "unset: HEAD's layout", want: "", wantIn: HandbackHead},
		{name: "unset drops the value before", last: HandbackV024, want: "", wantIn: HandbackHead},
		{name: "head", value: ptr.To("head"), want: HandbackHead, wantIn: HandbackHead},
		{name: "v0.2.4", value: ptr.To("v0.2.4"), want: HandbackV024, wantIn: HandbackV024},
		{name: "v0.2.4 over head", value: ptr.To("v0.2.4"), last: HandbackHead, want: HandbackV024, wantIn: HandbackV024},
		{name: "case matters", value: ptr.To("HEAD"), want: "", wantIn: HandbackHead, wantStays: "head"},
		{name: "a version not known keeps the value before", value: ptr.To("v0.3.0"), last: HandbackV024, want: HandbackV024, wantIn: HandbackV024, wantStays: "v0.2.4"},
		{name: "empty keeps the value before", value: ptr.To(""), last: HandbackHead, want: HandbackHead, wantIn: HandbackHead, wantStays: "head"},
		{name: "spaces are not trimmed", value: ptr.To(" v0.2.4"), want: "", wantIn: HandbackHead, wantStays: "head"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			annotations := map[string]string{}
			if tt.value != nil {
				annotations[AnnotationHandbackLayout] = *tt.value
			}
			cp := newProfile("fleet", "member-1", map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"}, annotations)
			got, problems := ParseSettings(cp, Settings{Handback: tt.last})
			if got.Handback != tt.want || got.Layout() != tt.wantIn {
				t.Errorf("ParseSettings() Handback = %q (layout %q), want %q (layout %q)", got.Handback, got.Layout(), tt.want, tt.wantIn)
			}
			if tt.wantStays == "" {
				if len(problems) != 0 {
					t.Fatalf("ParseSettings() problems = %v, want none", problems)
				}
				return
			}
			if len(problems) != 1 {
				t.Fatalf("ParseSettings() problems = %v, want one", problems)
			}
			p := problems[0]
			if p.Reason != ReasonAnnotationInvalid || !strings.HasPrefix(p.Message, "annotation "+AnnotationHandbackLayout+"=") ||
				!strings.Contains(p.Message, "the layout "+tt.wantStays+" stays in force") {
				t.Errorf("problem = %+v, want %s saying layout %s stays", p, ReasonAnnotationInvalid, tt.wantStays)
			}
		})
	}
}

// FuzzParseSettingsHandbackLayout: exactly "head" and "v0.2.4" are read,
// anything else keeps the layout before with one problem, and Layout() is
// always one of the two.
func FuzzParseSettingsHandbackLayout(f *testing.F) {
	f.Add("v0.2.4", true, uint8(0))
	f.Add("head", true, uint8(1))
	f.Add("", true, uint8(2))
	f.Add("v0.2.4\n", true, uint8(1))
	f.Add("x", false, uint8(1))
	f.Fuzz(func(t *testing.T, v string, set bool, lastSel uint8) {
		last := []HandbackLayout{"", HandbackHead, HandbackV024}[int(lastSel)%3]
		annotations := map[string]string{}
		if set {
			annotations[AnnotationHandbackLayout] = v
		}
		cp := newProfile("fleet", "member-1", map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"}, annotations)
		got, problems := ParseSettings(cp, Settings{Handback: last})
		if l := got.Layout(); l != HandbackHead && l != HandbackV024 {
			t.Fatalf("Layout() = %q", l)
		}
		switch {
		case !set:
			if got.Handback != "" || len(problems) != 0 {
				t.Fatalf("unset: Handback %q, problems %v", got.Handback, problems)
			}
		case v == "head" || v == "v0.2.4":
			if string(got.Handback) != v || len(problems) != 0 {
				t.Fatalf("%q: Handback %q, problems %v", v, got.Handback, problems)
			}
		default:
			if got.Handback != last || len(problems) != 1 || strings.Contains(problems[0].Message, "\n") && !strings.Contains(v, "\n") {
				t.Fatalf("%q: Handback %q (before %q), problems %v", v, got.Handback, last, problems)
			}
		}
	})
}
