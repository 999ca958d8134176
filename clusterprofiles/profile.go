package clusterprofiles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
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
	// the peer that holds the member's apinet objects. It may not name a
	// SystemNamespace.
	AnnotationAPINetNamespace = "apinet-hub.ironcore.dev/apinet-namespace"
	// AnnotationDisableNetworkPeering, on an IronCore profile, overrides the
	// hub's --disable-network-peering for that member ("true" or "false").
	AnnotationDisableNetworkPeering = "apinet-hub.ironcore.dev/disable-network-peering"
	// AnnotationNodeAffinityAware, on an IronCore profile, overrides the
	// hub's --is-node-affinity-aware for that member ("true" or "false").
	AnnotationNodeAffinityAware = "apinet-hub.ironcore.dev/node-affinity-aware"
	// AnnotationTakeOver, on an IronCore profile, set to "true", lets the hub
	// adopt an existing apinet namespace that no hub owns yet and that holds
	// apinet objects the hub did not write (apinetlet's, for a take-over
	// from apinetlet). Without it the hub refuses such a namespace rather
	// than mix its objects with someone else's. A namespace holding objects
	// of other hub members is never adopted (see Claim).
	AnnotationTakeOver = "apinet-hub.ironcore.dev/take-over"
	// AnnotationOffboarding, set by `apinet-hub offboard` to the mode
	// ("release" or "purge"), makes the hub stop reconciling the cluster
	// and report ReasonOffboarding, so that offboard alone changes the
	// member's objects from then on. Any value stops the hub.
	AnnotationOffboarding = "apinet-hub.ironcore.dev/offboarding"
	// AnnotationLiftDeletionHold, on an IronCore profile, lifts the hold on
	// the member's gone-path deletions (DeletionBudget) whenever its value
	// changes (any new value, e.g. a timestamp): the deletions held then go
	// through once, and a new budget window opens. Its first value seen by
	// an engagement lifts nothing.
	AnnotationLiftDeletionHold = "apinet-hub.ironcore.dev/lift-deletion-hold"
	natAnnotationPrefix        = "apinet-hub.ironcore.dev/nat-"
)

// AnnotationHandbackLayout, on an IronCore profile, names the apinetlet
// whose layout the hub writes on the apinet objects it creates for the
// member, so that the member can be handed back to that apinetlet
// (`apinet-hub offboard --release`): HandbackHead (the default) or
// HandbackV024. It matters for new apinet LoadBalancers, whose selector
// is immutable; existing ones keep theirs.
const AnnotationHandbackLayout = "apinet-hub.ironcore.dev/handback-layout"

// HandbackLayout is the layout of the origin metadata, and of an apinet
// LoadBalancer's selector and instance template, that one apinetlet
// version writes and can adopt.
type HandbackLayout string

const (
	// HandbackHead is apinetlet v0.4.0 and later: the origin uid and
	// namespace as labels (the LoadBalancer selector), the name as an
	// annotation.
	HandbackHead HandbackLayout = "head"
	// HandbackV024 is apinetlet v0.2.x and v0.3.x: all three origin keys
	// as labels, the name included, and all three in the LoadBalancer
	// selector.
	HandbackV024 HandbackLayout = "v0.2.4"
)

// parseHandbackLayout reads AnnotationHandbackLayout's value.
func parseHandbackLayout(v string) (HandbackLayout, bool) {
	switch l := HandbackLayout(v); l {
	case HandbackHead, HandbackV024:
		return l, true
	}
	return "", false
}

// Offboarding tells whether `apinet-hub offboard` has marked the profile,
// and a problem that says so.
func Offboarding(cp *clusterinventoryv1alpha1.ClusterProfile) *Problem {
	mode, ok := cp.Annotations[AnnotationOffboarding]
	if !ok {
		return nil
	}
	return problemf(ReasonOffboarding, "apinet-hub offboard (%s) is taking the cluster out of the fleet: the hub has stopped reconciling it and writes nothing for it (annotation %s)",
		mode, AnnotationOffboarding)
}

