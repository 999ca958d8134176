// Command apinet-hub runs one hub that maps the networking objects of a whole
// fleet of IronCore clusters into their apinet clusters, and manages the
// fleet's ClusterProfiles from the terminal (onboard, status, offboard). See
// README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = ""

func main() {
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes: 0 done, 1 failed, 2 a wrong command line.
const (
	exitFailed = 1
	exitUsage  = 2
)

// usageError is an error in the command line: exit code 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError ends the command with its code and prints nothing more: what
// went wrong is already in the log.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run executes the command line args and returns the process's exit code.
// Errors are printed on one line, "apinet-hub <command>: <error>".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var code exitError
	if errors.As(err, &code) {
		return int(code)
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintln(stderr, cmd.CommandPath()+": "+strings.Join(strings.Fields(err.Error()), " "))
	var usage usageError
	if errors.As(err, &usage) || isCobraUsageError(err) {
		return exitUsage
	}
	return exitFailed
}

// isCobraUsageError tells the error cobra itself returns for a command it
// cannot dispatch (a plain error; flag errors go through the flag error
// func, positional arguments through each command's own check).
func isCobraUsageError(err error) bool {
	for _, prefix := range []string{
		"unknown command ",
		"required flag(s) ",                        // MarkFlagRequired
		"if any flags in the group ",               // MarkFlagsMutuallyExclusive, MarkFlagsRequiredTogether
		"at least one of the flags in the group [", // MarkFlagsOneRequired
	} {
		if strings.HasPrefix(err.Error(), prefix) {
			return true
		}
	}
	return false
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "apinet-hub",
		Short: "apinet-hub maps IronCore networking objects of a fleet into apinet clusters",
		Long: `apinet-hub maps IronCore networking objects of a fleet into apinet clusters.

It runs as one hub (apinet-hub run) that reads the fleet from ClusterProfiles
on the hub cluster; the other commands manage those profiles. See README.md.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			return exitError(exitUsage)
		},
	}
	if isKubectlPlugin(os.Args[0]) {
		// Run as kubectl's plugin (kubectl apinet-hub): usage, help and
		// errors name the command as it was typed.
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl apinet-hub"}
	}
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if cmd.Name() != "run" {
			// The short commands report every failure as their error;
			// controller-runtime's and client-go's own log lines would only
			// repeat it (and warn that no logger is set).
			setupLogging(logr.Discard())
		}
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s -h')", err, cmd.CommandPath())}
	})
	root.AddCommand(newRunCommand(), newOnboardCommand(), newStatusCommand(), newOffboardCommand(), newRotateCommand(), newExportCommand(), &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
		},
	})
	return root
}

// kubectlPluginName is the binary's name as a kubectl plugin: kubectl runs
// kubectl-apinet_hub for `kubectl apinet-hub` (make build links it).
const kubectlPluginName = "kubectl-apinet_hub"

// isKubectlPlugin tells whether argv0 is the kubectl plugin's name (a path
// to it; .exe on Windows).
func isKubectlPlugin(argv0 string) bool {
	return strings.TrimSuffix(filepath.Base(argv0), ".exe") == kubectlPluginName
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
