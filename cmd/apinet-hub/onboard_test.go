package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// onboardResult is one run of `apinet-hub onboard`.
type onboardResult struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func onboard(ctx context.Context, args ...string) onboardResult {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, append([]string{"onboard"}, args...), &stdout, &stderr)
	return onboardResult{code: code, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
}

// oneLine matches an error output of one line.
func oneLine(part string) OmegaMatcher {
	return And(ContainSubstring(part), HavePrefix("apinet-hub onboard: "), WithTransform(func(s string) int { return strings.Count(s, "\n") }, Equal(1)))
}

// TestOnboard drives `apinet-hub onboard` against a real hub, a real
// IronCore cluster and a real apinet cluster, and proves that the hub
// accepts what it writes: the profile parses and the Secret resolves to
// credentials that reach the cluster.
func TestOnboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)

	clusters := writeClustersKubeconfig(t, f)
	base := []string{"--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", clusters, "--namespace", "fleet"}
	args := func(more ...string) []string { return append(append([]string{}, base...), more...) }
	member := args("--cluster-context", "ironcore-1", "--role", "ironcore", "--peer", "apinet-1")
	peer := args("--cluster-context", "apinet-1", "--role", "apinet")

	profile := func(name string) (*clusterinventoryv1alpha1.ClusterProfile, error) {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		return cp, hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: name}, cp)
	}
	expectAbsent := func(g Gomega, name string) {
		_, err := profile(name)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "profile %s: %v", name, err)
		err = hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: name + "-credentials"}, &corev1.Secret{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "Secret %s-credentials: %v", name, err)
	}
	// accepted proves the hub takes the profile as it takes any other: it
	// parses, its credential Secret resolves, and the credentials reach the
	// cluster's API.
	accepted := func(g Gomega, name string, list client.ObjectList) *clusterprofiles.Profile {
		cp, err := profile(name)
		g.Expect(err).NotTo(HaveOccurred())
		p, problem := clusterprofiles.Parse(cp)
		g.Expect(problem).To(BeNil())
		resolver := &clusterprofiles.CredentialResolver{Consumer: clusterprofiles.DefaultConsumer, Secrets: hub}
		creds, problem := resolver.Resolve(ctx, cp)
		g.Expect(problem).To(BeNil())
		c, err := client.New(creds.Config, client.Options{Scheme: fleet.Scheme})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(c.List(ctx, list)).To(Succeed())
		return p
	}

	t.Run("refuses an IronCore cluster whose peer is not onboarded", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, member...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine("peer ClusterProfile fleet/apinet-1 does not exist; onboard the apinet cluster first"))
		expectAbsent(g, "ironcore-1")
	})

	t.Run("dry run prints the objects as YAML, the kubeconfig redacted, and writes nothing", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, append(peer, "--dry-run")...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(And(ContainSubstring("kind: ClusterProfile"), ContainSubstring("kind: Secret"),
			ContainSubstring("name: apinet-1-credentials"), ContainSubstring("apinet-hub.ironcore.dev/role: apinet"),
			ContainSubstring("Config: '<redacted: "), Not(ContainSubstring("client-key-data"))))
		expectAbsent(g, "apinet-1")

		r = onboard(ctx, append(peer, "--dry-run", "--show-secrets")...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		docs := strings.Split(r.stdout, "\n---\n")
		g.Expect(docs).To(HaveLen(2))
		secret := &corev1.Secret{}
		g.Expect(yaml.Unmarshal([]byte(docs[0]), secret)).To(Succeed())
		_, err := clusterprofiles.RESTConfigFromSecretKubeconfig(secret.Data[clusterprofiles.SecretKeyConfig])
		g.Expect(err).NotTo(HaveOccurred(), "the printed kubeconfig is one the hub accepts")

		// The default cluster kubeconfig is $KUBECONFIG's current context;
		// the default name is that context's name, as a DNS label.
		t.Setenv("KUBECONFIG", clusters)
		r = onboard(ctx, "--namespace", "fleet", "--role", "apinet", "--dry-run")
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(ContainSubstring("name: admin-apinet-1\n"), "current context admin@Apinet_1")
		expectAbsent(g, "admin-apinet-1")
	})

	t.Run("onboards the apinet peer, then the IronCore member; the hub accepts both", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, peer...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(Equal("secret fleet/apinet-1-credentials created\nclusterprofile fleet/apinet-1 created\n"))
		g.Expect(accepted(g, "apinet-1", &apinetv1alpha1.NetworkList{}).Role).To(Equal(clusterprofiles.RoleAPINet))

		r = onboard(ctx, member...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(Equal("secret fleet/ironcore-1-credentials created\nclusterprofile fleet/ironcore-1 created\n"))
		p := accepted(g, "ironcore-1", &networkingv1alpha1.NetworkList{})
		g.Expect(p.Peer.Name).To(Equal("apinet-1"))
		g.Expect(p.APINetNamespace).To(Equal("fleet-ironcore-1"))

		cp, err := profile("ironcore-1")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cp.Spec.ClusterManager.Name).To(Equal("apinet-hub-onboard"))
		g.Expect(cp.ManagedFields).To(ContainElement(HaveField("Manager", "apinet-hub-onboard")))
		t.Logf("onboarding a member (checks + apply) took %v", r.took.Round(time.Millisecond))
	})

	t.Run("running it again changes nothing", func(t *testing.T) {
		g := NewWithT(t)
		before, err := profile("ironcore-1")
		g.Expect(err).NotTo(HaveOccurred())
		r := onboard(ctx, member...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(Equal("secret fleet/ironcore-1-credentials unchanged\nclusterprofile fleet/ironcore-1 unchanged\n"))
		after, err := profile("ironcore-1")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	})

	t.Run("the old --context still names the cluster's context, with a deprecation warning", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, args("--context", "ironcore-1", "--role", "ironcore", "--peer", "apinet-1")...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(Equal("secret fleet/ironcore-1-credentials unchanged\nclusterprofile fleet/ironcore-1 unchanged\n"))
		g.Expect(r.stderr).To(ContainSubstring("Flag --context has been deprecated, use --cluster-context"))
	})

	// complete runs cobra's hidden __complete for command against the hub
	// and returns the candidates.
	complete := func(g Gomega, command string, args ...string) []string {
		code, stdout, stderr := cli(ctx, append([]string{"__complete", command, "--kubeconfig", f.Hub().KubeconfigPath()}, args...)...)
		g.Expect(code).To(Equal(0), stderr)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		return lines[:len(lines)-1] // the last line is the directive
	}

	t.Run("completes --role, --peer and -n/--namespace from the hub", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(complete(g, "onboard", "--role", "")).To(Equal([]string{"ironcore", "apinet"}))
		g.Expect(complete(g, "onboard", "--namespace", "fleet", "--peer", "")).To(Equal([]string{"apinet-1"}), "apinet profiles only")
		g.Expect(complete(g, "onboard", "--namespace", "")).To(Equal([]string{"fleet"}))
		g.Expect(complete(g, "onboard", "-n", "")).To(Equal([]string{"fleet"}), "-n is --namespace, as in the other commands")
		g.Expect(complete(g, "onboard", "-n", "fleet", "--peer", "")).To(Equal([]string{"apinet-1"}))
		g.Expect(complete(g, "onboard", "--namespace", "nothing-here", "--peer", "")).To(BeEmpty())
	})

	t.Run("status completes -n/--namespace from the hub and -o/--output with its formats", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(complete(g, "status", "-n", "")).To(Equal([]string{"fleet"}))
		g.Expect(complete(g, "status", "--namespace", "fl")).To(Equal([]string{"fleet"}))
		g.Expect(complete(g, "status", "--namespace", "x")).To(BeEmpty())
		g.Expect(complete(g, "status", "-o", "")).To(ContainElements("wide", "yaml", "json", "name"))
		g.Expect(complete(g, "status", "--output", "")).To(Equal(complete(g, "status", "-o", "")))
	})

	t.Run("changing the peer or the apinet namespace updates the profile", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, args("--cluster-context", "apinet-1", "--role", "apinet", "--name", "apinet-2")...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		r = onboard(ctx, args("--cluster-context", "ironcore-1", "--role", "ironcore", "--peer", "apinet-2", "--apinet-namespace", "tenant-a")...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(Equal("secret fleet/ironcore-1-credentials unchanged\nclusterprofile fleet/ironcore-1 configured\n"))
		p := accepted(g, "ironcore-1", &networkingv1alpha1.NetworkList{})
		g.Expect(p.Peer.Name).To(Equal("apinet-2"))
		g.Expect(p.APINetNamespace).To(Equal("tenant-a"))

		r = onboard(ctx, member...)
		g.Expect(r.stdout).To(HaveSuffix("clusterprofile fleet/ironcore-1 configured\n"))
		cp, err := profile("ironcore-1")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cp.Labels).To(HaveKeyWithValue(clusterprofiles.LabelPeer, "apinet-1"))
		g.Expect(cp.Annotations).NotTo(HaveKey(clusterprofiles.AnnotationAPINetNamespace), "an override left out is removed")
	})

	t.Run("--wait waits for the hub's Engaged condition, printing its reasons, and fails with the last one", func(t *testing.T) {
		g := NewWithT(t)
		// No hub runs here: the test writes the hub's condition as the
		// hub would (its own field manager, server-side apply on status).
		setCondition := func(status metav1.ConditionStatus, reason, message string) {
			cp, err := profile("ironcore-1")
			g.Expect(err).NotTo(HaveOccurred())
			meta.SetStatusCondition(&cp.Status.Conditions, metav1.Condition{Type: clusterprofiles.ConditionEngaged, Status: status,
				Reason: reason, Message: message, ObservedGeneration: cp.Generation})
			g.Expect(hub.Status().Update(ctx, cp)).To(Succeed())
		}
		setCondition(metav1.ConditionUnknown, clusterprofiles.ReasonEngaging, "connecting to the cluster and its peer fleet/apinet-1")
		r := onboard(ctx, append(member, "--wait", "1s")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stdout).To(ContainSubstring("clusterprofile fleet/ironcore-1: Engaging: connecting to the cluster"))
		g.Expect(r.stderr).To(oneLine("clusterprofile fleet/ironcore-1 is not Engaged after 1s: Engaging: connecting to the cluster"))

		done := make(chan onboardResult, 1)
		go func() { done <- onboard(ctx, append(member, "--wait", "30s")...) }()
		time.Sleep(700 * time.Millisecond)
		setCondition(metav1.ConditionFalse, clusterprofiles.ReasonPeerPaused, "peer fleet/apinet-1 is not connected yet")
		time.Sleep(700 * time.Millisecond)
		setCondition(metav1.ConditionTrue, clusterprofiles.ReasonEngaged, "reconciling into apinet peer fleet/apinet-1")
		var res onboardResult
		g.Eventually(done, 30*time.Second).Should(Receive(&res))
		g.Expect(res.code).To(Equal(0), res.stderr)
		g.Expect(res.stdout).To(And(ContainSubstring("clusterprofile fleet/ironcore-1: PeerPaused: peer fleet/apinet-1 is not connected yet"),
			HaveSuffix("clusterprofile fleet/ironcore-1 engaged: reconciling into apinet peer fleet/apinet-1\n")))
	})

	t.Run("leaves profiles and fields of other managers alone unless told", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(fleet.Onboard(ctx, hub, "fleet", "managed", fleet.IronCoreLabels("apinet-1"), nil, nil)).To(Succeed())
		r := onboard(ctx, args("--cluster-context", "apinet-1", "--role", "apinet", "--name", "managed")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine(`ClusterProfile fleet/managed belongs to cluster manager "apinet-hub-fleet" (spec.clusterManager.name cannot change); pass --cluster-manager apinet-hub-fleet to update it anyway`))

		managed := args("--cluster-context", "apinet-1", "--role", "apinet", "--name", "managed", "--cluster-manager", fleet.FieldManager)
		r = onboard(ctx, managed...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stdout).To(Equal("secret fleet/managed-credentials created\n"))
		g.Expect(r.stderr).To(oneLine(`conflict with "apinet-hub-fleet"`))
		g.Expect(r.stderr).To(ContainSubstring("--force-conflicts takes them over"))

		r = onboard(ctx, append(managed, "--force-conflicts")...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(Equal("secret fleet/managed-credentials unchanged\nclusterprofile fleet/managed configured\n"))
		cp, err := profile("managed")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cp.Labels).To(HaveKeyWithValue(clusterprofiles.LabelRole, "apinet"), "taken over")
		g.Expect(cp.Labels).To(HaveKeyWithValue(clusterprofiles.LabelPeer, "apinet-1"), "the other manager's label, which onboard does not set, stays")
	})

	t.Run("refuses a cluster that does not serve the API of its role", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, args("--cluster-context", "apinet-1", "--role", "ironcore", "--peer", "apinet-1", "--name", "wrong")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine("wrong role: cluster at " + f.Cluster("apinet-1").Host() +
			" does not serve networking.ironcore.dev/v1alpha1, the API of role ironcore; it serves core.apinet.ironcore.dev/v1alpha1, the API of role apinet"))
		expectAbsent(g, "wrong")

		r = onboard(ctx, args("--cluster-context", "ironcore-1", "--role", "apinet", "--name", "wrong")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine("does not serve core.apinet.ironcore.dev/v1alpha1, the API of role apinet; it serves networking.ironcore.dev/v1alpha1"))
		expectAbsent(g, "wrong")
	})

	t.Run("refuses a peer that is not an apinet cluster", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, args("--cluster-context", "ironcore-1", "--role", "ironcore", "--peer", "ironcore-1", "--name", "wrong")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine(`peer ClusterProfile fleet/ironcore-1 has label apinet-hub.ironcore.dev/role="ironcore"; a peer must have role apinet`))
		expectAbsent(g, "wrong")
	})

	t.Run("refuses a hub namespace that does not exist", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", clusters, "--cluster-context", "apinet-1",
			"--namespace", "nowhere", "--role", "apinet")
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine(`hub namespace "nowhere" does not exist; create it first`))
	})

	t.Run("fails on an unreachable cluster within the timeout", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, args("--cluster-context", "closed-port", "--role", "apinet", "--timeout", "3s")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine("cluster at https://" + closedAddr + " is unreachable: "))
		g.Expect(r.stderr).To(ContainSubstring("connection refused"))
		expectAbsent(g, "closed-port")

		r = onboard(ctx, args("--cluster-context", "black-hole", "--role", "apinet", "--timeout", "3s")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine("cluster at https://" + blackHoleAddr + " is unreachable: "))
		g.Expect(r.took).To(BeNumerically("<", 10*time.Second), "a server that never answers is given up on at --timeout")
		t.Logf("black hole given up on after %v (--timeout 3s)", r.took.Round(time.Millisecond))
		expectAbsent(g, "black-hole")
	})

	t.Run("refuses an exec-plugin user unless the hub reaches the cluster through an access provider", func(t *testing.T) {
		g := NewWithT(t)
		r := onboard(ctx, args("--cluster-context", "exec-user", "--role", "apinet")...)
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.stderr).To(oneLine(`user "exec-user" gets its credentials from exec plugin "fetch-token"`))
		g.Expect(r.stderr).To(ContainSubstring("onboard with --access-provider NAME and give the hub that provider in its --clusterprofile-provider-file"))
		expectAbsent(g, "exec-user")

		r = onboard(ctx, args("--cluster-context", "exec-user", "--role", "apinet", "--access-provider", "token-vault", "--skip-checks")...)
		g.Expect(r.code).To(Equal(0), r.stderr)
		g.Expect(r.stdout).To(Equal("clusterprofile fleet/exec-user created\n"), "no Secret")
		cp, err := profile("exec-user")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cp.Status.AccessProviders).To(ConsistOf(HaveField("Name", "token-vault")))
		g.Expect(cp.Status.AccessProviders[0].Cluster.Extensions).To(ConsistOf(And(HaveField("Name", lifecycle.ExecClusterExtension),
			HaveField("Extension.Raw", MatchJSON(`{"clusterName":"exec-user"}`)))), "the cluster's name, for the secret-reader plugin")

		dry := onboard(ctx, args("--cluster-context", "exec-user", "--role", "apinet", "--access-provider", "token-vault", "--dry-run")...)
		g.Expect(dry.code).To(Equal(0), dry.stderr)
		g.Expect(dry.stdout).To(ContainSubstring("# status.accessProviders is a subresource: kubectl apply and GitOps tools drop it"))
		resolver := &clusterprofiles.CredentialResolver{
			Consumer: clusterprofiles.DefaultConsumer, Secrets: hub,
			Access: &access.Config{Providers: []access.Provider{{Name: "token-vault",
				ExecConfig: &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "fetch-token"}}}},
		}
		creds, problem := resolver.Resolve(ctx, cp)
		g.Expect(problem).To(BeNil())
		g.Expect(creds.Source).To(Equal("access provider token-vault"))
		g.Expect(creds.Config.Host).To(Equal(f.Cluster("apinet-1").Host()))

		r = onboard(ctx, args("--cluster-context", "exec-user", "--role", "apinet", "--access-provider", "token-vault", "--skip-checks")...)
		g.Expect(r.stdout).To(Equal("clusterprofile fleet/exec-user unchanged\n"))
	})
}

