package reconcilers

import (
	"context"
	"errors"
	"fmt"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	ipamv1alpha1 "github.com/ironcore-dev/ironcore/api/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// FinalizerNetworkInterface is apinetlet's finalizer on IronCore NetworkInterfaces.
const FinalizerNetworkInterface = "apinet.ironcore.dev/networkinterface"

// indexProviderUID indexes IronCore NetworkInterfaces by the apinet NIC UID
// in their provider ID, so that an apinet NIC the machine provider creates
// re-triggers the IronCore NIC that names it.
const indexProviderUID = "spec.providerID.uid"

// networkInterfaceReconciler never creates apinet NICs (the machine
// provider does): it claims the one named by the IronCore NIC's provider
// ID, applies public IPs from claimed VirtualIPs and prefixes to it, and
// reports its state back.
type networkInterfaceReconciler struct{ reconciler }

func (r *networkInterfaceReconciler) setupWithManager(ctx context.Context, mgr mcmanager.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &networkingv1alpha1.NetworkInterface{}, indexProviderUID, func(o client.Object) []string {
		if id, err := ParseNetworkInterfaceID(o.(*networkingv1alpha1.NetworkInterface).Spec.ProviderID); err == nil && id.UID != "" {
			return []string{string(id.UID)}
		}
		return nil
	}); err != nil {
		return err
	}
	c, err := newController(mgr, paths[*networkingv1alpha1.NetworkInterface]{
		reconciler: r.reconciler,
		controller: "networkinterface",
		finalizer:  FinalizerNetworkInterface,
		newObject:  func() *networkingv1alpha1.NetworkInterface { return &networkingv1alpha1.NetworkInterface{} },
		newList:    func() client.ObjectList { return &networkingv1alpha1.NetworkInterfaceList{} },
		mapped: func(nic *networkingv1alpha1.NetworkInterface) bool {
			return nic.Status.State == networkingv1alpha1.NetworkInterfaceStateAvailable
		},
		leaveAlone: inNetworkMappedElsewhere("NetworkInterface", func(o *networkingv1alpha1.NetworkInterface) string { return o.Spec.NetworkRef.Name }),
		normal:     r.reconcileNormal,
		delete:     r.reconcileDelete,
		gone:       r.releaseGone,
	})
	if err != nil {
		return err
	}
	return errors.Join(
		c.watchMember(&networkingv1alpha1.VirtualIP{}, nicsOfVirtualIP),
		c.watchMember(&networkingv1alpha1.Network{}, onNetwork(nicsOfNetwork)),
		c.watchMember(&ipamv1alpha1.Prefix{}, controllerOfKind("NetworkInterface")),
		watchPeer(c, &apinetv1alpha1.NetworkInterface{}, mapAPINetNIC),
	)
}

// nicsOfNetwork re-triggers the NICs of a Network: whether the hub leaves
// them alone follows their Network's provider ID.
var nicsOfNetwork = objectsOfNetwork(
	func() client.ObjectList { return &networkingv1alpha1.NetworkInterfaceList{} },
	func(o client.Object) string { return o.(*networkingv1alpha1.NetworkInterface).Spec.NetworkRef.Name })

// mapAPINetNIC maps an apinet NIC to the IronCore NIC it stems from, or, if
// unclaimed, to the IronCore NICs whose provider ID names it.
func mapAPINetNIC(ctx context.Context, m *clusterprofiles.Member, an *apinetv1alpha1.NetworkInterface) []reconcile.Request {
	reqs := MapToOrigin[*apinetv1alpha1.NetworkInterface](OriginNetworkInterface)(ctx, m, an)
	list := &networkingv1alpha1.NetworkInterfaceList{}
	if err := m.GetClient().List(ctx, list, client.MatchingFields{indexProviderUID: string(an.UID)}); err == nil {
		for _, nic := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&nic)})
		}
	}
	return reqs
}

// nicsOfVirtualIP maps a VirtualIP to the NIC it targets, or, when free, to
// every NIC of its namespace that names it.
func nicsOfVirtualIP(ctx context.Context, cl cluster.Cluster, obj client.Object) []reconcile.Request {
	vip := obj.(*networkingv1alpha1.VirtualIP)
	if ref := vip.Spec.TargetRef; ref != nil {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: vip.Namespace, Name: ref.Name}}}
	}
	list := &networkingv1alpha1.NetworkInterfaceList{}
	if err := cl.GetClient().List(ctx, list, client.InNamespace(vip.Namespace)); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, nic := range list.Items {
		if virtualIPName(&nic) == vip.Name {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&nic)})
		}
	}
	return reqs
}

