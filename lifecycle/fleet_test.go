package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

const exampleFleet = `apiVersion: apinet-hub.ironcore.dev/v1alpha1
kind: Fleet
namespace: fleet
clusters:
- name: ironcore-1
  role: ironcore
  peer: apinet-1
  apinetNamespace: ic-1
  takeOver: true
  settings:
    apinet-hub.ironcore.dev/nat-max-public-ips: "4"
  credentials:
    kubeconfig: kubeconfigs/ironcore-1.kubeconfig
    context: admin
    createServiceAccount: true
- name: apinet-1
  role: apinet
  credentials:
    kubeconfig: /abs/apinet.kubeconfig
    accessProvider: secretreader
`

func TestParseFleet(t *testing.T) {
	f, err := ParseFleet([]byte(exampleFleet))
	if err != nil {
		t.Fatal(err)
	}
	want := &Fleet{APIVersion: FleetAPIVersion, Kind: FleetKind, Namespace: "fleet", Clusters: []FleetCluster{
		{Name: "ironcore-1", Role: clusterprofiles.RoleIronCore, Peer: "apinet-1", APINetNamespace: "ic-1", TakeOver: true,
			Settings:    map[string]string{clusterprofiles.AnnotationNATMaxPublicIPs: "4"},
			Credentials: FleetCredentials{Kubeconfig: "kubeconfigs/ironcore-1.kubeconfig", Context: "admin", CreateServiceAccount: true}},
		{Name: "apinet-1", Role: clusterprofiles.RoleAPINet, Credentials: FleetCredentials{Kubeconfig: "/abs/apinet.kubeconfig", AccessProvider: "secretreader"}},
	}}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got %+v\nwant %+v", f, want)
	}
	if got := f.Ordered(); got[0].Name != "apinet-1" || got[1].Name != "ironcore-1" {
		t.Errorf("Ordered: %s, %s; want the apinet cluster first", got[0].Name, got[1].Name)
	}
	if got := f.Clusters[0].KubeconfigPath("/repo/fleet"); got != "/repo/fleet/kubeconfigs/ironcore-1.kubeconfig" {
		t.Errorf("KubeconfigPath relative: %s", got)
	}
	if got := f.Clusters[1].KubeconfigPath("/repo/fleet"); got != "/abs/apinet.kubeconfig" {
		t.Errorf("KubeconfigPath absolute: %s", got)
	}
	for _, c := range f.Clusters {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

func TestParseFleetErrors(t *testing.T) {
	head := "apiVersion: apinet-hub.ironcore.dev/v1alpha1\nkind: Fleet\n"
	for _, tc := range []struct{ doc, want string }{
		{"apiVersion: v1\nkind: Fleet\n", `apiVersion "v1", kind "Fleet"; want apiVersion apinet-hub.ironcore.dev/v1alpha1, kind Fleet`},
		{head + "cluster: []\n", `unknown field "cluster"`},
		{head + "namespace: Fleet\n", `namespace "Fleet" is not a namespace name`},
		{head + "clusters:\n- name: a\n  role: apinet\n- name: b\n  roles: apinet\n", `clusters[1] (b): error unmarshaling JSON: while decoding JSON: json: unknown field "roles"`},
		{head + "clusters:\n- name: a\n  credentials: {kubeconfig: x, contxt: y}\n", `clusters[0] (a):`},
		{head + "clusters:\n- role: apinet\n", "clusters[0]: no name"},
		{head + "clusters:\n- name: a\n- name: a\n", `clusters[0] and clusters[1] are both named "a"`},
		{head + "clusters:\n- name: a\n  takeOver: yes-please\n", "clusters[0] (a):"},
		{head + "namespace: a\nnamespace: b\n", "already set in map"},
		{"- not a map\n", "fleet file:"},
	} {
		_, err := ParseFleet([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestFleetClusterValidate(t *testing.T) {
	member := func(edit func(*FleetCluster)) FleetCluster {
		c := FleetCluster{Name: "ironcore-1", Role: clusterprofiles.RoleIronCore, Peer: "apinet-1"}
		edit(&c)
		return c
	}
	for _, tc := range []struct {
		c    FleetCluster
		want string // "" means valid
	}{
		{member(func(*FleetCluster) {}), ""},
		{member(func(c *FleetCluster) { c.Name = "Ironcore_1" }), `name "Ironcore_1" is not a DNS label`},
		{member(func(c *FleetCluster) { c.Peer = "" }), "peer is required for role ironcore"},
		{member(func(c *FleetCluster) { c.Role = "member" }), `role "member" is not ironcore or apinet`},
		{member(func(c *FleetCluster) { c.Role = "" }), "role is required"},
		{member(func(c *FleetCluster) { c.APINetNamespace = "kube-system" }), "is a system namespace of the peer"},
		{member(func(c *FleetCluster) { c.Role = clusterprofiles.RoleAPINet; c.TakeOver = true }), "peer applies to role ironcore only; takeOver applies to role ironcore only"},
		{member(func(c *FleetCluster) {
			c.Settings = map[string]string{clusterprofiles.AnnotationTakeOver: "true"}
		}), "apinet-hub.ironcore.dev/take-over is not a setting (use takeOver)"},
		{member(func(c *FleetCluster) { c.Settings = map[string]string{"example.com/x": "1"} }), "is not an annotation of the hub"},
		{member(func(c *FleetCluster) {
			c.Settings = map[string]string{clusterprofiles.AnnotationNATMaxPublicIPs: "many"}
		}), ""}, // values: Onboarding.Validate
		{member(func(c *FleetCluster) {
			c.Credentials = FleetCredentials{AccessProvider: "p", CreateServiceAccount: true}
		}), "accessProvider and createServiceAccount exclude each other"},
	} {
		err := tc.c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: error %v, want %q", tc.c, err, tc.want)
		}
	}
}

func TestApplyFleet(t *testing.T) {
	f := &Fleet{Clusters: []FleetCluster{
		{Name: "ironcore-1", Role: clusterprofiles.RoleIronCore, Peer: "apinet-1"},
		{Name: "ironcore-2", Role: clusterprofiles.RoleIronCore, Peer: "apinet-2"},
		{Name: "bad", Role: "member"},
		{Name: "apinet-1", Role: clusterprofiles.RoleAPINet},
		{Name: "apinet-2", Role: clusterprofiles.RoleAPINet},
	}}
	var tried []string
	outcomes := ApplyFleet(context.Background(), f, func(_ context.Context, c FleetCluster) ([]Applied, error) {
		tried = append(tried, c.Name)
		switch c.Name {
		case "apinet-2":
			return nil, errors.New("cluster at https://x is unreachable")
		case "ironcore-1":
			return []Applied{{Kind: "secret", Result: Unchanged}, {Kind: "clusterprofile", Result: Configured}}, nil
		}
		return []Applied{{Kind: "secret", Result: Created}, {Kind: "clusterprofile", Result: Created}}, nil
	})
	if want := []string{"apinet-1", "apinet-2", "ironcore-1"}; !reflect.DeepEqual(tried, want) {
		t.Errorf("tried %v, want %v", tried, want)
	}
	var lines []string
	for _, o := range outcomes {
		lines = append(lines, o.String())
	}
	want := []string{
		"apinet-1 created (secret created, clusterprofile created)",
		"apinet-2 failed: cluster at https://x is unreachable",
		"ironcore-1 configured (secret unchanged, clusterprofile configured)",
		"ironcore-2 failed: peer apinet-2 failed above",
		`bad failed: role "member" is not ironcore or apinet`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got := (ClusterOutcome{Applied: []Applied{{Kind: "clusterprofile", Result: Unchanged}}}).Result(); got != Unchanged {
		t.Errorf("all unchanged: %s", got)
	}
}

func TestExportFleetRoundTrips(t *testing.T) {
	profile := func(name string, labels, annotations map[string]string, providers ...string) clusterinventoryv1alpha1.ClusterProfile {
		cp := clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleet", Labels: labels, Annotations: annotations}}
		for _, p := range providers {
			cp.Status.AccessProviders = append(cp.Status.AccessProviders, clusterinventoryv1alpha1.AccessProvider{Name: p})
		}
		return cp
	}
	profiles := []clusterinventoryv1alpha1.ClusterProfile{
		profile("ironcore-1", RoleLabels(clusterprofiles.RoleIronCore, "apinet-1"), map[string]string{
			clusterprofiles.AnnotationAPINetNamespace: "ic-1", clusterprofiles.AnnotationTakeOver: "true",
			clusterprofiles.AnnotationNATMaxPublicIPs: "4", clusterprofiles.AnnotationTakenOver: "x",
			"kubectl.kubernetes.io/last-applied-configuration": "{}",
		}),
		profile("apinet-1", RoleLabels(clusterprofiles.RoleAPINet, ""), nil, "secretreader"),
	}
	f := ExportFleet("fleet", profiles, map[string]bool{"ironcore-1": true})
	want := []FleetCluster{
		{Name: "apinet-1", Role: clusterprofiles.RoleAPINet, Credentials: FleetCredentials{Kubeconfig: "apinet-1.kubeconfig", AccessProvider: "secretreader"}},
		{Name: "ironcore-1", Role: clusterprofiles.RoleIronCore, Peer: "apinet-1", APINetNamespace: "ic-1", TakeOver: true,
			Settings:    map[string]string{clusterprofiles.AnnotationNATMaxPublicIPs: "4"},
			Credentials: FleetCredentials{Kubeconfig: "ironcore-1.kubeconfig", CreateServiceAccount: true}},
	}
	if !reflect.DeepEqual(f.Clusters, want) {
		t.Fatalf("got %+v\nwant %+v", f.Clusters, want)
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseFleet(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(back, f) {
		t.Errorf("round trip: got %+v\nwant %+v", back, f)
	}
}

// FuzzParseFleet: ParseFleet never panics; what it accepts marshals and
// parses back to the same fleet, and each entry's Validate does not panic.
func FuzzParseFleet(f *testing.F) {
	f.Add([]byte(exampleFleet))
	f.Add([]byte("apiVersion: apinet-hub.ironcore.dev/v1alpha1\nkind: Fleet\nclusters:\n- name: a\n  settings: {x: 1}\n"))
	f.Add([]byte("apiVersion: apinet-hub.ironcore.dev/v1alpha1\nkind: Fleet\nclusters: [{name: a, credentials: {kubeconfig: \"\\0\"}}]\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := ParseFleet(data)
		if err != nil {
			if fl != nil {
				t.Fatalf("fleet alongside error %v", err)
			}
			return
		}
		for _, c := range fl.Clusters {
			_ = c.Validate()
			_ = c.KubeconfigPath("/dir")
		}
		_ = fl.Ordered()
		out, err := yaml.Marshal(fl)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseFleet(out)
		if err != nil {
			t.Fatalf("marshalled fleet does not parse: %v\n%s", err, out)
		}
		if len(again.Clusters) != len(fl.Clusters) || !reflect.DeepEqual(normalize(again), normalize(fl)) {
			t.Fatalf("round trip changed the fleet:\n%+v\n%+v", fl, again)
		}
	})
}

// normalize drops the difference between nil and empty maps.
func normalize(f *Fleet) *Fleet {
	out := *f
	out.Clusters = append([]FleetCluster(nil), f.Clusters...)
	for i := range out.Clusters {
		if len(out.Clusters[i].Settings) == 0 {
			out.Clusters[i].Settings = nil
		}
	}
	return &out
}

func TestStoredToken(t *testing.T) {
	kc, err := clientcmd.Load([]byte(validKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	access := ServiceAccountAccess{Namespace: "apinet-hub", Name: "apinet-hub", Role: clusterprofiles.RoleIronCore}
	stored, err := TokenKubeconfig(kc, "", "the-token")
	if err != nil {
		t.Fatal(err)
	}
	secret := func(edit func(*corev1.Secret)) *corev1.Secret {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
				AnnotationServiceAccount: "apinet-hub/apinet-hub", AnnotationTokenAnchor: "apinet-hub/apinet-hub-token-abcde", "other": "x",
			}},
			Data: map[string][]byte{clusterprofiles.SecretKeyConfig: stored},
		}
		edit(s)
		return s
	}
	moved := kc.DeepCopy()
	for _, c := range moved.Clusters {
		c.Server = "https://10.0.0.1:6443"
	}
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		kc     *clientcmdapi.Config
		ok     bool
	}{
		{"the same cluster and ServiceAccount", secret(func(*corev1.Secret) {}), kc, true},
		{"no Secret", nil, kc, false},
		{"another ServiceAccount", secret(func(s *corev1.Secret) { s.Annotations[AnnotationServiceAccount] = "x/y" }), kc, false},
		{"no anchor", secret(func(s *corev1.Secret) { delete(s.Annotations, AnnotationTokenAnchor) }), kc, false},
		{"the cluster moved", secret(func(*corev1.Secret) {}), moved, false},
		{"not a kubeconfig", secret(func(s *corev1.Secret) { s.Data[clusterprofiles.SecretKeyConfig] = []byte("{") }), kc, false},
		{"not a token", secret(func(s *corev1.Secret) { s.Data[clusterprofiles.SecretKeyConfig] = []byte(validKubeconfig) }), kc, false},
	} {
		data, annotations, ok := StoredToken(tc.secret, tc.kc, "", access)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if ok && (!bytes.Equal(data, stored) || len(annotations) != 2 || annotations[AnnotationTokenAnchor] != "apinet-hub/apinet-hub-token-abcde") {
			t.Errorf("%s: kubeconfig or annotations differ: %v", tc.name, annotations)
		}
	}
}
