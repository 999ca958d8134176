package providers_test

import (
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// fixedShard owns the profiles named in it: the assignment the replica
// registry's hashing would make, fixed so that the spec chooses it.
type fixedShard struct {
	names   []string
	ready   chan struct{}
	changes chan struct{}
}

func newFixedShard(names ...string) *fixedShard {
	ready := make(chan struct{})
	close(ready)
	return &fixedShard{names: names, ready: ready, changes: make(chan struct{})}
}

func (s *fixedShard) Ready() <-chan struct{}             { return s.ready }
func (s *fixedShard) Changes() <-chan struct{}           { return s.changes }
func (s *fixedShard) Owns(key types.NamespacedName) bool { return slices.Contains(s.names, key.Name) }

// Two sharded replicas in this process, each a provider over the hub
// namespace "shards" with its own share.
var _ = Describe("Sharded replicas", func() {
	const hubNS = "shards"

	It("engage only the members they own, and keep one writer per cluster across replicas by the identity recorded on the other's profile", func(ctx SpecContext) {
		Expect(hubClient().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNS}})).To(Succeed())
		replica := func(shard providers.Shard) *clusterprofiles.Topology {
			opts := providerOptions
			opts.Namespaces = []string{hubNS}
			opts.Shard = shard
			return startOtherHub(opts)
		}
		a := replica(newFixedShard("apinet", "older"))
		b := replica(newFixedShard("younger", "b-only"))

		token := func(cluster string) []byte {
			GinkgoHelper()
			t, err := testFleet.Cluster(cluster).ServiceAccountToken(ctx, "apinet-hub")
			Expect(err).NotTo(HaveOccurred())
			return t.Kubeconfig
		}
		onboardIn := func(name string, labels map[string]string, kubeconfig []byte) {
			GinkgoHelper()
			Expect(fleet.Onboard(ctx, hubClient(), hubNS, name, labels, nil, kubeconfig)).To(Succeed())
		}
		onboardIn("apinet", apinetLabels, token("apinet-1"))
		onboardIn("older", ironcoreLabels("apinet"), token("ironcore-1"))
		Eventually(func() string { return reasonIn(ctx, hubNS, "older") }, "60s").Should(Equal(clusterprofiles.ReasonEngaged))

		By("a duplicate of the older profile's cluster, owned by the other replica, which has never connected to the older one")
		onboardIn("younger", ironcoreLabels("apinet"), token("ironcore-1"))
		onboardIn("b-only", ironcoreLabels("apinet"), token("ironcore-2"))
		Eventually(func() string { return reasonIn(ctx, hubNS, "b-only") }, "60s").Should(Equal(clusterprofiles.ReasonEngaged))
		Eventually(func() string { return reasonIn(ctx, hubNS, "younger") }, "60s").Should(Equal(clusterprofiles.ReasonDuplicateCluster))
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		Expect(hubClient().Get(ctx, types.NamespacedName{Namespace: hubNS, Name: "younger"}, cp)).To(Succeed())
		Expect(meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged).Message).To(
			ContainSubstring("older ClusterProfile "+hubNS+"/older"), "refused by the identity replica A recorded on the older profile")

		By("each replica engaged its own members only")
		name := func(n string) multicluster.ClusterName {
			return clusterprofiles.ClusterName(types.NamespacedName{Namespace: hubNS, Name: n})
		}
		Expect(a.Members()).To(ConsistOf(name("older")))
		Expect(b.Members()).To(ConsistOf(name("b-only")))
		Consistently(func() string { return reasonIn(ctx, hubNS, "older") }, "3s").Should(Equal(clusterprofiles.ReasonEngaged))

		By("the older profile goes: the younger one, on the other replica, takes the cluster")
		Expect(hubClient().Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: hubNS, Name: "older"}})).To(Succeed())
		Eventually(func() string { return reasonIn(ctx, hubNS, "younger") }, "60s").Should(Equal(clusterprofiles.ReasonEngaged))
		Expect(b.Members()).To(ConsistOf(name("younger"), name("b-only")))
		Expect(a.Members()).To(BeEmpty())
	})
})
