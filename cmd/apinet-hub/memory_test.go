package main

import "testing"

// TestGoMemoryLimit pins the soft memory limit from --memory-limit: 90 % of
// the container's limit, none without a limit, and none when GOMEMLIMIT is
// set (the runtime has applied the operator's value) or the limit is below
// 32 MiB.
func TestGoMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		limit      int64
		gomemlimit string
		want       int64
		wantOK     bool
	}{
		{name: "1Gi", limit: 1 << 30, want: (1 << 30) / 10 * 9, wantOK: true},
		{name: "no limit", limit: 0},
		{name: "GOMEMLIMIT wins", limit: 1 << 30, gomemlimit: "700MiB"},
		{name: "below 32 MiB: a typo, not a limit", limit: 9},
		{name: "32 MiB", limit: 32 << 20, want: (32 << 20) / 10 * 9, wantOK: true},
	} {
		got, ok := goMemoryLimit(tc.limit, tc.gomemlimit)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: goMemoryLimit(%d, %q) = %d, %v; want %d, %v", tc.name, tc.limit, tc.gomemlimit, got, ok, tc.want, tc.wantOK)
		}
	}
}
