package reconcilers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func TestReconcilers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Reconcilers")
}

const fleetNamespace = "fleet"

var (
	testFleet *fleet.Fleet
	topology  *clusterprofiles.Topology
)

var _ = BeforeSuite(func(ctx SpecContext) {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyDuration(2 * time.Second)

	var err error
	specs := fleet.Specs(2, 1)
	for i := range specs {
		specs[i].ControllerManager = specs[i].Role == fleet.RoleAPINet // NAT autoscaling end to end
	}
	testFleet, err = fleet.Start(ctx, fleet.Options{Clusters: specs})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(testFleet.Stop()).To(Succeed()) })
	hub := testFleet.Hub().Client()
	Expect(hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}})).To(Succeed())
	onboard(ctx, "apinet-1", fleet.APINetLabels, nil)
	for _, name := range []string{"ironcore-1", "ironcore-2"} {
		onboard(ctx, name, fleet.IronCoreLabels("apinet-1"),
			map[string]string{
				clusterprofiles.AnnotationDisableNetworkPeering: map[string]string{"ironcore-1": "false", "ironcore-2": "true"}[name],
				clusterprofiles.AnnotationNodeAffinityAware:     map[string]string{"ironcore-1": "true", "ironcore-2": "false"}[name],
				// ironcore-1 adopts objects apinetlet wrote (the take-over cases).
				clusterprofiles.AnnotationTakeOver: map[string]string{"ironcore-1": "true", "ironcore-2": "false"}[name],
			})
	}

	opts := providers.Options{
		Namespaces: []string{fleetNamespace}, Scheme: fleet.Scheme,
		ProbeInterval: 500 * time.Millisecond, RequestTimeout: 3 * time.Second, RetryInterval: 2 * time.Second,
		StatusInterval: 2 * time.Second, // the DeletionsHeld condition within seconds
	}
	hubMgr, err := manager.New(testFleet.Hub().Config(), manager.Options{
		Scheme: fleet.Scheme, Cache: providers.HubCacheOptions(opts),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	topology = clusterprofiles.NewTopology()
	provider := providers.New(hubMgr, topology, opts)
	Expect(provider.SetupWithManager(hubMgr)).To(Succeed())
	mgr, err := mcmanager.WithMultiCluster(hubMgr, provider)
	Expect(err).NotTo(HaveOccurred())
	// Fair queueing as the hub runs by default (--member-queue-share 1).
	Expect(reconcilers.SetupWithManager(ctx, mgr, topology, reconcilers.Options{Fairness: reconcilers.Fairness{Share: 1}})).To(Succeed())

	mgrCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		Eventually(done).Should(BeClosed())
	})
	for _, name := range []string{"ironcore-1", "ironcore-2"} {
		Eventually(func() error { _, err := topology.Member(member(name)); return err }).Should(Succeed(), "%s engaged", name)
	}
}, NodeTimeout(5*time.Minute))

// onboard creates a ClusterProfile and its credential Secret, with a token
// of the hub's own ServiceAccount bound to exactly the ClusterRole the hub
// needs (lifecycle/access): every reconciler runs on least privilege.
func onboard(ctx context.Context, name string, labels, annotations map[string]string) {
	GinkgoHelper()
	kubeconfig, err := testFleet.Cluster(name).HubKubeconfig(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(fleet.Onboard(ctx, testFleet.Hub().Client(), fleetNamespace, name, labels, annotations, kubeconfig)).To(Succeed())
}

func member(name string) multicluster.ClusterName {
	return clusterprofiles.ClusterName(types.NamespacedName{Namespace: fleetNamespace, Name: name})
}

// apinetNamespace is the member's namespace in apinet-1.
func apinetNamespace(name string) string {
	return clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: fleetNamespace, Name: name})
}

func ic(name string) client.Client { return testFleet.Cluster(name).Client() }

func peer() client.Client { return testFleet.Cluster("apinet-1").Client() }

func engaged(ctx context.Context, name string) bool {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := testFleet.Hub().Client().Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: name}, cp); err != nil {
		return false
	}
	c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
	return c != nil && c.Reason == clusterprofiles.ReasonEngaged
}

// eventsOf returns the Events of one reason on an IronCore object of a
// member.
func eventsOf(ctx context.Context, memberName string, obj client.Object, reason string) []eventsv1.Event {
	GinkgoHelper()
	list := &eventsv1.EventList{}
	Expect(ic(memberName).List(ctx, list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}
