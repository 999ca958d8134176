package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// This file is `make bench-scale`: the hub's cost per member at fleet
// sizes, on real servers. Members are simulated as scoped profiles
// (apinet-hub.ironcore.dev/watch-filter) over a few real IronCore clusters,
// each profile with a ServiceAccount token of its own (so each is a
// connection of its own, as distinct clusters would be), all mapped into one
// real apinet peer. At every step the hub starts cold with all members and
// their objects in place; the bench records the time to all Engaged and to
// all mapped, then, settled, the hub's RSS, Go heap, goroutines and the
// watches open on the peer and on the IronCore clusters. Step 0 (the peer
// alone) is the baseline: per-member figures are (step - baseline) / members.

// ScaleOptions are the flags of `bench scale`.
type ScaleOptions struct {
	Steps    []int    `json:"steps"`
	Clusters int      `json:"ironcoreClusters"`
	Objects  int      `json:"networksPerMember"`
	Settle   Duration `json:"settle"`
	Timeout  Duration `json:"timeout"`
	HubArgs  []string `json:"hubArgs,omitempty"`
	// Replicas, if > 1, adds a sharded phase at the last step's size.
	Replicas int `json:"shardedReplicas,omitempty"`
	// Calibrate, if > 0 (one of Steps), adds a fleet of that many distinct
	// IronCore clusters, one member each, measured as a step.
	Calibrate int `json:"calibrateDistinctClusters,omitempty"`

	hub, out string
}

// ScaleStep is one step's figures.
type ScaleStep struct {
	Members        int     `json:"members"`
	EngagedSeconds float64 `json:"coldStartToAllEngagedSeconds"`
	MappedSeconds  float64 `json:"coldStartToAllMappedSeconds"`
	// HubCPUSeconds and MachineCPUSeconds are the CPU time the hub and the
	// whole machine (every server of the fleet too) spent from the hub's
	// start to all Engaged: how much of the cold start is the hub's.
	HubCPUSeconds     float64 `json:"coldStartHubCPUSeconds"`
	MachineCPUSeconds float64 `json:"coldStartMachineCPUSeconds"`
	RSSMiB            float64 `json:"rssMiB"`
	// RSSFileMiB is the part of RSS that maps files (the binary's pages),
	// the rest is anonymous memory (heap, stacks, runtime).
	RSSFileMiB      float64 `json:"rssFileMiB"`
	HeapMiB         float64 `json:"goHeapInuseMiB"`
	Goroutines      int     `json:"goroutines"`
	PeerWatches     int     `json:"hubWatchesOnPeer"`
	IronCoreWatches int     `json:"hubWatchesOnIronCoreClusters"`
	// Quiet is a quiet member's mapping latency, settled: quietProbes
	// Networks created one at a time in member 0, each from its creation
	// until it is Available.
	Quiet Latency `json:"quietMemberLatency"`
	// ScrapeSeconds is one GET of the hub's /metrics (the usage collector
	// reads every member's objects from the peer caches).
	ScrapeSeconds float64 `json:"metricsScrapeSeconds"`
	// Per member, against step 0.
	RSSPerMemberMiB  float64 `json:"rssPerMemberMiB,omitempty"`
	HeapPerMemberMiB float64 `json:"heapPerMemberMiB,omitempty"`
}

// ShardedPhase is the last step's fleet run by sharded replicas
// (--experimental-sharding): what each replica holds, and how long a
// SIGKILLed replica's members take to be engaged by the others.
type ShardedPhase struct {
	Members       int            `json:"members"`
	LeaseDuration string         `json:"leaseDuration"`
	EngagedSecs   float64        `json:"coldStartToAllEngagedSeconds"`
	MappedSecs    float64        `json:"coldStartToAllMappedSeconds"`
	Replicas      []ShardReplica `json:"replicas"`
	// KilledMembers were engaged by the replica that was SIGKILLed;
	// ReengagedSeconds is from the kill until the survivors had engaged
	// every member.
	KilledMembers    int     `json:"killedReplicaMembers"`
	ReengagedSeconds float64 `json:"killToAllEngagedElsewhereSeconds"`
	// FirstMovedSeconds is from the kill until the survivors had engaged
	// the first of its members: the time to see the replica gone (at most
	// one lease), apart from the work of engaging its members.
	FirstMovedSeconds float64 `json:"killToFirstEngagedElsewhereSeconds"`
	// FencedSeconds is from the kill until live replicas other than the
	// killed one held every member's fence (its Lease): from then on the
	// survivors reconcile all of them.
	FencedSeconds float64 `json:"killToAllFencedElsewhereSeconds"`
}

