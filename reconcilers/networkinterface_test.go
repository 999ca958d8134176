package reconcilers_test

import (
	"context"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

// machineProviderNIC creates an apinet NIC as the machine provider would, in
// a member's namespace of the peer, on the apinet network of nw.
func machineProviderNIC(ctx context.Context, memberName, name string, nw *networkingv1alpha1.Network, ip string) *apinetv1alpha1.NetworkInterface {
	GinkgoHelper()
	an := apinetNetworkOf(ctx, memberName, nw)
	nic := &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: apinetNamespace(memberName), Name: name},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{
			NodeRef:    corev1.LocalObjectReference{Name: "node-1"},
			NetworkRef: corev1.LocalObjectReference{Name: an.Name},
			IPs:        []apinetnet.IP{apinetnet.MustParseIP(ip)},
		},
	}
	Expect(peer().Create(ctx, nic)).To(Succeed())
	return nic
}

var _ = Describe("NetworkInterface", func() {
	It("claims the apinet NIC of its provider ID, applies its VirtualIP, reports state, and releases everything on delete", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		vip := &networkingv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vip"},
			Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol},
		}
		Expect(ic("ironcore-1").Create(ctx, vip)).To(Succeed())
		Eventually(func() *commonv1alpha1.IP {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
			return vip.Status.IP
		}).ShouldNot(BeNil())

		anNIC := machineProviderNIC(ctx, "ironcore-1", "machine-nic", nw, "10.0.0.1")
		nic := &networkingv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nic"},
			Spec: networkingv1alpha1.NetworkInterfaceSpec{
				ProviderID: reconcilers.NetworkInterfaceID{Namespace: anNIC.Namespace, Name: anNIC.Name, Node: "node-1", UID: anNIC.UID}.String(),
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				IPs:        []networkingv1alpha1.IPSource{{Value: commonv1alpha1.MustParseNewIP("10.0.0.1")}},
				VirtualIP:  &networkingv1alpha1.VirtualIPSource{VirtualIPRef: &corev1.LocalObjectReference{Name: "vip"}},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, nic)).To(Succeed())

		By("claiming the VirtualIP and the apinet NIC")
		Eventually(func() *commonv1alpha1.LocalUIDReference {
			Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
			return vip.Spec.TargetRef
		}).Should(Equal(&commonv1alpha1.LocalUIDReference{Name: "nic", UID: nic.UID}))
		Eventually(func(g Gomega) {
			g.Expect(peer().Get(ctx, client.ObjectKeyFromObject(anNIC), anNIC)).To(Succeed())
			g.Expect(anNIC.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/networkinterface-uid", string(nic.UID)))
			g.Expect(anNIC.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/networkinterface-namespace", ns))
			g.Expect(anNIC.Labels).To(HaveKeyWithValue(clusterprofiles.LabelCluster, "fleet.ironcore-1"))
			g.Expect(anNIC.Annotations).To(HaveKeyWithValue("apinetlet.ironcore.dev/networkinterface-name", "nic"))
			g.Expect(anNIC.Spec.PublicIPs).To(HaveLen(1))
			g.Expect(anNIC.Spec.PublicIPs[0].IP.Addr).To(Equal(vip.Status.IP.Addr))
		}).Should(Succeed())
		anIP := &apinetv1alpha1.IP{}
		Eventually(func(g Gomega) {
			g.Expect(peer().Get(ctx, types.NamespacedName{Namespace: anNIC.Namespace, Name: string(vip.UID)}, anIP)).To(Succeed())
			g.Expect(anIP.Spec.ClaimRef).NotTo(BeNil())
			g.Expect(anIP.Spec.ClaimRef.UID).To(Equal(anNIC.UID), "the apinet registry claimed the IP for the NIC")
		}).Should(Succeed())
		Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(nic), nic)).To(Succeed())
		Expect(nic.Status.State).To(Equal(networkingv1alpha1.NetworkInterfaceStatePending))

		By("reporting the state the metalnetlet writes")
		anNIC.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
		anNIC.Status.PublicIPs = []apinetnet.IP{{Addr: vip.Status.IP.Addr}}
		Expect(peer().Status().Update(ctx, anNIC)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(nic), nic)).To(Succeed())
			g.Expect(nic.Status.State).To(Equal(networkingv1alpha1.NetworkInterfaceStateAvailable))
			g.Expect(nic.Status.IPs).To(Equal([]commonv1alpha1.IP{commonv1alpha1.MustParseIP("10.0.0.1")}))
			g.Expect(nic.Status.VirtualIP).To(Equal(vip.Status.IP))
		}).Should(Succeed())

		By("deleting the IronCore NIC")
		Expect(ic("ironcore-1").Delete(ctx, nic)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
			g.Expect(vip.Spec.TargetRef).To(BeNil())
			g.Expect(peer().Get(ctx, client.ObjectKeyFromObject(anIP), anIP)).To(Succeed())
			g.Expect(anIP.Spec.ClaimRef).To(BeNil(), "released, not deleted")
			g.Expect(peer().Get(ctx, client.ObjectKeyFromObject(anNIC), anNIC)).To(Succeed())
			g.Expect(anNIC.Labels).NotTo(HaveKey("apinetlet.ironcore.dev/networkinterface-uid"))
			g.Expect(anNIC.Spec.PublicIPs).To(BeEmpty())
		}).Should(Succeed())
	})

	It("reports Pending with cleared fields while its apinet NIC does not exist", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nic := &networkingv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nic"},
			Spec: networkingv1alpha1.NetworkInterfaceSpec{
				ProviderID: reconcilers.NetworkInterfaceID{Namespace: apinetNamespace("ironcore-1"), Name: "missing", Node: "node-1", UID: "no-such-uid"}.String(),
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				IPs:        []networkingv1alpha1.IPSource{{Value: commonv1alpha1.MustParseNewIP("10.0.0.2")}},
			},
		}
		Expect(ic("ironcore-1").Create(ctx, nic)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(nic), nic)).To(Succeed())
			g.Expect(nic.Status.State).To(Equal(networkingv1alpha1.NetworkInterfaceStatePending))
			g.Expect(nic.Status.IPs).To(BeEmpty())
			g.Expect(nic.Status.VirtualIP).To(BeNil())
			g.Expect(nic.Finalizers).To(ContainElement(reconcilers.FinalizerNetworkInterface))
		}).Should(Succeed())
	})
})

