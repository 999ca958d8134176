package lifecycle

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// validKubeconfig is a kubeconfig the hub accepts in a credential Secret.
const validKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: bm90IHJlYWxseSBhIGNlcnRpZmljYXRl
users:
- name: u
  user:
    token: secret-token
contexts:
- name: ctx
  context:
    cluster: c
    user: u
current-context: ctx
`

func TestProfileNameFromContext(t *testing.T) {
	long := strings.Repeat("a", 70)
	for _, tc := range []struct{ context, want string }{
		{"ironcore-1", "ironcore-1"},
		{"kind-IronCore-EU1", "kind-ironcore-eu1"},
		{"admin@prod.eu-west", "admin-prod-eu-west"},
		{"arn:aws:eks:eu-west-1:123456789012:cluster/prod", "arn-aws-eks-eu-west-1-123456789012-cluster-prod"},
		{"gke_project_europe-west3_member", "gke-project-europe-west3-member"},
		{"--a__b--", "a-b"},
		{"1st", "1st"},
		{"Ünïcode", "n-code"},
		{"", ""},
		{"@@@", ""},
		{long, clusterprofiles.BoundedName(long, 63)},
	} {
		got := ProfileNameFromContext(tc.context)
		if got != tc.want {
			t.Errorf("ProfileNameFromContext(%q) = %q, want %q", tc.context, got, tc.want)
		}
		if got != "" {
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("ProfileNameFromContext(%q) = %q, not a DNS label: %v", tc.context, got, errs)
			}
		}
	}
	if a, b := ProfileNameFromContext(long+"x"), ProfileNameFromContext(long+"y"); a == b {
		t.Errorf("long contexts that differ map to one name %q", a)
	}
}

// writeFile writes data to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// twoContexts is a kubeconfig with contexts "member" (cluster m, user mu)
// and "other" (cluster o, user ou); fragments are YAML indented for their
// place.
func twoContexts(memberCluster, memberUser, current string) string {
	return "apiVersion: v1\nkind: Config\nclusters:\n" +
		"- name: m\n  cluster:\n" + memberCluster +
		"- name: o\n  cluster:\n    server: https://other.example.com\n" +
		"users:\n- name: mu\n  user:\n" + memberUser +
		"- name: ou\n  user:\n    token: other-token\n" +
		"contexts:\n- name: member\n  context:\n    cluster: m\n    user: mu\n    namespace: team\n" +
		"- name: other\n  context:\n    cluster: o\n    user: ou\n" +
		"current-context: " + current + "\n"
}

func TestCredentialKubeconfig(t *testing.T) {
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.crt", "CA PEM")
	cert := writeFile(t, dir, "client.crt", "CERT PEM")
	key := writeFile(t, dir, "client.key", "KEY PEM")
	token := writeFile(t, dir, "token", "file-token\n")
	empty := writeFile(t, dir, "empty", "")
	fifo := filepath.Join(dir, "fifo")
	fifoErr := mkfifo(fifo)
	server := "    server: https://member.example.com:6443\n"
	inlineCA := "    certificate-authority-data: " + base64.StdEncoding.EncodeToString([]byte("INLINE CA")) + "\n"

	for _, tc := range []struct {
		name, kubeconfig, context string
		// want* describe the single context of the result.
		wantCA, wantCert, wantKey, wantToken string
		wantErr                              string
		wantPlugin                           bool
		skip                                 error
	}{
		{
			name:       "current context with inline credentials",
			kubeconfig: twoContexts(server+inlineCA, "    token: inline-token\n", "member"),
			wantCA:     "INLINE CA", wantToken: "inline-token",
		},
		{
			name:       "named context, files inlined",
			kubeconfig: twoContexts(server+"    certificate-authority: "+ca+"\n", "    client-certificate: "+cert+"\n    client-key: "+key+"\n", "other"),
			context:    "member",
			wantCA:     "CA PEM", wantCert: "CERT PEM", wantKey: "KEY PEM",
		},
		{
			name:       "token file wins over an inline token, as in client-go",
			kubeconfig: twoContexts(server+inlineCA, "    token: stale\n    tokenFile: "+token+"\n", "member"),
			wantCA:     "INLINE CA", wantToken: "file-token",
		},
		{
			name:       "inline CA wins over a CA file",
			kubeconfig: twoContexts(server+inlineCA+"    certificate-authority: /does/not/exist\n", "    token: t\n", "member"),
			wantCA:     "INLINE CA", wantToken: "t",
		},
		{
			name:       "exec plugin",
			kubeconfig: twoContexts(server+inlineCA, "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: gke-gcloud-auth-plugin\n", "member"),
			wantErr:    `user "mu" gets its credentials from exec plugin "gke-gcloud-auth-plugin"`, wantPlugin: true,
		},
		{
			name:       "auth-provider plugin",
			kubeconfig: twoContexts(server+inlineCA, "    auth-provider:\n      name: oidc\n", "member"),
			wantErr:    `auth-provider "oidc"`, wantPlugin: true,
		},
		{
			name:       "an exec user of another context does not matter",
			kubeconfig: strings.Replace(twoContexts(server+inlineCA, "    token: t\n", "member"), "    token: other-token\n", "    exec:\n      command: x\n      apiVersion: client.authentication.k8s.io/v1\n", 1),
			wantCA:     "INLINE CA", wantToken: "t",
		},
		{
			name:       "no current context",
			kubeconfig: twoContexts(server, "    token: t\n", `""`),
			wantErr:    `no current-context; name one with --cluster-context (contexts: "member", "other")`,
		},
		{
			name:       "unknown context",
			kubeconfig: twoContexts(server, "    token: t\n", "member"),
			context:    "nope",
			wantErr:    `no context "nope"`,
		},
		{
			name:       "missing CA file",
			kubeconfig: twoContexts(server+"    certificate-authority: "+filepath.Join(dir, "missing")+"\n", "    token: t\n", "member"),
			wantErr:    "certificate-authority: stat",
		},
		{
			name:       "empty key file",
			kubeconfig: twoContexts(server+inlineCA, "    client-certificate: "+cert+"\n    client-key: "+empty+"\n", "member"),
			wantErr:    "client-key: " + empty + " is empty",
		},
		{
			name:       "a FIFO is not read",
			kubeconfig: twoContexts(server+inlineCA, "    tokenFile: "+fifo+"\n", "member"),
			wantErr:    "is not a regular file",
			skip:       fifoErr,
		},
		{
			name:       "http server",
			kubeconfig: twoContexts("    server: http://member.example.com\n", "    token: t\n", "member"),
			wantErr:    `cannot be stored in a credential Secret: cluster "m" server "http://member.example.com" is not an https URL`,
		},
		{
			name: "missing user",
			kubeconfig: "apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster:\n" + server +
				"contexts:\n- name: member\n  context:\n    cluster: m\n    user: ghost\ncurrent-context: member\n",
			wantErr: `names user "ghost", which the kubeconfig does not have`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != nil {
				t.Skip(tc.skip)
			}
			kc, err := clientcmd.Load([]byte(tc.kubeconfig))
			if err != nil {
				t.Fatal(err)
			}
			before := kc.DeepCopy()
			data, err := CredentialKubeconfig(kc, tc.context)
			if !reflect.DeepEqual(kc, before) {
				t.Errorf("CredentialKubeconfig changed its input")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				if errors.Is(err, ErrPluginCredentials) != tc.wantPlugin {
					t.Errorf("errors.Is(%v, ErrPluginCredentials) = %t", err, !tc.wantPlugin)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := clientcmd.Load(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Contexts) != 1 || len(out.Clusters) != 1 || len(out.AuthInfos) != 1 {
				t.Fatalf("not minified to one context, cluster and user:\n%s", data)
			}
			if out.CurrentContext != "member" || out.Contexts["member"].Namespace != "team" {
				t.Errorf("context = %q %+v", out.CurrentContext, out.Contexts["member"])
			}
			c, u := out.Clusters["m"], out.AuthInfos["mu"]
			if c.Server != "https://member.example.com:6443" || c.CertificateAuthority != "" || string(c.CertificateAuthorityData) != tc.wantCA {
				t.Errorf("cluster = %+v", c)
			}
			if string(u.ClientCertificateData) != tc.wantCert || string(u.ClientKeyData) != tc.wantKey || u.Token != tc.wantToken {
				t.Errorf("user = %+v", u)
			}
			if u.ClientCertificate != "" || u.ClientKey != "" || u.TokenFile != "" {
				t.Errorf("user still names files: %+v", u)
			}
			// What the hub accepts is safe (clusterprofiles' tests).
			if _, err := clusterprofiles.RESTConfigFromSecretKubeconfig(data); err != nil {
				t.Fatalf("the hub refuses the result: %v", err)
			}
		})
	}
}

func TestAccessProviderFor(t *testing.T) {
	ca := writeFile(t, t.TempDir(), "ca.crt", "CA PEM")
	kc, err := clientcmd.Load([]byte(twoContexts(
		"    server: https://member.example.com\n    certificate-authority: "+ca+"\n    tls-server-name: api.member\n    proxy-url: http://proxy:3128\n",
		"    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: get-token\n", "member")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := AccessProviderFor(kc, "", "vault")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "vault" || got.Cluster.Server != "https://member.example.com" || string(got.Cluster.CertificateAuthorityData) != "CA PEM" ||
		got.Cluster.CertificateAuthority != "" || got.Cluster.TLSServerName != "api.member" || got.Cluster.ProxyURL != "http://proxy:3128" {
		t.Errorf("AccessProviderFor() = %+v", got)
	}
}

func TestOnboardingObjects(t *testing.T) {
	kubeconfigData := []byte(validKubeconfig)
	member := Onboarding{
		Namespace: "fleet", Name: "ironcore-1", ClusterManager: "apinet-hub-onboard",
		Labels:      RoleLabels(clusterprofiles.RoleIronCore, "apinet-1"),
		Annotations: map[string]string{clusterprofiles.AnnotationAPINetNamespace: "tenant"},
		Kubeconfig:  kubeconfigData,
	}
	cp := member.ClusterProfile()
	if cp.APIVersion != "multicluster.x-k8s.io/v1alpha1" || cp.Kind != "ClusterProfile" || cp.Namespace != "fleet" || cp.Name != "ironcore-1" ||
		cp.Spec.ClusterManager.Name != "apinet-hub-onboard" {
		t.Errorf("ClusterProfile() = %+v", cp)
	}
	parsed, problem := clusterprofiles.Parse(cp)
	if problem != nil {
		t.Fatalf("Parse(ClusterProfile()) = %v", problem)
	}
	if parsed.Role != clusterprofiles.RoleIronCore || parsed.Peer.Name != "apinet-1" || parsed.APINetNamespace != "tenant" {
		t.Errorf("Parse(ClusterProfile()) = %+v", parsed)
	}
	secret := member.CredentialSecret()
	wantLabels := map[string]string{clusterprofiles.LabelSecretConsumer: clusterprofiles.DefaultConsumer, clusterprofiles.LabelSecretProfile: "ironcore-1"}
	if secret.Name != "ironcore-1-credentials" || secret.Namespace != "fleet" || !reflect.DeepEqual(secret.Labels, wantLabels) ||
		string(secret.Data[clusterprofiles.SecretKeyConfig]) != validKubeconfig || len(secret.Data) != 1 {
		t.Errorf("CredentialSecret() = %+v", secret)
	}
	member.Labels[clusterprofiles.LabelPeer] = "changed"
	member.Kubeconfig[0] = 'X'
	if cp.Labels[clusterprofiles.LabelPeer] != "apinet-1" || secret.Data[clusterprofiles.SecretKeyConfig][0] == 'X' {
		t.Error("the objects share maps or bytes with the Onboarding")
	}
	member.Labels[clusterprofiles.LabelPeer] = "apinet-1"
	member.Kubeconfig = []byte(validKubeconfig)

	manifests, err := member.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifests) != 2 || manifests[0].GetKind() != "Secret" || manifests[1].GetKind() != "ClusterProfile" {
		t.Fatalf("Manifests() = %v, want the Secret, then the profile", manifests)
	}
	wantProfile := map[string]any{
		"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile",
		"metadata": map[string]any{
			"namespace": "fleet", "name": "ironcore-1",
			"labels": map[string]any{clusterprofiles.LabelRole: "ironcore", clusterprofiles.LabelPeer: "apinet-1",
				clusterinventoryv1alpha1.LabelClusterManagerKey: "apinet-hub-onboard"},
			"annotations": map[string]any{clusterprofiles.AnnotationAPINetNamespace: "tenant"},
		},
		"spec": map[string]any{"clusterManager": map[string]any{"name": "apinet-hub-onboard"}},
	}
	if !reflect.DeepEqual(manifests[1].Object, wantProfile) {
		t.Errorf("profile manifest = %#v\nwant %#v", manifests[1].Object, wantProfile)
	}
	wantSecret := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{
			"namespace": "fleet", "name": "ironcore-1-credentials",
			"labels": map[string]any{clusterprofiles.LabelSecretConsumer: clusterprofiles.DefaultConsumer, clusterprofiles.LabelSecretProfile: "ironcore-1"},
		},
		"data": map[string]any{clusterprofiles.SecretKeyConfig: base64.StdEncoding.EncodeToString([]byte(validKubeconfig))},
	}
	if !reflect.DeepEqual(manifests[0].Object, wantSecret) {
		t.Errorf("Secret manifest = %#v\nwant %#v", manifests[0].Object, wantSecret)
	}

	peer := Onboarding{
		Namespace: "fleet", Name: "apinet-1", ClusterManager: "m", Consumer: "other",
		Labels:          RoleLabels(clusterprofiles.RoleAPINet, ""),
		AccessProviders: []clusterinventoryv1alpha1.AccessProvider{{Name: "vault"}},
	}
	peer.AccessProviders[0].Cluster.Server = "https://apinet.example.com"
	if peer.CredentialSecret() != nil {
		t.Error("an Onboarding without kubeconfig has a Secret")
	}
	if got := peer.ClusterProfile().Labels; !reflect.DeepEqual(got, map[string]string{clusterprofiles.LabelRole: "apinet", clusterinventoryv1alpha1.LabelClusterManagerKey: "m"}) {
		t.Errorf("apinet labels = %v", got)
	}
	manifests, err = peer.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifests) != 1 {
		t.Fatalf("Manifests() = %v, want the profile only", manifests)
	}
	wantStatus := map[string]any{"accessProviders": []any{map[string]any{"name": "vault", "cluster": map[string]any{"server": "https://apinet.example.com"}}}}
	if !reflect.DeepEqual(manifests[0].Object["status"], wantStatus) {
		t.Errorf("status = %#v, want %#v", manifests[0].Object["status"], wantStatus)
	}
}

// TestOnboardingTakeOver: TakeOver writes the take-over annotation next to
// the others, which the hub reads as the member's setting; left false,
// nothing is written, so that a later Apply without it removes it.
func TestOnboardingTakeOver(t *testing.T) {
	o := Onboarding{
		Namespace: "fleet", Name: "ironcore-1", ClusterManager: "m",
		Labels: RoleLabels(clusterprofiles.RoleIronCore, "apinet-1"), Annotations: map[string]string{clusterprofiles.AnnotationAPINetNamespace: "tenant"},
		TakeOver: true,
	}
	cp := o.ClusterProfile()
	want := map[string]string{clusterprofiles.AnnotationAPINetNamespace: "tenant", clusterprofiles.AnnotationTakeOver: "true"}
	if !reflect.DeepEqual(cp.Annotations, want) {
		t.Errorf("annotations = %v, want %v", cp.Annotations, want)
	}
	if _, isSet := o.Annotations[clusterprofiles.AnnotationTakeOver]; isSet {
		t.Error("ClusterProfile() wrote into the Onboarding's annotations")
	}
	if s, problems := clusterprofiles.ParseSettings(cp, clusterprofiles.Settings{}); !s.TakeOver || len(problems) > 0 {
		t.Errorf("ParseSettings(ClusterProfile()) = %+v, %v; want take-over", s, problems)
	}
	manifests, err := o.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedStringMap(manifests[0].Object, "metadata", "annotations"); !reflect.DeepEqual(got, want) {
		t.Errorf("manifest annotations = %v, want %v", got, want)
	}

	o.TakeOver, o.Annotations = false, nil
	if cp := o.ClusterProfile(); cp.Annotations != nil {
		t.Errorf("annotations without take-over = %v, want none", cp.Annotations)
	}
	manifests, err = o.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(manifests[0].Object, "metadata", "annotations"); found {
		t.Errorf("manifest without take-over has annotations: %v", manifests[0].Object["metadata"])
	}
}

func TestOnboardingValidate(t *testing.T) {
	valid := func() Onboarding {
		return Onboarding{
			Namespace: "fleet", Name: "ironcore-1", ClusterManager: "m",
			Labels: RoleLabels(clusterprofiles.RoleIronCore, "apinet-1"), Kubeconfig: []byte(validKubeconfig),
		}
	}
	for _, tc := range []struct {
		name    string
		change  func(*Onboarding)
		wantErr string
	}{
		{name: "valid", change: func(*Onboarding) {}},
		{name: "apinet without credentials", change: func(o *Onboarding) { o.Labels, o.Kubeconfig = RoleLabels(clusterprofiles.RoleAPINet, ""), nil }},
		{name: "namespace", change: func(o *Onboarding) { o.Namespace = "Fleet" }, wantErr: `namespace "Fleet" is not a namespace name`},
		{name: "dotted name", change: func(o *Onboarding) { o.Name = "a.b" }, wantErr: `profile name "a.b" is not a DNS label`},
		{name: "no cluster manager", change: func(o *Onboarding) { o.ClusterManager = "" }, wantErr: "cluster manager name is empty"},
		{name: "consumer", change: func(o *Onboarding) { o.Consumer = "a/b" }, wantErr: `consumer "a/b"`},
		{name: "no peer", change: func(o *Onboarding) { o.Labels = RoleLabels(clusterprofiles.RoleIronCore, "") }, wantErr: "label apinet-hub.ironcore.dev/peer is not set"},
		{name: "role", change: func(o *Onboarding) { o.Labels[clusterprofiles.LabelRole] = "member" }, wantErr: `is not "ironcore" or "apinet"`},
		{name: "apinet namespace", change: func(o *Onboarding) { o.Annotations = map[string]string{clusterprofiles.AnnotationAPINetNamespace: "A"} }, wantErr: "is not a namespace name"},
		{
			name: "system apinet namespace",
			change: func(o *Onboarding) {
				o.Annotations = map[string]string{clusterprofiles.AnnotationAPINetNamespace: "kube-system"}
			},
			wantErr: "names a system namespace of the peer",
		},
		{name: "take-over", change: func(o *Onboarding) { o.TakeOver = true }},
		{
			name: "take-over on an apinet cluster",
			change: func(o *Onboarding) {
				o.Labels, o.Kubeconfig, o.TakeOver = RoleLabels(clusterprofiles.RoleAPINet, ""), nil, true
			},
			wantErr: "take-over applies to role ironcore only",
		},
		{
			name:    "take-over annotation not true or false",
			change:  func(o *Onboarding) { o.Annotations = map[string]string{clusterprofiles.AnnotationTakeOver: "yes"} },
			wantErr: `annotation apinet-hub.ironcore.dev/take-over="yes" is not "true" or "false"`,
		},
		{
			name: "override not true or false",
			change: func(o *Onboarding) {
				o.Annotations = map[string]string{clusterprofiles.AnnotationNodeAffinityAware: "sometimes"}
			},
			wantErr: `annotation apinet-hub.ironcore.dev/node-affinity-aware="sometimes" is not true or false`,
		},
		{
			name: "settings of an apinet cluster are not read",
			change: func(o *Onboarding) {
				o.Labels, o.Annotations = RoleLabels(clusterprofiles.RoleAPINet, ""), map[string]string{clusterprofiles.AnnotationNodeAffinityAware: "x"}
			},
		},
		{name: "kubeconfig", change: func(o *Onboarding) { o.Kubeconfig = []byte("{") }, wantErr: "credential kubeconfig: kubeconfig does not parse"},
		{
			name:    "access provider",
			change:  func(o *Onboarding) { o.AccessProviders = []clusterinventoryv1alpha1.AccessProvider{{Name: "p"}} },
			wantErr: `access provider "p": server "" is not an https URL`,
		},
		{
			name:    "everything at once",
			change:  func(o *Onboarding) { o.Namespace, o.Name = "", "" },
			wantErr: `namespace "" is not a namespace name: a lowercase RFC 1123 label must consist of`,
		},
	} {
		o := valid()
		tc.change(&o)
		err := o.Validate()
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: Validate() = %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: Validate() = %v, want it to contain %q", tc.name, err, tc.wantErr)
		}
		if tc.name == "everything at once" && !strings.Contains(err.Error(), `; profile name "" is not a DNS label`) {
			t.Errorf("%s: Validate() = %v, want every problem", tc.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: Validate() spans lines: %q", tc.name, err)
		}
	}
}

// FuzzCredentialKubeconfig feeds outside kubeconfigs to CredentialKubeconfig:
// whatever it returns, the hub accepts, and it is a fixed point.
func FuzzCredentialKubeconfig(f *testing.F) {
	f.Add([]byte(validKubeconfig), "")
	f.Add([]byte(twoContexts("    server: https://h\n", "    token: t\n", "member")), "other")
	f.Add([]byte(twoContexts("    server: https://h\n    certificate-authority: /dev/zero\n", "    tokenFile: /dev/stdin\n", "member")), "member")
	f.Add([]byte(twoContexts("    server: https://h\n", "    client-certificate: onboard_test.go\n    client-key: onboard_test.go\n", "member")), "")
	f.Fuzz(func(t *testing.T, data []byte, context string) {
		kc, err := clientcmd.Load(data)
		if err != nil {
			return
		}
		out, err := CredentialKubeconfig(kc, context)
		if err != nil {
			if out != nil {
				t.Fatalf("output alongside error %v", err)
			}
			return
		}
		if _, err := clusterprofiles.RESTConfigFromSecretKubeconfig(out); err != nil {
			t.Fatalf("the hub refuses the output: %v\n%s", err, out)
		}
		again, err := clientcmd.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Contexts) != 1 {
			t.Fatalf("%d contexts in the output", len(again.Contexts))
		}
		twice, err := CredentialKubeconfig(again, "")
		if err != nil || string(twice) != string(out) {
			t.Fatalf("not a fixed point: %v\n%s\n---\n%s", err, out, twice)
		}
	})
}

// mkfifo makes a named pipe; reading one blocks until a writer comes.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