// Calibration is the same number of members simulated both ways: as
// scoped profiles over a few clusters (the step of that size) and as as
// many distinct IronCore clusters, one whole-cluster member each, each
// against the baseline of its own fleet (the peer alone).
type Calibration struct {
	Members          int       `json:"members"`
	DistinctBaseline ScaleStep `json:"distinctBaseline"`
	Distinct         ScaleStep `json:"distinct"`
	Scoped           ScaleStep `json:"scoped"`
}

// ShardReplica is one sharded replica, settled.
type ShardReplica struct {
	MembersEngaged int     `json:"membersEngaged"`
	RSSMiB         float64 `json:"rssMiB"`
	HeapMiB        float64 `json:"goHeapInuseMiB"`
}

// ScaleReport is what bench-scale writes.
type ScaleReport struct {
	Started     time.Time     `json:"started"`
	Options     ScaleOptions  `json:"options"`
	Steps       []ScaleStep   `json:"steps"`
	Sharded     *ShardedPhase `json:"sharded,omitempty"`
	Calibration *Calibration  `json:"calibration,omitempty"`
}

func scaleMain(args []string) int {
	var o ScaleOptions
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	steps := fs.String("steps", "25,50,100,200", "member counts, ascending")
	fs.IntVar(&o.Clusters, "clusters", 2, "real IronCore clusters the simulated members are spread over")
	fs.IntVar(&o.Objects, "objects", 5, "Networks per member")
	settle := fs.Duration("settle", 20*time.Second, "wait after all are mapped, before sampling")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit of one step's cold start")
	hubArgs := fs.String("hub-args", "", "further apinet-hub run flags, space-separated")
	fs.IntVar(&o.Replicas, "replicas", 3, "sharded replicas run at the last step's size (0 or 1: no sharded phase)")
	fs.IntVar(&o.Calibrate, "calibrate", 0, "also run this many members as distinct IronCore clusters (one of -steps; each cluster is a kube-apiserver, etcd and ironcore apiserver)")
	fs.StringVar(&o.hub, "hub", "", "apinet-hub binary")
	fs.StringVar(&o.out, "out", "test/bench/results", "folder of the JSON result")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, s := range strings.Split(*steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || (len(o.Steps) > 0 && n <= o.Steps[len(o.Steps)-1]) {
			fmt.Fprintf(os.Stderr, "-steps %q: want ascending positive counts\n", *steps)
			return 2
		}
		o.Steps = append(o.Steps, n)
	}
	if *hubArgs != "" {
		o.HubArgs = strings.Fields(*hubArgs)
	}
	if o.Calibrate < 0 || (o.Calibrate > 0 && !slices.Contains(o.Steps, o.Calibrate)) {
		fmt.Fprintf(os.Stderr, "-calibrate %d: want one of -steps %v (the scoped figures to compare with)\n", o.Calibrate, o.Steps)
		return 2
	}
	o.Settle, o.Timeout = Duration(*settle), Duration(*timeout)
	if o.hub == "" {
		fmt.Fprintln(os.Stderr, "bench scale: -hub is required (make bench-scale builds it)")
		return 2
	}
	ctx, cancel := quietRun()
	defer cancel()
	r, err := runScale(ctx, o)
	if r != nil {
		fmt.Print(r.markdown())
		if werr := writeJSON(o.out, "scale", r); werr != nil {
			fmt.Fprintln(os.Stderr, werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench scale:", err)
		return 1
	}
	return 0
}

func runScale(ctx context.Context, o ScaleOptions) (*ScaleReport, error) {
	r := &ScaleReport{Started: time.Now().UTC(), Options: o}
	f, err := fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(o.Clusters, 1)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Stop() }()
	hub := f.Hub().Client()
	if err := hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}}); err != nil {
		return nil, err
	}
	peer := f.Cluster(peerName)
	if err := fleet.Onboard(ctx, hub, fleetNamespace, peerName, fleet.APINetLabels, nil, peer.Kubeconfig()); err != nil {
		return nil, err
	}
	var ironcore []*fleet.Cluster
	for i := 1; i <= o.Clusters; i++ {
		ironcore = append(ironcore, f.Cluster(fmt.Sprintf("ironcore-%d", i)))
	}
	logs, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		return nil, err
	}
	progress("bench-scale: logs in %s", logs)

	baseline, err := scaleStep(ctx, o, f, ironcore, 0, logs)
	if err != nil {
		return r, fmt.Errorf("baseline: %w", err)
	}
	r.Steps = append(r.Steps, baseline)
	members := 0
	for _, n := range o.Steps {
		if err := addMembers(ctx, o, hub, ironcore, members, n); err != nil {
			return r, err
		}
		members = n
		s, err := scaleStep(ctx, o, f, ironcore, n, logs)
		if err != nil {
			return r, fmt.Errorf("%d members: %w", n, err)
		}
		s.RSSPerMemberMiB = (s.RSSMiB - baseline.RSSMiB) / float64(n)
		s.HeapPerMemberMiB = (s.HeapMiB - baseline.HeapMiB) / float64(n)
		r.Steps = append(r.Steps, s)
	}
	if o.Replicas > 1 && members > 0 {
		sh, err := shardedPhase(ctx, o, f, ironcore, members, logs)
		r.Sharded = sh
		if err != nil {
			return r, fmt.Errorf("sharded phase: %w", err)
		}
	}
	if o.Calibrate > 0 {
		c, err := calibrate(ctx, o, o.Calibrate, logs)
		if c != nil {
			for _, s := range r.Steps {
				if s.Members == o.Calibrate {
					c.Scoped = s
				}
			}
			r.Calibration = c
		}
		if err != nil {
			return r, fmt.Errorf("calibration: %w", err)
		}
	}
	return r, nil
}

