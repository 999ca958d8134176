package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestRunEngagesAFleet runs `apinet-hub run` in-process against a real fleet:
// the wiring of flags, cache restrictions, leader election, health and
// metrics endpoints, and the provider.
func TestRunEngagesAFleet(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, err := fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(2, 1)})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(f.Stop()).To(Succeed()) }()

	hub := f.Hub().Client()
	g.Expect(hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}})).To(Succeed())
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

	condition := func(namespace, name string) func() string {
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
	g.Eventually(condition("fleet", "apinet-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	g.Eventually(condition("fleet", "ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	g.Consistently(condition("elsewhere", "ironcore-1"), 2*time.Second).Should(Equal("no condition"),
		"profiles outside --namespace are not read")

	g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "apinet-hub.ironcore.dev"}, &coordinationv1.Lease{})).To(Succeed(),
		"the leader-election Lease")
	g.Expect(fleet.HTTPGet(ctx, "http://"+probeAddr+"/healthz")).To(Equal("ok"))
	g.Expect(fleet.HTTPGet(ctx, "http://"+probeAddr+"/readyz")).To(Equal("ok"))
	g.Expect(fleet.HTTPGet(ctx, "http://"+metricsAddr+"/metrics")).To(ContainSubstring("controller_runtime_reconcile_total"))
	workers, err := fleet.HTTPGet(ctx, "http://"+metricsAddr+"/metrics")
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
	scrape := func() string { body, _ := fleet.HTTPGet(ctx, "http://"+metricsAddr+"/metrics"); return body }
	var series []types.GomegaMatcher
	for _, member := range []string{"fleet.ironcore-1", "fleet.ironcore-2"} {
		series = append(series,
			ContainSubstring(`apinet_hub_cluster_engaged{cluster="`+member+`",peer="fleet.apinet-1",role="ironcore"} 1`),
			ContainSubstring(`apinet_hub_reconcile_total{cluster="`+member+`",controller="network",peer="fleet.apinet-1",result="success"}`),
			ContainSubstring(`apinet_hub_objects_mapped{cluster="`+member+`",kind="network",peer="fleet.apinet-1"} 1`),
			ContainSubstring(`apinet_hub_objects_mapped{cluster="`+member+`",kind="virtualip",peer="fleet.apinet-1"} 1`),
			ContainSubstring(`apinet_hub_public_ips{cluster="`+member+`",peer="fleet.apinet-1"} 1`),
			ContainSubstring(`apinet_hub_nat_ips{cluster="`+member+`",peer="fleet.apinet-1",state="used"} 0`),
			ContainSubstring(`apinet_hub_mapping_latency_seconds_count{cluster="`+member+`",kind="network"} 1`),
			ContainSubstring(`apinet_hub_mapping_latency_seconds_count{cluster="`+member+`",kind="virtualip"} 1`),
		)
	}
	series = append(series,
		ContainSubstring(`apinet_hub_cluster_engaged{cluster="fleet.apinet-1",peer="",role="apinet"} 1`),
		ContainSubstring(`apinet_hub_cluster_probe_duration_seconds_count{cluster="fleet.apinet-1",role="apinet"}`))
	g.Eventually(scrape, time.Minute).Should(And(series...))
	body := scrape()
	for _, name := range metrics.Standard {
		g.Expect(body).To(ContainSubstring("\n"+name), "metrics.Standard names families the endpoint serves")
	}
	g.Expect(hub.Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ironcore-2"}})).To(Succeed())
	g.Eventually(scrape, time.Minute).ShouldNot(ContainSubstring(`cluster="fleet.ironcore-2"`), "a member's series go with it")
	g.Expect(scrape()).To(ContainSubstring(`apinet_hub_cluster_engaged{cluster="fleet.ironcore-1",peer="fleet.apinet-1",role="ironcore"} 1`))

	stop()
	g.Eventually(exited, time.Minute).Should(Receive(Equal(0)), "run returns 0 on shutdown; stderr: %s", &stderr)
}
