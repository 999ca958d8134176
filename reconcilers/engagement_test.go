package reconcilers_test

import (
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

var _ = Describe("Re-engaging a member", Serial, func() {
	It("leaves no goroutine, informer or memory behind, after 20 re-engagements", func(ctx SpecContext) {
		const name = "ironcore-2"
		token, err := testFleet.Cluster(name).ServiceAccountToken(ctx, "apinet-hub-reengage")
		Expect(err).NotTo(HaveOccurred())
		kubeconfigs := [][]byte{token.Kubeconfig, testFleet.Cluster(name).Kubeconfig()}
		// Each credential change is one re-engagement: a new connection,
		// member cluster, peer view and watches; the old ones must end.
		reengage := func(i int) {
			GinkgoHelper()
			before, err := topology.Member(member(name))
			Expect(err).NotTo(HaveOccurred())
			cp := &clusterinventoryv1alpha1.ClusterProfile{}
			Expect(testFleet.Hub().Client().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: name}, cp)).To(Succeed())
			Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), fleetNamespace, name, cp.Labels, cp.Annotations, kubeconfigs[i%2])).To(Succeed())
			Eventually(func() bool {
				after, err := topology.Member(member(name))
				return err == nil && after != before && engaged(ctx, name)
			}).Should(BeTrue(), "re-engagement %d", i)
		}
		settled := func() (int, uint64) {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return runtime.NumGoroutine(), ms.HeapAlloc
		}
		for i := range 2 { // warm up: whatever starts once per process
			reengage(i)
		}
		time.Sleep(3 * time.Second)
		goroutines, heap := settled()
		for i := range 20 {
			reengage(i)
		}
		var nowGoroutines int
		var nowHeap uint64
		Eventually(func() int {
			nowGoroutines, nowHeap = settled()
			return nowGoroutines
		}, 60*time.Second, time.Second).Should(BeNumerically("<=", goroutines+20), "goroutines return to within +20 of %d", goroutines)
		Eventually(func() uint64 {
			_, nowHeap = settled()
			return nowHeap
		}, 30*time.Second, time.Second).Should(BeNumerically("<=", heap+heap/10), "heap returns to within +10%% of %d", heap)
		AddReportEntry("20 re-engagements", map[string]any{
			"goroutines before/after": []int{goroutines, nowGoroutines},
			"heap MiB before/after":   []float64{float64(heap) / (1 << 20), float64(nowHeap) / (1 << 20)},
		})
		GinkgoWriter.Printf("20 re-engagements: goroutines %d -> %d, heap %.1f -> %.1f MiB\n", goroutines, nowGoroutines, float64(heap)/(1<<20), float64(nowHeap)/(1<<20))
		Expect(token.Revoke(ctx)).To(Succeed())
	})
})