// calibrate runs n members as n distinct IronCore clusters (a fleet of its
// own, one whole-cluster profile per cluster, each with its own token and
// o.Objects Networks) and measures them as a step, against that fleet's
// baseline.
func calibrate(ctx context.Context, o ScaleOptions, n int, logs string) (*Calibration, error) {
	c := &Calibration{Members: n}
	start := time.Now()
	f, err := fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(n, 1)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Stop() }()
	progress("bench-scale: calibration: %d distinct IronCore clusters up in %.0f s", n, time.Since(start).Seconds())
	logs = filepath.Join(logs, "distinct")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	hub := f.Hub().Client()
	if err := hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}}); err != nil {
		return nil, err
	}
	if err := fleet.Onboard(ctx, hub, fleetNamespace, peerName, fleet.APINetLabels, nil, f.Cluster(peerName).Kubeconfig()); err != nil {
		return nil, err
	}
	var ironcore []*fleet.Cluster
	for i := 1; i <= n; i++ {
		ironcore = append(ironcore, f.Cluster(fmt.Sprintf("ironcore-%d", i)))
	}
	if c.DistinctBaseline, err = scaleStep(ctx, o, f, ironcore, 0, logs); err != nil {
		return c, fmt.Errorf("baseline: %w", err)
	}
	for i, cl := range ironcore {
		// Named and labelled as scaleMember's, so that scaleStep counts
		// and probes them the same way; the profile is unscoped.
		name, _ := scaleMember(i, ironcore)
		token, err := cl.ServiceAccountToken(ctx, "apinet-hub-scale")
		if err != nil {
			return c, fmt.Errorf("%s: token: %w", name, err)
		}
		if err := fleet.Onboard(ctx, hub, fleetNamespace, name, fleet.IronCoreLabels(peerName), nil, token.Kubeconfig); err != nil {
			return c, fmt.Errorf("%s: onboard: %w", name, err)
		}
		for j := range o.Objects {
			nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("%s-%d", name, j),
				Labels: map[string]string{clusterprofiles.LabelWatchFilter: name}}}
			if err := cl.Client().Create(ctx, nw); err != nil {
				return c, fmt.Errorf("%s: Network: %w", name, err)
			}
		}
	}
	if c.Distinct, err = scaleStep(ctx, o, f, ironcore, n, logs); err != nil {
		return c, err
	}
	c.Distinct.RSSPerMemberMiB = (c.Distinct.RSSMiB - c.DistinctBaseline.RSSMiB) / float64(n)
	c.Distinct.HeapPerMemberMiB = (c.Distinct.HeapMiB - c.DistinctBaseline.HeapMiB) / float64(n)
	return c, nil
}

