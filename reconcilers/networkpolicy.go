package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// FinalizerNetworkPolicy is apinetlet's finalizer on IronCore NetworkPolicies.
const FinalizerNetworkPolicy = "apinet.ironcore.dev/networkpolicy"

// ConditionApplied is the condition the hub reports on IronCore
// NetworkPolicies (apinetlet never writes any).
const ConditionApplied networkingv1alpha1.NetworkPolicyConditionType = "Applied"

// networkPolicyPriority is apinetlet's constant priority (IronCore has none).
const networkPolicyPriority int32 = 1000

// networkPolicyReconciler maps IronCore NetworkPolicies to apinet
// NetworkPolicies and computes their NetworkPolicyRules (targets and peer
// object IPs from Ready apinet NICs), as apinetlet does. Unlike apinetlet,
// apinet NIC changes map back to the policies through origin metadata, so
// rules refresh when a NIC becomes Ready, changes labels or IPs, or goes.
type networkPolicyReconciler struct{ reconciler }

func (r *networkPolicyReconciler) setupWithManager(mgr mcmanager.Manager) error {
	c, err := newController(mgr, r.topology, "networkpolicy", &networkingv1alpha1.NetworkPolicy{}, func() client.ObjectList { return &networkingv1alpha1.NetworkPolicyList{} }, r.opts,
		paths[*networkingv1alpha1.NetworkPolicy]{
			reconciler: r.reconciler,
			controller: "networkpolicy",
			mapped:     policyApplied,
			newObject:  func() *networkingv1alpha1.NetworkPolicy { return &networkingv1alpha1.NetworkPolicy{} },
			normal:     r.reconcileNormal,
			delete:     r.reconcileDelete,
			gone:       goneDeletes(OriginNetworkPolicy, func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyRuleList{} }, func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyList{} }),
		})
	if err != nil {
		return err
	}
	return errors.Join(
		c.watchMember(&networkingv1alpha1.Network{}, onNetwork(networkPoliciesOf)),
		watchPeer(c, &apinetv1alpha1.NetworkPolicy{}, MapToOrigin[*apinetv1alpha1.NetworkPolicy](OriginNetworkPolicy)),
		watchPeer(c, &apinetv1alpha1.NetworkPolicyRule{}, MapToOrigin[*apinetv1alpha1.NetworkPolicyRule](OriginNetworkPolicy)),
		watchPeer(c, &apinetv1alpha1.NetworkInterface{}, policiesOfAPINetNIC),
		watchPeer(c, &apinetv1alpha1.LoadBalancer{}, policiesOfAPINetObject(func(lb *apinetv1alpha1.LoadBalancer) string { return lb.Spec.NetworkRef.Name })),
	)
}

// networkPoliciesOf re-triggers the NetworkPolicies naming a Network.
var networkPoliciesOf = objectsOfNetwork(
	func() client.ObjectList { return &networkingv1alpha1.NetworkPolicyList{} },
	func(o client.Object) string { return o.(*networkingv1alpha1.NetworkPolicy).Spec.NetworkRef.Name })

var policiesOfAPINetNIC = policiesOfAPINetObject(func(nic *apinetv1alpha1.NetworkInterface) string { return nic.Spec.NetworkRef.Name })

// policiesOfAPINetObject maps an apinet object on a network (NIC, load
// balancer) to the IronCore NetworkPolicies of that network: the apinet
// network's origin names the IronCore Network.
func policiesOfAPINetObject[T client.Object](networkOf func(T) string) func(context.Context, *clusterprofiles.Member, T) []reconcile.Request {
	return func(ctx context.Context, m *clusterprofiles.Member, obj T) []reconcile.Request {
		an := &apinetv1alpha1.Network{}
		if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: m.Peer.Namespace, Name: networkOf(obj)}, an); err != nil {
			return nil
		}
		network, ok := OriginNetwork.Of(an)
		if !ok || !BelongsTo(m, an) {
			return nil
		}
		return networkPoliciesOf(ctx, m.GetClient(), network)
	}
}

