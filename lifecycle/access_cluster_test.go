package lifecycle_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestAccessLeavesWhatOnboardDidNotMake runs the access objects of onboard
// --create-service-account and their removal against a real kube-apiserver:
// a ServiceAccount onboard did not make is refused (the hub's grants would
// go to whatever uses it, and the removal would delete it); a namespace
// that existed is used as it is, unmarked, and outlives the removal with
// what else it holds; a namespace onboard created goes with the removal.
func TestAccessLeavesWhatOnboardDidNotMake(t *testing.T) {
	ctx, c, _ := startCluster(t)
	var err error

	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tools"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "tools", Name: "builder"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "tools", Name: "keep-me"}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	taken := lifecycle.ServiceAccountAccess{Namespace: "tools", Name: "builder", Role: clusterprofiles.RoleAPINet}
	err = taken.ApplyObjects(ctx, c, "test", nil)
	if err == nil || !strings.Contains(err.Error(), "ServiceAccount tools/builder exists and was not made by onboard") {
		t.Fatalf("an existing ServiceAccount: %v, want it refused", err)
	}
	sa := &corev1.ServiceAccount{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "tools", Name: "builder"}, sa); err != nil || len(sa.Labels) > 0 {
		t.Errorf("the existing ServiceAccount is untouched: %v, labels %v", err, sa.Labels)
	}

	for _, tc := range []struct {
		namespace string
		existed   bool
	}{{"tools", true}, {"apinet-hub", false}} {
		access := lifecycle.ServiceAccountAccess{Namespace: tc.namespace, Name: "apinet-hub", Role: clusterprofiles.RoleAPINet}
		var applied []string
		token, err := access.Apply(ctx, c, "test", time.Hour, func(kind, name string) { applied = append(applied, kind+" "+name) })
		if err != nil {
			t.Fatalf("%s: %v", tc.namespace, err)
		}
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: tc.namespace}, ns); err != nil {
			t.Fatal(err)
		}
		_, marked := ns.Annotations[lifecycle.AnnotationCreatedByOnboard]
		if marked == tc.existed || (len(ns.Labels) > 1) == tc.existed {
			t.Errorf("namespace %s (existed: %v): annotations %v, labels %v", tc.namespace, tc.existed, ns.Annotations, ns.Labels)
		}
		if (applied[0] == "Namespace "+tc.namespace) == tc.existed {
			t.Errorf("namespace %s (existed: %v): applied %v", tc.namespace, tc.existed, applied)
		}

		removed, keptBy, err := access.Remove(ctx, c, token.Anchor)
		if err != nil || len(keptBy) > 0 {
			t.Fatalf("%s: remove: %v, kept by %v", tc.namespace, err, keptBy)
		}
		if !strings.Contains(strings.Join(removed, ", "), "ServiceAccount "+tc.namespace+"/apinet-hub") {
			t.Errorf("%s: removed %v, want the ServiceAccount", tc.namespace, removed)
		}
		err = c.Get(ctx, client.ObjectKey{Name: tc.namespace}, ns)
		gone := apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp != nil)
		if gone == tc.existed {
			t.Errorf("namespace %s (existed: %v): gone or terminating after the removal: %v (%v)", tc.namespace, tc.existed, gone, err)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "tools", Name: "keep-me"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("what else the existing namespace holds stays: %v", err)
	}
}

// TestAccessTokenRolePerServiceAccount: two ServiceAccounts of the hub in
// one namespace (profiles scoped to parts of one cluster, onboarded with
// --service-account-name of their own) may each mint their own next token
// with their own token (apinet-hub rotate with the stored credentials); a
// shared Role named only the last one onboarded. Removing one leaves the
// other's grants, and deletes the shared Role of earlier onboards once no
// binding names it.
func TestAccessTokenRolePerServiceAccount(t *testing.T) {
	ctx, admin, cluster := startCluster(t)
	var err error

	tokens := map[string]*lifecycle.Token{}
	for _, name := range []string{"scope-a", "scope-b"} {
		access := lifecycle.ServiceAccountAccess{Namespace: "apinet-hub", Name: name, Role: clusterprofiles.RoleIronCore}
		if tokens[name], err = access.Apply(ctx, admin, "test", time.Hour, nil); err != nil {
			t.Fatal(err)
		}
	}
	for name, token := range tokens {
		kubeconfig, err := cluster.KubeconfigWith(&clientcmdapi.AuthInfo{Token: token.Value}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		own, err := client.New(cfg, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		access := lifecycle.ServiceAccountAccess{Namespace: "apinet-hub", Name: name, Role: clusterprofiles.RoleIronCore}
		if _, err := access.IssueToken(ctx, own, time.Hour); err != nil {
			t.Errorf("%s mints its own next token with its token: %v", name, err)
		}
	}

	// What an earlier onboard left: the shared Role and a binding of it per
	// ServiceAccount.
	labels := map[string]string{"app.kubernetes.io/managed-by": "apinet-hub-onboard"}
	legacyRole := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-hub", Name: "apinet-hub:token", Labels: labels}}
	if err := admin.Create(ctx, legacyRole); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"scope-a", "scope-b"} {
		if err := admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-hub", Name: "apinet-hub:token:" + name, Labels: labels},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "apinet-hub:token"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "apinet-hub", Name: name}}}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(obj client.Object) bool {
		err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	remove := func(name string) {
		access := lifecycle.ServiceAccountAccess{Namespace: "apinet-hub", Name: name, Role: clusterprofiles.RoleIronCore}
		if _, keptBy, err := access.Remove(ctx, admin, types.NamespacedName{}); err != nil || len(keptBy) > 0 {
			t.Fatalf("remove %s: %v, kept by %v", name, err, keptBy)
		}
	}
	for name, token := range tokens {
		if err := lifecycle.RevokeToken(ctx, admin, token.Anchor); err != nil {
			t.Fatal(err)
		}
		// The tokens minted above with each ServiceAccount's own token.
		if err := admin.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace("apinet-hub"), client.MatchingLabels{lifecycle.LabelTokenOf: name}); err != nil {
			t.Fatal(err)
		}
	}
	remove("scope-a")
	rb := func(name string) client.Object {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-hub", Name: name}}
	}
	role := func(name string) client.Object {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-hub", Name: name}}
	}
	if exists(rb("apinet-hub:rotate:scope-a")) || exists(role("apinet-hub:rotate:scope-a")) || exists(rb("apinet-hub:token:scope-a")) {
		t.Error("scope-a's token Role and bindings, its earlier one included, are removed")
	}
	if !exists(rb("apinet-hub:rotate:scope-b")) || !exists(role("apinet-hub:rotate:scope-b")) || !exists(role("apinet-hub:token")) {
		t.Error("scope-b's grants stay, and the shared Role its earlier binding names")
	}
	remove("scope-b")
	if exists(role("apinet-hub:token")) || exists(rb("apinet-hub:token:scope-b")) {
		t.Error("the shared Role of earlier onboards goes with its last binding")
	}
}

// startCluster starts a real kube-apiserver (a fleet of its hub alone) for
// t, and returns a context bounded for t, its admin client and the cluster.
func startCluster(t *testing.T) (context.Context, client.Client, *fleet.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f, err := fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Stop() })
	return ctx, f.Hub().Client(), f.Hub()
}
