package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// errSuperseded ends a job whose profile moved on while it ran.
var errSuperseded = &clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "superseded by a newer engagement"}

// startJobLocked starts the one engagement job of a record. Caller holds
// p.mu, and rec.eng.job is nil.
func (p *Provider) startJobLocked(rec *record, key engageKey, peer *connection) {
	ctx, cancel := context.WithCancel(p.ctx)
	j := &job{rec: rec, conn: rec.conn, key: key, profile: *rec.profile, settings: rec.settings, peer: peer, ctx: ctx, cancel: cancel}
	if peerRec := p.records[key.peer]; peerRec != nil {
		j.peerSettings = peerRec.sharedPeerSettings()
	}
	rec.eng.job = j
	p.jobs.submit(j)
	context.AfterFunc(ctx, func() {
		if p.jobs.withdraw(j) {
			p.run(j) // cancelled before a worker took it: just finish it
		}
	})
}

// run builds and engages one member, then records the outcome and wakes the
// profile (which starts the next job if the profile moved on meanwhile).
func (p *Provider) run(j *job) {
	name := j.profile.Name
	log := p.log.WithValues("cluster", name, "peer", clusterprofiles.ClusterName(j.profile.Peer))
	start := time.Now()
	member, problem := p.build(j)
	if problem == nil {
		problem = p.commit(j, member)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	rec := j.rec
	current := p.records[rec.key] == rec && rec.eng.job == j && j.ctx.Err() == nil
	if rec.eng.job == j {
		rec.eng.job = nil
	}
	switch {
	case problem != nil:
		j.cancel()
		if current {
			delay := rec.eng.backoff.Step()
			rec.eng.failure, rec.eng.failedFor, rec.eng.retryAt = problem, j.key, time.Now().Add(delay)
			log.Info("engaging failed", "reason", problem.Reason, "message", problem.Message, "retryIn", delay.Round(time.Millisecond))
		}
	case !current:
		// Superseded after it reached the Topology: undo, before the
		// next job may start (it starts only once this one is cleared).
		p.topology.Remove(member)
		member.StopWork()
		j.cancel()
	default:
		rec.eng.member, rec.eng.cancel, rec.eng.key = member, j.cancel, j.key
		rec.eng.failure, rec.eng.failedFor = nil, engageKey{}
		rec.eng.backoff = p.opts.retryBackoff()
		log.Info("engaged", "apinetNamespace", j.profile.APINetNamespace, "identity", j.key.identity, "took", time.Since(start).Round(time.Millisecond))
	}
	p.wakeUp(rec.key)
}

// commit puts a built member into the Topology and engages it, unless the
// job was superseded meanwhile.
func (p *Provider) commit(j *job, member *clusterprofiles.Member) *clusterprofiles.Problem {
	p.mu.Lock()
	current := j.rec.eng.job == j && j.ctx.Err() == nil
	p.mu.Unlock()
	if !current {
		return errSuperseded
	}
	p.topology.Put(member)
	problem := p.engageWithDeadline(j.ctx, j.profile.Name, member)
	if problem != nil {
		p.topology.Remove(member)
	}
	return problem
}

// build gets the member's cluster (shared with its connection), proves that
// the member owns its apinet namespace in the peer and claims it, and starts
// the peer view; every informer the reconcilers use is synced before it
// returns, so that engaging only registers handlers.
func (p *Provider) build(j *job) (*clusterprofiles.Member, *clusterprofiles.Problem) {
	if j.ctx.Err() != nil {
		return nil, errSuperseded
	}
	deadline, cancel := context.WithTimeout(j.ctx, p.opts.EngageTimeout)
	defer cancel()
	fail := func(what string, err error) *clusterprofiles.Problem {
		if j.ctx.Err() != nil {
			return errSuperseded
		}
		if errors.Is(err, context.DeadlineExceeded) || deadline.Err() != nil {
			return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonUnreachable,
				Message: fmt.Sprintf("%s: not done within the engage timeout %s", what, p.opts.EngageTimeout)}
		}
		if pr := new(clusterprofiles.Problem); errors.As(err, &pr) {
			return pr
		}
		return clusterprofiles.ClassifyConnectionError(fmt.Errorf("%s: %w", what, err), statusOf(err))
	}

	memberCl, err := p.memberCluster(deadline, j)
	if err != nil {
		return nil, fail("start member cluster", err)
	}
	if p.opts.Preflight != nil {
		// Before the claim: a refused member writes nothing, not even its
		// namespace's owner record.
		if problem := p.opts.Preflight(deadline, memberCl.GetCache(), j.profile.APINetNamespace); problem != nil {
			return nil, problem
		}
	}
	peerCl, owner, err := p.claimAndWatchPeer(deadline, j, memberCl.GetCache())
	if err != nil {
		return nil, fail(fmt.Sprintf("namespace %s in peer %s", j.profile.APINetNamespace, clusterprofiles.ClusterName(j.profile.Peer)), err)
	}
	m := &clusterprofiles.Member{
		Cluster: memberCl.Cluster,
		Events:  memberCl.events,
		Profile: j.profile,
		Label:   clusterprofiles.LabelValue(j.profile.Name),
		Peer: &clusterprofiles.Peer{Cluster: peerCl, Name: clusterprofiles.ClusterName(j.profile.Peer), Namespace: j.profile.APINetNamespace,
			Settings: j.peerSettings, Events: j.peerEvents},
		Identity:  j.key.identity,
		TakenOver: owner.TakenOver,
		EngagedAt: time.Now(),
	}
	m.SetSettings(j.settings)
	return m, nil
}