// controllerOfKind maps an object to its controlling owner of a kind in the
// same namespace (ephemeral Prefixes are controlled by their NIC or LB).
func controllerOfKind(kind string) func(context.Context, cluster.Cluster, client.Object) []reconcile.Request {
	return func(_ context.Context, _ cluster.Cluster, obj client.Object) []reconcile.Request {
		if ref := metav1.GetControllerOf(obj); ref != nil && ref.Kind == kind {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}}}
		}
		return nil
	}
}

// virtualIPName is the VirtualIP a NIC asks for: the referenced one, or
// the ephemeral one named after the NIC; "" for none.
func virtualIPName(nic *networkingv1alpha1.NetworkInterface) string {
	switch v := nic.Spec.VirtualIP; {
	case v == nil:
		return ""
	case v.VirtualIPRef != nil:
		return v.VirtualIPRef.Name
	case v.Ephemeral != nil:
		return nic.Name
	}
	return ""
}

// releaseGone releases every apinet NIC whose IronCore NIC is gone (they
// are the machine provider's to delete, never ours): origin metadata, public
// IPs and prefixes go, once the gate lets it (goneGate; asked only if there
// is any). One that is gone meanwhile, or fails, does not stop the others;
// the errors are returned together.
func (r *networkInterfaceReconciler) releaseGone(ctx context.Context, m *clusterprofiles.Member, key types.NamespacedName, gate goneGate) error {
	list := &apinetv1alpha1.NetworkInterfaceList{}
	if err := m.Peer.GetClient().List(ctx, list, client.InNamespace(m.Peer.Namespace),
		client.MatchingLabels{OriginNetworkInterface.NamespaceLabel(): key.Namespace}); err != nil {
		return err
	}
	var release []*apinetv1alpha1.NetworkInterface
	for i := range list.Items {
		an := &list.Items[i]
		if origin, ok := OriginNetworkInterface.Of(an); ok && origin == key && BelongsTo(m, an) {
			release = append(release, an)
		}
	}
	if len(release) == 0 {
		return nil
	}
	if err := gate(ctx); err != nil {
		return err
	}
	var errs []error
	for _, an := range release {
		if err := Patch(ctx, m.Peer.GetClient(), an, releaseNIC); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("release apinet NIC %s/%s: %w", an.Namespace, an.Name, err))
		}
	}
	return errors.Join(errs...)
}

// releaseNIC is what releasing an apinet NIC removes: the hub's origin
// metadata, and the public IPs and prefixes it set (the registry then
// releases the IP claims).
func releaseNIC(an *apinetv1alpha1.NetworkInterface) {
	dropOrigin(an)
	an.Spec.PublicIPs, an.Spec.Prefixes = nil, nil
}

// reconcileDelete releases the apinet NIC and the VirtualIP; it never
// deletes the NIC (the machine provider's).
func (r *networkInterfaceReconciler) reconcileDelete(ctx context.Context, m *clusterprofiles.Member, nic *networkingv1alpha1.NetworkInterface) (bool, error) {
	if err := r.releaseAPINetNICs(ctx, m, nic, ""); err != nil {
		return false, err
	}
	return true, r.claimVirtualIPs(ctx, m, nic, "")
}

func (r *networkInterfaceReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, nic *networkingv1alpha1.NetworkInterface) (reconcile.Result, error) {
	c := m.GetClient()
	id, err := ParseNetworkInterfaceID(nic.Spec.ProviderID)
	if err != nil && nic.Spec.ProviderID != "" {
		recorder(m).Eventf(nic, nil, corev1.EventTypeWarning, "InvalidProviderID", DefaultEventActionApply, "%v", err)
	}
	if err := r.releaseAPINetNICs(ctx, m, nic, id.UID); err != nil {
		return reconcile.Result{}, err
	}
	an, err := r.claimAPINetNIC(ctx, m, nic, id)
	if err != nil {
		return reconcile.Result{}, err
	}
	vipName := virtualIPName(nic)
	if err := r.claimVirtualIPs(ctx, m, nic, vipName); err != nil {
		return reconcile.Result{}, err
	}
	if an == nil {
		return reconcile.Result{}, PatchStatus(ctx, c, nic, setNICPending)
	}
	publicIPs, err := r.publicIPs(ctx, m, nic, vipName)
	if err != nil {
		return reconcile.Result{}, err
	}
	prefixes, err := nicPrefixes(ctx, c, nic)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := Patch(ctx, m.Peer.GetClient(), an, func(an *apinetv1alpha1.NetworkInterface) { setAPINetNICSpec(an, publicIPs, prefixes) }); err != nil {
		return reconcile.Result{}, writeFailed(m.Peer.GetClient(), an, err)
	}
	return reconcile.Result{}, PatchStatus(ctx, c, nic, func(nic *networkingv1alpha1.NetworkInterface) { setNICStatus(nic, an) })
}