// Addresses of the kubeconfig that writeClustersKubeconfig writes: one
// where nothing listens, one that accepts connections and never answers.
var closedAddr, blackHoleAddr string

// writeClustersKubeconfig writes a kubeconfig with contexts "apinet-1"
// (inline credentials), "ironcore-1" (CA, certificate and key in files
// named relative to the kubeconfig), "admin@Apinet_1" (current; apinet-1
// again), "exec-user" (apinet-1's server, an exec plugin), "closed-port" and
// "black-hole".
func writeClustersKubeconfig(t *testing.T, f *fleet.Fleet) string {
	t.Helper()
	g := NewWithT(t)
	dir := t.TempDir()
	out := clientcmdapi.NewConfig()
	add := func(name string, cluster *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo) {
		out.Clusters[name], out.AuthInfos[name] = cluster, user
		out.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	load := func(name string) (*clientcmdapi.Cluster, *clientcmdapi.AuthInfo) {
		kc, err := clientcmd.Load(f.Cluster(name).Kubeconfig())
		g.Expect(err).NotTo(HaveOccurred())
		kctx := kc.Contexts[kc.CurrentContext]
		return kc.Clusters[kctx.Cluster], kc.AuthInfos[kctx.AuthInfo]
	}

	apinetCluster, apinetUser := load("apinet-1")
	add("apinet-1", apinetCluster, apinetUser)
	add("admin@Apinet_1", apinetCluster, apinetUser)
	out.CurrentContext = "admin@Apinet_1"

	cluster, user := load("ironcore-1")
	for file, data := range map[string][]byte{"ca.crt": cluster.CertificateAuthorityData, "client.crt": user.ClientCertificateData, "client.key": user.ClientKeyData} {
		g.Expect(os.WriteFile(filepath.Join(dir, file), data, 0o600)).To(Succeed())
	}
	add("ironcore-1",
		&clientcmdapi.Cluster{Server: cluster.Server, CertificateAuthority: "ca.crt"},
		&clientcmdapi.AuthInfo{ClientCertificate: "client.crt", ClientKey: "client.key"})

	add("exec-user", apinetCluster, &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion: "client.authentication.k8s.io/v1", Command: "fetch-token", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}})

	closedAddr = refusingAddr(t)
	add("closed-port", &clientcmdapi.Cluster{Server: "https://" + closedAddr, CertificateAuthorityData: apinetCluster.CertificateAuthorityData}, apinetUser)

	blackHole, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: the TLS handshake never starts
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { blackHole.Close() })
	blackHoleAddr = blackHole.Addr().String()
	add("black-hole", &clientcmdapi.Cluster{Server: "https://" + blackHoleAddr, CertificateAuthorityData: apinetCluster.CertificateAuthorityData}, apinetUser)

	path := filepath.Join(dir, "clusters.kubeconfig")
	g.Expect(clientcmd.WriteToFile(*out, path)).To(Succeed())
	return path
}

