package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// workloadOptions shape the load of startWorkload.
type workloadOptions struct {
	// Prefix starts the names of the objects this run creates ("<prefix>-<n>").
	Prefix string
	// Population is the number of live objects each member hovers around:
	// below half of it the driver only creates, above 1.5 times it only
	// deletes, in between it does either at random. Default 16.
	Population int
	// Interval between two operations on one member. Default 150ms.
	Interval time.Duration
	// Seed makes a run repeatable; 0 picks one (logged).
	Seed uint64
}

// workload creates and deletes IronCore Networks and VirtualIPs in the
// workload namespace of each member steadily, as users would, whatever the
// fleet is going through: a failed operation is counted and the driver goes
// on. Objects it finds at start count as its own, so it also deletes objects
// older than the run.
type workload struct {
	opts    workloadOptions
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	created atomic.Int64
	deleted atomic.Int64
	failed  atomic.Int64
}

// workloadStats is what a run did.
type workloadStats struct {
	Created, Deleted, Failed int64
}

func (s workloadStats) String() string {
	return fmt.Sprintf("%d created, %d deleted, %d operations failed", s.Created, s.Deleted, s.Failed)
}

// startWorkload starts one driver per member; stop ends them.
func startWorkload(ctx context.Context, members []*fleet.Cluster, opts workloadOptions) *workload {
	if opts.Population == 0 {
		opts.Population = 16
	}
	if opts.Interval == 0 {
		opts.Interval = 150 * time.Millisecond
	}
	if opts.Seed == 0 {
		opts.Seed = rand.Uint64()
	}
	if opts.Prefix == "" {
		opts.Prefix = "w"
	}
	GinkgoWriter.Printf("workload %s: seed %d, population %d per member, one operation per %s per member\n",
		opts.Prefix, opts.Seed, opts.Population, opts.Interval)
	ctx, cancel := context.WithCancel(ctx)
	w := &workload{opts: opts, cancel: cancel}
	for i, m := range members {
		rnd := rand.New(rand.NewPCG(opts.Seed, uint64(i)))
		w.wg.Go(func() { w.drive(ctx, m, rnd) })
	}
	return w
}

// stop ends the drivers and returns what they did.
func (w *workload) stop() workloadStats {
	w.cancel()
	w.wg.Wait()
	return workloadStats{Created: w.created.Load(), Deleted: w.deleted.Load(), Failed: w.failed.Load()}
}

func (w *workload) drive(ctx context.Context, m *fleet.Cluster, rnd *rand.Rand) {
	live := w.existing(ctx, m)
	seq := 0
	ticker := time.NewTicker(w.opts.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n, pop := len(live), w.opts.Population
		create := n < pop/2 || (n < pop*3/2 && rnd.IntN(2) == 0)
		opCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if create {
			seq++
			obj := newWorkloadObject(rnd, fmt.Sprintf("%s-%d", w.opts.Prefix, seq))
			err := m.Client().Create(opCtx, obj)
			switch {
			case err == nil, apierrors.IsAlreadyExists(err):
				live = append(live, obj)
				w.created.Add(1)
			case ctx.Err() == nil:
				w.failed.Add(1)
			}
		} else {
			i := rnd.IntN(n)
			err := m.Client().Delete(opCtx, live[i])
			switch {
			case err == nil, apierrors.IsNotFound(err):
				live = append(live[:i], live[i+1:]...)
				w.deleted.Add(1)
			case ctx.Err() == nil:
				w.failed.Add(1)
			}
		}
		cancel()
	}
}

// existing lists the live Networks and VirtualIPs of the workload namespace.
func (w *workload) existing(ctx context.Context, m *fleet.Cluster) []client.Object {
	var live []client.Object
	networks, vips := &networkingv1alpha1.NetworkList{}, &networkingv1alpha1.VirtualIPList{}
	if err := m.Client().List(ctx, networks, client.InNamespace(workloadNamespace)); err == nil {
		for i := range networks.Items {
			if networks.Items[i].DeletionTimestamp == nil {
				live = append(live, &networks.Items[i])
			}
		}
	}
	if err := m.Client().List(ctx, vips, client.InNamespace(workloadNamespace)); err == nil {
		for i := range vips.Items {
			if vips.Items[i].DeletionTimestamp == nil {
				live = append(live, &vips.Items[i])
			}
		}
	}
	return live
}

// newWorkloadObject is a Network or, as often, a public IPv4 VirtualIP.
func newWorkloadObject(rnd *rand.Rand, name string) client.Object {
	meta := metav1.ObjectMeta{Namespace: workloadNamespace, Name: name}
	if rnd.IntN(2) == 0 {
		return &networkingv1alpha1.Network{ObjectMeta: meta}
	}
	return &networkingv1alpha1.VirtualIP{ObjectMeta: meta, Spec: networkingv1alpha1.VirtualIPSpec{
		Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol,
	}}
}
