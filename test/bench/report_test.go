package main

import (
	"strings"
	"testing"
)

func TestRatiosCompareTheHubWithEachBaselineOfTheSameWorkload(t *testing.T) {
	runs := []RunResult{
		{Setup: SetupHub, Kind: KindNetwork, Mode: ModeBurst, Latency: Latency{P50: 200, P99: 400}, ObjectsPerSecond: 40,
			ControllerCPUSeconds: 2, ControllerPeakRSSMiB: 60, ControllerEndRSSMiB: 50, ServerCPUSeconds: 10},
		{Setup: SetupAPINetlet, Kind: KindNetwork, Mode: ModeBurst, Latency: Latency{P50: 100, P99: 800}, ObjectsPerSecond: 20,
			ControllerCPUSeconds: 4, ControllerPeakRSSMiB: 240, ControllerEndRSSMiB: 200, ServerCPUSeconds: 10},
		{Setup: SetupFloor, Kind: KindNetwork, Mode: ModeSteady, Latency: Latency{P50: 10, P99: 20}},
		{Setup: SetupFloor, Kind: KindVirtualIP, Mode: ModeBurst, Latency: Latency{P50: 10, P99: 20}},
	}
	got := ratios(runs)
	want := Ratio{Kind: KindNetwork, Mode: ModeBurst, Baseline: SetupAPINetlet,
		P50: 2, P99: 0.5, Throughput: 2, CPU: 0.5, PeakRSS: 0.25, EndRSS: 0.25, ServerCPU: 1}
	if len(got) != 1 || got[0] != want {
		t.Errorf("ratios = %+v, want only %+v (other workloads have no hub run)", got, want)
	}
}

func TestMarkdownShowsUnmeasuredValuesAsDashes(t *testing.T) {
	r := &Report{Options: Options{K: 2, N: 10, Rate: 20, Writers: 8, MemberQPS: 100, MemberBurst: 200},
		Runs: []RunResult{{Setup: SetupHub, Kind: KindNetwork, Mode: ModeSteady, Objects: 20, Converged: 12, Error: "timeout",
			Latency: Latency{P50: 31.4, P90: 40, P99: 55.6}, ObjectsPerSecond: 10.26}}}
	md := r.Markdown()
	for _, want := range []string{
		"| Network | steady | apinet-hub | 12/20 ⚠ | 31 | 40 | 56 | 10.3 | – | – | – | – | –+– |",
		"K=2 members × N=10 objects per kind",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestGaugeValueFindsAnUnlabelledSample(t *testing.T) {
	text := "# HELP go_memstats_heap_inuse_bytes x\n# TYPE go_memstats_heap_inuse_bytes gauge\n" +
		"go_memstats_heap_inuse_bytes_total 1\ngo_memstats_heap_inuse_bytes 1.2582912e+07\n"
	if v, err := gaugeValue(text, "go_memstats_heap_inuse_bytes"); err != nil || v != 12582912 {
		t.Errorf("gaugeValue = %v, %v; want 12582912", v, err)
	}
	if _, err := gaugeValue(text, "missing"); err == nil {
		t.Error("gaugeValue of a missing metric: want an error")
	}
}

func TestRequestsByHostSumsCodesAndMethodsPerHost(t *testing.T) {
	text := `# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:1000",method="GET"} 3
rest_client_requests_total{code="201",host="127.0.0.1:1000",method="POST"} 4
rest_client_requests_total{code="200",host="127.0.0.1:2000",method="PATCH"} 5
rest_client_request_duration_seconds_count{host="127.0.0.1:2000"} 99
`
	got := requestsByHost(text)
	if len(got) != 2 || got["127.0.0.1:1000"] != 7 || got["127.0.0.1:2000"] != 5 {
		t.Errorf("requestsByHost = %v, want 127.0.0.1:1000=7 and 127.0.0.1:2000=5", got)
	}
}
