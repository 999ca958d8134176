package providers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// record is what the provider knows and holds for one ClusterProfile, in
// parts that change for different reasons:
//
//   - conn: how the hub reaches the cluster and what its probes say; it is
//     replaced, whole, when the credentials change;
//   - eng: the engagement of an IronCore member (the member engaged now, the
//     one job in flight, failures and their backoff);
//   - the profile and settings last read, and the last decision (so that the
//     profiles depending on this one are woken when it changes).
//
// Every field is guarded by Provider.mu.
type record struct {
	key     types.NamespacedName
	profile *clusterprofiles.Profile
	// settings are the last valid settings; they are in force on the
	// engaged member (Member.SetSettings) and on the next engagement.
	settings clusterprofiles.Settings
	// settingsProblems are the invalid settings being ignored, for the
	// condition message (and an Event when they change).
	settingsProblems string
	// peerSettings, on an apinet profile, are its live settings, shared by
	// the members mapped into it (Peer.Settings); made on first use and
	// kept for the record's life, so that engaged members keep reading
	// them.
	peerSettings *clusterprofiles.SharedPeerSettings

	conn    *connection
	eng     engagement
	decided decision
	// pinned is the identity recorded (or being recorded) on the profile:
	// its cluster's, which a peer's members check before they engage.
	pinned clusterprofiles.Identity
	// created is the profile's creation time; writerOf the IronCore
	// cluster this profile claims to write (writer.go).
	created  metav1.Time
	writerOf clusterprofiles.Identity
	// expiryExported is the credential expiry series exported for the
	// profile (metrics.CredentialExpiry), so that it is replaced only when
	// it changes.
	expiryExported exportedExpiry
}

// exportedExpiry is one series of metrics.CredentialExpiry; the zero value
// is none.
type exportedExpiry struct {
	member, peer string
	at           int64 // unix seconds
	set          bool
}

// connection is how the hub reaches one cluster with one set of
// credentials, and the health its probe loop reports.
type connection struct {
	hash, source string
	role         clusterprofiles.Role
	config       *rest.Config // tuned, no overall timeout
	httpClient   *http.Client // shared by the caches of this cluster
	prober       *clusterprofiles.Prober
	// ctx ends with the connection (credentials replaced, profile gone):
	// it stops the probe loop and the member cluster.
	ctx    context.Context
	cancel context.CancelFunc
	health health

	// staticExpiry is when the credentials expire as they themselves say
	// (clusterprofiles.CredentialExpiry), read once when the connection is
	// built; execExpiry what the access provider's exec plugin returns
	// (execExpiryLoop). Zero: unknown.
	staticExpiry, execExpiry time.Time

	// member is an IronCore member's cluster (client and cache) for these
	// credentials, shared by the member's successive engagements: a peer's
	// credential rotation or pause re-engages the member without
	// rebuilding it. Built by the first job that needs it; dropped when
	// the member itself is paused, so that its next engagement relists
	// afresh rather than after the informers' reconnect backoff.
	member *memberCluster
	// shared is an apinet peer's one cache, shared by every member mapped
	// into the peer through views of their namespaces
	// (clusterprofiles.NewPeerView): the peer's watches and objects are
	// held once, whatever the number of members. Built by the first member
	// job that needs it; dropped like member when the peer is paused.
	shared *sharedPeer
	// direct is an apinet peer's one uncached client (with the request
	// timeout), for the members' namespace claims and owner records: one
	// REST mapper per peer, not one discovery of the core API per member.
	directOnce sync.Once
	direct     client.Client
	directErr  error
}

// sharedPeer is a peer connection's shared apinet cache.
type sharedPeer struct {
	ready   chan struct{} // closed once built, or failed (err)
	err     error
	cluster cluster.Cluster
	events  *clusterprofiles.Events
	cancel  context.CancelFunc
	stopped chan struct{} // closed when its cache has stopped
}

// failed tells whether the build is over and failed.
func (s *sharedPeer) failed() bool {
	select {
	case <-s.ready:
		return s.err != nil
	default:
		return false
	}
}

type memberCluster struct {
	cluster.Cluster
	events  *clusterprofiles.Events // dispatches its cache's events to the controllers
	scope   string                  // the clusterprofiles.Scope.Key its cache selects
	cancel  context.CancelFunc
	stopped chan struct{} // closed when its cache has stopped
}

// close ends the connection and everything built on it. The member
// cluster's watches hold the HTTP/2 connection until they have wound down
// after the cancel; only then can it be closed, else it idles on for the
// transport's idle timeout (90 s) with its goroutines.
func (c *connection) close() {
	var stopped []chan struct{}
	if c.member != nil {
		stopped = append(stopped, c.member.stopped)
	}
	if s := c.shared; s != nil {
		select {
		case <-s.ready:
			if s.stopped != nil {
				stopped = append(stopped, s.stopped)
			}
		default: // still building: it stops with c.ctx
		}
	}
	c.cancel()
	c.dropCaches()
	c.prober.Close()
	go func() {
		timeout := time.After(time.Minute)
		for _, ch := range stopped {
			select {
			case <-ch:
			case <-timeout:
			}
		}
		time.Sleep(time.Second) // the last watch streams reset
		// Through client-go's wrappers (user agent, auth), which
		// http.Client.CloseIdleConnections does not see through.
		utilnet.CloseIdleConnectionsFor(c.httpClient.Transport)
	}()
}

// expiry is when the connection's credentials expire: the earlier of
// staticExpiry and execExpiry (zero: unknown).
func (c *connection) expiry() time.Time {
	switch {
	case c.staticExpiry.IsZero():
		return c.execExpiry
	case c.execExpiry.IsZero() || c.staticExpiry.Before(c.execExpiry):
		return c.staticExpiry
	}
	return c.execExpiry
}

