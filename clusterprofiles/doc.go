// Package clusterprofiles reads ClusterProfiles: a member's role (IronCore or
// apinet), which apinet peer and namespace an IronCore member maps into, its
// credentials and its health. The reconcilers ask it for a member's peer.
// It also builds what onboarding writes (onboard.go), so that what
// `apinet-hub onboard` and the test fleet write is what the hub reads.
package clusterprofiles