// setAPINetNICSpec is what the hub writes into a claimed apinet NIC: the
// public IPs of its VirtualIP and its prefixes; NAT entries of a family
// that has a public IP go (apinet forbids both).
func setAPINetNICSpec(an *apinetv1alpha1.NetworkInterface, publicIPs []apinetv1alpha1.NetworkInterfacePublicIP, prefixes []apinetnet.IPPrefix) {
	an.Spec.PublicIPs = publicIPs
	an.Spec.Prefixes = prefixes
	var nats []apinetv1alpha1.NetworkInterfaceNAT
	for _, nat := range an.Spec.NATs {
		if !hasFamily(publicIPs, nat.IPFamily) {
			nats = append(nats, nat)
		}
	}
	an.Spec.NATs = nats
}

// setNICStatus reports a NIC from its claimed apinet NIC: the state, its
// IPs and prefixes, and the first IPv4 public IP as virtualIP.
func setNICStatus(nic *networkingv1alpha1.NetworkInterface, an *apinetv1alpha1.NetworkInterface) {
	setNICState(nic, nicState(an.Status.State))
	nic.Status.IPs = toICIPs(an.Spec.IPs)
	nic.Status.Prefixes = toICPrefixes(an.Spec.Prefixes)
	nic.Status.VirtualIP = nil
	for _, ip := range an.Status.PublicIPs {
		if ip.Addr.Is4() {
			nic.Status.VirtualIP = &commonv1alpha1.IP{Addr: ip.Addr}
			break
		}
	}
}

// setNICPending reports a NIC without an apinet NIC (none yet, or the one
// its provider ID names is another's): Pending, nothing else.
func setNICPending(nic *networkingv1alpha1.NetworkInterface) {
	setNICState(nic, networkingv1alpha1.NetworkInterfaceStatePending)
	nic.Status.IPs, nic.Status.Prefixes, nic.Status.VirtualIP = nil, nil, nil
}

// claimAPINetNIC returns the apinet NIC named by the provider ID (name and
// UID must both match), adopting it (origin metadata) if it is free. A NIC
// claimed by another IronCore NIC is left alone and reported.
func (r *networkInterfaceReconciler) claimAPINetNIC(ctx context.Context, m *clusterprofiles.Member, nic *networkingv1alpha1.NetworkInterface, id NetworkInterfaceID) (*apinetv1alpha1.NetworkInterface, error) {
	if id.UID == "" || id.Namespace != m.Peer.Namespace {
		return nil, nil
	}
	an := &apinetv1alpha1.NetworkInterface{}
	if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: id.Namespace, Name: id.Name}, an); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	switch {
	case an.UID != id.UID || !an.DeletionTimestamp.IsZero():
		return nil, nil
	case OriginNetworkInterface.StemsFrom(an, nic):
		if !BelongsTo(m, an) {
			return nil, nil
		}
	default:
		if _, taken := an.Labels[OriginNetworkInterface.UIDLabel()]; taken {
			recorder(m).Eventf(nic, nil, corev1.EventTypeWarning, "APINetNetworkInterfaceTaken", DefaultEventActionApply,
				"apinet NIC %s/%s is claimed by another NetworkInterface", an.Namespace, an.Name)
			return nil, nil
		}
	}
	return an, Patch(ctx, m.Peer.GetClient(), an, func(an *apinetv1alpha1.NetworkInterface) { setOrigin(an, m, OriginNetworkInterface, nic) })
}

