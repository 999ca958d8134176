package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/sharder"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

const (
	// leaseNamespace holds the replicas' leader-election Lease on the hub.
	leaseNamespace = "apinet-hub"
	// leaseName is the hub's leader-election ID (cmd/apinet-hub).
	leaseName = "apinet-hub.ironcore.dev"
	// The replicas' leader-election timings: shorter than the chart's
	// 15s/10s/2s so that the case takes seconds; the mechanism is the same.
	haLeaseDuration = 6 * time.Second
	haRenewDeadline = 4 * time.Second
	haRetryPeriod   = time.Second
	// haMaxRetryWait is the longest wait between two leader-election
	// attempts: client-go's JitterUntil with jitter factor 1.2.
	haMaxRetryWait = haRetryPeriod * 22 / 10
)

var _ = Describe("Two hub replicas with leader election", func() {
	BeforeEach(func(ctx SpecContext) { resetFleet(ctx) }, NodeTimeout(3*time.Minute))

	It("hand over within the lease duration when the leader is SIGKILLed under load, with no apinet object duplicated or recreated", func(ctx SpecContext) {
		// The single hub of the other cases must not reconcile beside the replicas.
		Expect(hub.stop()).To(Succeed())
		ensureLeaseNamespace(ctx)
		args := append(append([]string{}, hubArgs...), "--leader-elect", "--leader-election-namespace="+leaseNamespace,
			"--leader-election-lease-duration="+haLeaseDuration.String(),
			"--leader-election-renew-deadline="+haRenewDeadline.String(),
			"--leader-election-retry-period="+haRetryPeriod.String())
		replicas := []*hubRunner{}
		for i := range 2 {
			replicas = append(replicas, &hubRunner{binary: hub.binary, kubeconfig: hub.kubeconfig, args: args,
				log: filepath.Join(logDir, fmt.Sprintf("apinet-hub-replica-%d.log", i))})
		}
		DeferCleanup(func() {
			for _, r := range replicas {
				Expect(r.stop()).To(Succeed())
			}
		})
		for _, r := range replicas {
			Expect(r.start()).To(Succeed())
		}
		leader := func() (int, error) { return onlyLeader(ctx, replicas) }
		Eventually(leader).WithTimeout(time.Minute).Should(BeNumerically(">=", 0), "one replica leads")

		const rounds = 2 // each replica is killed once as the leader
		var takeovers, gaps []time.Duration
		runFault(ctx, "leader-kill", func(ctx context.Context) int {
			for range rounds {
				sleep(ctx, 4*time.Second)
				old, err := leader()
				Expect(err).NotTo(HaveOccurred())
				standby := replicas[1-old]
				Expect(standby.leading(ctx)).To(BeFalse(), "the standby does not lead before the kill")
				Expect(replicas[old].kill()).To(Succeed())
				killed := time.Now()
				before := currentLease(ctx) // the dead leader renews no more
				Eventually(func() bool { return standby.leading(ctx) }).WithPolling(100*time.Millisecond).
					WithTimeout(3*haLeaseDuration).Should(BeTrue(), "the standby takes over")
				takeover := time.Since(killed)
				after := currentLease(ctx)
				Expect(*after.Spec.HolderIdentity).NotTo(Equal(*before.Spec.HolderIdentity), "the Lease changed hands")
				// The standby may take the Lease once it has seen it unrenewed
				// for a lease duration. It looks once per retry period, which
				// client-go jitters to up to 2.2 periods: it may see the last
				// renewal that much late, and try that much after the expiry.
				// Both times come from this machine's clock.
				gap := after.Spec.AcquireTime.Sub(before.Spec.RenewTime.Time)
				Expect(gap).To(BeNumerically("<=", haLeaseDuration+2*haMaxRetryWait),
					"taken over within the lease duration of the last renewal, plus client-go's retry waits")
				takeovers, gaps = append(takeovers, takeover), append(gaps, gap)
				GinkgoWriter.Printf("replica %d killed; replica %d leads after %s (Lease: %s after the last renewal)\n",
					old, 1-old, takeover.Round(time.Millisecond), gap.Round(time.Millisecond))

				// The killed replica comes back as the standby, as a restarted pod would.
				Expect(replicas[old].start()).To(Succeed())
				Consistently(func() (int, error) { return onlyLeader(ctx, replicas) }).WithTimeout(2*time.Second).
					Should(Equal(1-old), "the restarted replica stands by")
			}
			sleep(ctx, 5*time.Second)
			return rounds
		})
		AddReportEntry("leader-kill takeovers", map[string]any{
			"kill → standby leads": roundAll(takeovers), "last renewal → Lease acquired": roundAll(gaps),
			"lease duration": haLeaseDuration.String(), "retry period": haRetryPeriod.String(),
		})
	}, NodeTimeout(6*time.Minute))
})

