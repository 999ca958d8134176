package reconcilers

import (
	"context"
	"errors"
	"fmt"
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
	c, err := newController(mgr, r.topology, "loadbalancer", &networkingv1alpha1.LoadBalancer{}, func() client.ObjectList { return &networkingv1alpha1.LoadBalancerList{} }, r.opts,
		paths[*networkingv1alpha1.LoadBalancer]{
			reconciler: r.reconciler,
			controller: "loadbalancer",
			mapped:     func(lb *networkingv1alpha1.LoadBalancer) bool { return len(lb.Status.IPs) > 0 },
			newObject:  func() *networkingv1alpha1.LoadBalancer { return &networkingv1alpha1.LoadBalancer{} },
			normal:     r.reconcileNormal,
			delete:     r.reconcileDelete,
			gone:       goneDeletes(OriginLoadBalancer, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerRoutingList{} }, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} }),
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

func (r *loadBalancerReconciler) reconcileDelete(ctx context.Context, m *clusterprofiles.Member, lb *networkingv1alpha1.LoadBalancer) (reconcile.Result, error) {
	return deleteAPINetObjects(ctx, m, lb, FinalizerLoadBalancer, &apinetv1alpha1.LoadBalancerRouting{}, &apinetv1alpha1.LoadBalancer{})
}

func (r *loadBalancerReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, lb *networkingv1alpha1.LoadBalancer) (reconcile.Result, error) {
	c := m.GetClient()
	if err := EnsureFinalizer(ctx, c, lb, FinalizerLoadBalancer); err != nil {
		return reconcile.Result{}, err
	}
	network, err := networkOf(ctx, c, lb.Namespace, lb.Spec.NetworkRef.Name)
	if network == nil {
		return reconcile.Result{}, err
	}
	destinations, err := r.destinations(ctx, m, lb)
	if err != nil {
		return reconcile.Result{}, err
	}
	ips, err := loadBalancerIPs(ctx, c, lb)
	if err != nil {
		recorder(m).Eventf(lb, nil, corev1.EventTypeWarning, "InvalidLoadBalancer", DefaultEventActionApply, "%v", err)
		return reconcile.Result{}, nil // nothing to retry until the LoadBalancer changes
	}

	// The selector of an apinet LoadBalancer is immutable: keep the one an
	// existing object carries (apinetlet v0.2.4 selected by three labels).
	selector := OriginLoadBalancer.SelectorLabels(lb)
	existing := &apinetv1alpha1.LoadBalancer{}
	if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: m.Peer.Namespace, Name: string(lb.UID)}, existing); err == nil &&
		existing.Spec.Selector != nil && len(existing.Spec.Selector.MatchLabels) > 0 {
		selector = existing.Spec.Selector.MatchLabels
	}
	templateAnnotations := loadBalancerTemplateAnnotations(lb, selector)
	var ports []apinetv1alpha1.LoadBalancerPort
	for _, p := range lb.Spec.Ports {
		ports = append(ports, apinetv1alpha1.LoadBalancerPort{Protocol: p.Protocol, Port: p.Port, EndPort: p.EndPort})
	}
	an := &apinetv1alpha1.LoadBalancer{
		ObjectMeta: OriginLoadBalancer.ObjectMeta(m, lb, string(lb.UID)),
		Spec: apinetv1alpha1.LoadBalancerSpec{
			Type:       apinetv1alpha1.LoadBalancerType(lb.Spec.Type),
			NetworkRef: corev1.LocalObjectReference{Name: string(network.UID)},
			IPs:        ips,
			Ports:      ports,
			Selector:   &metav1.LabelSelector{MatchLabels: selector},
			Template: apinetv1alpha1.InstanceTemplate{
				ObjectMeta: metav1.ObjectMeta{Labels: selector, Annotations: templateAnnotations},
				Spec:       apinetv1alpha1.InstanceSpec{Affinity: r.affinity(m, selector, destinations)},
			},
		},
	}
	if err := r.apply(ctx, m, an, FieldManager); err != nil {
		recorder(m).Eventf(lb, nil, corev1.EventTypeWarning, "APINetLoadBalancerFailed", DefaultEventActionApply, "apinet peer %s: %v", m.Peer.Name, err)
		return reconcile.Result{}, err
	}
	routing := &apinetv1alpha1.LoadBalancerRouting{
		ObjectMeta:   OriginLoadBalancer.ObjectMeta(m, lb, string(lb.UID)),
		Destinations: destinations,
	}
	routing.OwnerReferences = []metav1.OwnerReference{controllerRef(an, "LoadBalancer")}
	if err := r.apply(ctx, m, routing, FieldManager); err != nil {
		return reconcile.Result{}, err
	}

	var status []commonv1alpha1.IP
	for _, ip := range an.Spec.IPs {
		if ip.IP.IsValid() {
			status = append(status, commonv1alpha1.IP{Addr: ip.IP.Addr})
		}
	}
	return reconcile.Result{}, PatchStatus(ctx, c, lb, func(lb *networkingv1alpha1.LoadBalancer) { lb.Status.IPs = status })
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

// destinations maps the IronCore routing (computed by ironcore's
// controller-manager) to apinet destinations; a target whose provider ID
// does not parse is kept as a destination without target.
func (r *loadBalancerReconciler) destinations(ctx context.Context, m *clusterprofiles.Member, lb *networkingv1alpha1.LoadBalancer) ([]apinetv1alpha1.LoadBalancerDestination, error) {
	routing := &networkingv1alpha1.LoadBalancerRouting{}
	if err := m.GetClient().Get(ctx, client.ObjectKeyFromObject(lb), routing); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
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
	return out, nil
}

// affinity spreads instances across zones and, when the hub (or the
// member's profile) asks for it, pins them to the nodes of the targets,
// one term per distinct node, sorted.
func (r *loadBalancerReconciler) affinity(m *clusterprofiles.Member, selector map[string]string, dsts []apinetv1alpha1.LoadBalancerDestination) *apinetv1alpha1.Affinity {
	a := &apinetv1alpha1.Affinity{InstanceAntiAffinity: &apinetv1alpha1.InstanceAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []apinetv1alpha1.InstanceAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
			TopologyKey:   apinetv1alpha1.TopologyZoneLabel,
		}},
	}}
	aware := r.opts.NodeAffinityAware
	if m.Settings().NodeAffinityAware != nil {
		aware = *m.Settings().NodeAffinityAware
	}
	var nodes []string
	for _, d := range dsts {
		if d.TargetRef != nil && d.TargetRef.NodeRef.Name != "" && !slices.Contains(nodes, d.TargetRef.NodeRef.Name) {
			nodes = append(nodes, d.TargetRef.NodeRef.Name)
		}
	}
	if !aware || len(nodes) == 0 {
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
