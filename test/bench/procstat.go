package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is what /proc says about one process at one moment.
type ProcSample struct {
	// CPU is user plus system time since the process started.
	CPU time.Duration
	// RSS is the resident set now (VmRSS), PeakRSS its high-water mark (VmHWM).
	RSS, PeakRSS int64
}

// readProc samples /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return ProcSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, err
	}
	rss, peak := parseStatusRSS(status)
	return ProcSample{CPU: cpu, RSS: rss, PeakRSS: peak}, nil
}

// parseStatCPU returns utime+stime of a /proc/<pid>/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in %q", stat)
	}
	// After ")": field 3 (state) is index 0, so utime (14) is 11, stime (15) 12.
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name", len(fields))
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", fields[11], err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", fields[12], err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// parseStatusRSS returns VmRSS and VmHWM of a /proc/<pid>/status in bytes
// (0 when missing, as for a zombie).
func parseStatusRSS(status []byte) (rss, peak int64) {
	for _, line := range strings.Split(string(status), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			rss = kib * 1024
		case "VmHWM":
			peak = kib * 1024
		}
	}
	return rss, peak
}

// sumProcs samples every pid and adds them up. A process that is gone
// counts as zero and is reported in the error.
func sumProcs(pids []int) (ProcSample, error) {
	var sum ProcSample
	var missing []string
	for _, pid := range pids {
		s, err := readProc(pid)
		if err != nil {
			missing = append(missing, strconv.Itoa(pid))
			continue
		}
		sum.CPU += s.CPU
		sum.RSS += s.RSS
		sum.PeakRSS += s.PeakRSS
	}
	if len(missing) > 0 {
		return sum, fmt.Errorf("processes %s are gone", strings.Join(missing, ", "))
	}
	return sum, nil
}

func mib(b int64) float64 { return round(float64(b)/(1<<20), 1) }
