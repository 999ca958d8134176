package providers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

// SetupWithManager registers the provider's ClusterProfile controller on the
// hub manager (the multicluster manager's local manager). It reconciles
// profiles, and re-reconciles them when their credential Secret changes or
// when a probe or engagement reports back.
func (p *Provider) SetupWithManager(hub manager.Manager) error {
	if err := hub.GetFieldIndexer().IndexField(context.Background(), &clusterinventoryv1alpha1.ClusterProfile{}, claimIndex, p.indexClaim); err != nil {
		return fmt.Errorf("index ClusterProfiles by claimed apinet namespace: %w", err)
	}
	if err := clusterprofiles.IndexCredentialSecrets(context.Background(), hub.GetFieldIndexer()); err != nil {
		return fmt.Errorf("index credential Secrets by profile: %w", err)
	}
	return builder.ControllerManagedBy(hub).
		Named("clusterprofile-provider").
		For(&clusterinventoryv1alpha1.ClusterProfile{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(p.secretToProfile)).
		WatchesRawSource(p.wake.source()).
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

// Reconcile brings one profile's engagement in line with the profile, its
// credentials, its health and its peer's, and reports the outcome.
func (p *Provider) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	select {
	case <-p.started:
	case <-ctx.Done():
		return reconcile.Result{}, ctx.Err()
	}
	if p.opts.Shard != nil {
		select {
		case <-p.opts.Shard.Ready():
		case <-ctx.Done():
			return reconcile.Result{}, ctx.Err()
		}
	}
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := p.hub.GetClient().Get(ctx, req.NamespacedName, cp); err != nil {
		if apierrors.IsNotFound(err) {
			p.forgetAll(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !p.opts.Pairing.Selects(cp) || !cp.DeletionTimestamp.IsZero() {
		p.forgetAll(req.NamespacedName)
		return reconcile.Result{}, nil
	}
	owner := p.opts.Shard == nil || p.opts.Shard.Owns(req.NamespacedName)
	if !owner && !p.isPeer(cp) {
		// Another replica's: nothing of it runs or is reported here; it
		// only counts as the claimant of its cluster (writer.go). What ran
		// here while it was this replica's is forgotten once (its metrics'
		// removal scans every series: not on each of its owner's writes).
		if p.known(req.NamespacedName) {
			p.forget(req.NamespacedName)
		}
		p.mu.Lock()
		p.claimRemoteLocked(cp)
		p.mu.Unlock()
		return reconcile.Result{}, nil
	}
	p.mu.Lock()
	p.dropRemoteLocked(req.NamespacedName)
	p.mu.Unlock()

	d, requeue := p.decide(ctx, cp)
	if !owner {
		// A peer another replica owns: connected here for the members of
		// this replica mapped into it, reported by its owner.
		return reconcile.Result{RequeueAfter: requeue}, nil
	}
	if d.keeps(meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)) {
		return reconcile.Result{RequeueAfter: requeue}, nil
	}
	if d.reason == clusterprofiles.ReasonOffboarding {
		// `offboard` starts its sweep once it reads Offboarding: by then
		// nothing of the hub may write for the member any more.
		p.waitDrained(ctx, req.NamespacedName)
	}
	objects, counted := p.mappedObjects(ctx, req.NamespacedName)
	if p.engagedMember(req.NamespacedName) != nil && (requeue == 0 || requeue > p.opts.StatusInterval) {
		requeue = p.opts.StatusInterval // refresh the count and the deletions held
	}
	if !counted {
		objects = clusterprofiles.Property(cp, clusterprofiles.PropertyMappedObjects) // keep the last count
	}
	if err := p.report(ctx, cp, d, objects, p.deletionsHeld(req.NamespacedName)); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// waitDrained waits, at most DrainTimeout, until no reconcile of the
// profile's last disengaged member runs any more.
func (p *Provider) waitDrained(ctx context.Context, key types.NamespacedName) {
	p.mu.Lock()
	var drained <-chan struct{}
	if rec := p.records[key]; rec != nil {
		drained = rec.eng.drained
	}
	p.mu.Unlock()
	if drained == nil {
		return
	}
	timer := time.NewTimer(p.opts.DrainTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-ctx.Done():
	case <-timer.C:
		p.log.Info("reconciles of a disengaged member still run after the drain timeout; reporting it disengaged anyway", "profile", key, "timeout", p.opts.DrainTimeout)
	}
}

// engagedMember returns the member a profile has engaged now (nil if none).
func (p *Provider) engagedMember(key types.NamespacedName) *clusterprofiles.Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rec := p.records[key]; rec != nil {
		return rec.eng.member
	}
	return nil
}

// deletionsHeld describes the gone-path deletions an engaged member holds
// ("" if none): the message of the DeletionsHeld condition.
func (p *Provider) deletionsHeld(key types.NamespacedName) string {
	member := p.engagedMember(key)
	if member == nil {
		return ""
	}
	held, since := member.DeletionsHeld()
	if held == 0 {
		return ""
	}
	return fmt.Sprintf("%d gone-path deletions held since %s: more of the member's IronCore objects look gone than its deletion budget allows, and when too much looks gone at once the observer is the likelier cause. Check the member (its API, its caches, its credentials); if the objects are really gone, set annotation %s on this profile to a new value to let the held deletions proceed",
		held, since.UTC().Format(time.RFC3339), clusterprofiles.AnnotationLiftDeletionHold)
}

// mappedObjects counts, for an engaged member, the apinet objects the hub
// maps for it (Options.MappedObjects); counted is false for peers, members
// not engaged, and when the count fails.
func (p *Provider) mappedObjects(ctx context.Context, key types.NamespacedName) (objects string, counted bool) {
	if p.opts.MappedObjects == nil {
		return "", false
	}
	member := p.engagedMember(key)
	if member == nil {
		return "", false
	}
	n, err := p.opts.MappedObjects(ctx, member)
	if err != nil {
		return "", false
	}
	return strconv.Itoa(n), true
}

// known tells whether anything runs for the profile here (a record).
func (p *Provider) known(key types.NamespacedName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.records[key] != nil
}

// isPeer tells an apinet profile (by its label, else the pairing).
func (p *Provider) isPeer(cp *clusterinventoryv1alpha1.ClusterProfile) bool {
	a, _ := p.opts.Pairing.Assign(cp)
	return clusterprofiles.Role(a.Role) == clusterprofiles.RoleAPINet
}

// inputs is what a profile reconcile reads before it takes the provider's
// lock: the parsed profile and settings, the pairing check, credentials.
type inputs struct {
	profile          *clusterprofiles.Profile
	problem          *clusterprofiles.Problem
	settings         []*clusterprofiles.Problem
	creds            *clusterprofiles.Credentials
	claimUnverified  error // the namespace claim could not be checked
	controlPlaneDown string
	pinned           clusterprofiles.Identity // recorded on the profile
}

// decide evaluates a profile and starts or stops its engagement.
func (p *Provider) decide(ctx context.Context, cp *clusterinventoryv1alpha1.ClusterProfile) (d decision, requeue time.Duration) {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	in := inputs{}
	in.profile, in.problem = p.opts.Pairing.Parse(cp)
	if in.problem == nil {
		in.problem = clusterprofiles.Offboarding(cp)
	}
	if in.problem == nil && in.profile.Role == clusterprofiles.RoleIronCore {
		in.profile.Scope, in.problem = in.profile.Scope.Within(p.opts.WatchFilter)
	}
	if in.problem == nil && in.profile.Role == clusterprofiles.RoleIronCore {
		in.problem, in.claimUnverified = p.pairingProblem(ctx, in.profile)
	}
	if in.problem == nil {
		in.creds, in.problem = p.creds.Resolve(ctx, cp)
	}
	if unhealthy, msg := clusterprofiles.ControlPlaneUnhealthy(cp); unhealthy {
		in.controlPlaneDown = msg
	}
	in.pinned = clusterprofiles.PinnedIdentity(cp)

	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.records[key]
	if rec == nil {
		rec = &record{key: key, eng: engagement{backoff: p.opts.retryBackoff()}}
		p.records[key] = rec
	}
	if in.profile != nil && in.profile.Role == clusterprofiles.RoleIronCore {
		var settings clusterprofiles.Settings
		settings, in.settings = clusterprofiles.ParseSettings(cp, rec.settings)
		rec.settings = settings
		if rec.eng.member != nil {
			rec.eng.member.SetSettings(settings)
		}
		p.reportSettingsLocked(cp, rec, in.settings)
	}
	if in.profile != nil && in.profile.Role == clusterprofiles.RoleAPINet {
		// Shared with the members mapped into the peer: one store puts an
		// edit in force for all of them.
		shared := rec.sharedPeerSettings()
		var settings clusterprofiles.PeerSettings
		settings, in.settings = clusterprofiles.ParsePeerSettings(cp, shared.Load())
		shared.Store(settings)
		p.reportSettingsLocked(cp, rec, in.settings)
	}
	p.setProfileLocked(rec, in.profile)
	defer func() {
		if rec.decided != d {
			rec.decided = d
			// Members follow their peer: wake them when its state changes.
			p.wakeMembersOfLocked(key)
			recordDecision(key, rec.profile, d)
		}
		if d.status == metav1.ConditionTrue && rec.settingsProblems != "" {
			d.message += "; ignoring invalid settings (the last valid values stay in force): " + rec.settingsProblems
		}
	}()
	rec.created = cp.CreationTimestamp
	if in.problem != nil {
		if in.problem.Reason != clusterprofiles.ReasonOffboarding {
			// An offboarded profile keeps its cluster until it is gone:
			// no duplicate starts writing while offboard runs.
			p.releaseWriterLocked(rec)
		}
		p.stopLocked(rec)
		return notEngaged(in.problem), 0
	}
	if err := p.ensureConnectionLocked(rec, in.profile.Role, in.creds); err != nil {
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonCredentialsInvalid, Message: err.Error()}), 0
	}
	if in.controlPlaneDown != "" {
		p.pauseLocked(rec)
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonPaused, Message: in.controlPlaneDown}), 0
	}
	if pr := rec.conn.usable(p.opts.ProbeFailureThreshold, p.opts.ProbeSuccessThreshold); pr != nil {
		p.pauseLocked(rec)
		d := notEngaged(pr)
		d.settling = !rec.conn.health.probed
		return d, 0
	}
	// The cluster the credentials reach must be the one the profile was
	// first engaged with (for a peer, the only such record).
	rec.pinned = in.pinned
	if pr := clusterprofiles.CheckPinned(in.pinned, rec.conn.health.identity); pr != nil {
		p.pauseLocked(rec)
		return notEngaged(pr), 0
	}
	rec.pinned = rec.conn.health.identity
	// Recorded (report) from the first time the hub proved it on.
	defer func(identity clusterprofiles.Identity) { d.pin = identity }(rec.conn.health.identity)
	if in.profile.Role == clusterprofiles.RoleAPINet {
		return engaged("apinet peer reachable, %s answers (credentials: %s)", in.profile.Role.APIGroupVersion(), rec.conn.source), 0
	}
	if pr := p.claimWriterLocked(rec, rec.conn.health.identity); pr != nil {
		p.disengageLocked(rec)
		if rec.eng.job != nil {
			rec.eng.job.cancel()
		}
		return notEngaged(pr), 0
	}
	if in.claimUnverified != nil && rec.eng.member == nil {
		// Fail closed: without the claimants, a new claim is not made;
		// an engaged member keeps its namespace.
		return notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging,
			Message: fmt.Sprintf("cannot check which profile holds namespace %s of peer %s, retrying: %v",
				in.profile.APINetNamespace, clusterprofiles.ClusterName(in.profile.Peer), in.claimUnverified)}), p.opts.RetryInterval
	}
	return p.decideMember(rec)
}

