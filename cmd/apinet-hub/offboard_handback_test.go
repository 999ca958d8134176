package main

import (
	"context"
	"testing"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestOffboardReleaseRefusesUnadoptable runs `offboard --release` against
// a real fleet and hub: a member whose apinet LoadBalancer has HEAD's
// selector is refused a hand-back to apinetlet v0.2.4 (the LoadBalancer
// named, nothing changed, with --dry-run too); a LoadBalancer created once
// the profile asks for v0.2.4's layout gets its three-label selector and
// the name label; with the HEAD one deleted, the release goes through.
func TestOffboardReleaseRefusesUnadoptable(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "apinet-1", fleet.APINetLabels, nil, f.Cluster("apinet-1").Kubeconfig())).To(Succeed())
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "ironcore-1", fleet.IronCoreLabels("apinet-1"), nil, f.Cluster("ironcore-1").Kubeconfig())).To(Succeed())
	proc := startHub(ctx, t, f, "--probe-interval", "1s")
	g.Eventually(engagedReason(ctx, hub, "fleet", "ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))

	ic, peer := f.Cluster("ironcore-1").Client(), f.Cluster("apinet-1").Client()
	const nsName = "fleet-ironcore-1"
	g.Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "net"}})).To(Succeed())
	newLB := func(name string) *networkingv1alpha1.LoadBalancer {
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: networkingv1alpha1.LoadBalancerSpec{
				Type: networkingv1alpha1.LoadBalancerTypePublic, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				NetworkRef: corev1.LocalObjectReference{Name: "net"},
				Ports:      []networkingv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80}},
			},
		}
		g.Expect(ic.Create(ctx, lb)).To(Succeed())
		return lb
	}
	selectorOf := func(lb *networkingv1alpha1.LoadBalancer) func() (map[string]string, error) {
		return func() (map[string]string, error) {
			an := &apinetv1alpha1.LoadBalancer{}
			if err := peer.Get(ctx, types.NamespacedName{Namespace: nsName, Name: string(lb.UID)}, an); err != nil || an.Spec.Selector == nil {
				return nil, err
			}
			return an.Spec.Selector.MatchLabels, nil
		}
	}
	headLB := newLB("lb-head")
	g.Eventually(selectorOf(headLB), time.Minute).Should(HaveLen(2), "HEAD's selector: uid, namespace")

	setLayout := func(value string) {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1"}, cp)).To(Succeed())
		patch := client.MergeFrom(cp.DeepCopy())
		if cp.Annotations == nil {
			cp.Annotations = map[string]string{}
		}
		cp.Annotations[clusterprofiles.AnnotationHandbackLayout] = value
		g.Expect(hub.Patch(ctx, cp, patch)).To(Succeed())
	}
	// The hub says in the Engaged condition which settings it ignores: a
	// change of the layout is in force once the message follows it.
	engagedMessage := func() string {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1"}, cp)).To(Succeed())
		if c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged); c != nil {
			return c.Message
		}
		return ""
	}
	offboard := func(args ...string) (int, string, string) {
		return cli(ctx, append([]string{"offboard", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "ironcore-1", "--release"}, args...)...)
	}
	unchanged := func() {
		t.Helper()
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1"}, cp)).To(Succeed())
		g.Expect(cp.Annotations).NotTo(HaveKey(clusterprofiles.AnnotationOffboarding), "the profile is not marked")
		g.Expect(engagedReason(ctx, hub, "fleet", "ironcore-1")()).To(Equal(clusterprofiles.ReasonEngaged))
		lb := &networkingv1alpha1.LoadBalancer{}
		g.Expect(ic.Get(ctx, client.ObjectKeyFromObject(headLB), lb)).To(Succeed())
		g.Expect(lb.Finalizers).To(ContainElement("apinet.ironcore.dev/loadbalancer"), "the finalizer stays")
	}

	By := func(s string) { t.Log(s) }
	By("an invalid layout: refused, nothing changed")
	setLayout("v0.3")
	g.Eventually(engagedMessage, time.Minute).Should(ContainSubstring(clusterprofiles.AnnotationHandbackLayout))
	code, out, errOut := offboard()
	g.Expect(code).To(Equal(1), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(errOut).To(ContainSubstring(`annotation apinet-hub.ironcore.dev/handback-layout="v0.3" is not "head" or "v0.2.4"`))
	unchanged()

	By("v0.2.4's layout asked: a LoadBalancer made since gets it")
	setLayout("v0.2.4")
	g.Eventually(engagedMessage, time.Minute).ShouldNot(ContainSubstring(clusterprofiles.AnnotationHandbackLayout))
	v024LB := newLB("lb-v024")
	g.Eventually(selectorOf(v024LB), time.Minute).Should(Equal(map[string]string{
		"apinetlet.ironcore.dev/loadbalancer-uid": string(v024LB.UID), "apinetlet.ironcore.dev/loadbalancer-namespace": "default",
		"apinetlet.ironcore.dev/loadbalancer-name": "lb-v024",
	}))
	g.Expect(selectorOf(headLB)()).To(HaveLen(2), "the existing one keeps its selector (immutable)")
	an := &apinetv1alpha1.LoadBalancer{}
	g.Expect(peer.Get(ctx, types.NamespacedName{Namespace: nsName, Name: string(v024LB.UID)}, an)).To(Succeed())
	g.Expect(an.Labels).To(HaveKeyWithValue("apinetlet.ironcore.dev/loadbalancer-name", "lb-v024"), "v0.2.4 finds it by the name label")
	g.Expect(an.Spec.Template.Annotations).To(BeEmpty(), "v0.2.4 writes no template annotations")

	By("the HEAD one blocks a hand-back to v0.2.4, with --dry-run too")
	for _, args := range [][]string{{"--dry-run"}, nil} {
		code, out, errOut = offboard(args...)
		g.Expect(code).To(Equal(1), "%v: stdout: %s\nstderr: %s", args, out, errOut)
		g.Expect(errOut).To(And(
			ContainSubstring("refusing --release of fleet/ironcore-1: apinetlet v0.2.4"),
			ContainSubstring("could not adopt 1 apinet objects"),
			ContainSubstring("apinet LoadBalancer "+nsName+"/"+string(headLB.UID)+" (IronCore LoadBalancer default/lb-head): its selector (immutable) is head's (uid, namespace), apinetlet v0.2.4 applies v0.2.4's (uid, namespace, name)"),
			Not(ContainSubstring("lb-v024"))), "%v", args)
		unchanged()
	}

	By("with the HEAD one recreated by the user, the release goes through")
	g.Expect(ic.Delete(ctx, headLB)).To(Succeed())
	g.Eventually(func() error {
		return peer.Get(ctx, types.NamespacedName{Namespace: nsName, Name: string(headLB.UID)}, &apinetv1alpha1.LoadBalancer{})
	}, time.Minute).Should(Satisfy(apierrors.IsNotFound), "the hub deletes its apinet LoadBalancer")
	g.Eventually(func() error {
		return ic.Get(ctx, client.ObjectKeyFromObject(headLB), &networkingv1alpha1.LoadBalancer{})
	}, time.Minute).Should(Satisfy(apierrors.IsNotFound), "then lets the IronCore one go")
	recreated := newLB("lb-head")
	g.Eventually(selectorOf(recreated), time.Minute).Should(HaveLen(3))
	code, out, errOut = offboard()
	g.Expect(code).To(Equal(0), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(out).To(And(ContainSubstring("core.apinet.ironcore.dev/LoadBalancer 2"), ContainSubstring("clusterprofile fleet/ironcore-1 deleted")))
	g.Expect(proc.Exited()).To(BeFalse())
}
