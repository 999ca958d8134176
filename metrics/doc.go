// Package metrics defines apinet-hub's Prometheus metrics, labelled per
// IronCore member (cluster) and apinet peer (peer), and deletes a member's
// series when it leaves the fleet.
package metrics
