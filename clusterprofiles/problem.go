package clusterprofiles

import "fmt"

// ConditionEngaged is the condition the hub writes on every ClusterProfile it
// handles. Its reason says what the hub does with the cluster, or what an
// operator must fix.
const ConditionEngaged = "apinet-hub.ironcore.dev/Engaged"

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
	// namespace name.
	ReasonNamespaceInvalid = "NamespaceInvalid"
	// ReasonAnnotationInvalid: a per-member setting has an invalid value.
	ReasonAnnotationInvalid = "AnnotationInvalid"
	// ReasonNamespaceConflict: an older profile already maps into the same
	// namespace of the same peer.
	ReasonNamespaceConflict = "NamespaceConflict"
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
