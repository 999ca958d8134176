package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// Provider engages IronCore members described by ClusterProfiles on the hub,
// each together with a view of its apinet peer (see clusterprofiles.Member).
// It implements multicluster.Provider and multicluster.ProviderRunnable.
//
// What it guarantees:
//   - Cluster lifetimes derive from the context of Start, never from a
//     reconcile.
//   - A connection is rebuilt only when the canonical hash of its
//     credentials changes (clusterprofiles.Credentials.Hash), not on every
//     profile event.
//   - Building, syncing and engaging run in a bounded worker pool under a
//     deadline, behind a /readyz probe; one slow member never holds up others.
//   - Every cluster is probed all the time. A member whose probe fails
//     ProbeFailureThreshold times, or whose manager reports
//     ControlPlaneHealthy=False, is disengaged ("paused"): nothing of it is
//     reconciled against stale data. A paused peer pauses its members. On
//     recovery the member is engaged again, which relists and resyncs it.
//   - Deleting a profile disengages the member and leaves its apinet objects
//     as they are.
type Provider struct {
	opts     Options
	hub      cluster.Cluster
	topology *clusterprofiles.Topology
	creds    *clusterprofiles.CredentialResolver
	recorder events.EventRecorder
	log      logr.Logger

	started chan struct{}
	ctx     context.Context
	aware   multicluster.Aware
	jobs    chan engageJob
	wake    chan event.GenericEvent // re-reconcile a profile

	mu         sync.Mutex
	records    map[types.NamespacedName]*record
	indexers   []memberIndex
	conditions sync.Map // profile key -> last condition written (dedup)
}

type memberIndex struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

// New makes a provider reading ClusterProfiles and Secrets from hub (the hub
// manager's cluster). Register it with SetupWithManager.
func New(hub cluster.Cluster, topology *clusterprofiles.Topology, opts Options) *Provider {
	opts = opts.defaulted()
	return &Provider{
		opts:     opts,
		hub:      hub,
		topology: topology,
		creds:    &clusterprofiles.CredentialResolver{Access: opts.Access, Consumer: opts.Consumer, Secrets: hub.GetCache()},
		recorder: hub.GetEventRecorder("apinet-hub"),
		log:      log.Log.WithName("clusterprofile-provider"),
		started:  make(chan struct{}),
		jobs:     make(chan engageJob),
		wake:     make(chan event.GenericEvent, 1024),
		records:  map[types.NamespacedName]*record{},
	}
}

// Get returns an engaged IronCore member (a *clusterprofiles.Member).
func (p *Provider) Get(_ context.Context, name multicluster.ClusterName) (cluster.Cluster, error) {
	return p.topology.Member(name)
}

// IndexField registers an index on the cache of every member, current and
// future.
func (p *Provider) IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	p.mu.Lock()
	p.indexers = append(p.indexers, memberIndex{obj, field, extract})
	p.mu.Unlock()
	var errs []error
	for _, name := range p.topology.Members() {
		if m, err := p.topology.Member(name); err == nil {
			errs = append(errs, m.GetFieldIndexer().IndexField(ctx, obj, field, extract))
		}
	}
	return errors.Join(errs...)
}

// Start runs the engage workers until ctx ends, then disengages everything.
func (p *Provider) Start(ctx context.Context, aware multicluster.Aware) error {
	p.ctx, p.aware = ctx, aware
	close(p.started)
	var wg sync.WaitGroup
	for range p.opts.EngageWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-p.jobs:
					p.engage(job)
				}
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	p.mu.Lock()
	for _, rec := range p.records {
		p.disengageLocked(rec)
		rec.stopProbe()
	}
	p.mu.Unlock()
	return nil
}

// record is what the provider knows and holds for one ClusterProfile.
type record struct {
	key     types.NamespacedName
	profile *clusterprofiles.Profile

	// Connection, from the last credentials resolved.
	credsHash  string
	config     *rest.Config // tuned, no overall timeout
	httpClient *http.Client // shared by the caches of this cluster
	source     string

	// Health from the probe loop.
	probeCancel context.CancelFunc
	probed      bool // at least one probe finished
	healthy     bool
	failures    int
	probeErr    *clusterprofiles.Problem
	wasHealthy  bool // healthy at some point with these credentials

	// Engagement (IronCore members only).
	member     *clusterprofiles.Member
	cancel     context.CancelFunc
	engagedFor string // engagement key the member was built for
	engaging   string // engagement key of a job under way
	engageErr  *clusterprofiles.Problem
	failedFor  string
	failedAt   time.Time

	decided decision // the last decision, to wake members when a peer changes
}

func (r *record) stopProbe() {
	if r.probeCancel != nil {
		r.probeCancel()
		r.probeCancel = nil
	}
}

