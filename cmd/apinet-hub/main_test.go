package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badPairing is a pairing file whose first rule lacks its peer.
func badPairing(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "pairing.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: apinet-hub.ironcore.dev/v1alpha1\nkind: Pairing\nrules:\n- names: [a]\n  role: ironcore\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string
		stdoutPart string
		stderrPart string
	}{
		{args: nil, code: 2, stderrPart: "Usage:"},
		{args: []string{"help"}, code: 0, stdoutPart: "Available Commands:"},
		{args: []string{"-h"}, code: 0, stdoutPart: "offboard"},
		{args: []string{"completion", "bash"}, code: 0, stdoutPart: "bash completion V2 for apinet-hub"},
		{args: []string{"version", "extra"}, code: 2, stderrPart: `unknown command "extra" for "apinet-hub version"`},
		{args: []string{"run", "--frobnicate"}, code: 2, stderrPart: "apinet-hub run: unknown flag: --frobnicate (see 'apinet-hub run -h')"},
		{args: []string{"run", "-h"}, code: 0, stdoutPart: "--member-queue-share"},
		{args: []string{"run", "-h"}, code: 0, stdoutPart: "--zap-log-level"},
		{args: []string{"version"}, code: 0, stdout: "(devel)\n"},
		{args: []string{"frobnicate"}, code: 2, stderrPart: `unknown command "frobnicate"`},
		{args: []string{"run", "--nat-min-public-ips", "5", "--nat-max-public-ips", "2"}, code: 2, stderrPart: "is above --nat-max-public-ips"},
		{args: []string{"run", "--shard-lease-qps", "0"}, code: 2, stderrPart: "--shard-lease-qps 0: want a positive rate"},
		{args: []string{"run", "--nat-min-public-ips", "-1"}, code: 2, stderrPart: `"-1" is not a number >= 0`},
		{args: []string{"run", "--namespace", ""}, code: 2, stderrPart: "empty namespace"},
		{args: []string{"run", "--experimental-sharding", "--leader-elect"}, code: 2, stderrPart: "exclude each other"},
		{args: []string{"run", "--pairing-file", "/nonexistent"}, code: 2, stderrPart: "--pairing-file: pairing file: open /nonexistent: no such file or directory"},
		{args: []string{"run", "--pairing-file", badPairing(t)}, code: 2, stderrPart: "rule 1: role ironcore needs a peer"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
			t.Errorf("run(%q) = %d, want %d", tc.args, code, tc.code)
		}
		if tc.stdout != "" && stdout.String() != tc.stdout {
			t.Errorf("run(%q) printed %q, want %q", tc.args, stdout.String(), tc.stdout)
		}
		if !strings.Contains(stdout.String(), tc.stdoutPart) {
			t.Errorf("run(%q) stdout %q lacks %q", tc.args, stdout.String(), tc.stdoutPart)
		}
		if !strings.Contains(stderr.String(), tc.stderrPart) {
			t.Errorf("run(%q) stderr %q lacks %q", tc.args, stderr.String(), tc.stderrPart)
		}
	}
}
