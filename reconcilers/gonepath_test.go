package reconcilers_test

import (
	"context"
	"fmt"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// liftDeletionHold sets the lift annotation of a member's profile to value
// and waits until the member's settings have it.
func liftDeletionHold(ctx context.Context, name, value string) {
	GinkgoHelper()
	hub := testFleet.Hub().Client()
	Eventually(func() error {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		if err := hub.Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: name}, cp); err != nil {
			return err
		}
		if cp.Annotations == nil {
			cp.Annotations = map[string]string{}
		}
		cp.Annotations[clusterprofiles.AnnotationLiftDeletionHold] = value
		return hub.Update(ctx, cp)
	}).Should(Succeed())
	Eventually(func() string {
		m, err := topology.Member(member(name))
		if err != nil {
			return ""
		}
		return m.Settings().LiftDeletionHold
	}).Should(Equal(value))
}

// profileEvents returns the reasons of the Events on a member's profile.
// heldCondition is the DeletionsHeld condition of a member's profile (nil if none).
func heldCondition(ctx context.Context, name string) *metav1.Condition {
	GinkgoHelper()
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	Expect(testFleet.Hub().Client().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: name}, cp)).To(Succeed())
	return meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionDeletionsHeld)
}

func profileEvents(ctx context.Context, name string) []string {
	GinkgoHelper()
	list := &eventsv1.EventList{}
	Expect(testFleet.Hub().Client().List(ctx, list, client.InNamespace(fleetNamespace))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "ClusterProfile" && e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// liveAPINetNetworks counts the apinet Networks of a member that stem from
// IronCore Networks of namespace ns and are not being deleted.
func liveAPINetNetworks(ctx context.Context, memberName, ns string) int {
	GinkgoHelper()
	list := &apinetv1alpha1.NetworkList{}
	Expect(peer().List(ctx, list, client.InNamespace(apinetNamespace(memberName)),
		client.MatchingLabels{reconcilers.OriginNetwork.NamespaceLabel(): ns})).To(Succeed())
	n := 0
	for _, an := range list.Items {
		if an.DeletionTimestamp.IsZero() {
			n++
		}
	}
	return n
}

var _ = Describe("The gone path", func() {
	It("holds deletions past the member's budget when a storm of sources goes missing, reports them, and lets them go once the operator lifts the hold", func(ctx SpecContext) {
		const name, storm = "ironcore-2", 100
		c := ic(name)
		// Engaged first: a spec before may have left a re-engagement of
		// this member under way (a credential Secret and its profile are
		// two writes).
		var m *clusterprofiles.Member
		Eventually(func() (err error) {
			m, err = topology.Member(member(name))
			return err
		}, "60s").Should(Succeed())
		Eventually(func() bool { return engaged(ctx, name) }).Should(BeTrue())
		By("opening a fresh budget window: earlier specs' gone-path deletions do not count")
		liftDeletionHold(ctx, name, fmt.Sprintf("storm-start-%d", time.Now().UnixNano()))

		By(fmt.Sprintf("mapping %d Networks", storm))
		ns := newNamespace(ctx, name)
		networks := make([]*networkingv1alpha1.Network, storm)
		for i := range networks {
			networks[i] = createNetwork(ctx, name, ns, fmt.Sprintf("storm-%03d", i))
		}
		Eventually(func() int { return liveAPINetNetworks(ctx, name, ns) }, 2*time.Minute).Should(Equal(storm))
		for _, nw := range networks {
			Eventually(func(g Gomega) {
				g.Expect(c.Get(ctx, client.ObjectKeyFromObject(nw), nw)).To(Succeed())
				g.Expect(nw.Finalizers).To(ContainElement(reconcilers.FinalizerNetwork))
			}).Should(Succeed())
		}
		objects, err := reconcilers.MappedObjects(ctx, m)
		Expect(err).NotTo(HaveOccurred())
		budget := max(objects*reconcilers.DefaultGoneDeletionBudgetPercent/100, reconcilers.DefaultGoneDeletionBudgetMin)
		Expect(budget).To(BeNumerically("<", storm), "the storm must exceed the budget (%d objects mapped)", objects)

		By("making the IronCore Networks vanish without the hub's delete path: handed to another controller, finalizers removed, deleted")
		for _, nw := range networks {
			Eventually(func() error {
				if err := c.Get(ctx, client.ObjectKeyFromObject(nw), nw); err != nil {
					return err
				}
				if nw.Annotations == nil {
					nw.Annotations = map[string]string{}
				}
				nw.Annotations[reconcilers.AnnotationManagedBy] = "someone-else"
				nw.Finalizers = nil
				return c.Update(ctx, nw)
			}).Should(Succeed())
			Expect(c.Delete(ctx, nw)).To(Succeed())
		}
		for _, nw := range networks {
			Eventually(func() bool { return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(nw), nw)) }).Should(BeTrue())
		}
		Expect(liveAPINetNetworks(ctx, name, ns)).To(Equal(storm), "the hub did not see them go")

		By("touching their apinet Networks, as a relist of the peer would: each brings its missing source to the gone path")
		start := time.Now()
		list := &apinetv1alpha1.NetworkList{}
		Expect(peer().List(ctx, list, client.InNamespace(apinetNamespace(name)),
			client.MatchingLabels{reconcilers.OriginNetwork.NamespaceLabel(): ns})).To(Succeed())
		for i := range list.Items {
			an := &list.Items[i]
			Expect(peer().Patch(ctx, an, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"test.apinet-hub/touched":"storm"}}}`)))).To(Succeed())
		}

		By(fmt.Sprintf("the budget (%d of %d mapped objects) holds: the rest is held, reported on the member, as a metric and as an Event", budget, objects))
		Eventually(func(g Gomega) {
			held, since := m.DeletionsHeld()
			g.Expect(held).To(Equal(storm - budget))
			g.Expect(since).NotTo(BeZero())
			g.Expect(storm - liveAPINetNetworks(ctx, name, ns)).To(Equal(budget))
		}, time.Minute).Should(Succeed())
		held, since := m.DeletionsHeld()
		Consistently(func() int { return storm - liveAPINetNetworks(ctx, name, ns) }, 3*time.Second).Should(Equal(budget),
			"held deletions stay held (retried every 10 s)")
		Expect(gathered("apinet_hub_gone_deletions_held", map[string]string{"member": "fleet.ironcore-2", "peer": "fleet.apinet-1"})()).To(BeEquivalentTo(held))
		Eventually(func() []string { return profileEvents(ctx, name) }).Should(ContainElement(reconcilers.EventReasonDeletionsHeld))
		Eventually(func() *metav1.Condition { return heldCondition(ctx, name) }).Should(And(Not(BeNil()),
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", clusterprofiles.ReasonDeletionsHeld),
			HaveField("Message", ContainSubstring(fmt.Sprintf("%d gone-path deletions held", held)))), "the profile says so")
		AddReportEntry("gone-path storm", fmt.Sprintf("%d sources missing, %d objects mapped: %d deleted (the budget), %d held since %s (%.1f s after the first touch)",
			storm, objects, budget, held, since.Format(time.RFC3339), since.Sub(start).Seconds()))
		GinkgoWriter.Printf("gone-path storm: %d missing, %d mapped, %d deleted, %d held\n", storm, objects, budget, held)

		By("lifting the hold with a new annotation value: the held deletions go through")
		lifted := time.Now()
		liftDeletionHold(ctx, name, fmt.Sprintf("storm-lift-%d", time.Now().UnixNano()))
		Eventually(func() int { return liveAPINetNetworks(ctx, name, ns) }, time.Minute).Should(BeZero())
		Eventually(func() int { held, _ := m.DeletionsHeld(); return held }).Should(BeZero())
		Eventually(gathered("apinet_hub_gone_deletions_held", map[string]string{"member": "fleet.ironcore-2"})).Should(BeZero())
		Eventually(func() []string { return profileEvents(ctx, name) }).Should(ContainElement(reconcilers.EventReasonDeletionHoldLifted))
		Eventually(func() *metav1.Condition { return heldCondition(ctx, name) }).Should(BeNil(), "the condition goes with the hold")
		AddReportEntry("gone-path lift", fmt.Sprintf("the %d held deletions done %.1f s after the lift", held, time.Since(lifted).Seconds()))
	})

	It("deletes nothing for an IronCore object the member's cache lacks but the member serves: a resumed engagement whose LIST dropped one Network leaves its apinet Network alone", func(ctx SpecContext) {
		const name = "ironcore-2"
		c := ic(name)
		ns := newNamespace(ctx, name)
		dropped := createNetwork(ctx, name, ns, "dropped")
		vanished := createNetwork(ctx, name, ns, "vanished")
		for _, nw := range []*networkingv1alpha1.Network{dropped, vanished} {
			expectAvailable(ctx, name, nw)
		}
		droppedAN, vanishedAN := apinetNetworkOf(ctx, name, dropped), apinetNetworkOf(ctx, name, vanished)

		By("making one Network vanish without the hub's delete path (the control: really gone)")
		Eventually(func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(vanished), vanished); err != nil {
				return err
			}
			vanished.Annotations = map[string]string{reconcilers.AnnotationManagedBy: "someone-else"}
			vanished.Finalizers = nil
			return c.Update(ctx, vanished)
		}).Should(Succeed())
		Expect(c.Delete(ctx, vanished)).To(Succeed())

		By("re-engaging the member through a list filter that drops the other Network from every LIST and WATCH")
		filter, err := fleet.StartListFilter(testFleet.Cluster(name), "networks")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(filter.Close)
		filter.Hide(ns, dropped.Name)
		kubeconfig, err := testFleet.Cluster(name).HubKubeconfig(ctx)
		Expect(err).NotTo(HaveOccurred())
		via, err := filter.KubeconfigVia(kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		before, err := topology.Member(member(name))
		Expect(err).NotTo(HaveOccurred())
		annotations := map[string]string{
			clusterprofiles.AnnotationDisableNetworkPeering: "true",
			clusterprofiles.AnnotationNodeAffinityAware:     "false",
			clusterprofiles.AnnotationTakeOver:              "false",
		}
		Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), fleetNamespace, name, fleet.IronCoreLabels("apinet-1"), annotations, via)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			By("restoring the member's direct credentials")
			Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), fleetNamespace, name, fleet.IronCoreLabels("apinet-1"), annotations, kubeconfig)).To(Succeed())
			Eventually(func(g Gomega) {
				m, err := topology.Member(member(name))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(m.GetClient().Get(ctx, client.ObjectKeyFromObject(dropped), &networkingv1alpha1.Network{})).To(Succeed())
			}, time.Minute).Should(Succeed(), "re-engaged directly: the cache has the Network again")
		})
		var m *clusterprofiles.Member
		Eventually(func(g Gomega) {
			m, err = topology.Member(member(name))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(m).NotTo(BeIdenticalTo(before))
		}, time.Minute).Should(Succeed(), "re-engaged through the filter")
		Expect(apierrors.IsNotFound(m.GetClient().Get(ctx, client.ObjectKeyFromObject(dropped), &networkingv1alpha1.Network{}))).To(BeTrue(),
			"the member's cache lacks the dropped Network")
		Expect(m.GetAPIReader().Get(ctx, client.ObjectKeyFromObject(dropped), &networkingv1alpha1.Network{})).To(Succeed(),
			"the member serves it")

		By("touching both apinet Networks (unless the re-engagement's relist of the peer brought them to the gone path already)")
		for _, an := range []*apinetv1alpha1.Network{droppedAN, vanishedAN} {
			patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"test.apinet-hub/touched":"dropped"}}}`))
			Expect(client.IgnoreNotFound(peer().Patch(ctx, an, patch))).To(Succeed())
		}
		Eventually(func() bool {
			an := &apinetv1alpha1.Network{}
			err := peer().Get(ctx, client.ObjectKeyFromObject(vanishedAN), an)
			return apierrors.IsNotFound(err) || (err == nil && !an.DeletionTimestamp.IsZero())
		}).Should(BeTrue(), "the really gone Network's apinet Network is deleted: the gone path runs")
		Consistently(func(g Gomega) {
			an := &apinetv1alpha1.Network{}
			g.Expect(peer().Get(ctx, client.ObjectKeyFromObject(droppedAN), an)).To(Succeed())
			g.Expect(an.DeletionTimestamp).To(BeNil())
			g.Expect(an.UID).To(Equal(droppedAN.UID))
		}, 5*time.Second).Should(Succeed(), "the dropped Network's apinet Network survives: the live read found its source")
		held, _ := m.DeletionsHeld()
		Expect(held).To(BeZero())
	})

	It("deletes the apinet Network of a source that went while its member was not engaged: a member engaged after the shared peer cache synced is replayed what it holds", func(ctx SpecContext) {
		const name = "ironcore-2"
		c := ic(name)
		ns := newNamespace(ctx, name)
		nw := createNetwork(ctx, name, ns, "went-while-away")
		expectAvailable(ctx, name, nw)
		an := apinetNetworkOf(ctx, name, nw)
		annotations := map[string]string{
			clusterprofiles.AnnotationDisableNetworkPeering: "true",
			clusterprofiles.AnnotationNodeAffinityAware:     "false",
			clusterprofiles.AnnotationTakeOver:              "false",
		}
		kubeconfig, err := testFleet.Cluster(name).HubKubeconfig(ctx)
		Expect(err).NotTo(HaveOccurred())

		By("taking the member away: credentials its cluster rejects (the peer, and ironcore-1 on it, stay engaged)")
		rejected, err := testFleet.Cluster(name).KubeconfigWith(&clientcmdapi.AuthInfo{Token: "rejected"}, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), fleetNamespace, name, fleet.IronCoreLabels("apinet-1"), annotations, rejected)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), fleetNamespace, name, fleet.IronCoreLabels("apinet-1"), annotations, kubeconfig)).To(Succeed())
			Eventually(func() bool { return engaged(ctx, name) }, time.Minute).Should(BeTrue())
		})
		Eventually(func() error { _, err := topology.Member(member(name)); return err }, time.Minute).ShouldNot(Succeed(), "disengaged")

		By("making the Network vanish while nothing of the hub watches its member")
		Eventually(func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(nw), nw); err != nil {
				return err
			}
			nw.Finalizers = nil
			return c.Update(ctx, nw)
		}).Should(Succeed())
		Expect(c.Delete(ctx, nw)).To(Succeed())
		Expect(peer().Get(ctx, client.ObjectKeyFromObject(an), an)).To(Succeed(), "its apinet Network is left behind")

		By("giving the member its credentials back: no IronCore event names the Network any more, and nothing touches the apinet Network")
		Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), fleetNamespace, name, fleet.IronCoreLabels("apinet-1"), annotations, kubeconfig)).To(Succeed())
		Eventually(func() bool {
			got := &apinetv1alpha1.Network{}
			err := peer().Get(ctx, client.ObjectKeyFromObject(an), got)
			return apierrors.IsNotFound(err) || (err == nil && !got.DeletionTimestamp.IsZero())
		}, time.Minute).Should(BeTrue(), "the re-engaged member's peer subscription replays the apinet Network, and the gone path deletes it")
	})
})
