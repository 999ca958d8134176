package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// DelayProxy is a loopback TCP proxy for fault tests: put it between a
// client (the hub) and a server (a member's kube-apiserver) to make the
// server slow (SetDelay) or unreachable (Cut) without touching the server.
//
// It forwards bytes untouched, so TLS passes through end to end: the client
// keeps the server's CA and client certificate, only the address changes
// (KubeconfigVia, Cluster.ConfigVia). The serving certificate must still
// verify for the name the client dials. envtest (controller-runtime's
// internal tinyca, used for kube-apiserver) signs its serving certificate for
// DNS "localhost" plus the IPs that "localhost" resolves to and the listen
// address, 127.0.0.1; certificates bind no port, so https://127.0.0.1:<proxy
// port> verifies as it is. KubeconfigVia and ConfigVia nevertheless set
// tls-server-name (rest.Config TLSClientConfig.ServerName) to the original
// host, so verification does not depend on the proxy's address.
//
// Every connection costs four goroutines (one to set it up and wait, one
// per direction, one for the delayed writes); all of them end on Cut (for
// the connections it closes) and on Close, which waits for them.
type DelayProxy struct {
	target string
	ln     net.Listener
	ctx    context.Context // cancelled by Close: aborts dials
	cancel context.CancelFunc

	delay atomic.Int64 // time.Duration

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	cut    bool
	closed bool

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// proxyDialTimeout bounds the dial to the target of one connection.
const proxyDialTimeout = 10 * time.Second

// proxyQueue is how many chunks (of up to proxyChunk bytes) may wait for
// their delay per connection before reading from the target pauses.
const (
	proxyQueue = 256
	proxyChunk = 32 << 10
)

// StartDelayProxy listens on 127.0.0.1 on a free port and forwards every
// connection to target (host:port), with no delay until SetDelay.
func StartDelayProxy(target string) (*DelayProxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("delay proxy target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("delay proxy: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &DelayProxy{target: target, ln: ln, ctx: ctx, cancel: cancel, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port (127.0.0.1:<port>).
func (p *DelayProxy) Addr() string { return p.ln.Addr().String() }

// URL is "https://" + Addr.
func (p *DelayProxy) URL() string { return "https://" + p.Addr() }

// Target is the host:port the proxy forwards to.
func (p *DelayProxy) Target() string { return p.target }

// SetDelay delays every chunk of bytes flowing from the target back to the
// client by d from the moment the proxy read it, so each answer arrives d
// late. Order per connection is kept; chunks are not serialised behind each
// other's delay (a stream still flows at full speed, just d later). Requests
// to the target are not delayed. It applies to chunks read from now on, on
// open and new connections; 0 (or less) turns it off.
func (p *DelayProxy) SetDelay(d time.Duration) {
	if d < 0 {
		d = 0
	}
	p.delay.Store(int64(d))
}

// Delay is the current delay.
func (p *DelayProxy) Delay() time.Duration { return time.Duration(p.delay.Load()) }

// Cut closes every open connection (both sides) and, until Restore, closes
// new connections as soon as they are accepted: clients see their
// connections reset and new ones end before the TLS handshake, as with a
// server that is down, while the port stays taken by the proxy.
func (p *DelayProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	conns := p.takeConns()
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Restore lets new connections through again after Cut.
func (p *DelayProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Conns is the number of connections being forwarded.
func (p *DelayProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, closes every connection and waits until all the
// proxy's goroutines have ended. It may be called more than once.
func (p *DelayProxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		conns := p.takeConns()
		p.mu.Unlock()
		p.cancel()
		err = p.ln.Close()
		for _, c := range conns {
			c.close()
		}
	})
	p.wg.Wait()
	return err
}

// takeConns empties the connection set (p.mu held).
func (p *DelayProxy) takeConns() []*proxyConn {
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
		delete(p.conns, c)
	}
	return conns
}

func (p *DelayProxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or the like: back off briefly.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		if !refuse {
			p.wg.Add(1) // under p.mu: Close cannot be past its Wait yet
		}
		p.mu.Unlock()
		if refuse {
			_ = conn.Close()
			continue
		}
		go p.serve(conn)
	}
}

// proxyConn is one forwarded connection.
type proxyConn struct {
	client, server net.Conn
	done           chan struct{}
	once           sync.Once
}

// close ends the connection: both sides are closed, which ends every
// goroutine blocked on them, and done stops the delayed writer.
func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.client.Close()
		if c.server != nil {
			_ = c.server.Close()
		}
	})
}

