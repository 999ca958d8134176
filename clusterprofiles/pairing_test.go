package clusterprofiles

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
)

// pairingHeader heads every pairing file of these tests.
const pairingHeader = "apiVersion: " + PairingAPIVersion + "\nkind: " + PairingKind + "\n"

// validPairing has one rule of each kind: by names in a namespace, by a
// selector with labels and expressions, by names and a selector together.
const validPairing = pairingHeader + `rules:
- namespace: fleet
  names: [member-1, member-2]
  role: ironcore
  peer: apinet-a
- selector:
    matchLabels:
      env: prod
    matchExpressions:
    - {key: zone, operator: In, values: [a, b]}
  role: ironcore
  peer: apinet-b
- namespace: fleet
  names: [apinet-a, apinet-b]
  selector:
    matchLabels: {network: apinet}
  role: apinet
`

// mustParsePairing parses rules (the part of a pairing file after its
// header) or fails the test.
func mustParsePairing(t *testing.T, rules string) *Pairing {
	t.Helper()
	pg, err := ParsePairing([]byte(pairingHeader + rules))
	if err != nil {
		t.Fatalf("ParsePairing(%q) error = %v", rules, err)
	}
	return pg
}

func TestParsePairing(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		pg, err := ParsePairing([]byte(validPairing))
		if err != nil {
			t.Fatalf("ParsePairing() error = %v", err)
		}
		if pg.APIVersion != PairingAPIVersion || pg.Kind != PairingKind || len(pg.Rules) != 3 {
			t.Fatalf("ParsePairing() = %+v", pg)
		}
		r := pg.Rules[0]
		if r.Namespace != "fleet" || !reflect.DeepEqual(r.Names, []string{"member-1", "member-2"}) || r.Selector != nil || r.Role != RoleIronCore || r.Peer != "apinet-a" {
			t.Errorf("rule 1 = %+v", r)
		}
		r = pg.Rules[1]
		if r.Namespace != "" || r.Names != nil || r.Selector == nil || r.Selector.MatchLabels["env"] != "prod" || len(r.Selector.MatchExpressions) != 1 ||
			r.Selector.MatchExpressions[0].Operator != metav1.LabelSelectorOpIn || r.Role != RoleIronCore || r.Peer != "apinet-b" {
			t.Errorf("rule 2 = %+v", r)
		}
		r = pg.Rules[2]
		if r.Namespace != "fleet" || len(r.Names) != 2 || r.Selector == nil || r.Role != RoleAPINet || r.Peer != "" {
			t.Errorf("rule 3 = %+v", r)
		}
		if !pg.PairsUnlabelled() {
			t.Errorf("PairsUnlabelled() = false with 3 rules")
		}
	})

	ok := "- names: [a]\n  role: apinet\n" // rule 1 of every error case
	tests := []struct {
		name string
		data string
		// wantErr are substrings of the error; "" means no error.
		wantErr []string
	}{
		{name: "no rules", data: pairingHeader},
		{name: "empty rules", data: pairingHeader + "rules: []\n"},
		{name: "select every profile on purpose", data: pairingHeader + "rules:\n- selector: {}\n  role: apinet\n"},
		{name: "empty names with a selector", data: pairingHeader + "rules:\n- names: []\n  selector: {}\n  role: apinet\n"},
		{name: "dotted names and peer", data: pairingHeader + "rules:\n- names: [m.example.com]\n  role: ironcore\n  peer: apinet.example.com\n"},

		{name: "empty file", data: "", wantErr: []string{"want " + PairingAPIVersion + ", " + PairingKind}},
		{name: "wrong kind", data: "apiVersion: " + PairingAPIVersion + "\nkind: Pairings\nrules: []\n", wantErr: []string{`kind "Pairings"`}},
		{name: "wrong apiVersion", data: "apiVersion: apinet-hub.ironcore.dev/v1\nkind: Pairing\n", wantErr: []string{`apiVersion "apinet-hub.ironcore.dev/v1"`}},
		{name: "no header", data: "rules:\n" + ok, wantErr: []string{`apiVersion ""`}},
		{name: "unknown top-level field", data: pairingHeader + "rule:\n" + ok, wantErr: []string{`unknown field "rule"`}},
		{name: "unknown rule field", data: pairingHeader + "rules:\n" + ok + "- name: b\n  role: apinet\n", wantErr: []string{`unknown field "rules[1].name"`}},
		{name: "unknown selector field", data: pairingHeader + "rules:\n- selector: {matchLabel: {a: b}}\n  role: apinet\n", wantErr: []string{`unknown field "rules[0].selector.matchLabel"`}},
		{name: "key in another case", data: pairingHeader + "rules:\n- Names: [a]\n  role: apinet\n", wantErr: []string{`unknown field "rules[0].Names"`}},
		{name: "second document", data: pairingHeader + "---\nrules:\n- names: [a]\n  role: apinet\n", wantErr: []string{"more than one YAML document"}},
		{name: "duplicate key", data: pairingHeader + "rules:\n- names: [a]\n  names: [b]\n  role: apinet\n", wantErr: []string{`"names"`}},
		{name: "not YAML", data: pairingHeader + "rules: [\n", wantErr: []string{"yaml"}},
		{name: "names not a list", data: pairingHeader + "rules:\n- names: a\n  role: apinet\n", wantErr: []string{"names"}},
		{name: "neither names nor selector", data: pairingHeader + "rules:\n" + ok + "- namespace: fleet\n  role: apinet\n", wantErr: []string{"rule 2: ", "neither names nor selector", "selector: {}"}},
		{name: "empty names, no selector", data: pairingHeader + "rules:\n" + ok + "- names: []\n  role: apinet\n", wantErr: []string{"rule 2: ", "neither names nor selector"}},
		{name: "null selector", data: pairingHeader + "rules:\n" + ok + "- selector: null\n  role: apinet\n", wantErr: []string{"rule 2: ", "neither names nor selector"}},
		{name: "null rule", data: pairingHeader + "rules:\n" + ok + "- null\n", wantErr: []string{"rule 2: ", "neither names nor selector"}},
		{name: "ironcore without peer", data: pairingHeader + "rules:\n" + ok + "- names: [b]\n  role: ironcore\n", wantErr: []string{"rule 2: ", "role ironcore needs a peer"}},
		{name: "apinet with peer", data: pairingHeader + "rules:\n" + ok + "- names: [b]\n  role: apinet\n  peer: c\n", wantErr: []string{"rule 2: ", `role apinet takes no peer (peer "c")`}},
		{name: "no role", data: pairingHeader + "rules:\n" + ok + "- names: [b]\n", wantErr: []string{"rule 2: ", `role "" is not "ironcore" or "apinet"`}},
		{name: "bad role", data: pairingHeader + "rules:\n" + ok + "- names: [b]\n  role: IronCore\n  peer: c\n", wantErr: []string{"rule 2: ", `role "IronCore" is not`}},
		{name: "bad namespace", data: pairingHeader + "rules:\n" + ok + "- namespace: Fleet\n  names: [b]\n  role: apinet\n", wantErr: []string{"rule 2: ", `namespace "Fleet"`}},
		{name: "dotted namespace", data: pairingHeader + "rules:\n" + ok + "- namespace: a.b\n  names: [b]\n  role: apinet\n", wantErr: []string{"rule 2: ", `namespace "a.b"`}},
		{name: "bad name", data: pairingHeader + "rules:\n" + ok + "- names: [b, B_1]\n  role: apinet\n", wantErr: []string{"rule 2: ", `name "B_1"`}},
		{name: "empty name", data: pairingHeader + "rules:\n" + ok + "- names: ['']\n  role: apinet\n", wantErr: []string{"rule 2: ", `name ""`}},
		{name: "bad peer", data: pairingHeader + "rules:\n" + ok + "- names: [b]\n  role: ironcore\n  peer: apinet-\n", wantErr: []string{"rule 2: ", `peer "apinet-"`}},
		{name: "bad selector operator", data: pairingHeader + "rules:\n" + ok + "- selector:\n    matchExpressions: [{key: a, operator: Like, values: [b]}]\n  role: apinet\n", wantErr: []string{"rule 2: ", "selector: ", "Like"}},
		{name: "In without values", data: pairingHeader + "rules:\n" + ok + "- selector:\n    matchExpressions: [{key: a, operator: In}]\n  role: apinet\n", wantErr: []string{"rule 2: ", "selector: "}},
		{name: "bad selector label value", data: pairingHeader + "rules:\n" + ok + "- selector: {matchLabels: {a: 'b c'}}\n  role: apinet\n", wantErr: []string{"rule 2: ", "selector: "}},
		{name: "every bad rule is named", data: pairingHeader + "rules:\n- names: [a]\n  role: ironcore\n" + ok + "- names: [b]\n  role: x\n",
			wantErr: []string{"rule 1: role ironcore needs a peer", "rule 3: role \"x\""}},
		{name: "larger than 1 MiB", data: validPairing + "#" + strings.Repeat("x", maxPairingFile), wantErr: []string{"larger than 1048576 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg, err := ParsePairing([]byte(tt.data))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ParsePairing() error = %v", err)
				}
				if pg == nil {
					t.Fatal("ParsePairing() = nil, nil")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePairing() = %+v, want an error with %q", pg, tt.wantErr)
			}
			if pg != nil {
				t.Errorf("ParsePairing() = %+v with error %v, want nil", pg, err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("ParsePairing() error = %q, want it to contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "rule 1: ") && !strings.Contains(strings.Join(tt.wantErr, "\n"), "rule 1: ") {
				t.Errorf("ParsePairing() error = %q blames the valid rule 1", err)
			}
		})
	}

	// Exactly 1 MiB is still read.
	data := []byte(validPairing + "#")
	data = append(data, strings.Repeat("x", maxPairingFile-len(data))...)
	if _, err := ParsePairing(data); err != nil {
		t.Errorf("ParsePairing(%d bytes) error = %v", len(data), err)
	}
}

