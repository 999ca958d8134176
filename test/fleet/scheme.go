package fleet

import (
	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	ipamv1alpha1 "github.com/ironcore-dev/ironcore/api/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
)

// Scheme knows every kind a fleet cluster serves: the built-in kinds,
// APIServices, ClusterProfiles, IronCore networking/ipam and apinet core.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiregistrationv1.AddToScheme(s))
	utilruntime.Must(clusterinventoryv1alpha1.AddToScheme(s))
	utilruntime.Must(networkingv1alpha1.AddToScheme(s))
	utilruntime.Must(ipamv1alpha1.AddToScheme(s))
	utilruntime.Must(apinetv1alpha1.AddToScheme(s))
	return s
}