func (r *networkPolicyReconciler) reconcileDelete(ctx context.Context, m *clusterprofiles.Member, np *networkingv1alpha1.NetworkPolicy) (reconcile.Result, error) {
	for _, an := range []client.Object{&apinetv1alpha1.NetworkPolicyRule{}, &apinetv1alpha1.NetworkPolicy{}} {
		an.SetNamespace(m.Peer.Namespace)
		an.SetName(string(np.UID))
		if err := m.Peer.GetClient().Delete(ctx, an); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, RemoveFinalizer(ctx, m.GetClient(), np, FinalizerNetworkPolicy)
}

func (r *networkPolicyReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, np *networkingv1alpha1.NetworkPolicy) (reconcile.Result, error) {
	c := m.GetClient()
	if err := EnsureFinalizer(ctx, c, np, FinalizerNetworkPolicy); err != nil {
		return reconcile.Result{}, err
	}
	report := func(status corev1.ConditionStatus, reason, message string) error {
		return PatchStatus(ctx, c, np, func(np *networkingv1alpha1.NetworkPolicy) { setPolicyCondition(np, status, reason, message) })
	}
	network, err := networkOf(ctx, c, np.Namespace, np.Spec.NetworkRef.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if network == nil {
		return reconcile.Result{}, report(corev1.ConditionFalse, "NetworkNotFound", fmt.Sprintf("Network %s does not exist", np.Spec.NetworkRef.Name))
	}
	anNetwork := &apinetv1alpha1.Network{}
	if err := m.Peer.GetClient().Get(ctx, types.NamespacedName{Namespace: m.Peer.Namespace, Name: string(network.UID)}, anNetwork); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, report(corev1.ConditionFalse, "NetworkPending", "the apinet network is not created yet")
		}
		return reconcile.Result{}, err
	}
	spec, err := apinetPolicySpec(np, string(network.UID))
	if err != nil {
		recorder(m).Eventf(np, nil, corev1.EventTypeWarning, "InvalidNetworkPolicy", DefaultEventActionApply, "%v", err)
		return reconcile.Result{}, report(corev1.ConditionFalse, "InvalidNetworkPolicy", err.Error())
	}
	an := &apinetv1alpha1.NetworkPolicy{ObjectMeta: OriginNetworkPolicy.ObjectMeta(m, np, string(np.UID)), Spec: spec}
	if err := r.apply(ctx, m, an, FieldManager); err != nil {
		recorder(m).Eventf(np, nil, corev1.EventTypeWarning, "APINetNetworkPolicyFailed", DefaultEventActionApply, "apinet peer %s: %v", m.Peer.Name, err)
		return reconcile.Result{}, errors.Join(err, report(corev1.ConditionFalse, "ApplyFailed", err.Error()))
	}

	rule, err := r.rule(ctx, m, np, an, anNetwork)
	if err != nil {
		if errors.As(err, new(invalidPolicy)) {
			recorder(m).Eventf(np, nil, corev1.EventTypeWarning, "InvalidNetworkPolicy", DefaultEventActionApply, "%v", err)
			return reconcile.Result{}, report(corev1.ConditionFalse, "InvalidNetworkPolicy", err.Error())
		}
		return reconcile.Result{}, err // transient (a List): retried, the condition stays as it is
	}
	if err := r.apply(ctx, m, rule, NetworkPolicyRuleFieldManager); err != nil {
		recorder(m).Eventf(np, nil, corev1.EventTypeWarning, "APINetNetworkPolicyRuleFailed", DefaultEventActionApply, "apinet peer %s: %v", m.Peer.Name, err)
		return reconcile.Result{}, errors.Join(err, report(corev1.ConditionFalse, "RuleApplyFailed", err.Error()))
	}
	return reconcile.Result{}, report(corev1.ConditionTrue, "Applied",
		fmt.Sprintf("%d targets, %d ingress and %d egress rules", len(rule.Targets), len(rule.IngressRules), len(rule.EgressRules)))
}

// invalidPolicy is an error of the policy itself (a selector that does not
// parse, an unsupported peer kind): reported as InvalidNetworkPolicy and not
// retried until the policy changes, unlike an error reaching the peer.
type invalidPolicy struct{ error }

func (e invalidPolicy) Unwrap() error { return e.error }

