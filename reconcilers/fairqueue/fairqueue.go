// Package fairqueue is a controller work queue that shares one controller's
// workers fairly among the members of a fleet.
//
// N apinetlets isolate members by process; one hub shares its workers. With
// one FIFO per controller, a member that queues a thousand objects (a burst,
// or the initial list of a newly engaged member) makes every other member's
// fresh event wait behind all of them, and a member whose API answers slowly
// can hold every worker. This queue puts a fair front on controller-runtime's
// own priority queue:
//
//   - every member has its own pending queue (priority first, then FIFO, as
//     controller-runtime's), and at most Share of its items are in the shared
//     queue at once; when one is handed to a worker, the member's next item
//     takes its place. The shared queue holds at most Share items of each
//     member, so a quiet member's fresh event waits behind at most Share
//     items of every other member, whatever they have queued;
//   - at most MaxInFlight items of one member are processed at once, so a
//     slow member cannot occupy every worker;
//   - the shared queue is controller-runtime's priority queue, unchanged:
//     priorities (a new member's initial list goes in at low priority),
//     de-duplication, the rule that a key is never processed twice at once,
//     and the workqueue_* metrics (of the shared part; Observer sees the
//     whole of each member);
//   - delayed and rate-limited adds wait in this queue until they are due,
//     and take no place in the shared queue meanwhile: a key re-added with a
//     delay while it is processed (a failed reconcile's backoff, a
//     RequeueAfter) leaves the shared queue at Done and waits in its
//     member's pending queue. An object that keeps failing costs only
//     itself: its backoff holds none of its member's Share or MaxInFlight,
//     and the member's other objects go on at once. An undelayed re-add
//     while in flight stays in the shared queue and comes out again after
//     Done (controller-runtime's rule);
//   - a key is in exactly one place: pending in its member's queue, or in
//     the shared queue (ready there, or in flight). Adding it again keeps
//     one copy with the higher priority and the earlier time of both.
//
// The queue implements priorityqueue.PriorityQueue, so a controller built
// with it (controller.Options.NewQueue) keeps every priority behaviour.
package fairqueue

