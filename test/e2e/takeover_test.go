package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

var _ = Describe("Taking over a member from a running apinetlet", func() {
	It("adopts every apinet object apinetlet wrote, recreates none, changes nothing the member sees, and carries on mapping", func(ctx SpecContext) {
		m := member{cluster: testFleet.Cluster("ironcore-3"), peer: peer, apinetNamespace: "ironcore-3"}
		ic := m.cluster.Client()

		By("letting the real apinetlet v0.2.4 map the member's Networks and VirtualIPs")
		apinetlet, err := fleet.StartAPINetlet(ctx, fleet.APINetletOptions{
			Member: m.cluster, Peer: peer, APINetNamespace: m.apinetNamespace, Log: filepath.Join(logDir, "apinetlet.log"),
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = apinetlet.Kill() })
		for i := 1; i <= 3; i++ {
			Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: fmt.Sprintf("net-%d", i)}})).To(Succeed())
			Expect(ic.Create(ctx, publicVIP(fmt.Sprintf("vip-%d", i)))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			s, err := takeoverSnapshot(ctx, m)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.apinet).To(HaveLen(6))
			for key, state := range s.member {
				if strings.HasPrefix(key, "Network/") {
					g.Expect(state).To(And(ContainSubstring("providerID=ironcore-net://"), ContainSubstring("state=Available")), key)
				} else {
					g.Expect(state).NotTo(ContainSubstring("ip=<none>"), key)
				}
			}
		}).Should(Succeed(), "apinetlet maps every object")
		By("letting apinetlet map a public LoadBalancer, whose instance template the take-over must not change")
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "lb-1"},
			Spec: networkingv1alpha1.LoadBalancerSpec{
				Type: networkingv1alpha1.LoadBalancerTypePublic, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				NetworkRef: corev1.LocalObjectReference{Name: "net-2"},
				Ports:      []networkingv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
			},
		}
		Expect(ic.Create(ctx, lb)).To(Succeed())
		template := func() (string, error) {
			an := &apinetv1alpha1.LoadBalancer{}
			if err := m.peer.Client().Get(ctx, types.NamespacedName{Namespace: m.apinetNamespace, Name: string(lb.UID)}, an); err != nil {
				return "", err
			}
			raw, err := json.Marshal(an.Spec.Template)
			return string(raw), err
		}
		Eventually(template).ShouldNot(BeEmpty())
		lbTemplate, err := template()
		Expect(err).NotTo(HaveOccurred())
		Expect(lbTemplate).NotTo(ContainSubstring("annotations"), "apinetlet v0.2.4 writes no template annotations")

		before, err := takeoverSnapshot(ctx, m)
		Expect(err).NotTo(HaveOccurred())

		By("stopping apinetlet")
		Expect(apinetlet.Stop(30 * time.Second)).To(Succeed())

		By("refusing the member onboarded without apinetlet's namespace: its provider IDs name another one")
		Expect(hub.stop()).To(Succeed())
		Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), profileNamespace, m.name(), fleet.IronCoreLabels(m.peer.Name), nil, hubKubeconfig(ctx, m.cluster))).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			cp := &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: profileNamespace, Name: m.name()}}
			Expect(client.IgnoreNotFound(testFleet.Hub().Client().Delete(ctx, cp))).To(Succeed())
		})
		Expect(hub.start()).To(Succeed())
		Eventually(func() string { return engagedReason(ctx, m.name()) }).Should(Equal(clusterprofiles.ReasonProviderIDNamespaceMismatch))
		defaultNamespace := clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: profileNamespace, Name: m.name()})
		Consistently(func() error {
			return m.peer.Client().Get(ctx, client.ObjectKey{Name: defaultNamespace}, &corev1.Namespace{})
		}, 2*time.Second).Should(Satisfy(apierrors.IsNotFound), "no second namespace, no second apinet Network")
		refused, err := takeoverSnapshot(ctx, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(refused.apinet).To(Equal(before.apinet))
		Expect(refused.member).To(Equal(before.member))

		By("onboarding the member with apinetlet's namespace and --take-over, to be handed back to apinetlet v0.2.4")
		start := time.Now()
		Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), profileNamespace, m.name(), fleet.IronCoreLabels(m.peer.Name), map[string]string{
			clusterprofiles.AnnotationAPINetNamespace: m.apinetNamespace, clusterprofiles.AnnotationTakeOver: "true",
			clusterprofiles.AnnotationHandbackLayout: string(clusterprofiles.HandbackV024),
		}, hubKubeconfig(ctx, m.cluster))).To(Succeed())
		Eventually(func() string { return engagedReason(ctx, m.name()) }).Should(Equal(clusterprofiles.ReasonEngaged))

		By("seeing every apinet object adopted: labelled for the member")
		Eventually(func(g Gomega) {
			s, err := takeoverSnapshot(ctx, m)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.adopted).To(HaveLen(before.standalone))
		}).Should(Succeed())
		AddReportEntry("take-over: profile fixed to all adopted", time.Since(start).Round(time.Millisecond).String())
		Eventually(func() (string, error) {
			an := &apinetv1alpha1.LoadBalancer{}
			err := m.peer.Client().Get(ctx, types.NamespacedName{Namespace: m.apinetNamespace, Name: string(lb.UID)}, an)
			return an.Labels[clusterprofiles.LabelCluster], err
		}).Should(Equal(m.label()), "the LoadBalancer is adopted")
		Consistently(template, 2*time.Second).Should(Equal(lbTemplate), "its instance template is byte-identical: no instance is rolled")

		By("finding the same apinet objects (same UIDs) and the IronCore objects unchanged")
		after, err := takeoverSnapshot(ctx, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(after.apinet).To(Equal(before.apinet), "no apinet object was recreated")
		Expect(after.member).To(Equal(before.member), "providerIDs, states, status.ip and finalizers are unchanged")
		Consistently(func(g Gomega) {
			s, err := takeoverSnapshot(ctx, m)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.apinet).To(Equal(before.apinet))
			g.Expect(s.member).To(Equal(before.member))
		}, 3*time.Second, 500*time.Millisecond).Should(Succeed(), "and they stay so")

		By("mapping a Network and a VirtualIP created afterwards, and cleaning up after deleted adopted ones")
		Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "net-new"}})).To(Succeed())
		Expect(ic.Create(ctx, publicVIP("vip-new"))).To(Succeed())
		Expect(ic.Delete(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "net-1"}})).To(Succeed())
		Expect(ic.Delete(ctx, publicVIP("vip-1"))).To(Succeed())
		check := newChecker(m)
		check.record(m, before.anNets, before.anIPs) // recreation is judged against apinetlet's objects
		took, violations := check.converge(ctx, convergeTimeout)
		Expect(violations).To(BeEmpty(), "after %s:\n%s", took, strings.Join(violations, "\n"))
		final, err := takeoverSnapshot(ctx, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(final.apinet).To(HaveLen(7), "two new apinet objects, two gone (and the LoadBalancer's IP)")
		Expect(final.apinet).NotTo(HaveKey("Network/"+string(before.uids["Network/net-1"])), "the deleted Network's apinet Network is gone")
		Expect(final.apinet).NotTo(HaveKey("IP/"+string(before.uids["VirtualIP/vip-1"])), "the deleted VirtualIP's apinet IP is gone")
		Expect(ic.Get(ctx, types.NamespacedName{Namespace: workloadNamespace, Name: "net-1"}, &networkingv1alpha1.Network{})).To(
			Satisfy(apierrors.IsNotFound), "the deleted Network is gone, its finalizer released")

		By("letting the hub map a public LoadBalancer of its own, in apinetlet v0.2.4's layout (the profile's hand-back layout)")
		hubLB := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "lb-hub"},
			Spec: networkingv1alpha1.LoadBalancerSpec{
				Type: networkingv1alpha1.LoadBalancerTypePublic, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				NetworkRef: corev1.LocalObjectReference{Name: "net-2"},
				Ports:      []networkingv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
			},
		}
		Expect(ic.Create(ctx, hubLB)).To(Succeed())
		hubAN := func() (*apinetv1alpha1.LoadBalancer, error) {
			an := &apinetv1alpha1.LoadBalancer{}
			return an, m.peer.Client().Get(ctx, types.NamespacedName{Namespace: m.apinetNamespace, Name: string(hubLB.UID)}, an)
		}
		Eventually(func(g Gomega) {
			an, err := hubAN()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(an.Spec.Selector).To(Equal(&metav1.LabelSelector{MatchLabels: map[string]string{
				"apinetlet.ironcore.dev/loadbalancer-uid": string(hubLB.UID), "apinetlet.ironcore.dev/loadbalancer-namespace": workloadNamespace,
				"apinetlet.ironcore.dev/loadbalancer-name": hubLB.Name,
			}}), "v0.2.4's three-label selector")
			g.Expect(an.Labels).To(HaveKeyWithValue(clusterprofiles.LabelCluster, m.label()))
			g.Expect(ic.Get(ctx, client.ObjectKeyFromObject(hubLB), hubLB)).To(Succeed())
			g.Expect(hubLB.Status.IPs).To(HaveLen(1), "the registry's address")
		}).Should(Succeed(), "the hub maps its LoadBalancer")
		// The hub's LoadBalancer brings its public IP: the objects handed back.
		final, err = takeoverSnapshot(ctx, m)
		Expect(err).NotTo(HaveOccurred())

		By("handing the member back to apinetlet: apinet-hub offboard --release")
		start = time.Now()
		out, err := exec.CommandContext(ctx, hub.binary, "offboard", m.name(), "--release",
			"--kubeconfig", testFleet.Hub().KubeconfigPath(), "--namespace", profileNamespace).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		released := time.Since(start)
		Expect(string(out)).To(And(ContainSubstring("removed 8 finalizers"), ContainSubstring("clusterprofile fleet/ironcore-3 deleted")))
		handedBack, err := takeoverSnapshot(ctx, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(handedBack.apinet).To(Equal(final.apinet), "--release leaves every apinet object in place")
		for key, state := range handedBack.member {
			Expect(state).To(HaveSuffix("finalizers=[]"), key)
		}

		By("restarting apinetlet, which takes the member back without recreating anything")
		apinetlet, err = fleet.StartAPINetlet(ctx, fleet.APINetletOptions{
			Member: m.cluster, Peer: peer, APINetNamespace: m.apinetNamespace, Log: filepath.Join(logDir, "apinetlet.log"),
		})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			s, err := takeoverSnapshot(ctx, m)
			g.Expect(err).NotTo(HaveOccurred())
			for key, state := range s.member {
				g.Expect(state).NotTo(HaveSuffix("finalizers=[]"), "apinetlet finalizes %s again", key)
			}
			g.Expect(s.apinet).To(Equal(final.apinet), "no apinet object recreated")
			g.Expect(ic.Get(ctx, client.ObjectKeyFromObject(hubLB), hubLB)).To(Succeed())
			g.Expect(hubLB.Finalizers).NotTo(BeEmpty(), "apinetlet finalizes the hub's LoadBalancer again")
		}).Should(Succeed())
		AddReportEntry("hand-back: offboard --release", released.Round(time.Millisecond).String())
		AddReportEntry("hand-back: offboard --release to apinetlet finalizing every object", time.Since(start).Round(time.Millisecond).String())
		Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "net-apinetlet"}})).To(Succeed())
		Eventually(func(g Gomega) {
			s, err := takeoverSnapshot(ctx, m)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.member["Network/net-apinetlet"]).To(ContainSubstring("state=Available"))
		}).Should(Succeed(), "apinetlet maps new objects again")

		By("changing the ports of the hub's LoadBalancer: apinetlet v0.2.4 writes them to apinet")
		handedBackLB, err := hubAN()
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() error {
			if err := ic.Get(ctx, client.ObjectKeyFromObject(hubLB), hubLB); err != nil {
				return err
			}
			hubLB.Spec.Ports = []networkingv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}, {Protocol: ptr.To(corev1.ProtocolUDP), Port: 53}}
			return ic.Update(ctx, hubLB)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			an, err := hubAN()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(an.Spec.Ports).To(Equal([]apinetv1alpha1.LoadBalancerPort{
				{Protocol: ptr.To(corev1.ProtocolTCP), Port: 443}, {Protocol: ptr.To(corev1.ProtocolUDP), Port: 53},
			}))
			g.Expect(an.UID).To(Equal(handedBackLB.UID), "the same apinet LoadBalancer")
			g.Expect(an.Spec.Selector).To(Equal(handedBackLB.Spec.Selector))
		}, 30*time.Second).Should(Succeed(), "apinetlet v0.2.4 applies the hub's LoadBalancer")
		Consistently(func(g Gomega) {
			s, err := takeoverSnapshot(ctx, m)
			g.Expect(err).NotTo(HaveOccurred())
			for key, uid := range final.apinet {
				g.Expect(s.apinet).To(HaveKeyWithValue(key, uid))
			}
		}, 2*time.Second, 500*time.Millisecond).Should(Succeed(), "and the handed-back objects stay")
	}, NodeTimeout(5*time.Minute))
})

