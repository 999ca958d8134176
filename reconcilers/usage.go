package reconcilers

import (
	"context"
	"slices"
	"sync"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// usageKinds pairs each IronCore kind with the apinet kind that maps it
// one to one (named by the IronCore object's UID).
var usageKinds = []struct {
	origin  Origin
	newList func() client.ObjectList
}{
	{OriginNetwork, func() client.ObjectList { return &apinetv1alpha1.NetworkList{} }},
	{OriginVirtualIP, func() client.ObjectList { return &apinetv1alpha1.IPList{} }},
	{OriginNetworkInterface, func() client.ObjectList { return &apinetv1alpha1.NetworkInterfaceList{} }},
	{OriginLoadBalancer, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} }},
	{OriginNATGateway, func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} }},
	{OriginNetworkPolicy, func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyList{} }},
}

// usage reads, from the peer caches the reconcilers already fill, what every
// engaged member holds in its peer (metrics.UsageSource). A member whose
// cache cannot answer is left out of this scrape rather than reported wrong.
func (r reconciler) usage(ctx context.Context) []metrics.Usage {
	var out []metrics.Usage
	for _, name := range r.topology.Members() {
		m, err := r.topology.Member(name)
		if err != nil {
			continue
		}
		u, err := memberUsage(ctx, m)
		if err != nil {
			continue
		}
		if u.Unmapped, err = r.unmapped(ctx, m, time.Now()); err == nil {
			out = append(out, u)
		}
	}
	return out
}

func memberUsage(ctx context.Context, m *clusterprofiles.Member) (metrics.Usage, error) {
	u := metrics.Usage{Member: m.Label, Peer: clusterprofiles.LabelValue(m.Peer.Name), Objects: map[string]int{},
		PublicIPsByKind: map[string]int{string(OriginVirtualIP): 0, string(OriginLoadBalancer): 0, string(OriginNATGateway): 0}}
	var gateways []*apinetv1alpha1.NATGateway
	// The cache's objects are read, never changed: no deep copies.
	opts := []client.ListOption{client.InNamespace(m.Peer.Namespace), client.UnsafeDisableDeepCopy}
	for _, k := range usageKinds {
		list := k.newList()
		if err := m.Peer.GetCache().List(ctx, list, opts...); err != nil {
			return u, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return u, err
		}
		u.Objects[string(k.origin)] = 0
		for _, item := range items {
			obj := item.(client.Object)
			if _, ok := obj.GetLabels()[k.origin.UIDLabel()]; !ok || !BelongsTo(m, obj) {
				continue
			}
			u.Objects[string(k.origin)]++
			addPublicIPs(&u, obj)
			if gw, ok := obj.(*apinetv1alpha1.NATGateway); ok {
				gateways = append(gateways, gw)
			}
		}
	}
	if len(gateways) == 0 {
		return u, nil
	}
	autoscalers := &apinetv1alpha1.NATGatewayAutoscalerList{}
	if err := m.Peer.GetCache().List(ctx, autoscalers, opts...); err != nil {
		return u, err
	}
	byName := make(map[string]*apinetv1alpha1.NATGatewayAutoscaler, len(autoscalers.Items))
	for i := range autoscalers.Items {
		if a := &autoscalers.Items[i]; BelongsTo(m, a) {
			byName[a.Spec.NATGatewayRef.Name] = a
		}
	}
	for _, gw := range gateways {
		if natShort(gw, byName[gw.Name]) {
			u.NATShort++
		}
	}
	return u, nil
}

