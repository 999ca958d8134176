// Command bench is `make bench`: it measures apinet-hub against the real
// apinetlet (ironcore-net v0.2.4) and against a floor, on real API servers.
//
// Every measured run starts a fresh fleet (a hub cluster, K IronCore members
// and one apinet peer), starts one controller setup — one apinet-hub for all
// members, one apinetlet per member (with the hub's client QPS, and as
// shipped), or the floor, a cache-less "ideal controller" (floor.go) — and
// creates N objects of one kind in every member, at a steady total rate or
// in one burst. Informers on the members record when each object converged;
// /proc gives the controllers' CPU and memory. Further runs measure
// onboarding a member while the others are busy, the effect of one dead
// member on the others, the hub's memory per engaged member, and noisy
// neighbours (fairness.go): one member's burst, backlog, slowness or death
// against quiet members alone, with fair and with FIFO queueing.
//
// The results are a markdown table on stdout and JSON in
// test/bench/results. Numbers are only reported, never asserted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// Options are the bench's flags.
type Options struct {
	K            int      `json:"members"`
	N            int      `json:"objectsPerMember"`
	Rate         float64  `json:"steadyRatePerSecond"`
	Writers      int      `json:"burstWriters"`
	FloorWorkers int      `json:"floorWorkers"`
	MemberQPS    float64  `json:"memberQPS"`
	MemberBurst  int      `json:"memberBurst"`
	Setups       []Setup  `json:"setups"`
	Kinds        []Kind   `json:"kinds"`
	Modes        []Mode   `json:"modes"`
	ShippedModes []Mode   `json:"apinetletShippedModes"`
	Extras       []string `json:"extras"`
	ScaleK       []int    `json:"scaleMembers"`
	ScaleN       int      `json:"scaleObjectsPerMember"`
	Timeout      Duration `json:"convergeTimeout"`
	DeadRepeats  int      `json:"fairnessDeadRepeats"`
	HubArgs      []string `json:"hubArgs,omitempty"`
	FairCases    []string `json:"fairnessCases"`
	FairQueueing []string `json:"fairnessQueueing"`

	out, hubBinary, logDir string
}

// Duration marshals as a Go duration string.
type Duration time.Duration

// MarshalJSON writes "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		os.Exit(floorMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "scale" {
		os.Exit(scaleMain(os.Args[2:]))
	}
	os.Exit(benchMain(os.Args[1:]))
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o Options
	var setups, kinds, modes, shipped, extras, scaleK, hubArgs, fairCases, fairQueueing string
	var timeout time.Duration
	fs.IntVar(&o.K, "k", 4, "IronCore members")
	fs.IntVar(&o.N, "n", 200, "objects per member and kind")
	fs.Float64Var(&o.Rate, "rate", 20, "steady creation rate, objects per second over all members")
	fs.IntVar(&o.Writers, "writers", 8, "concurrent creates in a burst")
	fs.IntVar(&o.FloorWorkers, "floor-workers", 8, "objects the floor maps at once (the hub's --max-concurrent-reconciles default)")
	fs.Float64Var(&o.MemberQPS, "member-qps", 100, "client QPS per member and towards the peer: the hub's --member-qps, the apinetlet setup's --qps/--api-net-qps, the floor's")
	fs.IntVar(&o.MemberBurst, "member-burst", 200, "client burst, as --member-qps")
	fs.StringVar(&setups, "setups", "apinet-hub,apinetlet,apinetlet-shipped,floor,floor-apply", "controller setups to run")
	fs.StringVar(&kinds, "kinds", "Network,VirtualIP", "IronCore kinds to create")
	fs.StringVar(&modes, "modes", "steady,burst", "creation modes")
	fs.StringVar(&shipped, "shipped-modes", "burst", "modes run for apinetlet-shipped (at 5 QPS it cannot follow the steady rate; a burst shows its ceiling)")
	fs.StringVar(&extras, "extras", "onboarding,dead-member,scaling,fairness", "further measurements (empty: none): onboarding, dead-member, scaling, fairness (noisy neighbours, fair vs FIFO queueing)")
	fs.StringVar(&scaleK, "scale-k", "1,2,4,8", "member counts of the hub memory scaling run")
	fs.IntVar(&o.ScaleN, "scale-n", 50, "Networks per member in the scaling run")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "how long one run may take to converge")
	fs.StringVar(&hubArgs, "hub-args", "", "extra flags of every apinet-hub of the workload and fairness runs, space-separated (e.g. \"--member-queue-share=1 --member-max-in-flight=4\")")
	fs.StringVar(&fairCases, "fairness-cases", "burst,onboarding,slow,dead", "noisy-neighbour cases of the fairness extra (each against an alone run)")
	fs.StringVar(&fairQueueing, "fairness-queueing", "fair,fifo,apinetlets", "what the fairness extra compares: the hub with fair queueing, the hub with one FIFO (--member-queue-share=0), one apinetlet per member")
	fs.IntVar(&o.DeadRepeats, "fairness-dead-repeats", 5, "repeats of the fairness extra's dead-member case (the median is reported)")
	fs.StringVar(&o.out, "out", "test/bench/results", "folder of the JSON results")
	fs.StringVar(&o.hubBinary, "hub", "", "apinet-hub binary (default: build ./cmd/apinet-hub)")
	fs.StringVar(&o.logDir, "logs", "", "folder for controller logs (default: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Timeout = Duration(timeout)
	o.HubArgs = strings.Fields(hubArgs)
	o.FairCases = splitList[string](fairCases)
	o.FairQueueing = splitList[string](fairQueueing)
	o.Setups = splitList[Setup](setups)
	o.Kinds = splitList[Kind](kinds)
	o.Modes = splitList[Mode](modes)
	o.ShippedModes = splitList[Mode](shipped)
	o.Extras = splitList[string](extras)
	for _, s := range splitList[string](scaleK) {
		k, err := strconv.Atoi(s)
		if err != nil || k < 1 {
			fmt.Fprintf(os.Stderr, "bench: -scale-k %q: not a positive number\n", s)
			return 2
		}
		o.ScaleK = append(o.ScaleK, k)
	}
	if o.K < 2 || o.N < 1 || o.Rate <= 0 {
		fmt.Fprintln(os.Stderr, "bench: need -k >= 2 (the dead-member run stops one), -n >= 1 and -rate > 0")
		return 2
	}

	ctx, stop := quietRun()
	defer stop()
	report, err := runBench(ctx, o)
	if report != nil {
		if werr := writeReport(o.out, report); werr != nil {
			err = errors.Join(err, werr)
		}
		fmt.Print(report.Markdown())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// quietRun silences client-go's and controller-runtime's logs (informers
// of stopped members retry loudly; the report is what counts) and returns a
// context that ends on SIGINT or SIGTERM.
func quietRun() (context.Context, context.CancelFunc) {
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	ctrllog.SetLogger(logr.Discard())
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func splitList[T ~string](s string) []T {
	var out []T
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, T(v))
		}
	}
	return out
}