func publicVIP(name string) *networkingv1alpha1.VirtualIP {
	return &networkingv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: name},
		Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol},
	}
}

// takeoverState is what a take-over must not change, in comparable form.
type takeoverState struct {
	// apinet: apinet object ("<Kind>/<name>") -> UID.
	apinet map[string]types.UID
	// adopted lists the apinet objects carrying the member's cluster label;
	// standalone counts those owned by no other apinet object (a
	// LoadBalancer's IP is its own).
	adopted    []string
	standalone int
	// member: IronCore object ("<Kind>/<name>") -> what the member sees of
	// its mapping: provider ID, state or status.ip, finalizers.
	member map[string]string
	// uids: IronCore object ("<Kind>/<name>") -> UID.
	uids   map[string]types.UID
	anNets *apinetv1alpha1.NetworkList
	anIPs  *apinetv1alpha1.IPList
}

func takeoverSnapshot(ctx context.Context, m member) (*takeoverState, error) {
	s := &takeoverState{apinet: map[string]types.UID{}, member: map[string]string{}, uids: map[string]types.UID{}}
	var err error
	if s.anNets, s.anIPs, err = apinetObjects(ctx, m); err != nil {
		return nil, err
	}
	objects := make([]client.Object, 0, len(s.anNets.Items)+len(s.anIPs.Items))
	for i := range s.anNets.Items {
		objects = append(objects, &s.anNets.Items[i])
	}
	for i := range s.anIPs.Items {
		objects = append(objects, &s.anIPs.Items[i])
	}
	for _, o := range objects {
		key := fmt.Sprintf("%T/%s", o, o.GetName())
		key = strings.TrimPrefix(key, "*v1alpha1.")
		s.apinet[key] = o.GetUID()
		if len(o.GetOwnerReferences()) == 0 {
			s.standalone++
		}
		if o.GetLabels()[clusterprofiles.LabelCluster] == m.label() {
			s.adopted = append(s.adopted, key)
		}
	}
	networks, vips := &networkingv1alpha1.NetworkList{}, &networkingv1alpha1.VirtualIPList{}
	if err := m.cluster.Client().List(ctx, networks, client.InNamespace(workloadNamespace)); err != nil {
		return nil, err
	}
	if err := m.cluster.Client().List(ctx, vips, client.InNamespace(workloadNamespace)); err != nil {
		return nil, err
	}
	for _, nw := range networks.Items {
		s.member["Network/"+nw.Name] = fmt.Sprintf("providerID=%s state=%s finalizers=%v", nw.Spec.ProviderID, nw.Status.State, sorted(nw.Finalizers))
		s.uids["Network/"+nw.Name] = nw.UID
	}
	for _, vip := range vips.Items {
		ip := "<none>"
		if vip.Status.IP != nil {
			ip = vip.Status.IP.String()
		}
		s.member["VirtualIP/"+vip.Name] = fmt.Sprintf("ip=%s finalizers=%v", ip, sorted(vip.Finalizers))
		s.uids["VirtualIP/"+vip.Name] = vip.UID
	}
	return s, nil
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
