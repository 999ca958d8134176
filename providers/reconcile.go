package providers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// SetupWithManager registers the provider's ClusterProfile controller on the
// hub manager (the multicluster manager's local manager). It reconciles
// profiles, and re-reconciles them when their credential Secret changes or
// when a probe or engagement reports back.
func (p *Provider) SetupWithManager(hub manager.Manager) error {
	return builder.ControllerManagedBy(hub).
		Named("clusterprofile-provider").
		For(&clusterinventoryv1alpha1.ClusterProfile{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(p.secretToProfile)).
		WatchesRawSource(source.Channel(p.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(p)
}

func (p *Provider) secretToProfile(_ context.Context, o client.Object) []reconcile.Request {
	labels := o.GetLabels()
	name := labels[clusterprofiles.LabelSecretProfile]
	if name == "" || labels[clusterprofiles.LabelSecretConsumer] != p.opts.Consumer {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// decision is the Engaged condition a reconcile arrives at.
type decision struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

func engaged(format string, args ...any) decision {
	return decision{metav1.ConditionTrue, clusterprofiles.ReasonEngaged, fmt.Sprintf(format, args...)}
}

func notEngaged(problem *clusterprofiles.Problem) decision {
	status := metav1.ConditionFalse
	if problem.Reason == clusterprofiles.ReasonEngaging {
		status = metav1.ConditionUnknown
	}
	return decision{status, problem.Reason, problem.Message}
}

// Reconcile brings one profile's engagement in line with the profile, its
// credentials, its health and its peer's, and reports the outcome.
func (p *Provider) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	select {
	case <-p.started:
	case <-ctx.Done():
		return reconcile.Result{}, ctx.Err()
	}
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := p.hub.GetClient().Get(ctx, req.NamespacedName, cp); err != nil {
		if apierrors.IsNotFound(err) {
			p.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if _, selected := cp.Labels[clusterprofiles.LabelRole]; !selected || !cp.DeletionTimestamp.IsZero() {
		p.forget(req.NamespacedName)
		return reconcile.Result{}, nil
	}

	d, requeue := p.decide(ctx, cp)
	if err := p.report(ctx, cp, d); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// decide evaluates a profile and starts or stops its engagement.
func (p *Provider) decide(ctx context.Context, cp *clusterinventoryv1alpha1.ClusterProfile) (d decision, requeue time.Duration) {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	profile, problem := clusterprofiles.Parse(cp)
	if problem == nil && profile.Role == clusterprofiles.RoleIronCore {
		problem = p.pairingProblem(ctx, profile)
	}
	var creds *clusterprofiles.Credentials
	if problem == nil {
		creds, problem = p.creds.Resolve(ctx, cp)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.records[key]
	if rec == nil {
		rec = &record{key: key}
		p.records[key] = rec
	}
	defer func() {
		// Members follow their peer: when a peer's state changes, they
		// re-evaluate.
		if rec.decided != d {
			rec.decided = d
			p.wakeMembersOfLocked(key)
			recordDecision(key, rec.profile, d)
		}
	}()
	before := rec.profile
	rec.profile = profile
	if before != nil && profile != nil && (before.Peer != profile.Peer || before.APINetNamespace != profile.APINetNamespace) {
		p.wakeSiblingsLocked(before) // a namespace claim may have been freed
	}
	if problem != nil {
		p.disengageLocked(rec)
		rec.stopProbe()
		rec.credsHash = ""
		return notEngaged(problem), 0
	}
	if err := p.ensureProbe(rec, creds); err != nil {
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonCredentialsInvalid, Message: err.Error()}), 0
	}
	if unhealthy, msg := clusterprofiles.ControlPlaneUnhealthy(cp); unhealthy {
		p.disengageLocked(rec)
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonPaused, Message: msg}), 0
	}
	if pr := rec.usable(p.opts.ProbeFailureThreshold); pr != nil {
		p.disengageLocked(rec)
		return notEngaged(pr), 0
	}
	if profile.Role == clusterprofiles.RoleAPINet {
		return engaged("apinet peer reachable (credentials: %s)", rec.source), 0
	}
	return p.decideMember(rec, profile)
}

func (p *Provider) decideMember(rec *record, profile *clusterprofiles.Profile) (decision, time.Duration) {
	peerName := clusterprofiles.ClusterName(profile.Peer)
	peer := p.records[profile.Peer]
	if peer == nil || peer.credsHash == "" {
		p.disengageLocked(rec)
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerPaused, Message: fmt.Sprintf("peer %s is not connected yet (see its %s condition)", peerName, clusterprofiles.ConditionEngaged)}), 0
	}
	if pr := peer.usable(p.opts.ProbeFailureThreshold); pr != nil {
		p.disengageLocked(rec)
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerPaused, Message: fmt.Sprintf("peer %s: %s: %s", peerName, pr.Reason, pr.Message)}), 0
	}
	want := strings.Join([]string{rec.credsHash, peer.credsHash, string(peerName), profile.APINetNamespace}, "|")
	switch {
	case rec.member != nil && rec.engagedFor == want:
		return engaged("reconciling into apinet peer %s, namespace %s (credentials: %s)", peerName, profile.APINetNamespace, rec.source), 0
	case rec.engaging == want:
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "connecting to the cluster and its peer " + string(peerName)}), 0
	case rec.failedFor == want && time.Since(rec.failedAt) < p.opts.RetryInterval:
		return notEngaged(rec.engageErr), p.opts.RetryInterval - time.Since(rec.failedAt)
	}
	p.disengageLocked(rec)
	rec.engaging = want
	job := engageJob{rec: rec, key: want, profile: *profile,
		member: rec.config, memberHC: rec.httpClient, peer: peer.config, peerHC: peer.httpClient}
	go func() {
		select {
		case p.jobs <- job:
		case <-p.ctx.Done():
		}
	}()
	return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "connecting to the cluster and its peer " + string(peerName)}), 0
}

