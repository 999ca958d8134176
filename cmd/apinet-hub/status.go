package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// statusFlags are the flags of `apinet-hub status`.
type statusFlags struct {
	hub       hubConnection
	namespace string
	print     *genericclioptions.PrintFlags
}

func newStatusCommand() *cobra.Command {
	f := statusFlags{print: genericclioptions.NewPrintFlags("").WithTypeSetter(clusterprofiles.Scheme)}
	cmd := &cobra.Command{
		Use:   "status [NAME...] [-n NS] [-o wide|yaml|json|name]",
		Short: "show the fleet: every ClusterProfile the hub handles, whether it is Engaged and why not",
		Long: `Shows every ClusterProfile the hub handles (those with label ` + clusterprofiles.LabelRole + `), from
the profiles alone: the hub's Engaged condition, the number of apinet objects
the hub maps for each member (status property ` + clusterprofiles.PropertyMappedObjects + `,
refreshed while the member is engaged; a peer shows its members' sum) and
since when the condition holds. It needs access to the hub only, not to the
members. -o wide adds the apinet namespace, the recorded cluster identity, when
the hub's credentials for the cluster expire (EXPIRES: status property
` + clusterprofiles.PropertyCredentialExpiry + `; "unknown" when they do not say,
"expired" once past) and the condition's message; -o yaml|json|name print the
profiles themselves.`,
		ValidArgsFunction: completeProfiles(&f.hub, &f.namespace),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), &f, args, cmd.OutOrStdout())
		},
	}
	f.hub.bind(cmd.Flags(), "context")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "hub namespace of the profiles (default: all namespaces)")
	f.print.AddFlags(cmd)
	registerCompletions(cmd, &f.hub, &f.namespace, append([]string{"wide"}, f.print.AllowedFormats()...)...)
	return cmd
}

func runStatus(ctx context.Context, f *statusFlags, names []string, out io.Writer) error {
	output := ""
	if f.print.OutputFormat != nil {
		output = *f.print.OutputFormat
	}
	var printer printers.ResourcePrinter
	if output != "" && output != "wide" {
		p, err := f.print.ToPrinter()
		if err != nil {
			return usageError{err}
		}
		printer = p
	}
	hub, err := f.hub.client()
	if err != nil {
		return err
	}
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	var opts []client.ListOption
	if f.namespace != "" {
		opts = append(opts, client.InNamespace(f.namespace))
	}
	if err := hub.List(ctx, list, opts...); err != nil {
		return fmt.Errorf("list ClusterProfiles: %w", err)
	}
	list.Items = handled(list.Items)
	all := list.Items
	if len(names) > 0 {
		wanted := map[string]bool{}
		for _, n := range names {
			wanted[n] = true
		}
		var items []clusterinventoryv1alpha1.ClusterProfile
		for _, cp := range list.Items {
			if wanted[cp.Name] {
				items = append(items, cp)
				delete(wanted, cp.Name)
			}
		}
		if len(wanted) > 0 {
			missing := make([]string, 0, len(wanted))
			for n := range wanted {
				missing = append(missing, n)
			}
			sort.Strings(missing)
			return fmt.Errorf("no ClusterProfile the hub handles (label %s, or a role from the hub's pairing) named %s", clusterprofiles.LabelRole, strings.Join(missing, ", "))
		}
		list.Items = items
	}
	if printer != nil {
		for i := range list.Items {
			list.Items[i].ManagedFields = nil
		}
		if output == "name" {
			for i := range list.Items {
				if err := printer.PrintObj(&list.Items[i], out); err != nil {
					return err
				}
			}
			return nil
		}
		return printer.PrintObj(list, out)
	}
	table := statusTable(all, list.Items, time.Now())
	return printers.NewTablePrinter(printers.PrintOptions{Wide: output == "wide", WithNamespace: f.namespace == ""}).PrintObj(table, out)
}

// statusColumns are the columns of `apinet-hub status`; priority 1 only
// with -o wide.
var statusColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string"},
	{Name: "Role", Type: "string"},
	{Name: "Peer", Type: "string"},
	{Name: "Engaged", Type: "string"},
	{Name: "Reason", Type: "string"},
	{Name: "Objects", Type: "string"},
	{Name: "Age", Type: "string"},
	{Name: "Since", Type: "string", Priority: 1},
	{Name: "APINet-Namespace", Type: "string", Priority: 1},
	{Name: "Cluster-UID", Type: "string", Priority: 1},
	{Name: "Expires", Type: "string", Priority: 1},
	{Name: "Message", Type: "string", Priority: 1},
}

