package fleet

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// FieldManager is the field manager, and the spec.clusterManager.name, of
// what Onboard writes on the hub.
const FieldManager = "apinet-hub-fleet"

// Onboard creates or updates, on the hub, the ClusterProfile <namespace>/<name>
// with the given labels and annotations and, if kubeconfig is not nil, its
// credential Secret "<name>-credentials" (the Cluster Inventory Secret
// convention for the default consumer), as a cluster manager would. It
// writes the objects `apinet-hub onboard` writes (lifecycle.Onboarding),
// by server-side apply with force, but validates nothing: tests onboard
// broken profiles on purpose.
func Onboard(ctx context.Context, hub client.Client, namespace, name string, labels, annotations map[string]string, kubeconfig []byte) error {
	o := lifecycle.Onboarding{
		Namespace: namespace, Name: name, ClusterManager: FieldManager,
		Labels: labels, Annotations: annotations, Kubeconfig: kubeconfig,
	}
	_, err := o.Apply(ctx, hub, FieldManager, true)
	return err
}

// IronCoreLabels are the labels of an IronCore member's ClusterProfile
// paired with the apinet profile peer.
func IronCoreLabels(peer string) map[string]string {
	return lifecycle.RoleLabels(clusterprofiles.RoleIronCore, peer)
}

// APINetLabels are the labels of an apinet peer's ClusterProfile.
var APINetLabels = lifecycle.RoleLabels(clusterprofiles.RoleAPINet, "")
