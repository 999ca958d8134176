package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

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

// FinalizerLoadBalancer is apinetlet's finalizer on IronCore LoadBalancers.
const FinalizerLoadBalancer = "apinet.ironcore.dev/loadbalancer"

// loadBalancerReconciler maps IronCore LoadBalancers to apinet
// LoadBalancers and their LoadBalancerRoutings. The apinet controller-manager
// turns them into instances; the registry allocates public addresses.
type loadBalancerReconciler struct{ reconciler }

func (r *loadBalancerReconciler) setupWithManager(mgr mcmanager.Manager) error {
	c, err := newController(mgr, paths[*networkingv1alpha1.LoadBalancer]{
		reconciler: r.reconciler,
		controller: "loadbalancer",
		finalizer:  FinalizerLoadBalancer,
		newObject:  func() *networkingv1alpha1.LoadBalancer { return &networkingv1alpha1.LoadBalancer{} },
		newList:    func() client.ObjectList { return &networkingv1alpha1.LoadBalancerList{} },
		mapped:     func(lb *networkingv1alpha1.LoadBalancer) bool { return len(lb.Status.IPs) > 0 },
		leaveAlone: inNetworkMappedElsewhere("LoadBalancer", func(o *networkingv1alpha1.LoadBalancer) string { return o.Spec.NetworkRef.Name }),
		normal:     r.reconcileNormal,
		delete: deletesAPINetObjects[*networkingv1alpha1.LoadBalancer](
			func() client.Object { return &apinetv1alpha1.LoadBalancerRouting{} },
			func() client.Object { return &apinetv1alpha1.LoadBalancer{} }),
		gone: goneDeletes(OriginLoadBalancer, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerRoutingList{} }, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} }),
	})
	if err != nil {
		return err
	}
	return errors.Join(
		c.watchMember(&networkingv1alpha1.LoadBalancerRouting{}, sameKey),
		c.watchMember(&networkingv1alpha1.Network{}, onNetwork(loadBalancersOfNetwork)),
		c.watchMember(&ipamv1alpha1.Prefix{}, controllerOfKind("LoadBalancer")),
		watchPeer(c, &apinetv1alpha1.LoadBalancer{}, MapToOrigin[*apinetv1alpha1.LoadBalancer](OriginLoadBalancer)),
		watchPeer(c, &apinetv1alpha1.LoadBalancerRouting{}, MapToOrigin[*apinetv1alpha1.LoadBalancerRouting](OriginLoadBalancer)),
	)
}

func sameKey(_ context.Context, _ cluster.Cluster, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(obj)}}
}

// loadBalancersOfNetwork re-triggers the LoadBalancers naming a Network.
var loadBalancersOfNetwork = objectsOfNetwork(
	func() client.ObjectList { return &networkingv1alpha1.LoadBalancerList{} },
	func(o client.Object) string { return o.(*networkingv1alpha1.LoadBalancer).Spec.NetworkRef.Name })

