package providers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// One IronCore object has one writer. Two profiles whose credentials reach
// the same cluster (a copy of a profile in another hub namespace, a GitOps
// duplicate, a second name for the same kubeconfig) would both add
// finalizers and provider IDs to the same IronCore objects and map them into
// two apinet namespaces. The hub lets the older profile (by creation time,
// then namespace/name) engage and refuses the others with
// ReasonDuplicateCluster, naming the profile that holds the cluster.
// Profiles may share a cluster only with disjoint scopes
// (clusterprofiles.Scope: different watch-filter values, or disjoint
// IronCore namespaces): then no object is in two of them.
//
// Every IronCore profile whose last decision got as far as a proven
// identity is a claimant of that identity, until it is deleted, turns
// invalid or is offboarded (releaseWriterLocked). The claimants are indexed
// by identity, so the check costs the same at any fleet size.

// claimWriterLocked makes rec a claimant of the cluster it reaches and
// returns the problem if an older claimant holds it. A change of the
// claimants wakes the others, so that a younger engaged profile gives way at
// once and a waiting one takes over when the holder goes. Caller holds p.mu.
func (p *Provider) claimWriterLocked(rec *record, id clusterprofiles.Identity) *clusterprofiles.Problem {
	p.joinWritersLocked(rec, id)
	scope := scopeOf(rec.profile)
	holder := rec
	for other := range p.writers[id] {
		if other != rec && scopeOf(other.profile).Overlaps(scope) && olderProfile(other, holder) {
			holder = other
		}
	}
	if holder == rec {
		return nil
	}
	if !scope.Whole() || !scopeOf(holder.profile).Whole() {
		return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonDuplicateCluster, Message: fmt.Sprintf(
			"the credentials of this profile reach IronCore cluster %s, where the older ClusterProfile %s already maps %s, which overlaps this profile's %s; one object has one writer, so nothing is written for this profile. Give the profiles disjoint scopes (annotations %s, %s), or delete the duplicate",
			id, holder.key, scopeOf(holder.profile), scope, clusterprofiles.AnnotationWatchFilter, clusterprofiles.AnnotationIronCoreNamespaces)}
	}
	return &clusterprofiles.Problem{Reason: clusterprofiles.ReasonDuplicateCluster, Message: fmt.Sprintf(
		"the credentials of this profile reach IronCore cluster %s, which the older ClusterProfile %s already maps; one cluster has one writer, so nothing is written for this profile. Delete the duplicate profile (or give it the credentials of the cluster it was meant for)",
		id, holder.key)}
}

// joinWritersLocked makes rec a claimant of id (and of nothing else),
// waking the other claimants when that is new. Caller holds p.mu.
func (p *Provider) joinWritersLocked(rec *record, id clusterprofiles.Identity) {
	if rec.writerOf == id {
		return
	}
	p.releaseWriterLocked(rec)
	rec.writerOf = id
	if p.writers[id] == nil {
		p.writers[id] = map[*record]struct{}{}
	}
	p.writers[id][rec] = struct{}{}
	p.wakeWritersLocked(id, rec)
}

// With sharded replicas (Options.Shard), a replica connects only to the
// members it owns, so it cannot prove which cluster another replica's
// profile reaches. It takes the identity that profile's owner recorded on
// it (clusterprofiles.PinnedIdentity, written at its first engagement) as
// that profile's claim: the rule above holds across replicas. Two
// duplicates onboarded at the same moment onto different replicas may both
// write until the first of them has recorded its identity (seconds); one
// replica has no such window.

// claimRemoteLocked keeps cp, a profile another replica owns, as a
// claimant of the cluster recorded on it, or drops its claim when it has
// none (no recorded identity, not a valid IronCore profile). Caller holds
// p.mu.
func (p *Provider) claimRemoteLocked(cp *clusterinventoryv1alpha1.ClusterProfile) {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	profile, problem := p.opts.Pairing.Parse(cp)
	id := clusterprofiles.PinnedIdentity(cp)
	if problem == nil && profile.Role == clusterprofiles.RoleIronCore {
		profile.Scope, problem = profile.Scope.Within(p.opts.WatchFilter)
	}
	if problem != nil || profile.Role != clusterprofiles.RoleIronCore || id == "" {
		p.dropRemoteLocked(key)
		return
	}
	rec := p.remote[key]
	if rec == nil {
		rec = &record{key: key}
		p.remote[key] = rec
	}
	rec.created = cp.CreationTimestamp
	if rec.writerOf == id && scopeOf(rec.profile).Key() != profile.Scope.Key() {
		p.wakeWritersLocked(id, rec) // one may hold the cluster now, or lose it
	}
	rec.profile = profile
	p.joinWritersLocked(rec, id)
}

// dropRemoteLocked drops the claim of a profile another replica owned.
// Caller holds p.mu.
func (p *Provider) dropRemoteLocked(key types.NamespacedName) {
	if rec := p.remote[key]; rec != nil {
		p.releaseWriterLocked(rec)
		delete(p.remote, key)
	}
}

// scopeOf is a profile's scope (the whole cluster for nil).
func scopeOf(profile *clusterprofiles.Profile) clusterprofiles.Scope {
	if profile == nil {
		return clusterprofiles.Scope{}
	}
	return profile.Scope
}

// releaseWriterLocked drops rec's claim, waking the claimants left. Caller
// holds p.mu.
func (p *Provider) releaseWriterLocked(rec *record) {
	id := rec.writerOf
	if id == "" {
		return
	}
	rec.writerOf = ""
	delete(p.writers[id], rec)
	if len(p.writers[id]) == 0 {
		delete(p.writers, id)
		return
	}
	p.wakeWritersLocked(id, rec)
}

func (p *Provider) wakeWritersLocked(id clusterprofiles.Identity, except *record) {
	for other := range p.writers[id] {
		if other != except {
			p.wakeUp(other.key)
		}
	}
}

// olderProfile orders claimants: by creation time, then namespace/name.
func olderProfile(a, b *record) bool {
	if !a.created.Equal(&b.created) {
		return a.created.Before(&b.created)
	}
	return a.key.String() < b.key.String()
}
