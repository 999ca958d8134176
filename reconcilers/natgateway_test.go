package reconcilers_test

import (
	"context"
	"fmt"
	"maps"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

func createNATGateway(ctx context.Context, ns, name, network string, annotations map[string]string) *networkingv1alpha1.NATGateway {
	GinkgoHelper()
	gw := &networkingv1alpha1.NATGateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: networkingv1alpha1.NATGatewaySpec{
			Type: networkingv1alpha1.NATGatewayTypePublic, IPFamily: corev1.IPv4Protocol,
			NetworkRef: corev1.LocalObjectReference{Name: network},
		},
	}
	Expect(ic("ironcore-1").Create(ctx, gw)).To(Succeed())
	return gw
}

func natIPs(ctx context.Context, gw *networkingv1alpha1.NATGateway) func() []commonv1alpha1.IP {
	return func() []commonv1alpha1.IP {
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
		return gw.Status.IPs
	}
}

// setPeerNAT replaces the NAT annotations of the apinet-1 profile (the
// region every member of the suite maps into) with nat (nil: none) and
// waits until the members' peer settings have them.
func setPeerNAT(ctx context.Context, nat map[string]string) {
	GinkgoHelper()
	hub := testFleet.Hub().Client()
	Eventually(func() error {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		if err := hub.Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: "apinet-1"}, cp); err != nil {
			return err
		}
		if cp.Annotations == nil {
			cp.Annotations = map[string]string{}
		}
		for _, k := range []string{clusterprofiles.AnnotationNATMinPublicIPs, clusterprofiles.AnnotationNATMaxPublicIPs, clusterprofiles.AnnotationNATPublicIPsCeiling} {
			delete(cp.Annotations, k)
		}
		maps.Copy(cp.Annotations, nat)
		return hub.Update(ctx, cp)
	}).Should(Succeed())
	Eventually(func() map[string]string {
		m, err := topology.Member(member("ironcore-1"))
		if err != nil {
			return nil
		}
		return m.Peer.Settings.Load().NATAnnotations
	}).Should(Equal(map[string]string(maps.Clone(nat))))
}

