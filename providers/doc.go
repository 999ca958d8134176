// Package providers holds apinet-hub's multicluster-runtime cluster provider:
// it turns ClusterProfiles on the hub into engaged member clusters, owns each
// member's lifetime (build, cache sync, engage, disengage) and never lets one
// slow or broken member hold up the others.
package providers
