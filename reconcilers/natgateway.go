package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// FinalizerNATGateway is apinetlet's finalizer on IronCore NATGateways.
const FinalizerNATGateway = "apinet.ironcore.dev/natgateway"

// Annotations bounding the number of public IPs of a NAT gateway (see
// natLimits for how they layer): min and max on an apinet profile (the
// region's defaults for every member mapped into it), on a member's
// ClusterProfile (the operator's, per member) or on one NATGateway (the
// tenant's: it may only narrow the range in force); the ceiling on a
// profile only.
const (
	AnnotationNATMinPublicIPs     = clusterprofiles.AnnotationNATMinPublicIPs
	AnnotationNATMaxPublicIPs     = clusterprofiles.AnnotationNATMaxPublicIPs
	AnnotationNATPublicIPsCeiling = clusterprofiles.AnnotationNATPublicIPsCeiling
)

// AnnotationNATRefused, on an apinet NATGatewayAutoscaler, records what the
// layering refused (natResult.Refused): a NATGateway's values outside the
// operator's range, a profile's values above a ceiling. The hub reports a
// refusal (ReasonNATLimitRefused) when it differs from the recorded one.
const AnnotationNATRefused = "apinet-hub.ironcore.dev/nat-refused"

// ReasonNATLimitRefused is the Warning Event on a NATGateway whose limits
// ask for public IPs outside the operator's range or above a ceiling.
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
		c.MultiClusterWatch(peerSettingsSource{}),
	)
}

// peerSettingsSource queues every NATGateway of a member when its peer's
// live settings change (the apinet profile's NAT annotations), as
// settingsSource does for the member's own: the member's cache is listed
// once per member of the peer and change, never per event of an object.
type peerSettingsSource struct{}

func (peerSettingsSource) ForCluster(name multicluster.ClusterName, cl cluster.Cluster) (source.TypedSource[mcreconcile.Request], bool, error) {
	m, ok := cl.(*clusterprofiles.Member)
	if !ok {
		return nil, false, nil
	}
	return source.TypedFunc[mcreconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[mcreconcile.Request]) error {
		// The provider stores a peer's settings under its own lock: the
		// listing and queueing run apart from it.
		m.Peer.Settings.OnChange(ctx, func() {
			go func() {
				list := &networkingv1alpha1.NATGatewayList{}
				if err := m.GetCache().List(ctx, list); err != nil {
					return
				}
				for _, gw := range list.Items {
					q.Add(mcreconcile.Request{ClusterName: name, Request: reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&gw)}})
				}
			}()
		})
		return nil
	}), true, nil
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
	key := client.ObjectKeyFromObject(an)
	current := &apinetv1alpha1.NATGateway{}
	var cachedNAT client.Object // nil: none yet
	if err := m.Peer.GetClient().Get(ctx, key, current); err == nil {
		cachedNAT = current
	} else if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	// apinet cannot change these fields in place: the apinet object keeps
	// its values, the rest of the change is written, and the refusal is
	// recorded and reported once (no retry of an apply that cannot pass).
	var changes []immutableChange
	if cachedNAT != nil {
		changes = natGatewayImmutableChanges(current, an)
		keepNATGatewayImmutable(current, an)
	}
	immutable := refusal{annotation: AnnotationImmutableRefused, reason: ReasonImmutableFieldChanged, text: immutableRefusal(changes)}
	reportImmutable := immutable.news(ctx, m, client.ObjectKeyFromObject(an), cachedNAT, &apinetv1alpha1.NATGateway{})
	immutable.record(an)
	if err := r.apply(ctx, m, an, FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	if reportImmutable {
		immutable.report(m, gw, "the apinet NATGateway keeps them, with its public IPs; to change them, delete the NATGateway and create it anew (its public IPs are released)")
	}

	autoscaler := &apinetv1alpha1.NATGatewayAutoscaler{}
	var applied *apinetv1alpha1.NATGatewayAutoscaler
	var cachedAutoscaler client.Object // nil: none yet
	if err := m.Peer.GetClient().Get(ctx, key, autoscaler); err == nil {
		applied, cachedAutoscaler = autoscaler, autoscaler
	} else if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	nat := natLimits(*r.opts.NATPublicIPs,
		natLayer{source: "ClusterProfile " + string(m.Peer.Name), annotations: m.Peer.Settings.Load().NATAnnotations},
		natLayer{source: "ClusterProfile " + string(m.Profile.Name), annotations: m.Settings().NATAnnotations},
		natLayer{source: "this NATGateway", annotations: gw.Annotations, tenant: true})
	limits := nat.Limits
	if len(nat.Problems) > 0 {
		if applied != nil && applied.Spec.MinPublicIPs != nil && applied.Spec.MaxPublicIPs != nil {
			limits = NATLimits{Min: *applied.Spec.MinPublicIPs, Max: *applied.Spec.MaxPublicIPs} // the last valid values stay in force
			if nat.OperatorValid {
				limits = limits.within(nat.Operator) // never beyond the operator's range
			}
			limits = limits.within(NATLimits{Min: 0, Max: nat.Ceiling}) // nor above a ceiling
		}
		recorder(m).Eventf(gw, nil, corev1.EventTypeWarning, "InvalidNATAutoscaling", DefaultEventActionApply,
			"%s; keeping min %d / max %d public IPs", joinProblems(nat.Problems), limits.Min, limits.Max)
	}
	refused := refusal{annotation: AnnotationNATRefused, reason: ReasonNATLimitRefused, text: joinProblems(nat.Refused)}
	reportRefused := refused.news(ctx, m, client.ObjectKeyFromObject(an), cachedAutoscaler, &apinetv1alpha1.NATGatewayAutoscaler{})
	if err := r.apply(ctx, m, apinetNATGatewayAutoscaler(m, gw, an, limits, refused), FieldManager); err != nil {
		return reconcile.Result{}, err
	}
	if reportRefused {
		refused.report(m, gw, fmt.Sprintf("min %d / max %d public IPs in force", limits.Min, limits.Max))
	}
	return reconcile.Result{}, PatchStatus(ctx, c, gw, func(gw *networkingv1alpha1.NATGateway) { gw.Status.IPs = natGatewayStatusIPs(an) })
}

