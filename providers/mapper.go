package providers

import (
	"fmt"
	"net/http"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// memberMappers gives every IronCore member one REST mapper for the API
// groups the hub reads and writes there, learned once from the discovery of
// the first member that answers, instead of a discovery mapper per member:
// that was 0.3 MiB of heap per member (its copy of those groups), 150 MiB
// for 500 members. Every member serves those groups the same way (its
// probe and its informers check that it serves them at all). A kind outside
// them is still mapped by the member's own discovery, which stays lazy and
// costs nothing until asked.
type memberMappers struct {
	// groupVersions are the API groups (with their versions) to share.
	groupVersions func() []schema.GroupVersion

	mu     sync.Mutex
	shared meta.RESTMapper
}

// memberGroupVersions are the API groups of the kinds the reconcilers use
// in members, and core/v1 (Namespaces).
func memberGroupVersions(kinds func() []client.Object, scheme *runtime.Scheme) func() []schema.GroupVersion {
	return func() []schema.GroupVersion {
		gvs := []schema.GroupVersion{corev1.SchemeGroupVersion}
		for _, obj := range kinds() {
			gvk, err := apiutil.GVKForObject(obj, scheme)
			if err == nil && !slices.Contains(gvs, gvk.GroupVersion()) {
				gvs = append(gvs, gvk.GroupVersion())
			}
		}
		return gvs
	}
}

// provider is a cluster.Options.MapperProvider.
func (s *memberMappers) provider(cfg *rest.Config, hc *http.Client) (meta.RESTMapper, error) {
	own, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	shared, err := s.get(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("discover the IronCore API groups: %w", err)
	}
	return fallbackMapper{shared, own}, nil
}

// get returns the shared mapper, learning it from this member if no member
// has answered yet.
func (s *memberMappers) get(cfg *rest.Config, hc *http.Client) (meta.RESTMapper, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared != nil {
		return s.shared, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	byGroup := map[string]*restmapper.APIGroupResources{}
	var groups []*restmapper.APIGroupResources
	for _, gv := range s.groupVersions() {
		list, err := dc.ServerResourcesForGroupVersion(gv.String())
		if err != nil {
			return nil, err
		}
		g := byGroup[gv.Group]
		if g == nil {
			version := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			g = &restmapper.APIGroupResources{
				Group:              metav1.APIGroup{Name: gv.Group, PreferredVersion: version},
				VersionedResources: map[string][]metav1.APIResource{},
			}
			byGroup[gv.Group] = g
			groups = append(groups, g)
		}
		g.Group.Versions = append(g.Group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version})
		g.VersionedResources[gv.Version] = list.APIResources
	}
	s.shared = restmapper.NewDiscoveryRESTMapper(groups)
	return s.shared, nil
}

// fallbackMapper asks primary first and secondary only for what primary
// does not know (meta.MultiRESTMapper asks every mapper every time, which
// would make each member's own mapper discover its whole API).
type fallbackMapper struct{ primary, secondary meta.RESTMapper }

var _ meta.RESTMapper = fallbackMapper{}

// orElse returns primary's answer unless it is a no-match error.
func orElse[T any](v T, err error, secondary func() (T, error)) (T, error) {
	if meta.IsNoMatchError(err) {
		return secondary()
	}
	return v, err
}

func (m fallbackMapper) KindFor(r schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	v, err := m.primary.KindFor(r)
	return orElse(v, err, func() (schema.GroupVersionKind, error) { return m.secondary.KindFor(r) })
}

func (m fallbackMapper) KindsFor(r schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	v, err := m.primary.KindsFor(r)
	return orElse(v, err, func() ([]schema.GroupVersionKind, error) { return m.secondary.KindsFor(r) })
}

func (m fallbackMapper) ResourceFor(r schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	v, err := m.primary.ResourceFor(r)
	return orElse(v, err, func() (schema.GroupVersionResource, error) { return m.secondary.ResourceFor(r) })
}

func (m fallbackMapper) ResourcesFor(r schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	v, err := m.primary.ResourcesFor(r)
	return orElse(v, err, func() ([]schema.GroupVersionResource, error) { return m.secondary.ResourcesFor(r) })
}

func (m fallbackMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	v, err := m.primary.RESTMapping(gk, versions...)
	return orElse(v, err, func() (*meta.RESTMapping, error) { return m.secondary.RESTMapping(gk, versions...) })
}

func (m fallbackMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	v, err := m.primary.RESTMappings(gk, versions...)
	return orElse(v, err, func() ([]*meta.RESTMapping, error) { return m.secondary.RESTMappings(gk, versions...) })
}

func (m fallbackMapper) ResourceSingularizer(resource string) (string, error) {
	v, err := m.primary.ResourceSingularizer(resource)
	if err != nil {
		return m.secondary.ResourceSingularizer(resource)
	}
	return v, nil
}