// Role is what a member cluster is to the hub.
type Role string

const (
	// RoleIronCore clusters serve networking.ironcore.dev; their objects are
	// reconciled into their peer.
	RoleIronCore Role = "ironcore"
	// RoleAPINet clusters ("peers") serve core.apinet.ironcore.dev.
	RoleAPINet Role = "apinet"
)

// Profile is what the hub reads from one ClusterProfile to engage the
// cluster. A member's per-profile overrides of hub flags are not part of it
// but its Settings, which apply without re-engaging the member.
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
	// Scope is the part of the IronCore cluster the member covers (its
	// scope annotations; the hub's --watch-filter is applied on engaging).
	Scope Scope
	// Paired is true when a hub-side pairing rule, not the profile's
	// labels, gave the role and peer (Pairing).
	Paired bool
}

// Settings are a member's per-profile overrides of hub flags. They are live:
// the hub applies edits without re-engaging the member.
type Settings struct {
	// DisableNetworkPeering and NodeAffinityAware override the hub's
	// --disable-network-peering and --is-node-affinity-aware; nil: the hub's
	// flag applies.
	DisableNetworkPeering, NodeAffinityAware *bool
	// NATAnnotations holds the member-wide NAT gateway annotations
	// (apinet-hub.ironcore.dev/nat-*), nil if there are none. The
	// reconciler validates them and reports bad values on the NATGateways
	// they would affect.
	NATAnnotations map[string]string
	// TakeOver is AnnotationTakeOver == "true": the member may adopt an
	// apinet namespace that holds objects the hub did not write.
	TakeOver bool
	// LiftDeletionHold is the value of AnnotationLiftDeletionHold ("" if
	// unset); a change lifts the member's deletion hold (Deletions.Take).
	LiftDeletionHold string
	// Handback is AnnotationHandbackLayout's value, "" if unset (HEAD's
	// layout applies; see Layout).
	Handback HandbackLayout
}

// Layout is the layout the hub writes on new apinet objects of
// the member: Handback, HandbackHead if unset.
func (s Settings) Layout() HandbackLayout {
	if s.Handback == "" {
		return HandbackHead
	}
	return s.Handback
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
	return BoundedName(strings.ReplaceAll(string(name), "/", "."), validation.LabelValueMaxLength)
}

// DefaultAPINetNamespace is the apinet namespace of an IronCore member whose
// profile does not set AnnotationAPINetNamespace, a DNS label.
//
// Where "<namespace>-<name>" with dots turned into dashes is unambiguous (the
// namespace has no '-', so the first '-' ends it, and the name has no '.',
// so no dash stands for a dot), it is that form, shortened with a hash
// suffix past 63 characters: fleet/ironcore-1 maps to fleet-ironcore-1, as it
// always has. Otherwise different profiles could share the form ("a-b/c" and
// "a/b-c" both give "a-b-c", "a/b.c" gives it too), so the form gets the
// first 8 hex digits of the SHA-256 of "<namespace>/<name>" appended. Two
// profiles that still end up with one namespace on one peer are caught by
// the namespace claim check (Claim).
func DefaultAPINetNamespace(key types.NamespacedName) string {
	plain := strings.ReplaceAll(key.Namespace+"-"+key.Name, ".", "-")
	if !strings.Contains(key.Namespace, "-") && !strings.Contains(key.Name, ".") {
		return BoundedName(plain, validation.DNS1123LabelMaxLength)
	}
	return withSuffix(plain, shortHash(key.Namespace+"/"+key.Name), validation.DNS1123LabelMaxLength)
}

// BoundedName cuts s to max characters, replacing the tail by a hash of the
// whole so that distinct long inputs stay distinct.
func BoundedName(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return withSuffix(s, shortHash(s), max)
}

