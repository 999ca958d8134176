package clusterprofiles

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

// Fuzz targets for the outside input of this package that profile_test.go
// and credentials_test.go do not cover yet: cluster names coming back from
// requests, the per-member settings of a profile, and the access
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

// FuzzParseSettings feeds arbitrary annotations and settings in force to an
// otherwise valid IronCore profile. Parse must not mind them (unless one is
// the apinet-namespace annotation); ParseSettings must read the overrides
// exactly as strconv.ParseBool does and take-over as exactly "true" or
// "false", keep the value of last for every invalid key with one Problem
// each, sorted by key, and pass on every nat-* annotation (and only those)
// to the NAT reconciler, which validates them.
func FuzzParseSettings(f *testing.F) {
	f.Add(AnnotationDisableNetworkPeering, "true", AnnotationNodeAffinityAware, "0", natAnnotationPrefix+"min-public-ips", "2", uint8(0))
	f.Add(AnnotationDisableNetworkPeering, "yes", "", "", "", "", uint8(0b10111))
	f.Add(AnnotationNodeAffinityAware, "", natAnnotationPrefix+"max-public-ips", "-1", "other.io/x", "y", uint8(0b01010))
	f.Add(AnnotationAPINetNamespace, "tenant", natAnnotationPrefix, "", AnnotationAPINetNamespace+"x", "1", uint8(0))
	f.Add(AnnotationTakeOver, "True", AnnotationNodeAffinityAware, "nope", AnnotationDisableNetworkPeering, "maybe", uint8(0b11111))
	f.Add(AnnotationTakeOver, "false", AnnotationAPINetNamespace, "kube-system", "", "", uint8(0b10000))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string, lastBits uint8) {
		annotations := map[string]string{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			if kv[0] != "" {
				annotations[kv[0]] = kv[1]
			}
		}
		cp := newProfile("fleet", "member-1", map[string]string{LabelRole: string(RoleIronCore), LabelPeer: "apinet-1"}, annotations)
		_, nsSet := annotations[AnnotationAPINetNamespace]
		_, filterSet := annotations[AnnotationWatchFilter]
		_, namespacesSet := annotations[AnnotationIronCoreNamespaces]
		if !nsSet && !filterSet && !namespacesSet { // those are the profile's own, not settings
			if _, problem := Parse(cp); problem != nil {
				t.Fatalf("Parse(%v) = %v: settings must not fail a profile", annotations, problem)
			}
		}

		// lastBits: which overrides were set before, to what, and take-over.
		var last Settings
		if lastBits&1 != 0 {
			last.DisableNetworkPeering = ptr.To(lastBits&2 != 0)
		}
		if lastBits&4 != 0 {
			last.NodeAffinityAware = ptr.To(lastBits&8 != 0)
		}
		last.TakeOver = lastBits&16 != 0
		got, problems := ParseSettings(cp, last)

		var wantBad []string
		for key, field := range map[string]func(*Settings) *bool{
			AnnotationDisableNetworkPeering: func(s *Settings) *bool { return s.DisableNetworkPeering },
			AnnotationNodeAffinityAware:     func(s *Settings) *bool { return s.NodeAffinityAware },
		} {
			raw, set := annotations[key]
			want, err := strconv.ParseBool(raw)
			switch {
			case !set:
				if field(&got) != nil {
					t.Fatalf("ParseSettings set %s without the annotation", key)
				}
			case err != nil:
				wantBad = append(wantBad, key)
				if before := field(&last); (before == nil) != (field(&got) == nil) || before != nil && (*before != *field(&got) || before == field(&got)) {
					t.Fatalf("ParseSettings(%s=%q) = %v, want a copy of the value before, %v", key, raw, field(&got), before)
				}
			case field(&got) == nil || *field(&got) != want:
				t.Fatalf("ParseSettings(%s=%q) = %v, want %v", key, raw, field(&got), want)
			}
		}
		switch raw, set := annotations[AnnotationTakeOver]; {
		case !set || raw == "false":
			if got.TakeOver {
				t.Fatalf("take-over on from %q (set %t)", raw, set)
			}
		case raw == "true":
			if !got.TakeOver {
				t.Fatal("take-over off from \"true\"")
			}
		default:
			wantBad = append(wantBad, AnnotationTakeOver)
			if got.TakeOver != last.TakeOver {
				t.Fatalf("ParseSettings(%s=%q) = %t, want the value before, %t", AnnotationTakeOver, raw, got.TakeOver, last.TakeOver)
			}
		}
		slices.Sort(wantBad)
		if len(problems) != len(wantBad) {
			t.Fatalf("ParseSettings(%v) problems = %v, want one for each of %v", annotations, problems, wantBad)
		}
		for i, p := range problems {
			if p.Reason != ReasonAnnotationInvalid || !strings.HasPrefix(p.Message, "annotation "+wantBad[i]+"=") || !strings.Contains(p.Message, "stays") {
				t.Fatalf("problem %d = %+v, want %s about %s and what stays in force", i, p, ReasonAnnotationInvalid, wantBad[i])
			}
		}

		nat := 0
		for k := range annotations {
			if strings.HasPrefix(k, natAnnotationPrefix) {
				nat++
				if v, ok := got.NATAnnotations[k]; !ok || v != annotations[k] {
					t.Fatalf("NAT annotation %s=%q became %q", k, annotations[k], v)
				}
			}
		}
		if len(got.NATAnnotations) != nat || nat == 0 && got.NATAnnotations != nil {
			t.Fatalf("NATAnnotations = %#v from %v", got.NATAnnotations, annotations)
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

// FuzzParsePairing feeds arbitrary pairing files to ParsePairing. It must
// never panic; a file it accepts must hold only rules that can pair, each
// with names or a selector and with role ironcore and a peer or role
// apinet and none; and Assign, Selects and Parse must not panic on a
// profile built from the first rule, which the rule must pair when its
// selector has no expressions.
func FuzzParsePairing(f *testing.F) {
	f.Add([]byte(validPairing))
	f.Add([]byte(pairingHeader + "rules:\n- selector: {}\n  role: apinet\n"))
	f.Add([]byte(pairingHeader + "rules:\n- namespace: kube\n  names: [system]\n  role: ironcore\n  peer: p\n"))
	f.Add([]byte(pairingHeader + "rules:\n- names: [a]\n  role: ironcore\n"))
	f.Add([]byte(pairingHeader + "rules:\n- namespace: fleet\n  role: apinet\n  peer: x\n"))
	f.Add([]byte(pairingHeader + "rules:\n- selector: {matchExpressions: [{key: a, operator: Like}]}\n  role: apinet\n"))
	f.Add([]byte(pairingHeader + "rules:\n- names: [a]\n  role: apinet\n  extra: 1\n"))
	f.Add([]byte(pairingHeader + "rules: [null, 1, [], {}]\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		pg, err := ParsePairing(data)
		if err != nil {
			if pg != nil || err.Error() == "" {
				t.Fatalf("ParsePairing() = %+v, %q", pg, err)
			}
			return
		}
		if pg == nil || pg.APIVersion != PairingAPIVersion || pg.Kind != PairingKind {
			t.Fatalf("ParsePairing() = %+v", pg)
		}
		for i, r := range pg.Rules {
			if len(r.Names) == 0 && r.Selector == nil {
				t.Fatalf("rule %d selects nothing on purpose: %+v", i+1, r)
			}
			switch r.Role {
			case RoleIronCore:
				if r.Peer == "" {
					t.Fatalf("rule %d: ironcore without a peer", i+1)
				}
			case RoleAPINet:
				if r.Peer != "" {
					t.Fatalf("rule %d: apinet with peer %q", i+1, r.Peer)
				}
			default:
				t.Fatalf("rule %d: role %q", i+1, r.Role)
			}
		}
		if pg.PairsUnlabelled() != (len(pg.Rules) > 0) {
			t.Fatalf("PairsUnlabelled() = %t with %d rules", pg.PairsUnlabelled(), len(pg.Rules))
		}
		if len(pg.Rules) == 0 {
			return
		}

		first := pg.Rules[0]
		ns, name := first.Namespace, "member-1"
		if ns == "" {
			ns = "fleet"
		}
		if len(first.Names) > 0 {
			name = first.Names[0]
		}
		var labels map[string]string
		if first.Selector != nil {
			labels = first.Selector.MatchLabels
		}
		cp := newProfile(ns, name, labels, nil)
		a, ok := pg.Assign(cp)
		if ok != pg.Selects(cp) {
			t.Fatalf("Assign() ok = %t, Selects() = %t", ok, !ok)
		}
		p, problem := pg.Parse(cp)
		if (p == nil) == (problem == nil) {
			t.Fatalf("Parse() = %+v, %+v: want exactly one", p, problem)
		}
		if first.Selector != nil && len(first.Selector.MatchExpressions) > 0 {
			return
		}
		if want := (Assignment{Role: string(first.Role), Peer: first.Peer, From: "pairing rule 1", Paired: true}); !ok || a != want {
			t.Fatalf("Assign(%s/%s, labels %v) = %+v, %t; want %+v", ns, name, labels, a, ok, want)
		}
		if problem != nil {
			// Only the default apinet namespace may fail, as for a labelled
			// profile: kube/system maps to kube-system.
			if problem.Reason != ReasonNamespaceInvalid || first.Role != RoleIronCore {
				t.Fatalf("Parse(%s/%s) = %v", ns, name, problem)
			}
			return
		}
		if !p.Paired || p.Role != first.Role || (first.Role == RoleIronCore && p.Peer != (types.NamespacedName{Namespace: ns, Name: first.Peer})) {
			t.Fatalf("Parse(%s/%s) = %+v from rule %+v", ns, name, p, first)
		}
	})
}

// FuzzParseScope: a profile's scope annotations never panic the parser; a
// parsed scope has sorted, unique namespaces and overlaps itself; Overlaps
// is symmetric; and no object is selected by two scopes that do not overlap.
func FuzzParseScope(f *testing.F) {
	f.Add("blue", "team-a,team-b", true, true, "green", "team-b", "team-a", "blue")
	f.Add("", "", true, false, "", "", "default", "")
	f.Add("a/b", " x , x ,y", true, true, "a", "x", "x", "a")
	f.Add("x", ",", false, true, "x", "", "", "")
	f.Fuzz(func(t *testing.T, filter, namespaces string, setFilter, setNamespaces bool, otherFilter, otherNamespaces, objNS, objFilter string) {
		annotations := map[string]string{}
		if setFilter {
			annotations[AnnotationWatchFilter] = filter
		}
		if setNamespaces {
			annotations[AnnotationIronCoreNamespaces] = namespaces
		}
		s, problem := parseScope(newProfile("fleet", "m", nil, annotations))
		if problem != nil {
			if problem.Reason != ReasonScopeInvalid {
				t.Fatalf("reason %s", problem.Reason)
			}
			return
		}
		if !slices.IsSorted(s.Namespaces) || len(slices.Compact(slices.Clone(s.Namespaces))) != len(s.Namespaces) {
			t.Fatalf("namespaces %v not sorted and unique", s.Namespaces)
		}
		if !s.Overlaps(s) {
			t.Fatalf("%v does not overlap itself", s)
		}
		o, problem := parseScope(newProfile("fleet", "o", nil, map[string]string{AnnotationWatchFilter: otherFilter, AnnotationIronCoreNamespaces: otherNamespaces}))
		if problem == nil && s.Overlaps(o) != o.Overlaps(s) {
			t.Fatalf("Overlaps not symmetric: %v, %v", s, o)
		}
		labels := map[string]string{LabelWatchFilter: objFilter}
		if problem == nil && s.Selects(objNS, labels) && o.Selects(objNS, labels) && !s.Overlaps(o) {
			t.Fatalf("an object in %s labelled %q is in both %v and %v, which do not overlap", objNS, objFilter, s, o)
		}
	})
}
