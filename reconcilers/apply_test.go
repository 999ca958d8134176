package reconcilers_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// countWrites counts the write requests (anything but GET) that pass it.
type countWrites struct {
	next   http.RoundTripper
	writes *atomic.Int64
}

func (c countWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		c.writes.Add(1)
	}
	return c.next.RoundTrip(req)
}

var _ = Describe("Applying apinet objects", func() {
	It("skips an apply that would change nothing, and applies again after content changes, drift and deletion", func(ctx SpecContext) {
		const ns = "apply-memo"
		Expect(peer().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())

		// A peer view of its own (the real apinet server, its own cache of
		// one namespace, as the hub builds them) whose writes are counted.
		var writes atomic.Int64
		cfg := testFleet.Cluster("apinet-1").Config()
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countWrites{next: rt, writes: &writes} }
		cl, err := cluster.New(cfg, func(o *cluster.Options) {
			o.Scheme = fleet.Scheme
			o.Cache.DefaultNamespaces = map[string]cache.Config{ns: {}}
		})
		Expect(err).NotTo(HaveOccurred())
		clCtx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		go func() { _ = cl.Start(clCtx) }()
		Expect(cl.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
		m := &clusterprofiles.Member{Peer: &clusterprofiles.Peer{Cluster: cl, Name: "apinet-1-counted", Namespace: ns}}

		memo := reconcilers.NewAppliedMemo(1000)
		named := func(name, label string) *apinetv1alpha1.Network {
			return &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
				Labels: map[string]string{"apinet-hub.test/memo": label}}}
		}
		desired := func(label string) *apinetv1alpha1.Network { return named("memo", label) }
		// apply applies obj and returns how many writes that took.
		apply := func(obj client.Object) int64 {
			GinkgoHelper()
			before := writes.Load()
			Expect(memo.Apply(ctx, m, obj, reconcilers.FieldManager)).To(Succeed())
			return writes.Load() - before
		}
		// settledNamed waits until the object stops changing on the server
		// (the apinet controller-manager may still write it) and the cache
		// shows its latest version.
		settledNamed := func(name string) {
			GinkgoHelper()
			latest := func() string {
				an := &apinetv1alpha1.Network{}
				Expect(peer().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, an)).To(Succeed())
				return an.ResourceVersion
			}
			Consistently(latest).WithTimeout(time.Second).Should(Equal(latest()))
			rv := latest()
			Eventually(func() string {
				an := &apinetv1alpha1.Network{}
				_ = cl.GetClient().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, an)
				return an.ResourceVersion
			}).Should(Equal(rv))
		}
		settled := func() { settledNamed("memo") }
		gone := func(name string) {
			GinkgoHelper()
			Eventually(func() bool {
				return apierrors.IsNotFound(cl.GetClient().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &apinetv1alpha1.Network{}))
			}).Should(BeTrue())
		}

		first := desired("1")
		Expect(apply(first)).To(BeEquivalentTo(1), "a new object is applied")
		Expect(first.Spec.ID).NotTo(BeEmpty(), "the server's object is read back: the registry allocated the VNI")
		settled()
		apply(desired("1")) // the memo learns the settled version
		settled()

		again := desired("1")
		Expect(apply(again)).To(BeZero(), "same content, and the cache shows the last applied version: no request")
		Expect(again.UID).To(Equal(first.UID))
		Expect(again.Spec.ID).To(Equal(first.Spec.ID), "the skipped apply reads the object from the cache")

		By("changed content is applied")
		Expect(apply(desired("2"))).To(BeEquivalentTo(1))
		settled()

		By("drift by another writer is corrected at the next apply")
		drifted := &apinetv1alpha1.Network{}
		Expect(peer().Get(ctx, client.ObjectKey{Namespace: ns, Name: "memo"}, drifted)).To(Succeed())
		drifted.Labels["apinet-hub.test/memo"] = "drift"
		Expect(peer().Update(ctx, drifted)).To(Succeed())
		settled()
		Expect(apply(desired("2"))).To(BeEquivalentTo(1))
		live := &apinetv1alpha1.Network{}
		Expect(peer().Get(ctx, client.ObjectKey{Namespace: ns, Name: "memo"}, live)).To(Succeed())
		Expect(live.Labels).To(HaveKeyWithValue("apinet-hub.test/memo", "2"))
		settled()

		By("an object deleted by another writer is created again")
		Expect(peer().Delete(ctx, live)).To(Succeed())
		gone("memo")
		recreated := desired("2")
		Expect(apply(recreated)).To(BeEquivalentTo(1))
		Expect(recreated.UID).NotTo(Equal(live.UID))
		Expect(peer().Delete(ctx, recreated)).To(Succeed())

		By("a full memo is swept of objects that are gone and keeps the live ones")
		memo = reconcilers.NewAppliedMemo(2)
		Expect(apply(named("kept", "1"))).To(BeEquivalentTo(1))
		Expect(apply(named("doomed", "1"))).To(BeEquivalentTo(1))
		settledNamed("kept")
		apply(named("kept", "1")) // the memo learns the settled version
		settledNamed("kept")
		Expect(peer().Delete(ctx, named("doomed", "1"))).To(Succeed())
		gone("doomed")
		Expect(memo.Len(m)).To(Equal(2))
		Expect(apply(named("new", "1"))).To(BeEquivalentTo(1), "full: the sweep drops doomed")
		Expect(memo.Len(m)).To(Equal(2), "kept and new")
		Expect(apply(named("kept", "1"))).To(BeZero(), "kept's entry survived the sweep")

		By("each member's memo is bounded on its own: one member's full memo costs another nothing")
		other := &clusterprofiles.Member{Peer: m.Peer}
		Expect(memo.Apply(ctx, other, named("other", "1"), reconcilers.FieldManager)).To(Succeed())
		settledNamed("other")
		Expect(memo.Apply(ctx, other, named("other", "1"), reconcilers.FieldManager)).To(Succeed()) // learns the settled version
		settledNamed("other")
		for _, name := range []string{"a", "b", "c"} { // m overflows its memo
			Expect(apply(named(name, "1"))).To(BeEquivalentTo(1))
		}
		Expect(memo.Len(m)).To(BeNumerically("<=", 2))
		Expect(memo.Len(other)).To(Equal(1))
		before := writes.Load()
		Expect(memo.Apply(ctx, other, named("other", "1"), reconcilers.FieldManager)).To(Succeed())
		Expect(writes.Load()-before).To(BeZero(), "other's entry is untouched by m's overflow")
	})
})
