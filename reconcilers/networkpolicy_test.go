package reconcilers_test

import (
	"context"
	"net/netip"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	corev1alpha1 "github.com/ironcore-dev/ironcore/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// machineIDLabel is the only label libvirt-provider writes on the apinet
// NICs it creates.
const machineIDLabel = "libvirt-provider.ironcore.dev/machine-id"

// policyNIC creates an IronCore NIC with labels and the apinet NIC a machine
// provider would make for it (only the machine provider's label), waits
// until the hub has claimed it, and, if ready, reports it Ready as
// metalnetlet would.
func policyNIC(ctx context.Context, ns string, nw *networkingv1alpha1.Network, name, ip string, labels map[string]string, ready bool) (*networkingv1alpha1.NetworkInterface, *apinetv1alpha1.NetworkInterface) {
	GinkgoHelper()
	an := machineProviderNIC(ctx, "ironcore-1", ns+"-"+name, nw, ip)
	Eventually(func() error {
		Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
		an.Labels = map[string]string{machineIDLabel: "machine-" + name}
		return peer().Update(ctx, an)
	}).Should(Succeed())
	nic := &networkingv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{
			ProviderID: reconcilers.NetworkInterfaceID{Namespace: an.Namespace, Name: an.Name, Node: "node-1", UID: an.UID}.String(),
			NetworkRef: corev1.LocalObjectReference{Name: nw.Name},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			IPs:        []networkingv1alpha1.IPSource{{Value: commonv1alpha1.MustParseNewIP(ip)}},
		},
	}
	Expect(ic("ironcore-1").Create(ctx, nic)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
		g.Expect(an.Labels).To(HaveKeyWithValue(reconcilers.OriginNetworkInterface.UIDLabel(), string(nic.UID)))
	}).Should(Succeed(), "claimed")
	if ready {
		setReady(ctx, an)
	}
	return nic, an
}

// setReady reports an apinet NIC Ready, as metalnetlet would.
func setReady(ctx context.Context, an *apinetv1alpha1.NetworkInterface) {
	GinkgoHelper()
	Eventually(func() error {
		Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
		an.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
		return peer().Status().Update(ctx, an)
	}).Should(Succeed())
}

func prefix32(ip string) apinetv1alpha1.ObjectIP {
	return apinetv1alpha1.ObjectIP{IPFamily: corev1.IPv4Protocol, Prefix: apinetnet.MustParseIPPrefix(ip + "/32")}
}

func prefix128(ip string) apinetv1alpha1.ObjectIP {
	return apinetv1alpha1.ObjectIP{IPFamily: corev1.IPv6Protocol, Prefix: apinetnet.MustParseIPPrefix(ip + "/128")}
}

func target(an *apinetv1alpha1.NetworkInterface) apinetv1alpha1.TargetNetworkInterface {
	return apinetv1alpha1.TargetNetworkInterface{IP: an.Spec.IPs[0], TargetRef: &apinetv1alpha1.LocalUIDReference{Name: an.Name, UID: an.UID}}
}

