package reconcilers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// The gone path removes what stems from an IronCore object that is missing
// from the member's cache. Absence is not deletion: a cache relisted from a
// lagging watch cache, an endpoint that lists nothing, or credentials that
// now reach another cluster all make live objects look missing, and an
// apinet object deleted for them is gone for good (with its VNI or public
// IP). So before it removes anything the gone path passes a gate
// (paths.confirmGone):
//
//  1. the member's deletion budget (clusterprofiles.Deletions) allows one
//     more deletion, else it is held and tried again after requeueHeld;
//  2. a live read of the member (its API reader, not the cache) does not
//     find the object, else nothing is removed (the cache is behind; the
//     object is reconciled normally once it catches up);
//  3. the member's identity, read live over the same connection (the UID of
//     its kube-system namespace), is still Member.Identity, else nothing is
//     removed and the reconcile fails.
//
// The gate is passed only when there is something to remove, so a gone
// reconcile that finds nothing in the peer reads nothing live. Deletions the
// hub saw coming (an IronCore object deleted with its finalizer: the delete
// path) never pass it and are not counted.

// Defaults of Options.GoneDeletions.
const (
	DefaultGoneDeletionBudgetPercent = 10
	DefaultGoneDeletionBudgetMin     = 20
	DefaultGoneDeletionBudgetWindow  = 10 * time.Minute
)

// requeueHeld is how soon a held gone-path deletion is tried again
// (DeletionBudget.Retry: a held source not tried again within three of it
// has come back). requeueUnconfirmed is how soon a gone reconcile whose
// object the member still serves looks again; the cache's own event usually
// comes first.
const (
	requeueHeld        = 10 * time.Second
	requeueUnconfirmed = 30 * time.Second
)

// Event reasons on the member's ClusterProfile (in the hub).
const (
	EventReasonDeletionsHeld      = "DeletionsHeld"
	EventReasonDeletionHoldLifted = "DeletionHoldLifted"
)

// goneGate is what a kind's gone path calls once it has found something of
// a missing IronCore object to remove, before it removes anything: nil lets
// it go on; any error stops it (goneWithheld: nothing is removed now).
type goneGate func(ctx context.Context) error

// goneWithheld is a gone-path removal not done now, by design (held by the
// budget, or the object is still served): not a failure, tried again after
// (never when after is 0: the object left the member's scope).
type goneWithheld struct{ after time.Duration }

func (e goneWithheld) Error() string {
	return fmt.Sprintf("gone-path removal withheld, retried in %s", e.after)
}

// withDeletionBudgetDefaults fills the zero fields of a deletion budget.
func withDeletionBudgetDefaults(b clusterprofiles.DeletionBudget) clusterprofiles.DeletionBudget {
	if b.Percent <= 0 {
		b.Percent = DefaultGoneDeletionBudgetPercent
	}
	if b.Min <= 0 {
		b.Min = DefaultGoneDeletionBudgetMin
	}
	if b.Window <= 0 {
		b.Window = DefaultGoneDeletionBudgetWindow
	}
	if b.Retry <= 0 {
		b.Retry = requeueHeld
	}
	return b
}

// reconcileGone runs the kind's gone path for an IronCore object missing
// from the member's cache, behind the gate (confirmGone).
func (p paths[T]) reconcileGone(ctx context.Context, m *clusterprofiles.Member, key types.NamespacedName) (reconcile.Result, error) {
	budgetKey := p.controller + " " + key.String()
	asked := false
	err := p.gone(ctx, m, key, func(ctx context.Context) error {
		asked = true
		return p.confirmGone(ctx, m, key, budgetKey)
	})
	var withheld goneWithheld
	switch {
	case errors.As(err, &withheld):
		return reconcile.Result{RequeueAfter: withheld.after}, nil
	case err == nil && !asked:
		// Nothing of it is left to remove: a deletion held for it is over.
		m.GoneDeletions().Release(budgetKey)
	}
	return reconcile.Result{}, err
}