// statusTable builds the table of the profiles shown; all are every
// profile listed (a peer's objects are its members' sum).
func statusTable(all, shown []clusterinventoryv1alpha1.ClusterProfile, now time.Time) *metav1.Table {
	perPeer := map[types.NamespacedName]int{}
	for i := range all {
		if p, problem := clusterprofiles.ParseRecorded(&all[i]); problem == nil && p.Role == clusterprofiles.RoleIronCore {
			if n, err := strconv.Atoi(clusterprofiles.Property(&all[i], clusterprofiles.PropertyMappedObjects)); err == nil {
				perPeer[p.Peer] += n
			}
		}
	}
	t := &metav1.Table{ColumnDefinitions: statusColumns}
	for i := range shown {
		cp := &shown[i]
		t.Rows = append(t.Rows, metav1.TableRow{Cells: statusRow(cp, perPeer, now), Object: runtime.RawExtension{Object: cp}})
	}
	return t
}

// statusRow is one profile's row of statusColumns.
func statusRow(cp *clusterinventoryv1alpha1.ClusterProfile, perPeer map[types.NamespacedName]int, now time.Time) []any {
	a, _ := clusterprofiles.Recorded(cp)
	role, peer, namespace, objects := a.Role, "", "", "-"
	if p, problem := clusterprofiles.ParseRecorded(cp); problem == nil {
		switch p.Role {
		case clusterprofiles.RoleIronCore:
			peer, namespace = p.Peer.Name, p.APINetNamespace
			if n := clusterprofiles.Property(cp, clusterprofiles.PropertyMappedObjects); n != "" {
				objects = n
			}
		case clusterprofiles.RoleAPINet:
			objects = strconv.Itoa(perPeer[p.Key])
		}
	}
	engaged, reason, since, message := "Unknown", "-", "-", "the hub has not reported on this profile (is apinet-hub running and watching namespace "+cp.Namespace+"?)"
	if c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged); c != nil {
		engaged, reason, message = string(c.Status), c.Reason, c.Message
		since = age(c.LastTransitionTime.Time, now)
	}
	uid := string(clusterprofiles.PinnedIdentity(cp))
	return []any{cp.Name, role, dash(peer), engaged, reason, objects, age(cp.CreationTimestamp.Time, now), since, dash(namespace), dash(uid),
		expires(cp, now), message}
}

// expires is the EXPIRES cell: how long the hub's credentials for the
// cluster remain valid ("13d", "5h"), "expired", or "unknown" when the hub
// has not recorded an expiry (the credentials do not say, or it has not
// read them).
func expires(cp *clusterinventoryv1alpha1.ClusterProfile, now time.Time) string {
	at, ok := clusterprofiles.Expiry(cp)
	switch {
	case !ok:
		return "unknown"
	case !at.After(now):
		return "expired"
	}
	return duration.HumanDuration(at.Sub(now))
}

// handled keeps the profiles the hub handles: those with the role label,
// and those the hub's pairing gave a role (recorded on the profile).
func handled(profiles []clusterinventoryv1alpha1.ClusterProfile) []clusterinventoryv1alpha1.ClusterProfile {
	return slices.DeleteFunc(profiles, func(cp clusterinventoryv1alpha1.ClusterProfile) bool {
		_, ok := clusterprofiles.Recorded(&cp)
		return !ok
	})
}

func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// completeProfiles completes ClusterProfile names (of --namespace, or all
// namespaces) from the hub.
func completeProfiles(hub *hubConnection, namespace *string) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := hub.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		list := &clusterinventoryv1alpha1.ClusterProfileList{}
		var opts []client.ListOption
		if *namespace != "" {
			opts = append(opts, client.InNamespace(*namespace))
		}
		if err := c.List(cmd.Context(), list, opts...); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, cp := range handled(list.Items) {
			if strings.HasPrefix(cp.Name, prefix) {
				names = append(names, cp.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
