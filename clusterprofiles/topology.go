package clusterprofiles

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"
	mchandler "sigs.k8s.io/multicluster-runtime/pkg/handler"
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
	// Settings are the peer's live settings (its apinet profile's), shared
	// by every member mapped into it; nil reads as none.
	Settings *SharedPeerSettings
	// Events dispatches the events of the peer's shared cache to its
	// members by namespace (PeerKind); nil: the member's Cluster has a
	// cache of its own, watched directly.
	Events *Events
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
	// Events dispatches the events of the member's cache to the
	// controllers watching it (MemberKind); nil: each watches directly.
	Events *Events
	// Identity is the cluster the member's credentials reach (proven before
	// engagement; the owner recorded on its apinet namespace).
	Identity Identity
	// TakenOver is true when the member's apinet namespace was claimed by
	// an explicit take-over (see AdoptsUnlabelled).
	TakenOver bool
	// EngagedAt is when this instance of the member was built for
	// engagement; objects created later count towards mapping latency.
	EngagedAt time.Time

	// mapped holds the UIDs of objects already reported mapped by this
	// instance (one latency observation per object and engagement).
	mapped sync.Map
	// deletions is the account of gone-path deletions (GoneDeletions).
	deletions Deletions
	// local holds the reconcilers' state of this engagement (Local).
	local sync.Map

	// work tracks the reconciles running for this engagement (inflight.go).
	work inflight

	settings  atomic.Pointer[Settings]
	listenMu  sync.Mutex
	listeners map[*func()]struct{}
}

// AdoptsUnlabelled reports whether apinet objects without a cluster label
// in the member's namespace (apinetlet's) are the member's to adopt: only
// after an explicit take-over, i.e. the namespace was claimed by one or the
// profile asks for one now (AnnotationTakeOver). Otherwise only objects
// labelled for the member are its own.
func (m *Member) AdoptsUnlabelled() bool { return m.TakenOver || m.Settings().TakeOver }

// Settings returns the member's live settings (profile overrides).
func (m *Member) Settings() Settings {
	if s := m.settings.Load(); s != nil {
		return *s
	}
	return Settings{}
}

// SetSettings puts new settings in force and, if they differ from the
// current ones, tells every listener (OnSettingsChange) so that the objects
// they affect are reconciled again, without re-engaging the member.
func (m *Member) SetSettings(s Settings) {
	if old := m.settings.Swap(&s); old != nil && reflect.DeepEqual(*old, s) {
		return
	}
	m.listenMu.Lock()
	fns := make([]func(), 0, len(m.listeners))
	for fn := range m.listeners {
		fns = append(fns, *fn)
	}
	m.listenMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// OnSettingsChange calls fn after every change of the member's settings,
// until ctx ends.
func (m *Member) OnSettingsChange(ctx context.Context, fn func()) {
	m.listenMu.Lock()
	defer m.listenMu.Unlock()
	if m.listeners == nil {
		m.listeners = map[*func()]struct{}{}
	}
	key := &fn
	m.listeners[key] = struct{}{}
	context.AfterFunc(ctx, func() {
		m.listenMu.Lock()
		defer m.listenMu.Unlock()
		delete(m.listeners, key)
	})
}

// FirstMapping records that the IronCore object of uid is mapped and
// reports whether that is news for this engagement of the member.
func (m *Member) FirstMapping(uid types.UID) bool {
	_, seen := m.mapped.LoadOrStore(uid, struct{}{})
	return !seen
}

// Local returns the value kept under key for this engagement, made by mk
// on first use. State the reconcilers keep per member (their applied memo)
// goes with the engagement, so it is bounded by the members engaged and
// starts afresh when a member is engaged again.
func (m *Member) Local(key any, mk func() any) any {
	if v, ok := m.local.Load(key); ok {
		return v
	}
	v, _ := m.local.LoadOrStore(key, mk())
	return v
}

// ForgetMapping drops a deleted object's record.
func (m *Member) ForgetMapping(uid types.UID) { m.mapped.Delete(uid) }

// Topology knows which IronCore members are engaged and with which peer.
// The provider writes it; reconcilers read it.
type Topology struct {
	mu           sync.RWMutex
	members      map[multicluster.ClusterName]*Member
	peerIndexers []index
	// The kinds the reconcilers watch in members and in peers: the
	// provider starts and syncs their informers before it engages a member,
	// so that engaging never lists a member under multicluster-runtime's
	// per-controller locks.
	memberKinds, peerKinds []client.Object
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

// UseMemberKind records a kind the reconcilers watch in every member.
func (t *Topology) UseMemberKind(obj client.Object) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.memberKinds = appendKind(t.memberKinds, obj)
}

// UsePeerKind records a kind the reconcilers watch in every peer.
func (t *Topology) UsePeerKind(obj client.Object) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.peerKinds = appendKind(t.peerKinds, obj)
}

// MemberKinds and PeerKinds return the recorded kinds.
func (t *Topology) MemberKinds() []client.Object {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.memberKinds)
}

// PeerKinds: see MemberKinds.
func (t *Topology) PeerKinds() []client.Object {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.peerKinds)
}