// withSuffix is head, cut so that "-" and suffix fit in max characters, then
// "-" and suffix. The cut drops trailing dashes and dots, so that a valid
// DNS label or label value stays one.
func withSuffix(head, suffix string, max int) string {
	if keep := max - len(suffix) - 1; len(head) > keep {
		head = head[:keep]
	}
	head = strings.TrimRight(head, "-.")
	if head == "" {
		return suffix
	}
	return head + "-" + suffix
}

// shortHash is the first 8 hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// Parse reads a ClusterProfile the hub selected by its labels (it carries
// LabelRole); Pairing.Parse reads one a pairing rule may have selected. It
// checks only the profile itself; peers and credentials are resolved
// elsewhere. A profile the hub cannot use yields a Problem. The member's
// settings are not read here (see ParseSettings): a bad setting never stops
// a member.
func Parse(cp *clusterinventoryv1alpha1.ClusterProfile) (*Profile, *Problem) {
	return (*Pairing)(nil).Parse(cp)
}

// parseAssigned reads a profile whose role and peer come from a.
func parseAssigned(cp *clusterinventoryv1alpha1.ClusterProfile, a Assignment) (*Profile, *Problem) {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	p := &Profile{Key: key, Name: ClusterName(key), Paired: a.Paired}
	roleFrom, peerFrom := "label "+LabelRole, "label "+LabelPeer
	if a.From != "label" {
		roleFrom, peerFrom = a.From+" (role)", a.From+" (peer)"
	}
	switch role := a.Role; {
	case role == "":
		return nil, problemf(ReasonRoleInvalid, "%s is missing or empty; set it to %q or %q", roleFrom, RoleIronCore, RoleAPINet)
	case Role(role) == RoleAPINet:
		p.Role = RoleAPINet
		return p, nil
	case Role(role) != RoleIronCore:
		return nil, problemf(ReasonRoleInvalid, "%s=%q is not %q or %q", roleFrom, role, RoleIronCore, RoleAPINet)
	}
	p.Role = RoleIronCore

	peer := a.Peer
	if peer == "" {
		return nil, problemf(ReasonPeerNotFound, "%s is not set; it must name the apinet ClusterProfile (same namespace) this cluster maps into", peerFrom)
	}
	if errs := validation.IsDNS1123Subdomain(peer); len(errs) > 0 {
		return nil, problemf(ReasonPeerNotFound, "%s=%q is not a ClusterProfile name: %s", peerFrom, peer, strings.Join(errs, "; "))
	}
	p.Peer = types.NamespacedName{Namespace: cp.Namespace, Name: peer}
	scope, problem := parseScope(cp)
	if problem != nil {
		return nil, problem
	}
	p.Scope = scope

	ns, set := cp.Annotations[AnnotationAPINetNamespace]
	if !set {
		p.APINetNamespace = DefaultAPINetNamespace(key)
		// Profiles in a hub namespace such as "kube" would map there.
		if SystemNamespace(p.APINetNamespace) {
			return nil, problemf(ReasonNamespaceInvalid, "the default apinet namespace of this profile, %q, is a system namespace of the peer, where Kubernetes or apinet run their own components; set annotation %s to a namespace of its own",
				p.APINetNamespace, AnnotationAPINetNamespace)
		}
		return p, nil
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, problemf(ReasonNamespaceInvalid, "annotation %s=%q is not a namespace name: %s", AnnotationAPINetNamespace, ns, strings.Join(errs, "; "))
	}
	if SystemNamespace(ns) {
		return nil, problemf(ReasonNamespaceInvalid, "annotation %s=%q names a system namespace of the peer, where Kubernetes or apinet run their own components; set it to a namespace of its own",
			AnnotationAPINetNamespace, ns)
	}
	p.APINetNamespace = ns
	return p, nil
}

