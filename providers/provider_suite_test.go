package providers_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcbuilder "sigs.k8s.io/multicluster-runtime/pkg/builder"
	mccontroller "sigs.k8s.io/multicluster-runtime/pkg/controller"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func TestProviders(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "ClusterProfile provider")
}

const (
	fleetNamespace     = "fleet"
	accessProviderName = "fleet-token"
)

var (
	testFleet *fleet.Fleet
	suiteDir  string
	provider  *providers.Provider
	topology  *clusterprofiles.Topology
	seen      = newRequestLog() // IronCore Networks, from members
	peerSeen  = newRequestLog() // apinet Networks, from peers through PeerKind

	// Short intervals so that health changes show within seconds.
	providerOptions = providers.Options{
		Namespaces:            []string{fleetNamespace},
		Scheme:                fleet.Scheme,
		DialTimeout:           2 * time.Second,
		RequestTimeout:        3 * time.Second,
		EngageTimeout:         30 * time.Second,
		ProbeInterval:         500 * time.Millisecond,
		ProbeFailureThreshold: 3,
		ProbeSuccessThreshold: 2,
		RetryInterval:         2 * time.Second,
		MaxRetryInterval:      8 * time.Second,
		ProveAdoption:         reconcilers.ProveAdoption,
	}
)

// requestLog records which IronCore Networks the test reconciler was asked
// about, per member.
type requestLog struct {
	mu    sync.Mutex
	first map[multicluster.ClusterName]time.Time
	names map[multicluster.ClusterName]map[string]bool
}

func newRequestLog() *requestLog {
	return &requestLog{first: map[multicluster.ClusterName]time.Time{}, names: map[multicluster.ClusterName]map[string]bool{}}
}

func (l *requestLog) Reconcile(_ context.Context, req mcreconcile.Request) (reconcile.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.first[req.ClusterName]; !ok {
		l.first[req.ClusterName] = time.Now()
		l.names[req.ClusterName] = map[string]bool{}
	}
	l.names[req.ClusterName][req.Name] = true
	return reconcile.Result{}, nil
}

func (l *requestLog) saw(cluster multicluster.ClusterName, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.names[cluster][name]
}

func (l *requestLog) firstSeen(cluster multicluster.ClusterName) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.first[cluster]
	return t, ok
}

var _ = BeforeSuite(func(ctx SpecContext) {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	var err error
	testFleet, err = fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(2, 1)})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(testFleet.Stop()).To(Succeed()) })
	// A real exec plugin: it prints the token stored in the file named by
	// $TOKEN_FILE, which the profile passes as a profile-sourced env var.
	// (Profile-sourced args cannot be used: the extension holds a list, and
	// the ClusterProfile CRD only stores objects there.)
	suiteDir = GinkgoT().TempDir() // removed after the suite
	plugin := filepath.Join(suiteDir, "token-plugin")
	Expect(os.WriteFile(plugin, []byte(`#!/bin/sh
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat "$TOKEN_FILE")"
`), 0o700)).To(Succeed())
	providerOptions.Access = &access.Config{Providers: []access.Provider{{
		Name:                        accessProviderName,
		ExecConfig:                  &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: plugin},
		ProfileSourcedEnvVarsPolicy: access.ProfileSourcedEnvVarsPolicyAppendIfNotExists,
	}}}

	hub := testFleet.Hub()
	Expect(hub.Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}})).To(Succeed())

	hubMgr, err := manager.New(hub.Config(), manager.Options{
		Scheme:                 fleet.Scheme,
		Cache:                  providers.HubCacheOptions(providerOptions),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	topology = clusterprofiles.NewTopology()
	// What the test controllers below watch: synced before engagement.
	topology.UseMemberKind(&networkingv1alpha1.Network{})
	topology.UsePeerKind(&apinetv1alpha1.Network{})
	provider = providers.New(hubMgr, topology, providerOptions)
	Expect(provider.SetupWithManager(hubMgr)).To(Succeed())
	mgr, err := mcmanager.WithMultiCluster(hubMgr, provider)
	Expect(err).NotTo(HaveOccurred())
	Expect(mcbuilder.ControllerManagedBy(mgr).Named("test-networks").
		For(&networkingv1alpha1.Network{}).Complete(seen)).To(Succeed())
	// A controller over a peer kind: apinet Networks map back to the IronCore
	// object named in their "origin" label, in the member they belong to.
	peerCtrl, err := mccontroller.New("test-peer-networks", mgr, mccontroller.Options{Reconciler: peerSeen})
	Expect(err).NotTo(HaveOccurred())
	Expect(peerCtrl.MultiClusterWatch(clusterprofiles.PeerKind(&apinetv1alpha1.Network{},
		func(_ context.Context, _ *clusterprofiles.Member, n *apinetv1alpha1.Network) []reconcile.Request {
			if origin := n.Labels["origin"]; origin != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "default", Name: origin}}}
			}
			return nil
		}))).To(Succeed())

	runManager(mgr)
}, NodeTimeout(5*time.Minute))

// runManager starts a manager until the current node's cleanup, which
// waits for it to stop.
func runManager(mgr mcmanager.Manager) {
	mgrCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		Eventually(done, "60s").Should(BeClosed())
	})
}
