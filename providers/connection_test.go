package providers

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"
	"weak"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	clientgofeatures "k8s.io/client-go/features"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestConnectionsReleaseTheirTransports rotates one cluster's connection 200
// times against a real kube-apiserver, each connection making requests
// through the caches' client and the prober before it closes, and checks
// that the connections' transports are garbage once they are closed and
// that the heap is back within 10 % of what it was after 20 rotations. As a
// calibration, the same with client-go's transport cache holding its
// entries strongly (ClientsAllowTLSCacheGC off, client-go before v0.36)
// retains every one of them.
func TestConnectionsReleaseTheirTransports(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	// x/net/http2 leaves a connection's health-check timer (client-go's
	// read-idle timeout, 30 s) running after the connection is closed, and
	// the timer holds the transport until it fires: bounded, not a leak.
	// A short timeout lets the test see the transports go in seconds.
	t.Setenv("HTTP2_READ_IDLE_TIMEOUT_SECONDS", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f, err := fleet.Start(ctx, fleet.Options{Clusters: []fleet.Spec{{Name: "hub", Role: fleet.RoleHub}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Stop(); err != nil {
			t.Error(err)
		}
	}()
	opts := Options{}.defaulted()
	creds := &clusterprofiles.Credentials{Config: f.Hub().Config(), Hash: "h", Source: "test"}

	// rotate makes n connections as a credential change does, uses and
	// closes each, and returns weak pointers to their transports.
	rotate := func(n int) []weak.Pointer[http.Transport] {
		var out []weak.Pointer[http.Transport]
		for range n {
			conn, err := newConnection(ctx, opts, "hub", clusterprofiles.RoleIronCore, creds)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := conn.httpClient.Get(conn.config.Host + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			conn.prober.Probe(ctx) // readyz answers; the IronCore API is not there: a problem, not an error here
			out = append(out, weak.Make(innermost(t, conn.httpClient.Transport)))
			conn.close()
		}
		return out
	}
	alive := func(ptrs []weak.Pointer[http.Transport]) int {
		n := 0
		for _, p := range ptrs {
			if p.Value() != nil {
				n++
			}
		}
		return n
	}
	settle := func() uint64 {
		time.Sleep(3500 * time.Millisecond) // close waits a second for watch streams; then the health-check timers fire
		var ms runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}

	warm := rotate(20)
	base := settle()
	rotated := rotate(200)
	after := settle()
	if n := alive(warm) + alive(rotated); n > 22 { // 10 % of 220
		t.Errorf("%d of 220 closed connections' transports are still alive, want at most 10 %%", n)
	}
	growth := float64(after)/float64(base) - 1
	t.Logf("heap after 20 rotations %.1f MiB, after 220 %.1f MiB (%+.1f %%); goroutines %d", float64(base)/(1<<20), float64(after)/(1<<20), 100*growth, runtime.NumGoroutine())
	if growth > 0.10 {
		t.Errorf("heap grew by %.1f %% over 200 rotations, want within 10 %%", 100*growth)
	}

	gates := clientgofeatures.FeatureGates()
	clientgofeatures.ReplaceFeatureGates(strongTLSCache{gates})
	defer clientgofeatures.ReplaceFeatureGates(gates)
	strong := rotate(50)
	settle()
	if n := alive(strong); n < 45 {
		t.Errorf("calibration: %d of 50 transports in a strong client-go cache are alive, want (nearly) all: the check above would not see a leak", n)
	}
	t.Logf("calibration: %d of 50 transports in a strong client-go cache alive", alive(strong))
}

// strongTLSCache is client-go's feature gates with ClientsAllowTLSCacheGC
// off: its transport cache as before v0.36.
type strongTLSCache struct{ clientgofeatures.Gates }

func (g strongTLSCache) Enabled(key clientgofeatures.Feature) bool {
	return key != clientgofeatures.ClientsAllowTLSCacheGC && g.Gates.Enabled(key)
}

// innermost unwraps client-go's round trippers (user agent, auth) to the
// http.Transport that holds the connections.
func innermost(t *testing.T, rt http.RoundTripper) *http.Transport {
	for {
		switch w := rt.(type) {
		case *http.Transport:
			return w
		case utilnet.RoundTripperWrapper:
			rt = w.WrappedRoundTripper()
		default:
			t.Fatalf("round tripper %T is neither wrapped nor an *http.Transport", rt)
			return nil
		}
	}
}