// confirmGone is the gate of the gone path (see the top of this file).
func (p paths[T]) confirmGone(ctx context.Context, m *clusterprofiles.Member, key types.NamespacedName, budgetKey string) error {
	logger := log.FromContext(ctx).WithValues("gone", budgetKey)
	deletions := m.GoneDeletions()
	budget := p.opts.GoneDeletions
	v := deletions.Take(time.Now(), budgetKey, budget, m.Settings().LiftDeletionHold, func() int {
		n, err := MappedObjects(ctx, m)
		if err != nil {
			return 0 // the budget's minimum applies
		}
		return n
	})
	if v.Lifted {
		logger.Info("deletion hold lifted by the profile's annotation; the held gone-path deletions go through once and a new budget window opens",
			"annotation", clusterprofiles.AnnotationLiftDeletionHold)
		p.profileEvent(ctx, m, corev1.EventTypeNormal, EventReasonDeletionHoldLifted,
			"annotation %s changed: the gone-path deletions held until now go through once, and a new budget window of %s opens",
			clusterprofiles.AnnotationLiftDeletionHold, budget.Window)
	}
	if !v.Allowed {
		held, _ := deletions.Held(time.Now())
		if v.HoldStarted {
			logger.Info("gone-path deletions HELD: the member's deletion budget is spent; nothing more is deleted for sources missing from the member until the operator lifts the hold or the sources come back",
				"spent", v.Used, "budget", v.Limit, "window", budget.Window, "annotation", clusterprofiles.AnnotationLiftDeletionHold)
			p.profileEvent(ctx, m, corev1.EventTypeWarning, EventReasonDeletionsHeld,
				"the apinet objects of IronCore %s %s are not deleted although it is missing from the cluster, nor those of any further missing IronCore object: %d gone-path deletions, the budget of this member, were done within %s. So many objects vanishing at once more often means the hub cannot see them (a lagging cache, an endpoint that lists nothing, another cluster behind the credentials) than that they were deleted. Check the cluster; if they were deleted on purpose, set annotation %s on this profile to a new value to let the %d held deletions go through",
				p.controller, key, v.Used, budget.Window, clusterprofiles.AnnotationLiftDeletionHold, held)
		} else {
			logger.V(1).Info("gone-path deletion held", "held", held)
		}
		return goneWithheld{after: requeueHeld}
	}

	// The budget allows it; now prove the absence and the cluster, live.
	reader := m.GetAPIReader()
	live := p.newObject()
	switch err := reader.Get(ctx, key, live); {
	case err == nil && !m.Profile.Scope.Selects(live.GetNamespace(), live.GetLabels()):
		// A scoped member's caches select server-side: an object whose
		// watch-filter label changed left them. It is not gone, and it is
		// no longer this member's to reconcile or to clean up after.
		deletions.Refund(time.Now(), budgetKey, v)
		deletions.Release(budgetKey)
		logger.Info("gone path: the IronCore object left the member's scope (its watch-filter label or namespace changed); nothing is deleted, and the member no longer reconciles it: its apinet objects stay until it is back in scope, or deleted in IronCore and the apinet objects by hand",
			"scope", m.Profile.Scope.String())
		return goneWithheld{} // withheld for good: not retried (after 0)
	case err == nil:
		deletions.Refund(time.Now(), budgetKey, v)
		deletions.Release(budgetKey)
		logger.Info("gone path: the member's cache lacks the IronCore object, but the member serves it (live read); nothing is deleted, it is reconciled again once the cache has it")
		return goneWithheld{after: requeueUnconfirmed}
	case !apierrors.IsNotFound(err):
		deletions.Refund(time.Now(), budgetKey, v)
		return fmt.Errorf("confirm with a live read that IronCore %s %s is gone from member %q before deleting what stems from it (nothing is deleted): %w", p.controller, key, m.Profile.Name, err)
	}
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, types.NamespacedName{Name: metav1.NamespaceSystem}, ns); err != nil {
		deletions.Refund(time.Now(), budgetKey, v)
		return fmt.Errorf("re-check which cluster member %q reaches before deleting what stems from IronCore %s %s (nothing is deleted): %w", m.Profile.Name, p.controller, key, err)
	}
	if reached := clusterprofiles.Identity(ns.UID); reached == "" || reached != m.Identity {
		deletions.Refund(time.Now(), budgetKey, v)
		err := fmt.Errorf("member %q now reaches cluster %s, not %s, the cluster it was engaged with (UIDs of their kube-system namespaces): IronCore %s %s missing there proves nothing, so nothing is deleted; the member is re-checked at its next probe",
			m.Profile.Name, reached, m.Identity, p.controller, key)
		logger.Error(err, "gone path: identity changed")
		return err
	}
	logger.V(1).Info("gone path: absence confirmed live; deleting what stems from the object", "spent", v.Used, "budget", v.Limit)
	return nil
}

// profileEvent records an Event on the member's ClusterProfile in the hub,
// where the operator lifts a hold; without a hub (unit tests) or profile,
// the log line stands alone.
func (p paths[T]) profileEvent(ctx context.Context, m *clusterprofiles.Member, eventType, reason, format string, args ...any) {
	if p.hub.recorder == nil || p.hub.reader == nil {
		return
	}
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := p.hub.reader.Get(ctx, m.Profile.Key, cp); err != nil {
		log.FromContext(ctx).Error(err, "cannot record an Event on the member's ClusterProfile", "reason", reason)
		return
	}
	p.hub.recorder.Eventf(cp, nil, eventType, reason, "Delete", format, args...)
}

// hubEvents writes Events on ClusterProfiles in the hub.
type hubEvents struct {
	reader   client.Reader
	recorder events.EventRecorder
}

// heldDeletions reads what every engaged member's gone path holds
// (metrics.SetHeldDeletionsSource).
func (r reconciler) heldDeletions() []metrics.HeldDeletions {
	var out []metrics.HeldDeletions
	for _, name := range r.topology.Members() {
		m, err := r.topology.Member(name)
		if err != nil {
			continue
		}
		held, _ := m.DeletionsHeld()
		out = append(out, metrics.HeldDeletions{Member: m.Label, Peer: clusterprofiles.LabelValue(m.Peer.Name), Held: held})
	}
	return out
}
