package providers

import (
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

func poolJob(peer, name string) *job {
	return &job{key: engageKey{peer: types.NamespacedName{Namespace: "fleet", Name: peer}, namespace: name}}
}

// TestJobPoolPeerShare: four workers, a slow peer with eight members queued
// first; a member of a healthy peer queued last still gets a worker at once,
// and the slow peer never runs more than its share.
func TestJobPoolPeerShare(t *testing.T) {
	pl := newJobPool(2)
	for i := range 8 {
		pl.submit(poolJob("slow", string(rune('a'+i))))
	}
	healthy := poolJob("healthy", "h")
	pl.submit(healthy)

	var mu sync.Mutex
	slowRunning, maxSlow := 0, 0
	release := make(chan struct{})
	healthyRan := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for j := pl.next(); j != nil; j = pl.next() {
				if j == healthy {
					close(healthyRan)
				} else {
					mu.Lock()
					slowRunning++
					maxSlow = max(maxSlow, slowRunning)
					mu.Unlock()
					<-release
					mu.Lock()
					slowRunning--
					mu.Unlock()
				}
				pl.done(j)
			}
		})
	}
	select {
	case <-healthyRan:
	case <-time.After(5 * time.Second):
		t.Fatal("the healthy peer's member waited behind the slow peer's")
	}
	close(release)
	pl.close()
	wg.Wait()
	if maxSlow > 2 {
		t.Errorf("the slow peer ran %d jobs at once, share is 2", maxSlow)
	}
}

// TestJobPoolTurns: peers take turns, and a withdrawn job never runs.
func TestJobPoolTurns(t *testing.T) {
	pl := newJobPool(1)
	a1, a2, b1, c1 := poolJob("a", "1"), poolJob("a", "2"), poolJob("b", "1"), poolJob("c", "1")
	for _, j := range []*job{a1, a2, b1, c1} {
		pl.submit(j)
	}
	if !pl.withdraw(c1) || pl.withdraw(c1) {
		t.Fatal("withdraw: want true once, then false")
	}
	var order []*job
	for range 3 {
		j := pl.next()
		order = append(order, j)
		pl.done(j)
	}
	if order[0] != a1 || order[1] != b1 || order[2] != a2 {
		t.Errorf("order = %v, want a1 b1 a2", order)
	}
	done := make(chan *job)
	go func() { done <- pl.next() }()
	pl.close()
	if j := <-done; j != nil {
		t.Errorf("next after close = %v, want nil", j)
	}
}

// TestTuneGivesOneTokenBucketPerConnection: every client built on a tuned
// config draws from one bucket (client-go would give each REST client its
// own), at the member's or the peer's rate.
func TestTuneGivesOneTokenBucketPerConnection(t *testing.T) {
	o := Options{QPS: 7, Burst: 9, PeerQPS: 70, PeerBurst: 90}.defaulted()
	for _, tc := range []struct {
		role clusterprofiles.Role
		qps  float32
	}{{clusterprofiles.RoleIronCore, 7}, {clusterprofiles.RoleAPINet, 70}} {
		cfg := o.tune(&rest.Config{Host: "https://h"}, "c", tc.role)
		if cfg.RateLimiter == nil || cfg.RateLimiter.QPS() != tc.qps {
			t.Fatalf("%s: rate limiter %v, want one of %v QPS", tc.role, cfg.RateLimiter, tc.qps)
		}
		if rest.CopyConfig(cfg).RateLimiter != cfg.RateLimiter {
			t.Fatalf("%s: copies of the config must share the bucket", tc.role)
		}
	}
	if d := (Options{}).defaulted(); d.PeerQPS != 200 || d.PeerBurst != 400 {
		t.Fatalf("peer defaults %v/%v", d.PeerQPS, d.PeerBurst)
	}
}