// shardLease is the sharded replicas' lease duration (the hub's default).
const shardLease = 15 * time.Second

// shardedPhase starts o.Replicas sharded hubs cold with the n members in
// place, waits until every member is engaged and mapped, samples each
// replica, then SIGKILLs the replica with the most members and waits until
// the others have engaged every member.
func shardedPhase(ctx context.Context, o ScaleOptions, f *fleet.Fleet, ironcore []*fleet.Cluster, n int, logs string) (*ShardedPhase, error) {
	sh := &ShardedPhase{Members: n, LeaseDuration: shardLease.String()}
	const leases = "apinet-hub-scale-shards"
	hub := f.Hub().Client()
	if err := hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leases}}); client.IgnoreAlreadyExists(err) != nil {
		return sh, err
	}
	start := time.Now()
	var replicas []*fleet.Controller
	defer func() {
		for _, h := range replicas {
			_ = h.Stop(30 * time.Second)
		}
	}()
	for i := range o.Replicas {
		args := append([]string{"--experimental-sharding", fmt.Sprintf("--shard-id=scale-%d", i), "--leader-election-namespace=" + leases,
			"--leader-election-lease-duration=" + shardLease.String()}, o.HubArgs...)
		h, err := fleet.StartHub(fleet.HubOptions{Binary: o.hub, Kubeconfig: f.Hub().KubeconfigPath(), Namespace: fleetNamespace,
			Log: filepath.Join(logs, fmt.Sprintf("shard-%d.log", i)), Args: args})
		if err != nil {
			return sh, err
		}
		replicas = append(replicas, h)
	}
	// engagedBy counts the IronCore members each replica reports engaged.
	engagedBy := func() []int {
		counts := make([]int, len(replicas))
		for i, h := range replicas {
			if h.Exited() {
				continue
			}
			if text, err := h.Scrape(ctx); err == nil {
				counts[i] = int(metricValue(text, "apinet_hub_cluster_engaged", map[string]string{"role": "ironcore"}))
			}
		}
		return counts
	}
	sum := func(counts []int) int {
		total := 0
		for _, c := range counts {
			total += c
		}
		return total
	}
	deadline := time.Now().Add(time.Duration(o.Timeout))
	for sum(engagedBy()) < n {
		if time.Now().After(deadline) {
			return sh, fmt.Errorf("replicas engaged %v of %d members after %s", engagedBy(), n, time.Since(start).Round(time.Second))
		}
		time.Sleep(250 * time.Millisecond)
	}
	sh.EngagedSecs = time.Since(start).Seconds()
	for mapped := -1; mapped < n*o.Objects; {
		var err error
		if mapped, err = countMapped(ctx, ironcore); err != nil {
			return sh, err
		}
		if time.Now().After(deadline) {
			return sh, fmt.Errorf("%d of %d Networks mapped after %s", mapped, n*o.Objects, time.Since(start).Round(time.Second))
		}
		time.Sleep(250 * time.Millisecond)
	}
	sh.MappedSecs = time.Since(start).Seconds()
	sleepCtx(ctx, time.Duration(o.Settle))
	counts := engagedBy()
	victim := 0
	for i, h := range replicas {
		p, err := readProc(h.PID())
		if err != nil {
			return sh, err
		}
		text, err := h.Scrape(ctx)
		if err != nil {
			return sh, err
		}
		sh.Replicas = append(sh.Replicas, ShardReplica{counts[i], float64(p.RSS) / (1 << 20), metricValue(text, "go_memstats_heap_inuse_bytes", nil) / (1 << 20)})
		if counts[i] > counts[victim] {
			victim = i
		}
	}
	progress("bench-scale: %d sharded replicas: all %d engaged %.1f s, mapped %.1f s; members per replica %v", len(replicas), n, sh.EngagedSecs, sh.MappedSecs, counts)
	sh.KilledMembers = counts[victim]
	if err := replicas[victim].Kill(); err != nil {
		return sh, err
	}
	killed := time.Now()
	deadline = killed.Add(time.Duration(o.Timeout))
	survivors := sum(counts) - counts[victim]
	victimID := fmt.Sprintf("scale-%d", victim)
	for engaged, fenced := survivors, false; engaged < n || !fenced; {
		if engaged > survivors && sh.FirstMovedSeconds == 0 {
			sh.FirstMovedSeconds = time.Since(killed).Seconds()
		}
		if engaged >= n && sh.ReengagedSeconds == 0 {
			sh.ReengagedSeconds = time.Since(killed).Seconds()
		}
		if time.Now().After(deadline) {
			return sh, fmt.Errorf("survivors engaged %v of %d members %s after the kill (all fenced by them: %t)", engagedBy(), n, time.Since(killed).Round(time.Second), fenced)
		}
		time.Sleep(250 * time.Millisecond)
		engaged = sum(engagedBy())
		if !fenced {
			held, err := fencesHeld(ctx, hub, leases, victimID)
			if err != nil {
				return sh, err
			}
			if fenced = held == n; fenced {
				sh.FencedSeconds = time.Since(killed).Seconds()
			}
		}
	}
	if sh.ReengagedSeconds == 0 {
		sh.ReengagedSeconds = time.Since(killed).Seconds()
	}
	progress("bench-scale: replica %d (%d members) SIGKILLed; the others engaged the first of them %.1f s, every member %.1f s and held every member's fence %.1f s later (lease %s)",
		victim, sh.KilledMembers, sh.FirstMovedSeconds, sh.ReengagedSeconds, sh.FencedSeconds, shardLease)
	return sh, nil
}