// usable reports whether the cluster may be used now, or the problem why not.
func (r *record) usable(threshold int) *clusterprofiles.Problem {
	switch {
	case !r.probed:
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "waiting for the first health probe of " + r.config.Host}
	case r.healthy:
		return nil
	case r.wasHealthy:
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonPaused,
			Message: fmt.Sprintf("paused after %d failed health probes (threshold %d): %s", r.failures, threshold, r.probeErr.Message)}
	default:
		return r.probeErr
	}
}

func (p *Provider) wakeUp(key types.NamespacedName) {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	cp.Namespace, cp.Name = key.Namespace, key.Name
	select {
	case p.wake <- event.GenericEvent{Object: cp}:
	default:
		// The channel is full: a reconcile is already due for many profiles;
		// the periodic resync catches this one.
		p.log.V(1).Info("wake-up queue full", "profile", key)
	}
}

// ensureProbe (re)starts the probe loop when a record's credentials change.
// Caller holds p.mu.
func (p *Provider) ensureProbe(rec *record, creds *clusterprofiles.Credentials) error {
	if rec.credsHash == creds.Hash && rec.probeCancel != nil {
		return nil
	}
	rec.stopProbe()
	p.disengageLocked(rec)
	name := string(clusterprofiles.ClusterName(rec.key))
	cfg := p.opts.tune(creds.Config, name)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	prober, err := clusterprofiles.NewProber(p.opts.withTimeout(cfg))
	if err != nil {
		return err
	}
	rec.credsHash, rec.config, rec.httpClient, rec.source = creds.Hash, cfg, httpClient, creds.Source
	rec.probed, rec.healthy, rec.wasHealthy, rec.failures, rec.probeErr = false, false, false, 0, nil
	rec.engageErr, rec.failedFor = nil, ""
	ctx, cancel := context.WithCancel(p.ctx)
	rec.probeCancel = cancel
	go p.probeLoop(ctx, rec, prober)
	return nil
}

