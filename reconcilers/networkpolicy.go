package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

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
	"sigs.k8s.io/controller-runtime/pkg/cluster"
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
// NetworkPolicies and computes their NetworkPolicyRules, which metalnetlet
// enforces. Unlike apinetlet, targets and NetworkInterface/LoadBalancer
// peers are selected by the labels of the IronCore objects (those the
// policy's author sees and writes selectors against), each mapped to the
// apinet object the hub made or claimed for it; apinet NICs carry only the
// machine provider's labels and the hub's origin metadata. Policies are
// computed again when a selected IronCore NIC or LoadBalancer changes, and
// when an apinet NIC (state, IPs) or LoadBalancer (IPs) of the member
// changes.
type networkPolicyReconciler struct{ reconciler }

func (r *networkPolicyReconciler) setupWithManager(mgr mcmanager.Manager) error {
	c, err := newController(mgr, paths[*networkingv1alpha1.NetworkPolicy]{
		reconciler: r.reconciler,
		controller: "networkpolicy",
		finalizer:  FinalizerNetworkPolicy,
		newObject:  func() *networkingv1alpha1.NetworkPolicy { return &networkingv1alpha1.NetworkPolicy{} },
		newList:    func() client.ObjectList { return &networkingv1alpha1.NetworkPolicyList{} },
		mapped:     policyApplied,
		leaveAlone: inNetworkMappedElsewhere("NetworkPolicy", func(o *networkingv1alpha1.NetworkPolicy) string { return o.Spec.NetworkRef.Name }),
		normal:     r.reconcileNormal,
		delete: deletesAPINetObjects[*networkingv1alpha1.NetworkPolicy](
			func() client.Object { return &apinetv1alpha1.NetworkPolicyRule{} },
			func() client.Object { return &apinetv1alpha1.NetworkPolicy{} }),
		gone: goneDeletes(OriginNetworkPolicy, func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyRuleList{} }, func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyList{} }),
	})
	if err != nil {
		return err
	}
	return errors.Join(
		c.watchMember(&networkingv1alpha1.Network{}, onNetwork(networkPoliciesOf)),
		c.watchMember(&networkingv1alpha1.NetworkInterface{}, policiesOfNIC),
		c.watchMember(&networkingv1alpha1.LoadBalancer{}, peersOfKindIn("LoadBalancer")),
		c.watchMember(&networkingv1alpha1.VirtualIP{}, peersOfKindIn("VirtualIP")),
		watchPeer(c, &apinetv1alpha1.Network{}, policiesOfAPINetNetwork),
		watchPeer(c, &apinetv1alpha1.NetworkPolicy{}, MapToOrigin[*apinetv1alpha1.NetworkPolicy](OriginNetworkPolicy)),
		watchPeer(c, &apinetv1alpha1.NetworkPolicyRule{}, MapToOrigin[*apinetv1alpha1.NetworkPolicyRule](OriginNetworkPolicy)),
		watchPeer(c, &apinetv1alpha1.NetworkInterface{}, policiesOfAPINetNIC),
		watchPeer(c, &apinetv1alpha1.LoadBalancer{}, policiesOfAPINetPeer[*apinetv1alpha1.LoadBalancer](OriginLoadBalancer, "LoadBalancer")),
		watchPeer(c, &apinetv1alpha1.IP{}, policiesOfAPINetPeer[*apinetv1alpha1.IP](OriginVirtualIP, "VirtualIP")),
	)
}

// networkPoliciesOf re-triggers the NetworkPolicies naming a Network.
var networkPoliciesOf = objectsOfNetwork(
	func() client.ObjectList { return &networkingv1alpha1.NetworkPolicyList{} },
	func(o client.Object) string { return o.(*networkingv1alpha1.NetworkPolicy).Spec.NetworkRef.Name })

