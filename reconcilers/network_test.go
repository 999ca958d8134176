package reconcilers_test

import (
	"context"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	ipamv1alpha1 "github.com/ironcore-dev/ironcore/api/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

// newNamespace creates a namespace with a generated name in an IronCore member.
func newNamespace(ctx context.Context, memberName string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	Expect(ic(memberName).Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// apinetNetworkOf waits for and returns the apinet Network of an IronCore Network.
func apinetNetworkOf(ctx context.Context, memberName string, nw *networkingv1alpha1.Network) *apinetv1alpha1.Network {
	GinkgoHelper()
	an := &apinetv1alpha1.Network{}
	Eventually(func() error {
		return peer().Get(ctx, types.NamespacedName{Namespace: apinetNamespace(memberName), Name: string(nw.UID)}, an)
	}).Should(Succeed())
	return an
}

func createNetwork(ctx context.Context, memberName, namespace, name string, peerings ...networkingv1alpha1.NetworkPeering) *networkingv1alpha1.Network {
	GinkgoHelper()
	nw := &networkingv1alpha1.Network{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       networkingv1alpha1.NetworkSpec{Peerings: peerings},
	}
	Expect(ic(memberName).Create(ctx, nw)).To(Succeed())
	return nw
}

func expectAvailable(ctx context.Context, memberName string, nw *networkingv1alpha1.Network) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(ic(memberName).Get(ctx, client.ObjectKeyFromObject(nw), nw)).To(Succeed())
		g.Expect(nw.Status.State).To(Equal(networkingv1alpha1.NetworkStateAvailable))
		g.Expect(nw.Spec.ProviderID).NotTo(BeEmpty())
	}).Should(Succeed())
}

