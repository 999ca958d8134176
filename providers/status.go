package providers

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// decision is the Engaged condition a reconcile arrives at, and the
// identity to record on the profile (clusterprofiles.PropertyClusterUID).
type decision struct {
	status  metav1.ConditionStatus
	reason  string
	message string
	pin     clusterprofiles.Identity
	// settling marks a verdict that only waits for a first look: the
	// cluster's or its peer's first probe, the peer's first evaluation
	// (keeps).
	settling bool
}

// keeps tells whether the profile's Engaged condition may stay as it is
// instead of taking d: d only waits for a first look, whose outcome wakes
// the profile, and the condition already says the hub is not doing its
// job for it (False or Unknown). At a hub's start this spares every
// profile two writes through the hub's client budget (a cold start of 500
// members waited on them). An Engaged True, left by a hub process that has
// stopped, is never kept: this one has not engaged the member yet.
func (d decision) keeps(current *metav1.Condition) bool {
	return d.settling && current != nil && current.Status != metav1.ConditionTrue
}

func engaged(format string, args ...any) decision {
	return decision{status: metav1.ConditionTrue, reason: clusterprofiles.ReasonEngaged, message: fmt.Sprintf(format, args...)}
}

func notEngaged(problem *clusterprofiles.Problem) decision {
	status := metav1.ConditionFalse
	if problem.Reason == clusterprofiles.ReasonEngaging {
		status = metav1.ConditionUnknown
	}
	return decision{status: status, reason: problem.Reason, message: problem.Message}
}

// report writes the Engaged condition with server-side apply under the
// hub's own field manager (only that condition: the conditions list is a
// map keyed by type, so the cluster manager's conditions stay its own), and
// an Event when the condition's reason changes.
//
// While an engaged member holds gone-path deletions, held is the message of
// a second condition, ConditionDeletionsHeld (True, reason DeletionsHeld);
// it is left out of the apply, and so removed, once none is held.
func (p *Provider) report(ctx context.Context, cp *clusterinventoryv1alpha1.ClusterProfile, d decision, objects, held string) error {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	current := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
	if d.pin == "" {
		d.pin = clusterprofiles.PinnedIdentity(cp) // keep what is recorded
	}
	expiry := p.credentialExpiry(key)
	// A role and peer from the hub's pairing are recorded for the commands
	// that read profiles without knowing the pairing (ParseRecorded).
	var pairedRole, pairedPeer string
	if a, _ := p.opts.Pairing.Assign(cp); a.Paired {
		pairedRole, pairedPeer = a.Role, a.Peer
	}
	same := clusterprofiles.PinnedIdentity(cp) == d.pin && clusterprofiles.Property(cp, clusterprofiles.PropertyMappedObjects) == objects &&
		clusterprofiles.Property(cp, clusterprofiles.PropertyCredentialExpiry) == expiry &&
		clusterprofiles.Property(cp, clusterprofiles.PropertyRole) == pairedRole && clusterprofiles.Property(cp, clusterprofiles.PropertyPeer) == pairedPeer
	heldNow := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionDeletionsHeld)
	if heldNow == nil {
		same = same && held == ""
	} else {
		same = same && heldNow.Message == truncate(held, 1024)
	}
	if current != nil && current.Status == d.status && current.Reason == d.reason && current.Message == d.message &&
		current.ObservedGeneration == cp.Generation && same {
		return nil
	}
	written := reported{d, objects, held, expiry}
	if last, ok := p.conditions.Load(key); ok && last.(reported) == written && current == nil {
		return nil // written already; the cache has not caught up
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(clusterinventoryv1alpha1.GroupVersion.WithKind("ClusterProfile"))
	u.SetNamespace(cp.Namespace)
	u.SetName(cp.Name)
	// The hub's conditions, from what the profile shows: meta.SetStatusCondition
	// keeps a condition's lastTransitionTime unless its status changes.
	var ours []metav1.Condition
	set := func(now *metav1.Condition, c metav1.Condition) {
		if now != nil {
			ours = append(ours, *now)
		}
		c.Message, c.ObservedGeneration = truncate(c.Message, 1024), cp.Generation
		meta.SetStatusCondition(&ours, c)
	}
	set(current, metav1.Condition{Type: clusterprofiles.ConditionEngaged, Status: d.status, Reason: d.reason, Message: d.message})
	if held != "" {
		set(heldNow, metav1.Condition{Type: clusterprofiles.ConditionDeletionsHeld, Status: metav1.ConditionTrue, Reason: clusterprofiles.ReasonDeletionsHeld, Message: held})
	}
	conditions := make([]any, 0, len(ours))
	for i := range ours {
		c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&ours[i])
		if err != nil {
			return err
		}
		conditions = append(conditions, c)
	}
	if err := unstructured.SetNestedSlice(u.Object, conditions, "status", "conditions"); err != nil {
		return err
	}
	// Owned by the hub's field manager from the first apply on, so they
	// must be part of every apply (else SSA would remove them).
	var properties []any
	if d.pin != "" {
		properties = append(properties, map[string]any{"name": clusterprofiles.PropertyClusterUID, "value": string(d.pin)})
	}
	if objects != "" {
		properties = append(properties, map[string]any{"name": clusterprofiles.PropertyMappedObjects, "value": objects})
	}
	if expiry != "" {
		properties = append(properties, map[string]any{"name": clusterprofiles.PropertyCredentialExpiry, "value": expiry})
	}
	if pairedRole != "" {
		properties = append(properties, map[string]any{"name": clusterprofiles.PropertyRole, "value": pairedRole})
	}
	if pairedPeer != "" {
		properties = append(properties, map[string]any{"name": clusterprofiles.PropertyPeer, "value": pairedPeer})
	}
	if properties != nil {
		if err := unstructured.SetNestedSlice(u.Object, properties, "status", "properties"); err != nil {
			return err
		}
	}
	if err := p.hub.GetClient().Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(p.opts.FieldManager), client.ForceOwnership); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("report %s on ClusterProfile %s: %w", clusterprofiles.ConditionEngaged, key, err)
	}
	p.conditions.Store(key, written)
	if current == nil || current.Reason != d.reason {
		eventType := corev1.EventTypeWarning
		if d.status != metav1.ConditionFalse {
			eventType = corev1.EventTypeNormal
		}
		p.recorder.Eventf(cp, nil, eventType, d.reason, "Engage", "%s", truncate(d.message, 1000))
	}
	return nil
}

