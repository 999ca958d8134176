package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetricsPassPromlint registers every metric of the hub in a registry of
// its own, gives each a series, and lints what a scrape would return:
// promlint's naming rules (units, _total on counters, help text), plus the
// hub's own: no label named "cluster" (the external label of the scraping
// cluster in Thanos and Mimir), member and peer instead.
func TestMetricsPassPromlint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	SetUsageSource(func(context.Context) []Usage {
		return []Usage{{Member: "fleet.ironcore-1", Peer: "fleet.apinet-1", Objects: map[string]int{"network": 1},
			Unmapped: map[string]int{"network": 0}, PublicIPs: 1, PublicIPsByKind: map[string]int{"virtualip": 1}, NATShort: 0}}
	})
	defer usageSource.Store(nil)
	SetHeldDeletionsSource(func() []HeldDeletions {
		return []HeldDeletions{{Member: "fleet.ironcore-1", Peer: "fleet.apinet-1", Held: 3}}
	})
	defer heldDeletionsSource.Store(nil)
	SetBuildInfo("v1.2.3", "go1.26")
	member, peer := ClusterLabels("ironcore", "fleet.ironcore-1", "fleet.apinet-1")
	ClusterEngaged.WithLabelValues(member, peer, "ironcore").Set(1)
	ClusterEngagedReason.WithLabelValues(member, peer, "ironcore", "Engaged").Set(1)
	CredentialExpiry.WithLabelValues(member, peer).Set(1.7672256e9)
	ClusterProbeDuration.WithLabelValues(member, peer, "ironcore").Observe(0.01)
	ClusterProbeFailures.WithLabelValues(member, peer, "ironcore").Inc()
	EngageErrors.WithLabelValues(member, peer, "Paused").Inc()
	ReconcileTotal.WithLabelValues("network", member, peer, "success").Inc()
	ReconcileDuration.WithLabelValues("network").Observe(0.01)
	MappingLatency.WithLabelValues(member).Observe(1)
	MappingLatencyByKind.WithLabelValues("network").Observe(1)
	QueueDepth.WithLabelValues("network", member).Set(0)
	ReconcilesInFlight.WithLabelValues("network", member).Set(0)
	defer ForgetCluster(member)

	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cluster" {
					t.Errorf("%s has a label named cluster", f.GetName())
				}
			}
		}
	}
	for _, name := range Names() {
		if strings.HasPrefix(name, "apinet_hub_") && !seen[name] {
			t.Errorf("%s was not linted: give it a series here", name)
		}
	}
}

// TestForgetClusterLeavesNoSeries gives every vector of the hub a series of
// two members and their peer, forgets one member, and checks that a scrape
// has no series of it left (every vector with a member label is in
// clusterVecs) while the other member's stay; then forgets the peer. The
// fleet-wide histograms keep their series.
func TestForgetClusterLeavesNoSeries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	const gone, kept, peer = "forget.ironcore-1", "forget.ironcore-2", "forget.apinet-1"
	for _, member := range []string{gone, kept} {
		ClusterEngaged.WithLabelValues(member, peer, "ironcore").Set(1)
		ClusterEngagedReason.WithLabelValues(member, peer, "ironcore", "Engaged").Set(1)
		CredentialExpiry.WithLabelValues(member, peer).Set(1.7672256e9)
		ClusterProbeDuration.WithLabelValues(member, peer, "ironcore").Observe(0.01)
		ClusterProbeFailures.WithLabelValues(member, peer, "ironcore").Inc()
		EngageErrors.WithLabelValues(member, peer, "Paused").Inc()
		ReconcileTotal.WithLabelValues("forgetkind", member, peer, "success").Inc()
		MappingLatency.WithLabelValues(member).Observe(1)
		QueueDepth.WithLabelValues("forgetkind", member).Set(1)
		ReconcilesInFlight.WithLabelValues("forgetkind", member).Set(1)
	}
	ClusterEngaged.WithLabelValues("", peer, "apinet").Set(1)
	ClusterProbeDuration.WithLabelValues("", peer, "apinet").Observe(0.01)
	ReconcileDuration.WithLabelValues("forgetkind").Observe(0.01)
	MappingLatencyByKind.WithLabelValues("forgetkind").Observe(1)
	defer ForgetCluster(kept)

	// series counts the scraped series with label=value, by family; a
	// histogram is its buckets, +Inf (which the text format adds), _sum and
	// _count.
	series := func(label, value string) map[string]int {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		out := map[string]int{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == label && l.GetValue() == value {
						if h := m.GetHistogram(); h != nil {
							out[f.GetName()] += len(h.GetBucket()) + 3
						} else {
							out[f.GetName()]++
						}
					}
				}
			}
		}
		return out
	}
	before := series(LabelMember, kept)
	if n := before["apinet_hub_mapping_latency_seconds"]; n != len(mappingLatencyBuckets)+3 {
		t.Errorf("a member has %d series of apinet_hub_mapping_latency_seconds, want %d (one histogram)", n, len(mappingLatencyBuckets)+3)
	}
	ForgetCluster(gone)
	if left := series(LabelMember, gone); len(left) > 0 {
		t.Errorf("series of a forgotten member are left: %v (add their vector to clusterVecs)", left)
	}
	if after := series(LabelMember, kept); len(after) != len(before) {
		t.Errorf("forgetting %s changed %s's series: %v, before %v", gone, kept, after, before)
	}
	ForgetCluster(kept)
	ForgetCluster(peer)
	if left := series(LabelPeer, peer); len(left) > 0 {
		t.Errorf("series of a forgotten peer are left: %v", left)
	}
	for _, fleetWide := range []struct{ label, value, family string }{
		{LabelController, "forgetkind", "apinet_hub_reconcile_duration_seconds"},
		{LabelKind, "forgetkind", "apinet_hub_mapping_latency_by_kind_seconds"},
	} {
		if series(fleetWide.label, fleetWide.value)[fleetWide.family] == 0 {
			t.Errorf("%s lost its series when members went: it is fleet-wide", fleetWide.family)
		}
	}
}

func TestClusterLabels(t *testing.T) {
	for _, tc := range []struct{ role, self, peer, wantMember, wantPeer string }{
		{"ironcore", "fleet.ironcore-1", "fleet.apinet-1", "fleet.ironcore-1", "fleet.apinet-1"},
		{"apinet", "fleet.apinet-1", "", "", "fleet.apinet-1"},
		{"", "fleet.broken", "", "fleet.broken", ""}, // a profile without a valid role counts as a member
	} {
		if m, p := ClusterLabels(tc.role, tc.self, tc.peer); m != tc.wantMember || p != tc.wantPeer {
			t.Errorf("ClusterLabels(%q, %q, %q) = %q, %q; want %q, %q", tc.role, tc.self, tc.peer, m, p, tc.wantMember, tc.wantPeer)
		}
	}
}
