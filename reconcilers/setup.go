package reconcilers

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// (AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs).
	NATPublicIPs NATLimits
	// NodeAffinityAware pins load balancer instances to the nodes of their
	// targets (apinetlet's --is-node-affinity-aware), unless a member's
	// profile overrides it (clusterprofiles.AnnotationNodeAffinityAware).
	NodeAffinityAware bool
}

// requeueDeleting is how soon a delete path looks again for an apinet
// object it deleted.
const requeueDeleting = time.Second

// SetupWithManager registers every reconciler on the hub's multicluster
// manager. Members come from topology (written by the provider).
func SetupWithManager(ctx context.Context, mgr mcmanager.Manager, topology *clusterprofiles.Topology, opts Options) error {
	if opts.NATPublicIPs == (NATLimits{}) {
		opts.NATPublicIPs = DefaultNATLimits
	}
	base := reconciler{topology: topology, opts: opts}
	return errors.Join(
		(&networkReconciler{base}).setupWithManager(ctx, mgr),
		(&virtualIPReconciler{base}).setupWithManager(mgr),
		(&networkInterfaceReconciler{base}).setupWithManager(ctx, mgr),
		(&natGatewayReconciler{base}).setupWithManager(mgr),
		(&loadBalancerReconciler{base}).setupWithManager(mgr),
		(&networkPolicyReconciler{base}).setupWithManager(mgr),
	)
}

// reconciler is what every kind's reconciler shares.
type reconciler struct {
	topology *clusterprofiles.Topology
	opts     Options
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

// paths is the skeleton every kind's reconciler shares: fetch the IronCore
// object of an engaged member, then branch to the normal, delete or gone
// path. Unselected objects (watch filter, managed-by) are left alone.
type paths[T client.Object] struct {
	reconciler
	newObject func() T
	normal    func(context.Context, *clusterprofiles.Member, T) (reconcile.Result, error)
	delete    func(context.Context, *clusterprofiles.Member, T) (reconcile.Result, error)
	// gone cleans up after an IronCore object that no longer exists.
	gone func(context.Context, *clusterprofiles.Member, types.NamespacedName) error
}

func (p paths[T]) Reconcile(ctx context.Context, req mcreconcile.Request) (reconcile.Result, error) {
	m := p.member(req)
	if m == nil {
		return reconcile.Result{}, nil
	}
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
		return p.delete(ctx, m, obj)
	}
	return p.normal(ctx, m, obj)
}

// deleteAPINetObject is the delete path of kinds with one apinet object:
// delete it, and remove the IronCore object's finalizer once it is gone.
func deleteAPINetObject(ctx context.Context, m *clusterprofiles.Member, an, obj client.Object, finalizer string) (reconcile.Result, error) {
	gone, err := DeleteAndCheckGone(ctx, m.Peer.GetClient(), an)
	if err != nil || !gone {
		return reconcile.Result{RequeueAfter: requeueDeleting}, err
	}
	return reconcile.Result{}, RemoveFinalizer(ctx, m.GetClient(), obj, finalizer)
}
