package chart

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/sharder"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

const (
	// fleetNamespace holds the fleet's ClusterProfiles on the hub.
	fleetNamespace = "fleet"
	// serviceAccount is the chart's ServiceAccount for release "hub".
	serviceAccount = "hub-apinet-hub"
	// leaseName is the hub's leader-election Lease (cmd/apinet-hub/run.go).
	leaseName = "apinet-hub.ironcore.dev"
	// shardLeasePrefix and peerLeasePrefix name the Leases of
	// --experimental-sharding (cmd/apinet-hub/run.go): multicluster-runtime's
	// coordinator appends the member's cluster name ("<namespace>/<profile>"
	// as a DNS-1123 name), its peer registry the shard ID.
	shardLeasePrefix = "apinet-hub-shard-"
	peerLeasePrefix  = "apinet-hub-peer-"
	// podNameArg is the rendered --shard-id, which the kubelet expands.
	podNameArg = "--shard-id=$(POD_NAME)"
	// scraperServiceAccount stands for Prometheus' ServiceAccount: the
	// install binds it to the metrics-reader ClusterRole
	// (metrics.readerSubjects).
	scraperServiceAccount = "prometheus"
)

// serviceAccountToken returns a token of ServiceAccount name in the release
// namespace (a TokenRequest, as the kubelet makes for a pod).
func serviceAccountToken(ctx context.Context, hub *fleet.Cluster, name string) string {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: name}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	Expect(hub.Client().SubResource("token").Create(ctx, sa, req)).To(Succeed())
	return req.Status.Token
}

// scrapeHTTPS GETs https://<addr>/metrics with token as the bearer token
// (none when empty), as Prometheus does with the chart's ServiceMonitor: the
// hub's certificate is self-signed, so it is not verified.
func scrapeHTTPS(ctx context.Context, addr, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the hub's self-signed certificate
	}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

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
		// The kubelet expands $(MEMORY_LIMIT) from the container's env:
		// limits.memory in bytes (the default values' 1Gi).
		args = append(args, strings.ReplaceAll(a, "$(MEMORY_LIMIT)", "1073741824"))
	}
	return args
}

// testPodRun is what standInKubelet did with a test Pod: its name,
// ServiceAccount and args, and the exit and output of the run; err is why
// the stand-in could not run it or report it.
type testPodRun struct {
	pod, serviceAccount string
	args                []string
	exit                int
	stdout, stderr      string
	err                 error
}

// standInKubelet stands in for the kubelet the fleet has not, for one test
// Pod of the chart: the first Pending one that appears in namespace. It runs
// the container's args with binary under a token of the Pod's
// ServiceAccount (as --kubeconfig: the kubelet would mount it), writes the
// exit as the Pod's phase and container state, and sends what it did.
func standInKubelet(ctx context.Context, hub *fleet.Cluster, binary, namespace string) <-chan testPodRun {
	dir := GinkgoT().TempDir()
	out := make(chan testPodRun, 1)
	go func() {
		run := testPodRun{exit: -1}
		defer func() { out <- run }()
		cl := hub.Client()
		pod := &corev1.Pod{}
		run.err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			pods := &corev1.PodList{}
			if err := cl.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/component": "test"}); err != nil {
				return false, err
			}
			for i := range pods.Items {
				if p := &pods.Items[i]; p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil {
					pod = p
					return true, nil
				}
			}
			return false, nil
		})
		if run.err != nil {
			return
		}
		c := pod.Spec.Containers[0]
		run.pod, run.serviceAccount, run.args = pod.Name, pod.Spec.ServiceAccountName, c.Args
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: run.serviceAccount}}
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
		if run.err = cl.SubResource("token").Create(ctx, sa, req); run.err != nil {
			return
		}
		kubeconfig, err := hub.KubeconfigWith(&clientcmdapi.AuthInfo{Token: req.Status.Token}, nil)
		if run.err = err; err != nil {
			return
		}
		path := filepath.Join(dir, pod.Name+".kubeconfig")
		if run.err = os.WriteFile(path, kubeconfig, 0o600); run.err != nil {
			return
		}
		started := metav1.Now()
		var stdout, stderr strings.Builder
		cmd := exec.CommandContext(ctx, binary, append(slices.Clone(c.Args), "--kubeconfig", path)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		run.stdout, run.stderr, run.exit = stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
		if exit := (*exec.ExitError)(nil); err != nil && !errors.As(err, &exit) {
			run.err = err
			return
		}
		phase, reason := corev1.PodSucceeded, "Completed"
		if run.exit != 0 {
			phase, reason = corev1.PodFailed, "Error"
		}
		pod.Status.Phase, pod.Status.StartTime = phase, &started
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(run.exit), Reason: reason, StartedAt: started, FinishedAt: metav1.Now(),
			}},
		}}
		run.err = cl.Status().Update(ctx, pod)
	}()
	return out
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

