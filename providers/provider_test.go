package providers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	ipamv1alpha1 "github.com/ironcore-dev/ironcore/api/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func hubClient() client.Client { return testFleet.Hub().Client() }

func clusterName(profile string) multicluster.ClusterName {
	return clusterprofiles.ClusterName(types.NamespacedName{Namespace: fleetNamespace, Name: profile})
}

// onboard creates (or updates) a ClusterProfile and, if kubeconfig is not
// nil, its credential Secret, as a cluster manager would.
func onboard(ctx context.Context, name string, labels, annotations map[string]string, kubeconfig []byte) {
	GinkgoHelper()
	Expect(fleet.Onboard(ctx, hubClient(), fleetNamespace, name, labels, annotations, kubeconfig)).To(Succeed())
}

// writeSecret replaces a member's credential Secret.
func writeSecret(ctx context.Context, profile string, kubeconfig []byte) {
	GinkgoHelper()
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	Expect(hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: profile}, cp)).To(Succeed())
	onboard(ctx, profile, cp.Labels, cp.Annotations, kubeconfig)
}

var ironcoreLabels, apinetLabels = fleet.IronCoreLabels, fleet.APINetLabels

// engagedCondition returns the hub's condition on a profile (nil if none).
func engagedCondition(ctx context.Context, profile string) *metav1.Condition {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: profile}, cp); err != nil {
		return nil
	}
	return meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
}

func expectReason(ctx context.Context, profile, reason string) {
	GinkgoHelper()
	Eventually(func() string {
		if c := engagedCondition(ctx, profile); c != nil {
			return c.Reason
		}
		return ""
	}).Should(Equal(reason), "reason of %s on ClusterProfile %s", clusterprofiles.ConditionEngaged, profile)
}

func expectEvent(ctx context.Context, profile, reason string) {
	GinkgoHelper()
	Eventually(func() []string {
		list := &eventsv1.EventList{}
		Expect(hubClient().List(ctx, list, client.InNamespace(fleetNamespace))).To(Succeed())
		var reasons []string
		for _, e := range list.Items {
			if e.Regarding.Name == profile && e.Regarding.Kind == "ClusterProfile" {
				reasons = append(reasons, e.Reason)
			}
		}
		return reasons
	}).Should(ContainElement(reason), "Event %s on ClusterProfile %s", reason, profile)
}

// kubeSystemUID is a fleet cluster's identity: the UID of its kube-system
// namespace.
func kubeSystemUID(ctx context.Context, cluster string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{}
	Expect(testFleet.Cluster(cluster).Client().Get(ctx, client.ObjectKey{Name: "kube-system"}, ns)).To(Succeed())
	return string(ns.UID)
}

func apinetNamespace(member string) string {
	return clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: fleetNamespace, Name: member})
}

// peerNamespaceState is what the peer holds for members: each member
// namespace's annotations and its apinet Networks (name -> UID, VNI, labels).
func peerNamespaceState(ctx context.Context, members ...string) map[string]string {
	GinkgoHelper()
	peer := testFleet.Cluster("apinet-1").Client()
	state := map[string]string{}
	for _, m := range members {
		ns := &corev1.Namespace{}
		Expect(peer.Get(ctx, client.ObjectKey{Name: apinetNamespace(m)}, ns)).To(Succeed())
		state["namespace/"+ns.Name] = fmt.Sprint(ns.Annotations, ns.Labels, ns.DeletionTimestamp)
		list := &apinetv1alpha1.NetworkList{}
		Expect(peer.List(ctx, list, client.InNamespace(ns.Name))).To(Succeed())
		for _, an := range list.Items {
			state[ns.Name+"/"+an.Name] = fmt.Sprint(an.UID, " ", an.Spec.ID, " ", an.Labels, " ", an.DeletionTimestamp)
		}
	}
	return state
}

// expectPausedFor waits until a profile is Paused for the API named.
func expectPausedFor(ctx context.Context, profile, api string) {
	GinkgoHelper()
	Eventually(func() string {
		if c := engagedCondition(ctx, profile); c != nil && c.Reason == clusterprofiles.ReasonPaused {
			return c.Message
		}
		return ""
	}).Should(ContainSubstring(api), "%s is Paused, naming the %s API", profile, api)
}

func createNetwork(ctx context.Context, member *fleet.Cluster, name string) {
	GinkgoHelper()
	Expect(member.Client().Create(ctx, &networkingv1alpha1.Network{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
	})).To(Succeed())
}

func expectSeen(profile, network string) {
	GinkgoHelper()
	Eventually(func() bool { return seen.saw(clusterName(profile), network) }).Should(BeTrue(),
		"the test reconciler gets Network %s from member %s", network, profile)
}

// onboardNewMember starts a new IronCore member with a Network "first",
// onboards it, waits until the test reconciler sees that Network, and
// returns when the profile was created.
func onboardNewMember(ctx context.Context, name string) time.Time {
	GinkgoHelper()
	member, err := testFleet.Add(ctx, fleet.Spec{Name: name, Role: fleet.RoleIronCore})
	Expect(err).NotTo(HaveOccurred())
	createNetwork(ctx, member, "first")
	token, err := member.ServiceAccountToken(ctx, "apinet-hub")
	Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	onboard(ctx, name, ironcoreLabels("apinet-1"), nil, token.Kubeconfig)
	expectSeen(name, "first")
	return start
}

