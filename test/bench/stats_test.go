package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"no values", nil, 50, 0},
		{"one value is every percentile", []float64{7}, 99, 7},
		{"p50 of 1..100 is 50", hundred, 50, 50},
		{"p90 of 1..100 is 90", hundred, 90, 90},
		{"p99 of 1..100 is 99", hundred, 99, 99},
		{"p100 is the maximum", hundred, 100, 100},
		{"p99 of 10 values is the largest", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p50 of 4 values is the second", []float64{1, 2, 3, 4}, 50, 2},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummarizeSortsAndReportsMilliseconds(t *testing.T) {
	got := summarize([]time.Duration{3 * time.Second, time.Second, 2 * time.Second, 1500 * time.Microsecond})
	want := Latency{Count: 4, P50: 1000, P90: 3000, P99: 3000, Max: 3000}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (Latency{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestLeastSquaresFitsTheSlopePerMember(t *testing.T) {
	for _, tc := range []struct {
		name             string
		xs, ys           []float64
		slope, intercept float64
	}{
		{"exact line", []float64{1, 2, 4, 8}, []float64{45, 50, 60, 80}, 5, 40},
		{"noisy line", []float64{1, 2, 3}, []float64{1, 3, 2}, 0.5, 1},
		{"one point has no slope", []float64{4}, []float64{60}, 0, 60},
		{"no points", nil, nil, 0, 0},
	} {
		slope, intercept := leastSquares(tc.xs, tc.ys)
		if math.Abs(slope-tc.slope) > 1e-9 || math.Abs(intercept-tc.intercept) > 1e-9 {
			t.Errorf("%s: leastSquares = %v, %v; want %v, %v", tc.name, slope, intercept, tc.slope, tc.intercept)
		}
	}
}

func TestRatioIsZeroWhenNotMeasurable(t *testing.T) {
	for _, tc := range []struct {
		a, b, want float64
	}{
		{30, 10, 3},
		{1, 3, 0.33},
		{0, 10, 0},
		{10, 0, 0},
		{math.NaN(), 1, 0},
	} {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
