package reconcilers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
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

// applyContent is what an apply sends for obj: metadata name, namespace,
// labels, annotations, owner references and the spec (or top-level fields);
// never status, and never a field left empty (nulls are dropped, so a
// registry-owned field such as a Network's spec.id or an IP's spec.ip is
// never claimed).
func applyContent(c client.Client, obj client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var content map[string]any
	if err := json.Unmarshal(raw, &content); err != nil {
		return nil, err
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
	return u, nil
}

// apply server-side-applies content (the JSON of applyContent) to obj with
// force; the server's answer is decoded straight into obj (no round trip
// through unstructured objects: about a fifth of an apply's CPU in the
// hub).
func apply(ctx context.Context, c client.Client, kind string, content []byte, obj client.Object, fieldManager string) error {
	if err := c.Patch(ctx, obj, client.RawPatch(types.ApplyPatchType, content), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// maxAppliedPerMember bounds a member's applied memo (a few hundred bytes
// an entry: at most about 1 MiB a member). A member's memo that is full is
// swept of objects that are gone; only if its live objects alone fill it
// does it start afresh (each of its objects then costs one apply more). A
// member with more objects than that costs itself one apply per
// reconcile, never another member.
const maxAppliedPerMember = 1 << 12

// appliedMemo remembers, for every apinet object the hub applied, a digest of
// the applied content and the resourceVersion the server answered with. An
// object is reconciled several times on its way to being mapped (the hub's
// own finalizer, providerID and status patches and the apinet object's
// events each bring it back); an apply whose content is unchanged while the
// peer's cache still shows the resourceVersion of the last apply would
// change nothing, so it is skipped and obj is read from the cache. Any write
// to the object by anyone (drift, status, deletion) changes its
// resourceVersion, so the next reconcile applies again. The memo lives in
// memory only, one per member engagement (Member.Local): a restarted hub,
// or a member engaged again, applies everything once.
type appliedMemo struct {
	// limit of entries per member.
	limit int
}

// memberMemo is one member's part of the memo.
type memberMemo struct {
	mu      sync.Mutex
	entries map[appliedKey]appliedEntry
}

type appliedKey struct {
	gvk schema.GroupVersionKind
	key types.NamespacedName
}

type appliedEntry struct {
	digest          [sha256.Size]byte
	resourceVersion string
}

func newAppliedMemo(limit int) *appliedMemo {
	return &appliedMemo{limit: limit}
}

// of is the member's memo.
func (a *appliedMemo) of(m *clusterprofiles.Member) *memberMemo {
	return m.Local(a, func() any { return &memberMemo{entries: map[appliedKey]appliedEntry{}} }).(*memberMemo)
}

// apply server-side-applies obj to the member's peer (applyContent, apply),
// unless it would change nothing. The peer cache it reads holds every kind the
// reconcilers apply (each is watched there), so the check starts no informer.
func (a *appliedMemo) apply(ctx context.Context, m *clusterprofiles.Member, obj client.Object, fieldManager string) error {
	c := m.Peer.GetClient()
	u, err := applyContent(c, obj)
	if err != nil {
		return err
	}
	content, err := json.Marshal(u.Object) // map keys are sorted: a stable digest
	if err != nil {
		return err
	}
	digest := sha256.Sum256(append(content, fieldManager...))
	key := appliedKey{gvk: u.GroupVersionKind(), key: client.ObjectKeyFromObject(obj)}
	mm := a.of(m)

	mm.mu.Lock()
	last, known := mm.entries[key]
	mm.mu.Unlock()
	if known && last.digest == digest {
		cached := obj.DeepCopyObject().(client.Object)
		err := c.Get(ctx, key.key, cached)
		switch {
		case err == nil && cached.GetResourceVersion() == last.resourceVersion:
			reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(cached).Elem())
			return nil
		case apierrors.IsNotFound(err):
			mm.forget(key)
		}
	}
	if err := apply(ctx, c, u.GetKind(), content, obj, fieldManager); err != nil {
		mm.forget(key)
		return err
	}
	if mm.full(key, a.limit) {
		mm.sweep(ctx, m)
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if _, known := mm.entries[key]; !known && len(mm.entries) >= a.limit {
		clear(mm.entries)
	}
	mm.entries[key] = appliedEntry{digest: digest, resourceVersion: obj.GetResourceVersion()}
	return nil
}

// full reports whether key is new and the memo has no room for it.
func (mm *memberMemo) full(key appliedKey, limit int) bool {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	_, known := mm.entries[key]
	return !known && len(mm.entries) >= limit
}

// sweep drops the entries of objects the member's peer cache no longer
// holds. The cache is read without holding the memo's lock.
func (mm *memberMemo) sweep(ctx context.Context, m *clusterprofiles.Member) {
	mm.mu.Lock()
	keys := slices.Collect(maps.Keys(mm.entries))
	mm.mu.Unlock()
	c := m.Peer.GetClient()
	var gone []appliedKey
	for _, k := range keys {
		obj, err := c.Scheme().New(k.gvk)
		if err != nil {
			gone = append(gone, k)
			continue
		}
		if err := c.Get(ctx, k.key, obj.(client.Object)); apierrors.IsNotFound(err) {
			gone = append(gone, k)
		}
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	for _, k := range gone {
		delete(mm.entries, k)
	}
}

func (mm *memberMemo) forget(key appliedKey) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	delete(mm.entries, key)
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

// goneDeletes is the gone path of kinds whose apinet objects go with them:
// it deletes the dangling objects (danglingOf, children first), but only
// once the gate lets it (goneGate), and asks the gate only if there are any.
func goneDeletes(o Origin, newLists ...func() client.ObjectList) func(context.Context, *clusterprofiles.Member, client.ObjectKey, goneGate) error {
	return func(ctx context.Context, m *clusterprofiles.Member, key client.ObjectKey, gate goneGate) error {
		var dangling []client.Object
		for _, newList := range newLists {
			objs, err := danglingOf(ctx, m, newList(), o, key)
			if err != nil {
				return err
			}
			dangling = append(dangling, objs...)
		}
		if len(dangling) == 0 {
			return nil
		}
		if err := gate(ctx); err != nil {
			return err
		}
		return deleteObjects(ctx, m.Peer.GetClient(), dangling)
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

// danglingOf lists, into list, the apinet objects in the member's namespace
// that the member owns and that stem from the IronCore object key, except
// those already being deleted.
func danglingOf(ctx context.Context, m *clusterprofiles.Member, list client.ObjectList, o Origin, key client.ObjectKey) ([]client.Object, error) {
	if err := m.Peer.GetClient().List(ctx, list, client.InNamespace(m.Peer.Namespace), client.MatchingLabels{o.NamespaceLabel(): key.Namespace}); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var out []client.Object
	for _, item := range items {
		obj, ok := item.(client.Object)
		if !ok || !BelongsTo(m, obj) || !obj.GetDeletionTimestamp().IsZero() {
			continue
		}
		if origin, ok := o.Of(obj); !ok || origin != key {
			continue
		}
		out = append(out, obj)
	}
	return out, nil
}

// deleteObjects deletes objs from the peer, in order.
func deleteObjects(ctx context.Context, peer client.Client, objs []client.Object) error {
	for _, obj := range objs {
		if err := peer.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete dangling %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}