// progress reports what the bench is doing on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// runBench runs every measurement. It returns what it measured even when a
// run fails.
func runBench(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	if o.hubBinary == "" {
		progress("building apinet-hub ...")
		bin, err := fleet.BuildHub(ctx)
		if err != nil {
			return nil, err
		}
		o.hubBinary = bin
	}
	if o.logDir != "" {
		if err := os.MkdirAll(o.logDir, 0o755); err != nil {
			return nil, err
		}
	}
	r := newReport(o, start)
	b := &bench{opts: o}
	var errs []error
	for _, kind := range o.Kinds {
		for _, mode := range o.Modes {
			for _, setup := range o.Setups {
				if setup == SetupAPINetletShipped && !contains(o.ShippedModes, mode) {
					continue
				}
				if ctx.Err() != nil {
					return r, ctx.Err()
				}
				res, err := b.workloadRun(ctx, setup, kind, mode)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s %s: %w", setup, kind, mode, err))
					res.Error = err.Error()
					progress("%s %s %s FAILED: %v", setup, kind, mode, err)
				}
				r.Runs = append(r.Runs, res)
				progress("%-17s %-9s %-6s p50 %.0f ms p99 %.0f ms, %.1f objects/s, CPU %.1f s, peak RSS %.0f MiB",
					setup, kind, mode, res.Latency.P50, res.Latency.P99, res.ObjectsPerSecond, res.ControllerCPUSeconds, res.ControllerPeakRSSMiB)
			}
		}
	}
	for _, extra := range o.Extras {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		var err error
		switch extra {
		case "onboarding":
			r.Onboarding, err = b.onboardingRun(ctx)
		case "dead-member":
			r.DeadMember, err = b.deadMemberRun(ctx, r.run(SetupHub, KindNetwork, ModeSteady))
		case "scaling":
			r.Scaling, err = b.scalingRun(ctx)
		case "fairness":
			r.Fairness, err = b.fairnessRun(ctx)
		default:
			err = fmt.Errorf("unknown extra %q", extra)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", extra, err))
		}
	}
	r.finish(time.Since(start))
	return r, errors.Join(errs...)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// writeReport writes the report as <out>/<timestamp>.json and latest.json.
func writeReport(out string, r *Report) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	name := filepath.Join(out, r.Started.UTC().Format("20060102T150405Z")+".json")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return err
	}
	progress("results in %s", name)
	return os.WriteFile(filepath.Join(out, "latest.json"), data, 0o644)
}