// dropCaches stops the connection's member cluster and shared peer cache,
// so that the next engagement lists afresh. Caller holds Provider.mu.
func (c *connection) dropCaches() {
	if c.member != nil {
		c.member.cancel()
		c.member = nil
	}
	if s := c.shared; s != nil {
		c.shared = nil
		go func() { // a build in flight ends with its context
			<-s.ready
			if s.cancel != nil {
				s.cancel()
			}
		}()
	}
}

// usable reports whether the cluster may be used now, or the problem why not.
func (c *connection) usable(failureThreshold, successThreshold int) *clusterprofiles.Problem {
	h := c.health
	switch {
	case !h.probed:
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "waiting for the first health probe of " + c.config.Host}
	case h.healthy:
		return nil
	case h.problem != nil && h.problem.Reason == clusterprofiles.ReasonAPINetletActive:
		return h.problem // not a blip: says what to do
	case h.wasHealthy && h.problem == nil:
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonPaused,
			Message: fmt.Sprintf("recovering: %d of %d consecutive successful health probes needed to resume", h.successes, successThreshold)}
	case h.wasHealthy:
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonPaused,
			Message: fmt.Sprintf("paused after %d failed health probes (threshold %d): %s: %s", h.failures, failureThreshold, h.problem.Reason, h.problem.Message)}
	default:
		return h.problem
	}
}

// health is what a connection's probes have shown.
type health struct {
	probed     bool // at least one probe finished
	healthy    bool // usable now
	wasHealthy bool // healthy at some point with these credentials
	failures   int  // consecutive
	successes  int  // consecutive
	problem    *clusterprofiles.Problem
	// identity is the cluster the credentials reach, from the last
	// successful probe.
	identity clusterprofiles.Identity
}

// observe takes one probe's result and reports whether the verdict (or
// what it should say) changed. A cluster never healthy is reported at once
// either way; a healthy one is paused after failureThreshold consecutive
// failures (a blip does not pause it), and a paused one resumes after
// successThreshold consecutive successes (a flapping one does not
// re-engage on every good probe).
func (h *health) observe(identity clusterprofiles.Identity, problem *clusterprofiles.Problem, failureThreshold, successThreshold int) bool {
	first, before, beforeID := !h.probed, h.healthy, h.identity
	h.probed = true
	if problem == nil {
		h.failures, h.problem = 0, nil
		h.successes++
		if identity != "" {
			h.identity = identity
		}
		if !h.wasHealthy || h.healthy || h.successes >= successThreshold {
			h.healthy, h.wasHealthy = true, true
		}
	} else {
		h.successes = 0
		h.failures++
		h.problem = problem
		// An active apinetlet is no blip: stop writing at once.
		if !h.wasHealthy || h.failures >= failureThreshold || problem.Reason == clusterprofiles.ReasonAPINetletActive {
			h.healthy = false
		}
	}
	return first || before != h.healthy || beforeID != h.identity || (!h.healthy && (h.failures == 1 || h.successes == 1))
}

// engageKey is everything an engagement is built for: when any of it
// changes, the member is engaged anew. The member's settings are not part
// of it: they are applied live.
type engageKey struct {
	memberHash, peerHash string
	identity             clusterprofiles.Identity
	peer                 types.NamespacedName
	namespace            string
	scope                string // clusterprofiles.Scope.Key
}

// engagement is an IronCore member's engagement state.
type engagement struct {
	// member is engaged for key until cancel.
	member *clusterprofiles.Member
	key    engageKey
	cancel context.CancelFunc
	// drained is closed once no reconcile of the last disengaged member
	// runs any more (Member.StopWork); nil if none was disengaged.
	drained <-chan struct{}

	// job is the one engagement job in flight. A new one starts only after
	// it has finished (a superseded job is cancelled first).
	job *job

	// The last failure: no job for failedFor before retryAt.
	failure   *clusterprofiles.Problem
	failedFor engageKey
	retryAt   time.Time
	backoff   wait.Backoff
}

// job builds and engages one member for one engagement key.
type job struct {
	rec      *record
	conn     *connection // the member's connection the job was started for
	key      engageKey
	profile  clusterprofiles.Profile
	settings clusterprofiles.Settings
	peer     *connection
	// peerSettings are the peer's (sharedPeerSettings of its record).
	peerSettings *clusterprofiles.SharedPeerSettings
	// peerEvents dispatch the peer's shared cache events to members.
	peerEvents *clusterprofiles.Events
	ctx        context.Context
	cancel     context.CancelFunc
}

// sharedPeerSettings returns the live settings of an apinet profile's
// record, made on first use. Caller holds Provider.mu.
func (r *record) sharedPeerSettings() *clusterprofiles.SharedPeerSettings {
	if r.peerSettings == nil {
		r.peerSettings = &clusterprofiles.SharedPeerSettings{}
	}
	return r.peerSettings
}

// directClient returns the connection's uncached client with the request
// timeout (opts.withTimeout), made on first use.
func (c *connection) directClient(opts Options) (client.Client, error) {
	c.directOnce.Do(func() {
		cfg := opts.withTimeout(c.config)
		var mapper meta.RESTMapper
		if mapper, c.directErr = MemoizedDynamicMapper(cfg, c.httpClient); c.directErr == nil {
			c.direct, c.directErr = client.New(cfg, client.Options{Scheme: opts.Scheme, HTTPClient: c.httpClient, Mapper: mapper})
		}
	})
	return c.direct, c.directErr
}