var _ = Describe("NetworkInterface gone path", func() {
	It("releases every stale apinet NIC of a gone IronCore NIC, even when one of them is already gone", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		gone := metav1.ObjectMeta{Namespace: ns, Name: "gone-nic", UID: "0000gone-0000-4000-8000-000000000001"}
		stale := func(name, ip string) *apinetv1alpha1.NetworkInterface {
			GinkgoHelper()
			an := machineProviderNIC(ctx, "ironcore-1", name, nw, ip)
			Eventually(func() error {
				Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
				an.Labels = map[string]string{
					reconcilers.OriginNetworkInterface.UIDLabel():       string(gone.UID),
					reconcilers.OriginNetworkInterface.NamespaceLabel(): ns,
					clusterprofiles.LabelCluster:                        "fleet.ironcore-1",
				}
				an.Annotations = map[string]string{reconcilers.OriginNetworkInterface.NameKey(): gone.Name}
				an.Spec.PublicIPs = []apinetv1alpha1.NetworkInterfacePublicIP{{Name: "vip", IPFamily: corev1.IPv4Protocol}}
				return peer().Update(ctx, an)
			}).Should(Succeed())
			return an
		}
		first := stale("stale-1", "10.0.1.1")
		Expect(peer().Delete(ctx, first)).To(Succeed(), "the first is gone before the hub gets to it")
		rest := []*apinetv1alpha1.NetworkInterface{stale("stale-2", "10.0.1.2"), stale("stale-3", "10.0.1.3")}
		for _, an := range rest {
			Eventually(func(g Gomega) {
				g.Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed())
				g.Expect(an.Labels).NotTo(HaveKey(reconcilers.OriginNetworkInterface.UIDLabel()))
				g.Expect(an.Labels).NotTo(HaveKey(clusterprofiles.LabelCluster))
				g.Expect(an.Annotations).NotTo(HaveKey(reconcilers.OriginNetworkInterface.NameKey()))
				g.Expect(an.Spec.PublicIPs).To(BeEmpty())
			}).Should(Succeed(), "%s released", an.Name)
		}
	})
})
