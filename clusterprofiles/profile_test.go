package clusterprofiles

import (
	"reflect"
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
			name:        "ironcore with peering disabled",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationDisableNetworkPeering: "true"},
			want: &Profile{
				Key: key, Name: "fleet/member-1", Role: RoleIronCore,
				Peer:                  types.NamespacedName{Namespace: "fleet", Name: "apinet-a"},
				APINetNamespace:       "fleet-member-1",
				DisableNetworkPeering: ptr.To(true),
			},
		},
		{
			name:        "ironcore with an invalid peering switch",
			labels:      map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			annotations: map[string]string{AnnotationDisableNetworkPeering: "sometimes"},
			wantReason:  ReasonAnnotationInvalid,
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
	short := []struct {
		key  types.NamespacedName
		want string
	}{
		{types.NamespacedName{Namespace: "fleet", Name: "member-1"}, "fleet-member-1"},
		{types.NamespacedName{Namespace: "fleet", Name: "a.b.c"}, "fleet-a-b-c"},
		{types.NamespacedName{Namespace: "a", Name: "b"}, "a-b"},
		{types.NamespacedName{Namespace: strings.Repeat("a", 31), Name: strings.Repeat("b", 31)}, strings.Repeat("a", 31) + "-" + strings.Repeat("b", 31)},
	}
	for _, tt := range short {
		if got := DefaultAPINetNamespace(tt.key); got != tt.want {
			t.Errorf("DefaultAPINetNamespace(%v) = %q, want %q", tt.key, got, tt.want)
		}
	}

	valid := []types.NamespacedName{
		{Namespace: "fleet", Name: "member-1"},
		{Namespace: "fleet", Name: "a.b.c"},
		{Namespace: "a", Name: strings.Repeat("b", 62)},
		{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("x", 253)},
		{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("x.", 126) + "x"},
		{Namespace: "fleet", Name: strings.Repeat("a", 50) + "." + strings.Repeat("b", 50)},
		{Namespace: "fleet", Name: strings.Repeat("a", 51) + "-" + strings.Repeat("b", 50)},
		{Namespace: "fleet", Name: strings.Repeat("a-", 120) + "a"},
		{Namespace: "0", Name: "0"},
	}
	seen := map[string]types.NamespacedName{}
	for _, key := range valid {
		got := DefaultAPINetNamespace(key)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("DefaultAPINetNamespace(%v) = %q invalid: %v", key, got, errs)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("DefaultAPINetNamespace(%v) = DefaultAPINetNamespace(%v) = %q", key, other, got)
		}
		seen[got] = key
	}
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
