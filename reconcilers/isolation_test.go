package reconcilers_test

import (
	"fmt"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A failing object costs only itself (reconcilers/fairqueue): its backoff
// holds none of its member's share of the controller's queue, so the
// member's other objects of the same kind are mapped at once.
var _ = Describe("Isolation", func() {
	It("maps a fresh NATGateway at once beside one the peer refuses on every attempt", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		apinetKey := func(gw client.Object) types.NamespacedName {
			return types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(gw.GetUID())}
		}

		By("breaking a mapped NATGateway: its IP family changes (IronCore allows it, apinet refuses it)")
		broken := createNATGateway(ctx, ns, "broken", "net", nil)
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(ic("ironcore-1").Delete(ctx, broken))).To(Succeed())
		})
		Eventually(func() error { return peer().Get(ctx, apinetKey(broken), &apinetv1alpha1.NATGateway{}) }).Should(Succeed())
		errorCount := gathered("apinet_hub_reconcile_total", map[string]string{"controller": "natgateway", "member": "fleet.ironcore-1", "result": "error"})
		before := errorCount()
		Eventually(func() error {
			if err := ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(broken), broken); err != nil {
				return err
			}
			broken.Spec.IPFamily = corev1.IPv6Protocol
			return ic("ironcore-1").Update(ctx, broken)
		}).Should(Succeed())

		// The controller-runtime rate limiter doubles from 5 ms: after the
		// 11th failure the broken object waits 5 s. The fresh one is created
		// right after that failure, so that a backoff counted against the
		// member's share would hold it about as long.
		const failures = 11
		By(fmt.Sprintf("waiting for %d failed reconciles of the broken NATGateway", failures))
		Eventually(func() float64 { return errorCount() - before }, "60s", "5ms").Should(BeNumerically(">=", failures))
		failed := errorCount() - before
		fresh := createNATGateway(ctx, ns, "fresh", "net", nil)
		created := time.Now()

		Eventually(func() error { return peer().Get(ctx, apinetKey(fresh), &apinetv1alpha1.NATGateway{}) }, "30s", "10ms").Should(Succeed())
		took := time.Since(created)
		AddReportEntry("fresh NATGateway mapped beside a failing one", took.String())
		fmt.Fprintf(GinkgoWriter, "fresh NATGateway mapped in %v beside one that had failed %.0f times\n", took, failed)
		Expect(took).To(BeNumerically("<", 2*time.Second), "the broken NATGateway's backoff holds the member's share of the queue")

		By("the broken one still waits in the member's queue (fair queueing is on), and is still not mapped")
		Expect(gathered("apinet_hub_queue_depth", map[string]string{"controller": "natgateway", "member": "fleet.ironcore-1"})()).To(BeNumerically(">=", 1))
		an := &apinetv1alpha1.NATGateway{}
		Expect(peer().Get(ctx, apinetKey(broken), an)).To(Succeed())
		Expect(an.Spec.IPFamily).To(Equal(corev1.IPv4Protocol))
		Expect(errorCount() - before).To(BeNumerically(">=", failed))
	})
})
