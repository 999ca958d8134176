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
// The tests run bin/servers/helm (hack/install-servers.sh helm, which
// `make test` runs) and skip when it is missing.
package chart
