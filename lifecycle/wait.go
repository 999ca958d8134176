package lifecycle

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WaitForProfile watches one ClusterProfile until done reports true for
// it, done errs, the profile is deleted, or ctx ends (client-go's
// UntilWithSync: a list, then a watch that survives reconnects).
func WaitForProfile(ctx context.Context, hub client.WithWatch, key types.NamespacedName, done func(*clusterinventoryv1alpha1.ClusterProfile) (bool, error)) error {
	selected := func(opts metav1.ListOptions) *client.ListOptions {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", key.Name).String()
		return &client.ListOptions{Namespace: key.Namespace, Raw: &opts}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &clusterinventoryv1alpha1.ClusterProfileList{}
			return list, hub.List(ctx, list, selected(opts))
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return hub.Watch(ctx, &clusterinventoryv1alpha1.ClusterProfileList{}, selected(opts))
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &clusterinventoryv1alpha1.ClusterProfile{}, nil, func(ev watch.Event) (bool, error) {
		cp, ok := ev.Object.(*clusterinventoryv1alpha1.ClusterProfile)
		switch {
		case !ok:
			return false, nil
		case ev.Type == watch.Deleted:
			return false, fmt.Errorf("clusterprofile %s was deleted while waiting", key)
		}
		return done(cp)
	})
	return err
}