// decideMember engages an IronCore member whose own cluster is usable, once
// its peer is, for the current engagement key.
func (p *Provider) decideMember(rec *record) (decision, time.Duration) {
	profile := rec.profile
	peerName := clusterprofiles.ClusterName(profile.Peer)
	peer := p.records[profile.Peer]
	if peer == nil || peer.conn == nil {
		p.disengageLocked(rec)
		d := notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerPaused, Message: fmt.Sprintf("peer %s is not connected yet (see its %s condition)", peerName, clusterprofiles.ConditionEngaged)})
		d.settling = peer == nil || peer.decided.reason == "" // not evaluated by this hub yet
		return d, 0
	}
	pr := peer.conn.usable(p.opts.ProbeFailureThreshold, p.opts.ProbeSuccessThreshold)
	if pr == nil {
		// The peer's credentials must reach the apinet cluster recorded on
		// its profile, checked here too: the peer's own reconcile may not
		// have seen a new connection's identity yet.
		pr = clusterprofiles.CheckPinned(peer.pinned, peer.conn.health.identity)
	}
	if pr == nil && peer.decided.reason != clusterprofiles.ReasonEngaged {
		pr = &clusterprofiles.Problem{Reason: peer.decided.reason, Message: peer.decided.message}
		if pr.Reason == "" {
			pr = &clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "not evaluated yet"}
		}
	}
	if pr != nil {
		p.disengageLocked(rec)
		d := notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerPaused, Message: fmt.Sprintf("peer %s: %s: %s", peerName, pr.Reason, pr.Message)})
		d.settling = !peer.conn.health.probed || peer.decided.reason == ""
		return d, 0
	}
	want := engageKey{memberHash: rec.conn.hash, peerHash: peer.conn.hash, identity: rec.conn.health.identity, peer: profile.Peer, namespace: profile.APINetNamespace,
		scope: profile.Scope.Key()}
	connecting := notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "connecting to the cluster and its peer " + string(peerName)})
	eng := &rec.eng
	switch {
	case eng.member != nil && eng.key == want:
		return engaged("reconciling into apinet peer %s, namespace %s (credentials: %s; cluster %s)", peerName, profile.APINetNamespace, rec.conn.source, want.identity), 0
	case eng.job != nil && eng.job.key == want:
		return connecting, 0
	case eng.job != nil:
		// Superseded: cancel it; its end wakes this profile, and the job
		// for the new key starts then, never beside it.
		p.disengageLocked(rec)
		eng.job.cancel()
		return connecting, 0
	case eng.failedFor == want && time.Now().Before(eng.retryAt):
		p.disengageLocked(rec)
		return notEngaged(eng.failure), time.Until(eng.retryAt)
	}
	if eng.failedFor != want {
		eng.backoff = p.opts.retryBackoff()
	}
	p.disengageLocked(rec)
	p.startJobLocked(rec, want, peer.conn)
	return connecting, 0
}

