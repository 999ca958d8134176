package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
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
	// GoneDeletions bounds, per member, how many IronCore objects missing
	// from the member the gone path removes the apinet objects of before
	// it holds further removals (reconcilers/gone.go); zero fields take
	// DefaultGoneDeletionBudgetPercent, -Min and -Window.
	GoneDeletions clusterprofiles.DeletionBudget
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
	opts.GoneDeletions = withDeletionBudgetDefaults(opts.GoneDeletions)
	hub := mgr.GetLocalManager()
	base := reconciler{topology: topology, opts: opts, applied: newAppliedMemo(maxAppliedPerMember), kinds: &mappedKinds{},
		hub: hubEvents{reader: hub.GetClient(), recorder: hub.GetEventRecorder("apinet-hub")}}
	metrics.SetUsageSource(base.usage)
	metrics.SetHeldDeletionsSource(base.heldDeletions)
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
	// hub records Events on members' ClusterProfiles (the gone path's
	// deletion hold).
	hub hubEvents
}

// apply server-side-applies the desired state of an apinet object to the
// member's peer with force (applyContent says what is sent), and reads the
// server's object back into obj; unless the peer's cache shows that the last
// apply of the same content is still in place (appliedMemo).
func (r reconciler) apply(ctx context.Context, m *clusterprofiles.Member, obj client.Object, fieldManager string) error {
	return writeFailed(m.Peer.GetClient(), obj, r.applied.apply(ctx, m, obj, fieldManager))
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

// paths is the skeleton every kind's reconciler shares, and the contract
// each kind fills in: fetch the IronCore object of an engaged member, then
//
//   - gone (the object is missing from the member's cache): clean up what
//     stems from it, behind a gate (reconcilers/gone.go: the member's
//     deletion budget, the absence and the member's identity read live);
//   - being deleted: if it carries the kind's finalizer, run the delete path
//     until it reports done, then remove the finalizer (an object without it
//     was never mapped, or was handed back: nothing is touched);
//   - otherwise: unless the kind leaves it alone, add the finalizer (or
//     let the normal path add it: finalizerInNormal), then run the normal path (fetch what it needs, build the desired apinet objects
//     and IronCore status with pure functions, apply and patch).
//
// A failed write of an apinet object (applyError, from reconciler.apply or
// writeFailed) gets one Warning Event on the IronCore object, reason
// APINet<apinet kind>Failed, whichever path it came from. Unselected objects
// (watch filter, managed-by) are left alone.
type paths[T client.Object] struct {
	reconciler
	// controller names the controller (controller-runtime, logs, metrics).
	controller string
	// finalizer is apinetlet's finalizer of the kind.
	finalizer string
	// finalizerInNormal says that the normal path adds the finalizer
	// itself, in its first patch of the object (a Network's: with the
	// provider ID, one member request where apinetlet makes two). The
	// apinet objects it writes before that patch stay safe: if the
	// IronCore object goes meanwhile, the gone path removes them.
	finalizerInNormal bool
	newObject         func() T
	newList           func() client.ObjectList
	// mapped tells from an object's status (after the normal path) whether
	// it is mapped: the moment its mapping latency is observed.
	mapped func(T) bool
	// leaveAlone, if set, reports whether the hub must not map an object
	// at all (no finalizer, no write); it says why itself (an Event).
	leaveAlone func(context.Context, *clusterprofiles.Member, T) bool
	normal     func(context.Context, *clusterprofiles.Member, T) (reconcile.Result, error)
	// delete cleans up after an object being deleted and reports done once
	// nothing of it is left in the peer; until then it is called again.
	delete func(context.Context, *clusterprofiles.Member, T) (done bool, err error)
	// gone cleans up after an IronCore object missing from the member's
	// cache. Once it has found something to remove, and before it removes
	// anything, it calls the gate (goneGate) and stops on its error.
	gone func(context.Context, *clusterprofiles.Member, types.NamespacedName, goneGate) error
}

func (p paths[T]) Reconcile(ctx context.Context, req mcreconcile.Request) (reconcile.Result, error) {
	m := p.member(req)
	if m == nil {
		return reconcile.Result{}, nil
	}
	// Disengaging the member cancels this reconcile and waits for it to end
	// (Member.StopWork): nothing is written for a member once it is gone.
	ctx, done, ok := m.BeginWork(ctx)
	if !ok {
		return reconcile.Result{}, nil
	}
	defer done()
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
	metrics.ReconcileDuration.WithLabelValues(p.controller).Observe(time.Since(start).Seconds())
	return result, err
}

func (p paths[T]) reconcile(ctx context.Context, m *clusterprofiles.Member, req mcreconcile.Request) (reconcile.Result, error) {
	obj := p.newObject()
	if err := m.GetClient().Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return p.reconcileGone(ctx, m, req.NamespacedName)
		}
		return reconcile.Result{}, err
	}
	if !Selected(p.opts.WatchFilter, obj) {
		return reconcile.Result{}, nil
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		m.ForgetMapping(obj.GetUID())
		if !controllerutil.ContainsFinalizer(obj, p.finalizer) {
			return reconcile.Result{}, nil
		}
		done, err := p.delete(ctx, m, obj)
		if err != nil {
			return reconcile.Result{}, p.reportWriteFailure(m, obj, err)
		}
		if !done {
			return reconcile.Result{RequeueAfter: requeueDeleting}, nil
		}
		return reconcile.Result{}, RemoveFinalizer(ctx, m.GetClient(), obj, p.finalizer)
	}
	if p.leaveAlone != nil && p.leaveAlone(ctx, m, obj) {
		return reconcile.Result{}, nil
	}
	if !p.finalizerInNormal {
		if err := EnsureFinalizer(ctx, m.GetClient(), obj, p.finalizer); err != nil {
			return reconcile.Result{}, err
		}
	}
	result, err := p.normal(ctx, m, obj)
	if err != nil {
		return result, p.reportWriteFailure(m, obj, err)
	}
	p.observeMapping(m, obj)
	return result, nil
}

