package clusterprofiles

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestDeletionBudgetLimit(t *testing.T) {
	b := DeletionBudget{Percent: 10, Min: 20}
	for _, tc := range []struct{ objects, want int }{
		{0, 20}, {100, 20}, {200, 20}, {209, 20}, {210, 21}, {1000, 100}, {100000, 10000},
	} {
		if got := b.Limit(tc.objects); got != tc.want {
			t.Errorf("Limit(%d) = %d, want %d", tc.objects, got, tc.want)
		}
	}
}

// step is one call on a Deletions in a table: a Take of key at offset at
// (from t0) with lift, or a Release of key.
type step struct {
	at      time.Duration
	key     string
	lift    string
	release bool
	// want is "allow", "hold" (and HoldStarted when start), or "" for a
	// release.
	want          string
	start, lifted bool
	// held after the step.
	held int
}

func TestDeletions(t *testing.T) {
	budget := DeletionBudget{Percent: 10, Min: 2, Window: 10 * time.Minute, Retry: 10 * time.Second}
	objects := func() int { return 5 } // 10 % of 5 < Min: the budget is 2
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"within the budget, everything goes", []step{
			{key: "a", want: "allow"},
			{at: time.Second, key: "b", want: "allow"},
		}},
		{"past the budget, deletions are held, and the hold outlives the window", []step{
			{key: "a", want: "allow"},
			{key: "b", want: "allow"},
			{at: time.Second, key: "c", want: "hold", start: true, held: 1},
			{at: 2 * time.Second, key: "d", want: "hold", held: 2},
			{at: 11 * time.Second, key: "c", want: "hold", held: 2},
			{at: 12 * time.Second, key: "d", want: "hold", held: 2},
			// Both keep being retried past the end of the window.
			{at: 20 * time.Second, key: "c", want: "hold", held: 2},
			{at: 21 * time.Second, key: "d", want: "hold", held: 2},
		}},
		{"a new window opens only when nothing is held", []step{
			{key: "a", want: "allow"},
			{key: "b", want: "allow"},
			{at: 10 * time.Minute, key: "c", want: "allow"},
			{at: 10 * time.Minute, key: "d", want: "allow"},
			{at: 10 * time.Minute, key: "e", want: "hold", start: true, held: 1},
		}},
		{"held sources that come back lapse after three retries, and the hold ends", []step{
			{key: "a", want: "allow"},
			{key: "b", want: "allow"},
			{key: "c", want: "hold", start: true, held: 1},
			{at: 29 * time.Second, key: "d", want: "hold", held: 2},
			// c is not tried again: its source came back.
			{at: 31 * time.Second, key: "d", want: "hold", held: 1},
			{at: 62 * time.Second, key: "x", release: true, held: 0}, // d lapsed too
			{at: 11 * time.Minute, key: "e", want: "allow"},
		}},
		{"a released deletion is no longer held", []step{
			{key: "a", want: "allow"},
			{key: "b", want: "allow"},
			{key: "c", want: "hold", start: true, held: 1},
			{key: "d", want: "hold", held: 2},
			{at: time.Second, key: "c", release: true, held: 1},
			{at: time.Second, key: "d", release: true, held: 0},
			// Nothing is held, but the window's budget is still spent.
			{at: 2 * time.Second, key: "e", want: "hold", start: true, held: 1},
		}},
		{"the first lift value seen lifts nothing", []step{
			{lift: "1", key: "a", want: "allow"},
			{lift: "1", key: "b", want: "allow"},
			{lift: "1", key: "c", want: "hold", start: true, held: 1},
		}},
		{"a changed lift value lets the held deletions through once and opens a new window", []step{
			{key: "a", want: "allow"},
			{key: "b", want: "allow"},
			{key: "c", want: "hold", start: true, held: 1},
			{key: "d", want: "hold", held: 2},
			{key: "e", want: "hold", held: 3},
			// The lift: c, d and e go without spending the new window.
			{at: time.Second, lift: "now", key: "c", want: "allow", lifted: true},
			{at: time.Second, lift: "now", key: "d", want: "allow"},
			{at: time.Second, lift: "now", key: "e", want: "allow"},
			// Further deletions spend the new window.
			{at: 2 * time.Second, lift: "now", key: "f", want: "allow"},
			{at: 2 * time.Second, lift: "now", key: "g", want: "allow"},
			{at: 2 * time.Second, lift: "now", key: "h", want: "hold", start: true, held: 1},
			// Only a new value lifts again.
			{at: 3 * time.Second, lift: "now", key: "h", want: "hold", held: 1},
			{at: 4 * time.Second, lift: "again", key: "h", want: "allow", lifted: true},
		}},
		{"a lift while nothing is held opens a new window", []step{
			{key: "a", want: "allow"},
			{key: "b", want: "allow"},
			{at: time.Minute, lift: "x", key: "c", want: "allow", lifted: true},
			{at: time.Minute, lift: "x", key: "d", want: "allow"},
			{at: time.Minute, lift: "x", key: "e", want: "hold", start: true, held: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Deletions
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				desc := fmt.Sprintf("step %d (%+v)", i, s)
				if s.release {
					d.Release(s.key)
				} else {
					v := d.Take(now, s.key, budget, s.lift, objects)
					if got := map[bool]string{true: "allow", false: "hold"}[v.Allowed]; got != s.want {
						t.Fatalf("%s: %s, want %s", desc, got, s.want)
					}
					if v.HoldStarted != s.start || v.Lifted != s.lifted {
						t.Fatalf("%s: HoldStarted %t, Lifted %t", desc, v.HoldStarted, v.Lifted)
					}
				}
				held, since := d.Held(now)
				if held != s.held {
					t.Fatalf("%s: %d held (%v), want %d", desc, held, slices.Sorted(maps.Keys(d.held)), s.held)
				}
				if (held == 0) != since.IsZero() {
					t.Fatalf("%s: %d held since %v", desc, held, since)
				}
			}
		})
	}
}

func TestDeletionsRefund(t *testing.T) {
	budget := DeletionBudget{Percent: 10, Min: 1, Window: time.Hour, Retry: time.Second}
	t0 := time.Now()
	var d Deletions
	v := d.Take(t0, "a", budget, "", func() int { return 0 })
	if !v.Allowed {
		t.Fatal("the first deletion is held")
	}
	d.Refund(t0, "a", v)
	if v := d.Take(t0, "b", budget, "", func() int { return 0 }); !v.Allowed {
		t.Fatal("a refunded deletion still spends the budget")
	}
	if v := d.Take(t0, "c", budget, "", func() int { return 0 }); v.Allowed {
		t.Fatal("past the budget, a deletion goes")
	}
	// Lifted: c's pass, refunded, stays a pass.
	v = d.Take(t0, "c", budget, "lift", func() int { return 0 })
	if !v.Allowed || !v.Lifted {
		t.Fatalf("the lift did not let c through: %+v", v)
	}
	d.Refund(t0, "c", v)
	if v := d.Take(t0, "d", budget, "lift", func() int { return 0 }); !v.Allowed {
		t.Fatal("a refunded pass spent the new window")
	}
	if v := d.Take(t0, "c", budget, "lift", func() int { return 0 }); !v.Allowed {
		t.Fatal("a refunded pass was lost")
	}
}