import (
	"container/heap"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// Observer is told, under the queue's lock (keep it cheap), how much work of
// a member is queued and in flight whenever that changes, and when the
// member has none left (Forget).
type Observer interface {
	Set(member string, depth, inFlight int)
	Forget(member string)
}

// Options configure a Queue.
type Options[T comparable] struct {
	// Name names the shared queue in the workqueue_* metrics.
	Name string
	// Member names the member an item belongs to.
	Member func(T) string
	// Share is how many items of one member may wait in the shared queue at
	// once (default 1).
	Share int
	// MaxInFlight is how many items of one member may be processed at once
	// (default: no cap).
	MaxInFlight int
	// RateLimiter decides the delay of AddRateLimited (default: per item,
	// exponential from 5 ms to 1000 s, as controller-runtime's).
	RateLimiter workqueue.TypedRateLimiter[T]
	// Observer, if set, follows each member's depth and in-flight count.
	Observer Observer
}

// Queue is a fair priority queue; see the package comment.
type Queue[T comparable] struct {
	inner    priorityqueue.PriorityQueue[T] // the shared queue
	opts     Options[T]
	observer Observer

	mu      sync.Mutex
	members map[string]*member[T]
	// pending holds the items not in the shared queue yet (ready or
	// waiting); shared the items that are (ready there, or in flight).
	pending map[T]*entry[T]
	shared  map[T]*sharedItem
	waiting entryHeap[T] // by readyAt
	timer   *time.Timer
	seq     uint64
	closed  bool
	now     func() time.Time
}

type member[T comparable] struct {
	ready    entryHeap[T] // by priority, then seq
	waiting  int          // pending items not due yet
	queued   int          // in the shared queue, not handed out
	inFlight int
}

type entry[T comparable] struct {
	key      T
	member   string
	priority int
	seq      uint64
	readyAt  time.Time // zero: ready
	index    int       // in its heap
}

type sharedItem struct {
	member string
	// priority: in the shared queue, the priority it has there; in flight,
	// the highest of its re-adds (requeued or delayed).
	priority int
	inFlight bool
	// requeued: added again, undelayed, while in flight; the shared queue
	// hands it out again after Done, so it stays shared.
	requeued bool
	// delayed: added again only with a delay while in flight; at Done it
	// leaves the shared queue and waits until readyAt in its member's
	// pending queue, holding none of the member's share.
	delayed bool
	readyAt time.Time
}

// New makes a Queue.
func New[T comparable](opts Options[T]) *Queue[T] {
	if opts.Share <= 0 {
		opts.Share = 1
	}
	if opts.RateLimiter == nil {
		opts.RateLimiter = workqueue.NewTypedItemExponentialFailureRateLimiter[T](5*time.Millisecond, 1000*time.Second)
	}
	q := &Queue[T]{
		opts:     opts,
		observer: opts.Observer,
		members:  map[string]*member[T]{},
		pending:  map[T]*entry[T]{},
		shared:   map[T]*sharedItem{},
		now:      time.Now,
	}
	q.waiting.less = func(a, b *entry[T]) bool { return a.readyAt.Before(b.readyAt) }
	q.inner = priorityqueue.New[T](opts.Name)
	return q
}

// Add queues an item now.
func (q *Queue[T]) Add(item T) { q.AddWithOpts(priorityqueue.AddOpts{}, item) }

// AddAfter queues an item once after has passed.
func (q *Queue[T]) AddAfter(item T, after time.Duration) {
	q.AddWithOpts(priorityqueue.AddOpts{After: after}, item)
}

// AddRateLimited queues an item after its rate limiter's delay.
func (q *Queue[T]) AddRateLimited(item T) {
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true}, item)
}

// AddWithOpts queues items with a priority and a delay. An item queued
// already keeps the higher priority and the earlier time of both.
func (q *Queue[T]) AddWithOpts(o priorityqueue.AddOpts, items ...T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	now := q.now()
	touched := map[string]struct{}{}
	for _, key := range items {
		after := o.After
		if o.RateLimited {
			if rl := q.opts.RateLimiter.When(key); after == 0 || rl < after {
				after = rl
			}
		}
		prio := ptr.Deref(o.Priority, 0)
		var readyAt time.Time
		if after > 0 {
			readyAt = now.Add(after)
		}
		if s, ok := q.shared[key]; ok {
			q.addSharedLocked(key, s, prio, readyAt)
			continue
		}
		name := q.opts.Member(key)
		m := q.memberLocked(name)
		touched[name] = struct{}{}
		if e, ok := q.pending[key]; ok {
			q.updateLocked(m, e, prio, readyAt)
			continue
		}
		q.seq++
		e := &entry[T]{key: key, member: name, priority: prio, seq: q.seq, readyAt: readyAt}
		q.pending[key] = e
		if readyAt.IsZero() {
			heap.Push(&m.ready, e)
		} else {
			m.waiting++
			heap.Push(&q.waiting, e)
		}
	}
	for name := range touched {
		q.admitLocked(name)
	}
	q.armLocked()
}

// addSharedLocked adds a key that is in the shared queue again. The shared
// queue is never given a delay: a key there is always ready or in flight.
func (q *Queue[T]) addSharedLocked(key T, s *sharedItem, prio int, readyAt time.Time) {
	switch {
	case !s.inFlight:
		// Ready in the shared queue (or being handed out, in which case it
		// is processed after this add all the same): it keeps the earlier
		// time, now; only a higher priority is passed on.
		if prio > s.priority {
			s.priority = prio
			q.inner.AddWithOpts(priorityqueue.AddOpts{Priority: &prio}, key)
		}
		return
	case s.requeued || s.delayed:
		s.priority = max(s.priority, prio)
	default:
		s.priority = prio
	}
	if readyAt.IsZero() || s.requeued {
		// Due at once (now or already): the shared queue holds it and
		// hands it out again after Done.
		s.requeued, s.delayed = true, false
		s.readyAt = time.Time{}
		// A copy: the shared queue reads it later, and s.priority may change.
		q.inner.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(s.priority)}, key)
		return
	}
	if !s.delayed || readyAt.Before(s.readyAt) {
		s.readyAt = readyAt
	}
	s.delayed = true
}