// pairingProblem checks an IronCore profile against the other profiles: its
// peer must be an apinet profile the hub handles, and its apinet namespace
// on that peer must be its own.
func (p *Provider) pairingProblem(ctx context.Context, profile *clusterprofiles.Profile) *clusterprofiles.Problem {
	peerName := clusterprofiles.ClusterName(profile.Peer)
	peerCP := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := p.hub.GetClient().Get(ctx, profile.Peer, peerCP); err != nil {
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerNotFound, Message: fmt.Sprintf(
			"label %s names ClusterProfile %s, which the hub does not see (missing, or without label %s): %v",
			clusterprofiles.LabelPeer, peerName, clusterprofiles.LabelRole, err)}
	}
	if role := peerCP.Labels[clusterprofiles.LabelRole]; clusterprofiles.Role(role) != clusterprofiles.RoleAPINet {
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerRoleInvalid, Message: fmt.Sprintf(
			"peer %s has %s=%q; an IronCore cluster must name an %q cluster", peerName, clusterprofiles.LabelRole, role, clusterprofiles.RoleAPINet)}
	}
	if holder := p.namespaceHolder(ctx, profile); holder != profile.Key {
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonNamespaceConflict, Message: fmt.Sprintf(
			"namespace %s of peer %s already belongs to the older ClusterProfile %s; set annotation %s to another namespace",
			profile.APINetNamespace, peerName, holder, clusterprofiles.AnnotationAPINetNamespace)}
	}
	return nil
}

