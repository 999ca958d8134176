package reconcilers

import (
	"context"
	"fmt"
	"strings"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// A take-over adopts the apinet objects without a cluster label in the
// member's namespace (apinetlet's), and from then on the gone path deletes
// those whose IronCore object is missing. A take-over into the wrong
// namespace (a mistyped apinet-namespace naming another cluster's apinetlet
// namespace) would therefore delete the other cluster's objects. So a
// member adopts unlabelled objects only if each one that names an origin
// stems from an object the member has (same UID, at the namespace/name the
// origin names); objects that name no origin (the machine provider's NICs,
// a LoadBalancer's own IPs) are neither proof nor disproof.

// originKinds are the IronCore kinds behind each origin.
var originKinds = map[Origin]func() client.Object{
	OriginNetwork:          func() client.Object { return &networkingv1alpha1.Network{} },
	OriginVirtualIP:        func() client.Object { return &networkingv1alpha1.VirtualIP{} },
	OriginNetworkInterface: func() client.Object { return &networkingv1alpha1.NetworkInterface{} },
	OriginLoadBalancer:     func() client.Object { return &networkingv1alpha1.LoadBalancer{} },
	OriginNATGateway:       func() client.Object { return &networkingv1alpha1.NATGateway{} },
	OriginNetworkPolicy:    func() client.Object { return &networkingv1alpha1.NetworkPolicy{} },
}

// originLookup finds the UID of the IronCore object of an origin at key;
// found is false if there is none.
type originLookup func(o Origin, key types.NamespacedName) (uid types.UID, found bool, err error)

// foreignOrigins returns, for the objects given (unlabelled apinet objects),
// a description of each one whose origin the member does not have, in the
// order given. An error of lookup is returned as is.
func foreignOrigins(objs []client.Object, lookup originLookup) ([]string, error) {
	var foreign []string
	for _, obj := range objs {
		for _, o := range []Origin{OriginNetwork, OriginVirtualIP, OriginNetworkInterface, OriginLoadBalancer, OriginNATGateway, OriginNetworkPolicy} {
			uid, ok := obj.GetLabels()[o.UIDLabel()]
			if !ok {
				continue
			}
			what := fmt.Sprintf("%s (from %s", obj.GetName(), o)
			key, ok := o.Of(obj)
			if !ok {
				foreign = append(foreign, what+" with uid "+uid+", no namespace/name)")
				break
			}
			have, found, err := lookup(o, key)
			if err != nil {
				return nil, err
			}
			switch {
			case !found:
				foreign = append(foreign, fmt.Sprintf("%s %s, not in this cluster)", what, key))
			case string(have) != uid:
				foreign = append(foreign, fmt.Sprintf("%s %s uid %s; this cluster's has uid %s)", what, key, uid, have))
			}
			break
		}
	}
	return foreign, nil
}

// ProveAdoption is the hub's check before a member adopts unlabelled apinet
// objects (providers.Options.ProveAdoption): every one that names an origin
// must stem from an object of the member, read from its synced cache.
// Otherwise the member is refused with ReasonNamespaceNotOwned, naming the
// first few foreign objects; nothing has been written by then.
func ProveAdoption(ctx context.Context, member client.Reader, unlabelled []client.Object) *clusterprofiles.Problem {
	foreign, err := foreignOrigins(unlabelled, func(o Origin, key types.NamespacedName) (types.UID, bool, error) {
		obj := originKinds[o]()
		if err := member.Get(ctx, key, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, err
		}
		return obj.GetUID(), true, nil
	})
	if err != nil {
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonUnreachable, Message: fmt.Sprintf("read the member's objects to prove the take-over: %v", err)}
	}
	if len(foreign) == 0 {
		return nil
	}
	shown := foreign[:min(len(foreign), 5)]
	more := ""
	if len(foreign) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(foreign)-len(shown))
	}
	return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonNamespaceNotOwned, Message: fmt.Sprintf(
		"take-over refused: %d of the %d apinet objects without label %s in the apinet namespace stem from IronCore objects this cluster does not have: %s%s. The namespace is likely another cluster's (check annotation %s); nothing is written or deleted. If they are leftovers of this cluster, delete them in the peer and the take-over proceeds",
		len(foreign), len(unlabelled), clusterprofiles.LabelCluster, strings.Join(shown, "; "), more, clusterprofiles.AnnotationAPINetNamespace)}
}
