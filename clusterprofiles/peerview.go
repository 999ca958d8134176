package clusterprofiles

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
)

// This file is how the members of one peer share it: one apinet cache per
// peer connection, with cluster-wide informers (so that the peer's watches
// and the hub's memory do not grow with the number of members), seen by each
// member through a view confined to its apinet namespace, and one event
// handler per (peer, kind, watch) that hands each event to the member whose
// namespace it is in.

// NewPeerView returns a member's view of a shared peer cluster: every read
// (cache, client, API reader) and write of a namespaced object is confined
// to namespace. A read or write naming another namespace is an error, and a
// List without a namespace lists namespace only, so that no member can
// touch, count or clean up another member's apinet objects through its view.
// Cluster-scoped objects (the namespace itself) are read as they are.
func NewPeerView(shared cluster.Cluster, namespace string) cluster.Cluster {
	c := shared.GetClient()
	return &peerView{
		Cluster:   shared,
		namespace: namespace,
		client:    client.NewNamespacedClient(c, namespace),
		cache:     namespacedCache{Cache: shared.GetCache(), guard: guard{namespace, c.IsObjectNamespaced}},
		reader:    namespacedReader{Reader: shared.GetAPIReader(), guard: guard{namespace, c.IsObjectNamespaced}},
	}
}

type peerView struct {
	cluster.Cluster
	namespace string
	client    client.Client
	cache     namespacedCache
	reader    namespacedReader
}

func (v *peerView) GetClient() client.Client    { return v.client }
func (v *peerView) GetCache() cache.Cache       { return v.cache }
func (v *peerView) GetAPIReader() client.Reader { return v.reader }

// guard confines reads to one namespace.
type guard struct {
	namespace  string
	namespaced func(runtime.Object) (bool, error)
}

func (g guard) get(key client.ObjectKey, obj runtime.Object) error {
	if key.Namespace == g.namespace {
		return nil
	}
	namespaced, err := g.namespaced(obj)
	if err != nil {
		return err
	}
	if namespaced {
		return fmt.Errorf("%s is outside namespace %s, the only one of this member in its peer", key, g.namespace)
	}
	return nil
}

func (g guard) list(list client.ObjectList, opts []client.ListOption) ([]client.ListOption, error) {
	namespaced, err := g.namespaced(list)
	if err != nil || !namespaced {
		return opts, err
	}
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	switch lo.Namespace {
	case "":
		return append(opts, client.InNamespace(g.namespace)), nil
	case g.namespace:
		return opts, nil
	}
	return nil, fmt.Errorf("namespace %s is not namespace %s, the only one of this member in its peer", lo.Namespace, g.namespace)
}

type namespacedReader struct {
	client.Reader
	guard
}

func (r namespacedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := r.get(key, obj); err != nil {
		return err
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r namespacedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	opts, err := r.list(list, opts)
	if err != nil {
		return err
	}
	return r.Reader.List(ctx, list, opts...)
}

type namespacedCache struct {
	cache.Cache
	guard
}

func (c namespacedCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return namespacedReader{Reader: c.Cache, guard: c.guard}.Get(ctx, key, obj, opts...)
}

func (c namespacedCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return namespacedReader{Reader: c.Cache, guard: c.guard}.List(ctx, list, opts...)
}

// PeerEvents hands the events of a shared peer cache's informers to the
// members they concern: one informer handler per watch (Subscribe's key),
// which looks the event's namespace up among the members subscribed. The
// cost of an event is one map lookup, whatever the number of members.
type PeerEvents struct {
	cache cache.Cache
	mu    sync.Mutex
	kinds map[any]*kindEvents
}

// NewPeerEvents returns the dispatcher of a shared peer cache.
func NewPeerEvents(c cache.Cache) *PeerEvents {
	return &PeerEvents{cache: c, kinds: map[any]*kindEvents{}}
}

type kindEvents struct {
	// store is the informer's: a subscriber that joins after it has synced
	// gets its namespace's objects from it (replay).
	store       toolscache.Indexer
	mu          sync.RWMutex
	byNamespace map[string]map[*subscription]struct{}
}

type subscription struct{ fn func(obj any) }

// Subscribe calls fn with every object of kind in namespace that the peer's
// informer adds, updates (old and new) or deletes, until ctx ends. key
// names the watch: subscribers under one key share one informer handler.
//
// A subscriber first gets every object of its namespace the informer holds
// already, as client-go gives a handler added to a running informer: a
// member engaged after the shared cache synced (every member but the first,
// every member after a restart of the hub) must see the apinet objects that
// exist, or one whose IronCore source went while the hub was down would
// never reach the gone path.
func (e *PeerEvents) Subscribe(ctx context.Context, key any, kind client.Object, namespace string, fn func(obj any)) error {
	e.mu.Lock()
	k := e.kinds[key]
	if k == nil {
		informer, err := e.cache.GetInformer(ctx, kind)
		if err != nil {
			e.mu.Unlock()
			return fmt.Errorf("informer for %T: %w", kind, err)
		}
		indexed, ok := informer.(toolscache.SharedIndexInformer)
		if !ok {
			e.mu.Unlock()
			return fmt.Errorf("informer for %T is a %T, which offers no store to replay", kind, informer)
		}
		k = &kindEvents{store: indexed.GetIndexer(), byNamespace: map[string]map[*subscription]struct{}{}}
		if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    k.dispatch,
			UpdateFunc: func(old, obj any) { k.dispatch(old); k.dispatch(obj) },
			DeleteFunc: k.dispatch,
		}); err != nil {
			e.mu.Unlock()
			return fmt.Errorf("handler for %T: %w", kind, err)
		}
		e.kinds[key] = k
	}
	e.mu.Unlock()

	s := &subscription{fn: fn}
	k.mu.Lock()
	if k.byNamespace[namespace] == nil {
		k.byNamespace[namespace] = map[*subscription]struct{}{}
	}
	k.byNamespace[namespace][s] = struct{}{}
	k.mu.Unlock()
	context.AfterFunc(ctx, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		delete(k.byNamespace[namespace], s)
		if len(k.byNamespace[namespace]) == 0 {
			delete(k.byNamespace, namespace)
		}
	})
	// After registering: an object added meanwhile comes twice at worst
	// (a request is idempotent), never not at all.
	existing, err := k.store.ByIndex(toolscache.NamespaceIndex, namespace)
	if err != nil {
		return fmt.Errorf("replay %T of namespace %s: %w", kind, namespace, err)
	}
	for _, obj := range existing {
		fn(obj)
	}
	return nil
}

func (k *kindEvents) dispatch(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	k.mu.RLock()
	subs := k.byNamespace[o.GetNamespace()]
	fns := make([]func(any), 0, len(subs))
	for s := range subs {
		fns = append(fns, s.fn)
	}
	k.mu.RUnlock()
	for _, fn := range fns {
		fn(o)
	}
}
