package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// cli runs one apinet-hub command line in-process.
func cli(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// apinetState is what offboarding one member must not change for another:
// every apinet object of a namespace, "<Kind>/<name>" → UID/resourceVersion.
func apinetState(ctx context.Context, peer client.Client, namespace string) (map[string]string, error) {
	out := map[string]string{}
	for _, list := range []client.ObjectList{&apinetv1alpha1.NetworkList{}, &apinetv1alpha1.IPList{}} {
		if err := peer.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
		items, _ := meta.ExtractList(list)
		for _, item := range items {
			o := item.(client.Object)
			out[fmt.Sprintf("%T/%s", o, o.GetName())] = string(o.GetUID()) + "/" + o.GetResourceVersion()
		}
	}
	return out, nil
}

// hubFinalized counts a member's IronCore Networks and VirtualIPs that carry
// a finalizer.
func hubFinalized(ctx context.Context, c client.Client) (int, error) {
	n := 0
	nets, vips := &networkingv1alpha1.NetworkList{}, &networkingv1alpha1.VirtualIPList{}
	if err := c.List(ctx, nets); err != nil {
		return 0, err
	}
	if err := c.List(ctx, vips); err != nil {
		return 0, err
	}
	for _, o := range nets.Items {
		n += len(o.Finalizers)
	}
	for _, o := range vips.Items {
		n += len(o.Finalizers)
	}
	return n, nil
}

// TestStatusAndOffboard drives `apinet-hub status` and `apinet-hub offboard`
// against a real fleet and a real hub: a member with 200 objects is purged,
// another released, a profile whose recorded identity does not match is
// refused, and nothing of the other member changes.
func TestStatusAndOffboard(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 2, 1)
	// Onboarded as an operator would, with the hub's own least-privilege
	// ServiceAccounts: everything below runs on those credentials.
	for _, c := range []struct{ name, role, peer string }{{"apinet-1", "apinet", ""}, {"ironcore-1", "ironcore", "apinet-1"}, {"ironcore-2", "ironcore", "apinet-1"}} {
		args := []string{"onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", f.Cluster(c.name).KubeconfigPath(),
			"--namespace", "fleet", "--name", c.name, "--role", c.role, "--create-service-account", "--skip-checks=false"}
		if c.peer != "" {
			args = append(args, "--peer", c.peer)
		}
		code, out, errOut := cli(ctx, args...)
		g.Expect(code).To(Equal(0), "onboard %s: %s %s", c.name, out, errOut)
		g.Expect(out).To(And(ContainSubstring("clusterrole apinet-hub:"+c.role+" applied"), ContainSubstring("token of serviceaccount apinet-hub/apinet-hub made")))
		secret := &corev1.Secret{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: c.name + "-credentials"}, secret)).To(Succeed())
		stored := string(secret.Data[clusterprofiles.SecretKeyConfig])
		g.Expect(stored).To(And(ContainSubstring("token: "), Not(ContainSubstring("client-certificate-data"))), "the ServiceAccount's token, not the caller's credentials")
		// And the token may do no more than the ClusterRole says, in the
		// kube-apiserver and in the aggregated API server alike.
		cfg, err := clusterprofiles.RESTConfigFromSecretKubeconfig([]byte(stored))
		g.Expect(err).NotTo(HaveOccurred())
		restricted, err := client.New(cfg, client.Options{Scheme: clusterprofiles.Scheme})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(restricted.List(ctx, &corev1.SecretList{})).To(Satisfy(apierrors.IsForbidden), "no Secrets")
		g.Expect(restricted.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}, client.DryRunAll)).
			To(Satisfy(apierrors.IsForbidden), "no namespace delete")
		if c.role == "ironcore" {
			g.Expect(restricted.Create(ctx, &networkingv1alpha1.LoadBalancerRouting{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "forbidden"}})).
				To(Satisfy(apierrors.IsForbidden), "LoadBalancerRoutings are read only")
		} else {
			g.Expect(restricted.Create(ctx, &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "forbidden"}})).
				To(Satisfy(apierrors.IsForbidden), "NetworkInterfaces are the machine provider's to create")
		}
	}
	proc := startHub(ctx, t, f, "--probe-interval", "1s", "--profile-status-interval", "1s")

	reason := func(name string) func() string { return engagedReason(ctx, hub, "fleet", name) }
	for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2"} {
		g.Eventually(reason(name), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged), name)
	}

	// 200 objects in ironcore-1, 3 in ironcore-2.
	ic1, ic2, peer := f.Cluster("ironcore-1").Client(), f.Cluster("ironcore-2").Client(), f.Cluster("apinet-1").Client()
	for i := range 100 {
		g.Expect(ic1.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("net-%d", i)}})).To(Succeed())
		g.Expect(ic1.Create(ctx, &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("vip-%d", i)},
			Spec: networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol}})).To(Succeed())
	}
	for i := range 3 {
		g.Expect(ic2.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("net-%d", i)}})).To(Succeed())
	}
	statusOut := func(args ...string) string {
		code, out, errOut := cli(ctx, append([]string{"status", "--kubeconfig", f.Hub().KubeconfigPath()}, args...)...)
		g.Expect(code).To(Equal(0), errOut)
		return out
	}
	row := func(out, name string) []string {
		for _, line := range strings.Split(out, "\n") {
			if fields := strings.Fields(line); len(fields) > 0 && fields[0] == name {
				return fields
			}
		}
		return nil
	}
	g.Eventually(func() []string { return row(statusOut("-n", "fleet"), "ironcore-1") }, 2*time.Minute).Should(
		HaveExactElements("ironcore-1", "ironcore", "apinet-1", "True", "Engaged", "200", Not(BeEmpty())),
		"NAME ROLE PEER ENGAGED REASON OBJECTS AGE, the objects reported by the hub")
	g.Eventually(func() []string { return row(statusOut("-n", "fleet"), "ironcore-2") }, time.Minute).Should(ContainElement("3"))
	g.Expect(row(statusOut("-n", "fleet"), "apinet-1")).To(HaveExactElements("apinet-1", "apinet", "-", "True", "Engaged", "203", Not(BeEmpty())),
		"a peer shows its members' sum")
	g.Expect(statusOut()).To(HavePrefix("NAMESPACE"), "all namespaces by default")
	g.Expect(statusOut("-n", "fleet", "-o", "wide", "ironcore-1")).To(And(ContainSubstring("fleet-ironcore-1"), ContainSubstring("reconciling into apinet peer"),
		Not(ContainSubstring("ironcore-2"))))
	var printed clusterinventoryv1alpha1.ClusterProfileList
	g.Expect(json.Unmarshal([]byte(statusOut("-n", "fleet", "-o", "json")), &printed)).To(Succeed())
	g.Expect(printed.Items).To(HaveLen(3))
	g.Expect(statusOut("-n", "fleet", "-o", "name")).To(ContainSubstring("clusterprofile.multicluster.x-k8s.io/ironcore-2\n"))
	code, _, errOut := cli(ctx, "status", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "nope")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("no ClusterProfile the hub handles (label apinet-hub.ironcore.dev/role, or a role from the hub's pairing) named nope"))

	g.Eventually(func() (int, error) { return hubFinalized(ctx, ic1) }, time.Minute).Should(Equal(200))
	g.Eventually(func() (int, error) { return hubFinalized(ctx, ic2) }, time.Minute).Should(Equal(3))
	other, err := apinetState(ctx, peer, "fleet-ironcore-2")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(other).To(HaveLen(3))

	offboard := func(args ...string) (int, string, string) {
		return cli(ctx, append([]string{"offboard", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet"}, args...)...)
	}
	// Refusals change nothing.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ironcore-1"}, 2, "at least one of the flags in the group [release purge] is required"},
		{[]string{"ironcore-1", "--release", "--purge"}, 2, "if any flags in the group [release purge] are set none of the others can be"},
		{[]string{"--purge"}, 2, "give the ClusterProfile's name"},
		{[]string{"ironcore-1", "--release", "--peer-kubeconfig", "x"}, 2, "--peer-kubeconfig and --peer-context are for --purge only"},
		{[]string{"ironcore-1", "--purge", "--peer-context", "x"}, 2, "--peer-context needs --peer-kubeconfig"},
		{[]string{"ironcore-1", "--purge", "--peer-kubeconfig", "/does/not/exist"}, 1, "--peer-kubeconfig"},
		{[]string{"apinet-1", "--purge"}, 1, "peer fleet/apinet-1 still has members (ironcore-1, ironcore-2): offboard them first"},
		{[]string{"missing", "--purge"}, 1, "not found"},
	} {
		code, _, errOut := offboard(tc.args...)
		g.Expect(code).To(Equal(tc.code), "%q: %s", tc.args, errOut)
		g.Expect(errOut).To(And(HavePrefix("apinet-hub offboard: "), ContainSubstring(tc.want)), "%q", tc.args)
	}
	// A profile whose credentials reach another cluster than the recorded one.
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "stranger", fleet.IronCoreLabels("apinet-1"), nil, f.Cluster("ironcore-2").Kubeconfig())).To(Succeed())
	stranger := &clusterinventoryv1alpha1.ClusterProfile{}
	// Let the hub settle first (its identity recorded; refused, since
	// ironcore-2 is the older profile's cluster: one cluster, one writer),
	// so that no status write of its own is in flight when the recorded
	// identity is replaced below.
	g.Eventually(reason("stranger"), time.Minute).Should(Equal(clusterprofiles.ReasonDuplicateCluster))
	g.Eventually(func() clusterprofiles.Identity {
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "stranger"}, stranger)).To(Succeed())
		return clusterprofiles.PinnedIdentity(stranger)
	}, time.Minute).ShouldNot(BeEmpty())
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "stranger"}, stranger); err != nil {
			return err
		}
		stranger.Status.Properties = []clusterinventoryv1alpha1.Property{{Name: clusterprofiles.PropertyClusterUID, Value: "00000000-0000-0000-0000-000000000000"}}
		return hub.Status().Update(ctx, stranger)
	})).To(Succeed())
	g.Eventually(reason("stranger"), time.Minute).Should(Equal(clusterprofiles.ReasonIdentityMismatch))
	code, _, errOut = offboard("stranger", "--purge")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("IdentityMismatch"))
	g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "stranger"}, stranger)).To(Succeed(), "a refused profile stays")
	g.Expect(stranger.Annotations).NotTo(HaveKey(clusterprofiles.AnnotationOffboarding))
	g.Expect(hub.Delete(ctx, stranger)).To(Succeed())

	code, out, errOut := offboard("ironcore-1", "--purge", "--dry-run")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(And(ContainSubstring("networking.ironcore.dev/Network 100, networking.ironcore.dev/VirtualIP 100"),
		ContainSubstring("apinet objects to delete: core.apinet.ironcore.dev/IP 100, core.apinet.ironcore.dev/Network 100"), ContainSubstring("dry run")))
	g.Consistently(reason("ironcore-1"), 2*time.Second).Should(Equal(clusterprofiles.ReasonEngaged), "--dry-run changes nothing")

	start := time.Now()
	code, out, errOut = offboard("ironcore-1", "--purge", "--wait", "2m", "--peer-kubeconfig", f.Cluster("apinet-1").KubeconfigPath())
	took := time.Since(start)
	g.Expect(code).To(Equal(0), "stdout: %s\nstderr: %s", out, errOut)
	t.Logf("offboard --purge of a member with 200 objects took %s:\n%s", took.Round(time.Millisecond), out)
	g.Expect(out).To(And(ContainSubstring("the hub has stopped reconciling fleet/ironcore-1"), ContainSubstring("removed 200 finalizers"),
		ContainSubstring("deleted namespace fleet-ironcore-1"), ContainSubstring("clusterprofile fleet/ironcore-1 deleted")))

	// Nothing stuck, nothing orphaned, nothing of the other member touched.
	g.Expect(hubFinalized(ctx, ic1)).To(Equal(0))
	ns := &corev1.Namespace{}
	if err := peer.Get(ctx, client.ObjectKey{Name: "fleet-ironcore-1"}, ns); !apierrors.IsNotFound(err) {
		g.Expect(ns.DeletionTimestamp).NotTo(BeNil(), "the purged member's namespace is deleted (terminating: the fleet runs no namespace controller)")
	}
	for _, list := range []client.ObjectList{&apinetv1alpha1.NetworkList{}, &apinetv1alpha1.IPList{}} {
		g.Expect(peer.List(ctx, list, client.MatchingLabels{clusterprofiles.LabelCluster: "fleet.ironcore-1"})).To(Succeed())
		g.Expect(meta.LenList(list)).To(BeZero(), "no apinet object of the purged member is left")
	}
	g.Expect(ic1.Delete(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "net-0"}})).To(Succeed())
	g.Expect(ic1.Get(ctx, types.NamespacedName{Namespace: "default", Name: "net-0"}, &networkingv1alpha1.Network{})).To(Satisfy(apierrors.IsNotFound),
		"a delete no longer hangs on the hub's finalizer")
	secrets := &corev1.SecretList{}
	g.Expect(hub.List(ctx, secrets, client.InNamespace("fleet"), client.MatchingLabels{clusterprofiles.LabelSecretProfile: "ironcore-1"})).To(Succeed())
	g.Expect(secrets.Items).To(BeEmpty(), "the credential Secret is deleted")
	g.Expect(apinetState(ctx, peer, "fleet-ironcore-2")).To(Equal(other), "the other member's apinet objects are untouched")
	g.Expect(hubFinalized(ctx, ic2)).To(Equal(3))
	g.Expect(reason("ironcore-2")()).To(Equal(clusterprofiles.ReasonEngaged))

	// --release: finalizers go, apinet objects stay.
	code, out, errOut = offboard("ironcore-2", "--release")
	g.Expect(code).To(Equal(0), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(out).To(And(ContainSubstring("apinet objects stay (--release): core.apinet.ironcore.dev/Network 3"), ContainSubstring("removed 3 finalizers")))
	g.Expect(hubFinalized(ctx, ic2)).To(Equal(0))
	g.Consistently(func() (map[string]string, error) { return apinetState(ctx, peer, "fleet-ironcore-2") }, 2*time.Second).Should(Equal(other),
		"released apinet objects stay as they were")
	g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-2"}, &clusterinventoryv1alpha1.ClusterProfile{})).To(Satisfy(apierrors.IsNotFound))

	// The last peer has no members left.
	code, out, errOut = offboard("apinet-1", "--purge")
	g.Expect(code).To(Equal(0), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(proc.Exited()).To(BeFalse(), "the hub kept running throughout")
}

// memberObjects counts the apinet Networks and IPs labelled for a member,
// and how many of them are being deleted.
func memberObjects(ctx context.Context, peer client.Client, label string) (n, deleting int, err error) {
	for _, list := range []client.ObjectList{&apinetv1alpha1.NetworkList{}, &apinetv1alpha1.IPList{}} {
		if err := peer.List(ctx, list, client.MatchingLabels{clusterprofiles.LabelCluster: label}); err != nil {
			return 0, 0, err
		}
		items, _ := meta.ExtractList(list)
		for _, item := range items {
			n++
			if item.(client.Object).GetDeletionTimestamp() != nil {
				deleting++
			}
		}
	}
	return n, deleting, nil
}

// TestOffboardResumes interrupts `apinet-hub offboard --purge` at the
// points where a run can end (the mark removed after the purge deleted the
// objects, an apinet object that will not go before --wait, the
// credentials lost before the purge finished, the run ended right after
// the Secrets were deleted) and runs it again: each re-run finishes what
// the last one left, and nothing of the member is left behind. It also
// checks that the peer's token may delete no namespace, not even the
// member's own.
func TestOffboardResumes(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)
	onboardWithServiceAccounts(ctx, t, f, "ironcore-1")
	proc := startHub(ctx, t, f, "--probe-interval", "1s", "--profile-status-interval", "1s")
	reason := func(name string) func() string { return engagedReason(ctx, hub, "fleet", name) }
	g.Eventually(reason("ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))

	ic, peer := f.Cluster("ironcore-1").Client(), f.Cluster("apinet-1").Client()
	const label, nsName = "fleet.ironcore-1", "fleet-ironcore-1"
	for i := range 20 {
		g.Expect(ic.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("net-%d", i)}})).To(Succeed())
		g.Expect(ic.Create(ctx, &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("vip-%d", i)},
			Spec: networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol}})).To(Succeed())
	}
	objects := func() (int, error) { n, _, err := memberObjects(ctx, peer, label); return n, err }
	g.Eventually(func() (int, error) { return hubFinalized(ctx, ic) }, time.Minute).Should(Equal(40))
	g.Eventually(objects, time.Minute).Should(Equal(40))

	// The peer's token may delete no namespace: not kube-system, not even
	// the member's own (offboard deletes that with the operator's
	// credentials). Dry runs, so that a wrong role changes nothing.
	secret := &corev1.Secret{}
	g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "apinet-1-credentials"}, secret)).To(Succeed())
	cfg, err := clusterprofiles.RESTConfigFromSecretKubeconfig(secret.Data[clusterprofiles.SecretKeyConfig])
	g.Expect(err).NotTo(HaveOccurred())
	peerToken, err := client.New(cfg, client.Options{Scheme: clusterprofiles.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	for _, name := range []string{"kube-system", "default", nsName} {
		g.Expect(peerToken.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, client.DryRunAll)).
			To(Satisfy(apierrors.IsForbidden), "the peer's token deletes namespace %s", name)
	}
	g.Expect(peerToken.Get(ctx, client.ObjectKey{Name: nsName}, &corev1.Namespace{})).To(Succeed(), "it still reads the member's namespace")

	offboard := func(args ...string) (int, string, string) {
		return cli(ctx, append([]string{"offboard", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet"}, args...)...)
	}
	interruptAfter := func(step string) {
		offboardStep = func(s string) error {
			if s == step {
				return fmt.Errorf("test interruption")
			}
			return nil
		}
	}
	defer func() { offboardStep = nil }()
	profile := func() *clusterinventoryv1alpha1.ClusterProfile {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1"}, cp)).To(Succeed())
		return cp
	}

	// 1. The mark removed after the purge deleted everything: the hub
	// engages the member again and maps every object anew.
	interruptAfter("member")
	code, out, errOut := offboard("ironcore-1", "--purge", "--wait", "1m")
	g.Expect(code).To(Equal(1), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(errOut).To(ContainSubstring("interrupted after step member"))
	g.Expect(out).To(ContainSubstring("removed 40 finalizers"))
	g.Expect(objects()).To(BeZero())
	cp := profile()
	g.Expect(cp.Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationOffboarding, "purge"))
	g.Expect(cp.Annotations).NotTo(HaveKey(lifecycle.AnnotationOffboarded))
	patch := client.MergeFrom(cp.DeepCopy())
	delete(cp.Annotations, clusterprofiles.AnnotationOffboarding)
	g.Expect(hub.Patch(ctx, cp, patch)).To(Succeed())
	start := time.Now()
	g.Eventually(reason("ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	g.Eventually(objects, time.Minute).Should(Equal(40))
	g.Eventually(func() (int, error) { return hubFinalized(ctx, ic) }, time.Minute).Should(Equal(40))
	t.Logf("mark removed after a purge: the hub re-created the member's 40 apinet objects and finalizers in %s", time.Since(start).Round(time.Millisecond))

	// 2. A purge that cannot finish before --wait: one apinet Network held
	// by a finalizer of someone else (as when apinet-controller-manager is
	// down). The run ends with the rest deleted, the finalizers still on.
	offboardStep = nil
	nets := &apinetv1alpha1.NetworkList{}
	g.Expect(peer.List(ctx, nets, client.MatchingLabels{clusterprofiles.LabelCluster: label})).To(Succeed())
	g.Expect(nets.Items).NotTo(BeEmpty())
	held := &nets.Items[0]
	heldPatch := client.MergeFrom(held.DeepCopy())
	held.Finalizers = append(held.Finalizers, "test.apinet-hub.ironcore.dev/hold")
	g.Expect(peer.Patch(ctx, held, heldPatch)).To(Succeed())
	code, out, errOut = offboard("ironcore-1", "--purge", "--wait", "10s")
	g.Expect(code).To(Equal(1), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(out).To(ContainSubstring("clusterprofile fleet/ironcore-1 marked for offboarding (purge)"))
	g.Expect(errOut).To(ContainSubstring("1 apinet objects of the member are still there"))
	left, deleting, err := memberObjects(ctx, peer, label)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect([]int{left, deleting}).To(HaveExactElements(1, 1), "one left, being deleted")
	g.Expect(hubFinalized(ctx, ic)).To(Equal(40), "the finalizers go only once the apinet objects are gone")
	g.Expect(reason("ironcore-1")()).To(Equal(clusterprofiles.ReasonOffboarding))

	// A purge begun cannot become a release.
	code, _, errOut = offboard("ironcore-1", "--release")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("cannot become a release; re-run with --purge"))

	// 3. The credentials lost before the purge finished: refused, the
	// profile kept marked; restoring the Secret lets it go on.
	credentials := &corev1.Secret{}
	g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1-credentials"}, credentials)).To(Succeed())
	g.Expect(hub.Delete(ctx, credentials)).To(Succeed())
	code, out, errOut = offboard("ironcore-1", "--purge", "--wait", "30s")
	g.Expect(code).To(Equal(1), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(errOut).To(ContainSubstring("the profile's credential Secrets are gone, but no earlier run recorded the cluster's objects as done"))
	g.Expect(profile().Annotations).To(HaveKeyWithValue(clusterprofiles.AnnotationOffboarding, "purge"))
	restored := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentials.Namespace, Name: credentials.Name, Labels: credentials.Labels},
		Type: credentials.Type, Data: credentials.Data}
	g.Expect(hub.Create(ctx, restored)).To(Succeed())

	// 4. The hold gone; a run ended right after it deleted the Secrets.
	g.Expect(peer.Get(ctx, client.ObjectKeyFromObject(held), held)).To(Succeed())
	heldPatch = client.MergeFrom(held.DeepCopy())
	held.Finalizers = slices.DeleteFunc(held.Finalizers, func(f string) bool { return f == "test.apinet-hub.ironcore.dev/hold" })
	g.Expect(peer.Patch(ctx, held, heldPatch)).To(Succeed())
	interruptAfter("secrets")
	code, out, errOut = offboard("ironcore-1", "--purge", "--wait", "1m", "--peer-kubeconfig", f.Cluster("apinet-1").KubeconfigPath())
	g.Expect(code).To(Equal(1), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(errOut).To(ContainSubstring("interrupted after step secrets"))
	g.Expect(out).To(And(ContainSubstring("marked for offboarding (purge) already: resuming"), ContainSubstring("removed 40 finalizers"),
		ContainSubstring("deleted namespace fleet-ironcore-1 of peer fleet/apinet-1, empty now"), ContainSubstring("secret fleet/ironcore-1-credentials deleted")))
	g.Expect(profile().Annotations).To(HaveKeyWithValue(lifecycle.AnnotationOffboarded, "purge"))

	// 5. The last run has no credentials left and needs none.
	offboardStep = nil
	code, out, errOut = offboard("ironcore-1", "--purge")
	g.Expect(code).To(Equal(0), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(out).To(And(ContainSubstring("an earlier run finished with the cluster's objects"), ContainSubstring("clusterprofile fleet/ironcore-1 deleted")))

	// Nothing left behind.
	g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1"}, &clusterinventoryv1alpha1.ClusterProfile{})).To(Satisfy(apierrors.IsNotFound))
	secrets := &corev1.SecretList{}
	g.Expect(hub.List(ctx, secrets, client.InNamespace("fleet"), client.MatchingLabels{clusterprofiles.LabelSecretProfile: "ironcore-1"})).To(Succeed())
	g.Expect(secrets.Items).To(BeEmpty())
	g.Expect(hubFinalized(ctx, ic)).To(BeZero())
	g.Expect(objects()).To(BeZero())
	ns := &corev1.Namespace{}
	if err := peer.Get(ctx, client.ObjectKey{Name: nsName}, ns); !apierrors.IsNotFound(err) {
		g.Expect(ns.DeletionTimestamp).NotTo(BeNil(), "the member's namespace is deleted (terminating: the fleet runs no namespace controller)")
	}
	code, out, errOut = offboard("apinet-1", "--purge")
	g.Expect(code).To(Equal(0), "stdout: %s\nstderr: %s", out, errOut)
	g.Expect(proc.Exited()).To(BeFalse(), "the hub kept running throughout")
}
