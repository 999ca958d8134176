package reconcilers_test

import (
	"context"
	"fmt"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	ipamv1alpha1 "github.com/ironcore-dev/ironcore/api/ipam/v1alpha1"
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
)

func apinetLoadBalancerOf(ctx context.Context, lb *networkingv1alpha1.LoadBalancer) *apinetv1alpha1.LoadBalancer {
	GinkgoHelper()
	an := &apinetv1alpha1.LoadBalancer{}
	Eventually(func() error {
		return peer().Get(ctx, types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(lb.UID)}, an)
	}).Should(Succeed())
	return an
}

// expectOriginTemplate checks selector, template and anti-affinity, which
// must equal apinetlet's (the selector is immutable).
func expectOriginTemplate(an *apinetv1alpha1.LoadBalancer, lb *networkingv1alpha1.LoadBalancer) {
	GinkgoHelper()
	origin := map[string]string{
		"apinetlet.ironcore.dev/loadbalancer-uid":       string(lb.UID),
		"apinetlet.ironcore.dev/loadbalancer-namespace": lb.Namespace,
	}
	Expect(an.Spec.Selector).To(Equal(&metav1.LabelSelector{MatchLabels: origin}))
	Expect(an.Spec.Template.Labels).To(Equal(origin))
	Expect(an.Spec.Template.Annotations).To(Equal(map[string]string{"apinetlet.ironcore.dev/loadbalancer-name": lb.Name}))
	Expect(an.Spec.Template.Spec.Affinity.InstanceAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution).To(Equal(
		[]apinetv1alpha1.InstanceAffinityTerm{{LabelSelector: &metav1.LabelSelector{MatchLabels: origin}, TopologyKey: "topology.core.apinet.ironcore.dev/zone"}}))
}

// internalLoadBalancer is an internal IronCore LoadBalancer on network with
// an IPv4 value and an IPv6 address from an ephemeral prefix (allocated by
// allocateEphemeralPrefix, as ironcore's controller-manager would).
func internalLoadBalancer(ns, name, network string, labels map[string]string, ipv4, ipv6Prefix string) *networkingv1alpha1.LoadBalancer {
	return &networkingv1alpha1.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: networkingv1alpha1.LoadBalancerSpec{
			Type: networkingv1alpha1.LoadBalancerTypeInternal, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
			NetworkRef: corev1.LocalObjectReference{Name: network},
			IPs: []networkingv1alpha1.IPSource{
				{Value: commonv1alpha1.MustParseNewIP(ipv4)},
				{Ephemeral: &networkingv1alpha1.EphemeralPrefixSource{PrefixTemplate: &ipamv1alpha1.PrefixTemplateSpec{
					Spec: ipamv1alpha1.PrefixSpec{IPFamily: corev1.IPv6Protocol, Prefix: commonv1alpha1.MustParseNewIPPrefix(ipv6Prefix)},
				}}},
			},
		},
	}
}

// allocateEphemeralPrefix creates the ephemeral IPv6 Prefix "<lb>-<index>"
// controlled by lb and reports it Allocated.
func allocateEphemeralPrefix(ctx context.Context, lb *networkingv1alpha1.LoadBalancer, index int, prefix string) {
	GinkgoHelper()
	p := &ipamv1alpha1.Prefix{
		ObjectMeta: metav1.ObjectMeta{Namespace: lb.Namespace, Name: fmt.Sprintf("%s-%d", lb.Name, index), OwnerReferences: []metav1.OwnerReference{{
			APIVersion: networkingv1alpha1.SchemeGroupVersion.String(), Kind: "LoadBalancer", Name: lb.Name, UID: lb.UID, Controller: ptr.To(true)}}},
		Spec: ipamv1alpha1.PrefixSpec{IPFamily: corev1.IPv6Protocol, Prefix: commonv1alpha1.MustParseNewIPPrefix(prefix)},
	}
	Expect(ic("ironcore-1").Create(ctx, p)).To(Succeed())
	p.Status.Phase = ipamv1alpha1.PrefixPhaseAllocated
	Expect(ic("ironcore-1").Status().Update(ctx, p)).To(Succeed())
}

