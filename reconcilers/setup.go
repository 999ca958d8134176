package reconcilers

import (
	"context"
	"errors"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mchandler "sigs.k8s.io/multicluster-runtime/pkg/handler"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// Options configures every reconciler of the hub.
type Options struct {
	// WatchFilter, when set, restricts the hub to IronCore objects labelled
	// common.ironcore.dev/watch-filter=<WatchFilter> (apinetlet's --watch-filter).
	WatchFilter string
	// DisableNetworkPeering stops reporting IronCore Network status.peerings
	// (apinet spec.peerings are still written), unless a member's profile
	// overrides it (clusterprofiles.AnnotationDisableNetworkPeering).
	DisableNetworkPeering bool
	// NATPublicIPs bounds the public IPs of every NAT gateway unless a
	// member's profile or the NATGateway itself says otherwise
	// (AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs). nil means
	// DefaultNATLimits.
	NATPublicIPs *NATLimits
	// NodeAffinityAware pins load balancer instances to the nodes of their
	// targets (apinetlet's --is-node-affinity-aware), unless a member's
	// profile overrides it (clusterprofiles.AnnotationNodeAffinityAware).
	NodeAffinityAware bool
	// Fairness shares each controller's workers among the members
	// (reconcilers/fairqueue).
	Fairness Fairness
	// UnmappedGrace is how old an IronCore object may be before the hub
	// counts it as not mapped (apinet_hub_objects_unmapped). Default
	// DefaultUnmappedGrace.
	UnmappedGrace time.Duration
}

// DefaultUnmappedGrace is Options.UnmappedGrace by default.
const DefaultUnmappedGrace = 2 * time.Minute

// Fairness sizes the fair queue of every controller.
type Fairness struct {
	// Share is how many requests of one member may wait in a controller's
	// shared queue at once: a member's fresh event waits behind at most
	// Share requests of every other member. 0 turns fair queueing off
	// (controller-runtime's priority queue, one FIFO for all members).
	Share int
	// MaxInFlight is how many requests of one member a controller
	// reconciles at once, so that a slow member cannot hold every worker
	// (0: half of --max-concurrent-reconciles, at least 1).
	MaxInFlight int
}

// requeueDeleting is how soon a delete path looks again for an apinet
// object it deleted.
const requeueDeleting = time.Second

// SetupWithManager registers every reconciler on the hub's multicluster
// manager. Members come from topology (written by the provider).
func SetupWithManager(ctx context.Context, mgr mcmanager.Manager, topology *clusterprofiles.Topology, opts Options) error {
	if opts.NATPublicIPs == nil {
		opts.NATPublicIPs = &DefaultNATLimits
	}
	if opts.UnmappedGrace == 0 {
		opts.UnmappedGrace = DefaultUnmappedGrace
	}
	base := reconciler{topology: topology, opts: opts, applied: newAppliedMemo(topology.Member, maxApplied), kinds: &mappedKinds{}}
	metrics.SetUsageSource(base.usage)
	return errors.Join(
		(&networkReconciler{base}).setupWithManager(ctx, mgr),
		(&virtualIPReconciler{base}).setupWithManager(mgr),
		(&networkInterfaceReconciler{base}).setupWithManager(ctx, mgr),
		(&natGatewayReconciler{base}).setupWithManager(mgr),
		(&loadBalancerReconciler{base}).setupWithManager(mgr),
		(&networkPolicyReconciler{base}).setupWithManager(mgr),
	)
}

// itself maps an object to its own request.
func itself(_ context.Context, _ cluster.Cluster, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(obj)}}
}

// reconciler is what every kind's reconciler shares.
type reconciler struct {
	topology *clusterprofiles.Topology
	opts     Options
	// applied skips applies that would change nothing (apply).
	applied *appliedMemo
	// kinds are the IronCore kinds the controllers reconcile, for the
	// unmapped-objects gauge (usage).
	kinds *mappedKinds
}

// apply server-side-applies the desired state of an apinet object to the
// member's peer with force (applyContent says what is sent), and reads the
// server's object back into obj; unless the peer's cache shows that the last
// apply of the same content is still in place (appliedMemo).
func (r reconciler) apply(ctx context.Context, m *clusterprofiles.Member, obj client.Object, fieldManager string) error {
	return r.applied.apply(ctx, m, obj, fieldManager)
}

// member returns the engaged member of a request. A member that is not
// engaged (paused, removed) yields nil: nothing of it is reconciled against
// stale data, and its re-engagement resyncs everything.
func (r reconciler) member(req mcreconcile.Request) *clusterprofiles.Member {
	m, err := r.topology.Member(req.ClusterName)
	if err != nil {
		return nil
	}
	return m
}

// recorder writes Events on IronCore objects, in the member cluster.
func recorder(m *clusterprofiles.Member) events.EventRecorder {
	return m.GetEventRecorder("apinet-hub")
}

// mapInMember turns a map function that needs the member's cluster into a
// multicluster event handler for a member-side watch.
func mapInMember(fn func(ctx context.Context, cl cluster.Cluster, obj client.Object) []reconcile.Request) mchandler.EventHandlerFunc {
	return func(name multicluster.ClusterName, cl cluster.Cluster) handler.TypedEventHandler[client.Object, mcreconcile.Request] {
		return handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []mcreconcile.Request {
			reqs := fn(ctx, cl, obj)
			out := make([]mcreconcile.Request, 0, len(reqs))
			for _, r := range reqs {
				out = append(out, mcreconcile.Request{Request: r, ClusterName: name})
			}
			return out
		})
	}
}

// otherOutcome pairs the results of apinet_hub_reconcile_total.
var otherOutcome = map[string]string{"success": "error", "error": "success"}

