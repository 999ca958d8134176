package lifecycle

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Export is the fleet file of the profiles in namespace that the hub
// handles (label clusterprofiles.LabelRole), read from the hub: the
// profiles, and of the credential Secrets their metadata only, to tell
// which clusters hold a token onboard made (createServiceAccount). If the
// Secrets cannot be listed, the fleet leaves createServiceAccount out and
// warning says why.
func Export(ctx context.Context, hub client.Reader, namespace string) (fleet *Fleet, warning string, err error) {
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	if err := hub.List(ctx, list, client.InNamespace(namespace), client.HasLabels{clusterprofiles.LabelRole}); err != nil {
		return nil, "", fmt.Errorf("list ClusterProfiles in %s: %w", namespace, err)
	}
	secrets := &metav1.PartialObjectMetadataList{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := hub.List(ctx, secrets, client.InNamespace(namespace), client.HasLabels{clusterprofiles.LabelSecretProfile}); err != nil {
		warning = fmt.Sprintf("cannot list the credential Secrets' metadata (%v); createServiceAccount is left out", err)
		secrets.Items = nil
	}
	return ExportFleet(namespace, list.Items, ServiceAccountProfiles(secrets.Items)), warning, nil
}

// ServiceAccountProfiles tells, by profile name, which of the given
// credential Secrets hold a token onboard made (annotation
// AnnotationServiceAccount).
func ServiceAccountProfiles(secrets []metav1.PartialObjectMetadata) map[string]bool {
	serviceAccount := map[string]bool{}
	for _, s := range secrets {
		if s.Annotations[AnnotationServiceAccount] != "" {
			serviceAccount[s.Labels[clusterprofiles.LabelSecretProfile]] = true
		}
	}
	return serviceAccount
}
