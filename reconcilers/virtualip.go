package reconcilers

import (
	"context"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcbuilder "sigs.k8s.io/multicluster-runtime/pkg/builder"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// FinalizerVirtualIP is apinetlet's finalizer on IronCore VirtualIPs.
const FinalizerVirtualIP = "apinet.ironcore.dev/virtualip"

// virtualIPReconciler maps IronCore VirtualIPs to public apinet IPs named by
// their UID; the apinet registry allocates the address, which is reported
// as status.ip. Claiming the IP for a NIC is the NetworkInterface path's job.
type virtualIPReconciler struct{ reconciler }

func (r *virtualIPReconciler) setupWithManager(mgr mcmanager.Manager) error {
	c, err := mcbuilder.ControllerManagedBy(mgr).Named("virtualip").
		For(&networkingv1alpha1.VirtualIP{}, mcbuilder.WithPredicates(SelectedPredicate(r.opts.WatchFilter))).
		Build(r)
	if err != nil {
		return err
	}
	return c.MultiClusterWatch(clusterprofiles.PeerKind(&apinetv1alpha1.IP{}, MapToOrigin[*apinetv1alpha1.IP](OriginVirtualIP)))
}

func (r *virtualIPReconciler) Reconcile(ctx context.Context, req mcreconcile.Request) (reconcile.Result, error) {
	m := r.member(req)
	if m == nil {
		return reconcile.Result{}, nil
	}
	vip := &networkingv1alpha1.VirtualIP{}
	if err := m.GetClient().Get(ctx, req.NamespacedName, vip); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, DeleteDangling(ctx, m, &apinetv1alpha1.IPList{}, OriginVirtualIP, req.NamespacedName)
		}
		return reconcile.Result{}, err
	}
	if !Selected(r.opts.WatchFilter, vip) {
		return reconcile.Result{}, nil
	}
	if !vip.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, m, vip)
	}
	return r.reconcileNormal(ctx, m, vip)
}

func (r *virtualIPReconciler) reconcileDelete(ctx context.Context, m *clusterprofiles.Member, vip *networkingv1alpha1.VirtualIP) (reconcile.Result, error) {
	ip := &apinetv1alpha1.IP{}
	ip.Namespace, ip.Name = m.Peer.Namespace, string(vip.UID)
	gone, err := DeleteAndCheckGone(ctx, m.Peer.GetClient(), ip)
	if err != nil || !gone {
		return reconcile.Result{RequeueAfter: time.Second}, err
	}
	return reconcile.Result{}, RemoveFinalizer(ctx, m.GetClient(), vip, FinalizerVirtualIP)
}

func (r *virtualIPReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, vip *networkingv1alpha1.VirtualIP) (reconcile.Result, error) {
	c := m.GetClient()
	if err := EnsureFinalizer(ctx, c, vip, FinalizerVirtualIP); err != nil {
		return reconcile.Result{}, err
	}
	ip := &apinetv1alpha1.IP{
		ObjectMeta: OriginVirtualIP.ObjectMeta(m, vip, string(vip.UID)),
		Spec:       apinetv1alpha1.IPSpec{Type: apinetv1alpha1.IPTypePublic, IPFamily: vip.Spec.IPFamily},
	}
	if err := Apply(ctx, m.Peer.GetClient(), ip, FieldManager); err != nil {
		recorder(m).Eventf(vip, nil, corev1.EventTypeWarning, "APINetIPFailed", DefaultEventActionApply, "apinet peer %s: %v", m.Peer.Name, err)
		return reconcile.Result{}, err
	}
	if !ip.Spec.IP.IsValid() {
		return reconcile.Result{}, nil // allocated at create; the watch brings us back
	}
	return reconcile.Result{}, PatchStatus(ctx, c, vip, func(vip *networkingv1alpha1.VirtualIP) {
		vip.Status.IP = &commonv1alpha1.IP{Addr: ip.Spec.IP.Addr}
	})
}
