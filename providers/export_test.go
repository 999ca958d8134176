package providers

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SharesDiscovery tells whether the discovery of the member at cfg would be
// shared with every member (memberMappers.get) for kinds.
func SharesDiscovery(cfg *rest.Config, scheme *runtime.Scheme, kinds []client.Object) (bool, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return false, err
	}
	mm := &memberMappers{scheme: scheme, timeout: 10 * time.Second, kinds: func() []client.Object { return kinds }}
	shared, err := mm.get(cfg, hc)
	return shared != nil, err
}