// memberCluster returns the cluster of the job's member connection,
// building, indexing, warming and syncing it first if the connection has
// none yet.
func (p *Provider) memberCluster(ctx context.Context, j *job) (*memberCluster, error) {
	scope := j.profile.Scope
	p.mu.Lock()
	mc := j.conn.member
	if mc != nil && mc.scope == scope.Key() {
		p.mu.Unlock()
		return mc, nil
	}
	if mc != nil {
		// The scope changed: its caches select other objects. The job
		// runs only once the engagement on it has ended.
		j.conn.member = nil
	}
	indexers := append([]memberIndex(nil), p.indexers...)
	p.mu.Unlock()
	if mc != nil {
		mc.cancel()
		select {
		case <-mc.stopped:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	kinds := p.topology.MemberKinds()
	cl, err := cluster.New(j.conn.config, func(o *cluster.Options) {
		o.Scheme = p.opts.Scheme
		o.HTTPClient = j.conn.httpClient
		o.MapperProvider = p.mappers.provider
		o.Cache.DefaultTransform = cache.TransformStripManagedFields()
		scopeCache(&o.Cache, scope, kinds, p.opts.Scheme)
	})
	if err != nil {
		return nil, err
	}
	for _, ix := range indexers {
		if err := cl.GetFieldIndexer().IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return nil, fmt.Errorf("index %s: %w", ix.field, err)
		}
	}
	clCtx, cancel := context.WithCancel(j.conn.ctx)
	stopped, err := p.startAndSync(ctx, clCtx, cl, kinds)
	if err != nil {
		cancel()
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if j.conn.member != nil || j.conn.ctx.Err() != nil {
		// Another job was first, or the connection ended: use theirs.
		cancel()
		if j.conn.member == nil {
			return nil, context.Canceled
		}
		return j.conn.member, nil
	}
	j.conn.member = &memberCluster{Cluster: cl, events: clusterprofiles.NewEvents(cl.GetCache(), cl.GetScheme()),
		scope: scope.Key(), cancel: cancel, stopped: stopped}
	return j.conn.member, nil
}

// scopeCache restricts a member's cache to its scope, server-side: its
// namespaces become the cache's namespaces, and its watch filter a label
// selector on the IronCore networking kinds that users label. What IronCore
// makes for those objects (LoadBalancerRoutings, ipam Prefixes) does not
// carry the label and is read by owner or name, within the namespaces.
func scopeCache(o *cache.Options, scope clusterprofiles.Scope, kinds []client.Object, scheme *runtime.Scheme) {
	for _, ns := range scope.Namespaces {
		if o.DefaultNamespaces == nil {
			o.DefaultNamespaces = map[string]cache.Config{}
		}
		o.DefaultNamespaces[ns] = cache.Config{}
	}
	if scope.WatchFilter == "" {
		return
	}
	selector := labels.SelectorFromSet(labels.Set{clusterprofiles.LabelWatchFilter: scope.WatchFilter})
	for _, kind := range kinds {
		gvk, err := apiutil.GVKForObject(kind, scheme)
		if err != nil || gvk.Group != "networking.ironcore.dev" || gvk.Kind == "LoadBalancerRouting" {
			continue
		}
		if o.ByObject == nil {
			o.ByObject = map[client.Object]cache.ByObject{}
		}
		o.ByObject[kind] = cache.ByObject{Label: selector}
	}
}

// startAndSync starts a cluster's cache, until run ends, with the informers
// of kinds created up front, and waits until all of them have listed. The
// channel is closed once the cluster has stopped.
func (p *Provider) startAndSync(ctx, run context.Context, cl cluster.Cluster, kinds []client.Object) (chan struct{}, error) {
	for _, kind := range kinds {
		if _, err := cl.GetCache().GetInformer(ctx, kind, cache.BlockUntilSynced(false)); err != nil {
			return nil, fmt.Errorf("informer for %T: %w", kind, err)
		}
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := cl.Start(run); err != nil {
			p.log.Error(err, "cluster cache stopped")
		}
	}()
	if !cl.GetCache().WaitForCacheSync(ctx) {
		return stopped, fmt.Errorf("cache sync: %w", context.DeadlineExceeded)
	}
	return stopped, nil
}

// claimAndWatchPeer proves the member may use its apinet namespace and
// records the claim on it (the only write before engagement), and returns the
// synced peer view of that namespace, which watches the namespace's owner
// record from then on (watchOwner). member is the member's synced cache.
func (p *Provider) claimAndWatchPeer(ctx context.Context, j *job, member client.Reader) (cluster.Cluster, clusterprofiles.Owner, error) {
	ns := j.profile.APINetNamespace
	me := clusterprofiles.Owner{Cluster: j.key.identity, Profile: j.rec.key.String()}
	label := clusterprofiles.LabelValue(j.profile.Name)
	peerClient, err := j.peer.directClient(p.opts)
	if err != nil {
		return nil, me, err
	}
	existing := &corev1.Namespace{}
	exists := true
	if err := peerClient.Get(ctx, client.ObjectKey{Name: ns}, existing); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, me, err
		}
		exists = false
	}
	where := func(pr *clusterprofiles.Problem) *clusterprofiles.Problem {
		return &clusterprofiles.Problem{Reason: pr.Reason, Message: fmt.Sprintf("namespace %s of peer %s: %s", ns, clusterprofiles.ClusterName(j.profile.Peer), pr.Message)}
	}
	if !exists {
		record, problem := clusterprofiles.Claim(nil, false, me, label, j.settings.TakeOver, clusterprofiles.Contents{})
		if problem != nil {
			return nil, me, where(problem)
		}
		created := &corev1.Namespace{}
		created.Name = ns
		created.Labels = map[string]string{clusterprofiles.LabelCluster: label}
		created.Annotations = record.Annotations()
		if err := peerClient.Create(ctx, created); err != nil {
			// Someone else created it meanwhile: the next job checks it.
			return nil, me, err
		}
		me = *record
	}

	shared, err := p.sharedPeerCache(ctx, j.peer)
	if err != nil {
		return nil, me, err
	}
	j.peerEvents = shared.events
	peerCl := clusterprofiles.NewPeerView(shared.cluster, ns)
	kinds := claimKinds(p.topology.PeerKinds())
	if !exists {
		return peerCl, me, p.watchOwner(ctx, j, peerCl, peerClient, me)
	}

	contents, unlabelled, err := p.contents(ctx, peerCl, ns, kinds, label)
	if err != nil {
		return nil, me, err
	}
	record, problem := clusterprofiles.Claim(existing.Annotations, true, me, label, j.settings.TakeOver, contents)
	if problem != nil {
		return nil, me, where(problem)
	}
	owner, _, err := clusterprofiles.OwnerOf(existing.Annotations)
	if err != nil {
		return nil, me, err
	}
	adopts := j.settings.TakeOver || (record == nil && owner.TakenOver) || (record != nil && record.TakenOver)
	if adopts && len(unlabelled) > 0 && p.opts.ProveAdoption != nil {
		// Before the claim is written: objects of another cluster are
		// never adopted, so the gone path never deletes them.
		if problem := p.opts.ProveAdoption(ctx, member, unlabelled); problem != nil {
			return nil, me, where(problem)
		}
	}
	if record == nil {
		return peerCl, owner, p.watchOwner(ctx, j, peerCl, peerClient, owner)
	}
	base := existing.DeepCopy()
	if existing.Labels == nil {
		existing.Labels = map[string]string{}
	}
	existing.Labels[clusterprofiles.LabelCluster] = label
	if existing.Annotations == nil {
		existing.Annotations = map[string]string{}
	}
	maps.Copy(existing.Annotations, record.Annotations())
	// The merge patch carries the resourceVersion: if anyone changed the
	// namespace since it was checked, the claim fails and is retried.
	if err := peerClient.Patch(ctx, existing, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return nil, me, err
	}
	p.log.Info("claimed apinet namespace", "cluster", j.profile.Name, "namespace", ns, "identity", record.Cluster, "takenOver", record.TakenOver,
		"objects", contents.Mine+contents.Unlabelled)
	return peerCl, *record, p.watchOwner(ctx, j, peerCl, peerClient, *record)
}

