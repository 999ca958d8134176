package providers_test

import (
	"context"
	"strings"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// reasonIn is the Engaged reason of a profile in a hub namespace ("" if none).
func reasonIn(ctx context.Context, namespace, name string) string {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hubClient().Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cp); err != nil {
		return ""
	}
	if c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged); c != nil {
		return c.Reason
	}
	return ""
}

// A second hub in the same process, over its own hub namespace, with two
// engage workers (so one peer's share is one), and no controllers: it only
// engages.
var _ = Describe("Engagement across peers", Ordered, func() {
	const hubNS = "fair"

	It("engages a healthy peer's member within seconds while a 20 s-slow peer engages its members", func(ctx SpecContext) {
		// Three IronCore clusters (one cluster has one writer): the suite's
		// two and one of this spec's own.
		_, err := testFleet.Add(ctx, fleet.Spec{Name: "fair-extra", Role: fleet.RoleIronCore})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(testFleet.Remove("fair-extra")).To(Succeed()) })
		Expect(hubClient().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNS}})).To(Succeed())
		opts := providerOptions
		opts.Namespaces = []string{hubNS}
		opts.EngageWorkers = 2 // a peer's share: 1
		opts.RequestTimeout = 90 * time.Second
		opts.EngageTimeout = 3 * time.Minute
		startOtherHub(opts)

		apinet := testFleet.Cluster("apinet-1")
		peerToken, err := apinet.ServiceAccountToken(ctx, "apinet-hub")
		Expect(err).NotTo(HaveOccurred())
		proxy, err := fleet.StartDelayProxy(strings.TrimPrefix(apinet.Host(), "https://"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		slowKC, err := apinet.KubeconfigVia(proxy.Addr(), peerToken.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		onboardIn := func(name string, labels map[string]string, kubeconfig []byte) {
			GinkgoHelper()
			Expect(fleet.Onboard(ctx, hubClient(), hubNS, name, labels, nil, kubeconfig)).To(Succeed())
		}
		memberToken := func(cluster string) []byte {
			GinkgoHelper()
			t, err := testFleet.Cluster(cluster).ServiceAccountToken(ctx, "apinet-hub")
			Expect(err).NotTo(HaveOccurred())
			return t.Kubeconfig
		}
		onboardIn("slow-peer", apinetLabels, slowKC)
		onboardIn("fast-peer", apinetLabels, peerToken.Kubeconfig)
		for _, peer := range []string{"slow-peer", "fast-peer"} {
			Eventually(func() string { return reasonIn(ctx, hubNS, peer) }).Should(Equal(clusterprofiles.ReasonEngaged), peer)
		}

		By("the slow peer answers 20 s late; two of its members start engaging")
		proxy.SetDelay(20 * time.Second)
		onboardIn("slow-1", ironcoreLabels("slow-peer"), memberToken("ironcore-1"))
		onboardIn("slow-2", ironcoreLabels("slow-peer"), memberToken("fair-extra"))
		for _, m := range []string{"slow-1", "slow-2"} {
			Eventually(func() string { return reasonIn(ctx, hubNS, m) }).Should(Equal(clusterprofiles.ReasonEngaging), m)
		}
		time.Sleep(2 * time.Second) // both jobs queued, one running

		By("a member of the healthy peer engages at once beside them")
		start := time.Now()
		onboardIn("fast-1", ironcoreLabels("fast-peer"), memberToken("ironcore-2"))
		Eventually(func() string { return reasonIn(ctx, hubNS, "fast-1") }, "60s").Should(Equal(clusterprofiles.ReasonEngaged))
		took := time.Since(start)
		AddReportEntry("healthy peer's member engaged beside a 20 s-slow peer's engagements", took.Round(time.Millisecond).String())
		Expect(took).To(BeNumerically("<", 10*time.Second), "not held behind the slow peer's jobs")
		for _, m := range []string{"slow-1", "slow-2"} {
			Expect(reasonIn(ctx, hubNS, m)).NotTo(Equal(clusterprofiles.ReasonEngaged), "%s is still engaging through the slow peer", m)
		}
	})
})

// startOtherHub runs another hub in this process until the spec's cleanup:
// a provider with opts (its own hub namespaces) and its own manager, and no
// controllers; its engagements sync Networks and apinet Networks. It
// returns the provider's Topology.
func startOtherHub(opts providers.Options) *clusterprofiles.Topology {
	GinkgoHelper()
	hubMgr, err := manager.New(testFleet.Hub().Config(), manager.Options{
		Scheme: fleet.Scheme, Cache: providers.HubCacheOptions(opts),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // the suite's provider has the same controller name
	})
	Expect(err).NotTo(HaveOccurred())
	topo := clusterprofiles.NewTopology()
	topo.UseMemberKind(&networkingv1alpha1.Network{})
	topo.UsePeerKind(&apinetv1alpha1.Network{})
	p := providers.New(hubMgr, topo, opts)
	Expect(p.SetupWithManager(hubMgr)).To(Succeed())
	mgr, err := mcmanager.WithMultiCluster(hubMgr, p)
	Expect(err).NotTo(HaveOccurred())
	runManager(mgr)
	return topo
}
