package fairqueue

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// item is a test key: member/name.
type item struct{ member, name string }

func newQueue(t *testing.T, share, maxInFlight int, obs Observer) *Queue[item] {
	t.Helper()
	q := New(Options[item]{Name: t.Name(), Member: func(i item) string { return i.member }, Share: share, MaxInFlight: maxInFlight, Observer: obs})
	t.Cleanup(q.ShutDown)
	return q
}

// getter takes items from a queue in the background, so that a test can
// wait for the next one with a timeout without losing it to an abandoned Get.
type getter struct {
	q       *Queue[item]
	ch      chan item
	waiting bool
}

var getters sync.Map // *Queue -> *getter

func get(t *testing.T, q *Queue[item], d time.Duration) (item, bool) {
	t.Helper()
	g, _ := getters.LoadOrStore(q, &getter{q: q, ch: make(chan item, 1)})
	gt := g.(*getter)
	if !gt.waiting {
		gt.waiting = true
		go func() {
			if it, shutdown := q.Get(); !shutdown {
				gt.ch <- it
			}
		}()
	}
	select {
	case it := <-gt.ch:
		gt.waiting = false
		return it, true
	case <-time.After(d):
		return item{}, false
	}
}

func mustGet(t *testing.T, q *Queue[item]) item {
	t.Helper()
	it, ok := get(t, q, 5*time.Second)
	if !ok {
		t.Fatal("no item within 5 s")
	}
	return it
}

func TestAQuietMembersFreshItemWaitsBehindAtMostShareItemsOfANoisyOne(t *testing.T) {
	q := newQueue(t, 2, 0, nil)
	for i := range 1000 {
		q.Add(item{"noisy", fmt.Sprint(i)})
	}
	q.Add(item{"quiet", "fresh"})
	for n := 1; ; n++ {
		it := mustGet(t, q)
		q.Done(it)
		if it.member == "quiet" {
			if n > 3 {
				t.Fatalf("the quiet member's item came out at position %d, want within 1 + Share", n)
			}
			return
		}
	}
}

func TestMembersTakeTurns(t *testing.T) {
	q := newQueue(t, 1, 0, nil)
	for i := range 3 {
		for _, m := range []string{"a", "b", "c"} {
			q.Add(item{m, fmt.Sprint(i)})
		}
	}
	var got []string
	for range 9 {
		it := mustGet(t, q)
		got = append(got, it.member)
		q.Done(it)
	}
	for i := 0; i < 9; i += 3 {
		seen := map[string]bool{got[i]: true, got[i+1]: true, got[i+2]: true}
		if len(seen) != 3 {
			t.Fatalf("order %v: every member gets one item per round", got)
		}
	}
}

func TestPriorityGoesFirstAcrossMembers(t *testing.T) {
	q := newQueue(t, 1, 0, nil)
	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(-100)}, item{"newcomer", "backlog-1"}, item{"newcomer", "backlog-2"})
	q.Add(item{"busy", "fresh"})
	if it := mustGet(t, q); it != (item{"busy", "fresh"}) {
		t.Fatalf("first = %v, want the fresh item before a low-priority backlog", it)
	}
	// Within a member, priority too: a higher one overtakes.
	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(10)}, item{"newcomer", "urgent"})
	seen := map[item]bool{}
	for range 3 {
		it := mustGet(t, q)
		seen[it] = true
		q.Done(it)
	}
	if !seen[item{"newcomer", "urgent"}] || !seen[item{"newcomer", "backlog-1"}] || !seen[item{"newcomer", "backlog-2"}] {
		t.Fatalf("got %v", seen)
	}
}

func TestMaxInFlightCapsOneMember(t *testing.T) {
	q := newQueue(t, 4, 2, nil)
	for i := range 10 {
		q.Add(item{"slow", fmt.Sprint(i)})
	}
	a, b := mustGet(t, q), mustGet(t, q)
	if _, ok := get(t, q, 300*time.Millisecond); ok {
		t.Fatal("a third item of the slow member while two are in flight")
	}
	q.Add(item{"other", "x"})
	if it := mustGet(t, q); it.member != "other" {
		t.Fatalf("got %v, want the other member's item while the slow one is at its cap", it)
	}
	q.Done(a)
	if it := mustGet(t, q); it.member != "slow" {
		t.Fatalf("got %v after a slow item was done", it)
	}
	q.Done(b)
}

