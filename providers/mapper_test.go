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

func TestExpectedMappings(t *testing.T) {
	networking := schema.GroupVersion{Group: "networking.ironcore.dev", Version: "v1alpha1"}
	gvks := []schema.GroupVersionKind{networking.WithKind("Network"), networking.WithKind("NetworkPolicy"), {Version: "v1", Kind: "Namespace"}}
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
		{"as the names imply", map[string]string{"Network": "networks", "NetworkPolicy": "networkpolicies", "Namespace": "namespaces"}, true},
		{"a kind served under another kind's resource", map[string]string{"Network": "virtualips", "NetworkPolicy": "networkpolicies", "Namespace": "namespaces"}, false},
		{"a kind not served", map[string]string{"Network": "networks", "Namespace": "namespaces"}, false},
	} {
		if got := expectedMappings(mapper(tc.resources), gvks); got != tc.want {
			t.Errorf("%s: expectedMappings = %v, want %v", tc.name, got, tc.want)
		}
	}
}
