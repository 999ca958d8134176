package reconcilers

import (
	"context"
	"errors"
	"sort"
	"strconv"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	ipamv1alpha1 "github.com/ironcore-dev/ironcore/api/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// FinalizerNetwork is apinetlet's finalizer on IronCore Networks.
const FinalizerNetwork = "apinet.ironcore.dev/network"

// indexIncomingPeeringUID indexes IronCore Networks by the UIDs of their
// incoming peerings, so that a peer network's apinet object (appearing,
// getting its VNI) re-triggers the networks that peer with it.
const indexIncomingPeeringUID = "spec.incomingPeerings.uid"

// networkReconciler maps IronCore Networks to apinet Networks named by their
// UID, reports the provider ID and status back, and maps peerings.
type networkReconciler struct{ reconciler }

func (r *networkReconciler) setupWithManager(ctx context.Context, mgr mcmanager.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &networkingv1alpha1.Network{}, indexIncomingPeeringUID, func(o client.Object) []string {
		var uids []string
		for _, ref := range o.(*networkingv1alpha1.Network).Spec.PeeringClaimRefs {
			uids = append(uids, string(ref.UID))
		}
		return uids
	}); err != nil {
		return err
	}
	c, err := newController(mgr, paths[*networkingv1alpha1.Network]{
		reconciler: r.reconciler,
		controller: "network",
		finalizer:  FinalizerNetwork,
		// With the provider ID: the floor's two member writes per
		// Network (finalizer and provider ID, status), not three.
		finalizerInNormal: true,
		newObject:         func() *networkingv1alpha1.Network { return &networkingv1alpha1.Network{} },
		newList:           func() client.ObjectList { return &networkingv1alpha1.NetworkList{} },
		mapped: func(nw *networkingv1alpha1.Network) bool {
			return nw.Status.State == networkingv1alpha1.NetworkStateAvailable
		},
		leaveAlone: mappedElsewhere,
		normal:     r.reconcileNormal,
		delete:     deletesAPINetObjects[*networkingv1alpha1.Network](func() client.Object { return &apinetv1alpha1.Network{} }),
		gone:       goneDeletes(OriginNetwork, func() client.ObjectList { return &apinetv1alpha1.NetworkList{} }),
	})
	if err != nil {
		return err
	}
	return errors.Join(
		c.watchMember(&ipamv1alpha1.Prefix{}, networksUsingPrefix),
		watchPeer(c, &apinetv1alpha1.Network{}, r.mapAPINetNetwork),
	)
}

// mapAPINetNetwork re-triggers the network an apinet Network stems from, and
// every network peering with it.
func (r *networkReconciler) mapAPINetNetwork(ctx context.Context, m *clusterprofiles.Member, an *apinetv1alpha1.Network) []reconcile.Request {
	reqs := MapToOrigin[*apinetv1alpha1.Network](OriginNetwork)(ctx, m, an)
	uid := an.Labels[OriginNetwork.UIDLabel()]
	if uid == "" || !BelongsTo(m, an) {
		return reqs
	}
	peering := &networkingv1alpha1.NetworkList{}
	if err := m.GetClient().List(ctx, peering, client.MatchingFields{indexIncomingPeeringUID: uid}); err != nil {
		return reqs
	}
	for _, nw := range peering.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&nw)})
	}
	return reqs
}

// networksUsingPrefix re-triggers the networks whose peerings name an IPAM
// Prefix (its allocation changes the prefixes they announce).
func networksUsingPrefix(ctx context.Context, cl cluster.Cluster, obj client.Object) []reconcile.Request {
	list := &networkingv1alpha1.NetworkList{}
	if err := cl.GetClient().List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, nw := range list.Items {
		for _, p := range nw.Spec.Peerings {
			for _, pp := range p.Prefixes {
				if pp.PrefixRef.Name == obj.GetName() {
					reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&nw)})
				}
			}
		}
	}
	return reqs
}

// foreignNamespace is the apinet namespace a Network's provider ID names
// when that is not the member's (apinetlet with another
// --api-net-namespace): a second apinet Network would get a new VNI. The
// member's preflight refuses such members; this catches one that appears
// later.
func foreignNamespace(m *clusterprofiles.Member, nw *networkingv1alpha1.Network) (string, bool) {
	id, err := ParseNetworkID(nw.Spec.ProviderID)
	if nw.Spec.ProviderID == "" || err != nil || id.Namespace == m.Peer.Namespace {
		return "", false
	}
	return id.Namespace, true
}

// mappedElsewhere leaves a Network mapped in another apinet namespace alone
// and says so.
func mappedElsewhere(_ context.Context, m *clusterprofiles.Member, nw *networkingv1alpha1.Network) bool {
	ns, ok := foreignNamespace(m, nw)
	if ok {
		recorder(m).Eventf(nw, nil, corev1.EventTypeWarning, clusterprofiles.ReasonProviderIDNamespaceMismatch, DefaultEventActionApply,
			"spec.providerID names apinet namespace %s, not %s, the member's namespace in peer %s: the hub leaves this Network alone (the provider ID is immutable: recreate the Network to map it in %s)", ns, m.Peer.Namespace, m.Peer.Name, m.Peer.Namespace)
	}
	return ok
}

