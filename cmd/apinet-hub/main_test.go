package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

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
		{args: []string{"run", "--nat-min-public-ips", "-1"}, code: 2, stderrPart: `"-1" is not a number >= 0`},
		{args: []string{"run", "--namespace", ""}, code: 2, stderrPart: "empty namespace"},
		{args: []string{"run", "--experimental-sharding", "--leader-elect"}, code: 2, stderrPart: "exclude each other"},
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
