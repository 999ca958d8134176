package fairqueue

import (
	"fmt"
	"math/rand/v2"
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
	close(stop)
	q.ShutDown()
	workers.Wait()
}
