package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// fleetFile is a fleet of apinet-1 (a kubeconfig stored as is), ironcore-1
// (a token of the hub's ServiceAccount) and ironcore-2 (an access
// provider), the members listed first (onboard -f applies the peer first
// anyway); extra is appended to the clusters.
func fleetFile(settings, ironcore2Kubeconfig, extra string) string {
	return `apiVersion: apinet-hub.ironcore.dev/v1alpha1
kind: Fleet
namespace: fleet
clusters:
- name: ironcore-1
  role: ironcore
  peer: apinet-1
  settings: {` + settings + `}
  credentials:
    kubeconfig: kubeconfigs/ironcore-1.kubeconfig
    createServiceAccount: true
- name: ironcore-2
  role: ironcore
  peer: apinet-1
  apinetNamespace: ic-2
  credentials:
    kubeconfig: ` + ironcore2Kubeconfig + `
    accessProvider: secretreader
- name: apinet-1
  role: apinet
  credentials:
    kubeconfig: kubeconfigs/apinet-1.kubeconfig
` + extra
}

// TestOnboardFleet drives `apinet-hub onboard -f` against a real hub and
// three real clusters: the whole fleet at once, again with nothing to
// change, then with one member unreachable and one entry wrong (both
// reported, the others applied, exit 1); and `export` back into the same
// entries.
func TestOnboardFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 2, 1)

	dir := t.TempDir()
	g := NewWithT(t)
	g.Expect(os.Mkdir(filepath.Join(dir, "kubeconfigs"), 0o700)).To(Succeed())
	for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2"} {
		g.Expect(os.WriteFile(filepath.Join(dir, "kubeconfigs", name+".kubeconfig"), f.Cluster(name).Kubeconfig(), 0o600)).To(Succeed())
	}
	// ironcore-2's cluster behind a closed port: unreachable.
	closed := writeClustersKubeconfig(t, f)
	kc, err := clientcmd.LoadFromFile(closed)
	g.Expect(err).NotTo(HaveOccurred())
	kc.CurrentContext = "closed-port"
	g.Expect(clientcmd.WriteToFile(*kc, filepath.Join(dir, "kubeconfigs", "unreachable.kubeconfig"))).To(Succeed())

	path := filepath.Join(dir, "fleet.yaml")
	write := func(doc string) {
		g.Expect(os.WriteFile(path, []byte(doc), 0o600)).To(Succeed())
	}
	hubArgs := []string{"--kubeconfig", f.Hub().KubeconfigPath(), "-f", path}
	// tokenAnchor is the anchor of ironcore-1's stored token: a new token
	// has a new anchor.
	var anchor string
	tokenAnchor := func(g Gomega) string {
		s := &corev1.Secret{}
		g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "ironcore-1-credentials"}, s)).To(Succeed())
		return s.Annotations[lifecycle.AnnotationTokenAnchor]
	}

	t.Run("applies the whole fleet, peers first, one line per cluster", func(t *testing.T) {
		g := NewWithT(t)
		write(fleetFile("", "kubeconfigs/ironcore-2.kubeconfig", ""))
		r := onboard(ctx, hubArgs...)
		t.Logf("onboard -f, 3 clusters, all created: %s", r.took)
		g.Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		g.Expect(r.stdout).To(Equal("apinet-1 created (secret created, clusterprofile created)\n" +
			"ironcore-1 created (secret created, clusterprofile created)\n" +
			"ironcore-2 created (clusterprofile created)\n"))
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "ironcore-2"}, cp)).To(Succeed())
		p, problem := clusterprofiles.Parse(cp)
		g.Expect(problem).To(BeNil())
		g.Expect(p.Peer.Name).To(Equal("apinet-1"))
		g.Expect(cp.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationAPINetNamespace, "ic-2"))
		g.Expect(cp.Status.AccessProviders).To(HaveLen(1))
		g.Expect(cp.Status.AccessProviders[0].Name).To(Equal("secretreader"))
		anchor = tokenAnchor(g)
		g.Expect(anchor).NotTo(BeEmpty())
	})

	t.Run("a second run changes nothing", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, hubArgs...)
		t.Logf("onboard -f, 3 clusters, all unchanged: %s", r.took)
		g.Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		g.Expect(r.stdout).To(Equal("apinet-1 unchanged (secret unchanged, clusterprofile unchanged)\n" +
			"ironcore-1 unchanged (secret unchanged, clusterprofile unchanged)\n" +
			"ironcore-2 unchanged (clusterprofile unchanged)\n"))
		g.Expect(tokenAnchor(g)).To(Equal(anchor), "the stored token is kept, not minted again")
	})

	t.Run("a revoked token is replaced by a new one", func(t *testing.T) {
		g := NewWithT(t)
		member := f.Cluster("ironcore-1").Client()
		namespace, name, _ := strings.Cut(anchor, "/")
		g.Expect(member.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}})).To(Succeed())
		g.Eventually(func() string {
			return onboard(ctx, hubArgs...).stdout
		}).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(ContainSubstring("ironcore-1 configured (secret configured, clusterprofile unchanged)"))
		g.Expect(tokenAnchor(g)).NotTo(Equal(anchor))
		anchor = tokenAnchor(g)
	})

	t.Run("an unreachable cluster and a bad entry are reported, the others applied", func(t *testing.T) {
		g := NewWithT(t)
		write(fleetFile(`apinet-hub.ironcore.dev/nat-max-public-ips: "3"`, "kubeconfigs/unreachable.kubeconfig",
			"- name: ironcore-3\n  role: ironcore\n  credentials: {kubeconfig: kubeconfigs/ironcore-1.kubeconfig}\n"))
		r := onboard(ctx, hubArgs...)
		t.Logf("onboard -f, 4 entries, 2 failing: %s", r.took)
		g.Expect(r.code).To(Equal(1), r.stdout+r.stderr)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		g.Expect(lines).To(HaveLen(4), r.stdout)
		g.Expect(lines[0]).To(Equal("apinet-1 unchanged (secret unchanged, clusterprofile unchanged)"))
		g.Expect(lines[1]).To(Equal("ironcore-1 configured (secret unchanged, clusterprofile configured)"))
		g.Expect(lines[2]).To(And(HavePrefix("ironcore-2 failed: "), ContainSubstring("is unreachable"), ContainSubstring(closedAddr)))
		g.Expect(lines[3]).To(Equal("ironcore-3 failed: peer is required for role ironcore: name the apinet cluster it maps into"))
		g.Expect(r.stderr).To(Equal("apinet-hub onboard: 2 of 4 clusters failed\n"))
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "ironcore-1"}, cp)).To(Succeed())
		g.Expect(cp.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationNATMaxPublicIPs, "3"))
	})

	t.Run("a missing kubeconfig file is that cluster's failure", func(t *testing.T) {
		g := NewWithT(t)
		write(fleetFile(`apinet-hub.ironcore.dev/nat-max-public-ips: "3"`, "kubeconfigs/missing.kubeconfig", ""))
		r := onboard(ctx, hubArgs...)
		g.Expect(r.code).To(Equal(1), r.stdout+r.stderr)
		g.Expect(r.stdout).To(ContainSubstring("ironcore-1 unchanged"))
		g.Expect(r.stdout).To(ContainSubstring("ironcore-2 failed: kubeconfig " + filepath.Join(dir, "kubeconfigs", "missing.kubeconfig") + ": stat "))
	})

	t.Run("export prints the fleet back in the same entries", func(t *testing.T) {
		g := NewWithT(t)
		code, stdout, stderr := cli(ctx, "export", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet")
		g.Expect(code).To(Equal(0), stderr)
		g.Expect(stdout).To(HavePrefix("# A fleet file"))
		g.Expect(stdout).NotTo(ContainSubstring("client-key"))
		exported, err := lifecycle.ParseFleet([]byte(stdout))
		g.Expect(err).NotTo(HaveOccurred(), stdout)
		write(fleetFile(`apinet-hub.ironcore.dev/nat-max-public-ips: "3"`, "kubeconfigs/ironcore-2.kubeconfig", ""))
		data, err := os.ReadFile(path)
		g.Expect(err).NotTo(HaveOccurred())
		want, err := lifecycle.ParseFleet(data)
		g.Expect(err).NotTo(HaveOccurred())
		byName := map[string]lifecycle.FleetCluster{}
		for _, c := range want.Clusters {
			c.Credentials.Kubeconfig = c.Name + ".kubeconfig" // export's reference
			if len(c.Settings) == 0 {
				c.Settings = nil
			}
			byName[c.Name] = c
		}
		g.Expect(exported.Namespace).To(Equal("fleet"))
		g.Expect(exported.Clusters).To(HaveLen(3))
		for _, c := range exported.Clusters {
			g.Expect(c).To(Equal(byName[c.Name]))
		}

		// Filled in, the exported file onboards the same fleet: nothing changes.
		filled := strings.ReplaceAll(stdout, "kubeconfig: ", "kubeconfig: kubeconfigs/")
		write(filled)
		r := onboard(ctx, hubArgs...)
		g.Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		g.Expect(strings.Count(r.stdout, " unchanged (")).To(Equal(3), r.stdout)
		g.Expect(r.stdout).NotTo(Or(ContainSubstring("created"), ContainSubstring("configured")))
		g.Expect(tokenAnchor(g)).To(Equal(anchor))
	})
}

// TestOnboardFleetUsage: -f excludes the flags of one cluster; a fleet
// file that does not parse names the entry; before any connection.
func TestOnboardFleetUsage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: apinet-hub.ironcore.dev/v1alpha1\nkind: Fleet\nclusters:\n- name: a\n  role: apinet\n  peers: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-f", path, "--role", "apinet"}, 2, "if any flags in the group [filename role] are set none of the others can be"},
		{[]string{"-f", path, "--dry-run"}, 2, "if any flags in the group [filename dry-run] are set none of the others can be"},
		{[]string{"-f", path}, 1, `clusters[0] (a): error unmarshaling JSON: while decoding JSON: json: unknown field "peers"`},
		{[]string{"-f", filepath.Join(dir, "none.yaml")}, 1, "no such file or directory"},
		{[]string{"--role", "apinet"}, 2, `required flag(s) "namespace" not set`},
	} {
		r := onboard(context.Background(), tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d, %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}
