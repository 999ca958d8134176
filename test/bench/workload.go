package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// benchNamespace is the IronCore namespace every workload object lives in.
// Each run has a fresh fleet, so one name serves all runs.
const benchNamespace = "bench"

// Kind is an IronCore kind the bench creates, and what "converged" means
// for it.
type Kind string

const (
	// KindNetwork converges when status.state is Available.
	KindNetwork Kind = "Network"
	// KindVirtualIP converges when status.ip is set.
	KindVirtualIP Kind = "VirtualIP"
)

// newObject returns the i-th workload object of the kind (not created yet).
func (k Kind) newObject(i int) client.Object {
	meta := metav1.ObjectMeta{Namespace: benchNamespace, Name: fmt.Sprintf("%s-%05d", k.prefix(), i)}
	switch k {
	case KindVirtualIP:
		return &networkingv1alpha1.VirtualIP{ObjectMeta: meta, Spec: networkingv1alpha1.VirtualIPSpec{
			Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol,
		}}
	default:
		return &networkingv1alpha1.Network{ObjectMeta: meta}
	}
}

// emptyObject is the object the kind's informer watches.
func (k Kind) emptyObject() client.Object {
	if k == KindVirtualIP {
		return &networkingv1alpha1.VirtualIP{}
	}
	return &networkingv1alpha1.Network{}
}

func (k Kind) prefix() string {
	if k == KindVirtualIP {
		return "vip"
	}
	return "net"
}

// converged reports whether a controller has mapped obj: Network Available,
// VirtualIP with an address.
func converged(obj any) bool {
	switch o := obj.(type) {
	case *networkingv1alpha1.Network:
		return o.Status.State == networkingv1alpha1.NetworkStateAvailable
	case *networkingv1alpha1.VirtualIP:
		return o.Status.IP != nil
	}
	return false
}

// Mode is how a workload is created.
type Mode string

const (
	// ModeSteady creates objects at a fixed total rate, round-robin over the members.
	ModeSteady Mode = "steady"
	// ModeBurst creates all objects at once with a fixed number of writers.
	ModeBurst Mode = "burst"
)

// Member is one IronCore member as the workload sees it.
type Member struct {
	Name string
	// Client writes the workload (not rate-limited on the client side).
	Client client.Client
}

// Workload creates perMember objects of one kind in every member.
type Workload struct {
	Kind      Kind
	Mode      Mode
	PerMember int
	// Rate is objects per second over all members (ModeSteady).
	Rate float64
	// Writers create concurrently in ModeBurst.
	Writers int
	// Created, if set, is told about every created object (the floor's
	// notification channel).
	Created func(member string, kind Kind, obj client.Object)
}

// CreateResult is what creating a workload produced.
type CreateResult struct {
	// Started is when the first create was issued, Done when the last returned.
	Started, Done time.Time
	Failed        int
	FirstError    error
}

// Run creates the workload in members and records, in starts, when each
// object's create was issued. Object i goes to member i mod len(members).
func (w Workload) Run(ctx context.Context, members []Member, starts *Starts) CreateResult {
	total := w.PerMember * len(members)
	res := CreateResult{Started: time.Now()}
	var failed atomic.Int32
	var firstErr atomic.Value
	create := func(i int) {
		m := members[i%len(members)]
		obj := w.Kind.newObject(i)
		starts.Set(m.Name, obj.GetName(), time.Now())
		if err := m.Client.Create(ctx, obj); err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, fmt.Errorf("create %s %s in %s: %w", w.Kind, obj.GetName(), m.Name, err))
			return
		}
		if w.Created != nil {
			w.Created(m.Name, w.Kind, obj)
		}
	}
	var wg sync.WaitGroup
	switch w.Mode {
	case ModeSteady:
		interval := time.Duration(float64(time.Second) / w.Rate)
		next := time.Now()
		for i := 0; i < total && ctx.Err() == nil; i++ {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
			wg.Go(func() { create(i) })
		}
	default:
		indices := make(chan int, total)
		for i := range total {
			indices <- i
		}
		close(indices)
		for range max(w.Writers, 1) {
			wg.Go(func() {
				for i := range indices {
					if ctx.Err() != nil {
						return
					}
					create(i)
				}
			})
		}
	}
	wg.Wait()
	res.Done = time.Now()
	res.Failed = int(failed.Load())
	if err, ok := firstErr.Load().(error); ok {
		res.FirstError = err
	}
	return res
}

// Starts records when each object's create was issued, by member and name.
type Starts struct {
	mu sync.Mutex
	at map[string]time.Time
}

// NewStarts returns an empty record.
func NewStarts() *Starts { return &Starts{at: map[string]time.Time{}} }

// Set records the start of member/name.
func (s *Starts) Set(member, name string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[member+"/"+name] = t
}

// Get returns the start of member/name.
func (s *Starts) Get(member, name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[member+"/"+name]
	return t, ok
}
