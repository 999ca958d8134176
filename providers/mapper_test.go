package providers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// countingMapper counts the questions it gets.
type countingMapper struct {
	meta.RESTMapper
	asked int
}

func (m *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	m.asked++
	return m.RESTMapper.RESTMapping(gk, versions...)
}

func (m *countingMapper) KindFor(r schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	m.asked++
	return m.RESTMapper.KindFor(r)
}

func TestFallbackMapper(t *testing.T) {
	networks := schema.GroupVersion{Group: "networking.ironcore.dev", Version: "v1alpha1"}
	shared := meta.NewDefaultRESTMapper([]schema.GroupVersion{networks})
	shared.Add(networks.WithKind("Network"), meta.RESTScopeNamespace)
	own := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}})
	own.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	primary, secondary := &countingMapper{RESTMapper: shared}, &countingMapper{RESTMapper: own}
	m := fallbackMapper{primary, secondary}

	for _, tc := range []struct {
		gk            schema.GroupKind
		wantResource  string
		wantErr       bool
		wantSecondary int // questions the member's own mapper got
	}{
		{gk: schema.GroupKind{Group: "networking.ironcore.dev", Kind: "Network"}, wantResource: "networks"},
		{gk: schema.GroupKind{Kind: "ConfigMap"}, wantResource: "configmaps", wantSecondary: 1},
		{gk: schema.GroupKind{Group: "unknown.example", Kind: "Thing"}, wantErr: true, wantSecondary: 1},
	} {
		secondary.asked = 0
		mapping, err := m.RESTMapping(tc.gk)
		switch {
		case tc.wantErr:
			if !meta.IsNoMatchError(err) {
				t.Errorf("RESTMapping(%v): err %v, want a no-match error", tc.gk, err)
			}
		case err != nil:
			t.Errorf("RESTMapping(%v): %v", tc.gk, err)
		case mapping.Resource.Resource != tc.wantResource:
			t.Errorf("RESTMapping(%v) = %s, want %s", tc.gk, mapping.Resource.Resource, tc.wantResource)
		}
		if secondary.asked != tc.wantSecondary {
			t.Errorf("RESTMapping(%v) asked the member's own mapper %d times, want %d", tc.gk, secondary.asked, tc.wantSecondary)
		}
	}
	secondary.asked = 0
	if gvk, err := m.KindFor(networks.WithResource("networks")); err != nil || gvk.Kind != "Network" || secondary.asked != 0 {
		t.Errorf("KindFor(networks) = %v, %v after %d questions to the member's own mapper; want Network from the shared one", gvk, err, secondary.asked)
	}
}

// resettableMapper counts its resets.
type resettableMapper struct {
	*countingMapper
	resets int
}

func (m *resettableMapper) Reset() { m.resets++ }

