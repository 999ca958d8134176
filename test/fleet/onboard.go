package fleet

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Onboard creates or updates, on the hub, the ClusterProfile <namespace>/<name>
// with the given labels and annotations and, if kubeconfig is not nil, its
// credential Secret "<name>-credentials" (the Cluster Inventory Secret
// convention for the default consumer), as a cluster manager would.
func Onboard(ctx context.Context, hub client.Client, namespace, name string, labels, annotations map[string]string, kubeconfig []byte) error {
	if kubeconfig != nil {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-credentials"}}
		if _, err := controllerutil.CreateOrUpdate(ctx, hub, secret, func() error {
			secret.Labels = map[string]string{
				clusterprofiles.LabelSecretConsumer: clusterprofiles.DefaultConsumer,
				clusterprofiles.LabelSecretProfile:  name,
			}
			secret.Data = map[string][]byte{clusterprofiles.SecretKeyConfig: kubeconfig}
			return nil
		}); err != nil {
			return err
		}
	}
	cp := &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	_, err := controllerutil.CreateOrUpdate(ctx, hub, cp, func() error {
		cp.Labels, cp.Annotations = labels, annotations
		cp.Spec.ClusterManager.Name = "apinet-hub-fleet"
		return nil
	})
	return err
}

// IronCoreLabels are the labels of an IronCore member's ClusterProfile
// paired with the apinet profile peer.
func IronCoreLabels(peer string) map[string]string {
	return map[string]string{clusterprofiles.LabelRole: string(clusterprofiles.RoleIronCore), clusterprofiles.LabelPeer: peer}
}

// APINetLabels are the labels of an apinet peer's ClusterProfile.
var APINetLabels = map[string]string{clusterprofiles.LabelRole: string(clusterprofiles.RoleAPINet)}