var _ = Describe("Network", func() {
	It("allocates an apinet network, reports its provider ID and cleans up on delete", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		an := apinetNetworkOf(ctx, "ironcore-1", nw)
		Expect(an.Labels).To(Equal(map[string]string{
			"apinetlet.ironcore.dev/network-uid":       string(nw.UID),
			"apinetlet.ironcore.dev/network-namespace": ns,
			clusterprofiles.LabelCluster:               "fleet.ironcore-1",
		}))
		Expect(an.Annotations).To(HaveKeyWithValue("apinetlet.ironcore.dev/network-name", "net"))
		Eventually(func() string {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
			return an.Spec.ID
		}).ShouldNot(BeEmpty())

		expectAvailable(ctx, "ironcore-1", nw)
		Expect(nw.Spec.ProviderID).To(Equal(reconcilers.NetworkID{Namespace: an.Namespace, Name: an.Name, ID: an.Spec.ID, UID: an.UID}.String()))
		Expect(nw.Finalizers).To(ContainElement(reconcilers.FinalizerNetwork))

		Expect(ic("ironcore-1").Delete(ctx, nw)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(nw), nw))
		}).Should(BeTrue())
		Expect(apierrors.IsNotFound(peer().Get(ctx, client.ObjectKeyFromObject(an), an))).To(BeTrue(), "the apinet network is gone before the IronCore one")
	})

	It("leaves a Network mapped in another apinet namespace alone, with every object that lives in it, and says why", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		elsewhere := reconcilers.NetworkID{Namespace: "apinetlet-elsewhere", Name: "nw", ID: "4242", UID: "uid-elsewhere"}.String()
		nw := &networkingv1alpha1.Network{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "net"},
			Spec:       networkingv1alpha1.NetworkSpec{ProviderID: elsewhere},
		}
		Expect(ic("ironcore-1").Create(ctx, nw)).To(Succeed())
		nic := &networkingv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nic"},
			Spec: networkingv1alpha1.NetworkInterfaceSpec{
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				IPs:        []networkingv1alpha1.IPSource{{Value: commonv1alpha1.MustParseNewIP("10.0.0.1")}},
			},
		}
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lb"},
			Spec: networkingv1alpha1.LoadBalancerSpec{Type: networkingv1alpha1.LoadBalancerTypePublic,
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, NetworkRef: corev1.LocalObjectReference{Name: "net"}},
		}
		gw := &networkingv1alpha1.NATGateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nat"},
			Spec: networkingv1alpha1.NATGatewaySpec{Type: networkingv1alpha1.NATGatewayTypePublic, IPFamily: corev1.IPv4Protocol,
				NetworkRef: corev1.LocalObjectReference{Name: "net"}},
		}
		np := &networkingv1alpha1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "np"},
			Spec: networkingv1alpha1.NetworkPolicySpec{NetworkRef: corev1.LocalObjectReference{Name: "net"},
				PolicyTypes: []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress}},
		}
		objects := []client.Object{nic, lb, gw, np}
		for _, o := range objects {
			Expect(ic("ironcore-1").Create(ctx, o)).To(Succeed())
		}
		created := nic.Status // as IronCore defaults it
		By("a control: a LoadBalancer of a mapped Network in the same namespace is mapped")
		createNetwork(ctx, "ironcore-1", ns, "mapped")
		control := lb.DeepCopy()
		control.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "control"}
		control.Spec.NetworkRef.Name = "mapped"
		Expect(ic("ironcore-1").Create(ctx, control)).To(Succeed())
		Eventually(func() error {
			return peer().Get(ctx, types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(control.UID)}, &apinetv1alpha1.LoadBalancer{})
		}).Should(Succeed())

		By("each object is told why, and nothing is written for it")
		Eventually(func() []string {
			list := &eventsv1.EventList{}
			Expect(ic("ironcore-1").List(ctx, list, client.InNamespace(ns))).To(Succeed())
			var kinds []string
			for _, e := range list.Items {
				if e.Reason == clusterprofiles.ReasonProviderIDNamespaceMismatch && e.Type == corev1.EventTypeWarning {
					kinds = append(kinds, e.Regarding.Kind)
				}
			}
			return kinds
		}).Should(ContainElements("Network", "NetworkInterface", "LoadBalancer", "NATGateway", "NetworkPolicy"))
		for _, o := range append(objects, nw) {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(o), o)).To(Succeed())
			Expect(o.GetFinalizers()).To(BeEmpty(), "%T %s", o, o.GetName())
		}
		Expect(nic.Status).To(Equal(created), "status untouched")
		Expect(lb.Status.IPs).To(BeEmpty())
		Expect(gw.Status.IPs).To(BeEmpty())
		Expect(np.Status.Conditions).To(BeEmpty())
		for _, an := range []client.Object{&apinetv1alpha1.Network{}, &apinetv1alpha1.LoadBalancer{}, &apinetv1alpha1.NATGateway{}, &apinetv1alpha1.NetworkPolicy{}} {
			for _, o := range append(objects, nw) {
				err := peer().Get(ctx, types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(o.GetUID())}, an)
				Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no apinet %T for %T %s: %v", an, o, o.GetName(), err)
			}
		}

		By("deleting them: no finalizer of the hub holds them")
		for _, o := range append(objects, nw) {
			Expect(ic("ironcore-1").Delete(ctx, o)).To(Succeed())
			Expect(apierrors.IsNotFound(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(o), o))).To(BeTrue(), "%T %s", o, o.GetName())
		}
	})

	It("cleans up a dangling apinet network of its member and leaves another member's alone", func(ctx SpecContext) {
		dangling := func(name, cluster string) *apinetv1alpha1.Network {
			an := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{
				Namespace: apinetNamespace("ironcore-1"), Name: name,
				Labels: map[string]string{
					"apinetlet.ironcore.dev/network-uid":       name,
					"apinetlet.ironcore.dev/network-namespace": "default",
					clusterprofiles.LabelCluster:               cluster,
				},
				Annotations: map[string]string{"apinetlet.ironcore.dev/network-name": "never-existed-" + name},
			}}
			Expect(peer().Create(ctx, an)).To(Succeed())
			return an
		}
		mine := dangling("dangling-mine", "fleet.ironcore-1")
		theirs := dangling("dangling-theirs", "fleet.ironcore-2")
		Eventually(func() bool { return apierrors.IsNotFound(peer().Get(ctx, client.ObjectKeyFromObject(mine), mine)) }).Should(BeTrue())
		Consistently(func() error { return peer().Get(ctx, client.ObjectKeyFromObject(theirs), theirs) }).Should(Succeed())
	})

	It("maps peerings of two networks in different namespaces, with inline and IPAM prefixes, and their status", func(ctx SpecContext) {
		nsA, nsB := newNamespace(ctx, "ironcore-1"), newNamespace(ctx, "ironcore-1")
		prefix := &ipamv1alpha1.Prefix{
			ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "peering-prefix"},
			Spec:       ipamv1alpha1.PrefixSpec{Prefix: commonv1alpha1.MustParseNewIPPrefix("10.0.0.0/24")},
		}
		Expect(ic("ironcore-1").Create(ctx, prefix)).To(Succeed())
		a := createNetwork(ctx, "ironcore-1", nsA, "a", networkingv1alpha1.NetworkPeering{
			Name: "to-b", NetworkRef: networkingv1alpha1.NetworkPeeringNetworkRef{Namespace: nsB, Name: "b"},
			Prefixes: []networkingv1alpha1.PeeringPrefix{
				{Name: "ipam", PrefixRef: corev1.LocalObjectReference{Name: "peering-prefix"}},
				{Name: "inline", Prefix: commonv1alpha1.MustParseNewIPPrefix("192.168.178.20/32")},
			},
		})
		b := createNetwork(ctx, "ironcore-1", nsB, "b", networkingv1alpha1.NetworkPeering{
			Name: "to-a", NetworkRef: networkingv1alpha1.NetworkPeeringNetworkRef{Namespace: nsA, Name: "a"},
		})
		expectAvailable(ctx, "ironcore-1", a)
		expectAvailable(ctx, "ironcore-1", b)

		By("filling incomingPeerings as ironcore's peering controller does")
		for _, pair := range [][2]*networkingv1alpha1.Network{{a, b}, {b, a}} {
			local, other := pair[0], pair[1]
			Eventually(func() error {
				Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(local), local)).To(Succeed())
				local.Spec.PeeringClaimRefs = []networkingv1alpha1.NetworkPeeringClaimRef{{Namespace: other.Namespace, Name: other.Name, UID: other.UID}}
				return ic("ironcore-1").Update(ctx, local)
			}).Should(Succeed())
		}
		anA, anB := apinetNetworkOf(ctx, "ironcore-1", a), apinetNetworkOf(ctx, "ironcore-1", b)
		Eventually(func() []apinetv1alpha1.NetworkPeering {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(anA), anA)).To(Succeed())
			return anA.Spec.Peerings
		}).Should(Equal([]apinetv1alpha1.NetworkPeering{{Name: "to-b", ID: anB.Spec.ID, Prefixes: []apinetv1alpha1.PeeringPrefix{
			{Name: "inline", Prefix: apinetPrefix("192.168.178.20/32")},
		}}}), "the IPAM prefix is not Allocated yet")

		By("allocating the IPAM prefix")
		prefix.Status.Phase = ipamv1alpha1.PrefixPhaseAllocated
		Expect(ic("ironcore-1").Status().Update(ctx, prefix)).To(Succeed())
		Eventually(func() []apinetv1alpha1.PeeringPrefix {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(anA), anA)).To(Succeed())
			return anA.Spec.Peerings[0].Prefixes
		}).Should(Equal([]apinetv1alpha1.PeeringPrefix{
			{Name: "ipam", Prefix: apinetPrefix("10.0.0.0/24")},
			{Name: "inline", Prefix: apinetPrefix("192.168.178.20/32")},
		}))
		Eventually(func() []apinetv1alpha1.NetworkPeering {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(anB), anB)).To(Succeed())
			return anB.Spec.Peerings
		}).Should(Equal([]apinetv1alpha1.NetworkPeering{{Name: "to-a", ID: anA.Spec.ID}}))

		By("reporting the peering state a metalnetlet writes")
		vniB := mustAtoi(anB.Spec.ID)
		anA.Status.Peerings = map[string][]apinetv1alpha1.NetworkPeeringStatus{"partition1": {{ID: vniB, State: apinetv1alpha1.NetworkPeeringStateReady}}}
		Expect(peer().Status().Update(ctx, anA)).To(Succeed())
		Eventually(func() []networkingv1alpha1.NetworkPeeringStatus {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(a), a)).To(Succeed())
			return a.Status.Peerings
		}).Should(Equal([]networkingv1alpha1.NetworkPeeringStatus{{Name: "to-b", State: networkingv1alpha1.NetworkPeeringStateReady,
			Prefixes: []networkingv1alpha1.PeeringPrefixStatus{
				{Name: "ipam", Prefix: commonv1alpha1.MustParseNewIPPrefix("10.0.0.0/24")},
				{Name: "inline", Prefix: commonv1alpha1.MustParseNewIPPrefix("192.168.178.20/32")},
			}}}))

		Expect(ic("ironcore-1").Delete(ctx, a)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(peer().Get(ctx, client.ObjectKeyFromObject(anA), anA)) }).Should(BeTrue())
	})

	It("keeps status.peerings empty for a member with peering disabled, and still writes apinet peerings", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-2")
		a := createNetwork(ctx, "ironcore-2", ns, "a", networkingv1alpha1.NetworkPeering{Name: "to-b", NetworkRef: networkingv1alpha1.NetworkPeeringNetworkRef{Name: "b"}})
		b := createNetwork(ctx, "ironcore-2", ns, "b", networkingv1alpha1.NetworkPeering{Name: "to-a", NetworkRef: networkingv1alpha1.NetworkPeeringNetworkRef{Name: "a"}})
		expectAvailable(ctx, "ironcore-2", a)
		expectAvailable(ctx, "ironcore-2", b)
		for _, pair := range [][2]*networkingv1alpha1.Network{{a, b}, {b, a}} {
			local, other := pair[0], pair[1]
			Eventually(func() error {
				Expect(ic("ironcore-2").Get(ctx, client.ObjectKeyFromObject(local), local)).To(Succeed())
				local.Spec.PeeringClaimRefs = []networkingv1alpha1.NetworkPeeringClaimRef{{Name: other.Name, UID: other.UID}}
				return ic("ironcore-2").Update(ctx, local)
			}).Should(Succeed())
		}
		anA, anB := apinetNetworkOf(ctx, "ironcore-2", a), apinetNetworkOf(ctx, "ironcore-2", b)
		Eventually(func() []apinetv1alpha1.NetworkPeering {
			Expect(peer().Get(ctx, client.ObjectKeyFromObject(anA), anA)).To(Succeed())
			return anA.Spec.Peerings
		}).Should(Equal([]apinetv1alpha1.NetworkPeering{{Name: "to-b", ID: anB.Spec.ID}}))
		anA.Status.Peerings = map[string][]apinetv1alpha1.NetworkPeeringStatus{"p1": {{ID: mustAtoi(anB.Spec.ID), State: apinetv1alpha1.NetworkPeeringStateReady}}}
		Expect(peer().Status().Update(ctx, anA)).To(Succeed())
		Consistently(func() []networkingv1alpha1.NetworkPeeringStatus {
			Expect(ic("ironcore-2").Get(ctx, client.ObjectKeyFromObject(a), a)).To(Succeed())
			return a.Status.Peerings
		}).Should(BeEmpty())

		By("leaving status.peerings to another writer (the point of the setting)")
		outside := []networkingv1alpha1.NetworkPeeringStatus{{Name: "to-b", State: networkingv1alpha1.NetworkPeeringStateReady}}
		Eventually(func() error {
			Expect(ic("ironcore-2").Get(ctx, client.ObjectKeyFromObject(a), a)).To(Succeed())
			a.Status.Peerings = outside
			return ic("ironcore-2").Status().Update(ctx, a)
		}).Should(Succeed())
		Expect(peer().Get(ctx, client.ObjectKeyFromObject(anA), anA)).To(Succeed())
		anA.Status.Peerings["p2"] = anA.Status.Peerings["p1"] // an apinet event: the hub reconciles a again
		Expect(peer().Status().Update(ctx, anA)).To(Succeed())
		Consistently(func() []networkingv1alpha1.NetworkPeeringStatus {
			Expect(ic("ironcore-2").Get(ctx, client.ObjectKeyFromObject(a), a)).To(Succeed())
			return a.Status.Peerings
		}).Should(Equal(outside), "the hub does not overwrite it while the Network stays Available")
	})

	It("gives the same Network in two members two apinet networks with their own VNIs", func(ctx SpecContext) {
		nets := map[string]*networkingv1alpha1.Network{}
		ans := map[string]*apinetv1alpha1.Network{}
		for _, name := range []string{"ironcore-1", "ironcore-2"} {
			nets[name] = createNetwork(ctx, name, "default", "net")
			expectAvailable(ctx, name, nets[name])
			ans[name] = apinetNetworkOf(ctx, name, nets[name])
			Expect(nets[name].Spec.ProviderID).To(HavePrefix(reconcilers.ProviderIDPrefix + apinetNamespace(name) + "/"))
		}
		Expect(ans["ironcore-1"].Spec.ID).NotTo(Equal(ans["ironcore-2"].Spec.ID))
		Expect(ans["ironcore-1"].Namespace).NotTo(Equal(ans["ironcore-2"].Namespace))

		Expect(ic("ironcore-1").Delete(ctx, nets["ironcore-1"])).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(peer().Get(ctx, client.ObjectKeyFromObject(ans["ironcore-1"]), &apinetv1alpha1.Network{}))
		}).Should(BeTrue())
		Consistently(func() error { return peer().Get(ctx, client.ObjectKeyFromObject(ans["ironcore-2"]), ans["ironcore-2"]) }).Should(Succeed())
		Expect(ic("ironcore-2").Get(ctx, client.ObjectKeyFromObject(nets["ironcore-2"]), nets["ironcore-2"])).To(Succeed())
		Expect(nets["ironcore-2"].Status.State).To(Equal(networkingv1alpha1.NetworkStateAvailable))
	})

	DescribeTable("takes over apinet networks apinetlet wrote, keeping their UIDs",
		func(ctx SpecContext, nameAsLabel bool) {
			ns := newNamespace(ctx, "ironcore-1")
			nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: "legacy", Annotations: map[string]string{reconcilers.AnnotationManagedBy: "apinetlet-era"},
			}}
			Expect(ic("ironcore-1").Create(ctx, nw)).To(Succeed())

			By("writing the apinet network as apinetlet did (its field manager, its label layout)")
			labels := map[string]string{"apinetlet.ironcore.dev/network-uid": string(nw.UID), "apinetlet.ironcore.dev/network-namespace": ns}
			var annotations map[string]string
			if nameAsLabel {
				labels["apinetlet.ironcore.dev/network-name"] = "legacy" // v0.2.4
			} else {
				annotations = map[string]string{"apinetlet.ironcore.dev/network-name": "legacy"} // HEAD
			}
			legacy := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{
				Namespace: apinetNamespace("ironcore-1"), Name: string(nw.UID), Labels: labels, Annotations: annotations,
			}}
			gvk, err := apiutil.GVKForObject(legacy, peer().Scheme())
			Expect(err).NotTo(HaveOccurred())
			legacy.SetGroupVersionKind(gvk)
			Expect(peer().Patch(ctx, legacy, client.Apply, client.FieldOwner(reconcilers.FieldManager), client.ForceOwnership)).To(Succeed()) //nolint:staticcheck // apinetlet v0.2.4 applies typed objects
			uid, vni := legacy.UID, legacy.Spec.ID

			By("handing the network to the hub")
			Eventually(func() error {
				Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(nw), nw)).To(Succeed())
				delete(nw.Annotations, reconcilers.AnnotationManagedBy)
				return ic("ironcore-1").Update(ctx, nw)
			}).Should(Succeed())
			expectAvailable(ctx, "ironcore-1", nw)
			an := apinetNetworkOf(ctx, "ironcore-1", nw)
			Expect(an.UID).To(Equal(uid), "adopted in place, not recreated")
			Expect(an.Spec.ID).To(Equal(vni))
			Eventually(func() map[string]string {
				Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
				return an.Labels
			}).Should(Equal(map[string]string{
				"apinetlet.ironcore.dev/network-uid":       string(nw.UID),
				"apinetlet.ironcore.dev/network-namespace": ns,
				clusterprofiles.LabelCluster:               "fleet.ironcore-1",
			}), "metadata migrated to the HEAD layout plus the cluster label")
			Expect(an.Annotations).To(HaveKeyWithValue("apinetlet.ironcore.dev/network-name", "legacy"))
			Expect(nw.Spec.ProviderID).To(Equal(reconcilers.NetworkID{Namespace: an.Namespace, Name: an.Name, ID: vni, UID: uid}.String()))
		},
		Entry("apinetlet v0.2.4 layout (name as label)", true),
		Entry("apinetlet HEAD layout (name as annotation)", false),
	)

	It("maps a Network created while the peer is down once the peer returns", func(ctx SpecContext) {
		apinet := testFleet.Cluster("apinet-1")
		Expect(apinet.Stop()).To(Succeed())
		Eventually(func() error { _, err := topology.Member(member("ironcore-1")); return err }).Should(HaveOccurred(), "member paused with its peer")
		nw := createNetwork(ctx, "ironcore-1", "default", "while-peer-down")
		Consistently(func() string {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(nw), nw)).To(Succeed())
			return string(nw.Status.State)
		}).Should(BeEmpty(), "nothing is written for a paused member")
		Expect(apinet.Start()).To(Succeed())
		Eventually(func() bool { return engaged(ctx, "ironcore-1") }).Should(BeTrue())
		expectAvailable(ctx, "ironcore-1", nw)
		apinetNetworkOf(ctx, "ironcore-1", nw)
	})
})
