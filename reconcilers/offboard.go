package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// finalizedKinds are the IronCore kinds the hub puts a finalizer on, with
// that finalizer (apinetlet's names: a member handed back to apinetlet
// keeps working with the same ones).
var finalizedKinds = []struct {
	finalizer string
	newList   func() client.ObjectList
}{
	{FinalizerNetworkPolicy, func() client.ObjectList { return &networkingv1alpha1.NetworkPolicyList{} }},
	{FinalizerLoadBalancer, func() client.ObjectList { return &networkingv1alpha1.LoadBalancerList{} }},
	{FinalizerNATGateway, func() client.ObjectList { return &networkingv1alpha1.NATGatewayList{} }},
	{FinalizerNetworkInterface, func() client.ObjectList { return &networkingv1alpha1.NetworkInterfaceList{} }},
	{FinalizerVirtualIP, func() client.ObjectList { return &networkingv1alpha1.VirtualIPList{} }},
	{FinalizerNetwork, func() client.ObjectList { return &networkingv1alpha1.NetworkList{} }},
}

// writtenKinds are the apinet kinds the hub creates for a member, children
// before the objects they hang on (apinet clusters run no garbage
// collector for them). apinet NetworkInterfaces are not among them: the
// machine provider creates those, the hub only claims them.
var writtenKinds = []func() client.ObjectList{
	func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyRuleList{} },
	func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyList{} },
	func() client.ObjectList { return &apinetv1alpha1.LoadBalancerRoutingList{} },
	func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} },
	func() client.ObjectList { return &apinetv1alpha1.NATGatewayAutoscalerList{} },
	func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} },
	func() client.ObjectList { return &apinetv1alpha1.IPList{} },
	func() client.ObjectList { return &apinetv1alpha1.NetworkList{} },
}

// Offboarding takes one member out of the hub's hands (`apinet-hub
// offboard`). The caller has proved that Member is the member's IronCore
// cluster, Peer its apinet cluster and Namespace the member's apinet
// namespace there (owner records), and that the hub has stopped
// reconciling the member (clusterprofiles.ReasonOffboarding).
type Offboarding struct {
	Member, Peer client.Client
	// Namespace is the member's apinet namespace in the peer.
	Namespace string
	// Label is the member's cluster label value
	// (clusterprofiles.LabelValue of its cluster name).
	Label string
	// TakenOver: the namespace was taken over from apinetlet, so its
	// unlabelled apinet objects are the member's too (Member.AdoptsUnlabelled).
	TakenOver bool
}

// Inventory is what an Offboarding would change.
type Inventory struct {
	// Finalized counts the member's IronCore objects that carry a hub
	// finalizer, by kind.
	Finalized map[string]int
	// Written counts the member's apinet objects the hub wrote, by kind;
	// Claimed the apinet NetworkInterfaces it claimed.
	Written map[string]int
	Claimed int
}

// Inventory lists what Release and Purge would change, changing nothing.
func (o Offboarding) Inventory(ctx context.Context) (Inventory, error) {
	inv := Inventory{Finalized: map[string]int{}, Written: map[string]int{}}
	for _, k := range finalizedKinds {
		objs, err := o.finalized(ctx, k.newList(), k.finalizer)
		if err != nil {
			return inv, err
		}
		if len(objs) > 0 {
			inv.Finalized[kindOf(o.Member, k.newList())] = len(objs)
		}
	}
	for _, newList := range writtenKinds {
		objs, err := o.written(ctx, newList())
		if err != nil {
			return inv, err
		}
		if len(objs) > 0 {
			inv.Written[kindOf(o.Peer, newList())] = len(objs)
		}
	}
	nics, err := o.claimedNICs(ctx)
	inv.Claimed = len(nics)
	return inv, err
}

// Release removes the hub's finalizers from the member's IronCore objects
// and leaves every apinet object in place: the hand-back to apinetlet,
// which adopts them by name and origin labels. It repeats until a List
// finds no finalizer left (a reconcile that was in flight when the hub
// stopped may add one back), and returns how many it removed.
func (o Offboarding) Release(ctx context.Context) (int, error) {
	removed := 0
	for range 5 {
		n, err := o.removeFinalizers(ctx)
		removed += n
		if err != nil || n == 0 {
			return removed, err
		}
	}
	return removed, fmt.Errorf("finalizers of the hub keep coming back on the member's objects: is the hub (or an apinetlet) still reconciling the member?")
}

