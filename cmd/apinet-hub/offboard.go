package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// offboardFlags are the flags of `apinet-hub offboard`.
type offboardFlags struct {
	hub          hubConnection
	namespace    string
	release      bool
	purge        bool
	wait         time.Duration
	dryRun       bool
	withoutHub   bool
	consumer     string
	providerFile string
	// peerKubeconfig, peerContext: the operator's own credentials for the
	// peer, used for one request only: deleting the member's namespace.
	peerKubeconfig string
	peerContext    string
	// removeAccess, clusterKubeconfig, clusterContext: remove what onboard
	// created in the cluster, with the caller's own credentials of it.
	removeAccess      bool
	clusterKubeconfig string
	clusterContext    string
}

func (f *offboardFlags) bind(fs *pflag.FlagSet) {
	f.hub.bind(fs, "context")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "hub namespace of the ClusterProfile (required)")
	fs.BoolVar(&f.release, "release", false,
		"hand the member back (to apinetlet): remove the hub's finalizers from the member's IronCore objects and leave every apinet object in place")
	fs.BoolVar(&f.purge, "purge", false,
		"remove the member's network: delete the apinet objects the hub wrote for it and release the apinet NetworkInterfaces it claimed, wait until they are gone, then remove the hub's finalizers")
	fs.DurationVar(&f.wait, "wait", 5*time.Minute, "deadline of the whole offboarding: the hub letting go of the member, and with --purge the apinet objects being gone")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check ownership and print what would change; write nothing")
	fs.BoolVar(&f.withoutHub, "without-hub", false,
		"do not wait for the hub to acknowledge (Engaged reason "+clusterprofiles.ReasonOffboarding+"): only when no hub is running for the fleet")
	fs.StringVar(&f.consumer, "consumer", clusterprofiles.DefaultConsumer, "x-k8s.io/cluster-inventory-consumer label of the credential Secrets (the hub's --consumer)")
	fs.StringVar(&f.providerFile, "clusterprofile-provider-file", "", "the hub's access-provider file, for profiles reached through an access provider")
	fs.StringVar(&f.peerKubeconfig, "peer-kubeconfig", "",
		"with --purge: your own kubeconfig of the apinet peer, used only to delete the member's emptied namespace there (the hub's role in the peer may not delete namespaces); without it the namespace is kept and the command to delete it printed")
	fs.StringVar(&f.peerContext, "peer-context", "", "context of --peer-kubeconfig (default: its current context)")
	fs.BoolVar(&f.removeAccess, "remove-access", false,
		"remove what onboard --create-service-account created in the cluster: with --cluster-kubeconfig its ServiceAccount, token anchors, bindings and roles (and its namespace if onboard made it and nothing else uses it); without, only the hub's token is revoked (default: on with --purge)")
	fs.StringVar(&f.clusterKubeconfig, "cluster-kubeconfig", "", "with --remove-access: your own kubeconfig of the cluster being offboarded")
	fs.StringVar(&f.clusterContext, "cluster-context", "", "context of --cluster-kubeconfig (default: its current context)")
}

func newOffboardCommand() *cobra.Command {
	var f offboardFlags
	cmd := &cobra.Command{
		Use:   "offboard NAME --namespace NS --release|--purge [flags]",
		Short: "take a cluster out of the fleet: release or purge its objects, then delete its ClusterProfile and Secret",
		Long: `Takes one cluster out of the fleet. For an IronCore member it first proves
that the profile's credentials reach the cluster the hub engaged (the identity
recorded on the profile), that the peer is the recorded apinet cluster, and that
the member's apinet namespace is recorded as the member's; it refuses
otherwise. It then marks the profile, waits for the hub to stop reconciling the
member (Engaged reason Offboarding), and

  --release  removes the hub's finalizers from the member's IronCore objects and
             leaves the apinet objects in place: the hand-back to apinetlet
             (see docs/operations.md, "Hand a member back to apinetlet");
  --purge    deletes the apinet objects the hub wrote for the member, releases
             the apinet NetworkInterfaces it claimed, waits until the objects
             are gone, removes the finalizers, and deletes the member's apinet
             namespace if nothing is left in it, with your own credentials of
             the peer (--peer-kubeconfig; the hub's may not delete namespaces).

Last, it records on the profile that the cluster's objects are done, and
deletes the credential Secret, then the ClusterProfile. An interrupted run is
finished by running offboard again with the same mode: the mark makes it a
resumption, and every step is safe to repeat. An apinet peer is offboarded only
once no member names it. Objects of other members are never read for writing:
every change is limited to the member's own namespace and label.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("give the ClusterProfile's name as the one argument (got %d)", len(args))
			}
			return nil
		},
		ValidArgsFunction: completeProfiles(&f.hub, &f.namespace),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("remove-access") {
				f.removeAccess = f.purge
			}
			return runOffboard(cmd.Context(), &f, args[0], cmd.OutOrStdout())
		},
	}
	f.bind(cmd.Flags())
	registerCompletions(cmd, &f.hub, &f.namespace)
	_ = cmd.MarkFlagRequired("namespace")
	cmd.MarkFlagsOneRequired("release", "purge")
	cmd.MarkFlagsMutuallyExclusive("release", "purge")
	return cmd
}

func (f *offboardFlags) validate(name string) error {
	if e := validation.IsDNS1123Subdomain(name); len(e) > 0 {
		return usagef("%q is not a ClusterProfile name: %s", name, strings.Join(e, "; "))
	}
	if f.wait <= 0 {
		return usagef("--wait must be positive")
	}
	if !f.purge && (f.peerKubeconfig != "" || f.peerContext != "") {
		return usagef("--peer-kubeconfig and --peer-context are for --purge only (a release deletes nothing in the peer)")
	}
	if f.peerContext != "" && f.peerKubeconfig == "" {
		return usagef("--peer-context needs --peer-kubeconfig")
	}
	if f.clusterContext != "" && f.clusterKubeconfig == "" {
		return usagef("--cluster-context needs --cluster-kubeconfig")
	}
	if f.clusterKubeconfig != "" && !f.removeAccess {
		return usagef("--cluster-kubeconfig is for --remove-access only")
	}
	return nil
}

// offboardStep, when set (by tests), is called after each step of an
// offboarding with the step's name; an error ends the run there, as an
// interruption would.
var offboardStep func(step string) error

func runOffboard(parent context.Context, f *offboardFlags, name string, out io.Writer) error {
	if err := f.validate(name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(parent, f.wait)
	defer cancel()
	hub, err := f.hub.client()
	if err != nil {
		return err
	}
	o := &lifecycle.Offboard{
		Key: types.NamespacedName{Namespace: f.namespace, Name: name}, Purge: f.purge, DryRun: f.dryRun, WithoutHub: f.withoutHub,
		Consumer: f.consumer, ProviderFile: f.providerFile, PeerKubeconfig: f.peerKubeconfig, PeerContext: f.peerContext,
		RemoveAccess: f.removeAccess, AfterStep: offboardStep, Out: out,
	}
	if f.clusterKubeconfig != "" {
		if o.Caller, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.clusterKubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: f.clusterContext}).ClientConfig(); err != nil {
			return fmt.Errorf("--cluster-kubeconfig: %w", err)
		}
	}
	return o.Run(ctx, hub)
}