var _ = Describe("LoadBalancer", func() {
	var ns string
	var nw *networkingv1alpha1.Network
	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx, "ironcore-1")
		nw = createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
	})

	It("manages a public apinet load balancer and reports its IPs", func(ctx SpecContext) {
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "public"},
			Spec: networkingv1alpha1.LoadBalancerSpec{
				Type: networkingv1alpha1.LoadBalancerTypePublic, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
				Ports:      []networkingv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, lb)).To(Succeed())
		an := apinetLoadBalancerOf(ctx, lb)
		Expect(an.Spec.Type).To(Equal(apinetv1alpha1.LoadBalancerTypePublic))
		Expect(an.Spec.NetworkRef.Name).To(Equal(string(nw.UID)))
		Expect(an.Spec.IPs).To(HaveLen(1))
		Expect(an.Spec.IPs[0].Name).To(Equal("ipv4"))
		Expect(an.Spec.IPs[0].IPFamily).To(Equal(corev1.IPv4Protocol))
		Expect(an.Spec.Ports).To(Equal([]apinetv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}}))
		expectOriginTemplate(an, lb)
		Eventually(func() []commonv1alpha1.IP {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
			return lb.Status.IPs
		}).Should(HaveLen(1), "the registry's address")
	})

	It("manages an internal load balancer with discrete and ephemeral IPs", func(ctx SpecContext) {
		lb := internalLoadBalancer(ns, "internal", "net", nil, "10.0.0.1", "fd00::5/128")
		Expect(ic("ironcore-1").Create(ctx, lb)).To(Succeed())
		an := apinetLoadBalancerOf(ctx, lb)
		Eventually(func() []apinetv1alpha1.LoadBalancerIP {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
			return an.Spec.IPs
		}).Should(Equal([]apinetv1alpha1.LoadBalancerIP{{Name: "ip-0", IPFamily: corev1.IPv4Protocol, IP: apinetnet.MustParseIP("10.0.0.1")}}))
		expectOriginTemplate(an, lb)

		By("allocating the ephemeral prefix ironcore creates for the second IP")
		allocateEphemeralPrefix(ctx, lb, 1, "fd00::5/128")
		Eventually(func() []apinetv1alpha1.LoadBalancerIP {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
			return an.Spec.IPs
		}).Should(Equal([]apinetv1alpha1.LoadBalancerIP{
			{Name: "ip-0", IPFamily: corev1.IPv4Protocol, IP: apinetnet.MustParseIP("10.0.0.1")},
			{Name: "ip-1", IPFamily: corev1.IPv6Protocol, IP: apinetnet.MustParseIP("fd00::5")},
		}))
		Eventually(func() []commonv1alpha1.IP {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
			return lb.Status.IPs
		}).Should(Equal([]commonv1alpha1.IP{commonv1alpha1.MustParseIP("10.0.0.1"), commonv1alpha1.MustParseIP("fd00::5")}))
	})

	It("writes the routing, owned by the apinet load balancer, and node affinity for the targets' nodes", func(ctx SpecContext) {
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "routed"},
			Spec: networkingv1alpha1.LoadBalancerSpec{
				Type: networkingv1alpha1.LoadBalancerTypePublic, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, lb)).To(Succeed())
		target := func(name, node string) *networkingv1alpha1.LoadBalancerTargetRef {
			return &networkingv1alpha1.LoadBalancerTargetRef{UID: types.UID(name + "-uid"), Name: name,
				ProviderID: reconcilers.NetworkInterfaceID{Namespace: apinetNamespace("ironcore-1"), Name: "an-" + name, Node: node, UID: types.UID("an-" + name + "-uid")}.String()}
		}
		routing := &networkingv1alpha1.LoadBalancerRouting{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "routed"},
			NetworkRef: commonv1alpha1.LocalUIDReference{Name: "net", UID: nw.UID},
			Destinations: []networkingv1alpha1.LoadBalancerDestination{
				{IP: commonv1alpha1.MustParseIP("10.0.0.11"), TargetRef: target("second", "second-node")},
				{IP: commonv1alpha1.MustParseIP("10.0.0.10"), TargetRef: target("first", "first-node")},
				{IP: commonv1alpha1.MustParseIP("10.0.0.12")}, // no target: kept without one
			},
		}
		Expect(ic("ironcore-1").Create(ctx, routing)).To(Succeed())

		an := apinetLoadBalancerOf(ctx, lb)
		anRouting := &apinetv1alpha1.LoadBalancerRouting{}
		Eventually(func(g Gomega) {
			g.Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), anRouting)).To(Succeed())
			g.Expect(anRouting.Destinations).To(HaveLen(3))
		}).Should(Succeed())
		Expect(metav1.IsControlledBy(anRouting, an)).To(BeTrue())
		Expect(anRouting.Destinations).To(Equal([]apinetv1alpha1.LoadBalancerDestination{
			{IP: apinetnet.MustParseIP("10.0.0.11"), TargetRef: &apinetv1alpha1.LoadBalancerTargetRef{UID: "an-second-uid", Name: "an-second", NodeRef: corev1.LocalObjectReference{Name: "second-node"}}},
			{IP: apinetnet.MustParseIP("10.0.0.10"), TargetRef: &apinetv1alpha1.LoadBalancerTargetRef{UID: "an-first-uid", Name: "an-first", NodeRef: corev1.LocalObjectReference{Name: "first-node"}}},
			{IP: apinetnet.MustParseIP("10.0.0.12")},
		}))
		Eventually(func() *apinetv1alpha1.NodeAffinity {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
			return an.Spec.Template.Spec.Affinity.NodeAffinity
		}).Should(Equal(&apinetv1alpha1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &apinetv1alpha1.NodeSelector{
			NodeSelectorTerms: []apinetv1alpha1.NodeSelectorTerm{
				{MatchFields: []apinetv1alpha1.NodeSelectorRequirement{{Key: "metadata.name", Operator: apinetv1alpha1.NodeSelectorOpIn, Values: []string{"first-node"}}}},
				{MatchFields: []apinetv1alpha1.NodeSelectorRequirement{{Key: "metadata.name", Operator: apinetv1alpha1.NodeSelectorOpIn, Values: []string{"second-node"}}}},
			}}}), "sorted, one term per node")
		expectOriginTemplate(an, lb)

		By("deleting the IronCore load balancer")
		Expect(ic("ironcore-1").Delete(ctx, lb)).To(Succeed())
		Eventually(func() error { return peer().Get(ctx, client.ObjectKeyFromObject(an), an) }).Should(MatchError(ContainSubstring("not found")))
		Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), anRouting)).To(MatchError(ContainSubstring("not found")))
	})

	It("adopts a load balancer apinetlet v0.2.4 wrote, keeping its immutable three-label selector", func(ctx SpecContext) {
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy", Annotations: map[string]string{reconcilers.AnnotationManagedBy: "apinetlet-era"}},
			Spec: networkingv1alpha1.LoadBalancerSpec{
				Type: networkingv1alpha1.LoadBalancerTypePublic, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, lb)).To(Succeed())
		v024 := map[string]string{
			"apinetlet.ironcore.dev/loadbalancer-uid":       string(lb.UID),
			"apinetlet.ironcore.dev/loadbalancer-namespace": ns,
			"apinetlet.ironcore.dev/loadbalancer-name":      "legacy",
		}
		legacy := &apinetv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: apinetNamespace("ironcore-1"), Name: string(lb.UID), Labels: v024},
			Spec: apinetv1alpha1.LoadBalancerSpec{
				Type: apinetv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: string(nw.UID)},
				IPs:      []apinetv1alpha1.LoadBalancerIP{{Name: "ipv4", IPFamily: corev1.IPv4Protocol}},
				Selector: &metav1.LabelSelector{MatchLabels: v024},
				Template: apinetv1alpha1.InstanceTemplate{ObjectMeta: metav1.ObjectMeta{Labels: v024}},
			},
		}
		Expect(peer().Create(ctx, legacy)).To(Succeed())

		Eventually(func() error {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
			delete(lb.Annotations, reconcilers.AnnotationManagedBy)
			return ic("ironcore-1").Update(ctx, lb)
		}).Should(Succeed())
		Eventually(func() []commonv1alpha1.IP {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
			return lb.Status.IPs
		}).Should(HaveLen(1))
		an := apinetLoadBalancerOf(ctx, lb)
		Expect(an.UID).To(Equal(legacy.UID), "adopted, not recreated")
		Expect(an.Spec.Selector.MatchLabels).To(Equal(v024))
		Expect(an.Spec.Template.Labels).To(Equal(v024))
		Expect(an.Labels).To(HaveKeyWithValue("apinet-hub.ironcore.dev/cluster", "fleet.ironcore-1"))
		Expect(an.Spec.Template.Spec.Affinity.InstanceAntiAffinity).NotTo(BeNil())
	})

	It("keeps the type apinet cannot change, applies the rest of the edit, and reports the refusal once", func(ctx SpecContext) {
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "retyped"},
			Spec: networkingv1alpha1.LoadBalancerSpec{
				Type: networkingv1alpha1.LoadBalancerTypePublic, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
				Ports:      []networkingv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, lb)).To(Succeed())
		statusIPs := func() []commonv1alpha1.IP {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
			return lb.Status.IPs
		}
		Eventually(statusIPs).Should(HaveLen(1), "the registry's address")
		publicIPs := statusIPs()
		an := apinetLoadBalancerOf(ctx, lb)
		before := an.Spec.IPs

		By("editing type and ports at once")
		Eventually(func() error {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
			lb.Spec.Type = networkingv1alpha1.LoadBalancerTypeInternal
			lb.Spec.IPs = []networkingv1alpha1.IPSource{{Value: commonv1alpha1.MustParseNewIP("10.0.0.7")}}
			lb.Spec.Ports = []networkingv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}}
			return ic("ironcore-1").Update(ctx, lb)
		}).Should(Succeed())
		Eventually(func() []apinetv1alpha1.LoadBalancerPort {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
			return an.Spec.Ports
		}).Should(Equal([]apinetv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}}), "the port change reaches apinet")
		Expect(an.Spec.Type).To(Equal(apinetv1alpha1.LoadBalancerTypePublic), "the type stays")
		Expect(an.Spec.IPs).To(Equal(before), "and its public address with it")
		Expect(an.Annotations).To(HaveKeyWithValue(reconcilers.AnnotationImmutableRefused, "spec.type is Public in apinet, asked Internal"))

		refusals := func() []eventsv1.Event {
			return eventsOf(ctx, "ironcore-1", lb, reconcilers.ReasonImmutableFieldChanged)
		}
		Eventually(refusals).Should(HaveLen(1))
		Expect(refusals()[0].Type).To(Equal(corev1.EventTypeWarning))
		Expect(refusals()[0].Note).To(And(ContainSubstring("spec.type is Public in apinet, asked Internal"), ContainSubstring("recreate the LoadBalancer")))

		By("reporting it once, however often the LoadBalancer is reconciled, with its status IPs unchanged")
		for i := range 3 {
			Eventually(func() error {
				Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
				lb.Labels = map[string]string{"poke": fmt.Sprint(i)}
				return ic("ironcore-1").Update(ctx, lb)
			}).Should(Succeed())
		}
		Consistently(func(g Gomega) {
			events := refusals()
			g.Expect(events).To(HaveLen(1))
			g.Expect(events[0].Series).To(BeNil(), "no repeat of the same refusal")
			g.Expect(statusIPs()).To(Equal(publicIPs))
		}, "5s").Should(Succeed())

		By("clearing the record once the type is back")
		Eventually(func() error {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(lb), lb)).To(Succeed())
			lb.Spec.Type = networkingv1alpha1.LoadBalancerTypePublic
			lb.Spec.IPs = nil
			return ic("ironcore-1").Update(ctx, lb)
		}).Should(Succeed())
		Eventually(func() map[string]string {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
			return an.Annotations
		}).ShouldNot(HaveKey(reconcilers.AnnotationImmutableRefused))
		Expect(refusals()).To(HaveLen(1))
	})
})
