package providers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/log"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/peers"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/sharder"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/providers"
)

// engagements records what the coordinator hands to an aware: the context
// of each member's current engagement.
type engagements struct {
	mu   sync.Mutex
	ctxs map[multicluster.ClusterName]context.Context
}

func (e *engagements) Engage(ctx context.Context, name multicluster.ClusterName, _ cluster.Cluster) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ctxs[name] = ctx
	return nil
}

// running tells whether name's latest engagement is live.
func (e *engagements) running(name multicluster.ClusterName) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx := e.ctxs[name]
	return ctx != nil && ctx.Err() == nil
}

// shardRun drives multicluster-runtime's sharded coordinator (wrapped by
// the hub, or raw as upstream ships it) on the hub's real API server, one
// replica, the ticker off, so that only engagements recompute. The first
// member's fence is held by a replica that died a moment ago: the first
// member is not started at its own engagement, but in the recompute of the
// second member's, which upstream derives from the second member's
// context. Then the second member goes. It returns whether the first still
// runs 3 s later, and the names of the fence Leases.
func shardRun(ctx context.Context, ns string, wrapped bool) (firstRuns bool, fences []string) {
	GinkgoHelper()
	hub := testFleet.Hub().Client()
	Expect(hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	c, err := client.New(testFleet.Hub().Config(), client.Options{})
	Expect(err).NotTo(HaveOccurred())
	// a-b/c and a/b-c both sanitize to a-b-c upstream.
	first, second := multicluster.ClusterName("a-b/c"), multicluster.ClusterName("a/b-c")
	firstFence := "apinet-hub-shard-a-b-c"
	if wrapped {
		firstFence = "apinet-hub-shard-a-b.c"
	}
	dead := "dead-replica"
	Expect(hub.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: firstFence},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &dead, LeaseDurationSeconds: ptr.To[int32](1),
			AcquireTime: &metav1.MicroTime{Time: time.Now()}, RenewTime: &metav1.MicroTime{Time: time.Now()}}})).To(Succeed())

	logger := log.FromContext(ctx)
	var coord mcmanager.Coordinator = sharded.New(c, logger,
		sharded.WithShardLease(ns, "apinet-hub-shard"),
		sharded.WithLeaseTimings(15*time.Second, 5*time.Second, 100*time.Millisecond),
		sharded.WithSynchronizationIntervals(time.Hour, time.Hour),
		sharded.WithPeerRegistry(peers.NewLeaseRegistry(c, ns, "apinet-hub-peer", "only", 1, logger)))
	if wrapped {
		coord = providers.ShardedCoordinator(coord)
	}
	aware := &engagements{ctxs: map[multicluster.ClusterName]context.Context{}}
	coord.AddAware(aware)
	runCtx, stopRun := context.WithCancel(ctx)
	DeferCleanup(stopRun)
	go func() { _ = coord.Runnable().Start(runCtx) }()

	Expect(coord.Engage(ctx, first, &stubCluster{})).To(Succeed())
	Consistently(func() bool { return aware.running(first) }).WithTimeout(time.Second).Should(BeFalse(), "its fence is still held")
	time.Sleep(time.Second) // the dead replica's fence expires
	secondCtx, goSecond := context.WithCancel(ctx)
	DeferCleanup(goSecond)
	Expect(coord.Engage(secondCtx, second, &stubCluster{})).To(Succeed())
	Eventually(func() bool { return aware.running(first) && aware.running(second) }).WithTimeout(10 * time.Second).Should(BeTrue())

	leases := &coordinationv1.LeaseList{}
	Expect(hub.List(ctx, leases, client.InNamespace(ns))).To(Succeed())
	for _, l := range leases.Items {
		if strings.HasPrefix(l.Name, "apinet-hub-shard-") && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "only" {
			fences = append(fences, l.Name)
		}
	}

	goSecond()
	Eventually(func() bool { return aware.running(second) }).WithTimeout(10 * time.Second).Should(BeFalse())
	time.Sleep(3 * time.Second)
	return aware.running(first), fences
}

