package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

func TestReadiness(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	open := make(chan struct{})
	for _, tc := range []struct {
		name            string
		elected         chan struct{}
		synced, running bool
		want            string // "" ready, else a part of the error
	}{
		{"caches not synced", closed, false, true, "caches"},
		{"standby, synced: ready, so rollouts count it", open, true, false, ""},
		{"standby, not synced", open, false, false, "caches"},
		{"leader, provider not started", closed, true, false, "provider has not started"},
		{"leader, running", closed, true, true, ""},
	} {
		check := readiness(tc.elected, func(context.Context) bool { return tc.synced }, func() bool { return tc.running })
		err := check(httptest.NewRequest("GET", "/readyz", nil))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want ready", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestKlogGoesThroughTheHubLogger: client-go logs through klog; after
// setupLogging those lines reach the hub's logger.
func TestKlogGoesThroughTheHubLogger(t *testing.T) {
	var out bytes.Buffer
	setupLogging(funcr.New(func(prefix, args string) { out.WriteString(prefix + " " + args + "\n") }, funcr.Options{}))
	defer klog.ClearLogger()
	klog.InfoS("from client-go", "key", "value")
	klog.Flush()
	if got := out.String(); !strings.Contains(got, "klog") || !strings.Contains(got, `"from client-go"`) || !strings.Contains(got, `"key"="value"`) {
		t.Errorf("hub logger got %q", got)
	}
}