// fencesHeld counts the members' fences that a live replica other than
// except holds.
func fencesHeld(ctx context.Context, c client.Client, namespace, except string) (int, error) {
	fences, err := fleet.ShardFences(ctx, c, namespace)
	held := 0
	for _, holder := range fences {
		if holder != except {
			held++
		}
	}
	return held, err
}

// scaleMember is the name, watch filter and cluster of simulated member i.
func scaleMember(i int, ironcore []*fleet.Cluster) (string, *fleet.Cluster) {
	return fmt.Sprintf("m-%04d", i), ironcore[i%len(ironcore)]
}

// addMembers onboards members from..to-1, each with a token of its own, and
// creates their Networks.
func addMembers(ctx context.Context, o ScaleOptions, hub client.Client, ironcore []*fleet.Cluster, from, to int) error {
	start := time.Now()
	work := make(chan int)
	errs := make(chan error, to-from)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				errs <- addMember(ctx, o, hub, ironcore, i)
			}
		})
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	progress("bench-scale: onboarded members %d..%d with %d Networks each in %.1f s", from, to-1, o.Objects, time.Since(start).Seconds())
	return nil
}

func addMember(ctx context.Context, o ScaleOptions, hub client.Client, ironcore []*fleet.Cluster, i int) error {
	name, c := scaleMember(i, ironcore)
	token, err := c.ServiceAccountToken(ctx, "apinet-hub-scale")
	if err != nil {
		return fmt.Errorf("%s: token: %w", name, err)
	}
	if err := fleet.Onboard(ctx, hub, fleetNamespace, name, fleet.IronCoreLabels(peerName),
		map[string]string{clusterprofiles.AnnotationWatchFilter: name}, token.Kubeconfig); err != nil {
		return fmt.Errorf("%s: onboard: %w", name, err)
	}
	for j := range o.Objects {
		nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("%s-%d", name, j),
			Labels: map[string]string{clusterprofiles.LabelWatchFilter: name}}}
		if err := c.Client().Create(ctx, nw); err != nil {
			return fmt.Errorf("%s: Network: %w", name, err)
		}
	}
	return nil
}