var _ = Describe("EXPERIMENTAL: two hub replicas sharing the members (--experimental-sharding)", func() {
	BeforeEach(func(ctx SpecContext) { resetFleet(ctx) }, NodeTimeout(3*time.Minute))

	It("fence every member with one replica's Lease, and move a SIGKILLed replica's members to the other", func(ctx SpecContext) {
		Expect(hub.stop()).To(Succeed())
		ensureLeaseNamespace(ctx)
		replicas, ids := []*hubRunner{}, splittingShardIDs()
		for i, id := range ids {
			replicas = append(replicas, &hubRunner{binary: hub.binary, kubeconfig: hub.kubeconfig,
				log: filepath.Join(logDir, fmt.Sprintf("apinet-hub-shard-%d.log", i)),
				args: append(append([]string{}, hubArgs...), "--experimental-sharding", "--shard-id="+id,
					"--leader-election-namespace="+leaseNamespace, "--leader-election-lease-duration="+haLeaseDuration.String())})
		}
		DeferCleanup(func() {
			for _, r := range replicas {
				Expect(r.stop()).To(Succeed())
			}
		})
		for _, r := range replicas {
			Expect(r.start()).To(Succeed())
		}
		// Every member is fenced by exactly one replica, and each replica
		// holds one of the two members.
		Eventually(func() map[string]string { return shardFences(ctx) }).WithTimeout(time.Minute).Should(
			And(HaveLen(len(faultMembers)), ContainElements(ids[0], ids[1])), "the replicas share the members")
		split := shardFences(ctx)
		GinkgoWriter.Printf("members per shard: %v\n", split)
		// Shard-aware engagement: each replica has engaged (connected to,
		// built the caches of, reports on) its own member only.
		for i, r := range replicas {
			Eventually(func() []string { return engagedMembers(ctx, r) }).Should(ConsistOf(fencedBy(split, ids[i])),
				"replica %s engages only the member it owns", ids[i])
		}

		var moved time.Duration
		runFault(ctx, "shard-kill", func(ctx context.Context) int {
			sleep(ctx, 4*time.Second)
			fences := shardFences(ctx)
			Expect(fences).NotTo(BeEmpty())
			victim := fences[slices.Sorted(maps.Keys(fences))[0]]
			survivor := ids[0]
			if victim == ids[0] {
				survivor = ids[1]
			}
			Expect(replicas[slices.Index(ids, victim)].kill()).To(Succeed())
			killed := time.Now()
			// The survivor sees the victim gone once its peer Lease
			// expires (a third of a lease duration: providers.ReplicaTTL),
			// engages its member, and takes the fence once that has
			// expired too (its coordinator recomputes every second).
			Eventually(func() map[string]string { return shardFences(ctx) }).WithPolling(250*time.Millisecond).
				WithTimeout(90*time.Second).Should(And(HaveLen(len(faultMembers)), HaveEach(Equal(survivor))),
				"the survivor holds every member")
			moved = time.Since(killed)
			GinkgoWriter.Printf("%s killed; %s holds every member after %s\n", victim, survivor, moved.Round(time.Millisecond))
			// Its fence is taken once the provider has engaged the member;
			// the engaged gauge follows with the provider's next decision.
			Eventually(func() []string { return engagedMembers(ctx, replicas[slices.Index(ids, survivor)]) }).
				Should(HaveLen(len(faultMembers)), "the survivor has engaged the victim's member too")
			sleep(ctx, 5*time.Second)
			return 1
		})
		AddReportEntry("shard-kill", map[string]any{"members per shard before": split,
			"kill → survivor holds every member": moved.Round(time.Millisecond).String()})
	}, NodeTimeout(6*time.Minute))
})

