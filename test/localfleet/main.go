// Command localfleet is `make run`: it starts a local fleet on real servers
// (a hub, two IronCore members and one apinet peer with the apinet
// controller-manager), onboards the members through ClusterProfiles and
// credential Secrets, runs the apinet-hub binary against the hub, creates a
// sample Network in each member and shows where it was mapped. Ctrl-C stops
// the hub and every server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

const fleetNamespace = "fleet"

func main() {
	dir := flag.String("dir", ".run/fleet", "work folder of the fleet (emptied at start)")
	hubBinary := flag.String("hub", "bin/apinet-hub", "the apinet-hub binary to run")
	ironcore := flag.Int("ironcore-members", 2, "number of IronCore member clusters")
	flag.Parse()
	if err := run(*dir, *hubBinary, *ironcore); err != nil {
		fmt.Fprintln(os.Stderr, "localfleet:", err)
		os.Exit(1)
	}
}

func run(dir, hubBinary string, ironcore int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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

	members, err := onboard(ctx, f)
	if err != nil {
		return err
	}
	hub, err := startHub(hubBinary, f, filepath.Join(abs, "apinet-hub.log"))
	if err != nil {
		return err
	}
	defer func() { _ = hub.Process.Signal(syscall.SIGTERM); _ = hub.Wait() }()
	fmt.Printf("\napinet-hub runs (log %s); metrics on http://127.0.0.1:8080/metrics\n", filepath.Join(abs, "apinet-hub.log"))

	if err := showSampleNetworks(ctx, f, members); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Println("\nPress Ctrl-C to stop the hub and the fleet.")
	<-ctx.Done()
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

// onboard registers the peer and the IronCore members on the hub.
func onboard(ctx context.Context, f *fleet.Fleet) ([]*fleet.Cluster, error) {
	hub := f.Hub().Client()
	if err := hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}}); err != nil {
		return nil, err
	}
	peer := f.ByRole(fleet.RoleAPINet)[0]
	if err := fleet.Onboard(ctx, hub, fleetNamespace, peer.Name, fleet.APINetLabels, nil, peer.Kubeconfig()); err != nil {
		return nil, err
	}
	members := f.ByRole(fleet.RoleIronCore)
	for _, m := range members {
		if err := fleet.Onboard(ctx, hub, fleetNamespace, m.Name, fleet.IronCoreLabels(peer.Name), nil, m.Kubeconfig()); err != nil {
			return nil, err
		}
	}
	return members, nil
}

func startHub(binary string, f *fleet.Fleet, logPath string) (*exec.Cmd, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "run", "--kubeconfig", f.Hub().KubeconfigPath(), "--namespace", fleetNamespace,
		"--metrics-bind-address", "127.0.0.1:8080", "--health-probe-bind-address", "127.0.0.1:8081")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (run make build): %w", binary, err)
	}
	return cmd, nil
}

// showSampleNetworks creates Network default/sample in every member and
// prints, once mapped, where each one landed.
func showSampleNetworks(ctx context.Context, f *fleet.Fleet, members []*fleet.Cluster) error {
	for _, m := range members {
		if err := m.Client().Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sample"}}); err != nil {
			return err
		}
	}
	fmt.Println("\ncreated Network default/sample in each member; waiting for the hub to map them ...")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tOBJECT\tAPINET NAMESPACE/NAME\tVNI\tSTATE")
	for _, m := range members {
		nw := &networkingv1alpha1.Network{}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if err := m.Client().Get(ctx, types.NamespacedName{Namespace: "default", Name: "sample"}, nw); err != nil {
				return err
			}
			if nw.Status.State == networkingv1alpha1.NetworkStateAvailable || time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		ns := clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: fleetNamespace, Name: m.Name})
		vni := "-"
		if id, err := reconcilers.ParseNetworkID(nw.Spec.ProviderID); err == nil {
			vni = id.ID
		}
		fmt.Fprintf(tw, "%s\tNetwork default/sample\t%s/%s\t%s\t%s\n", m.Name, ns, nw.UID, vni, valueOr(string(nw.Status.State), "not mapped yet"))
	}
	return tw.Flush()
}

func valueOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
