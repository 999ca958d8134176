package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// FinalizerNATGateway is apinetlet's finalizer on IronCore NATGateways.
const FinalizerNATGateway = "apinet.ironcore.dev/natgateway"

// Annotations bounding the number of public IPs of a NAT gateway, on a
// member's ClusterProfile (every NATGateway of the member) or on one
// NATGateway (which wins).
const (
	AnnotationNATMinPublicIPs = "apinet-hub.ironcore.dev/nat-min-public-ips"
	AnnotationNATMaxPublicIPs = "apinet-hub.ironcore.dev/nat-max-public-ips"
)

// natGatewayReconciler maps IronCore NATGateways to apinet NATGateways and
// their NATGatewayAutoscalers. The apinet controller-manager allocates
// ports and scales public IPs; the hub never writes spec.ips.
type natGatewayReconciler struct{ reconciler }

func (r *natGatewayReconciler) setupWithManager(mgr mcmanager.Manager) error {
	c, err := newController(mgr, paths[*networkingv1alpha1.NATGateway]{
		reconciler: r.reconciler,
		controller: "natgateway",
		finalizer:  FinalizerNATGateway,
		newObject:  func() *networkingv1alpha1.NATGateway { return &networkingv1alpha1.NATGateway{} },
		newList:    func() client.ObjectList { return &networkingv1alpha1.NATGatewayList{} },
		mapped:     func(gw *networkingv1alpha1.NATGateway) bool { return len(gw.Status.IPs) > 0 },
		normal:     r.reconcileNormal,
		delete: deletesAPINetObjects[*networkingv1alpha1.NATGateway](
			func() client.Object { return &apinetv1alpha1.NATGatewayAutoscaler{} },
			func() client.Object { return &apinetv1alpha1.NATGateway{} }),
		gone: goneDeletes(OriginNATGateway, func() client.ObjectList { return &apinetv1alpha1.NATGatewayAutoscalerList{} }, func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} }),
	})
	if err != nil {
		return err
	}
	return errors.Join(
		c.watchMember(&networkingv1alpha1.Network{}, onNetwork(natGatewaysOfNetwork)),
		watchPeer(c, &apinetv1alpha1.NATGateway{}, MapToOrigin[*apinetv1alpha1.NATGateway](OriginNATGateway)),
		watchPeer(c, &apinetv1alpha1.NATGatewayAutoscaler{}, MapToOrigin[*apinetv1alpha1.NATGatewayAutoscaler](OriginNATGateway)),
	)
}

// natGatewaysOfNetwork re-triggers the NATGateways naming a Network.
var natGatewaysOfNetwork = objectsOfNetwork(
	func() client.ObjectList { return &networkingv1alpha1.NATGatewayList{} },
	func(o client.Object) string { return o.(*networkingv1alpha1.NATGateway).Spec.NetworkRef.Name })

func (r *natGatewayReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, gw *networkingv1alpha1.NATGateway) (reconcile.Result, error) {
	c := m.GetClient()
	network, err := networkOf(ctx, c, gw.Namespace, gw.Spec.NetworkRef.Name)
	if network == nil {
		return reconcile.Result{}, err
	}
	an := apinetNATGateway(m, gw, string(network.UID))
	if err := r.apply(ctx, m, an, FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	current := &apinetv1alpha1.NATGatewayAutoscaler{}
	var applied *apinetv1alpha1.NATGatewayAutoscalerSpec
	if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: an.Namespace, Name: an.Name}, current); err == nil {
		applied = &current.Spec
	} else if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	limits, problems := natLimits(*r.opts.NATPublicIPs,
		natLayer{"ClusterProfile " + string(m.Profile.Name), m.Settings().NATAnnotations},
		natLayer{"this NATGateway", gw.Annotations})
	if len(problems) > 0 {
		if applied != nil && applied.MinPublicIPs != nil && applied.MaxPublicIPs != nil {
			limits = NATLimits{Min: *applied.MinPublicIPs, Max: *applied.MaxPublicIPs} // the last valid values stay in force
		}
		recorder(m).Eventf(gw, nil, corev1.EventTypeWarning, "InvalidNATAutoscaling", DefaultEventActionApply,
			"%s; keeping min %d / max %d public IPs", joinProblems(problems), limits.Min, limits.Max)
	}
	if err := r.apply(ctx, m, apinetNATGatewayAutoscaler(m, gw, an, limits), FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, PatchStatus(ctx, c, gw, func(gw *networkingv1alpha1.NATGateway) { gw.Status.IPs = natGatewayStatusIPs(an) })
}

