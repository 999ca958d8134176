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
	ReconcileDuration.WithLabelValues("network", member).Observe(0.01)
	MappingLatency.WithLabelValues("network", member).Observe(1)
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
