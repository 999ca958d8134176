package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// RunResult is one controller setup on one workload.
type RunResult struct {
	Setup   Setup `json:"setup"`
	Kind    Kind  `json:"kind"`
	Mode    Mode  `json:"mode"`
	Members int   `json:"members"`
	// Objects created; Converged of them within the timeout.
	Objects        int     `json:"objects"`
	Converged      int     `json:"converged"`
	CreateFailures int     `json:"createFailures,omitempty"`
	Latency        Latency `json:"latency"`
	// CreateSeconds: first create issued → last create returned.
	CreateSeconds float64 `json:"createSeconds"`
	// ConvergeSeconds: first create issued → last object converged.
	ConvergeSeconds float64 `json:"convergeSeconds"`
	// ObjectsPerSecond is Converged / ConvergeSeconds (for a steady run,
	// bounded by the creation rate).
	ObjectsPerSecond float64 `json:"objectsPerSecond"`
	// Processes is the number of controller processes measured.
	Processes int `json:"processes"`
	// ControllerCPUSeconds: user+system CPU of the controller processes
	// during the run (summed).
	ControllerCPUSeconds float64 `json:"controllerCPUSeconds"`
	// ControllerPeakRSSMiB: sum of VmHWM (each process's peak since start).
	ControllerPeakRSSMiB float64 `json:"controllerPeakRSSMiB"`
	// ControllerEndRSSMiB: sum of VmRSS at the end.
	ControllerEndRSSMiB float64 `json:"controllerEndRSSMiB"`
	// ServerCPUSeconds: CPU of every API server and etcd of the fleet during
	// the run: the load the controllers put on the control planes.
	ServerCPUSeconds float64 `json:"serverCPUSeconds"`
	// Requests the controllers sent during the run, by cluster (not counted
	// for the floor: by construction 2 to the member and 1 to the peer per
	// object).
	Requests Requests `json:"requests"`
	Error    string   `json:"error,omitempty"`

	starts    *Starts
	latencies map[string][]time.Duration // per member
}

// Ratio compares apinet-hub with a baseline setup on one workload:
// hub value / baseline value (0: not measurable).
type Ratio struct {
	Kind     Kind    `json:"kind"`
	Mode     Mode    `json:"mode"`
	Baseline Setup   `json:"baseline"`
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
	// Throughput is objects per second (above 1: the hub is faster).
	Throughput float64 `json:"objectsPerSecond"`
	CPU        float64 `json:"cpu"`
	PeakRSS    float64 `json:"peakRSS"`
	EndRSS     float64 `json:"endRSS"`
	ServerCPU  float64 `json:"serverCPU"`
}

