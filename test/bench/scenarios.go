package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// OnboardingResult: a member is onboarded (its ClusterProfile and
// credentials written) while the hub serves K other members that run the
// steady Network workload. The new member already holds N Networks.
type OnboardingResult struct {
	// EngagedSeconds: profile written → hub reports it Engaged.
	EngagedSeconds float64 `json:"engagedSeconds"`
	// FirstMappedSeconds: profile written → first of its Networks Available.
	FirstMappedSeconds float64 `json:"firstMappedSeconds"`
	// AllMappedSeconds: profile written → all N of its Networks Available.
	AllMappedSeconds float64 `json:"allMappedSeconds"`
	Objects          int     `json:"objects"`
	// Busy is the steady workload of the other members meanwhile.
	Busy RunResult `json:"busy"`
}

func (b *bench) onboardingRun(ctx context.Context) (res *OnboardingResult, err error) {
	o := b.opts
	res = &OnboardingResult{Objects: o.N}
	progress("onboarding: starting a fleet of %d members ...", o.K+1)
	env, err := startEnv(ctx, o.K+1, o.logDir)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	busy, newcomer := env.Members[:o.K], env.Members[o.K]
	ctl, err := env.startSetup(ctx, SetupHub, o.hubBinary, "onboarding", b.qps(), o.FloorWorkers, busy)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, ctl.Stop()) }()
	obs := NewObserver(KindNetwork)
	defer obs.Stop()
	if err := obs.WatchAll(ctx, env.Members); err != nil {
		return res, err
	}
	all, err := env.WorkloadMembers(env.Members)
	if err != nil {
		return res, err
	}
	// The newcomer's Networks exist before it is onboarded. Other names than
	// the busy members' workload: this one runs first.
	pre := Workload{Kind: KindNetwork, Mode: ModeBurst, PerMember: o.N, Writers: o.Writers}
	if c := pre.Run(ctx, all[o.K:], NewStarts()); c.FirstError != nil {
		return res, c.FirstError
	}

	res.Busy = RunResult{Setup: SetupHub, Kind: KindNetwork, Mode: ModeSteady, Members: o.K, Objects: o.K * o.N}
	w := Workload{Kind: KindNetwork, Mode: ModeSteady, PerMember: o.N, Rate: o.Rate}
	// The newcomer's objects are named like the busy members' but live in
	// another cluster; Starts and the observer key them by member.
	var busyErr error
	var wg sync.WaitGroup
	wg.Go(func() { busyErr = b.measure(ctx, env, ctl, obs, w, all[:o.K], &res.Busy) })

	time.Sleep(time.Duration(float64(o.K*o.N) / o.Rate / 3 * float64(time.Second)))
	progress("onboarding %s while %d members are busy ...", newcomer.Name, o.K)
	t0 := time.Now()
	onboardErr := func() error {
		if err := env.onboard(ctx, newcomer); err != nil {
			return err
		}
		if err := env.waitEngaged(ctx, ctl.hub, []*fleet.Cluster{newcomer}, 2*time.Minute); err != nil {
			return err
		}
		res.EngagedSeconds = round(time.Since(t0).Seconds(), 2)
		return obs.WaitFor(ctx, map[string]int{newcomer.Name: o.N}, time.Duration(o.Timeout))
	}()
	first, last := obs.Span(newcomer.Name)
	if !first.IsZero() {
		res.FirstMappedSeconds = round(first.Sub(t0).Seconds(), 2)
	}
	if obs.Count(newcomer.Name) == o.N {
		res.AllMappedSeconds = round(last.Sub(t0).Seconds(), 2)
	}
	wg.Wait()
	progress("onboarding: engaged after %.1f s, first Network after %.1f s, all %d after %.1f s",
		res.EngagedSeconds, res.FirstMappedSeconds, o.N, res.AllMappedSeconds)
	return res, errors.Join(onboardErr, busyErr)
}

