package chart

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

const (
	// fleetNamespace holds the fleet's ClusterProfiles on the hub.
	fleetNamespace = "fleet"
	// serviceAccount is the chart's ServiceAccount for release "hub".
	serviceAccount = "hub-apinet-hub"
	// leaseName is the hub's leader-election Lease (cmd/apinet-hub/run.go).
	leaseName = "apinet-hub.ironcore.dev"
)

// hubArgs turns the container args of the rendered Deployment into the args
// of fleet.StartHub, which adds "run" and its own free bind addresses.
func hubArgs(container []string) []string {
	GinkgoHelper()
	Expect(container).NotTo(BeEmpty())
	Expect(container[0]).To(Equal("run"))
	var args []string
	for _, a := range container[1:] {
		if strings.HasPrefix(a, "--metrics-bind-address") || strings.HasPrefix(a, "--health-probe-bind-address") {
			continue
		}
		args = append(args, a)
	}
	return args
}

// tokenKubeconfig returns a kubeconfig for the hub cluster that
// authenticates as the chart's ServiceAccount (a TokenRequest, as the
// kubelet makes for the pod), and a client with it.
func tokenKubeconfig(ctx context.Context, hub *fleet.Cluster) (string, client.Client) {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: serviceAccount}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	Expect(hub.Client().SubResource("token").Create(ctx, sa, req)).To(Succeed())
	kubeconfig, err := hub.KubeconfigWith(&clientcmdapi.AuthInfo{Token: req.Status.Token}, nil)
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "hub-sa.kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	cl, err := client.New(cfg, client.Options{Scheme: fleet.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return path, cl
}

func engagedReason(ctx context.Context, hub client.Client, name string) string {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: name}, cp); err != nil {
		return ""
	}
	if c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged); c != nil {
		return c.Reason
	}
	return ""
}

