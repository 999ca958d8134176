package reconcilers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Field managers of apinetlet. The hub applies under the same names, so it
// can take over from a running apinetlet without field conflicts.
const (
	FieldManager                  = "ironcore.dev/apinetlet"
	NetworkPolicyRuleFieldManager = "networkpolicies.networking.ironcore.dev"
)

// Apply server-side-applies the desired state of an apinet object with
// force, and reads the server's object back into obj. Only what obj sets is
// applied: metadata name, namespace, labels, annotations, owner references
// and the spec (or top-level fields); never status, and never a field left
// empty (nulls are dropped, so a registry-owned field such as a Network's
// spec.id or an IP's spec.ip is never claimed).
func Apply(ctx context.Context, c client.Client, obj client.Object, fieldManager string) error {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return err
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var content map[string]any
	if err := json.Unmarshal(raw, &content); err != nil {
		return err
	}
	delete(content, "status")
	metadata, _ := content["metadata"].(map[string]any)
	kept := map[string]any{}
	for _, k := range []string{"name", "namespace", "labels", "annotations", "ownerReferences"} {
		if v, ok := metadata[k]; ok {
			kept[k] = v
		}
	}
	content["metadata"] = kept
	u := &unstructured.Unstructured{Object: pruneNulls(content).(map[string]any)}
	u.SetGroupVersionKind(gvk)
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj)
}

func pruneNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = pruneNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = pruneNulls(e)
		}
	}
	return v
}

// PatchStatus applies mutate to obj and, only if that changed anything,
// sends the difference as a merge patch of the status subresource.
func PatchStatus[T client.Object](ctx context.Context, c client.Client, obj T, mutate func(T)) error {
	base := obj.DeepCopyObject().(T)
	mutate(obj)
	if sameJSON(base, obj) {
		return nil
	}
	return c.Status().Patch(ctx, obj, client.MergeFrom(base))
}

// Patch applies mutate to obj and, only if that changed anything, sends the
// difference as a merge patch.
func Patch[T client.Object](ctx context.Context, c client.Client, obj T, mutate func(T)) error {
	base := obj.DeepCopyObject().(T)
	mutate(obj)
	if sameJSON(base, obj) {
		return nil
	}
	return c.Patch(ctx, obj, client.MergeFrom(base))
}

// goneDeletes is the gone path of kinds whose apinet objects go with them.
func goneDeletes(o Origin, newLists ...func() client.ObjectList) func(context.Context, *clusterprofiles.Member, client.ObjectKey) error {
	return func(ctx context.Context, m *clusterprofiles.Member, key client.ObjectKey) error {
		lists := make([]client.ObjectList, 0, len(newLists))
		for _, newList := range newLists {
			lists = append(lists, newList())
		}
		return DeleteDangling(ctx, m, o, key, lists...)
	}
}

// sameJSON compares what would go over the wire. (equality.Semantic cannot
// compare the netip-based IP types of ironcore and apinet.)
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// EnsureFinalizer adds the finalizer to an IronCore object if missing.
func EnsureFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	return Patch(ctx, c, obj, func(o client.Object) { controllerutil.AddFinalizer(o, finalizer) })
}

// RemoveFinalizer removes the finalizer from an IronCore object if present.
func RemoveFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	return client.IgnoreNotFound(Patch(ctx, c, obj, func(o client.Object) { controllerutil.RemoveFinalizer(o, finalizer) }))
}

// DeleteAndCheckGone deletes an apinet object and reports whether it is
// gone: the caller holds the IronCore object's finalizer until it is.
func DeleteAndCheckGone(ctx context.Context, c client.Client, obj client.Object) (bool, error) {
	if err := c.Delete(ctx, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
	return false, nil
}

// DeleteDangling deletes the apinet objects in the member's namespace that
// stem from the IronCore object key, which no longer exists, for each
// apinet kind given as an empty list (children first). Objects labelled for
// another member are never touched.
func DeleteDangling(ctx context.Context, m *clusterprofiles.Member, o Origin, key client.ObjectKey, lists ...client.ObjectList) error {
	for _, list := range lists {
		if err := deleteDangling(ctx, m, list, o, key); err != nil {
			return err
		}
	}
	return nil
}

func deleteDangling(ctx context.Context, m *clusterprofiles.Member, list client.ObjectList, o Origin, key client.ObjectKey) error {
	peer := m.Peer.GetClient()
	if err := peer.List(ctx, list, client.InNamespace(m.Peer.Namespace), client.MatchingLabels{o.NamespaceLabel(): key.Namespace}); err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	for _, item := range items {
		obj, ok := item.(client.Object)
		if !ok || !BelongsTo(m, obj) {
			continue
		}
		if origin, ok := o.Of(obj); !ok || origin != key {
			continue
		}
		if err := peer.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete dangling %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}