// reportWriteFailure records the Event of a failed apinet write in err (if
// it holds one) on the IronCore object, and returns err.
func (p paths[T]) reportWriteFailure(m *clusterprofiles.Member, obj T, err error) error {
	var failed applyError
	if errors.As(err, &failed) {
		recorder(m).Eventf(obj, nil, corev1.EventTypeWarning, "APINet"+failed.kind+"Failed", DefaultEventActionApply,
			"apinet peer %s: %v", m.Peer.Name, failed.err)
	}
	return err
}

// applyError is a failed write of an apinet object of a kind.
type applyError struct {
	kind string
	err  error
}

func (e applyError) Error() string { return e.err.Error() }
func (e applyError) Unwrap() error { return e.err }

// writeFailed marks err, from writing the apinet object obj, as an
// applyError (nil stays nil).
func writeFailed(c client.Client, obj client.Object, err error) error {
	if err == nil {
		return nil
	}
	kind := fmt.Sprintf("%T", obj)
	if gvk, gerr := apiutil.GVKForObject(obj, c.Scheme()); gerr == nil {
		kind = gvk.Kind
	}
	return applyError{kind: kind, err: err}
}

// register records the kind in the reconcilers' mappedKinds (newController
// calls it).
func (p paths[T]) register() {
	p.kinds.add(mappedKind{name: p.controller, newList: p.newList, mapped: func(o client.Object) bool {
		t, ok := o.(T)
		return ok && p.mapped(t)
	}})
}

// observeMapping records the mapping latency of an object (per member, and
// fleet-wide per kind) the first time this engagement of its member sees it
// mapped, unless it predates the engagement (creationTimestamp has whole
// seconds, hence the truncation).
func (p paths[T]) observeMapping(m *clusterprofiles.Member, obj T) {
	if !p.mapped(obj) || !m.FirstMapping(obj.GetUID()) {
		return
	}
	created := obj.GetCreationTimestamp().Time
	if created.Before(m.EngagedAt.Truncate(time.Second)) {
		return
	}
	latency := time.Since(created).Seconds()
	metrics.MappingLatency.WithLabelValues(m.Label).Observe(latency)
	metrics.MappingLatencyByKind.WithLabelValues(p.controller).Observe(latency)
}

// deletesAPINetObjects is the delete path of kinds that own apinet objects
// named by their UID: delete each of them (children first: no garbage
// collector is assumed in apinet clusters); done once all are gone. Only an
// object the member provably owns (BelongsTo) is deleted, with its UID as
// precondition; one that is not the member's (another member's label, or
// apinetlet's without a take-over) is left alone and counts as gone.
func deletesAPINetObjects[T client.Object](newObjects ...func() client.Object) func(context.Context, *clusterprofiles.Member, T) (bool, error) {
	return func(ctx context.Context, m *clusterprofiles.Member, obj T) (bool, error) {
		peer := m.Peer.GetClient()
		for _, newObject := range newObjects {
			an := newObject()
			if err := peer.Get(ctx, types.NamespacedName{Namespace: m.Peer.Namespace, Name: string(obj.GetUID())}, an); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return false, err
			}
			if !BelongsTo(m, an) {
				continue
			}
			if err := peer.Delete(ctx, an, client.Preconditions{UID: ptr.To(an.GetUID())}); client.IgnoreNotFound(err) != nil {
				return false, writeFailed(peer, an, err)
			}
			return false, nil // until the peer's cache no longer has it
		}
		return true, nil
	}
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