var _ = Describe("The rendered chart on a real kube-apiserver", Ordered, func() {
	var (
		testFleet *fleet.Fleet
		hubBinary string
	)

	BeforeAll(func(ctx SpecContext) {
		requireHelm()
		start := time.Now()
		var err error
		hubBinary, err = fleet.BuildHub(ctx)
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("build apinet-hub", time.Since(start).Round(time.Millisecond).String())

		start = time.Now()
		testFleet, err = fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(1, 1)})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(testFleet.Stop)
		AddReportEntry("fleet start (hub + 1 IronCore + 1 apinet)", time.Since(start).Round(time.Millisecond).String())
	}, NodeTimeout(5*time.Minute))

	// Runs first: a dry-run install refuses objects that helm did not create,
	// and the next specs apply them.
	It("prints in its NOTES how to onboard a cluster and reach the metrics and the dashboard", func(ctx SpecContext) {
		out, err := helm(ctx, "install", "hub", chartDir, "--namespace", hubNamespace, "--dry-run=client",
			"--kubeconfig", testFleet.Hub().KubeconfigPath())
		Expect(err).NotTo(HaveOccurred())
		_, notes, found := strings.Cut(out, "NOTES:")
		Expect(found).To(BeTrue(), "helm prints NOTES: %s", out)
		Expect(notes).To(ContainSubstring("It reads ClusterProfiles and credential Secrets in: fleet."))
		Expect(notes).To(ContainSubstring("apinet-hub onboard --kubeconfig <hub kubeconfig> --cluster-kubeconfig ironcore-1.kubeconfig"))
		Expect(notes).To(ContainSubstring("--namespace fleet --name ironcore-1 --role ironcore --peer apinet-1"))
		Expect(notes).To(ContainSubstring("apinet-hub.ironcore.dev/role: ironcore"))
		Expect(notes).To(ContainSubstring("x-k8s.io/cluster-inventory-consumer=apinet-hub x-k8s.io/cluster-profile=ironcore-1"))
		Expect(notes).To(ContainSubstring("kubectl -n apinet-hub port-forward service/hub-apinet-hub-metrics 8080:8080"))
		Expect(notes).To(ContainSubstring("ConfigMap apinet-hub/hub-apinet-hub-dashboard"))
	})

	It("accepts every rendered object, and a hub under the chart's ServiceAccount engages the fleet without a forbidden request", func(ctx SpecContext) {
		hub := testFleet.Hub()
		hubClient := hub.Client()
		member, peer := testFleet.Cluster("ironcore-1"), testFleet.Cluster("apinet-1")

		By("creating every rendered object by server-side apply (the ServiceMonitor is off: no CRD)")
		rendered := renderObjects(ctx, map[string]any{
			"fleetNamespaces": []string{fleetNamespace},
			"config":          map[string]any{"probeInterval": "1s"},
		})
		for _, ns := range []string{hubNamespace, fleetNamespace} {
			Expect(hubClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		}
		for _, o := range rendered {
			Expect(hubClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("helm"), client.ForceOwnership)).
				To(Succeed(), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		}

		By("running the hub with the Deployment's args and a token of the chart's ServiceAccount")
		kubeconfig, saClient := tokenKubeconfig(ctx, hub)
		logFile := filepath.Join(GinkgoT().TempDir(), "apinet-hub.log")
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				data, _ := os.ReadFile(logFile)
				GinkgoWriter.Printf("==== hub log\n%s\n", data)
			}
		})
		proc, err := fleet.StartHub(fleet.HubOptions{Binary: hubBinary, Kubeconfig: kubeconfig, Args: hubArgs(containerArgs(rendered)), Log: logFile})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(proc.Stop(30 * time.Second)).To(Succeed()) })

		By("onboarding the apinet peer and the member")
		Expect(fleet.Onboard(ctx, hubClient, fleetNamespace, peer.Name, fleet.APINetLabels, nil, peer.Kubeconfig())).To(Succeed())
		Expect(fleet.Onboard(ctx, hubClient, fleetNamespace, member.Name, fleet.IronCoreLabels(peer.Name), nil, member.Kubeconfig())).To(Succeed())
		for _, name := range []string{peer.Name, member.Name} {
			Eventually(func() string { return engagedReason(ctx, hubClient, name) }).WithTimeout(90*time.Second).
				Should(Equal(clusterprofiles.ReasonEngaged), "profile %s engaged", name)
		}

		By("mapping a Network of the member")
		nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "chart"}}
		Expect(member.Client().Create(ctx, nw)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(member.Client().Get(ctx, client.ObjectKeyFromObject(nw), nw)).To(Succeed())
			g.Expect(nw.Status.State).To(Equal(networkingv1alpha1.NetworkStateAvailable))
		}).Should(Succeed())

		By("holding the Lease in the release namespace and recording Events in both namespaces")
		lease := &coordinationv1.Lease{}
		Expect(hubClient.Get(ctx, types.NamespacedName{Namespace: hubNamespace, Name: leaseName}, lease)).To(Succeed())
		Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).NotTo(BeEmpty())
		Eventually(func(g Gomega) {
			profileEvents := &eventsv1.EventList{}
			g.Expect(hubClient.List(ctx, profileEvents, client.InNamespace(fleetNamespace))).To(Succeed())
			g.Expect(profileEvents.Items).To(ContainElement(HaveField("Regarding.Kind", "ClusterProfile")), "events.k8s.io Events on the profiles")
			leaderEvents := &corev1.EventList{}
			g.Expect(hubClient.List(ctx, leaderEvents, client.InNamespace(hubNamespace))).To(Succeed())
			g.Expect(leaderEvents.Items).To(ContainElement(HaveField("InvolvedObject.Kind", "Lease")), "the leader election's core/v1 Event")
		}).Should(Succeed())

		By("never being refused a request")
		Expect(proc.Exited()).To(BeFalse(), "the hub still runs")
		log, err := os.ReadFile(logFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.ToLower(string(log))).NotTo(ContainSubstring("forbidden"))

		By("reading no Secret and no ClusterProfile outside the fleet namespace")
		Expect(saClient.List(ctx, &corev1.SecretList{}, client.InNamespace(fleetNamespace))).To(Succeed(), "the fleet namespace's Secrets are readable")
		for _, ns := range []string{"default", "kube-system", hubNamespace} {
			err := saClient.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets in %s: %v", ns, err)
		}
		err = saClient.List(ctx, &corev1.SecretList{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets cluster-wide: %v", err)
		err = saClient.List(ctx, &clusterinventoryv1alpha1.ClusterProfileList{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing ClusterProfiles cluster-wide: %v", err)
	})

	It("watching every namespace, works with the ClusterRole alone", func(ctx SpecContext) {
		hub := testFleet.Hub()
		hubClient := hub.Client()
		member := testFleet.Cluster("ironcore-1")

		By("replacing the fleet namespace's Role by the watch-all rendering")
		Expect(hubClient.Delete(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "hub-apinet-hub-fleet"}})).To(Succeed())
		Expect(hubClient.Delete(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: "hub-apinet-hub-fleet"}})).To(Succeed())
		rendered := renderObjects(ctx, map[string]any{"fleetNamespaces": []string{}, "config": map[string]any{"probeInterval": "1s"}})
		Expect(kinds(rendered)).To(ContainElement("ClusterRole /apinet-hub-hub-apinet-hub-fleet"))
		for _, o := range rendered {
			Expect(hubClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("helm"), client.ForceOwnership)).
				To(Succeed(), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		}

		By("running the hub without --namespace")
		kubeconfig, saClient := tokenKubeconfig(ctx, hub)
		logFile := filepath.Join(GinkgoT().TempDir(), "apinet-hub.log")
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				data, _ := os.ReadFile(logFile)
				GinkgoWriter.Printf("==== hub log\n%s\n", data)
			}
		})
		args := hubArgs(containerArgs(rendered))
		Expect(args).NotTo(ContainElement(HavePrefix("--namespace")))
		proc, err := fleet.StartHub(fleet.HubOptions{Binary: hubBinary, Kubeconfig: kubeconfig, Args: args, Log: logFile})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(proc.Stop(30 * time.Second)).To(Succeed()) })

		nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "chart-all"}}
		Expect(member.Client().Create(ctx, nw)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(member.Client().Get(ctx, client.ObjectKeyFromObject(nw), nw)).To(Succeed())
			g.Expect(nw.Status.State).To(Equal(networkingv1alpha1.NetworkStateAvailable))
		}).Should(Succeed())
		// The hub took the Lease over from the stopped one and reconciled.
		Expect(proc.Exited()).To(BeFalse(), "the hub still runs")
		log, err := os.ReadFile(logFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.ToLower(string(log))).NotTo(ContainSubstring("forbidden"))
		Expect(saClient.List(ctx, &corev1.SecretList{})).To(Succeed(), "the trade-off: every Secret of the hub cluster is readable")
	})

})