func TestRateLimitedRequeueComesBackAfterItsBackoff(t *testing.T) {
	q := newQueue(t, 1, 0, nil)
	it := item{"m", "failing"}
	q.Add(it)
	got := mustGet(t, q)
	q.AddRateLimited(got) // while in flight: comes out again after Done
	q.Done(got)
	start := time.Now()
	mustGet(t, q)
	if q.NumRequeues(it) != 1 {
		t.Fatalf("NumRequeues = %d, want 1", q.NumRequeues(it))
	}
	q.Done(it)
	q.AddAfter(it, 200*time.Millisecond)
	if _, ok := get(t, q, 100*time.Millisecond); ok {
		t.Fatal("a delayed item came out early")
	}
	if _, ok := get(t, q, 5*time.Second); !ok {
		t.Fatal("the delayed item never came")
	}
	q.Forget(it)
	if q.NumRequeues(it) != 0 {
		t.Fatal("Forget did not reset the backoff")
	}
	_ = start
}

func TestAddingAQueuedItemAgainKeepsOneCopyWithTheEarlierTime(t *testing.T) {
	q := newQueue(t, 1, 0, nil)
	it := item{"m", "x"}
	q.AddAfter(it, time.Hour)
	q.Add(it)
	q.Add(it)
	mustGet(t, q)
	if _, ok := get(t, q, 200*time.Millisecond); ok {
		t.Fatal("a duplicate came out")
	}
}

type observer struct {
	mu     sync.Mutex
	last   map[string][2]int
	forgot map[string]int
}

func (o *observer) Set(m string, depth, inFlight int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[m] = [2]int{depth, inFlight}
}

func (o *observer) Forget(m string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.last, m)
	o.forgot[m]++
}

func TestObserverSeesDepthAndInFlightAndForgetsAnEmptyMember(t *testing.T) {
	obs := &observer{last: map[string][2]int{}, forgot: map[string]int{}}
	q := newQueue(t, 1, 0, obs)
	q.Add(item{"m", "a"})
	q.Add(item{"m", "b"})
	obs.mu.Lock()
	if got := obs.last["m"]; got != [2]int{2, 0} {
		t.Errorf("after two adds: depth, in flight = %v, want [2 0]", got)
	}
	obs.mu.Unlock()
	a := mustGet(t, q)
	obs.mu.Lock()
	if got := obs.last["m"]; got != [2]int{1, 1} {
		t.Errorf("one in flight: %v, want [1 1]", got)
	}
	obs.mu.Unlock()
	q.Done(a)
	q.Done(mustGet(t, q))
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if _, ok := obs.last["m"]; ok || obs.forgot["m"] == 0 {
		t.Errorf("a member with no work left is forgotten: last %v, forgotten %d", obs.last, obs.forgot["m"])
	}
}

// TestNoKeyLostDuplicatedOrProcessedTwiceAtOnce: members come and go (a
// member's items keep arriving after it emptied), workers process
// concurrently with random delays and requeues; every key added is
// processed after its last add, and never by two workers at once.
func TestNoKeyLostDuplicatedOrProcessedTwiceAtOnce(t *testing.T) {
	q := newQueue(t, 2, 3, nil)
	var mu sync.Mutex
	inFlight := map[item]bool{}
	lastAdd := map[item]int{}   // add sequence number
	lastStart := map[item]int{} // sequence number seen when processing started
	seq := 0
	add := func(it item, opts priorityqueue.AddOpts) {
		mu.Lock()
		seq++
		lastAdd[it] = seq
		mu.Unlock()
		q.AddWithOpts(opts, it)
	}
	var workers sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		workers.Go(func() {
			for {
				it, shutdown := q.Get()
				if shutdown {
					return
				}
				mu.Lock()
				if inFlight[it] {
					mu.Unlock()
					t.Errorf("%v processed twice at once", it)
					return
				}
				inFlight[it] = true
				lastStart[it] = seq
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
				mu.Lock()
				inFlight[it] = false
				mu.Unlock()
				q.Done(it)
				select {
				case <-stop:
				default:
				}
			}
		})
	}
	for i := range 3000 {
		it := item{fmt.Sprint("m", rand.IntN(6)), fmt.Sprint(rand.IntN(50))}
		opts := priorityqueue.AddOpts{}
		switch i % 5 {
		case 1:
			opts.Priority = ptr.To(-100)
		case 2:
			opts.After = time.Duration(rand.IntN(3)) * time.Millisecond
		case 3:
			opts.RateLimited = true
		}
		add(it, opts)
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for it, a := range lastAdd {
			if lastStart[it] < a {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys never processed after their last add", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing leaks: once every key is processed, the books are empty.
	for b := books(q); b != "Len 0, shared 0, pending 0, members 0"; b = books(q) {
		if time.Now().After(deadline) {
			t.Fatalf("books not empty after every key was processed: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	q.ShutDown()
	workers.Wait()
}

// fixedLimiter delays every rate-limited add by the same time.
type fixedLimiter struct {
	d  time.Duration
	mu sync.Mutex
	n  map[item]int
}

func (l *fixedLimiter) When(it item) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[it]++
	return l.d
}

func (l *fixedLimiter) Forget(it item) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.n, it)
}

func (l *fixedLimiter) NumRequeues(it item) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[it]
}

func newLimitedQueue(t *testing.T, share, maxInFlight int, backoff time.Duration, obs Observer) *Queue[item] {
	t.Helper()
	q := New(Options[item]{
		Name: t.Name(), Member: func(i item) string { return i.member }, Share: share, MaxInFlight: maxInFlight,
		RateLimiter: &fixedLimiter{d: backoff, n: map[item]int{}}, Observer: obs,
	})
	t.Cleanup(q.ShutDown)
	return q
}

func (o *observer) of(m string) [2]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[m]
}

