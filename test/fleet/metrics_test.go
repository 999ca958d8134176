package fleet

import "testing"

func TestMetricSum(t *testing.T) {
	const text = `# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests.
# TYPE apiserver_longrunning_requests gauge
apiserver_longrunning_requests{group="core.apinet.ironcore.dev",resource="networks",verb="WATCH"} 2
apiserver_longrunning_requests{group="core.apinet.ironcore.dev",resource="ips",verb="WATCH"} 3
apiserver_longrunning_requests{group="",resource="pods",verb="LIST"} 7
# TYPE go_goroutines gauge
go_goroutines 180
# TYPE requests_total counter
requests_total{code="200"} 4
`
	for _, tc := range []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"apiserver_longrunning_requests", map[string]string{"verb": "WATCH"}, 5},
		{"apiserver_longrunning_requests", nil, 12},
		{"apiserver_longrunning_requests", map[string]string{"verb": "WATCH", "resource": "ips"}, 3},
		{"go_goroutines", nil, 180},
		{"requests_total", map[string]string{"code": "200"}, 4},
		{"absent", nil, 0},
	} {
		got, err := MetricSum(text, tc.name, tc.match)
		if err != nil || got != tc.want {
			t.Errorf("MetricSum(%s, %v) = %v, %v; want %v", tc.name, tc.match, got, err, tc.want)
		}
	}
	// As HTTPGet returns it: trimmed, the last line without its newline
	// (which the text parser needs).
	trimmed := "# TYPE go_goroutines gauge\ngo_goroutines 180\n# HELP up Whether it is up.\n# TYPE up gauge\nup 1"
	if got, err := MetricSum(trimmed, "up", nil); err != nil || got != 1 {
		t.Errorf("MetricSum of a trimmed text = %v, %v; want 1", got, err)
	}
	if _, err := MetricSum("not { metrics", "x", nil); err == nil {
		t.Error("a text that does not parse is an error")
	}
}