func (r *loadBalancerReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, lb *networkingv1alpha1.LoadBalancer) (reconcile.Result, error) {
	c := m.GetClient()
	network, err := networkOf(ctx, c, lb.Namespace, lb.Spec.NetworkRef.Name)
	if network == nil {
		return reconcile.Result{}, err
	}
	routing := &networkingv1alpha1.LoadBalancerRouting{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(lb), routing); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	destinations := apinetDestinations(routing)
	ips, err := loadBalancerIPs(ctx, c, lb)
	if err != nil {
		recorder(m).Eventf(lb, nil, corev1.EventTypeWarning, "InvalidLoadBalancer", DefaultEventActionApply, "%v", err)
		return reconcile.Result{}, nil // nothing to retry until the LoadBalancer changes
	}
	existing := &apinetv1alpha1.LoadBalancer{}
	if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: m.Peer.Namespace, Name: string(lb.UID)}, existing); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		existing = nil
	}
	aware := r.opts.NodeAffinityAware
	if m.Settings().NodeAffinityAware != nil {
		aware = *m.Settings().NodeAffinityAware
	}
	an := apinetLoadBalancer(m, lb, existing, string(network.UID), ips, destinations, aware)
	// Fields apinet cannot change in place keep their apinet value; the
	// rest of the change is written, and the refusal reported once.
	changes := loadBalancerImmutableChanges(an, existing)
	keepImmutable(an, existing, changes)
	refused := refusal{annotation: AnnotationImmutableRefused, reason: ReasonImmutableFieldChanged, text: immutableRefusal(changes)}
	refused.record(an)
	var cached client.Object
	if existing != nil {
		cached = existing
	}
	report := refused.news(ctx, m, client.ObjectKeyFromObject(an), cached, &apinetv1alpha1.LoadBalancer{})
	if err := r.apply(ctx, m, an, FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	if report {
		refused.report(m, lb, "apinet keeps its value of each, the rest of the change is applied; recreate the LoadBalancer to change them")
	}
	if err := r.apply(ctx, m, apinetLoadBalancerRouting(m, lb, an, destinations), FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, PatchStatus(ctx, c, lb, func(lb *networkingv1alpha1.LoadBalancer) { lb.Status.IPs = loadBalancerStatusIPs(an) })
}

// apinetLoadBalancer is the apinet LoadBalancer of lb on the apinet network
// networkUID (existing: the apinet LoadBalancer there is, nil if none).
// The selector of an apinet LoadBalancer is immutable: the one existing
// carries is kept (apinetlet v0.2.4 selected by three labels), and the
// instance template follows it; a new one gets the selector of the
// member's hand-back layout (Origin.LayoutLabels).
func apinetLoadBalancer(m *clusterprofiles.Member, lb *networkingv1alpha1.LoadBalancer, existing *apinetv1alpha1.LoadBalancer, networkUID string, ips []apinetv1alpha1.LoadBalancerIP, destinations []apinetv1alpha1.LoadBalancerDestination, nodeAffinityAware bool) *apinetv1alpha1.LoadBalancer {
	selector := OriginLoadBalancer.LayoutLabels(m.Settings().Layout(), lb)
	if existing != nil && existing.Spec.Selector != nil && len(existing.Spec.Selector.MatchLabels) > 0 {
		selector = maps.Clone(existing.Spec.Selector.MatchLabels)
	}
	var ports []apinetv1alpha1.LoadBalancerPort
	for _, p := range lb.Spec.Ports {
		ports = append(ports, apinetv1alpha1.LoadBalancerPort{Protocol: p.Protocol, Port: p.Port, EndPort: p.EndPort})
	}
	return &apinetv1alpha1.LoadBalancer{
		ObjectMeta: OriginLoadBalancer.ObjectMeta(m, lb, string(lb.UID)),
		Spec: apinetv1alpha1.LoadBalancerSpec{
			Type:       apinetv1alpha1.LoadBalancerType(lb.Spec.Type),
			NetworkRef: corev1.LocalObjectReference{Name: networkUID},
			IPs:        ips,
			Ports:      ports,
			Selector:   &metav1.LabelSelector{MatchLabels: selector},
			Template: apinetv1alpha1.InstanceTemplate{
				ObjectMeta: metav1.ObjectMeta{Labels: selector, Annotations: loadBalancerTemplateAnnotations(lb, selector)},
				Spec:       apinetv1alpha1.InstanceSpec{Affinity: loadBalancerAffinity(selector, destinations, nodeAffinityAware)},
			},
		},
	}
}

// loadBalancerImmutableChanges lists the fields of the apinet LoadBalancer
// existing (nil: none yet, so nothing to change) that desired asks to
// change and apinet does not allow to: spec.type (IronCore lets a user
// change it) and spec.networkRef (the IronCore Network's UID: it changes
// when the Network is recreated under the same name). The selector, also
// immutable, is kept by apinetLoadBalancer.
func loadBalancerImmutableChanges(desired, existing *apinetv1alpha1.LoadBalancer) []immutableChange {
	if existing == nil {
		return nil
	}
	var out []immutableChange
	if desired.Spec.Type != existing.Spec.Type {
		out = append(out, immutableChange{Field: "spec.type", Have: string(existing.Spec.Type), Want: string(desired.Spec.Type)})
	}
	if desired.Spec.NetworkRef.Name != existing.Spec.NetworkRef.Name {
		out = append(out, immutableChange{Field: "spec.networkRef.name", Have: existing.Spec.NetworkRef.Name, Want: desired.Spec.NetworkRef.Name})
	}
	return out
}

// keepImmutable sets each field of changes in desired back to its value in
// existing. A type kept keeps the addresses too: those of the other type
// (an internal address on a public LoadBalancer, or none) do not apply.
// Public addresses are the registry's, so only their names and families are
// written, as always.
func keepImmutable(desired, existing *apinetv1alpha1.LoadBalancer, changes []immutableChange) {
	for _, c := range changes {
		switch c.Field {
		case "spec.type":
			desired.Spec.Type = existing.Spec.Type
			desired.Spec.IPs = nil
			for _, ip := range existing.Spec.IPs {
				if existing.Spec.Type == apinetv1alpha1.LoadBalancerTypePublic {
					ip = apinetv1alpha1.LoadBalancerIP{Name: ip.Name, IPFamily: ip.IPFamily}
				}
				desired.Spec.IPs = append(desired.Spec.IPs, ip)
			}
		case "spec.networkRef.name":
			desired.Spec.NetworkRef = existing.Spec.NetworkRef
		}
	}
}

// apinetLoadBalancerRouting is the routing of the apinet LoadBalancer an
// (as applied: its UID is the owner reference).
func apinetLoadBalancerRouting(m *clusterprofiles.Member, lb *networkingv1alpha1.LoadBalancer, an *apinetv1alpha1.LoadBalancer, destinations []apinetv1alpha1.LoadBalancerDestination) *apinetv1alpha1.LoadBalancerRouting {
	routing := &apinetv1alpha1.LoadBalancerRouting{
		ObjectMeta:   OriginLoadBalancer.ObjectMeta(m, lb, string(lb.UID)),
		Destinations: destinations,
	}
	routing.OwnerReferences = []metav1.OwnerReference{controllerRef(an, "LoadBalancer")}
	return routing
}

// loadBalancerStatusIPs are the addresses allocated to an apinet
// LoadBalancer, for IronCore status.ips.
func loadBalancerStatusIPs(an *apinetv1alpha1.LoadBalancer) []commonv1alpha1.IP {
	var out []commonv1alpha1.IP
	for _, ip := range an.Spec.IPs {
		if ip.IP.IsValid() {
			out = append(out, commonv1alpha1.IP{Addr: ip.IP.Addr})
		}
	}
	return out
}

// loadBalancerTemplateAnnotations are the annotations of an apinet
// LoadBalancer's instance template: the origin name, except for a
// LoadBalancer apinetlet v0.2.4 wrote (its selector carries the name as a
// label, and its template has no annotations). Adding them there would
// change the instance template of an adopted LoadBalancer, and with it
// roll its instances.
func loadBalancerTemplateAnnotations(lb client.Object, selector map[string]string) map[string]string {
	if _, legacy := selector[OriginLoadBalancer.NameKey()]; legacy {
		return nil
	}
	return OriginLoadBalancer.Annotations(lb)
}

// apinetDestinations maps the IronCore routing (computed by ironcore's
// controller-manager; empty when there is none yet) to apinet
// destinations; a target whose provider ID does not parse is kept as a
// destination without target.
func apinetDestinations(routing *networkingv1alpha1.LoadBalancerRouting) []apinetv1alpha1.LoadBalancerDestination {
	var out []apinetv1alpha1.LoadBalancerDestination
	for _, dst := range routing.Destinations {
		d := apinetv1alpha1.LoadBalancerDestination{IP: apinetnet.IP{Addr: dst.IP.Addr}}
		if dst.TargetRef != nil {
			if id, err := ParseNetworkInterfaceID(dst.TargetRef.ProviderID); err == nil {
				d.TargetRef = &apinetv1alpha1.LoadBalancerTargetRef{UID: id.UID, Name: id.Name, NodeRef: corev1.LocalObjectReference{Name: id.Node}}
			}
		}
		out = append(out, d)
	}
	return out
}

// loadBalancerAffinity spreads instances across zones and, when asked to
// (--is-node-affinity-aware, or the member's profile), pins them to the
// nodes of the targets, one term per distinct node, sorted.
func loadBalancerAffinity(selector map[string]string, dsts []apinetv1alpha1.LoadBalancerDestination, nodeAffinityAware bool) *apinetv1alpha1.Affinity {
	a := &apinetv1alpha1.Affinity{InstanceAntiAffinity: &apinetv1alpha1.InstanceAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []apinetv1alpha1.InstanceAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
			TopologyKey:   apinetv1alpha1.TopologyZoneLabel,
		}},
	}}
	var nodes []string
	for _, d := range dsts {
		if d.TargetRef != nil && d.TargetRef.NodeRef.Name != "" && !slices.Contains(nodes, d.TargetRef.NodeRef.Name) {
			nodes = append(nodes, d.TargetRef.NodeRef.Name)
		}
	}
	if !nodeAffinityAware || len(nodes) == 0 {
		return a
	}
	slices.Sort(nodes)
	terms := make([]apinetv1alpha1.NodeSelectorTerm, 0, len(nodes))
	for _, node := range nodes {
		terms = append(terms, apinetv1alpha1.NodeSelectorTerm{MatchFields: []apinetv1alpha1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: apinetv1alpha1.NodeSelectorOpIn, Values: []string{node}},
		}})
	}
	a.NodeAffinity = &apinetv1alpha1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &apinetv1alpha1.NodeSelector{NodeSelectorTerms: terms}}
	return a
}