// TestAFailingKeyCostsOnlyItself: with a share of 1, a key that failed and
// waits out a long backoff holds neither its member's share nor its
// in-flight cap: the member's fresh key comes out at once.
func TestAFailingKeyCostsOnlyItself(t *testing.T) {
	for _, maxInFlight := range []int{1, 2} {
		t.Run(fmt.Sprint("MaxInFlight=", maxInFlight), func(t *testing.T) {
			obs := &observer{last: map[string][2]int{}, forgot: map[string]int{}}
			q := newLimitedQueue(t, 1, maxInFlight, 10*time.Second, obs)
			a, b := item{"m", "broken"}, item{"m", "fresh"}
			q.Add(a)
			if got := mustGet(t, q); got != a {
				t.Fatalf("got %v", got)
			}
			q.AddRateLimited(a) // the reconcile failed: controller-runtime re-adds before Done
			q.Done(a)
			if n := q.Len(); n != 0 {
				t.Errorf("Len = %d while the only key waits out its backoff, want 0", n)
			}
			if got := obs.of("m"); got != [2]int{1, 0} {
				t.Errorf("backing off: depth, in flight = %v, want [1 0]", got)
			}
			q.Add(b)
			start := time.Now()
			got, ok := get(t, q, 100*time.Millisecond)
			if !ok || got != b {
				t.Fatalf("the fresh key did not come out within 100 ms of the failing key's backoff (got %v, %v)", got, ok)
			}
			t.Logf("fresh key out after %v", time.Since(start))
			if got := obs.of("m"); got != [2]int{1, 1} {
				t.Errorf("fresh key in flight: depth, in flight = %v, want [1 1]", got)
			}
			q.Done(b)
			if _, ok := get(t, q, 200*time.Millisecond); ok {
				t.Fatal("the failing key came out before its backoff")
			}
			if got := obs.of("m"); got != [2]int{1, 0} {
				t.Errorf("only the failing key left: depth, in flight = %v, want [1 0]", got)
			}
		})
	}
}

