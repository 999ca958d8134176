package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// Noisy-neighbour runs (the "fairness" extra): Q = K-1 quiet members run the
// steady Network workload while one more member is noisy, each case on a
// fresh fleet, and the quiet members' latency is compared with the same
// quiet members running alone in the same bench run:
//
//   - burst: the noisy member creates BurstN Networks in one burst;
//   - onboarding: the noisy member, holding OnboardN Networks, is onboarded;
//   - slow: the noisy member's API is behind a loopback proxy that delays
//     every response by SlowDelay, and it runs the quiet members' workload;
//   - dead: the noisy member's API servers are SIGKILLed a quarter into the
//     workload (DeadRepeats times; the median is reported).
//
// Every case runs with the hub's fair queueing (the default), for the
// before/after comparison with --member-queue-share=0 (one FIFO per
// controller, as before), and with one real apinetlet per member
// ("apinetlets": process isolation on the same machine, the floor that
// queueing alone can reach; the slow case is left out there).
type FairnessResult struct {
	QuietMembers int            `json:"quietMembers"`
	Cases        []FairnessCase `json:"cases"`
	// DeadMedianP99Ratio is the median over the dead repeats, by queueing.
	DeadMedianP99Ratio map[string]float64 `json:"deadMedianP99Ratio"`
}

// FairnessCase is one run.
type FairnessCase struct {
	Case     string `json:"case"`
	Queueing string `json:"queueing"` // "fair", "fifo" or "apinetlets"
	// Quiet is the quiet members' steady run.
	Quiet RunResult `json:"quiet"`
	// P50Ratio and P99Ratio: the quiet members' latency against the "alone"
	// run of the same queueing.
	P50Ratio float64 `json:"p50Ratio,omitempty"`
	P99Ratio float64 `json:"p99Ratio,omitempty"`
	// Noisy: the noisy member's own objects, and how fast they converged
	// (burst, onboarding: objects/s from the start of its work to the last
	// one converged).
	NoisyObjects          int     `json:"noisyObjects,omitempty"`
	NoisyObjectsPerSecond float64 `json:"noisyObjectsPerSecond,omitempty"`
	NoisySeconds          float64 `json:"noisySeconds,omitempty"`
	Error                 string  `json:"error,omitempty"`
}

// fairnessSettings of the noisy member.
const (
	fairnessBurstN    = 1000
	fairnessOnboardN  = 500
	fairnessSlowDelay = time.Second
)

func (b *bench) fairnessRun(ctx context.Context) (*FairnessResult, error) {
	o := b.opts
	res := &FairnessResult{QuietMembers: o.K - 1, DeadMedianP99Ratio: map[string]float64{}}
	var errs []error
	for _, queueing := range o.FairQueueing {
		var alone *FairnessCase
		cases := []string{"alone"}
		for _, name := range o.FairCases {
			repeats := 1
			if name == "dead" {
				repeats = o.DeadRepeats
			}
			for range repeats {
				cases = append(cases, name)
			}
		}
		var deadRatios []float64
		for _, name := range cases {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if queueing == "apinetlets" && name == "slow" {
				continue // apinetlet reaches its member directly
			}
			c, err := b.fairnessCase(ctx, name, queueing)
			if err != nil {
				c.Error = err.Error()
				errs = append(errs, fmt.Errorf("fairness %s %s: %w", name, queueing, err))
			}
			if name == "alone" {
				alone = &c
			} else if alone != nil {
				c.P50Ratio = ratio(c.Quiet.Latency.P50, alone.Quiet.Latency.P50)
				c.P99Ratio = ratio(c.Quiet.Latency.P99, alone.Quiet.Latency.P99)
			}
			if name == "dead" {
				deadRatios = append(deadRatios, c.P99Ratio)
			}
			progress("fairness %-10s %s: quiet p50 %.0f ms p99 %.0f ms (x%.2f / x%.2f), noisy %d objects at %.1f/s, hub CPU %.1f s",
				name, queueing, c.Quiet.Latency.P50, c.Quiet.Latency.P99, c.P50Ratio, c.P99Ratio, c.NoisyObjects, c.NoisyObjectsPerSecond, c.Quiet.ControllerCPUSeconds)
			res.Cases = append(res.Cases, c)
		}
		if len(deadRatios) > 0 {
			slices.Sort(deadRatios)
			res.DeadMedianP99Ratio[queueing] = deadRatios[len(deadRatios)/2]
		}
	}
	return res, errors.Join(errs...)
}