// SystemNamespace reports whether name is a namespace the hub never uses as
// an apinet namespace: the namespaces of Kubernetes itself ("default",
// "kube-system", "kube-public", "kube-node-lease" and any other "kube-"
// name, a prefix Kubernetes reserves), and the namespaces where
// ironcore-net and apinet run their own components ("apinet-system",
// "ironcore-net-system", "metalnet-system"). The hub's objects there would
// mix with, and its cleanup could delete, what those components need.
func SystemNamespace(name string) bool {
	switch name {
	case "default", "kube-system", "kube-public", "kube-node-lease",
		"apinet-system", "ironcore-net-system", "metalnet-system":
		return true
	}
	return strings.HasPrefix(name, "kube-")
}

// boolSetting is one true/false override of a hub flag.
type boolSetting struct {
	annotation, flag string
	field            func(*Settings) **bool
}

var boolSettings = []boolSetting{
	{AnnotationDisableNetworkPeering, "--disable-network-peering", func(s *Settings) **bool { return &s.DisableNetworkPeering }},
	{AnnotationNodeAffinityAware, "--is-node-affinity-aware", func(s *Settings) **bool { return &s.NodeAffinityAware }},
}

// ParseSettings reads a profile's settings. An invalid value does not fail
// the member, whose objects would otherwise stop being reconciled over a
// typo: the value in force before (from last) is kept for that key, and a
// Problem (ReasonAnnotationInvalid) per bad key says what was wrong and what
// stays in force. Problems are sorted by annotation key, so that the same
// profile always gives the same condition message. The result shares no
// memory with cp or last.
func ParseSettings(cp *clusterinventoryv1alpha1.ClusterProfile, last Settings) (Settings, []*Problem) {
	var s Settings
	bad := map[string]*Problem{}
	for _, b := range boolSettings {
		v, set := cp.Annotations[b.annotation]
		if !set {
			continue
		}
		if parsed, err := strconv.ParseBool(v); err == nil {
			*b.field(&s) = &parsed
			continue
		}
		msg := fmt.Sprintf("annotation %s=%q is not true or false; ", b.annotation, v)
		if old := *b.field(&last); old != nil {
			*b.field(&s) = ptr.To(*old)
			msg += fmt.Sprintf("%t, its value before, stays in force. Set it to true or false, or remove it to use the hub's %s", *old, b.flag)
		} else {
			msg += fmt.Sprintf("the hub's %s stays in force. Set it to true or false, or remove it", b.flag)
		}
		bad[b.annotation] = &Problem{Reason: ReasonAnnotationInvalid, Message: msg}
	}
	switch v, set := cp.Annotations[AnnotationTakeOver]; {
	case !set || v == "false":
	case v == "true":
		s.TakeOver = true
	default:
		// Strict, unlike the overrides: adopting objects someone else wrote
		// is asked for in exactly one way.
		s.TakeOver = last.TakeOver
		bad[AnnotationTakeOver] = problemf(ReasonAnnotationInvalid, "annotation %s=%q is not \"true\" or \"false\"; take-over stays %s, as before. Set it to \"true\" to let the hub adopt an apinet namespace that another writer (such as apinetlet) filled, or remove it",
			AnnotationTakeOver, v, onOff(last.TakeOver))
	}
	if v, set := cp.Annotations[AnnotationHandbackLayout]; set {
		if l, ok := parseHandbackLayout(v); ok {
			s.Handback = l
		} else {
			s.Handback = last.Handback
			bad[AnnotationHandbackLayout] = problemf(ReasonAnnotationInvalid, "annotation %s=%q is not %q or %q; the layout %s stays in force for new apinet objects. Set it to the apinetlet the member is to be handed back to, or remove it",
				AnnotationHandbackLayout, v, HandbackHead, HandbackV024, last.Layout())
		}
	}
	s.LiftDeletionHold = cp.Annotations[AnnotationLiftDeletionHold]
	for k, v := range cp.Annotations {
		if strings.HasPrefix(k, natAnnotationPrefix) {
			if s.NATAnnotations == nil {
				s.NATAnnotations = map[string]string{}
			}
			s.NATAnnotations[k] = v
		}
	}
	var problems []*Problem
	for _, k := range slices.Sorted(maps.Keys(bad)) {
		problems = append(problems, bad[k])
	}
	return s, problems
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