// TestADelayedReAddWhileInFlightComesOutOnceAfterItsDelay: the failing key
// (rate-limited) and a RequeueAfter (AddAfter) come out again once their
// delay has passed, once, and the books end empty.
func TestADelayedReAddWhileInFlightComesOutOnceAfterItsDelay(t *testing.T) {
	for _, c := range []struct {
		name string
		add  func(q *Queue[item], it item)
	}{
		{"rate limited", func(q *Queue[item], it item) { q.AddRateLimited(it) }},
		{"after", func(q *Queue[item], it item) { q.AddAfter(it, 300*time.Millisecond) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			obs := &observer{last: map[string][2]int{}, forgot: map[string]int{}}
			q := newLimitedQueue(t, 1, 1, 300*time.Millisecond, obs)
			a, b := item{"m", "a"}, item{"m", "b"}
			q.Add(a)
			q.Add(b)
			mustGet(t, q)
			start := time.Now()
			c.add(q, a)
			q.Done(a)
			if got, ok := get(t, q, 100*time.Millisecond); !ok || got != b {
				t.Fatalf("got %v, %v: want the member's other key at once", got, ok)
			}
			if n := q.Len(); n != 0 {
				t.Errorf("Len = %d, want 0 (one in flight, one waiting)", n)
			}
			q.Done(b)
			got := mustGet(t, q)
			if waited := time.Since(start); got != a || waited < 250*time.Millisecond {
				t.Fatalf("got %v after %v, want %v after its 300 ms delay", got, waited, a)
			}
			if got := obs.of("m"); got != [2]int{0, 1} {
				t.Errorf("depth, in flight = %v, want [0 1]", got)
			}
			q.Done(a)
			if _, ok := get(t, q, 500*time.Millisecond); ok {
				t.Fatal("a key came out twice")
			}
			obs.mu.Lock()
			forgot := obs.forgot["m"]
			obs.mu.Unlock()
			if b := books(q); forgot == 0 || b != "Len 0, shared 0, pending 0, members 0" {
				t.Fatalf("books not empty: forgotten %d, %s", forgot, b)
			}
		})
	}
}

// TestReAddsWhileInFlightKeepTheEarlierTimeAndHigherPriority: an undelayed
// re-add beats a delayed one whichever comes first, and a delayed re-add
// keeps its priority while it waits.
func TestReAddsWhileInFlightKeepTheEarlierTimeAndHigherPriority(t *testing.T) {
	q := newLimitedQueue(t, 1, 0, time.Hour, nil)
	a := item{"m", "a"}
	for _, order := range []string{"delayed first", "undelayed first"} {
		q.Add(a)
		mustGet(t, q)
		if order == "delayed first" {
			q.AddRateLimited(a)
			q.Add(a)
		} else {
			q.Add(a)
			q.AddRateLimited(a)
		}
		q.Done(a)
		if got, ok := get(t, q, time.Second); !ok || got != a {
			t.Fatalf("%s: got %v, %v; want the key again at once", order, got, ok)
		}
		q.Done(a)
		if _, ok := get(t, q, 100*time.Millisecond); ok {
			t.Fatalf("%s: the key came out a third time", order)
		}
	}

	// Priority: a delayed re-add at priority 10 overtakes the member's
	// backlog at priority 0 once it is due.
	q = newLimitedQueue(t, 1, 0, 200*time.Millisecond, nil)
	q.Add(a)
	mustGet(t, q)
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true, Priority: ptr.To(10)}, a)
	q.Done(a)
	for i := range 5 {
		q.Add(item{"m", fmt.Sprint("backlog-", i)})
	}
	var got []item
	start := time.Now()
	for len(got) < 6 {
		it := mustGet(t, q)
		got = append(got, it)
		if it != a {
			time.Sleep(100 * time.Millisecond) // slow backlog: a becomes due meanwhile
		}
		q.Done(it)
	}
	pos := slices.Index(got, a)
	if pos < 0 || pos > 4 {
		t.Fatalf("order %v (after %v): the priority-10 key comes out once due, ahead of the remaining backlog", got, time.Since(start))
	}
}

// TestADelayedKeyDueBeforeDoneIsNotHandedOutTwice: a re-add whose delay has
// passed by Done, or passes between Done's books and the shared queue's,
// comes out once, after Done.
func TestADelayedKeyDueBeforeDoneIsNotHandedOutTwice(t *testing.T) {
	q := newLimitedQueue(t, 2, 0, time.Millisecond, nil)
	a := item{"m", "a"}
	for range 200 {
		q.Add(a)
		mustGet(t, q)
		q.AddRateLimited(a)
		if rand.IntN(2) == 0 {
			time.Sleep(2 * time.Millisecond) // due before Done
		}
		q.Done(a)
		mustGet(t, q)
		q.Done(a)
		if _, ok := get(t, q, 5*time.Millisecond); ok {
			t.Fatal("a key came out twice")
		}
	}
	if b := books(q); b != "Len 0, shared 0, pending 0, members 0" {
		t.Fatalf("books not empty: %s", b)
	}
}

// books sums up a queue's bookkeeping.
func books(q *Queue[item]) string {
	n := q.Len()
	q.mu.Lock()
	defer q.mu.Unlock()
	return fmt.Sprintf("Len %d, shared %d, pending %d, members %d", n, len(q.shared), len(q.pending), len(q.members))
}