// scaleStep starts the hub cold with n members in place and measures it.
func scaleStep(ctx context.Context, o ScaleOptions, f *fleet.Fleet, ironcore []*fleet.Cluster, n int, logs string) (ScaleStep, error) {
	s := ScaleStep{Members: n}
	pprofAddr, err := fleet.FreeAddr()
	if err != nil {
		return s, err
	}
	start := time.Now()
	machineStart := machineCPU()
	h, err := fleet.StartHub(fleet.HubOptions{Binary: o.hub, Kubeconfig: f.Hub().KubeconfigPath(), Namespace: fleetNamespace,
		Log: filepath.Join(logs, fmt.Sprintf("hub-%d.log", n)), Args: append([]string{"--pprof-bind-address", pprofAddr}, o.HubArgs...)})
	if err != nil {
		return s, err
	}
	defer func() { _ = h.Stop(30 * time.Second) }()
	hub := f.Hub().Client()
	deadline := time.Now().Add(time.Duration(o.Timeout))
	for engaged := -1; engaged < n+1; { // n members and the peer
		if engaged, err = countEngaged(ctx, hub); err != nil {
			return s, err
		}
		if h.Exited() || time.Now().After(deadline) {
			return s, fmt.Errorf("%d of %d profiles engaged after %s (hub exited: %v)", engaged, n+1, time.Since(start).Round(time.Second), h.Exited())
		}
		time.Sleep(250 * time.Millisecond)
	}
	s.EngagedSeconds = time.Since(start).Seconds()
	s.MachineCPUSeconds = (machineCPU() - machineStart).Seconds()
	if p, err := readProc(h.PID()); err == nil {
		s.HubCPUSeconds = p.CPU.Seconds()
	}
	for mapped := -1; mapped < n*o.Objects; {
		if mapped, err = countMapped(ctx, ironcore); err != nil {
			return s, err
		}
		if h.Exited() || time.Now().After(deadline) {
			return s, fmt.Errorf("%d of %d Networks mapped after %s", mapped, n*o.Objects, time.Since(start).Round(time.Second))
		}
		time.Sleep(250 * time.Millisecond)
	}
	s.MappedSeconds = time.Since(start).Seconds()
	progress("bench-scale: %d members: all engaged %.1f s, all %d Networks mapped %.1f s after the hub's start", n, s.EngagedSeconds, n*o.Objects, s.MappedSeconds)
	sleepCtx(ctx, time.Duration(o.Settle))

	if n > 0 {
		if s.Quiet, err = quietLatency(ctx, ironcore, n); err != nil {
			return s, fmt.Errorf("quiet member: %w", err)
		}
	}
	p, err := readProc(h.PID())
	if err != nil {
		return s, err
	}
	s.RSSMiB = float64(p.RSS) / (1 << 20)
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.PID())); err == nil {
		s.RSSFileMiB = float64(statusKiB(status, "RssFile")) / 1024
	}
	scraped := time.Now()
	metricsText, err := h.Scrape(ctx)
	if err != nil {
		return s, err
	}
	s.ScrapeSeconds = time.Since(scraped).Seconds()
	s.HeapMiB = metricValue(metricsText, "go_memstats_heap_inuse_bytes", nil) / (1 << 20)
	s.Goroutines = int(metricValue(metricsText, "go_goroutines", nil))
	peerMetrics, err := f.Cluster(peerName).AggregatedMetrics(ctx)
	if err != nil {
		return s, err
	}
	s.PeerWatches = int(metricValue(peerMetrics, "apiserver_longrunning_requests", map[string]string{"verb": "WATCH"}))
	for _, c := range ironcore {
		m, err := c.AggregatedMetrics(ctx)
		if err != nil {
			return s, err
		}
		s.IronCoreWatches += int(metricValue(m, "apiserver_longrunning_requests", map[string]string{"verb": "WATCH"}))
	}
	for _, prof := range []struct{ path, file string }{
		{"heap", fmt.Sprintf("heap-%d.pb.gz", n)}, {"goroutine?debug=1", fmt.Sprintf("goroutines-%d.txt", n)},
	} {
		if err := saveProfile(ctx, pprofAddr, prof.path, filepath.Join(logs, prof.file)); err != nil {
			progress("bench-scale: profile %s: %v", prof.path, err)
		}
	}
	return s, nil
}