// natGatewayImmutableChanges lists the fields of the apinet NATGateway in
// force (current) that desired would change and apinet does not allow to
// change (its update validation: spec.ipFamily, spec.networkRef). IronCore
// lets a user change ipFamily; networkRef changes when the IronCore Network
// was recreated under the same name (a new UID).
func natGatewayImmutableChanges(current, desired *apinetv1alpha1.NATGateway) []immutableChange {
	var out []immutableChange
	if current.Spec.IPFamily != desired.Spec.IPFamily {
		out = append(out, immutableChange{Field: "spec.ipFamily", Have: string(current.Spec.IPFamily), Want: string(desired.Spec.IPFamily)})
	}
	if current.Spec.NetworkRef != desired.Spec.NetworkRef {
		out = append(out, immutableChange{Field: "spec.networkRef.name", Have: current.Spec.NetworkRef.Name, Want: desired.Spec.NetworkRef.Name})
	}
	return out
}

// keepNATGatewayImmutable sets desired's immutable fields to current's, so
// that the rest of the change can be applied.
func keepNATGatewayImmutable(current, desired *apinetv1alpha1.NATGateway) {
	desired.Spec.IPFamily = current.Spec.IPFamily
	desired.Spec.NetworkRef = current.Spec.NetworkRef
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
// (as applied: its UID is the owner reference) within limits, with what the
// layering refused recorded (AnnotationNATRefused), so that each refusal is
// reported once.
func apinetNATGatewayAutoscaler(m *clusterprofiles.Member, gw *networkingv1alpha1.NATGateway, an *apinetv1alpha1.NATGateway, limits NATLimits, refused refusal) *apinetv1alpha1.NATGatewayAutoscaler {
	autoscaler := &apinetv1alpha1.NATGatewayAutoscaler{
		ObjectMeta: OriginNATGateway.ObjectMeta(m, gw, string(gw.UID)),
		Spec: apinetv1alpha1.NATGatewayAutoscalerSpec{
			NATGatewayRef: corev1.LocalObjectReference{Name: an.Name},
			MinPublicIPs:  ptr.To(limits.Min),
			MaxPublicIPs:  ptr.To(limits.Max),
		},
	}
	refused.record(autoscaler)
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

// within clamps l into the range r (r.Min <= r.Max): each bound moves to the
// nearest value of r, so a valid l stays valid.
func (l NATLimits) within(r NATLimits) NATLimits {
	return NATLimits{Min: min(max(l.Min, r.Min), r.Max), Max: min(max(l.Max, r.Min), r.Max)}
}

// natLayer is one layer of NAT limits: an operator's profile (a peer's, a
// member's) or, tenant, a NATGateway.
type natLayer struct {
	source      string
	annotations map[string]string
	// tenant marks a layer that may only narrow the range in force above
	// it: a value outside that range is refused and its bound applied. A
	// tenant layer sets no ceiling.
	tenant bool
}

// natResult is what natLimits made of the layers.
type natResult struct {
	// Limits are the limits in force.
	Limits NATLimits
	// Operator is the operator's range: the range in force above the first
	// tenant layer. OperatorValid is false if an operator's layer was
	// invalid (ignored), so Operator may be narrower than the operator
	// meant.
	Operator      NATLimits
	OperatorValid bool
	// Ceiling is the most public IPs any layer may ask for (math.MaxInt32
	// if no layer sets one); Limits never exceed it.
	Ceiling int32
	// Problems are invalid values; each one's layer is ignored.
	Problems []string
	// Refused are values above a ceiling or, of a tenant, outside the range
	// in force above them, in a stable order; the bound was applied
	// instead.
	Refused []string
}

// natKeys are the keys every layer reads: min, max. Operators' layers read
// the ceiling too.
var natKeys = []string{AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs, AnnotationNATPublicIPsCeiling}

// natLimits layers the hub's limits (its flags: a default range, no
// ceiling) and each layer's annotations, in order: the peer's profile, the
// member's profile, the NATGateway.
//
// An operator's layer (a profile) may set a ceiling, the most public IPs
// any NAT gateway below it gets: a lower layer may lower it but never raise
// it (a higher value is refused, the ceiling in force stays). Its min and
// max replace the default range in force, wider or narrower, as long as
// they stay under the ceiling in force (its own included): a value above
// it is refused and the ceiling applied instead; inherited defaults above a
// ceiling are clamped to it silently. So the defaults come from the most
// specific layer that sets them, clamped into the range its ceilings allow.
//
// A tenant's layer (the NATGateway) may only narrow the range in force: it
// may raise the minimum up to the maximum and lower the maximum down to the
// minimum; a value outside the range is clamped to the nearest bound and
// refused.
//
// An invalid value (not a number, negative, beyond int32, or a layer's
// min above its max) is reported in Problems and its layer's values are
// ignored.
func natLimits(hub NATLimits, layers ...natLayer) natResult {
	res := natResult{Limits: hub, Operator: hub, OperatorValid: true, Ceiling: math.MaxInt32}
	ceilingBy := ""
	tenantSeen := false
	for _, l := range layers {
		if l.tenant && !tenantSeen {
			tenantSeen, res.Operator = true, res.Limits
		}
		keys := natKeys
		if l.tenant {
			keys = natKeys[:2]
		}
		var asked [3]*int64 // min, max, ceiling as given
		ok := true
		for i, key := range keys {
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
		if !ok {
			if !l.tenant {
				res.OperatorValid = false
			}
			continue
		}
		if l.tenant {
			if asked[0] != nil && asked[1] != nil && *asked[0] > *asked[1] {
				res.Problems = append(res.Problems, fmt.Sprintf("%s: min %d > max %d public IPs", l.source, *asked[0], *asked[1]))
				continue
			}
			res.Limits = tenantLimits(&res, l, asked[:2])
			continue
		}
		// An operator: its ceiling first, then its defaults under it.
		ceiling, by := res.Ceiling, ceilingBy
		var refused []string
		if c := asked[2]; c != nil {
			if *c > int64(ceiling) {
				refused = append(refused, fmt.Sprintf("%s: %s=%d is above the ceiling of %d set by %s", l.source, natKeys[2], *c, ceiling, by))
			} else {
				ceiling, by = int32(*c), l.source
			}
		}
		next := res.Limits
		for i, bound := range []*int32{&next.Min, &next.Max} {
			if asked[i] == nil {
				continue
			}
			if n := *asked[i]; n > int64(ceiling) {
				refused = append(refused, fmt.Sprintf("%s: %s=%d is above the ceiling of %d set by %s", l.source, natKeys[i], n, ceiling, by))
				*bound = ceiling
			} else {
				*bound = int32(n)
			}
		}
		if next.Min > next.Max {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: min %d > max %d public IPs", l.source, next.Min, next.Max))
			res.OperatorValid = false
			continue
		}
		res.Refused = append(res.Refused, refused...)
		res.Ceiling, ceilingBy = ceiling, by
		res.Limits = next.within(NATLimits{Min: 0, Max: ceiling})
	}
	if !tenantSeen {
		res.Operator = res.Limits
	}
	return res
}

// tenantLimits clamps a tenant's valid values (min, max as asked) into the
// range in force, recording what it refuses; one value alone pairs with
// the range's other bound, so the result is a valid sub-range.
func tenantLimits(res *natResult, l natLayer, asked []*int64) NATLimits {
	bound, next := res.Limits, res.Limits
	for i, key := range natKeys[:2] {
		if asked[i] == nil {
			continue
		}
		n := *asked[i]
		switch {
		case n < int64(bound.Min):
			res.Refused = append(res.Refused, fmt.Sprintf("%s: %s=%d is below the operator's minimum of %d", l.source, key, n, bound.Min))
		case n > int64(bound.Max):
			res.Refused = append(res.Refused, fmt.Sprintf("%s: %s=%d is above the operator's maximum of %d", l.source, key, n, bound.Max))
		}
		v := int32(min(max(n, int64(bound.Min)), int64(bound.Max)))
		if i == 0 {
			next.Min = v
		} else {
			next.Max = v
		}
	}
	return next.within(bound)
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
