package clusterprofiles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

// Labels and annotations on ClusterProfiles that apinet-hub reads.
const (
	// LabelRole selects the profiles the hub handles: "ironcore" or "apinet".
	LabelRole = "apinet-hub.ironcore.dev/role"
	// LabelPeer, on an IronCore profile, names the apinet profile (same
	// namespace) the member maps into.
	LabelPeer = "apinet-hub.ironcore.dev/peer"
	// AnnotationAPINetNamespace, on an IronCore profile, names the namespace in
	// the peer that holds the member's apinet objects.
	AnnotationAPINetNamespace = "apinet-hub.ironcore.dev/apinet-namespace"
	// AnnotationDisableNetworkPeering, on an IronCore profile, overrides the
	// hub's --disable-network-peering for that member ("true" or "false").
	AnnotationDisableNetworkPeering = "apinet-hub.ironcore.dev/disable-network-peering"
	// AnnotationNodeAffinityAware, on an IronCore profile, overrides the
	// hub's --is-node-affinity-aware for that member ("true" or "false").
	AnnotationNodeAffinityAware = "apinet-hub.ironcore.dev/node-affinity-aware"
	natAnnotationPrefix         = "apinet-hub.ironcore.dev/nat-"
)

// Role is what a member cluster is to the hub.
type Role string

const (
	// RoleIronCore clusters serve networking.ironcore.dev; their objects are
	// reconciled into their peer.
	RoleIronCore Role = "ironcore"
	// RoleAPINet clusters ("peers") serve core.apinet.ironcore.dev.
	RoleAPINet Role = "apinet"
)

// Profile is what the hub reads from one ClusterProfile.
type Profile struct {
	// Key is the ClusterProfile's namespace and name.
	Key types.NamespacedName
	// Name is the cluster name inside the hub: "<namespace>/<name>".
	Name multicluster.ClusterName
	Role Role
	// Peer is the apinet profile an IronCore member maps into.
	Peer types.NamespacedName
	// APINetNamespace is the member's namespace in its peer.
	APINetNamespace string
	// DisableNetworkPeering and NodeAffinityAware override the hub's
	// defaults when set.
	DisableNetworkPeering, NodeAffinityAware *bool
	// NATAnnotations holds the member-wide NAT gateway annotations
	// (apinet-hub.ironcore.dev/nat-*), validated by the reconciler, which
	// reports bad values on the NATGateways they would affect.
	NATAnnotations map[string]string
}

// ClusterName is the hub's name for the cluster of a profile.
func ClusterName(key types.NamespacedName) multicluster.ClusterName {
	return multicluster.ClusterName(key.Namespace + "/" + key.Name)
}

// ParseClusterName splits a cluster name back into the profile's key.
func ParseClusterName(name multicluster.ClusterName) (types.NamespacedName, error) {
	ns, n, ok := strings.Cut(string(name), "/")
	if !ok || ns == "" || n == "" || strings.Contains(n, "/") {
		return types.NamespacedName{}, fmt.Errorf("cluster name %q is not <namespace>/<name>", name)
	}
	return types.NamespacedName{Namespace: ns, Name: n}, nil
}

// LabelValue is the label-safe, length-bounded form of a cluster name, used
// in labels on apinet objects and in metric labels: "<namespace>.<name>",
// shortened with a hash suffix when longer than 63 characters. (Namespaces
// hold no dots, so the form is unambiguous.)
func LabelValue(name multicluster.ClusterName) string {
	return boundedName(strings.ReplaceAll(string(name), "/", "."), validation.LabelValueMaxLength)
}

// DefaultAPINetNamespace is the apinet namespace of an IronCore member whose
// profile does not set AnnotationAPINetNamespace: "<namespace>-<name>" as a
// DNS label (dots become dashes), shortened with a hash suffix past 63
// characters. Two profiles that still end up with one namespace on one peer
// are caught by the namespace claim check.
func DefaultAPINetNamespace(key types.NamespacedName) string {
	return boundedName(strings.ReplaceAll(key.Namespace+"-"+key.Name, ".", "-"), validation.DNS1123LabelMaxLength)
}

// boundedName cuts s to max characters, replacing the tail by a hash of the
// whole so that distinct long inputs stay distinct.
func boundedName(s string, max int) string {
	if len(s) <= max {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:])[:8]
	head := strings.TrimRight(s[:max-len(suffix)-1], "-.")
	return head + "-" + suffix
}

// Parse reads a ClusterProfile the hub selected (it carries LabelRole). It
// checks only the profile itself; peers and credentials are resolved
// elsewhere. A profile the hub cannot use yields a Problem.
func Parse(cp *clusterinventoryv1alpha1.ClusterProfile) (*Profile, *Problem) {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	p := &Profile{Key: key, Name: ClusterName(key)}
	role, ok := cp.Labels[LabelRole]
	switch {
	case !ok || role == "":
		return nil, problemf(ReasonRoleInvalid, "label %s is missing or empty; set it to %q or %q", LabelRole, RoleIronCore, RoleAPINet)
	case Role(role) == RoleAPINet:
		p.Role = RoleAPINet
		return p, nil
	case Role(role) != RoleIronCore:
		return nil, problemf(ReasonRoleInvalid, "label %s=%q is not %q or %q", LabelRole, role, RoleIronCore, RoleAPINet)
	}
	p.Role = RoleIronCore

	peer := cp.Labels[LabelPeer]
	if peer == "" {
		return nil, problemf(ReasonPeerNotFound, "label %s is not set; it must name the apinet ClusterProfile (same namespace) this cluster maps into", LabelPeer)
	}
	if errs := validation.IsDNS1123Subdomain(peer); len(errs) > 0 {
		return nil, problemf(ReasonPeerNotFound, "label %s=%q is not a ClusterProfile name: %s", LabelPeer, peer, strings.Join(errs, "; "))
	}
	p.Peer = types.NamespacedName{Namespace: cp.Namespace, Name: peer}

	p.APINetNamespace = DefaultAPINetNamespace(key)
	if ns, set := cp.Annotations[AnnotationAPINetNamespace]; set {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, problemf(ReasonNamespaceInvalid, "annotation %s=%q is not a namespace name: %s", AnnotationAPINetNamespace, ns, strings.Join(errs, "; "))
		}
		p.APINetNamespace = ns
	}
	for key, dst := range map[string]**bool{AnnotationDisableNetworkPeering: &p.DisableNetworkPeering, AnnotationNodeAffinityAware: &p.NodeAffinityAware} {
		if v, set := cp.Annotations[key]; set {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, problemf(ReasonAnnotationInvalid, "annotation %s=%q is not true or false", key, v)
			}
			*dst = &b
		}
	}
	for k, v := range cp.Annotations {
		if strings.HasPrefix(k, natAnnotationPrefix) {
			if p.NATAnnotations == nil {
				p.NATAnnotations = map[string]string{}
			}
			p.NATAnnotations[k] = v
		}
	}
	return p, nil
}