// machineCPU is the CPU time all the machine's processors have spent busy
// (/proc/stat: everything but idle and iowait); 0 if unreadable.
func machineCPU() time.Duration {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// quietProbes is how many Networks quietLatency creates.
const quietProbes = 20

// quietLatency measures a quiet member's mapping latency with n members
// engaged: member 0 gets quietProbes Networks one after another, each
// timed from its creation until it is Available, then deleted.
func quietLatency(ctx context.Context, ironcore []*fleet.Cluster, n int) (Latency, error) {
	name, c := scaleMember(0, ironcore)
	var lat []time.Duration
	for i := range quietProbes {
		nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("%s-quiet-%d-%d", name, n, i),
			Labels: map[string]string{clusterprofiles.LabelWatchFilter: name}}}
		start := time.Now()
		if err := c.Client().Create(ctx, nw); err != nil {
			return Latency{}, err
		}
		for nw.Status.State != networkingv1alpha1.NetworkStateAvailable {
			if time.Since(start) > time.Minute {
				return Latency{}, fmt.Errorf("network %s not Available after a minute", nw.Name)
			}
			time.Sleep(20 * time.Millisecond)
			if err := c.Client().Get(ctx, client.ObjectKeyFromObject(nw), nw); err != nil {
				return Latency{}, err
			}
		}
		lat = append(lat, time.Since(start))
		if err := c.Client().Delete(ctx, nw); err != nil {
			return Latency{}, err
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
	return summarize(lat), nil
}

// statusKiB reads one "<key>: <n> kB" line of /proc/<pid>/status.
func statusKiB(status []byte, key string) int64 {
	for line := range strings.Lines(string(status)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// countEngaged counts the profiles whose Engaged condition is True.
func countEngaged(ctx context.Context, hub client.Client) (int, error) {
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	if err := hub.List(ctx, list, client.InNamespace(fleetNamespace)); err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, clusterprofiles.ConditionEngaged) {
			n++
		}
	}
	return n, nil
}

// countMapped counts the members' Networks that carry a provider ID.
func countMapped(ctx context.Context, ironcore []*fleet.Cluster) (int, error) {
	n := 0
	for _, c := range ironcore {
		list := &networkingv1alpha1.NetworkList{}
		if err := c.Client().List(ctx, list, client.HasLabels{clusterprofiles.LabelWatchFilter}); err != nil {
			return 0, err
		}
		for i := range list.Items {
			if list.Items[i].Spec.ProviderID != "" {
				n++
			}
		}
	}
	return n, nil
}

// metricValue sums the samples of a metric whose labels include match (0
// when the text does not parse).
func metricValue(text, name string, match map[string]string) float64 {
	v, err := fleet.MetricSum(text, name, match)
	if err != nil {
		progress("bench-scale: %v", err)
	}
	return v
}

// saveProfile writes one of the hub's /debug/pprof profiles (go tool pprof
// reads the heap's; goroutine?debug=1 is text).
func saveProfile(ctx context.Context, addr, profile, path string) error {
	body, err := fleet.HTTPGet(ctx, "http://"+addr+"/debug/pprof/"+profile)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(body), 0o644)
}

