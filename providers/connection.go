package providers

import (
	"context"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// ensureConnectionLocked (re)builds a record's connection when its
// credentials or role change, and starts its probe loop. Caller holds p.mu.
func (p *Provider) ensureConnectionLocked(rec *record, role clusterprofiles.Role, creds *clusterprofiles.Credentials) error {
	if rec.conn != nil && rec.conn.hash == creds.Hash && rec.conn.role == role {
		p.exportExpiryLocked(rec) // the peer named may have changed
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
	if creds.Config.ExecProvider != nil {
		go p.execExpiryLoop(rec, conn, creds.Config)
	}
	p.exportExpiryLocked(rec)
	return nil
}

// newConnection builds the clients of one cluster with one set of
// credentials: the transport the caches share, and the prober's. close
// releases them: client-go (v0.36, ClientsAllowTLSCacheGC) holds its cached
// TLS transports weakly, so they are garbage once the connection's clients
// are, at the latest when x/net/http2's health-check timer of a closed
// connection (the read-idle timeout, 30 s) has fired.
func newConnection(ctx context.Context, opts Options, name string, role clusterprofiles.Role, creds *clusterprofiles.Credentials) (*connection, error) {
	cfg := opts.tune(creds.Config, name, role)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	// Probes travel over the transport the caches use (HTTP/2: the same
	// connection): one TLS handshake and one connection per cluster, not
	// two (a handshake was a tenth of the hub's CPU at a cold start of 500
	// members), and a probe answers for the path the caches depend on. They
	// draw from no client rate limiter: a member busy at its rate limit is
	// not unhealthy.
	prober := clusterprofiles.NewProberFor(&http.Client{Transport: httpClient.Transport, Timeout: opts.RequestTimeout}, cfg.Host, role)
	ctx, cancel := context.WithCancel(ctx)
	// Once per set of credentials: the token's exp, the certificate's
	// NotAfter (an exec plugin's come from execExpiryLoop).
	expiry, _ := clusterprofiles.CredentialExpiry(creds.Config)
	return &connection{hash: creds.Hash, source: creds.Source, role: role, config: cfg, httpClient: httpClient, prober: prober, ctx: ctx, cancel: cancel,
		staticExpiry: expiry}, nil
}

// stopLocked ends everything of a record: engagement, job, connection.
// Caller holds p.mu.
func (p *Provider) stopLocked(rec *record) {
	p.haltLocked(rec)
	if rec.conn != nil {
		rec.conn.close()
		rec.conn = nil
	}
	p.exportExpiryLocked(rec)
}

// How often the hub runs an access provider's exec plugin to learn when
// its credential expires (execExpiryLoop).
const (
	// execExpiryRefresh: at least this often, so that a credential the
	// plugin rotated without saying when the last one expires is seen.
	execExpiryRefresh = time.Hour
	// execExpiryRetry: after a failed run.
	execExpiryRetry = 5 * time.Minute
	// execExpiryMinWait: between two runs, also when what the plugin
	// returns has expired already.
	execExpiryMinWait = time.Minute
)

// execExpiryLoop learns when the credential of a connection's exec plugin
// expires. client-go runs the plugin itself and keeps what it returns (and
// its expirationTimestamp) to itself, so the hub runs the plugin once more,
// the way client-go does (clusterprofiles.RunExecPlugin), when the
// connection is built, and again when what it returned expires (client-go
// then runs the plugin anew), at least every execExpiryRefresh. The
// credential it returns is used for nothing else. Ends with the connection.
func (p *Provider) execExpiryLoop(rec *record, conn *connection, cfg *rest.Config) {
	for {
		ctx, cancel := context.WithTimeout(conn.ctx, p.opts.RequestTimeout)
		out, err := clusterprofiles.RunExecPlugin(ctx, cfg)
		cancel()
		if conn.ctx.Err() != nil {
			return
		}
		var at time.Time
		if err == nil {
			at, _, err = clusterprofiles.ExecCredentialExpiry(out)
		}
		next := execExpiryRefresh
		switch {
		case err != nil:
			p.log.Info("cannot read the expiry of an exec plugin's credential", "profile", rec.key, "error", err.Error())
			next = execExpiryRetry
		case !at.IsZero():
			next = min(max(time.Until(at), execExpiryMinWait), execExpiryRefresh)
		}
		p.mu.Lock()
		changed := rec.conn == conn && !conn.execExpiry.Equal(at)
		if changed {
			conn.execExpiry = at
			p.exportExpiryLocked(rec)
		}
		p.mu.Unlock()
		if changed {
			p.wakeUp(rec.key) // to write the profile's property
		}
		timer := time.NewTimer(next)
		select {
		case <-conn.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// exportExpiryLocked brings a profile's metrics.CredentialExpiry series in
// line with its connection: one series, labelled like the profile's other
// series (metrics.ClusterLabels), none while the expiry is unknown or there
// is no connection. It changes the series only when it changes. Caller
// holds p.mu.
func (p *Provider) exportExpiryLocked(rec *record) {
	var want exportedExpiry
	if rec.conn != nil {
		if at := rec.conn.expiry(); !at.IsZero() {
			self := clusterprofiles.LabelValue(clusterprofiles.ClusterName(rec.key))
			var peer string
			if rec.profile != nil && rec.profile.Role == clusterprofiles.RoleIronCore {
				peer = clusterprofiles.LabelValue(clusterprofiles.ClusterName(rec.profile.Peer))
			}
			want.member, want.peer = metrics.ClusterLabels(string(rec.conn.role), self, peer)
			want.at, want.set = at.Unix(), true
		}
	}
	old := rec.expiryExported
	if want == old {
		return
	}
	if old.set {
		metrics.CredentialExpiry.DeleteLabelValues(old.member, old.peer)
	}
	if want.set {
		metrics.CredentialExpiry.WithLabelValues(want.member, want.peer).Set(float64(want.at))
	}
	rec.expiryExported = want
}

// credentialExpiry is the expiry of a profile's credentials as written to
// its status (clusterprofiles.PropertyCredentialExpiry); "" while unknown.
func (p *Provider) credentialExpiry(key types.NamespacedName) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rec := p.records[key]; rec != nil && rec.conn != nil {
		return clusterprofiles.ExpiryString(rec.conn.expiry())
	}
	return ""
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
		rec.conn.dropCaches()
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