// splittingShardIDs returns two shard IDs between which the hub's
// rendezvous hashing (providers.Sharder, on the members' shard aliases)
// puts one fault member on each, so that the spec sees two replicas really
// share the work. The hash is deterministic: the search is too.
func splittingShardIDs() []string {
	GinkgoHelper()
	hrw := providers.Sharder()
	for n := range 1000 {
		ids := []string{fmt.Sprintf("e2e-shard-a%d", n), fmt.Sprintf("e2e-shard-b%d", n)}
		peers := []sharder.PeerInfo{{ID: ids[0]}, {ID: ids[1]}}
		owners := map[string]bool{}
		for _, m := range faultMembers {
			// The coordinator hashes the member under its shard alias
			// (providers.ShardedCoordinator): LabelValue of its name.
			name := clusterprofiles.LabelValue(clusterprofiles.ClusterName(types.NamespacedName{Namespace: profileNamespace, Name: m.name()}))
			for _, p := range peers {
				if hrw.ShouldOwn(name, peers, p) {
					owners[p.ID] = true
				}
			}
		}
		if len(owners) == 2 {
			return ids
		}
	}
	Fail("no pair of shard IDs splits the fault members")
	return nil
}

// shardFences returns, for every live member fence Lease
// (apinet-hub-shard-<member>), its holder; expired or released fences are
// left out.
func shardFences(ctx context.Context) map[string]string {
	GinkgoHelper()
	fences, err := fleet.ShardFences(ctx, testFleet.Hub().Client(), leaseNamespace)
	Expect(err).NotTo(HaveOccurred())
	return fences
}

// engagedMembers returns the IronCore members a replica reports engaged
// (apinet_hub_cluster_engaged 1), by member label: nil if it cannot be
// scraped.
func engagedMembers(ctx context.Context, h *hubRunner) []string {
	text, err := h.scrape(ctx)
	if err != nil {
		GinkgoWriter.Printf("scrape %s: %v\n", h.log, err)
		return nil
	}
	var engaged []string
	for _, m := range faultMembers {
		v, err := fleet.MetricSum(text, "apinet_hub_cluster_engaged", map[string]string{"member": m.label(), "role": "ironcore"})
		if err != nil {
			GinkgoWriter.Printf("metrics of %s: %v\n", h.log, err)
		}
		if err == nil && v == 1 {
			engaged = append(engaged, m.label())
		}
	}
	return engaged
}

// fencedBy returns the members (by label) whose fence Lease holder is id.
func fencedBy(fences map[string]string, id string) []string {
	var members []string
	for _, m := range faultMembers {
		if fences["apinet-hub-shard-"+m.label()] == id {
			members = append(members, m.label())
		}
	}
	return members
}

// ensureLeaseNamespace creates the replicas' Lease namespace on the hub.
func ensureLeaseNamespace(ctx context.Context) {
	GinkgoHelper()
	err := testFleet.Hub().Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNamespace}})
	if !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
}

// leading reports whether the replica runs and leads: controller-runtime's
// leader_election_master_status on its metrics endpoint.
func (h *hubRunner) leading(ctx context.Context) bool {
	text, err := h.scrape(ctx)
	return err == nil && strings.Contains(text, `leader_election_master_status{name="`+leaseName+`"} 1`)
}

// scrape returns the running replica's /metrics text, within 2 s.
func (h *hubRunner) scrape(ctx context.Context) (string, error) {
	h.mu.Lock()
	proc := h.proc
	h.mu.Unlock()
	if proc == nil || proc.Exited() {
		return "", errors.New("not running")
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return proc.Scrape(sctx)
}

// onlyLeader returns the index of the one replica that leads; an error when
// none or several do.
func onlyLeader(ctx context.Context, replicas []*hubRunner) (int, error) {
	leader := -1
	for i, r := range replicas {
		if r.leading(ctx) {
			if leader >= 0 {
				return -1, fmt.Errorf("replicas %d and %d both lead", leader, i)
			}
			leader = i
		}
	}
	if leader < 0 {
		return -1, fmt.Errorf("no replica leads")
	}
	return leader, nil
}

// currentLease reads the hub's leader-election Lease.
func currentLease(ctx context.Context) *coordinationv1.Lease {
	GinkgoHelper()
	lease := &coordinationv1.Lease{}
	Expect(testFleet.Hub().Client().Get(ctx, types.NamespacedName{Namespace: leaseNamespace, Name: leaseName}, lease)).To(Succeed())
	Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
	Expect(lease.Spec.RenewTime).NotTo(BeNil())
	Expect(lease.Spec.AcquireTime).NotTo(BeNil())
	return lease
}

func roundAll(ds []time.Duration) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Round(time.Millisecond).String())
	}
	return out
}
