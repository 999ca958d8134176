package clusterprofiles

import "fmt"

// ConditionEngaged is the condition the hub writes on every ClusterProfile it
// handles. Its reason says what the hub does with the cluster, or what an
// operator must fix.
const ConditionEngaged = "apinet-hub.ironcore.dev/Engaged"

// ConditionDeletionsHeld is on an engaged member's profile while the hub
// holds gone-path deletions past the member's deletion budget (reason
// ReasonDeletionsHeld; see docs/reconcilers.md, "The gone path"), and
// removed once none is held.
const ConditionDeletionsHeld = "apinet-hub.ironcore.dev/DeletionsHeld"

// ReasonDeletionsHeld is the reason of ConditionDeletionsHeld.
const ReasonDeletionsHeld = "DeletionsHeld"

// Reasons of ConditionEngaged.
const (
	// ReasonEngaged: the cluster is connected and reconciled (True).
	ReasonEngaged = "Engaged"
	// ReasonEngaging: a connection is being built (Unknown).
	ReasonEngaging = "Engaging"
	// ReasonPaused: the cluster stopped answering its health probe, or its
	// cluster manager reports ControlPlaneHealthy=False; nothing of it is
	// reconciled until it recovers.
	ReasonPaused = "Paused"
	// ReasonPeerPaused: the IronCore member's apinet peer is not usable.
	ReasonPeerPaused = "PeerPaused"
	// ReasonUnreachable: the cluster's API server cannot be reached.
	ReasonUnreachable = "Unreachable"
	// ReasonCredentialsMissing: neither an access provider nor a credential
	// Secret is there for the cluster.
	ReasonCredentialsMissing = "CredentialsMissing"
	// ReasonCredentialsInvalid: credentials exist but do not parse, or the
	// server rejects them (including a wrong CA).
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonPeerNotFound: the peer label is missing or names no apinet
	// profile the hub handles.
	ReasonPeerNotFound = "PeerNotFound"
	// ReasonPeerRoleInvalid: the peer label names a profile that is not an
	// apinet cluster.
	ReasonPeerRoleInvalid = "PeerRoleInvalid"
	// ReasonRoleInvalid: the role label is empty or unknown.
	ReasonRoleInvalid = "RoleInvalid"
	// ReasonNamespaceInvalid: the apinet-namespace annotation is not a
	// namespace name, or it (or the default in its absence) names a
	// SystemNamespace.
	ReasonNamespaceInvalid = "NamespaceInvalid"
	// ReasonAnnotationInvalid: a per-member setting has an invalid value.
	// The member stays engaged with the value in force before (see
	// ParseSettings).
	ReasonAnnotationInvalid = "AnnotationInvalid"
	// ReasonNamespaceConflict: an older profile already maps into the same
	// namespace of the same peer.
	ReasonNamespaceConflict = "NamespaceConflict"
	// ReasonIdentityMismatch: the member's credentials reach another
	// IronCore cluster than the one that owns its apinet namespace (see
	// Claim), for example after a kubeconfig of the wrong cluster was put
	// in its Secret. The hub writes and deletes nothing for the member, so
	// that one cluster's objects never replace another's.
	ReasonIdentityMismatch = "IdentityMismatch"
	// ReasonNamespaceNotOwned: the member's apinet namespace exists but is
	// not the member's to use: another profile owns it, its owner claim is
	// malformed, or it holds apinet objects the hub did not write for the
	// member (see Claim).
	ReasonNamespaceNotOwned = "NamespaceNotOwned"
	// ReasonAPIUnavailable: the cluster answers, but the API group the hub
	// uses does not (networking.ironcore.dev for a member,
	// core.apinet.ironcore.dev for a peer): its aggregated API server is
	// down.
	ReasonAPIUnavailable = "APIUnavailable"
	// ReasonAPINetletActive: an apinetlet still runs for the IronCore
	// cluster (its leader-election Lease is fresh, see ActiveAPINetlet). It
	// writes the same objects under the same field manager as the hub, so
	// the hub writes nothing for the member until the Lease has expired.
	ReasonAPINetletActive = "APINetletActive"
	// ReasonProviderIDNamespaceMismatch: IronCore objects of the member
	// carry provider IDs in another apinet namespace than the member's
	// (apinetlet ran with another --api-net-namespace); the hub writes
	// nothing rather than map them a second time.
	ReasonProviderIDNamespaceMismatch = "ProviderIDNamespaceMismatch"
	// ReasonOffboarding: `apinet-hub offboard` marked the profile
	// (AnnotationOffboarding); the hub has stopped reconciling the cluster
	// and writes nothing for it until the profile is gone or unmarked.
	ReasonOffboarding = "Offboarding"
	// ReasonDuplicateCluster: the credentials reach an IronCore cluster
	// that an older profile (in any hub namespace) already maps. One
	// cluster has one writer: the younger profile writes nothing while the
	// older one claims the cluster.
	ReasonDuplicateCluster = "DuplicateCluster"
)

// Problem is why a cluster cannot be engaged: a condition reason and a
// message that tells the operator what to do.
type Problem struct {
	Reason  string
	Message string
}

func (p *Problem) Error() string { return p.Reason + ": " + p.Message }

func problemf(reason, format string, args ...any) *Problem {
	return &Problem{Reason: reason, Message: fmt.Sprintf(format, args...)}
}
