package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// Every fault case runs the same way (runFault): the fleet is reset and
// converged, a workload creates and deletes objects in both fault members,
// the fault happens under that load, the workload stops, and the one
// invariant check must pass within convergeTimeout.
var _ = Describe("The hub under faults", func() {
	BeforeEach(func(ctx SpecContext) { resetFleet(ctx) }, NodeTimeout(3*time.Minute))

	It("recovers from a member's API servers going down under load and coming back", func(ctx SpecContext) {
		victim := faultMembers[0]
		runFault(ctx, "member-outage", func(ctx context.Context) int {
			sleep(ctx, 3*time.Second)
			Expect(victim.cluster.Stop()).To(Succeed())
			Eventually(func() string { return engagedReason(ctx, victim.name()) }).Should(Equal(clusterprofiles.ReasonPaused),
				"the hub pauses a member whose API server is gone")
			sleep(ctx, 5*time.Second)
			Expect(victim.cluster.Start()).To(Succeed())
			sleep(ctx, 5*time.Second)
			return 1
		})
	}, NodeTimeout(5*time.Minute))

	It("recovers from the apinet peer going down under load and coming back", func(ctx SpecContext) {
		runFault(ctx, "peer-outage", func(ctx context.Context) int {
			sleep(ctx, 3*time.Second)
			Expect(peer.Stop()).To(Succeed())
			for _, m := range faultMembers {
				Eventually(func() string { return engagedReason(ctx, m.name()) }).Should(Equal(clusterprofiles.ReasonPeerPaused),
					"the hub pauses the members of a peer that is gone")
			}
			sleep(ctx, 5*time.Second)
			Expect(peer.Start()).To(Succeed())
			sleep(ctx, 5*time.Second)
			return 1
		})
	}, NodeTimeout(5*time.Minute))

	It("recovers from being SIGKILLed at random moments of a create/delete churn", func(ctx SpecContext) {
		kills := envInt("E2E_HUB_KILLS", 10)
		runFault(ctx, "hub-kills", func(ctx context.Context) int {
			for range kills {
				// Anywhere from "still connecting" to "busy reconciling".
				sleep(ctx, 200*time.Millisecond+rand.N(4*time.Second))
				Expect(hub.kill()).To(Succeed())
				Expect(hub.start()).To(Succeed())
			}
			sleep(ctx, 3*time.Second)
			return kills
		})
	}, NodeTimeout(time.Duration(envInt("E2E_HUB_KILLS", 10))*10*time.Second+5*time.Minute))

	It("keeps working without a restart when a member's credentials are rotated and the old ones revoked", func(ctx SpecContext) {
		victim := faultMembers[1]
		pid := hub.pid()
		var current *fleet.Token
		runFault(ctx, "credential-rotation", func(ctx context.Context) int {
			for range 2 {
				sleep(ctx, 4*time.Second)
				token, err := victim.cluster.ServiceAccountToken(ctx, "apinet-hub-e2e")
				Expect(err).NotTo(HaveOccurred())
				Expect(victim.onboard(ctx, token.Kubeconfig)).To(Succeed(), "switch the credential Secret to a new token")
				if current != nil {
					Expect(current.Revoke(ctx)).To(Succeed(), "revoke the token the hub used until now")
				}
				current = token
			}
			sleep(ctx, 4*time.Second)
			return 2
		})
		Expect(hub.pid()).To(Equal(pid), "the hub was not restarted")

		By("revoking the token in use, the hub loses the member: it did use the rotated credentials")
		Expect(current.Revoke(ctx)).To(Succeed())
		Eventually(func() string { return engagedReason(ctx, victim.name()) }).Should(
			Or(Equal(clusterprofiles.ReasonCredentialsInvalid), Equal(clusterprofiles.ReasonPaused)))
	}, NodeTimeout(5*time.Minute))

	It("writes and deletes nothing while a member's credentials reach another member's cluster, and resumes when they are fixed", func(ctx SpecContext) {
		victim, other := faultMembers[0], faultMembers[1]
		runFault(ctx, "wrong-cluster-credentials", func(ctx context.Context) int {
			sleep(ctx, 3*time.Second)
			switched := time.Now()
			Expect(victim.onboard(ctx, hubKubeconfig(ctx, other.cluster))).To(Succeed(), "the victim's Secret now reaches the other member's cluster")
			Eventually(func() string { return engagedReason(ctx, victim.name()) }).Should(Equal(clusterprofiles.ReasonIdentityMismatch))
			AddReportEntry("wrong-cluster credentials -> IdentityMismatch", time.Since(switched).Round(time.Millisecond).String())
			refused, err := apinetState(ctx, victim)
			Expect(err).NotTo(HaveOccurred())
			Consistently(func() (map[string]string, error) { return apinetState(ctx, victim) }, 5*time.Second, 250*time.Millisecond).
				Should(Equal(refused), "nothing of the victim's namespace is added, changed or deleted while the hub refuses its credentials")
			Expect(engagedReason(ctx, other.name())).To(Equal(clusterprofiles.ReasonEngaged))
			Expect(victim.onboard(ctx, hubKubeconfig(ctx, victim.cluster))).To(Succeed())
			Eventually(func() string { return engagedReason(ctx, victim.name()) }).Should(Equal(clusterprofiles.ReasonEngaged))
			sleep(ctx, 4*time.Second)
			return 1
		})
	}, NodeTimeout(5*time.Minute))

	It("leaves the apinet objects alone while a member's profile is deleted under load, and resumes when it is re-created", func(ctx SpecContext) {
		victim := faultMembers[0]
		runFault(ctx, "profile-recreate", func(ctx context.Context) int {
			sleep(ctx, 3*time.Second)
			cp := &clusterinventoryv1alpha1.ClusterProfile{}
			cp.Namespace, cp.Name = profileNamespace, victim.name()
			Expect(testFleet.Hub().Client().Delete(ctx, cp)).To(Succeed())
			Eventually(func() bool {
				err := testFleet.Hub().Client().Get(ctx, types.NamespacedName{Namespace: profileNamespace, Name: victim.name()}, cp)
				return apierrors.IsNotFound(err)
			}).Should(BeTrue(), "the profile is gone")
			sleep(ctx, 6*time.Second)
			Expect(victim.onboard(ctx, hubKubeconfig(ctx, victim.cluster))).To(Succeed())
			sleep(ctx, 4*time.Second)
			return 1
		})
	}, NodeTimeout(5*time.Minute))
})

