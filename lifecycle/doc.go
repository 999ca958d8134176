// Package lifecycle is the fleet's lifecycle on the hub's conventions: what
// `apinet-hub onboard` writes for a cluster (the ClusterProfile, its
// credential Secret or access provider, and the least-privilege access
// objects in the cluster), built here so that what the CLI and the test
// fleet write is what package clusterprofiles reads, and the checks onboard
// runs before it writes (checks.go). The cmd package only wires flags and
// prints.
package lifecycle