// namespaceHolder returns the profile that owns the member's apinet
// namespace on its peer: of all IronCore profiles naming that peer and
// namespace, the oldest (then by name). Deterministic across hub restarts.
func (p *Provider) namespaceHolder(ctx context.Context, profile *clusterprofiles.Profile) types.NamespacedName {
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	if err := p.hub.GetClient().List(ctx, list, client.InNamespace(profile.Key.Namespace),
		client.MatchingLabels{clusterprofiles.LabelRole: string(clusterprofiles.RoleIronCore), clusterprofiles.LabelPeer: profile.Peer.Name}); err != nil {
		return profile.Key
	}
	var claimants []clusterinventoryv1alpha1.ClusterProfile
	for _, cp := range list.Items {
		if other, problem := clusterprofiles.Parse(&cp); problem == nil && cp.DeletionTimestamp.IsZero() && other.APINetNamespace == profile.APINetNamespace {
			claimants = append(claimants, cp)
		}
	}
	if len(claimants) == 0 {
		return profile.Key
	}
	sort.Slice(claimants, func(i, j int) bool {
		ti, tj := claimants[i].CreationTimestamp, claimants[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return claimants[i].Name < claimants[j].Name
	})
	return types.NamespacedName{Namespace: claimants[0].Namespace, Name: claimants[0].Name}
}

// forget drops a profile that is gone (or no longer selected): disengage,
// stop probing, and let the profiles that depended on it re-evaluate.
func (p *Provider) forget(key types.NamespacedName) {
	p.conditions.Delete(key)
	metrics.ForgetCluster(clusterprofiles.LabelValue(clusterprofiles.ClusterName(key)))
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.records[key]
	if rec == nil {
		return
	}
	p.disengageLocked(rec)
	rec.stopProbe()
	delete(p.records, key)
	p.wakeMembersOfLocked(key)
	if rec.profile != nil {
		p.wakeSiblingsLocked(rec.profile)
	}
}

// wakeMembersOfLocked re-reconciles the IronCore members that name a peer.
func (p *Provider) wakeMembersOfLocked(peer types.NamespacedName) {
	for key, rec := range p.records {
		if rec.profile != nil && rec.profile.Role == clusterprofiles.RoleIronCore && rec.profile.Peer == peer {
			p.wakeUp(key)
		}
	}
}

// wakeSiblingsLocked re-reconciles the IronCore members sharing a peer with
// profile (one of them may now hold a freed namespace).
func (p *Provider) wakeSiblingsLocked(profile *clusterprofiles.Profile) {
	if profile.Role != clusterprofiles.RoleIronCore {
		return
	}
	for key, rec := range p.records {
		if key != profile.Key && rec.profile != nil && rec.profile.Peer == profile.Peer {
			p.wakeUp(key)
		}
	}
}

// report writes the Engaged condition with server-side apply under the
// hub's own field manager (only that condition: the conditions list is a
// map keyed by type, so the cluster manager's conditions stay its own), and
// an Event when the condition's reason changes.
func (p *Provider) report(ctx context.Context, cp *clusterinventoryv1alpha1.ClusterProfile, d decision) error {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	current := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
	if current != nil && current.Status == d.status && current.Reason == d.reason && current.Message == d.message &&
		current.ObservedGeneration == cp.Generation {
		return nil
	}
	if last, ok := p.conditions.Load(key); ok && last.(decision) == d && current == nil {
		return nil // written already; the cache has not caught up
	}
	transition := metav1.Now()
	if current != nil && current.Status == d.status {
		transition = current.LastTransitionTime
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(clusterinventoryv1alpha1.GroupVersion.WithKind("ClusterProfile"))
	u.SetNamespace(cp.Namespace)
	u.SetName(cp.Name)
	if err := unstructured.SetNestedSlice(u.Object, []any{map[string]any{
		"type":               clusterprofiles.ConditionEngaged,
		"status":             string(d.status),
		"reason":             d.reason,
		"message":            truncate(d.message, 1024),
		"observedGeneration": cp.Generation,
		"lastTransitionTime": transition.UTC().Format(time.RFC3339),
	}}, "status", "conditions"); err != nil {
		return err
	}
	if err := p.hub.GetClient().Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(p.opts.FieldManager), client.ForceOwnership); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("report %s on ClusterProfile %s: %w", clusterprofiles.ConditionEngaged, key, err)
	}
	p.conditions.Store(key, d)
	if current == nil || current.Reason != d.reason {
		eventType := corev1.EventTypeWarning
		if d.status != metav1.ConditionFalse {
			eventType = corev1.EventTypeNormal
		}
		p.recorder.Eventf(cp, nil, eventType, d.reason, "Engage", "%s", truncate(d.message, 1000))
	}
	return nil
}

// recordDecision exports a profile's engagement as metrics.
func recordDecision(key types.NamespacedName, profile *clusterprofiles.Profile, d decision) {
	cluster := clusterprofiles.LabelValue(clusterprofiles.ClusterName(key))
	var role, peer string
	if profile != nil {
		role = string(profile.Role)
		if profile.Role == clusterprofiles.RoleIronCore {
			peer = clusterprofiles.LabelValue(clusterprofiles.ClusterName(profile.Peer))
		}
	}
	engaged := 0.0
	if d.status == metav1.ConditionTrue {
		engaged = 1
	}
	metrics.ClusterEngaged.DeletePartialMatch(prometheus.Labels{metrics.LabelCluster: cluster})
	metrics.ClusterEngaged.WithLabelValues(cluster, role, peer).Set(engaged)
	if d.status == metav1.ConditionFalse {
		metrics.EngageErrors.WithLabelValues(cluster, d.reason).Inc()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
