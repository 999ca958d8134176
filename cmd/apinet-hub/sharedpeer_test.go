package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// apinetWatches counts the watches open on a cluster's apinet API server
// (apiserver_longrunning_requests of its WATCH requests).
func apinetWatches(ctx context.Context, c *fleet.Cluster) (int, error) {
	body, err := c.AggregatedMetrics(ctx)
	if err != nil {
		return 0, err
	}
	n, err := fleet.MetricSum(body, "apiserver_longrunning_requests", map[string]string{"verb": "WATCH"})
	return int(n), err
}

// TestPeerCacheIsSharedByItsMembers: eight scoped members (one IronCore
// cluster, disjoint watch filters) on one peer hold the peer's watches of
// one member, and each maps into its own namespace. A rotation of the
// peer's credentials (a token instead of the admin certificate) builds one
// new cache: every member is engaged again and maps, and the watches are
// back to one member's.
func TestPeerCacheIsSharedByItsMembers(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)
	ic, peer := f.Cluster("ironcore-1").Client(), f.Cluster("apinet-1")
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "apinet-1", fleet.APINetLabels, nil, peer.Kubeconfig())).To(Succeed())
	member := func(i int) string { return fmt.Sprintf("m-%d", i) }
	onboard := func(i int) {
		g.Expect(fleet.Onboard(ctx, hub, "fleet", member(i), fleet.IronCoreLabels("apinet-1"),
			map[string]string{clusterprofiles.AnnotationWatchFilter: member(i)}, f.Cluster("ironcore-1").Kubeconfig())).To(Succeed())
	}
	engaged := func(from, to int) {
		for i := from; i < to; i++ {
			g.Eventually(engagedReason(ctx, hub, "fleet", member(i)), 2*time.Minute).Should(Equal(clusterprofiles.ReasonEngaged), member(i))
		}
	}
	mapped := func(i int, name string) {
		g.Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
			Labels: map[string]string{clusterprofiles.LabelWatchFilter: member(i)}}})).To(Succeed())
		want := "ironcore-net://" + clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: "fleet", Name: member(i)}) + "/"
		g.Eventually(func() string {
			nw := &networkingv1alpha1.Network{}
			if err := ic.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, nw); err != nil {
				return err.Error()
			}
			return nw.Spec.ProviderID
		}, time.Minute).Should(HavePrefix(want), name)
	}
	watches := func() int {
		var n int
		g.Eventually(func() (err error) { n, err = apinetWatches(ctx, peer); return err }, 30*time.Second).Should(Succeed())
		return n
	}
	settled := func(want int) {
		g.Eventually(watches, time.Minute).Should(Equal(want))
		g.Consistently(watches, 3*time.Second).Should(Equal(want))
	}

	onboard(0)
	base := watches() // apinet's own controller-manager
	startHub(ctx, t, f, "--probe-interval", "1s")
	engaged(0, 1)
	mapped(0, "net-0")
	settled(watches())
	one := watches()
	g.Expect(one).To(BeNumerically(">", base))

	for i := 1; i < 8; i++ {
		onboard(i)
	}
	engaged(1, 8)
	for i := 1; i < 8; i++ {
		mapped(i, fmt.Sprintf("net-%d", i))
	}
	settled(one)
	t.Logf("the hub's apinet watches on the peer: %d with 1 member, %d with 8 (apinet's own: %d)", one-base, one-base, base)

	token, err := peer.ServiceAccountToken(ctx, "apinet-hub")
	g.Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "apinet-1", fleet.APINetLabels, nil, token.Kubeconfig)).To(Succeed())
	// The members re-engage on the new connection: wait until all of them
	// map a new Network.
	for i := range 8 {
		mapped(i, fmt.Sprintf("rotated-%d", i))
	}
	engaged(0, 8)
	t.Logf("peer credentials rotated: 8 members mapping again %s after", time.Since(start).Round(time.Millisecond))
	settled(one)
}
