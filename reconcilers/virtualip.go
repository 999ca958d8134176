package reconcilers

import (
	"context"
	"errors"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
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
	c, err := newController(mgr, paths[*networkingv1alpha1.VirtualIP]{
		reconciler: r.reconciler,
		controller: "virtualip",
		finalizer:  FinalizerVirtualIP,
		newObject:  func() *networkingv1alpha1.VirtualIP { return &networkingv1alpha1.VirtualIP{} },
		newList:    func() client.ObjectList { return &networkingv1alpha1.VirtualIPList{} },
		mapped:     func(vip *networkingv1alpha1.VirtualIP) bool { return vip.Status.IP != nil },
		normal:     r.reconcileNormal,
		delete:     deletesAPINetObjects[*networkingv1alpha1.VirtualIP](func() client.Object { return &apinetv1alpha1.IP{} }),
		gone:       goneDeletes(OriginVirtualIP, func() client.ObjectList { return &apinetv1alpha1.IPList{} }),
	})
	if err != nil {
		return err
	}
	return errors.Join(
		watchPeer(c, &apinetv1alpha1.IP{}, MapToOrigin[*apinetv1alpha1.IP](OriginVirtualIP)),
	)
}

func (r *virtualIPReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, vip *networkingv1alpha1.VirtualIP) (reconcile.Result, error) {
	ip := apinetIP(m, vip)
	if err := r.apply(ctx, m, ip, FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, PatchStatus(ctx, m.GetClient(), vip, func(vip *networkingv1alpha1.VirtualIP) { setVirtualIPStatus(vip, ip) })
}

// apinetIP is the public apinet IP of a VirtualIP (the registry allocates
// the address).
func apinetIP(m *clusterprofiles.Member, vip *networkingv1alpha1.VirtualIP) *apinetv1alpha1.IP {
	return &apinetv1alpha1.IP{
		ObjectMeta: OriginVirtualIP.ObjectMeta(m, vip, string(vip.UID)),
		Spec:       apinetv1alpha1.IPSpec{Type: apinetv1alpha1.IPTypePublic, IPFamily: vip.Spec.IPFamily},
	}
}

// setVirtualIPStatus reports the allocated address; until there is one the
// status stays as it is (the IP's watch brings the VirtualIP back).
func setVirtualIPStatus(vip *networkingv1alpha1.VirtualIP, ip *apinetv1alpha1.IP) {
	if ip.Spec.IP.IsValid() {
		vip.Status.IP = &commonv1alpha1.IP{Addr: ip.Spec.IP.Addr}
	}
}
