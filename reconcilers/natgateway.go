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
// member's ClusterProfile (the operator's: every NATGateway of the member,
// replacing the hub's flags) or on one NATGateway (the tenant's: it may only
// narrow the operator's range; see natLimits).
const (
	AnnotationNATMinPublicIPs = "apinet-hub.ironcore.dev/nat-min-public-ips"
	AnnotationNATMaxPublicIPs = "apinet-hub.ironcore.dev/nat-max-public-ips"
)

// AnnotationNATRefused, on an apinet NATGatewayAutoscaler, records what the
// operator's range refused of its NATGateway's annotations: the hub reports
// a refusal (ReasonNATLimitRefused) when it differs from the recorded one.
const AnnotationNATRefused = "apinet-hub.ironcore.dev/nat-refused"

// ReasonNATLimitRefused is the Warning Event on a NATGateway whose
// annotations ask for public IPs outside the operator's range.
const ReasonNATLimitRefused = "NATLimitRefused"

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
		leaveAlone: inNetworkMappedElsewhere("NATGateway", func(o *networkingv1alpha1.NATGateway) string { return o.Spec.NetworkRef.Name }),
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
	var applied *apinetv1alpha1.NATGatewayAutoscaler
	if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: an.Namespace, Name: an.Name}, current); err == nil {
		applied = current
	} else if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	nat := natLimits(*r.opts.NATPublicIPs,
		natLayer{source: "ClusterProfile " + string(m.Profile.Name), annotations: m.Settings().NATAnnotations},
		natLayer{source: "this NATGateway", annotations: gw.Annotations, tenant: true})
	limits := nat.Limits
	if len(nat.Problems) > 0 {
		if applied != nil && applied.Spec.MinPublicIPs != nil && applied.Spec.MaxPublicIPs != nil {
			limits = NATLimits{Min: *applied.Spec.MinPublicIPs, Max: *applied.Spec.MaxPublicIPs} // the last valid values stay in force
			if nat.CeilingValid {
				limits = limits.within(nat.Ceiling) // never beyond the operator's range
			}
		}
		recorder(m).Eventf(gw, nil, corev1.EventTypeWarning, "InvalidNATAutoscaling", DefaultEventActionApply,
			"%s; keeping min %d / max %d public IPs", joinProblems(nat.Problems), limits.Min, limits.Max)
	}
	refused := joinProblems(nat.Refused)
	report := refused != "" && refused != natRefusedOf(applied)
	if report {
		// The cache may lag behind this reconciler's last write: confirm
		// with a live read that the refusal is news before reporting it.
		live := &apinetv1alpha1.NATGatewayAutoscaler{}
		if err := m.Peer.GetAPIReader().Get(ctx, types.NamespacedName{Namespace: an.Namespace, Name: an.Name}, live); err == nil {
			report = refused != natRefusedOf(live)
		}
	}
	if err := r.apply(ctx, m, apinetNATGatewayAutoscaler(m, gw, an, limits, refused), FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	if report {
		recorder(m).Eventf(gw, nil, corev1.EventTypeWarning, ReasonNATLimitRefused, DefaultEventActionApply,
			"%s; min %d / max %d public IPs in force", refused, limits.Min, limits.Max)
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
// (as applied: its UID is the owner reference) within limits. refused, if
// any, is what the operator's range refused of the NATGateway's own
// annotations, kept on the autoscaler (AnnotationNATRefused) so that each
// refusal is reported once.
func apinetNATGatewayAutoscaler(m *clusterprofiles.Member, gw *networkingv1alpha1.NATGateway, an *apinetv1alpha1.NATGateway, limits NATLimits, refused string) *apinetv1alpha1.NATGatewayAutoscaler {
	autoscaler := &apinetv1alpha1.NATGatewayAutoscaler{
		ObjectMeta: OriginNATGateway.ObjectMeta(m, gw, string(gw.UID)),
		Spec: apinetv1alpha1.NATGatewayAutoscalerSpec{
			NATGatewayRef: corev1.LocalObjectReference{Name: an.Name},
			MinPublicIPs:  ptr.To(limits.Min),
			MaxPublicIPs:  ptr.To(limits.Max),
		},
	}
	if refused != "" {
		autoscaler.Annotations[AnnotationNATRefused] = refused
	}
	autoscaler.OwnerReferences = []metav1.OwnerReference{controllerRef(an, "NATGateway")}
	return autoscaler
}

// natRefusedOf is the refusal recorded on an applied autoscaler (nil: none).
func natRefusedOf(autoscaler *apinetv1alpha1.NATGatewayAutoscaler) string {
	if autoscaler == nil {
		return ""
	}
	return autoscaler.Annotations[AnnotationNATRefused]
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

// within clamps l into the range r (r.Min <= r.Max): each bound moves to the
// nearest value of r, so a valid l stays valid.
func (l NATLimits) within(r NATLimits) NATLimits {
	return NATLimits{Min: min(max(l.Min, r.Min), r.Max), Max: min(max(l.Max, r.Min), r.Max)}
}

type natLayer struct {
	source      string
	annotations map[string]string
	// tenant marks a layer that may only narrow the range in force above
	// it: a value outside that range is refused and its bound applied.
	tenant bool
}

// natResult is what natLimits made of the layers.
type natResult struct {
	// Limits are the limits in force.
	Limits NATLimits
	// Ceiling is the operator's range: the range in force above the first
	// tenant layer. CeilingValid is false if an operator's layer was
	// invalid (ignored), so Ceiling may be narrower than the operator meant.
	Ceiling      NATLimits
	CeilingValid bool
	// Problems are invalid values; each one's layer is ignored.
	Problems []string
	// Refused are tenant values outside the range in force above them, in
	// a stable order; the bound was applied instead.
	Refused []string
}

var natKeys = []string{AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs}

// natLimits layers the hub's limits and each layer's annotations, in order.
// An operator's layer (the member's ClusterProfile) replaces the values it
// sets, whatever they are: the hub's flags are defaults. A tenant's layer
// (the NATGateway) may only narrow the range in force: it may raise the
// minimum up to the maximum and lower the maximum down to the minimum, and a
// value outside the range is clamped to the nearest bound and reported in
// Refused. An invalid value (not a number, negative, or a layer's min above
// its max) is reported in Problems and its layer's values are ignored.
func natLimits(hub NATLimits, layers ...natLayer) natResult {
	res := natResult{Limits: hub, Ceiling: hub, CeilingValid: true}
	tenantSeen := false
	for _, l := range layers {
		if l.tenant && !tenantSeen {
			tenantSeen, res.Ceiling = true, res.Limits
		}
		var asked [2]*int64 // min, max as given
		ok := true
		for i, key := range natKeys {
			raw, set := l.annotations[key]
			if !set {
				continue
			}
			n, err := strconv.ParseInt(raw, 10, 32)
			if err != nil || n < 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("%s: %s=%q is not a number >= 0", l.source, key, raw))
				ok = false
				continue
			}
			asked[i] = &n
		}
		next := res.Limits
		if asked[0] != nil {
			next.Min = int32(*asked[0])
		}
		if asked[1] != nil {
			next.Max = int32(*asked[1])
		}
		switch {
		case !ok:
		case l.tenant && asked[0] != nil && asked[1] != nil && *asked[0] > *asked[1]:
			res.Problems = append(res.Problems, fmt.Sprintf("%s: min %d > max %d public IPs", l.source, *asked[0], *asked[1]))
			ok = false
		case !l.tenant && next.Min > next.Max:
			res.Problems = append(res.Problems, fmt.Sprintf("%s: min %d > max %d public IPs", l.source, next.Min, next.Max))
			ok = false
		case l.tenant:
			// Each value is clamped into the range in force; one value
			// alone pairs with the range's other bound, so the result is
			// a valid sub-range.
			bound := res.Limits
			for i, key := range natKeys {
				if asked[i] == nil {
					continue
				}
				switch n := *asked[i]; {
				case n < int64(bound.Min):
					res.Refused = append(res.Refused, fmt.Sprintf("%s: %s=%d is below the operator's minimum of %d", l.source, key, n, bound.Min))
				case n > int64(bound.Max):
					res.Refused = append(res.Refused, fmt.Sprintf("%s: %s=%d is above the operator's maximum of %d", l.source, key, n, bound.Max))
				}
			}
			next = next.within(bound)
		}
		if ok {
			res.Limits = next
		} else if !l.tenant {
			res.CeilingValid = false
		}
	}
	if !tenantSeen {
		res.Ceiling = res.Limits
	}
	return res
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
