package e2e

import (
	"fmt"
	"strings"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

// The checker is what every case trusts, so it is tested too: with the hub
// stopped, each kind of damage is done by hand and must be named.
var _ = Describe("The invariant checker", func() {
	It("names every kind of violation: unmapped, stuck deleting, orphaned, recreated", func(ctx SpecContext) {
		m := member{cluster: testFleet.Cluster("ironcore-4"), peer: peer,
			apinetNamespace: clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: profileNamespace, Name: "ironcore-4"})}
		ic, an := m.cluster.Client(), peer.Client()
		Expect(hub.start()).To(Succeed())
		Expect(m.onboard(ctx, hubKubeconfig(ctx, m.cluster))).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			cp := &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: profileNamespace, Name: m.name()}}
			Expect(client.IgnoreNotFound(testFleet.Hub().Client().Delete(ctx, cp))).To(Succeed())
			Expect(hub.start()).To(Succeed())
		})

		kept := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "kept"}}
		replaced := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "replaced"}}
		doomed := publicVIP("doomed")
		for _, o := range []client.Object{kept, replaced, doomed} {
			Expect(ic.Create(ctx, o)).To(Succeed())
		}
		check := newChecker(m)
		took, violations := check.converge(ctx, convergeTimeout)
		Expect(violations).To(BeEmpty(), "mapped within %s", took)

		By("stopping the hub, so that nothing is repaired")
		Expect(hub.stop()).To(Succeed())

		By("creating a Network the hub cannot map")
		unmapped := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "unmapped"}}
		Expect(ic.Create(ctx, unmapped)).To(Succeed())

		By("deleting a VirtualIP the hub holds with its finalizer")
		Expect(ic.Delete(ctx, doomed)).To(Succeed())

		By("writing an apinet Network whose source does not exist")
		orphan := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: m.apinetNamespace, Name: "00000000-0000-0000-0000-000000000000",
			Labels: map[string]string{
				reconcilers.OriginNetwork.UIDLabel(): "00000000-0000-0000-0000-000000000000", reconcilers.OriginNetwork.NamespaceLabel(): workloadNamespace,
				clusterprofiles.LabelCluster: m.label(),
			}}}
		Expect(an.Create(ctx, orphan)).To(Succeed())

		By("replacing the apinet Network of a live Network")
		original := &apinetv1alpha1.Network{}
		Expect(an.Get(ctx, types.NamespacedName{Namespace: m.apinetNamespace, Name: string(replaced.UID)}, original)).To(Succeed())
		Expect(an.Delete(ctx, original)).To(Succeed())
		replacement := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: original.Namespace, Name: original.Name,
			Labels: original.Labels, Annotations: original.Annotations}}
		Eventually(func() error { return an.Create(ctx, replacement) }, 30*time.Second).Should(Succeed())

		violations = check.check(ctx)
		AddReportEntry("checker violations (hub stopped, damage done by hand)", strings.Join(violations, "\n"))
		Expect(violations).To(ContainElements(
			ContainSubstring("Network default/unmapped (uid %s) is not mapped", unmapped.UID),
			ContainSubstring("Network default/unmapped (uid %s) lacks finalizer %s", unmapped.UID, reconcilers.FinalizerNetwork),
			MatchRegexp(`VirtualIP default/doomed is still deleting \(since .*, finalizers \[%s\]\)`, reconcilers.FinalizerVirtualIP),
			ContainSubstring("apinet Network %s/%s has no live IronCore source", m.apinetNamespace, orphan.Name),
			ContainSubstring("apinet Network %s/%s was recreated while its source lived: UIDs [%s %s]", m.apinetNamespace, replaced.UID, original.UID, replacement.UID),
			ContainSubstring("Network default/replaced (uid %s) has providerID", replaced.UID),
		))
		Expect(violations).To(HaveEach(HavePrefix(m.name() + ": ")))
		Expect(violations).NotTo(ContainElement(ContainSubstring(fmt.Sprintf("default/kept (uid %s)", kept.UID))), "the untouched Network is fine")
	}, NodeTimeout(4*time.Minute))
})
