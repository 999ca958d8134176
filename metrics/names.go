package metrics

import (
	"regexp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Standard are the controller-runtime, client-go and process metric
// families the hub's endpoint also serves (without cluster labels) that
// dashboards and alerts may rely on.
var Standard = []string{
	"controller_runtime_reconcile_total",
	"controller_runtime_reconcile_errors_total",
	"controller_runtime_reconcile_time_seconds",
	"controller_runtime_active_workers",
	"workqueue_depth",
	"workqueue_adds_total",
	"workqueue_queue_duration_seconds",
	"rest_client_requests_total",
	"leader_election_master_status",
	"process_resident_memory_bytes",
	"process_cpu_seconds_total",
	"go_goroutines",
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names returns every metric family name the hub exports, sorted: its own
// (apinet_hub_*) and Standard. Histograms add _bucket, _sum and _count
// series to their family name.
func Names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	names := slices.Clone(Standard)
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