func TestPairingAssign(t *testing.T) {
	pg := mustParsePairing(t, `rules:
- namespace: fleet
  names: [member-1, member-2]
  role: ironcore
  peer: apinet-a
- namespace: fleet
  names: [member-1, member-3]
  role: ironcore
  peer: apinet-z
- selector: {matchLabels: {env: prod}}
  role: ironcore
  peer: apinet-b
- names: [apinet-a, apinet-b]
  selector:
    matchExpressions: [{key: network, operator: Exists}]
  role: apinet
`)
	tests := []struct {
		name    string
		pg      *Pairing
		ns, n   string
		labels  map[string]string
		want    Assignment
		wantOK  bool
		selects bool
	}{
		{
			name: "label wins over a matching rule", pg: pg, ns: "fleet", n: "member-1",
			labels: map[string]string{LabelRole: "apinet", "env": "prod"},
			want:   Assignment{Role: "apinet", From: "label"}, wantOK: true,
		},
		{
			name: "label wins, peer from the peer label", pg: pg, ns: "fleet", n: "member-1",
			labels: map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-x"},
			want:   Assignment{Role: "ironcore", Peer: "apinet-x", From: "label"}, wantOK: true,
		},
		{
			name: "an empty role label still wins", pg: pg, ns: "fleet", n: "member-1",
			labels: map[string]string{LabelRole: ""},
			want:   Assignment{From: "label"}, wantOK: true,
		},
		{
			name: "peer label alone is no label", pg: pg, ns: "fleet", n: "member-2",
			labels: map[string]string{LabelPeer: "apinet-x"},
			want:   Assignment{Role: "ironcore", Peer: "apinet-a", From: "pairing rule 1", Paired: true}, wantOK: true,
		},
		{
			name: "first matching rule wins", pg: pg, ns: "fleet", n: "member-1",
			want: Assignment{Role: "ironcore", Peer: "apinet-a", From: "pairing rule 1", Paired: true}, wantOK: true,
		},
		{
			name: "a later rule matches what the first does not", pg: pg, ns: "fleet", n: "member-3",
			want: Assignment{Role: "ironcore", Peer: "apinet-z", From: "pairing rule 2", Paired: true}, wantOK: true,
		},
		{
			name: "namespace restricts", pg: pg, ns: "other", n: "member-1",
		},
		{
			name: "namespace restricts, a later rule without one matches", pg: pg, ns: "other", n: "member-1",
			labels: map[string]string{"env": "prod"},
			want:   Assignment{Role: "ironcore", Peer: "apinet-b", From: "pairing rule 3", Paired: true}, wantOK: true,
		},
		{
			name: "names restrict", pg: pg, ns: "fleet", n: "member-4",
		},
		{
			name: "names are whole names", pg: pg, ns: "fleet", n: "member-10",
		},
		{
			name: "selector matches in any namespace", pg: pg, ns: "elsewhere", n: "anything",
			labels: map[string]string{"env": "prod", "zone": "a"},
			want:   Assignment{Role: "ironcore", Peer: "apinet-b", From: "pairing rule 3", Paired: true}, wantOK: true,
		},
		{
			name: "selector restricts", pg: pg, ns: "elsewhere", n: "anything",
			labels: map[string]string{"env": "dev"},
		},
		{
			name: "names and selector: both", pg: pg, ns: "x", n: "apinet-b",
			labels: map[string]string{"network": ""},
			want:   Assignment{Role: "apinet", From: "pairing rule 4", Paired: true}, wantOK: true,
		},
		{
			name: "names and selector: name without labels", pg: pg, ns: "x", n: "apinet-b",
		},
		{
			name: "names and selector: labels without name", pg: pg, ns: "x", n: "apinet-c",
			labels: map[string]string{"network": "yes"},
		},
		{
			name: "nil pairing: unlabelled profile", pg: nil, ns: "fleet", n: "member-1",
			labels: map[string]string{"env": "prod"},
		},
		{
			name: "nil pairing: labelled profile", pg: nil, ns: "fleet", n: "member-1",
			labels: map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"},
			want:   Assignment{Role: "ironcore", Peer: "apinet-a", From: "label"}, wantOK: true,
		},
		{
			name: "zero pairing: unlabelled profile", pg: &Pairing{}, ns: "fleet", n: "member-1",
		},
		{
			name: "zero pairing: labelled profile", pg: &Pairing{}, ns: "fleet", n: "member-1",
			labels: map[string]string{LabelRole: "apinet"},
			want:   Assignment{Role: "apinet", From: "label"}, wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := newProfile(tt.ns, tt.n, tt.labels, nil)
			got, ok := tt.pg.Assign(cp)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Assign() = %+v, %t; want %+v, %t", got, ok, tt.want, tt.wantOK)
			}
			if sel := tt.pg.Selects(cp); sel != tt.wantOK {
				t.Errorf("Selects() = %t, want %t", sel, tt.wantOK)
			}
		})
	}

	for _, tt := range []struct {
		name string
		pg   *Pairing
		want bool
	}{
		{"nil", nil, false},
		{"zero", &Pairing{}, false},
		{"no rules", mustParsePairing(t, "rules: []\n"), false},
		{"rules", pg, true},
	} {
		if got := tt.pg.PairsUnlabelled(); got != tt.want {
			t.Errorf("PairsUnlabelled() of %s pairing = %t, want %t", tt.name, got, tt.want)
		}
	}
}

