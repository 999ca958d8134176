package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
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

	metricsAddr, probeAddr := freeAddr(g), freeAddr(g)
	runCtx, stop := context.WithCancel(ctx)
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(runCtx, []string{"run",
			"--kubeconfig", f.Hub().KubeconfigPath(), "--namespace", "fleet",
			"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr,
			"--leader-elect", "--leader-election-namespace", "fleet",
			"--probe-interval", "1s", "--zap-log-level", "error",
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
	g.Expect(httpGet("http://" + probeAddr + "/healthz")).To(Equal("ok"))
	g.Expect(httpGet("http://" + probeAddr + "/readyz")).To(Equal("ok"))
	g.Expect(httpGet("http://" + metricsAddr + "/metrics")).To(ContainSubstring("controller_runtime_reconcile_total"))

	// Per-member and per-peer metrics, and their removal when a member leaves.
	g.Eventually(condition("fleet", "ironcore-2"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	for _, member := range []string{"ironcore-1", "ironcore-2"} {
		g.Expect(f.Cluster(member).Client().Create(ctx, &networkingv1alpha1.Network{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "scraped"}})).To(Succeed())
	}
	scrape := func() string { body, _ := httpGet("http://" + metricsAddr + "/metrics"); return body }
	g.Eventually(scrape, time.Minute).Should(And(
		ContainSubstring(`apinet_hub_cluster_engaged{cluster="fleet.apinet-1",peer="",role="apinet"} 1`),
		ContainSubstring(`apinet_hub_cluster_engaged{cluster="fleet.ironcore-1",peer="fleet.apinet-1",role="ironcore"} 1`),
		ContainSubstring(`apinet_hub_cluster_engaged{cluster="fleet.ironcore-2",peer="fleet.apinet-1",role="ironcore"} 1`),
		ContainSubstring(`apinet_hub_reconcile_total{cluster="fleet.ironcore-1",controller="network",peer="fleet.apinet-1",result="success"}`),
		ContainSubstring(`apinet_hub_reconcile_total{cluster="fleet.ironcore-2",controller="network",peer="fleet.apinet-1",result="success"}`),
		ContainSubstring(`apinet_hub_cluster_probe_duration_seconds_count{cluster="fleet.apinet-1",role="apinet"}`),
	))
	g.Expect(hub.Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ironcore-2"}})).To(Succeed())
	g.Eventually(scrape, time.Minute).ShouldNot(ContainSubstring(`cluster="fleet.ironcore-2"`), "a member's series go with it")
	g.Expect(scrape()).To(ContainSubstring(`apinet_hub_cluster_engaged{cluster="fleet.ironcore-1",peer="fleet.apinet-1",role="ironcore"} 1`))

	stop()
	g.Eventually(exited, time.Minute).Should(Receive(Equal(0)), "run returns 0 on shutdown; stderr: %s", &stderr)
}

func freeAddr(g Gomega) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(body)), err
}
