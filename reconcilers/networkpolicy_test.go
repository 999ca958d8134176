package reconcilers_test

import (
	"context"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	corev1alpha1 "github.com/ironcore-dev/ironcore/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// readyNIC creates an apinet NIC with labels and, if ready, the Ready state
// a metalnetlet reports.
func readyNIC(ctx context.Context, name string, an *apinetv1alpha1.Network, ip string, labels map[string]string, ready bool) *apinetv1alpha1.NetworkInterface {
	GinkgoHelper()
	nic := &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: an.Namespace, Name: name, Labels: labels},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{
			NodeRef: corev1.LocalObjectReference{Name: "node-1"}, NetworkRef: corev1.LocalObjectReference{Name: an.Name},
			IPs: []apinetnet.IP{apinetnet.MustParseIP(ip)},
		},
	}
	Expect(peer().Create(ctx, nic)).To(Succeed())
	if ready {
		nic.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
		Expect(peer().Status().Update(ctx, nic)).To(Succeed())
	}
	return nic
}

func prefix32(ip string) apinetv1alpha1.ObjectIP {
	return apinetv1alpha1.ObjectIP{IPFamily: corev1.IPv4Protocol, Prefix: apinetnet.MustParseIPPrefix(ip + "/32")}
}

var _ = Describe("NetworkPolicy", func() {
	It("maps the policy and computes its rule from Ready apinet NICs, refreshing targets as NICs become Ready", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		anNetwork := apinetNetworkOf(ctx, "ironcore-1", nw)
		readyNIC(ctx, "np-ingress", anNetwork, "10.0.0.10", map[string]string{"rule": "ingress"}, true)
		readyNIC(ctx, "np-egress", anNetwork, "10.0.0.20", map[string]string{"rule": "egress"}, true)
		readyNIC(ctx, "np-ingress-not-ready", anNetwork, "10.0.0.11", map[string]string{"rule": "ingress"}, false)

		np := &networkingv1alpha1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy"},
			Spec: networkingv1alpha1.NetworkPolicySpec{
				NetworkRef:               corev1.LocalObjectReference{Name: "net"},
				NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "target"}},
				PolicyTypes:              []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress, networkingv1alpha1.PolicyTypeEgress},
				Ingress: []networkingv1alpha1.NetworkPolicyIngressRule{{
					Ports: []networkingv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
					From: []networkingv1alpha1.NetworkPolicyPeer{
						{ObjectSelector: &corev1alpha1.ObjectSelector{Kind: "NetworkInterface", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"rule": "ingress"}}}},
						{IPBlock: &networkingv1alpha1.IPBlock{CIDR: commonv1alpha1.MustParseIPPrefix("192.168.0.0/16"), Except: []commonv1alpha1.IPPrefix{commonv1alpha1.MustParseIPPrefix("192.168.1.0/24")}}},
					},
				}},
				Egress: []networkingv1alpha1.NetworkPolicyEgressRule{{
					Ports: []networkingv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}},
					To:    []networkingv1alpha1.NetworkPolicyPeer{{ObjectSelector: &corev1alpha1.ObjectSelector{Kind: "NetworkInterface", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"rule": "egress"}}}}},
				}},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, np)).To(Succeed())

		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(np.UID)}
		anNP, rule := &apinetv1alpha1.NetworkPolicy{}, &apinetv1alpha1.NetworkPolicyRule{}
		Eventually(func() error { return peer().Get(ctx, key, rule) }).Should(Succeed())
		Expect(peer().Get(ctx, key, anNP)).To(Succeed())
		Expect(anNP.Spec.Priority).To(Equal(ptr.To[int32](1000)))
		Expect(anNP.Spec.NetworkRef.Name).To(Equal(anNetwork.Name))
		Expect(anNP.Spec.NetworkInterfaceSelector.MatchLabels).To(Equal(map[string]string{"app": "target"}))
		Expect(anNP.Spec.PolicyTypes).To(ConsistOf(apinetv1alpha1.PolicyTypeIngress, apinetv1alpha1.PolicyTypeEgress))
		Expect(anNP.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/networkpolicy-uid", string(np.UID)))

		Expect(metav1.IsControlledBy(rule, anNP)).To(BeTrue())
		Expect(rule.NetworkRef).To(Equal(apinetv1alpha1.LocalUIDReference{Name: anNetwork.Name, UID: anNetwork.UID}))
		Expect(rule.Priority).To(Equal(ptr.To[int32](1000)))
		Expect(rule.Targets).To(BeEmpty())
		Expect(rule.IngressRules).To(Equal([]apinetv1alpha1.Rule{{
			NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
			CIDRBlock:          []apinetv1alpha1.IPBlock{{CIDR: apinetnet.MustParseIPPrefix("192.168.0.0/16"), Except: []apinetnet.IPPrefix{apinetnet.MustParseIPPrefix("192.168.1.0/24")}}},
			ObjectIPs:          []apinetv1alpha1.ObjectIP{prefix32("10.0.0.10")},
		}}), "only the Ready ingress NIC")
		Expect(rule.EgressRules).To(Equal([]apinetv1alpha1.Rule{{
			NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}},
			ObjectIPs:          []apinetv1alpha1.ObjectIP{prefix32("10.0.0.20")},
		}}))
		Eventually(func(g Gomega) {
			g.Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
			g.Expect(np.Status.Conditions).To(ContainElement(And(
				HaveField("Type", reconcilers.ConditionApplied), HaveField("Status", corev1.ConditionTrue))))
		}).Should(Succeed(), "status conditions, which apinetlet never writes")

		By("a target NIC that becomes Ready after the policy exists")
		target := readyNIC(ctx, "np-target", anNetwork, "10.0.0.30", map[string]string{"app": "target"}, false)
		Consistently(func() []apinetv1alpha1.TargetNetworkInterface {
			Expect(peer().Get(ctx, key, rule)).To(Succeed())
			return rule.Targets
		}).Should(BeEmpty())
		target.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
		Expect(peer().Status().Update(ctx, target)).To(Succeed())
		Eventually(func() []apinetv1alpha1.TargetNetworkInterface {
			Expect(peer().Get(ctx, key, rule)).To(Succeed())
			return rule.Targets
		}).Should(Equal([]apinetv1alpha1.TargetNetworkInterface{{IP: apinetnet.MustParseIP("10.0.0.30"),
			TargetRef: &apinetv1alpha1.LocalUIDReference{Name: "np-target", UID: target.UID}}}))

		By("the target losing its label")
		target.Labels = nil
		Expect(peer().Update(ctx, target)).To(Succeed())
		Eventually(func() []apinetv1alpha1.TargetNetworkInterface {
			Expect(peer().Get(ctx, key, rule)).To(Succeed())
			return rule.Targets
		}).Should(BeEmpty())

		By("deleting the policy")
		Expect(ic("ironcore-1").Delete(ctx, np)).To(Succeed())
		Eventually(func() error { return peer().Get(ctx, key, anNP) }).Should(MatchError(ContainSubstring("not found")))
		Expect(peer().Get(ctx, key, rule)).To(MatchError(ContainSubstring("not found")))
	})
})

