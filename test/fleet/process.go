package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// deathSignalPrefix returns the command prefix that makes the kernel kill a
// server when the process that started it dies (setpriv --pdeathsig KILL),
// or nothing where setpriv is not installed.
func deathSignalPrefix() []string {
	if p, err := exec.LookPath("setpriv"); err == nil {
		return []string{p, "--pdeathsig", "KILL", "--"}
	}
	return nil
}

// launcher writes a small script into <dir>/bin that execs binary under
// deathSignalPrefix; envtest takes a single executable path, not a command.
func launcher(dir, binary string) (string, error) {
	if _, err := os.Stat(binary); err != nil {
		return "", fmt.Errorf("%s is missing: run hack/install-servers.sh (make servers): %w", binary, err)
	}
	prefix := deathSignalPrefix()
	if prefix == nil {
		return binary, nil
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\nexec")
	for _, p := range append(prefix, binary) {
		b.WriteString(" " + strconv.Quote(p))
	}
	b.WriteString(" \"$@\"\n")
	path := filepath.Join(dir, "bin", filepath.Base(binary))
	return path, os.WriteFile(path, []byte(b.String()), 0o700)
}

var moduleDirs sync.Map // module path -> folder

// moduleDir returns the folder of a module the main module requires (for
// manifests shipped in module zips: CRDs, APIService definitions).
func moduleDir(ctx context.Context, module string) (string, error) {
	if d, ok := moduleDirs.Load(module); ok {
		return d.(string), nil
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = repoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("locate module %s (go list -m): %v: %s", module, err, stderr.String())
	}
	moduleDirs.Store(module, dir)
	return dir, nil
}

// repoRoot is the folder holding this repository's go.mod, found from the
// working directory upwards (tests run in their package folder).
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			bytes.HasPrefix(bytes.TrimSpace(data), []byte("module github.com/apinet-hub/apinet-hub")) {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// DefaultServersDir is $APINET_HUB_SERVERS, or bin/servers in the repository.
func DefaultServersDir() string {
	if d := os.Getenv("APINET_HUB_SERVERS"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "bin", "servers")
}

// Process is a server process started from the servers folder.
type Process struct {
	PID    int
	Binary string
	// RSSBytes is the resident set now, PeakRSSBytes its high-water mark.
	RSSBytes, PeakRSSBytes int64
}

// childPIDs lists the server processes (children of this process run from
// serversDir) whose arguments match.
func childPIDs(serversDir string, match func(args []string) bool) ([]int, error) {
	procs, err := ServerProcesses(serversDir)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, p := range procs {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "cmdline"))
		if err == nil && match(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")) {
			pids = append(pids, p.PID)
		}
	}
	return pids, nil
}

// killChildren SIGKILLs the server processes whose arguments match, and
// waits until they are reaped.
func killChildren(serversDir string, match func(args []string) bool) error {
	pids, err := childPIDs(serversDir, match)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("kill pid %d: %w", pid, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pid %d still there 30s after SIGKILL", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	return err == nil && statusFields(status)["State"] != "Z (zombie)"
}

// ServerProcesses lists the running children of this process whose binary
// lives in serversDir. After Fleet.Stop it must be empty.
func ServerProcesses(serversDir string) ([]Process, error) {
	serversDir, err := filepath.Abs(serversDir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var procs []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue // gone meanwhile
		}
		fields := statusFields(status)
		if fields["PPid"] != strconv.Itoa(self) || fields["State"] == "Z (zombie)" {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || filepath.Dir(exe) != serversDir {
			continue
		}
		procs = append(procs, Process{
			PID: pid, Binary: filepath.Base(exe),
			RSSBytes: kiB(fields["VmRSS"]), PeakRSSBytes: kiB(fields["VmHWM"]),
		})
	}
	return procs, nil
}

func statusFields(status []byte) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

func kiB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return n * 1024
}