// rule computes the NetworkPolicyRule: targets are the Ready NICs the
// policy selects on its network, rule object IPs the Ready NICs (same
// network) or load balancers the peers select.
func (r *networkPolicyReconciler) rule(ctx context.Context, m *clusterprofiles.Member, np *networkingv1alpha1.NetworkPolicy, an *apinetv1alpha1.NetworkPolicy, anNetwork *apinetv1alpha1.Network) (*apinetv1alpha1.NetworkPolicyRule, error) {
	nics := &apinetv1alpha1.NetworkInterfaceList{}
	if err := m.Peer.GetClient().List(ctx, nics, client.InNamespace(m.Peer.Namespace)); err != nil {
		return nil, err
	}
	lbs := &apinetv1alpha1.LoadBalancerList{}
	if err := m.Peer.GetClient().List(ctx, lbs, client.InNamespace(m.Peer.Namespace)); err != nil {
		return nil, err
	}
	readyNICs := func(selector metav1.LabelSelector) ([]apinetv1alpha1.NetworkInterface, error) {
		sel, err := metav1.LabelSelectorAsSelector(&selector)
		if err != nil {
			return nil, invalidPolicy{err}
		}
		var out []apinetv1alpha1.NetworkInterface
		for _, nic := range nics.Items {
			if nic.Spec.NetworkRef.Name == anNetwork.Name && nic.Status.State == apinetv1alpha1.NetworkInterfaceStateReady && sel.Matches(labels.Set(nic.Labels)) {
				out = append(out, nic)
			}
		}
		return out, nil
	}
	targetNICs, err := readyNICs(an.Spec.NetworkInterfaceSelector)
	if err != nil {
		return nil, err
	}
	targets := []apinetv1alpha1.TargetNetworkInterface{}
	for _, nic := range targetNICs {
		for _, ip := range nic.Spec.IPs {
			targets = append(targets, apinetv1alpha1.TargetNetworkInterface{IP: ip, TargetRef: &apinetv1alpha1.LocalUIDReference{Name: nic.Name, UID: nic.UID}})
		}
	}
	toRule := func(ports []apinetv1alpha1.NetworkPolicyPort, peers []apinetv1alpha1.NetworkPolicyPeer) (apinetv1alpha1.Rule, error) {
		rule := apinetv1alpha1.Rule{NetworkPolicyPorts: ports}
		for _, p := range peers {
			if p.IPBlock != nil {
				rule.CIDRBlock = append(rule.CIDRBlock, *p.IPBlock)
			}
			if p.ObjectSelector == nil {
				continue
			}
			switch p.ObjectSelector.Kind {
			case "NetworkInterface":
				peerNICs, err := readyNICs(p.ObjectSelector.LabelSelector)
				if err != nil {
					return rule, err
				}
				for _, nic := range peerNICs {
					for _, ip := range nic.Spec.IPs {
						rule.ObjectIPs = append(rule.ObjectIPs, objectIP(ip.Addr))
					}
				}
			case "LoadBalancer":
				sel, err := metav1.LabelSelectorAsSelector(&p.ObjectSelector.LabelSelector)
				if err != nil {
					return rule, invalidPolicy{err}
				}
				for _, lb := range lbs.Items {
					if !sel.Matches(labels.Set(lb.Labels)) {
						continue
					}
					for _, ip := range lb.Spec.IPs {
						if ip.IP.IsValid() {
							rule.ObjectIPs = append(rule.ObjectIPs, objectIP(ip.IP.Addr))
						}
					}
				}
			default:
				return rule, invalidPolicy{fmt.Errorf("peers of kind %q are not supported (NetworkInterface, LoadBalancer)", p.ObjectSelector.Kind)}
			}
		}
		return rule, nil
	}
	rule := &apinetv1alpha1.NetworkPolicyRule{
		ObjectMeta: OriginNetworkPolicy.ObjectMeta(m, np, string(np.UID)),
		NetworkRef: apinetv1alpha1.LocalUIDReference{Name: anNetwork.Name, UID: anNetwork.UID},
		Targets:    targets,
		Priority:   an.Spec.Priority,
	}
	rule.OwnerReferences = []metav1.OwnerReference{controllerRef(an, "NetworkPolicy")}
	for _, in := range an.Spec.Ingress {
		r, err := toRule(in.Ports, in.From)
		if err != nil {
			return nil, err
		}
		rule.IngressRules = append(rule.IngressRules, r)
	}
	for _, out := range an.Spec.Egress {
		r, err := toRule(out.Ports, out.To)
		if err != nil {
			return nil, err
		}
		rule.EgressRules = append(rule.EgressRules, r)
	}
	return rule, nil
}

