package reconcilers

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"
	mcsource "sigs.k8s.io/multicluster-runtime/pkg/source"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
	"github.com/apinet-hub/apinet-hub/reconcilers/fairqueue"
)

// memberController is the controller of one IronCore kind across all
// members: controller-runtime's controller (one priority queue, the hub's
// workers) plus the per-member watches, started when a member is engaged and
// stopped, all of them, when its engagement ends.
//
// It takes the place of multicluster-runtime v0.24.1's controller and
// builder, for three defects of theirs:
//
//   - Their Engage starts each per-member source through startWithinContext
//     (pkg/controller/controller.go), which leaves one goroutine per source
//     waiting on the controller's context for good: about 25 goroutines
//     leak with every engagement of a member (a token rotation, a pause).
//     Here a watch's context ends with the engagement or the controller,
//     whichever comes first, and nothing waits after that (context.AfterFunc).
//   - The builder drops the manager's global controller options (the hub's
//     --max-concurrent-reconciles and --reconcile-timeout; fixed upstream
//     after v0.24.1, #177).
//   - Its For() handler hides controller-runtime's priority queue behind a
//     wrapper; the kind is watched here through controller-runtime's own
//     handler (mapInMember), so a newly engaged member's initial list goes
//     in at low priority, behind other members' fresh events.
//
// Its queue is fair across members (reconcilers/fairqueue, Options.Fairness):
// one member's burst, backlog or slowness cannot make the others wait.
//
// Its member watches subscribe to the member's one informer handler per
// kind (clusterprofiles.MemberKind), not one handler per controller and
// kind: client-go's listener goroutines and buffers stay per kind.
//
// Every kind it watches is recorded in the Topology, so that the provider
// starts and syncs those informers before it engages a member: Engage then
// only registers handlers on synced informers and never lists a member
// under the controller's locks.
type memberController struct {
	controller.TypedController[mcreconcile.Request]
	topology *clusterprofiles.Topology

	mu      sync.Mutex
	sources []mcsource.TypedSource[client.Object, mcreconcile.Request]
	engaged map[multicluster.ClusterName]*memberEngagement
}

type memberEngagement struct {
	cluster cluster.Cluster
	ctx     context.Context
	cancel  context.CancelFunc
}

// newController makes the controller of one IronCore kind from its
// skeleton (paths: the controller's name, the kind, its list type),
// registered with the hub's multicluster manager, watching the selected
// objects of that kind (watch filter, managed-by: SelectedPredicate) in
// every member, and reconciling all of them again when a member's settings
// change.
func newController[T client.Object](mgr mcmanager.Manager, p paths[T]) (*memberController, error) {
	p.register()
	name, topology, opts := p.controller, p.topology, p.opts
	global := mgr.GetControllerOptions()
	log := mgr.GetLogger().WithValues("controller", name)
	inner, err := controller.NewTypedUnmanaged(name, controller.TypedOptions[mcreconcile.Request]{
		NewQueue:                fairQueue(opts.Fairness, global.MaxConcurrentReconciles),
		Reconciler:              p,
		MaxConcurrentReconciles: global.MaxConcurrentReconciles,
		ReconciliationTimeout:   global.ReconciliationTimeout,
		CacheSyncTimeout:        global.CacheSyncTimeout,
		RecoverPanic:            global.RecoverPanic,
		NeedLeaderElection:      global.NeedLeaderElection,
		SkipNameValidation:      global.SkipNameValidation,
		UsePriorityQueue:        global.UsePriorityQueue,
		Logger:                  log,
		LogConstructor: func(req *mcreconcile.Request) logr.Logger {
			if req == nil {
				return log
			}
			return log.WithValues("member", req.ClusterName, "namespace", req.Namespace, "name", req.Name)
		},
	})
	if err != nil {
		return nil, err
	}
	c := &memberController{TypedController: inner, topology: topology, engaged: map[multicluster.ClusterName]*memberEngagement{}}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	if err := c.watchMember(p.newObject(), itself, SelectedPredicate(opts.WatchFilter)); err != nil {
		return nil, err
	}
	return c, c.MultiClusterWatch(settingsSource(p.newList))
}

// fairQueue makes each controller's queue fair across members
// (reconcilers/fairqueue); nil (controller-runtime's own queue) when
// fairness is off.
func fairQueue(f Fairness, workers int) func(string, workqueue.TypedRateLimiter[mcreconcile.Request]) workqueue.TypedRateLimitingInterface[mcreconcile.Request] {
	if f.Share <= 0 {
		return nil
	}
	maxInFlight := f.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = max(1, workers/2)
	}
	return func(name string, rl workqueue.TypedRateLimiter[mcreconcile.Request]) workqueue.TypedRateLimitingInterface[mcreconcile.Request] {
		return fairqueue.New(fairqueue.Options[mcreconcile.Request]{
			Name:        name,
			Member:      func(r mcreconcile.Request) string { return string(r.ClusterName) },
			Share:       f.Share,
			MaxInFlight: maxInFlight,
			RateLimiter: rl,
			Observer:    queueMetrics(name),
		})
	}
}

