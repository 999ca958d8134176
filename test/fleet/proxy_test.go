package fleet

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// echoServer is a loopback TCP server that writes back what it reads.
type echoServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[conn] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, conn)
					s.mu.Unlock()
					conn.Close()
				}()
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
	return s
}

// close stops the server, closing the connections the proxy left open (so
// that a leaky proxy fails the test rather than hanging it).
func (s *echoServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for conn := range s.conns {
		_ = conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// roundTrip writes msg on conn and reads it back, returning how long it took.
func roundTrip(conn net.Conn, msg string) (time.Duration, error) {
	start := time.Now()
	_ = conn.SetDeadline(start.Add(20 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		return 0, err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return 0, err
	}
	if string(buf) != msg {
		return 0, fmt.Errorf("read %q, want %q", buf, msg)
	}
	return time.Since(start), nil
}

// eventually polls cond every 20ms for up to timeout.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDelayProxy(t *testing.T) {
	baseline := runtime.NumGoroutine()

	echo := startEchoServer(t)
	p, err := StartDelayProxy(echo.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(); echo.close() }) // after a failure
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") || p.URL() != "https://"+p.Addr() {
		t.Fatalf("Addr %q, URL %q", p.Addr(), p.URL())
	}
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		conn, err := net.DialTimeout("tcp", p.Addr(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}

	t.Run("no delay", func(t *testing.T) {
		conn := dial(t)
		defer conn.Close()
		for i := range 3 {
			took, err := roundTrip(conn, fmt.Sprintf("ping %d\n", i))
			if err != nil {
				t.Fatal(err)
			}
			if took > 5*time.Second {
				t.Fatalf("round trip without delay took %s", took)
			}
		}
	})

	t.Run("delay", func(t *testing.T) {
		conn := dial(t) // opened before SetDelay: applies to open connections too
		defer conn.Close()
		p.SetDelay(300 * time.Millisecond)
		if p.Delay() != 300*time.Millisecond {
			t.Fatalf("Delay %s", p.Delay())
		}
		for i := range 2 {
			took, err := roundTrip(conn, fmt.Sprintf("ping %d\n", i))
			if err != nil {
				t.Fatal(err)
			}
			if took < 300*time.Millisecond {
				t.Fatalf("round trip with 300ms delay took %s", took)
			}
			if took > 10*time.Second {
				t.Fatalf("round trip with 300ms delay took %s", took)
			}
		}
		p.SetDelay(0)
		took, err := roundTrip(conn, "fast again\n")
		if err != nil {
			t.Fatal(err)
		}
		if took > 5*time.Second {
			t.Fatalf("round trip after SetDelay(0) took %s", took)
		}
	})

	t.Run("delays overlap and keep order", func(t *testing.T) {
		// Eight writes 25ms apart with 500ms delay: if the delays were
		// serialised the answers would take 8 x 500ms = 4s at least (fewer,
		// coalesced chunks only make that check weaker, not flaky).
		const delay, n = 500 * time.Millisecond, 8
		p.SetDelay(delay)
		defer p.SetDelay(0)
		conn := dial(t)
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		var want bytes.Buffer
		start := time.Now()
		writeErr := make(chan error, 1)
		go func() {
			for i := range n {
				if _, err := fmt.Fprintf(conn, "message %d;", i); err != nil {
					writeErr <- err
					return
				}
				time.Sleep(25 * time.Millisecond)
			}
			writeErr <- nil
		}()
		for i := range n {
			fmt.Fprintf(&want, "message %d;", i)
		}
		got := make([]byte, want.Len())
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if err := <-writeErr; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("read %q, want %q", got, want.Bytes())
		}
		if took < delay {
			t.Fatalf("delayed stream took %s, less than the delay", took)
		}
		if took >= 3*time.Second {
			t.Fatalf("delayed stream took %s: delays look serialised", took)
		}
	})

	t.Run("cut and restore", func(t *testing.T) {
		open := dial(t)
		defer open.Close()
		if _, err := roundTrip(open, "before cut\n"); err != nil {
			t.Fatal(err)
		}
		if !eventually(10*time.Second, func() bool { return p.Conns() == 1 }) {
			t.Fatalf("Conns %d, want 1", p.Conns())
		}
		p.Cut()
		if p.Conns() != 0 {
			t.Fatalf("Conns %d after Cut", p.Conns())
		}
		// The open connection is closed: reading ends (EOF or reset).
		_ = open.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := open.Read(make([]byte, 1)); err == nil {
			t.Fatal("read on a cut connection succeeded")
		} else if isTimeout(err) {
			t.Fatalf("cut connection still open: %v", err)
		}
		// New connections are accepted and closed at once.
		for range 2 {
			conn := dial(t)
			if _, err := roundTrip(conn, "while cut\n"); err == nil {
				t.Fatal("round trip through a cut proxy succeeded")
			} else if isTimeout(err) {
				t.Fatalf("cut proxy did not close a new connection: %v", err)
			}
			conn.Close()
		}
		p.Restore()
		conn := dial(t)
		defer conn.Close()
		if _, err := roundTrip(conn, "after restore\n"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("https passes through", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ok")
		}))
		defer srv.Close()
		hp, err := StartDelayProxy(srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer hp.Close()
		hp.SetDelay(200 * time.Millisecond)

		// A kubeconfig for the server, pointed at the proxy: the CA stays,
		// tls-server-name is the original host.
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		kc := clientcmdapi.NewConfig()
		kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
		kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
		kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
		kc.CurrentContext = "c"
		raw, err := clientcmd.Write(*kc)
		if err != nil {
			t.Fatal(err)
		}
		via, err := KubeconfigVia(raw, hp.Addr())
		if err != nil {
			t.Fatal(err)
		}
		got, err := clientcmd.Load(via)
		if err != nil {
			t.Fatal(err)
		}
		if c := got.Clusters["c"]; c.Server != hp.URL() || c.TLSServerName != "127.0.0.1" ||
			!bytes.Equal(c.CertificateAuthorityData, ca) || got.AuthInfos["u"].Token != "t" {
			t.Fatalf("rewritten cluster %+v", c)
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(via)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Timeout = 20 * time.Second
		httpClient, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer httpClient.CloseIdleConnections()
		start := time.Now()
		resp, err := httpClient.Get(cfg.Host + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
		if took := time.Since(start); took < 200*time.Millisecond {
			t.Fatalf("delayed https request took %s", took)
		}
		httpClient.CloseIdleConnections()
		if err := hp.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("close ends everything", func(t *testing.T) {
		// Connections with answers waiting in their delay must not hold
		// Close up.
		p.SetDelay(time.Minute)
		var conns []net.Conn
		for i := range 3 {
			conn := dial(t)
			conns = append(conns, conn)
			if _, err := fmt.Fprintf(conn, "pending %d\n", i); err != nil {
				t.Fatal(err)
			}
		}
		if !eventually(10*time.Second, func() bool { return p.Conns() == 3 }) {
			t.Fatalf("Conns %d, want 3", p.Conns())
		}
		start := time.Now()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("Close took %s", took)
		}
		if err := p.Close(); err != nil { // idempotent
			t.Fatal(err)
		}
		for _, conn := range conns {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("connection still open after Close: %v", err)
			}
			conn.Close()
		}
		if conn, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second); err == nil {
			conn.Close()
			t.Fatal("proxy still listening after Close")
		}
		// Before echo.close, which would end leaked proxy goroutines too:
		// +1 for this subtest, +1 for the echo server's accept loop (the
		// echo handlers end as the proxy closes their connections), +2
		// slack.
		if !eventually(10*time.Second, func() bool { return runtime.NumGoroutine() <= baseline+4 }) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before the test:\n%s",
				runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		echo.close()
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