func objectIP(addr netip.Addr) apinetv1alpha1.ObjectIP {
	family := ipFamily(addr.Is4())
	return apinetv1alpha1.ObjectIP{IPFamily: family, Prefix: apinetnet.IPPrefix{Prefix: netip.PrefixFrom(addr, addr.BitLen())}}
}

// apinetPolicySpec maps an IronCore NetworkPolicy to the apinet spec
// (priority 1000, as apinetlet).
func apinetPolicySpec(np *networkingv1alpha1.NetworkPolicy, networkName string) (apinetv1alpha1.NetworkPolicySpec, error) {
	spec := apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: networkName},
		NetworkInterfaceSelector: *np.Spec.NetworkInterfaceSelector.DeepCopy(),
		Priority:                 ptr.To(networkPolicyPriority),
	}
	for _, in := range np.Spec.Ingress {
		spec.Ingress = append(spec.Ingress, apinetv1alpha1.NetworkPolicyIngressRule{From: apinetPeers(in.From), Ports: apinetPorts(in.Ports)})
	}
	for _, out := range np.Spec.Egress {
		spec.Egress = append(spec.Egress, apinetv1alpha1.NetworkPolicyEgressRule{To: apinetPeers(out.To), Ports: apinetPorts(out.Ports)})
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1alpha1.PolicyTypeIngress:
			spec.PolicyTypes = append(spec.PolicyTypes, apinetv1alpha1.PolicyTypeIngress)
		case networkingv1alpha1.PolicyTypeEgress:
			spec.PolicyTypes = append(spec.PolicyTypes, apinetv1alpha1.PolicyTypeEgress)
		default:
			return spec, fmt.Errorf("unknown policy type %q", t)
		}
	}
	return spec, nil
}

func apinetPeers(in []networkingv1alpha1.NetworkPolicyPeer) []apinetv1alpha1.NetworkPolicyPeer {
	var out []apinetv1alpha1.NetworkPolicyPeer
	for _, p := range in {
		var peer apinetv1alpha1.NetworkPolicyPeer
		if s := p.ObjectSelector; s != nil {
			peer.ObjectSelector = &apinetv1alpha1.ObjectSelector{Kind: s.Kind, LabelSelector: *s.LabelSelector.DeepCopy()}
		}
		if b := p.IPBlock; b != nil {
			block := &apinetv1alpha1.IPBlock{CIDR: apinetnet.IPPrefix{Prefix: b.CIDR.Prefix}}
			for _, e := range b.Except {
				block.Except = append(block.Except, apinetnet.IPPrefix{Prefix: e.Prefix})
			}
			peer.IPBlock = block
		}
		out = append(out, peer)
	}
	return out
}

func apinetPorts(in []networkingv1alpha1.NetworkPolicyPort) []apinetv1alpha1.NetworkPolicyPort {
	var out []apinetv1alpha1.NetworkPolicyPort
	for _, p := range in {
		out = append(out, apinetv1alpha1.NetworkPolicyPort{Protocol: p.Protocol, Port: p.Port, EndPort: p.EndPort})
	}
	return out
}

func setPolicyCondition(np *networkingv1alpha1.NetworkPolicy, status corev1.ConditionStatus, reason, message string) {
	for i := range np.Status.Conditions {
		c := &np.Status.Conditions[i]
		if c.Type != ConditionApplied {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.Now()
		}
		c.Status, c.Reason, c.Message, c.ObservedGeneration = status, reason, message, np.Generation
		return
	}
	np.Status.Conditions = append(np.Status.Conditions, networkingv1alpha1.NetworkPolicyCondition{
		Type: ConditionApplied, Status: status, Reason: reason, Message: message,
		ObservedGeneration: np.Generation, LastTransitionTime: metav1.Now(),
	})
}

// policyApplied reports whether the hub's Applied condition is true.
func policyApplied(np *networkingv1alpha1.NetworkPolicy) bool {
	for _, c := range np.Status.Conditions {
		if c.Type == ConditionApplied {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