func TestPairingParse(t *testing.T) {
	pg := mustParsePairing(t, `rules:
- namespace: fleet
  names: [member-1]
  role: ironcore
  peer: apinet-a
- namespace: fleet
  names: [apinet-a]
  role: apinet
`)
	key := types.NamespacedName{Namespace: "fleet", Name: "member-1"}
	tests := []struct {
		name        string
		pg          *Pairing
		n           string
		labels      map[string]string
		annotations map[string]string
		want        *Profile
		wantReason  string
		wantMessage string
	}{
		{
			name: "paired ironcore profile", pg: pg, n: "member-1",
			want: &Profile{Key: key, Name: "fleet/member-1", Role: RoleIronCore, Paired: true,
				Peer: types.NamespacedName{Namespace: "fleet", Name: "apinet-a"}, APINetNamespace: DefaultAPINetNamespace(key)},
		},
		{
			name: "paired ironcore profile honours the apinet-namespace annotation", pg: pg, n: "member-1",
			annotations: map[string]string{AnnotationAPINetNamespace: "tenant-1"},
			want: &Profile{Key: key, Name: "fleet/member-1", Role: RoleIronCore, Paired: true,
				Peer: types.NamespacedName{Namespace: "fleet", Name: "apinet-a"}, APINetNamespace: "tenant-1"},
		},
		{
			name: "paired ironcore profile with a bad apinet-namespace annotation", pg: pg, n: "member-1",
			annotations: map[string]string{AnnotationAPINetNamespace: "kube-system"},
			wantReason:  ReasonNamespaceInvalid,
		},
		{
			name: "paired apinet profile", pg: pg, n: "apinet-a",
			want: &Profile{Key: types.NamespacedName{Namespace: "fleet", Name: "apinet-a"}, Name: "fleet/apinet-a", Role: RoleAPINet, Paired: true},
		},
		{
			name: "labelled profile is not paired", pg: pg, n: "member-1",
			labels: map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-b"},
			want: &Profile{Key: key, Name: "fleet/member-1", Role: RoleIronCore,
				Peer: types.NamespacedName{Namespace: "fleet", Name: "apinet-b"}, APINetNamespace: DefaultAPINetNamespace(key)},
		},
		{
			name: "labelled profile with a bad role is not rescued by a rule", pg: pg, n: "member-1",
			labels:     map[string]string{LabelRole: "gardener"},
			wantReason: ReasonRoleInvalid, wantMessage: "label " + LabelRole,
		},
		{
			name: "no rule matches", pg: pg, n: "member-2",
			wantReason: ReasonRoleInvalid,
		},
		{
			name: "nil pairing, no labels", pg: nil, n: "member-1",
			wantReason: ReasonRoleInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := tt.pg.Parse(newProfile("fleet", tt.n, tt.labels, tt.annotations))
			if tt.wantReason != "" {
				if got != nil || problem == nil || problem.Reason != tt.wantReason || problem.Message == "" {
					t.Fatalf("Parse() = %+v, %+v; want a %s problem", got, problem, tt.wantReason)
				}
				if !strings.Contains(problem.Message, tt.wantMessage) {
					t.Errorf("Parse() problem message = %q, want it to contain %q", problem.Message, tt.wantMessage)
				}
				return
			}
			if problem != nil {
				t.Fatalf("Parse() problem = %v", problem)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() = %+v, want %+v", *got, *tt.want)
			}
		})
	}

	// A pairing rule that gives an ironcore profile a peer that parseAssigned
	// refuses cannot be written (ParsePairing checks the peer); messages of
	// problems from a rule name it. A rule's fields are exported, so build
	// one by hand to see the message.
	hand := mustParsePairing(t, "rules:\n- names: [member-1]\n  role: ironcore\n  peer: apinet-a\n")
	hand.Rules[0].Peer = "Bad_Peer"
	if _, problem := hand.Parse(newProfile("fleet", "member-1", nil, nil)); problem == nil || problem.Reason != ReasonPeerNotFound ||
		!strings.Contains(problem.Message, "pairing rule 1 (peer)") {
		t.Errorf("Parse() with a bad peer from a rule: problem = %+v, want %s naming pairing rule 1 (peer)", problem, ReasonPeerNotFound)
	}
}