// policiesOfNIC re-triggers the policies of an IronCore NIC's network: its
// labels select it as a target or a peer there.
func policiesOfNIC(ctx context.Context, cl cluster.Cluster, obj client.Object) []reconcile.Request {
	nic := obj.(*networkingv1alpha1.NetworkInterface)
	return networkPoliciesOf(ctx, cl.GetClient(), types.NamespacedName{Namespace: nic.Namespace, Name: nic.Spec.NetworkRef.Name})
}

// peersOfKindIn re-triggers the policies of an object's namespace that
// have peers of its kind (a LoadBalancer's or VirtualIP's labels select it
// as a peer).
func peersOfKindIn(kind string) func(context.Context, cluster.Cluster, client.Object) []reconcile.Request {
	return func(ctx context.Context, cl cluster.Cluster, obj client.Object) []reconcile.Request {
		return policiesWithPeersOfKind(ctx, cl.GetClient(), obj.GetNamespace(), kind)
	}
}

// policiesOfAPINetNetwork re-triggers the policies of the IronCore Network
// an apinet Network of the member stems from: the policy waits for it
// (NetworkPending), and its rule names the apinet Network's UID.
func policiesOfAPINetNetwork(ctx context.Context, m *clusterprofiles.Member, an *apinetv1alpha1.Network) []reconcile.Request {
	key, ok := OriginNetwork.Of(an)
	if !ok || !BelongsTo(m, an) {
		return nil
	}
	return networkPoliciesOf(ctx, m.GetClient(), key)
}

// policiesOfAPINetNIC maps an apinet NIC the member claimed to the
// policies of its IronCore NIC's network.
func policiesOfAPINetNIC(ctx context.Context, m *clusterprofiles.Member, an *apinetv1alpha1.NetworkInterface) []reconcile.Request {
	key, ok := OriginNetworkInterface.Of(an)
	if !ok || !BelongsTo(m, an) {
		return nil
	}
	nic := &networkingv1alpha1.NetworkInterface{}
	if err := m.GetClient().Get(ctx, key, nic); err != nil {
		return nil
	}
	return policiesOfNIC(ctx, m, nic)
}

// policiesOfAPINetPeer maps an apinet object of the member that a policy
// peer of kind resolves to (a LoadBalancer's or public IP's addresses) to
// the policies with such peers in its origin's namespace.
func policiesOfAPINetPeer[T client.Object](o Origin, kind string) func(context.Context, *clusterprofiles.Member, T) []reconcile.Request {
	return func(ctx context.Context, m *clusterprofiles.Member, an T) []reconcile.Request {
		key, ok := o.Of(an)
		if !ok || !BelongsTo(m, an) {
			return nil
		}
		return policiesWithPeersOfKind(ctx, m.GetClient(), key.Namespace, kind)
	}
}