func (r *ScaleReport) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### bench-scale %s: %d IronCore clusters, 1 apinet peer, %d Networks per member\n\n",
		r.Started.Format(time.RFC3339), r.Options.Clusters, r.Options.Objects)
	b.WriteString("| members | all Engaged (s) | all mapped (s) | RSS MiB | of it file-backed | heap MiB | goroutines | hub watches on peer | on IronCore | RSS/member MiB | heap/member MiB | /metrics scrape (s) | quiet member p50 / p99 ms | cold start CPU s hub / machine |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	steps := append([]ScaleStep(nil), r.Steps...)
	sort.Slice(steps, func(i, j int) bool { return steps[i].Members < steps[j].Members })
	for _, s := range steps {
		per := "-"
		heap := "-"
		if s.Members > 0 {
			per, heap = fmt.Sprintf("%.2f", s.RSSPerMemberMiB), fmt.Sprintf("%.2f", s.HeapPerMemberMiB)
		}
		fmt.Fprintf(&b, "| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %d | %d | %s | %s | %.3f | %.0f / %.0f | %.1f / %.1f |\n", s.Members, s.EngagedSeconds, s.MappedSeconds,
			s.RSSMiB, s.RSSFileMiB, s.HeapMiB, s.Goroutines, s.PeerWatches, s.IronCoreWatches, per, heap, s.ScrapeSeconds, s.Quiet.P50, s.Quiet.P99,
			s.HubCPUSeconds, s.MachineCPUSeconds)
	}
	b.WriteString("\nWatches count every WATCH open on the aggregated servers (apinet's and ironcore's own controllers included); the baseline row has the peer alone.\n")
	if sh := r.Sharded; sh != nil {
		fmt.Fprintf(&b, "\n%d members on %d sharded replicas (lease %s): all Engaged %.1f s, all mapped %.1f s after the start.\n\n",
			sh.Members, len(sh.Replicas), sh.LeaseDuration, sh.EngagedSecs, sh.MappedSecs)
		b.WriteString("| replica | members engaged | RSS MiB | heap MiB |\n|---|---|---|---|\n")
		for i, rep := range sh.Replicas {
			fmt.Fprintf(&b, "| %d | %d | %.1f | %.1f |\n", i, rep.MembersEngaged, rep.RSSMiB, rep.HeapMiB)
		}
		fmt.Fprintf(&b, "\nThe replica with %d members SIGKILLed: the others had engaged the first of them %.1f s, every member %.1f s and held every member's fence %.1f s later.\n",
			sh.KilledMembers, sh.FirstMovedSeconds, sh.ReengagedSeconds, sh.FencedSeconds)
	}
	if c := r.Calibration; c != nil {
		fmt.Fprintf(&b, "\nCalibration, %d members: as scoped profiles over %d clusters %.2f MiB RSS and %.2f MiB heap per member, %d goroutines; as %d distinct clusters %.2f MiB RSS and %.2f MiB heap per member, %d goroutines.\n",
			c.Members, r.Options.Clusters, c.Scoped.RSSPerMemberMiB, c.Scoped.HeapPerMemberMiB, c.Scoped.Goroutines,
			c.Members, c.Distinct.RSSPerMemberMiB, c.Distinct.HeapPerMemberMiB, c.Distinct.Goroutines)
	}
	return b.String()
}

// writeJSON writes v as <out>/<prefix>-<UTC time>.json.
func writeJSON(out, prefix string, v any) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(out, prefix+"-"+time.Now().UTC().Format("20060102T150405Z")+".json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return err
	}
	progress("bench-scale: wrote %s", path)
	return nil
}