var _ = Describe("The sharded coordinator, as the hub wraps it", func() {
	It("fences members whose names sanitize alike apart, and keeps a member running when another one goes", func(ctx SpecContext) {
		runs, fences := shardRun(ctx, "shard-wrapped", true)
		Expect(fences).To(ConsistOf("apinet-hub-shard-a-b.c", "apinet-hub-shard-a.b-c"), "one fence each, named by the alias")
		Expect(runs).To(BeTrue(), "the first member keeps running when the second goes")

		By("calibration: upstream's coordinator, raw, has both defects")
		runs, fences = shardRun(ctx, "shard-raw", false)
		Expect(fences).To(ConsistOf("apinet-hub-shard-a-b-c"), "one fence for both members")
		Expect(runs).To(BeFalse(), "the first member stopped with the second: the test sees the defect")
	}, SpecTimeout(2*time.Minute))
})

// stubCluster is a cluster the coordinator only passes on (it never calls
// it): a cluster.Cluster that nothing is done with.
type stubCluster struct{ cluster.Cluster }

var _ = Describe("The replica registry", func() {
	It("sees a replica within seconds, splits the profiles between the replicas it sees, and forgets a replica at once when it stops cleanly or within its time to live when it dies", func(ctx SpecContext) {
		const ns = "replica-registry"
		hub := testFleet.Hub().Client()
		Expect(hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		c, err := client.New(testFleet.Hub().Config(), client.Options{})
		Expect(err).NotTo(HaveOccurred())
		logger := log.FromContext(ctx)
		ids := func(r interface{ Snapshot() []sharder.PeerInfo }) []string {
			var out []string
			for _, p := range r.Snapshot() {
				out = append(out, p.ID)
			}
			return out
		}
		start := func(id string, ttl time.Duration) (*providers.Replicas, context.CancelFunc, chan struct{}) {
			r := providers.ReplicaRegistry(c, ns, "apinet-hub-peer", id, ttl, logger)
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = r.Run(runCtx) }()
			return r, stop, done
		}
		a, stopA, doneA := start("a", 4*time.Second)
		Eventually(a.Ready()).WithTimeout(3*time.Second).Should(BeClosed(), "ready after its first read")
		b, stopB, doneB := start("b", 4*time.Second)
		DeferCleanup(stopB)
		Eventually(func() []string { return ids(a) }).WithTimeout(5 * time.Second).Should(ConsistOf("a", "b"))
		Eventually(func() []string { return ids(b) }).WithTimeout(5 * time.Second).Should(ConsistOf("a", "b"))
		Eventually(a.Changes()).Should(Receive(), "a is told that b joined")

		By("as a Shard, the two replicas split the profiles: each owned by exactly one, both own some")
		owned := map[string]int{}
		for i := range 64 {
			key := types.NamespacedName{Namespace: "fleet", Name: fmt.Sprintf("member-%d", i)}
			Expect(a.Owns(key)).NotTo(Equal(b.Owns(key)), "%s has one owner", key)
			if a.Owns(key) {
				owned["a"]++
			} else {
				owned["b"]++
			}
		}
		Expect(owned).To(HaveKey("a"))
		Expect(owned).To(HaveKey("b"))

		By("a stops cleanly: its Lease goes, b forgets it within a second or two, is told, and owns every profile")
		for len(b.Changes()) > 0 {
			<-b.Changes()
		}
		stopA()
		<-doneA
		Expect(apierrors.IsNotFound(hub.Get(ctx, client.ObjectKey{Namespace: ns, Name: "apinet-hub-peer-a"}, &coordinationv1.Lease{}))).To(BeTrue())
		Eventually(func() []string { return ids(b) }).WithTimeout(3 * time.Second).Should(ConsistOf("b"))
		Eventually(b.Changes()).Should(Receive(), "b is told that a left")
		for i := range 64 {
			Expect(b.Owns(types.NamespacedName{Namespace: "fleet", Name: fmt.Sprintf("member-%d", i)})).To(BeTrue())
		}

		By("a replica that died (its Lease left behind) is forgotten once its time to live has passed")
		dead := "dead"
		Expect(hub.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "apinet-hub-peer-dead",
			Labels: map[string]string{"mcr.sigs.k8s.io/peer": "true", "mcr.sigs.k8s.io/prefix": "apinet-hub-peer"}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &dead, LeaseDurationSeconds: ptr.To[int32](4), RenewTime: &metav1.MicroTime{Time: time.Now()}}})).To(Succeed())
		Eventually(func() []string { return ids(b) }).WithTimeout(3 * time.Second).Should(ConsistOf("b", "dead"))
		Eventually(func() []string { return ids(b) }).WithTimeout(7 * time.Second).Should(ConsistOf("b"))
		stopB()
		<-doneB
	}, SpecTimeout(time.Minute))
})
