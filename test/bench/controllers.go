package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// fleetNamespace is the hub namespace of the ClusterProfiles.
const fleetNamespace = "fleet"

// peerName is the fleet's one apinet peer.
const peerName = "apinet-1"

// Setup is a controller setup the bench compares.
type Setup string

const (
	// SetupHub is one apinet-hub serving every member.
	SetupHub Setup = "apinet-hub"
	// SetupAPINetlet is one apinetlet per member with the hub's client QPS
	// and burst towards the member and the peer.
	SetupAPINetlet Setup = "apinetlet"
	// SetupAPINetletShipped is one apinetlet per member with its defaults:
	// client-go's 5 QPS / burst 10 towards the member and the peer.
	SetupAPINetletShipped Setup = "apinetlet-shipped"
	// SetupFloor is the ideal controller (floor.go).
	SetupFloor Setup = "floor"
	// SetupFloorApply is the floor writing the apinet object as apinetlet
	// and the hub do: a forced server-side apply under apinetlet's field
	// manager instead of a create (the wire contract; the apply costs the
	// apinet server more than a create).
	SetupFloorApply Setup = "floor-apply"
)

// Controllers is a running controller setup: the processes whose CPU and
// memory are measured.
type Controllers struct {
	Setup Setup
	hub   *fleet.Controller
	lets  []*fleet.Controller

	floor      *exec.Cmd
	floorIn    io.WriteCloser
	floorMu    sync.Mutex
	floorDone  chan error
	floorError error
}

// PIDs of the controller processes.
func (c *Controllers) PIDs() []int {
	var pids []int
	if c.hub != nil {
		pids = append(pids, c.hub.PID())
	}
	for _, l := range c.lets {
		pids = append(pids, l.PID())
	}
	if c.floor != nil {
		pids = append(pids, c.floor.Process.Pid)
	}
	return pids
}

// metricsEndpoints are the processes with a /metrics endpoint.
func (c *Controllers) metricsEndpoints() []*fleet.Controller {
	out := append([]*fleet.Controller{}, c.lets...)
	if c.hub != nil {
		out = append(out, c.hub)
	}
	return out
}

// Created tells the floor about a new object; other setups watch.
func (c *Controllers) Created(member string, kind Kind, obj client.Object) {
	if c.floor == nil {
		return
	}
	c.floorMu.Lock()
	defer c.floorMu.Unlock()
	fmt.Fprintf(c.floorIn, "%s %s %s %s %s\n", member, kind, obj.GetNamespace(), obj.GetName(), obj.GetUID())
}

// Stop ends every process of the setup. The floor drains its queue first.
func (c *Controllers) Stop() error {
	if c.hub != nil {
		_ = c.hub.Stop(10 * time.Second)
	}
	for _, l := range c.lets {
		_ = l.Stop(10 * time.Second)
	}
	if c.floor != nil && c.floorDone != nil {
		_ = c.floorIn.Close()
		select {
		case c.floorError = <-c.floorDone:
		case <-time.After(30 * time.Second):
			_ = c.floor.Process.Kill()
			c.floorError = <-c.floorDone
		}
		c.floorDone = nil
	}
	return c.floorError
}

// Env is one fleet with what the bench needs to drive it.
type Env struct {
	Fleet   *fleet.Fleet
	Hub     client.Client
	Peer    *fleet.Cluster
	Members []*fleet.Cluster
	LogDir  string
	// HubArgs are extra flags of the hub's runs in this fleet.
	HubArgs []string
}