// fairnessCase runs one case on a fresh fleet.
func (b *bench) fairnessCase(ctx context.Context, name, queueing string) (c FairnessCase, err error) {
	o := b.opts
	c = FairnessCase{Case: name, Queueing: queueing}
	k := o.K
	if name == "alone" {
		k = o.K - 1
	}
	progress("fairness %s %s: starting a fleet of %d members ...", name, queueing, k)
	env, err := startEnv(ctx, k, o.logDir)
	if err != nil {
		return c, err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	env.HubArgs = slices.Clone(o.HubArgs)
	if queueing == "fifo" {
		env.HubArgs = append(env.HubArgs, "--member-queue-share=0")
	}
	quiet := env.Members[:o.K-1]
	var noisy *fleet.Cluster
	if name != "alone" {
		noisy = env.Members[o.K-1]
	}
	onboarded := slices.Clone(quiet)
	if name == "burst" || name == "dead" {
		onboarded = append(onboarded, noisy)
	}
	run := "fairness-" + name + "-" + queueing
	setup := SetupHub
	if queueing == "apinetlets" {
		setup = SetupAPINetlet
	}
	ctl, err := env.startSetup(ctx, setup, o.hubBinary, run, b.qps(), o.FloorWorkers, onboarded)
	if err != nil {
		return c, err
	}
	defer func() { err = errors.Join(err, ctl.Stop()) }()

	obs := NewObserver(KindNetwork)
	defer obs.Stop()
	if err := obs.WatchAll(ctx, env.Members); err != nil {
		return c, err
	}
	quietMembers, err := env.WorkloadMembers(quiet)
	if err != nil {
		return c, err
	}
	var noisyMembers []Member
	if noisy != nil {
		if noisyMembers, err = env.WorkloadMembers([]*fleet.Cluster{noisy}); err != nil {
			return c, err
		}
	}
	// The quiet members' rate is the same in every case: Q of K members'
	// share of the steady rate.
	quietRate := o.Rate * float64(o.K-1) / float64(o.K)
	steady := Workload{Kind: KindNetwork, Mode: ModeSteady, PerMember: o.N, Rate: quietRate}
	steadyFor := time.Duration(float64(len(quiet)*o.N) / quietRate * float64(time.Second))

	if name == "onboarding" {
		// Its Networks exist before it is onboarded (other names than the
		// quiet members' steady workload, which runs after).
		pre := Workload{Kind: KindNetwork, Mode: ModeBurst, PerMember: fairnessOnboardN, Writers: o.Writers}
		if r := pre.Run(ctx, noisyMembers, NewStarts()); r.FirstError != nil {
			return c, r.FirstError
		}
	}
	var proxy *fleet.DelayProxy
	if name == "slow" {
		if proxy, err = fleet.StartDelayProxy(noisy.Address()); err != nil {
			return c, err
		}
		defer func() { err = errors.Join(err, proxy.Close()) }()
		proxy.SetDelay(fairnessSlowDelay)
		kc, err := noisy.KubeconfigVia(proxy.Addr(), nil)
		if err != nil {
			return c, err
		}
		if err := fleet.Onboard(ctx, env.Hub, fleetNamespace, noisy.Name, fleet.IronCoreLabels(peerName), nil, kc); err != nil {
			return c, err
		}
		if err := env.waitEngaged(ctx, ctl.hub, []*fleet.Cluster{noisy}, 3*time.Minute); err != nil {
			return c, err
		}
	}

	c.Quiet = RunResult{Setup: setup, Kind: KindNetwork, Mode: ModeSteady, Members: len(quiet), Objects: len(quiet) * o.N}
	var noisyErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if noisy == nil {
			return
		}
		// A quarter into the quiet members' workload.
		sleepCtx(ctx, steadyFor/4)
		t0 := time.Now()
		want := map[string]int{}
		switch name {
		case "burst":
			w := Workload{Kind: KindNetwork, Mode: ModeBurst, PerMember: fairnessBurstN, Writers: o.Writers}
			if r := w.Run(ctx, noisyMembers, NewStarts()); r.FirstError != nil {
				noisyErr = r.FirstError
				return
			}
			want[noisy.Name], c.NoisyObjects = fairnessBurstN, fairnessBurstN
		case "onboarding":
			if setup == SetupHub {
				noisyErr = env.onboard(ctx, noisy)
			} else {
				noisyErr = env.startAPINetlets(ctx, ctl, run+"-noisy", false, b.qps(), []*fleet.Cluster{noisy})
			}
			if noisyErr != nil {
				return
			}
			want[noisy.Name], c.NoisyObjects = fairnessOnboardN, fairnessOnboardN
		case "slow":
			w := Workload{Kind: KindNetwork, Mode: ModeSteady, PerMember: o.N / 2, Rate: quietRate / float64(len(quiet))}
			if r := w.Run(ctx, noisyMembers, NewStarts()); r.FirstError != nil {
				noisyErr = r.FirstError
				return
			}
			want[noisy.Name], c.NoisyObjects = o.N/2, o.N/2
		case "dead":
			noisyErr = noisy.Stop()
			return
		}
		noisyErr = obs.WaitFor(ctx, want, time.Duration(o.Timeout))
		if _, last := obs.Span(noisy.Name); !last.IsZero() {
			c.NoisySeconds = round(last.Sub(t0).Seconds(), 2)
			c.NoisyObjectsPerSecond = round(float64(obs.Count(noisy.Name))/last.Sub(t0).Seconds(), 1)
		}
	})
	err = b.measure(ctx, env, ctl, obs, steady, quietMembers, &c.Quiet)
	wg.Wait()
	return c, errors.Join(err, noisyErr)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// fairnessMarkdown renders the noisy-neighbour table.
