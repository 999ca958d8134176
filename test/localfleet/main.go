// Command localfleet is `make run`: it starts a local fleet on real servers
// (a hub, two IronCore members and one apinet peer with the apinet
// controller-manager), runs the apinet-hub binary against the hub, onboards
// the peer and the members with `apinet-hub onboard --create-service-account
// --wait` (the command an operator runs), creates a sample Network, VirtualIP and NATGateway in each
// member and keeps showing `apinet-hub status` and where the samples are
// mapped. Ctrl-C stops the hub and every server.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

const fleetNamespace = "fleet"

func main() {
	dir := flag.String("dir", ".run/fleet", "work folder of the fleet (emptied at start)")
	hubBinary := flag.String("hub", "bin/apinet-hub", "the apinet-hub binary to run")
	ironcore := flag.Int("ironcore-members", 2, "number of IronCore member clusters")
	duration := flag.Duration("for", 0, "stop by itself after this long (0: run until Ctrl-C)")
	flag.Parse()
	if err := run(*dir, *hubBinary, *ironcore, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "localfleet:", err)
		os.Exit(1)
	}
}

func run(dir, hubBinary string, ironcore int, duration time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fmt.Printf("starting a local fleet (hub + %d IronCore + 1 apinet) in %s ...\n", ironcore, abs)
	start := time.Now()
	specs := fleet.Specs(ironcore, 1)
	for i := range specs {
		specs[i].ControllerManager = specs[i].Role == fleet.RoleAPINet
	}
	f, err := fleet.Start(ctx, fleet.Options{Clusters: specs, Dir: abs})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping the fleet ...")
		if err := f.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localfleet:", err)
			return
		}
		fmt.Println("stopped; nothing left running.")
	}()
	fmt.Printf("fleet up in %s\n\n", time.Since(start).Round(100*time.Millisecond))
	printClusters(f)

	logPath := filepath.Join(abs, "apinet-hub.log")
	hub, err := fleet.StartHub(fleet.HubOptions{Binary: hubBinary, Kubeconfig: f.Hub().KubeconfigPath(), Namespace: fleetNamespace, Log: logPath,
		Args: []string{"--profile-status-interval", "5s"}}) // the OBJECTS column follows quickly
	if err != nil {
		return fmt.Errorf("%w (run make build)", err)
	}
	defer func() { _ = hub.Stop(30 * time.Second) }()
	fmt.Printf("\napinet-hub runs (pid %d, log %s)\n  metrics: http://%s/metrics\n  health:  http://%s/readyz\n",
		hub.PID(), logPath, hub.MetricsAddr, hub.ProbeAddr)

	members, err := onboard(ctx, f, hubBinary)
	if err != nil {
		return err
	}
	if err := createSamples(ctx, members); err != nil {
		return err
	}
	fmt.Println("\ncreated Network, VirtualIP and NATGateway default/sample in each member; the view below refreshes on change.")
	fmt.Println("Press Ctrl-C to stop the hub and the fleet.")
	watchSamples(ctx, f, hubBinary, members, hub)
	return nil
}

func printClusters(f *fleet.Fleet) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tROLE\tSERVER\tKUBECONFIG")
	for _, c := range f.Clusters() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Role, c.Host(), c.KubeconfigPath())
	}
	_ = tw.Flush()
}

// onboard registers the peer and the IronCore members on the hub with
// `apinet-hub onboard --create-service-account --wait`, printing each
// command and its output: the hub gets least-privilege tokens, never the
// clusters' admin credentials.
func onboard(ctx context.Context, f *fleet.Fleet, hubBinary string) ([]*fleet.Cluster, error) {
	if err := f.Hub().Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}}); err != nil {
		return nil, err
	}
	peer := f.ByRole(fleet.RoleAPINet)[0]
	members := f.ByRole(fleet.RoleIronCore)
	fmt.Println()
	for _, c := range append([]*fleet.Cluster{peer}, members...) {
		args := []string{"onboard", "--kubeconfig", f.Hub().KubeconfigPath(), "--cluster-kubeconfig", c.KubeconfigPath(),
			"--namespace", fleetNamespace, "--name", c.Name, "--role", string(c.Role), "--create-service-account", "--wait", "2m"}
		if c.Role == fleet.RoleIronCore {
			args = append(args, "--peer", peer.Name)
		}
		fmt.Printf("$ apinet-hub %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, hubBinary, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("apinet-hub onboard %s: %w", c.Name, err)
		}
	}
	return members, nil
}