// HandbackBlockers lists, one line each, the member's apinet objects that
// the apinetlet of layout (the member's hand-back layout,
// clusterprofiles.Settings.Layout) could not adopt after a Release: today
// apinet LoadBalancers whose immutable selector is not the one that
// apinetlet applies (each of its reconciles of them would fail, so routing
// and port changes would never reach apinet). Empty: the hand-back is
// safe as far as the hub can tell.
func (o Offboarding) HandbackBlockers(ctx context.Context, layout clusterprofiles.HandbackLayout) ([]string, error) {
	objs, err := o.written(ctx, &apinetv1alpha1.LoadBalancerList{})
	if err != nil {
		return nil, err
	}
	lbs := make([]*apinetv1alpha1.LoadBalancer, 0, len(objs))
	for _, obj := range objs {
		lbs = append(lbs, obj.(*apinetv1alpha1.LoadBalancer))
	}
	return loadBalancerHandbackBlockers(layout, lbs), nil
}

// loadBalancerHandbackBlockers lists the apinet LoadBalancers that the
// apinetlet of layout could not adopt, sorted: the selector it applies (the
// origin labels of its layout, from the object's own origin) differs from
// the one in force, which is immutable; or it cannot tell which IronCore
// LoadBalancer the object stems from, or (v0.2.4) cannot write that name as
// a label.
func loadBalancerHandbackBlockers(layout clusterprofiles.HandbackLayout, lbs []*apinetv1alpha1.LoadBalancer) []string {
	o := OriginLoadBalancer
	var out []string
	for _, an := range lbs {
		what := fmt.Sprintf("apinet LoadBalancer %s/%s", an.Namespace, an.Name)
		uid := an.Labels[o.UIDLabel()]
		src, ok := o.Of(an)
		if !ok || uid == "" {
			out = append(out, what+": carries no origin of an IronCore LoadBalancer, so no apinetlet maps it")
			continue
		}
		what += fmt.Sprintf(" (IronCore LoadBalancer %s)", src)
		if layout == clusterprofiles.HandbackV024 && len(validation.IsValidLabelValue(src.Name)) > 0 {
			out = append(out, what+": its name is no label value, which apinetlet v0.2.4 needs it to be")
			continue
		}
		ic := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Name, UID: types.UID(uid)}}
		want := o.LayoutLabels(layout, ic)
		if have := an.Spec.Selector; have == nil || len(have.MatchExpressions) > 0 || !maps.Equal(have.MatchLabels, want) {
			out = append(out, fmt.Sprintf("%s: its selector (immutable) is %s, apinetlet %s applies %s", what, selectorLayout(an.Spec.Selector, ic), layout, selectorLayout(&metav1.LabelSelector{MatchLabels: want}, ic)))
		}
	}
	slices.Sort(out)
	return out
}

// selectorLayout names the layout of an apinet LoadBalancer's selector for
// the IronCore LoadBalancer src.
func selectorLayout(sel *metav1.LabelSelector, src client.Object) string {
	o := OriginLoadBalancer
	switch {
	case sel == nil:
		return "empty"
	case len(sel.MatchExpressions) == 0 && maps.Equal(sel.MatchLabels, o.LayoutLabels(clusterprofiles.HandbackHead, src)):
		return fmt.Sprintf("%s's (uid, namespace)", clusterprofiles.HandbackHead)
	case len(sel.MatchExpressions) == 0 && maps.Equal(sel.MatchLabels, o.LayoutLabels(clusterprofiles.HandbackV024, src)):
		return fmt.Sprintf("%s's (uid, namespace, name)", clusterprofiles.HandbackV024)
	}
	return metav1.FormatLabelSelector(sel)
}

// releaseConcurrency is how many finalizers a sweep removes at once: a
// member with thousands of objects behind a slow link is released in
// minutes, not hours.
const releaseConcurrency = 16

func (o Offboarding) removeFinalizers(ctx context.Context) (int, error) {
	var (
		mu      sync.Mutex
		removed int
		errs    []error
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, releaseConcurrency)
	for _, k := range finalizedKinds {
		objs, err := o.finalized(ctx, k.newList(), k.finalizer)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, obj := range objs {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				err := RemoveFinalizer(ctx, o.Member, obj, k.finalizer)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("remove finalizer %s of %s/%s: %w", k.finalizer, obj.GetNamespace(), obj.GetName(), err))
					return
				}
				removed++
			})
		}
		// Kind by kind, in finalizedKinds' order.
		wg.Wait()
	}
	return removed, errors.Join(errs...)
}

// Purge releases the apinet NetworkInterfaces the hub claimed for the
// member, deletes the apinet objects it wrote for the member, waits (polling every interval)
// until the deleted objects are gone, then removes the finalizers as
// Release does. ctx bounds the wait.
func (o Offboarding) Purge(ctx context.Context, interval time.Duration) (int, error) {
	if err := o.releaseNICs(ctx); err != nil {
		return 0, err
	}
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		left, err := o.deleteWritten(ctx)
		return left == 0 && err == nil, nil
	})
	if err != nil {
		left, lastErr := o.deleteWritten(context.WithoutCancel(ctx))
		return 0, fmt.Errorf("%d apinet objects of the member are still there in namespace %s of the peer (their finalizers are the apinet controllers'; is apinet-controller-manager running?): %w",
			left, o.Namespace, errors.Join(err, lastErr))
	}
	return o.Release(ctx)
}

