package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPUAddsUserAndSystemTicks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{name: "plain command",
			stat: "1234 (apinetlet) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0",
			want: 3 * time.Second},
		{name: "command with spaces and parentheses",
			stat: "1234 (a (b) c) R 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 12 0 100 0 0",
			want: 100 * time.Millisecond},
		{name: "no command", stat: "1234 S 1", wantErr: true},
		{name: "truncated", stat: "1234 (x) S 1 2 3", wantErr: true},
	} {
		got, err := parseStatCPU([]byte(tc.stat))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseStatCPU = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseStatusRSSReadsVmRSSAndVmHWM(t *testing.T) {
	status := "Name:\tapinet-hub\nVmPeak:\t 900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t12\n"
	rss, peak := parseStatusRSS([]byte(status))
	if rss != 40<<20 || peak != 50<<20 {
		t.Errorf("parseStatusRSS = %d, %d; want %d, %d", rss, peak, 40<<20, 50<<20)
	}
	if rss, peak := parseStatusRSS([]byte("Name:\tzombie\nState:\tZ (zombie)\n")); rss != 0 || peak != 0 {
		t.Errorf("a zombie has no memory, got %d, %d", rss, peak)
	}
}

func TestReadProcSamplesThisProcess(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.PeakRSS < s.RSS {
		t.Errorf("readProc(self) = %+v: want 0 < RSS <= PeakRSS", s)
	}
	if _, err := sumProcs([]int{os.Getpid(), 1 << 30}); err == nil {
		t.Error("sumProcs with a missing process: want an error naming it")
	}
}