// queueMetrics exports a controller's per-member queue depth and in-flight
// count (metrics.QueueDepth, metrics.ReconcilesInFlight).
type queueMetrics string

func (c queueMetrics) Set(member string, depth, inFlight int) {
	label := clusterprofiles.LabelValue(multicluster.ClusterName(member))
	metrics.QueueDepth.WithLabelValues(string(c), label).Set(float64(depth))
	metrics.ReconcilesInFlight.WithLabelValues(string(c), label).Set(float64(inFlight))
}

func (c queueMetrics) Forget(member string) {
	label := clusterprofiles.LabelValue(multicluster.ClusterName(member))
	metrics.QueueDepth.DeleteLabelValues(string(c), label)
	metrics.ReconcilesInFlight.DeleteLabelValues(string(c), label)
}

// watchMember watches a kind in every member, mapping each event to
// requests with fn.
func (c *memberController) watchMember(kind client.Object, fn func(context.Context, cluster.Cluster, client.Object) []reconcile.Request, preds ...predicate.Predicate) error {
	c.topology.UseMemberKind(kind)
	return c.MultiClusterWatch(clusterprofiles.MemberKind(kind, mapInMember(fn), preds...))
}

// watchPeer watches an apinet kind in the peer of every member, in the
// member's namespace (clusterprofiles.PeerKind).
func watchPeer[T client.Object](c *memberController, kind T, mapFn func(context.Context, *clusterprofiles.Member, T) []reconcile.Request) error {
	c.topology.UsePeerKind(kind)
	return c.MultiClusterWatch(clusterprofiles.PeerKind(kind, mapFn))
}

// Engage starts every watch for a member; an engagement of another instance
// under the same name replaces the old one (multicluster.Aware's contract).
func (c *memberController) Engage(ctx context.Context, name multicluster.ClusterName, cl cluster.Cluster) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.engaged[name]; ok {
		if old.cluster == cl && old.ctx.Err() == nil {
			return nil
		}
		old.cancel()
		delete(c.engaged, name)
	}
	engCtx, cancel := context.WithCancel(ctx)
	for _, src := range c.sources {
		if err := c.watchIn(engCtx, name, cl, src); err != nil {
			cancel()
			return err
		}
	}
	e := &memberEngagement{cluster: cl, ctx: engCtx, cancel: cancel}
	c.engaged[name] = e
	context.AfterFunc(engCtx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.engaged[name] == e {
			delete(c.engaged, name)
		}
	})
	return nil
}

// MultiClusterWatch adds a per-member source, for the members engaged now
// and later.
func (c *memberController) MultiClusterWatch(src mcsource.TypedSource[client.Object, mcreconcile.Request]) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, e := range c.engaged {
		if err := c.watchIn(e.ctx, name, e.cluster, src); err != nil {
			return err
		}
	}
	c.sources = append(c.sources, src)
	return nil
}

// watchIn starts src for one member. Its context ends with the engagement
// (engCtx) or with the controller, whichever ends first; once it has ended,
// no callback or goroutine of it is left behind.
func (c *memberController) watchIn(engCtx context.Context, name multicluster.ClusterName, cl cluster.Cluster, src mcsource.TypedSource[client.Object, mcreconcile.Request]) error {
	s, ok, err := src.ForCluster(name, cl)
	if err != nil {
		return fmt.Errorf("watch member %q: %w", name, err)
	}
	if !ok {
		return nil
	}
	return c.Watch(source.TypedFunc[mcreconcile.Request](func(ctlCtx context.Context, q workqueue.TypedRateLimitingInterface[mcreconcile.Request]) error {
		ctx, cancel := context.WithCancel(engCtx)
		stop := context.AfterFunc(ctlCtx, cancel)
		context.AfterFunc(ctx, func() { stop() })
		if err := s.Start(ctx, q); err != nil {
			cancel()
			return fmt.Errorf("watch member %q: %w", name, err)
		}
		return nil
	}))
}

// settingsSource is a per-member source that queues every object of a kind
// in the member when the member's live settings change (profile overrides
// such as disable-network-peering), so edits take effect without
// re-engaging the member.
type settingsSource func() client.ObjectList

func (newList settingsSource) ForCluster(name multicluster.ClusterName, cl cluster.Cluster) (source.TypedSource[mcreconcile.Request], bool, error) {
	m, ok := cl.(*clusterprofiles.Member)
	if !ok {
		return nil, false, nil
	}
	return source.TypedFunc[mcreconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[mcreconcile.Request]) error {
		m.OnSettingsChange(ctx, func() {
			list := newList()
			if err := m.GetCache().List(ctx, list); err != nil {
				return
			}
			items, err := meta.ExtractList(list)
			if err != nil {
				return
			}
			for _, item := range items {
				if o, ok := item.(client.Object); ok {
					q.Add(mcreconcile.Request{ClusterName: name, Request: reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)}})
				}
			}
		})
		return nil
	}), true, nil
}
