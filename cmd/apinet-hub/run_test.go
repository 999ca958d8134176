package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// engagedReason polls the reason of the hub's Engaged condition on a
// profile ("no condition" while there is none).
// startFleet starts a fleet of members IronCore clusters and peers apinet
// clusters, stopped when the test ends, with namespace "fleet" on its hub.
func startFleet(ctx context.Context, t *testing.T, members, peers int) (*fleet.Fleet, client.Client) {
	t.Helper()
	g := NewWithT(t)
	f, err := fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(members, peers)})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(f.Stop()).To(Succeed()) })
	hub := f.Hub().Client()
	g.Expect(hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}})).To(Succeed())
	return f, hub
}

// startHub builds and starts `apinet-hub run` with args against the
// fleet's hub, namespace "fleet"; it is killed when the test ends.
func startHub(ctx context.Context, t *testing.T, f *fleet.Fleet, args ...string) *fleet.Controller {
	t.Helper()
	g := NewWithT(t)
	binary, err := fleet.BuildHub(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	proc, err := fleet.StartHub(fleet.HubOptions{Binary: binary, Kubeconfig: f.Hub().KubeconfigPath(), Namespace: "fleet",
		Args: args, Log: filepath.Join(t.TempDir(), "hub.log")})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = proc.Kill() })
	return proc
}

func engagedReason(ctx context.Context, hub client.Client, namespace, name string) func() string {
	return func() string {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cp); err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged); c != nil {
			return c.Reason
		}
		return "no condition"
	}
}

// metricsTokens returns two ServiceAccount tokens of the hub cluster: one
// bound to a ClusterRole that may get /metrics (what a Prometheus is given),
// one bound to nothing.
func metricsTokens(ctx context.Context, g *WithT, hub client.Client) (scraper, nobody string) {
	g.Expect(hub.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}})).To(Succeed())
	g.Expect(hub.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "fleet", Name: "scraper"}}})).To(Succeed())
	token := func(name string) string {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name}}
		g.Expect(hub.Create(ctx, sa)).To(Succeed())
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
		g.Expect(hub.SubResource("token").Create(ctx, sa, req)).To(Succeed())
		return req.Status.Token
	}
	return token("scraper"), token("nobody")
}

// negotiatedProtocol is the ALPN protocol a TLS server picks of those
// offered.
func negotiatedProtocol(addr string, offered ...string) (string, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: offered}) //nolint:gosec // a loopback test server
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().NegotiatedProtocol, nil
}

