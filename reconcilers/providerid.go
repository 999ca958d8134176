package reconcilers

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// ProviderIDPrefix starts the provider IDs of apinet-backed objects.
const ProviderIDPrefix = "ironcore-net://"

// NetworkID is the provider ID the hub writes into an IronCore Network's
// spec.providerID: ironcore-net://<apinet namespace>/<apinet network name>/<VNI>/<apinet network UID>.
// The machine provider parses it to find where to create apinet NICs.
type NetworkID struct {
	Namespace, Name, ID string
	UID                 types.UID
}

func (n NetworkID) String() string {
	return ProviderIDPrefix + n.Namespace + "/" + n.Name + "/" + n.ID + "/" + string(n.UID)
}

// ParseNetworkID parses a Network provider ID (the prefix is optional).
func ParseNetworkID(id string) (NetworkID, error) {
	parts, err := splitProviderID(id)
	if err != nil {
		return NetworkID{}, err
	}
	return NetworkID{Namespace: parts[0], Name: parts[1], ID: parts[2], UID: types.UID(parts[3])}, nil
}

// NetworkInterfaceID is the provider ID the machine provider writes into an
// IronCore NetworkInterface's spec.providerID:
// ironcore-net://<apinet namespace>/<apinet NIC name>/<node>/<apinet NIC UID>.
type NetworkInterfaceID struct {
	Namespace, Name, Node string
	UID                   types.UID
}

func (n NetworkInterfaceID) String() string {
	return ProviderIDPrefix + n.Namespace + "/" + n.Name + "/" + n.Node + "/" + string(n.UID)
}

// ParseNetworkInterfaceID parses a NetworkInterface provider ID (the prefix
// is optional); the node must be a DNS subdomain.
func ParseNetworkInterfaceID(id string) (NetworkInterfaceID, error) {
	parts, err := splitProviderID(id)
	if err != nil {
		return NetworkInterfaceID{}, err
	}
	if errs := validation.IsDNS1123Subdomain(parts[2]); len(errs) > 0 {
		return NetworkInterfaceID{}, fmt.Errorf("invalid provider id %q: node %q is not a DNS subdomain: %s", id, parts[2], strings.Join(errs, "; "))
	}
	return NetworkInterfaceID{Namespace: parts[0], Name: parts[1], Node: parts[2], UID: types.UID(parts[3])}, nil
}

// splitProviderID strips the optional prefix and requires exactly four
// slash-separated parts, as apinetlet does.
func splitProviderID(id string) ([]string, error) {
	parts := strings.SplitN(strings.TrimPrefix(id, ProviderIDPrefix), "/", 5)
	if len(parts) != 4 {
		return nil, fmt.Errorf("invalid provider id %q: want %s<namespace>/<name>/<id>/<uid>", id, ProviderIDPrefix)
	}
	return parts, nil
}

// foreignNamespaces counts, by apinet namespace, the provider IDs that
// name another apinet namespace than namespace (unparsable and empty IDs
// are not counted).
func foreignNamespaces(ids []string, namespace string) map[string]int {
	var out map[string]int
	for _, id := range ids {
		parts, err := splitProviderID(id)
		if id == "" || err != nil || parts[0] == namespace {
			continue
		}
		if out == nil {
			out = map[string]int{}
		}
		out[parts[0]]++
	}
	return out
}

// CheckProviderIDNamespaces is the hub's check of a member before it is
// engaged (providers.Options.Preflight): the provider IDs of its IronCore
// Networks and NetworkInterfaces must name the member's apinet namespace.
// Provider IDs in another namespace mean that apinetlet mapped the member
// with another --api-net-namespace: engaging it would give its Networks a
// second apinet Network (a new VNI) and leave its NetworkInterfaces
// Pending, so the member is refused with ReasonProviderIDNamespaceMismatch.
func CheckProviderIDNamespaces(ctx context.Context, member client.Reader, namespace string) *clusterprofiles.Problem {
	var ids []string
	networks, nics := &networkingv1alpha1.NetworkList{}, &networkingv1alpha1.NetworkInterfaceList{}
	for _, list := range []client.ObjectList{networks, nics} {
		if err := member.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonUnreachable, Message: fmt.Sprintf("list the member's provider IDs: %v", err)}
		}
	}
	for _, nw := range networks.Items {
		ids = append(ids, nw.Spec.ProviderID)
	}
	for _, nic := range nics.Items {
		ids = append(ids, nic.Spec.ProviderID)
	}
	foreign := foreignNamespaces(ids, namespace)
	if len(foreign) == 0 {
		return nil
	}
	var parts []string
	for _, ns := range slices.Sorted(maps.Keys(foreign)) {
		parts = append(parts, fmt.Sprintf("%d in %s", foreign[ns], ns))
	}
	most := slices.MaxFunc(slices.Collect(maps.Keys(foreign)), func(a, b string) int { return cmp.Compare(foreign[a], foreign[b]) })
	return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonProviderIDNamespaceMismatch, Message: fmt.Sprintf(
		"IronCore Networks and NetworkInterfaces of this member have provider IDs in other apinet namespaces than %s, the member's (%s): apinetlet mapped them with another --api-net-namespace. The hub writes nothing for the member (a second apinet Network would get a new VNI). Set annotation %s=%s on the profile (apinet-hub onboard --apinet-namespace %s --take-over), or recreate those objects if they are to be mapped anew (provider IDs are immutable)",
		namespace, strings.Join(parts, ", "), clusterprofiles.AnnotationAPINetNamespace, most, most)}
}