// loadBalancerIPs: Public gets one entry per IP family (the registry
// allocates the address); Internal gets "ip-<i>" from a value or from the
// Allocated ephemeral Prefix "<lb>-<i>" the LoadBalancer controls.
func loadBalancerIPs(ctx context.Context, c client.Client, lb *networkingv1alpha1.LoadBalancer) ([]apinetv1alpha1.LoadBalancerIP, error) {
	var out []apinetv1alpha1.LoadBalancerIP
	switch lb.Spec.Type {
	case networkingv1alpha1.LoadBalancerTypePublic:
		for _, family := range lb.Spec.IPFamilies {
			out = append(out, apinetv1alpha1.LoadBalancerIP{Name: strings.ToLower(string(family)), IPFamily: family})
		}
	case networkingv1alpha1.LoadBalancerTypeInternal:
		for i, src := range lb.Spec.IPs {
			name := fmt.Sprintf("ip-%d", i)
			switch {
			case src.Value != nil:
				out = append(out, apinetv1alpha1.LoadBalancerIP{Name: name, IPFamily: ipFamily(src.Value.Addr.Is4()), IP: apinetnet.IP{Addr: src.Value.Addr}})
			case src.Ephemeral != nil:
				prefix := &ipamv1alpha1.Prefix{}
				if err := c.Get(ctx, types.NamespacedName{Namespace: lb.Namespace, Name: fmt.Sprintf("%s-%d", lb.Name, i)}, prefix); err != nil {
					if apierrors.IsNotFound(err) {
						continue
					}
					return nil, err
				}
				if !metav1.IsControlledBy(prefix, lb) || prefix.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated || prefix.Spec.Prefix == nil {
					continue
				}
				out = append(out, apinetv1alpha1.LoadBalancerIP{Name: name, IPFamily: prefix.Spec.IPFamily, IP: apinetnet.IP{Addr: prefix.Spec.Prefix.Addr()}})
			}
		}
	default:
		return nil, fmt.Errorf("unknown load balancer type %q", lb.Spec.Type)
	}
	return out, nil
}

func ipFamily(is4 bool) corev1.IPFamily {
	if is4 {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}
