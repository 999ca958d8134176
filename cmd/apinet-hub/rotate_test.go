package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// TestRotate onboards two members and their peer with the hub's own
// ServiceAccounts, runs the hub, and rotates one member's token with the
// hub's stored credentials: the Secret holds a new token bound to a new
// anchor, the hub is Engaged on it, the old token is rejected by the
// cluster, and the other member is not re-engaged. A second rotation with
// the caller's credentials works the same way. onboard run again keeps the
// stored token, or, from another kubeconfig, replaces it and revokes it;
// and it writes nothing, in the hub or a cluster, for credentials that reach
// another cluster than the profile records, over a Secret that is not the
// profile's, or over another manager's profile.
func TestRotate(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 2, 1)
	onboardWithServiceAccounts(ctx, t, f, "ironcore-1", "ironcore-2")
	startHub(ctx, t, f, "--probe-interval", "1s", "--profile-status-interval", "1s")
	for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2"} {
		g.Eventually(engagedReason(ctx, hub, "fleet", name), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged), name)
	}
	engagedSince := func(name string) metav1.Time {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: name}, cp)).To(Succeed())
		return meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged).LastTransitionTime
	}
	other := engagedSince("ironcore-2")
	credentials := func() *corev1.Secret {
		s := &corev1.Secret{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1-credentials"}, s)).To(Succeed())
		return s
	}
	// rejected reports whether the cluster rejects the token of a stored
	// credential kubeconfig.
	rejected := func(kubeconfig []byte) func() bool {
		cfg, err := clusterprofiles.RESTConfigFromSecretKubeconfig(kubeconfig)
		g.Expect(err).NotTo(HaveOccurred())
		c, err := client.New(cfg, client.Options{})
		g.Expect(err).NotTo(HaveOccurred())
		return func() bool {
			return apierrors.IsUnauthorized(c.Get(ctx, client.ObjectKey{Name: "kube-system"}, &corev1.Namespace{}))
		}
	}

	rotate := func(args ...string) (time.Duration, string) {
		before := credentials()
		start := time.Now()
		code, out, errOut := cli(ctx, append([]string{"rotate", "ironcore-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet"}, args...)...)
		took := time.Since(start)
		g.Expect(code).To(Equal(0), "%s %s", out, errOut)
		g.Expect(out).To(And(ContainSubstring("the hub is engaged with the new token"), ContainSubstring("old token revoked (anchor secret "+before.Annotations[lifecycle.AnnotationTokenAnchor])))
		after := credentials()
		g.Expect(after.Data[clusterprofiles.SecretKeyConfig]).NotTo(Equal(before.Data[clusterprofiles.SecretKeyConfig]))
		g.Expect(after.Annotations[lifecycle.AnnotationTokenAnchor]).NotTo(Equal(before.Annotations[lifecycle.AnnotationTokenAnchor]))
		g.Expect(rejected(after.Data[clusterprofiles.SecretKeyConfig])()).To(BeFalse(), "the new token works")
		g.Eventually(rejected(before.Data[clusterprofiles.SecretKeyConfig]), 30*time.Second).Should(BeTrue(), "the old token is revoked")
		g.Expect(engagedReason(ctx, hub, "fleet", "ironcore-1")()).To(Equal(clusterprofiles.ReasonEngaged))
		return took, out
	}
	took, _ := rotate()
	t.Logf("rotation with the hub's stored credentials: %s", took)
	took, _ = rotate("--cluster-kubeconfig", f.Cluster("ironcore-1").KubeconfigPath())
	t.Logf("rotation with the caller's credentials: %s", took)
	g.Expect(engagedSince("ironcore-2")).To(Equal(other), "the other member was not re-engaged")

	// onboard again keeps the stored token that works, so that no second
	// token stays valid beside it (rotate is what replaces one), and
	// applies the access objects again.
	before := credentials()
	code, out, errOut := cli(ctx, "onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", f.Cluster("ironcore-1").KubeconfigPath(),
		"--namespace", "fleet", "--name", "ironcore-1", "--create-service-account", "--role", "ironcore", "--peer", "apinet-1")
	g.Expect(code).To(Equal(0), "%s %s", out, errOut)
	g.Expect(out).To(And(ContainSubstring("clusterrole apinet-hub:ironcore applied"),
		ContainSubstring("token of serviceaccount apinet-hub/apinet-hub kept: the stored one still works (bound to secret "+before.Annotations[lifecycle.AnnotationTokenAnchor])))
	after := credentials()
	g.Expect(after.Data).To(Equal(before.Data))
	g.Expect(after.Annotations[lifecycle.AnnotationTokenAnchor]).To(Equal(before.Annotations[lifecycle.AnnotationTokenAnchor]))
	anchors := &corev1.SecretList{}
	g.Expect(f.Cluster("ironcore-1").Client().List(ctx, anchors, client.InNamespace("apinet-hub"), client.HasLabels{lifecycle.LabelTokenOf})).To(Succeed())
	g.Expect(anchors.Items).To(HaveLen(1), "one token of the hub is valid in the cluster: the stored one")

	// A run from another kubeconfig (its context renamed) cannot keep the
	// stored token: the new one is stored, and the one it replaces revoked.
	kc, err := clientcmd.LoadFromFile(f.Cluster("ironcore-1").KubeconfigPath())
	g.Expect(err).NotTo(HaveOccurred())
	kc.Contexts["renamed"] = kc.Contexts[kc.CurrentContext]
	delete(kc.Contexts, kc.CurrentContext)
	kc.CurrentContext = "renamed"
	renamed := filepath.Join(t.TempDir(), "renamed.kubeconfig")
	g.Expect(clientcmd.WriteToFile(*kc, renamed)).To(Succeed())
	before = credentials()
	code, out, errOut = cli(ctx, "onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", renamed,
		"--namespace", "fleet", "--name", "ironcore-1", "--create-service-account", "--role", "ironcore", "--peer", "apinet-1")
	g.Expect(code).To(Equal(0), "%s %s", out, errOut)
	g.Expect(out).To(ContainSubstring("the token it replaces is revoked (anchor secret " + before.Annotations[lifecycle.AnnotationTokenAnchor] + " deleted)"))
	g.Eventually(rejected(before.Data[clusterprofiles.SecretKeyConfig]), 30*time.Second).Should(BeTrue(), "the replaced token is revoked")
	g.Expect(f.Cluster("ironcore-1").Client().List(ctx, anchors, client.InNamespace("apinet-hub"), client.HasLabels{lifecycle.LabelTokenOf})).To(Succeed())
	g.Expect(anchors.Items).To(HaveLen(1), "one token of the hub is valid in the cluster: the new one")
	g.Eventually(engagedReason(ctx, hub, "fleet", "ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))

	// onboard writes nothing for a profile with credentials that reach
	// another cluster than the one it records, not even in that cluster.
	before = credentials()
	countAnchors := func(name string) int {
		list := &corev1.SecretList{}
		g.Expect(f.Cluster(name).Client().List(ctx, list, client.InNamespace("apinet-hub"), client.HasLabels{lifecycle.LabelTokenOf})).To(Succeed())
		return len(list.Items)
	}
	otherAnchors := countAnchors("ironcore-2")
	for _, extra := range [][]string{nil, {"--create-service-account"}} {
		code, out, errOut = cli(ctx, append([]string{"onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", f.Cluster("ironcore-2").KubeconfigPath(),
			"--namespace", "fleet", "--name", "ironcore-1", "--role", "ironcore", "--peer", "apinet-1"}, extra...)...)
		g.Expect(code).To(Equal(1), "%v: %s %s", extra, out, errOut)
		g.Expect(errOut).To(And(ContainSubstring("the credentials given for ClusterProfile fleet/ironcore-1: IdentityMismatch"), ContainSubstring("onboard writes nothing")), "%v", extra)
		g.Expect(out).NotTo(ContainSubstring("applied in the cluster"), "%v", extra)
	}
	g.Expect(credentials().Data).To(Equal(before.Data))
	g.Expect(countAnchors("ironcore-2")).To(Equal(otherAnchors), "no token was made in the other cluster")

	// Nor over a Secret of the credential Secret's name that is not the
	// profile's, nor over another manager's profile, --skip-checks or not.
	g.Expect(hub.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "db-credentials"},
		StringData: map[string]string{"password": "keep-me"}})).To(Succeed())
	code, _, errOut = cli(ctx, "onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", f.Cluster("ironcore-2").KubeconfigPath(),
		"--namespace", "fleet", "--name", "db", "--role", "ironcore", "--peer", "apinet-1", "--skip-checks")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("Secret fleet/db-credentials exists and is not the credential Secret of ClusterProfile db"))
	code, _, errOut = cli(ctx, "onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", f.Cluster("ironcore-2").KubeconfigPath(),
		"--namespace", "fleet", "--name", "ironcore-1", "--role", "ironcore", "--peer", "apinet-1", "--skip-checks", "--cluster-manager", "ocm")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring(`ClusterProfile fleet/ironcore-1 belongs to cluster manager "apinet-hub-onboard"`))
	g.Expect(credentials().Data).To(Equal(before.Data))

	code, _, errOut = cli(ctx, "rotate", "apinet-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--token-expiration", "1m")
	g.Expect(code).To(Equal(2))
	g.Expect(errOut).To(ContainSubstring("--token-expiration must be at least 10m"))
}