// updateLocked merges a new add into a pending entry: the higher priority
// (last among its new equals), the earlier time.
func (q *Queue[T]) updateLocked(m *member[T], e *entry[T], prio int, readyAt time.Time) {
	isWaiting := !e.readyAt.IsZero()
	if prio > e.priority {
		q.seq++
		e.priority, e.seq = prio, q.seq
		if !isWaiting {
			heap.Fix(&m.ready, e.index)
		}
	}
	if isWaiting && (readyAt.IsZero() || readyAt.Before(e.readyAt)) {
		heap.Remove(&q.waiting, e.index)
		e.readyAt = readyAt
		if readyAt.IsZero() {
			m.waiting--
			heap.Push(&m.ready, e)
		} else {
			heap.Push(&q.waiting, e)
		}
	}
}

// admitLocked moves a member's next ready items into the shared queue while
// it has less than Share there and less than MaxInFlight queued and in
// flight together.
func (q *Queue[T]) admitLocked(name string) {
	m := q.members[name]
	if m == nil {
		return
	}
	for m.ready.Len() > 0 && m.queued < q.opts.Share && (q.opts.MaxInFlight <= 0 || m.queued+m.inFlight < q.opts.MaxInFlight) {
		e := heap.Pop(&m.ready).(*entry[T])
		delete(q.pending, e.key)
		m.queued++
		q.shared[e.key] = &sharedItem{member: name, priority: e.priority}
		q.inner.AddWithOpts(priorityqueue.AddOpts{Priority: &e.priority}, e.key)
	}
	q.observeLocked(name, m)
}

// GetWithPriority hands out the next item of the shared queue (blocking
// until there is one) and admits the member's next item in its place.
func (q *Queue[T]) GetWithPriority() (T, int, bool) {
	key, prio, shutdown := q.inner.GetWithPriority()
	if shutdown {
		return key, prio, true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if s, ok := q.shared[key]; ok && !s.inFlight {
		s.inFlight, s.requeued, s.delayed = true, false, false
		if m := q.members[s.member]; m != nil {
			m.queued--
			m.inFlight++
			q.admitLocked(s.member)
		}
	}
	return key, prio, false
}

// Get is GetWithPriority without the priority.
func (q *Queue[T]) Get() (T, bool) {
	key, _, shutdown := q.GetWithPriority()
	return key, shutdown
}

// Done marks an item processed: its member may have one more in flight. A
// key re-added with only a delay meanwhile goes back to its member's
// pending queue to wait there. The books are updated before the shared
// queue may hand the key out again (it may admit the key again before
// then: the shared queue holds a key in flight until its Done).
func (q *Queue[T]) Done(key T) {
	q.done(key)
	q.inner.Done(key)
}

func (q *Queue[T]) done(key T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.shared[key]
	if !ok || !s.inFlight {
		return
	}
	m := q.members[s.member]
	if m == nil {
		return
	}
	m.inFlight--
	switch {
	case s.requeued:
		// The shared queue hands it out again: queued once more.
		s.inFlight, s.requeued = false, false
		m.queued++
	case s.delayed:
		// It waits out its delay here, not in the shared queue.
		delete(q.shared, key)
		q.seq++
		e := &entry[T]{key: key, member: s.member, priority: s.priority, seq: q.seq, readyAt: s.readyAt}
		q.pending[key] = e
		if e.readyAt.After(q.now()) {
			m.waiting++
			heap.Push(&q.waiting, e)
			q.armLocked()
		} else {
			e.readyAt = time.Time{}
			heap.Push(&m.ready, e)
		}
	default:
		delete(q.shared, key)
	}
	q.admitLocked(s.member)
}

// promoteLocked moves due waiting items to their members' ready queues.
func (q *Queue[T]) promoteLocked() {
	now := q.now()
	touched := map[string]struct{}{}
	for q.waiting.Len() > 0 && !q.waiting.items[0].readyAt.After(now) {
		e := heap.Pop(&q.waiting).(*entry[T])
		e.readyAt = time.Time{}
		m := q.members[e.member]
		m.waiting--
		heap.Push(&m.ready, e)
		touched[e.member] = struct{}{}
	}
	for name := range touched {
		q.admitLocked(name)
	}
}

// armLocked sets the timer for the next waiting item.
func (q *Queue[T]) armLocked() {
	if q.waiting.Len() == 0 || q.closed {
		return
	}
	d := max(q.waiting.items[0].readyAt.Sub(q.now()), 0)
	if q.timer == nil {
		q.timer = time.AfterFunc(d, q.tick)
		return
	}
	q.timer.Reset(d)
}

func (q *Queue[T]) tick() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.promoteLocked()
	q.armLocked()
}

