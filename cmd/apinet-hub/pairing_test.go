package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestPairingEngagesProfilesItDoesNotOwn: profiles as another cluster
// manager writes them (its cluster-manager label and a region label, none of
// the hub's) are paired by the hub's --pairing-file alone. The hub engages
// the peer and the member and maps the member's objects, records the role
// and peer it gave them as status properties (which `status` shows), never
// touches their labels, and leaves a profile that no rule selects alone.
func TestPairingEngagesProfilesItDoesNotOwn(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)

	// fleet.Onboard sets the manager's x-k8s.io/cluster-manager label.
	managed := func(region string) map[string]string {
		if region == "" {
			return nil
		}
		return map[string]string{"topology.example/region": region}
	}
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "apinet-1", managed(""), nil, f.Cluster("apinet-1").Kubeconfig())).To(Succeed())
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "ironcore-1", managed("eu1"), nil, f.Cluster("ironcore-1").Kubeconfig())).To(Succeed())
	// Same manager, another region: no rule selects it.
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "stray", managed("us1"), nil, f.Cluster("ironcore-1").Kubeconfig())).To(Succeed())

	written := map[string]map[string]string{}
	for _, name := range []string{"apinet-1", "ironcore-1"} {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: name}, cp)).To(Succeed())
		g.Expect(cp.Labels).NotTo(HaveKey(clusterprofiles.LabelRole))
		written[name] = cp.Labels
	}

	pairing := filepath.Join(t.TempDir(), "pairing.yaml")
	g.Expect(os.WriteFile(pairing, []byte(`apiVersion: apinet-hub.ironcore.dev/v1alpha1
kind: Pairing
rules:
- namespace: fleet
  names: [apinet-1]
  role: apinet
- namespace: fleet
  selector:
    matchLabels:
      x-k8s.io/cluster-manager: `+fleet.FieldManager+`
      topology.example/region: eu1
  role: ironcore
  peer: apinet-1
`), 0o600)).To(Succeed())

	start := time.Now()
	startHub(ctx, t, f, "--pairing-file", pairing, "--probe-interval", "1s")
	g.Eventually(engagedReason(ctx, hub, "fleet", "apinet-1"), 2*time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	g.Eventually(engagedReason(ctx, hub, "fleet", "ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	t.Logf("paired member engaged %s after the hub's start", time.Since(start).Round(time.Millisecond))

	// It does its job: a Network is mapped.
	expectNetworkMapped(ctx, t, f.Cluster("ironcore-1"))

	// The pairing is recorded, the labels are the manager's alone.
	for name, want := range map[string][2]string{"apinet-1": {"apinet", ""}, "ironcore-1": {"ironcore", "apinet-1"}} {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: name}, cp)).To(Succeed())
		g.Expect(maps.Equal(cp.Labels, written[name])).To(BeTrue(), "labels of %s: %v, written %v", name, cp.Labels, written[name])
		g.Expect(clusterprofiles.Property(cp, clusterprofiles.PropertyRole)).To(Equal(want[0]), name)
		g.Expect(clusterprofiles.Property(cp, clusterprofiles.PropertyPeer)).To(Equal(want[1]), name)
	}
	g.Consistently(engagedReason(ctx, hub, "fleet", "stray"), 2*time.Second).Should(Equal("no condition"))

	code, out, errOut := cli(ctx, "status", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet")
	g.Expect(code).To(Equal(0), "status: %s %s", out, errOut)
	g.Expect(out).To(MatchRegexp(`ironcore-1\s+ironcore\s+apinet-1\s+True\s+Engaged`))
	g.Expect(out).To(MatchRegexp(`apinet-1\s+apinet\s+-\s+True\s+Engaged`))
	g.Expect(out).NotTo(ContainSubstring("stray"))

	// The paired peer cannot be offboarded under its paired member.
	code, _, errOut = cli(ctx, "offboard", "apinet-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--purge")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("peer fleet/apinet-1 still has members (ironcore-1): offboard them first"))

	// Offboarding the paired member hands its objects back and keeps the
	// manager's profile, marked: the hub leaves it alone from then on.
	code, out, errOut = cli(ctx, "offboard", "ironcore-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--release")
	g.Expect(code).To(Equal(0), "offboard: %s %s", out, errOut)
	g.Expect(out).To(ContainSubstring("clusterprofile fleet/ironcore-1 is kept: it is not the hub's"))
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "ironcore-1"}, cp)).To(Succeed())
	g.Expect(cp.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationOffboarding, "release"))
	g.Expect(maps.Equal(cp.Labels, written["ironcore-1"])).To(BeTrue(), "labels of ironcore-1: %v", cp.Labels)
	g.Consistently(engagedReason(ctx, hub, "fleet", "ironcore-1"), 2*time.Second).Should(Equal(clusterprofiles.ReasonOffboarding))
	nw := &networkingv1alpha1.Network{}
	g.Expect(f.Cluster("ironcore-1").Client().Get(ctx, client.ObjectKey{Namespace: "default", Name: "net"}, nw)).To(Succeed())
	g.Expect(nw.Finalizers).To(BeEmpty(), "the hub's finalizer is released")

	// Its member offboarded, the paired peer is, and is kept the same way.
	code, out, errOut = cli(ctx, "offboard", "apinet-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--purge")
	g.Expect(code).To(Equal(0), "offboard: %s %s", out, errOut)
	g.Expect(out).To(ContainSubstring("clusterprofile fleet/apinet-1 is kept: it is not the hub's"))
	g.Eventually(engagedReason(ctx, hub, "fleet", "apinet-1"), 30*time.Second).Should(Equal(clusterprofiles.ReasonOffboarding))
}

// expectNetworkMapped creates a Network in member's default namespace and
// waits until the hub has mapped it (its provider ID is set).
func expectNetworkMapped(ctx context.Context, t *testing.T, member *fleet.Cluster) {
	t.Helper()
	g := NewWithT(t)
	ic := member.Client()
	g.Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "net"}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		nw := &networkingv1alpha1.Network{}
		g.Expect(ic.Get(ctx, client.ObjectKey{Namespace: "default", Name: "net"}, nw)).To(Succeed())
		g.Expect(nw.Spec.ProviderID).NotTo(BeEmpty())
	}, time.Minute).Should(Succeed())
}
