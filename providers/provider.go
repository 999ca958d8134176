package providers

import (
	"context"
	"errors"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Provider engages IronCore members described by ClusterProfiles on the hub,
// each together with a view of its apinet peer (see clusterprofiles.Member).
// It implements multicluster.Provider and multicluster.ProviderRunnable.
//
// What it guarantees:
//   - Identity before writes: it learns which cluster a member's credentials
//     reach (the UID of its kube-system namespace) and engages the member
//     only if that cluster owns the member's apinet namespace in the peer
//     (recorded on the namespace when the hub creates or first claims it).
//     A namespace of another cluster, or one holding objects the hub did not
//     write, is refused with nothing written or deleted, unless the profile
//     asks for a take-over (clusterprofiles.Claim).
//   - Health covers what the hub uses: a member is usable while its
//     networking.ironcore.dev API answers, a peer while its
//     core.apinet.ironcore.dev API does, both through their aggregators; a
//     cluster is paused after ProbeFailureThreshold failures and resumes after
//     ProbeSuccessThreshold successes. Paused means disengaged: nothing is
//     reconciled against stale data, and resuming re-engages, which queues
//     every object at once.
//   - One engagement job per profile at a time; a superseded job is
//     cancelled, and a new one starts only once it has finished. Failed
//     engagements back off exponentially with jitter up to MaxRetryInterval.
//   - Cluster lifetimes derive from the context of Start, never from a
//     reconcile. A connection is rebuilt only when the canonical hash of its
//     credentials changes; a peer's rotation rebuilds the peer views only.
//   - Building, syncing (every informer the reconcilers use, before Engage)
//     and engaging run in a bounded worker pool under a deadline; one slow
//     member never holds up others, and the members of one slow peer hold at
//     most EngagePeerShare workers (jobPool): peers take turns.
//   - Profile settings (overrides) apply live; an invalid one keeps the last
//     valid value in force and is reported.
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
	jobs    *jobPool
	wake    wakeQueue // re-reconcile a profile
	mappers *memberMappers

	mu      sync.Mutex
	records map[types.NamespacedName]*record
	// peerMembers holds, per peer, its IronCore profiles and the apinet
	// namespace each claims (setProfileLocked): whom a change concerns.
	peerMembers map[types.NamespacedName]map[types.NamespacedName]string
	writers     map[clusterprofiles.Identity]map[*record]struct{} // writer.go
	// remote holds the profiles another replica owns (Options.Shard) that
	// claim a cluster, as claimants only (writer.go).
	remote     map[types.NamespacedName]*record
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
		opts:        opts,
		hub:         hub,
		topology:    topology,
		creds:       &clusterprofiles.CredentialResolver{Access: opts.Access, Consumer: opts.Consumer, Secrets: hub.GetCache(), Indexed: true},
		recorder:    hub.GetEventRecorder("apinet-hub"),
		log:         log.Log.WithName("clusterprofile-provider"),
		started:     make(chan struct{}),
		jobs:        newJobPool(opts.EngagePeerShare),
		records:     map[types.NamespacedName]*record{},
		peerMembers: map[types.NamespacedName]map[types.NamespacedName]string{},
		writers:     map[clusterprofiles.Identity]map[*record]struct{}{},
		remote:      map[types.NamespacedName]*record{},
		mappers:     &memberMappers{kinds: topology.MemberKinds, scheme: opts.Scheme, timeout: opts.RequestTimeout},
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

// Running tells whether Start has been called (the manager runs the
// provider: on the leader, or on every replica without leader election).
func (p *Provider) Running() bool {
	select {
	case <-p.started:
		return true
	default:
		return false
	}
}

// Start runs the engage workers until ctx ends, then disengages everything.
func (p *Provider) Start(ctx context.Context, aware multicluster.Aware) error {
	p.ctx, p.aware = ctx, aware
	close(p.started)
	var wg sync.WaitGroup
	for range p.opts.EngageWorkers {
		wg.Go(func() {
			for j := p.jobs.next(); j != nil; j = p.jobs.next() {
				p.run(j)
				p.jobs.done(j)
			}
		})
	}
	if p.opts.Shard != nil {
		wg.Go(func() { p.followShard(ctx) })
	}
	<-ctx.Done()
	p.jobs.close()
	wg.Wait()
	p.mu.Lock()
	for _, rec := range p.records {
		p.stopLocked(rec)
	}
	p.mu.Unlock()
	return nil
}

// followShard re-reconciles every profile when the replicas change: each
// replica takes up the profiles it now owns and lets go of the others.
// (O(profiles) per change of the replicas, never per event.)
func (p *Provider) followShard(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.opts.Shard.Changes():
		}
		for _, ns := range p.namespacesToList() {
			list := &clusterinventoryv1alpha1.ClusterProfileList{}
			if err := p.hub.GetClient().List(ctx, list, client.InNamespace(ns)); err != nil {
				p.log.Error(err, "cannot list the profiles to rebalance the shard; they follow at their next change")
				continue
			}
			for i := range list.Items {
				p.wakeUp(client.ObjectKeyFromObject(&list.Items[i]))
			}
		}
	}
}

// namespacesToList are the hub namespaces to list profiles in ("" for all).
func (p *Provider) namespacesToList() []string {
	if len(p.opts.Namespaces) == 0 {
		return []string{""}
	}
	return p.opts.Namespaces
}

// wakeUp re-reconciles a profile soon.
func (p *Provider) wakeUp(key types.NamespacedName) {
	p.wake.add(key)
}

// wakeQueue hands wake-ups straight to the provider controller's work
// queue, which merges repeats and never drops one (a buffered channel
// would drop wake-ups when full, leaving a profile to the resync hours
// later). Wake-ups before the controller starts wait in pending.
type wakeQueue struct {
	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending map[types.NamespacedName]struct{}
}

// source is the controller's source of wake-ups.
func (w *wakeQueue) source() source.Source {
	return source.Func(func(_ context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.queue = queue
		for key := range w.pending {
			queue.Add(reconcile.Request{NamespacedName: key})
		}
		w.pending = nil
		return nil
	})
}

func (w *wakeQueue) add(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.queue == nil {
		if w.pending == nil {
			w.pending = map[types.NamespacedName]struct{}{}
		}
		w.pending[key] = struct{}{}
		return
	}
	w.queue.Add(reconcile.Request{NamespacedName: key})
}
