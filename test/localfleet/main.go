// Command localfleet starts a local fleet on real servers for `make run`:
// a hub, two IronCore members and one apinet peer. It prints where each
// cluster listens and its kubeconfig, then waits for Ctrl-C and stops every
// server it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func main() {
	dir := flag.String("dir", ".run/fleet", "work folder of the fleet (emptied at start)")
	ironcore := flag.Int("ironcore-members", 2, "number of IronCore member clusters")
	apinet := flag.Int("apinet-peers", 1, "number of apinet peer clusters")
	flag.Parse()
	if err := run(*dir, *ironcore, *apinet); err != nil {
		fmt.Fprintln(os.Stderr, "localfleet:", err)
		os.Exit(1)
	}
}

func run(dir string, ironcore, apinet int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fmt.Printf("starting a local fleet (hub + %d IronCore + %d apinet) in %s ...\n", ironcore, apinet, abs)
	start := time.Now()
	f, err := fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(ironcore, apinet), Dir: abs})
	if err != nil {
		return err
	}
	fmt.Printf("fleet up in %s\n\n", time.Since(start).Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tROLE\tSERVER\tKUBECONFIG")
	for _, c := range f.Clusters() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Role, c.Host(), c.KubeconfigPath())
	}
	_ = tw.Flush()
	fmt.Println("\nserver logs are next to each kubeconfig. Press Ctrl-C to stop the fleet.")

	<-ctx.Done()
	fmt.Println("\nstopping the fleet ...")
	if err := f.Stop(); err != nil {
		return err
	}
	left, err := fleet.ServerProcesses(f.ServersDir())
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("%d server processes still running after stop: %v", len(left), left)
	}
	fmt.Println("stopped; nothing left running.")
	return nil
}
