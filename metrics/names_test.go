package metrics

import (
	"slices"
	"strings"
	"testing"
)

func TestNamesListEveryFamilyOnce(t *testing.T) {
	names := Names()
	for _, want := range []string{
		"apinet_hub_cluster_engaged", "apinet_hub_cluster_probe_duration_seconds", "apinet_hub_cluster_probe_failures_total",
		"apinet_hub_engage_errors_total", "apinet_hub_reconcile_total", "apinet_hub_reconcile_duration_seconds",
		"apinet_hub_mapping_latency_seconds", "apinet_hub_mapping_latency_by_kind_seconds", "apinet_hub_objects_mapped", "apinet_hub_public_ips", "apinet_hub_nat_ips",
		"apinet_hub_peer_public_ips", "apinet_hub_nat_gateways_short",
		"apinet_hub_objects_unmapped", "apinet_hub_cluster_engaged_reason", "apinet_hub_build_info", "apinet_hub_credential_expiry_timestamp_seconds",
		"leader_election_master_status", "workqueue_depth",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %s", want)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("Names() is not sorted and unique: %v", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "apinet_hub_") == slices.Contains(Standard, n) {
			t.Errorf("%s: own families start with apinet_hub_, standard ones do not", n)
		}
	}
}
