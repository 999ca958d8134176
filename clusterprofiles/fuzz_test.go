package clusterprofiles

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

// Fuzz targets for the outside input of this package that profile_test.go
// and credentials_test.go do not cover yet: cluster names coming back from
// requests, the per-member annotations of a profile, and the access
// providers a cluster manager writes into a profile's status.

func FuzzParseClusterName(f *testing.F) {
	for _, s := range []string{"fleet/member-1", "fleet/", "/m", "a/b/c", "", "noslash", "fleet/member.one"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseClusterName(multicluster.ClusterName(s))
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseClusterName(%q): empty error", s)
			}
			return
		}
		if key.Namespace == "" || key.Name == "" || strings.Contains(key.Name, "/") {
			t.Fatalf("ParseClusterName(%q) = %v", s, key)
		}
		if back := ClusterName(key); string(back) != s {
			t.Fatalf("ClusterName(ParseClusterName(%q)) = %q", s, back)
		}
	})
}

// FuzzParseAnnotations feeds arbitrary annotations to an otherwise valid
// IronCore profile: the per-member overrides must parse exactly as
// strconv.ParseBool does, and every nat-* annotation (and only those) must
// reach the NAT reconciler, which validates them.
func FuzzParseAnnotations(f *testing.F) {
	f.Add(AnnotationDisableNetworkPeering, "true", AnnotationNodeAffinityAware, "0", natAnnotationPrefix+"min-public-ips", "2")
	f.Add(AnnotationDisableNetworkPeering, "yes", "", "", "", "")
	f.Add(AnnotationNodeAffinityAware, "", natAnnotationPrefix+"max-public-ips", "-1", "other.io/x", "y")
	f.Add(AnnotationAPINetNamespace, "tenant", natAnnotationPrefix, "", AnnotationAPINetNamespace+"x", "1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		annotations := map[string]string{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			if kv[0] != "" {
				annotations[kv[0]] = kv[1]
			}
		}
		got, problem := Parse(newProfile("fleet", "member-1", map[string]string{LabelRole: string(RoleIronCore), LabelPeer: "apinet-1"}, annotations))
		if (got == nil) == (problem == nil) {
			t.Fatalf("Parse(%v) = %+v, %+v: want exactly one of profile and problem", annotations, got, problem)
		}
		for key, dst := range map[string]func(*Profile) *bool{
			AnnotationDisableNetworkPeering: func(p *Profile) *bool { return p.DisableNetworkPeering },
			AnnotationNodeAffinityAware:     func(p *Profile) *bool { return p.NodeAffinityAware },
		} {
			raw, set := annotations[key]
			want, err := strconv.ParseBool(raw)
			switch {
			case set && err != nil:
				if problem == nil || problem.Reason != ReasonAnnotationInvalid && problem.Reason != ReasonNamespaceInvalid {
					t.Fatalf("Parse accepted %s=%q: %+v, %+v", key, raw, got, problem)
				}
			case problem != nil:
			case !set && dst(got) != nil:
				t.Fatalf("Parse set %s without the annotation", key)
			case set && (dst(got) == nil || *dst(got) != want):
				t.Fatalf("Parse(%s=%q) = %v, want %v", key, raw, dst(got), want)
			}
		}
		if problem != nil {
			if problem.Reason == "" || problem.Message == "" {
				t.Fatalf("problem %+v lacks reason or message", problem)
			}
			return
		}
		nat := 0
		for k := range annotations {
			if strings.HasPrefix(k, natAnnotationPrefix) {
				nat++
				if got.NATAnnotations[k] != annotations[k] {
					t.Fatalf("NAT annotation %s=%q became %q", k, annotations[k], got.NATAnnotations[k])
				}
			}
		}
		if len(got.NATAnnotations) != nat {
			t.Fatalf("NATAnnotations = %v from %v", got.NATAnnotations, annotations)
		}
	})
}