// withShardID replaces the rendered --shard-id=$(POD_NAME), which a pod's
// kubelet would expand, by id.
func withShardID(args []string, id string) []string {
	GinkgoHelper()
	Expect(args).To(ContainElement(podNameArg))
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == podNameArg {
			out[i] = "--shard-id=" + id
		}
	}
	return out
}

// pruneRBAC deletes the release's Roles, ClusterRoles and their bindings
// that rendered does not hold, as `helm upgrade` would: the specs share one
// hub cluster, and a hub must run with one rendering's rights only.
func pruneRBAC(ctx context.Context, hub client.Client, rendered []*unstructured.Unstructured) {
	GinkgoHelper()
	keep := kinds(rendered)
	for _, kind := range []string{"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind(kind + "List"))
		Expect(hub.List(ctx, list, client.MatchingLabels{"app.kubernetes.io/instance": "hub"})).To(Succeed())
		for i := range list.Items {
			o := &list.Items[i]
			if !slices.Contains(keep, fmt.Sprintf("%s %s/%s", kind, o.GetNamespace(), o.GetName())) {
				Expect(client.IgnoreNotFound(hub.Delete(ctx, o))).To(Succeed(), "%s %s/%s", kind, o.GetNamespace(), o.GetName())
			}
		}
	}
}

