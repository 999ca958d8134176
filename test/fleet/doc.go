// Package fleet starts a local fleet of real Kubernetes API servers for tests
// and for `make run`: a hub cluster (kube-apiserver + etcd with the
// ClusterProfile CRD), IronCore members (plus the ironcore aggregated
// apiserver) and apinet peers (plus the ironcore-net aggregated apiserver).
//
// Every process listens on loopback only and is a child of the calling
// process; children are started with a parent-death signal so that a test
// binary killed by a timeout does not leave servers behind. A cluster can be
// stopped and started again on the same address with the same certificates
// and data, which fault tests use to simulate an outage.
//
// The server binaries come from hack/install-servers.sh (bin/servers by
// default, or $APINET_HUB_SERVERS).
package fleet
