// Package clusterprofiles reads ClusterProfiles: a member's role (IronCore or
// apinet), which apinet peer and namespace an IronCore member maps into, its
// credentials and its health. The reconcilers ask it for a member's peer.
// What onboarding writes is built in package lifecycle, on the conventions
// this package reads.
package clusterprofiles
