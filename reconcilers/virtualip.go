package reconcilers

import (
	"context"
	"errors"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// FinalizerVirtualIP is apinetlet's finalizer on IronCore VirtualIPs.
const FinalizerVirtualIP = "apinet.ironcore.dev/virtualip"

// virtualIPReconciler maps IronCore VirtualIPs to public apinet IPs named by
// their UID; the apinet registry allocates the address, which is reported
// as status.ip. Claiming the IP for a NIC is the NetworkInterface path's job.
type virtualIPReconciler struct{ reconciler }

func (r *virtualIPReconciler) setupWithManager(mgr mcmanager.Manager) error {
	c, err := newController(mgr, r.topology, "virtualip", &networkingv1alpha1.VirtualIP{}, func() client.ObjectList { return &networkingv1alpha1.VirtualIPList{} }, r.opts,
		paths[*networkingv1alpha1.VirtualIP]{
			reconciler: r.reconciler,
			controller: "virtualip",
			mapped:     func(vip *networkingv1alpha1.VirtualIP) bool { return vip.Status.IP != nil },
			newObject:  func() *networkingv1alpha1.VirtualIP { return &networkingv1alpha1.VirtualIP{} },
			normal:     r.reconcileNormal,
			delete:     r.reconcileDelete,
			gone:       goneDeletes(OriginVirtualIP, func() client.ObjectList { return &apinetv1alpha1.IPList{} }),
		})
	if err != nil {
		return err
	}
	return errors.Join(
		watchPeer(c, &apinetv1alpha1.IP{}, MapToOrigin[*apinetv1alpha1.IP](OriginVirtualIP)),
	)
}

func (r *virtualIPReconciler) reconcileDelete(ctx context.Context, m *clusterprofiles.Member, vip *networkingv1alpha1.VirtualIP) (reconcile.Result, error) {
	return deleteAPINetObjects(ctx, m, vip, FinalizerVirtualIP, &apinetv1alpha1.IP{})
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
	if err := r.apply(ctx, m, ip, FieldManager); err != nil {
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