// createSamples creates a Network, a public VirtualIP and a NATGateway
// named sample in namespace default of every member.
func createSamples(ctx context.Context, members []*fleet.Cluster) error {
	for _, m := range members {
		for _, obj := range []client.Object{
			&networkingv1alpha1.Network{ObjectMeta: sampleMeta},
			&networkingv1alpha1.VirtualIP{ObjectMeta: sampleMeta, Spec: networkingv1alpha1.VirtualIPSpec{
				Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol}},
			&networkingv1alpha1.NATGateway{ObjectMeta: sampleMeta, Spec: networkingv1alpha1.NATGatewaySpec{
				Type: networkingv1alpha1.NATGatewayTypePublic, IPFamily: corev1.IPv4Protocol,
				NetworkRef: corev1.LocalObjectReference{Name: sampleMeta.Name}}},
		} {
			if err := m.Client().Create(ctx, obj); err != nil {
				return fmt.Errorf("create %T in %s: %w", obj, m.Name, err)
			}
		}
	}
	return nil
}

var sampleMeta = metav1.ObjectMeta{Namespace: "default", Name: "sample"}

// watchSamples prints `apinet-hub status` and what is mapped where whenever
// either changes, until ctx ends.
func watchSamples(ctx context.Context, f *fleet.Fleet, hubBinary string, members []*fleet.Cluster, hub *fleet.Controller) {
	start := time.Now()
	last := ""
	for {
		status, err := exec.CommandContext(ctx, hubBinary, "status", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", fleetNamespace).CombinedOutput()
		if err != nil && ctx.Err() != nil {
			return
		}
		mapped := renderView(ctx, members)
		// Printed when anything but the AGE column (the last) changes.
		if key := withoutLastColumn(string(status)) + mapped; key != last {
			fmt.Printf("\n[%s after start]\n$ apinet-hub status -n %s\n%s\n%s", time.Since(start).Round(100*time.Millisecond), fleetNamespace, status, mapped)
			last = key
		}
		if hub.Exited() {
			fmt.Println("apinet-hub exited; see its log")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// renderView is a table of every sample object: member, object, its apinet
// object (the member's namespace in the peer, and the object's UID as name)
// and its state as the member sees it.
func renderView(ctx context.Context, members []*fleet.Cluster) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tOBJECT\tAPINET NAMESPACE/NAME\tSTATE")
	key := client.ObjectKey{Namespace: sampleMeta.Namespace, Name: sampleMeta.Name}
	for _, m := range members {
		ns := clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: fleetNamespace, Name: m.Name})
		nw, vip, nat := &networkingv1alpha1.Network{}, &networkingv1alpha1.VirtualIP{}, &networkingv1alpha1.NATGateway{}
		for _, o := range []struct {
			kind  string
			obj   client.Object
			state func() string
		}{
			{"Network", nw, func() string {
				state := valueOr(string(nw.Status.State), "not mapped yet")
				if id, err := reconcilers.ParseNetworkID(nw.Spec.ProviderID); err == nil {
					state += ", VNI " + id.ID
				}
				return state
			}},
			{"VirtualIP", vip, func() string {
				if vip.Status.IP == nil {
					return "no IP yet"
				}
				return "IP " + vip.Status.IP.String()
			}},
			{"NATGateway", nat, func() string {
				if len(nat.Status.IPs) == 0 {
					return "no IPs yet"
				}
				ips := make([]string, 0, len(nat.Status.IPs))
				for _, ip := range nat.Status.IPs {
					ips = append(ips, ip.String())
				}
				return "IPs " + strings.Join(ips, ", ")
			}},
		} {
			if err := m.Client().Get(ctx, key, o.obj); err != nil {
				fmt.Fprintf(tw, "%s\t%s %s\t-\t%v\n", m.Name, o.kind, key, err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s %s\t%s/%s\t%s\n", m.Name, o.kind, key, ns, o.obj.GetUID(), o.state())
		}
	}
	_ = tw.Flush()
	return b.String()
}

func withoutLastColumn(table string) string {
	var b strings.Builder
	for _, line := range strings.Split(table, "\n") {
		if fields := strings.Fields(line); len(fields) > 1 {
			b.WriteString(strings.Join(fields[:len(fields)-1], " "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func valueOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