func appendKind(kinds []client.Object, obj client.Object) []client.Object {
	for _, k := range kinds {
		if fmt.Sprintf("%T", k) == fmt.Sprintf("%T", obj) {
			return kinds
		}
	}
	return append(kinds, obj)
}

// PeerKind is a multicluster source for reconcilers: it watches an apinet
// kind in the peer of every engaged member and turns each event, through
// mapFn (apinet object -> IronCore objects it stems from), into requests for
// that member. It engages only with Members.
func PeerKind[T client.Object](obj T, mapFn func(context.Context, *Member, T) []reconcile.Request) mcsource.TypedSource[client.Object, mcreconcile.Request] {
	return &peerKind[T]{obj: obj, mapFn: mapFn}
}

type peerKind[T client.Object] struct {
	obj   T
	mapFn func(context.Context, *Member, T) []reconcile.Request
}

func (k *peerKind[T]) ForCluster(name multicluster.ClusterName, cl cluster.Cluster) (crsource.TypedSource[mcreconcile.Request], bool, error) {
	m, ok := cl.(*Member)
	if !ok {
		return nil, false, nil
	}
	requests := func(ctx context.Context, o T) []mcreconcile.Request {
		reqs := k.mapFn(ctx, m, o)
		out := make([]mcreconcile.Request, 0, len(reqs))
		for _, r := range reqs {
			out = append(out, mcreconcile.Request{Request: r, ClusterName: name})
		}
		return out
	}
	if m.Peer.Events == nil {
		h := handler.TypedEnqueueRequestsFromMapFunc(requests)
		return crsource.TypedKind[T, mcreconcile.Request](m.Peer.GetCache(), k.obj, h), true, nil
	}
	// The shared cache is synced before a member is engaged: subscribing
	// registers the member's namespace with the one handler of this kind.
	return crsource.TypedFunc[mcreconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[mcreconcile.Request]) error {
		enqueue := func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if o, ok := obj.(T); ok && ctx.Err() == nil {
				for _, r := range requests(ctx, o) {
					q.Add(r)
				}
			}
		}
		return m.Peer.Events.Subscribe(ctx, k.obj, m.Peer.Namespace, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(old, obj any) { enqueue(old); enqueue(obj) },
			DeleteFunc: enqueue,
		})
	}), true, nil
}

// MemberKind is a multicluster source for reconcilers: it watches an
// IronCore kind in every engaged member through the member's Events (one
// informer handler per kind, however many controllers watch it), filters
// each event with preds and hands it to the handler newHandler makes for
// the member, as multicluster-runtime's Kind does (which it is for a cluster
// that is not a Member with Events).
func MemberKind(obj client.Object, newHandler mchandler.TypedEventHandlerFunc[client.Object, mcreconcile.Request], preds ...predicate.Predicate) mcsource.TypedSource[client.Object, mcreconcile.Request] {
	return &memberKind{obj: obj, newHandler: newHandler, preds: preds}
}

type memberKind struct {
	obj        client.Object
	newHandler mchandler.TypedEventHandlerFunc[client.Object, mcreconcile.Request]
	preds      []predicate.Predicate // for the fallback
}

func (k *memberKind) ForCluster(name multicluster.ClusterName, cl cluster.Cluster) (crsource.TypedSource[mcreconcile.Request], bool, error) {
	m, ok := cl.(*Member)
	if !ok || m.Events == nil {
		return mcsource.Kind(k.obj, k.newHandler, k.preds...).ForCluster(name, cl)
	}
	h := k.newHandler(name, cl)
	return crsource.TypedFunc[mcreconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[mcreconcile.Request]) error {
		return m.Events.Subscribe(ctx, k.obj, AllNamespaces, &memberEvents{ctx: ctx, q: q, h: h, pred: predicate.And(k.preds...)})
	}), true, nil
}

// memberEvents turns a member informer's events into a controller's
// events, as controller-runtime's Kind source does.
type memberEvents struct {
	ctx  context.Context
	q    workqueue.TypedRateLimitingInterface[mcreconcile.Request]
	h    handler.TypedEventHandler[client.Object, mcreconcile.Request]
	pred predicate.Predicate // all of the watch's predicates
}

func (e *memberEvents) OnAdd(obj any, isInInitialList bool) {
	o, ok := obj.(client.Object)
	if !ok || e.ctx.Err() != nil {
		return
	}
	if ev := (event.CreateEvent{Object: o, IsInInitialList: isInInitialList}); e.pred.Create(ev) {
		e.h.Create(e.ctx, ev, e.q)
	}
}

func (e *memberEvents) OnUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(client.Object)
	obj, ok2 := newObj.(client.Object)
	if !ok1 || !ok2 || e.ctx.Err() != nil {
		return
	}
	if ev := (event.UpdateEvent{ObjectOld: old, ObjectNew: obj}); e.pred.Update(ev) {
		e.h.Update(e.ctx, ev, e.q)
	}
}

func (e *memberEvents) OnDelete(obj any) {
	ev := event.DeleteEvent{}
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, ev.DeleteStateUnknown = d.Obj, true
	}
	o, ok := obj.(client.Object)
	if !ok || e.ctx.Err() != nil {
		return
	}
	ev.Object = o
	if e.pred.Delete(ev) {
		e.h.Delete(e.ctx, ev, e.q)
	}
}