// DeadMemberResult: with the hub serving K members, one member's API
// servers are stopped (SIGKILL) a while into the steady Network workload
// of the other K-1; their latencies are compared with the same members in
// the all-alive apinet-hub steady Network run.
type DeadMemberResult struct {
	// StoppedAfterSeconds: when into the workload the member was stopped.
	StoppedAfterSeconds float64 `json:"stoppedAfterSeconds"`
	// PausedAfterSeconds: stop → the hub's Engaged condition on the dead
	// member is no longer True (0: not within the run).
	PausedAfterSeconds float64 `json:"pausedAfterSeconds"`
	PausedReason       string  `json:"pausedReason,omitempty"`
	// AllAlive is the same members' latency in the all-alive run.
	AllAlive Latency `json:"allAlive"`
	// OneDead is the run with one member dead.
	OneDead RunResult `json:"oneDead"`
}

func (b *bench) deadMemberRun(ctx context.Context, baseline *RunResult) (res *DeadMemberResult, err error) {
	o := b.opts
	res = &DeadMemberResult{}
	progress("dead member: starting a fleet of %d members ...", o.K)
	env, err := startEnv(ctx, o.K, o.logDir)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	ctl, err := env.startSetup(ctx, SetupHub, o.hubBinary, "dead-member", b.qps(), o.FloorWorkers, env.Members)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, ctl.Stop()) }()
	alive, dead := env.Members[:o.K-1], env.Members[o.K-1]
	obs := NewObserver(KindNetwork)
	defer obs.Stop()
	var aliveNames []string
	for _, m := range alive {
		aliveNames = append(aliveNames, m.Name)
		if err := obs.Watch(ctx, m.Name, m.Config()); err != nil {
			return res, err
		}
	}
	if baseline != nil {
		var lat []time.Duration
		for _, name := range aliveNames {
			lat = append(lat, baseline.latencies[name]...)
		}
		res.AllAlive = summarize(lat)
	}
	members, err := env.WorkloadMembers(alive)
	if err != nil {
		return res, err
	}
	// Same rate per member as the all-alive run.
	rate := o.Rate * float64(o.K-1) / float64(o.K)
	w := Workload{Kind: KindNetwork, Mode: ModeSteady, PerMember: o.N, Rate: rate}
	res.OneDead = RunResult{Setup: SetupHub, Kind: KindNetwork, Mode: ModeSteady, Members: o.K - 1, Objects: (o.K - 1) * o.N}

	stopAfter := time.Duration(float64(o.N) / (o.Rate / float64(o.K)) / 4 * float64(time.Second))
	var stopErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(stopAfter)
		progress("dead member: stopping %s's API servers", dead.Name)
		stopped := time.Now()
		res.StoppedAfterSeconds = round(stopAfter.Seconds(), 1)
		if stopErr = dead.Stop(); stopErr != nil {
			return
		}
		for deadline := stopped.Add(2 * time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
			if reason, engaged := engagedReason(ctx, env.Hub, dead.Name); !engaged {
				res.PausedAfterSeconds = round(time.Since(stopped).Seconds(), 1)
				res.PausedReason = reason
				return
			}
		}
	})
	err = b.measure(ctx, env, ctl, obs, w, members, &res.OneDead)
	wg.Wait()
	progress("dead member: p99 %.0f ms (all alive: %.0f ms), paused after %.1f s (%s)",
		res.OneDead.Latency.P99, res.AllAlive.P99, res.PausedAfterSeconds, res.PausedReason)
	return res, errors.Join(err, stopErr)
}

// engagedReason returns the reason of the hub's Engaged condition on a
// profile and whether it is True.
func engagedReason(ctx context.Context, hub client.Client, name string) (string, bool) {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: fleetNamespace, Name: name}, cp); err != nil {
		return "", true // unknown: keep waiting
	}
	c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
	if c == nil {
		return "", false
	}
	return c.Reason, c.Status == "True"
}

// ScalingPoint is the hub's memory with K engaged members.
type ScalingPoint struct {
	Members int     `json:"members"`
	Objects int     `json:"objects"`
	RSSMiB  float64 `json:"rssMiB"`
	// HeapMiB is go_memstats_heap_inuse_bytes from the hub's metrics.
	HeapMiB       float64 `json:"heapInuseMiB"`
	EngageSeconds float64 `json:"engageSeconds"`
}