// inNetworkMappedElsewhere is the leaveAlone of the kinds that live in a
// Network (NetworkInterface, LoadBalancer, NATGateway, NetworkPolicy): an
// object whose Network the hub leaves alone is left alone too, with no
// finalizer, apinet object or status write (its apinet objects would
// reference a Network that is not in the member's namespace). A Network
// that cannot be read or does not exist yet is the normal path's to report.
func inNetworkMappedElsewhere[T client.Object](kind string, networkName func(T) string) func(context.Context, *clusterprofiles.Member, T) bool {
	return func(ctx context.Context, m *clusterprofiles.Member, obj T) bool {
		nw, err := networkOf(ctx, m.GetClient(), obj.GetNamespace(), networkName(obj))
		if err != nil || nw == nil {
			return false
		}
		ns, ok := foreignNamespace(m, nw)
		if ok {
			recorder(m).Eventf(obj, nil, corev1.EventTypeWarning, clusterprofiles.ReasonProviderIDNamespaceMismatch, DefaultEventActionApply,
				"Network %s is mapped in apinet namespace %s, not %s, the member's namespace in peer %s: the hub leaves this %s alone with its Network", nw.Name, ns, m.Peer.Namespace, m.Peer.Name, kind)
		}
		return ok
	}
}

func (r *networkReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, nw *networkingv1alpha1.Network) (reconcile.Result, error) {
	c := m.GetClient()
	peerings, err := r.apinetPeerings(ctx, m, nw)
	if err != nil {
		return reconcile.Result{}, err
	}
	an := apinetNetwork(m, nw, peerings)
	if err := r.apply(ctx, m, an, FieldManager); err != nil {
		return reconcile.Result{}, errors.Join(err, PatchStatus(ctx, c, nw, setNetworkPending))
	}
	if an.Spec.ID == "" {
		return reconcile.Result{}, nil // the registry allocates it; the watch brings us back
	}
	if nw.Spec.ProviderID == "" {
		id := NetworkID{Namespace: an.Namespace, Name: an.Name, ID: an.Spec.ID, UID: an.UID}.String()
		if err := Patch(ctx, c, nw, func(nw *networkingv1alpha1.Network) {
			nw.Spec.ProviderID = id
			controllerutil.AddFinalizer(nw, FinalizerNetwork)
		}); err != nil {
			return reconcile.Result{}, err
		}
	} else if err := EnsureFinalizer(ctx, c, nw, FinalizerNetwork); err != nil {
		return reconcile.Result{}, err
	}
	disabled := r.peeringDisabled(m)
	return reconcile.Result{}, PatchStatus(ctx, c, nw, func(nw *networkingv1alpha1.Network) { setNetworkStatus(nw, an, disabled) })
}

// apinetNetwork is the apinet Network of nw (the registry allocates its
// VNI, spec.id, which the hub never sends).
func apinetNetwork(m *clusterprofiles.Member, nw *networkingv1alpha1.Network, peerings []apinetv1alpha1.NetworkPeering) *apinetv1alpha1.Network {
	return &apinetv1alpha1.Network{
		ObjectMeta: OriginNetwork.ObjectMeta(m, nw, string(nw.UID)),
		Spec:       apinetv1alpha1.NetworkSpec{Peerings: peerings},
	}
}

// setNetworkStatus reports a mapped Network: Available, and the peering
// status of its apinet Network. With peering reporting disabled,
// status.peerings belongs to whoever else writes it; as apinetlet, the hub
// clears it only when it changes the state.
func setNetworkStatus(nw *networkingv1alpha1.Network, an *apinetv1alpha1.Network, peeringDisabled bool) {
	switch {
	case !peeringDisabled:
		nw.Status.Peerings = peeringStatus(an)
	case nw.Status.State != networkingv1alpha1.NetworkStateAvailable:
		nw.Status.Peerings = nil
	}
	nw.Status.State = networkingv1alpha1.NetworkStateAvailable
}

// setNetworkPending reports a Network whose apinet Network cannot be
// written: Pending, unless it was mapped before (it still is).
func setNetworkPending(nw *networkingv1alpha1.Network) {
	if nw.Status.State != networkingv1alpha1.NetworkStateAvailable {
		nw.Status.State = networkingv1alpha1.NetworkStatePending
	}
}

func (r *networkReconciler) peeringDisabled(m *clusterprofiles.Member) bool {
	if m.Settings().DisableNetworkPeering != nil {
		return *m.Settings().DisableNetworkPeering
	}
	return r.opts.DisableNetworkPeering
}