// refusingAddr returns a loopback address that refuses connections for the
// rest of the test: a TCP socket bound there that never listens. (A port
// that was free and closed again can be taken meanwhile by a server another
// test package starts: the "unreachable" cluster then answered with a
// certificate of its own.)
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// TestOnboardUsage: mistakes on the command line are exit code 2 with one
// line on stderr, before anything is read or written.
func TestOnboardUsage(t *testing.T) {
	ok := []string{"--namespace", "fleet", "--role", "ironcore", "--peer", "apinet-1", "--cluster-kubeconfig", "/does/not/exist"}
	with := func(args ...string) []string { return append(append([]string{}, ok...), args...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--role", "apinet"}, `required flag(s) "namespace" not set`},
		{[]string{"--namespace", "Fleet", "--role", "apinet"}, `--namespace "Fleet" is not a namespace name`},
		{[]string{"--namespace", "fleet"}, "--role is required: ironcore or apinet"},
		{[]string{"--namespace", "fleet", "--role", "member"}, `--role "member" is not ironcore or apinet`},
		{[]string{"--namespace", "fleet", "--role", "ironcore"}, "--peer is required for --role ironcore"},
		{[]string{"--namespace", "fleet", "--role", "apinet", "--peer", "x"}, "--peer applies to --role ironcore only"},
		{[]string{"--namespace", "fleet", "--role", "apinet", "--apinet-namespace", "x"}, "--apinet-namespace applies to --role ironcore only"},
		{with("--apinet-namespace", "Not_A_Namespace"), `--apinet-namespace "Not_A_Namespace" is not a namespace name`},
		{with("--apinet-namespace", "kube-system"), "is a system namespace"},
		{[]string{"--namespace", "fleet", "--role", "apinet", "--take-over"}, "--take-over applies to --role ironcore only"},
		{with("--peer", "a.b"), `--peer "a.b" is not a ClusterProfile name`},
		{with("--name", "my.cluster"), `--name "my.cluster" is not a DNS label`},
		{with("--consumer", ""), `--consumer "" is not a DNS label`},
		{with("--cluster-manager", ""), "--cluster-manager is empty"},
		{with("--timeout", "0s"), "--timeout must be positive"},
		{with("--show-secrets"), "--show-secrets applies to --dry-run only"},
		{with("--wait", "-1s"), "--wait must not be negative"},
		{with("--wait", "1m", "--dry-run"), "--wait does not apply to --dry-run"},
		{with("--create-service-account", "--access-provider", "vault"), "if any flags in the group [create-service-account access-provider] are set none of the others can be"},
		{with("--create-service-account", "--dry-run"), "does not apply to --dry-run"},
		{with("--create-service-account", "--token-expiration", "1m"), "--token-expiration must be at least 10m"},
		{with("--create-service-account", "--service-account-name", "Hub"), `--service-account-name "Hub" is not a DNS label`},
		{with("--frobnicate"), "unknown flag: --frobnicate (see 'apinet-hub onboard -h')"},
		{with("extra"), `unexpected arguments ["extra"]`},
	} {
		r := onboard(context.Background(), tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "apinet-hub onboard: ") || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("onboard %q = %d, stderr %q; want 2 and one line with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}

	r := onboard(context.Background(), "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "apinet-hub onboard --namespace NS") || !strings.Contains(r.stdout, "--access-provider") || !strings.Contains(r.stdout, "--hub-context") {
		t.Errorf("onboard -h = %d, stdout %q", r.code, r.stdout)
	}
	r = onboard(context.Background(), with()...)
	if r.code != 1 || !strings.Contains(r.stderr, "--cluster-kubeconfig: stat /does/not/exist: no such file or directory") {
		t.Errorf("a missing kubeconfig = %d, stderr %q; want 1", r.code, r.stderr)
	}
}

// TestOnboardDryRunNeedsNoServer: --dry-run builds everything from the
// local kubeconfig and connects to nothing.
func TestOnboardDryRunNeedsNoServer(t *testing.T) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://192.0.2.1:6443", CertificateAuthorityData: []byte("CA")}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "secret-token"}
	kc.Contexts["Prod EU/1"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "Prod EU/1"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	r := onboard(context.Background(), "--kubeconfig", "/does/not/exist", "--cluster-kubeconfig", path,
		"--namespace", "fleet", "--role", "ironcore", "--peer", "apinet-1", "--dry-run", "--show-secrets", "--timeout", "1s")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "name: prod-eu-1\n") || !strings.Contains(r.stdout, "apinet-hub.ironcore.dev/peer: apinet-1") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	secret := &corev1.Secret{}
	if err := yaml.Unmarshal([]byte(strings.Split(r.stdout, "\n---\n")[0]), secret); err != nil {
		t.Fatal(err)
	}
	if kubeconfig := string(secret.Data[clusterprofiles.SecretKeyConfig]); !strings.Contains(kubeconfig, "token: secret-token") {
		t.Errorf("--show-secrets prints the kubeconfig %q", kubeconfig)
	}
}