// deleteWritten deletes the written objects not yet deleting and returns
// how many are left.
func (o Offboarding) deleteWritten(ctx context.Context) (int, error) {
	left := 0
	var errs []error
	for _, newList := range writtenKinds {
		objs, err := o.written(ctx, newList())
		if err != nil {
			errs = append(errs, err)
			left++
			continue
		}
		for _, obj := range objs {
			left++
			if obj.GetDeletionTimestamp() != nil {
				continue
			}
			if err := o.Peer.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())}); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("delete %s/%s: %w", obj.GetNamespace(), obj.GetName(), err))
			}
		}
	}
	return left, errors.Join(errs...)
}

func (o Offboarding) releaseNICs(ctx context.Context) error {
	nics, err := o.claimedNICs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, an := range nics {
		if err := client.IgnoreNotFound(Patch(ctx, o.Peer, an, releaseNIC)); err != nil {
			errs = append(errs, fmt.Errorf("release apinet NetworkInterface %s/%s: %w", an.Namespace, an.Name, err))
		}
	}
	return errors.Join(errs...)
}

// NamespaceEmpty tells whether the member's namespace in the peer holds no
// apinet object of a kind the hub writes or claims, of any owner.
func (o Offboarding) NamespaceEmpty(ctx context.Context) (bool, error) {
	for _, newList := range append(slices.Clone(writtenKinds), func() client.ObjectList { return &apinetv1alpha1.NetworkInterfaceList{} }) {
		list := newList()
		if err := o.Peer.List(ctx, list, client.InNamespace(o.Namespace), client.Limit(1)); err != nil {
			return false, fmt.Errorf("peer: list %s: %w", kindOf(o.Peer, list), err)
		}
		if meta.LenList(list) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// finalized lists the member's objects of a kind with the finalizer.
func (o Offboarding) finalized(ctx context.Context, list client.ObjectList, finalizer string) ([]client.Object, error) {
	objs, err := listObjects(ctx, o.Member, list)
	if err != nil {
		return nil, fmt.Errorf("member: %w", err)
	}
	var out []client.Object
	for _, obj := range objs {
		if controllerutil.ContainsFinalizer(obj, finalizer) {
			out = append(out, obj)
		}
	}
	return out, nil
}

// written lists the member's apinet objects of a kind in its namespace.
func (o Offboarding) written(ctx context.Context, list client.ObjectList) ([]client.Object, error) {
	objs, err := listObjects(ctx, o.Peer, list, client.InNamespace(o.Namespace))
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	var out []client.Object
	for _, obj := range objs {
		if ownedBy(o.Label, o.TakenOver, obj) {
			out = append(out, obj)
		}
	}
	return out, nil
}

// claimedNICs lists the apinet NetworkInterfaces the hub claimed for the
// member (they carry its origin labels).
func (o Offboarding) claimedNICs(ctx context.Context) ([]*apinetv1alpha1.NetworkInterface, error) {
	list := &apinetv1alpha1.NetworkInterfaceList{}
	if err := o.Peer.List(ctx, list, client.InNamespace(o.Namespace)); err != nil {
		return nil, fmt.Errorf("peer: list NetworkInterfaces: %w", err)
	}
	var out []*apinetv1alpha1.NetworkInterface
	for i := range list.Items {
		an := &list.Items[i]
		if _, claimed := an.Labels[OriginNetworkInterface.UIDLabel()]; claimed && ownedBy(o.Label, o.TakenOver, an) {
			out = append(out, an)
		}
	}
	return out, nil
}

func listObjects(ctx context.Context, c client.Client, list client.ObjectList, opts ...client.ListOption) ([]client.Object, error) {
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("list %s: %w", kindOf(c, list), err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(items))
	for _, item := range items {
		out = append(out, item.(client.Object))
	}
	return out, nil
}

// kindOf names a list's item kind, "NetworkList" → "Network".
func kindOf(c client.Client, list client.ObjectList) string {
	gvk, err := apiutil.GVKForObject(list, c.Scheme())
	if err != nil {
		return fmt.Sprintf("%T", list)
	}
	kind := gvk.Kind
	if len(kind) > 4 && kind[len(kind)-4:] == "List" {
		kind = kind[:len(kind)-4]
	}
	return gvk.Group + "/" + kind
}