// apinetPeerings maps the network's incoming peerings (ironcore fills them
// once both sides name each other) to apinet peerings: the local peering's
// name, the other network's VNI and its prefixes (inline, or from an
// Allocated IPAM Prefix). A peer network not mapped yet is skipped; its
// apinet Network appearing re-triggers this one. Sorted by name.
func (r *networkReconciler) apinetPeerings(ctx context.Context, m *clusterprofiles.Member, nw *networkingv1alpha1.Network) ([]apinetv1alpha1.NetworkPeering, error) {
	var out []apinetv1alpha1.NetworkPeering
	for _, ref := range nw.Spec.PeeringClaimRefs {
		target := &apinetv1alpha1.Network{}
		if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: m.Peer.Namespace, Name: string(ref.UID)}, target); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if !BelongsTo(m, target) || target.Spec.ID == "" {
			continue
		}
		refNamespace := ref.Namespace
		if refNamespace == "" {
			refNamespace = nw.Namespace
		}
		for _, p := range nw.Spec.Peerings {
			pNamespace := p.NetworkRef.Namespace
			if pNamespace == "" {
				pNamespace = nw.Namespace
			}
			if p.NetworkRef.Name != ref.Name || pNamespace != refNamespace {
				continue
			}
			prefixes, err := peeringPrefixes(ctx, m.GetClient(), nw.Namespace, p.Prefixes)
			if err != nil {
				return nil, err
			}
			out = append(out, apinetv1alpha1.NetworkPeering{Name: p.Name, ID: target.Spec.ID, Prefixes: prefixes})
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func peeringPrefixes(ctx context.Context, c client.Client, namespace string, in []networkingv1alpha1.PeeringPrefix) ([]apinetv1alpha1.PeeringPrefix, error) {
	var out []apinetv1alpha1.PeeringPrefix
	for _, pp := range in {
		switch {
		case pp.Prefix != nil:
			out = append(out, apinetv1alpha1.PeeringPrefix{Name: pp.Name, Prefix: &apinetnet.IPPrefix{Prefix: pp.Prefix.Prefix}})
		case pp.PrefixRef.Name != "":
			prefix := &ipamv1alpha1.Prefix{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: pp.PrefixRef.Name}, prefix); err != nil {
				if apierrors.IsNotFound(err) {
					continue // the Prefix watch brings us back
				}
				return nil, err
			}
			if prefix.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated || prefix.Spec.Prefix == nil {
				continue
			}
			out = append(out, apinetv1alpha1.PeeringPrefix{Name: pp.Name, Prefix: &apinetnet.IPPrefix{Prefix: prefix.Spec.Prefix.Prefix}})
		}
	}
	return out, nil
}

// peeringStatus maps apinet status.peerings (per partition: VNI and state)
// back to IronCore peering status by the peering's VNI. IronCore's
// status.peerings is keyed by name, so each peering is listed once, in the
// worst state any partition reports (Error, then Pending, then Ready), and
// with its prefixes only when every partition reports it Ready. Sorted by
// name.
func peeringStatus(an *apinetv1alpha1.Network) []networkingv1alpha1.NetworkPeeringStatus {
	byID := map[string]apinetv1alpha1.NetworkPeering{}
	for _, p := range an.Spec.Peerings {
		byID[p.ID] = p
	}
	worst := map[string]apinetv1alpha1.NetworkPeeringState{}
	for _, statuses := range an.Status.Peerings {
		for _, st := range statuses {
			p, ok := byID[strconv.Itoa(int(st.ID))]
			if !ok {
				continue
			}
			if seen, ok := worst[p.Name]; !ok || peeringStateRank(st.State) > peeringStateRank(seen) {
				worst[p.Name] = st.State
			}
		}
	}
	out := make([]networkingv1alpha1.NetworkPeeringStatus, 0, len(worst))
	for _, p := range an.Spec.Peerings {
		state, ok := worst[p.Name]
		if !ok {
			continue
		}
		delete(worst, p.Name) // a name listed twice in spec is reported once
		s := networkingv1alpha1.NetworkPeeringStatus{Name: p.Name, State: networkingv1alpha1.NetworkPeeringState(state)}
		if state == apinetv1alpha1.NetworkPeeringStateReady {
			for _, pp := range p.Prefixes {
				if pp.Prefix == nil {
					continue
				}
				s.Prefixes = append(s.Prefixes, networkingv1alpha1.PeeringPrefixStatus{Name: pp.Name, Prefix: &commonv1alpha1.IPPrefix{Prefix: pp.Prefix.Prefix}})
			}
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil
	}
	return out
}

// peeringStateRank orders peering states from best to worst; a state
// apinet may add later counts as the worst.
func peeringStateRank(s apinetv1alpha1.NetworkPeeringState) int {
	switch s {
	case apinetv1alpha1.NetworkPeeringStateReady:
		return 0
	case apinetv1alpha1.NetworkPeeringStatePending:
		return 1
	case apinetv1alpha1.NetworkPeeringStateError:
		return 2
	default:
		return 3
	}
}
