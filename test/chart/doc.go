// Package chart tests the Helm chart charts/apinet-hub and its Grafana
// dashboard: the chart lints and renders with every feature, its schema
// rejects bad values, the dashboard's queries name only metrics the hub
// exports, and the rendered objects, created on a real kube-apiserver, give
// the hub exactly the rights it needs: a hub running under the chart's
// ServiceAccount engages a fleet and maps its objects without one
// "forbidden", reads no Secret outside its fleet namespaces, and serves its
// HTTPS metrics to a token bound to the chart's metrics-reader ClusterRole
// only; with sharding, two such hubs fence each member by exactly one of
// them. The ServiceMonitor, PrometheusRule and NetworkPolicy are checked as
// rendered (test/alerts tests the alert rules themselves).
//
// The install explains itself: without the ClusterProfile API (helm template
// without --api-versions, helm install against a real cluster that lacks the
// CRD) the chart fails with the pinned kubectl command, and crds.install
// renders the pinned CRD (a verbatim copy of the go.mod version's); the helm
// test Pod's `apinet-hub status` runs under the chart's ServiceAccount
// against the real hub (a real helm test needs a kubelet, which the fleet
// has not); every alert's runbook_url names a heading of docs/operations.md;
// the binary run as kubectl-apinet_hub names itself `kubectl apinet-hub`;
// plugins/apinet-hub.yaml is a krew Plugin (TestKrewManifest).
//
// The tests run bin/servers/helm (hack/install-servers.sh helm, which
// `make test` runs) and skip when it is missing.
package chart