var _ = Describe("NetworkPolicy", func() {
	It("selects targets and peers by IronCore labels while apinet NICs carry only the machine provider's, and follows relabels, NIC states and LoadBalancer IPs", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		anNetwork := apinetNetworkOf(ctx, "ironcore-1", nw)
		other := createNetwork(ctx, "ironcore-1", ns, "other")
		expectAvailable(ctx, "ironcore-1", other)

		web1IC, web1 := policyNIC(ctx, ns, nw, "web-1", "10.0.0.10", map[string]string{"app": "web"}, true)
		_, web2 := policyNIC(ctx, ns, nw, "web-2", "10.0.0.11", map[string]string{"app": "web"}, false)
		policyNIC(ctx, ns, nw, "db", "10.0.0.20", map[string]string{"app": "db"}, true)
		policyNIC(ctx, ns, other, "db-elsewhere", "10.0.0.21", map[string]string{"app": "db"}, true)
		for _, an := range []*apinetv1alpha1.NetworkInterface{web1, web2} {
			Expect(an.Labels).NotTo(HaveKey("app"), "the hub does not copy IronCore labels onto apinet NICs")
		}

		By("a LoadBalancer on the policy's network, one of its IPs from an ephemeral prefix allocated later, and one on another network")
		lb := internalLoadBalancer(ns, "frontend", "net", map[string]string{"role": "frontend"}, "10.0.0.5", "fd00::7/128")
		Expect(ic("ironcore-1").Create(ctx, lb)).To(Succeed())
		elsewhere := internalLoadBalancer(ns, "frontend-elsewhere", "other", map[string]string{"role": "frontend"}, "10.0.0.6", "fd00::8/128")
		Expect(ic("ironcore-1").Create(ctx, elsewhere)).To(Succeed())
		apinetLoadBalancerOf(ctx, elsewhere)

		np := &networkingv1alpha1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy"},
			Spec: networkingv1alpha1.NetworkPolicySpec{
				NetworkRef:               corev1.LocalObjectReference{Name: "net"},
				NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				PolicyTypes:              []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress, networkingv1alpha1.PolicyTypeEgress},
				Ingress: []networkingv1alpha1.NetworkPolicyIngressRule{{
					Ports: []networkingv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
					From: []networkingv1alpha1.NetworkPolicyPeer{
						{ObjectSelector: &corev1alpha1.ObjectSelector{Kind: "NetworkInterface", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}},
						{IPBlock: &networkingv1alpha1.IPBlock{CIDR: commonv1alpha1.MustParseIPPrefix("192.168.0.0/16"), Except: []commonv1alpha1.IPPrefix{commonv1alpha1.MustParseIPPrefix("192.168.1.0/24")}}},
					},
				}},
				Egress: []networkingv1alpha1.NetworkPolicyEgressRule{{
					Ports: []networkingv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}},
					To:    []networkingv1alpha1.NetworkPolicyPeer{{ObjectSelector: &corev1alpha1.ObjectSelector{Kind: "LoadBalancer", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}}}}},
				}},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, np)).To(Succeed())

		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(np.UID)}
		anNP, rule := &apinetv1alpha1.NetworkPolicy{}, &apinetv1alpha1.NetworkPolicyRule{}
		getRule := func() *apinetv1alpha1.NetworkPolicyRule {
			Expect(peer().Get(ctx, key, rule)).To(Succeed())
			return rule
		}
		Eventually(func() error { return peer().Get(ctx, key, rule) }).Should(Succeed())
		Expect(peer().Get(ctx, key, anNP)).To(Succeed())
		Expect(anNP.Spec.Priority).To(Equal(ptr.To[int32](1000)))
		Expect(anNP.Spec.NetworkRef.Name).To(Equal(anNetwork.Name))
		Expect(anNP.Spec.NetworkInterfaceSelector.MatchLabels).To(Equal(map[string]string{"app": "web"}), "wire-compatible: the policy's own selector")
		Expect(anNP.Spec.PolicyTypes).To(ConsistOf(apinetv1alpha1.PolicyTypeIngress, apinetv1alpha1.PolicyTypeEgress))
		Expect(anNP.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/networkpolicy-uid", string(np.UID)))
		Expect(metav1.IsControlledBy(rule, anNP)).To(BeTrue())
		Expect(rule.NetworkRef).To(Equal(apinetv1alpha1.LocalUIDReference{Name: anNetwork.Name, UID: anNetwork.UID}))
		Expect(rule.Priority).To(Equal(ptr.To[int32](1000)))

		Eventually(getRule).Should(And(
			HaveField("Targets", Equal([]apinetv1alpha1.TargetNetworkInterface{target(web1)})),
			HaveField("IngressRules", Equal([]apinetv1alpha1.Rule{{
				NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
				CIDRBlock:          []apinetv1alpha1.IPBlock{{CIDR: apinetnet.MustParseIPPrefix("192.168.0.0/16"), Except: []apinetnet.IPPrefix{apinetnet.MustParseIPPrefix("192.168.1.0/24")}}},
				ObjectIPs:          []apinetv1alpha1.ObjectIP{prefix32("10.0.0.20")},
			}})),
			HaveField("EgressRules", Equal([]apinetv1alpha1.Rule{{
				NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}},
				ObjectIPs:          []apinetv1alpha1.ObjectIP{prefix32("10.0.0.5")},
			}})),
		), "targets: the Ready web NIC; ingress: the db NIC of this network only; egress: the LoadBalancer of this network only (another network's private addresses mean nothing here)")
		Eventually(func(g Gomega) {
			g.Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
			g.Expect(np.Status.Conditions).To(ContainElement(And(
				HaveField("Type", reconcilers.ConditionApplied), HaveField("Status", corev1.ConditionTrue),
				HaveField("Message", "1 targets, 1 ingress and 1 egress rules"))))
		}).Should(Succeed())

		By("the second web NIC becoming Ready")
		setReady(ctx, web2)
		Eventually(func() []apinetv1alpha1.TargetNetworkInterface { return getRule().Targets }, "5s").
			Should(Equal([]apinetv1alpha1.TargetNetworkInterface{target(web1), target(web2)}))

		By("relabelling an IronCore NIC out of the selector and back in")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(web1IC), web1IC)).To(Succeed())
		web1IC.Labels = map[string]string{"app": "batch"}
		Expect(ic("ironcore-1").Update(ctx, web1IC)).To(Succeed())
		changed := time.Now()
		Eventually(func() []apinetv1alpha1.TargetNetworkInterface { return getRule().Targets }, "5s").
			Should(Equal([]apinetv1alpha1.TargetNetworkInterface{target(web2)}))
		AddReportEntry("relabelled out of the selector -> rule updated", time.Since(changed).Round(time.Millisecond).String())
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(web1IC), web1IC)).To(Succeed())
		web1IC.Labels = map[string]string{"app": "web"}
		Expect(ic("ironcore-1").Update(ctx, web1IC)).To(Succeed())
		changed = time.Now()
		Eventually(func() []apinetv1alpha1.TargetNetworkInterface { return getRule().Targets }, "5s").
			Should(Equal([]apinetv1alpha1.TargetNetworkInterface{target(web1), target(web2)}))
		AddReportEntry("relabelled into the selector -> rule updated", time.Since(changed).Round(time.Millisecond).String())

		By("the LoadBalancer's ephemeral prefix being allocated: its IPs change")
		allocateEphemeralPrefix(ctx, lb, 1, "fd00::7/128")
		changed = time.Now()
		Eventually(func() []apinetv1alpha1.ObjectIP { return getRule().EgressRules[0].ObjectIPs }, "5s").
			Should(Equal([]apinetv1alpha1.ObjectIP{prefix32("10.0.0.5"), prefix128("fd00::7")}))
		AddReportEntry("LoadBalancer got an IP -> rule updated", time.Since(changed).Round(time.Millisecond).String())

		By("relabelling the LoadBalancer out of the peer selector")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
		lb.Labels = nil
		Expect(ic("ironcore-1").Update(ctx, lb)).To(Succeed())
		Eventually(func() []apinetv1alpha1.ObjectIP { return getRule().EgressRules[0].ObjectIPs }, "5s").Should(BeEmpty())

		By("deleting the policy")
		Expect(ic("ironcore-1").Delete(ctx, np)).To(Succeed())
		Eventually(func() error { return peer().Get(ctx, key, anNP) }).Should(MatchError(ContainSubstring("not found")))
		Expect(peer().Get(ctx, key, rule)).To(MatchError(ContainSubstring("not found")))
		Eventually(func() error { return ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(np), np) }).Should(MatchError(ContainSubstring("not found")),
			"the finalizer goes once the apinet policy and rule are gone")
	})
})

