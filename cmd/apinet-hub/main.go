// Command apinet-hub runs one hub that maps the networking objects of a whole
// fleet of IronCore clusters into their apinet clusters. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	ctrl "sigs.k8s.io/controller-runtime"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = ""

func main() {
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `apinet-hub maps IronCore networking objects of a fleet into apinet clusters.

Usage:
  apinet-hub <command> [flags]

Commands:
  run       run the hub (see 'apinet-hub run -h')
  onboard   onboard a cluster: write its ClusterProfile and credential Secret on the hub (see 'apinet-hub onboard -h')
  version   print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runHub(ctx, args[1:], stderr)
	case "onboard":
		return runOnboard(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "apinet-hub: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
