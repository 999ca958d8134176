package main

import (
	"context"
	"encoding/json"
	"maps"
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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// secretReaderModule is Cluster Inventory's secret-reader exec plugin, built
// from the module the hub already depends on (the image ships it as
// /plugins/secretreader).
const secretReaderModule = "sigs.k8s.io/cluster-inventory-api/plugins/secretreader/cmd/plugin"

// ocmManager is Open Cluster Management's name as a cluster manager: its
// profiles' x-k8s.io/cluster-manager label and spec.clusterManager.name,
// and the name of the access provider it offers (its cp-creds plugin).
const ocmManager = "open-cluster-management"

// TestOCMShapedFleetEngagesThroughTheSecretReader is docs/clusterprofiles.md's
// recipe for Open Cluster Management, end to end, with Cluster Inventory's
// real secret-reader plugin standing in for OCM's cp-creds (whose module
// the Go proxy here does not serve). The apinet peer's and the member's
// profiles are written as OCM's ClusterProfile controller writes them:
// OCM's labels (cluster manager, cluster set) and none of the hub's, no
// credential Secret of the hub, and status.accessProviders naming OCM's
// provider with each cluster's server, CA and name. The hub gets that
// provider name in --clusterprofile-provider-file (the plugin reads each
// cluster's token from Secret <namespace>/<cluster name>, key "token") and
// the roles in --pairing-file (the peer by name, the member by OCM's
// labels): both engage, the member's Network is mapped, and the profiles'
// labels stay OCM's.
func TestOCMShapedFleetEngagesThroughTheSecretReader(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 1, 1)

	dir := t.TempDir()
	plugin := filepath.Join(dir, "secretreader")
	build := exec.CommandContext(ctx, "go", "build", "-o", plugin, secretReaderModule)
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "%s", out)

	ocmLabels := map[string]string{clusterinventoryv1alpha1.LabelClusterManagerKey: ocmManager, "cluster.open-cluster-management.io/clusterset": "eu1"}
	for name, role := range map[string]clusterprofiles.Role{"apinet-1": clusterprofiles.RoleAPINet, "ironcore-1": clusterprofiles.RoleIronCore} {
		// The cluster's token, where the plugin looks: fleet/<name>, key token.
		access := lifecycle.ServiceAccountAccess{Namespace: "apinet-hub", Name: "apinet-hub", Role: role}
		token, err := access.Apply(ctx, f.Cluster(name).Client(), "test", time.Hour, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(hub.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name},
			Data: map[string][]byte{"token": []byte(token.Value)}})).To(Succeed())

		// The profile as OCM writes it, its access provider as a status write.
		kc, err := clientcmd.Load(f.Cluster(name).Kubeconfig())
		g.Expect(err).NotTo(HaveOccurred())
		ap, err := lifecycle.AccessProviderFor(kc, "", ocmManager)
		g.Expect(err).NotTo(HaveOccurred())
		cp := &clusterinventoryv1alpha1.ClusterProfile{
			ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name, Labels: maps.Clone(ocmLabels)},
			Spec:       clusterinventoryv1alpha1.ClusterProfileSpec{DisplayName: name, ClusterManager: clusterinventoryv1alpha1.ClusterManager{Name: ocmManager}},
		}
		g.Expect(hub.Create(ctx, cp)).To(Succeed())
		cp.Status.AccessProviders = []clusterinventoryv1alpha1.AccessProvider{lifecycle.WithClusterName(ap, name)}
		g.Expect(hub.Status().Update(ctx, cp)).To(Succeed())
	}

	// The plugin reaches the hub through KUBECONFIG (in a pod: its
	// ServiceAccount) and reads the namespace of its current context.
	pluginKC, err := clientcmd.LoadFromFile(f.Hub().KubeconfigPath())
	g.Expect(err).NotTo(HaveOccurred())
	pluginKC.Contexts[pluginKC.CurrentContext].Namespace = "fleet"
	pluginKubeconfig := filepath.Join(dir, "plugin.kubeconfig")
	g.Expect(clientcmd.WriteToFile(*pluginKC, pluginKubeconfig)).To(Succeed())
	providers, err := json.Marshal(map[string]any{"providers": []any{map[string]any{
		"name": ocmManager,
		"execConfig": map[string]any{
			"apiVersion": "client.authentication.k8s.io/v1", "command": plugin, "provideClusterInfo": true, "interactiveMode": "Never",
			"env": []any{map[string]string{"name": "KUBECONFIG", "value": pluginKubeconfig}},
		},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	providerFile := filepath.Join(dir, "providers.json")
	g.Expect(os.WriteFile(providerFile, providers, 0o600)).To(Succeed())
	pairing := filepath.Join(dir, "pairing.yaml")
	g.Expect(os.WriteFile(pairing, []byte(`apiVersion: apinet-hub.ironcore.dev/v1alpha1
kind: Pairing
rules:
- namespace: fleet
  names: [apinet-1]
  role: apinet
- namespace: fleet
  selector:
    matchLabels:
      x-k8s.io/cluster-manager: open-cluster-management
      cluster.open-cluster-management.io/clusterset: eu1
  role: ironcore
  peer: apinet-1
`), 0o600)).To(Succeed())

	start := time.Now()
	startHub(ctx, t, f, "--clusterprofile-provider-file", providerFile, "--pairing-file", pairing, "--probe-interval", "1s")
	g.Eventually(engagedReason(ctx, hub, "fleet", "apinet-1"), 2*time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	g.Eventually(engagedReason(ctx, hub, "fleet", "ironcore-1"), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
	t.Logf("OCM-shaped peer and member engaged through the secret-reader plugin %s after the hub's start", time.Since(start).Round(time.Millisecond))

	expectNetworkMapped(ctx, t, f.Cluster("ironcore-1"))

	for _, name := range []string{"apinet-1", "ironcore-1"} {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		g.Expect(hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: name}, cp)).To(Succeed())
		g.Expect(cp.Labels).To(Equal(ocmLabels), "the labels of %s stay OCM's", name)
		g.Expect(cp.Status.AccessProviders).To(ConsistOf(HaveField("Name", ocmManager)), name)
	}
	secrets := &corev1.SecretList{}
	g.Expect(hub.List(ctx, secrets, client.InNamespace("fleet"), client.HasLabels{clusterprofiles.LabelSecretProfile})).To(Succeed())
	g.Expect(secrets.Items).To(BeEmpty(), "no credential Secret of the hub: the tokens come through the plugin")
}