func (p *Provider) probeLoop(ctx context.Context, rec *record, prober *clusterprofiles.Prober) {
	ticker := time.NewTicker(p.opts.ProbeInterval)
	defer ticker.Stop()
	cluster := clusterprofiles.LabelValue(clusterprofiles.ClusterName(rec.key))
	for {
		start := time.Now()
		problem := prober.Probe(ctx)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		role := ""
		if rec.profile != nil {
			role = string(rec.profile.Role)
		}
		p.mu.Unlock()
		metrics.ClusterProbeDuration.WithLabelValues(cluster, role).Observe(time.Since(start).Seconds())
		if problem != nil {
			metrics.ClusterProbeFailures.WithLabelValues(cluster, role).Inc()
		}
		p.mu.Lock()
		before := rec.healthy
		rec.probed = true
		if problem == nil {
			rec.failures, rec.probeErr, rec.healthy, rec.wasHealthy = 0, nil, true, true
		} else {
			rec.failures++
			rec.probeErr = problem
			// Never healthy: report at once. Healthy before: only after
			// the threshold, so a blip does not pause a member.
			if !rec.wasHealthy || rec.failures >= p.opts.ProbeFailureThreshold {
				rec.healthy = false
			}
		}
		changed := before != rec.healthy || (!rec.healthy && rec.failures <= 1)
		p.mu.Unlock()
		if changed {
			p.log.Info("cluster health changed", "profile", rec.key, "healthy", rec.healthy, "problem", problem)
			p.wakeUp(rec.key)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// engageJob builds and engages one member for an engagement key.
type engageJob struct {
	rec      *record
	key      string
	profile  clusterprofiles.Profile
	member   *rest.Config
	memberHC *http.Client
	peer     *rest.Config
	peerHC   *http.Client
}

func (p *Provider) engage(job engageJob) {
	name := job.profile.Name
	log := p.log.WithValues("cluster", name, "peer", clusterprofiles.ClusterName(job.profile.Peer))
	start := time.Now()
	ctx, cancel := context.WithCancel(p.ctx)
	member, problem := p.build(ctx, job)
	if problem == nil {
		p.topology.Put(member)
		problem = p.engageWithDeadline(ctx, name, member)
		if problem != nil {
			p.topology.Remove(member)
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	current := p.records[job.rec.key] == job.rec && job.rec.engaging == job.key
	if current {
		job.rec.engaging = ""
	}
	switch {
	case problem != nil:
		cancel()
		if current {
			job.rec.engageErr, job.rec.failedFor, job.rec.failedAt = problem, job.key, time.Now()
		}
		log.Info("engaging failed", "reason", problem.Reason, "message", problem.Message)
	case !current:
		// The profile changed or went away meanwhile.
		p.topology.Remove(member)
		cancel()
		return
	default:
		job.rec.member, job.rec.cancel, job.rec.engagedFor, job.rec.engageErr = member, cancel, job.key, nil
		log.Info("engaged", "apinetNamespace", job.profile.APINetNamespace, "took", time.Since(start).Round(time.Millisecond))
	}
	p.wakeUp(job.rec.key)
}

// build starts the member's cluster and its peer view and waits for both.
func (p *Provider) build(ctx context.Context, job engageJob) (*clusterprofiles.Member, *clusterprofiles.Problem) {
	deadline, cancel := context.WithTimeout(ctx, p.opts.EngageTimeout)
	defer cancel()
	fail := func(what string, err error) *clusterprofiles.Problem {
		if errors.Is(err, context.DeadlineExceeded) || deadline.Err() != nil {
			return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonUnreachable,
				Message: fmt.Sprintf("%s: not done within the engage timeout %s", what, p.opts.EngageTimeout)}
		}
		if pr := new(clusterprofiles.Problem); errors.As(err, &pr) {
			return pr
		}
		return clusterprofiles.ClassifyConnectionError(fmt.Errorf("%s: %w", what, err), statusOf(err))
	}

	memberCl, err := cluster.New(job.member, func(o *cluster.Options) {
		o.Scheme = p.opts.Scheme
		o.HTTPClient = job.memberHC
		o.Cache.DefaultTransform = cache.TransformStripManagedFields()
	})
	if err != nil {
		return nil, fail("build member cluster", err)
	}
	p.mu.Lock()
	indexers := append([]memberIndex(nil), p.indexers...)
	p.mu.Unlock()
	for _, ix := range indexers {
		if err := memberCl.GetFieldIndexer().IndexField(deadline, ix.obj, ix.field, ix.extract); err != nil {
			return nil, fail("index "+ix.field, err)
		}
	}

	ns := job.profile.APINetNamespace
	if err := ensureNamespace(deadline, p.opts.withTimeout(job.peer), job.peerHC, ns); err != nil {
		return nil, fail(fmt.Sprintf("create namespace %s in peer %s", ns, clusterprofiles.ClusterName(job.profile.Peer)), err)
	}
	peerCl, err := cluster.New(job.peer, func(o *cluster.Options) {
		o.Scheme = p.opts.Scheme
		o.HTTPClient = job.peerHC
		o.Cache.DefaultNamespaces = map[string]cache.Config{ns: {}}
		o.Cache.DefaultTransform = cache.TransformStripManagedFields()
	})
	if err != nil {
		return nil, fail("build peer view", err)
	}
	if err := p.topology.ApplyPeerIndexes(deadline, peerCl); err != nil {
		return nil, fail("peer index", err)
	}

	for _, cl := range []cluster.Cluster{memberCl, peerCl} {
		go func() {
			if err := cl.Start(ctx); err != nil {
				p.log.Error(err, "cluster stopped", "cluster", job.profile.Name)
			}
		}()
	}
	if !memberCl.GetCache().WaitForCacheSync(deadline) || !peerCl.GetCache().WaitForCacheSync(deadline) {
		return nil, fail("cache sync", context.DeadlineExceeded)
	}
	return &clusterprofiles.Member{
		Cluster:   memberCl,
		Profile:   job.profile,
		Label:     clusterprofiles.LabelValue(job.profile.Name),
		Peer:      &clusterprofiles.Peer{Cluster: peerCl, Name: clusterprofiles.ClusterName(job.profile.Peer), Namespace: ns},
		EngagedAt: time.Now(),
	}, nil
}

// engageWithDeadline engages the member with every controller. Engaging
// starts the controllers' informers and blocks until they have listed, so
// it runs under EngageTimeout; past it, the member's context is cancelled.
func (p *Provider) engageWithDeadline(ctx context.Context, name multicluster.ClusterName, m *clusterprofiles.Member) *clusterprofiles.Problem {
	done := make(chan error, 1)
	go func() { done <- p.aware.Engage(ctx, name, m) }()
	timer := time.NewTimer(p.opts.EngageTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return clusterprofiles.ClassifyConnectionError(fmt.Errorf("engage: %w", err), statusOf(err))
		}
		return nil
	case <-timer.C:
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonUnreachable,
			Message: fmt.Sprintf("controllers did not sync the cluster within the engage timeout %s", p.opts.EngageTimeout)}
	}
}

// ensureNamespace creates a member's apinet namespace in its peer if missing.
func ensureNamespace(ctx context.Context, cfg *rest.Config, hc *http.Client, name string) error {
	c, err := client.New(cfg, client.Options{HTTPClient: hc})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{}
	ns.Name = name
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func statusOf(err error) int {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return int(status.Status().Code)
	}
	return 0
}

// disengageLocked cancels a member's engagement. Caller holds p.mu.
func (p *Provider) disengageLocked(rec *record) {
	if rec.member == nil {
		return
	}
	p.log.Info("disengaging", "cluster", rec.member.Profile.Name)
	rec.cancel()
	p.topology.Remove(rec.member)
	rec.member, rec.cancel, rec.engagedFor = nil, nil, ""
}