var _ = Describe("NetworkPolicy intent", func() {
	It("allows every port and address where the user wrote none, maps VirtualIP peers, keeps the last rule of an invalid edit, and follows a recreated apinet Network", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		anNetwork := apinetNetworkOf(ctx, "ironcore-1", nw)
		_, web := policyNIC(ctx, ns, nw, "web", "10.0.0.10", map[string]string{"app": "web"}, true)

		vip := &networkingv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "partner", Labels: map[string]string{"role": "partner"}},
			Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol},
		}
		Expect(ic("ironcore-1").Create(ctx, vip)).To(Succeed())
		Eventually(func() *commonv1alpha1.IP {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
			return vip.Status.IP
		}).ShouldNot(BeNil(), "the registry's address")

		np := &networkingv1alpha1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy"},
			Spec: networkingv1alpha1.NetworkPolicySpec{
				NetworkRef:               corev1.LocalObjectReference{Name: "net"},
				NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				PolicyTypes:              []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress, networkingv1alpha1.PolicyTypeEgress},
				Ingress: []networkingv1alpha1.NetworkPolicyIngressRule{{
					From: []networkingv1alpha1.NetworkPolicyPeer{{ObjectSelector: &corev1alpha1.ObjectSelector{Kind: "VirtualIP", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "partner"}}}}},
				}},
				Egress: []networkingv1alpha1.NetworkPolicyEgressRule{{
					Ports: []networkingv1alpha1.NetworkPolicyPort{{Port: 53}},
				}},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, np)).To(Succeed())
		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(np.UID)}
		rule := &apinetv1alpha1.NetworkPolicyRule{}
		getRule := func() *apinetv1alpha1.NetworkPolicyRule {
			Expect(peer().Get(ctx, key, rule)).To(Succeed())
			return rule
		}
		Eventually(func() error { return peer().Get(ctx, key, rule) }).Should(Succeed())
		tcp, udp := ptr.To(corev1.ProtocolTCP), ptr.To(corev1.ProtocolUDP)
		Eventually(getRule).Should(And(
			HaveField("Targets", Equal([]apinetv1alpha1.TargetNetworkInterface{target(web)})),
			HaveField("IngressRules", Equal([]apinetv1alpha1.Rule{{
				CIDRBlock:          []apinetv1alpha1.IPBlock{{CIDR: apinetnet.IPPrefix{Prefix: netip.PrefixFrom(vip.Status.IP.Addr, 32)}}},
				NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Protocol: tcp}, {Protocol: udp}},
			}})),
			HaveField("EgressRules", Equal([]apinetv1alpha1.Rule{{
				CIDRBlock:          []apinetv1alpha1.IPBlock{{CIDR: apinetnet.MustParseIPPrefix("0.0.0.0/0")}, {CIDR: apinetnet.MustParseIPPrefix("::/0")}},
				NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Protocol: tcp, Port: 53}},
			}})),
		), "ingress from the VirtualIP's address on every TCP and UDP port; egress to every address on TCP 53 (no protocol: TCP)")
		anNP := &apinetv1alpha1.NetworkPolicy{}
		Expect(peer().Get(ctx, key, anNP)).To(Succeed())
		Expect(anNP.Spec.Ingress).To(Equal([]apinetv1alpha1.NetworkPolicyIngressRule{{
			From: []apinetv1alpha1.NetworkPolicyPeer{{IPBlock: &apinetv1alpha1.IPBlock{CIDR: apinetnet.IPPrefix{Prefix: netip.PrefixFrom(vip.Status.IP.Addr, 32)}}}},
		}}), "apinet knows no VirtualIP peers: its address")
		applied := func() networkingv1alpha1.NetworkPolicyCondition {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
			for _, c := range np.Status.Conditions {
				if c.Type == reconcilers.ConditionApplied {
					return c
				}
			}
			return networkingv1alpha1.NetworkPolicyCondition{}
		}
		Eventually(applied).Should(HaveField("Status", corev1.ConditionTrue))

		By("relabelling the VirtualIP out of the peer selector: the rule allows nothing from it")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
		vip.Labels = nil
		Expect(ic("ironcore-1").Update(ctx, vip)).To(Succeed())
		Eventually(func() []apinetv1alpha1.Rule { return getRule().IngressRules }, "5s").Should(BeEmpty())

		By("an edit that cannot be enforced (SCTP): the previous rule stays, and the condition says so")
		before := getRule().DeepCopy()
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
		np.Spec.Egress[0].Ports = []networkingv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolSCTP), Port: 9}}
		Expect(ic("ironcore-1").Update(ctx, np)).To(Succeed())
		Eventually(applied).Should(And(HaveField("Status", corev1.ConditionFalse), HaveField("Reason", "InvalidNetworkPolicy")))
		Expect(applied().Message).To(And(ContainSubstring("SCTP"), ContainSubstring("the rule written before stays enforced (1 targets, 0 ingress and 1 egress rules)")))
		Consistently(func() apinetv1alpha1.NetworkPolicyRule { return *getRule() }, "2s").Should(HaveField("EgressRules", Equal(before.EgressRules)))

		By("deleting the apinet Network: the hub makes a new one and the rule follows its UID, with no write to IronCore")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
		np.Spec.Egress[0].Ports = nil
		Expect(ic("ironcore-1").Update(ctx, np)).To(Succeed())
		Eventually(applied).Should(HaveField("Status", corev1.ConditionTrue))
		Expect(peer().Delete(ctx, anNetwork)).To(Succeed())
		Eventually(func() types.UID {
			an := &apinetv1alpha1.Network{}
			if err := peer().Get(ctx, client.ObjectKeyFromObject(anNetwork), an); err != nil {
				return anNetwork.UID
			}
			return an.UID
		}, "20s").ShouldNot(Equal(anNetwork.UID))
		Eventually(func() types.UID { return getRule().NetworkRef.UID }, "10s").ShouldNot(Equal(anNetwork.UID))
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
		Eventually(func() []eventsv1.Event { return eventsOf(ctx, "ironcore-policy", np, "APINetNetworkPolicyRuleFailed") }).Should(ContainElement(And(
			HaveField("Type", corev1.EventTypeWarning), HaveField("Note", HavePrefix("apinet peer ")))), "the skeleton's write-failure Event, named by the apinet kind")
	})
})