// recordedProfile is a profile with the given labels and status properties
// (name, value pairs).
func recordedProfile(labels map[string]string, props ...string) *clusterinventoryv1alpha1.ClusterProfile {
	cp := newProfile("fleet", "member-1", labels, nil)
	for i := 0; i+1 < len(props); i += 2 {
		cp.Status.Properties = append(cp.Status.Properties, clusterinventoryv1alpha1.Property{Name: props[i], Value: props[i+1]})
	}
	return cp
}

func TestRecorded(t *testing.T) {
	key := types.NamespacedName{Namespace: "fleet", Name: "member-1"}
	tests := []struct {
		name       string
		cp         *clusterinventoryv1alpha1.ClusterProfile
		want       Assignment
		wantOK     bool
		wantParsed *Profile
		wantReason string
	}{
		{
			name:   "labels",
			cp:     recordedProfile(map[string]string{LabelRole: "ironcore", LabelPeer: "apinet-a"}),
			want:   Assignment{Role: "ironcore", Peer: "apinet-a", From: "label"},
			wantOK: true,
			wantParsed: &Profile{Key: key, Name: "fleet/member-1", Role: RoleIronCore,
				Peer: types.NamespacedName{Namespace: "fleet", Name: "apinet-a"}, APINetNamespace: DefaultAPINetNamespace(key)},
		},
		{
			name:       "labels first",
			cp:         recordedProfile(map[string]string{LabelRole: "apinet"}, PropertyRole, "ironcore", PropertyPeer, "apinet-a"),
			want:       Assignment{Role: "apinet", From: "label"},
			wantOK:     true,
			wantParsed: &Profile{Key: key, Name: "fleet/member-1", Role: RoleAPINet},
		},
		{
			name:   "recorded ironcore",
			cp:     recordedProfile(map[string]string{"other": "x"}, "other.io/p", "v", PropertyRole, "ironcore", PropertyPeer, "apinet-a"),
			want:   Assignment{Role: "ironcore", Peer: "apinet-a", From: "the hub's pairing", Paired: true},
			wantOK: true,
			wantParsed: &Profile{Key: key, Name: "fleet/member-1", Role: RoleIronCore, Paired: true,
				Peer: types.NamespacedName{Namespace: "fleet", Name: "apinet-a"}, APINetNamespace: DefaultAPINetNamespace(key)},
		},
		{
			name:       "recorded apinet",
			cp:         recordedProfile(nil, PropertyRole, "apinet"),
			want:       Assignment{Role: "apinet", From: "the hub's pairing", Paired: true},
			wantOK:     true,
			wantParsed: &Profile{Key: key, Name: "fleet/member-1", Role: RoleAPINet, Paired: true},
		},
		{
			name:       "recorded ironcore without a peer",
			cp:         recordedProfile(nil, PropertyRole, "ironcore"),
			want:       Assignment{Role: "ironcore", From: "the hub's pairing", Paired: true},
			wantOK:     true,
			wantReason: ReasonPeerNotFound,
		},
		{
			name:       "a recorded peer alone is nothing",
			cp:         recordedProfile(nil, PropertyPeer, "apinet-a"),
			wantReason: ReasonRoleInvalid,
		},
		{
			name:       "nothing",
			cp:         recordedProfile(nil),
			wantReason: ReasonRoleInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Recorded(tt.cp)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Recorded() = %+v, %t; want %+v, %t", got, ok, tt.want, tt.wantOK)
			}
			p, problem := ParseRecorded(tt.cp)
			if tt.wantReason != "" {
				if p != nil || problem == nil || problem.Reason != tt.wantReason {
					t.Errorf("ParseRecorded() = %+v, %+v; want a %s problem", p, problem, tt.wantReason)
				}
				return
			}
			if problem != nil || !reflect.DeepEqual(p, tt.wantParsed) {
				t.Errorf("ParseRecorded() = %+v, %v; want %+v", p, problem, tt.wantParsed)
			}
		})
	}
}