// FuzzAccessProviderCredentials feeds arbitrary access-provider data of a
// profile's status (server, proxy, TLS name, CA and the exec extensions a
// cluster manager may set) through the resolver: it must return either
// credentials for an https server or a Problem, never panic, and never let
// one profile's data leak into the shared provider file (resolving twice
// gives the same hash and leaves the file's exec config as it was).
func FuzzAccessProviderCredentials(f *testing.F) {
	f.Add("https://127.0.0.1:6443", "", "", []byte("ca"), []byte(`["--cluster","a"]`), []byte(`{"E":"profile","F":"f"}`), []byte(`{"audience":"x"}`))
	f.Add("http://127.0.0.1:6443", "socks5://p:1080", "api", []byte{}, []byte(`not yaml: [`), []byte(`{}`), []byte(`[`))
	f.Add("https://h", "://bad", "", []byte(nil), []byte(`[]`), []byte(`[{"name":"","value":""}]`), []byte(`null`))
	f.Add("", "", "", []byte(nil), []byte(nil), []byte(nil), []byte(nil))
	f.Add("https://h", "", "", []byte(nil), []byte(nil), []byte(`null`), []byte(nil))
	f.Fuzz(func(t *testing.T, server, proxy, tlsName string, ca, args, envs, execExt []byte) {
		fixed := &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "get-token", Args: []string{"--fixed"},
			Env: []clientcmdapi.ExecEnvVar{{Name: "E", Value: "file"}}}
		r := &CredentialResolver{Consumer: DefaultConsumer, Access: &access.Config{Providers: []access.Provider{{
			Name: "p", ExecConfig: fixed.DeepCopy(),
			ProfileSourcedCLIArgsPolicy: access.ProfileSourcedCLIArgsPolicyAppend,
			ProfileSourcedEnvVarsPolicy: access.ProfileSourcedEnvVarsPolicyReplace,
		}}}}
		cp := accessProfile(server, proxy, tlsName, ca, args, envs, execExt)
		creds, problem := r.Resolve(context.Background(), cp)
		if (creds == nil) == (problem == nil) {
			t.Fatalf("Resolve = %+v, %+v: want exactly one of credentials and problem", creds, problem)
		}
		if problem != nil {
			if problem.Reason != ReasonCredentialsInvalid || problem.Message == "" {
				t.Fatalf("problem %+v", problem)
			}
		} else {
			if u, err := url.Parse(creds.Config.Host); err != nil || u.Scheme != "https" || u.Host == "" {
				t.Fatalf("credentials for server %q", creds.Config.Host)
			}
			if !strings.HasPrefix(creds.Hash, "access:") || creds.Config.ExecProvider == nil {
				t.Fatalf("credentials %+v", creds)
			}
			again, problem := r.Resolve(context.Background(), cp)
			if problem != nil || again.Hash != creds.Hash {
				t.Fatalf("resolving again: %+v, %+v (first hash %s)", again, problem, creds.Hash)
			}
		}
		if got := r.Access.Providers[0].ExecConfig; got.Command != fixed.Command || !slices.Equal(got.Args, fixed.Args) || !slices.Equal(got.Env, fixed.Env) {
			t.Fatalf("the provider file's exec config changed: %+v", got)
		}
	})
}

// accessProfile is a profile offering access provider "p" with the given
// cluster data and exec extensions.
func accessProfile(server, proxy, tlsName string, ca, args, envs, execExt []byte) *clusterinventoryv1alpha1.ClusterProfile {
	cp := newProfile("fleet", "member-1", nil, nil)
	ap := clusterinventoryv1alpha1.AccessProvider{Name: "p"}
	ap.Cluster = clientcmdv1.Cluster{Server: server, ProxyURL: proxy, TLSServerName: tlsName, CertificateAuthorityData: ca,
		Extensions: []clientcmdv1.NamedExtension{
			{Name: "clusterprofiles.multicluster.x-k8s.io/exec/additional-args", Extension: runtime.RawExtension{Raw: args}},
			{Name: "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs", Extension: runtime.RawExtension{Raw: envs}},
			{Name: "client.authentication.k8s.io/exec", Extension: runtime.RawExtension{Raw: execExt}},
		}}
	cp.Status.AccessProviders = []clusterinventoryv1alpha1.AccessProvider{ap}
	return cp
}

// Found by FuzzAccessProviderCredentials: cluster-inventory-api v0.1.2
// panics on an empty additional-envs extension when the provider file sets
// env vars; the hub reports it as invalid credentials instead.
func TestAccessProviderWithEmptyEnvExtension(t *testing.T) {
	for _, policy := range []access.ProfileSourcedEnvVarsPolicy{access.ProfileSourcedEnvVarsPolicyReplace, access.ProfileSourcedEnvVarsPolicyAppendIfNotExists} {
		for _, envs := range []string{"", "null", "~"} {
			r := &CredentialResolver{Consumer: DefaultConsumer, Access: &access.Config{Providers: []access.Provider{{
				Name:                        "p",
				ExecConfig:                  &clientcmdapi.ExecConfig{Command: "get-token", Env: []clientcmdapi.ExecEnvVar{{Name: "E", Value: "v"}}},
				ProfileSourcedEnvVarsPolicy: policy,
			}}}}
			creds, problem := r.Resolve(context.Background(), accessProfile("https://h:6443", "", "", nil, nil, []byte(envs), nil))
			if creds != nil || problem == nil || problem.Reason != ReasonCredentialsInvalid || !strings.Contains(problem.Message, "exec extensions") {
				t.Errorf("policy %s, envs %q: Resolve = %+v, %+v; want a %s problem about the exec extensions", policy, envs, creds, problem, ReasonCredentialsInvalid)
			}
		}
	}
}