// startEnv starts a fresh fleet: a hub, k IronCore members (the first
// `onboard` of them later onboarded) and one apinet peer with a public
// prefix large enough for every VirtualIP.
func startEnv(ctx context.Context, k int, logDir string) (*Env, error) {
	specs := fleet.Specs(k, 0)
	specs = append(specs, fleet.Spec{Name: peerName, Role: fleet.RoleAPINet,
		PublicPrefixes: []string{"10.64.0.0/16", "fdfe:1::/112"}})
	t0 := time.Now()
	f, err := fleet.Start(ctx, fleet.Options{Clusters: specs})
	if err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	progress("fleet of %d clusters up in %.1f s", len(specs), time.Since(t0).Seconds())
	e := &Env{Fleet: f, Hub: f.Hub().Client(), Peer: f.Cluster(peerName), Members: f.ByRole(fleet.RoleIronCore), LogDir: logDir}
	// ironcore-10 sorts before ironcore-2: keep the numeric order.
	for i := range e.Members {
		e.Members[i] = f.Cluster(fmt.Sprintf("ironcore-%d", i+1))
	}
	for _, m := range append([]*fleet.Cluster{f.Hub()}, e.Members...) {
		ns := fleetNamespace
		if m.Role == fleet.RoleIronCore {
			ns = benchNamespace
		}
		if err := m.Client().Create(ctx, namespace(ns)); err != nil {
			return nil, fmt.Errorf("namespace %s in %s: %w", ns, m.Name, err)
		}
	}
	return e, nil
}

// Stop stops the fleet.
func (e *Env) Stop() error {
	t0 := time.Now()
	err := e.Fleet.Stop()
	progress("fleet stopped in %.1f s", time.Since(t0).Seconds())
	return err
}

// WorkloadMembers are clients for the first n members that write without
// client-side throttling.
func (e *Env) WorkloadMembers(members []*fleet.Cluster) ([]Member, error) {
	out := make([]Member, 0, len(members))
	for _, m := range members {
		cfg := m.Config()
		cfg.QPS, cfg.Burst = 10000, 10000
		c, err := client.New(cfg, client.Options{Scheme: fleet.Scheme})
		if err != nil {
			return nil, err
		}
		out = append(out, Member{Name: m.Name, Client: c})
	}
	return out, nil
}

func (e *Env) logFile(name string) string {
	if e.LogDir == "" {
		return ""
	}
	return filepath.Join(e.LogDir, name+".log")
}

// QPS is the client budget per member (and towards the peer) that the hub
// and the apinetlet setup use.
type QPS struct {
	QPS   float64
	Burst int
}

