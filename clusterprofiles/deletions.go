package clusterprofiles

import (
	"sync"
	"time"
)

// The gone path (reconcilers) deletes a member's apinet objects whose
// IronCore source is missing. A source that looks missing may be one the
// hub cannot see (a lagging cache, an endpoint that lists nothing, the wrong
// cluster): when too much looks gone at once, the likeliest cause is the
// observer, as the node lifecycle controller assumes of a zone where too
// many nodes look dead. So each member has a budget of gone-path deletions
// per window; past it, further deletions are held until the operator lifts
// the hold (AnnotationLiftDeletionHold) or the sources come back.

// DeletionBudget bounds one member's gone-path deletions: at most
// max(Percent % of its mapped objects, Min) per Window. A deletion is one
// IronCore source whose apinet objects the gone path removes (deleted, or
// released for NICs), however many apinet objects it has.
type DeletionBudget struct {
	// Percent of the member's mapped objects, counted when a window opens.
	Percent int
	// Min is the budget of a member with few objects.
	Min int
	// Window is how long a budget lasts.
	Window time.Duration
	// Retry is how often the gone path tries a held deletion again. A held
	// source that is not tried again within three Retry has come back (it
	// is reconciled normally) and is no longer counted as held.
	Retry time.Duration
}

// Limit is the budget of a window for a member with objects mapped objects.
func (b DeletionBudget) Limit(objects int) int {
	return max(objects*b.Percent/100, b.Min)
}

// Verdict is what Deletions.Take decided for one gone-path deletion.
type Verdict struct {
	// Allowed: delete now. Otherwise the deletion is held.
	Allowed bool
	// Lifted: a new value of AnnotationLiftDeletionHold was seen; the
	// deletions held until then go through once, and a new window opened.
	Lifted bool
	// HoldStarted: this deletion is the first one held since the member
	// last held none.
	HoldStarted bool
	// Used and Limit are the deletions spent in the current window and
	// its budget.
	Used, Limit int
	// passed: allowed by a lift's pass, not by the budget.
	passed bool
}

// Deletions is one member's account of gone-path deletions (DeletionBudget).
// Time is passed in, so that it is a pure state machine; it is safe for
// concurrent use. The zero value is ready.
//
// While any deletion is held, no new window opens: a hold lasts until the
// operator lifts it or the held sources come back, never only because time
// passed (otherwise a broken observer would delete Min sources every window).
type Deletions struct {
	mu sync.Mutex
	// opened is when the current window began (zero: none yet).
	opened time.Time
	used   int
	limit  int
	// held maps the key of each held deletion to when it was last tried.
	held map[string]time.Time
	// since is when the current hold began.
	since time.Time
	// passes are the keys a lift lets through once, with when it did.
	passes map[string]time.Time
	// lift is the last value of AnnotationLiftDeletionHold seen, once seen.
	lift     string
	liftSeen bool
	// retry is DeletionBudget.Retry of the last Take.
	retry time.Duration
}

// Take decides one gone-path deletion of the source key (unique across
// kinds, e.g. "<controller> <namespace>/<name>") at now, within budget.
// lift is the member's current AnnotationLiftDeletionHold value: the first
// value seen is taken as it is, any later change lifts the current hold and
// opens a new window. objects counts the member's mapped objects; it is
// called only when a window opens.
func (d *Deletions) Take(now time.Time, key string, budget DeletionBudget, lift string, objects func() int) Verdict {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.retry = budget.Retry
	var v Verdict
	if !d.liftSeen {
		d.lift, d.liftSeen = lift, true
	} else if lift != d.lift {
		d.lift = lift
		d.expire(now)
		d.passes = map[string]time.Time{}
		for k := range d.held {
			d.passes[k] = now
		}
		d.held, d.since = nil, time.Time{}
		d.opened = time.Time{}
		v.Lifted = true
	}
	d.expire(now)
	if _, ok := d.passes[key]; ok {
		delete(d.passes, key)
		v.Allowed, v.passed, v.Used, v.Limit = true, true, d.used, d.limit
		return v
	}
	if len(d.held) == 0 && (d.opened.IsZero() || now.Sub(d.opened) >= budget.Window) {
		d.opened, d.used, d.limit = now, 0, budget.Limit(objects())
	}
	if len(d.held) == 0 && d.used < d.limit {
		d.used++
		v.Allowed, v.Used, v.Limit = true, d.used, d.limit
		return v
	}
	if len(d.held) == 0 {
		d.since = now
		v.HoldStarted = true
	}
	if d.held == nil {
		d.held = map[string]time.Time{}
	}
	d.held[key] = now
	v.Used, v.Limit = d.used, d.limit
	return v
}

// Refund gives back a deletion Take allowed for key but the gone path did
// not do (it found the source after all, or could not check): to the
// budget, or, if a lift let it through, as that pass again.
func (d *Deletions) Refund(now time.Time, key string, v Verdict) {
	if !v.Allowed {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if v.passed {
		if d.passes == nil {
			d.passes = map[string]time.Time{}
		}
		d.passes[key] = now
		return
	}
	if d.used > 0 {
		d.used--
	}
}

// Release forgets a held deletion whose source needs none any more: it is
// found again, or nothing of it is left to delete.
func (d *Deletions) Release(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.held, key)
	delete(d.passes, key)
	if len(d.held) == 0 {
		d.since = time.Time{}
	}
}

// Held reports how many deletions are held at now, and since when (zero
// if none).
func (d *Deletions) Held(now time.Time) (int, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	return len(d.held), d.since
}

// expire drops held deletions and passes not tried within three retries:
// their sources came back, so they are reconciled normally.
func (d *Deletions) expire(now time.Time) {
	if d.retry <= 0 {
		return
	}
	lapse := 3 * d.retry
	for k, t := range d.held {
		if now.Sub(t) > lapse {
			delete(d.held, k)
		}
	}
	for k, t := range d.passes {
		if now.Sub(t) > lapse {
			delete(d.passes, k)
		}
	}
	if len(d.held) == 0 {
		d.since = time.Time{}
	}
}

// GoneDeletions is the member's account of gone-path deletions, kept for
// this engagement of the member.
func (m *Member) GoneDeletions() *Deletions { return &m.deletions }

// DeletionsHeld reports how many gone-path deletions the member holds now
// and since when (the provider reports it as condition DeletionsHeld on
// the profile).
func (m *Member) DeletionsHeld() (held int, since time.Time) {
	return m.deletions.Held(time.Now())
}
