package providers

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/peers"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/sharder"
	"sigs.k8s.io/multicluster-runtime/pkg/util/sanitize"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Labels and annotation of replica Leases, as multicluster-runtime's own
// registry (peers.NewLeaseRegistry) writes them, so that replicas of either
// registry see each other.
const (
	replicaLabelPartOf = "app.kubernetes.io/part-of"
	replicaLabelPeer   = "mcr.sigs.k8s.io/peer"
	replicaLabelPrefix = "mcr.sigs.k8s.io/prefix"
	replicaWeight      = "mcr.sigs.k8s.io/weight"
)

// ReplicaRegistry is how the hub's sharded replicas find each other: one
// Lease per replica, <prefix>-<id>, in namespace. multicluster-runtime's
// registry fixes the Lease's time to live at 30 s (renewed every 10 s), so a
// dead replica's members wait up to 40 s before the others take them over,
// and a replica that stops cleanly leaves its Lease to expire. This one
// lives ttl (ReplicaTTL: a third of the hub's lease duration), is renewed
// every ttl/3, reads the others every second, and deletes its Lease when it
// stops, so that the others rehash at once.
//
// It is also the replica's Shard (Options.Shard): the provider engages only
// the members it owns, by the same rendezvous hashing over the same live
// replicas as the coordinator's fences, so that a replica builds the caches
// of its share of the fleet only.
func ReplicaRegistry(c client.Client, namespace, prefix, id string, ttl time.Duration, log logr.Logger) *Replicas {
	id = sanitize.DNS1123(id) // part of a Lease name, as upstream's
	return &Replicas{c: c, namespace: namespace, prefix: prefix, self: sharder.PeerInfo{ID: id, Weight: 1}, ttl: ttl,
		log: log.WithName("replicas"), peers: []sharder.PeerInfo{{ID: id, Weight: 1}}, sharder: Sharder(),
		ready: make(chan struct{}), changes: make(chan struct{}, 1)}
}

// ReplicaTTL is how long a replica that stops renewing its Lease counts as
// live: a third of the lease duration of the members' fences, at least 2 s.
// The fences keep a dead replica's members from being written by another
// replica until they expire, one lease duration after its last renewal;
// seeing the replica gone sooner lets the survivors connect to those members
// and sync their caches meanwhile, so that they take them over about when
// the fences expire rather than one lease duration plus the time to engage
// them later. A replica that only misses renewals for a moment (its API
// server is slow) loses nothing it writes: its fences hold, and the others
// give back the members they engaged once it renews again.
func ReplicaTTL(leaseDuration time.Duration) time.Duration {
	return max(leaseDuration/3, 2*time.Second)
}

// Replicas is a replica registry (multicluster-runtime's peers.Registry)
// and the Shard it defines (ReplicaRegistry).
type Replicas struct {
	c                 client.Client
	namespace, prefix string
	self              sharder.PeerInfo
	ttl               time.Duration
	log               logr.Logger
	sharder           sharder.Sharder

	// ready is closed by the first read of the replicas: before it, a
	// replica would own every member (it knows only itself).
	ready   chan struct{}
	changes chan struct{} // one pending signal: the replicas changed

	mu    sync.RWMutex
	peers []sharder.PeerInfo
}

var _ peers.Registry = (*Replicas)(nil)

// Owns reports whether this replica owns the profile key among the live
// replicas: the coordinator's rendezvous hashing (Sharder) of its shard
// alias.
func (r *Replicas) Owns(key types.NamespacedName) bool {
	return r.sharder.ShouldOwn(string(shardAlias(clusterprofiles.ClusterName(key))), r.Snapshot(), r.self)
}

// Ready is closed once the live replicas have been read.
func (r *Replicas) Ready() <-chan struct{} { return r.ready }

// Changes delivers a signal after the live replicas changed: who owns what
// may have changed.
func (r *Replicas) Changes() <-chan struct{} { return r.changes }

func (r *Replicas) Self() sharder.PeerInfo { return r.self }

func (r *Replicas) Snapshot() []sharder.PeerInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.peers
}

func (r *Replicas) name() string { return r.prefix + "-" + r.self.ID }

// Run renews this replica's Lease and reads the others' until ctx ends,
// then deletes the Lease.
func (r *Replicas) Run(ctx context.Context) error {
	defer r.leave()
	renewEvery := max(r.ttl/3, time.Second)
	var renewed time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if time.Since(renewed) >= renewEvery {
			if err := r.renew(ctx); err != nil {
				r.log.V(1).Info("cannot renew this replica's Lease; retrying", "error", err.Error())
			} else {
				renewed = time.Now()
			}
		}
		if err := r.read(ctx); err != nil {
			r.log.V(1).Info("cannot read the replicas' Leases; retrying", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (r *Replicas) renew(ctx context.Context) error {
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{}
	err := r.c.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: r.name()}, lease)
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: r.name(),
			Labels:      map[string]string{replicaLabelPartOf: "multicluster-runtime", replicaLabelPeer: "true", replicaLabelPrefix: r.prefix},
			Annotations: map[string]string{replicaWeight: "1"}}}
	} else if err != nil {
		return err
	}
	lease.Spec.HolderIdentity = ptr.To(r.self.ID)
	lease.Spec.RenewTime = &now
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(max(r.ttl/time.Second, 1)))
	if lease.ResourceVersion == "" {
		return r.c.Create(ctx, lease)
	}
	return r.c.Update(ctx, lease)
}

// read takes the live replicas (renewed within their time to live) as the
// snapshot, this one always among them.
func (r *Replicas) read(ctx context.Context) error {
	list := &coordinationv1.LeaseList{}
	if err := r.c.List(ctx, list, client.InNamespace(r.namespace),
		client.MatchingLabels{replicaLabelPeer: "true", replicaLabelPrefix: r.prefix}); err != nil {
		return err
	}
	live := []sharder.PeerInfo{r.self}
	for _, l := range list.Items {
		s := l.Spec
		if s.HolderIdentity == nil || *s.HolderIdentity == "" || *s.HolderIdentity == r.self.ID || s.RenewTime == nil || s.LeaseDurationSeconds == nil ||
			time.Since(s.RenewTime.Time) > time.Duration(*s.LeaseDurationSeconds)*time.Second {
			continue
		}
		weight := uint32(1)
		if w, err := strconv.ParseUint(l.Annotations[replicaWeight], 10, 32); err == nil && w > 0 {
			weight = uint32(w)
		}
		live = append(live, sharder.PeerInfo{ID: *s.HolderIdentity, Weight: weight})
	}
	slices.SortFunc(live, func(a, b sharder.PeerInfo) int { return strings.Compare(a.ID, b.ID) })
	r.mu.Lock()
	changed := !slices.Equal(r.peers, live)
	r.peers = live
	r.mu.Unlock()
	select {
	case <-r.ready:
		if changed {
			select {
			case r.changes <- struct{}{}:
			default: // one pending signal says it all
			}
		}
	default:
		close(r.ready)
	}
	return nil
}

// leave deletes this replica's Lease (a clean stop), bounded by 5 s.
func (r *Replicas) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: r.name()}}
	if err := r.c.Delete(ctx, lease); err != nil && !apierrors.IsNotFound(err) {
		r.log.Info("cannot delete this replica's Lease; it expires by itself", "error", err.Error())
	}
}