// resetFleet brings the fleet back to the state every case starts from:
// every cluster running, the profiles onboarded with admin credentials, the
// hub running, every invariant holding.
func resetFleet(ctx context.Context) {
	GinkgoHelper()
	for _, c := range testFleet.Clusters() {
		Expect(c.Start()).To(Succeed()) // no-op when running
	}
	onboardAll(ctx)
	Expect(hub.start()).To(Succeed())
	took, violations := invariants.converge(ctx, convergeTimeout)
	Expect(violations).To(BeEmpty(), "the fleet converges before the case (waited %s):\n%s", took, strings.Join(violations, "\n"))
}

// runFault runs one fault case: fault runs under load and returns how many
// times it struck; then the workload stops and every invariant must hold
// again within convergeTimeout. It reports iterations, objects and the time
// to converge.
func runFault(ctx context.Context, name string, fault func(context.Context) int) {
	GinkgoHelper()
	clusters := make([]*fleet.Cluster, 0, len(faultMembers))
	for _, m := range faultMembers {
		clusters = append(clusters, m.cluster)
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go invariants.sample(sampleCtx, time.Second)

	start := time.Now()
	load := startWorkload(ctx, clusters, workloadOptions{Prefix: name})
	iterations := fault(ctx)
	stats := load.stop()
	faultTook := time.Since(start)

	took, violations := invariants.converge(ctx, convergeTimeout)
	stopSampling()
	objects := countObjects(ctx)
	AddReportEntry(name, map[string]any{
		"iterations": iterations, "workload": stats.String(), "live objects after": objects,
		"fault phase": faultTook.Round(time.Millisecond).String(), "time to converge": took.Round(time.Millisecond).String(),
	})
	GinkgoWriter.Printf("%s: %d iterations; workload %s; %d live objects; fault phase %s; converged in %s\n",
		name, iterations, stats, objects, faultTook.Round(time.Millisecond), took.Round(time.Millisecond))
	Expect(violations).To(BeEmpty(), "%s: invariants still violated %s after the fault (hub log: %s):\n%s",
		name, took.Round(time.Millisecond), hub.log, strings.Join(violations, "\n"))
}

// countObjects counts the IronCore Networks and VirtualIPs of the fault
// members' workload namespaces.
func countObjects(ctx context.Context) int {
	n := 0
	for _, m := range faultMembers {
		n += len(new(workload).existing(ctx, m.cluster))
	}
	return n
}

// apinetState is a member's apinet namespace as comparable state: every
// apinet Network and IP by name, with UID, VNI or address, and labels.
func apinetState(ctx context.Context, m member) (map[string]string, error) {
	nets, ips, err := apinetObjects(ctx, m)
	if err != nil {
		return nil, err
	}
	state := map[string]string{}
	for _, n := range nets.Items {
		state["Network/"+n.Name] = fmt.Sprint(n.UID, " vni=", n.Spec.ID, " ", n.Labels, " deleting=", !n.DeletionTimestamp.IsZero())
	}
	for _, ip := range ips.Items {
		state["IP/"+ip.Name] = fmt.Sprint(ip.UID, " ip=", ip.Spec.IP, " ", ip.Labels, " deleting=", !ip.DeletionTimestamp.IsZero())
	}
	return state, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