// pairingProblem checks an IronCore profile against the other profiles: its
// peer must be an apinet profile the hub handles, and its apinet namespace
// on that peer must be its own among the profiles. A failed List is
// returned apart (the claim cannot be checked; see decide).
func (p *Provider) pairingProblem(ctx context.Context, profile *clusterprofiles.Profile) (*clusterprofiles.Problem, error) {
	peerName := clusterprofiles.ClusterName(profile.Peer)
	peerCP := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := p.hub.GetClient().Get(ctx, profile.Peer, peerCP); err != nil {
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerNotFound, Message: fmt.Sprintf(
			"the peer named for this cluster, ClusterProfile %s, is not one the hub sees (missing, or neither labelled %s nor selected by the hub's pairing): %v",
			peerName, clusterprofiles.LabelRole, err)}, nil
	}
	if a, _ := p.opts.Pairing.Assign(peerCP); clusterprofiles.Role(a.Role) != clusterprofiles.RoleAPINet {
		from := "label " + clusterprofiles.LabelRole
		if a.From != "label" {
			from = a.From + " (role)"
		}
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonPeerRoleInvalid, Message: fmt.Sprintf(
			"peer %s has %s=%q; an IronCore cluster must name an %q cluster", peerName, from, a.Role, clusterprofiles.RoleAPINet)}, nil
	}
	holder, err := p.namespaceHolder(ctx, profile)
	if err != nil {
		return nil, err
	}
	if holder != profile.Key {
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonNamespaceConflict, Message: fmt.Sprintf(
			"namespace %s of peer %s already belongs to the older ClusterProfile %s; set annotation %s to another namespace",
			profile.APINetNamespace, peerName, holder, clusterprofiles.AnnotationAPINetNamespace)}, nil
	}
	return nil, nil
}