// ScalingResult: one hub, members onboarded step by step (K = 0, then each
// of ScaleK), each with ScaleN converged Networks; RSS sampled 5 s after
// the last one converged. The slope is MiB per engaged member.
type ScalingResult struct {
	Points []ScalingPoint `json:"points"`
	// RSSMiBPerMember is the least-squares slope of RSS over members (K >= 1).
	RSSMiBPerMember  float64 `json:"rssMiBPerMember"`
	HeapMiBPerMember float64 `json:"heapMiBPerMember"`
	// RSSMiBAtZero is the fitted intercept: the hub without members.
	RSSMiBAtZero float64 `json:"rssMiBAtZero"`
}

const settle = 5 * time.Second

func (b *bench) scalingRun(ctx context.Context) (res *ScalingResult, err error) {
	o := b.opts
	res = &ScalingResult{}
	ks := slices.Clone(o.ScaleK)
	slices.Sort(ks)
	maxK := ks[len(ks)-1]
	progress("scaling: starting a fleet of %d members ...", maxK)
	env, err := startEnv(ctx, maxK, o.logDir)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	ctl, err := env.startSetup(ctx, SetupHub, o.hubBinary, "scaling", b.qps(), o.FloorWorkers, nil)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, ctl.Stop()) }()
	sample := func(k int, engage time.Duration) error {
		time.Sleep(settle)
		s, err := readProc(ctl.hub.PID())
		if err != nil {
			return err
		}
		heap, _ := scrapeGauge(ctx, ctl.hub, "go_memstats_heap_inuse_bytes")
		res.Points = append(res.Points, ScalingPoint{Members: k, Objects: k * o.ScaleN, RSSMiB: mib(s.RSS),
			HeapMiB: mib(int64(heap)), EngageSeconds: round(engage.Seconds(), 2)})
		progress("scaling: %d members, hub RSS %.0f MiB, heap %.0f MiB", k, mib(s.RSS), mib(int64(heap)))
		return nil
	}
	if err := sample(0, 0); err != nil {
		return res, err
	}
	obs := NewObserver(KindNetwork)
	defer obs.Stop()
	want := map[string]int{}
	engaged := 0
	for _, k := range ks {
		added := env.Members[engaged:k]
		t0 := time.Now()
		for _, m := range added {
			if err := env.onboard(ctx, m); err != nil {
				return res, err
			}
		}
		if err := env.waitEngaged(ctx, ctl.hub, added, 3*time.Minute); err != nil {
			return res, err
		}
		engage := time.Since(t0)
		for _, m := range added {
			if err := obs.Watch(ctx, m.Name, m.Config()); err != nil {
				return res, err
			}
			want[m.Name] = o.ScaleN
		}
		members, err := env.WorkloadMembers(added)
		if err != nil {
			return res, err
		}
		w := Workload{Kind: KindNetwork, Mode: ModeBurst, PerMember: o.ScaleN, Writers: o.Writers}
		if c := w.Run(ctx, members, NewStarts()); c.FirstError != nil {
			return res, c.FirstError
		}
		if err := obs.WaitFor(ctx, want, time.Duration(o.Timeout)); err != nil {
			return res, err
		}
		engaged = k
		if err := sample(k, engage); err != nil {
			return res, err
		}
	}
	var xs, rss, heap []float64
	for _, p := range res.Points {
		if p.Members > 0 {
			xs, rss, heap = append(xs, float64(p.Members)), append(rss, p.RSSMiB), append(heap, p.HeapMiB)
		}
	}
	slope, intercept := leastSquares(xs, rss)
	res.RSSMiBPerMember, res.RSSMiBAtZero = round(slope, 1), round(intercept, 1)
	slope, _ = leastSquares(xs, heap)
	res.HeapMiBPerMember = round(slope, 1)
	return res, nil
}

// scrapeGauge reads one unlabelled sample from a controller's /metrics.
func scrapeGauge(ctx context.Context, c *fleet.Controller, name string) (float64, error) {
	text, err := c.Scrape(ctx)
	if err != nil {
		return 0, err
	}
	return gaugeValue(text, name)
}

// gaugeValue finds "<name> <value>" in Prometheus text format.
func gaugeValue(text, name string) (float64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
