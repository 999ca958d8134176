package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// Observer watches one IronCore kind in the bench namespace of several
// members through informers and records when each object first converged.
// Latency is measured from the create (Starts) to the watch event that shows
// the object converged, the same way for every controller setup.
type Observer struct {
	kind Kind

	mu        sync.Mutex
	converged map[string]time.Time // member/name
	perMember map[string]int
	changed   chan struct{}
	stops     map[string]context.CancelFunc
}

// NewObserver returns an observer of kind that watches no member yet.
func NewObserver(kind Kind) *Observer {
	return &Observer{kind: kind, converged: map[string]time.Time{}, perMember: map[string]int{},
		changed: make(chan struct{}, 1), stops: map[string]context.CancelFunc{}}
}

// Watch starts an informer on member and waits until it has synced.
func (o *Observer) Watch(ctx context.Context, member string, cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := cache.New(cfg, cache.Options{Scheme: fleet.Scheme,
		DefaultNamespaces: map[string]cache.Config{benchNamespace: {}}})
	if err != nil {
		return fmt.Errorf("informer cache of %s: %w", member, err)
	}
	informer, err := c.GetInformer(ctx, o.kind.emptyObject())
	if err != nil {
		return fmt.Errorf("%s informer of %s: %w", o.kind, member, err)
	}
	see := func(obj any) {
		if converged(obj) {
			o.record(member, obj.(client.Object).GetName(), time.Now())
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    see,
		UpdateFunc: func(_, obj any) { see(obj) },
	}); err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { _ = c.Start(cctx) }()
	if !c.WaitForCacheSync(ctx) {
		cancel()
		return fmt.Errorf("%s informer of %s did not sync", o.kind, member)
	}
	o.mu.Lock()
	o.stops[member] = cancel
	o.mu.Unlock()
	return nil
}

// WatchAll watches each of members (Watch).
func (o *Observer) WatchAll(ctx context.Context, members []*fleet.Cluster) error {
	for _, m := range members {
		if err := o.Watch(ctx, m.Name, m.Config()); err != nil {
			return err
		}
	}
	return nil
}

// Forget stops watching member (a member whose servers are stopped on
// purpose).
func (o *Observer) Forget(member string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if stop := o.stops[member]; stop != nil {
		stop()
		delete(o.stops, member)
	}
}

// Stop stops every informer.
func (o *Observer) Stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for member, stop := range o.stops {
		stop()
		delete(o.stops, member)
	}
}

func (o *Observer) record(member, name string, t time.Time) {
	key := member + "/" + name
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.converged[key]; seen {
		return
	}
	o.converged[key] = t
	o.perMember[member]++
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// Count is how many objects of member have converged.
func (o *Observer) Count(member string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.perMember[member]
}

// Converged returns when member/name converged.
func (o *Observer) Converged(member, name string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.converged[member+"/"+name]
	return t, ok
}

// WaitFor waits until every member in want has at least that many
// converged objects, or until timeout.
func (o *Observer) WaitFor(ctx context.Context, want map[string]int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		missing := o.missing(want)
		if missing == 0 {
			return nil
		}
		select {
		case <-o.changed:
		case <-deadline.C:
			return fmt.Errorf("%d %ss not converged within %s", missing, o.kind, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (o *Observer) missing(want map[string]int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for member, count := range want {
		n += max(count-o.perMember[member], 0)
	}
	return n
}

// Latencies returns, for the objects of the given members that converged,
// the time from create to convergence, and when the last one converged.
func (o *Observer) Latencies(starts *Starts, members ...string) ([]time.Duration, time.Time) {
	want := map[string]bool{}
	for _, m := range members {
		want[m] = true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []time.Duration
	var last time.Time
	for key, at := range o.converged {
		member, name, _ := cutKey(key)
		if !want[member] {
			continue
		}
		start, ok := starts.Get(member, name)
		if !ok {
			continue // converged before we created it: not ours
		}
		out = append(out, at.Sub(start))
		if at.After(last) {
			last = at
		}
	}
	return out, last
}

func cutKey(key string) (member, name string, ok bool) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", key, false
}

// Span returns when the first and the last object of member converged.
func (o *Observer) Span(member string) (first, last time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for key, at := range o.converged {
		if m, _, _ := cutKey(key); m != member {
			continue
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	return first, last
}