// shardHolders maps every member fence Lease (apinet-hub-shard-<member>) in
// the release namespace that is held and unexpired to its holder.
func shardHolders(ctx context.Context, hub client.Client) map[string]string {
	GinkgoHelper()
	leases := &coordinationv1.LeaseList{}
	Expect(hub.List(ctx, leases, client.InNamespace(hubNamespace))).To(Succeed())
	out := map[string]string{}
	for _, l := range leases.Items {
		s := l.Spec
		if !strings.HasPrefix(l.Name, shardLeasePrefix) || ptr.Deref(s.HolderIdentity, "") == "" ||
			s.RenewTime == nil || s.LeaseDurationSeconds == nil ||
			time.Since(s.RenewTime.Time) > time.Duration(*s.LeaseDurationSeconds)*time.Second {
			continue
		}
		out[l.Name] = *s.HolderIdentity
	}
	return out
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
		Expect(notes).To(ContainSubstring("kubectl -n apinet-hub port-forward service/hub-apinet-hub-metrics 8443:8443"))
		Expect(notes).To(ContainSubstring(`curl -sk -H "Authorization: Bearer $TOKEN" https://localhost:8443/metrics`))
		Expect(notes).To(ContainSubstring("ClusterRole\n   " + metricsReaderRole))
		Expect(notes).To(ContainSubstring("Set prometheusRule.enabled=true"))
		Expect(notes).To(ContainSubstring("ConfigMap apinet-hub/hub-apinet-hub-dashboard"))
		Expect(notes).To(ContainSubstring("apinet-hub status --kubeconfig <hub kubeconfig> -n fleet -o wide"))
		Expect(notes).To(ContainSubstring("helm test hub -n apinet-hub --logs"))
		Expect(notes).NotTo(ContainSubstring("It installed the ClusterProfile CRD"), "crds.install is off")
	})

	It("refuses a cluster without the ClusterProfile API with the pinned command, unless crds.install, whose CRD the cluster then serves", func(ctx SpecContext) {
		// The IronCore member's kube-apiserver serves no ClusterProfiles:
		// helm reads the capabilities from its discovery.
		member := testFleet.Cluster("ironcore-1")
		version, _ := crdModuleVersionDir(ctx)
		install := func(args ...string) (string, error) {
			return helm(ctx, append([]string{"install", "hub", chartDir, "--namespace", hubNamespace, "--dry-run=client",
				"--kubeconfig", member.KubeconfigPath()}, args...)...)
		}
		_, err := install()
		Expect(err).To(MatchError(SatisfyAll(ContainSubstring(missingAPIMessage), ContainSubstring(pinnedCommand(version)))))

		out, err := install("--set", "crds.install=true")
		Expect(err).NotTo(HaveOccurred())
		_, notes, _ := strings.Cut(out, "NOTES:")
		Expect(notes).To(ContainSubstring("It installed the ClusterProfile CRD of cluster-inventory-api " + version + " (crds.install)"))

		By("applying the CRD crds.install renders, as helm would: the API server establishes it")
		crds := find(renderObjects(ctx, map[string]any{"crds": map[string]any{"install": true}}), "CustomResourceDefinition")
		Expect(crds).To(HaveLen(1))
		Expect(member.Client().Apply(ctx, client.ApplyConfigurationFromUnstructured(crds[0]), client.FieldOwner("helm"))).To(Succeed())
		Eventually(func(g Gomega) {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(crds[0].GroupVersionKind())
			g.Expect(member.Client().Get(ctx, client.ObjectKey{Name: crds[0].GetName()}, crd)).To(Succeed())
			g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			g.Expect(conditions).To(ContainElement(SatisfyAll(
				HaveKeyWithValue("type", string(apiextensionsv1.Established)), HaveKeyWithValue("status", string(apiextensionsv1.ConditionTrue)))))
		}).Should(Succeed())

		By("installing without crds.install once the cluster serves ClusterProfiles")
		Eventually(func() error { _, err := install(); return err }).Should(Succeed())
	})

	It("accepts every rendered object, and a hub under the chart's ServiceAccount engages the fleet without a forbidden request", func(ctx SpecContext) {
		hub := testFleet.Hub()
		hubClient := hub.Client()
		member, peer := testFleet.Cluster("ironcore-1"), testFleet.Cluster("apinet-1")

		By("creating every rendered object by server-side apply (the ServiceMonitor is off: no CRD)")
		rendered := renderObjects(ctx, map[string]any{
			"fleetNamespaces": []string{fleetNamespace},
			"config":          map[string]any{"probeInterval": "1s"},
			"metrics": map[string]any{"readerSubjects": []any{
				map[string]any{"kind": "ServiceAccount", "name": scraperServiceAccount, "namespace": hubNamespace}}},
		})
		for _, ns := range []string{hubNamespace, fleetNamespace} {
			Expect(hubClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		}
		Expect(hubClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: scraperServiceAccount}})).To(Succeed())
		for _, o := range installed(rendered) {
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

		By("serving /metrics over HTTPS to the bound scraper only, reviewing its token with the chart's ClusterRole")
		Expect(containerArgs(rendered)).To(ContainElement("--metrics-secure=true"), "hubArgs keeps it")
		scraper := serviceAccountToken(ctx, hub, scraperServiceAccount)
		Eventually(func(g Gomega) {
			code, body, err := scrapeHTTPS(ctx, proc.MetricsAddr, scraper)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(http.StatusOK), "%s", body)
			g.Expect(body).To(ContainSubstring("apinet_hub_"))
		}).Should(Succeed())
		code, _, err := scrapeHTTPS(ctx, proc.MetricsAddr, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusUnauthorized), "no token")
		code, body, err := scrapeHTTPS(ctx, proc.MetricsAddr, serviceAccountToken(ctx, hub, serviceAccount))
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusForbidden), "the hub's own ServiceAccount is no metrics reader: %s", body)

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

	// `helm install` and `helm test` run for real against the hub's
	// kube-apiserver. The fleet has no kubelet, so standInKubelet runs the
	// test Pod as a kubelet would: the container's args with the binary
	// under a token of the Pod's ServiceAccount (a kubelet mounts it; here
	// it is --kubeconfig instead of in-cluster), its exit written as the
	// Pod's phase, which is what helm test waits for.
	It("helm test: a real helm install and helm test pass, the test Pod's apinet-hub status listing the engaged fleet under the release's ServiceAccount, and fail when that account may not read the fleet", func(ctx SpecContext) {
		hub := testFleet.Hub()
		hubClient := hub.Client()
		const release, namespace = "smoke", "smoke"
		values, err := valuesFile(map[string]any{"fleetNamespaces": []string{fleetNamespace}})
		Expect(err).NotTo(HaveOccurred())
		helmArgs := []string{"--namespace", namespace, "--kubeconfig", hub.KubeconfigPath()}
		_, err = helm(ctx, append([]string{"install", release, chartDir, "--create-namespace", "--values", values}, helmArgs...)...)
		Expect(err).NotTo(HaveOccurred())
		podName := release + "-apinet-hub-test-status-" + fleetNamespace

		kubelet := standInKubelet(ctx, hub, hubBinary, namespace)
		start := time.Now()
		out, err := helm(ctx, append([]string{"test", release, "--timeout", "2m"}, helmArgs...)...)
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("helm test", time.Since(start).Round(time.Millisecond).String())
		Expect(out).To(MatchRegexp(`TEST SUITE:\s+` + podName + `\s+Last Started:.*\s+Last Completed:.*\s+Phase:\s+Succeeded`))
		var run testPodRun
		Eventually(kubelet).Should(Receive(&run))
		Expect(run.err).NotTo(HaveOccurred())
		Expect(run.pod).To(Equal(podName))
		Expect(run.serviceAccount).To(Equal(release + "-apinet-hub"))
		Expect(run.args).To(Equal([]string{"status", "--namespace=" + fleetNamespace, "--output=wide"}))
		Expect(run.exit).To(BeZero(), "stdout:\n%s\nstderr:\n%s", run.stdout, run.stderr)
		lines := strings.Split(strings.TrimSpace(run.stdout), "\n")
		Expect(lines).To(HaveLen(3), "a header and the two profiles:\n%s", run.stdout)
		Expect(strings.Fields(lines[0])[:2]).To(Equal([]string{"NAME", "ROLE"}))
		for _, name := range []string{"apinet-1", "ironcore-1"} {
			Expect(lines[1:]).To(ContainElement(SatisfyAll(HavePrefix(name+" "), ContainSubstring(clusterprofiles.ReasonEngaged))),
				"%s engaged (the previous spec's hub): \n%s", name, run.stdout)
		}
		Eventually(func() bool {
			return apierrors.IsNotFound(hubClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: podName}, &corev1.Pod{}))
		}).Should(BeTrue(), "a test Pod that succeeded is deleted (hook-succeeded)")

		By("failing, with the Pod kept for its log, once the release's ServiceAccount may not read the fleet")
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: release + "-apinet-hub-fleet"}}
		Expect(hubClient.Delete(ctx, binding)).To(Succeed())
		kubelet = standInKubelet(ctx, hub, hubBinary, namespace)
		out, err = helm(ctx, append([]string{"test", release, "--timeout", "2m"}, helmArgs...)...)
		Expect(err).To(MatchError(ContainSubstring(podName+" failed")), "%s", out)
		Eventually(kubelet).Should(Receive(&run))
		Expect(run.err).NotTo(HaveOccurred())
		Expect(run.exit).NotTo(BeZero())
		Expect(run.stderr).To(ContainSubstring("forbidden"))
		Expect(hubClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: podName}, &corev1.Pod{})).
			To(Succeed(), "a failed test Pod is kept for its log")

		By("uninstalling the release, which the specs after do not share")
		_, err = helm(ctx, append([]string{"uninstall", release}, helmArgs...)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(hubClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-apinet-hub"}, &corev1.ServiceAccount{})).
			To(Satisfy(apierrors.IsNotFound))
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
		for _, o := range installed(rendered) {
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

	It("with sharding.enabled, two hubs under the chart's ServiceAccount engage the fleet and fence each member by exactly one of them", func(ctx SpecContext) {
		hub := testFleet.Hub()
		hubClient := hub.Client()
		member, peer := testFleet.Cluster("ironcore-1"), testFleet.Cluster("apinet-1")

		By("applying the sharded rendering and removing the leader-election and watch-all RBAC, as helm upgrade would")
		// Verbosity 1 logs the coordinator's failed Lease requests (its peer
		// registry retries them at V(1)), so a forbidden one shows in the log.
		rendered := renderObjects(ctx, map[string]any{
			"fleetNamespaces": []string{fleetNamespace},
			"sharding":        map[string]any{"enabled": true},
			"config":          map[string]any{"probeInterval": "1s", "logLevel": 1},
		})
		Expect(kinds(rendered)).To(ContainElement("Role apinet-hub/hub-apinet-hub-sharding"))
		Expect(kinds(rendered)).NotTo(ContainElement(ContainSubstring("leader-election")))
		for _, o := range installed(rendered) {
			Expect(hubClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("helm"), client.ForceOwnership)).
				To(Succeed(), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		}
		pruneRBAC(ctx, hubClient, rendered)

		By("clearing the Engaged conditions the hubs before wrote")
		for _, name := range []string{peer.Name, member.Name} {
			Eventually(func() error {
				cp := &clusterinventoryv1alpha1.ClusterProfile{}
				if err := hubClient.Get(ctx, types.NamespacedName{Namespace: fleetNamespace, Name: name}, cp); err != nil {
					return err
				}
				meta.RemoveStatusCondition(&cp.Status.Conditions, clusterprofiles.ConditionEngaged)
				return hubClient.Status().Update(ctx, cp)
			}).Should(Succeed())
		}

		By("running two hubs with the Deployment's args, each with its pod's name as --shard-id")
		kubeconfig, saClient := tokenKubeconfig(ctx, hub)
		args := hubArgs(containerArgs(rendered))
		Expect(args).NotTo(ContainElement("--leader-elect"))
		ids := []string{"hub-apinet-hub-a", "hub-apinet-hub-b"}
		logs, procs := make([]string, len(ids)), make([]*fleet.Controller, len(ids))
		for i, id := range ids {
			logs[i] = filepath.Join(GinkgoT().TempDir(), id+".log")
			DeferCleanup(func() {
				if CurrentSpecReport().Failed() {
					data, _ := os.ReadFile(logs[i])
					GinkgoWriter.Printf("==== hub log of %s\n%s\n", id, data)
				}
			})
			proc, err := fleet.StartHub(fleet.HubOptions{Binary: hubBinary, Kubeconfig: kubeconfig, Args: withShardID(args, id), Log: logs[i]})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { Expect(proc.Stop(30 * time.Second)).To(Succeed()) })
			procs[i] = proc
		}

		By("engaging every profile (every replica engages every member; only the fences are sharded)")
		for _, name := range []string{peer.Name, member.Name} {
			Eventually(func() string { return engagedReason(ctx, hubClient, name) }).WithTimeout(90*time.Second).
				Should(Equal(clusterprofiles.ReasonEngaged), "profile %s engaged", name)
		}

		By("announcing both replicas with their peer Leases")
		for _, id := range ids {
			Eventually(func(g Gomega) {
				lease := &coordinationv1.Lease{}
				g.Expect(hubClient.Get(ctx, types.NamespacedName{Namespace: hubNamespace, Name: peerLeasePrefix + id}, lease)).To(Succeed())
				g.Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).To(Equal(id))
			}).Should(Succeed(), "peer Lease of %s", id)
		}

		By("fencing the member by exactly one replica: the one rendezvous hashing picks among the two")
		// The fleet has one IronCore member (apinet peers are not engaged
		// with the controllers: no fence), so one replica holds a fence and
		// the other none; the e2e suite splits two members over two.
		// Whoever starts first takes the fence while alone; once each
		// replica lists the other's peer Lease, the fence moves to the
		// winner of the hub's rendezvous hashing (providers.Sharder) and
		// stays.
		// The coordinator hashes and fences the member under its shard
		// alias, LabelValue of its name (providers.ShardedCoordinator).
		memberName := clusterprofiles.LabelValue(clusterprofiles.ClusterName(types.NamespacedName{Namespace: fleetNamespace, Name: member.Name}))
		peers := []sharder.PeerInfo{{ID: ids[0], Weight: 1}, {ID: ids[1], Weight: 1}}
		owner := ids[1]
		if providers.Sharder().ShouldOwn(memberName, peers, peers[0]) {
			owner = ids[0]
		}
		fence := shardLeasePrefix + memberName
		Eventually(func() map[string]string { return shardHolders(ctx, hubClient) }).WithTimeout(90*time.Second).
			Should(Equal(map[string]string{fence: owner}), "one fence, held by %s", owner)

		By("mapping a Network of the member through the fence's holder")
		nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "chart-shards"}}
		Expect(member.Client().Create(ctx, nw)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(member.Client().Get(ctx, client.ObjectKeyFromObject(nw), nw)).To(Succeed())
			g.Expect(nw.Status.State).To(Equal(networkingv1alpha1.NetworkStateAvailable))
		}).Should(Succeed())
		Expect(shardHolders(ctx, hubClient)).To(Equal(map[string]string{fence: owner}), "the fence did not move")

		By("never being refused a request, on either replica")
		for i, id := range ids {
			Expect(procs[i].Exited()).To(BeFalse(), "hub %s still runs", id)
			log, err := os.ReadFile(logs[i])
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.ToLower(string(log))).NotTo(ContainSubstring("forbidden"), "log of %s", id)
		}
		Expect(saClient.List(ctx, &coordinationv1.LeaseList{}, client.InNamespace(hubNamespace))).To(Succeed(), "the peer registry lists the Leases")
		err := saClient.List(ctx, &coordinationv1.LeaseList{}, client.InNamespace(fleetNamespace))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "Leases outside the release namespace: %v", err)
	})
})
