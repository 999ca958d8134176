package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// exportFlags are the flags of `apinet-hub export`.
type exportFlags struct {
	hub       hubConnection
	namespace string
	output    string
}

// exportHeader heads -o fleet: what the user fills in before onboard -f.
const exportHeader = `# A fleet file for apinet-hub onboard -f (docs/clusterprofiles.md), exported
# from the hub. Credentials are references, never their content: give each
# cluster's kubeconfig file (relative to this file; here <name>.kubeconfig,
# materialized at apply time, not kept in Git) and its context, or keep the
# access provider, which needs the kubeconfig for the server and CA only.
`

func newExportCommand() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export -n NS [-o fleet|yaml]",
		Short: "print the ClusterProfiles of a hub namespace as a fleet file for onboard -f",
		Long: `Prints the profiles of one hub namespace that the hub handles (label ` + clusterprofiles.LabelRole + `)
as a fleet file (kind Fleet): name, role, peer, apinet namespace, take-over,
the hub's settings (its annotations), and credentials as references to fill
in: a kubeconfig file per cluster, or the access provider by name. Secrets
are never read beyond their metadata. export, edit, onboard -f round-trips.
-o fleet (default) adds a comment on what to fill in; -o yaml prints the
same document without it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExport(cmd.Context(), &f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.hub.bind(cmd.Flags(), "context")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "hub namespace of the profiles (required)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "fleet", "fleet or yaml")
	_ = cmd.MarkFlagRequired("namespace")
	registerCompletions(cmd, &f.hub, &f.namespace, "fleet", "yaml")
	return cmd
}

func runExport(ctx context.Context, f *exportFlags, stdout, stderr io.Writer) error {
	if f.output != "fleet" && f.output != "yaml" {
		return usagef("--output %q is not fleet or yaml", f.output)
	}
	hub, err := f.hub.client()
	if err != nil {
		return err
	}
	fleet, warning, err := lifecycle.Export(ctx, hub, f.namespace)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintf(stderr, "warning: %s\n", warning)
	}
	data, err := yaml.Marshal(fleet)
	if err != nil {
		return err
	}
	if f.output == "fleet" {
		fmt.Fprint(stdout, exportHeader)
	}
	_, err = stdout.Write(data)
	return err
}