// startSetup starts a controller setup for members and waits until it
// serves them.
func (e *Env) startSetup(ctx context.Context, s Setup, hubBinary, run string, q QPS, workers int, members []*fleet.Cluster) (*Controllers, error) {
	c := &Controllers{Setup: s}
	var err error
	switch s {
	case SetupHub:
		err = e.startHub(ctx, c, hubBinary, run, q, members)
	case SetupAPINetlet, SetupAPINetletShipped:
		err = e.startAPINetlets(ctx, c, run, s == SetupAPINetletShipped, q, members)
	case SetupFloor, SetupFloorApply:
		err = e.startFloor(c, run, q, workers, s == SetupFloorApply, members)
	default:
		err = fmt.Errorf("unknown setup %q", s)
	}
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

func (e *Env) startHub(ctx context.Context, c *Controllers, binary, run string, q QPS, members []*fleet.Cluster) error {
	if err := fleet.Onboard(ctx, e.Hub, fleetNamespace, peerName, fleet.APINetLabels, nil, e.Peer.Kubeconfig()); err != nil {
		return fmt.Errorf("onboard %s: %w", peerName, err)
	}
	for _, m := range members {
		if err := e.onboard(ctx, m); err != nil {
			return err
		}
	}
	hub, err := fleet.StartHub(fleet.HubOptions{Binary: binary, Kubeconfig: e.Fleet.Hub().KubeconfigPath(),
		Namespace: fleetNamespace, Log: e.logFile(run + "-apinet-hub"),
		Args: append([]string{"--member-qps", strconv.FormatFloat(q.QPS, 'f', -1, 64), "--member-burst", strconv.Itoa(q.Burst)}, e.HubArgs...)})
	if err != nil {
		return err
	}
	c.hub = hub
	t0 := time.Now()
	err = e.waitEngaged(ctx, hub, members, 2*time.Minute)
	progress("apinet-hub engaged %d members in %.1f s", len(members), time.Since(t0).Seconds())
	return err
}

// onboard writes member's ClusterProfile and credentials on the hub.
func (e *Env) onboard(ctx context.Context, m *fleet.Cluster) error {
	if err := fleet.Onboard(ctx, e.Hub, fleetNamespace, m.Name, fleet.IronCoreLabels(peerName), nil, m.Kubeconfig()); err != nil {
		return fmt.Errorf("onboard %s: %w", m.Name, err)
	}
	return nil
}

// waitEngaged waits until the hub is ready and reports every member Engaged.
func (e *Env) waitEngaged(ctx context.Context, hub *fleet.Controller, members []*fleet.Cluster, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if hub.Exited() {
			return fmt.Errorf("apinet-hub exited while engaging (see its log)")
		}
		pending := ""
		if !hub.Ready(ctx) {
			pending = "hub /readyz"
		}
		for _, m := range members {
			if pending != "" {
				break
			}
			if !e.engaged(ctx, m.Name) {
				pending = m.Name
			}
		}
		if pending == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not engaged within %s", pending, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// engaged reports whether the hub's Engaged condition on member's profile is True.
func (e *Env) engaged(ctx context.Context, member string) bool {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := e.Hub.Get(ctx, client.ObjectKey{Namespace: fleetNamespace, Name: member}, cp); err != nil {
		return false
	}
	return meta.IsStatusConditionTrue(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
}

func (e *Env) startAPINetlets(ctx context.Context, c *Controllers, run string, shipped bool, q QPS, members []*fleet.Cluster) error {
	// apinetlet defaults to development logging (debug level); log at info
	// like the hub so that both spend the same on logs.
	args := []string{"--zap-devel=false"}
	if !shipped {
		qps, burst := strconv.FormatFloat(q.QPS, 'f', -1, 64), strconv.Itoa(q.Burst)
		args = append(args, "--qps", qps, "--burst", burst, "--api-net-qps", qps, "--api-net-burst", burst)
	}
	for _, m := range members {
		l, err := fleet.StartAPINetlet(ctx, fleet.APINetletOptions{Member: m, Peer: e.Peer,
			APINetNamespace: "apinetlet-" + m.Name, Args: args, Log: e.logFile(run + "-apinetlet-" + m.Name)})
		if err != nil {
			return err
		}
		c.lets = append(c.lets, l)
	}
	deadline := time.Now().Add(time.Minute)
	for _, l := range c.lets {
		for !l.Ready(ctx) {
			if l.Exited() || time.Now().After(deadline) {
				return fmt.Errorf("apinetlet (pid %d) not ready within a minute (see its log)", l.PID())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func (e *Env) startFloor(c *Controllers, run string, q QPS, workers int, apply bool, members []*fleet.Cluster) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"floor", "--peer-kubeconfig", e.Peer.KubeconfigPath(), "--workers", strconv.Itoa(workers),
		"--qps", strconv.FormatFloat(q.QPS, 'f', -1, 64), "--burst", strconv.Itoa(q.Burst), "--apply=" + strconv.FormatBool(apply)}
	for _, m := range members {
		args = append(args, "--member", m.Name+"="+m.KubeconfigPath()+"=floor-"+m.Name)
	}
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if path := e.logFile(run + "-floor"); path != "" {
		log, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer log.Close()
		cmd.Stderr = log
	}
	if c.floorIn, err = cmd.StdinPipe(); err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the floor: %w", err)
	}
	c.floor, c.floorDone = cmd, make(chan error, 1)
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line == "ready\n"
		_, _ = io.Copy(io.Discard, stdout)
		c.floorDone <- cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if !ok {
			return fmt.Errorf("the floor did not start (see its log)")
		}
		return nil
	case <-time.After(time.Minute):
		return fmt.Errorf("the floor not ready within a minute")
	}
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