// Machine is where the bench ran.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpuModel"`
	MemoryGiB float64 `json:"memoryGiB"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
}

// Report is the bench's output.
type Report struct {
	Started         time.Time         `json:"started"`
	DurationSeconds float64           `json:"durationSeconds"`
	Commit          string            `json:"commit"`
	Machine         Machine           `json:"machine"`
	Options         Options           `json:"options"`
	Runs            []RunResult       `json:"runs"`
	Ratios          []Ratio           `json:"ratios"`
	Onboarding      *OnboardingResult `json:"onboarding,omitempty"`
	DeadMember      *DeadMemberResult `json:"deadMember,omitempty"`
	Scaling         *ScalingResult    `json:"scaling,omitempty"`
	Fairness        *FairnessResult   `json:"fairness,omitempty"`
}

func newReport(o Options, start time.Time) *Report {
	r := &Report{Started: start, Options: o, Machine: Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Machine.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		r.Machine.CPUModel = procField(string(b), "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib float64
		if _, err := fmt.Sscanf(strings.TrimSpace(procField(string(b), "MemTotal")), "%f kB", &kib); err == nil {
			r.Machine.MemoryGiB = round(kib/(1<<20), 1)
		}
	}
	return r
}

// procField is the value of the first "key : value" line.
func procField(text, key string) string {
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// run returns the run of a setup on a workload, or nil.
func (r *Report) run(s Setup, k Kind, m Mode) *RunResult {
	for i := range r.Runs {
		if run := &r.Runs[i]; run.Setup == s && run.Kind == k && run.Mode == m {
			return run
		}
	}
	return nil
}

// finish computes the ratios of the hub against every other setup.
func (r *Report) finish(took time.Duration) {
	r.DurationSeconds = round(took.Seconds(), 1)
	r.Ratios = ratios(r.Runs)
}

// ratios compares every apinet-hub run with the other setups' runs of the
// same workload.
func ratios(runs []RunResult) []Ratio {
	var out []Ratio
	for _, hub := range runs {
		if hub.Setup != SetupHub {
			continue
		}
		for _, base := range runs {
			if base.Setup == SetupHub || base.Kind != hub.Kind || base.Mode != hub.Mode {
				continue
			}
			out = append(out, Ratio{
				Kind: hub.Kind, Mode: hub.Mode, Baseline: base.Setup,
				P50:        ratio(hub.Latency.P50, base.Latency.P50),
				P99:        ratio(hub.Latency.P99, base.Latency.P99),
				Throughput: ratio(hub.ObjectsPerSecond, base.ObjectsPerSecond),
				CPU:        ratio(hub.ControllerCPUSeconds, base.ControllerCPUSeconds),
				PeakRSS:    ratio(hub.ControllerPeakRSSMiB, base.ControllerPeakRSSMiB),
				EndRSS:     ratio(hub.ControllerEndRSSMiB, base.ControllerEndRSSMiB),
				ServerCPU:  ratio(hub.ServerCPUSeconds, base.ServerCPUSeconds),
			})
		}
	}
	return out
}

// Markdown renders the report as the tables docs/performance.md shows.
func (r *Report) Markdown() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "\n## apinet-hub bench %s (commit %s, %d CPUs, %.0f GiB, %.0f s)\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Commit, r.Machine.CPUs, r.Machine.MemoryGiB, r.DurationSeconds)
	fmt.Fprintf(&b, "K=%d members × N=%d objects per kind; steady %.0f objects/s in total; burst with %d writers; "+
		"client QPS/burst %.0f/%d (apinetlet-shipped: 5/10).\n\n", o.K, o.N, o.Rate, o.Writers, o.MemberQPS, o.MemberBurst)
	b.WriteString("| kind | mode | setup | converged | p50 ms | p90 ms | p99 ms | objects/s | controller CPU s | peak RSS MiB | end RSS MiB | API servers CPU s | requests/object member+peer |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range r.Runs {
		conv := fmt.Sprintf("%d/%d", run.Converged, run.Objects)
		if run.Error != "" {
			conv += " ⚠"
		}
		perObject := "2+1 (by construction)"
		if run.Setup != SetupFloor && run.Setup != SetupFloorApply {
			perObject = num(run.Requests.Member/float64(max(run.Objects, 1)), 1) + "+" + num(run.Requests.Peer/float64(max(run.Objects, 1)), 1)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			run.Kind, run.Mode, run.Setup, conv, num(run.Latency.P50, 0), num(run.Latency.P90, 0), num(run.Latency.P99, 0),
			num(run.ObjectsPerSecond, 1), num(run.ControllerCPUSeconds, 1), num(run.ControllerPeakRSSMiB, 0),
			num(run.ControllerEndRSSMiB, 0), num(run.ServerCPUSeconds, 1), perObject)
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\nRatios apinet-hub / baseline (same run; latency, CPU, RSS: below 1 is better for the hub; objects/s: above 1 is better):\n\n")
		b.WriteString("| kind | mode | baseline | p50 | p99 | objects/s | controller CPU | peak RSS | end RSS | API servers CPU |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range r.Ratios {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Kind, x.Mode, x.Baseline,
				num(x.P50, 2), num(x.P99, 2), num(x.Throughput, 2), num(x.CPU, 2), num(x.PeakRSS, 2), num(x.EndRSS, 2), num(x.ServerCPU, 2))
		}
	}
	if ob := r.Onboarding; ob != nil {
		fmt.Fprintf(&b, "\nOnboarding a member holding %d Networks while %d members run the steady workload: "+
			"Engaged after %s s, first Network Available after %s s, all after %s s (busy members meanwhile: p50 %s ms, p99 %s ms).\n",
			ob.Objects, ob.Busy.Members, num(ob.EngagedSeconds, 2), num(ob.FirstMappedSeconds, 2), num(ob.AllMappedSeconds, 2),
			num(ob.Busy.Latency.P50, 0), num(ob.Busy.Latency.P99, 0))
	}
	if d := r.DeadMember; d != nil {
		fmt.Fprintf(&b, "\nOne dead member (API servers stopped %s s into the steady Network workload of the other %d): "+
			"their p50 %s ms / p99 %s ms vs %s ms / %s ms with all alive (p99 ratio %s); the hub marked it not Engaged (%s) after %s s.\n",
			num(d.StoppedAfterSeconds, 1), d.OneDead.Members, num(d.OneDead.Latency.P50, 0), num(d.OneDead.Latency.P99, 0),
			num(d.AllAlive.P50, 0), num(d.AllAlive.P99, 0), num(ratio(d.OneDead.Latency.P99, d.AllAlive.P99), 2),
			d.PausedReason, num(d.PausedAfterSeconds, 1))
	}
	if s := r.Scaling; s != nil {
		b.WriteString("\nHub memory by engaged members (each with its Networks converged; sampled 5 s later):\n\n")
		b.WriteString("| members | Networks | hub RSS MiB | Go heap in use MiB | engage s |\n|---|---|---|---|---|\n")
		for _, p := range s.Points {
			fmt.Fprintf(&b, "| %d | %d | %s | %s | %s |\n", p.Members, p.Objects, num(p.RSSMiB, 0), num(p.HeapMiB, 0), num(p.EngageSeconds, 1))
		}
		fmt.Fprintf(&b, "\nSlope: %s MiB RSS (%s MiB heap) per engaged member; fitted hub without members: %s MiB.\n",
			num(s.RSSMiBPerMember, 1), num(s.HeapMiBPerMember, 1), num(s.RSSMiBAtZero, 0))
	}
	if f := r.Fairness; f != nil {
		b.WriteString(f.markdown())
	}
	return b.String()
}

// num formats v with digits decimals; 0 (not measured) is "–".
func num(v float64, digits int) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.*f", digits, v)
}