var _ = Describe("The ClusterProfile provider", Ordered, func() {
	var tokens = map[string]*fleet.Token{}

	It("engages two IronCore members and their apinet peer from profiles and Secrets", func(ctx SpecContext) {
		peer := testFleet.Cluster("apinet-1")
		peerToken, err := peer.ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		onboard(ctx, "apinet-1", apinetLabels, nil, peerToken.Kubeconfig)
		for _, name := range []string{"ironcore-1", "ironcore-2"} {
			tokens[name], err = testFleet.Cluster(name).ServiceAccountToken(ctx, "apinet-hub")
			Expect(err).NotTo(HaveOccurred())
			onboard(ctx, name, ironcoreLabels("apinet-1"), nil, tokens[name].Kubeconfig)
			createNetwork(ctx, testFleet.Cluster(name), "first")
		}
		for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2"} {
			expectReason(ctx, name, clusterprofiles.ReasonEngaged)
		}
		expectSeen("ironcore-1", "first")
		expectSeen("ironcore-2", "first")
		expectEvent(ctx, "ironcore-1", clusterprofiles.ReasonEngaged)

		By("creating each member's apinet namespace in the peer")
		for _, name := range []string{"ironcore-1", "ironcore-2"} {
			ns := clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: fleetNamespace, Name: name})
			Expect(peer.Client().Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})).To(Succeed())
			m, err := topology.Member(clusterName(name))
			Expect(err).NotTo(HaveOccurred())
			Expect(m.Peer.Namespace).To(Equal(ns))
			Expect(m.Peer.Name).To(Equal(clusterName("apinet-1")))
		}
		Expect(topology.MembersOf(clusterName("apinet-1"))).To(ConsistOf(clusterName("ironcore-1"), clusterName("ironcore-2")))
	})

	It("shares a real IronCore member's discovery for every kind the reconcilers use", func(ctx SpecContext) {
		// Every member then maps its kinds with one mapper instead of a
		// discovery of its own (0.3 MiB and a discovery request each). A
		// plural guessed wrong for one kind ("natgatewaies", "prefixs")
		// once turned the sharing off unnoticed.
		shared, err := providers.SharesDiscovery(testFleet.Cluster("ironcore-1").Config(), fleet.Scheme, []client.Object{
			&networkingv1alpha1.Network{}, &networkingv1alpha1.NetworkInterface{}, &networkingv1alpha1.VirtualIP{},
			&networkingv1alpha1.LoadBalancer{}, &networkingv1alpha1.LoadBalancerRouting{}, &networkingv1alpha1.NATGateway{},
			&networkingv1alpha1.NetworkPolicy{}, &ipamv1alpha1.Prefix{},
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(shared).To(BeTrue())
	})

	It("feeds peer events to the member whose apinet namespace they are in", func(ctx SpecContext) {
		peer := testFleet.Cluster("apinet-1").Client()
		nsOf := func(member string) string {
			return clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: fleetNamespace, Name: member})
		}
		for _, member := range []string{"ironcore-1", "ironcore-2"} {
			Expect(peer.Create(ctx, &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{
				Namespace: nsOf(member), Name: "an-" + member, Labels: map[string]string{"origin": "from-" + member},
			}})).To(Succeed())
		}
		Expect(peer.Create(ctx, &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: "unmanaged", Labels: map[string]string{"origin": "unmanaged"},
		}})).To(Succeed())
		Eventually(func() bool { return peerSeen.saw(clusterName("ironcore-1"), "from-ironcore-1") }).Should(BeTrue())
		Eventually(func() bool { return peerSeen.saw(clusterName("ironcore-2"), "from-ironcore-2") }).Should(BeTrue())
		Consistently(func() bool {
			return peerSeen.saw(clusterName("ironcore-1"), "from-ironcore-2") || peerSeen.saw(clusterName("ironcore-2"), "from-ironcore-1") ||
				peerSeen.saw(clusterName("ironcore-1"), "unmanaged") || peerSeen.saw(clusterName("ironcore-2"), "unmanaged")
		}, 2*time.Second).Should(BeFalse(), "a member sees only its own namespace of the peer")
	})

	It("pauses a member whose cluster manager reports ControlPlaneHealthy=False, and resumes it", func(ctx SpecContext) {
		setHealthy := func(status metav1.ConditionStatus) {
			GinkgoHelper()
			Eventually(func() error {
				cp := &clusterinventoryv1alpha1.ClusterProfile{}
				if err := hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: "ironcore-2"}, cp); err != nil {
					return err
				}
				meta.SetStatusCondition(&cp.Status.Conditions, metav1.Condition{
					Type: clusterinventoryv1alpha1.ClusterConditionControlPlaneHealthy, Status: status, Reason: "Probe", Message: "from the cluster manager"})
				return hubClient().Status().Update(ctx, cp)
			}).Should(Succeed())
		}
		setHealthy(metav1.ConditionFalse)
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonPaused)
		_, err := provider.Get(ctx, clusterName("ironcore-2"))
		Expect(err).To(MatchError(multicluster.ErrClusterNotFound))
		Expect(engagedCondition(ctx, "ironcore-1").Reason).To(Equal(clusterprofiles.ReasonEngaged))
		setHealthy(metav1.ConditionTrue)
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonEngaged)
	})

	It("keeps the connection when a profile changes in ways that do not define it", func(ctx SpecContext) {
		before, err := provider.Get(ctx, clusterName("ironcore-1"))
		Expect(err).NotTo(HaveOccurred())
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		Expect(hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: "ironcore-1"}, cp)).To(Succeed())
		cp.Status.Properties = append(cp.Status.Properties, clusterinventoryv1alpha1.Property{Name: "zone", Value: "a"})
		meta.SetStatusCondition(&cp.Status.Conditions, metav1.Condition{Type: "Other", Status: metav1.ConditionTrue, Reason: "Test"})
		Expect(hubClient().Status().Update(ctx, cp)).To(Succeed())
		cp.Spec.DisplayName = "renamed"
		Expect(hubClient().Update(ctx, cp)).To(Succeed())
		Consistently(func() (any, error) { return provider.Get(ctx, clusterName("ironcore-1")) }, 3*time.Second).
			Should(BeIdenticalTo(before), "no rebuild of the cluster")
		Expect(meta.FindStatusCondition(cp.Status.Conditions, "Other")).NotTo(BeNil(), "the manager's condition stays")
		Expect(hubClient().Get(ctx, client.ObjectKeyFromObject(cp), cp)).To(Succeed())
		Expect(meta.FindStatusCondition(cp.Status.Conditions, "Other")).NotTo(BeNil(), "the manager's condition stays")
	})

	It("records which cluster owns each member's apinet namespace", func(ctx SpecContext) {
		for _, name := range []string{"ironcore-1", "ironcore-2"} {
			ns := &corev1.Namespace{}
			Expect(testFleet.Cluster("apinet-1").Client().Get(ctx, client.ObjectKey{Name: apinetNamespace(name)}, ns)).To(Succeed())
			Expect(ns.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationOwnerClusterUID, kubeSystemUID(ctx, name)), name)
			Expect(ns.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationOwnerProfile, fleetNamespace+"/"+name), name)
			Expect(ns.Labels).To(HaveKeyWithValue(clusterprofiles.LabelCluster, clusterprofiles.LabelValue(clusterName(name))), name)
			m, err := topology.Member(clusterName(name))
			Expect(err).NotTo(HaveOccurred())
			Expect(string(m.Identity)).To(Equal(kubeSystemUID(ctx, name)))
		}
		for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2"} {
			Eventually(func() clusterprofiles.Identity {
				cp := &clusterinventoryv1alpha1.ClusterProfile{}
				Expect(hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: name}, cp)).To(Succeed())
				return clusterprofiles.PinnedIdentity(cp)
			}).Should(BeEquivalentTo(kubeSystemUID(ctx, name)), "the identity is recorded on profile %s", name)
		}
	})

	It("refuses a peer whose credentials reach another apinet cluster, writing nothing there, and resumes when they are fixed", func(ctx SpecContext) {
		other, err := testFleet.Add(ctx, fleet.Spec{Name: "apinet-2", Role: fleet.RoleAPINet, PublicPrefixes: fleet.DefaultPublicPrefixes(1)})
		Expect(err).NotTo(HaveOccurred())
		otherToken, err := other.ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		writeSecret(ctx, "apinet-1", otherToken.Kubeconfig)
		expectReason(ctx, "apinet-1", clusterprofiles.ReasonIdentityMismatch)
		expectEvent(ctx, "apinet-1", clusterprofiles.ReasonIdentityMismatch)
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonPeerPaused)
		Consistently(func() bool {
			return apierrors.IsNotFound(other.Client().Get(ctx, client.ObjectKey{Name: apinetNamespace("ironcore-1")}, &corev1.Namespace{}))
		}, 2*time.Second).Should(BeTrue(), "no member namespace is created in the other apinet cluster")

		token, err := testFleet.Cluster("apinet-1").ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		writeSecret(ctx, "apinet-1", token.Kubeconfig)
		for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2"} {
			expectReason(ctx, name, clusterprofiles.ReasonEngaged)
		}
		Expect(testFleet.Remove("apinet-2")).To(Succeed())
	})

	It("refuses credentials that reach another cluster, writing and deleting nothing, and resumes when they are fixed", func(ctx SpecContext) {
		peer := testFleet.Cluster("apinet-1").Client()
		sentinel := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: apinetNamespace("ironcore-1"), Name: "sentinel",
			Labels: map[string]string{clusterprofiles.LabelCluster: clusterprofiles.LabelValue(clusterName("ironcore-1"))}}}
		Expect(peer.Create(ctx, sentinel)).To(Succeed())
		before := peerNamespaceState(ctx, "ironcore-1", "ironcore-2")

		By("pointing ironcore-1's credential Secret at ironcore-2's cluster")
		wrong, err := testFleet.Cluster("ironcore-2").ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		switched := time.Now()
		writeSecret(ctx, "ironcore-1", wrong.Kubeconfig)
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonIdentityMismatch)
		AddReportEntry("credentials switched to another cluster -> IdentityMismatch", time.Since(switched).Round(time.Millisecond).String())
		expectEvent(ctx, "ironcore-1", clusterprofiles.ReasonIdentityMismatch)
		Expect(engagedCondition(ctx, "ironcore-1").Message).To(And(ContainSubstring(kubeSystemUID(ctx, "ironcore-1")), ContainSubstring(kubeSystemUID(ctx, "ironcore-2"))))
		_, err = provider.Get(ctx, clusterName("ironcore-1"))
		Expect(err).To(MatchError(multicluster.ErrClusterNotFound))
		Consistently(func() map[string]string { return peerNamespaceState(ctx, "ironcore-1", "ironcore-2") }, 2*time.Second).
			Should(Equal(before), "nothing written or deleted in either member's namespace")
		Expect(engagedCondition(ctx, "ironcore-2").Reason).To(Equal(clusterprofiles.ReasonEngaged))

		By("putting the right credentials back")
		fresh, err := testFleet.Cluster("ironcore-1").ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		writeSecret(ctx, "ironcore-1", fresh.Kubeconfig)
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonEngaged)
		Expect(peerNamespaceState(ctx, "ironcore-1", "ironcore-2")).To(Equal(before))
		createNetwork(ctx, testFleet.Cluster("ironcore-1"), "after-identity-fix")
		expectSeen("ironcore-1", "after-identity-fix")
		Expect(wrong.Revoke(ctx)).To(Succeed())
		tokens["ironcore-1"] = fresh
	})

	It("adopts a namespace holding objects the hub did not write only on an explicit take-over, only of origins it has, and disengages when the owner record changes", func(ctx SpecContext) {
		peer := testFleet.Cluster("apinet-1").Client()
		// A cluster of its own: one cluster has one writer, so the adopter
		// cannot borrow an engaged member's credentials.
		adopter, err := testFleet.Add(ctx, fleet.Spec{Name: "adopter", Role: fleet.RoleIronCore})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(testFleet.Remove("adopter")).To(Succeed()) })
		Expect(peer.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apinetlet-ns"}})).To(Succeed())
		// No origin: neither proof nor disproof (like the machine provider's NICs).
		Expect(peer.Create(ctx, &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "apinetlet-ns", Name: "written-by-apinetlet"}})).To(Succeed())
		originOf := func(uid types.UID, name string) map[string]string {
			return map[string]string{
				"apinetlet.ironcore.dev/network-uid": string(uid), "apinetlet.ironcore.dev/network-namespace": "default",
				"apinetlet.ironcore.dev/network-name": name, // apinetlet v0.2.4's layout
			}
		}
		createNetwork(ctx, adopter, "mine")
		mine := &networkingv1alpha1.Network{}
		Expect(adopter.Client().Get(ctx, client.ObjectKey{Namespace: "default", Name: "mine"}, mine)).To(Succeed())
		Expect(peer.Create(ctx, &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "apinetlet-ns", Name: "of-mine", Labels: originOf(mine.UID, "mine")}})).To(Succeed())
		foreign := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "apinetlet-ns", Name: "of-another-cluster", Labels: originOf("0b1e7c6a-another-cluster", "theirs")}}
		Expect(peer.Create(ctx, foreign)).To(Succeed())
		token, err := adopter.ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		annotations := map[string]string{clusterprofiles.AnnotationAPINetNamespace: "apinetlet-ns"}
		onboard(ctx, "adopter", ironcoreLabels("apinet-1"), annotations, token.Kubeconfig)
		expectReason(ctx, "adopter", clusterprofiles.ReasonNamespaceNotOwned)
		expectEvent(ctx, "adopter", clusterprofiles.ReasonNamespaceNotOwned)
		ns := &corev1.Namespace{}
		Expect(peer.Get(ctx, client.ObjectKey{Name: "apinetlet-ns"}, ns)).To(Succeed())
		Expect(ns.Annotations).NotTo(HaveKey(clusterprofiles.AnnotationOwnerClusterUID), "nothing written")

		By("a take-over into a namespace holding another cluster's objects is refused, naming them, with nothing written")
		annotations[clusterprofiles.AnnotationTakeOver] = "true"
		onboard(ctx, "adopter", ironcoreLabels("apinet-1"), annotations, token.Kubeconfig)
		Eventually(func() string {
			if c := engagedCondition(ctx, "adopter"); c != nil {
				return c.Message
			}
			return ""
		}).Should(And(ContainSubstring("take-over refused"), ContainSubstring("of-another-cluster (from network default/theirs, not in this cluster)")))
		Consistently(func() map[string]string {
			Expect(peer.Get(ctx, client.ObjectKey{Name: "apinetlet-ns"}, ns)).To(Succeed())
			return ns.Annotations
		}, "2s").ShouldNot(HaveKey(clusterprofiles.AnnotationOwnerClusterUID), "nothing written")
		Expect(peer.Get(ctx, client.ObjectKeyFromObject(foreign), &apinetv1alpha1.Network{})).To(Succeed(), "nothing deleted")

		By("once only objects of its own origins are left, the take-over proceeds")
		Expect(peer.Delete(ctx, foreign)).To(Succeed())
		expectReason(ctx, "adopter", clusterprofiles.ReasonEngaged)
		Expect(peer.Get(ctx, client.ObjectKey{Name: "apinetlet-ns"}, ns)).To(Succeed())
		Expect(ns.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationOwnerClusterUID, kubeSystemUID(ctx, "adopter")))
		Expect(ns.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationTakenOver, "true"))
		m, err := topology.Member(clusterName("adopter"))
		Expect(err).NotTo(HaveOccurred())
		Expect(m.AdoptsUnlabelled()).To(BeTrue())

		By("the owner record is watched: another cluster's claim disengages the member at once, and it stays out")
		base := ns.DeepCopy()
		ns.Annotations[clusterprofiles.AnnotationOwnerClusterUID] = kubeSystemUID(ctx, "ironcore-2")
		ns.Annotations[clusterprofiles.AnnotationOwnerProfile] = fleetNamespace + "/someone-else"
		start := time.Now()
		Expect(peer.Patch(ctx, ns, client.MergeFrom(base))).To(Succeed())
		Eventually(func() error { _, err := topology.Member(clusterName("adopter")); return err }).Should(MatchError(multicluster.ErrClusterNotFound))
		AddReportEntry("owner record changed -> member disengaged", time.Since(start).Round(time.Millisecond).String())
		Eventually(func() string { return engagedCondition(ctx, "adopter").Reason }).Should(BeElementOf(clusterprofiles.ReasonNamespaceNotOwned, clusterprofiles.ReasonIdentityMismatch))
		expectEvent(ctx, "adopter", clusterprofiles.ReasonNamespaceNotOwned)
		Consistently(func() error { _, err := topology.Member(clusterName("adopter")); return err }, "3s").Should(MatchError(multicluster.ErrClusterNotFound))
		Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "adopter"}})).To(Succeed())
	})

	It("engages one cluster once: a second profile with the same credentials is refused, naming the older one", func(ctx SpecContext) {
		onboard(ctx, "duplicate", ironcoreLabels("apinet-1"), nil, tokens["ironcore-1"].Kubeconfig)
		expectReason(ctx, "duplicate", clusterprofiles.ReasonDuplicateCluster)
		expectEvent(ctx, "duplicate", clusterprofiles.ReasonDuplicateCluster)
		Expect(engagedCondition(ctx, "duplicate").Message).To(ContainSubstring("older ClusterProfile " + fleetNamespace + "/ironcore-1"))
		_, err := provider.Get(ctx, clusterName("duplicate"))
		Expect(err).To(MatchError(multicluster.ErrClusterNotFound))
		err = testFleet.Cluster("apinet-1").Client().Get(ctx, client.ObjectKey{Name: apinetNamespace("duplicate")}, &corev1.Namespace{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing written in the peer: %v", err)
		Consistently(func() string { return engagedCondition(ctx, "ironcore-1").Reason }, "2s").Should(Equal(clusterprofiles.ReasonEngaged), "the older keeps it")
		Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "duplicate"}})).To(Succeed())
	})

	It("applies a settings edit live, and keeps the last valid value of an invalid one", func(ctx SpecContext) {
		before, err := topology.Member(clusterName("ironcore-1"))
		Expect(err).NotTo(HaveOccurred())
		setAnnotation := func(value string) {
			GinkgoHelper()
			Eventually(func() error {
				cp := &clusterinventoryv1alpha1.ClusterProfile{}
				if err := hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: "ironcore-1"}, cp); err != nil {
					return err
				}
				if cp.Annotations == nil {
					cp.Annotations = map[string]string{}
				}
				cp.Annotations[clusterprofiles.AnnotationDisableNetworkPeering] = value
				return hubClient().Update(ctx, cp)
			}).Should(Succeed())
		}
		peering := func() *bool { return before.Settings().DisableNetworkPeering }
		edited := time.Now()
		setAnnotation("true")
		Eventually(peering, 5*time.Second).Should(HaveValue(BeTrue()), "in force within 5 s")
		AddReportEntry("settings edit -> in force", time.Since(edited).Round(time.Millisecond).String())

		setAnnotation("maybe")
		expectEvent(ctx, "ironcore-1", clusterprofiles.ReasonAnnotationInvalid)
		Eventually(func() string { return engagedCondition(ctx, "ironcore-1").Message }).Should(ContainSubstring("ignoring invalid settings"))
		Expect(engagedCondition(ctx, "ironcore-1").Reason).To(Equal(clusterprofiles.ReasonEngaged))
		Consistently(peering, 2*time.Second).Should(HaveValue(BeTrue()), "the last valid value stays in force")
		Expect(topology.Member(clusterName("ironcore-1"))).To(BeIdenticalTo(before), "not re-engaged")

		setAnnotation("false")
		Eventually(peering, 5*time.Second).Should(HaveValue(BeFalse()))
		Eventually(func() string { return engagedCondition(ctx, "ironcore-1").Message }).ShouldNot(ContainSubstring("ignoring invalid settings"))
		Expect(topology.Member(clusterName("ironcore-1"))).To(BeIdenticalTo(before), "not re-engaged")
	})

	It("refreshes a peer's rotated credentials without rebuilding its members' IronCore connections", func(ctx SpecContext) {
		before, err := topology.Member(clusterName("ironcore-1"))
		Expect(err).NotTo(HaveOccurred())
		token, err := testFleet.Cluster("apinet-1").ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		writeSecret(ctx, "apinet-1", token.Kubeconfig)
		var after *clusterprofiles.Member
		Eventually(func() bool {
			after, err = topology.Member(clusterName("ironcore-1"))
			return err == nil && after != before && after.Peer != before.Peer
		}).Should(BeTrue(), "re-engaged with a new peer view")
		Expect(after.Cluster).To(BeIdenticalTo(before.Cluster), "the member's IronCore cluster (client, caches) is kept")
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonEngaged)
		createNetwork(ctx, testFleet.Cluster("ironcore-1"), "after-peer-rotation")
		expectSeen("ironcore-1", "after-peer-rotation")
	})

	It("pauses a member whose ironcore API server stops while its kube-apiserver answers, and resumes it at once", func(ctx SpecContext) {
		member := testFleet.Cluster("ironcore-2")
		Expect(member.StopAggregated()).To(Succeed())
		stopped := time.Now()
		expectPausedFor(ctx, "ironcore-2", "networking.ironcore.dev")
		AddReportEntry("ironcore aggregated apiserver killed -> Paused", time.Since(stopped).Round(time.Millisecond).String())
		Expect(engagedCondition(ctx, "ironcore-1").Reason).To(Equal(clusterprofiles.ReasonEngaged))
		Expect(member.StartAggregated()).To(Succeed())
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonEngaged)
		resumed := time.Now()
		createNetwork(ctx, member, "after-aggregated-restart")
		expectSeen("ironcore-2", "after-aggregated-restart")
		AddReportEntry("member resumed -> new Network seen", time.Since(resumed).Round(time.Millisecond).String())
	})

	It("pauses every member of a peer whose apinet API server stops, and writes what changed meanwhile at once on return", func(ctx SpecContext) {
		peer := testFleet.Cluster("apinet-1")
		Expect(peer.StopAggregated()).To(Succeed())
		stopped := time.Now()
		expectPausedFor(ctx, "apinet-1", "core.apinet.ironcore.dev")
		AddReportEntry("apinet aggregated apiserver killed -> Paused", time.Since(stopped).Round(time.Millisecond).String())
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonPeerPaused)
		createNetwork(ctx, testFleet.Cluster("ironcore-1"), "during-peer-api-outage")
		Expect(peer.StartAggregated()).To(Succeed())
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonEngaged)
		resumed := time.Now()
		Eventually(func() bool { return seen.saw(clusterName("ironcore-1"), "during-peer-api-outage") }, 5*time.Second).Should(BeTrue(),
			"within 5 s of resuming")
		AddReportEntry("peer resumed -> Network created during the outage seen", time.Since(resumed).Round(time.Millisecond).String())
	})

	It("ends a storm of credential rotations with exactly one engagement, while other profiles are decided", func(ctx SpecContext) {
		member := testFleet.Cluster("ironcore-2")
		var tokensUsed []*fleet.Token
		for range 30 {
			t, err := member.ServiceAccountToken(ctx, "apinet-hub")
			Expect(err).NotTo(HaveOccurred())
			tokensUsed = append(tokensUsed, t)
		}
		var others sync.WaitGroup
		for _, name := range []string{"storm-a", "storm-b", "storm-c"} {
			others.Go(func() {
				defer GinkgoRecover()
				onboard(ctx, name, ironcoreLabels("apinet-1"), nil, tokens["ironcore-1"].Kubeconfig)
			})
		}
		for _, t := range tokensUsed {
			writeSecret(ctx, "ironcore-2", t.Kubeconfig)
			time.Sleep(time.Duration(100+rand.IntN(1400)) * time.Millisecond)
		}
		others.Wait()
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonEngaged)
		// They reach ironcore-1's cluster: one cluster has one writer, and
		// that holds under the storm too.
		for _, name := range []string{"storm-a", "storm-b", "storm-c"} {
			expectReason(ctx, name, clusterprofiles.ReasonDuplicateCluster)
		}
		settled, err := provider.Get(ctx, clusterName("ironcore-2"))
		Expect(err).NotTo(HaveOccurred())
		created := time.Now()
		createNetwork(ctx, member, "after-storm")
		Eventually(func() bool { return seen.saw(clusterName("ironcore-2"), "after-storm") }, 5*time.Second).Should(BeTrue())
		AddReportEntry("after 30 rotations: new Network seen", time.Since(created).Round(time.Millisecond).String())
		Consistently(func() (any, error) { return provider.Get(ctx, clusterName("ironcore-2")) }, 3*time.Second).
			Should(BeIdenticalTo(settled), "no stale engagement arrives late")
		Expect(topology.Members()).To(ContainElement(clusterName("ironcore-2")))
		for _, name := range []string{"storm-a", "storm-b", "storm-c"} {
			Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: name}})).To(Succeed())
		}
		for _, t := range tokensUsed[:len(tokensUsed)-1] {
			Expect(t.Revoke(ctx)).To(Succeed())
		}
	})

	It("onboards a third member at run time", func(ctx SpecContext) {
		start := onboardNewMember(ctx, "ironcore-3")
		first, _ := seen.firstSeen(clusterName("ironcore-3"))
		AddReportEntry("onboarding: ClusterProfile created -> first request of the new member", first.Sub(start).Round(time.Millisecond).String())
		expectReason(ctx, "ironcore-3", clusterprofiles.ReasonEngaged)
	})

	It("rotates a member's Secret credentials with one clean re-engagement", func(ctx SpecContext) {
		member := testFleet.Cluster("ironcore-1")
		before, err := provider.Get(ctx, clusterName("ironcore-1"))
		Expect(err).NotTo(HaveOccurred())
		fresh, err := member.ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		writeSecret(ctx, "ironcore-1", fresh.Kubeconfig)
		Eventually(func() bool {
			after, err := provider.Get(ctx, clusterName("ironcore-1"))
			return err == nil && after != before
		}).Should(BeTrue(), "re-engaged with the new credentials")
		after, _ := provider.Get(ctx, clusterName("ironcore-1"))
		Expect(tokens["ironcore-1"].Revoke(ctx)).To(Succeed())
		createNetwork(ctx, member, "after-rotation")
		expectSeen("ironcore-1", "after-rotation")
		Consistently(func() (any, error) { return provider.Get(ctx, clusterName("ironcore-1")) }, 3*time.Second).
			Should(BeIdenticalTo(after), "exactly one re-engagement")
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonEngaged)
		tokens["ironcore-1"] = fresh
	})

	It("prefers an access provider (exec plugin) and follows its credential rotation without a rebuild", func(ctx SpecContext) {
		member := testFleet.Cluster("ironcore-2")
		tokenFile := filepath.Join(suiteDir, "ironcore-2.token")
		first, err := member.ServiceAccountToken(ctx, "apinet-hub-exec")
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(tokenFile, []byte(first.Token), 0o600)).To(Succeed())

		envs, err := json.Marshal(map[string]string{"TOKEN_FILE": tokenFile})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() error {
			cp := &clusterinventoryv1alpha1.ClusterProfile{}
			if err := hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: "ironcore-2"}, cp); err != nil {
				return err
			}
			cp.Status.AccessProviders = []clusterinventoryv1alpha1.AccessProvider{{Name: accessProviderName, Cluster: clientcmdv1.Cluster{
				Server:                   member.Host(),
				CertificateAuthorityData: member.CAData(),
				Extensions: []clientcmdv1.NamedExtension{{
					Name:      "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs",
					Extension: runtime.RawExtension{Raw: envs},
				}},
			}}}
			return hubClient().Status().Update(ctx, cp)
		}).Should(Succeed())
		Eventually(func() string {
			if c := engagedCondition(ctx, "ironcore-2"); c != nil && c.Reason == clusterprofiles.ReasonEngaged {
				return c.Message
			}
			return ""
		}).Should(ContainSubstring("access provider " + accessProviderName))
		createNetwork(ctx, member, "via-exec-plugin")
		expectSeen("ironcore-2", "via-exec-plugin")

		By("rotating the credential behind the plugin and revoking the old one")
		engagedMember, err := provider.Get(ctx, clusterName("ironcore-2"))
		Expect(err).NotTo(HaveOccurred())
		second, err := member.ServiceAccountToken(ctx, "apinet-hub-exec")
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(tokenFile, []byte(second.Token), 0o600)).To(Succeed())
		Expect(first.Revoke(ctx)).To(Succeed())
		createNetwork(ctx, member, "after-exec-rotation")
		expectSeen("ironcore-2", "after-exec-rotation")
		Expect(provider.Get(ctx, clusterName("ironcore-2"))).To(BeIdenticalTo(engagedMember),
			"client-go re-ran the plugin; the hub rebuilt nothing")
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonEngaged)
	})

	It("pauses a member whose API server stops, without touching the others, and resumes it", func(ctx SpecContext) {
		member := testFleet.Cluster("ironcore-2")
		Expect(member.Stop()).To(Succeed())
		stopped := time.Now()
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonPaused)
		AddReportEntry("member stopped -> Paused", time.Since(stopped).Round(time.Millisecond).String())
		_, err := provider.Get(ctx, clusterName("ironcore-2"))
		Expect(err).To(MatchError(multicluster.ErrClusterNotFound))

		createNetwork(ctx, testFleet.Cluster("ironcore-1"), "while-2-is-down")
		expectSeen("ironcore-1", "while-2-is-down")
		Expect(engagedCondition(ctx, "ironcore-3").Reason).To(Equal(clusterprofiles.ReasonEngaged))

		Expect(member.Start()).To(Succeed())
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonEngaged)
		createNetwork(ctx, member, "after-restart")
		expectSeen("ironcore-2", "after-restart")
	})

	It("pauses every member of a peer that stops, and resumes them", func(ctx SpecContext) {
		peer := testFleet.Cluster("apinet-1")
		Expect(peer.Stop()).To(Succeed())
		expectReason(ctx, "apinet-1", clusterprofiles.ReasonPaused)
		for _, name := range []string{"ironcore-1", "ironcore-2", "ironcore-3"} {
			expectReason(ctx, name, clusterprofiles.ReasonPeerPaused)
		}
		Expect(topology.Members()).To(BeEmpty())
		Expect(peer.Start()).To(Succeed())
		for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2", "ironcore-3"} {
			expectReason(ctx, name, clusterprofiles.ReasonEngaged)
		}
		createNetwork(ctx, testFleet.Cluster("ironcore-3"), "after-peer-restart")
		expectSeen("ironcore-3", "after-peer-restart")
	})

	It("does not let a member that accepts connections and never answers delay the others", func(ctx SpecContext) {
		blackHole, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		var mu sync.Mutex
		var conns []net.Conn // held open, never answered
		DeferCleanup(func() {
			_ = blackHole.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				_ = c.Close()
			}
		})
		go func() {
			for {
				conn, err := blackHole.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, conn)
				mu.Unlock()
			}
		}()
		kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, blackHole.Addr())
		onboard(ctx, "black-hole", ironcoreLabels("apinet-1"), nil, []byte(kc))

		By("onboarding a member whose every response comes 5 s late")
		slowTarget := testFleet.Cluster("ironcore-1")
		proxy, err := fleet.StartDelayProxy(strings.TrimPrefix(slowTarget.Host(), "https://"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		proxy.SetDelay(5 * time.Second)
		slowKC, err := slowTarget.KubeconfigVia(proxy.Addr(), tokens["ironcore-1"].Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		onboard(ctx, "slow", ironcoreLabels("apinet-1"), nil, slowKC)

		By("onboarding another member right after them")
		start := onboardNewMember(ctx, "ironcore-4")
		first, _ := seen.firstSeen(clusterName("ironcore-4"))
		took := first.Sub(start)
		AddReportEntry("onboarding next to a black-hole and a 5 s-slow member: profile created -> first object", took.Round(time.Millisecond).String())
		Expect(took).To(BeNumerically("<", 5*time.Second), "not held up by the slow member's 5 s responses")
		expectReason(ctx, "black-hole", clusterprofiles.ReasonUnreachable)
		expectEvent(ctx, "black-hole", clusterprofiles.ReasonUnreachable)
		Expect(engagedCondition(ctx, "slow").Reason).NotTo(Equal(clusterprofiles.ReasonEngaged))
		Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "slow"}})).To(Succeed())
	})

	DescribeTable("gives bad input its reason and an Event, and nothing else breaks",
		func(ctx SpecContext, name string, labels, annotations map[string]string, kubeconfig func() []byte, reason string) {
			var kc []byte
			if kubeconfig != nil {
				kc = kubeconfig()
			}
			onboard(ctx, name, labels, annotations, kc)
			expectReason(ctx, name, reason)
			expectEvent(ctx, name, reason)
			_, err := provider.Get(ctx, clusterName(name))
			Expect(err).To(MatchError(multicluster.ErrClusterNotFound))
			for _, good := range []string{"apinet-1", "ironcore-1", "ironcore-2", "ironcore-3"} {
				Expect(engagedCondition(ctx, good).Reason).To(Equal(clusterprofiles.ReasonEngaged), good)
			}
		},
		Entry("missing Secret", "no-secret", ironcoreLabels("apinet-1"), nil, nil, clusterprofiles.ReasonCredentialsMissing),
		Entry("kubeconfig that does not parse", "garbage", ironcoreLabels("apinet-1"), nil,
			func() []byte { return []byte("{not: a kubeconfig") }, clusterprofiles.ReasonCredentialsInvalid),
		Entry("wrong CA", "wrong-ca", ironcoreLabels("apinet-1"), nil, func() []byte {
			kc, err := testFleet.Cluster("ironcore-1").KubeconfigWith(&clientcmdapi.AuthInfo{Token: "x"}, testFleet.Hub().CAData())
			Expect(err).NotTo(HaveOccurred())
			return kc
		}, clusterprofiles.ReasonCredentialsInvalid),
		Entry("unknown peer", "unknown-peer", ironcoreLabels("nope"), nil, nil, clusterprofiles.ReasonPeerNotFound),
		Entry("peer of the wrong role", "wrong-peer-role", ironcoreLabels("ironcore-1"), nil, nil, clusterprofiles.ReasonPeerRoleInvalid),
		Entry("missing role", "no-role", map[string]string{clusterprofiles.LabelRole: ""}, nil, nil, clusterprofiles.ReasonRoleInvalid),
		Entry("invalid apinet namespace", "bad-namespace", ironcoreLabels("apinet-1"),
			map[string]string{clusterprofiles.AnnotationAPINetNamespace: "Not_A_Namespace"}, nil, clusterprofiles.ReasonNamespaceInvalid),
		Entry("a system namespace as apinet namespace", "system-namespace", ironcoreLabels("apinet-1"),
			map[string]string{clusterprofiles.AnnotationAPINetNamespace: "kube-system"}, nil, clusterprofiles.ReasonNamespaceInvalid),
		Entry("a second profile claiming a member's apinet namespace", "claims-ironcore-1", ironcoreLabels("apinet-1"),
			map[string]string{clusterprofiles.AnnotationAPINetNamespace: "fleet-ironcore-1"},
			func() []byte { return tokens["ironcore-1"].Kubeconfig }, clusterprofiles.ReasonNamespaceConflict),
	)

	It("stops writing a member at once while an apinetlet still holds its Lease there, says so, and resumes when it expires", func(ctx SpecContext) {
		cluster := testFleet.Cluster("ironcore-1")
		member := cluster.Client()
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonEngaged)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apinetlet-system"}}
		Expect(client.IgnoreAlreadyExists(member.Create(ctx, ns))).To(Succeed())
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: clusterprofiles.APINetletLease},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("apinetlet-5f7c9_0b1e"), LeaseDurationSeconds: ptr.To[int32](600),
				RenewTime: &metav1.MicroTime{Time: time.Now()}}}
		start := time.Now()
		Expect(member.Create(ctx, lease)).To(Succeed())
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonAPINetletActive)
		AddReportEntry("apinetlet Lease renewed → APINetletActive", time.Since(start).Round(time.Millisecond).String())
		Expect(engagedCondition(ctx, "ironcore-1").Message).To(ContainSubstring("apinetlet-system/" + clusterprofiles.APINetletLease))
		createNetwork(ctx, cluster, "while-apinetlet")
		Consistently(func() bool { return seen.saw(clusterName("ironcore-1"), "while-apinetlet") }, 2*time.Second).Should(BeFalse(),
			"nothing of the member is reconciled while apinetlet runs")
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonEngaged)

		By("apinetlet stops: its Lease expires (here: is deleted)")
		Expect(member.Delete(ctx, lease)).To(Succeed())
		expectReason(ctx, "ironcore-1", clusterprofiles.ReasonEngaged)
		expectSeen("ironcore-1", "while-apinetlet")
	}, NodeTimeout(2*time.Minute))

	It("disengages a removed member and leaves its apinet objects alone", func(ctx SpecContext) {
		peer := testFleet.Cluster("apinet-1").Client()
		ns := clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: fleetNamespace, Name: "ironcore-3"})
		anNetwork := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "left-behind"}}
		Expect(peer.Create(ctx, anNetwork)).To(Succeed())

		Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "ironcore-3"}})).To(Succeed())
		Eventually(func() error {
			_, err := provider.Get(ctx, clusterName("ironcore-3"))
			return err
		}).Should(MatchError(multicluster.ErrClusterNotFound))
		Consistently(func() error { return peer.Get(ctx, client.ObjectKeyFromObject(anNetwork), anNetwork) }, 2*time.Second).Should(Succeed())
		Expect(anNetwork.DeletionTimestamp).To(BeNil())
		Expect(peer.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})).To(Succeed())
		Expect(engagedCondition(ctx, "ironcore-1").Reason).To(Equal(clusterprofiles.ReasonEngaged))

		By("refusing another cluster's credentials for that namespace, though no profile claims it any more")
		// Another cluster no profile maps (one cluster has one writer):
		// ironcore-4's, once its own profile is gone.
		Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "ironcore-4"}})).To(Succeed())
		other, err := testFleet.Cluster("ironcore-4").ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		onboard(ctx, "squatter", ironcoreLabels("apinet-1"), map[string]string{clusterprofiles.AnnotationAPINetNamespace: ns}, other.Kubeconfig)
		expectReason(ctx, "squatter", clusterprofiles.ReasonIdentityMismatch)
		Consistently(func() error { return peer.Get(ctx, client.ObjectKeyFromObject(anNetwork), anNetwork) }, 2*time.Second).Should(Succeed())
		Expect(anNetwork.DeletionTimestamp).To(BeNil())
	})

	It("re-evaluates a sibling when a profile's claim changes: invalid, then valid again", func(ctx SpecContext) {
		get := func() *clusterinventoryv1alpha1.ClusterProfile {
			GinkgoHelper()
			cp := &clusterinventoryv1alpha1.ClusterProfile{}
			Expect(hubClient().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: "ironcore-2"}, cp)).To(Succeed())
			return cp
		}
		cp := get()
		labels, annotations := cp.Labels, cp.Annotations
		bad := map[string]string{clusterprofiles.AnnotationAPINetNamespace: "Not_A_Namespace"}
		for k, v := range annotations {
			bad[k] = v
		}
		bad[clusterprofiles.AnnotationAPINetNamespace] = "Not_A_Namespace"
		onboard(ctx, "ironcore-2", labels, bad, nil)
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonNamespaceInvalid)
		By("a younger sibling may now take the freed namespace by name, but its credentials reach a cluster an older profile maps")
		onboard(ctx, "sibling", ironcoreLabels("apinet-1"), map[string]string{clusterprofiles.AnnotationAPINetNamespace: apinetNamespace("ironcore-2")}, tokens["ironcore-1"].Kubeconfig)
		expectReason(ctx, "sibling", clusterprofiles.ReasonDuplicateCluster)
		By("the profile turning valid again wakes the sibling, which now meets NamespaceConflict")
		delete(bad, clusterprofiles.AnnotationAPINetNamespace)
		onboard(ctx, "ironcore-2", labels, bad, nil)
		expectReason(ctx, "ironcore-2", clusterprofiles.ReasonEngaged)
		expectReason(ctx, "sibling", clusterprofiles.ReasonNamespaceConflict)
		Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "sibling"}})).To(Succeed())
	})
})