// TestMemoMapper: a found mapping is asked once, for each kind and
// versions; a kind not found is asked again each time (it may be served
// later); callers get copies; Reset forgets and resets the mapper.
func TestMemoMapper(t *testing.T) {
	networks := schema.GroupVersion{Group: "networking.ironcore.dev", Version: "v1alpha1"}
	dm := meta.NewDefaultRESTMapper([]schema.GroupVersion{networks})
	dm.Add(networks.WithKind("Network"), meta.RESTScopeNamespace)
	inner := &resettableMapper{countingMapper: &countingMapper{RESTMapper: dm}}
	m := memoize(inner)
	network := schema.GroupKind{Group: networks.Group, Kind: "Network"}

	for _, tc := range []struct {
		gk        schema.GroupKind
		versions  []string
		wantErr   bool
		wantAsked int // questions the mapper got so far
	}{
		{gk: network, wantAsked: 1},
		{gk: network, wantAsked: 1},
		{gk: network, versions: []string{"v1alpha1"}, wantAsked: 2},
		{gk: network, versions: []string{"v1alpha1"}, wantAsked: 2},
		{gk: schema.GroupKind{Group: "unknown.example", Kind: "Thing"}, wantErr: true, wantAsked: 3},
		{gk: schema.GroupKind{Group: "unknown.example", Kind: "Thing"}, wantErr: true, wantAsked: 4},
	} {
		mapping, err := m.RESTMapping(tc.gk, tc.versions...)
		switch {
		case tc.wantErr:
			if !meta.IsNoMatchError(err) || mapping != nil {
				t.Errorf("RESTMapping(%v) = %v, %v: want a no-match error", tc.gk, mapping, err)
			}
		case err != nil || mapping.Resource.Resource != "networks" || mapping.Scope.Name() != meta.RESTScopeNameNamespace:
			t.Errorf("RESTMapping(%v, %v) = %v, %v", tc.gk, tc.versions, mapping, err)
		default:
			mapping.Resource.Resource = "changed by a caller"
		}
		if inner.asked != tc.wantAsked {
			t.Errorf("after RESTMapping(%v, %v) the mapper was asked %d times, want %d", tc.gk, tc.versions, inner.asked, tc.wantAsked)
		}
	}
	m.Reset()
	if mapping, err := m.RESTMapping(network); err != nil || mapping.Resource.Resource != "networks" || inner.asked != 5 || inner.resets != 1 {
		t.Errorf("after Reset: %v, %v, asked %d times, reset %d times; want networks asked again and one reset", mapping, err, inner.asked, inner.resets)
	}
}

func TestExpectedMappings(t *testing.T) {
	networking := schema.GroupVersion{Group: "networking.ironcore.dev", Version: "v1alpha1"}
	gvks := []schema.GroupVersionKind{networking.WithKind("Network"), networking.WithKind("NetworkPolicy"),
		networking.WithKind("NATGateway"), networking.WithKind("Prefix"), {Version: "v1", Kind: "Namespace"}}
	mapper := func(resources map[string]string) meta.RESTMapper {
		m := meta.NewDefaultRESTMapper(nil)
		for kind, resource := range resources {
			gv := networking
			if kind == "Namespace" {
				gv = schema.GroupVersion{Version: "v1"}
			}
			m.AddSpecific(gv.WithKind(kind), gv.WithResource(resource), gv.WithResource(kind), meta.RESTScopeNamespace)
		}
		return m
	}
	for _, tc := range []struct {
		name      string
		resources map[string]string
		want      bool
	}{
		{"as the names imply", map[string]string{"Network": "networks", "NetworkPolicy": "networkpolicies", "NATGateway": "natgateways", "Prefix": "prefixes", "Namespace": "namespaces"}, true},
		{"a kind served under another kind's resource", map[string]string{"Network": "virtualips", "NetworkPolicy": "networkpolicies", "NATGateway": "natgateways", "Prefix": "prefixes", "Namespace": "namespaces"}, false},
		{"a kind not served", map[string]string{"Network": "networks", "NetworkPolicy": "networkpolicies", "NATGateway": "natgateways", "Namespace": "namespaces"}, false},
		{"a naive plural", map[string]string{"Network": "networks", "NetworkPolicy": "networkpolicies", "NATGateway": "natgatewaies", "Prefix": "prefixs", "Namespace": "namespaces"}, false},
	} {
		if got := expectedMappings(mapper(tc.resources), gvks); got != tc.want {
			t.Errorf("%s: expectedMappings = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPluralResource(t *testing.T) {
	for kind, want := range map[string]string{
		"Network": "networks", "NetworkInterface": "networkinterfaces", "VirtualIP": "virtualips",
		"LoadBalancer": "loadbalancers", "LoadBalancerRouting": "loadbalancerroutings", "NATGateway": "natgateways",
		"NetworkPolicy": "networkpolicies", "Prefix": "prefixes", "Namespace": "namespaces", "Machine": "machines",
		"Ingress": "ingresses", "Patch": "patches", "Mesh": "meshes", "Quiz": "quizes",
		"Key": "keys", "Y": "ys", "": "",
	} {
		if got := pluralResource(kind); got != want {
			t.Errorf("pluralResource(%q) = %q, want %q", kind, got, want)
		}
	}
}
