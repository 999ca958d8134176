package reconcilers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
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