var _ = Describe("Objects created before their Network", func() {
	It("are mapped in each member once the Network appears", func(ctx SpecContext) {
		for _, member := range []string{"ironcore-1", "ironcore-2"} {
			ns := newNamespace(ctx, member)
			lb := &networkingv1alpha1.LoadBalancer{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "early-lb"},
				Spec: networkingv1alpha1.LoadBalancerSpec{Type: networkingv1alpha1.LoadBalancerTypePublic,
					IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, NetworkRef: corev1.LocalObjectReference{Name: "late"}},
			}
			np := &networkingv1alpha1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "early-np"},
				Spec: networkingv1alpha1.NetworkPolicySpec{NetworkRef: corev1.LocalObjectReference{Name: "late"},
					PolicyTypes: []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress}},
			}
			Expect(ic(member).Create(ctx, lb)).To(Succeed())
			Expect(ic(member).Create(ctx, np)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(ic(member).Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
				g.Expect(np.Status.Conditions).To(ContainElement(HaveField("Reason", "NetworkNotFound")))
			}).Should(Succeed())
			lbKey := types.NamespacedName{Namespace: apinetNamespace(member), Name: string(lb.UID)}
			npKey := types.NamespacedName{Namespace: apinetNamespace(member), Name: string(np.UID)}
			Consistently(func() error { return peer().Get(ctx, lbKey, &apinetv1alpha1.LoadBalancer{}) }, "1s").Should(HaveOccurred())

			createNetwork(ctx, member, ns, "late")
			Eventually(func() error { return peer().Get(ctx, lbKey, &apinetv1alpha1.LoadBalancer{}) }).Should(Succeed())
			Eventually(func() error { return peer().Get(ctx, npKey, &apinetv1alpha1.NetworkPolicyRule{}) }).Should(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(ic(member).Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
				g.Expect(np.Status.Conditions).To(ContainElement(HaveField("Reason", "Applied")))
			}).Should(Succeed())
		}
	})
})

var _ = Describe("NetworkPolicy status", func() {
	It("reports Applied=False with the reason when the rule cannot be written", func(ctx SpecContext) {
		// A member of its own: its apinet namespace is left terminating
		// (no namespace controller runs in the test fleet), where creates
		// are refused and updates are not.
		_, err := testFleet.Add(ctx, fleet.Spec{Name: "ironcore-policy", Role: fleet.RoleIronCore})
		Expect(err).NotTo(HaveOccurred())
		onboard(ctx, "ironcore-policy", fleet.IronCoreLabels("apinet-1"), nil)
		Eventually(func() bool { return engaged(ctx, "ironcore-policy") }).Should(BeTrue())
		nw := createNetwork(ctx, "ironcore-policy", "default", "net")
		expectAvailable(ctx, "ironcore-policy", nw)
		np := &networkingv1alpha1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "policy"},
			Spec: networkingv1alpha1.NetworkPolicySpec{
				NetworkRef:               corev1.LocalObjectReference{Name: "net"},
				NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				PolicyTypes:              []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress},
			},
		}
		Expect(ic("ironcore-policy").Create(ctx, np)).To(Succeed())
		applied := func() *metav1.Condition {
			Expect(ic("ironcore-policy").Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
			for _, c := range np.Status.Conditions {
				if c.Type == reconcilers.ConditionApplied {
					return &metav1.Condition{Type: string(c.Type), Status: metav1.ConditionStatus(c.Status), Reason: c.Reason, Message: c.Message}
				}
			}
			return nil
		}
		Eventually(applied).Should(HaveField("Status", metav1.ConditionTrue))

		By("making the namespace terminate and removing the rule: the hub cannot create it again")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: apinetNamespace("ironcore-policy")}}
		Expect(peer().Delete(ctx, ns)).To(Succeed())
		rule := &apinetv1alpha1.NetworkPolicyRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: string(np.UID)}}
		Expect(peer().Delete(ctx, rule)).To(Succeed())
		Eventually(applied).Should(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", "RuleApplyFailed")))
		Expect(applied().Message).To(ContainSubstring("terminat"))
	})
})
