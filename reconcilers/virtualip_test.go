package reconcilers_test

import (
	"strconv"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

func mustAtoi(s string) int32 {
	GinkgoHelper()
	n, err := strconv.Atoi(s)
	Expect(err).NotTo(HaveOccurred())
	return int32(n)
}

func apinetPrefix(s string) *apinetnet.IPPrefix {
	p := apinetnet.MustParseIPPrefix(s)
	return &p
}

var _ = Describe("VirtualIP", func() {
	It("allocates a public apinet IP, reports it, and releases it on delete", func(ctx SpecContext) {
		vip := &networkingv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "vip"},
			Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol},
		}
		Expect(ic("ironcore-1").Create(ctx, vip)).To(Succeed())

		ip := &apinetv1alpha1.IP{}
		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(vip.UID)}
		Eventually(func() error { return peer().Get(ctx, key, ip) }).Should(Succeed())
		Expect(ip.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/virtualip-uid", string(vip.UID)))
		Expect(ip.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/virtualip-namespace", "default"))
		Expect(ip.Labels).To(HaveKeyWithValue(clusterprofiles.LabelCluster, "fleet.ironcore-1"))
		Expect(ip.Annotations).To(HaveKeyWithValue("apinetlet.ironcore.dev/virtualip-name", "vip"))
		Expect(ip.Spec.Type).To(Equal(apinetv1alpha1.IPTypePublic))
		Expect(ip.Spec.IPFamily).To(Equal(corev1.IPv4Protocol))
		Expect(ip.Spec.IP.IsValid()).To(BeTrue(), "allocated by the apinet registry")

		Eventually(func(g Gomega) {
			g.Expect(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
			g.Expect(vip.Status.IP).NotTo(BeNil())
			g.Expect(vip.Status.IP.Addr).To(Equal(ip.Spec.IP.Addr))
		}).Should(Succeed())
		Expect(vip.Finalizers).To(ContainElement(reconcilers.FinalizerVirtualIP))

		Expect(ic("ironcore-1").Delete(ctx, vip)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(vip), vip))
		}).Should(BeTrue())
		Expect(apierrors.IsNotFound(peer().Get(ctx, key, ip))).To(BeTrue())
	})
})

var _ = Describe("The delete path", func() {
	It("deletes only apinet objects the member owns: one labelled for another member is left alone", func(ctx SpecContext) {
		c := ic("ironcore-1")
		vip := &networkingv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "vip-not-ours"},
			Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol},
		}
		Expect(c.Create(ctx, vip)).To(Succeed())
		ip := &apinetv1alpha1.IP{}
		key := types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(vip.UID)}
		Eventually(func() error { return peer().Get(ctx, key, ip) }).Should(Succeed())
		Eventually(func() []string {
			Expect(c.Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
			return vip.Finalizers
		}).Should(ContainElement(reconcilers.FinalizerVirtualIP))

		By("taking the VirtualIP out of the hub's hands while the apinet IP is relabelled for another member")
		vip.Annotations = map[string]string{reconcilers.AnnotationManagedBy: "someone-else"}
		Expect(c.Update(ctx, vip)).To(Succeed())
		Eventually(func() error {
			Expect(peer().Get(ctx, key, ip)).To(Succeed())
			ip.Labels[clusterprofiles.LabelCluster] = "fleet.ironcore-2"
			return peer().Update(ctx, ip)
		}).Should(Succeed())

		By("deleting the VirtualIP and handing it back to the hub")
		Expect(c.Delete(ctx, vip)).To(Succeed())
		Eventually(func() error {
			Expect(c.Get(ctx, client.ObjectKeyFromObject(vip), vip)).To(Succeed())
			vip.Annotations = nil
			return c.Update(ctx, vip)
		}).Should(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(vip), vip))
		}).Should(BeTrue(), "the finalizer goes: nothing of this member is left")
		Consistently(func(g Gomega) {
			g.Expect(peer().Get(ctx, key, ip)).To(Succeed())
			g.Expect(ip.DeletionTimestamp).To(BeNil())
			g.Expect(ip.Labels).To(HaveKeyWithValue(clusterprofiles.LabelCluster, "fleet.ironcore-2"))
		}).Should(Succeed(), "another member's object is neither deleted on the delete path nor on the gone path")
		Expect(peer().Delete(ctx, ip)).To(Succeed())
	})
})