var _ = Describe("NATGateway", func() {
	It("allocates an apinet NATGateway with its autoscaler, and the public IP the controller-manager scales to", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		gw := createNATGateway(ctx, ns, "nat", "net", nil)

		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(gw.UID)}
		an, autoscaler := &apinetv1alpha1.NATGateway{}, &apinetv1alpha1.NATGatewayAutoscaler{}
		Eventually(func() error { return peer().Get(ctx, key, autoscaler) }).Should(Succeed())
		Expect(peer().Get(ctx, key, an)).To(Succeed())
		Expect(an.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/natgateway-uid", string(gw.UID)))
		Expect(an.Labels).To(HaveKeyWithValue(clusterprofiles.LabelCluster, "fleet.ironcore-1"))
		Expect(an.Spec.NetworkRef.Name).To(Equal(string(nw.UID)))
		Expect(an.Spec.PortsPerNetworkInterface).To(Equal(int32(2048)))
		Expect(autoscaler.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/natgateway-uid", string(gw.UID)))
		Expect(metav1.IsControlledBy(autoscaler, an)).To(BeTrue())
		Expect(*autoscaler.Spec.MinPublicIPs).To(Equal(int32(1)))
		Expect(*autoscaler.Spec.MaxPublicIPs).To(Equal(int32(10)))

		Eventually(natIPs(ctx, gw)).Should(HaveLen(1), "the autoscaler's minimum, allocated by the registry")

		Expect(ic("ironcore-1").Delete(ctx, gw)).To(Succeed())
		Eventually(func() error { return peer().Get(ctx, key, an) }).Should(MatchError(ContainSubstring("not found")))
		Expect(peer().Get(ctx, key, autoscaler)).To(MatchError(ContainSubstring("not found")))
	})

	It("maps a NATGateway created before its Network once the Network appears", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		gw := createNATGateway(ctx, ns, "early", "late-net", nil)
		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(gw.UID)}
		Consistently(func() error { return peer().Get(ctx, key, &apinetv1alpha1.NATGateway{}) }).Should(HaveOccurred())
		createNetwork(ctx, "ironcore-1", ns, "late-net")
		Eventually(func() error { return peer().Get(ctx, key, &apinetv1alpha1.NATGateway{}) }).Should(Succeed())
		Eventually(natIPs(ctx, gw)).ShouldNot(BeEmpty())
	})

	// 2048 ports per NIC give 31 NICs per public IP. The v0.2.4 autoscaler
	// computes (slots - requests) / slotsPerIP with truncating division, so
	// it adds a second IP only once a whole IP's worth of NICs is unserved:
	// at 62 NICs (40 NICs stay on one IP, 9 of them without NAT).
	It("follows the real controller-manager's autoscaling for 62 NICs, bounded by a per-NATGateway maximum", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		an := apinetNetworkOf(ctx, "ironcore-1", nw)
		// Fleet-wide (no member label): other specs' NAT gateways count too.
		natMappings := gathered("apinet_hub_mapping_latency_by_kind_seconds", map[string]string{"kind": "natgateway"})
		mappedBefore := natMappings()
		gw := createNATGateway(ctx, ns, "nat", "net", nil)
		for i := range 62 {
			Expect(peer().Create(ctx, &apinetv1alpha1.NetworkInterface{
				ObjectMeta: metav1.ObjectMeta{Namespace: an.Namespace, Name: fmt.Sprintf("nat-nic-%d", i)},
				Spec: apinetv1alpha1.NetworkInterfaceSpec{
					NodeRef:    corev1.LocalObjectReference{Name: "node-1"},
					NetworkRef: corev1.LocalObjectReference{Name: an.Name},
					IPs:        []apinetnet.IP{apinetnet.MustParseIP(fmt.Sprintf("10.1.0.%d", i+1))},
				},
			})).To(Succeed())
		}
		Eventually(natIPs(ctx, gw), "90s").Should(HaveLen(2), func() string {
			anGW, nics := &apinetv1alpha1.NATGateway{}, &apinetv1alpha1.NetworkInterfaceList{}
			_ = peer().Get(ctx, types.NamespacedName{Namespace: an.Namespace, Name: string(gw.UID)}, anGW)
			_ = peer().List(ctx, nics, client.InNamespace(an.Namespace))
			claimed := 0
			for _, nic := range nics.Items {
				if len(nic.Spec.NATs) > 0 {
					claimed++
				}
			}
			return fmt.Sprintf("62 NICs need 2 IPs; apinet NATGateway spec.ips=%v status=%+v; %d of %d NICs claimed",
				anGW.Spec.IPs, anGW.Status, claimed, len(nics.Items))
		})

		By("exporting the peer's NAT usage and the member's public IPs and mapped NAT gateways")
		member := map[string]string{"member": "fleet.ironcore-1", "peer": "fleet.apinet-1"}
		Eventually(gathered("apinet_hub_nat_ips", map[string]string{"member": "fleet.ironcore-1", "state": "requested"})).Should(BeNumerically(">", 0))
		Eventually(gathered("apinet_hub_nat_ips", map[string]string{"member": "fleet.ironcore-1", "state": "used"})).Should(BeNumerically(">", 0))
		Expect(gathered("apinet_hub_public_ips", member)()).To(BeNumerically(">=", 2))
		Expect(gathered("apinet_hub_objects_mapped", map[string]string{"member": "fleet.ironcore-1", "kind": "natgateway"})()).To(BeNumerically(">=", 1))
		Expect(natMappings()).To(BeNumerically(">", mappedBefore), "this NATGateway's mapping latency")

		By("capping it at one public IP with an annotation on the NATGateway")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
		gw.Annotations = map[string]string{reconcilers.AnnotationNATMaxPublicIPs: "1"}
		Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		Eventually(natIPs(ctx, gw), "90s").Should(HaveLen(1))
		Consistently(natIPs(ctx, gw), "3s").Should(HaveLen(1))

		By("keeping the last valid limits when an annotation is invalid")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
		gw.Annotations = map[string]string{reconcilers.AnnotationNATMaxPublicIPs: "lots"}
		Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		Eventually(func() []eventsv1.Event { return eventsOf(ctx, "ironcore-1", gw, "InvalidNATAutoscaling") }).ShouldNot(BeEmpty())
		autoscaler := &apinetv1alpha1.NATGatewayAutoscaler{}
		Expect(peer().Get(ctx, types.NamespacedName{Namespace: an.Namespace, Name: string(gw.UID)}, autoscaler)).To(Succeed())
		Expect(*autoscaler.Spec.MaxPublicIPs).To(Equal(int32(1)))
		Consistently(natIPs(ctx, gw), "3s").Should(HaveLen(1))
	})

	It("bounds a NATGateway's own limits by the operator's range and reports the refusal once per change", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		gw := createNATGateway(ctx, ns, "greedy", "net", map[string]string{
			reconcilers.AnnotationNATMinPublicIPs: "200", reconcilers.AnnotationNATMaxPublicIPs: "500",
		})
		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(gw.UID)}
		autoscaler := &apinetv1alpha1.NATGatewayAutoscaler{}
		limits := func() []int32 {
			if err := peer().Get(ctx, key, autoscaler); err != nil {
				return nil
			}
			return []int32{*autoscaler.Spec.MinPublicIPs, *autoscaler.Spec.MaxPublicIPs}
		}
		// The suite's hub runs with the default flags (1/10) and no
		// NAT annotations on ironcore-1's profile.
		Eventually(limits).Should(Equal([]int32{10, 10}), "200/500 clamped into the operator's range [1, 10]")
		Expect(autoscaler.Annotations).To(HaveKeyWithValue(reconcilers.AnnotationNATRefused, ContainSubstring("=500 is above the operator's maximum of 10")))

		refusals := func() []eventsv1.Event { return eventsOf(ctx, "ironcore-1", gw, reconcilers.ReasonNATLimitRefused) }
		Eventually(refusals).Should(HaveLen(1))
		e := refusals()[0]
		Expect(e.Type).To(Equal(corev1.EventTypeWarning))
		Expect(e.Note).To(And(
			ContainSubstring(reconcilers.AnnotationNATMinPublicIPs+"=200 is above the operator's maximum of 10"),
			ContainSubstring(reconcilers.AnnotationNATMaxPublicIPs+"=500 is above the operator's maximum of 10"),
			ContainSubstring("min 10 / max 10 public IPs in force")))
		Eventually(natIPs(ctx, gw), "60s").Should(HaveLen(10), "the operator's maximum, allocated by the registry")

		By("reporting the same refusal only once, however often the NATGateway is reconciled")
		for i := range 3 {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
			gw.Labels = map[string]string{"poke": fmt.Sprint(i)}
			Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		}
		Consistently(func(g Gomega) {
			events := refusals()
			g.Expect(events).To(HaveLen(1))
			g.Expect(events[0].Series).To(BeNil(), "no repeat of the same refusal")
		}, "5s").Should(Succeed())

		By("reporting a changed refusal, and narrowing within the range without one")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
		gw.Annotations = map[string]string{reconcilers.AnnotationNATMinPublicIPs: "0", reconcilers.AnnotationNATMaxPublicIPs: "2"}
		Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		Eventually(limits).Should(Equal([]int32{1, 2}))
		Eventually(func() []string {
			var notes []string
			for _, e := range refusals() {
				notes = append(notes, e.Note)
			}
			return notes
		}).Should(ContainElement(ContainSubstring(reconcilers.AnnotationNATMinPublicIPs + "=0 is below the operator's minimum of 1")))
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
		gw.Annotations = map[string]string{reconcilers.AnnotationNATMaxPublicIPs: "2"}
		Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		Eventually(func() map[string]string { limits(); return autoscaler.Annotations }).ShouldNot(HaveKey(reconcilers.AnnotationNATRefused))
		Expect(limits()).To(Equal([]int32{1, 2}))
		Expect(refusals()).To(HaveLen(2))

		Expect(ic("ironcore-1").Delete(ctx, gw)).To(Succeed())
		Eventually(func() error { return peer().Get(ctx, key, autoscaler) }).Should(MatchError(ContainSubstring("not found")))
	})
	It("layers the peer's NAT defaults and ceiling over the hub's flags, and counts public IPs and short gateways per peer", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		DeferCleanup(func(ctx SpecContext) { setPeerNAT(ctx, nil) })
		key := func(gw client.Object) types.NamespacedName {
			return types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(gw.GetUID())}
		}
		limits := func(gw client.Object) func() []int32 {
			return func() []int32 {
				autoscaler := &apinetv1alpha1.NATGatewayAutoscaler{}
				if err := peer().Get(ctx, key(gw), autoscaler); err != nil {
					return nil
				}
				return []int32{*autoscaler.Spec.MinPublicIPs, *autoscaler.Spec.MaxPublicIPs}
			}
		}
		short := gathered("apinet_hub_nat_gateways_short", map[string]string{"member": "fleet.ironcore-1", "peer": "fleet.apinet-1"})

		By("a region's minimum of 2 under its ceiling of 3, over the hub's 1/10")
		setPeerNAT(ctx, map[string]string{clusterprofiles.AnnotationNATMinPublicIPs: "2", clusterprofiles.AnnotationNATPublicIPsCeiling: "3"})
		gw := createNATGateway(ctx, ns, "regional", "net", nil)
		Eventually(limits(gw)).Should(Equal([]int32{2, 3}), "the peer's minimum, the hub's maximum clamped under the peer's ceiling")
		Eventually(natIPs(ctx, gw), "60s").Should(HaveLen(2))
		Eventually(gathered("apinet_hub_peer_public_ips", map[string]string{"peer": "fleet.apinet-1", "kind": "natgateway"})).Should(BeNumerically(">=", 2))
		for _, kind := range []string{"virtualip", "loadbalancer"} {
			Expect(gathered("apinet_hub_peer_public_ips", map[string]string{"peer": "fleet.apinet-1", "kind": kind})()).To(BeNumerically(">=", 0))
		}

		By("a NATGateway asking above the region's ceiling is refused, and held under it")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
		gw.Annotations = map[string]string{reconcilers.AnnotationNATMaxPublicIPs: "8"}
		Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		Eventually(func() []eventsv1.Event { return eventsOf(ctx, "ironcore-1", gw, reconcilers.ReasonNATLimitRefused) }).Should(ContainElement(
			HaveField("Note", ContainSubstring(reconcilers.AnnotationNATMaxPublicIPs+"=8 is above the operator's maximum of 3"))))
		Expect(limits(gw)()).To(Equal([]int32{2, 3}))

		By("the region's minimum dropped: the hub's minimum of 1 again, the autoscaler scales down")
		setPeerNAT(ctx, map[string]string{clusterprofiles.AnnotationNATPublicIPsCeiling: "3"})
		Eventually(limits(gw)).Should(Equal([]int32{1, 3}))
		Eventually(natIPs(ctx, gw), "60s").Should(HaveLen(1))
		Expect(short()).To(BeZero())

		By("32 NICs on one IP (31 NAT slots): one waits while the gateway is under its maximum, so it is short")
		an := apinetNetworkOf(ctx, "ironcore-1", nw)
		for i := range 32 {
			nic := &apinetv1alpha1.NetworkInterface{
				ObjectMeta: metav1.ObjectMeta{Namespace: an.Namespace, Name: fmt.Sprintf("short-nic-%d", i)},
				Spec: apinetv1alpha1.NetworkInterfaceSpec{
					NodeRef:    corev1.LocalObjectReference{Name: "node-1"},
					NetworkRef: corev1.LocalObjectReference{Name: an.Name},
					IPs:        []apinetnet.IP{apinetnet.MustParseIP(fmt.Sprintf("10.2.0.%d", i+1))},
				},
			}
			Expect(peer().Create(ctx, nic)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(peer().Delete(ctx, nic))).To(Succeed()) })
		}
		Eventually(short, "60s").Should(BeNumerically(">=", 1), "requested NAT IPs above the used ones, 1 public IP of at most 3")

		By("a ceiling of 1 on the region: the gateway is at its maximum, a limit rather than a shortage")
		setPeerNAT(ctx, map[string]string{clusterprofiles.AnnotationNATPublicIPsCeiling: "1"})
		Eventually(limits(gw)).Should(Equal([]int32{1, 1}))
		Eventually(short).Should(BeZero())

		By("the region's annotations removed: the hub's flags and the NATGateway's own maximum again")
		setPeerNAT(ctx, nil)
		Eventually(limits(gw)).Should(Equal([]int32{1, 8}))
		Expect(ic("ironcore-1").Delete(ctx, gw)).To(Succeed())
	})

	It("keeps the apinet NATGateway's IP family when the IronCore one changes, reports it once and applies the rest", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		gw := createNATGateway(ctx, ns, "family", "net", nil)
		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(gw.UID)}
		Eventually(natIPs(ctx, gw)).Should(HaveLen(1))
		errorCount := gathered("apinet_hub_reconcile_total", map[string]string{"controller": "natgateway", "member": "fleet.ironcore-1", "result": "error"})
		before := errorCount()

		By("changing ipFamily (apinet refuses it) and portsPerNetworkInterface (apinet takes it) in one edit")
		Eventually(func() error {
			if err := ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
				return err
			}
			gw.Spec.IPFamily = corev1.IPv6Protocol
			gw.Spec.PortsPerNetworkInterface = ptr.To[int32](1024)
			return ic("ironcore-1").Update(ctx, gw)
		}).Should(Succeed())
		an := &apinetv1alpha1.NATGateway{}
		Eventually(func() int32 { Expect(peer().Get(ctx, key, an)).To(Succeed()); return an.Spec.PortsPerNetworkInterface }).Should(Equal(int32(1024)))
		Expect(an.Spec.IPFamily).To(Equal(corev1.IPv4Protocol))
		Expect(an.Annotations).To(HaveKeyWithValue(reconcilers.AnnotationImmutableRefused, "spec.ipFamily is IPv4 in apinet, asked IPv6"))
		Eventually(func() []eventsv1.Event {
			return eventsOf(ctx, "ironcore-1", gw, reconcilers.ReasonImmutableFieldChanged)
		}).Should(HaveLen(1))
		e := eventsOf(ctx, "ironcore-1", gw, reconcilers.ReasonImmutableFieldChanged)[0]
		Expect(e.Type).To(Equal(corev1.EventTypeWarning))
		Expect(e.Note).To(And(ContainSubstring("spec.ipFamily is IPv4 in apinet, asked IPv6"), ContainSubstring("delete the NATGateway")))

		By("reporting it once and not retrying: reconciles of the unchanged gateway add no Event and no error")
		for i := range 3 {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
			gw.Labels = map[string]string{"poke": fmt.Sprint(i)}
			Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		}
		Consistently(func(g Gomega) {
			events := eventsOf(ctx, "ironcore-1", gw, reconcilers.ReasonImmutableFieldChanged)
			g.Expect(events).To(HaveLen(1))
			g.Expect(events[0].Series).To(BeNil(), "no repeat of the same refusal")
		}, "5s").Should(Succeed())
		Expect(errorCount()-before).To(BeZero(), "no failed reconcile of the gateway")
		Expect(natIPs(ctx, gw)()).To(HaveLen(1), "the gateway keeps its public IP")

		By("changing the family back: the refusal record goes")
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(gw), gw)).To(Succeed())
		gw.Spec.IPFamily = corev1.IPv4Protocol
		Expect(ic("ironcore-1").Update(ctx, gw)).To(Succeed())
		Eventually(func() map[string]string { Expect(peer().Get(ctx, key, an)).To(Succeed()); return an.Annotations }).ShouldNot(HaveKey(reconcilers.AnnotationImmutableRefused))
		Expect(eventsOf(ctx, "ironcore-1", gw, reconcilers.ReasonImmutableFieldChanged)).To(HaveLen(1))
		Expect(ic("ironcore-1").Delete(ctx, gw)).To(Succeed())
	})
})
