package main

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// TestOffboardRemovesAccess offboards a member onboarded with
// --create-service-account with --purge (--remove-access by default) and
// the caller's credentials of it, while a sibling profile of the same
// cluster holds another token of the same ServiceAccount: a run interrupted
// right after the access step has revoked the member's token only, and the
// ServiceAccount and its grants stay for the sibling; once the sibling's
// token is gone, the run resumed removes everything onboard created in the
// cluster (the revoked token is no obstacle). The peer, offboarded without the caller's credentials, gets
// its token revoked and is told what stays; resumed after that step, the
// run tells the revoked token apart from a failure and finishes.
func TestOffboardRemovesAccess(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)
	onboardWithServiceAccounts(ctx, t, f, "ironcore-1")
	startHub(ctx, t, f, "--probe-interval", "1s")
	for _, name := range []string{"apinet-1", "ironcore-1"} {
		g.Eventually(engagedReason(ctx, hub, "fleet", name), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged), name)
	}
	stored := func(name string) client.Client {
		s := &corev1.Secret{}
		g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: name + "-credentials"}, s)).To(Succeed())
		cfg, err := clusterprofiles.RESTConfigFromSecretKubeconfig(s.Data[clusterprofiles.SecretKeyConfig])
		g.Expect(err).NotTo(HaveOccurred())
		c, err := client.New(cfg, client.Options{})
		g.Expect(err).NotTo(HaveOccurred())
		return c
	}
	revoked := func(c client.Client) func() bool {
		return func() bool {
			return apierrors.IsUnauthorized(c.Get(ctx, client.ObjectKey{Name: "kube-system"}, &corev1.Namespace{}))
		}
	}
	memberToken, peerToken := stored("ironcore-1"), stored("apinet-1")
	member := f.Cluster("ironcore-1").Client()

	// A sibling profile of the same cluster (a scoped profile) holds a token
	// of the same ServiceAccount, anchored beside the member's.
	access := lifecycle.ServiceAccountAccess{Namespace: "apinet-hub", Name: "apinet-hub", Role: clusterprofiles.RoleIronCore}
	sibling, err := access.IssueToken(ctx, member, time.Hour)
	g.Expect(err).NotTo(HaveOccurred())
	siblingKubeconfig, err := f.Cluster("ironcore-1").KubeconfigWith(&clientcmdapi.AuthInfo{Token: sibling.Value}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	siblingCfg, err := clientcmd.RESTConfigFromKubeConfig(siblingKubeconfig)
	g.Expect(err).NotTo(HaveOccurred())
	siblingToken, err := client.New(siblingCfg, client.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	credentials := &corev1.Secret{}
	g.Expect(hub.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ironcore-1-credentials"}, credentials)).To(Succeed())
	own := credentials.Annotations[lifecycle.AnnotationTokenAnchor]

	offboardStep = func(s string) error {
		if s == "access" {
			return errors.New("stop")
		}
		return nil
	}
	code, out, errOut := cli(ctx, "offboard", "ironcore-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--purge",
		"--cluster-kubeconfig", f.Cluster("ironcore-1").KubeconfigPath())
	offboardStep = nil
	g.Expect(code).To(Equal(1), out)
	g.Expect(errOut).To(ContainSubstring("interrupted after step access"))
	g.Expect(out).To(And(ContainSubstring("removed from the cluster: token anchor "+own+"\n"),
		ContainSubstring("ServiceAccount apinet-hub/apinet-hub, its bindings and roles stay in the cluster: other tokens of it are anchored there (secret "+sibling.Anchor.String()+")")))
	g.Eventually(revoked(memberToken), 30*time.Second).Should(BeTrue(), "the hub's token of the member is revoked")
	g.Consistently(revoked(siblingToken), 2*time.Second).Should(BeFalse(), "the sibling's token of the same ServiceAccount is not")
	g.Expect(member.Get(ctx, client.ObjectKey{Namespace: "apinet-hub", Name: "apinet-hub"}, &corev1.ServiceAccount{})).To(Succeed(), "the ServiceAccount stays for the sibling")

	// The sibling is offboarded (its anchor goes): the member's offboard,
	// resumed, removes everything onboard created.
	g.Expect(lifecycle.RevokeToken(ctx, member, sibling.Anchor)).To(Succeed())
	code, out, errOut = cli(ctx, "offboard", "ironcore-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--purge",
		"--cluster-kubeconfig", f.Cluster("ironcore-1").KubeconfigPath())
	g.Expect(code).To(Equal(0), "%s %s", out, errOut)
	g.Expect(out).To(And(MatchRegexp(`removed from the cluster: .*ServiceAccount apinet-hub/apinet-hub`), ContainSubstring("clusterprofile fleet/ironcore-1 deleted")))
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metaOf("apinet-hub", "apinet-hub")},
		&rbacv1.ClusterRole{ObjectMeta: metaOf("", "apinet-hub:ironcore")},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metaOf("", "apinet-hub:ironcore:apinet-hub:apinet-hub")},
		&rbacv1.Role{ObjectMeta: metaOf("apinet-hub", "apinet-hub:rotate:apinet-hub")},
		&rbacv1.RoleBinding{ObjectMeta: metaOf("apinet-hub", "apinet-hub:rotate:apinet-hub")},
	} {
		err := member.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T %s: %v", obj, obj.GetName(), err)
	}
	anchors := &corev1.SecretList{}
	g.Expect(member.List(ctx, anchors, client.HasLabels{lifecycle.LabelTokenOf})).To(Succeed())
	g.Expect(anchors.Items).To(BeEmpty())
	ns := &corev1.Namespace{}
	if err := member.Get(ctx, client.ObjectKey{Name: "apinet-hub"}, ns); err == nil {
		g.Expect(ns.DeletionTimestamp).NotTo(BeNil(), "onboard's namespace is being deleted (no namespace controller in the test fleet)")
	}

	offboardStep = func(s string) error {
		if s == "access" {
			return errors.New("stop")
		}
		return nil
	}
	code, out, errOut = cli(ctx, "offboard", "apinet-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--purge")
	offboardStep = nil
	g.Expect(code).To(Equal(1), "%s %s", out, errOut)
	g.Expect(out).To(And(ContainSubstring("the hub's token of the cluster is revoked"), ContainSubstring("ServiceAccount apinet-hub/apinet-hub, its bindings and roles stay")))
	g.Eventually(revoked(peerToken), 30*time.Second).Should(BeTrue())
	// Resumed: the stored token, revoked by the first run, is told apart
	// from a failure (the cluster answers 401) and the run finishes.
	code, out, errOut = cli(ctx, "offboard", "apinet-1", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "--purge")
	g.Expect(code).To(Equal(0), "%s %s", out, errOut)
	g.Expect(out).To(And(ContainSubstring("the hub's token of the cluster is rejected already (revoked)"), ContainSubstring("clusterprofile fleet/apinet-1 deleted")))
	g.Expect(f.Cluster("apinet-1").Client().Get(ctx, client.ObjectKey{Namespace: "apinet-hub", Name: "apinet-hub"}, &corev1.ServiceAccount{})).To(Succeed(), "without the caller's credentials the ServiceAccount stays")
}

func metaOf(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}