// paths is the skeleton every kind's reconciler shares: fetch the IronCore
// object of an engaged member, then branch to the normal, delete or gone
// path. Unselected objects (watch filter, managed-by) are left alone.
type paths[T client.Object] struct {
	reconciler
	// controller names the controller in metrics.
	controller string
	newObject  func() T
	// mapped tells from an object's status (after the normal path) whether
	// it is mapped: the moment its mapping latency is observed.
	mapped func(T) bool
	normal func(context.Context, *clusterprofiles.Member, T) (reconcile.Result, error)
	delete func(context.Context, *clusterprofiles.Member, T) (reconcile.Result, error)
	// gone cleans up after an IronCore object that no longer exists.
	gone func(context.Context, *clusterprofiles.Member, types.NamespacedName) error
}

func (p paths[T]) Reconcile(ctx context.Context, req mcreconcile.Request) (reconcile.Result, error) {
	m := p.member(req)
	if m == nil {
		return reconcile.Result{}, nil
	}
	start := time.Now()
	result, err := p.reconcile(ctx, m, req)
	outcome := "success"
	if err != nil {
		outcome = "error"
	}
	peer := clusterprofiles.LabelValue(m.Peer.Name)
	metrics.ReconcileTotal.WithLabelValues(p.controller, m.Label, peer, outcome).Inc()
	// Both results exist from the first reconcile on (at 0), so error
	// ratios and error panels have a series before the first error.
	metrics.ReconcileTotal.WithLabelValues(p.controller, m.Label, peer, otherOutcome[outcome]).Add(0)
	metrics.ReconcileDuration.WithLabelValues(p.controller, m.Label).Observe(time.Since(start).Seconds())
	return result, err
}

func (p paths[T]) reconcile(ctx context.Context, m *clusterprofiles.Member, req mcreconcile.Request) (reconcile.Result, error) {
	obj := p.newObject()
	if err := m.GetClient().Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, p.gone(ctx, m, req.NamespacedName)
		}
		return reconcile.Result{}, err
	}
	if !Selected(p.opts.WatchFilter, obj) {
		return reconcile.Result{}, nil
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		m.ForgetMapping(obj.GetUID())
		return p.delete(ctx, m, obj)
	}
	result, err := p.normal(ctx, m, obj)
	if err == nil {
		p.observeMapping(m, obj)
	}
	return result, err
}

// register records the kind in the reconcilers' mappedKinds (newController
// calls it with the kind's list type).
func (p paths[T]) register(newList func() client.ObjectList) {
	p.kinds.add(mappedKind{name: p.controller, newList: newList, mapped: func(o client.Object) bool {
		t, ok := o.(T)
		return ok && p.mapped(t)
	}})
}

// observeMapping records the mapping latency of an object the first time
// this engagement of its member sees it mapped, unless it predates the
// engagement (creationTimestamp has whole seconds, hence the truncation).
func (p paths[T]) observeMapping(m *clusterprofiles.Member, obj T) {
	if !p.mapped(obj) || !m.FirstMapping(obj.GetUID()) {
		return
	}
	created := obj.GetCreationTimestamp().Time
	if created.Before(m.EngagedAt.Truncate(time.Second)) {
		return
	}
	metrics.MappingLatency.WithLabelValues(p.controller, m.Label).Observe(time.Since(created).Seconds())
}

// deleteAPINetObjects is the delete path of kinds that own apinet objects
// named by their UID: delete each of them (children first: no garbage
// collector is assumed in apinet clusters), and remove the IronCore object's
// finalizer once all are gone.
func deleteAPINetObjects(ctx context.Context, m *clusterprofiles.Member, obj client.Object, finalizer string, ans ...client.Object) (reconcile.Result, error) {
	for _, an := range ans {
		an.SetNamespace(m.Peer.Namespace)
		an.SetName(string(obj.GetUID()))
		gone, err := DeleteAndCheckGone(ctx, m.Peer.GetClient(), an)
		if err != nil || !gone {
			return reconcile.Result{RequeueAfter: requeueDeleting}, err
		}
	}
	return reconcile.Result{}, RemoveFinalizer(ctx, m.GetClient(), obj, finalizer)
}

// objectsOfNetwork maps a Network (by its key) to the objects of a kind in
// its namespace whose spec names it: they may exist before their Network.
func objectsOfNetwork(newList func() client.ObjectList, networkName func(client.Object) string) func(context.Context, client.Reader, types.NamespacedName) []reconcile.Request {
	return func(ctx context.Context, c client.Reader, network types.NamespacedName) []reconcile.Request {
		list := newList()
		if err := c.List(ctx, list, client.InNamespace(network.Namespace)); err != nil {
			return nil
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil
		}
		var reqs []reconcile.Request
		for _, item := range items {
			if o, ok := item.(client.Object); ok && networkName(o) == network.Name {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			}
		}
		return reqs
	}
}

// onNetwork turns objectsOfNetwork into a member-side Network watch.
func onNetwork(of func(context.Context, client.Reader, types.NamespacedName) []reconcile.Request) func(context.Context, cluster.Cluster, client.Object) []reconcile.Request {
	return func(ctx context.Context, cl cluster.Cluster, obj client.Object) []reconcile.Request {
		return of(ctx, cl.GetClient(), client.ObjectKeyFromObject(obj))
	}
}

// networkOf returns the IronCore Network an object names in its namespace,
// or nil while it does not exist (the Network watch brings the object back).
func networkOf(ctx context.Context, c client.Reader, namespace, name string) (*networkingv1alpha1.Network, error) {
	network := &networkingv1alpha1.Network{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, network); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return network, nil
}