// releaseAPINetNICs releases the apinet NICs claimed by nic other than keep:
// origin metadata, public IPs and prefixes go (the registry then releases
// the IP claims); the NIC itself stays.
func (r *networkInterfaceReconciler) releaseAPINetNICs(ctx context.Context, m *clusterprofiles.Member, nic *networkingv1alpha1.NetworkInterface, keep types.UID) error {
	list := &apinetv1alpha1.NetworkInterfaceList{}
	if err := m.Peer.GetClient().List(ctx, list, client.InNamespace(m.Peer.Namespace),
		client.MatchingLabels{OriginNetworkInterface.UIDLabel(): string(nic.UID)}); err != nil {
		return err
	}
	for i := range list.Items {
		an := &list.Items[i]
		if an.UID == keep || !BelongsTo(m, an) {
			continue
		}
		if err := Patch(ctx, m.Peer.GetClient(), an, releaseNIC); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// claimVirtualIPs makes nic the target of the VirtualIP it names (if free)
// and releases every other VirtualIP of the namespace that targets it.
func (r *networkInterfaceReconciler) claimVirtualIPs(ctx context.Context, m *clusterprofiles.Member, nic *networkingv1alpha1.NetworkInterface, want string) error {
	list := &networkingv1alpha1.VirtualIPList{}
	if err := m.GetClient().List(ctx, list, client.InNamespace(nic.Namespace)); err != nil {
		return err
	}
	for i := range list.Items {
		vip := &list.Items[i]
		claimed := vip.Spec.TargetRef != nil && vip.Spec.TargetRef.UID == nic.UID
		var err error
		switch {
		case claimed && vip.Name != want:
			err = Patch(ctx, m.GetClient(), vip, func(vip *networkingv1alpha1.VirtualIP) { vip.Spec.TargetRef = nil })
		case !claimed && vip.Name == want && vip.Spec.TargetRef == nil && vip.DeletionTimestamp.IsZero():
			err = Patch(ctx, m.GetClient(), vip, func(vip *networkingv1alpha1.VirtualIP) {
				vip.Spec.TargetRef = &commonv1alpha1.LocalUIDReference{Name: nic.Name, UID: nic.UID}
			})
		}
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("VirtualIP %s: %w", vip.Name, err)
		}
	}
	return nil
}

// publicIPs are the addresses of the VirtualIP claimed by nic, as apinet
// public IPs named by the address (the apinet registry claims the IP object
// holding that address).
func (r *networkInterfaceReconciler) publicIPs(ctx context.Context, m *clusterprofiles.Member, nic *networkingv1alpha1.NetworkInterface, vipName string) ([]apinetv1alpha1.NetworkInterfacePublicIP, error) {
	if vipName == "" {
		return nil, nil
	}
	vip := &networkingv1alpha1.VirtualIP{}
	if err := m.GetClient().Get(ctx, types.NamespacedName{Namespace: nic.Namespace, Name: vipName}, vip); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if vip.Spec.TargetRef == nil || vip.Spec.TargetRef.UID != nic.UID || vip.Status.IP == nil || !vip.Status.IP.IsValid() {
		return nil, nil
	}
	addr := vip.Status.IP.Addr
	return []apinetv1alpha1.NetworkInterfacePublicIP{{Name: addr.String(), IPFamily: vip.Spec.IPFamily, IP: apinetnet.IP{Addr: addr}}}, nil
}

// nicPrefixes resolves the NIC's prefixes: values, and ephemeral ones from
// the Allocated IPAM Prefix "<nic>-pf-<i>".
func nicPrefixes(ctx context.Context, c client.Client, nic *networkingv1alpha1.NetworkInterface) ([]apinetnet.IPPrefix, error) {
	var out []apinetnet.IPPrefix
	for i, src := range nic.Spec.Prefixes {
		switch {
		case src.Value != nil:
			out = append(out, apinetnet.IPPrefix{Prefix: src.Value.Prefix})
		case src.Ephemeral != nil:
			prefix := &ipamv1alpha1.Prefix{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: nic.Namespace, Name: fmt.Sprintf("%s-pf-%d", nic.Name, i)}, prefix); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			if prefix.Status.Phase == ipamv1alpha1.PrefixPhaseAllocated && prefix.Spec.Prefix != nil {
				out = append(out, apinetnet.IPPrefix{Prefix: prefix.Spec.Prefix.Prefix})
			}
		}
	}
	return out, nil
}

func hasFamily(ips []apinetv1alpha1.NetworkInterfacePublicIP, family corev1.IPFamily) bool {
	for _, ip := range ips {
		if ip.IPFamily == family {
			return true
		}
	}
	return false
}

func nicState(s apinetv1alpha1.NetworkInterfaceState) networkingv1alpha1.NetworkInterfaceState {
	switch s {
	case apinetv1alpha1.NetworkInterfaceStateReady:
		return networkingv1alpha1.NetworkInterfaceStateAvailable
	case apinetv1alpha1.NetworkInterfaceStateError:
		return networkingv1alpha1.NetworkInterfaceStateError
	default:
		return networkingv1alpha1.NetworkInterfaceStatePending
	}
}

func setNICState(nic *networkingv1alpha1.NetworkInterface, state networkingv1alpha1.NetworkInterfaceState) {
	if nic.Status.State != state {
		now := metav1.Now()
		nic.Status.LastStateTransitionTime = &now
	}
	nic.Status.State = state
}

func toICIPs(in []apinetnet.IP) []commonv1alpha1.IP {
	var out []commonv1alpha1.IP
	for _, ip := range in {
		out = append(out, commonv1alpha1.IP{Addr: ip.Addr})
	}
	return out
}

func toICPrefixes(in []apinetnet.IPPrefix) []commonv1alpha1.IPPrefix {
	var out []commonv1alpha1.IPPrefix
	for _, p := range in {
		out = append(out, commonv1alpha1.IPPrefix{Prefix: p.Prefix})
	}
	return out
}