// TestRunEngagesAFleet runs `apinet-hub run` in-process against a real fleet:
// the wiring of flags, cache restrictions, leader election, health and
// metrics endpoints, and the provider.
func TestRunEngagesAFleet(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 2, 1)
	g.Expect(hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}})).To(Succeed())
	onboard := func(namespace, name string, labels map[string]string, kubeconfig []byte) {
		g.Expect(fleet.Onboard(ctx, hub, namespace, name, labels, nil, kubeconfig)).To(Succeed())
	}
	onboard("fleet", "apinet-1", fleet.APINetLabels, f.Cluster("apinet-1").Kubeconfig())
	onboard("fleet", "ironcore-1", fleet.IronCoreLabels("apinet-1"), f.Cluster("ironcore-1").Kubeconfig())
	onboard("fleet", "ironcore-2", fleet.IronCoreLabels("apinet-1"), f.Cluster("ironcore-2").Kubeconfig())
	onboard("elsewhere", "ironcore-1", fleet.IronCoreLabels("apinet-1"), f.Cluster("ironcore-1").Kubeconfig())

	metricsAddr, err := fleet.FreeAddr()
	g.Expect(err).NotTo(HaveOccurred())
	probeAddr, err := fleet.FreeAddr()
	g.Expect(err).NotTo(HaveOccurred())
	runCtx, stop := context.WithCancel(ctx)
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(runCtx, []string{"run",
			"--kubeconfig", f.Hub().KubeconfigPath(), "--namespace", "fleet",
			"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr,
			"--leader-elect", "--leader-election-namespace", "fleet",
			"--probe-interval", "1s", "--zap-log-level", "error", "--max-concurrent-reconciles", "5",
		}, io.Discard, &stderr)
	}()

	condition := func(namespace, name string) func() string { return engagedReason(ctx, hub, namespace, name) }
	g.Eventually(condition("fleet", "apinet-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	g.Eventually(condition("fleet", "ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	g.Consistently(condition("elsewhere", "ironcore-1"), 2*time.Second).Should(Equal("no condition"),
		"profiles outside --namespace are not read")

	g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "apinet-hub.ironcore.dev"}, &coordinationv1.Lease{})).To(Succeed(),
		"the leader-election Lease")
	g.Expect(fleet.HTTPGet(ctx, "http://"+probeAddr+"/healthz")).To(Equal("ok"))
	g.Expect(fleet.HTTPGet(ctx, "http://"+probeAddr+"/readyz")).To(Equal("ok"))
	g.Expect(fleet.HTTPGet(ctx, "http://"+probeAddr+"/readyz?verbose")).To(ContainSubstring("[+]hub ok"), "the hub's own readiness check")

	// Metrics are served over HTTPS, HTTP/1.1 only, to authorized tokens only.
	scraper, nobody := metricsTokens(ctx, g, hub)
	metricsURL := "https://" + metricsAddr + "/metrics"
	_, err = fleet.HTTPSGet(ctx, metricsURL, "")
	g.Expect(err).To(MatchError(ContainSubstring("401 Unauthorized")), "no token")
	_, err = fleet.HTTPSGet(ctx, metricsURL, nobody)
	g.Expect(err).To(MatchError(ContainSubstring("403 Forbidden")), "a token without get on /metrics")
	_, err = fleet.HTTPGet(ctx, "http://"+metricsAddr+"/metrics")
	g.Expect(err).To(HaveOccurred(), "no plain HTTP")
	g.Expect(negotiatedProtocol(metricsAddr, "h2", "http/1.1")).To(Equal("http/1.1"), "HTTP/2 is off unless --enable-http2")
	g.Expect(fleet.HTTPSGet(ctx, metricsURL, scraper)).To(ContainSubstring("controller_runtime_reconcile_total"))
	workers, err := fleet.HTTPSGet(ctx, metricsURL, scraper)
	g.Expect(err).NotTo(HaveOccurred())
	for _, c := range []string{"network", "virtualip", "networkinterface", "natgateway", "loadbalancer", "networkpolicy"} {
		g.Expect(workers).To(ContainSubstring(`controller_runtime_max_concurrent_reconciles{controller="`+c+`"} 5`),
			"every reconciler runs --max-concurrent-reconciles workers (multicluster-runtime v0.24.1 does not apply it by itself)")
	}

	// Per-member and per-peer metrics, and their removal when a member leaves.
	g.Eventually(condition("fleet", "ironcore-2"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	for _, member := range []string{"ironcore-1", "ironcore-2"} {
		c := f.Cluster(member).Client()
		g.Expect(c.Create(ctx, &networkingv1alpha1.Network{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "scraped"}})).To(Succeed())
		g.Expect(c.Create(ctx, &networkingv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "scraped"},
			Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol}})).To(Succeed())
	}
	scrape := func() string { body, _ := fleet.HTTPSGet(ctx, metricsURL, scraper); return body }
	var series []types.GomegaMatcher
	for _, member := range []string{"fleet.ironcore-1", "fleet.ironcore-2"} {
		series = append(series,
			ContainSubstring(`apinet_hub_cluster_engaged{member="`+member+`",peer="fleet.apinet-1",role="ironcore"} 1`),
			ContainSubstring(`apinet_hub_cluster_engaged_reason{member="`+member+`",peer="fleet.apinet-1",reason="Engaged",role="ironcore"} 1`),
			ContainSubstring(`apinet_hub_reconcile_total{controller="network",member="`+member+`",peer="fleet.apinet-1",result="success"}`),
			ContainSubstring(`apinet_hub_objects_mapped{kind="network",member="`+member+`",peer="fleet.apinet-1"} 1`),
			ContainSubstring(`apinet_hub_objects_mapped{kind="virtualip",member="`+member+`",peer="fleet.apinet-1"} 1`),
			ContainSubstring(`apinet_hub_objects_unmapped{kind="network",member="`+member+`",peer="fleet.apinet-1"} 0`),
			ContainSubstring(`apinet_hub_public_ips{member="`+member+`",peer="fleet.apinet-1"} 1`),
			ContainSubstring(`apinet_hub_nat_ips{member="`+member+`",peer="fleet.apinet-1",state="used"} 0`),
			ContainSubstring(`apinet_hub_mapping_latency_seconds_count{member="`+member+`"} 2`), // a Network and a VirtualIP
			ContainSubstring(`apinet_hub_cluster_probe_duration_seconds_count{member="`+member+`",peer="fleet.apinet-1",role="ironcore"}`),
		)
	}
	series = append(series,
		ContainSubstring(`apinet_hub_cluster_engaged{member="",peer="fleet.apinet-1",role="apinet"} 1`),
		ContainSubstring(`apinet_hub_cluster_engaged_reason{member="",peer="fleet.apinet-1",reason="Engaged",role="apinet"} 1`),
		ContainSubstring(`apinet_hub_build_info{goversion="`+runtime.Version()+`",version="(devel)"} 1`),
		ContainSubstring(`apinet_hub_cluster_probe_duration_seconds_count{member="",peer="fleet.apinet-1",role="apinet"}`),
		// Fleet-wide: both members' observations in one series.
		ContainSubstring(`apinet_hub_mapping_latency_by_kind_seconds_count{kind="network"} 2`),
		ContainSubstring(`apinet_hub_mapping_latency_by_kind_seconds_count{kind="virtualip"} 2`),
		ContainSubstring(`apinet_hub_reconcile_duration_seconds_count{controller="network"} `))
	g.Eventually(scrape, time.Minute).Should(And(series...))
	body := scrape()
	g.Expect(body).NotTo(MatchRegexp(`apinet_hub_(reconcile_duration|mapping_latency_by_kind)_seconds_\w+\{[^}]*member=`),
		"the fleet-wide histograms have no member label")
	g.Expect(body).NotTo(MatchRegexp(`apinet_hub_mapping_latency_seconds_\w+\{[^}]*kind=`), "the per-member mapping latency has no kind label")
	for _, name := range metrics.Standard {
		g.Expect(body).To(ContainSubstring("\n"+name), "metrics.Standard names families the endpoint serves")
	}
	g.Expect(hub.Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ironcore-2"}})).To(Succeed())
	g.Eventually(scrape, time.Minute).ShouldNot(ContainSubstring(`member="fleet.ironcore-2"`), "a member's series go with it")
	body = scrape()
	g.Expect(body).To(ContainSubstring(`apinet_hub_cluster_engaged{member="fleet.ironcore-1",peer="fleet.apinet-1",role="ironcore"} 1`))
	g.Expect(body).To(ContainSubstring(`apinet_hub_mapping_latency_by_kind_seconds_count{kind="network"} 2`), "fleet-wide series keep a gone member's observations")

	stop()
	g.Eventually(exited, time.Minute).Should(Receive(Equal(0)), "run returns 0 on shutdown; stderr: %s", &stderr)
}

// onboardWithServiceAccounts onboards the fleet's apinet-1 and the given
// IronCore members (mapped into apinet-1) as an operator would, with
// `apinet-hub onboard --create-service-account`: the hub then runs on its
// own least-privilege ServiceAccounts.
func onboardWithServiceAccounts(ctx context.Context, t *testing.T, f *fleet.Fleet, members ...string) {
	t.Helper()
	g := NewWithT(t)
	for _, name := range append([]string{"apinet-1"}, members...) {
		args := []string{"onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", f.Cluster(name).KubeconfigPath(),
			"--namespace", "fleet", "--name", name, "--create-service-account"}
		if name == "apinet-1" {
			args = append(args, "--role", "apinet")
		} else {
			args = append(args, "--role", "ironcore", "--peer", "apinet-1")
		}
		code, out, errOut := cli(ctx, args...)
		g.Expect(code).To(Equal(0), "onboard %s: %s %s", name, out, errOut)
		g.Expect(out).To(ContainSubstring("bound to secret apinet-hub/apinet-hub-token-"))
	}
}