// reported is what report last wrote for a profile.
type reported struct {
	decision
	objects, held, expiry string
}

// recordDecision exports a profile's engagement as metrics.
func recordDecision(key types.NamespacedName, profile *clusterprofiles.Profile, d decision) {
	self := clusterprofiles.LabelValue(clusterprofiles.ClusterName(key))
	var role, peer string
	if profile != nil {
		role = string(profile.Role)
		if profile.Role == clusterprofiles.RoleIronCore {
			peer = clusterprofiles.LabelValue(clusterprofiles.ClusterName(profile.Peer))
		}
	}
	member, peer := metrics.ClusterLabels(role, self, peer)
	engaged := 0.0
	if d.status == metav1.ConditionTrue {
		engaged = 1
	}
	// One series per profile: the old ones (another peer, role or reason) go.
	own := prometheus.Labels{metrics.LabelMember: self}
	if member == "" {
		own = prometheus.Labels{metrics.LabelMember: "", metrics.LabelPeer: self}
	}
	for _, v := range []*prometheus.GaugeVec{metrics.ClusterEngaged, metrics.ClusterEngagedReason} {
		v.DeletePartialMatch(prometheus.Labels{metrics.LabelMember: self})
		v.DeletePartialMatch(own)
	}
	metrics.ClusterEngaged.WithLabelValues(member, peer, role).Set(engaged)
	metrics.ClusterEngagedReason.WithLabelValues(member, peer, role, d.reason).Set(1)
	if d.status == metav1.ConditionFalse {
		metrics.EngageErrors.WithLabelValues(member, peer, d.reason).Inc()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