// chunk is bytes read from the target, due for the client at a given time.
type chunk struct {
	data []byte
	due  time.Time
}

func (p *DelayProxy) serve(client net.Conn) {
	defer p.wg.Done()
	dialCtx, cancel := context.WithTimeout(p.ctx, proxyDialTimeout)
	var d net.Dialer
	server, err := d.DialContext(dialCtx, "tcp", p.target)
	cancel()
	if err != nil {
		_ = client.Close() // the client sees the target as unreachable
		return
	}
	c := &proxyConn{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		c.close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.close()
	}()

	queue := make(chan chunk, proxyQueue)
	var inner sync.WaitGroup
	inner.Add(3)
	upDone, downDone := make(chan struct{}), make(chan struct{})
	// client -> target, undelayed. The client's EOF half-closes the target
	// side so that the answer can still come back; an error ends the
	// connection.
	go func() {
		defer inner.Done()
		defer close(upDone)
		if _, err := io.Copy(server, client); err != nil {
			c.close()
			return
		}
		if cw, ok := server.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	// target -> queue, stamped with their due time.
	go func() {
		defer inner.Done()
		defer close(queue)
		buf := make([]byte, proxyChunk)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				ch := chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(p.Delay())}
				select {
				case queue <- ch:
				case <-c.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	// queue -> client, each chunk at its due time. The target's EOF (after
	// the queue drained) half-closes the client side; an error ends the
	// connection.
	go func() {
		defer inner.Done()
		defer close(downDone)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			var ch chunk
			var ok bool
			select {
			case ch, ok = <-queue:
			case <-c.done:
				return
			}
			if !ok {
				break
			}
			if wait := time.Until(ch.due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-c.done:
					return
				}
			}
			if _, err := client.Write(ch.data); err != nil {
				c.close()
				return
			}
		}
		if cw, ok := client.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	// The connection is over when both directions are, or when one of them
	// failed, or Cut or Close closed it.
	up, down := upDone, downDone
	for up != nil || down != nil {
		select {
		case <-c.done:
			up, down = nil, nil
		case <-up:
			up = nil
		case <-down:
			down = nil
		}
	}
	c.close()
	inner.Wait()
}

// KubeconfigVia returns kubeconfig with the server of its current context's
// cluster set to https://addr (a DelayProxy's Addr), for a client that must
// reach the cluster through the proxy. Everything else stays: the CA, the
// client credentials, and tls-server-name, which is set to the original
// server's host when it was empty, so that the serving certificate is still
// verified for the name it was issued to rather than for addr. Without a
// current context, the kubeconfig must hold exactly one cluster.
func KubeconfigVia(kubeconfig []byte, addr string) ([]byte, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("kubeconfig via %q: %w", addr, err)
	}
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig via %s: %w", addr, err)
	}
	var name string
	if ctx, ok := cfg.Contexts[cfg.CurrentContext]; ok && cfg.CurrentContext != "" {
		name = ctx.Cluster
	} else if len(cfg.Clusters) == 1 {
		for n := range cfg.Clusters {
			name = n
		}
	}
	cluster, ok := cfg.Clusters[name]
	if !ok || cluster == nil {
		return nil, fmt.Errorf("kubeconfig via %s: no current cluster in the kubeconfig", addr)
	}
	if cluster.TLSServerName == "" {
		u, err := url.Parse(cluster.Server)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("kubeconfig via %s: cluster %q has server %q: %v", addr, name, cluster.Server, err)
		}
		cluster.TLSServerName = u.Hostname()
	}
	cluster.Server = "https://" + addr
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig via %s: %w", addr, err)
	}
	return out, nil
}