// sharedPeerCache returns the peer connection's shared apinet cache,
// building and syncing it first if no job has. Its build is bounded by
// EngageTimeout and runs for the connection, not for the job that started
// it (other jobs wait for it); a failed build is tried again by the next
// job.
func (p *Provider) sharedPeerCache(ctx context.Context, peer *connection) (*sharedPeer, error) {
	p.mu.Lock()
	s := peer.shared
	build := s == nil || s.failed()
	if build {
		s = &sharedPeer{ready: make(chan struct{})}
		peer.shared = s
	}
	p.mu.Unlock()
	if build {
		s.err = p.buildSharedPeer(peer, s)
		close(s.ready)
	}
	select {
	case <-s.ready:
		if s.err != nil {
			return nil, s.err
		}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// buildSharedPeer builds, indexes, starts and syncs a peer's shared cache:
// cluster-wide informers of every apinet kind the reconcilers watch or a
// claim counts, and of Namespaces (their owner records).
func (p *Provider) buildSharedPeer(peer *connection, s *sharedPeer) error {
	ctx, cancel := context.WithTimeout(peer.ctx, p.opts.EngageTimeout)
	defer cancel()
	cl, err := cluster.New(peer.config, func(o *cluster.Options) {
		o.Scheme = p.opts.Scheme
		o.HTTPClient = peer.httpClient
		o.MapperProvider = MemoizedDynamicMapper
		o.Cache.DefaultTransform = cache.TransformStripManagedFields()
	})
	if err != nil {
		return err
	}
	if err := p.topology.ApplyPeerIndexes(ctx, cl); err != nil {
		return err
	}
	run, stop := context.WithCancel(peer.ctx)
	stopped, err := p.startAndSync(ctx, run, cl, append(claimKinds(p.topology.PeerKinds()), &corev1.Namespace{}))
	if err != nil {
		stop()
		return err
	}
	s.cluster, s.events, s.cancel, s.stopped = cl, clusterprofiles.NewEvents(cl.GetCache(), cl.GetScheme()), stop, stopped
	return nil
}

// claimKinds are the apinet kinds whose objects decide a namespace claim:
// every kind the hub writes, and whatever else the reconcilers watch.
func claimKinds(watched []client.Object) []client.Object {
	kinds := []client.Object{
		&apinetv1alpha1.Network{}, &apinetv1alpha1.IP{}, &apinetv1alpha1.NetworkInterface{},
		&apinetv1alpha1.LoadBalancer{}, &apinetv1alpha1.LoadBalancerRouting{},
		&apinetv1alpha1.NATGateway{}, &apinetv1alpha1.NATGatewayAutoscaler{},
		&apinetv1alpha1.NetworkPolicy{}, &apinetv1alpha1.NetworkPolicyRule{},
	}
	for _, w := range watched {
		if !slices.ContainsFunc(kinds, func(k client.Object) bool { return reflect.TypeOf(k) == reflect.TypeOf(w) }) {
			kinds = append(kinds, w)
		}
	}
	return kinds
}

// contents counts the apinet objects of the namespace by cluster label, from
// the synced peer view (every kind the reconcilers watch), and returns the
// unlabelled ones.
func (p *Provider) contents(ctx context.Context, peer cluster.Cluster, ns string, kinds []client.Object, label string) (clusterprofiles.Contents, []client.Object, error) {
	var labels []map[string]string
	var unlabelled []client.Object
	for _, kind := range kinds {
		gvk, err := apiutil.GVKForObject(kind, p.opts.Scheme)
		if err != nil {
			return clusterprofiles.Contents{}, nil, err
		}
		obj, err := p.opts.Scheme.New(schema.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind + "List"})
		if err != nil {
			return clusterprofiles.Contents{}, nil, err
		}
		list, ok := obj.(client.ObjectList)
		if !ok {
			continue
		}
		if err := peer.GetCache().List(ctx, list, client.InNamespace(ns)); err != nil {
			return clusterprofiles.Contents{}, nil, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return clusterprofiles.Contents{}, nil, err
		}
		for _, item := range items {
			if o, ok := item.(client.Object); ok {
				labels = append(labels, o.GetLabels())
				if _, labelled := o.GetLabels()[clusterprofiles.LabelCluster]; !labelled {
					unlabelled = append(unlabelled, o)
				}
			}
		}
	}
	return clusterprofiles.CountContents(labels, label), unlabelled, nil
}

// engageWithDeadline engages the member with every controller. The
// informers are synced already, so this only registers handlers; it still
// runs under EngageTimeout for controllers that watch kinds the provider
// was not told about.
func (p *Provider) engageWithDeadline(ctx context.Context, name multicluster.ClusterName, m *clusterprofiles.Member) *clusterprofiles.Problem {
	done := make(chan error, 1)
	go func() { done <- p.aware.Engage(ctx, name, m) }()
	timer := time.NewTimer(p.opts.EngageTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			if ctx.Err() != nil {
				return errSuperseded
			}
			return clusterprofiles.ClassifyConnectionError(fmt.Errorf("engage: %w", err), statusOf(err))
		}
		return nil
	case <-timer.C:
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonUnreachable,
			Message: fmt.Sprintf("controllers did not sync the cluster within the engage timeout %s", p.opts.EngageTimeout)}
	case <-ctx.Done():
		// Superseded, or the hub shuts down: an Engage that does not
		// return then (the manager's controllers are stopping) must not
		// hold an engage worker, and with it the manager's shutdown, until
		// the engage timeout. The Engage goroutine ends with its context.
		return errSuperseded
	}
}

func statusOf(err error) int {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return int(status.Status().Code)
	}
	return 0
}
