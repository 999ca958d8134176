package providers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// jobPool hands engagement jobs to the engage workers fairly across peers.
//
// Engaging a member reads its peer (the claim, the peer view's LISTs), so a
// peer whose API is slow makes each of its members' jobs take up to the
// engage timeout. With one FIFO for the fleet, a peer re-engaging many
// members (after a rotation or a pause) would hold every worker and every
// other peer's members would wait behind them. Here each peer has its own
// FIFO, the peers take turns (round robin), and at most share jobs of one
// peer run at once: a slow peer costs its own members time, never another
// peer's.
type jobPool struct {
	share int

	mu      sync.Mutex
	cond    *sync.Cond
	queues  map[types.NamespacedName][]*job
	running map[types.NamespacedName]int
	turns   []types.NamespacedName // peers with queued jobs, in turn order
	closed  bool
}

func newJobPool(share int) *jobPool {
	pl := &jobPool{share: max(share, 1), queues: map[types.NamespacedName][]*job{}, running: map[types.NamespacedName]int{}}
	pl.cond = sync.NewCond(&pl.mu)
	return pl
}

// submit queues a job behind the other jobs of its peer.
func (pl *jobPool) submit(j *job) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	peer := j.key.peer
	if len(pl.queues[peer]) == 0 {
		pl.turns = append(pl.turns, peer)
	}
	pl.queues[peer] = append(pl.queues[peer], j)
	pl.cond.Signal()
}

// withdraw takes a job out of its queue before a worker took it, and
// reports whether it was still queued.
func (pl *jobPool) withdraw(j *job) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	peer := j.key.peer
	q := pl.queues[peer]
	for i, queued := range q {
		if queued == j {
			pl.queues[peer] = append(q[:i:i], q[i+1:]...)
			pl.dropTurnIfEmptyLocked(peer)
			return true
		}
	}
	return false
}

// next blocks until a job may run and returns it (nil once closed). The
// caller runs it, then calls done.
func (pl *jobPool) next() *job {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for {
		if pl.closed {
			return nil
		}
		for i, peer := range pl.turns {
			if pl.running[peer] >= pl.share {
				continue
			}
			q := pl.queues[peer]
			j := q[0]
			q[0] = nil
			pl.queues[peer] = q[1:]
			pl.running[peer]++
			// This peer's turn is over: it goes to the back of the line.
			pl.turns = append(pl.turns[:i:i], pl.turns[i+1:]...)
			if len(pl.queues[peer]) > 0 {
				pl.turns = append(pl.turns, peer)
			} else {
				delete(pl.queues, peer)
			}
			return j
		}
		pl.cond.Wait()
	}
}

// done ends a job next handed out: its peer may run another.
func (pl *jobPool) done(j *job) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	peer := j.key.peer
	if pl.running[peer]--; pl.running[peer] <= 0 {
		delete(pl.running, peer)
	}
	pl.cond.Broadcast()
}

// close wakes every waiting worker; next returns nil from then on.
func (pl *jobPool) close() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.closed = true
	pl.cond.Broadcast()
}

func (pl *jobPool) dropTurnIfEmptyLocked(peer types.NamespacedName) {
	if len(pl.queues[peer]) > 0 {
		return
	}
	delete(pl.queues, peer)
	for i, p := range pl.turns {
		if p == peer {
			pl.turns = append(pl.turns[:i:i], pl.turns[i+1:]...)
			return
		}
	}
}
