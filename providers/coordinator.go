package providers

import (
	"context"
	"fmt"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// ShardedCoordinator wraps multicluster-runtime v0.24.1's sharded
// coordinator (pkg/manager/coordinator/sharded) around two of its defects,
// in this one place:
//
//   - Fence names. It names a member's fence Lease
//     <prefix>-sanitize.DNS1123(<cluster name>) (coordinator.go, fenceName):
//     "/" becomes "-", so members a-b/c and a/b-c share one fence, and the
//     name is unbounded (a Lease name has at most 253 characters). The
//     inner coordinator here sees every member under an alias,
//     clusterprofiles.LabelValue of its name ("<namespace>.<name>",
//     namespaces hold no dots, so it is unique; at most 63 characters, with a
//     hash suffix past that), and the manager's awares get the real name
//     back. The sharder hashes the alias too.
//   - Contexts. recompute derives the context of every member it starts from
//     the context it was called with, and Engage calls it with the context
//     of the member being engaged (coordinator.go, Engage → recompute →
//     context.WithCancel(parent)): when that member goes, every member
//     started in the same recompute stops silently. Here each member's
//     context is canceled with the cause memberGone{name}; an engagement
//     whose context ends with another member's cause is kept running on its
//     own member's context, and the member is handed to the inner
//     coordinator again, so that its next deliberate stop (a lost or
//     released fence) reaches it.
func ShardedCoordinator(inner mcmanager.Coordinator) mcmanager.Coordinator {
	return &coordinator{inner: inner, members: map[multicluster.ClusterName]*coordinated{}}
}

type coordinator struct {
	inner mcmanager.Coordinator

	mu      sync.Mutex
	members map[multicluster.ClusterName]*coordinated // by alias
}

// coordinated is one member as the wrapper knows it.
type coordinated struct {
	name multicluster.ClusterName // the real name
	cl   cluster.Cluster
	ctx  context.Context // the member's own, canceled with memberGone{name}
	// running is the engagement handed to the awares, until it stops.
	running     context.Context
	stopRunning context.CancelFunc
	// handled is the inner context whose end was dealt with last: every
	// aware of one engagement sees it end, one of them acts.
	handled context.Context
}

// memberGone is the cause with which a member's context ends.
type memberGone struct{ name multicluster.ClusterName }

func (g memberGone) Error() string { return fmt.Sprintf("member %s is gone", g.name) }

func shardAlias(name multicluster.ClusterName) multicluster.ClusterName {
	return multicluster.ClusterName(clusterprofiles.LabelValue(name))
}

func (c *coordinator) Runnable() manager.Runnable { return c.inner.Runnable() }

func (c *coordinator) AddAware(a multicluster.Aware) {
	c.inner.AddAware(&coordinatedAware{c: c, next: a})
}

func (c *coordinator) Engage(parent context.Context, name multicluster.ClusterName, cl cluster.Cluster) error {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	context.AfterFunc(parent, func() { cancel(memberGone{name}) })
	alias := shardAlias(name)
	c.mu.Lock()
	m := &coordinated{name: name, cl: cl, ctx: ctx}
	c.members[alias] = m
	c.mu.Unlock()
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.members[alias] == m {
			delete(c.members, alias)
		}
	})
	return c.inner.Engage(ctx, alias, cl)
}

// coordinatedAware is a manager's aware as the inner coordinator engages it.
type coordinatedAware struct {
	c    *coordinator
	next multicluster.Aware
}

func (a *coordinatedAware) Engage(innerCtx context.Context, alias multicluster.ClusterName, cl cluster.Cluster) error {
	c := a.c
	c.mu.Lock()
	m := c.members[alias]
	if m == nil || m.cl != cl {
		c.mu.Unlock()
		return fmt.Errorf("shard coordinator: no member engaged under %s", alias)
	}
	if m.running == nil || m.running.Err() != nil {
		m.running, m.stopRunning = context.WithCancel(m.ctx)
	}
	running, stop := m.running, m.stopRunning
	c.mu.Unlock()
	context.AfterFunc(innerCtx, func() {
		if g, ok := context.Cause(innerCtx).(memberGone); ok && g.name != m.name && m.ctx.Err() == nil {
			// Another member's departure reached this one (the upstream
			// defect above): keep it running, and let the inner
			// coordinator own it afresh (once per inner engagement).
			c.mu.Lock()
			first := m.handled != innerCtx
			m.handled = innerCtx
			c.mu.Unlock()
			if first {
				go func() { _ = c.inner.Engage(m.ctx, alias, m.cl) }()
			}
			return
		}
		stop()
	})
	return a.next.Engage(running, m.name, cl)
}