func policiesWithPeersOfKind(ctx context.Context, c client.Reader, namespace, kind string) []reconcile.Request {
	list := &networkingv1alpha1.NetworkPolicyList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if peersOfKind(&list.Items[i], kind) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// peersOfKind reports whether a policy has peers of an object kind.
func peersOfKind(np *networkingv1alpha1.NetworkPolicy, kind string) bool {
	var peers []networkingv1alpha1.NetworkPolicyPeer
	for _, in := range np.Spec.Ingress {
		peers = append(peers, in.From...)
	}
	for _, out := range np.Spec.Egress {
		peers = append(peers, out.To...)
	}
	for _, p := range peers {
		if p.ObjectSelector != nil && p.ObjectSelector.Kind == kind {
			return true
		}
	}
	return false
}

func (r *networkPolicyReconciler) reconcileNormal(ctx context.Context, m *clusterprofiles.Member, np *networkingv1alpha1.NetworkPolicy) (reconcile.Result, error) {
	c := m.GetClient()
	report := func(status corev1.ConditionStatus, reason, message string) error {
		return PatchStatus(ctx, c, np, func(np *networkingv1alpha1.NetworkPolicy) { setPolicyCondition(np, status, reason, message) })
	}
	key := types.NamespacedName{Namespace: m.Peer.Namespace, Name: string(np.UID)}
	invalid := func(err error) (reconcile.Result, error) {
		// Found before anything is written: the rule written for an earlier
		// generation stays enforced, and the condition says which.
		message := fmt.Sprintf("%v; %s", err, r.stillEnforced(ctx, m, key))
		recorder(m).Eventf(np, nil, corev1.EventTypeWarning, "InvalidNetworkPolicy", DefaultEventActionApply, "%s", message)
		return reconcile.Result{}, report(corev1.ConditionFalse, "InvalidNetworkPolicy", message)
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
	objects, err := r.policyObjects(ctx, m, np)
	if err != nil {
		return reconcile.Result{}, err // transient (a List): retried, the condition stays as it is
	}
	spec, err := apinetPolicySpec(np, anNetwork.Name, objects)
	if err != nil {
		return invalid(err)
	}
	an := &apinetv1alpha1.NetworkPolicy{ObjectMeta: OriginNetworkPolicy.ObjectMeta(m, np, string(np.UID)), Spec: spec}
	rule, err := policyRule(OriginNetworkPolicy.ObjectMeta(m, np, string(np.UID)), np, an, anNetwork, objects)
	if err != nil {
		return invalid(err)
	}
	if err := r.apply(ctx, m, an, FieldManager); err != nil {
		return reconcile.Result{}, errors.Join(err, report(corev1.ConditionFalse, "ApplyFailed", err.Error()))
	}
	rule.OwnerReferences = []metav1.OwnerReference{controllerRef(an, "NetworkPolicy")} // an as applied: its UID
	if err := r.apply(ctx, m, rule, NetworkPolicyRuleFieldManager); err != nil {
		return reconcile.Result{}, errors.Join(err, report(corev1.ConditionFalse, "RuleApplyFailed", err.Error()))
	}
	return reconcile.Result{}, report(corev1.ConditionTrue, "Applied", ruleSummary(rule))
}

// ruleSummary says what a rule enforces, in the Applied condition.
func ruleSummary(rule *apinetv1alpha1.NetworkPolicyRule) string {
	return fmt.Sprintf("%d targets, %d ingress and %d egress rules", len(rule.Targets), len(rule.IngressRules), len(rule.EgressRules))
}

// stillEnforced says what stays enforced for a policy whose edit cannot be
// written: the rule in the peer's cache, or nothing. (IronCore does not
// count NetworkPolicy generations, so the rule cannot name the one it was
// computed for.)
func (r *networkPolicyReconciler) stillEnforced(ctx context.Context, m *clusterprofiles.Member, key types.NamespacedName) string {
	rule := &apinetv1alpha1.NetworkPolicyRule{}
	if err := m.Peer.GetClient().Get(ctx, key, rule); err != nil || !BelongsTo(m, rule) {
		return "no rule of this policy is enforced"
	}
	return fmt.Sprintf("the rule written before stays enforced (%s)", ruleSummary(rule))
}

// policyObjects are what a policy selects from: the IronCore NICs,
// LoadBalancers and VirtualIPs of its namespace, and the apinet NICs,
// LoadBalancers and IPs the member made or claimed for them.
type policyObjects struct {
	nics          []networkingv1alpha1.NetworkInterface
	loadBalancers []networkingv1alpha1.LoadBalancer
	virtualIPs    []networkingv1alpha1.VirtualIP
	// apinetNICs are by the UID of the IronCore NIC that claimed them.
	apinetNICs map[types.UID]*apinetv1alpha1.NetworkInterface
	// apinetLoadBalancers are by name (the IronCore LoadBalancer's UID).
	apinetLoadBalancers map[string]*apinetv1alpha1.LoadBalancer
	// apinetIPs are by name (the IronCore VirtualIP's UID).
	apinetIPs map[string]*apinetv1alpha1.IP
}

// policyObjects reads the policy's candidates from the member's and the
// peer's caches (LoadBalancers and VirtualIPs only for policies with such
// peers).
func (r *networkPolicyReconciler) policyObjects(ctx context.Context, m *clusterprofiles.Member, np *networkingv1alpha1.NetworkPolicy) (policyObjects, error) {
	out := policyObjects{
		apinetNICs:          map[types.UID]*apinetv1alpha1.NetworkInterface{},
		apinetLoadBalancers: map[string]*apinetv1alpha1.LoadBalancer{},
		apinetIPs:           map[string]*apinetv1alpha1.IP{},
	}
	nics := &networkingv1alpha1.NetworkInterfaceList{}
	if err := m.GetClient().List(ctx, nics, client.InNamespace(np.Namespace)); err != nil {
		return out, err
	}
	out.nics = nics.Items
	anNICs := &apinetv1alpha1.NetworkInterfaceList{}
	if err := m.Peer.GetClient().List(ctx, anNICs, client.InNamespace(m.Peer.Namespace),
		client.MatchingLabels{OriginNetworkInterface.NamespaceLabel(): np.Namespace}); err != nil {
		return out, err
	}
	for i := range anNICs.Items {
		an := &anNICs.Items[i]
		if uid := an.Labels[OriginNetworkInterface.UIDLabel()]; uid != "" && BelongsTo(m, an) {
			out.apinetNICs[types.UID(uid)] = an
		}
	}
	if peersOfKind(np, "LoadBalancer") {
		lbs := &networkingv1alpha1.LoadBalancerList{}
		if err := m.GetClient().List(ctx, lbs, client.InNamespace(np.Namespace)); err != nil {
			return out, err
		}
		out.loadBalancers = lbs.Items
		anLBs := &apinetv1alpha1.LoadBalancerList{}
		if err := m.Peer.GetClient().List(ctx, anLBs, client.InNamespace(m.Peer.Namespace),
			client.MatchingLabels{OriginLoadBalancer.NamespaceLabel(): np.Namespace}); err != nil {
			return out, err
		}
		for i := range anLBs.Items {
			if an := &anLBs.Items[i]; BelongsTo(m, an) {
				out.apinetLoadBalancers[an.Name] = an
			}
		}
	}
	if peersOfKind(np, "VirtualIP") {
		vips := &networkingv1alpha1.VirtualIPList{}
		if err := m.GetClient().List(ctx, vips, client.InNamespace(np.Namespace)); err != nil {
			return out, err
		}
		out.virtualIPs = vips.Items
		ips := &apinetv1alpha1.IPList{}
		if err := m.Peer.GetClient().List(ctx, ips, client.InNamespace(m.Peer.Namespace),
			client.MatchingLabels{OriginVirtualIP.NamespaceLabel(): np.Namespace}); err != nil {
			return out, err
		}
		for i := range ips.Items {
			if ip := &ips.Items[i]; BelongsTo(m, ip) {
				out.apinetIPs[ip.Name] = ip
			}
		}
	}
	return out, nil
}

// virtualIPAddrs are the addresses of the VirtualIPs of the policy's
// namespace whose labels match selector: those of the public apinet IPs the
// member made for them, sorted.
func (o policyObjects) virtualIPAddrs(selector metav1.LabelSelector) ([]netip.Addr, error) {
	sel, err := metav1.LabelSelectorAsSelector(&selector)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for i := range o.virtualIPs {
		vip := &o.virtualIPs[i]
		if ip := o.apinetIPs[string(vip.UID)]; ip != nil && sel.Matches(labels.Set(vip.Labels)) && OriginVirtualIP.StemsFrom(ip, vip) && ip.Spec.IP.IsValid() {
			out = append(out, ip.Spec.IP.Addr)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// policyRule computes the NetworkPolicyRule (metadata meta, without the
// owner reference: the caller adds it once the policy an is applied) of the
// apinet policy an on anNetwork, in the form metalnetlet enforces. Targets
// are the IronCore NICs of the policy's network whose labels match its
// selector, one entry per IP of their Ready apinet NIC; a NetworkInterface
// peer adds the IPs of the matching NICs of that network (Ready apinet
// NICs), a LoadBalancer peer the allocated IPs of the matching
// LoadBalancers of that network (another network's private addresses mean
// nothing here); VirtualIP peers are in an's spec as their addresses. A
// rule without ports allows every TCP and UDP port and a rule without peers
// every address (IronCore: "empty matches all"; metalnetlet enforces
// nothing for either). NICs and load balancers are in the order of their
// apinet names, so an unchanged selection writes an unchanged rule. An
// error is the policy's own (a selector that does not parse, an
// unsupported peer kind).
func policyRule(meta metav1.ObjectMeta, np *networkingv1alpha1.NetworkPolicy, an *apinetv1alpha1.NetworkPolicy, anNetwork *apinetv1alpha1.Network, objects policyObjects) (*apinetv1alpha1.NetworkPolicyRule, error) {
	readyNICs := func(selector metav1.LabelSelector) ([]*apinetv1alpha1.NetworkInterface, error) {
		sel, err := metav1.LabelSelectorAsSelector(&selector)
		if err != nil {
			return nil, err
		}
		var out []*apinetv1alpha1.NetworkInterface
		for i := range objects.nics {
			nic := &objects.nics[i]
			if nic.Spec.NetworkRef.Name != np.Spec.NetworkRef.Name || !sel.Matches(labels.Set(nic.Labels)) {
				continue
			}
			if a := claimedAPINetNIC(nic, objects.apinetNICs); a != nil && a.Spec.NetworkRef.Name == anNetwork.Name && a.Status.State == apinetv1alpha1.NetworkInterfaceStateReady {
				out = append(out, a)
			}
		}
		slices.SortFunc(out, func(a, b *apinetv1alpha1.NetworkInterface) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	}
	loadBalancers := func(selector metav1.LabelSelector) ([]*apinetv1alpha1.LoadBalancer, error) {
		sel, err := metav1.LabelSelectorAsSelector(&selector)
		if err != nil {
			return nil, err
		}
		var out []*apinetv1alpha1.LoadBalancer
		for i := range objects.loadBalancers {
			lb := &objects.loadBalancers[i]
			if lb.Spec.NetworkRef.Name != np.Spec.NetworkRef.Name || !sel.Matches(labels.Set(lb.Labels)) {
				continue
			}
			if a := objects.apinetLoadBalancers[string(lb.UID)]; a != nil && OriginLoadBalancer.StemsFrom(a, lb) && a.Spec.NetworkRef.Name == anNetwork.Name {
				out = append(out, a)
			}
		}
		slices.SortFunc(out, func(a, b *apinetv1alpha1.LoadBalancer) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	}
	targetNICs, err := readyNICs(an.Spec.NetworkInterfaceSelector)
	if err != nil {
		return nil, fmt.Errorf("networkInterfaceSelector: %w", err)
	}
	targets := []apinetv1alpha1.TargetNetworkInterface{}
	for _, nic := range targetNICs {
		for _, ip := range nic.Spec.IPs {
			targets = append(targets, apinetv1alpha1.TargetNetworkInterface{IP: ip, TargetRef: &apinetv1alpha1.LocalUIDReference{Name: nic.Name, UID: nic.UID}})
		}
	}
	toRule := func(ports []apinetv1alpha1.NetworkPolicyPort, peers []apinetv1alpha1.NetworkPolicyPeer) (apinetv1alpha1.Rule, error) {
		if len(ports) == 0 {
			ports = allPorts()
		}
		if len(peers) == 0 {
			peers = allAddresses()
		}
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
				nics, err := readyNICs(p.ObjectSelector.LabelSelector)
				if err != nil {
					return rule, fmt.Errorf("NetworkInterface peer: %w", err)
				}
				for _, nic := range nics {
					for _, ip := range nic.Spec.IPs {
						rule.ObjectIPs = append(rule.ObjectIPs, objectIP(ip.Addr))
					}
				}
			case "LoadBalancer":
				lbs, err := loadBalancers(p.ObjectSelector.LabelSelector)
				if err != nil {
					return rule, fmt.Errorf("LoadBalancer peer: %w", err)
				}
				for _, lb := range lbs {
					for _, ip := range lb.Spec.IPs {
						if ip.IP.IsValid() {
							rule.ObjectIPs = append(rule.ObjectIPs, objectIP(ip.IP.Addr))
						}
					}
				}
			default:
				return rule, fmt.Errorf("peers of kind %q are not supported (NetworkInterface, LoadBalancer, VirtualIP)", p.ObjectSelector.Kind)
			}
		}
		return rule, nil
	}
	rule := &apinetv1alpha1.NetworkPolicyRule{
		ObjectMeta: meta,
		NetworkRef: apinetv1alpha1.LocalUIDReference{Name: anNetwork.Name, UID: anNetwork.UID},
		Targets:    targets,
		Priority:   an.Spec.Priority,
	}
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

// allPorts is "every port" in the form metalnetlet enforces: it makes one
// firewall rule per port entry, and an entry without a port number matches
// every port of its protocol. Ports exist for TCP and UDP only there
// (metalnetlet has no ICMP in its rule format, and SCTP is refused).
func allPorts() []apinetv1alpha1.NetworkPolicyPort {
	return []apinetv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP)}, {Protocol: ptr.To(corev1.ProtocolUDP)}}
}

// allAddresses is "every peer" as metalnetlet enforces it: a firewall rule
// per CIDR block, so both families' whole ranges.
func allAddresses() []apinetv1alpha1.NetworkPolicyPeer {
	return []apinetv1alpha1.NetworkPolicyPeer{
		{IPBlock: &apinetv1alpha1.IPBlock{CIDR: apinetnet.MustParseIPPrefix("0.0.0.0/0")}},
		{IPBlock: &apinetv1alpha1.IPBlock{CIDR: apinetnet.MustParseIPPrefix("::/0")}},
	}
}

// claimedAPINetNIC is the apinet NIC an IronCore NIC claimed: the one its
// origin names, and, when the NIC has a provider ID, the one that ID names
// (a provider ID that does not parse names none).
func claimedAPINetNIC(nic *networkingv1alpha1.NetworkInterface, byOrigin map[types.UID]*apinetv1alpha1.NetworkInterface) *apinetv1alpha1.NetworkInterface {
	an := byOrigin[nic.UID]
	if an == nil {
		return nil
	}
	if nic.Spec.ProviderID == "" {
		return an
	}
	// A provider ID that names another apinet NIC, or does not parse: the
	// NIC reconciler releases this one.
	if id, err := ParseNetworkInterfaceID(nic.Spec.ProviderID); err != nil || id.UID != an.UID || id.Name != an.Name {
		return nil
	}
	return an
}

func objectIP(addr netip.Addr) apinetv1alpha1.ObjectIP {
	family := ipFamily(addr.Is4())
	return apinetv1alpha1.ObjectIP{IPFamily: family, Prefix: apinetnet.IPPrefix{Prefix: netip.PrefixFrom(addr, addr.BitLen())}}
}

// apinetPolicySpec maps an IronCore NetworkPolicy to the apinet spec
// (priority 1000, as apinetlet). apinet knows no VirtualIP peers: they are
// written as the addresses of the VirtualIPs they select (objects), and a
// rule whose peers all are VirtualIPs without an address, which allows
// nothing, is left out (an empty peer list would allow every address).
func apinetPolicySpec(np *networkingv1alpha1.NetworkPolicy, networkName string, objects policyObjects) (apinetv1alpha1.NetworkPolicySpec, error) {
	spec := apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: networkName},
		NetworkInterfaceSelector: *np.Spec.NetworkInterfaceSelector.DeepCopy(),
		Priority:                 ptr.To(networkPolicyPriority),
	}
	for i, in := range np.Spec.Ingress {
		peers, ports, err := apinetRule(in.From, in.Ports, objects)
		if err != nil {
			return spec, fmt.Errorf("ingress[%d]: %w", i, err)
		}
		if len(in.From) == 0 || len(peers) > 0 {
			spec.Ingress = append(spec.Ingress, apinetv1alpha1.NetworkPolicyIngressRule{From: peers, Ports: ports})
		}
	}
	for i, out := range np.Spec.Egress {
		peers, ports, err := apinetRule(out.To, out.Ports, objects)
		if err != nil {
			return spec, fmt.Errorf("egress[%d]: %w", i, err)
		}
		if len(out.To) == 0 || len(peers) > 0 {
			spec.Egress = append(spec.Egress, apinetv1alpha1.NetworkPolicyEgressRule{To: peers, Ports: ports})
		}
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

// apinetRule maps the peers and ports of one IronCore rule.
func apinetRule(peers []networkingv1alpha1.NetworkPolicyPeer, ports []networkingv1alpha1.NetworkPolicyPort, objects policyObjects) ([]apinetv1alpha1.NetworkPolicyPeer, []apinetv1alpha1.NetworkPolicyPort, error) {
	anPeers, err := apinetPeers(peers, objects)
	if err != nil {
		return nil, nil, err
	}
	anPorts, err := apinetPorts(ports)
	if err != nil {
		return nil, nil, err
	}
	return anPeers, anPorts, nil
}

// apinetPeers maps a rule's peers; a VirtualIP peer becomes one /32 (/128)
// block per address of the VirtualIPs it selects.
func apinetPeers(in []networkingv1alpha1.NetworkPolicyPeer, objects policyObjects) ([]apinetv1alpha1.NetworkPolicyPeer, error) {
	var out []apinetv1alpha1.NetworkPolicyPeer
	for _, p := range in {
		if s := p.ObjectSelector; s != nil && s.Kind == "VirtualIP" {
			addrs, err := objects.virtualIPAddrs(s.LabelSelector)
			if err != nil {
				return nil, fmt.Errorf("VirtualIP peer: %w", err)
			}
			for _, addr := range addrs {
				out = append(out, apinetv1alpha1.NetworkPolicyPeer{IPBlock: &apinetv1alpha1.IPBlock{CIDR: apinetnet.IPPrefix{Prefix: netip.PrefixFrom(addr, addr.BitLen())}}})
			}
			continue
		}
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
	return out, nil
}

// apinetPorts maps a rule's ports. A port without a protocol means TCP, as
// in Kubernetes NetworkPolicy and as apinet documents it, and is written so:
// IronCore does not default it, and metalnetlet dereferences the protocol of
// every port of a rule (a nil one breaks every reconcile of the target NICs).
// SCTP is refused: metalnetlet writes no protocol for it, which metalnet
// dereferences in turn.
func apinetPorts(in []networkingv1alpha1.NetworkPolicyPort) ([]apinetv1alpha1.NetworkPolicyPort, error) {
	var out []apinetv1alpha1.NetworkPolicyPort
	for _, p := range in {
		protocol := p.Protocol
		if protocol == nil {
			protocol = ptr.To(corev1.ProtocolTCP)
		}
		if *protocol != corev1.ProtocolTCP && *protocol != corev1.ProtocolUDP {
			return nil, fmt.Errorf("port %d: protocol %s cannot be enforced (metalnet's firewall matches TCP and UDP)", p.Port, *protocol)
		}
		out = append(out, apinetv1alpha1.NetworkPolicyPort{Protocol: ptr.To(*protocol), Port: p.Port, EndPort: p.EndPort})
	}
	return out, nil
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
