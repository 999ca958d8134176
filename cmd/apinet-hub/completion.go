package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// registerCompletions completes the flags the fleet's commands share, those
// of them cmd has: --role (the two roles), --peer (the apinet profiles of
// --namespace), -n/--namespace (the hub namespaces holding profiles) and
// -o/--output (the given formats). Lists come from the hub the command's
// own flags name; a hub that cannot be reached completes nothing.
func registerCompletions(cmd *cobra.Command, hub *hubConnection, namespace *string, outputs ...string) {
	register := func(flag string, fn cobra.CompletionFunc) {
		if cmd.Flags().Lookup(flag) != nil {
			_ = cmd.RegisterFlagCompletionFunc(flag, fn)
		}
	}
	register("role", cobra.FixedCompletions([]cobra.Completion{string(clusterprofiles.RoleIronCore), string(clusterprofiles.RoleAPINet)}, cobra.ShellCompDirectiveNoFileComp))
	register("output", cobra.FixedCompletions(outputs, cobra.ShellCompDirectiveNoFileComp))
	register("namespace", func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var namespaces []cobra.Completion
		for _, cp := range profilesFor(cmd, hub, "") {
			if strings.HasPrefix(cp.Namespace, prefix) && !slices.Contains(namespaces, cp.Namespace) {
				namespaces = append(namespaces, cp.Namespace)
			}
		}
		return namespaces, cobra.ShellCompDirectiveNoFileComp
	})
	register("peer", func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var peers []cobra.Completion
		for _, cp := range profilesFor(cmd, hub, *namespace) {
			if a, _ := clusterprofiles.Recorded(&cp); a.Role == string(clusterprofiles.RoleAPINet) && strings.HasPrefix(cp.Name, prefix) {
				peers = append(peers, cp.Name)
			}
		}
		return peers, cobra.ShellCompDirectiveNoFileComp
	})
}

// profilesFor lists the profiles the hub handles (handled; in namespace, if
// given), for completion: none if the hub cannot be reached.
func profilesFor(cmd *cobra.Command, hub *hubConnection, namespace string) []clusterinventoryv1alpha1.ClusterProfile {
	var opts []client.ListOption
	c, err := hub.client()
	if err != nil {
		return nil
	}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	if err := c.List(cmd.Context(), list, opts...); err != nil {
		return nil
	}
	return handled(list.Items)
}
