package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// bench runs measurements with one set of options.
type bench struct{ opts Options }

func (b *bench) qps() QPS { return QPS{QPS: b.opts.MemberQPS, Burst: b.opts.MemberBurst} }

// workloadRun measures one controller setup on one workload in a fresh
// fleet.
func (b *bench) workloadRun(ctx context.Context, setup Setup, kind Kind, mode Mode) (res RunResult, err error) {
	o := b.opts
	res = RunResult{Setup: setup, Kind: kind, Mode: mode, Members: o.K, Objects: o.K * o.N}
	progress("%s %s %s: starting a fleet of %d members ...", setup, kind, mode, o.K)
	env, err := startEnv(ctx, o.K, o.logDir)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	env.HubArgs = o.HubArgs
	ctl, err := env.startSetup(ctx, setup, o.hubBinary, fmt.Sprintf("%s-%s-%s", setup, kind, mode), b.qps(), o.FloorWorkers, env.Members)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, ctl.Stop()) }()
	obs := NewObserver(kind)
	defer obs.Stop()
	if err := obs.WatchAll(ctx, env.Members); err != nil {
		return res, err
	}
	members, err := env.WorkloadMembers(env.Members)
	if err != nil {
		return res, err
	}
	w := Workload{Kind: kind, Mode: mode, PerMember: o.N, Rate: o.Rate, Writers: o.Writers, Created: ctl.Created}
	err = b.measure(ctx, env, ctl, obs, w, members, &res)
	res.latencies = map[string][]time.Duration{}
	for _, m := range members {
		res.latencies[m.Name], _ = obs.Latencies(res.starts, m.Name)
	}
	return res, err
}

// measure creates the workload in members, waits until it converged and
// fills in res: latencies, throughput, and the CPU and memory of the
// controllers and of the API servers over the run.
func (b *bench) measure(ctx context.Context, env *Env, ctl *Controllers, obs *Observer, w Workload, members []Member, res *RunResult) error {
	win, err := openWindow(env, ctl)
	if err != nil {
		return err
	}
	starts := NewStarts()
	res.starts = starts
	want := map[string]int{}
	names := make([]string, 0, len(members))
	for _, m := range members {
		want[m.Name] = w.PerMember
		names = append(names, m.Name)
	}
	created := w.Run(ctx, members, starts)
	res.CreateFailures = created.Failed
	waitErr := obs.WaitFor(ctx, want, time.Duration(b.opts.Timeout))
	closeErr := win.close(res)
	lat, last := obs.Latencies(starts, names...)
	res.Latency = summarize(lat)
	res.Converged = len(lat)
	res.CreateSeconds = round(created.Done.Sub(created.Started).Seconds(), 2)
	if !last.IsZero() {
		res.ConvergeSeconds = round(last.Sub(created.Started).Seconds(), 2)
		res.ObjectsPerSecond = round(float64(res.Converged)/last.Sub(created.Started).Seconds(), 1)
	}
	return errors.Join(created.FirstError, waitErr, closeErr)
}

// window samples the controllers' and the API servers' processes at the
// start and the end of a measurement.
type window struct {
	ctl, srv    []int
	ctl0, srv0  ProcSample
	env         *Env
	controllers *Controllers
	req0        Requests
}

func openWindow(env *Env, ctl *Controllers) (*window, error) {
	procs, err := fleet.ServerProcesses(env.Fleet.ServersDir())
	if err != nil {
		return nil, err
	}
	w := &window{ctl: ctl.PIDs(), env: env, controllers: ctl}
	w.req0 = env.requests(ctl)
	for _, p := range procs {
		w.srv = append(w.srv, p.PID)
	}
	if w.ctl0, err = sumProcs(w.ctl); err != nil {
		return nil, fmt.Errorf("controllers: %w", err)
	}
	w.srv0, _ = sumProcs(w.srv)
	return w, nil
}

// close fills in CPU seconds spent since open, and the controllers'
// resident memory (peak since they started, and now).
func (w *window) close(res *RunResult) error {
	ctl, err := sumProcs(w.ctl)
	srv, _ := sumProcs(w.srv) // a stopped member's servers are gone
	req := w.env.requests(w.controllers)
	res.Requests = Requests{Member: req.Member - w.req0.Member, Peer: req.Peer - w.req0.Peer, Hub: req.Hub - w.req0.Hub}
	res.Processes = len(w.ctl)
	res.ControllerCPUSeconds = round((ctl.CPU - w.ctl0.CPU).Seconds(), 2)
	res.ControllerPeakRSSMiB = mib(ctl.PeakRSS)
	res.ControllerEndRSSMiB = mib(ctl.RSS)
	res.ServerCPUSeconds = round((srv.CPU - w.srv0.CPU).Seconds(), 2)
	if err != nil {
		return fmt.Errorf("controllers: %w", err)
	}
	return nil
}

// Requests counts the API requests of controllers by the cluster they went
// to (client-go's rest_client_requests_total on their /metrics).
type Requests struct {
	Member float64 `json:"member"`
	Peer   float64 `json:"peer"`
	Hub    float64 `json:"hub,omitempty"`
}

// requests scrapes every controller of the setup that serves metrics (not
// the floor) and adds up its requests by cluster.
func (e *Env) requests(ctl *Controllers) Requests {
	var sum Requests
	peer := strings.TrimPrefix(e.Peer.Host(), "https://")
	for _, c := range ctl.metricsEndpoints() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		text, err := c.Scrape(ctx)
		cancel()
		if err != nil {
			continue
		}
		for host, n := range requestsByHost(text) {
			switch {
			case host == peer:
				sum.Peer += n
			case e.isMember(host):
				sum.Member += n
			default:
				sum.Hub += n
			}
		}
	}
	return sum
}

func (e *Env) isMember(host string) bool {
	for _, m := range e.Members {
		if strings.TrimPrefix(m.Host(), "https://") == host {
			return true
		}
	}
	return false
}

// requestsByHost sums rest_client_requests_total by its host label.
func requestsByHost(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		labels, ok := strings.CutPrefix(line, "rest_client_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(labels, "} ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(labels, ",") {
			if host, ok := strings.CutPrefix(l, `host="`); ok {
				out[strings.TrimSuffix(host, `"`)] += n
			}
		}
	}
	return out
}
