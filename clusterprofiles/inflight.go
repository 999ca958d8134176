package clusterprofiles

import (
	"context"
	"sync"
)

// inflight tracks the reconciles running for one engagement of a member, so
// that disengaging it can cancel them and wait until none writes any more:
// without it a reconcile that fetched the member just before it was
// disengaged writes on (a finalizer after `offboard --release` swept them,
// an apinet object after `--purge` deleted them). The zero value is ready.
type inflight struct {
	mu      sync.Mutex
	running int
	stopped bool
	ctx     context.Context
	cancel  context.CancelFunc
	idle    chan struct{} // closed once stopped and nothing runs
}

func (w *inflight) initLocked() {
	if w.ctx == nil {
		w.ctx, w.cancel = context.WithCancel(context.Background())
		w.idle = make(chan struct{})
	}
}

// BeginWork starts a reconcile of the member: ok is false once the member
// was stopped (StopWork), and then nothing may be done. Otherwise ctx is
// parent, also cancelled by StopWork, and done must be called when the
// reconcile ends.
func (m *Member) BeginWork(parent context.Context) (ctx context.Context, done func(), ok bool) {
	w := &m.work
	w.mu.Lock()
	defer w.mu.Unlock()
	w.initLocked()
	if w.stopped {
		return parent, func() {}, false
	}
	w.running++
	ctx, cancel := context.WithCancel(parent)
	unhook := context.AfterFunc(w.ctx, cancel)
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			unhook()
			cancel()
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.running--; w.running == 0 && w.stopped {
				close(w.idle)
			}
		})
	}, true
}

// StopWork refuses new reconciles of this engagement, cancels the running
// ones and returns a channel closed once none runs any more.
func (m *Member) StopWork() <-chan struct{} {
	w := &m.work
	w.mu.Lock()
	defer w.mu.Unlock()
	w.initLocked()
	if !w.stopped {
		w.stopped = true
		w.cancel()
		if w.running == 0 {
			close(w.idle)
		}
	}
	return w.idle
}
