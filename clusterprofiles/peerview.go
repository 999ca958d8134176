package clusterprofiles

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
)

// This file is how the members of one peer share it: one apinet cache per
// peer connection, with cluster-wide informers (so that the peer's watches
// and the hub's memory do not grow with the number of members), seen by each
// member through a view confined to its apinet namespace, and one event
// handler per (peer, kind) that hands each event to the members whose
// namespace it is in (Events).

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
