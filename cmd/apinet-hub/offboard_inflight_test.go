package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestOffboardReleaseWhileReconcilesRun: the hub reaches its member through
// a proxy that answers 2 s late, and 100 mapped Networks are touched just
// before `offboard --release`, so that many reconciles are in flight when
// the hub disengages the member. The hub cancels and waits for them before
// it reports Offboarding, so none adds a finalizer back after the sweep:
// 30 s after offboard returned, no IronCore object carries one.
func TestOffboardReleaseWhileReconcilesRun(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)

	member := f.Cluster("ironcore-1")
	proxy, err := fleet.StartDelayProxy(strings.TrimPrefix(member.Host(), "https://"))
	g.Expect(err).NotTo(HaveOccurred())
	defer proxy.Close()
	slowKC, err := member.KubeconfigVia(proxy.Addr(), member.Kubeconfig())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "apinet-1", fleet.APINetLabels, nil, f.Cluster("apinet-1").Kubeconfig())).To(Succeed())
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "ironcore-1", fleet.IronCoreLabels("apinet-1"), nil, slowKC)).To(Succeed())

	startHub(ctx, t, f, "--probe-interval", "1s")
	g.Eventually(engagedReason(ctx, hub, "fleet", "ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))

	ic := member.Client()
	for i := range 100 {
		g.Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("net-%d", i)}})).To(Succeed())
	}
	g.Eventually(func() (int, error) { return hubFinalized(ctx, ic) }, 2*time.Minute).Should(Equal(100))

	proxy.SetDelay(2 * time.Second)
	touch := func(i int) error {
		nw := &networkingv1alpha1.Network{}
		if err := ic.Get(ctx, client.ObjectKey{Namespace: "default", Name: fmt.Sprintf("net-%d", i)}, nw); err != nil {
			return err
		}
		base := nw.DeepCopy()
		nw.Labels = map[string]string{"touched": time.Now().Format("150405.000000")}
		return ic.Patch(ctx, nw, client.MergeFrom(base))
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() { g.Expect(touch(i)).To(Succeed()) })
	}
	wg.Wait()
	time.Sleep(3 * time.Second) // the touches reach the hub (2 s late) and its reconciles start

	start := time.Now()
	code, out, errOut := cli(ctx, "offboard", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "ironcore-1", "--release", "--wait", "5m")
	g.Expect(code).To(Equal(0), "offboard: %s %s", out, errOut)
	t.Logf("offboard --release through a 2 s-slow member with 100 reconciles in flight: %s", time.Since(start).Round(time.Millisecond))
	g.Consistently(func() (int, error) { return hubFinalized(ctx, ic) }, 30*time.Second, time.Second).Should(BeZero(),
		"no reconcile in flight at disengagement adds a finalizer back")
}