func (q *Queue[T]) memberLocked(name string) *member[T] {
	m := q.members[name]
	if m == nil {
		m = &member[T]{}
		m.ready.less = func(a, b *entry[T]) bool {
			if a.priority != b.priority {
				return a.priority > b.priority
			}
			return a.seq < b.seq
		}
		q.members[name] = m
	}
	return m
}

// observeLocked reports a member's state, and forgets a member with no work
// left.
func (q *Queue[T]) observeLocked(name string, m *member[T]) {
	depth := m.ready.Len() + m.waiting + m.queued
	if depth == 0 && m.inFlight == 0 {
		delete(q.members, name)
		if q.observer != nil {
			q.observer.Forget(name)
		}
		return
	}
	if q.observer != nil {
		q.observer.Set(name, depth, m.inFlight)
	}
}

// Len is the number of items ready to be handed out, shared or pending.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, m := range q.members {
		n += m.ready.Len()
	}
	return n + q.inner.Len()
}

// Forget ends the rate limiter's backoff of an item.
func (q *Queue[T]) Forget(item T) { q.opts.RateLimiter.Forget(item) }

// NumRequeues is how often an item was rate limited since Forget.
func (q *Queue[T]) NumRequeues(item T) int { return q.opts.RateLimiter.NumRequeues(item) }

// ShutDown stops the queue; Get returns shutdown from then on.
func (q *Queue[T]) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	if q.timer != nil {
		q.timer.Stop()
	}
	q.inner.ShutDown()
}

// ShutDownWithDrain is ShutDown (controller-runtime does not drain).
func (q *Queue[T]) ShutDownWithDrain() { q.ShutDown() }

// ShuttingDown reports whether ShutDown was called.
func (q *Queue[T]) ShuttingDown() bool { return q.inner.ShuttingDown() }

var _ priorityqueue.PriorityQueue[string] = &Queue[string]{}

// entryHeap is a container/heap of entries, keeping each entry's index.
type entryHeap[T comparable] struct {
	items []*entry[T]
	less  func(a, b *entry[T]) bool
}

func (h *entryHeap[T]) Len() int           { return len(h.items) }
func (h *entryHeap[T]) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *entryHeap[T]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *entryHeap[T]) Push(x any) {
	e := x.(*entry[T])
	e.index = len(h.items)
	h.items = append(h.items, e)
}
func (h *entryHeap[T]) Pop() any {
	old := h.items
	e := old[len(old)-1]
	h.items = old[:len(old)-1]
	e.index = -1
	return e
}