func TestLoadPairing(t *testing.T) {
	pg, err := LoadPairing("")
	if pg != nil || err != nil {
		t.Errorf(`LoadPairing("") = %+v, %v; want nil, nil`, pg, err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "pairing.yaml")
	if err := os.WriteFile(file, []byte(validPairing), 0o600); err != nil {
		t.Fatal(err)
	}
	pg, err = LoadPairing(file)
	if err != nil || pg == nil || len(pg.Rules) != 3 {
		t.Fatalf("LoadPairing(%s) = %+v, %v", file, pg, err)
	}
	if a, ok := pg.Assign(newProfile("fleet", "member-2", nil, nil)); !ok || a.Peer != "apinet-a" {
		t.Errorf("Assign() with the loaded pairing = %+v, %t", a, ok)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(pairingHeader+"rules:\n- names: [a]\n  role: ironcore\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPairing(bad); err == nil || !strings.Contains(err.Error(), "pairing file "+bad+": rule 1: ") {
		t.Errorf("LoadPairing(bad) error = %v, want one naming the file and rule 1", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(validPairing+"#"+strings.Repeat("x", 2*maxPairingFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPairing(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadPairing(big) error = %v, want larger than", err)
	}

	if _, err := LoadPairing(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "pairing file") {
		t.Errorf("LoadPairing(missing) error = %v", err)
	}

	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if pg, err := LoadPairing(link); err != nil || pg == nil {
		t.Errorf("LoadPairing(symlink to a file) = %+v, %v; want it read (ConfigMap mounts are symlinks)", pg, err)
	}

	if _, err := LoadPairing(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadPairing(directory) error = %v, want not a regular file", err)
	}
}

// TestLoadPairingFIFO: a FIFO (or another special file) given as the
// pairing file is refused at once, not read, and does not block the hub's
// start until something writes to it.
func TestLoadPairingFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := LoadPairing(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("LoadPairing(FIFO) error = %v, want not a regular file", err)
		}
	case <-time.After(2 * time.Second):
		// Open a writer so that the blocked open returns and the
		// goroutine ends.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
		t.Errorf("LoadPairing(FIFO) blocked in open until a writer came, want not a regular file at once")
	}
}
