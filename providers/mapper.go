package providers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

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
//
// One member's API must not decide where the hub writes in another: a
// discovery is shared only if it maps every kind the hub uses to the
// resource its name implies (networks for Network, prefixes for Prefix,
// ...). A member whose API says otherwise is mapped by its own discovery
// alone.
type memberMappers struct {
	// kinds are the kinds the reconcilers use in members (with Namespaces),
	// in scheme.
	kinds  func() []client.Object
	scheme *runtime.Scheme
	// timeout bounds each discovery request (the provider's
	// RequestTimeout): a member that does not answer fails its own
	// engagement, and holds up no other.
	timeout time.Duration

	mu     sync.Mutex
	shared meta.RESTMapper
}

// provider is a cluster.Options.MapperProvider.
func (s *memberMappers) provider(cfg *rest.Config, hc *http.Client) (meta.RESTMapper, error) {
	own, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	shared, err := s.get(cfg, hc)
	switch {
	case err != nil:
		return nil, fmt.Errorf("discover the IronCore API groups: %w", err)
	case shared == nil:
		return memoize(own), nil // this member's API is not the one the others share
	}
	return memoize(fallbackMapper{shared, own}), nil
}

// gvks are the kinds to map, by group-version-kind.
func (s *memberMappers) gvks() []schema.GroupVersionKind {
	gvks := []schema.GroupVersionKind{corev1.SchemeGroupVersion.WithKind("Namespace")}
	for _, obj := range s.kinds() {
		if gvk, err := apiutil.GVKForObject(obj, s.scheme); err == nil && !slices.Contains(gvks, gvk) {
			gvks = append(gvks, gvk)
		}
	}
	return gvks
}

// get returns the shared mapper, learning it from this member if no member
// has answered yet; nil if this member's discovery may not be shared. The
// discovery runs outside the lock: members engaged at once may each
// discover (the first answer is kept), but a slow member never makes the
// others wait.
func (s *memberMappers) get(cfg *rest.Config, hc *http.Client) (meta.RESTMapper, error) {
	s.mu.Lock()
	shared := s.shared
	s.mu.Unlock()
	if shared != nil {
		return shared, nil
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = s.timeout
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	gvks := s.gvks()
	byGroup := map[string]*restmapper.APIGroupResources{}
	var groups []*restmapper.APIGroupResources
	for _, gvk := range gvks {
		gv := gvk.GroupVersion()
		if g := byGroup[gv.Group]; g != nil && g.VersionedResources[gv.Version] != nil {
			continue
		}
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
	learned := restmapper.NewDiscoveryRESTMapper(groups)
	if !expectedMappings(learned, gvks) {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared == nil {
		s.shared = learned
	}
	return s.shared, nil
}

// expectedMappings tells whether m maps every kind to the resource its name
// implies (pluralResource).
func expectedMappings(m meta.RESTMapper, gvks []schema.GroupVersionKind) bool {
	for _, gvk := range gvks {
		mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil || mapping.Resource != gvk.GroupVersion().WithResource(pluralResource(gvk.Kind)) {
			return false
		}
	}
	return true
}

// pluralResource is the resource name the Kubernetes code generators give
// a kind (gengo's plural namer, which ironcore's and Kubernetes' own APIs
// are generated with): lower case, "es" after s, x, z, ch and sh, "ies" for
// a y after a consonant, else "s". meta.UnsafeGuessKindToResource says
// "natgatewaies" and "prefixs", which IronCore does not serve: with it, no
// member's discovery was ever shared.
func pluralResource(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case k == "":
		return ""
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "z"),
		strings.HasSuffix(k, "ch"), strings.HasSuffix(k, "sh"):
		return k + "es"
	case strings.HasSuffix(k, "y") && len(k) > 1 && !strings.ContainsRune("aeiou", rune(k[len(k)-2])):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
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

// memoMapper remembers the mappings a RESTMapper found. controller-runtime
// asks its mapper whether a kind is namespaced on every cache Get and List
// of a multi-namespace cache, on every List of a member's peer view and for
// every kind of a new cache; its dynamic mapper answers each time by asking
// every API group the server serves in turn (meta.PriorityRESTMapper over a
// MultiRESTMapper): a tenth of the hub's CPU at a cold start of 500 members.
// Only found mappings are remembered, so a kind the server does not serve
// yet is asked again (and the dynamic mapper's discovery finds it once it
// is served). The dynamic mapper itself never forgets a group it has
// learned, so remembering its answers forgets nothing it would have
// noticed; Reset, where the mapper has one, forgets both.
type memoMapper struct {
	meta.RESTMapper

	mu       sync.RWMutex
	mappings map[mappingKey]*meta.RESTMapping
}

// mappingKey is a RESTMapping question: a kind and the versions asked for.
type mappingKey struct {
	gk       schema.GroupKind
	versions string
}

// memoize wraps m in a memoMapper.
func memoize(m meta.RESTMapper) *memoMapper {
	return &memoMapper{RESTMapper: m, mappings: map[mappingKey]*meta.RESTMapping{}}
}

// MemoizedDynamicMapper is a cluster.Options.MapperProvider: controller-
// runtime's dynamic REST mapper, memoized (memoMapper).
func MemoizedDynamicMapper(cfg *rest.Config, hc *http.Client) (meta.RESTMapper, error) {
	m, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	return memoize(m), nil
}

// RESTMapping answers from the memo, else asks the mapper and remembers a
// found mapping. Each caller gets a copy of its own.
func (m *memoMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	key := mappingKey{gk: gk, versions: strings.Join(versions, ",")}
	m.mu.RLock()
	found, ok := m.mappings[key]
	m.mu.RUnlock()
	if !ok {
		mapping, err := m.RESTMapper.RESTMapping(gk, versions...)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.mappings[key] = mapping
		m.mu.Unlock()
		found = mapping
	}
	mapping := *found
	return &mapping, nil
}

// Reset forgets the memo and resets the mapper, if it can be reset.
func (m *memoMapper) Reset() {
	m.mu.Lock()
	clear(m.mappings)
	m.mu.Unlock()
	if r, ok := m.RESTMapper.(meta.ResettableRESTMapper); ok {
		r.Reset()
	}
}
