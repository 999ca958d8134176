package providers

import (
	"context"
	"time"

	"k8s.io/client-go/rest"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// ensureConnectionLocked (re)builds a record's connection when its
// credentials or role change, and starts its probe loop. Caller holds p.mu.
func (p *Provider) ensureConnectionLocked(rec *record, role clusterprofiles.Role, creds *clusterprofiles.Credentials) error {
	if rec.conn != nil && rec.conn.hash == creds.Hash && rec.conn.role == role {
		return nil
	}
	p.stopLocked(rec)
	conn, err := newConnection(p.ctx, p.opts, string(clusterprofiles.ClusterName(rec.key)), role, creds)
	if err != nil {
		return err
	}
	rec.conn = conn
	rec.eng.failedFor = engageKey{}
	go p.probeLoop(rec, conn)
	return nil
}

// newConnection builds the clients of one cluster with one set of
// credentials: the transport the caches share, and the prober's. close
// releases them: client-go (v0.36, ClientsAllowTLSCacheGC) holds its cached
// TLS transports weakly, so they are garbage once the connection's clients
// are, at the latest when x/net/http2's health-check timer of a closed
// connection (the read-idle timeout, 30 s) has fired.
func newConnection(ctx context.Context, opts Options, name string, role clusterprofiles.Role, creds *clusterprofiles.Credentials) (*connection, error) {
	cfg := opts.tune(creds.Config, name)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	prober, err := clusterprofiles.NewProber(opts.withTimeout(cfg), role)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	return &connection{hash: creds.Hash, source: creds.Source, role: role, config: cfg, httpClient: httpClient, prober: prober, ctx: ctx, cancel: cancel}, nil
}

// stopLocked ends everything of a record: engagement, job, connection.
// Caller holds p.mu.
func (p *Provider) stopLocked(rec *record) {
	p.haltLocked(rec)
	if rec.conn != nil {
		rec.conn.close()
		rec.conn = nil
	}
}

// disengageLocked cancels a member's engagement; its cluster stays with the
// connection. Caller holds p.mu.
func (p *Provider) disengageLocked(rec *record) {
	if rec.eng.member == nil {
		return
	}
	p.log.Info("disengaging", "cluster", rec.eng.member.Profile.Name)
	// Out of the Topology first, so that no new reconcile finds it; then
	// the running ones are cancelled (see drainedLocked).
	p.topology.Remove(rec.eng.member)
	rec.eng.drained = rec.eng.member.StopWork()
	rec.eng.cancel()
	rec.eng.member, rec.eng.cancel, rec.eng.key = nil, nil, engageKey{}
}

// pauseLocked disengages a member whose own cluster is not usable, and drops
// its cluster so that resuming relists afresh. Caller holds p.mu.
func (p *Provider) pauseLocked(rec *record) {
	p.haltLocked(rec)
	if rec.conn != nil {
		rec.conn.dropMember()
	}
}

// haltLocked disengages a member and cancels its job in flight. Caller
// holds p.mu.
func (p *Provider) haltLocked(rec *record) {
	p.disengageLocked(rec)
	if rec.eng.job != nil {
		rec.eng.job.cancel()
	}
}

// probeLoop probes a connection every ProbeInterval until it ends, and wakes
// the profile when the verdict changes.
func (p *Provider) probeLoop(rec *record, conn *connection) {
	ticker := time.NewTicker(p.opts.ProbeInterval)
	defer ticker.Stop()
	self := clusterprofiles.LabelValue(clusterprofiles.ClusterName(rec.key))
	role := string(conn.role)
	for {
		start := time.Now()
		identity, problem := conn.prober.Probe(conn.ctx)
		if conn.ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		var peer string
		if rec.profile != nil && rec.profile.Role == clusterprofiles.RoleIronCore {
			peer = clusterprofiles.LabelValue(clusterprofiles.ClusterName(rec.profile.Peer))
		}
		member, peer := metrics.ClusterLabels(role, self, peer)
		metrics.ClusterProbeDuration.WithLabelValues(member, peer, role).Observe(time.Since(start).Seconds())
		failures := metrics.ClusterProbeFailures.WithLabelValues(member, peer, role) // at 0 until the first failure
		if problem != nil {
			failures.Inc()
		}
		changed := rec.conn == conn && conn.health.observe(identity, problem, p.opts.ProbeFailureThreshold, p.opts.ProbeSuccessThreshold)
		healthy := conn.health.healthy
		p.mu.Unlock()
		if changed {
			p.log.Info("cluster health changed", "profile", rec.key, "healthy", healthy, "identity", identity, "problem", problem)
			p.wakeUp(rec.key)
		}
		select {
		case <-conn.ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
