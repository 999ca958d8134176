package clusterprofiles

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"
	mcsource "sigs.k8s.io/multicluster-runtime/pkg/source"
)

// LabelCluster is set on every apinet object the hub writes: the member's
// LabelValue. Every list or delete by origin also filters on it, so two
// members never touch each other's objects.
const LabelCluster = "apinet-hub.ironcore.dev/cluster"

// Peer is what one IronCore member sees of its apinet peer: a cluster whose
// cache holds only the member's apinet namespace (the hub watches nothing
// else in a peer).
type Peer struct {
	cluster.Cluster
	// Name is the peer's cluster name in the hub.
	Name multicluster.ClusterName
	// Namespace is the member's apinet namespace in the peer.
	Namespace string
}

// Member is an engaged IronCore member: the cluster the reconcilers read
// IronCore objects from, and its peer. It is what the provider engages, so a
// reconciler gets it for a request's ClusterName from the Topology.
type Member struct {
	cluster.Cluster
	Profile Profile
	// Label is LabelValue(Profile.Name): the value of LabelCluster.
	Label string
	Peer  *Peer
	// EngagedAt is when this instance of the member was built for
	// engagement; objects created later count towards mapping latency.
	EngagedAt time.Time

	// mapped holds the UIDs of objects already reported mapped by this
	// instance (one latency observation per object and engagement).
	mapped sync.Map
}

// FirstMapping records that the IronCore object of uid is mapped and
// reports whether that is news for this engagement of the member.
func (m *Member) FirstMapping(uid types.UID) bool {
	_, seen := m.mapped.LoadOrStore(uid, struct{}{})
	return !seen
}

// ForgetMapping drops a deleted object's record.
func (m *Member) ForgetMapping(uid types.UID) { m.mapped.Delete(uid) }

// Topology knows which IronCore members are engaged and with which peer.
// The provider writes it; reconcilers read it.
type Topology struct {
	mu           sync.RWMutex
	members      map[multicluster.ClusterName]*Member
	peerIndexers []index
}

type index struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

// NewTopology returns an empty topology.
func NewTopology() *Topology {
	return &Topology{members: map[multicluster.ClusterName]*Member{}}
}

// Member returns the engaged member of that name, or an error wrapping
// multicluster.ErrClusterNotFound (paused, removed or never engaged).
func (t *Topology) Member(name multicluster.ClusterName) (*Member, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if m, ok := t.members[name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("IronCore member %q is not engaged: %w", name, multicluster.ErrClusterNotFound)
}

// Members returns the names of all engaged members, sorted.
func (t *Topology) Members() []multicluster.ClusterName {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Sorted(maps.Keys(t.members))
}

// MembersOf returns the engaged members paired with a peer, sorted.
func (t *Topology) MembersOf(peer multicluster.ClusterName) []multicluster.ClusterName {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []multicluster.ClusterName
	for name, m := range t.members {
		if m.Peer.Name == peer {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Put records an engaged member, replacing an older instance of the name.
func (t *Topology) Put(m *Member) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.members[m.Profile.Name] = m
}

// Remove forgets m if it is still the instance recorded under its name (a
// newer one is left alone).
func (t *Topology) Remove(m *Member) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.members[m.Profile.Name] == m {
		delete(t.members, m.Profile.Name)
	}
}

// IndexPeerField registers a field index on the peer caches of all members,
// current and future (like multicluster.Provider.IndexField for members).
func (t *Topology) IndexPeerField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	t.mu.Lock()
	t.peerIndexers = append(t.peerIndexers, index{obj, field, extract})
	members := slices.Collect(maps.Values(t.members))
	t.mu.Unlock()
	for _, m := range members {
		if err := m.Peer.GetFieldIndexer().IndexField(ctx, obj, field, extract); err != nil {
			return fmt.Errorf("index %s on the peer of %s: %w", field, m.Profile.Name, err)
		}
	}
	return nil
}

// ApplyPeerIndexes applies every registered peer index to a new peer view.
func (t *Topology) ApplyPeerIndexes(ctx context.Context, peer cluster.Cluster) error {
	t.mu.RLock()
	indexers := slices.Clone(t.peerIndexers)
	t.mu.RUnlock()
	for _, ix := range indexers {
		if err := peer.GetFieldIndexer().IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return fmt.Errorf("index %s: %w", ix.field, err)
		}
	}
	return nil
}

// PeerKind is a multicluster source for reconcilers: it watches an apinet
// kind in the peer of every engaged member and turns each event, through
// mapFn (apinet object -> IronCore objects it stems from), into requests for
// that member. It engages only with Members.
func PeerKind[T client.Object](obj T, mapFn func(context.Context, *Member, T) []reconcile.Request) mcsource.TypedSource[client.Object, mcreconcile.Request] {
	return peerKind[T]{obj: obj, mapFn: mapFn}
}

type peerKind[T client.Object] struct {
	obj   T
	mapFn func(context.Context, *Member, T) []reconcile.Request
}

func (k peerKind[T]) ForCluster(name multicluster.ClusterName, cl cluster.Cluster) (crsource.TypedSource[mcreconcile.Request], bool, error) {
	m, ok := cl.(*Member)
	if !ok {
		return nil, false, nil
	}
	h := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o T) []mcreconcile.Request {
		reqs := k.mapFn(ctx, m, o)
		out := make([]mcreconcile.Request, 0, len(reqs))
		for _, r := range reqs {
			out = append(out, mcreconcile.Request{Request: r, ClusterName: name})
		}
		return out
	})
	return crsource.TypedKind[T, mcreconcile.Request](m.Peer.GetCache(), k.obj, h), true, nil
}