// claimIndex indexes the hub's ClusterProfiles by the apinet namespace an
// IronCore profile claims: "<peer>/<namespace>" (the peer's profile shares
// the member's hub namespace, which the cache keeps apart).
const claimIndex = "apinet-hub.ironcore.dev/claim"

// claimValue is a profile's claimIndex value ("" for none).
func claimValue(profile *clusterprofiles.Profile) string {
	if profile == nil || profile.Role != clusterprofiles.RoleIronCore {
		return ""
	}
	return profile.Peer.Name + "/" + profile.APINetNamespace
}

// indexClaim is claimIndex's index function; the pairing is fixed for the
// process's life, so the index stays true.
func (p *Provider) indexClaim(o client.Object) []string {
	cp, ok := o.(*clusterinventoryv1alpha1.ClusterProfile)
	if !ok || !cp.DeletionTimestamp.IsZero() {
		return nil
	}
	profile, problem := p.opts.Pairing.Parse(cp)
	if v := claimValue(profile); problem == nil && v != "" {
		return []string{v}
	}
	return nil
}

// namespaceHolder returns the profile that holds the member's apinet
// namespace on its peer: of all IronCore profiles naming that peer and
// namespace, the oldest (then by name). Deterministic across hub restarts.
// (The namespace's own owner record, checked when engaging, has the last
// word: this only keeps two profiles from racing for it.) It reads the
// claimants from claimIndex: normally the profile alone.
func (p *Provider) namespaceHolder(ctx context.Context, profile *clusterprofiles.Profile) (types.NamespacedName, error) {
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	if err := p.hub.GetClient().List(ctx, list, client.InNamespace(profile.Key.Namespace),
		client.MatchingFields{claimIndex: claimValue(profile)}); err != nil {
		return types.NamespacedName{}, fmt.Errorf("list the ClusterProfiles of peer %s: %w", profile.Peer.Name, err)
	}
	claimants := list.Items
	if len(claimants) == 0 {
		return profile.Key, nil
	}
	sort.Slice(claimants, func(i, j int) bool {
		ti, tj := claimants[i].CreationTimestamp, claimants[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return claimants[i].Name < claimants[j].Name
	})
	return types.NamespacedName{Namespace: claimants[0].Namespace, Name: claimants[0].Name}, nil
}

// forgetAll forgets a profile that is gone, or no longer the hub's: what
// runs for it here (forget), and its claim as another replica's.
func (p *Provider) forgetAll(key types.NamespacedName) {
	p.forget(key)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropRemoteLocked(key)
}

// forget drops what runs for a profile here (it is gone, no longer
// selected, or another replica's): disengage, stop probing, and let the
// profiles that depended on it re-evaluate.
func (p *Provider) forget(key types.NamespacedName) {
	p.conditions.Delete(key)
	metrics.ForgetCluster(clusterprofiles.LabelValue(clusterprofiles.ClusterName(key)))
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.records[key]
	if rec == nil {
		return
	}
	p.releaseWriterLocked(rec)
	p.stopLocked(rec)
	p.setProfileLocked(rec, nil)
	delete(p.records, key)
	p.wakeMembersOfLocked(key)
}

// setProfileLocked records a profile's reading and keeps peerMembers in
// step. When the apinet namespace an IronCore profile claims changes (it
// appears, goes, or names another peer or namespace), the siblings
// claiming the old or new one are woken: one of them may now hold a freed
// namespace, or lose one. No other change concerns them.
func (p *Provider) setProfileLocked(rec *record, profile *clusterprofiles.Profile) {
	before := rec.profile
	rec.profile = profile
	if rec.writerOf != "" && scopeOf(before).Key() != scopeOf(profile).Key() {
		p.wakeWritersLocked(rec.writerOf, rec) // one may hold the cluster now, or lose it
	}
	if claimValue(before) == claimValue(profile) {
		return
	}
	for _, pr := range []*clusterprofiles.Profile{before, profile} {
		if claimValue(pr) == "" {
			continue
		}
		for key, ns := range p.peerMembers[pr.Peer] {
			if key != rec.key && ns == pr.APINetNamespace {
				p.wakeUp(key)
			}
		}
	}
	if claimValue(before) != "" {
		delete(p.peerMembers[before.Peer], rec.key)
		if len(p.peerMembers[before.Peer]) == 0 {
			delete(p.peerMembers, before.Peer)
		}
	}
	if claimValue(profile) != "" {
		if p.peerMembers[profile.Peer] == nil {
			p.peerMembers[profile.Peer] = map[types.NamespacedName]string{}
		}
		p.peerMembers[profile.Peer][rec.key] = profile.APINetNamespace
	}
}

// wakeMembersOfLocked re-reconciles the IronCore members that name a peer.
func (p *Provider) wakeMembersOfLocked(peer types.NamespacedName) {
	for key := range p.peerMembers[peer] {
		p.wakeUp(key)
	}
}

// reportSettingsLocked remembers the invalid settings being ignored and
// says so with an Event when they change. Caller holds p.mu.
func (p *Provider) reportSettingsLocked(cp *clusterinventoryv1alpha1.ClusterProfile, rec *record, problems []*clusterprofiles.Problem) {
	msgs := make([]string, 0, len(problems))
	for _, pr := range problems {
		msgs = append(msgs, pr.Message)
	}
	text := strings.Join(msgs, "; ")
	if text == rec.settingsProblems {
		return
	}
	rec.settingsProblems = text
	if text != "" {
		p.recorder.Eventf(cp, nil, corev1.EventTypeWarning, clusterprofiles.ReasonAnnotationInvalid, "Configure", "%s", truncate(text, 1000))
	}
}