func (r *FairnessResult) markdown() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### Noisy neighbours (%d quiet members, steady Networks)\n\n", r.QuietMembers)
	sb.WriteString("| case | queueing | quiet p50 / p99 ms | ratio p50 / p99 vs alone | noisy objects | noisy objects/s | controller CPU s |\n|---|---|---|---|---|---|---|\n")
	for _, c := range r.Cases {
		ratios := "—"
		if c.Case != "alone" {
			ratios = fmt.Sprintf("%.2f / %.2f", c.P50Ratio, c.P99Ratio)
		}
		noisy, rate := "—", "—"
		if c.NoisyObjects > 0 {
			noisy, rate = fmt.Sprint(c.NoisyObjects), num(c.NoisyObjectsPerSecond, 1)
		}
		fmt.Fprintf(&sb, "| %s | %s | %.0f / %.0f | %s | %s | %s | %s |\n", c.Case, c.Queueing, c.Quiet.Latency.P50, c.Quiet.Latency.P99,
			ratios, noisy, rate, num(c.Quiet.ControllerCPUSeconds, 1))
	}
	for _, q := range []string{"fair", "fifo", "apinetlets"} {
		if v, ok := r.DeadMedianP99Ratio[q]; ok {
			fmt.Fprintf(&sb, "\nDead member, %s queueing: median quiet p99 ratio %.2f.\n", q, v)
		}
	}
	return sb.String()
}
