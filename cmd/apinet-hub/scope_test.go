package main

import (
	"context"
	"strings"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestScopedProfilesShareACluster: three profiles on one IronCore cluster,
// as three apinetlets with --watch-filter had it: "blue" and "green" by
// watch filter, "team" by watch filter "red" in namespace team-a only. Their
// scopes are disjoint, so all three engage, each mapping only its objects
// into its own apinet namespace; an unlabelled Network and a red one outside
// team-a are nobody's. A fourth profile covering the whole cluster overlaps
// them and is refused (DuplicateCluster, naming the scopes). Widening team's
// namespaces re-engages it, and the red Network in default is mapped then.
func TestScopedProfilesShareACluster(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)
	ic := f.Cluster("ironcore-1").Client()
	g.Expect(ic.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})).To(Succeed())

	kubeconfig := f.Cluster("ironcore-1").Kubeconfig()
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "apinet-1", fleet.APINetLabels, nil, f.Cluster("apinet-1").Kubeconfig())).To(Succeed())
	scoped := map[string]map[string]string{
		"blue":  {clusterprofiles.AnnotationWatchFilter: "blue"},
		"green": {clusterprofiles.AnnotationWatchFilter: "green"},
		"team":  {clusterprofiles.AnnotationWatchFilter: "red", clusterprofiles.AnnotationIronCoreNamespaces: "team-a"},
	}
	for _, name := range []string{"blue", "green", "team"} {
		g.Expect(fleet.Onboard(ctx, hub, "fleet", name, fleet.IronCoreLabels("apinet-1"), scoped[name], kubeconfig)).To(Succeed())
	}
	time.Sleep(1100 * time.Millisecond) // a younger creation timestamp
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "whole", fleet.IronCoreLabels("apinet-1"), nil, kubeconfig)).To(Succeed())

	startHub(ctx, t, f, "--probe-interval", "1s")
	for _, name := range []string{"blue", "green", "team"} {
		g.Eventually(engagedReason(ctx, hub, "fleet", name), 2*time.Minute).Should(Equal(clusterprofiles.ReasonEngaged), name)
	}
	g.Eventually(engagedReason(ctx, hub, "fleet", "whole"), time.Minute).Should(Equal(clusterprofiles.ReasonDuplicateCluster))
	whole := &clusterinventoryv1alpha1.ClusterProfile{}
	g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "whole"}, whole)).To(Succeed())
	g.Expect(meta.FindStatusCondition(whole.Status.Conditions, clusterprofiles.ConditionEngaged).Message).To(
		MatchRegexp(`older ClusterProfile fleet/(blue|green|team) already maps watch-filter \w+.*, which overlaps this profile's the whole cluster`))

	network := func(namespace, name, filter string) {
		nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		if filter != "" {
			nw.Labels = map[string]string{clusterprofiles.LabelWatchFilter: filter}
		}
		g.Expect(ic.Create(ctx, nw)).To(Succeed())
	}
	network("default", "net-blue", "blue")
	network("default", "net-green", "green")
	network("team-a", "net-red", "red")
	network("default", "net-red", "red")
	network("default", "net-none", "")
	providerID := func(namespace, name string) func() string {
		return func() string {
			nw := &networkingv1alpha1.Network{}
			if err := ic.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, nw); err != nil {
				return err.Error()
			}
			return nw.Spec.ProviderID
		}
	}
	inNamespace := func(ns string) string { return "ironcore-net://" + ns + "/" }
	g.Eventually(providerID("default", "net-blue"), time.Minute).Should(HavePrefix(inNamespace(clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: "fleet", Name: "blue"}))))
	g.Eventually(providerID("default", "net-green"), time.Minute).Should(HavePrefix(inNamespace(clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: "fleet", Name: "green"}))))
	g.Eventually(providerID("team-a", "net-red"), time.Minute).Should(HavePrefix(inNamespace(clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: "fleet", Name: "team"}))))
	g.Consistently(providerID("default", "net-none"), 3*time.Second).Should(BeEmpty())
	g.Expect(providerID("default", "net-red")()).To(BeEmpty())

	// Widen team's namespaces: it re-engages with the new scope.
	team := &clusterinventoryv1alpha1.ClusterProfile{}
	g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "team"}, team)).To(Succeed())
	base := team.DeepCopy()
	team.Annotations[clusterprofiles.AnnotationIronCoreNamespaces] = "team-a,default"
	g.Expect(hub.Patch(ctx, team, client.MergeFrom(base))).To(Succeed())
	start := time.Now()
	g.Eventually(providerID("default", "net-red"), time.Minute).Should(HavePrefix(inNamespace(clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: "fleet", Name: "team"}))))
	t.Logf("a widened scope mapped its new Network %s after the edit", time.Since(start).Round(time.Millisecond))
	// The profile's condition follows the engagement that mapped it.
	g.Eventually(engagedReason(ctx, hub, "fleet", "team"), 30*time.Second).Should(Equal(clusterprofiles.ReasonEngaged))
	for _, name := range []string{"blue", "green"} {
		g.Expect(engagedReason(ctx, hub, "fleet", name)()).To(Equal(clusterprofiles.ReasonEngaged), name)
	}
	g.Expect(providerID("default", "net-none")()).To(BeEmpty())
	g.Expect(strings.Count(providerID("default", "net-blue")(), "/")).To(BeNumerically(">=", 4))
}