// apinetNATGateway is the apinet NATGateway of gw on the apinet network
// networkUID: apinet's default ports per NIC unless gw sets them; never
// spec.ips (the autoscaler's).
func apinetNATGateway(m *clusterprofiles.Member, gw *networkingv1alpha1.NATGateway, networkUID string) *apinetv1alpha1.NATGateway {
	ports := networkingv1alpha1.DefaultPortsPerNetworkInterface
	if gw.Spec.PortsPerNetworkInterface != nil {
		ports = *gw.Spec.PortsPerNetworkInterface
	}
	return &apinetv1alpha1.NATGateway{
		ObjectMeta: OriginNATGateway.ObjectMeta(m, gw, string(gw.UID)),
		Spec: apinetv1alpha1.NATGatewaySpec{
			IPFamily:                 gw.Spec.IPFamily,
			NetworkRef:               corev1.LocalObjectReference{Name: networkUID},
			PortsPerNetworkInterface: ports,
		},
	}
}

// apinetNATGatewayAutoscaler is the autoscaler of the apinet NATGateway an
// (as applied: its UID is the owner reference) within limits.
func apinetNATGatewayAutoscaler(m *clusterprofiles.Member, gw *networkingv1alpha1.NATGateway, an *apinetv1alpha1.NATGateway, limits NATLimits) *apinetv1alpha1.NATGatewayAutoscaler {
	autoscaler := &apinetv1alpha1.NATGatewayAutoscaler{
		ObjectMeta: OriginNATGateway.ObjectMeta(m, gw, string(gw.UID)),
		Spec: apinetv1alpha1.NATGatewayAutoscalerSpec{
			NATGatewayRef: corev1.LocalObjectReference{Name: an.Name},
			MinPublicIPs:  ptr.To(limits.Min),
			MaxPublicIPs:  ptr.To(limits.Max),
		},
	}
	autoscaler.OwnerReferences = []metav1.OwnerReference{controllerRef(an, "NATGateway")}
	return autoscaler
}

// natGatewayStatusIPs are the addresses the autoscaler gave an apinet
// NATGateway, for IronCore status.ips.
func natGatewayStatusIPs(an *apinetv1alpha1.NATGateway) []commonv1alpha1.IP {
	var out []commonv1alpha1.IP
	for _, ip := range an.Spec.IPs {
		if ip.IP.IsValid() {
			out = append(out, commonv1alpha1.IP{Addr: ip.IP.Addr})
		}
	}
	return out
}

// NATLimits bounds the public IPs the apinet autoscaler gives a NAT gateway.
type NATLimits struct{ Min, Max int32 }

// DefaultNATLimits are apinetlet's hard-coded limits.
var DefaultNATLimits = NATLimits{Min: 1, Max: 10}

type natLayer struct {
	source      string
	annotations map[string]string
}

// natLimits layers the hub's limits, then each layer's annotations (later
// layers win). An invalid value (not a number, negative, or min > max) is
// reported and its layer's values are ignored.
func natLimits(hub NATLimits, layers ...natLayer) (NATLimits, []string) {
	limits := hub
	var problems []string
	for _, l := range layers {
		next, ok := limits, true
		for key, dst := range map[string]*int32{AnnotationNATMinPublicIPs: &next.Min, AnnotationNATMaxPublicIPs: &next.Max} {
			raw, set := l.annotations[key]
			if !set {
				continue
			}
			n, err := strconv.ParseInt(raw, 10, 32)
			if err != nil || n < 0 {
				problems = append(problems, fmt.Sprintf("%s: %s=%q is not a number >= 0", l.source, key, raw))
				ok = false
				continue
			}
			*dst = int32(n)
		}
		if ok && next.Min > next.Max {
			problems = append(problems, fmt.Sprintf("%s: min %d > max %d public IPs", l.source, next.Min, next.Max))
			ok = false
		}
		if ok {
			limits = next
		}
	}
	return limits, problems
}

func joinProblems(problems []string) string {
	out := ""
	for i, p := range problems {
		if i > 0 {
			out += "; "
		}
		out += p
	}
	return out
}

// controllerRef makes owner an apinet object's controller.
func controllerRef(owner client.Object, kind string) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: apinetv1alpha1.SchemeGroupVersion.String(), Kind: kind,
		Name: owner.GetName(), UID: owner.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
}