// natShort tells whether an apinet NAT gateway holds fewer public IPs than
// its autoscaler asks for. apinet records no "wanted" count (the
// autoscaler adds unnamed entries to spec.ips that the registry fills with
// addresses, and an update the pool cannot serve fails whole), so it is
// derived: the addresses held (spec.ips with an address) are fewer than
// the autoscaler's minimum, or NICs wait for a NAT slot (status
// requestedNATIPs > usedNATIPs) while the gateway holds fewer than the
// autoscaler's maximum. Without an autoscaler nothing asks.
func natShort(gw *apinetv1alpha1.NATGateway, autoscaler *apinetv1alpha1.NATGatewayAutoscaler) bool {
	if autoscaler == nil {
		return false
	}
	held := 0
	for _, ip := range gw.Spec.IPs {
		if ip.IP.IsValid() {
			held++
		}
	}
	if lo := autoscaler.Spec.MinPublicIPs; lo != nil && held < int(*lo) {
		return true
	}
	hi := autoscaler.Spec.MaxPublicIPs
	return gw.Status.RequestedNATIPs > gw.Status.UsedNATIPs && (hi == nil || held < int(*hi))
}

// mappedKind is an IronCore kind a controller reconciles, and how to tell
// from an object's status that it is mapped.
type mappedKind struct {
	name    string
	newList func() client.ObjectList
	mapped  func(client.Object) bool
}

// mappedKinds are the kinds of every controller, registered at setup.
type mappedKinds struct {
	mu    sync.Mutex
	kinds []mappedKind
}

func (k *mappedKinds) add(kind mappedKind) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kinds = append(k.kinds, kind)
}

func (k *mappedKinds) all() []mappedKind {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.kinds)
}

// unmapped counts, by kind, the member's IronCore objects the hub handles
// (watch filter) that are older than the grace period, not being deleted,
// and not mapped, from the member's cache.
func (r reconciler) unmapped(ctx context.Context, m *clusterprofiles.Member, now time.Time) (map[string]int, error) {
	out := map[string]int{}
	for _, k := range r.kinds.all() {
		list := k.newList()
		if err := m.GetCache().List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		out[k.name] = 0
		for _, item := range items {
			if obj := item.(client.Object); unmappedFor(obj, k.mapped, r.opts.WatchFilter, now, r.opts.UnmappedGrace) {
				out[k.name]++
			}
		}
	}
	return out, nil
}

// unmappedFor tells whether obj counts as not mapped at now: handled by the
// hub, not being deleted, older than grace, and not mapped.
func unmappedFor(obj client.Object, mapped func(client.Object) bool, watchFilter string, now time.Time, grace time.Duration) bool {
	return Selected(watchFilter, obj) && obj.GetDeletionTimestamp().IsZero() &&
		now.Sub(obj.GetCreationTimestamp().Time) > grace && !mapped(obj)
}

// addPublicIPs adds an apinet object's public addresses and NAT usage.
func addPublicIPs(u *metrics.Usage, obj client.Object) {
	switch o := obj.(type) {
	case *apinetv1alpha1.IP:
		if o.Spec.Type == apinetv1alpha1.IPTypePublic && o.Spec.IP.IsValid() {
			u.PublicIPs++
			u.PublicIPsByKind[string(OriginVirtualIP)]++
		}
	case *apinetv1alpha1.LoadBalancer:
		if o.Spec.Type == apinetv1alpha1.LoadBalancerTypePublic {
			for _, ip := range o.Spec.IPs {
				if ip.IP.IsValid() {
					u.PublicIPs++
					u.PublicIPsByKind[string(OriginLoadBalancer)]++
				}
			}
		}
	case *apinetv1alpha1.NATGateway:
		for _, ip := range o.Spec.IPs {
			if ip.IP.IsValid() {
				u.PublicIPs++
				u.PublicIPsByKind[string(OriginNATGateway)]++
			}
		}
		u.NATUsed += o.Status.UsedNATIPs
		u.NATRequested += o.Status.RequestedNATIPs
	}
}

// MappedObjects counts the apinet objects the hub maps for a member, all
// kinds together, from the peer cache (providers.Options.MappedObjects).
func MappedObjects(ctx context.Context, m *clusterprofiles.Member) (int, error) {
	u, err := memberUsage(ctx, m)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range u.Objects {
		n += c
	}
	return n, nil
}
