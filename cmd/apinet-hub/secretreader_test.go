package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// secretReaderModule is Cluster Inventory's secret-reader exec plugin, built
// from the module the hub already depends on (the image ships it as
// /plugins/secretreader).
const secretReaderModule = "sigs.k8s.io/cluster-inventory-api/plugins/secretreader/cmd/plugin"

// TestSecretReaderPluginEngagesAMember engages a member that the hub
// reaches only through an access provider: Cluster Inventory's real
// secret-reader plugin, which reads the token from Secret
// <namespace>/<cluster name> (key "token") on the hub, the cluster's name
// coming from the profile's status.accessProviders (WithClusterName).
func TestSecretReaderPluginEngagesAMember(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)
	onboardWithServiceAccounts(ctx, t, f) // the peer, with a Secret as usual

	dir := t.TempDir()
	plugin := filepath.Join(dir, "secretreader")
	build := exec.CommandContext(ctx, "go", "build", "-o", plugin, secretReaderModule)
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "%s", out)

	// The member's token, where the plugin looks: fleet/ironcore-1, key token.
	access := lifecycle.ServiceAccountAccess{Namespace: "apinet-hub", Name: "apinet-hub", Role: clusterprofiles.RoleIronCore}
	token, err := access.Apply(ctx, f.Cluster("ironcore-1").Client(), "test", time.Hour, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(hub.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ironcore-1"},
		Data: map[string][]byte{"token": []byte(token.Value)}})).To(Succeed())

	// The plugin reaches the hub through KUBECONFIG (in a pod: its
	// ServiceAccount) and reads the namespace of its current context.
	pluginKC, err := clientcmd.LoadFromFile(f.Hub().KubeconfigPath())
	g.Expect(err).NotTo(HaveOccurred())
	pluginKC.Contexts[pluginKC.CurrentContext].Namespace = "fleet"
	pluginKubeconfig := filepath.Join(dir, "plugin.kubeconfig")
	g.Expect(clientcmd.WriteToFile(*pluginKC, pluginKubeconfig)).To(Succeed())
	providers, err := json.Marshal(map[string]any{"providers": []any{map[string]any{
		"name": "secretreader",
		"execConfig": map[string]any{
			"apiVersion": "client.authentication.k8s.io/v1", "command": plugin, "provideClusterInfo": true, "interactiveMode": "Never",
			"env": []any{map[string]string{"name": "KUBECONFIG", "value": pluginKubeconfig}},
		},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	providerFile := filepath.Join(dir, "providers.json")
	g.Expect(os.WriteFile(providerFile, providers, 0o600)).To(Succeed())

	// The profile names the provider and, in its cluster's exec extension,
	// the cluster name the plugin reads; no credential Secret of the hub.
	memberKC, err := clientcmd.Load(f.Cluster("ironcore-1").Kubeconfig())
	g.Expect(err).NotTo(HaveOccurred())
	ap, err := lifecycle.AccessProviderFor(memberKC, "", "secretreader")
	g.Expect(err).NotTo(HaveOccurred())
	o := lifecycle.Onboarding{Namespace: "fleet", Name: "ironcore-1", ClusterManager: "test",
		Labels: lifecycle.RoleLabels(clusterprofiles.RoleIronCore, "apinet-1"), AccessProviders: []clusterinventoryv1alpha1.AccessProvider{lifecycle.WithClusterName(ap, "ironcore-1")}}
	g.Expect(o.Validate()).To(Succeed())
	_, err = o.Apply(ctx, hub, "test", true)
	g.Expect(err).NotTo(HaveOccurred())

	start := time.Now()
	startHub(ctx, t, f, "--clusterprofile-provider-file", providerFile, "--probe-interval", "1s")
	g.Eventually(engagedReason(ctx, hub, "fleet", "ironcore-1"), 2*time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	t.Logf("engaged through the secret-reader plugin %s after the hub's start", time.Since(start).Round(time.Millisecond))
}
